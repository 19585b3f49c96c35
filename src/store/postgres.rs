//! The PostgreSQL backend, for production and for more than one replica.
//!
//! Writers that read a package and then write it hold its row with
//! `SELECT ... FOR UPDATE`, so two changes to the same package run one after
//! the other and neither is lost; changes to different packages run side by
//! side.

use super::ledger::impl_store;
use super::StoreError;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// The ledger in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// READ COMMITTED is enough: the row lock below serialises the writers
    /// of one package, and a locked read sees the latest committed row.
    const BEGIN_WRITE: &'static str = "BEGIN";

    const LOCK_PACKAGE: &'static str =
        concat!(super::sql::select_package_by_reference!(), " FOR UPDATE");

    /// Large statements, since each is a round trip: 500 rows of 17 values
    /// stays far below PostgreSQL's limit of 65,535 parameters.
    const INSERT_CHUNK_ROWS: usize = 500;

    /// Autovacuum keeps PostgreSQL's statistics fresh.
    const MAINTAIN: &'static [&'static str] = &[];

    /// `to_regclass` looks the table up on the search path, where sqlx
    /// creates it, and answers NULL rather than failing when it is missing.
    const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";

    /// Connects to the database `url` names (`postgres://user@host/db`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect(url)
            .await
            .map_err(StoreError::db("connecting to PostgreSQL"))?;
        Ok(Self { pool })
    }
}

impl_store!(PostgresStore, pool: PgPool, migrations: "./migrations/postgres");
