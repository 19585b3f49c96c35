//! Digests: each queued once per recipient and scheduled run (its
//! occurrence key), with its outbox message and its audit line, in one
//! transaction.

use super::audit::insert_audit;
use super::dialect::Dialect;
use super::outbox::INSERT_OUTBOX;
use super::rows::{json_text, stored_instant, AuditValues};
use super::{Actor, DigestDraft, DigestRun, SqlStore, StoreError};
use crate::outbox::{Destination, Payload};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// Records digest (`$1` schedule, `$2` period, `$3` occurrence or NULL,
/// `$4` recipient, `$5` requested by, `$6` queued at) unless its scheduled
/// run was recorded for the recipient before; returns its id, or no row.
pub(crate) const INSERT_DIGEST: &str = "INSERT INTO digests \
     (schedule, period, occurrence, recipient, requested_by, queued_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (occurrence, recipient) DO NOTHING RETURNING id";

/// Sets digest `$1`'s message to `$2`.
pub(crate) const SET_DIGEST_MESSAGE: &str = "UPDATE digests SET outbox_id = $2 WHERE id = $1";

/// The recipients scheduled run `$1` was queued for.
pub(crate) const SELECT_DIGEST_RECIPIENTS: &str =
    "SELECT recipient FROM digests WHERE occurrence = $1 ORDER BY recipient";

/// Per schedule, when a scheduled run was last queued (for any recipient)
/// and when a message of one was last accepted by the mail server; on-demand
/// sends (no occurrence) are not counted. Reads every scheduled digest row:
/// a few per recipient per day or week.
pub(crate) const DIGEST_LAST_RUNS: &str = "SELECT d.schedule AS schedule, \
     MAX(d.queued_at) AS last_queued_at, MAX(o.sent_at) AS last_sent_at \
     FROM digests d LEFT JOIN outbox o ON o.id = d.outbox_id AND o.status = 'sent' \
     WHERE d.occurrence IS NOT NULL GROUP BY d.schedule ORDER BY d.schedule";

/// One row of [`DIGEST_LAST_RUNS`].
#[derive(Debug, Clone, sqlx::FromRow)]
struct DigestRunRow {
    schedule: String,
    last_queued_at: DateTime<Utc>,
    last_sent_at: Option<DateTime<Utc>>,
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
    /// [`super::Store::digest_recipients`].
    pub(super) async fn queued_digest_recipients(
        &self,
        occurrence: &str,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(SELECT_DIGEST_RECIPIENTS)
            .bind(occurrence)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading which digests were queued"))
    }

    /// [`super::Store::digest_runs`].
    pub(super) async fn last_digest_runs(&self) -> Result<Vec<DigestRun>, StoreError> {
        let rows: Vec<DigestRunRow> = sqlx::query_as(DIGEST_LAST_RUNS)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading when digests last went"))?;
        Ok(rows
            .into_iter()
            .map(|row| DigestRun {
                schedule: row.schedule,
                last_queued_at: row.last_queued_at,
                last_sent_at: row.last_sent_at,
            })
            .collect())
    }

    /// [`super::Store::queue_digests`].
    pub(super) async fn queue_digest_messages(
        &self,
        drafts: &[DigestDraft],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = stored_instant(now);
        // Encoded before the transaction opens: a digest's HTML can run to
        // megabytes per recipient, and the transaction holds the write lock
        // (SQLite) or the outbox append lock (PostgreSQL) the scheduler's
        // passes wait for.
        let rows: Vec<(String, String)> = drafts
            .iter()
            .map(|draft| {
                (
                    json_text(&Destination::Email(draft.recipient.clone())),
                    json_text(&Payload::Digest(draft.mail.clone())),
                )
            })
            .collect();
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting to queue digests"))?;
        // Messages commit in the order of their ids (see the scheduler's
        // pass).
        Self::serialise_outbox_appends(&mut tx).await?;
        let mut queued = 0;
        for (draft, (destination, payload)) in drafts.iter().zip(rows) {
            let recorded: Option<i64> = sqlx::query_scalar(INSERT_DIGEST)
                .bind(&draft.schedule)
                .bind(&draft.period)
                .bind(draft.occurrence.as_deref())
                .bind(&draft.recipient)
                .bind(&actor.name)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::db("recording a digest"))?;
            // No row: this run was queued for them before.
            let Some(digest_id) = recorded else { continue };
            let message_id: i64 = sqlx::query_scalar(INSERT_OUTBOX)
                .bind(destination)
                .bind(payload)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("queueing a digest"))?;
            sqlx::query(SET_DIGEST_MESSAGE)
                .bind(digest_id)
                .bind(message_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("linking a digest to its message"))?;
            // The digest lists packages: who was sent it is audited.
            let detail = format!("{} {} to {}", draft.schedule, draft.period, draft.recipient);
            let audit = AuditValues::new(actor, "digest.queued", Some(&detail), now);
            Self::bind_audit_values(sqlx::query(&insert_audit(1)), &audit)
                .bind(None::<&str>)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("appending to the audit log"))?;
            queued += 1;
        }
        // Only when lines were appended: a run that queued nothing does
        // not take the audit chain's head.
        if queued > 0 {
            Self::seal_audit(&mut tx).await?;
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing queued digests"))?;
        Ok(queued)
    }
}
