//! Sending notifications: by email (lettre) and by webhook (reqwest), from
//! one [`Notice`] model. The outbox decides what to send and when; this
//! module only renders and delivers one notice to one destination, and says
//! whether a failure is worth retrying.

pub mod config;
pub mod digest_mail;
pub mod email;
mod lines;
pub mod notice;
pub mod smtp;
pub mod webhook;

pub use digest_mail::{Attachment, DigestMail};
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

/// What an outbox message carries: an escalation notice or a digest.
///
/// Untagged, so that messages queued before digests existed (a bare
/// notice) still read; a digest's fields are unlike a notice's, so the two
/// are never confused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// Packages that fell due, for one recipient.
    Notice(Notice),
    /// A weekly or daily digest, rendered when it was queued.
    Digest(DigestMail),
}

impl Payload {
    /// The notice, if this is one.
    pub fn notice(&self) -> Option<&Notice> {
        match self {
            Payload::Notice(notice) => Some(notice),
            Payload::Digest(_) => None,
        }
    }

    /// Its protective marking.
    pub fn marking(&self) -> &str {
        match self {
            Payload::Notice(notice) => &notice.marking,
            Payload::Digest(digest) => &digest.marking,
        }
    }

    /// What it is, for logs: never a reference or an address.
    pub fn describe(&self) -> String {
        match self {
            Payload::Notice(notice) => format!("notice of {} package(s)", notice.items.len()),
            Payload::Digest(digest) => format!("digest {}", digest.digest),
        }
    }
}

impl From<Notice> for Payload {
    fn from(notice: Notice) -> Self {
        Payload::Notice(notice)
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

/// Delivers a message to a destination. One implementation sends for real
/// ([`Notifier`]); tests may wrap it.
#[async_trait]
pub trait Deliver: Send + Sync + fmt::Debug {
    /// Sends `payload` to `destination` once. Ok means the server accepted it.
    async fn deliver(
        &self,
        destination: &Destination,
        payload: &Payload,
    ) -> Result<(), DeliveryError>;
}

/// Refuses a message that must not go out as it is: one without a
/// protective marking (it would leave unmarked), a notice without packages
/// (it would say nothing), a digest whose subject does not start with its
/// marking. Sending it again cannot help, so the failure is permanent.
fn check_sendable(payload: &Payload) -> Result<(), DeliveryError> {
    match payload {
        Payload::Notice(notice) => check_notice(notice),
        Payload::Digest(digest) => {
            check_marking(&digest.marking)?;
            if digest.subject.starts_with(&format!("[{}]", digest.marking)) {
                Ok(())
            } else {
                Err(DeliveryError::Permanent(
                    "the digest's subject does not start with its marking, so it is not sent"
                        .into(),
                ))
            }
        }
    }
}

/// [`check_sendable`] for a notice.
fn check_notice(notice: &Notice) -> Result<(), DeliveryError> {
    check_marking(&notice.marking)?;
    if notice.items.is_empty() {
        Err(DeliveryError::Permanent(
            "the notice lists no packages, so it is not sent".into(),
        ))
    } else {
        Ok(())
    }
}

fn check_marking(marking: &str) -> Result<(), DeliveryError> {
    if marking.trim().is_empty() {
        Err(DeliveryError::Permanent(
            "the message has no protective marking, so it is not sent".into(),
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
        payload: &Payload,
    ) -> Result<(), DeliveryError> {
        match (destination, payload) {
            (Destination::Email(address), _) => self.email.send(payload, address).await,
            (Destination::Webhook(name), Payload::Notice(notice)) => {
                self.webhooks.send(name, notice).await
            }
            (Destination::Webhook(name), Payload::Digest(_)) => Err(DeliveryError::Permanent(
                format!("digests go by email only, not to webhook {name}"),
            )),
        }
    }
}
