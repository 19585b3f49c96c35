//! The facade's reports and digests: it reads the events, the report
//! module folds them (pure), and digests are queued through it.

use super::App;
use crate::domain::{IsoWeek, ReportPeriod};
use crate::report::{ReportParams, WeeklyReport};
use crate::store::{Actor, DigestDraft, LedgerEvent, StoreError};
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
    /// (the digest job); others use [`App::weekly_report`].
    pub(crate) async fn events_before(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<LedgerEvent>, StoreError> {
        self.store.events_before(until).await
    }

    /// The weekly report for `week`, rebuilt from the events before its
    /// end. Not audited: a caller that shows it records the read with
    /// `App::record_read`. The fold (the whole ledger: seconds for a large
    /// one) runs on Tokio's blocking pool, after the events are read and
    /// their connection returned, so it starves no worker thread (a pass
    /// holding SQLite's write lock must keep being polled).
    pub(crate) async fn weekly_report(&self, week: IsoWeek) -> Result<WeeklyReport, StoreError> {
        self.period_report(ReportPeriod::Week(week)).await
    }

    /// The report for any period (a week, a month, a quarter), as
    /// [`App::weekly_report`] builds a week's: from the events before its
    /// end, folded off the runtime, not audited here.
    pub(crate) async fn period_report(
        &self,
        period: ReportPeriod,
    ) -> Result<WeeklyReport, StoreError> {
        let params = self.report_params();
        let events = self.events_before(period.ends_at(params.time_zone)).await?;
        let build =
            tokio::task::spawn_blocking(move || WeeklyReport::build_for(period, &events, &params));
        match build.await {
            Ok(report) => Ok(report),
            // A panic in the fold is the caller's panic (the API answers it
            // 500); the build is cancelled only when the runtime stops.
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("building the {period} report was cancelled: {e}"),
            },
        }
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
