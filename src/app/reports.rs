//! The facade's reports and digests: it reads the events, the report
//! module folds them (pure), and digests are queued through it.

use super::App;
use crate::domain::{IsoWeek, ReportPeriod};
use crate::report::{ReportParams, WeeklyReport};
use crate::store::{Actor, DigestDraft, LedgerEvent, ReportSnapshot, SnapshotKey, StoreError};
use chrono::{DateTime, Utc};

impl App {
    /// What a report needs besides the events, from the settings in force.
    pub(crate) fn report_params(&self) -> ReportParams {
        let settings = self.settings();
        ReportParams::new(
            settings.time_zone,
            settings.marking(),
            settings.config.safeguarding.referral_within,
        )
        .with_reasons(settings.breach_reasons.clone())
        .with_timescales(*settings.policy.timescales())
        .with_review_intervals(settings.ladder_timing().review_every)
    }

    /// Every ledger event that took effect before `until`, oldest first:
    /// what a report folds. For callers that fold off the async runtime
    /// (the digest job's daily list, the capacity report); weekly, monthly
    /// and quarterly reports come from [`App::period_report`].
    pub(crate) async fn events_before(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<LedgerEvent>, StoreError> {
        self.store.events_before(until).await
    }

    /// The weekly report for `week`, as [`App::period_report`] builds it.
    /// Not audited: a caller that shows it records the read with
    /// `App::record_read`.
    pub(crate) async fn weekly_report(&self, week: IsoWeek) -> Result<WeeklyReport, StoreError> {
        self.period_report(ReportPeriod::Week(week)).await
    }

    /// The report for any period (a week, a month, a quarter), not
    /// audited here.
    ///
    /// A period that has ended is served from its snapshot when one is
    /// kept under the settings in force ([`ReportParams::fingerprint`]):
    /// one row read, the ledger not at all. Otherwise the report is folded
    /// from the events before the period's end and, for an ended period,
    /// kept (`report_snapshots`); any later ledger write that lands in the
    /// period drops it in the write's own transaction, so a kept model is
    /// always the one a fold would give. The period still running is
    /// always folded and never kept.
    ///
    /// The fold (the whole ledger: seconds for a large one) and the
    /// model's JSON run on Tokio's blocking pool, after the events are
    /// read and their connection returned, so they starve no worker thread
    /// (a pass holding SQLite's write lock must keep being polled).
    pub async fn period_report(&self, period: ReportPeriod) -> Result<WeeklyReport, StoreError> {
        let params = self.report_params();
        let ends_at = period.ends_at(params.time_zone);
        if ends_at > self.clock.now() {
            let events = self.events_before(ends_at).await?;
            let what = format!("building the {period} report");
            return Ok(off_the_runtime(what, move || {
                WeeklyReport::build_for(period, &events, &params)
            })
            .await);
        }
        let key = SnapshotKey {
            period_kind: period.kind().as_str().to_string(),
            period_key: period.key(),
            fingerprint: params.fingerprint(),
        };
        if let Some(model) = self.store.report_snapshot(&key).await? {
            let what = format!("reading the {period} report's snapshot");
            match off_the_runtime(what, move || serde_json::from_str::<WeeklyReport>(&model)).await
            {
                Ok(report) if report.period() == period => return Ok(report),
                // Not expected (the fingerprint names the build): fold
                // again, and the save below replaces it.
                Ok(other) => tracing::warn!(
                    period = %period,
                    kept = %other.period(),
                    "a report snapshot holds another period; folding the ledger instead"
                ),
                Err(e) => tracing::warn!(
                    period = %period,
                    error = %e,
                    "a report snapshot could not be read; folding the ledger instead"
                ),
            }
        }
        let events = self.events_before(ends_at).await?;
        let events_folded = events.len() as u64;
        let what = format!("building the {period} report");
        let (report, model) = off_the_runtime(what, move || {
            let report = WeeklyReport::build_for(period, &events, &params);
            let model = serde_json::to_string(&report);
            (report, model)
        })
        .await;
        let snapshot = match model {
            Ok(model) => ReportSnapshot {
                key,
                period_end: ends_at,
                model,
                events_folded,
                computed_at: self.clock.now(),
            },
            Err(e) => {
                tracing::warn!(period = %period, error = %e, "a report could not be kept as JSON");
                return Ok(report);
            }
        };
        // Keeping it is an optimisation: the report is served whatever
        // becomes of the save.
        match self.store.save_report_snapshot(&snapshot).await {
            Ok(true) => {}
            Ok(false) => tracing::info!(
                period = %period,
                "report not kept: an event landed in its period while it was folded"
            ),
            Err(e) => {
                tracing::warn!(period = %period, error = %e, "a report snapshot was not saved")
            }
        }
        Ok(report)
    }

    /// The recipients a digest run (`weekly/2024-W05`) is already queued
    /// for.
    pub(crate) async fn digest_recipients(
        &self,
        occurrence: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.store.digest_recipients(occurrence).await
    }

    /// Queues digests at `at` (the instant the run was worked out for),
    /// each recorded, queued and audited in one transaction; a scheduled
    /// run already queued for a recipient is skipped. Returns how many
    /// were queued.
    pub(crate) async fn queue_digests(
        &self,
        drafts: &[DigestDraft],
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.store.queue_digests(drafts, actor, at).await
    }
}

/// Runs `work` on Tokio's blocking pool and waits for it. A panic in it is
/// the caller's panic (the API answers it 500); it is cancelled only when
/// the runtime stops.
async fn off_the_runtime<T: Send + 'static>(
    what: String,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("{what} was cancelled: {e}"),
        },
    }
}
