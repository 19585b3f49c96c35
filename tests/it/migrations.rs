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
