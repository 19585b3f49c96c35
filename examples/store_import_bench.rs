//! Times a large import, listing and reference check against a store.
//!
//! ```text
//! cargo run --release --example store_import_bench -- sqlite://data/bench.db 100000
//! cargo run --release --example store_import_bench -- postgres://postgres@127.0.0.1/ocset_bench 100000
//! ```
//!
//! The database must be empty (or hold no `BENCH-` packages); the SQLite file
//! is created if missing. Performance is measured here, never asserted in a
//! test.

use chrono::{DateTime, Utc};
use ocset_scheduler::domain::{DeadlinePolicy, Lpas, Reference, RegradePolicy, Timescales};
use ocset_scheduler::intake::{IntakeRules, NewPackage};
use ocset_scheduler::store::{self, LedgerEntry, PackageFilter};
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite://data/bench.db".to_string());
    let count: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;

    let store = store::connect(&url, 4).await?;
    store.migrate().await?;
    let rules = IntakeRules {
        policy: DeadlinePolicy::new(
            Timescales::default(),
            chrono_tz::Europe::London,
            RegradePolicy::FromReceipt,
            None,
        )?,
        lpas: Lpas::default(),
    };
    let now: DateTime<Utc> = Utc::now();
    let entries = (0..count)
        .map(|i| {
            let input = NewPackage {
                reference: format!("BENCH-{i:07}"),
                risk_grade: ["very_high", "high", "medium", "standard"][i % 4].into(),
                received_at: (now - chrono::Duration::hours((i % 500) as i64)).to_rfc3339(),
                lpa: format!("LPA {}", i % 12),
                stage: "intelligence_development".into(),
                assigned_officer: Some(format!("pc.{}@force.police.uk", i % 300)),
                ..NewPackage::default()
            };
            let package = rules
                .admit(&input, now)
                .map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
            Ok(LedgerEntry {
                event: package.created_event(),
                occurred_at: package.received_at(),
                next_due_at: Some(warning_at(&package)),
                due_soon_at: Some(warning_at(&package)),
                package,
                preceded_by: Vec::new(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let references: Vec<Reference> = entries
        .iter()
        .map(|e| e.package.reference().clone())
        .collect();

    let started = Instant::now();
    store
        .insert_packages(&entries, &store::Actor::named("bench"), now)
        .await?;
    println!("insert_packages({count}): {:?}", started.elapsed());
    let started = Instant::now();
    let found = store.existing_references(&references).await?.len();
    println!(
        "existing_references({count}) found {found}: {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let listed = store.list_packages(&PackageFilter::default()).await?.len();
    println!("list_packages() returned {listed}: {:?}", started.elapsed());
    Ok(())
}

/// When 75% of the package's timescale has elapsed: the default warning.
fn warning_at(package: &ocset_scheduler::domain::Package) -> chrono::DateTime<chrono::Utc> {
    let deadline = package.deadline();
    ocset_scheduler::domain::LevelTime::Percent(75).instant(
        deadline.clock_started_at(),
        deadline.at(),
        chrono_tz::Europe::London,
    )
}
