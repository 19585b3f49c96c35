//! The facade's retention: what a purge at this instant would take, and
//! the purge itself, on demand (`retention run`) or as the service's run
//! of the day (once per local day, whatever the replicas).

use super::App;
use crate::store::{Actor, PurgeRequest, PurgeSummary, QuarantineCounts, RetentionDue, StoreError};
use chrono::{DateTime, Utc};

/// What `retention run` did or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionOutcome {
    /// `[retention] keep_stopped_for` is not set: nothing is ever purged.
    NotConfigured,
    /// A dry run: what a purge now would take; nothing written.
    WouldPurge {
        /// The configured period, as written.
        period: String,
        /// Clocks stopped before this are past it.
        stopped_before: DateTime<Utc>,
        /// The packages.
        due: RetentionDue,
    },
    /// A purge ran.
    Purged {
        /// The configured period, as written.
        period: String,
        /// Clocks stopped before this were past it.
        stopped_before: DateTime<Utc>,
        /// What it did.
        summary: PurgeSummary,
    },
    /// The service's run of the day was already made (by another replica,
    /// or earlier today): nothing done.
    AlreadyRanToday {
        /// The local day.
        day: String,
    },
}

impl App {
    /// Applies the retention period now, or with `dry_run` only says what
    /// it would take. `daily` makes it the service's run of the local day,
    /// made once whatever the replicas.
    pub async fn run_retention(
        &self,
        dry_run: bool,
        daily: bool,
        actor: &Actor,
    ) -> Result<RetentionOutcome, StoreError> {
        let settings = self.settings();
        let Some(retention) = settings.retention() else {
            return Ok(RetentionOutcome::NotConfigured);
        };
        let now = self.now();
        let stopped_before = retention.period.cutoff(now, settings.time_zone);
        let period = retention.period.to_string();
        if dry_run {
            let due = self.store.retention_due(stopped_before).await?;
            return Ok(RetentionOutcome::WouldPurge {
                period,
                stopped_before,
                due,
            });
        }
        let day = daily.then(|| {
            now.with_timezone(&settings.time_zone)
                .date_naive()
                .to_string()
        });
        let request = PurgeRequest {
            stopped_before,
            period: period.clone(),
            key: retention.key.clone(),
            day: day.clone(),
            actor: actor.clone(),
            now,
            batch: crate::store::PURGE_BATCH,
        };
        Ok(match self.store.purge_stopped(&request).await? {
            Some(summary) => RetentionOutcome::Purged {
                period,
                stopped_before,
                summary,
            },
            None => RetentionOutcome::AlreadyRanToday {
                day: day.unwrap_or_default(),
            },
        })
    }
}

impl App {
    /// How many package rows and messages are set aside, for the status
    /// and `/metrics` (counts only: not audited, like the position).
    pub async fn quarantine_counts(&self) -> Result<QuarantineCounts, StoreError> {
        self.store.quarantine_counts().await
    }

    /// Every row set aside because it cannot be read (package rows and
    /// outbox messages), oldest first; the read is audited
    /// (`quarantine.listed`), as it shows references.
    pub async fn quarantined(
        &self,
        actor: &Actor,
    ) -> Result<Vec<crate::store::QuarantinedRow>, StoreError> {
        let rows = self.store.quarantined().await?;
        self.record_read(
            actor,
            "quarantine.listed",
            &format!("count={}", rows.len()),
            self.now(),
        )
        .await?;
        Ok(rows)
    }
}
