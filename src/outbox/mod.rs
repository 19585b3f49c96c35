//! The outbox: every message the service sends (escalation notices and
//! digests) is queued here first and delivered later by the
//! [`Dispatcher`], through whichever channel in `src/notify` handles its
//! [`Destination`].
//!
//! What lives here: the message ([`Destination`], [`Payload`]: a
//! [`Notice`] or a [`DigestMail`]), the merge rule ([`Notice::absorb`], in
//! `merge.rs`), a message's life in the queue ([`OutboxDraft`],
//! [`OutboxMessage`], [`DeliveryOutcome`], [`DeliveryRecord`],
//! [`DeliveryStats`], in `message.rs`), the lease and retry policies
//! (`policy.rs`), the two ports (`queue.rs`: [`Queue`], which storage
//! implements; `delivery.rs`: [`Deliver`], which the channels implement)
//! and the dispatcher loop. The queueing and claiming SQL lives in the
//! store (`src/store/outbox.rs`, and `escalation_pass` and `queue_digests`,
//! which queue inside their own transactions), over these types; the store
//! depends on this module, and this module on no store and no channel.
//!
//! Invariants:
//! - **Transactional with the pass.** A scheduler pass records its
//!   escalations and queues their messages in one transaction: a message
//!   exists exactly when its escalation was recorded, and a crash loses
//!   neither nor sends a message twice for one escalation.
//! - **Order per destination.** A claim takes only the oldest queued
//!   message of each destination, so each destination's messages go out in
//!   the order they were queued; different destinations go out
//!   concurrently.
//! - **Merging.** A pass's notice for a destination joins the message still
//!   waiting untried at the end of that destination's queue (one message
//!   per burst, not one per pass); a message once tried is never changed.
//! - **Leases.** A claim holds a message for [`Lease::length`]; a message
//!   is marked sent only after the server accepted it, so a dispatcher that
//!   dies between the two leaves it to be taken over when the lease runs
//!   out (at least once at the wire; the window is one message wide). The
//!   dispatcher wakes when the earliest lease runs out.
//! - **Retries and dead messages.** A transient failure is retried with
//!   exponential backoff ([`RetryPolicy`]); a permanent one, or the last
//!   attempt, makes the message dead: kept, counted in `/metrics` and
//!   `/api/v1/status`, never retried.

mod delivery;
pub(crate) mod digest_mail;
pub(crate) mod dispatcher;
mod merge;
mod message;
pub(crate) mod notice;
mod payload;
pub(crate) mod policy;
mod queue;

pub use delivery::{Deliver, DeliveryError};
pub use digest_mail::{Attachment, DigestMail};
pub use dispatcher::{Dispatcher, RoundSummary, CONCURRENT_SENDS};
pub use message::{DeliveryOutcome, DeliveryRecord, DeliveryStats, OutboxDraft, OutboxMessage};
pub use notice::{Notice, NoticeItem, NoticeKind};
pub use payload::{Destination, Payload};
pub use policy::{DeliveryConfig, Lease, RetryPolicy};
pub use queue::{Queue, QueueError};
