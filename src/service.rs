//! The running service: the HTTP API, the escalation scheduler, the digest
//! job, the outbox dispatcher and the safety tick, started together and
//! stopped together.

use crate::app::App;
use crate::config::Settings;
use crate::digest::job::DigestJob;
use crate::http::ApiServer;
use crate::notify::Notifier;
use crate::outbox::Deliver;
use crate::outbox::Dispatcher;
use crate::scheduler::Scheduler;
use crate::wake::Alarm;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_cron_scheduler::{Job, JobScheduler};

/// How long the parts get to finish after a stop is asked for before the
/// service exits anyway (anything unfinished is left for the next start:
/// queued messages stay queued, a claimed one is taken over after its lease).
pub(crate) const STOP_WITHIN: Duration = Duration::from_secs(20);

/// The real notifier for `settings`: every channel the configuration
/// describes (see [`Notifier::from_config`]), with the webhook signing
/// secrets read at start-up. `serve`, `digest send` and the tests build it
/// here, the one place that knows both the settings and the channels.
pub fn notifier(settings: &Settings) -> anyhow::Result<Notifier> {
    let secret_for = |variable: &str| {
        settings
            .webhooks()
            .iter()
            .find(|hook| hook.secret_env.as_deref() == Some(variable))
            .and_then(|hook| settings.webhook_secrets.get(&hook.name))
            .map(|secret| secrecy::ExposeSecret::expose_secret(secret).to_string())
    };
    Notifier::from_config(&settings.config.mail, settings.webhooks(), &secret_for)
}

/// Everything `serve` runs, built and bound, not yet running.
pub struct Service {
    api: ApiServer,
    scheduler: Scheduler,
    digests: DigestJob,
    dispatcher: Dispatcher,
    changed: Arc<Alarm>,
    tick: Duration,
    audit: AuditWatch,
    retention: RetentionWatch,
}

/// Runs `work` at start and then every `period` after each run ends, until
/// `shutdown` completes (which also abandons a run in progress): the
/// service's periodic housekeeping (the audit chain's verification, the
/// day's retention run), whose own records make a repeat harmless.
async fn at_start_and_every<W, F>(period: Duration, shutdown: impl Future<Output = ()>, work: W)
where
    W: Fn() -> F,
    F: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            () = work() => {}
        }
        tokio::select! {
            _ = &mut shutdown => return,
            () = tokio::time::sleep(period) => {}
        }
    }
}

/// How often the service looks whether the day's retention run is owed.
pub(crate) const RETENTION_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Applies `[retention]` once per local day: at start and every
/// [`RETENTION_CHECK_EVERY`] it asks for the day's run, which the store
/// makes once whatever the replicas (`retention_runs`); the others find
/// the day taken. Nothing at all without a configured period.
struct RetentionWatch {
    app: App,
}

impl RetentionWatch {
    async fn run(self, shutdown: impl Future<Output = ()>) {
        if self.app.settings().retention().is_none() {
            return;
        }
        at_start_and_every(RETENTION_CHECK_EVERY, shutdown, || self.run_due()).await;
    }

    async fn run_due(&self) {
        let actor = crate::store::Actor::named("service:retention");
        match self.app.run_retention(false, true, &actor).await {
            Ok(crate::app::RetentionOutcome::Purged {
                period, summary, ..
            }) => {
                tracing::info!(
                    packages = summary.due.packages,
                    keep_stopped_for = %period,
                    "the day's retention run pseudonymised the packages past the period"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the day's retention run failed; it is tried again within the hour")
            }
        }
    }
}

/// How often the service verifies the audit chain, besides once at start.
pub(crate) const VERIFY_AUDIT_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Verifies the audit chain at start and every [`VERIFY_AUDIT_EVERY`],
/// recording each outcome for `/metrics` (`ocset_audit_verify_ok`); a
/// break is logged at error level too, naming the line (never its
/// content). Every replica verifies: the chain is one, so they agree.
struct AuditWatch {
    store: Arc<dyn crate::store::Store>,
    clock: Arc<dyn crate::clock::Clock>,
}

impl AuditWatch {
    async fn run(self, shutdown: impl Future<Output = ()>) {
        at_start_and_every(VERIFY_AUDIT_EVERY, shutdown, || self.verify()).await;
    }

    async fn verify(&self) {
        let verdict = match self.store.verify_audit_chain(None).await {
            Ok(verdict) => verdict,
            Err(e) => {
                tracing::warn!(error = %e, "verifying the audit chain failed");
                return;
            }
        };
        match &verdict {
            crate::store::ChainVerdict::Intact(intact) => {
                tracing::info!(lines = intact.lines, "the audit chain verifies");
            }
            crate::store::ChainVerdict::Broken(broken) => {
                tracing::error!(at = %broken, "the audit chain does not verify");
            }
        }
        if let Err(e) = self
            .store
            .record_audit_verification(self.clock.now(), &verdict)
            .await
        {
            tracing::warn!(error = %e, "recording the audit chain's verification failed");
        }
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("address", &self.api.address())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Builds the parts over `app`, delivering through `deliver`, and
    /// binds the API to `bind`.
    pub async fn build(app: App, deliver: Arc<dyn Deliver>, bind: &str) -> std::io::Result<Self> {
        let settings = app.settings_arc();
        let store = app.store().clone();
        let clock = app.clock();
        let worker = format!(
            "dispatcher-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        Ok(Self {
            retention: RetentionWatch { app: app.clone() },
            audit: AuditWatch {
                store: store.clone(),
                clock: clock.clone(),
            },
            scheduler: Scheduler::new(store.clone(), settings.clone(), clock.clone())
                .with_health(app.pass_health()),
            digests: DigestJob::new(store.clone(), settings.clone(), clock.clone()),
            dispatcher: Dispatcher::new(store, deliver, clock, &settings.config.delivery, worker),
            changed: app.changed(),
            tick: Duration::from_secs(u64::from(settings.config.scheduler.tick_seconds)),
            api: ApiServer::build(app, bind).await?,
        })
    }

    /// The API's address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.api.address()
    }

    /// Runs until `shutdown` completes, then stops every part: the API
    /// finishes requests in flight, the scheduler finishes its pass, the
    /// dispatcher finishes the message in flight and puts back the rest,
    /// and the digest job abandons a render in progress (its run stays
    /// owed). Returns within [`STOP_WITHIN`] of the stop whatever is
    /// running.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let when_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let deliver_now = Arc::new(Notify::new());

        // The safety tick, in UTC (tokio-cron-scheduler's time-zone jobs keep
        // a stale offset after a clock change; a plain interval has no zone).
        let mut cron = JobScheduler::new().await?;
        let digest_now = Arc::new(Notify::new());
        let (scheduler_wake, dispatcher_wake, digest_wake) = (
            self.changed.clone(),
            deliver_now.clone(),
            digest_now.clone(),
        );
        cron.add(Job::new_repeated(self.tick, move |_, _| {
            scheduler_wake.wake();
            dispatcher_wake.notify_one();
            digest_wake.notify_one();
        })?)
        .await?;
        cron.start().await?;

        let scheduler = tokio::spawn(self.scheduler.run(
            self.changed.clone(),
            deliver_now.clone(),
            when_stopped(),
        ));
        let digests = tokio::spawn(self.digests.run(
            digest_now,
            deliver_now.clone(),
            when_stopped(),
        ));
        let dispatcher = tokio::spawn(self.dispatcher.run(deliver_now, when_stopped()));
        let api = tokio::spawn(self.api.run_until(when_stopped()));
        let audit = tokio::spawn(self.audit.run(when_stopped()));
        let retention = tokio::spawn(self.retention.run(when_stopped()));

        shutdown.await;
        let _ = stop.send(true);
        let finished = tokio::time::timeout(STOP_WITHIN, async {
            let (api, scheduler, digests, dispatcher, audit, retention) =
                tokio::join!(api, scheduler, digests, dispatcher, audit, retention);
            if let Ok(Err(e)) = api {
                tracing::error!(error = %e, "the API stopped with an error");
            }
            for (part, result) in [
                ("scheduler", scheduler),
                ("digests", digests),
                ("dispatcher", dispatcher),
                ("audit verification", audit),
                ("retention", retention),
            ] {
                if let Err(e) = result {
                    tracing::error!(error = %e, part, "stopped abnormally");
                }
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(seconds = STOP_WITHIN.as_secs(), "parts still running at the stop deadline; exiting anyway (nothing is lost: unfinished work resumes at the next start)");
        }
        let _ = cron.shutdown().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::config::load_str;
    use crate::outbox::{DeliveryError, Destination, Payload};
    use async_trait::async_trait;

    use crate::config::TEST_CONFIG as CONFIG;

    /// Accepts every message.
    #[derive(Debug)]
    struct Accept;

    #[async_trait]
    impl Deliver for Accept {
        async fn deliver(&self, _: &Destination, _: &Payload) -> Result<(), DeliveryError> {
            Ok(())
        }
    }

    /// The database refuses the scheduler's writes the way SQLite does on a
    /// full disk: it rolls the pass's whole transaction back by itself.
    const REFUSE_PASSES: &str = "CREATE TRIGGER refuse_passes BEFORE INSERT ON service_state \
         BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readiness_and_status_show_failing_passes_and_the_service_recovers_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ocset.db").display());
        // One connection: the one the failed pass held is the one the
        // next pass gets.
        let store = crate::store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        let raw = crate::store::sqlite::SqliteStore::connect(&url, 1)
            .await
            .unwrap();
        sqlx::query(REFUSE_PASSES)
            .execute(raw.pool())
            .await
            .unwrap();
        let settings = Arc::new(load_str(CONFIG, "test.toml", Vec::new()).unwrap());
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::new("2024-01-08T09:00:00Z".parse().unwrap()));
        let app = App::new(store, settings, clock);
        let service = Service::build(app.clone(), Arc::new(Accept), "127.0.0.1:0")
            .await
            .unwrap();
        let readyz = format!("http://{}/readyz", service.address());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(service.run_until(async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        let until_ready_is = |want: reqwest::StatusCode| {
            let (http, readyz) = (http.clone(), readyz.clone());
            async move {
                let poll = async {
                    loop {
                        let got = http.get(&readyz).send().await.unwrap();
                        if got.status() == want {
                            let retry_after =
                                got.headers().get(reqwest::header::RETRY_AFTER).cloned();
                            return (retry_after, got.text().await.unwrap());
                        }
                        tokio::task::yield_now().await;
                    }
                };
                tokio::time::timeout(std::time::Duration::from_secs(20), poll)
                    .await
                    .unwrap_or_else(|_| panic!("/readyz never answered {want}"))
            }
        };

        let (retry_after, body) = until_ready_is(reqwest::StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(body.contains("passes are failing"), "{body}");
        // Like the API's other 503s: the caller is told when to ask again.
        assert_eq!(
            retry_after.expect("a 503 from /readyz carries Retry-After"),
            crate::http::error::RETRY_AFTER_SECONDS.to_string().as_str()
        );
        let figures = app.scheduler_figures().await.unwrap();
        assert!(figures.passes_failing, "{figures:?}");
        assert!(figures.last_failure_at.is_some() && figures.last_failure_kind.is_some());

        // The disk has room again: the next pass (the safety tick, here
        // rung at once) succeeds on the same pool, with no restart.
        sqlx::query("DROP TRIGGER refuse_passes")
            .execute(raw.pool())
            .await
            .unwrap();
        app.changed().wake();
        let (retry_after, _) = until_ready_is(reqwest::StatusCode::OK).await;
        assert!(
            retry_after.is_none(),
            "a ready service says nothing of retrying"
        );
        let figures = app.scheduler_figures().await.unwrap();
        assert!(!figures.passes_failing, "{figures:?}");
        assert!(figures.last_pass_at.is_some(), "{figures:?}");
        assert!(
            figures.last_failure_at.is_some(),
            "the last failure is kept"
        );

        let _ = stop.send(());
        running.await.unwrap().unwrap();
    }

    /// The service makes the day's retention run at start, as
    /// `service:retention`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_service_applies_retention_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ocset.db").display());
        let store = crate::store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "k".repeat(32)).unwrap();
        let config = format!(
            "{CONFIG}\n[retention]\nkeep_stopped_for = \"1y\"\npseudonym_key_file = \"{}\"\n",
            key.display()
        );
        let settings = Arc::new(load_str(&config, "test.toml", Vec::new()).unwrap());
        let clock = Arc::new(ManualClock::new("2024-01-08T09:00:00Z".parse().unwrap()));
        let app = App::new(store.clone(), settings, clock.clone());
        let actor = crate::store::Actor::named("test");
        let input = crate::intake::NewPackage {
            reference: "OLD-1".into(),
            risk_grade: "medium".into(),
            received_at: "2024-01-08T08:00:00Z".into(),
            lpa: "Coventry".into(),
            stage: "intelligence_development".into(),
            ..crate::intake::NewPackage::default()
        };
        app.create(&input, &actor).await.unwrap();
        let reference = crate::domain::Reference::parse("OLD-1").unwrap();
        app.change(&reference, &actor, |p, now| {
            p.move_stage(
                crate::domain::Stage::Closed,
                now,
                Some(crate::domain::Outcome::NoFurtherAction),
                None,
                now,
            )
        })
        .await
        .unwrap();
        clock.set("2025-03-01T09:00:00Z".parse().unwrap());
        let service = Service::build(app, Arc::new(Accept), "127.0.0.1:0")
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(service.run_until(async {
            let _ = stopped.await;
        }));
        let purged = async {
            while store.package(&reference).await.unwrap().is_some() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), purged)
            .await
            .expect("the service purged the package past the period");
        let log = store.audit_log(None).await.unwrap();
        assert!(log
            .iter()
            .any(|l| l.action == "retention.purged" && l.actor == "service:retention"));
        let _ = stop.send(());
        running.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_while_a_digest_renders_stops_the_service_without_waiting_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ocset.db").display());
        let store = crate::store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        // A weekly digest owed at once (Monday 07:00; it is 09:00).
        let config = format!(
            "{CONFIG}\n[[digest]]\nname = \"weekly\"\nkind = \"weekly\"\nat = \"07:00\"\naudience = [\"ppu_slt\"]\n"
        );
        let settings = Arc::new(load_str(&config, "test.toml", Vec::new()).unwrap());
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::new("2024-01-08T09:00:00Z".parse().unwrap()));
        let app = App::new(store, settings, clock);
        crate::digest::job::one_package(&app).await;
        let mut service = Service::build(app, Arc::new(Accept), "127.0.0.1:0")
            .await
            .unwrap();
        let (started, release, hook) = crate::digest::job::held_render();
        service.digests = service.digests.with_before_render(hook);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(service.run_until(async {
            let _ = stopped.await;
        }));
        tokio::time::timeout(Duration::from_secs(10), started.notified())
            .await
            .expect("the digest's render starts");

        // The render is held for as long as the test likes (a large
        // ledger's takes minutes); the stop does not wait for it. Half the
        // stop deadline is a bound on failure, not a sleep: before, the
        // service waited out the whole deadline.
        let _ = stop.send(());
        tokio::time::timeout(STOP_WITHIN / 2, running)
            .await
            .expect("the service waited for the render after the stop")
            .unwrap()
            .unwrap();
        drop(release);
    }
}
