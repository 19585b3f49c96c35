//! The digest benchmark: what the shipped `[[digest]]` schedules cost on a
//! large ledger — the time from the run's instant to its messages queued,
//! the size of each outbox row, the time to turn each into an email, and
//! the process's peak resident memory.
//!
//! ```text
//! cargo run --release --example digest_bench -- [OPEN_PACKAGES]
//! ```
//!
//! Default 100000. On a SQLite file in a temporary folder it runs three
//! processes of itself in turn, so that each peak (VmHWM, read from
//! `/proc/self/status`) is its own:
//!
//! 1. `seed`: OPEN_PACKAGES open packages through `Store::insert_packages`,
//!    5,000 per transaction, as at 1 March 2024 09:00 UTC: received over
//!    the 90 days before, grades and stages in turn, seven LPAs, 300
//!    officers; most are past their deadline, so the lists are long.
//! 2. `weekly`: the digest job at Monday 4 March 2024 07:30 (the shipped
//!    weekly digest, week 9, to two addresses), then the dispatcher
//!    sending what it queued to `.eml` files (`mail.transport = "file"`).
//! 3. `daily`: the same at 08:30 (the daily list, to Birmingham's
//!    sergeants and to the rest; the weekly is already recorded).
//!
//! Each prints the time to queue, each outbox row's size, the time to
//! send (render as MIME and write), each `.eml` file's size, and VmHWM.
//! Set any `OCSET__...` variable to vary the configuration (the database
//! and mail keys are the benchmark's own), and
//! `RUST_LOG=ocset_scheduler::digest=debug` to see the weekly run's time
//! split into reading the events, building the report and rendering it. Performance is measured here,
//! never asserted in a test.

use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::{Clock, ManualClock};
use ocset_scheduler::config::{self, Settings};
use ocset_scheduler::digest::job::DigestJob;
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::outbox::{Deliver, Dispatcher};
use ocset_scheduler::store::{self, Actor, LedgerEntry, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Packages per `insert_packages` call (each call is one transaction).
const SEED_BATCH: usize = 5_000;
/// Distinct assigned officers.
const OFFICERS: usize = 300;

fn main() -> anyhow::Result<()> {
    // The job logs where a report's time goes at `debug`
    // (`RUST_LOG=ocset_scheduler::digest=debug`); the figures are on stdout.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(phase @ ("seed" | "weekly" | "daily")) => {
            let dir = Path::new(args.get(1).context("the folder")?);
            let runtime = tokio::runtime::Runtime::new()?;
            match phase {
                "seed" => {
                    let open: usize = args.get(2).context("the count")?.parse()?;
                    runtime.block_on(seed(dir, open))
                }
                _ => runtime.block_on(run(dir, phase)),
            }
        }
        _ => parent(args.first()),
    }
}

/// Runs the three phases as child processes over one new database.
fn parent(open: Option<&String>) -> anyhow::Result<()> {
    let open: usize = match open {
        None => 100_000,
        Some(n) => n
            .replace(['_', ','], "")
            .parse()
            .with_context(|| format!("OPEN_PACKAGES must be a whole number, not {n:?}"))?,
    };
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let me = std::env::current_exe()?;
    println!(
        "digest_bench on SQLite: {open} open packages; {} cores",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    for phase in [
        vec!["seed".to_string(), open.to_string()],
        vec!["weekly".to_string()],
        vec!["daily".to_string()],
    ] {
        let mut command = std::process::Command::new(&me);
        command.arg(&phase[0]).arg(dir.path()).args(&phase[1..]);
        let status = command.status()?;
        if !status.success() {
            bail!("the {} phase failed: {status}", phase[0]);
        }
    }
    Ok(())
}

/// The shipped default configuration over the SQLite file in `dir`, mail
/// written as `.eml` files to `dir/mail`.
fn settings(dir: &Path) -> anyhow::Result<Settings> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let ours = [
        (
            "OCSET__DATABASE__URL",
            format!("sqlite://{}", dir.join("ocset.db").display()),
        ),
        ("OCSET__MAIL__TRANSPORT", "file".into()),
        (
            "OCSET__MAIL__FILE_DIR",
            dir.join("mail").display().to_string(),
        ),
    ];
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(key, _)| key.starts_with("OCSET__") && !ours.iter().any(|(k, _)| k == key))
        .collect();
    env.extend(ours.map(|(k, v)| (k.to_string(), v)));
    config::load(&path, env).map_err(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the configuration is not valid:\n{}", errors.join("\n"))
    })
}

async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(
        settings.config.database.url.expose(),
        settings.config.database.max_connections,
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an instant")
}

/// Phase 1: the ledger.
async fn seed(dir: &Path, open: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let settings = Arc::new(settings(dir)?);
    let store = open_store(&settings).await?;
    let now = at("2024-03-01T09:00:00Z");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
    let app = App::new(store.clone(), settings.clone(), clock);
    let lpas = settings.config.force.lpas.clone();
    let rules = app.intake_rules();
    let actor = Actor::named("bench");
    let window = 90 * 24 * 3600;
    let mut done = 0;
    while done < open {
        let batch: Vec<LedgerEntry> = (done..(done + SEED_BATCH).min(open))
            .map(|i| {
                let input = NewPackage {
                    reference: format!("BENCH-{i:07}"),
                    risk_grade: ["very_high", "high", "medium", "standard"][i % 4].into(),
                    received_at: (now - Duration::seconds(1 + (i * 7_919 % window) as i64))
                        .to_rfc3339(),
                    lpa: lpas[i % lpas.len()].clone(),
                    stage: ["intelligence_development", "awaiting_enforcement"][i % 2].into(),
                    assigned_officer: Some(format!("pc.{}@force.police.uk", i % OFFICERS)),
                    ..NewPackage::default()
                };
                let package = rules
                    .admit(&input, now)
                    .map_err(|faults| anyhow::anyhow!("{}: {faults:?}", input.reference))?;
                Ok(app.created_entry(package))
            })
            .collect::<anyhow::Result<_>>()?;
        store.insert_packages(&batch, &actor, now).await?;
        done += batch.len();
    }
    // As `serve` does at start: the planner's statistics.
    store.migrate().await?;
    println!(
        "seed:   {open} packages in {:.1} s; peak RSS {}",
        started.elapsed().as_secs_f64(),
        peak_rss()
    );
    Ok(())
}

/// Phase 2 or 3: one digest run, queued and sent.
async fn run(dir: &Path, phase: &str) -> anyhow::Result<()> {
    let settings = Arc::new(settings(dir)?);
    let store = open_store(&settings).await?;
    let now = match phase {
        "weekly" => at("2024-03-04T07:30:00Z"),
        _ => at("2024-03-04T08:30:00Z"),
    };
    let clock = ManualClock::new(now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let job = DigestJob::new(store.clone(), settings.clone(), clock.clone());
    let before = peak_rss();
    let started = Instant::now();
    let queued = job.run_due().await?;
    let to_queue = started.elapsed();
    let queued_rss = peak_rss();
    let rows = outbox_rows(&settings).await?;

    let notifier: Arc<dyn Deliver> = Arc::new(ocset_scheduler::service::notifier(&settings)?);
    let dispatcher = Dispatcher::new(store, notifier, clock, &settings.config.delivery, "bench");
    let started = Instant::now();
    dispatcher.drain().await?;
    let to_send = started.elapsed();
    let mut files: Vec<u64> = std::fs::read_dir(dir.join("mail"))?
        .map(|f| Ok(f?.metadata()?.len()))
        .collect::<std::io::Result<_>>()?;
    files.sort_unstable();
    // The folder holds the weekly's files too by the daily phase.
    std::fs::remove_dir_all(dir.join("mail"))?;
    std::fs::create_dir(dir.join("mail"))?;

    println!(
        "{phase}: {queued} messages queued in {:.2} s (peak RSS before {before}, after queueing {queued_rss})",
        to_queue.as_secs_f64()
    );
    for (to, bytes) in &rows {
        println!("  outbox row to {to}: {}", size(*bytes as u64));
    }
    println!(
        "  sent (MIME built, .eml written) in {:.2} s; files {}",
        to_send.as_secs_f64(),
        files
            .iter()
            .map(|b| size(*b))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  peak RSS {}", peak_rss());
    Ok(())
}

/// Each pending digest's outbox row: its recipient and its payload's size.
async fn outbox_rows(settings: &Settings) -> anyhow::Result<Vec<(String, i64)>> {
    use sqlx::Row;
    let pool = sqlx::SqlitePool::connect(settings.config.database.url.expose()).await?;
    let rows = sqlx::query(
        "SELECT destination, length(CAST(notice AS BLOB)) FROM outbox WHERE status = 'pending' ORDER BY id",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    Ok(rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect())
}

/// `/proc/self/status`'s VmHWM: the most resident memory this process has
/// had.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or_else(|| "unknown".into(), |kb| size(kb * 1024))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
