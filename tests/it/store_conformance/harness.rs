//! The harness: one test per case and backend, and raw access to the
//! database under test for SQL the [`Store`] trait does not offer.

use crate::common;
use chrono::{DateTime, Utc};
use ocset_scheduler::store::postgres::PostgresStore;
use ocset_scheduler::store::sqlite::SqliteStore;
use ocset_scheduler::store::Store;
use std::future::Future;
use std::sync::Arc;

/// Generates `sqlite::<case>` and `postgres::<case>` tests in the module
/// that calls it, each case being a function of that module. Cases listed
/// under `store` take the store; cases under `raw` also take [`Raw`], for
/// SQL the trait does not offer; cases under `db` take the whole [`TestDb`]
/// (to open a second pool). Cases under `postgres_only` test what only
/// PostgreSQL allows (a transaction left open while another claims), and
/// exist only as `postgres::<case>`: never reported as passed on SQLite.
macro_rules! conformance {
    (
        store: [$($case:ident),* $(,)?],
        raw: [$($raw_case:ident),* $(,)?],
        db: [$($db_case:ident),* $(,)?],
        postgres_only: [$($pg_case:ident),* $(,)?] $(,)?
    ) => {
        conformance!(@backend sqlite, on_sqlite, [$($case),*], [$($raw_case),*], [$($db_case),*]);
        conformance!(
            @backend postgres, on_postgres, [$($case),*], [$($raw_case),*],
            [$($db_case,)* $($pg_case),*]
        );
    };
    (
        @backend $backend:ident, $harness:ident, [$($case:ident),*], [$($raw_case:ident),*],
        [$($db_case:ident),* $(,)?]
    ) => {
        mod $backend {
            $(
                // Two workers, so the concurrency case really runs in parallel.
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::store_conformance::harness::$harness(|db| super::$case(db.store)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $raw_case() {
                    $crate::store_conformance::harness::$harness(|db| super::$raw_case(db.store, db.raw)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $db_case() {
                    $crate::store_conformance::harness::$harness(super::$db_case).await;
                }
            )*
        }
    };
}

/// Raw access to the database under test: the backend's own store, for its
/// pool and what only the concrete store offers.
#[derive(Debug, Clone)]
pub enum Raw {
    /// The SQLite store.
    Sqlite(SqliteStore),
    /// The PostgreSQL store.
    Postgres(PostgresStore),
}

impl Raw {
    /// Runs one statement; the driver's message on failure.
    pub(super) async fn execute(&self, sql: &str) -> Result<u64, String> {
        let done = match self {
            Raw::Sqlite(store) => sqlx::query(sql)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(store) => sqlx::query(sql)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
        };
        done.map_err(|e| e.to_string())
    }

    /// The package's `next_due_at`, which the trait does not return.
    pub(super) async fn next_due_at(&self, reference: &str) -> Option<DateTime<Utc>> {
        const SQL: &str = "SELECT next_due_at FROM packages WHERE reference = $1";
        let due = match self {
            Raw::Sqlite(store) => {
                sqlx::query_scalar(SQL)
                    .bind(reference)
                    .fetch_one(store.pool())
                    .await
            }
            Raw::Postgres(store) => {
                sqlx::query_scalar(SQL)
                    .bind(reference)
                    .fetch_one(store.pool())
                    .await
            }
        };
        due.expect("reading next_due_at")
    }

    /// Sets the package's `next_due_at`, as a write through the API would.
    pub(super) async fn set_next_due_at(&self, reference: &str, at: Option<DateTime<Utc>>) {
        const SQL: &str = "UPDATE packages SET next_due_at = $2 WHERE reference = $1";
        let done = match self {
            Raw::Sqlite(store) => sqlx::query(SQL)
                .bind(reference)
                .bind(at)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(store) => sqlx::query(SQL)
                .bind(reference)
                .bind(at)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
        };
        assert_eq!(done.expect("setting next_due_at"), 1);
    }

    /// One text column of every row `sql` selects.
    pub(super) async fn strings(&self, sql: &str) -> Vec<String> {
        let rows = match self {
            Raw::Sqlite(store) => sqlx::query_scalar(sql).fetch_all(store.pool()).await,
            Raw::Postgres(store) => sqlx::query_scalar(sql).fetch_all(store.pool()).await,
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One count.
    pub(super) async fn count(&self, sql: &str) -> i64 {
        let count = match self {
            Raw::Sqlite(store) => sqlx::query_scalar(sql).fetch_one(store.pool()).await,
            Raw::Postgres(store) => sqlx::query_scalar(sql).fetch_one(store.pool()).await,
        };
        count.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The backend's plans of the scheduler's and dispatcher's statements.
    pub(super) async fn query_plans(&self, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
        match self {
            Raw::Sqlite(store) => store.query_plans(now).await,
            Raw::Postgres(store) => store.query_plans(now).await,
        }
        .expect("explaining the hot statements")
    }
}

/// What a case gets.
pub struct TestDb {
    pub(super) store: Arc<dyn Store>,
    pub(super) raw: Raw,
    /// The database's URL, to open another pool on it (another instance).
    pub(super) url: String,
}

impl TestDb {
    /// Another store on the same database, with its own pool: a second
    /// instance of the service.
    pub(super) async fn second_instance(&self) -> Arc<dyn Store> {
        match self.raw {
            Raw::Sqlite(_) => Arc::new(
                SqliteStore::connect(&self.url, 4)
                    .await
                    .expect("opening the SQLite store again"),
            ),
            Raw::Postgres(_) => Arc::new(
                PostgresStore::connect(&self.url, 4)
                    .await
                    .expect("connecting to the test database again"),
            ),
        }
    }
}

/// Runs `case` against a new SQLite file. The file sits in a folder that
/// does not exist yet, so connecting must create it.
pub(super) async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let folder = tempfile::tempdir().expect("creating a temporary folder");
    let url = format!("sqlite://{}/data/ocset.db", folder.path().display());
    let store = SqliteStore::connect(&url, 4)
        .await
        .expect("opening the SQLite store");
    let raw = Raw::Sqlite(store.clone());
    case(TestDb {
        store: Arc::new(store),
        raw,
        url,
    })
    .await;
    assert!(folder.path().join("data/ocset.db").is_file());
}

/// Runs `case` against a new PostgreSQL database, dropped afterwards.
pub(super) async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    common::with_postgres(|database_url| async move {
        let store = PostgresStore::connect(&database_url, 4)
            .await
            .expect("connecting to the test database");
        let raw = Raw::Postgres(store.clone());
        case(TestDb {
            store: Arc::new(store),
            raw,
            url: database_url,
        })
        .await;
    })
    .await;
}

/// The PostgreSQL pool of a PostgreSQL-only case.
pub(super) fn postgres_pool(db: &TestDb) -> sqlx::PgPool {
    match &db.raw {
        Raw::Postgres(store) => store.pool().clone(),
        Raw::Sqlite(_) => unreachable!("a PostgreSQL-only case ran on SQLite"),
    }
}
