//! Why a deadline was missed: the reason a supervisor gives, from the
//! force's configured list, when acknowledging a breach. A reason is a
//! stable snake_case code (stored in the ledger, counted in the weekly
//! report) with a label people read; the list is configuration
//! (`[[breach_reasons]]`), so a reason given to the service has been checked
//! against it once, at the boundary, and is a [`BreachReason`] after that.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The reason code that needs a note saying what the reason is; every
/// acknowledgement carries a note, so `other` is always explained.
pub const OTHER: &str = "other";

/// The longest code accepted, in characters.
const MAX_CODE_CHARS: usize = 40;

/// A breach reason's code: lower-case snake_case (`[a-z][a-z0-9_]*`), at
/// most 40 characters. Built from input only through
/// [`BreachReasons::parse`], so a new acknowledgement's reason is always one
/// the force lists; a stored one (which the list may since have dropped)
/// keeps its code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BreachReason(String);

impl BreachReason {
    /// The code, as stored.
    pub fn code(&self) -> &str {
        &self.0
    }

    /// A code read back from storage: checked for its shape only, since
    /// the configured list may have changed since it was given.
    pub(crate) fn stored(code: &str) -> Result<Self, String> {
        if is_code(code) {
            Ok(Self(code.to_string()))
        } else {
            Err(format!(
                "{code:?} is not a breach reason code (lower-case snake_case, at most {MAX_CODE_CHARS} characters)"
            ))
        }
    }
}

impl TryFrom<String> for BreachReason {
    type Error = String;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::stored(&code)
    }
}

impl From<BreachReason> for String {
    fn from(reason: BreachReason) -> Self {
        reason.0
    }
}

impl fmt::Display for BreachReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `code` has a breach reason code's shape.
pub(crate) fn is_code(code: &str) -> bool {
    let mut chars = code.chars();
    code.chars().count() <= MAX_CODE_CHARS
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// One configured reason: its code and the label people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonEntry {
    /// The stable code, stored and counted.
    pub code: String,
    /// What people read.
    pub label: String,
}

/// The force's list of breach reasons, in the order it is shown; checked
/// by configuration (codes well-formed and unique, labels present,
/// `other` listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachReasons(Vec<ReasonEntry>);

impl Default for BreachReasons {
    /// The built-in list, [`default_reasons`].
    fn default() -> Self {
        Self(default_reasons())
    }
}

impl BreachReasons {
    /// A list already checked by configuration.
    pub(crate) fn checked(entries: Vec<ReasonEntry>) -> Self {
        Self(entries)
    }

    /// The reasons, in order.
    pub fn entries(&self) -> &[ReasonEntry] {
        &self.0
    }

    /// The codes, in order.
    pub fn codes(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.code.as_str()).collect()
    }

    /// The reason `text` names, or why not, naming the allowed codes.
    pub fn parse(&self, text: &str) -> Result<BreachReason, String> {
        match self.0.iter().find(|e| e.code == text) {
            Some(entry) => Ok(BreachReason(entry.code.clone())),
            None => Err(format!(
                "must be one of {}; got {text:?}",
                self.codes().join(", ")
            )),
        }
    }

    /// The label of `reason`; its code when the list no longer has it.
    pub fn label<'a>(&'a self, reason: &'a BreachReason) -> &'a str {
        self.0
            .iter()
            .find(|e| e.code == reason.0)
            .map(|e| e.label.as_str())
            .unwrap_or(&reason.0)
    }
}

/// The built-in list: the causes of late enforcement a force's OCSET
/// reports most often, and `other` (explained in the note).
pub fn default_reasons() -> Vec<ReasonEntry> {
    [
        (
            "awaiting_communications_data",
            "Awaiting communications data",
        ),
        ("suspect_not_located", "Suspect not located"),
        ("resourcing", "Resourcing"),
        ("awaiting_partner_agency", "Awaiting partner agency"),
        (OTHER, "Other (see note)"),
    ]
    .into_iter()
    .map(|(code, label)| ReasonEntry {
        code: code.into(),
        label: label.into(),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_codes_parse_and_the_error_names_them() {
        let reasons = BreachReasons::checked(default_reasons());
        assert_eq!(reasons.parse("resourcing").unwrap().code(), "resourcing");
        let err = reasons.parse("Resourcing").unwrap_err();
        assert!(err.contains("awaiting_communications_data, suspect_not_located, resourcing, awaiting_partner_agency, other"), "{err}");
        assert!(reasons.parse("").is_err());
    }

    #[test]
    fn stored_codes_keep_their_shape_and_labels_fall_back_to_the_code() {
        let reasons = BreachReasons::checked(default_reasons());
        let gone = BreachReason::stored("weather").unwrap();
        assert_eq!(reasons.label(&gone), "weather");
        assert_eq!(
            reasons.label(&reasons.parse("resourcing").unwrap()),
            "Resourcing"
        );
        for bad in ["", "Upper", "9lives", "has space", &"a".repeat(41)] {
            assert!(BreachReason::stored(bad).is_err(), "{bad}");
        }
    }
}
