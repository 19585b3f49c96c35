//! What a queued message is: where it goes ([`Destination`]) and what it
//! carries ([`Payload`]). Both are stored as JSON in the `outbox` table, so
//! their serialized forms are part of the database format.

use super::{DigestMail, Notice};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a message goes: one address on one channel. Stored as
/// `{"channel": "email", "to": "…"}`; a channel in `src/notify` delivers
/// the destinations whose [`channel`](Self::channel) is its name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(tag = "channel", content = "to", rename_all = "snake_case")]
pub enum Destination {
    /// An email address.
    Email(String),
    /// The `name` of a `[[webhook]]` entry.
    Webhook(String),
}

impl Destination {
    /// The channel's name, as stored: `email`, `webhook`.
    pub(crate) fn channel(&self) -> &'static str {
        match self {
            Destination::Email(_) => "email",
            Destination::Webhook(_) => "webhook",
        }
    }

    /// The address on that channel: an email address, a webhook's name.
    pub(crate) fn to(&self) -> &str {
        match self {
            Destination::Email(to) | Destination::Webhook(to) => to,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.channel(), self.to())
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
    pub(crate) fn describe(&self) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_keep_their_stored_form_and_their_log_form() {
        let email = Destination::Email("sgt@force.example".into());
        let hook = Destination::Webhook("ocset-teams".into());
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            r#"{"channel":"email","to":"sgt@force.example"}"#
        );
        assert_eq!(
            serde_json::to_string(&hook).unwrap(),
            r#"{"channel":"webhook","to":"ocset-teams"}"#
        );
        assert_eq!(email.to_string(), "email sgt@force.example");
        assert_eq!(hook.to_string(), "webhook ocset-teams");
        assert!(email < hook, "email destinations sort first");
    }
}
