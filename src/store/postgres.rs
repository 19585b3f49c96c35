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

    /// Large statements, since each is a round trip: 500 rows of 22 values
    /// stays far below PostgreSQL's limit of 65,535 parameters.
    const INSERT_CHUNK_ROWS: usize = 500;

    /// Autovacuum keeps PostgreSQL's statistics fresh.
    /// PostgreSQL's planner picks the (deadline, reference) index itself.
    const LIST_FROM: &'static str = " FROM packages";

    const MAINTAIN: &'static [&'static str] = &[];

    /// `to_regclass` looks the table up on the search path, where sqlx
    /// creates it, and answers NULL rather than failing when it is missing.
    const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";

    /// SKIP LOCKED, so that two instances' passes share the due packages
    /// out instead of queueing behind each other: each takes the earliest
    /// ones nobody holds, and a package held by a pass (or by an API write)
    /// is left for the next pass. A row another pass has just committed is
    /// checked again against `next_due_at <= now`, so it is not taken twice;
    /// the escalations' unique key would refuse the second recording anyway.
    const CLAIM_DUE_PACKAGES: &'static str = concat!(
        super::sql::select_due_packages!(),
        " FOR UPDATE SKIP LOCKED"
    );

    /// A sequence hands out ids when rows are inserted, not when they are
    /// committed: without this, pass A could take message 10 and pass B
    /// message 11 to the same destination, B commit first, and 11 be sent
    /// before 10 exists for the dispatcher. This transaction-scoped lock
    /// makes passes queue messages one after the other, each holding it
    /// from its first id to its commit, so ids are committed in order. Taken
    /// last in a pass (after the package rows), and only by passes, so it
    /// cannot deadlock with them; the key is the store's own constant.
    const SERIALISE_OUTBOX_APPENDS: &'static [&'static str] =
        &["SELECT pg_advisory_xact_lock(7236828450091101541)"];

    /// FOR UPDATE: a dispatcher claiming the message waits for the pass to
    /// commit what it adds (its claim skips a locked row, so it claims it
    /// next round); a pass that waited for a claim finds the message being
    /// sent and queues its own.
    const QUEUE_TAIL: &'static str = concat!(super::sql::select_queue_tail!(), " FOR UPDATE");

    /// `FOR UPDATE SKIP LOCKED`, and why it keeps each destination in order
    /// with several dispatchers:
    /// - SKIP LOCKED: a message another dispatcher is claiming or finishing
    ///   right now is passed over instead of waited for, so dispatchers do
    ///   not queue behind each other, and a message cannot be claimed twice
    ///   (a row whose claim committed meanwhile is checked again, and is no
    ///   longer pending).
    /// - The order: the queue check (`NOT EXISTS` an older pending or
    ///   sending message to the destination) reads this statement's
    ///   snapshot, in which a message another dispatcher has claimed but not
    ///   yet committed is still pending. So the younger one waits behind it
    ///   either way: pending in the snapshot, or sending once committed.
    ///   Only the oldest message of a destination can be chosen, and if it
    ///   is locked it is skipped, never replaced by the next one.
    ///
    /// MATERIALIZED: the choice is made once, before the update, whatever
    /// the planner would otherwise do with the subquery.
    const CLAIM_OUTBOX: &'static str = concat!(
        "WITH claimable AS MATERIALIZED (",
        super::sql::select_claimable_outbox!(),
        " FOR UPDATE OF o SKIP LOCKED) UPDATE outbox SET ",
        super::sql::claim_outbox_set!(),
        " FROM claimable WHERE outbox.id = claimable.id RETURNING ",
        super::sql::claim_outbox_returning!()
    );

    /// Connects to the database `url` names (`postgres://user@host/db`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect(url)
            .await
            .map_err(StoreError::db("connecting to PostgreSQL"))?;
        Ok(Self { pool })
    }

    /// PostgreSQL's plan for `statement` with `values` bound (a custom
    /// plan for those values), one node a line.
    async fn explain(
        &self,
        statement: &str,
        values: &[super::sql::BindValue<'_>],
    ) -> Result<String, StoreError> {
        let explain = format!("EXPLAIN {statement}");
        let query = super::sql::bind_values!(
            sqlx::query_scalar::<_, String>(&explain),
            values.iter().copied()
        );
        let lines = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("explaining a statement"))?;
        Ok(lines.join("\n"))
    }
}

impl_store!(PostgresStore, pool: PgPool, migrations: "./migrations/postgres");
