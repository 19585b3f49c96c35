//! Bad rows set aside (issue 16): a package row the code can no longer
//! read is flagged by the scheduler's pass that meets it and skipped by
//! every pass after (its `next_due_at` cleared); an outbox message whose
//! stored JSON cannot be read is flagged when claimed and given up, so the
//! messages behind it go on (migration 0012). Each is logged once, when it
//! is set aside, with its reference (or message id) and why.

use super::dialect::Dialect;
use super::rows::stored_instant;
use super::{SqlStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// A row set aside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantinedRow {
    /// `package` or `message`.
    pub kind: &'static str,
    /// The row's id in its table.
    pub id: i64,
    /// The package's reference as stored (a message has none).
    pub reference: Option<String>,
    /// When it was set aside.
    pub quarantined_at: DateTime<Utc>,
    /// Why: the table, the column and the value's fault.
    pub reason: String,
}

/// How many rows are set aside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QuarantineCounts {
    /// Package rows.
    pub packages: u64,
    /// Outbox messages.
    pub messages: u64,
}

/// Sets package `$1` aside at `$2` for `$3`; nothing more falls due for it.
const QUARANTINE_PACKAGE: &str = "UPDATE packages SET quarantined_at = $2, \
     quarantine_reason = $3, next_due_at = NULL WHERE id = $1";

/// Sets package `id` (`reference`) aside for `why`, in the caller's
/// transaction (the scheduler's pass that met it), and logs it: once, as
/// no pass looks at it again.
pub(crate) async fn set_package_aside<DB>(
    connection: &mut DB::Connection,
    id: i64,
    reference: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(QUARANTINE_PACKAGE)
        .bind(id)
        .bind(stored_instant(now))
        .bind(why)
        .execute(&mut *connection)
        .await
        .map_err(StoreError::db("setting a package aside"))?;
    tracing::error!(
        reference = %reference,
        reason = %why,
        "a package's stored row cannot be read and is set aside: no pass \
         looks at it until it is repaired (`quarantine list`)"
    );
    Ok(())
}

/// Sets message `$1` aside at `$2` for `$3`, given up (`dead`), while the
/// claim that read it still holds it.
pub(crate) const QUARANTINE_MESSAGE: &str = "UPDATE outbox SET quarantined_at = $2, \
     quarantine_reason = $3, status = 'dead', locked_by = NULL, locked_at = NULL, \
     last_error = $3 WHERE id = $1 AND status = 'sending'";

/// Both counts in one statement: the status answers every request with
/// them, and each round trip is most of a status request's cost. Each is a
/// walk of a partial index (migration 0012), empty while nothing is set
/// aside.
const COUNT_QUARANTINED: &str = "SELECT \
     (SELECT COUNT(*) FROM packages WHERE quarantined_at IS NOT NULL), \
     (SELECT COUNT(*) FROM outbox WHERE quarantined_at IS NOT NULL)";
const LIST_PACKAGES: &str = "SELECT id, reference, quarantined_at, quarantine_reason \
     FROM packages WHERE quarantined_at IS NOT NULL ORDER BY quarantined_at, id";
const LIST_MESSAGES: &str = "SELECT id, quarantined_at, quarantine_reason \
     FROM outbox WHERE quarantined_at IS NOT NULL ORDER BY quarantined_at, id";

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
    /// [`super::Store::quarantine_counts`].
    pub(super) async fn count_quarantined(&self) -> Result<QuarantineCounts, StoreError> {
        let (packages, messages): (i64, i64) = sqlx::query_as(COUNT_QUARANTINED)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("counting the rows set aside"))?;
        Ok(QuarantineCounts {
            packages: packages.unsigned_abs(),
            messages: messages.unsigned_abs(),
        })
    }

    /// [`super::Store::quarantined`].
    pub(super) async fn list_quarantined(&self) -> Result<Vec<QuarantinedRow>, StoreError> {
        let failed = || StoreError::db("listing the rows set aside");
        let packages: Vec<(i64, String, DateTime<Utc>, Option<String>)> =
            sqlx::query_as(LIST_PACKAGES)
                .fetch_all(&self.pool)
                .await
                .map_err(failed())?;
        let messages: Vec<(i64, DateTime<Utc>, Option<String>)> = sqlx::query_as(LIST_MESSAGES)
            .fetch_all(&self.pool)
            .await
            .map_err(failed())?;
        let mut rows: Vec<QuarantinedRow> = packages
            .into_iter()
            .map(|(id, reference, at, reason)| QuarantinedRow {
                kind: "package",
                id,
                reference: Some(reference),
                quarantined_at: at,
                reason: reason.unwrap_or_default(),
            })
            .chain(messages.into_iter().map(|(id, at, reason)| QuarantinedRow {
                kind: "message",
                id,
                reference: None,
                quarantined_at: at,
                reason: reason.unwrap_or_default(),
            }))
            .collect();
        rows.sort_by_key(|row| (row.quarantined_at, row.kind, row.id));
        Ok(rows)
    }

    /// Sets the messages a claim read but cannot decode aside, each logged
    /// once (here, when it is set aside).
    pub(super) async fn quarantine_messages(
        &self,
        bad: &[(i64, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (id, why) in bad {
            sqlx::query(QUARANTINE_MESSAGE)
                .bind(*id)
                .bind(stored_instant(now))
                .bind(why.as_str())
                .execute(&self.pool)
                .await
                .map_err(StoreError::db("setting a message aside"))?;
            tracing::error!(
                message_id = id,
                reason = %why,
                "an outbox message cannot be read and is set aside (given up, listed by \
                 `quarantine list`); the messages behind it go on"
            );
        }
        Ok(())
    }
}
