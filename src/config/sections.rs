//! The configuration as written: [`Config`] and its sections, each with
//! the defaults for anything the file leaves out. Sections that belong to
//! notify (`[mail]`, `[links]`, `[[webhook]]`) are defined there.

use super::RecipientGroup;
use crate::domain::{
    default_ladder, default_reasons, EscalationLevel, ReasonEntry, RegradePolicy, ReviewIntervals,
    Timescale, Timescales,
};
use crate::notify::config::{LinksConfig, MailConfig, WebhookConfig};
pub use crate::outbox::DeliveryConfig;
use crate::text::redact_url;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The configuration as written: every section, with defaults for anything
/// the file leaves out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The force: name, time zone, LPAs.
    pub force: ForceConfig,
    /// Where the ledger is kept.
    pub database: DatabaseConfig,
    /// The national timescales and how regrades move deadlines.
    pub(crate) timescales: TimescalesConfig,
    /// The safeguarding-referral clock.
    pub safeguarding: SafeguardingConfig,
    /// The escalation ladder.
    pub(crate) escalation: EscalationConfig,
    /// The HTTP API.
    pub(crate) http: HttpConfig,
    /// Named groups of email recipients, as `[recipients.NAME]` tables.
    pub(crate) recipients: BTreeMap<String, RecipientGroup>,
    /// Retries of the outbox.
    pub delivery: DeliveryConfig,
    /// The escalation scheduler.
    pub(crate) scheduler: SchedulerConfig,
    /// How email leaves the service.
    pub(crate) mail: MailConfig,
    /// Links into the case system.
    pub(crate) links: LinksConfig,
    /// Webhooks, as `[[webhook]]` tables.
    pub(crate) webhook: Vec<WebhookConfig>,
    /// Scheduled digests, as `[[digest]]` tables. None unless the file
    /// lists some (the shipped default.toml lists a weekly and a daily
    /// one): the built-in default has no recipient groups to send them to.
    pub(crate) digest: Vec<DigestConfig>,
    /// `[log]`: the log level filter and the format (text or JSON).
    pub(crate) log: LogConfig,
    /// Why a deadline was missed, as `[[breach_reasons]]` tables: the
    /// reasons a supervisor chooses from when acknowledging a breach.
    pub(crate) breach_reasons: BreachReasonsConfig,
    /// `[review]`: how often open packages' risk is reviewed.
    pub(crate) review: ReviewConfig,
    /// `[auth]`: how people sign in to the dashboard and how the force's
    /// systems are known to the API (`[auth.oidc]`, single sign-on).
    pub(crate) auth: AuthConfig,
    /// `[retention]`: how long stopped packages keep their identifying
    /// details; nothing is purged unless `keep_stopped_for` is set.
    pub(crate) retention: RetentionConfig,
}

/// `[retention]` as written; checked into
/// [`RetentionSettings`](super::RetentionSettings).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetentionConfig {
    /// How long after its clock stopped a package keeps its reference,
    /// officer and notes (`"6y"`, `"30d"`); unset: kept for ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) keep_stopped_for: Option<String>,
    /// The file holding the pseudonyms' secret key (at least 32 bytes;
    /// `openssl rand -hex 32`). Required with `keep_stopped_for`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pseudonym_key_file: Option<String>,
}

/// `[auth]`: the dashboard's sign-in methods.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthConfig {
    /// Whether the dashboard's sign-in page offers signing in with an API
    /// token (true by default). A force that signs people in through its
    /// provider (`[auth.oidc]`) turns it off, so every session names a
    /// person. The API takes tokens either way.
    pub(crate) token_sign_in: bool,
    /// `[auth.oidc]`: single sign-on by OpenID Connect; none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) oidc: Option<OidcConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_sign_in: true,
            oidc: None,
        }
    }
}

/// `[auth.oidc]` as written; checked into [`OidcSettings`](super::OidcSettings).
/// Every key has a default here so that a missing one is reported by the
/// check with its key and why, not by serde.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OidcConfig {
    /// The issuer's address, such as
    /// `https://login.microsoftonline.com/<tenant>/v2.0`; its discovery
    /// document is read from `<issuer>/.well-known/openid-configuration`.
    pub(crate) issuer: String,
    /// The service's client id at the issuer.
    pub(crate) client_id: String,
    /// The environment variable that holds the client secret (never the
    /// secret itself).
    pub(crate) client_secret_env: String,
    /// The scopes asked for at sign-in; `openid` must be one.
    pub(crate) scopes: Vec<String>,
    /// The claim of the ID token whose values map to roles (`groups`,
    /// `roles`).
    pub(crate) role_claim: String,
    /// The claim of an API access token whose values map to roles; the
    /// same as `role_claim` when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_role_claim: Option<String>,
    /// The audience an API access token must be for; the client id when
    /// left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_audience: Option<String>,
    /// What the sign-in button calls the provider ("Sign in with ..."); the
    /// force's name when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    /// Claim values to the service's roles (`"ocset-sergeants" =
    /// "supervisor"`): a person holding several gets the highest; one
    /// holding none is refused.
    pub(crate) roles: BTreeMap<String, String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret_env: String::new(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            role_claim: "groups".into(),
            api_role_claim: None,
            api_audience: None,
            display_name: None,
            roles: BTreeMap::new(),
        }
    }
}

/// `[review]`: the review clock. `[review.every]` has one key per grade
/// (`very_high = "1d"` ...), each a timescale; a grade left out keeps its
/// default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ReviewConfig {
    /// How often each grade's open packages are reviewed.
    pub(crate) every: ReviewIntervals,
}

/// `[[breach_reasons]]`: the whole list, replacing the built-in one
/// ([`default_reasons`]) when the file gives any.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub(crate) struct BreachReasonsConfig(pub(crate) Vec<ReasonEntry>);

impl Default for BreachReasonsConfig {
    fn default() -> Self {
        Self(default_reasons())
    }
}

/// A `[[digest]]` table as written; checked into a [`DigestSchedule`](crate::domain::DigestSchedule).
/// The kind, day and time stay text here so that every fault in them is
/// reported at once, with the key, rather than the first one serde meets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DigestConfig {
    /// A unique name, such as `weekly-slt`: part of each run's key.
    pub(crate) name: String,
    /// `weekly` (the performance report) or `daily` (breaches and packages
    /// due in 48 hours).
    pub(crate) kind: String,
    /// Weekly only: the day, `monday` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) day: Option<String>,
    /// The local time in the force time zone, as `07:00`.
    pub(crate) at: String,
    /// The recipient groups (`[recipients.NAME]`) it goes to.
    pub(crate) audience: Vec<String>,
}

/// `[scheduler]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SchedulerConfig {
    /// The safety tick: the scheduler looks for due work at least this
    /// often even if nothing woke it.
    pub(crate) tick_seconds: u32,
    /// Packages planned per transaction.
    pub(crate) pass_limit: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick_seconds: 30,
            pass_limit: 500,
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HttpConfig {
    /// The address the API listens on. Loopback by default: put a TLS
    /// proxy in front before opening it to the force network.
    pub(crate) bind: String,
    /// The address people reach the service at through its proxy, such as
    /// `https://ocset.force.police.uk`. When it is https the dashboard's
    /// session cookie is marked `Secure`. Unset by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) public_url: Option<String>,
    /// Whether a TLS-terminating proxy (or a Kubernetes ingress) stands in
    /// front of `bind`: the service itself speaks plain HTTP, so listening
    /// beyond loopback without one would put tokens and case data on the
    /// network in clear. `check-config --production` refuses that.
    pub(crate) behind_tls_proxy: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            behind_tls_proxy: false,
        }
    }
}

/// `[force]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ForceConfig {
    /// The force's name, shown in reports.
    pub(crate) name: String,
    /// An IANA time zone; calendar days and local times are read in it.
    pub(crate) time_zone: String,
    /// The Local Policing Areas; empty accepts any LPA name.
    pub lpas: Vec<String>,
}

impl Default for ForceConfig {
    fn default() -> Self {
        Self {
            name: "Example Police".into(),
            time_zone: "Europe/London".into(),
            lpas: Vec::new(),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://data/ocset.db` or `postgres://user:password@host/db`.
    pub url: DatabaseUrl,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How many `serve` processes share this database (1 by default). More
    /// than one needs PostgreSQL: a SQLite file belongs to one process.
    pub replicas: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl("sqlite://data/ocset.db".into()),
            max_connections: 5,
            replicas: 1,
        }
    }
}

/// A database URL. It may hold a password, so `Debug`, `Display` and
/// `Serialize` show it with the password replaced by `***`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with its password, to connect with. Never log this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the URL carries a password (in its user part or as a
    /// `password=` parameter): whatever redaction would hide.
    pub(crate) fn has_password(&self) -> bool {
        redact_url(&self.0) != self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&redact_url(&self.0))
    }
}

/// `[timescales]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TimescalesConfig {
    /// Very high risk.
    pub(crate) very_high: Timescale,
    /// High risk.
    pub(crate) high: Timescale,
    /// Medium risk.
    pub(crate) medium: Timescale,
    /// Standard risk.
    pub(crate) standard: Timescale,
    /// `from_receipt` or `from_regrade`.
    pub(crate) regrade_policy: RegradePolicy,
    /// A name for this set of timescales, recorded with each deadline; when
    /// absent a hash of the settings is recorded instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
}

impl Default for TimescalesConfig {
    fn default() -> Self {
        let t = Timescales::default();
        Self {
            very_high: t.very_high,
            high: t.high,
            medium: t.medium,
            standard: t.standard,
            regrade_policy: RegradePolicy::default(),
            version: None,
        }
    }
}

/// `[safeguarding]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SafeguardingConfig {
    /// How soon after child access is identified the referral to children's
    /// social services is due.
    pub referral_within: Timescale,
}

impl Default for SafeguardingConfig {
    fn default() -> Self {
        Self {
            referral_within: Timescale::Hours(24),
        }
    }
}

/// `[escalation]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EscalationConfig {
    /// The ladder's levels, as `[[escalation.levels]]` tables.
    pub(crate) levels: Vec<EscalationLevel>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            levels: default_ladder(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    /// A tracing filter, such as `info` or `ocset_scheduler=debug,info`.
    pub(crate) level: String,
    /// `text` for people, `json` for log collectors.
    pub(crate) format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl("postgres://ocset:hunter2@db:5432/ocset".into());
        assert_eq!(url.to_string(), "postgres://ocset:***@db:5432/ocset");
        assert!(!format!("{url:?}").contains("hunter2"));
        let config = Config {
            database: DatabaseConfig {
                url,
                max_connections: 1,
                replicas: 1,
            },
            ..Config::default()
        };
        let printed = toml::to_string(&config).unwrap();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(
            redact_url("postgres://db/x?user=a&password=p&x=1"),
            "postgres://db/x?user=a&password=***&x=1"
        );
        assert_eq!(
            redact_url("sqlite://data/ocset.db"),
            "sqlite://data/ocset.db"
        );
    }
}
