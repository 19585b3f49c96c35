//! The port the dispatcher works the queue through: claim messages, record
//! how each delivery ended, and say when to look again. The store
//! implements it (`Store: Queue`), so the outbox depends on no store: a
//! dispatcher is given an `Arc<dyn Queue>`, and an `Arc<dyn Store>`
//! coerces to one.

use super::{DeliveryOutcome, OutboxMessage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt;

/// The queue could not be read or written. It shows (and logs) as the
/// failure behind it, which says what was being done (the store's
/// "claiming messages: ..."), and keeps that failure as its source, with
/// the kind of failure in one word (`disk`, `unreachable`...) by which the
/// dispatcher limits its log.
#[derive(Debug)]
pub struct QueueError {
    kind: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl QueueError {
    /// Wraps the failure of the storage behind the queue, of `kind`.
    pub(crate) fn new(
        kind: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: source.into(),
        }
    }

    /// The kind of failure, in one word.
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }
}

/// Shown as the failure behind it, whose own causes follow it (as
/// `#[error(transparent)]` would).
impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// Where queued messages wait: what the dispatcher needs of storage.
#[async_trait]
pub trait Queue: Send + Sync + fmt::Debug {
    /// Claims up to `limit` messages for `worker`: queued ones whose attempt
    /// is due, and ones another worker claimed more than `lease` ago (it
    /// died mid-delivery). Strictly first in, first out per destination: a
    /// message is not claimed while an older one to the same destination is
    /// queued or being sent. Counts no attempt: only a send that was tried
    /// and failed is counted, when its outcome is recorded. Oldest first.
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        worker: &str,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, QueueError>;

    /// Records how a delivery ended; a retry or a death counts the failed
    /// attempt. False (nothing written) when `worker` no longer holds the
    /// message (its lease ran out and another took it).
    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError>;

    /// The earliest instant there is work: a queued message's next attempt,
    /// or a package's next level (which may queue one).
    async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, QueueError>;

    /// When the oldest claim still held was made: the earliest claim on a
    /// message being sent. Its lease runs out that long after, and a
    /// dispatcher wakes then to take the message over (its claimant died).
    async fn oldest_claim(&self) -> Result<Option<DateTime<Utc>>, QueueError>;
}
