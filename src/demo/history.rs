//! A year of fictional history for the capacity report: packages received
//! week by week from 52 weeks ago to 2 weeks ago, worked through
//! development and enforcement by seven officers in about the time each
//! grade's timescale allows (a few late), some closed without enforcement.
//! The draws come from a fixed seed, so every demo has the same shape;
//! only the instants follow "now".
//!
//! A package whose simulated move would fall after now is left where it
//! is, so the most recent weeks add a few open packages to the queues, as
//! a real ledger would.

use super::{demo_actor, DEMO_PREFIX};
use crate::app::{App, ImportError};
use crate::domain::{Outcome, Reference, RiskGrade, Stage};
use crate::intake::NewPackage;
use crate::report::forecast::SplitMix64;
use crate::store::StoreError;
use chrono::{DateTime, Duration, Utc};

/// The oldest and newest week of history, in weeks before now.
const WEEKS: std::ops::RangeInclusive<i64> = 2..=52;

/// The fixed seed: the same history every time.
const SEED: u64 = 0x0C5E_7DE3_0000_0013;

/// One fictional package of history.
struct Past {
    grade: RiskGrade,
    received: DateTime<Utc>,
    officer: String,
    /// Hours in development before it moved on.
    development: i64,
    /// Then: closed without enforcement, or enforced this many hours after
    /// reaching the enforcement queue.
    ending: Ending,
}

enum Ending {
    Closed,
    Enforced(i64),
}

/// A number in `[0, 1)`.
fn unit(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The history, drawn from [`SEED`] relative to `now`.
fn draw(now: DateTime<Utc>) -> Vec<Past> {
    let mut rng = SplitMix64::new(SEED);
    let mut out = Vec::new();
    for weeks_ago in WEEKS.rev() {
        // 3 to 6 a week, one more in the last 8 weeks: demand is rising.
        let count = 3 + rng.below(4) + u64::from(weeks_ago <= 9);
        for _ in 0..count {
            let grade = match rng.below(20) {
                0..=1 => RiskGrade::VeryHigh,
                2..=6 => RiskGrade::High,
                7..=13 => RiskGrade::Medium,
                _ => RiskGrade::Standard,
            };
            // Typical hours in development and awaiting enforcement, well
            // inside each timescale; one in eight takes 2.5 times as long
            // to enforce (a suspect not found, data awaited).
            let (development, awaiting) = match grade {
                RiskGrade::VeryHigh => (8.0, 20.0),
                RiskGrade::High => (48.0, 72.0),
                RiskGrade::Medium => (6.0 * 24.0, 8.0 * 24.0),
                RiskGrade::Standard => (15.0 * 24.0, 22.0 * 24.0),
            };
            let jitter = |rng: &mut SplitMix64, hours: f64| (hours * (0.5 + unit(rng))) as i64;
            let development = jitter(&mut rng, development).max(1);
            let late = if rng.below(8) == 0 { 2.5 } else { 1.0 };
            let awaiting = jitter(&mut rng, awaiting * late).max(1);
            let ending = if grade != RiskGrade::VeryHigh && rng.below(7) == 0 {
                Ending::Closed
            } else {
                Ending::Enforced(awaiting)
            };
            let offset = Duration::minutes(rng.below(7 * 24 * 60) as i64);
            out.push(Past {
                grade,
                received: now - Duration::weeks(weeks_ago) + offset,
                officer: format!("pc{:02}@ocset.example", rng.below(7) + 1),
                development,
                ending,
            });
        }
    }
    out
}

/// Loads the history as `DEMO-` packages numbered from `first`; returns
/// how many.
pub(super) async fn load(
    app: &App,
    now: DateTime<Utc>,
    lpas: &[String],
    first: usize,
) -> Result<usize, StoreError> {
    let history = draw(now);
    let reference = |i: usize| format!("{DEMO_PREFIX}{:04}", first + i);
    let rows: Vec<(u64, NewPackage)> = history
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                (i + 1) as u64,
                NewPackage {
                    reference: reference(i),
                    risk_grade: p.grade.as_str().into(),
                    received_at: p.received.to_rfc3339(),
                    lpa: lpas[(first + i) % lpas.len()].clone(),
                    stage: Stage::IntelligenceDevelopment.as_str().into(),
                    assigned_officer: Some(p.officer.clone()),
                    child_access_identified_at: None,
                    safeguarding_referral_at: None,
                },
            )
        })
        .collect();
    app.import(rows.into_iter().map(Ok), &demo_actor())
        .await
        .map_err(|e| match e {
            ImportError::Store(e) => e,
            ImportError::Rows(rows) => {
                StoreError::Corrupt(format!("demo history was refused: {}", rows.listed[0]))
            }
        })?;
    for (i, p) in history.iter().enumerate() {
        let reference = Reference::parse(&reference(i)).map_err(|e| StoreError::Corrupt(e.0))?;
        let moved = p.received + Duration::hours(p.development);
        if moved >= now {
            continue;
        }
        match p.ending {
            Ending::Closed => {
                app.change(&reference, &demo_actor(), move |pkg, now| {
                    pkg.move_stage(
                        Stage::Closed,
                        moved,
                        Some(Outcome::NoFurtherAction),
                        Some("demo history"),
                        now,
                    )
                })
                .await?;
            }
            Ending::Enforced(awaiting) => {
                app.change(&reference, &demo_actor(), move |pkg, now| {
                    pkg.move_stage(Stage::AwaitingEnforcement, moved, None, None, now)
                })
                .await?;
                let enforced = moved + Duration::hours(awaiting);
                if enforced < now {
                    let outcome = if i % 3 == 0 {
                        Outcome::WarrantExecuted
                    } else {
                        Outcome::Arrest
                    };
                    app.change(&reference, &demo_actor(), move |pkg, now| {
                        pkg.move_stage(
                            Stage::Enforced,
                            enforced,
                            Some(outcome),
                            Some("demo history"),
                            now,
                        )
                    })
                    .await?;
                }
            }
        }
    }
    Ok(history.len())
}
