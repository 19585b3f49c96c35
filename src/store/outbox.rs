//! The outbox: messages queued (by the scheduler's pass and by digests),
//! claimed by dispatchers under a lease, strictly in order per destination,
//! and finished as sent, retried, dead or released. Rows change state but
//! are never deleted; what is read often is indexed only over the rows
//! still to be sent, so the history costs the claims nothing.

use super::dialect::Dialect;
use super::rows::{corrupt, json_text, parse_json, stored_instant, stored_u32};
use super::sql::{as_str, join, joined_len, values_groups, LOOKUP_CHUNK};
use super::{SqlStore, StoreError};
use crate::outbox::{DeliveryOutcome, DeliveryStats, Notice, OutboxDraft, OutboxMessage, Payload};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// True of message `o` when no older message to its destination is pending
/// or being sent: it is at the head of its destination's queue. States
/// `outbox_queue`'s condition word for word, so both backends search that
/// partial index and never read a sent or dead row.
pub(crate) const HEAD_OF_ITS_QUEUE: &str = "NOT EXISTS (SELECT 1 FROM outbox older \
     WHERE older.destination = o.destination AND older.id < o.id \
       AND older.status IN ('pending', 'sending'))";

/// The messages a dispatcher may claim at `$1` (`$2` is `$1` less the
/// lease), oldest first, at most `$4` (`$3`, the worker, is bound for the
/// update that follows): queued ones whose attempt is due, and ones held
/// longer than the lease (their dispatcher died). Strictly first in, first
/// out per destination: none while an older message to the same destination
/// is pending or being sent, so at most one per destination. A sent or dead
/// older message does not hold the queue up.
///
/// Each arm of the `OR` names the status of one partial index
/// (`outbox_pending_run_at`, `outbox_sending_locked_at`; SQLite uses a
/// partial index only when the query states its condition), and the queue
/// check is [`HEAD_OF_ITS_QUEUE`]: no sent or dead row is read.
pub(crate) const SELECT_CLAIMABLE_OUTBOX: &str = {
    const PARTS: &[&str] = &[
        "SELECT o.id FROM outbox o \
         WHERE ((o.status = 'pending' AND o.run_at <= $1) \
                OR (o.status = 'sending' AND o.locked_at <= $2)) AND ",
        HEAD_OF_ITS_QUEUE,
        " ORDER BY o.id LIMIT $4",
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// What a claim sets (`$1` now, `$3` the worker); the backends'
/// [`Dialect::CLAIM_OUTBOX`] wraps it round [`SELECT_CLAIMABLE_OUTBOX`].
/// It leaves `attempts` alone: a claim is not a failed send, and a claim
/// taken over after its dispatcher died (a crash loop) must not bring the
/// message nearer to being given up. The failures are counted when they
/// are recorded ([`FINISH_RETRY`], [`FINISH_DEAD`]).
pub(crate) const CLAIM_OUTBOX_SET: &str = "status = 'sending', locked_by = $3, locked_at = $1";

/// What a claim returns: an [`OutboxRow`]. Qualified, since on PostgreSQL
/// the claimed ids' CTE has an `id` too.
pub(crate) const CLAIM_OUTBOX_RETURNING: &str =
    "outbox.id, outbox.destination, outbox.notice, outbox.attempts, outbox.created_at";

/// Queues a message (`$1` destination, `$2` notice, both JSON) at `$3`,
/// due at once; returns its id.
pub(crate) const INSERT_OUTBOX: &str = "INSERT INTO outbox \
     (destination, notice, status, attempts, run_at, created_at) \
     VALUES ($1, $2, 'pending', 0, $3, $3) RETURNING id";

/// The newest message to destination `$1` still waiting or being sent:
/// the tail of its queue, which a pass's message to the same destination
/// may join ([`QueueTailRow`]). Reads one entry of `outbox_queue`, whose
/// condition it states. A backend's [`Dialect::QUEUE_TAIL`] may add a lock.
pub(crate) const SELECT_QUEUE_TAIL: &str = "SELECT id, status, attempts, notice FROM outbox \
     WHERE destination = $1 AND status IN ('pending', 'sending') \
     ORDER BY id DESC LIMIT 1";

/// Replaces the notice of message `$1` with `$2` (JSON).
pub(crate) const UPDATE_OUTBOX_NOTICE: &str = "UPDATE outbox SET notice = $2 WHERE id = $1";

/// Links message `$1` to `rows` escalations (`$2`, `$3`, ...).
pub(crate) fn insert_outbox_links(rows: usize) -> String {
    format!(
        "INSERT INTO outbox_escalations (escalation_id, outbox_id) VALUES {}",
        values_groups(rows, 1, &[1])
    )
}

/// The earliest claim on a message still being sent (through the partial
/// `outbox_sending_locked_at` index).
pub(crate) const OLDEST_CLAIM: &str = "SELECT MIN(locked_at) FROM outbox WHERE status = 'sending'";

/// The earliest `next_due_at`, and the earliest attempt of a queued message
/// at the head of its destination's queue. A message behind an older one
/// (being sent, or waiting for its retry) cannot be claimed at its own
/// `run_at`; counting it would wake the dispatcher over and over for
/// nothing. Reads only due packages' index entries and pending messages
/// (through `outbox_pending_run_at`, or the status index), never a sent one.
pub(crate) const NEXT_WAKE: &str = {
    const PARTS: &[&str] = &[
        "SELECT (SELECT MIN(next_due_at) FROM packages WHERE next_due_at IS NOT NULL), \
         (SELECT o.run_at FROM outbox o WHERE o.status = 'pending' AND ",
        HEAD_OF_ITS_QUEUE,
        " ORDER BY o.run_at LIMIT 1)",
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// How a delivery ended, for message `$1` held by worker `$2`: each touches
/// no row unless the message is still being sent by that worker (its lease
/// may have run out and another taken it). Every outcome lets go of the
/// message.
pub(crate) const FINISH_SENT: &str = "UPDATE outbox SET status = 'sent', sent_at = $3, \
     locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Back to the queue, to be tried at `$3`; `$4` says why it failed. The
/// failed attempt is counted.
pub(crate) const FINISH_RETRY: &str = "UPDATE outbox SET status = 'pending', run_at = $3, \
     last_error = $4, attempts = attempts + 1, locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Given up; `$3` says why. The failed attempt is counted.
pub(crate) const FINISH_DEAD: &str = "UPDATE outbox SET status = 'dead', last_error = $3, \
     attempts = attempts + 1, locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Not attempted: back to the queue as it was (nothing was counted).
pub(crate) const FINISH_RELEASE: &str = "UPDATE outbox SET status = 'pending', \
     locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Messages and failed attempts that were retried, per status
/// ([`DeliveryCountRow`]): `attempts` counts failed sends, each retried but
/// a dead message's last. Unlike the claims it reads an entry
/// for every message ever queued, from the narrow `outbox_status_attempts`
/// where the planner takes it, not the wide rows: the figures cost grows
/// with the history. The CAST because PostgreSQL sums BIGINTs as NUMERIC.
pub(crate) const DELIVERY_COUNTS: &str = "SELECT status, COUNT(*) AS messages, \
     CAST(COALESCE(SUM(CASE WHEN status <> 'dead' THEN attempts \
     WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) AS BIGINT) \
     AS retries FROM outbox GROUP BY status";

/// When the oldest message not delivered and not dead was queued: reads
/// only those (through `outbox_queue`, whose condition it states, or the
/// status index).
pub(crate) const OLDEST_UNDELIVERED: &str =
    "SELECT MIN(created_at) FROM outbox WHERE status IN ('pending', 'sending')";

/// The tail of a destination's queue ([`SELECT_QUEUE_TAIL`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct QueueTailRow {
    id: i64,
    status: String,
    attempts: i64,
    notice: String,
}

impl QueueTailRow {
    /// The message's id and its notice, when a newer notice may join it:
    /// it waits untried (a message being sent, or waiting to be tried
    /// again, is left as it is) and carries a notice, not a digest.
    pub(crate) fn joinable(self) -> Result<Option<(i64, Notice)>, StoreError> {
        if self.status != "pending" || self.attempts != 0 {
            return Ok(None);
        }
        let at = format!("outbox message {}", self.id);
        Ok(match parse_json(&at, "notice", &self.notice)? {
            Payload::Notice(notice) => Some((self.id, notice)),
            Payload::Digest(_) => None,
        })
    }
}

/// A claimed message, as the claim returns it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OutboxRow {
    /// Its id: claims are returned in this order.
    pub(crate) id: i64,
    destination: String,
    notice: String,
    attempts: i64,
    created_at: DateTime<Utc>,
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = StoreError;

    fn try_from(row: OutboxRow) -> Result<Self, StoreError> {
        let at = format!("outbox message {}", row.id);
        Ok(OutboxMessage {
            id: row.id,
            destination: parse_json(&at, "destination", &row.destination)?,
            payload: parse_json(&at, "notice", &row.notice)?,
            attempts: stored_u32(&at, "attempts", row.attempts)?,
            created_at: row.created_at,
        })
    }
}

/// One group of [`DELIVERY_COUNTS`]: a status, its messages,
/// and their failed attempts that were retried.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DeliveryCountRow {
    status: String,
    messages: i64,
    retries: i64,
}

impl DeliveryCountRow {
    /// Adds this group to `stats`.
    pub(crate) fn add_to(&self, stats: &mut DeliveryStats) -> Result<(), StoreError> {
        // COUNT and a sum of positive terms are never negative.
        let messages = self.messages.unsigned_abs();
        match self.status.as_str() {
            "pending" => stats.pending += messages,
            "sending" => stats.sending += messages,
            "sent" => stats.sent += messages,
            "dead" => stats.dead += messages,
            other => {
                return Err(corrupt(
                    "outbox",
                    "status",
                    format!("{other:?} is not a delivery status"),
                ))
            }
        }
        stats.retries += self.retries.unsigned_abs();
        Ok(())
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
    /// Runs the dialect's [`Dialect::SERIALISE_OUTBOX_APPENDS`] in `tx`,
    /// before it queues messages, so that messages are committed in the
    /// order of their ids.
    pub(super) async fn serialise_outbox_appends(
        tx: &mut DB::Connection,
    ) -> Result<(), StoreError> {
        for statement in DB::SERIALISE_OUTBOX_APPENDS {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("waiting to append to the outbox"))?;
        }
        Ok(())
    }

    /// Queues `message` in `tx` (a scheduler pass's), and links it to its
    /// escalations. True when it joined the message already waiting at the
    /// tail of its destination's queue instead of being queued on its own.
    pub(super) async fn queue_notice(
        tx: &mut DB::Connection,
        message: OutboxDraft,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // A message to a destination whose queue ends in one still waiting
        // untried joins it: a recipient hears of a burst in one message,
        // not one a pass.
        let tail: Option<QueueTailRow> = sqlx::query_as(DB::QUEUE_TAIL)
            .bind(json_text(&message.destination))
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("reading the end of a destination's queue"))?;
        let joined = match tail.map(QueueTailRow::joinable).transpose()?.flatten() {
            Some((id, mut waiting)) => match waiting.absorb(message.notice.clone()) {
                Ok(()) => Some((id, waiting)),
                Err(_) => None,
            },
            None => None,
        };
        let merged = joined.is_some();
        let id: i64 = match joined {
            Some((id, notice)) => {
                sqlx::query(UPDATE_OUTBOX_NOTICE)
                    .bind(id)
                    .bind(json_text(&Payload::Notice(notice)))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("adding to a waiting message"))?;
                id
            }
            None => sqlx::query_scalar(INSERT_OUTBOX)
                .bind(json_text(&message.destination))
                .bind(json_text(&Payload::Notice(message.notice)))
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("queueing a message"))?,
        };
        for chunk in message.escalation_ids.chunks(LOOKUP_CHUNK) {
            let statement = insert_outbox_links(chunk.len());
            let mut query = sqlx::query(&statement).bind(id);
            for escalation_id in chunk {
                query = query.bind(*escalation_id);
            }
            // An id that is not an escalation fails the foreign key, and
            // with it the whole pass.
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("linking a message to its escalations"))?;
        }
        Ok(merged)
    }

    /// [`Queue::next_wake`](crate::outbox::Queue::next_wake).
    pub(super) async fn earliest_work(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        type Instant = Option<DateTime<Utc>>;
        let (package_due, message_due): (Instant, Instant) = sqlx::query_as(NEXT_WAKE)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("finding the next instant there is work"))?;
        Ok(match (package_due, message_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// [`Queue::oldest_claim`](crate::outbox::Queue::oldest_claim).
    pub(super) async fn oldest_claim_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        sqlx::query_scalar(OLDEST_CLAIM)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("finding the oldest claim on a message"))
    }

    /// [`Queue::claim_outbox`](crate::outbox::Queue::claim_outbox).
    pub(super) async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        worker: &str,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let held_since = now
            .checked_sub_signed(lease)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting to claim messages"))?;
        let mut claimed: Vec<OutboxRow> = sqlx::query_as(DB::CLAIM_OUTBOX)
            .bind(stored_instant(now))
            .bind(stored_instant(held_since))
            .bind(worker)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::db("claiming messages"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a claim of messages"))?;
        // RETURNING promises no order on either backend.
        claimed.sort_by_key(|row| row.id);
        let mut messages = Vec::with_capacity(claimed.len());
        let mut bad = Vec::new();
        for row in claimed {
            let id = row.id;
            match OutboxMessage::try_from(row) {
                Ok(message) => messages.push(message),
                // A message that cannot be read blocks nothing behind it.
                Err(StoreError::Corrupt(why)) => bad.push((id, why)),
                Err(e) => return Err(e),
            }
        }
        if !bad.is_empty() {
            self.quarantine_messages(&bad, now).await?;
        }
        Ok(messages)
    }

    /// [`Queue::finish_delivery`](crate::outbox::Queue::finish_delivery).
    pub(super) async fn record_delivery(
        &self,
        id: i64,
        worker: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let query = match outcome {
            DeliveryOutcome::Sent => sqlx::query(FINISH_SENT)
                .bind(id)
                .bind(worker)
                .bind(stored_instant(now)),
            DeliveryOutcome::Retry { at, error } => sqlx::query(FINISH_RETRY)
                .bind(id)
                .bind(worker)
                .bind(stored_instant(*at))
                .bind(error.as_str()),
            DeliveryOutcome::Dead { error } => sqlx::query(FINISH_DEAD)
                .bind(id)
                .bind(worker)
                .bind(error.as_str()),
            DeliveryOutcome::Release => sqlx::query(FINISH_RELEASE).bind(id).bind(worker),
        };
        // One statement: atomic on its own, and it reads nothing before
        // writing, so SQLite needs no IMMEDIATE transaction.
        let finished = query
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("recording how a delivery ended"))?;
        Ok(DB::rows_affected(&finished) == 1)
    }
}
