//! [`Settings`]: the configuration after every check, with the values the
//! rest of the service needs already parsed (the time zone as a [`Tz`],
//! the deadline policy, the LPAs, the digest schedules).

use super::{Audience, Config};
use crate::domain::{BreachReasons, DeadlinePolicy, DigestSchedule, LadderTiming, Lpas};
use crate::notify::config::WebhookConfig;
use chrono_tz::Tz;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The configuration after every check: what the rest of the service uses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration as loaded (for `check-config` to print).
    pub config: Config,
    /// The force time zone.
    pub time_zone: Tz,
    /// The deadline policy built from `[timescales]` and the time zone.
    pub policy: DeadlinePolicy,
    /// The force's LPAs.
    pub(crate) lpas: Lpas,
    /// The reasons a breach can be acknowledged with (`[[breach_reasons]]`).
    pub(crate) breach_reasons: BreachReasons,
    /// Where the configuration was read from.
    pub(crate) path: PathBuf,
    /// Each webhook's signing secret, read from the environment variable
    /// its `secret_env` names.
    pub(crate) webhook_secrets: BTreeMap<String, SecretString>,
    /// The `[[digest]]` schedules, checked; private to `config` so that
    /// only checked ones exist (see [`Settings::digests`]).
    pub(super) digests: Vec<DigestSchedule>,
    /// Who hears of each escalation level, by level name, resolved at load
    /// (see [`Settings::audience`]).
    pub(super) audiences: BTreeMap<String, Audience>,
    /// What this valid configuration does that production must not
    /// (`production.rs`), each named by its key and source.
    pub(super) concerns: Vec<super::ConfigError>,
    /// Single sign-on (`[auth.oidc]`), checked; `None` when not configured.
    pub(super) oidc: Option<super::OidcSettings>,
    /// `[retention]`, checked; `None` when no period is configured
    /// (nothing is ever purged).
    pub(super) retention: Option<RetentionSettings>,
}

/// `[retention]` after its check: the period and the pseudonyms' key.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// How long after its clock stopped a package keeps its details.
    pub period: crate::domain::RetentionPeriod,
    /// The key of the pseudonyms that replace them.
    pub key: crate::domain::PseudonymKey,
}

impl Settings {
    /// `[retention]`, when a period is configured.
    pub fn retention(&self) -> Option<&RetentionSettings> {
        self.retention.as_ref()
    }

    /// The escalation ladder.
    #[cfg(test)]
    pub(crate) fn ladder(&self) -> &[crate::domain::EscalationLevel] {
        &self.config.escalation.levels
    }

    /// The protective marking every message carries.
    pub fn marking(&self) -> &str {
        &self.config.mail.marking
    }

    /// What this valid configuration does that a production service must
    /// not: mail to files or to example addresses, plain HTTP beyond this
    /// host, passwords in the file (see `config/production.rs`).
    /// `check-config` prints them, `serve` logs them at start, and
    /// `check-config --production` refuses the configuration.
    pub(crate) fn concerns(&self) -> &[super::ConfigError] {
        &self.concerns
    }

    /// The address people reach the service at (`http.public_url`), if set.
    pub(crate) fn public_url(&self) -> Option<&str> {
        self.config.http.public_url.as_deref()
    }

    /// The link for a package in emails: the case system's, when
    /// `links.package_url` is set; otherwise its dashboard page under
    /// `http.public_url`, when that is set.
    pub(crate) fn package_link(&self, reference: &str) -> Option<String> {
        self.config.links.package_url(reference).or_else(|| {
            let base = self.public_url()?.trim_end_matches('/');
            crate::notify::config::LinksConfig {
                package_url: Some(format!("{base}/packages/{{reference}}")),
            }
            .package_url(reference)
        })
    }

    /// Single sign-on, when `[auth.oidc]` is configured.
    pub fn oidc(&self) -> Option<&super::OidcSettings> {
        self.oidc.as_ref()
    }

    /// Whether the dashboard offers signing in with an API token
    /// (`auth.token_sign_in`).
    pub(crate) fn token_sign_in(&self) -> bool {
        self.config.auth.token_sign_in
    }

    /// The configured webhooks.
    pub(crate) fn webhooks(&self) -> &[WebhookConfig] {
        &self.config.webhook
    }

    /// The digest schedules, in the order configured; empty when the
    /// force sends none. Every audience group exists and reaches somebody
    /// (for a daily digest, somebody in every LPA).
    pub(crate) fn digests(&self) -> &[DigestSchedule] {
        &self.digests
    }

    /// Who hears of the escalation level named `level`, as destinations on
    /// their channels; `None` for a name not on the ladder. Routing asks
    /// this, so it names no channel itself.
    pub(crate) fn audience(&self, level: &str) -> Option<&Audience> {
        self.audiences.get(level)
    }

    /// The ladder with the time zone and safeguarding clock it runs on.
    pub(crate) fn ladder_timing(&self) -> LadderTiming<'_> {
        LadderTiming {
            levels: &self.config.escalation.levels,
            time_zone: self.time_zone,
            referral_within: self.config.safeguarding.referral_within,
            review_every: self.config.review.every,
        }
    }
}
