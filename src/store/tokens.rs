//! API tokens: stored as hashes, never the tokens; created and revoked with
//! their audit lines in the same transaction.

use super::audit::insert_audit;
use super::dialect::Dialect;
use super::rows::{stored_instant, AuditValues, TokenRow};
use super::sql::{as_str, join, joined_len};
use super::{Actor, ApiToken, SqlStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// Stores a token (`$1` name, `$2` role, `$3` hash, `$4` created_at,
/// `$5` revoked_at). A name already used is skipped, not an error, so the
/// caller can tell it apart from a failure by the count of rows written.
pub(crate) const INSERT_TOKEN: &str = "INSERT INTO api_tokens \
     (name, role, token_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (name) DO NOTHING";

/// Revokes the active token `$1` at `$2`; touches no row when there is none.
pub(crate) const REVOKE_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL";

/// The `SELECT` of [`TokenRow`]s (never the hash), to which a statement adds
/// its condition and order.
const SELECT_TOKEN_ROWS: &str = "SELECT name, role, created_at, revoked_at FROM api_tokens";

/// Every token, newest first (the row id breaks ties of one instant).
pub(crate) const SELECT_TOKENS: &str = {
    const PARTS: &[&str] = &[SELECT_TOKEN_ROWS, " ORDER BY created_at DESC, id DESC"];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// The active token with hash `$1`.
pub(crate) const SELECT_ACTIVE_TOKEN_BY_HASH: &str = {
    const PARTS: &[&str] = &[
        SELECT_TOKEN_ROWS,
        " WHERE token_hash = $1 AND revoked_at IS NULL",
    ];
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
    /// [`super::Store::create_token`].
    pub(super) async fn insert_token(
        &self,
        token: &ApiToken,
        hash: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let created_at = stored_instant(token.created_at);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting to create a token"))?;
        let written = sqlx::query(INSERT_TOKEN)
            .bind(token.name.as_str())
            .bind(token.role.as_str())
            .bind(hash)
            .bind(created_at)
            .bind(token.revoked_at.map(stored_instant))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("storing a token"))?;
        if DB::rows_affected(&written) == 0 {
            // Dropping `tx` rolls it back: nothing was written.
            return Err(StoreError::DuplicateToken(token.name.clone()));
        }
        // The name says which token; never the token or its hash.
        let detail = format!("name={} role={}", token.name, token.role);
        let audit = AuditValues::new(actor, "token.created", Some(&detail), created_at);
        Self::bind_audit_values(sqlx::query(&insert_audit(1)), &audit)
            .bind(None::<&str>)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("auditing a new token"))?;
        Self::seal_audit(&mut tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a new token"))
    }

    /// [`super::Store::tokens`].
    pub(super) async fn all_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        sqlx::query_as::<_, TokenRow>(SELECT_TOKENS)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("listing tokens"))?
            .into_iter()
            .map(ApiToken::try_from)
            .collect()
    }

    /// [`super::Store::revoke_token`].
    pub(super) async fn revoke_active_token(
        &self,
        name: &str,
        at: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let at = stored_instant(at);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting to revoke a token"))?;
        let revoked = sqlx::query(REVOKE_TOKEN)
            .bind(name)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("revoking a token"))?;
        if DB::rows_affected(&revoked) == 0 {
            // Unknown or already revoked: nothing to record.
            tx.rollback()
                .await
                .map_err(StoreError::db("ending a revocation that found no token"))?;
            return Ok(false);
        }
        let detail = format!("name={name}");
        let audit = AuditValues::new(actor, "token.revoked", Some(&detail), at);
        Self::bind_audit_values(sqlx::query(&insert_audit(1)), &audit)
            .bind(None::<&str>)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("auditing a revocation"))?;
        Self::seal_audit(&mut tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a revocation"))?;
        Ok(true)
    }

    /// [`super::Store::token_by_hash`].
    pub(super) async fn active_token(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        sqlx::query_as::<_, TokenRow>(SELECT_ACTIVE_TOKEN_BY_HASH)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("looking a token up"))?
            .map(ApiToken::try_from)
            .transpose()
    }
}
