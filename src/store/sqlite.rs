//! The SQLite backend: one file, for a single node and for trying the
//! service out with no other software.
//!
//! SQLite has one writer at a time. Writers wait for each other through
//! `busy_timeout`, but only if they take the write lock when they begin: a
//! deferred transaction that reads and then writes fails at once with
//! "database is locked" when another writer got in between, whatever the
//! timeout says. So every read-then-write transaction begins `IMMEDIATE`.

use super::ledger::impl_store;
use super::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for another to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The ledger in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Takes the write lock at once, so a writer queues behind another
    /// (up to `busy_timeout`) instead of failing when it comes to write.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// Inside a `BEGIN IMMEDIATE` transaction the row is already safe from
    /// other writers: SQLite has no row locks and needs none here.
    const LOCK_PACKAGE: &'static str = super::sql::select_package_by_reference!();

    const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Opens (creating if missing, with its folder) the database file `url`
    /// names, such as `sqlite://data/ocset.db`, in WAL mode.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::db("reading the SQLite database URL"))?
            .create_if_missing(true)
            // WAL lets readers carry on while one writer writes; NORMAL
            // syncs at checkpoints, which in WAL mode cannot corrupt the
            // database (a power cut may lose only the last commits).
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // An in-memory database has no folder (its name has no parent).
        if let Some(folder) = options
            .get_filename()
            .parent()
            .filter(|f| !f.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|e| {
                StoreError::db("creating the SQLite database's folder")(sqlx::Error::Io(e))
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(StoreError::db("opening the SQLite database"))?;
        Ok(Self { pool })
    }

    /// The connection pool, for tests and tools that need raw SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl_store!(SqliteStore);
