//! A digest ready to send by email: the report rendered when the digest
//! was queued (so a retry next hour sends what leaders would have read at
//! the scheduled time), with the marking the subject starts with.

use serde::{Deserialize, Serialize};

/// A rendered digest: subject, a plain-text part that stands on its own, an
/// HTML part, and optionally a file attached (the CSV of breaches and open
/// packages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestMail {
    /// The schedule that made it (`weekly`, `daily-sergeants`), or
    /// `on-demand` for `digest send`.
    pub digest: String,
    /// The protective marking; the subject starts with it in brackets.
    pub marking: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// A file attached to the message.
    pub attachment: Option<Attachment>,
}

/// A text file attached to a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// Its file name, such as `ocset-weekly-2024-W05.csv`.
    pub filename: String,
    /// Its media type, such as `text/csv; charset=utf-8`.
    pub content_type: String,
    /// Its content.
    pub body: String,
}
