//! The counters behind the position and the delivery figures (migration
//! 0006) against the same figures counted from every row: after random
//! sequences of writes, mark moves and deliveries, read at instants before
//! and after the mark, for every horizon and LPA, they are equal.

use super::fixtures::{
    claim, entry, finish, migrated, policy, queue, reference, shaped, Shape, AWAITING, DEVELOPING,
};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{MoveRefused, Outcome, Package, RiskGrade, Stage};
use ocset_scheduler::outbox::{DeliveryOutcome, Destination};
use ocset_scheduler::store::{Actor, LedgerEntry, Store};
use std::sync::Arc;

conformance! {
    store: [
        counters_equal_a_recount_after_random_writes_at_every_instant,
        the_mark_never_moves_back,
        counters_equal_a_recount_after_concurrent_writers,
    ],
    raw: [],
    db: [],
    postgres_only: [],
}

/// SplitMix64: a small seeded generator, so a failing sequence replays.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The national timescales, in elapsed time (the counters do not care how
/// a deadline was reckoned).
fn grade_hours(grade: RiskGrade) -> Duration {
    Duration::hours(match grade {
        RiskGrade::VeryHigh => 48,
        RiskGrade::High => 7 * 24,
        RiskGrade::Medium => 21 * 24,
        RiskGrade::Standard => 60 * 24,
    })
}

/// The entry that records a new package as it is.
fn created(package: Package) -> LedgerEntry {
    LedgerEntry {
        event: package.created_event(),
        occurred_at: package.received_at(),
        next_due_at: None,
        due_soon_at: None,
        package,
        preceded_by: Vec::new(),
    }
}

const LPAS: [&str; 3] = ["Birmingham", "Coventry", "Solihull"];

/// Every horizon the service reads (7 days, 48 hours, now) and two it
/// does not (served from the nearest mark).
fn horizons() -> [Duration; 5] {
    [
        Duration::days(7),
        Duration::hours(48),
        Duration::zero(),
        Duration::hours(30),
        Duration::days(10),
    ]
}

/// Asserts that the counted position equals the recount at `at`, for every
/// horizon, all LPAs and each.
async fn assert_position_exact(store: &Arc<dyn Store>, at: DateTime<Utc>, step: usize) {
    for horizon in horizons() {
        for lpa in [None, Some(LPAS[0]), Some(LPAS[1]), Some(LPAS[2])] {
            let counted = store.position(at, at + horizon, lpa).await.unwrap();
            let recounted = store
                .recounted_position(at, at + horizon, lpa)
                .await
                .unwrap();
            assert_eq!(
                counted, recounted,
                "step {step}: position at {at} due by +{horizon} for {lpa:?}"
            );
        }
    }
}

async fn assert_deliveries_exact(store: &Arc<dyn Store>, step: usize) {
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        store.recounted_delivery_stats().await.unwrap(),
        "step {step}: delivery figures"
    );
}

/// Changes one stored package with `change`, at `now`.
async fn change(
    store: &Arc<dyn Store>,
    text: &str,
    now: DateTime<Utc>,
    change: impl FnOnce(&Package) -> Result<LedgerEntry, MoveRefused> + Send + 'static,
) {
    // A refused move (a stopped package, a stage it cannot go to) writes
    // nothing, which the recount must also see.
    let _ = store
        .update_package(
            &reference(text),
            &Actor::named("cli:test"),
            now,
            Box::new(change),
        )
        .await;
}

async fn counters_equal_a_recount_after_random_writes_at_every_instant(store: Arc<dyn Store>) {
    migrated(&store).await;
    let mut dice = Dice(0x0C5E_7001);
    let mut t: DateTime<Utc> = "2024-03-20T09:00:00Z".parse().unwrap();
    let mut references: Vec<String> = Vec::new();
    let grades = RiskGrade::ALL;
    for step in 0..60 {
        match dice.below(10) {
            // New packages, received up to 70 days ago, some already stopped.
            0..=2 => {
                let entries: Vec<LedgerEntry> = (0..1 + dice.below(30))
                    .map(|_| {
                        let text = format!("CT-{}", references.len());
                        references.push(text.clone());
                        let grade = *dice.pick(&grades);
                        let received = t - Duration::minutes(dice.below(70 * 24 * 60) as i64);
                        let deadline = received + grade_hours(grade);
                        let shape = match dice.below(6) {
                            0 => Shape::Enforced(t),
                            1 => Shape::Closed(t),
                            2 | 3 => AWAITING,
                            _ => DEVELOPING,
                        };
                        let package = shaped(
                            &text,
                            grade,
                            dice.pick::<&str>(&LPAS),
                            received,
                            deadline,
                            shape,
                        );
                        created(package)
                    })
                    .collect();
                store
                    .insert_packages(&entries, &Actor::named("cli:test"), t)
                    .await
                    .unwrap();
            }
            // A regrade moves the deadline.
            3 if !references.is_empty() => {
                let grade = *dice.pick(&grades);
                let now = t;
                change(
                    &store,
                    &dice.pick::<String>(&references).clone(),
                    t,
                    move |p| {
                        p.regrade(grade, "new intelligence", now, now, &policy())
                            .map(|c| entry(c, None))
                    },
                )
                .await;
            }
            // A move to the other queue, or a stop.
            4 if !references.is_empty() => {
                let (to, outcome) = *dice.pick(&[
                    (Stage::AwaitingEnforcement, None),
                    (Stage::Enforced, Some(Outcome::Arrest)),
                    (Stage::Closed, Some(Outcome::NoFurtherAction)),
                ]);
                let now = t;
                change(
                    &store,
                    &dice.pick::<String>(&references).clone(),
                    t,
                    move |p| {
                        p.move_stage(to, now, outcome, None, now)
                            .map(|c| entry(c, None))
                    },
                )
                .await;
            }
            // The scheduler moves the mark (to now, or a little behind it).
            5 => {
                let to = t - Duration::minutes(dice.below(90) as i64);
                store.advance_position_mark(to).await.unwrap();
            }
            // Messages queued, claimed and finished every way.
            6 => {
                let destinations: Vec<(String, Destination)> = (0..1 + dice.below(4))
                    .map(|i| {
                        let d = Destination::Email(format!("pc{}@force.example", dice.below(3)));
                        (format!("m{step}-{i}"), d)
                    })
                    .collect();
                let labelled: Vec<(&str, Destination)> = destinations
                    .iter()
                    .map(|(l, d)| (l.as_str(), d.clone()))
                    .collect();
                queue(&store, t, &labelled).await;
            }
            7 => {
                for message in claim(&store, t, "w").await {
                    let outcome = match dice.below(4) {
                        0 => DeliveryOutcome::Sent,
                        1 => DeliveryOutcome::Dead {
                            error: "refused".into(),
                        },
                        2 => DeliveryOutcome::Release,
                        _ => DeliveryOutcome::Retry {
                            at: t,
                            error: "busy".into(),
                        },
                    };
                    finish(&store, &message, "w", outcome, t).await;
                }
            }
            // Time passes: minutes to a day and a half.
            _ => t += Duration::minutes(1 + dice.below(36 * 60) as i64),
        }
        let mark = store.position_mark().await.unwrap();
        for at in [
            t,
            t - Duration::days(2),
            t + Duration::days(5),
            mark - Duration::days(3),
            mark + Duration::days(2),
        ] {
            assert_position_exact(&store, at, step).await;
        }
        assert_deliveries_exact(&store, step).await;
    }
    // The sequence did what it is for: packages in every state, breached
    // and due soon at the end, and messages in more than one status.
    let end = store
        .recounted_position(t, t + Duration::days(7), None)
        .await
        .unwrap();
    assert!(end.iter().map(|r| r.breached).sum::<u64>() > 0, "{end:?}");
    assert!(end.iter().map(|r| r.due_soon).sum::<u64>() > 0, "{end:?}");
    assert!(
        end.iter()
            .any(|r| r.stage == Stage::AwaitingEnforcement && r.grade != RiskGrade::Standard),
        "{end:?}"
    );
    let stats = store.delivery_stats().await.unwrap();
    assert!(
        stats.sent > 0 && stats.pending + stats.dead > 0,
        "{stats:?}"
    );
}

async fn the_mark_never_moves_back(store: Arc<dyn Store>) {
    migrated(&store).await;
    let t: DateTime<Utc> = "2024-06-01T12:00:00Z".parse().unwrap();
    assert!(store.advance_position_mark(t).await.unwrap());
    assert_eq!(store.position_mark().await.unwrap(), t);
    assert!(!store
        .advance_position_mark(t - Duration::minutes(1))
        .await
        .unwrap());
    assert!(!store.advance_position_mark(t).await.unwrap());
    assert_eq!(store.position_mark().await.unwrap(), t);
}

/// Writers at once on the same few groups: each task inserts packages and
/// takes the oldest of its own out of the development queue (to awaiting
/// enforcement, or a stop), so the groups' oldest receipts are found again
/// while other tasks add to the same groups. On PostgreSQL the triggers
/// lock the groups' rows before reading the oldest (migration 0009); the
/// counts and oldest receipts must equal a recount afterwards.
async fn counters_equal_a_recount_after_concurrent_writers(store: Arc<dyn Store>) {
    migrated(&store).await;
    let t: DateTime<Utc> = "2024-03-20T09:00:00Z".parse().unwrap();
    let tasks: Vec<_> = (0..6u64)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut dice = Dice(0xC0_C0 + task);
                for round in 0..8 {
                    let entries: Vec<LedgerEntry> = (0..3)
                        .map(|i| {
                            let grade = *dice.pick(&[RiskGrade::High, RiskGrade::Medium]);
                            let received = t - Duration::minutes(dice.below(30 * 24 * 60) as i64);
                            let package = shaped(
                                &format!("CC-{task}-{round}-{i}"),
                                grade,
                                dice.pick::<&str>(&LPAS[..2]),
                                received,
                                received + grade_hours(grade),
                                DEVELOPING,
                            );
                            created(package)
                        })
                        .collect();
                    store
                        .insert_packages(&entries, &Actor::named("cli:test"), t)
                        .await
                        .unwrap();
                    let (to, outcome) = *dice.pick(&[
                        (Stage::AwaitingEnforcement, None),
                        (Stage::Enforced, Some(Outcome::Arrest)),
                    ]);
                    let text = format!("CC-{task}-{round}-{}", dice.below(3));
                    change(&store, &text, t, move |p| {
                        p.move_stage(to, t, outcome, None, t)
                            .map(|c| entry(c, None))
                    })
                    .await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_position_exact(&store, t, 0).await;
    let end = store
        .recounted_position(t, t + Duration::days(7), None)
        .await
        .unwrap();
    assert!(
        end.iter()
            .any(|r| r.stage == Stage::AwaitingEnforcement && r.open > 0),
        "{end:?}"
    );
}
