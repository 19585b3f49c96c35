//! Scheduler passes: each escalation recorded once, superseded or
//! unaddressed ones not sent, messages composed and queued, `next_due_at`
//! and the next wake, heartbeats, and passes that run at once.

use super::fixtures::{
    breached, claim, finish, insert_due, inspector, ladder_plan, migrated, nothing_until, notice,
    notice_item, now, plain, queue, reference, sergeants, warning_at, webhook, ByDestination,
};
use super::harness::{postgres_pool, Raw, TestDb};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{DueLevel, Package, PackageClock, Relation};
use ocset_scheduler::outbox::{
    DeliveryOutcome, DeliveryRecord, DeliveryStats, Destination, OutboxDraft, Payload,
};
use ocset_scheduler::store::{
    DueDecision, EscalationDraft, PassSummary, RecordedEscalation, SchedulerStatus, Store,
    StoreError,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

conformance! {
    store: [
        superseded_and_unaddressed_escalations_are_recorded_but_not_sent,
        composed_messages_are_queued_and_linked_to_their_escalations,
        a_limited_pass_takes_the_earliest_due_packages_first,
        every_pass_records_the_heartbeat_and_due_work_shows_the_lag,
    ],
    raw: [
        a_pass_records_each_escalation_once,
        next_due_at_follows_the_plan_and_the_next_wake_follows_the_work,
        a_failed_pass_writes_nothing,
        the_hot_statements_read_no_sent_message_and_no_undue_package,
    ],
    db: [
        concurrent_passes_record_each_escalation_once,
    ],
    postgres_only: [
        a_pass_leaves_packages_another_transaction_holds,
    ],
}

/// An occurrence of an enforcement-clock `level` of `package`, due
/// `occurrence` days after its deadline.
fn due_level(package: &Package, level: &str, occurrence: u32, relation: Relation) -> DueLevel {
    DueLevel {
        level: level.into(),
        clock: PackageClock::Enforcement,
        occurrence,
        clock_due_at: package.deadline().at(),
        due_at: package.deadline().at() + Duration::days(i64::from(occurrence)),
        relation,
        superseded: false,
    }
}

fn draft(package: &Package, due: DueLevel, destinations: Vec<Destination>) -> EscalationDraft {
    EscalationDraft {
        item: notice_item(package, &due),
        due,
        destinations,
    }
}

/// Plans from a table by reference; packages not in it owe nothing and
/// have nothing more due.
fn planned(plans: Vec<(&str, DueDecision)>) -> impl Fn(&Package) -> DueDecision + Send + Sync {
    let plans: HashMap<String, DueDecision> = plans
        .into_iter()
        .map(|(reference, plan)| (reference.to_string(), plan))
        .collect();
    move |package: &Package| {
        plans
            .get(package.reference().as_str())
            .cloned()
            .unwrap_or_default()
    }
}

/// Composes nothing.
fn no_messages(_: Vec<RecordedEscalation>) -> Vec<OutboxDraft> {
    Vec::new()
}

async fn a_pass_records_each_escalation_once(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let due = breached("NCA-DUE");
    let later = plain("NCA-LATER");
    let later_due = warning_at(&later);
    assert!(later_due > now());
    insert_due(
        &store,
        vec![
            (due.clone(), Some(warning_at(&due))),
            (later, Some(later_due)),
        ],
    )
    .await;
    let plan = ladder_plan(now(), vec![sergeants(), inspector()]);
    let expected = plan(&due);
    let composer = ByDestination::default();

    let first = store
        .escalation_pass(now(), 100, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        first,
        PassSummary {
            packages: 1,
            recorded: 2,
            superseded: 1,
            messages: 2,
            merged: 0
        },
        "the warning superseded, the breach repeat sent to two destinations"
    );
    assert_eq!(
        raw.next_due_at("NCA-DUE").await,
        expected.next_due_at,
        "the package waits for its next level"
    );
    assert_eq!(
        raw.next_due_at("NCA-LATER").await,
        Some(later_due),
        "a package not yet due is not touched"
    );
    assert!(store
        .escalations(&reference("NCA-LATER"))
        .await
        .unwrap()
        .is_empty());

    // As after a crash between the pass and anything else: the package is
    // due again at the same instant. Its escalations are already recorded.
    raw.set_next_due_at("NCA-DUE", Some(now() - Duration::hours(1)))
        .await;
    let second = store
        .escalation_pass(now(), 100, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        second,
        PassSummary {
            packages: 1,
            ..PassSummary::default()
        }
    );
    let given = composer.given();
    assert_eq!(given.len(), 2);
    assert_eq!(given[0].len(), 1, "only the breach is sent");
    assert!(
        given[1].is_empty(),
        "nothing new to compose the second time"
    );
    assert_eq!(raw.next_due_at("NCA-DUE").await, expected.next_due_at);
    let recorded = store.escalations(&reference("NCA-DUE")).await.unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(store.delivery_stats().await.unwrap().pending, 2);
    assert_eq!(raw.count("SELECT COUNT(*) FROM outbox").await, 2);
    assert_eq!(
        raw.count("SELECT COUNT(*) FROM outbox_escalations").await,
        2
    );
}

async fn superseded_and_unaddressed_escalations_are_recorded_but_not_sent(store: Arc<dyn Store>) {
    migrated(&store).await;
    let package = breached("NCA-S1");
    insert_due(&store, vec![(package.clone(), Some(now()))]).await;
    let warning = DueLevel {
        superseded: true,
        due_at: package.deadline().at() - Duration::days(1),
        ..due_level(&package, "warning", 0, Relation::Before)
    };
    let breach = due_level(&package, "breach", 0, Relation::At);
    let senior = due_level(&package, "senior", 0, Relation::After);
    let plan = planned(vec![(
        "NCA-S1",
        DueDecision {
            escalations: vec![
                // Superseded wins over having recipients: recorded, not sent.
                draft(&package, warning.clone(), vec![sergeants()]),
                draft(&package, breach.clone(), vec![]),
                draft(&package, senior.clone(), vec![inspector()]),
            ],
            next_due_at: None,
        },
    )]);
    let composer = ByDestination::default();
    let recorded_at = now() + Duration::seconds(30);
    let report = store
        .escalation_pass(recorded_at, 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        report,
        PassSummary {
            packages: 1,
            recorded: 3,
            superseded: 1,
            messages: 1,
            merged: 0
        }
    );
    let given = composer.given();
    assert_eq!(given.len(), 1);
    assert_eq!(
        given[0].len(),
        1,
        "only the notified escalation is composed"
    );
    assert_eq!(given[0][0].destinations, [inspector()]);
    assert_eq!(given[0][0].item, notice_item(&package, &senior));

    let records = store.escalations(&reference("NCA-S1")).await.unwrap();
    let summary: Vec<(&str, &str, usize)> = records
        .iter()
        .map(|r| (r.level.as_str(), r.status.as_str(), r.deliveries.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("warning", "superseded", 0),
            ("breach", "no_recipients", 0),
            ("senior", "notified", 1)
        ]
    );
    for (record, due) in records.iter().zip([&warning, &breach, &senior]) {
        assert_eq!(record.clock, PackageClock::Enforcement);
        assert_eq!(record.occurrence, due.occurrence);
        assert_eq!(record.clock_due_at, due.clock_due_at);
        assert_eq!(record.due_at, due.due_at);
        assert_eq!(record.recorded_at, recorded_at);
    }
    let delivery = &records[2].deliveries[0];
    assert_eq!(delivery.destination, inspector());
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("pending", 0)
    );
    assert_eq!(
        (delivery.sent_at, delivery.last_error.as_deref()),
        (None, None)
    );
}

async fn composed_messages_are_queued_and_linked_to_their_escalations(store: Arc<dyn Store>) {
    migrated(&store).await;
    let one = breached("NCA-C1");
    let two = breached("NCA-C2");
    insert_due(
        &store,
        vec![(one.clone(), Some(now())), (two.clone(), Some(now()))],
    )
    .await;
    let plan = planned(vec![
        (
            "NCA-C1",
            DueDecision {
                escalations: vec![draft(
                    &one,
                    due_level(&one, "breach", 0, Relation::At),
                    vec![sergeants(), inspector()],
                )],
                next_due_at: None,
            },
        ),
        (
            "NCA-C2",
            DueDecision {
                escalations: vec![
                    draft(
                        &two,
                        due_level(&two, "breach", 0, Relation::At),
                        vec![sergeants()],
                    ),
                    draft(
                        &two,
                        due_level(&two, "senior", 0, Relation::After),
                        vec![inspector()],
                    ),
                ],
                next_due_at: None,
            },
        ),
    ]);
    let composer = ByDestination::default();
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!((report.recorded, report.messages), (3, 2));
    let given = composer.given().remove(0);
    let ids: Vec<i64> = given.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in recording order");
    let items: Vec<(&str, &str)> = given
        .iter()
        .map(|r| (r.item.reference.as_str(), r.item.level.as_str()))
        .collect();
    assert_eq!(
        items,
        [
            ("NCA-C1", "breach"),
            ("NCA-C2", "breach"),
            ("NCA-C2", "senior")
        ]
    );

    // Destinations in order: the inspector's message was queued first.
    let claimed = claim(&store, now(), "dispatcher-1").await;
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        (
            claimed[0].destination.clone(),
            claimed[1].destination.clone()
        ),
        (inspector(), sergeants())
    );
    let expected_inspector = notice(
        "OFFICIAL-SENSITIVE",
        vec![given[0].item.clone(), given[2].item.clone()],
    );
    assert_eq!(claimed[0].payload, Payload::Notice(expected_inspector));
    assert_eq!(claimed[0].attempts, 0);
    assert_eq!(claimed[0].created_at, now());
    let sent_at = now() + Duration::minutes(1);
    assert!(
        finish(
            &store,
            &claimed[0],
            "dispatcher-1",
            DeliveryOutcome::Sent,
            sent_at
        )
        .await
    );

    let first = store.escalations(&reference("NCA-C1")).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].deliveries,
        [
            DeliveryRecord {
                message_id: claimed[0].id,
                destination: inspector(),
                status: "sent".into(),
                attempts: 0,
                sent_at: Some(sent_at),
                last_error: None,
            },
            DeliveryRecord {
                message_id: claimed[1].id,
                destination: sergeants(),
                status: "sending".into(),
                attempts: 0,
                sent_at: None,
                last_error: None,
            }
        ],
        "each delivery of the breach, by message"
    );
    let second = store.escalations(&reference("NCA-C2")).await.unwrap();
    let messages: Vec<(&str, Vec<i64>)> = second
        .iter()
        .map(|r| {
            (
                r.level.as_str(),
                r.deliveries.iter().map(|d| d.message_id).collect(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            ("breach", vec![claimed[1].id]),
            ("senior", vec![claimed[0].id])
        ]
    );
}

async fn next_due_at_follows_the_plan_and_the_next_wake_follows_the_work(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    migrated(&store).await;
    assert_eq!(store.next_wake().await.unwrap(), None, "nothing to do");
    let t1 = now();
    let t2 = now() + Duration::hours(2);
    let t3 = now() + Duration::days(1);
    insert_due(
        &store,
        vec![
            (breached("NCA-N1"), Some(t1)),
            (breached("NCA-N2"), Some(t2)),
        ],
    )
    .await;
    assert_eq!(store.next_wake().await.unwrap(), Some(t1));

    let plan = planned(vec![
        (
            "NCA-N1",
            DueDecision {
                escalations: vec![],
                next_due_at: Some(t3),
            },
        ),
        ("NCA-N2", DueDecision::default()),
    ]);
    let report = store
        .escalation_pass(t1, 10, &plan, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 1, "NCA-N2 is not due yet");
    assert_eq!(raw.next_due_at("NCA-N1").await, Some(t3));
    assert_eq!(store.next_wake().await.unwrap(), Some(t2));
    let report = store
        .escalation_pass(t2, 10, &plan, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 1);
    assert_eq!(
        raw.next_due_at("NCA-N2").await,
        None,
        "nothing more can fall due"
    );
    assert_eq!(store.next_wake().await.unwrap(), Some(t3));
    let report = store
        .escalation_pass(t3 - Duration::seconds(1), 10, &plan, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 0);

    // A queued message is work at its run_at.
    queue(&store, t2, &[("A1", sergeants())]).await;
    assert_eq!(store.next_wake().await.unwrap(), Some(t2));
    let claimed = claim(&store, t2, "w").await;
    let retry_at = t2 + Duration::hours(1);
    assert!(
        finish(
            &store,
            &claimed[0],
            "w",
            DeliveryOutcome::Retry {
                at: retry_at,
                error: "451 try later".into()
            },
            t2
        )
        .await
    );
    assert_eq!(store.next_wake().await.unwrap(), Some(retry_at));
    // A younger message to the same destination waits for the retry: its
    // own run_at is no reason to wake.
    queue(&store, t2, &[("A2", sergeants())]).await;
    assert_eq!(store.next_wake().await.unwrap(), Some(retry_at));
    // One to another destination is.
    queue(&store, t2 + Duration::minutes(1), &[("B1", inspector())]).await;
    assert_eq!(
        store.next_wake().await.unwrap(),
        Some(t2 + Duration::minutes(1))
    );
}

async fn a_failed_pass_writes_nothing(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let package = breached("NCA-F1");
    insert_due(&store, vec![(package, Some(now()))]).await;
    let plan = ladder_plan(now(), vec![sergeants()]);
    let composer = ByDestination::default();
    let grouped = composer.compose();
    // A composer with a bug: it also links an escalation that does not exist.
    let faulty = move |recorded: Vec<RecordedEscalation>| {
        let mut drafts = grouped(recorded);
        drafts.push(OutboxDraft {
            destination: inspector(),
            notice: notice("OFFICIAL-SENSITIVE", vec![]),
            escalation_ids: vec![i64::MAX],
        });
        drafts
    };
    let failed = store.escalation_pass(now(), 10, &plan, &faulty).await;
    assert!(
        matches!(failed, Err(StoreError::Database { .. })),
        "{failed:?}"
    );
    assert_eq!(composer.given().len(), 1, "it got as far as composing");

    assert!(store
        .escalations(&reference("NCA-F1"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(raw.next_due_at("NCA-F1").await, Some(now()), "still due");
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        DeliveryStats::default()
    );
    assert_eq!(
        raw.count("SELECT COUNT(*) FROM outbox_escalations").await,
        0
    );
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus {
            last_pass_at: None,
            oldest_due_at: Some(now())
        },
        "no heartbeat either"
    );

    // The next pass does it all.
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!((report.recorded, report.messages), (2, 1));
}

async fn a_limited_pass_takes_the_earliest_due_packages_first(store: Arc<dyn Store>) {
    migrated(&store).await;
    let due = [
        ("NCA-L1", Duration::hours(-1)),
        ("NCA-L2", Duration::hours(-5)),
        ("NCA-L3", Duration::hours(-3)),
        ("NCA-L4", Duration::hours(-2)),
        ("NCA-L5", Duration::hours(1)),
    ];
    insert_due(
        &store,
        due.iter()
            .map(|(r, offset)| (plain(r), Some(now() + *offset)))
            .collect(),
    )
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recording = {
        let seen = seen.clone();
        move |package: &Package| {
            seen.lock()
                .unwrap()
                .push(package.reference().as_str().to_string());
            DueDecision::default()
        }
    };
    let report = store
        .escalation_pass(now(), 2, &recording, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 2);
    assert_eq!(*seen.lock().unwrap(), ["NCA-L2", "NCA-L3"]);
    let report = store
        .escalation_pass(now(), 10, &recording, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 2);
    assert_eq!(
        *seen.lock().unwrap(),
        ["NCA-L2", "NCA-L3", "NCA-L4", "NCA-L1"],
        "the one due after now is left"
    );
    let report = store
        .escalation_pass(now(), 0, &recording, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 0, "a limit of nought takes nothing");
}

async fn every_pass_records_the_heartbeat_and_due_work_shows_the_lag(store: Arc<dyn Store>) {
    migrated(&store).await;
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus::default()
    );
    insert_due(
        &store,
        vec![
            (plain("NCA-H1"), Some(now() - Duration::hours(2))),
            (plain("NCA-H2"), Some(now() + Duration::hours(1))),
        ],
    )
    .await;
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus {
            last_pass_at: None,
            oldest_due_at: Some(now() - Duration::hours(2))
        },
        "due two hours ago and not looked at: the lag"
    );
    let later = nothing_until(Some(now() + Duration::days(1)));
    store
        .escalation_pass(now(), 10, &later, &no_messages)
        .await
        .unwrap();
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus {
            last_pass_at: Some(now()),
            oldest_due_at: None
        }
    );
    // A pass with nothing due still beats.
    let quiet = now() + Duration::minutes(30);
    let report = store
        .escalation_pass(quiet, 10, &later, &no_messages)
        .await
        .unwrap();
    assert_eq!(report, PassSummary::default());
    assert_eq!(
        store.scheduler_status(quiet).await.unwrap().last_pass_at,
        Some(quiet)
    );
    // Another instance's pass that started earlier and committed later
    // does not move it back.
    store
        .escalation_pass(now(), 10, &later, &no_messages)
        .await
        .unwrap();
    let status = store
        .scheduler_status(now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(
        status,
        SchedulerStatus {
            last_pass_at: Some(quiet),
            oldest_due_at: Some(now() + Duration::hours(1))
        }
    );
}

/// Runs passes of `limit` until one finds nothing due, and returns their
/// reports.
async fn passes_until_done(
    store: Arc<dyn Store>,
    composer: ByDestination,
    limit: u32,
) -> Vec<PassSummary> {
    let plan = ladder_plan(now(), vec![sergeants(), inspector()]);
    let compose = composer.compose();
    let mut reports = Vec::new();
    loop {
        let report = store
            .escalation_pass(now(), limit, &plan, &compose)
            .await
            .expect("a concurrent pass");
        if report.packages == 0 {
            return reports;
        }
        reports.push(report);
    }
}

async fn concurrent_passes_record_each_escalation_once(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    let packages: Vec<(Package, Option<DateTime<Utc>>)> = (0..200)
        .map(|i| {
            let package = breached(&format!("NCA-{i:04}"));
            let due = warning_at(&package);
            (package, Some(due))
        })
        .collect();
    insert_due(&store, packages).await;
    let other = db.second_instance().await;
    let composer = ByDestination::default();
    let one = tokio::spawn(passes_until_done(store.clone(), composer.clone(), 15));
    let two = tokio::spawn(passes_until_done(other, composer.clone(), 15));
    let reports: Vec<PassSummary> = [one.await.unwrap(), two.await.unwrap()].concat();

    let total = |f: fn(&PassSummary) -> usize| reports.iter().map(f).sum::<usize>();
    assert_eq!(total(|r| r.packages), 200, "each package taken once");
    assert_eq!(total(|r| r.recorded), 400, "a warning and a breach each");
    assert_eq!(total(|r| r.superseded), 200);
    assert_eq!(
        store.scheduler_status(now()).await.unwrap().oldest_due_at,
        None,
        "nothing left due"
    );
    let composed: Vec<i64> = composer.given().iter().flatten().map(|r| r.id).collect();
    assert_eq!(composed.len(), 200, "each breach composed once");
    let distinct: std::collections::HashSet<i64> = composed.iter().copied().collect();
    assert_eq!(distinct.len(), 200);
    // Two messages per pass that recorded anything, one per destination.
    let messages = total(|r| r.messages);
    assert_eq!(
        db.raw.count("SELECT COUNT(*) FROM outbox").await,
        messages as i64
    );
    assert_eq!(
        store.delivery_stats().await.unwrap().pending,
        messages as u64
    );
    for i in (0..200).step_by(7) {
        let records = store
            .escalations(&reference(&format!("NCA-{i:04}")))
            .await
            .unwrap();
        let shape: Vec<(&str, &str, Vec<Destination>)> = records
            .iter()
            .map(|r| {
                (
                    r.level.as_str(),
                    r.status.as_str(),
                    r.deliveries.iter().map(|d| d.destination.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("warning", "superseded", vec![]),
                ("breach", "notified", vec![inspector(), sergeants()])
            ],
            "NCA-{i:04}"
        );
    }
}

async fn a_pass_leaves_packages_another_transaction_holds(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    insert_due(
        &store,
        vec![
            (breached("NCA-P1"), Some(now() - Duration::hours(2))),
            (breached("NCA-P2"), Some(now() - Duration::hours(1))),
        ],
    )
    .await;
    let pool = postgres_pool(&db);
    // Another pass (or an API write) holds the earliest due package.
    let mut holding = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM packages WHERE reference = 'NCA-P1' FOR UPDATE")
        .execute(&mut *holding)
        .await
        .unwrap();
    let plan = ladder_plan(now(), vec![sergeants()]);
    let composer = ByDestination::default();
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        report.packages, 1,
        "the held package is skipped, not waited for"
    );
    assert!(store
        .escalations(&reference("NCA-P1"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.escalations(&reference("NCA-P2")).await.unwrap().len(),
        2
    );
    holding.rollback().await.unwrap();
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!((report.packages, report.recorded), (1, 2));
}

async fn the_hot_statements_read_no_sent_message_and_no_undue_package(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    migrated(&store).await;
    // A service that has run for a while: many packages, few of them due;
    // many messages, nearly all sent.
    let packages: Vec<(Package, Option<DateTime<Utc>>)> = (0..3000)
        .map(|i| {
            let due = match i % 100 {
                0 => Some(now() - Duration::hours(1)),
                1..=49 => None,
                _ => Some(now() + Duration::days(i64::from(i % 30) + 1)),
            };
            (plain(&format!("NCA-{i:05}")), due)
        })
        .collect();
    insert_due(&store, packages).await;
    let sent = "'sent', 1, '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00', \
                '2024-01-01T00:00:00+00:00'";
    let fill = match raw {
        Raw::Sqlite(_) => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO outbox (destination, notice, status, attempts, run_at, created_at, sent_at) \
             SELECT '{{\"channel\":\"webhook\",\"to\":\"hook-' || (i % 20) || '\"}}', '{{}}', {sent} \
             FROM n"
        ),
        Raw::Postgres(_) => format!(
            "INSERT INTO outbox (destination, notice, status, attempts, run_at, created_at, sent_at) \
             SELECT '{{\"channel\":\"webhook\",\"to\":\"hook-' || (i % 20) || '\"}}', '{{}}', {sent} \
             FROM generate_series(1, 20000) AS i"
        ),
    };
    raw.execute(&fill).await.unwrap();
    queue(
        &store,
        now(),
        &[("A1", webhook()), ("A2", webhook()), ("B1", sergeants())],
    )
    .await;
    claim(&store, now(), "w").await;
    match raw {
        Raw::Sqlite(_) => store.maintain().await.unwrap(),
        Raw::Postgres(_) => {
            raw.execute("ANALYZE").await.unwrap();
        }
    }

    let plans = raw.query_plans(now()).await;
    let plan = |name: &str| {
        plans
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no plan for {name}"))
            .1
            .clone()
    };
    for (name, steps) in &plans {
        println!("-- {name}\n{steps}");
        let lines: Vec<&str> = steps.lines().map(str::trim_start).collect();
        for (i, step) in lines.iter().enumerate() {
            let full_read = match raw {
                // SQLite: SCAN walks a whole table or index.
                Raw::Sqlite(_) => step.starts_with("SCAN ") && *step != "SCAN CONSTANT ROW",
                // The one-row service_state may be read whole.
                Raw::Postgres(_) => {
                    step.contains("Seq Scan on outbox") || step.contains("Seq Scan on packages")
                }
            };
            assert!(!full_read, "{name} reads a whole table:\n{steps}");
            // The index of every message may only be searched by status
            // (which skips the sent and dead ones).
            if step.contains("outbox_status_attempts") {
                let searched = match raw {
                    Raw::Sqlite(_) => step.contains("(status=?)"),
                    Raw::Postgres(_) => lines
                        .get(i + 1)
                        .is_some_and(|next| next.starts_with("Index Cond: (status =")),
                };
                assert!(searched, "{name} reads every message's entry:\n{steps}");
            }
        }
    }
    let claims = plan("claim messages");
    let due = plan("claim due packages");
    let wake = plan("next wake");
    assert!(claims.contains("outbox_queue"), "{claims}");
    assert!(due.contains("packages_next_due_at"), "{due}");
    assert!(wake.contains("packages_next_due_at"), "{wake}");
    assert!(wake.contains("outbox_queue"), "{wake}");
    if let Raw::Sqlite(_) = raw {
        // The two arms of the claim each search their partial index.
        assert!(
            claims.contains("SEARCH o USING INDEX outbox_pending_run_at (run_at<?)")
                && claims.contains("SEARCH o USING INDEX outbox_sending_locked_at (locked_at<?)"),
            "{claims}"
        );
    }
}
