//! The report benchmark: what a weekly (and monthly) report costs over a
//! large ledger, folded from the events and served from its snapshot
//! (`report_snapshots`, issue 14).
//!
//! ```text
//! cargo run --release --example report_bench -- [sqlite|postgres] [EVENTS]
//! ```
//!
//! Defaults: `sqlite 100000`. On a fresh database (SQLite: a file in a
//! temporary folder; PostgreSQL: `ocset_bench_<random>` created on
//! `OCSET_TEST_POSTGRES_URL`, or on
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped at the end,
//! on an error too) it seeds about EVENTS ledger events through the real
//! write paths: packages received evenly over the 52 weeks before "now"
//! (`store.insert_packages`, a batch per transaction), a third of them in
//! development then moved to enforcement, then every package enforced (or,
//! one in five, closed) a few days after receipt (`App::change`, a
//! transaction each), except moves that would fall after now. Then, with
//! the default configuration and the clock standing still at now, it
//! times `App::period_report` (the use case behind the API, the dashboard
//! and the digests):
//!
//! - the ledger read alone (`Store::events_before` the week's end);
//! - the last complete week, cold: read, fold, and keep the snapshot;
//! - the same week again, served from its snapshot (median of 9);
//! - the same for the last complete month;
//! - the week still running, always folded (median of 3).
//!
//! It checks that the served report equals the folded one. Performance is
//! measured here, never asserted in a test.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::{Clock, ManualClock};
use ocset_scheduler::config;
use ocset_scheduler::domain::{
    DeadlinePolicy, Lpas, Outcome, Package, Reference, RegradePolicy, Stage, Timescales,
};
use ocset_scheduler::intake::{IntakeRules, NewPackage};
use ocset_scheduler::report::PeriodKind;
use ocset_scheduler::store::{self, Actor, LedgerEntry, Store};
use sqlx::Connection;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration as Elapsed, Instant};

/// Packages inserted per transaction.
const BATCH: usize = 5_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".to_string());
    let events: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let dir = tempfile::tempdir()?;
    match backend.as_str() {
        "sqlite" => {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            run(&backend, &url, events, dir.path()).await
        }
        "postgres" => {
            let admin = std::env::var("OCSET_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("ocset_bench_{:016x}", rand::random::<u64>());
            let mut connection = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut connection)
                .await?;
            let url = match admin.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => anyhow::bail!("OCSET_TEST_POSTGRES_URL has no database name"),
            };
            let outcome = run(&backend, &url, events, dir.path()).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut connection)
                .await?;
            outcome
        }
        other => anyhow::bail!("backend {other:?}: sqlite or postgres"),
    }
}

async fn run(backend: &str, url: &str, events: usize, dir: &Path) -> anyhow::Result<()> {
    // A Wednesday noon: the week and the month are still running.
    let now: DateTime<Utc> = "2025-06-04T12:00:00Z".parse()?;
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"))?;
    let path = dir.join("ocset.toml");
    std::fs::write(
        &path,
        shipped.replace(
            "url = \"sqlite://data/ocset.db\"",
            &format!("url = \"{url}\""),
        ),
    )?;
    let settings =
        Arc::new(config::load(&path, Vec::new()).map_err(|errors| anyhow::anyhow!("{errors:?}"))?);
    let store = store::connect(url, 4).await?;
    store.migrate().await?;
    let clock = ManualClock::new(now);
    let app = App::new(store.clone(), settings.clone(), Arc::new(clock.clone()));

    let started = Instant::now();
    let seeded = seed(&app, &store, now, events, backend == "postgres").await?;
    store.maintain().await?;
    println!(
        "report_bench on {backend}: {seeded} events seeded in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let tz = settings.time_zone;
    let week = PeriodKind::Week.last_complete(clock.now(), tz);
    // The last week complete a week from now is the one running now.
    let running = PeriodKind::Week.last_complete(clock.now() + Duration::days(7), tz);
    let month = PeriodKind::Month.last_complete(clock.now(), tz);

    let (read, before_week) = timed(|| store.events_before(week.ends_at(tz))).await;
    println!(
        "ledger read before {week}'s end: {} events, {}",
        before_week?.len(),
        ms(read)
    );
    for period in [week, month] {
        let (cold, folded) = timed(|| app.period_report(period)).await;
        let folded = folded?;
        let mut served = Vec::new();
        for _ in 0..9 {
            let (took, report) = timed(|| app.period_report(period)).await;
            anyhow::ensure!(
                report? == folded,
                "the snapshot of {period} differs from its fold"
            );
            served.push(took);
        }
        println!(
            "{period} (ended): cold {} (read, fold, keep); from its snapshot: median {} (min {}, max {})",
            ms(cold),
            ms(median(&mut served)),
            ms(*served.iter().min().expect("runs")),
            ms(*served.iter().max().expect("runs")),
        );
    }
    let mut open = Vec::new();
    for _ in 0..3 {
        let (took, report) = timed(|| app.period_report(running)).await;
        report?;
        open.push(took);
    }
    println!(
        "{running} (running, always folded): median {}",
        ms(median(&mut open))
    );
    let kept = store.report_snapshots().await?;
    anyhow::ensure!(kept.len() == 2, "kept {} snapshots, expected 2", kept.len());
    Ok(())
}

/// Seeds about `events` events; returns how many.
async fn seed(
    app: &App,
    store: &Arc<dyn Store>,
    now: DateTime<Utc>,
    events: usize,
    parallel: bool,
) -> anyhow::Result<usize> {
    let rules = IntakeRules {
        policy: DeadlinePolicy::new(
            Timescales::default(),
            chrono_tz::Europe::London,
            RegradePolicy::FromReceipt,
            None,
        )?,
        lpas: Lpas::default(),
    };
    // A third with three events (received in development, to enforcement,
    // stopped), the rest with two.
    let packages = events * 3 / 7;
    let span = Duration::weeks(52).num_minutes();
    let received =
        move |i: usize| now - Duration::minutes(span - span * i as i64 / packages as i64);
    let actor = Actor::named("cli:bench");
    let mut entries = Vec::with_capacity(BATCH);
    for i in 0..packages {
        let input = NewPackage {
            reference: format!("BENCH-{i:07}"),
            risk_grade: ["very_high", "high", "medium", "standard"][i % 4].into(),
            received_at: received(i).to_rfc3339(),
            lpa: format!("LPA {}", i % 12),
            stage: if i % 3 == 0 {
                "intelligence_development"
            } else {
                "awaiting_enforcement"
            }
            .into(),
            assigned_officer: Some(format!("pc.{}@force.police.uk", i % 300)),
            ..NewPackage::default()
        };
        let package = rules
            .admit(&input, now)
            .map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
        entries.push(LedgerEntry {
            event: package.created_event(),
            occurred_at: package.received_at(),
            next_due_at: Some(package.deadline().at()),
            due_soon_at: Some(package.deadline().at()),
            package,
            preceded_by: Vec::new(),
        });
        if entries.len() == BATCH || i + 1 == packages {
            store
                .insert_packages(&entries, &actor, now)
                .await
                .context("inserting packages")?;
            entries.clear();
        }
    }
    // The moves, by four writers on PostgreSQL (one on SQLite, which has
    // one writer at a time anyway).
    let writers = if parallel { 4 } else { 1 };
    let mut tasks = Vec::new();
    for w in 0..writers {
        let app = app.clone();
        let actor = actor.clone();
        tasks.push(tokio::spawn(async move {
            let mut moves = 0usize;
            for i in (w..packages).step_by(writers) {
                let reference = Reference::parse(&format!("BENCH-{i:07}"))
                    .map_err(|e| anyhow::anyhow!("{}", e.0))?;
                let at = received(i);
                if i % 3 == 0 {
                    let to_enforcement = at + Duration::hours(20 + (i % 50) as i64);
                    if to_enforcement >= now {
                        continue;
                    }
                    app.change(&reference, &actor, move |p: &Package, now| {
                        p.move_stage(Stage::AwaitingEnforcement, to_enforcement, None, None, now)
                    })
                    .await?;
                    moves += 1;
                }
                let stopped = at + Duration::hours(48 + (i % 200) as i64);
                if stopped >= now {
                    continue;
                }
                let (stage, outcome) = if i % 5 == 0 {
                    (Stage::Closed, Outcome::NoFurtherAction)
                } else {
                    (Stage::Enforced, Outcome::Arrest)
                };
                app.change(&reference, &actor, move |p: &Package, now| {
                    p.move_stage(stage, stopped, Some(outcome), None, now)
                })
                .await?;
                moves += 1;
            }
            anyhow::Ok(moves)
        }));
    }
    let mut total = packages;
    for task in tasks {
        total += task.await??;
    }
    Ok(total)
}

async fn timed<T, F: std::future::Future<Output = T>>(work: impl FnOnce() -> F) -> (Elapsed, T) {
    let started = Instant::now();
    let out = work().await;
    (started.elapsed(), out)
}

fn median(runs: &mut [Elapsed]) -> Elapsed {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(took: Elapsed) -> String {
    format!("{:.1} ms", took.as_secs_f64() * 1000.0)
}
