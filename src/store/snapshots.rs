//! Report snapshots: the model of a closed period's report, kept once
//! computed (migration 0007, table `report_snapshots`), and dropped by any
//! ledger write that lands before its period's end.
//!
//! Exactness rests on two rules:
//! - every transaction that appends to `package_events` calls
//!   [`SqlStore::invalidate_report_snapshots`] with the earliest
//!   `occurred_at` it appends, before it commits;
//! - a snapshot is saved only if the ledger before its period's end still
//!   holds exactly the events it was folded from
//!   ([`SqlStore::save_snapshot`] counts them again, under a lock that no
//!   writer's invalidation can pass until the save commits). The ledger is
//!   append-only, so an equal count is the same events.

use super::dialect::Dialect;
use super::rows::stored_instant;
use super::{LedgerEntry, SqlStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// Which report a snapshot is: its period and the fingerprint of what
/// else its figures depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotKey {
    /// `week`, `month` or `quarter`.
    pub period_kind: String,
    /// `2024-W05`, `2024-02`, `2024-Q1`.
    pub period_key: String,
    /// The report parameters' and the build's fingerprint (hex).
    pub fingerprint: String,
}

/// A report model to keep, as JSON, with the instant its period ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSnapshot {
    /// Which report.
    pub key: SnapshotKey,
    /// The period's end (exclusive): a ledger event before it drops the
    /// snapshot.
    pub period_end: DateTime<Utc>,
    /// The serialized model.
    pub model: String,
    /// How many ledger events (those before `period_end`) it was folded
    /// from.
    pub events_folded: u64,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
}

/// What is kept for one report, without its model: for diagnosis and tests.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotRecord {
    /// `week`, `month` or `quarter`.
    pub period_kind: String,
    /// `2024-W05`, `2024-02`, `2024-Q1`.
    pub period_key: String,
    /// The fingerprint it was computed under.
    pub fingerprint: String,
    /// The period's end.
    pub period_end: DateTime<Utc>,
    /// How many ledger events it was folded from.
    pub events_folded: i64,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
}

/// Drops every snapshot whose period ends after `$1`: an event that took
/// effect at `$1` changes that period's figures and, since state carries
/// forward, every later one's.
pub(crate) const INVALIDATE_SNAPSHOTS: &str = "DELETE FROM report_snapshots WHERE period_end > $1";

/// [`INVALIDATE_SNAPSHOTS`] for an import: the earliest event is the
/// earliest staged (the import's staging table, `store/import.rs`).
pub(crate) const INVALIDATE_SNAPSHOTS_FOR_IMPORT: &str = "DELETE FROM report_snapshots \
     WHERE period_end > (SELECT MIN(occurred_at) FROM import_staging)";

/// The model kept for (`$1` kind, `$2` key, `$3` fingerprint).
pub(crate) const SELECT_SNAPSHOT: &str = "SELECT model FROM report_snapshots \
     WHERE period_kind = $1 AND period_key = $2 AND fingerprint = $3";

/// How many ledger events took effect before `$1` (read through the
/// `occurred_at` index).
pub(crate) const COUNT_EVENTS_BEFORE: &str =
    "SELECT COUNT(*) FROM package_events WHERE occurred_at < $1";

/// Drops the period's snapshots (`$1` kind, `$2` key) under every
/// fingerprint: one computed under settings no longer in force would never
/// be served again.
pub(crate) const DELETE_PERIOD_SNAPSHOTS: &str =
    "DELETE FROM report_snapshots WHERE period_kind = $1 AND period_key = $2";

/// Keeps a snapshot.
pub(crate) const INSERT_SNAPSHOT: &str = "INSERT INTO report_snapshots \
     (period_kind, period_key, fingerprint, period_end, model, events_folded, computed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Every snapshot kept, without its model, by period end then key.
pub(crate) const SELECT_SNAPSHOT_RECORDS: &str =
    "SELECT period_kind, period_key, fingerprint, period_end, events_folded, computed_at \
     FROM report_snapshots ORDER BY period_end, period_kind, period_key, fingerprint";

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
    /// Drops every report snapshot a ledger event at `earliest` makes
    /// stale. **Every write path that appends to `package_events` calls
    /// this inside its transaction**, with the earliest `occurred_at` it
    /// appends (a back-dated import or move lands in a closed period), so
    /// the snapshot goes if and only if the event commits.
    pub(crate) async fn invalidate_report_snapshots(
        connection: &mut DB::Connection,
        earliest: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(INVALIDATE_SNAPSHOTS)
            .bind(stored_instant(earliest))
            .execute(&mut *connection)
            .await
            .map_err(StoreError::db(
                "dropping report snapshots a ledger write makes stale",
            ))?;
        Ok(())
    }

    /// [`super::Store::report_snapshot`].
    pub(super) async fn read_snapshot(
        &self,
        key: &SnapshotKey,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<_, String>(SELECT_SNAPSHOT)
            .bind(key.period_kind.as_str())
            .bind(key.period_key.as_str())
            .bind(key.fingerprint.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("reading a report snapshot"))
    }

    /// [`super::Store::save_report_snapshot`].
    pub(super) async fn save_snapshot(
        &self,
        snapshot: &ReportSnapshot,
    ) -> Result<bool, StoreError> {
        let period_end = stored_instant(snapshot.period_end);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting to save a report snapshot"))?;
        // Held until commit: a writer's invalidation cannot pass between
        // the count below and the commit (on SQLite BEGIN_WRITE is enough).
        for statement in DB::LOCK_REPORT_SNAPSHOTS {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("locking report snapshots"))?;
        }
        let now: i64 = sqlx::query_scalar(COUNT_EVENTS_BEFORE)
            .bind(period_end)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::db("counting the events a snapshot covers"))?;
        if u64::try_from(now).ok() != Some(snapshot.events_folded) {
            // An event landed in the period after the fold read the
            // ledger: the model is already stale. Not kept; the next
            // report folds again.
            return Ok(false);
        }
        let events_folded = i64::try_from(snapshot.events_folded).unwrap_or(i64::MAX);
        sqlx::query(DELETE_PERIOD_SNAPSHOTS)
            .bind(snapshot.key.period_kind.as_str())
            .bind(snapshot.key.period_key.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("replacing a report snapshot"))?;
        sqlx::query(INSERT_SNAPSHOT)
            .bind(snapshot.key.period_kind.as_str())
            .bind(snapshot.key.period_key.as_str())
            .bind(snapshot.key.fingerprint.as_str())
            .bind(period_end)
            .bind(snapshot.model.as_str())
            .bind(events_folded)
            .bind(stored_instant(snapshot.computed_at))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("saving a report snapshot"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a report snapshot"))?;
        Ok(true)
    }

    /// [`super::Store::report_snapshots`].
    pub(super) async fn snapshot_records(&self) -> Result<Vec<SnapshotRecord>, StoreError> {
        sqlx::query_as::<_, SnapshotRecord>(SELECT_SNAPSHOT_RECORDS)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("listing report snapshots"))
    }
}

/// The earliest instant at which `entry` appends an event (its own, or a
/// preceding one's): what [`SqlStore::invalidate_report_snapshots`] is
/// called with.
pub(crate) fn earliest_event_at(entry: &LedgerEntry) -> DateTime<Utc> {
    entry
        .preceded_by
        .iter()
        .map(|(_, at)| *at)
        .fold(entry.occurred_at, DateTime::min)
}
