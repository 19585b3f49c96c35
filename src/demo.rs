//! `ocset-scheduler demo`: a fictional ledger relative to now, so a new user
//! sees every feature at work. References are plainly fictional
//! (`DEMO-0001`), officers are `@ocset.example` addresses, and it refuses to
//! write into a database that holds real packages.

use crate::app::{App, ImportError};
use crate::domain::{OfficerEmail, Outcome, RiskGrade, Stage};
use crate::intake::NewPackage;
use crate::store::{Actor, StoreError};
use chrono::{DateTime, Duration, DurationRound, Utc};

mod history;

/// Every demo package's reference starts with this, so demo data can never
/// be mistaken for a real package.
pub(crate) use crate::domain::DEMO_PREFIX;

/// The actor the ledger records for demo data.
pub(crate) fn demo_actor() -> Actor {
    Actor::named("demo")
}

/// What happens to a demo package after receipt, in hours after receipt.
#[derive(Debug, Clone, Copy)]
enum Then {
    Nothing,
    Awaiting(i64),
    Stop(Stage, Outcome, i64),
    Regrade(RiskGrade, i64),
    ChildAccess(i64, Option<i64>),
}

/// (grade, hours since receipt, first stage, what happened next)
const LEDGER: &[(RiskGrade, i64, Stage, Then)] = {
    use RiskGrade::*;
    use Stage::*;
    use Then::*;
    &[
        // Awaiting enforcement: every grade, on track, due soon and breached.
        (VeryHigh, 10, AwaitingEnforcement, Nothing),
        (VeryHigh, 40, AwaitingEnforcement, Nothing),
        (VeryHigh, 53, AwaitingEnforcement, Nothing),
        (High, 2 * 24, AwaitingEnforcement, Nothing),
        (High, 6 * 24, AwaitingEnforcement, ChildAccess(30, None)),
        (High, 9 * 24, AwaitingEnforcement, Nothing),
        (High, 16 * 24, IntelligenceDevelopment, Awaiting(5 * 24)),
        (Medium, 24, AwaitingEnforcement, Nothing),
        (Medium, 7 * 24, AwaitingEnforcement, Nothing),
        (Medium, 10 * 24, IntelligenceDevelopment, Awaiting(3 * 24)),
        (Medium, 17 * 24, AwaitingEnforcement, Nothing),
        (
            Medium,
            25 * 24,
            AwaitingEnforcement,
            ChildAccess(48, Some(60)),
        ),
        (Standard, 3 * 24, AwaitingEnforcement, Nothing),
        (Standard, 12 * 24, AwaitingEnforcement, Nothing),
        (
            Standard,
            35 * 24,
            IntelligenceDevelopment,
            Awaiting(20 * 24),
        ),
        (Standard, 50 * 24, AwaitingEnforcement, Nothing),
        (Standard, 66 * 24, AwaitingEnforcement, Nothing),
        (Standard, 5 * 24, AwaitingEnforcement, Regrade(High, 2 * 24)),
        // In development.
        (High, 24, IntelligenceDevelopment, Nothing),
        (Medium, 4 * 24, IntelligenceDevelopment, Nothing),
        (Medium, 19 * 24, IntelligenceDevelopment, Nothing),
        (Standard, 8 * 24, IntelligenceDevelopment, Nothing),
        (Standard, 30 * 24, IntelligenceDevelopment, Nothing),
        (Standard, 47 * 24, IntelligenceDevelopment, Nothing),
        (Standard, 70 * 24, IntelligenceDevelopment, Nothing),
        (
            Medium,
            2 * 24,
            IntelligenceDevelopment,
            Regrade(Standard, 24),
        ),
        // Clocks stopped: met, missed, closed.
        (
            VeryHigh,
            20 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::Arrest, 20),
        ),
        (
            VeryHigh,
            12 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::WarrantExecuted, 60),
        ),
        (
            High,
            30 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::WarrantExecuted, 5 * 24),
        ),
        (
            High,
            45 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::Arrest, 9 * 24),
        ),
        (
            Medium,
            40 * 24,
            IntelligenceDevelopment,
            Stop(Stage::Closed, Outcome::NoFurtherAction, 15 * 24),
        ),
        (
            Medium,
            28 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::VoluntaryAttendance, 14 * 24),
        ),
        (
            Standard,
            80 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::WarrantExecuted, 52 * 24),
        ),
        (
            Standard,
            90 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::Arrest, 64 * 24),
        ),
        (
            Standard,
            20 * 24,
            IntelligenceDevelopment,
            Stop(Stage::Closed, Outcome::Transferred, 6 * 24),
        ),
        (
            Medium,
            26 * 24,
            AwaitingEnforcement,
            Stop(Stage::Enforced, Outcome::WarrantExecuted, 22 * 24),
        ),
    ]
};

/// Packages enforced late whose breach a supervisor acknowledged before
/// enforcement: (row of [`LEDGER`], breach reason code, note, hours after
/// receipt). The reason goes with the late enforcement into the week's
/// figures ("Enforced late" by reason).
const ACKNOWLEDGED_THEN_ENFORCED: &[(usize, &str, &str, i64)] = &[
    (
        27,
        "awaiting_communications_data",
        "Subscriber data awaited from the provider (demo)",
        50,
    ),
    (
        29,
        "suspect_not_located",
        "Suspect away from the home address (demo)",
        8 * 24,
    ),
    (
        33,
        "resourcing",
        "Enforcement team on a priority operation (demo)",
        61 * 24,
    ),
    (
        35,
        "awaiting_partner_agency",
        "Awaiting a strategy meeting with children's services (demo)",
        21 * 24 + 6,
    ),
];

/// Breached demo packages a supervisor has acknowledged: (row of
/// [`LEDGER`], breach reason code, note). Different reasons, so the weekly
/// report's breaches by reason has something to show; other breaches are
/// left unacknowledged, for the dashboard's form.
const ACKNOWLEDGED: &[(usize, &str, &str)] = &[
    (
        2,
        "awaiting_communications_data",
        "Subscriber checks requested (demo)",
    ),
    (5, "suspect_not_located", "Address checks under way (demo)"),
    (
        16,
        "resourcing",
        "Team on a priority operation this week (demo)",
    ),
];

/// The demo's breach reason `code`, or "other" when the force's own list
/// does not have it ("other" is always listed: configuration checks it).
fn demo_reason(app: &App, code: &str) -> Result<crate::domain::BreachReason, StoreError> {
    let reasons = &app.settings().breach_reasons;
    reasons
        .parse(code)
        .or_else(|_| reasons.parse(crate::domain::breach_reason::OTHER))
        .map_err(StoreError::Corrupt)
}

/// Loads the demo ledger. Returns what it did, for the user to read; an
/// error when the database holds real packages.
pub async fn load(app: &App) -> Result<String, StoreError> {
    let counts = app.package_counts().await?;
    if counts.total > counts.demo {
        return Err(StoreError::Corrupt(format!(
            "refusing to load demo data: the database holds {} real package(s). Point database.url (or OCSET__DATABASE__URL) at an empty database",
            counts.total - counts.demo
        )));
    }
    if counts.demo > 0 {
        return Ok(format!(
            "demo data is already loaded ({} packages); nothing was written",
            counts.demo
        ));
    }
    let now = app
        .now()
        .duration_trunc(Duration::minutes(1))
        .unwrap_or_else(|_| app.now());
    let lpas: Vec<String> = match app.settings().lpas.all() {
        [] => vec!["Demo LPA".to_string()],
        all => all.iter().map(ToString::to_string).collect(),
    };
    let received = move |hours: i64| now - Duration::hours(hours);
    let rows: Vec<(u64, NewPackage)> = LEDGER
        .iter()
        .enumerate()
        .map(|(i, (grade, age, stage, _))| {
            let n = i + 1;
            (
                n as u64,
                NewPackage {
                    reference: format!("{DEMO_PREFIX}{n:04}"),
                    risk_grade: grade.as_str().into(),
                    received_at: received(*age).to_rfc3339(),
                    lpa: lpas[i % lpas.len()].clone(),
                    stage: stage.as_str().into(),
                    assigned_officer: (n % 5 != 0)
                        .then(|| format!("pc{:02}@ocset.example", n % 7 + 1)),
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
                StoreError::Corrupt(format!("demo data was refused: {}", rows.listed[0]))
            }
        })?;

    for (i, (_, age, _, then)) in LEDGER.iter().enumerate() {
        let reference = crate::domain::Reference::parse(&format!("{DEMO_PREFIX}{:04}", i + 1))
            .map_err(|e| StoreError::Corrupt(e.0))?;
        let start = received(*age);
        let at = move |hours: i64| -> DateTime<Utc> { start + Duration::hours(hours) };
        if let Some(&(_, code, note, h)) = ACKNOWLEDGED_THEN_ENFORCED.iter().find(|a| a.0 == i) {
            let reason = demo_reason(app, code)?;
            let by = demo_actor().name;
            // Acknowledged at its historical time, before the enforcement
            // below.
            app.change(&reference, &demo_actor(), move |p, _| {
                p.acknowledge(&reason, note, &by, at(h))
            })
            .await?;
        }
        match *then {
            Then::Nothing => {}
            Then::Awaiting(h) => {
                app.change(&reference, &demo_actor(), move |p, now| {
                    p.move_stage(Stage::AwaitingEnforcement, at(h), None, None, now)
                })
                .await?;
            }
            Then::Stop(stage, outcome, h) => {
                app.change(&reference, &demo_actor(), move |p, now| {
                    p.move_stage(stage, at(h), Some(outcome), Some("demo outcome"), now)
                })
                .await?;
            }
            Then::Regrade(grade, h) => {
                let policy = app.settings().policy.clone();
                app.change(&reference, &demo_actor(), move |p, now| {
                    p.regrade(grade, "new intelligence (demo)", at(h), now, &policy)
                })
                .await?;
            }
            Then::ChildAccess(access, referral) => {
                app.change(&reference, &demo_actor(), move |p, now| {
                    p.update_safeguarding(Some(at(access)), referral.map(at), now)
                })
                .await?;
            }
        }
        if i % 3 == 2 && matches!(then, Then::Nothing) {
            // Some assignments happen after receipt, as in a real queue.
            let officer = OfficerEmail::parse(&format!("sgt{:02}@ocset.example", i % 4 + 1))
                .map_err(|e| StoreError::Corrupt(e.0))?;
            app.change(&reference, &demo_actor(), move |p, now| {
                p.assign(officer, now)
            })
            .await?;
        }
    }
    for &(row, code, note) in ACKNOWLEDGED {
        let reference = crate::domain::Reference::parse(&format!("{DEMO_PREFIX}{:04}", row + 1))
            .map_err(|e| StoreError::Corrupt(e.0))?;
        let reason = demo_reason(app, code)?;
        let by = demo_actor().name;
        app.change(&reference, &demo_actor(), move |p, now| {
            p.acknowledge(&reason, note, &by, now)
        })
        .await?;
    }
    // A year of closed history behind them, for the capacity report.
    let past = history::load(app, now, &lpas, LEDGER.len() + 1).await?;
    let numbered = LEDGER.len() + past;
    let reviewed = load_reviews(app, now, &lpas).await?;
    Ok(format!(
        "loaded {} fictional packages ({DEMO_PREFIX}0001 to {DEMO_PREFIX}{numbered:04}, \
         the last {past} a year of history for the capacity report, and {reviewed} with \
         risk reviews, {DEMO_PREFIX}R001 to {DEMO_PREFIX}R{reviewed:03}) relative to {}",
        numbered + reviewed,
        now.to_rfc3339()
    ))
}

/// One demo review: hours after receipt, and the new grade if it changes.
type DemoReview = (i64, Option<RiskGrade>);

/// The review demo: (grade, received hours ago, reviews as (hours after
/// receipt, new grade), note). Default intervals: high 3 days, medium 7,
/// standard 14.
const REVIEWED: &[(RiskGrade, i64, &[DemoReview], &str)] = &[
    // Reviewed on time (day 10 of 14); next due on day 24.
    (
        RiskGrade::Standard,
        20 * 24,
        &[(10 * 24, None)],
        "Intelligence unchanged; grade stands (demo)",
    ),
    // Reviewed a day late (day 4 of 3); the next, due on day 7, is overdue.
    (
        RiskGrade::High,
        8 * 24,
        &[(4 * 24, None)],
        "Reviewed late: sergeant on leave (demo)",
    ),
    // Never reviewed: overdue since day 7.
    (RiskGrade::Medium, 10 * 24, &[], ""),
    // Reviewed on day 5 and raised to high: a regrade with the review.
    (
        RiskGrade::Standard,
        6 * 24,
        &[(5 * 24, Some(RiskGrade::High))],
        "New intelligence: suspect has access to a child (demo)",
    ),
];

/// Loads the review demo: packages stored as if the service had held them
/// since receipt (their review clocks start at receipt, not at this load),
/// then their reviews through [`App::review`]. Returns how many.
async fn load_reviews(app: &App, now: DateTime<Utc>, lpas: &[String]) -> Result<usize, StoreError> {
    let rules = app.intake_rules();
    for (i, (grade, age, reviews, note)) in REVIEWED.iter().enumerate() {
        let reference = format!("{DEMO_PREFIX}R{:03}", i + 1);
        let received = now - Duration::hours(*age);
        let input = NewPackage {
            reference: reference.clone(),
            risk_grade: grade.as_str().into(),
            received_at: received.to_rfc3339(),
            lpa: lpas[i % lpas.len()].clone(),
            stage: Stage::AwaitingEnforcement.as_str().into(),
            assigned_officer: Some(format!("pc{:02}@ocset.example", i + 1)),
            ..NewPackage::default()
        };
        let package = rules
            .admit(&input, now)
            .map_err(|faults| StoreError::Corrupt(format!("demo data was refused: {faults:?}")))?;
        let mut parts = package.parts().clone();
        parts.review_clock_started_at = None;
        let entry = app.created_entry(crate::domain::Package::from_parts(parts));
        app.store()
            .insert_packages(&[entry], &demo_actor(), now)
            .await?;
        let reference =
            crate::domain::Reference::parse(&reference).map_err(|e| StoreError::Corrupt(e.0))?;
        for (after, regrade) in reviews.iter() {
            app.review(
                &reference,
                &demo_actor(),
                *regrade,
                note.to_string(),
                Some(received + Duration::hours(*after)),
            )
            .await?;
        }
    }
    Ok(REVIEWED.len())
}
