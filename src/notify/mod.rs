//! Sending notifications: by email (lettre) and by webhook (reqwest), from
//! one [`Notice`] model. The outbox decides what to send and when; this
//! module only renders and delivers one notice to one destination, and says
//! whether a failure is worth retrying.

pub mod config;
pub mod email;
mod lines;
pub mod notice;
pub mod webhook;

pub use email::EmailSender;
pub use notice::{Notice, NoticeItem, NoticeKind};
pub use webhook::WebhookSender;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a notice goes: one email address, or one configured webhook.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "channel", content = "to", rename_all = "snake_case")]
pub enum Destination {
    /// An email address.
    Email(String),
    /// The `name` of a `[[webhook]]` entry.
    Webhook(String),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Email(address) => write!(f, "email {address}"),
            Destination::Webhook(name) => write!(f, "webhook {name}"),
        }
    }
}

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

/// Delivers a notice to a destination. One implementation sends for real
/// ([`Notifier`]); tests may wrap it.
#[async_trait]
pub trait Deliver: Send + Sync + fmt::Debug {
    /// Sends `notice` to `destination` once. Ok means the server accepted it.
    async fn deliver(
        &self,
        destination: &Destination,
        notice: &Notice,
    ) -> Result<(), DeliveryError>;
}

/// Refuses a notice that must not go out as it is: one without a protective
/// marking (it would leave unmarked) or without packages (it would say
/// nothing). Sending it again cannot help, so the failure is permanent.
fn check_sendable(notice: &Notice) -> Result<(), DeliveryError> {
    if notice.marking.trim().is_empty() {
        Err(DeliveryError::Permanent(
            "the notice has no protective marking, so it is not sent".into(),
        ))
    } else if notice.items.is_empty() {
        Err(DeliveryError::Permanent(
            "the notice lists no packages, so it is not sent".into(),
        ))
    } else {
        Ok(())
    }
}

/// Delivers notices for real: email destinations by email, webhook
/// destinations through the webhook of that name.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// Sends email.
    pub email: EmailSender,
    /// Posts to the configured webhooks.
    pub webhooks: WebhookSender,
}

impl Notifier {
    /// A notifier for `[mail]` and every `[[webhook]]`, with webhook
    /// secrets read through `env`. Call it inside a Tokio runtime (see
    /// [`EmailSender::new`]).
    pub fn from_config(
        mail: &config::MailConfig,
        webhooks: &[config::WebhookConfig],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            email: EmailSender::new(mail)?,
            webhooks: WebhookSender::from_config(webhooks, env, webhook::DEFAULT_TIMEOUT)?,
        })
    }
}

#[async_trait]
impl Deliver for Notifier {
    async fn deliver(
        &self,
        destination: &Destination,
        notice: &Notice,
    ) -> Result<(), DeliveryError> {
        match destination {
            Destination::Email(address) => self.email.send(notice, address).await,
            Destination::Webhook(name) => self.webhooks.send(name, notice).await,
        }
    }
}
