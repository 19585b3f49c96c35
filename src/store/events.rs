//! The ledger's events: appended with every package write (never changed),
//! and read back for one package or for rebuilding past positions.

use super::dialect::Dialect;
use super::rows::{stored_instant, EventRow, EventValues};
use super::sql::values_groups;
use super::{LedgerEvent, SqlStore, StoreError};
use crate::domain::Reference;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// The columns [`SqlStore::bind_event_values`] binds, in its order.
pub(super) const EVENT_COLUMNS: &str =
    "package_id, kind, occurred_at, recorded_at, actor, risk_grade, stage, deadline_at, details";

/// How many values [`SqlStore::bind_event_values`] binds.
pub(super) const EVENT_VALUES: usize = 9;

/// Appends `rows` events, each bound with [`SqlStore::bind_event_values`].
pub(crate) fn insert_events(rows: usize) -> String {
    format!(
        "INSERT INTO package_events ({EVENT_COLUMNS}) VALUES {}",
        values_groups(rows, EVENT_VALUES, &[])
    )
}

/// The ledger of one package (`$1` is its reference), oldest first.
pub(crate) const SELECT_EVENTS: &str =
    "SELECT e.id, p.reference, e.kind, e.occurred_at, e.recorded_at, \
     e.actor, e.risk_grade, e.stage, e.deadline_at, e.details \
     FROM package_events e JOIN packages p ON p.id = e.package_id \
     WHERE p.reference = $1 ORDER BY e.id";

/// Every event of the ledger that took effect before `$1`, in the order
/// they were appended (the sequence), for rebuilding the position at past
/// instants. Filtered on `occurred_at`, not `recorded_at`: a stage move
/// recorded late counts from when it happened.
pub(crate) const SELECT_EVENTS_BEFORE: &str =
    "SELECT e.id, p.reference, e.kind, e.occurred_at, e.recorded_at, \
     e.actor, e.risk_grade, e.stage, e.deadline_at, e.details \
     FROM package_events e JOIN packages p ON p.id = e.package_id \
     WHERE e.occurred_at < $1 ORDER BY e.id";

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
    /// Binds an [`EventValues`] in the order of [`EVENT_COLUMNS`].
    pub(super) fn bind_event_values<'q>(
        query: Query<'q, DB, DB::Arguments<'q>>,
        v: &'q EventValues<'q>,
    ) -> Query<'q, DB, DB::Arguments<'q>> {
        query
            .bind(v.package_id)
            .bind(v.kind)
            .bind(v.occurred_at)
            .bind(v.recorded_at)
            .bind(v.actor)
            .bind(v.risk_grade)
            .bind(v.stage)
            .bind(v.deadline_at)
            .bind(v.details.as_str())
    }

    /// [`super::Store::events`].
    pub(super) async fn package_events(
        &self,
        reference: &Reference,
    ) -> Result<Vec<LedgerEvent>, StoreError> {
        sqlx::query_as::<_, EventRow>(SELECT_EVENTS)
            .bind(reference.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading a package's events"))?
            .into_iter()
            .map(LedgerEvent::try_from)
            .collect()
    }

    /// [`super::Store::events_before`].
    pub(super) async fn ledger_events_before(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<LedgerEvent>, StoreError> {
        sqlx::query_as::<_, EventRow>(SELECT_EVENTS_BEFORE)
            .bind(stored_instant(until))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading the ledger's events"))?
            .into_iter()
            .map(LedgerEvent::try_from)
            .collect()
    }
}
