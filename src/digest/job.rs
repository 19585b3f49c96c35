//! The digest job: at each `[[digest]]` schedule's local time it builds the
//! report from the ledger, renders it, and queues one message per
//! recipient in the outbox, where the dispatcher sends it like any other.
//! It reads and queues through the ledger facade, never the store.
//!
//! Once per run and recipient: each run is recorded under its occurrence
//! key (`weekly/2024-W05`) in the transaction that queues its message, so a
//! restart or a second instance finds it recorded and queues nothing. A
//! service that was down at the scheduled time queues the run when it
//! starts again, that week (weekly), that day (daily), that month
//! (monthly) or that quarter (quarterly). A run owed while
//! the ledger holds no package waits, unrecorded, for the first package.

use super::mail::{self, DigestLimits};
use crate::app::App;
use crate::clock::Clock;
use crate::config::{lpas_of, Settings};
use crate::domain::{
    DigestKind, DigestPeriod, DigestSchedule, IsoWeek, LpaCoverage, Occurrence, ReportPeriod,
};
use crate::outbox::DigestMail;
use crate::report::daily;
use crate::store::{Actor, DigestDraft, Store};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Who queues scheduled digests, in the audit log.
pub(crate) const SERVICE_ACTOR: &str = "service:digest";

/// The schedule name recorded for a digest sent on demand.
pub(crate) const ON_DEMAND: &str = "on-demand";

/// Builds and queues digests.
#[derive(Debug, Clone)]
pub struct DigestJob {
    /// Reads the events and queues the digests. The job writes no
    /// package, so nothing waits on this ledger's change signal.
    app: App,
    /// Per schedule, the last run known to be queued for everyone, so a
    /// wake-up does not ask the database again (losing it on restart costs
    /// one query per schedule).
    done: Arc<Mutex<HashMap<String, String>>>,
    /// Called on the blocking pool as each render starts: tests hold a
    /// render there to see what the service does meanwhile.
    before_render: BeforeRender,
    /// How much of each list an email carries.
    limits: DigestLimits,
}

/// A function called as each render starts (tests only set one).
#[derive(Clone, Default)]
struct BeforeRender(Option<Arc<dyn Fn() + Send + Sync>>);

impl std::fmt::Debug for BeforeRender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

impl DigestJob {
    /// A job for the schedules in `settings`.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> Self {
        Self::over(App::new(store, settings, clock))
    }

    /// A job over `app`, for the schedules in its settings.
    pub(crate) fn over(app: App) -> Self {
        Self {
            app,
            done: Arc::default(),
            before_render: BeforeRender::default(),
            limits: DigestLimits::default(),
        }
    }

    /// The same job, its emails bounded by `limits` instead of the
    /// defaults (tests and the benchmark set a small list).
    pub fn with_limits(mut self, limits: DigestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same job, calling `hook` on the blocking pool as each render
    /// starts (before the report is built): a test holds a render there.
    #[cfg(test)]
    pub(crate) fn with_before_render(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.before_render = BeforeRender(Some(Arc::new(hook)));
        self
    }

    fn settings(&self) -> &Settings {
        self.app.settings()
    }

    /// Queues every run owed at the clock's "now" that is not queued yet.
    /// Returns how many messages it queued.
    pub async fn run_due(&self) -> anyhow::Result<usize> {
        let never = std::pin::pin!(std::future::pending::<()>());
        Ok(self.run_due_unless(never).await?.unwrap_or(0))
    }

    /// [`DigestJob::run_due`], unless `stop` completes while a run's
    /// report is read and rendered: then it stops waiting for the render
    /// and returns `None` at once. The render is abandoned, not finished:
    /// it runs on the blocking pool, holds no connection, and queues
    /// nothing, so the run stays owed (it is recorded under its occurrence
    /// key only in the short transaction that queues its messages, which
    /// is never interrupted), and the next start queues it.
    async fn run_due_unless<S>(
        &self,
        mut stop: std::pin::Pin<&mut S>,
    ) -> anyhow::Result<Option<usize>>
    where
        S: Future<Output = ()> + ?Sized,
    {
        let now = self.app.now();
        let tz = self.settings().time_zone;
        let mut queued = 0;
        for schedule in self.settings().digests() {
            let Some(run) = schedule.owed_at(now, tz) else {
                continue;
            };
            let key = run.key();
            if self.done.lock().expect("not poisoned").get(&schedule.name) == Some(&key) {
                continue;
            }
            let recipients = self.recipients(schedule);
            let already: HashSet<String> = self
                .app
                .digest_recipients(&key)
                .await?
                .into_iter()
                .collect();
            let owed: Vec<(String, LpaCoverage)> = recipients
                .into_iter()
                .filter(|(address, _)| !already.contains(address))
                .collect();
            if !owed.is_empty() && self.ledger_is_empty().await? {
                // Nothing to report yet: a run over an empty ledger would
                // send an empty report and be recorded as sent, so the
                // data loaded next (the demo, a first import) would never
                // reach that run. It stays owed, and is neither queued
                // nor remembered as done.
                tracing::debug!(run = %key, "the ledger holds no package yet; the digest waits");
                continue;
            }
            if !owed.is_empty() {
                let drafts = tokio::select! {
                    biased;
                    () = &mut stop => {
                        tracing::info!(run = %key, "stopping: the digest being built is abandoned; it is queued at the next start");
                        return Ok(None);
                    }
                    drafts = self.drafts(schedule, &run, owed, now) => drafts?,
                };
                let count = self
                    .app
                    .queue_digests(&drafts, &Actor::named(SERVICE_ACTOR), now)
                    .await?;
                tracing::info!(run = %key, messages = count, "digest queued");
                queued += count;
            }
            self.done
                .lock()
                .expect("not poisoned")
                .insert(schedule.name.clone(), key);
        }
        Ok(Some(queued))
    }

    /// True when no package has been recorded yet (a new database).
    async fn ledger_is_empty(&self) -> anyhow::Result<bool> {
        Ok(self.app.package_counts().await?.total == 0)
    }

    /// The first instant after the clock's "now" that any schedule fires.
    pub fn next_at(&self) -> Option<DateTime<Utc>> {
        let now = self.app.now();
        self.settings()
            .digests()
            .iter()
            .map(|schedule| schedule.next_after(now, self.settings().time_zone))
            .min()
    }

    /// Queues the weekly report for `week` to the audience of every weekly
    /// schedule, on demand (`digest send`): sent again even if the
    /// scheduled run went out, and audited as asked by `actor`. Returns how
    /// many messages it queued; none when no weekly schedule is configured.
    pub async fn send_week(&self, week: IsoWeek, actor: &Actor) -> anyhow::Result<usize> {
        self.send_period(week.into(), actor).await
    }

    /// Queues the report for `period` (a week, a month, a quarter) to the
    /// audience of every schedule of its kind (weekly, monthly,
    /// quarterly), on demand, as [`DigestJob::send_week`] does a week's.
    /// Returns how many messages it queued; none when no schedule of that
    /// kind is configured.
    pub async fn send_period(&self, period: ReportPeriod, actor: &Actor) -> anyhow::Result<usize> {
        let now = self.app.now();
        let kind = DigestKind::reporting(period.kind());
        let mut recipients: BTreeMap<String, LpaCoverage> = BTreeMap::new();
        for schedule in self.settings().digests() {
            if schedule.kind == kind {
                for (address, coverage) in self.recipients(schedule) {
                    recipients.entry(address).or_insert(coverage);
                }
            }
        }
        if recipients.is_empty() {
            return Ok(0);
        }
        let mail = self.report_mail(period, ON_DEMAND).await?;
        let drafts: Vec<DigestDraft> = recipients
            .into_keys()
            .map(|recipient| DigestDraft {
                schedule: ON_DEMAND.into(),
                period: period.to_string(),
                occurrence: None,
                recipient,
                mail: mail.clone(),
            })
            .collect();
        Ok(self.app.queue_digests(&drafts, actor, now).await?)
    }

    /// Runs until `shutdown`: queues what is owed, then sleeps until the
    /// next schedule fires, `wake` (the safety tick) or shutdown. A
    /// shutdown during a render returns at once, abandoning the render (see
    /// [`DigestJob::run_due_unless`]): a large ledger's render takes
    /// minutes, and the service must stop within
    /// [`crate::service::STOP_WITHIN`]. With no
    /// schedule configured it sleeps until woken (at most
    /// [`crate::wake::LONGEST_SLEEP`]).
    /// `delivered` is woken whenever something was queued.
    pub(crate) async fn run(
        self,
        wake: Arc<Notify>,
        delivered: Arc<Notify>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            match self.run_due_unless(shutdown.as_mut()).await {
                Ok(None) => return,
                Ok(Some(0)) => {}
                Ok(Some(_)) => delivered.notify_one(),
                // The run stays owed: the next wake-up tries again.
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "queueing a digest failed; will retry")
                }
            }
            // With no schedule there is no next instant: sleep as long as
            // the other loops do (the safety tick wakes it sooner), never
            // zero, which would spin.
            let until = crate::wake::sleep_until(self.next_at(), self.app.now());
            let clock = self.app.clock();
            if crate::wake::wait_until(until, &*clock, wake.notified(), &mut shutdown).await {
                return;
            }
        }
    }

    /// Everyone a schedule goes to, each once with the LPAs they cover (the
    /// first of their groups in the audience decides).
    fn recipients(&self, schedule: &DigestSchedule) -> Vec<(String, LpaCoverage)> {
        let force_lpas = &self.settings().config.force.lpas;
        let mut all: Vec<(String, LpaCoverage)> = Vec::new();
        for name in &schedule.audience {
            let Some(group) = self.settings().config.recipients.get(name) else {
                continue; // refused at start-up
            };
            for address in group.addresses() {
                if !all.iter().any(|(a, _)| a.eq_ignore_ascii_case(address)) {
                    all.push((address.to_string(), lpas_of(group, address, force_lpas)));
                }
            }
        }
        all
    }

    /// The messages of one run, one per recipient.
    async fn drafts(
        &self,
        schedule: &DigestSchedule,
        run: &Occurrence,
        recipients: Vec<(String, LpaCoverage)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<DigestDraft>> {
        let draft = |recipient: String, mail: DigestMail| DigestDraft {
            schedule: schedule.name.clone(),
            period: run.period.key(),
            occurrence: Some(run.key()),
            recipient,
            mail,
        };
        Ok(match run.period {
            // The same report for everyone: the force-wide picture.
            DigestPeriod::Week(_) | DigestPeriod::Month(_) | DigestPeriod::Quarter(_) => {
                let period = run.period.report_period().expect("a report's period");
                let mail = self.report_mail(period, &schedule.name).await?;
                recipients
                    .into_iter()
                    .map(|(recipient, _)| draft(recipient, mail.clone()))
                    .collect()
            }
            // Each sergeant sees their own LPAs.
            DigestPeriod::Day(date) => {
                let params = self.app.report_params();
                let events = self.app.events_before(now).await?;
                let name = schedule.name.clone();
                let (limits, public_url) = (self.limits, self.public_url());
                let mails = self
                    .off_the_runtime(move || {
                        recipients
                            .into_iter()
                            .map(|(recipient, coverage)| {
                                let list = daily::build_for(now, &events, &params, &coverage);
                                let mail = mail::daily_mail(
                                    &list,
                                    name.clone(),
                                    date,
                                    &limits,
                                    public_url.as_deref(),
                                );
                                (recipient, mail)
                            })
                            .collect::<Vec<_>>()
                    })
                    .await?;
                mails
                    .into_iter()
                    .map(|(recipient, mail)| draft(recipient, mail))
                    .collect()
            }
        })
    }

    /// The report for `period` (weekly, monthly or quarterly), rendered
    /// as a digest. The report comes from `App::period_report`: a run after
    /// the period has ended keeps its snapshot, which the dashboard and the
    /// API then serve.
    ///
    /// The message ends with the audit chain's head at the period's end,
    /// so that a copy of it outside the database sits in every
    /// recipient's mailbox (`audit verify --head` checks against it).
    async fn report_mail(&self, period: ReportPeriod, digest: &str) -> anyhow::Result<DigestMail> {
        let report = self.app.period_report(period).await?;
        let head = self.app.audit_chain_head_at(report.ends_at).await?;
        let digest = digest.to_string();
        let (limits, public_url) = (self.limits, self.public_url());
        self.off_the_runtime(move || {
            let mut mail = mail::report_mail(&report, digest, &limits, public_url.as_deref());
            mail::end_with_chain_head(&mut mail, report.period, head.as_ref());
            mail
        })
        .await
    }

    /// `http.public_url`, for the link to a list too long to attach.
    fn public_url(&self) -> Option<String> {
        self.settings().public_url().map(str::to_string)
    }

    /// Runs `work` (reading nothing: building and rendering a report from
    /// events already read, the whole ledger folded, seconds to minutes of
    /// CPU for a large one) on Tokio's blocking pool, so the scheduler and
    /// the dispatcher keep their worker threads meanwhile (a pass starved
    /// of its thread while holding SQLite's write lock made every other
    /// writer fail with "database is locked"). No connection or transaction
    /// is held while it runs. Dropping the returned future abandons the
    /// work: the process does not wait for it at exit (see
    /// [`crate::cli::block_on`]).
    async fn off_the_runtime<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let before = self.before_render.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(hook) = before.0 {
                hook();
            }
            work()
        })
        .await
        .map_err(|e| anyhow::anyhow!("building a digest failed: {e}"))
    }
}

/// For tests: a hook for [`DigestJob::with_before_render`] that holds each
/// render at its start until the returned sender is used or dropped (as a
/// failing test drops it on its way out, so the blocking thread ends and
/// the runtime can stop), and a signal rung as each render starts.
#[cfg(test)]
pub(crate) fn held_render() -> (
    Arc<Notify>,
    std::sync::mpsc::Sender<()>,
    impl Fn() + Send + Sync,
) {
    let started = Arc::new(Notify::new());
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = Mutex::new(held);
    let signal = started.clone();
    let hook = move || {
        signal.notify_one();
        let _ = held.lock().expect("not poisoned").recv();
    };
    (started, release, hook)
}

/// For tests: records one package, so that a digest owed is queued (over
/// an empty ledger it waits).
#[cfg(test)]
pub(crate) async fn one_package(app: &App) {
    let lpa = app
        .settings()
        .lpas
        .all()
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "Coventry".into());
    let input = crate::intake::NewPackage {
        reference: "NCA-1".into(),
        risk_grade: "high".into(),
        received_at: "2024-01-01T10:00:00Z".into(),
        lpa,
        stage: "awaiting_enforcement".into(),
        ..crate::intake::NewPackage::default()
    };
    app.create(&input, &Actor::named("test")).await.unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::config::TEST_CONFIG as CONFIG;

    /// A stopped clock that counts how often it is read: each pass of the
    /// job's loop reads it a few times.
    #[derive(Debug)]
    struct CountingClock {
        clock: ManualClock,
        reads: AtomicUsize,
    }

    impl Clock for CountingClock {
        fn now(&self) -> DateTime<Utc> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.clock.now()
        }
    }

    /// A scheduled run is owed at 09:00 on a Monday (the weekly at 07:00,
    /// the daily at 08:00), on a file database with one connection.
    async fn owed_run(dir: &std::path::Path) -> App {
        let url = format!("sqlite://{}", dir.join("ocset.db").display());
        let store = crate::store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        let config = format!(
            "{CONFIG}\n[[digest]]\nname = \"weekly\"\nkind = \"weekly\"\nat = \"07:00\"\naudience = [\"ppu_slt\"]\n\
             [[digest]]\nname = \"daily\"\nkind = \"daily\"\nat = \"08:00\"\naudience = [\"ocset_sergeants\"]\n"
        );
        let settings = crate::config::load_str(&config, "test.toml", Vec::new()).unwrap();
        assert_eq!(settings.digests().len(), 2);
        let clock = Arc::new(ManualClock::new("2024-01-08T09:00:00Z".parse().unwrap()));
        let app = App::new(store, Arc::new(settings), clock);
        one_package(&app).await;
        app
    }

    /// The runs owed now, by occurrence key.
    fn owed_keys(app: &App) -> Vec<String> {
        let (now, tz) = (app.now(), app.settings().time_zone);
        let keys: Vec<String> = app
            .settings()
            .digests()
            .iter()
            .filter_map(|schedule| schedule.owed_at(now, tz))
            .map(|run| run.key())
            .collect();
        assert!(!keys.is_empty());
        keys
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_during_a_render_abandons_it_and_the_render_holds_no_database_lock() {
        let dir = tempfile::tempdir().unwrap();
        let app = owed_run(dir.path()).await;
        let (started, release, hook) = held_render();
        let job = DigestJob::over(app.clone()).with_before_render(hook);
        let (wake, delivered) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(job.run(wake, delivered, async {
            let _ = stopped.await;
        }));
        let bound = std::time::Duration::from_secs(10);
        tokio::time::timeout(bound, started.notified())
            .await
            .expect("a render starts");

        // While it renders, another writer gets the one connection and
        // SQLite's write lock at once (no connection, no transaction is
        // held across a render).
        let mail = DigestMail {
            digest: ON_DEMAND.into(),
            marking: "OFFICIAL-SENSITIVE".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            attachment: None,
        };
        let draft = DigestDraft {
            schedule: ON_DEMAND.into(),
            period: "2024-W01".into(),
            occurrence: None,
            recipient: "someone@force.example".into(),
            mail,
        };
        let written = tokio::time::timeout(
            bound,
            app.queue_digests(&[draft], &Actor::named("test"), app.now()),
        )
        .await
        .expect("a write waited for the render")
        .unwrap();
        assert_eq!(written, 1);

        // A stop while the render is held: the job returns without it (a
        // bound on failure, not a sleep; before, it waited for the render).
        stop.send(()).unwrap();
        tokio::time::timeout(bound, running)
            .await
            .expect("the job waited for its render after the stop")
            .unwrap();
        // Abandoned: nothing of the run was recorded or queued ...
        for key in owed_keys(&app) {
            assert!(
                app.digest_recipients(&key).await.unwrap().is_empty(),
                "{key}"
            );
        }
        // ... so the next start queues it.
        drop(release);
        let queued = DigestJob::over(app.clone()).run_due().await.unwrap();
        assert!(queued > 0);
        for key in owed_keys(&app) {
            assert!(
                !app.digest_recipients(&key).await.unwrap().is_empty(),
                "{key}"
            );
        }
    }

    #[tokio::test]
    async fn with_no_digest_configured_the_job_sleeps_instead_of_spinning() {
        let env = vec![("OCSET__DIGEST".to_string(), "[]".to_string())];
        let settings = crate::config::load_str(CONFIG, "test.toml", env).unwrap();
        assert!(settings.digests().is_empty());
        let clock = Arc::new(CountingClock {
            clock: ManualClock::new("2024-01-08T09:00:00Z".parse().unwrap()),
            reads: AtomicUsize::new(0),
        });
        // Nothing is read or queued with no schedule, so no database.
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let job = DigestJob::new(store, Arc::new(settings), clock.clone());
        // Paused once the database is open (its connecting thread keeps
        // real time).
        tokio::time::pause();
        let (wake, delivered) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(job.run(wake.clone(), delivered, async {
            let _ = stopped.await;
        }));
        // Tokio's time is paused: it jumps to the next timer whenever the
        // runtime is idle, so these seconds pass at once, and a loop that
        // waits zero (a millisecond, for the timer) goes round thousands
        // of times meanwhile.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let one_pass = clock.reads.load(Ordering::SeqCst);
        assert!(one_pass > 0, "the job has made its first pass");
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        assert_eq!(
            clock.reads.load(Ordering::SeqCst),
            one_pass,
            "the job went round again with nothing scheduled"
        );
        // Woken by the safety tick, it makes exactly one more pass.
        wake.notify_one();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert_eq!(clock.reads.load(Ordering::SeqCst), 2 * one_pass);
        stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), running)
            .await
            .expect("it stops on shutdown")
            .unwrap();
    }
}
