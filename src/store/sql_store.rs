//! [`SqlStore`]: the [`Store`] implementation, written once over a
//! [`Dialect`] (see the module documentation of [`super`] for why generic
//! code rather than a macro or one copy per backend).
//!
//! The methods live by concern in `packages.rs`, `events.rs`,
//! `listing.rs`, `audit.rs`, `tokens.rs`, `escalations.rs`, `outbox.rs` and
//! `digests.rs`, each an `impl<DB> SqlStore<DB>` block; the [`Store`] impl
//! below, and the outbox's [`Queue`] port beside it, only forward to them. Each block repeats the same `where` clause: the sqlx capabilities
//! the shared code uses (an executor on a connection, arguments, and
//! encoding and decoding of the column types). Rust does not carry a trait's
//! `where` clause over to code that names the trait (only supertraits), so
//! the clause cannot be written once on [`Dialect`]; a block that leaves a
//! bound out fails with E0277, naming it.
//!
//! Every write of a package or a token appends its audit line inside the
//! write's own transaction: a change that commits is always audited, and a
//! refused or failed one leaves no line claiming it happened.

use super::dialect::Dialect;
use super::rows::{all_migrations_applied, stored_instant};
use super::sql::BindValue;
use super::{
    Actor, ApiToken, AuditLine, AuditRecord, BackupContents, BackupError, ComposeFn, DecideFn,
    DigestDraft, DigestRun, EscalationRecord, LedgerEntry, LedgerEvent, PackageChange,
    PackageCounts, PackageFilter, PassSummary, ReportSnapshot, SchedulerStatus, SnapshotKey,
    SnapshotRecord, StageGradeFigures, Store, StoreError,
};
use crate::domain::{Package, Reference};
use crate::outbox::{DeliveryOutcome, DeliveryStats, OutboxMessage, Queue, QueueError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::pool::PoolOptions;
use sqlx::Connection as _;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

/// The ledger in a database of dialect `DB`:
/// [`SqliteStore`](super::sqlite::SqliteStore) or
/// [`PostgresStore`](super::postgres::PostgresStore).
pub struct SqlStore<DB: Dialect> {
    pub(super) pool: Pool<DB>,
}

/// A read of one small table: run on a connection before EXPLAIN, so that
/// the connection plans with the schema (and statistics) as they are now.
const SCHEMA_CURRENT: &str = "SELECT 1 FROM service_state LIMIT 1";

impl<DB: Dialect> SqlStore<DB> {
    /// A store over an open pool (the backends' `connect`).
    pub(super) fn from_pool(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    /// The pool options both backends start from: at most
    /// `max_connections`, and never a connection still inside a transaction.
    ///
    /// Why the check: sqlx counts the transactions it opened on each
    /// connection and rolls a failed one back when it is dropped. But a
    /// database may end a transaction by itself: SQLite rolls the whole
    /// transaction back on a full disk (`SQLITE_FULL`, at a statement or at
    /// COMMIT), on an I/O error, or on `RAISE(ROLLBACK)`. The ROLLBACK sqlx
    /// then sends fails ("no transaction is active"), its count stays at
    /// one, and every later `begin_with` on that connection fails with
    /// "attempted to call begin_with at non-zero transaction depth": the
    /// pool is wedged until restart. A connection whose count is not zero
    /// when it is handed out (its rollback has been flushed by then: the
    /// pool pings it on release) is closed instead, and the pool opens a
    /// fresh one, so the first write after the database works again
    /// succeeds.
    pub(super) fn pool_options(max_connections: u32) -> PoolOptions<DB> {
        PoolOptions::<DB>::new()
            .max_connections(max_connections.max(1))
            .before_acquire(|connection, _| {
                Box::pin(async move {
                    let usable = !connection.is_in_transaction();
                    if !usable {
                        tracing::warn!(
                            backend = DB::NAME,
                            "a pooled connection was left inside a failed transaction; closing it"
                        );
                    }
                    Ok(usable)
                })
            })
    }

    /// The connection pool, for tests and tools that need raw SQL.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

impl<DB: Dialect> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Dialect> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &DB::NAME)
            .field("pool", &self.pool)
            .finish()
    }
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
{
    /// How the database will run the statements the scheduler and the
    /// dispatcher repeat all day, by name: for the plan tests, and for
    /// finding out why a pass or a claim has become slow. Explains with
    /// `now` bound; runs nothing.
    pub async fn query_plans(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(&'static str, String)>, StoreError> {
        use super::{escalations, outbox};
        // A lease of five minutes: the value does not change the plan.
        let held_since = BindValue::Instant(stored_instant(now - chrono::Duration::minutes(5)));
        let now = BindValue::Instant(stored_instant(now));
        let statements: [(&'static str, &str, Vec<BindValue<'_>>); 5] = [
            (
                "claim due packages",
                DB::CLAIM_DUE_PACKAGES,
                vec![now, BindValue::Integer(100)],
            ),
            (
                "claim messages",
                DB::CLAIM_OUTBOX,
                vec![
                    now,
                    held_since,
                    BindValue::Text("worker"),
                    BindValue::Integer(10),
                ],
            ),
            ("next wake", outbox::NEXT_WAKE, vec![]),
            ("scheduler status", escalations::SCHEDULER_STATUS, vec![now]),
            ("oldest undelivered", outbox::OLDEST_UNDELIVERED, vec![]),
        ];
        let mut plans = Vec::with_capacity(statements.len());
        for (name, statement, values) in statements {
            plans.push((name, self.explain(statement, &values).await?));
        }
        Ok(plans)
    }

    /// The backend's plan for `statement` with `values` bound (on
    /// PostgreSQL a custom plan for those values), one step a line.
    pub(super) async fn explain(
        &self,
        statement: &str,
        values: &[BindValue<'_>],
    ) -> Result<String, StoreError> {
        let explain = format!("{}{statement}", DB::EXPLAIN);
        // SQLite loads the planner's statistics when a connection reads the
        // schema, and ANALYZE (`maintain`) changes the schema's version; but
        // EXPLAIN alone does not check that version. A pooled connection
        // that has run nothing since another ran `maintain` would explain
        // with the statistics it had before (statements that run check it
        // and are planned again, so only EXPLAIN needs this). One read on
        // the same connection first brings it up to date.
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::db("explaining a statement"))?;
        sqlx::query(SCHEMA_CURRENT)
            .execute(&mut *connection)
            .await
            .map_err(StoreError::db("explaining a statement"))?;
        let steps = Self::bind_values(sqlx::query(&explain), values.iter().copied())
            .fetch_all(&mut *connection)
            .await
            .map_err(StoreError::db("explaining a statement"))?
            .iter()
            .map(|row| row.try_get::<String, _>(DB::EXPLAIN_STEP_COLUMN))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::db("reading a statement's plan"))?;
        Ok(steps.join("\n"))
    }

    /// Applies the embedded migrations, then refreshes the statistics.
    async fn run_migrations(&self) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::db("connecting to migrate"))?;
        if let Err(e) = DB::migrator().run_direct(&mut *conn).await {
            // A failed migration returns without releasing the migration
            // lock (PostgreSQL's session advisory lock): close the session
            // rather than pool it, or the next migration waits forever.
            drop(conn.detach());
            return Err(e.into());
        }
        drop(conn);
        // Lines written before the chain existed (or before an upgrade
        // restored an older copy) join it now, not at the next write.
        self.seal_pending_audit().await?;
        self.refresh_statistics().await
    }

    /// Runs the dialect's [`Dialect::MAINTAIN`] statements.
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        for statement in DB::MAINTAIN {
            // raw_sql: a batch runs on one connection, so a per-connection
            // setting applies to what follows it.
            sqlx::raw_sql(statement)
                .execute(&self.pool)
                .await
                .map_err(StoreError::db("refreshing the query planner's statistics"))?;
        }
        Ok(())
    }

    /// True when every embedded migration is applied, unchanged.
    async fn migrations_applied(&self) -> Result<bool, StoreError> {
        let exists: bool = sqlx::query_scalar(DB::MIGRATIONS_TABLE_EXISTS)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("asking the database whether it is migrated"))?;
        if !exists {
            return Ok(false);
        }
        let applied: Vec<(i64, bool, Vec<u8>)> = sqlx::query_as(APPLIED_MIGRATIONS)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading the applied migrations"))?;
        Ok(all_migrations_applied(DB::migrator(), &applied))
    }
}

/// Every migration sqlx recorded as applied.
pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version, success, checksum FROM _sqlx_migrations";

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        self.run_migrations().await
    }

    async fn maintain(&self) -> Result<(), StoreError> {
        self.refresh_statistics().await
    }

    async fn is_ready(&self) -> Result<bool, StoreError> {
        self.migrations_applied().await
    }

    async fn insert_packages(
        &self,
        entries: &[LedgerEntry],
        actor: &Actor,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.insert_new_packages(entries, actor, recorded_at).await
    }

    async fn begin_import(&self) -> Result<Box<dyn super::ImportSession>, StoreError> {
        self.start_import().await
    }

    async fn existing_references(
        &self,
        references: &[Reference],
    ) -> Result<Vec<Reference>, StoreError> {
        self.stored_references(references).await
    }

    async fn package(&self, reference: &Reference) -> Result<Option<Package>, StoreError> {
        self.read_package(reference).await
    }

    async fn events(&self, reference: &Reference) -> Result<Vec<LedgerEvent>, StoreError> {
        self.package_events(reference).await
    }

    async fn events_before(&self, until: DateTime<Utc>) -> Result<Vec<LedgerEvent>, StoreError> {
        self.ledger_events_before(until).await
    }

    async fn report_snapshot(&self, key: &SnapshotKey) -> Result<Option<String>, StoreError> {
        self.read_snapshot(key).await
    }

    async fn save_report_snapshot(&self, snapshot: &ReportSnapshot) -> Result<bool, StoreError> {
        self.save_snapshot(snapshot).await
    }

    async fn report_snapshots(&self) -> Result<Vec<SnapshotRecord>, StoreError> {
        self.snapshot_records().await
    }

    async fn list_packages(&self, filter: &PackageFilter) -> Result<Vec<Package>, StoreError> {
        self.filtered_packages(filter).await
    }

    async fn update_package(
        &self,
        reference: &Reference,
        actor: &Actor,
        recorded_at: DateTime<Utc>,
        change: PackageChange,
    ) -> Result<Package, StoreError> {
        self.change_package(reference, actor, recorded_at, change)
            .await
    }

    async fn backup(&self, to: &std::path::Path) -> Result<BackupContents, BackupError> {
        self.backup_to(to).await
    }

    async fn count_packages(&self) -> Result<PackageCounts, StoreError> {
        self.package_counts().await
    }

    async fn position(
        &self,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lpa: Option<&str>,
    ) -> Result<Vec<StageGradeFigures>, StoreError> {
        self.open_position(now, due_by, lpa).await
    }

    async fn recounted_position(
        &self,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lpa: Option<&str>,
    ) -> Result<Vec<StageGradeFigures>, StoreError> {
        self.recounted_position(now, due_by, lpa).await
    }

    async fn advance_position_mark(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.advance_mark(now).await
    }

    async fn position_mark(&self) -> Result<DateTime<Utc>, StoreError> {
        SqlStore::position_mark(self).await
    }

    async fn create_token(
        &self,
        token: &ApiToken,
        hash: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.insert_token(token, hash, actor).await
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.all_tokens().await
    }

    async fn revoke_token(
        &self,
        name: &str,
        at: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        self.revoke_active_token(name, at, actor).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        self.active_token(hash).await
    }

    async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        reference: Option<&Reference>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.append_audit(actor, action, reference, detail, at)
            .await
    }

    async fn audit_lines(&self, lines: &[AuditLine]) -> Result<(), StoreError> {
        self.append_audit_lines(lines).await
    }

    async fn audit_log(
        &self,
        reference: Option<&Reference>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.read_audit_log(reference).await
    }

    async fn verify_audit_chain(
        &self,
        copy: Option<&super::ChainHead>,
    ) -> Result<super::ChainVerdict, StoreError> {
        self.verify_chain(copy).await
    }

    async fn audit_chain_head_at(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Option<super::ChainHead>, StoreError> {
        self.chain_head_at(at).await
    }

    async fn record_audit_verification(
        &self,
        at: DateTime<Utc>,
        verdict: &super::ChainVerdict,
    ) -> Result<(), StoreError> {
        self.save_verification(at, verdict).await
    }

    async fn last_audit_verification(
        &self,
    ) -> Result<Option<super::AuditVerification>, StoreError> {
        self.read_verification().await
    }

    async fn escalation_pass(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        decide: &DecideFn,
        compose: &ComposeFn,
    ) -> Result<PassSummary, StoreError> {
        self.run_escalation_pass(now, limit, decide, compose).await
    }

    async fn delivery_stats(&self) -> Result<DeliveryStats, StoreError> {
        self.counted_delivery_stats().await
    }

    async fn recounted_delivery_stats(&self) -> Result<DeliveryStats, StoreError> {
        SqlStore::recounted_delivery_stats(self).await
    }

    async fn scheduler_status(&self, now: DateTime<Utc>) -> Result<SchedulerStatus, StoreError> {
        self.last_pass_and_lag(now).await
    }

    async fn escalations(
        &self,
        reference: &Reference,
    ) -> Result<Vec<EscalationRecord>, StoreError> {
        self.package_escalations(reference).await
    }

    async fn digest_recipients(&self, occurrence: &str) -> Result<Vec<String>, StoreError> {
        self.queued_digest_recipients(occurrence).await
    }

    async fn digest_runs(&self) -> Result<Vec<DigestRun>, StoreError> {
        self.last_digest_runs().await
    }

    async fn queue_digests(
        &self,
        drafts: &[DigestDraft],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.queue_digest_messages(drafts, actor, now).await
    }

    async fn retention_due(
        &self,
        stopped_before: DateTime<Utc>,
    ) -> Result<super::RetentionDue, StoreError> {
        self.packages_due_for_purge(stopped_before).await
    }

    async fn purge_stopped(
        &self,
        request: &super::PurgeRequest,
    ) -> Result<Option<super::PurgeSummary>, StoreError> {
        self.purge_stopped_packages(request).await
    }

    async fn quarantine_counts(&self) -> Result<super::QuarantineCounts, StoreError> {
        self.count_quarantined().await
    }

    async fn quarantined(&self) -> Result<Vec<super::QuarantinedRow>, StoreError> {
        self.list_quarantined().await
    }
}

/// The outbox's port, over the same tables (`outbox.rs`).
#[async_trait]
impl<DB> Queue for SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
{
    async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        Ok(self.earliest_work().await?)
    }

    async fn oldest_claim(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        Ok(self.oldest_claim_at().await?)
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        worker: &str,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, QueueError> {
        Ok(self.claim_messages(now, worker, lease, limit).await?)
    }

    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        Ok(self.record_delivery(id, worker, outcome, now).await?)
    }
}
