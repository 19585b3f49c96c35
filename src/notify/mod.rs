//! The channels that deliver outbox messages: email (lettre, over a pooled
//! SMTP connection or into `.eml` files) and webhooks (reqwest). Each is a
//! [`Channel`]; the [`Notifier`] hands a message to the channel its
//! [`Destination`] names. The outbox (`src/outbox`) decides what to send and
//! when; a channel only renders and delivers one message to one address,
//! and says whether a failure is worth retrying.
//!
//! A new channel is one file here implementing [`Channel`], its section in
//! `config.rs` (this module's) with a field for it in the configuration,
//! one line in [`Notifier::from_config`], its [`Destination`] variant
//! (`src/outbox/payload.rs`), and who it reaches, resolved once at load
//! (`src/config/audience.rs`). The scheduler, the dispatcher and the store
//! do not change: routing, claiming and storing never name a channel.

pub mod config;
pub mod email;
mod lines;
pub(crate) mod smtp;
pub(crate) mod webhook;

pub use email::EmailSender;
pub use webhook::WebhookSender;

use crate::outbox::{Deliver, DeliveryError, Destination, Notice, Payload};
use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;

/// One way of delivering messages: email, webhooks.
#[async_trait]
pub trait Channel: Send + Sync + fmt::Debug {
    /// The destinations it delivers: those whose [`Destination::channel`] is
    /// this name (`email`, `webhook`).
    fn channel(&self) -> &'static str;

    /// Sends `payload` once to `to`, an address on this channel (an email
    /// address, a webhook's name). Ok means the server accepted it; a
    /// message this channel cannot carry is a permanent failure.
    async fn deliver(&self, to: &str, payload: &Payload) -> Result<(), DeliveryError>;
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

/// Delivers messages for real: each through the channel its destination
/// names.
#[derive(Debug, Clone)]
pub struct Notifier {
    channels: Vec<Arc<dyn Channel>>,
}

impl Notifier {
    /// A notifier over `channels`. Should two share a name, the first
    /// delivers.
    pub fn new(channels: Vec<Arc<dyn Channel>>) -> Self {
        Self { channels }
    }

    /// Every channel the configuration describes: email as `[mail]` says,
    /// and every `[[webhook]]`, with webhook secrets read through `env`.
    /// Call it inside a Tokio runtime (see [`EmailSender::new`]). This is
    /// the one list of channels.
    pub fn from_config(
        mail: &config::MailConfig,
        webhooks: &[config::WebhookConfig],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        Ok(Self::new(vec![
            Arc::new(EmailSender::new(mail)?),
            Arc::new(WebhookSender::from_config(
                webhooks,
                env,
                webhook::DEFAULT_TIMEOUT,
            )?),
        ]))
    }
}

#[async_trait]
impl Deliver for Notifier {
    async fn deliver(
        &self,
        destination: &Destination,
        payload: &Payload,
    ) -> Result<(), DeliveryError> {
        let name = destination.channel();
        match self.channels.iter().find(|c| c.channel() == name) {
            Some(channel) => channel.deliver(destination.to(), payload).await,
            None => Err(DeliveryError::Permanent(format!(
                "no {name} channel is configured"
            ))),
        }
    }
}
