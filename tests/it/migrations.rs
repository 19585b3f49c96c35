//! Migrations when several replicas start at once: on PostgreSQL each
//! replica's `migrate` runs sqlx's migrator, which holds a session advisory
//! lock (keyed on the database's name) from before it creates
//! `_sqlx_migrations` until it has applied every migration. The first to
//! take the lock migrates; the others wait on it, then find every migration
//! applied and do nothing. The fault campaign's `migrate-together` scenario
//! does the same with three real `serve` processes.

use crate::common;
use ocset_scheduler::store::postgres::PostgresStore;
use ocset_scheduler::store::Store;
use std::path::Path;
use std::sync::Arc;

/// How many replicas migrate at once.
const REPLICAS: usize = 6;

/// The migration files shipped for PostgreSQL.
fn postgres_migration_files() -> usize {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("reading {}: {e}", folder.display()))
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_migrating_a_fresh_database_at_once_apply_each_migration_once() {
    common::with_postgres(|url| async move {
        // Each replica its own pool, connected before any migrates, so the
        // migrations start as close together as the runtime allows.
        let mut stores = Vec::new();
        for _ in 0..REPLICAS {
            stores.push(Arc::new(
                PostgresStore::connect(&url, 2).await.expect("connecting"),
            ));
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(REPLICAS));
        let runs: Vec<_> = stores
            .iter()
            .cloned()
            .map(|store| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.migrate().await
                })
            })
            .collect();
        for (replica, run) in runs.into_iter().enumerate() {
            let outcome = run.await.expect("the migration task finished");
            assert!(
                outcome.is_ok(),
                "replica {replica} failed to migrate: {:?}",
                outcome.err()
            );
        }
        let (rows, successful): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE success) FROM _sqlx_migrations",
        )
        .fetch_one(&sqlx::PgPool::connect(&url).await.expect("connecting"))
        .await
        .expect("reading _sqlx_migrations");
        let files = postgres_migration_files();
        assert_eq!(
            (rows, successful),
            (files as i64, files as i64),
            "one successful row per migration file"
        );
        for (replica, store) in stores.iter().enumerate() {
            assert!(
                store.is_ready().await.expect("asking"),
                "replica {replica} sees every migration applied"
            );
        }
        // And a replica starting later finds nothing to do, and no lock held.
        let late = PostgresStore::connect(&url, 2).await.expect("connecting");
        tokio::time::timeout(std::time::Duration::from_secs(30), late.migrate())
            .await
            .expect("the migration lock was released")
            .expect("a later replica migrates as a no-op");
    })
    .await;
}

/// A database of either backend, reached without the store: for building
/// the schema of an older release.
enum OldDatabase {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl OldDatabase {
    /// Applies the shipped migrations up to `version` only, as a release
    /// that stopped there did.
    async fn migrate_to(&self, version: i64) {
        let folder = match self {
            OldDatabase::Sqlite(_) => "migrations/sqlite",
            OldDatabase::Postgres(_) => "migrations/postgres",
        };
        let mut migrator =
            sqlx::migrate::Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(folder))
                .await
                .unwrap();
        let older: Vec<_> = migrator
            .migrations
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect();
        migrator.migrations = older.into();
        match self {
            OldDatabase::Sqlite(pool) => migrator.run(pool).await.unwrap(),
            OldDatabase::Postgres(pool) => migrator.run(pool).await.unwrap(),
        }
    }

    async fn execute(&self, sql: &str) {
        match self {
            OldDatabase::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
            OldDatabase::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// An open package (its stored next instant far off), a closed one, and an
/// escalation, as a release at migration 0004 stored them. Times as
/// SQLite's text; PostgreSQL reads the same literals as timestamps.
const BEFORE_REVIEWS: &str = "
INSERT INTO packages (id, reference, risk_grade, stage, lpa, received_at, deadline_at,
    clock_started_at, policy_version, stage_since, clock_stopped_at, outcome, next_due_at,
    due_soon_at, created_at, updated_at)
VALUES
    (1, 'OLD-OPEN', 'standard', 'awaiting_enforcement', 'Dudley', '2024-01-01T10:00:00+00:00',
     '2024-03-01T10:00:00+00:00', '2024-01-01T10:00:00+00:00', 'v1', '2024-01-01T10:00:00+00:00',
     NULL, NULL, '2099-01-01T00:00:00+00:00', '2024-02-15T04:00:00+00:00',
     '2024-01-01T10:00:00+00:00', '2024-01-01T10:00:00+00:00'),
    (2, 'OLD-CLOSED', 'high', 'closed', 'Dudley', '2024-01-01T10:00:00+00:00',
     '2024-01-08T10:00:00+00:00', '2024-01-01T10:00:00+00:00', 'v1', '2024-01-03T10:00:00+00:00',
     '2024-01-03T10:00:00+00:00', 'no_further_action', NULL, NULL,
     '2024-01-01T10:00:00+00:00', '2024-01-03T10:00:00+00:00');
INSERT INTO escalations (id, package_id, level, clock, occurrence, clock_due_at, due_at,
    relation, status, recorded_at)
VALUES (7, 1, 'breach', 'enforcement', 0, '2024-03-01T10:00:00+00:00',
    '2024-03-01T10:00:00+00:00', 'at', 'notified', '2024-03-01T10:00:05+00:00');
INSERT INTO outbox (id, destination, notice, status, attempts, run_at, created_at, sent_at)
VALUES (3, '{\"channel\":\"email\",\"to\":\"sgt@force.example\"}', '{}', 'sent', 1, '2024-03-01T10:00:05+00:00', '2024-03-01T10:00:05+00:00',
    '2024-03-01T10:00:06+00:00');
INSERT INTO outbox_escalations (outbox_id, escalation_id) VALUES (3, 7);
";

/// Upgrading a database at migration 0004 starts the review clock of each
/// open package at the upgrade (not at receipt, which would make every one
/// overdue at once), says so in the ledger and the audit log, brings its
/// stored next instant forward so the next pass plans the review clock,
/// keeps the escalations (and the messages that refer to them: SQLite
/// rebuilds the table under a foreign key), and admits review-clock
/// escalations.
async fn the_review_clock_starts_at_the_upgrade(old: OldDatabase, url: &str) {
    use ocset_scheduler::domain::{EventKind, Reference};
    old.migrate_to(4).await;
    old.execute(BEFORE_REVIEWS).await;
    let before = chrono::Utc::now() - chrono::Duration::milliseconds(1);
    let store = ocset_scheduler::store::connect(url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let after = chrono::Utc::now();
    let open = Reference::parse("OLD-OPEN").unwrap();
    let package = store.package(&open).await.unwrap().unwrap();
    let started = package.review_clock_started_at();
    assert!(
        before <= started && started <= after,
        "{before} <= {started} <= {after}"
    );
    let closed = Reference::parse("OLD-CLOSED").unwrap();
    let closed = store.package(&closed).await.unwrap().unwrap();
    assert_eq!(closed.parts().review_clock_started_at, None);
    let events = store.events(&open).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::ReviewClockStarted);
    assert_eq!(events[0].actor, "migration");
    assert_eq!(events[0].occurred_at, started);
    assert!(store
        .events(&Reference::parse("OLD-CLOSED").unwrap())
        .await
        .unwrap()
        .is_empty());
    let audit = store.audit_log(Some(&open)).await.unwrap();
    assert!(audit
        .iter()
        .any(|line| line.action == "package.review_clock_started" && line.actor == "migration"));
    // Planned again at the first pass, not in 2099.
    let wake = store.next_wake().await.unwrap().unwrap();
    assert!(wake <= after, "{wake}");
    let kept = store.escalations(&open).await.unwrap();
    assert_eq!(kept.len(), 1);
    // The message that sent it still refers to it.
    assert_eq!(kept[0].deliveries.len(), 1, "{kept:?}");
    old.execute(
        "INSERT INTO escalations (package_id, level, clock, occurrence, clock_due_at, due_at, \
         relation, status, recorded_at) VALUES (1, 'review', 'review', 0, \
         '2024-01-15T10:00:00+00:00', '2024-01-15T10:00:00+00:00', 'at', 'notified', \
         '2024-01-15T10:00:05+00:00')",
    )
    .await;
    let escalations = store.escalations(&open).await.unwrap();
    assert_eq!(escalations.len(), 2);
    assert!(
        escalations
            .iter()
            .any(|e| e.level == "breach" && e.occurrence == 0),
        "the rebuild kept the rows"
    );
}

#[tokio::test]
async fn sqlite_the_review_clock_starts_at_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true).foreign_keys(true))
        .await
        .unwrap();
    the_review_clock_starts_at_the_upgrade(OldDatabase::Sqlite(pool), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_review_clock_starts_at_the_upgrade() {
    common::with_postgres(|url| async move {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        the_review_clock_starts_at_the_upgrade(OldDatabase::Postgres(pool.clone()), &url).await;
        pool.close().await;
    })
    .await;
}

/// Upgrading a database at migration 0007 chains the audit lines it holds,
/// in id order, at once (the migrate step seals them): the chain starts at
/// the genesis hash with the oldest line, and verifies.
async fn audit_lines_written_before_the_chain_are_chained_at_the_upgrade(
    old: OldDatabase,
    url: &str,
) {
    use ocset_scheduler::store::ChainVerdict;
    old.migrate_to(7).await;
    old.execute(
        "INSERT INTO audit_log (id, at, actor, action, reference, request_id, detail) VALUES \
         (1, '2024-01-01T10:00:00+00:00', 'token:old', 'package.created', 'OLD-1', 'r1', NULL), \
         (2, '2024-01-02T10:00:00+00:00', 'token:old', 'package.read', 'OLD-1', NULL, 'x'), \
         (3, '2024-01-03T10:00:00+00:00', 'cli:old', 'token.created', NULL, NULL, 'name=a')",
    )
    .await;
    let store = ocset_scheduler::store::connect(url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let ChainVerdict::Intact(chain) = store.verify_audit_chain(None).await.unwrap() else {
        panic!("the upgraded chain does not verify");
    };
    assert_eq!(chain.lines, 3);
    let first = store
        .audit_chain_head_at(common::utc("2024-01-01T10:00:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.seq, 1, "the oldest line first");
    // A second migrate (another replica, a restart) leaves the chain as it is.
    store.migrate().await.unwrap();
    assert_eq!(
        store.verify_audit_chain(None).await.unwrap(),
        ChainVerdict::Intact(chain)
    );
}

#[tokio::test]
async fn sqlite_audit_lines_written_before_the_chain_are_chained_at_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true).foreign_keys(true))
        .await
        .unwrap();
    audit_lines_written_before_the_chain_are_chained_at_the_upgrade(
        OldDatabase::Sqlite(pool),
        &url,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_audit_lines_written_before_the_chain_are_chained_at_the_upgrade() {
    common::with_postgres(|url| async move {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        audit_lines_written_before_the_chain_are_chained_at_the_upgrade(
            OldDatabase::Postgres(pool.clone()),
            &url,
        )
        .await;
        pool.close().await;
    })
    .await;
}

/// Upgrading a database at migration 0009 keeps the escalations (and the
/// messages that refer to them: SQLite rebuilds the table under a foreign
/// key, ids kept) and admits the status `imported` of a history import's
/// past levels (migration 0010).
async fn escalations_are_kept_and_admit_imported_history_at_the_upgrade(
    old: OldDatabase,
    url: &str,
) {
    use ocset_scheduler::domain::Reference;
    old.migrate_to(9).await;
    old.execute(BEFORE_REVIEWS).await;
    let store = ocset_scheduler::store::connect(url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let open = Reference::parse("OLD-OPEN").unwrap();
    let kept = store.escalations(&open).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].status, "notified");
    assert_eq!(kept[0].deliveries.len(), 1, "{kept:?}");
    assert_eq!(kept[0].deliveries[0].message_id, 3);
    old.execute(
        "INSERT INTO escalations (package_id, level, clock, occurrence, clock_due_at, due_at, \
         relation, status, recorded_at) VALUES (2, 'warning', 'enforcement', 0, \
         '2024-01-08T10:00:00+00:00', '2024-01-06T16:00:00+00:00', 'before', 'imported', \
         '2024-06-01T10:00:00+00:00')",
    )
    .await;
    let closed = Reference::parse("OLD-CLOSED").unwrap();
    let imported = store.escalations(&closed).await.unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].status, "imported");
    assert!(imported[0].deliveries.is_empty());
}

#[tokio::test]
async fn sqlite_escalations_are_kept_and_admit_imported_history_at_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true).foreign_keys(true))
        .await
        .unwrap();
    escalations_are_kept_and_admit_imported_history_at_the_upgrade(OldDatabase::Sqlite(pool), &url)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_escalations_are_kept_and_admit_imported_history_at_the_upgrade() {
    common::with_postgres(|url| async move {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        escalations_are_kept_and_admit_imported_history_at_the_upgrade(
            OldDatabase::Postgres(pool.clone()),
            &url,
        )
        .await;
        pool.close().await;
    })
    .await;
}
