//! The service's moving parts over one database, as `serve` builds them,
//! but driven by the test: a step is a call, and the clock is the test's.

use ocset_scheduler::cli;
use ocset_scheduler::clock::{Clock, ManualClock};
use ocset_scheduler::config::Settings;
use ocset_scheduler::digest::job::DigestJob;
use ocset_scheduler::dispatcher::Dispatcher;
use ocset_scheduler::ledger::Ledger;
use ocset_scheduler::notify::Deliver;
use ocset_scheduler::scheduler::Scheduler;
use ocset_scheduler::store::{self, Store};
use std::sync::Arc;

/// One instance of the service: its ledger, escalation scheduler, digest
/// job and dispatcher (named `worker`), delivering through the real
/// notifier.
pub struct Instance {
    pub ledger: Ledger,
    pub scheduler: Scheduler,
    pub digests: DigestJob,
    pub dispatcher: Dispatcher,
}

/// An instance over a new connection to `url`, migrated.
pub async fn instance(
    settings: Arc<Settings>,
    url: &str,
    clock: &ManualClock,
    worker: &str,
) -> Instance {
    let store = store::connect(url, 4).await.unwrap();
    store.migrate().await.unwrap();
    instance_over(settings, store, clock, worker)
}

/// An instance over `store`.
pub fn instance_over(
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    clock: &ManualClock,
    worker: &str,
) -> Instance {
    let notifier: Arc<dyn Deliver> = Arc::new(cli::notifier(&settings).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    Instance {
        ledger: Ledger::new(store.clone(), settings.clone(), clock.clone()),
        scheduler: Scheduler::new(store.clone(), settings.clone(), clock.clone()),
        digests: DigestJob::new(store.clone(), settings.clone(), clock.clone()),
        dispatcher: Dispatcher::new(store, notifier, clock, &settings.config.delivery, worker),
    }
}
