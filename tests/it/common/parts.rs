//! The service's moving parts over one database, as `serve` builds them,
//! but driven by the test: a step is a call, and the clock is the test's.

use super::smtp::{parse_mail, ParsedMail, TestSmtp};
use chrono::{DateTime, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::{Clock, ManualClock};
use ocset_scheduler::config::Settings;
use ocset_scheduler::digest::job::DigestJob;
use ocset_scheduler::outbox::Deliver;
use ocset_scheduler::outbox::Dispatcher;
use ocset_scheduler::scheduler::Scheduler;
use ocset_scheduler::service;
use ocset_scheduler::store::{self, Store};
use std::sync::Arc;

/// One instance of the service: its ledger, escalation scheduler, digest
/// job and dispatcher (named `worker`), delivering through the real
/// notifier.
pub struct Instance {
    pub app: App,
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
    let notifier: Arc<dyn Deliver> = Arc::new(service::notifier(&settings).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    Instance {
        app: App::new(store.clone(), settings.clone(), clock.clone()),
        scheduler: Scheduler::new(store.clone(), settings.clone(), clock.clone()),
        digests: DigestJob::new(store.clone(), settings.clone(), clock.clone()),
        dispatcher: Dispatcher::new(store, notifier, clock, &settings.config.delivery, worker),
    }
}

/// One instance over a new database at `url`, mailing by SMTP to a test
/// server, with the clock the test's: what the escalation and digest tests
/// step through.
pub struct World {
    /// The SMTP server the instance mails.
    pub smtp: TestSmtp,
    pub clock: ManualClock,
    /// The shipped configuration, mailing `smtp`.
    pub settings: Arc<Settings>,
    /// The database's URL, for a second instance.
    pub url: String,
    /// The instance, as worker `worker-a`.
    pub instance: Instance,
    _dir: tempfile::TempDir,
}

impl World {
    /// Starts the SMTP server and the instance over `url`, with the clock at
    /// `start`, under the shipped configuration with reviews due beyond the
    /// test ([`super::REVIEWS_BEYOND_THE_TEST`]).
    pub async fn start(url: String, start: DateTime<Utc>) -> World {
        Self::start_with(url, start, super::REVIEWS_BEYOND_THE_TEST).await
    }

    /// As [`World::start`], with the shipped configuration overridden by
    /// `env` only (the review clock's tests give none).
    pub async fn start_with(url: String, start: DateTime<Utc>, env: &[(&str, &str)]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let smtp = TestSmtp::start().await;
        let settings = Arc::new(super::smtp_settings_with(
            dir.path(),
            &url,
            smtp.port(),
            env,
        ));
        let clock = ManualClock::new(start);
        let instance = instance(settings.clone(), &url, &clock, "worker-a").await;
        World {
            smtp,
            clock,
            settings,
            url,
            instance,
            _dir: dir,
        }
    }

    /// Every message received, parsed, with its envelope recipients.
    pub fn mail(&self) -> Vec<(String, ParsedMail)> {
        self.smtp
            .messages()
            .into_iter()
            .map(|m| (m.to.join(","), parse_mail(&m.data)))
            .collect()
    }

    /// The messages received for exactly `address`, parsed.
    pub fn mail_to(&self, address: &str) -> Vec<ParsedMail> {
        self.mail()
            .into_iter()
            .filter(|(to, _)| to == address)
            .map(|(_, m)| m)
            .collect()
    }
}
