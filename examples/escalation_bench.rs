//! The escalation benchmark: how long from the instant an escalation falls
//! due to the instant the mail server accepts its message, with the real
//! service running over a large ledger; and what one scheduler pass costs
//! as the ledger grows.
//!
//! ```text
//! cargo run --release --example escalation_bench -- [sqlite|postgres] [OPEN_PACKAGES] [DUE_PACKAGES]
//! ```
//!
//! Defaults: `sqlite 100000 1000`. Two parts, each on a fresh database
//! (SQLite: a file in a temporary folder; PostgreSQL: `ocset_bench_<random>`
//! created on `OCSET_TEST_POSTGRES_URL`, or on
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped at the end,
//! on an error or Ctrl-C too):
//!
//! 1. **Latency.** Seeds OPEN_PACKAGES open packages whose every level is
//!    at least 35 hours away, then DUE_PACKAGES very-high packages whose 75%
//!    warning falls due at instants spread evenly over [`SPREAD`], starting
//!    [`LEAD`] from then. It runs the real [`Service`] (scheduler loop,
//!    dispatcher, safety tick, API) on the system clock with the default
//!    configuration, delivering through the real notifier by SMTP to a
//!    server in this process (the tests' [`TestSmtp`]) that records when it
//!    accepts each message. When the scheduler has nothing due and the
//!    outbox is empty (or after [`TIMEOUT`]) it stops the service, reads
//!    each escalation and its deliveries back from the store, finds each
//!    delivery's message by the package reference in its text and its
//!    envelope recipient, and reports acceptance − escalation `due_at`
//!    over every delivery.
//! 2. **Pass cost.** On 1,000 and on OPEN_PACKAGES open packages (none due)
//!    plus [`PASS_DUE`] due ones, times `Scheduler::run_due()`: the pass
//!    that escalates the due ones, and the idle pass after it that finds
//!    nothing. Between runs it puts the due packages back as they were
//!    (their escalations and messages deleted, `next_due_at` back at their
//!    warning) with raw SQL, so each run does the same work.
//!
//! Run it with `OCSET__DIGEST='[]'` to measure the escalation path alone:
//! otherwise the service also queues the digests owed at start, built from
//! the whole (here oversized) ledger, while the burst falls due.
//!
//! Everything runs on 127.0.0.1, and the program stops by itself. Set
//! `RUST_LOG` (default `warn`) to see the service's log, and any
//! `OCSET__...` variable to vary the configuration (the database and mail
//! keys are the benchmark's own). Performance is measured here, never
//! asserted in a test.

// The tests' helpers: a throwaway PostgreSQL database's URL, and the SMTP
// server (examples may use the dev-dependencies it needs).
#[path = "../tests/it/common/mod.rs"]
mod common;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use common::smtp::{parse_mail, TestSmtp};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::{Clock, SystemClock};
use ocset_scheduler::config::{self, Settings};
use ocset_scheduler::domain::Reference;
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::outbox::{Deliver, Destination};
use ocset_scheduler::scheduler::Scheduler;
use ocset_scheduler::service::Service;
use ocset_scheduler::store::{self, Actor, LedgerEntry, Store};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// From the end of seeding to the first due instant: time for the service
/// to start, so that no escalation is already late when it does.
const LEAD: Duration = Duration::from_secs(3);
/// The due packages' warnings fall due evenly over this long.
const SPREAD: Duration = Duration::from_secs(5);
/// How long after the last due instant the latency run waits for every
/// message before it gives up and reports what arrived.
const TIMEOUT: Duration = Duration::from_secs(300);
/// Packages per `insert_packages` call (each call is one transaction).
const SEED_BATCH: usize = 5_000;
/// Due packages in each timed pass.
const PASS_DUE: usize = 100;
/// Timed passes per ledger size (after one untimed warm-up pass).
const PASS_RUNS: usize = 9;
/// Distinct assigned officers, so that messages to officers are grouped as
/// in a real team (a few packages each) rather than one address per package.
const OFFICERS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The command line: `[sqlite|postgres] [OPEN_PACKAGES] [DUE_PACKAGES]`.
#[derive(Debug, Clone, Copy)]
struct Args {
    backend: Backend,
    open: usize,
    due: usize,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut args = std::env::args().skip(1);
        let backend = match args.next().as_deref() {
            None | Some("sqlite") => Backend::Sqlite,
            Some("postgres") => Backend::Postgres,
            Some(other) => bail!("the backend is sqlite or postgres, not {other:?}"),
        };
        let mut number = |name: &str, default: usize| -> anyhow::Result<usize> {
            args.next().map_or(Ok(default), |n| {
                n.replace(['_', ','], "")
                    .parse()
                    .with_context(|| format!("{name} must be a whole number, not {n:?}"))
            })
        };
        let open = number("OPEN_PACKAGES", 100_000)?;
        let due = number("DUE_PACKAGES", 1_000)?;
        if due == 0 {
            bail!("DUE_PACKAGES must be at least 1");
        }
        Ok(Self { backend, open, due })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The service logs every delivery at `info`; the report is on stdout.
    // sqlx warns when dropping a PostgreSQL database ends a connection its
    // pool is still putting back: expected at the clean-up, so not shown.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,sqlx_core::pool::connection=error")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let args = Args::parse()?;
    let backend = match args.backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    println!(
        "escalation_bench on {backend}: {} open packages, {} falling due over {} s from {} s after seeding; {} cores",
        args.open,
        args.due,
        SPREAD.as_secs(),
        LEAD.as_secs(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );

    let latency = with_fresh_database(args.backend, move |url| {
        latency_run(url, args.open, args.due)
    })
    .await?;
    latency.print();

    let mut sizes = vec![1_000, args.open];
    sizes.sort_unstable();
    sizes.dedup();
    println!(
        "\nscheduler pass cost (median of {PASS_RUNS} runs of Scheduler::run_due(); {PASS_DUE} due packages per escalating pass):"
    );
    for open in sizes {
        let cost = with_fresh_database(args.backend, move |url| pass_cost(url, open)).await?;
        println!(
            "  {open:>7} open: escalating pass {:>8.2} ms (min {:.2}, max {:.2}); idle pass {:>6.2} ms; seeded in {:.1} s",
            ms(cost.escalating.median),
            ms(cost.escalating.min),
            ms(cost.escalating.max),
            ms(cost.idle.median),
            cost.seeded.as_secs_f64(),
        );
    }
    if !latency.complete() {
        bail!("not every expected message arrived; the figures above cover those that did");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Databases.
// ---------------------------------------------------------------------------

/// Runs `run` with the URL of a new, empty database, and removes the
/// database afterwards whatever happened: an error, a panic, or Ctrl-C.
/// `run` runs as a task of its own so that a panic or an interruption still
/// reaches the clean-up.
async fn with_fresh_database<T, F, Fut>(backend: Backend, run: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            // Removed with its folder when `dir` drops, after the task.
            let dir = tempfile::tempdir().context("creating a temporary folder")?;
            let url = common::sqlite_url(dir.path());
            let outcome = run_interruptibly(run(url)).await;
            drop(dir);
            outcome
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let admin_url = common::postgres_admin_url();
            let shown = ocset_scheduler::text::redact_url(&admin_url);
            let mut admin = tokio::time::timeout(
                Duration::from_secs(10),
                sqlx::PgConnection::connect(&admin_url),
            )
            .await
            .map_err(|_| anyhow::anyhow!("PostgreSQL at {shown} did not answer within 10 s"))?
            .with_context(|| {
                format!("cannot reach PostgreSQL at {shown} (set OCSET_TEST_POSTGRES_URL)")
            })?;
            let name = format!("ocset_bench_{:016x}", rand::random::<u64>());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("creating the database {name}"))?;
            let outcome = run_interruptibly(run(common::with_database(&admin_url, &name))).await;
            // FORCE ends the connections the service's pools still hold
            // (after an interruption its tasks may still be running).
            let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("dropping the database {name}"));
            let value = outcome?;
            dropped?;
            Ok(value)
        }
    }
}

/// Runs `work` as a task until it ends or Ctrl-C; a panic in it becomes an
/// error here, after which the caller cleans up.
async fn run_interruptibly<T: Send + 'static>(
    work: impl Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    let mut task = tokio::spawn(work);
    tokio::select! {
        joined = &mut task => match joined {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("the benchmark failed: {e}")),
        },
        _ = tokio::signal::ctrl_c() => {
            task.abort();
            bail!("interrupted")
        }
    }
}

/// The shipped default configuration, with the database at `url` and, when
/// given, mail going by plain SMTP to 127.0.0.1:`smtp_port`. Other
/// `OCSET__` variables in the environment apply too.
fn settings_for(url: &str, smtp_port: Option<u16>) -> anyhow::Result<Settings> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let mut ours = vec![("OCSET__DATABASE__URL".to_string(), url.to_string())];
    if let Some(port) = smtp_port {
        for (key, value) in [
            ("OCSET__MAIL__TRANSPORT", "smtp".to_string()),
            ("OCSET__MAIL__SMTP__HOST", "127.0.0.1".to_string()),
            ("OCSET__MAIL__SMTP__PORT", port.to_string()),
            ("OCSET__MAIL__SMTP__TLS", "none".to_string()),
        ] {
            ours.push((key.to_string(), value));
        }
    }
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(key, _)| key.starts_with("OCSET__") && !ours.iter().any(|(k, _)| k == key))
        .collect();
    env.extend(ours);
    config::load(&path, env).map_err(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the configuration is not valid:\n{}", errors.join("\n"))
    })
}

/// Opens and migrates the store `settings` name, as `serve` does.
async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(
        settings.config.database.url.expose(),
        settings.config.database.max_connections,
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

/// Readies a freshly seeded database for the service as a long-running one
/// would be: `migrate` refreshes SQLite's planner statistics (as `serve`
/// does at start), and on PostgreSQL `ANALYZE` does what autovacuum would
/// do soon after a bulk load.
async fn settle(store: &Arc<dyn Store>, raw: &RawPool) -> anyhow::Result<()> {
    store.migrate().await?;
    if let RawPool::Postgres(_) = raw {
        raw.execute("ANALYZE").await?;
    }
    Ok(())
}

/// A pool of the benchmark's own, for SQL the store does not offer.
enum RawPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl RawPool {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        Ok(if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqlitePool::connect(url).await?)
        } else {
            Self::Postgres(sqlx::PgPool::connect(url).await?)
        })
    }

    /// Runs `statements` (several, separated by semicolons) in order.
    async fn execute(&self, statements: &str) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::raw_sql(statements).execute(pool).await?;
            }
            Self::Postgres(pool) => {
                sqlx::raw_sql(statements).execute(pool).await?;
            }
        }
        Ok(())
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

// ---------------------------------------------------------------------------
// Seeding.
// ---------------------------------------------------------------------------

/// Open package `i`: every grade and stage, received in the last hour, so
/// its first level (the warning, at 75% of at least 48 hours) is at least
/// 35 hours away.
fn open_input(i: usize, lpas: &[String], now: DateTime<Utc>) -> NewPackage {
    NewPackage {
        reference: format!("OPEN-{i:07}"),
        risk_grade: ["very_high", "high", "medium", "standard"][i % 4].into(),
        received_at: (now - chrono::Duration::seconds((i % 3600) as i64)).to_rfc3339(),
        lpa: lpas[i % lpas.len()].clone(),
        stage: ["intelligence_development", "awaiting_enforcement"][i % 2].into(),
        assigned_officer: Some(format!("pc.{}@force.police.uk", i % OFFICERS)),
        ..NewPackage::default()
    }
}

/// Due package `i`: very high (48 hours), received 36 hours before
/// `warning_at`, so its 75% warning falls due then.
fn due_input(i: usize, lpas: &[String], warning_at: DateTime<Utc>) -> NewPackage {
    NewPackage {
        reference: format!("DUE-{i:07}"),
        risk_grade: "very_high".into(),
        received_at: (warning_at - chrono::Duration::hours(36)).to_rfc3339(),
        lpa: lpas[i % lpas.len()].clone(),
        stage: "awaiting_enforcement".into(),
        assigned_officer: Some(format!("pc.{}@force.police.uk", i % OFFICERS)),
        ..NewPackage::default()
    }
}

/// Admits `inputs` under the intake rules at `now` and makes their ledger
/// entries (`next_due_at` computed by the ladder), as an import does.
fn entries(
    app: &App,
    inputs: impl Iterator<Item = NewPackage>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<LedgerEntry>> {
    let rules = app.intake_rules();
    inputs
        .map(|input| {
            let package = rules
                .admit(&input, now)
                .map_err(|faults| anyhow::anyhow!("{}: {faults:?}", input.reference))?;
            Ok(app.created_entry(package))
        })
        .collect()
}

/// Writes `entries` through `Store::insert_packages`, [`SEED_BATCH`] at a
/// time: the import's path without the CSV and the duplicate check.
async fn insert(
    store: &Arc<dyn Store>,
    entries: &[LedgerEntry],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let actor = Actor::named("bench");
    for batch in entries.chunks(SEED_BATCH) {
        store.insert_packages(batch, &actor, now).await?;
    }
    Ok(())
}

/// Seeds `count` open packages; returns how long it took.
async fn seed_open(app: &App, count: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let now = Utc::now();
    let lpas = lpas(app.settings());
    let open = entries(app, (0..count).map(|i| open_input(i, &lpas, now)), now)?;
    insert(app.store(), &open, now).await?;
    Ok(started.elapsed())
}

/// The configured LPAs, or some names when any is accepted.
fn lpas(settings: &Settings) -> Vec<String> {
    let configured = &settings.config.force.lpas;
    if configured.is_empty() {
        (1..=7).map(|n| format!("LPA {n}")).collect()
    } else {
        configured.clone()
    }
}

// ---------------------------------------------------------------------------
// Part 1: latency from due to accepted.
// ---------------------------------------------------------------------------

/// What the latency run measured.
struct LatencyReport {
    open: usize,
    due: usize,
    seed_open: Duration,
    /// Acceptance − `due_at`, one per (escalation, recipient), sorted.
    latencies: Vec<chrono::Duration>,
    /// Deliveries recorded in the store that no received message carried.
    missing: usize,
    /// Messages the store recorded as dead.
    dead: u64,
    messages: usize,
    /// From the first due instant to the last acceptance.
    span: chrono::Duration,
    timed_out: bool,
    /// True when the service was not yet running at the first due instant.
    late_start: Option<chrono::Duration>,
}

impl LatencyReport {
    fn complete(&self) -> bool {
        !self.timed_out && self.missing == 0 && self.dead == 0
    }

    fn print(&self) {
        println!(
            "\nlatency: {} open packages seeded in {:.1} s; {} due packages",
            self.open,
            self.seed_open.as_secs_f64(),
            self.due
        );
        if let Some(late) = self.late_start {
            println!(
                "  WARNING: the service started {} ms after the first due instant; raise LEAD",
                late.num_milliseconds()
            );
        }
        let seconds = self.span.num_microseconds().unwrap_or(0) as f64 / 1e6;
        println!(
            "  {} messages accepted carrying {} package lines, over {:.2} s from the first due instant: {:.0} messages/s",
            self.messages,
            self.latencies.len(),
            seconds,
            if seconds > 0.0 { self.messages as f64 / seconds } else { 0.0 },
        );
        if !self.latencies.is_empty() {
            let at = |p: f64| chrono_ms(percentile(&self.latencies, p));
            println!(
                "  due_at -> SMTP accepted: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                at(0.50),
                at(0.90),
                at(0.99),
                chrono_ms(*self.latencies.last().expect("not empty")),
            );
        }
        if self.timed_out {
            println!(
                "  INCOMPLETE: gave up {} s after the last due instant",
                TIMEOUT.as_secs()
            );
        }
        if self.missing > 0 {
            println!(
                "  INCOMPLETE: {} deliveries never reached the server",
                self.missing
            );
        }
        if self.dead > 0 {
            println!("  {} messages are dead", self.dead);
        }
    }
}

async fn latency_run(url: String, open: usize, due: usize) -> anyhow::Result<LatencyReport> {
    let smtp = TestSmtp::start().await;
    let settings = Arc::new(settings_for(&url, Some(smtp.port()))?);
    let store = open_store(&settings).await?;
    let raw = RawPool::connect(&url).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::new(store.clone(), settings.clone(), clock);

    let seed_open = seed_open(&app, open).await?;
    settle(&store, &raw).await?;
    raw.close().await;

    // The due packages last, with their instants counted from now, so that
    // however long the bulk seeding took, they fall due after the start.
    let now = Utc::now();
    let first_due = now + chrono::Duration::from_std(LEAD)?;
    let lpas = lpas(&settings);
    let due_at = |i: usize| {
        let offset = SPREAD.as_micros() * i as u128 / due as u128;
        first_due + chrono::Duration::microseconds(offset as i64)
    };
    let due_entries = entries(&app, (0..due).map(|i| due_input(i, &lpas, due_at(i))), now)?;
    insert(&store, &due_entries, now).await?;
    let last_due = due_entries
        .iter()
        .filter_map(|e| e.next_due_at)
        .max()
        .context("the due packages have no due instant")?;

    // As `serve` does: the real notifier, the service built and run.
    let notifier: Arc<dyn Deliver> = Arc::new(ocset_scheduler::service::notifier(&settings)?);
    let service = Service::build(app, notifier, "127.0.0.1:0").await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(service.run_until(async {
        let _ = stopped.await;
    }));
    let started_at = Utc::now();
    let late_start = (started_at > first_due).then(|| started_at - first_due);

    // Done when nothing is due and the outbox is empty. A pass records the
    // escalations and queues their messages in one transaction, so once no
    // package is due every message is in the outbox.
    let give_up = Instant::now() + LEAD + SPREAD + TIMEOUT;
    let mut timed_out = false;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Utc::now();
        if now > last_due {
            let status = store.scheduler_status(now).await?;
            let stats = store.delivery_stats().await?;
            if status.oldest_due_at.is_none() && stats.pending + stats.sending == 0 {
                break;
            }
        }
        if Instant::now() > give_up {
            timed_out = true;
            break;
        }
    }
    let _ = stop.send(());
    running.await??;
    let dead = store.delivery_stats().await?.dead;

    // Each received message: its recipient, and the due references it lists.
    let received = smtp.messages();
    let mut accepted: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    for mail in &received {
        let text = parse_mail(&mail.data).text;
        for recipient in &mail.to {
            for reference in due_references(&text) {
                accepted
                    .entry((reference, recipient.to_ascii_lowercase()))
                    .or_insert(mail.accepted_at);
            }
        }
    }

    // Each escalation as the store recorded it, with its deliveries.
    let mut latencies = Vec::new();
    let mut missing = 0;
    for entry in &due_entries {
        let reference: &Reference = entry.package.reference();
        for escalation in store.escalations(reference).await? {
            for delivery in &escalation.deliveries {
                let Destination::Email(address) = &delivery.destination else {
                    continue;
                };
                match accepted.get(&(reference.to_string(), address.to_ascii_lowercase())) {
                    Some(at) => latencies.push(*at - escalation.due_at),
                    None => missing += 1,
                }
            }
        }
    }
    latencies.sort_unstable();
    let last_accepted = received.iter().map(|m| m.accepted_at).max();
    let first_due_at = due_entries.iter().filter_map(|e| e.next_due_at).min();
    let span = match (first_due_at, last_accepted) {
        (Some(first), Some(last)) => last - first,
        _ => chrono::Duration::zero(),
    };
    Ok(LatencyReport {
        open,
        due,
        seed_open,
        latencies,
        missing,
        dead,
        messages: received.len(),
        span,
        timed_out,
        late_start,
    })
}

/// The due packages' references (`DUE-` and seven digits) in a message's
/// text, each once (a line gives the reference and a link that repeats it).
fn due_references(text: &str) -> HashSet<String> {
    text.match_indices("DUE-")
        .filter_map(|(at, _)| {
            let digits = text.get(at + 4..at + 11)?;
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| format!("DUE-{digits}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Part 2: the cost of one pass.
// ---------------------------------------------------------------------------

/// The spread of a set of timings.
struct Timings {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Timings {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }
}

struct PassCost {
    seeded: Duration,
    escalating: Timings,
    idle: Timings,
}

/// Puts the due packages back as they were before their pass: the
/// escalations and messages go (only the due packages have any), and
/// `next_due_at` returns to the warning instant, which `due_soon_at` holds.
const RESET_DUE_PACKAGES: &str = "DELETE FROM outbox_escalations; DELETE FROM outbox; \
     DELETE FROM escalations; \
     UPDATE packages SET next_due_at = due_soon_at WHERE reference LIKE 'DUE-%'";

async fn pass_cost(url: String, open: usize) -> anyhow::Result<PassCost> {
    let settings = Arc::new(settings_for(&url, None)?);
    let store = open_store(&settings).await?;
    let raw = RawPool::connect(&url).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::new(store.clone(), settings.clone(), clock.clone());

    let seeded = seed_open(&app, open).await?;
    // Warnings a minute ago: due at every pass below.
    let now = Utc::now();
    let lpas = lpas(&settings);
    let warning_at = now - chrono::Duration::minutes(1);
    let due = entries(
        &app,
        (0..PASS_DUE).map(|i| due_input(i, &lpas, warning_at)),
        now,
    )?;
    insert(&store, &due, now).await?;
    settle(&store, &raw).await?;

    let scheduler = Scheduler::new(store.clone(), settings, clock);
    let mut escalating = Vec::new();
    let mut idle = Vec::new();
    // One untimed run first: connections opened, statements prepared.
    for run in 0..=PASS_RUNS {
        raw.execute(RESET_DUE_PACKAGES).await?;
        let started = Instant::now();
        let report = scheduler.run_due().await?;
        let took = started.elapsed();
        if report.packages != PASS_DUE || report.messages == 0 {
            bail!("the pass escalated {report:?}, not the {PASS_DUE} due packages");
        }
        let started = Instant::now();
        let report = scheduler.run_due().await?;
        let took_idle = started.elapsed();
        if report.packages != 0 {
            bail!("the pass after found {report:?} still due");
        }
        if run > 0 {
            escalating.push(took);
            idle.push(took_idle);
        }
    }
    raw.close().await;
    Ok(PassCost {
        seeded,
        escalating: Timings::of(escalating),
        idle: Timings::of(idle),
    })
}

// ---------------------------------------------------------------------------
// Figures.
// ---------------------------------------------------------------------------

/// The nearest-rank percentile `p` (0 to 1) of `sorted`, which is not empty.
fn percentile(sorted: &[chrono::Duration], p: f64) -> chrono::Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn chrono_ms(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3
}
