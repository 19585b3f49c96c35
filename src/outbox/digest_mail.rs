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

/// A file attached to a digest: a CSV as text, or a long one
/// gzip-compressed (`ocset-weekly-2024-W05.csv.gz`), held in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// Its file name, such as `ocset-weekly-2024-W05.csv`.
    pub filename: String,
    /// Its media type, such as `text/csv; charset=utf-8`.
    pub content_type: String,
    /// Its content: the text itself, or, when `base64` is set, the file's
    /// bytes in base64 (one line, no padding left out).
    pub body: String,
    /// True when `body` holds a binary file in base64 (a gzip-compressed
    /// CSV): the email carries it as it is, encoded once when the digest
    /// was queued. Absent, as in rows queued before it existed, is text.
    #[serde(default, skip_serializing_if = "is_false")]
    pub base64: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Attachment {
    /// A text file (a CSV of normal size).
    pub fn text(filename: String, content_type: &str, body: String) -> Self {
        Self {
            filename,
            content_type: content_type.into(),
            body,
            base64: false,
        }
    }

    /// A binary file, such as a gzip-compressed CSV, held in base64.
    pub fn binary(filename: String, content_type: &str, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        Self {
            filename,
            content_type: content_type.into(),
            body: base64::engine::general_purpose::STANDARD.encode(bytes),
            base64: true,
        }
    }

    /// The file's bytes: the text's, or the base64 body decoded (a body
    /// that is not base64, which only a hand-edited row could hold, gives
    /// its text's bytes).
    pub fn bytes(&self) -> Vec<u8> {
        use base64::Engine as _;
        if self.base64 {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&self.body) {
                return bytes;
            }
        }
        self.body.as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_queued_before_binary_attachments_reads_as_text() {
        let old = r#"{"filename":"a.csv","content_type":"text/csv","body":"x,y\n"}"#;
        let file: Attachment = serde_json::from_str(old).unwrap();
        assert_eq!(
            file,
            Attachment::text("a.csv".into(), "text/csv", "x,y\n".into())
        );
        assert_eq!(
            serde_json::to_string(&file).unwrap(),
            old,
            "written as before"
        );
    }

    #[test]
    fn a_binary_file_is_held_in_base64_and_read_back_whole() {
        let bytes = [0x1f, 0x8b, 0, 255, 10, 13];
        let file = Attachment::binary("a.csv.gz".into(), "application/gzip", &bytes);
        assert_eq!(file.body, "H4sA/woN");
        let json = serde_json::to_string(&file).unwrap();
        assert!(json.contains(r#""base64":true"#), "{json}");
        let back: Attachment = serde_json::from_str(&json).unwrap();
        assert_eq!(back.bytes(), bytes);
    }
}
