//! The audit log: who changed or read what. Append-only; a write's line goes
//! in with the write, in its transaction (see `packages.rs`, `tokens.rs`,
//! `digests.rs`, `import.rs`); reads and other actions append theirs here.
//! Every transaction that appends lines chains them before it commits
//! (`chain.rs`).

use super::dialect::Dialect;
use super::rows::{AuditRow, AuditValues};
use super::sql::{as_str, join, joined_len, values_groups};
use super::{Actor, AuditLine, AuditRecord, SqlStore, StoreError};
use crate::domain::Reference;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// The values every audit line of one statement shares, in the order
/// [`SqlStore::bind_audit_values`] binds them (`$1` to `$5`).
const AUDIT_SHARED_COLUMNS: [&str; 5] = ["at", "actor", "action", "request_id", "detail"];

/// Appends `rows` audit lines that share their time, actor, action, request
/// id and detail (`$1` to `$5`, [`SqlStore::bind_audit_values`]) and differ
/// by reference (`$6`, `$7`, ...): one line per package of a batch, or one
/// line.
pub(crate) fn insert_audit(rows: usize) -> String {
    let shared: Vec<usize> = (1..=AUDIT_SHARED_COLUMNS.len()).collect();
    format!(
        "INSERT INTO audit_log (reference, {}) VALUES {}",
        AUDIT_SHARED_COLUMNS.join(", "),
        values_groups(rows, 1, &shared)
    )
}

/// The `SELECT` of [`AuditRow`]s, to which a statement adds its condition
/// and order.
const SELECT_AUDIT_ROWS: &str =
    "SELECT id, at, actor, action, reference, request_id, detail FROM audit_log";

/// The whole audit log, oldest first.
pub(crate) const SELECT_AUDIT_LOG: &str = {
    const PARTS: &[&str] = &[SELECT_AUDIT_ROWS, " ORDER BY id"];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// The audit lines about package `$1`, oldest first.
pub(crate) const SELECT_AUDIT_LOG_FOR: &str = {
    const PARTS: &[&str] = &[SELECT_AUDIT_ROWS, " WHERE reference = $1 ORDER BY id"];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

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
    /// Binds an [`AuditValues`]: the values shared by the lines of one
    /// [`insert_audit`] statement. The references follow, one per line.
    pub(super) fn bind_audit_values<'q>(
        query: Query<'q, DB, DB::Arguments<'q>>,
        v: &AuditValues<'q>,
    ) -> Query<'q, DB, DB::Arguments<'q>> {
        query
            .bind(v.at)
            .bind(v.actor)
            .bind(v.action)
            .bind(v.request_id)
            .bind(v.detail)
    }

    /// [`super::Store::audit`].
    pub(super) async fn append_audit(
        &self,
        actor: &Actor,
        action: &str,
        reference: Option<&Reference>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let audit = AuditValues::new(actor, action, detail, at);
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("appending to the audit log"))?;
        Self::bind_audit_values(sqlx::query(&insert_audit(1)), &audit)
            .bind(reference.map(Reference::as_str))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("appending to the audit log"))?;
        Self::seal_audit(&mut tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("appending to the audit log"))
    }

    /// [`super::Store::audit_lines`]: one statement a line (prepared
    /// once), in one transaction, so a batch costs one commit.
    pub(super) async fn append_audit_lines(&self, lines: &[AuditLine]) -> Result<(), StoreError> {
        let statement = insert_audit(1);
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("appending to the audit log"))?;
        for line in lines {
            let audit =
                AuditValues::new(&line.actor, &line.action, line.detail.as_deref(), line.at);
            Self::bind_audit_values(sqlx::query(&statement), &audit)
                .bind(line.reference.as_ref().map(Reference::as_str))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("appending to the audit log"))?;
        }
        Self::seal_audit(&mut tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("appending to the audit log"))
    }

    /// [`super::Store::audit_log`].
    pub(super) async fn read_audit_log(
        &self,
        reference: Option<&Reference>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let query = match reference {
            Some(reference) => {
                sqlx::query_as::<_, AuditRow>(SELECT_AUDIT_LOG_FOR).bind(reference.as_str())
            }
            None => sqlx::query_as::<_, AuditRow>(SELECT_AUDIT_LOG),
        };
        Ok(query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading the audit log"))?
            .into_iter()
            .map(AuditRecord::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_lines_share_five_values_and_bind_one_reference_each() {
        assert_eq!(
            insert_audit(2),
            "INSERT INTO audit_log (reference, at, actor, action, request_id, detail) \
             VALUES ($6, $1, $2, $3, $4, $5), ($7, $1, $2, $3, $4, $5)"
        );
    }
}
