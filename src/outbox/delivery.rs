//! The one thing the dispatcher needs from the channels: deliver a message
//! once, and say whether a failure is worth retrying. `src/notify`
//! implements it ([`crate::notify::Notifier`]); tests may wrap it.

use super::{Destination, Payload};
use async_trait::async_trait;
use std::fmt;

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying: the server was unreachable, busy, or answered 4xx
    /// (SMTP) / 5xx or 429 (HTTP).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Not worth retrying: the address was rejected (SMTP 5xx), the webhook
    /// answered 4xx, or the destination is not configured.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Delivers a message to a destination.
#[async_trait]
pub trait Deliver: Send + Sync + fmt::Debug {
    /// Sends `payload` to `destination` once. Ok means the server accepted it.
    async fn deliver(
        &self,
        destination: &Destination,
        payload: &Payload,
    ) -> Result<(), DeliveryError>;
}
