//! Report snapshots (`report_snapshots`, migration 0007): kept under their
//! period and fingerprint, refused when the ledger moved under the fold,
//! and dropped by every ledger write that lands before their period's end.

use super::fixtures::{
    admitted, at, created, entry, insert, migrated, now, plain, policy, reference,
};
use super::harness::{Raw, TestDb};
use chrono::{DateTime, Utc};
use ocset_scheduler::domain::RiskGrade;
use ocset_scheduler::store::{Actor, ReportSnapshot, SnapshotKey, Store};
use std::sync::Arc;

conformance!(
    store: [
        a_kept_snapshot_is_served_under_its_period_and_fingerprint_only,
        a_snapshot_is_not_kept_when_an_event_landed_in_its_period_after_the_read,
        a_new_snapshot_of_a_period_replaces_those_of_other_fingerprints,
        a_back_dated_package_drops_the_snapshots_its_receipt_lands_in,
        an_import_drops_the_snapshots_its_receipts_land_in,
        a_back_dated_move_drops_the_snapshots_from_its_instant_on,
    ],
    raw: [],
    db: [],
    postgres_only: [
        a_save_waits_for_a_writer_that_invalidated_and_then_refuses,
        a_writer_that_invalidates_after_a_save_drops_the_saved_snapshot,
    ],
);

fn key(period_key: &str, fingerprint: &str) -> SnapshotKey {
    SnapshotKey {
        period_kind: "week".into(),
        period_key: period_key.into(),
        fingerprint: fingerprint.into(),
    }
}

/// A snapshot of `period_key` ending at `end`, folded from the events the
/// store holds before `end` now.
async fn snapshot(
    store: &Arc<dyn Store>,
    period_key: &str,
    fingerprint: &str,
    end: DateTime<Utc>,
) -> ReportSnapshot {
    let events = store.events_before(end).await.unwrap();
    ReportSnapshot {
        key: key(period_key, fingerprint),
        period_end: end,
        model: format!(
            "{{\"period\":\"{period_key}\",\"events\":{}}}",
            events.len()
        ),
        events_folded: events.len() as u64,
        computed_at: now(),
    }
}

/// The periods kept, by key.
async fn kept(store: &Arc<dyn Store>) -> Vec<String> {
    store
        .report_snapshots()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.period_key)
        .collect()
}

async fn a_kept_snapshot_is_served_under_its_period_and_fingerprint_only(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("S-1")]).await;
    let end = at("2024-05-27T00:00:00Z");
    let saved = snapshot(&store, "2024-W21", "aaaa", end).await;
    assert!(store.save_report_snapshot(&saved).await.unwrap());

    let model = store
        .report_snapshot(&key("2024-W21", "aaaa"))
        .await
        .unwrap();
    assert_eq!(model.as_deref(), Some(saved.model.as_str()));
    assert_eq!(saved.model, "{\"period\":\"2024-W21\",\"events\":1}");
    // Another fingerprint (changed settings) or period finds nothing.
    assert_eq!(
        store
            .report_snapshot(&key("2024-W21", "bbbb"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .report_snapshot(&key("2024-W22", "aaaa"))
            .await
            .unwrap(),
        None
    );
    let other_kind = SnapshotKey {
        period_kind: "month".into(),
        ..key("2024-W21", "aaaa")
    };
    assert_eq!(store.report_snapshot(&other_kind).await.unwrap(), None);

    let records = store.report_snapshots().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].period_end, end);
    assert_eq!(records[0].events_folded, 1);
    assert_eq!(records[0].computed_at, now());
    assert_eq!(records[0].fingerprint, "aaaa");
}

async fn a_snapshot_is_not_kept_when_an_event_landed_in_its_period_after_the_read(
    store: Arc<dyn Store>,
) {
    migrated(&store).await;
    insert(&store, vec![plain("S-1")]).await;
    let end = at("2024-05-27T00:00:00Z");
    // The fold read one event; then a package received in the period was
    // written (its invalidation found nothing to drop yet).
    let stale = snapshot(&store, "2024-W21", "aaaa", end).await;
    insert(&store, vec![plain("S-2")]).await;
    assert!(!store.save_report_snapshot(&stale).await.unwrap());
    assert!(kept(&store).await.is_empty());
    // An event after the period's end changes nothing in it.
    let fresh = snapshot(&store, "2024-W21", "aaaa", end).await;
    let later = admitted(
        "S-3",
        "standard",
        "2024-05-28 10:00",
        "Coventry",
        "intelligence_development",
    );
    store
        .insert_packages(&[created(later)], &Actor::named("cli:test"), now())
        .await
        .unwrap();
    assert!(store.save_report_snapshot(&fresh).await.unwrap());
    assert_eq!(kept(&store).await, ["2024-W21"]);
}

async fn a_new_snapshot_of_a_period_replaces_those_of_other_fingerprints(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("S-1")]).await;
    let end = at("2024-05-27T00:00:00Z");
    assert!(store
        .save_report_snapshot(&snapshot(&store, "2024-W21", "aaaa", end).await)
        .await
        .unwrap());
    assert!(store
        .save_report_snapshot(
            &snapshot(&store, "2024-W20", "aaaa", at("2024-05-20T00:00:00Z")).await
        )
        .await
        .unwrap());
    assert!(store
        .save_report_snapshot(&snapshot(&store, "2024-W21", "bbbb", end).await)
        .await
        .unwrap());
    let records = store.report_snapshots().await.unwrap();
    let keys: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.period_key.as_str(), r.fingerprint.as_str()))
        .collect();
    assert_eq!(keys, [("2024-W20", "aaaa"), ("2024-W21", "bbbb")]);
}

/// Snapshots of three weeks around `plain`'s receipt (2024-05-20 09:00Z):
/// W20 ends before it, W21 and W22 after.
async fn three_weeks_kept(store: &Arc<dyn Store>) {
    for (week, end) in [
        ("2024-W20", "2024-05-20T00:00:00Z"),
        ("2024-W21", "2024-05-27T00:00:00Z"),
        ("2024-W22", "2024-06-03T00:00:00Z"),
    ] {
        let saved = snapshot(store, week, "aaaa", at(end)).await;
        assert!(store.save_report_snapshot(&saved).await.unwrap(), "{week}");
    }
    assert_eq!(kept(store).await, ["2024-W20", "2024-W21", "2024-W22"]);
}

async fn a_back_dated_package_drops_the_snapshots_its_receipt_lands_in(store: Arc<dyn Store>) {
    migrated(&store).await;
    three_weeks_kept(&store).await;
    // Imported on 1 June, received on 20 May: it is in W21's figures and,
    // carried forward, in W22's.
    insert(&store, vec![plain("S-1")]).await;
    assert_eq!(kept(&store).await, ["2024-W20"]);
    // A refused batch (a duplicate) drops nothing: the write did not commit.
    three_weeks_kept(&store).await;
    let refused = store
        .insert_packages(
            &[created(plain("S-2")), created(plain("S-1"))],
            &Actor::named("cli:test"),
            now(),
        )
        .await;
    assert!(refused.is_err());
    assert_eq!(kept(&store).await, ["2024-W20", "2024-W21", "2024-W22"]);
}

async fn an_import_drops_the_snapshots_its_receipts_land_in(store: Arc<dyn Store>) {
    migrated(&store).await;
    three_weeks_kept(&store).await;
    // The import's own write path (staged, then INSERT ... SELECT):
    // received on 20 May, it is in W21's figures and W22's.
    let mut session = store.begin_import().await.unwrap();
    session.stage(&[(2, created(plain("S-1")))]).await.unwrap();
    assert_eq!(session.duplicates(10).await.unwrap().total, 0);
    session
        .commit(&Actor::named("cli:test"), now())
        .await
        .unwrap();
    assert_eq!(kept(&store).await, ["2024-W20"]);
}

async fn a_back_dated_move_drops_the_snapshots_from_its_instant_on(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("S-1")]).await;
    three_weeks_kept(&store).await;
    // Recorded on 1 June, regraded on 28 May: only W22 holds it.
    store
        .update_package(
            &reference("S-1"),
            &Actor::named("token:sergeant"),
            now(),
            Box::new(move |package| {
                package
                    .regrade(
                        RiskGrade::High,
                        "new intelligence",
                        at("2024-05-28T09:30:00Z"),
                        now(),
                        &policy(),
                    )
                    .map(|change| entry(change, None))
            }),
        )
        .await
        .unwrap();
    assert_eq!(kept(&store).await, ["2024-W20", "2024-W21"]);
    // A refused move drops nothing.
    let refused = store
        .update_package(
            &reference("S-1"),
            &Actor::named("token:sergeant"),
            now(),
            Box::new(move |package| {
                package
                    .regrade(
                        RiskGrade::High,
                        "again",
                        at("2024-05-10T09:30:00Z"),
                        now(),
                        &policy(),
                    )
                    .map(|change| entry(change, None))
            }),
        )
        .await;
    assert!(refused.is_err(), "a regrade before receipt is refused");
    assert_eq!(kept(&store).await, ["2024-W20", "2024-W21"]);
}

/// The PostgreSQL pool under test.
fn postgres(db: &TestDb) -> sqlx::PgPool {
    match &db.raw {
        Raw::Postgres(store) => store.pool().clone(),
        Raw::Sqlite(_) => unreachable!("a PostgreSQL case"),
    }
}

/// Waits (bounded) until a statement waits for a lock on
/// `report_snapshots`: the other side of the race has reached it.
async fn until_one_waits_on_snapshots(pool: &sqlx::PgPool) {
    const WAITING: &str = "SELECT COUNT(*) FROM pg_locks \
         WHERE NOT granted AND relation = 'report_snapshots'::regclass";
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(WAITING).fetch_one(pool).await.unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("nothing waited for report_snapshots' lock within 5 s");
}

/// A writer that has appended a back-dated event and run its
/// invalidation, not yet committed, holds a save off; once it commits,
/// the save counts its event and keeps nothing.
async fn a_save_waits_for_a_writer_that_invalidated_and_then_refuses(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    insert(&store, vec![plain("S-1")]).await;
    let stale = snapshot(&store, "2024-W21", "aaaa", at("2024-05-27T00:00:00Z")).await;
    let pool = postgres(&db);
    let mut writer = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO package_events (package_id, kind, occurred_at, recorded_at, actor, \
         risk_grade, stage, deadline_at, details) SELECT package_id, kind, occurred_at, \
         recorded_at, actor, risk_grade, stage, deadline_at, details FROM package_events LIMIT 1",
    )
    .execute(&mut *writer)
    .await
    .unwrap();
    sqlx::query("DELETE FROM report_snapshots WHERE period_end > $1")
        .bind(at("2024-05-20T09:00:00Z"))
        .execute(&mut *writer)
        .await
        .unwrap();
    let saving = tokio::spawn({
        let store = store.clone();
        async move { store.save_report_snapshot(&stale).await }
    });
    until_one_waits_on_snapshots(&pool).await;
    writer.commit().await.unwrap();
    assert!(
        !saving.await.unwrap().unwrap(),
        "the save saw the writer's event"
    );
    assert!(kept(&store).await.is_empty());
}

/// A save that holds the lock first (its row inserted, not committed)
/// makes a back-dated move's invalidation wait; once the save commits,
/// the move's DELETE sees the saved row and drops it.
async fn a_writer_that_invalidates_after_a_save_drops_the_saved_snapshot(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    insert(&store, vec![plain("S-1")]).await;
    let pool = postgres(&db);
    let mut save = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE report_snapshots IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *save)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO report_snapshots (period_kind, period_key, fingerprint, period_end, \
         model, events_folded, computed_at) VALUES ('week', '2024-W22', 'aaaa', $1, '{}', 1, $2)",
    )
    .bind(at("2024-06-03T00:00:00Z"))
    .bind(now())
    .execute(&mut *save)
    .await
    .unwrap();
    let moving = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .update_package(
                    &reference("S-1"),
                    &Actor::named("token:sergeant"),
                    now(),
                    Box::new(move |package| {
                        package
                            .regrade(
                                RiskGrade::High,
                                "new intelligence",
                                at("2024-05-28T09:30:00Z"),
                                now(),
                                &policy(),
                            )
                            .map(|change| entry(change, None))
                    }),
                )
                .await
        }
    });
    until_one_waits_on_snapshots(&pool).await;
    save.commit().await.unwrap();
    moving.await.unwrap().unwrap();
    assert!(
        kept(&store).await.is_empty(),
        "the move dropped the row saved meanwhile"
    );
}
