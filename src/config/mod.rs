//! Configuration: a TOML file laid over built-in defaults, then environment
//! variables `OCSET__SECTION__KEY` laid over both, then checked as a whole.
//! Every error names the key and where its value came from (the file, or
//! the environment variable), and nothing secret is ever printed.
//!
//! By concern: `load.rs` layers the sources, `check.rs` validates them
//! section by section (`digests.rs` the `[[digest]]` tables) into
//! [`Settings`] (`settings.rs`), the view the rest of the service reads.
//! The sections as written are in `sections.rs` and `recipients.rs`;
//! `auth.rs` checks `[auth]` and `[auth.oidc]` (single sign-on);
//! `production.rs` lists what a valid configuration does that production
//! must not (warnings; `check-config --production` refuses them);
//! `audience.rs` resolves who hears of each escalation level into outbox
//! destinations, the one place a recipient is tied to a channel.
//! Configuration produces domain types (a deadline policy, LPAs, digest
//! schedules, LPA coverage) and imports nothing above the domain except the
//! sections that notify owns; it builds no other module's types.

mod audience;
mod auth;
mod check;
mod digests;
mod load;
mod production;
mod recipients;
mod retention;
mod sections;
mod settings;

pub(crate) use audience::Audience;
pub use auth::{OidcSettings, CALLBACK_PATH};
pub use load::{load, load_str};
pub(crate) use recipients::{lpas_of, RecipientGroup};
pub(crate) use sections::{Config, DigestConfig, LogFormat};
pub use settings::{RetentionSettings, Settings};

/// The smallest configuration the unit tests of the service's loops run
/// on: one LPA and the recipient groups the default ladder names.
#[cfg(test)]
pub(crate) const TEST_CONFIG: &str = r#"
[force]
lpas = ["Coventry"]
[recipients.ocset_sergeants]
default = ["sgts@force.example"]
[recipients.ocset_inspector]
default = ["insp@force.example"]
[recipients.ppu_slt]
default = ["slt@force.example"]
"#;

/// The prefix of environment variables that override the file.
pub(crate) const ENV_PREFIX: &str = "OCSET__";

/// The name in a level's `notify` list that means the package's assigned
/// officer rather than a configured group.
pub(crate) const ASSIGNED_OFFICER: &str = "assigned_officer";

/// A configuration fault: the key, where its value came from, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {key}: {reason}")]
pub struct ConfigError {
    /// The file path, or `environment variable OCSET__...`.
    pub(crate) source_name: String,
    /// The dotted key (`timescales.high`), or `-` for the file as a whole.
    pub(crate) key: String,
    /// What is wrong.
    pub(crate) reason: String,
}

#[cfg(test)]
mod test_support {
    //! Configuration text the tests of every part share.

    /// The recipient groups the default ladder notifies: the built-in
    /// defaults have none, so that no escalation goes to a made-up address.
    pub(super) const GROUPS: &str = "[recipients.ocset_sergeants]\ndefault = [\"sgts@force.example\"]\n[recipients.ocset_inspector]\ndefault = [\"insp@force.example\"]\n[recipients.ppu_slt]\ndefault = [\"slt@force.example\"]\n";

    /// `text` with the recipient groups appended.
    pub(super) fn with_groups(text: &str) -> String {
        format!("{text}\n{GROUPS}")
    }

    /// Environment variables from pairs of text.
    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
