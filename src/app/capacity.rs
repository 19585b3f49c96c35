//! The facade's capacity report: it reads the ledger, the report module
//! folds it (pure) at the instant asked for.

use super::App;
use crate::report::capacity::{CapacityParams, CapacityReport};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

impl App {
    /// What the capacity report needs besides the events, from the
    /// settings in force.
    pub(crate) fn capacity_params(&self) -> CapacityParams {
        let settings = self.settings();
        CapacityParams::new(
            settings.time_zone,
            settings.marking(),
            *settings.policy.timescales(),
        )
    }

    /// The capacity and demand report at `now`, from every event before
    /// it. Not audited: a caller that shows it records the read with
    /// `App::record_read`. Folded and simulated on Tokio's blocking pool,
    /// as the weekly report is, so it starves no worker thread.
    pub(crate) async fn capacity_report(
        &self,
        now: DateTime<Utc>,
    ) -> Result<CapacityReport, StoreError> {
        let params = self.capacity_params();
        let events = self.events_before(now).await?;
        let build =
            tokio::task::spawn_blocking(move || CapacityReport::build(&events, now, &params));
        match build.await {
            Ok(report) => Ok(report),
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("building the capacity report was cancelled: {e}"),
            },
        }
    }
}
