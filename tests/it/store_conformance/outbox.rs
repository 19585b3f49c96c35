//! The outbox: claims first in first out per destination, leases, releases,
//! merging into a waiting message, delivery figures, and claimers that run
//! at once.

use super::fixtures::{
    breached, claim, finish, insert_due, inspector, ladder_plan, lease, migrated, nothing_until,
    notice, now, queue, reference, sergeants, webhook, ByDestination,
};
use super::harness::{postgres_pool, TestDb};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{RiskGrade, Stage};
use ocset_scheduler::outbox::{
    DeliveryOutcome, DeliveryStats, Destination, Notice, NoticeItem, NoticeKind, OutboxDraft,
    OutboxMessage,
};
use ocset_scheduler::store::{PassSummary, RecordedEscalation, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

conformance! {
    store: [
        claims_are_first_in_first_out_per_destination,
        an_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish,
        attempts_count_failed_sends_not_claims_or_take_overs,
        a_released_message_keeps_its_place_and_its_attempt_is_not_counted,
        a_pass_adds_to_the_message_still_waiting_for_its_destination,
        delivery_figures_count_each_status_and_the_retries,
    ],
    raw: [],
    db: [
        concurrent_claimers_never_share_a_message_or_break_a_queue,
    ],
    postgres_only: [
        an_uncommitted_claim_holds_its_destination_back,
        messages_are_committed_in_the_order_of_their_ids,
    ],
}

/// The labels of claimed messages, oldest first.
fn labels(messages: &[OutboxMessage]) -> Vec<&str> {
    assert!(
        messages.windows(2).all(|w| w[0].id < w[1].id),
        "claims come oldest first"
    );
    messages.iter().map(|m| m.payload.marking()).collect()
}

async fn claims_are_first_in_first_out_per_destination(store: Arc<dyn Store>) {
    migrated(&store).await;
    queue(
        &store,
        now(),
        &[
            ("A1", sergeants()),
            ("B1", webhook()),
            ("A2", sergeants()),
            ("B2", webhook()),
            ("A3", sergeants()),
            ("C1", inspector()),
        ],
    )
    .await;
    // Queued a minute later: not yet due at now().
    queue(&store, now() + Duration::minutes(1), &[("D1", inspector())]).await;

    let first = store.claim_outbox(now(), "w1", lease(), 2).await.unwrap();
    assert_eq!(labels(&first), ["A1", "B1"], "the limit, oldest first");
    assert!(
        first.iter().all(|m| m.attempts == 0),
        "a claim counts no failure"
    );
    let (a1, b1) = (&first[0], &first[1]);
    assert_eq!(
        labels(&claim(&store, now(), "w2").await),
        ["C1"],
        "A2 and B2 wait behind messages being sent"
    );
    assert!(claim(&store, now(), "w2").await.is_empty());

    let retry_at = now() + Duration::minutes(10);
    let retry = DeliveryOutcome::Retry {
        at: retry_at,
        error: "421 busy".into(),
    };
    assert!(finish(&store, a1, "w1", retry, now()).await);
    assert!(
        claim(&store, now() + Duration::minutes(5), "w2")
            .await
            .is_empty(),
        "A2 waits while A1 waits for its retry; D1 behind C1"
    );
    assert!(finish(&store, b1, "w1", DeliveryOutcome::Sent, now()).await);
    let next = claim(&store, now() + Duration::minutes(5), "w2").await;
    assert_eq!(labels(&next), ["B2"], "B's queue moves on its own");

    let again = claim(&store, retry_at, "w3").await;
    assert_eq!(labels(&again), ["A1"], "A1 comes back first at its retry");
    assert_eq!(again[0].attempts, 1, "one failed send");
    let dead = DeliveryOutcome::Dead {
        error: "550 no such mailbox".into(),
    };
    assert!(finish(&store, &again[0], "w3", dead, retry_at).await);
    let after_dead = claim(&store, retry_at, "w3").await;
    assert_eq!(
        labels(&after_dead),
        ["A2"],
        "a dead message holds nobody up"
    );
    assert!(
        finish(
            &store,
            &after_dead[0],
            "w3",
            DeliveryOutcome::Sent,
            retry_at
        )
        .await
    );
    assert_eq!(labels(&claim(&store, retry_at, "w3").await), ["A3"]);
}

async fn an_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish(store: Arc<dyn Store>) {
    migrated(&store).await;
    queue(&store, now(), &[("A1", sergeants()), ("A2", sergeants())]).await;
    let taken = claim(&store, now(), "w1").await;
    assert_eq!(labels(&taken), ["A1"]);
    let almost = now() + lease() - Duration::seconds(1);
    assert!(
        claim(&store, almost, "w2").await.is_empty(),
        "w1 still holds A1, and A2 waits behind it"
    );
    // w1 died mid-delivery: once its lease is up, A1 is taken again.
    let expired = now() + lease();
    let retaken = claim(&store, expired, "w2").await;
    assert_eq!(labels(&retaken), ["A1"]);
    assert_eq!(retaken[0].attempts, 0, "a take-over is not a failed send");
    assert!(
        !finish(&store, &taken[0], "w1", DeliveryOutcome::Sent, expired).await,
        "w1 no longer holds it"
    );
    for outcome in [
        DeliveryOutcome::Release,
        DeliveryOutcome::Dead {
            error: "late".into(),
        },
    ] {
        assert!(!finish(&store, &taken[0], "w1", outcome, expired).await);
    }
    let stats = store.delivery_stats().await.unwrap();
    assert_eq!((stats.sending, stats.pending, stats.sent), (1, 1, 0));
    assert!(finish(&store, &retaken[0], "w2", DeliveryOutcome::Sent, expired).await);
    assert!(
        !finish(&store, &retaken[0], "w2", DeliveryOutcome::Sent, expired).await,
        "finished once"
    );
    assert_eq!(labels(&claim(&store, expired, "w2").await), ["A2"]);
}

/// A dispatcher that crashes between its claim and its send, again and
/// again, must not bring a message nearer to being given up: `attempts` is
/// the number of sends tried that failed, whatever the claims and lease
/// take-overs in between.
async fn attempts_count_failed_sends_not_claims_or_take_overs(store: Arc<dyn Store>) {
    migrated(&store).await;
    queue(&store, now(), &[("A1", sergeants())]).await;
    // Three claims in a row, each taken over when its lease ran out.
    let mut at = now();
    let mut held = claim(&store, at, "w0").await;
    for worker in ["w1", "w2", "w3"] {
        at += lease();
        held = claim(&store, at, worker).await;
        assert_eq!(labels(&held), ["A1"], "{worker} takes A1 over");
        assert_eq!(held[0].attempts, 0, "no send failed yet");
    }
    assert_eq!(store.delivery_stats().await.unwrap().retries, 0);
    // One send tried that failed; then a crash after the next claim.
    let retry_at = at + Duration::minutes(1);
    let retry = DeliveryOutcome::Retry {
        at: retry_at,
        error: "421 busy".into(),
    };
    assert!(finish(&store, &held[0], "w3", retry, at).await);
    let after_failure = claim(&store, retry_at, "w4").await;
    assert_eq!(after_failure[0].attempts, 1, "the failed send counts");
    let taken_over_at = retry_at + lease();
    let taken_over = claim(&store, taken_over_at, "w5").await;
    assert_eq!(labels(&taken_over), ["A1"]);
    assert_eq!(taken_over[0].attempts, 1, "the take-over does not");
    assert!(
        finish(
            &store,
            &taken_over[0],
            "w5",
            DeliveryOutcome::Sent,
            taken_over_at
        )
        .await
    );
    let stats = store.delivery_stats().await.unwrap();
    // For a sent message the retries are its stored failed sends.
    assert_eq!(
        (stats.sent, stats.retries),
        (1, 1),
        "one failed send, retried"
    );
}

/// Queues, through a pass at `at` (nothing due), one notice to
/// `destination` listing `items` (reference, kind).
async fn queue_items(
    store: &Arc<dyn Store>,
    at: DateTime<Utc>,
    destination: Destination,
    items: &[(&str, NoticeKind)],
) -> PassSummary {
    let items: Vec<NoticeItem> = items
        .iter()
        .map(|(reference, kind)| NoticeItem {
            kind: *kind,
            level: "breach".into(),
            occurrence: 0,
            reference: (*reference).into(),
            risk_grade: RiskGrade::High,
            lpa: "Dudley".into(),
            stage: Stage::AwaitingEnforcement,
            received_at: now() - Duration::days(7),
            deadline_at: now(),
            referral_due_at: None,
            review_due_at: None,
            assigned_officer: None,
            link: None,
        })
        .collect();
    let draft = OutboxDraft {
        destination,
        notice: Notice {
            as_of: at,
            ..notice("OFFICIAL-SENSITIVE", items)
        },
        escalation_ids: Vec::new(),
    };
    store
        .escalation_pass(at, 10, &nothing_until(None), &move |_| vec![draft.clone()])
        .await
        .expect("queueing a notice")
}

/// The references and kinds a claimed message lists, in its order.
fn lines_of(message: &OutboxMessage) -> Vec<(String, NoticeKind)> {
    let notice = message.payload.notice().expect("a notice");
    notice
        .items
        .iter()
        .map(|item| (item.reference.clone(), item.kind))
        .collect()
}

async fn a_pass_adds_to_the_message_still_waiting_for_its_destination(store: Arc<dyn Store>) {
    use NoticeKind::{Breached, DueSoon, LongOverdue};
    migrated(&store).await;
    let t1 = now();
    let t2 = t1 + Duration::minutes(1);
    let first = queue_items(&store, t1, sergeants(), &[("P-1", Breached)]).await;
    assert_eq!((first.messages, first.merged), (1, 0));
    // The next pass's notice to the sergeants joins the one still waiting:
    // P-1's newer line replaces its older one.
    let second = queue_items(
        &store,
        t2,
        sergeants(),
        &[("P-2", DueSoon), ("P-1", LongOverdue)],
    )
    .await;
    assert_eq!((second.messages, second.merged), (0, 1));
    // Another destination's queue is its own.
    let other = queue_items(&store, t2, inspector(), &[("P-2", DueSoon)]).await;
    assert_eq!((other.messages, other.merged), (1, 0));

    let claimed = claim(&store, t2, "w").await;
    assert_eq!(claimed.len(), 2, "one message each");
    let to_sergeants = claimed
        .iter()
        .find(|m| m.destination == sergeants())
        .unwrap();
    assert_eq!(
        lines_of(to_sergeants),
        [
            ("P-1".to_string(), LongOverdue),
            ("P-2".to_string(), DueSoon)
        ]
    );
    assert_eq!(to_sergeants.payload.notice().unwrap().as_of, t2);
    assert_eq!(to_sergeants.created_at, t1, "it keeps its place and age");

    // A message being sent is not added to: the next one queues behind it.
    let t3 = t2 + Duration::minutes(1);
    let behind = queue_items(&store, t3, sergeants(), &[("P-3", Breached)]).await;
    assert_eq!((behind.messages, behind.merged), (1, 0));
    // Nor is one waiting to be tried again: what was tried is not changed.
    let retry_at = t3 + Duration::minutes(30);
    let failed = DeliveryOutcome::Retry {
        at: retry_at,
        error: "451 try later".into(),
    };
    assert!(finish(&store, to_sergeants, "w", failed, t3).await);
    let fourth = queue_items(&store, t3, sergeants(), &[("P-4", Breached)]).await;
    assert_eq!(
        (fourth.messages, fourth.merged),
        (0, 1),
        "P-4 joins P-3's message, the tail of the queue"
    );
    let retried = claim(&store, retry_at, "w").await;
    let retried: Vec<_> = retried
        .iter()
        .filter(|m| m.destination == sergeants())
        .collect();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        lines_of(retried[0]).len(),
        2,
        "P-1 and P-2, as tried before"
    );
    assert!(finish(&store, retried[0], "w", DeliveryOutcome::Sent, retry_at).await);
    let next = claim(&store, retry_at, "w").await;
    assert_eq!(
        lines_of(&next[0]),
        [("P-3".to_string(), Breached), ("P-4".to_string(), Breached)]
    );
}

async fn a_released_message_keeps_its_place_and_its_attempt_is_not_counted(store: Arc<dyn Store>) {
    migrated(&store).await;
    queue(&store, now(), &[("A1", sergeants()), ("A2", sergeants())]).await;
    let taken = claim(&store, now(), "w1").await;
    assert_eq!(taken[0].attempts, 0);
    // Shutting down before trying: back to the queue, in its place.
    assert!(finish(&store, &taken[0], "w1", DeliveryOutcome::Release, now()).await);
    let again = claim(&store, now(), "w2").await;
    assert_eq!(labels(&again), ["A1"]);
    assert_eq!(again[0].attempts, 0, "the released attempt was not counted");

    // Released after a retry: it keeps its retry time.
    let retry_at = now() + Duration::hours(1);
    let retry = DeliveryOutcome::Retry {
        at: retry_at,
        error: "timeout".into(),
    };
    assert!(finish(&store, &again[0], "w2", retry, now()).await);
    let retried = claim(&store, retry_at, "w2").await;
    assert_eq!((labels(&retried), retried[0].attempts), (vec!["A1"], 1));
    assert!(
        finish(
            &store,
            &retried[0],
            "w2",
            DeliveryOutcome::Release,
            retry_at
        )
        .await
    );
    assert!(
        claim(&store, retry_at - Duration::seconds(1), "w3")
            .await
            .is_empty(),
        "not before its retry time, and A2 still waits"
    );
    let last = claim(&store, retry_at, "w3").await;
    assert_eq!((labels(&last), last[0].attempts), (vec!["A1"], 1));
}

async fn delivery_figures_count_each_status_and_the_retries(store: Arc<dyn Store>) {
    migrated(&store).await;
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        DeliveryStats::default()
    );
    let t0 = now();
    let t1 = now() + Duration::minutes(1);
    // Five destinations, so each message can be claimed on its own.
    let to = |n: usize| Destination::Webhook(format!("hook-{n}"));
    queue(
        &store,
        t0,
        &[("SENT-ONCE", to(1)), ("SENT-THIRD", to(2)), ("DEAD", to(3))],
    )
    .await;
    queue(&store, t1, &[("SENDING", to(4)), ("PENDING", to(5))]).await;

    let retry = |at| DeliveryOutcome::Retry {
        at,
        error: "busy".into(),
    };
    let mut at = t1;
    for round in 0..3 {
        for message in claim(&store, at, "w").await {
            let outcome = match (message.payload.marking(), round) {
                ("SENT-ONCE", _) => DeliveryOutcome::Sent,
                ("SENT-THIRD", 2) => DeliveryOutcome::Sent,
                ("SENT-THIRD", _) => retry(at),
                ("DEAD", 0) => retry(at),
                ("DEAD", _) => DeliveryOutcome::Dead {
                    error: "gone".into(),
                },
                ("SENDING", 0) => retry(at),
                ("SENDING", _) => continue,
                ("PENDING", _) => DeliveryOutcome::Release,
                (other, _) => panic!("unexpected {other}"),
            };
            assert!(finish(&store, &message, "w", outcome, at).await);
        }
        at += Duration::minutes(1);
    }
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        DeliveryStats {
            pending: 1,
            sending: 1,
            sent: 2,
            dead: 1,
            // SENT-THIRD 2, DEAD 1, SENDING 1 (on its second attempt).
            retries: 4,
            oldest_undelivered_at: Some(t1),
        }
    );
}

/// What the claimers of one test share: the claims in the order they were
/// made, the messages held now, and the messages sent.
#[derive(Debug, Default)]
struct Dispatch {
    claims: Vec<(Destination, i64)>,
    held: HashMap<Destination, i64>,
    sent: Vec<i64>,
}

/// Claims and delivers until `total` messages are sent. Every third
/// message fails its first attempt and is retried at once. Checks, as each
/// claim comes back, that no other message of its destination is held.
async fn dispatch(
    store: Arc<dyn Store>,
    worker: String,
    shared: Arc<Mutex<Dispatch>>,
    total: usize,
) {
    loop {
        if shared.lock().unwrap().sent.len() == total {
            return;
        }
        let claimed = store
            .claim_outbox(now(), &worker, Duration::hours(1), 3)
            .await
            .expect("claiming concurrently");
        {
            let mut shared = shared.lock().unwrap();
            for message in &claimed {
                if let Some(other) = shared.held.get(&message.destination) {
                    panic!(
                        "{worker} claimed {} while {other} to {} is held",
                        message.id, message.destination
                    );
                }
                shared.held.insert(message.destination.clone(), message.id);
                shared
                    .claims
                    .push((message.destination.clone(), message.id));
            }
        }
        // Let the other claimers in between the claim and the outcome.
        tokio::task::yield_now().await;
        for message in claimed {
            // Let go in the record before the database: another claim of
            // this destination can only follow the outcome's commit.
            shared.lock().unwrap().held.remove(&message.destination);
            let outcome = if message.id % 3 == 0 && message.attempts == 0 {
                DeliveryOutcome::Retry {
                    at: now(),
                    error: "421 try again".into(),
                }
            } else {
                DeliveryOutcome::Sent
            };
            let sent = outcome == DeliveryOutcome::Sent;
            assert!(
                store
                    .finish_delivery(message.id, &worker, &outcome, now())
                    .await
                    .expect("finishing concurrently"),
                "{worker} lost {}",
                message.id
            );
            if sent {
                shared.lock().unwrap().sent.push(message.id);
            }
        }
        tokio::task::yield_now().await;
    }
}

async fn concurrent_claimers_never_share_a_message_or_break_a_queue(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    let destinations = [
        sergeants(),
        inspector(),
        webhook(),
        Destination::Webhook("b".into()),
    ];
    // Interleaved, over a few passes.
    for batch in 0..4 {
        let messages: Vec<(String, Destination)> = (0..15)
            .map(|i| {
                (
                    format!("M{batch}-{i}"),
                    destinations[(i * 7 + batch) % 4].clone(),
                )
            })
            .collect();
        let messages: Vec<(&str, Destination)> = messages
            .iter()
            .map(|(label, destination)| (label.as_str(), destination.clone()))
            .collect();
        queue(&store, now(), &messages).await;
    }
    let other = db.second_instance().await;
    let shared = Arc::new(Mutex::new(Dispatch::default()));
    let workers = [
        (store.clone(), "w1"),
        (other.clone(), "w2"),
        (store.clone(), "w3"),
        (other, "w4"),
    ];
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|(store, name)| tokio::spawn(dispatch(store, name.into(), shared.clone(), 60)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let (claims, mut sent) = {
        let shared = shared.lock().unwrap();
        (shared.claims.clone(), shared.sent.clone())
    };
    sent.sort_unstable();
    sent.dedup();
    assert_eq!(sent.len(), 60, "each message sent once");
    let mut per_destination: HashMap<&Destination, Vec<i64>> = HashMap::new();
    for (destination, id) in &claims {
        per_destination.entry(destination).or_default().push(*id);
    }
    for (destination, ids) in per_destination {
        assert!(
            ids.windows(2).all(|w| w[0] <= w[1]),
            "{destination} was claimed out of order: {ids:?}"
        );
    }
    let retried = sent.iter().filter(|id| *id % 3 == 0).count();
    assert_eq!(claims.len(), 60 + retried, "one claim per attempt");
    let stats = store.delivery_stats().await.unwrap();
    assert_eq!((stats.sent, stats.retries), (60, retried as u64));
}

async fn an_uncommitted_claim_holds_its_destination_back(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    queue(
        &store,
        now(),
        &[("A1", sergeants()), ("A2", sergeants()), ("B1", webhook())],
    )
    .await;
    let pool = postgres_pool(&db);
    let id_of = |label: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM outbox WHERE notice LIKE $1")
                .bind(format!("%\"marking\":\"{label}\"%"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let a1 = id_of("A1").await;

    // Worker A has chosen A1 and holds its row, not yet updated.
    let mut choosing = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM outbox WHERE id = $1 FOR UPDATE")
        .bind(a1)
        .execute(&mut *choosing)
        .await
        .unwrap();
    assert_eq!(
        labels(&claim(&store, now(), "worker-b").await),
        ["B1"],
        "A1 is skipped, and A2 still waits behind it"
    );
    choosing.rollback().await.unwrap();

    // Worker A has claimed A1 and not yet committed.
    let mut claiming = pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE outbox SET status = 'sending', locked_by = 'worker-a', locked_at = $2 \
         WHERE id = $1",
    )
    .bind(a1)
    .bind(now())
    .execute(&mut *claiming)
    .await
    .unwrap();
    assert!(
        claim(&store, now(), "worker-b").await.is_empty(),
        "A2 must not overtake A1 while A1's claim is in flight"
    );
    claiming.commit().await.unwrap();
    assert!(
        claim(&store, now(), "worker-b").await.is_empty(),
        "A1 is being sent: A2 still waits"
    );
    assert!(store
        .finish_delivery(a1, "worker-a", &DeliveryOutcome::Sent, now())
        .await
        .unwrap());
    assert_eq!(labels(&claim(&store, now(), "worker-b").await), ["A2"]);
}

/// Waits, within a bound, until `waiting` sessions of this database wait
/// for a lock, or `done` says there is nothing to wait for. Polls the
/// server rather than sleeping for a guessed time.
async fn until_waiting_for_locks(pool: &sqlx::PgPool, waiting: i64, done: impl Fn() -> bool) {
    let poll = async {
        loop {
            let now_waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if now_waiting >= waiting || done() {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), poll)
        .await
        .expect("the sessions never came to wait for their locks");
}

async fn messages_are_committed_in_the_order_of_their_ids(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    let package = breached("NCA-O1");
    insert_due(&store, vec![(package, Some(now()))]).await;
    store
        .escalation_pass(
            now(),
            10,
            &ladder_plan(now(), vec![sergeants()]),
            &ByDestination::default().compose(),
        )
        .await
        .unwrap();
    let breach = store.escalations(&reference("NCA-O1")).await.unwrap()[1].clone();
    assert_eq!(breach.level, "breach");
    let breach_id = breach.deliveries[0].message_id;
    let first = claim(&store, now(), "w").await;
    assert!(finish(&store, &first[0], "w", DeliveryOutcome::Sent, now()).await);
    let pool = postgres_pool(&db);
    let escalation_id: i64 =
        sqlx::query_scalar("SELECT escalation_id FROM outbox_escalations WHERE outbox_id = $1")
            .bind(breach_id)
            .fetch_one(&pool)
            .await
            .unwrap();

    // Pass A queues a message to the inspector carrying that escalation,
    // and then waits: the link's foreign-key check needs the escalation's
    // row, which this transaction holds. A has its message id by then.
    let mut holding = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM escalations WHERE id = $1 FOR UPDATE")
        .bind(escalation_id)
        .execute(&mut *holding)
        .await
        .unwrap();
    let compose_to = |label: &'static str, links: Vec<i64>| {
        move |_: Vec<RecordedEscalation>| {
            vec![OutboxDraft {
                destination: inspector(),
                notice: notice(label, vec![]),
                escalation_ids: links.clone(),
            }]
        }
    };
    let pass_a = {
        let store = store.clone();
        let compose = compose_to("A", vec![escalation_id]);
        tokio::spawn(async move {
            store
                .escalation_pass(now(), 10, &nothing_until(None), &compose)
                .await
                .expect("pass A")
        })
    };
    until_waiting_for_locks(&pool, 1, || false).await;

    // Pass B, on another instance, queues a message to the same destination.
    let other = db.second_instance().await;
    let pass_b = {
        let compose = compose_to("B", vec![]);
        tokio::spawn(async move {
            other
                .escalation_pass(now(), 10, &nothing_until(None), &compose)
                .await
                .expect("pass B")
        })
    };
    // B waits for A to commit. (Were it to run on, B would commit its
    // message, younger by id, while A's is still unseen.)
    until_waiting_for_locks(&pool, 2, || pass_b.is_finished()).await;
    assert!(
        claim(&store, now(), "w").await.is_empty(),
        "a dispatcher must not see B's message before A's"
    );

    holding.rollback().await.unwrap();
    assert_eq!(pass_a.await.unwrap().messages, 1);
    assert_eq!(pass_b.await.unwrap().messages, 1);
    let a = claim(&store, now(), "w").await;
    assert_eq!(labels(&a), ["A"]);
    assert!(finish(&store, &a[0], "w", DeliveryOutcome::Sent, now()).await);
    assert_eq!(labels(&claim(&store, now(), "w").await), ["B"]);
}
