//! A message's life in the queue: the draft a scheduler pass queues
//! ([`OutboxDraft`]), the message a dispatcher claims ([`OutboxMessage`]),
//! how its delivery attempt ended ([`DeliveryOutcome`]), and what the queue
//! shows afterwards ([`DeliveryRecord`] per escalation, [`DeliveryStats`]
//! over all messages). The store persists these; it does not define them.

use super::{Destination, Notice, Payload};
use chrono::{DateTime, Utc};

/// A message to queue: one notice for one destination, and the escalations
/// it carries (for showing each escalation's delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxDraft {
    /// Where it goes.
    pub destination: Destination,
    /// What it says.
    pub notice: Notice,
    /// The ids of the escalations it carries.
    pub escalation_ids: Vec<i64>,
}

/// A queued message, claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Its id: the order it was queued in.
    pub id: i64,
    /// Where it goes.
    pub destination: Destination,
    /// What it says.
    pub payload: Payload,
    /// Sends tried before this claim that failed. A claim taken over after
    /// its dispatcher died adds nothing: only a failed send counts.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The server accepted it.
    Sent,
    /// Try again at `at`.
    Retry {
        /// When to try again.
        at: DateTime<Utc>,
        /// Why it failed (no secrets).
        error: String,
    },
    /// Give up: a permanent failure, or the last attempt failed.
    Dead {
        /// Why it was given up.
        error: String,
    },
    /// Not attempted (shutting down, or an older message to the same
    /// destination failed first): back to the queue, the attempt not counted.
    Release,
}

/// The outbox's figures, for `/metrics` and `/api/v1/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryStats {
    /// Waiting to be sent (including retries).
    pub pending: u64,
    /// Claimed by a dispatcher now.
    pub sending: u64,
    /// Accepted by the receiving server (SMTP or webhook); never sent again.
    pub sent: u64,
    /// Given up.
    pub dead: u64,
    /// Failed sends that were retried (over all messages; a dead message's
    /// last failure is not a retry, and a lease take-over is no failure).
    pub retries: u64,
    /// When the oldest message not yet delivered (and not dead) was queued.
    pub oldest_undelivered_at: Option<DateTime<Utc>>,
}

/// One delivery of an escalation: a message that carried it, and how far
/// it got.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    /// The outbox message.
    pub message_id: i64,
    /// Where it went.
    pub destination: Destination,
    /// `pending`, `sending`, `sent` or `dead`.
    pub status: String,
    /// Sends tried that failed.
    pub attempts: u32,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
}
