//! Configuration: a TOML file laid over built-in defaults, then environment
//! variables `OCSET__SECTION__KEY` laid over both, then checked as a whole.
//! Every error names the key and where its value came from (the file, or
//! the environment variable), and nothing secret is ever printed.

use crate::domain::digest_schedule::{self as digest, DigestKind, DigestSchedule};
use crate::domain::{
    default_ladder, DeadlinePolicy, EscalationLevel, LadderTiming, LpaCoverage, Lpas, PackageClock,
    RegradePolicy, Timescale, Timescales,
};
use crate::notify::config::{check_webhooks, LinksConfig, MailConfig, WebhookConfig};
use chrono_tz::Tz;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The prefix of environment variables that override the file.
pub const ENV_PREFIX: &str = "OCSET__";

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
    pub timescales: TimescalesConfig,
    /// The safeguarding-referral clock.
    pub safeguarding: SafeguardingConfig,
    /// The escalation ladder.
    pub escalation: EscalationConfig,
    /// The HTTP API.
    pub http: HttpConfig,
    /// Named groups of email recipients, as `[recipients.NAME]` tables.
    pub recipients: BTreeMap<String, RecipientGroup>,
    /// Retries of the outbox.
    pub delivery: DeliveryConfig,
    /// The escalation scheduler.
    pub scheduler: SchedulerConfig,
    /// How email leaves the service.
    pub mail: MailConfig,
    /// Links into the case system.
    pub links: LinksConfig,
    /// Webhooks, as `[[webhook]]` tables.
    pub webhook: Vec<WebhookConfig>,
    /// Scheduled digests, as `[[digest]]` tables. None unless the file
    /// lists some (the shipped default.toml lists a weekly and a daily
    /// one): the built-in default has no recipient groups to send them to.
    pub digest: Vec<DigestConfig>,
    /// Logging.
    pub log: LogConfig,
}

/// The name in a level's `notify` list that means the package's assigned
/// officer rather than a configured group.
pub const ASSIGNED_OFFICER: &str = "assigned_officer";

/// A named group of recipients: a default list, and lists for LPAs that have
/// their own (Birmingham's sergeants differ from Coventry's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecipientGroup {
    /// Addresses for packages of any LPA without a list of its own.
    pub default: Vec<String>,
    /// Addresses per LPA, replacing the default for that LPA.
    pub by_lpa: BTreeMap<String, Vec<String>>,
}

impl RecipientGroup {
    /// The addresses for a package in `lpa`.
    pub fn for_lpa(&self, lpa: &str) -> &[String] {
        self.by_lpa
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(lpa))
            .map_or(self.default.as_slice(), |(_, list)| list.as_slice())
    }

    /// Every address in the group, default and per-LPA lists together,
    /// sorted, each once: who receives a force-wide digest.
    pub fn addresses(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .default
            .iter()
            .chain(self.by_lpa.values().flatten())
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Where the group reaches nobody, given the force's LPA list: `None`
    /// when every LPA has an address; otherwise the words that follow
    /// "is empty" in a fault (`""`, or `" for South, West"`). With no LPA
    /// list any LPA name is accepted, so the default list must not be empty.
    fn unreached(&self, force_lpas: &[String]) -> Option<String> {
        if force_lpas.is_empty() {
            return self.default.is_empty().then(String::new);
        }
        let nobody: Vec<&str> = force_lpas
            .iter()
            .map(String::as_str)
            .filter(|lpa| self.for_lpa(lpa).is_empty())
            .collect();
        (!nobody.is_empty()).then(|| format!(" for {}", nobody.join(", ")))
    }
}

/// The LPAs whose packages `address` hears about through `group`, so a
/// digest split per recipient shows each one only their own areas. An
/// LPA with its own list in `by_lpa` goes to that list; every other LPA to
/// the default list. `all_lpas` is the force's LPA list (`force.lpas`);
/// when it is empty, any LPA name exists, so an address in the default
/// list covers every LPA but those with lists of their own.
pub fn lpas_of(group: &RecipientGroup, address: &str, all_lpas: &[String]) -> LpaCoverage {
    let has = |list: &[String]| list.iter().any(|a| a.eq_ignore_ascii_case(address));
    if all_lpas.is_empty() {
        let (with, without): (Vec<_>, Vec<_>) =
            group.by_lpa.iter().partition(|(_, list)| has(list));
        let names = |lists: Vec<(&String, &Vec<String>)>| -> Vec<String> {
            lists.into_iter().map(|(lpa, _)| lpa.clone()).collect()
        };
        return if has(&group.default) {
            LpaCoverage::AllExcept(names(without))
        } else {
            LpaCoverage::Only(names(with))
        };
    }
    LpaCoverage::Only(
        all_lpas
            .iter()
            .filter(|lpa| has(group.for_lpa(lpa)))
            .cloned()
            .collect(),
    )
}

/// A `[[digest]]` table as written; checked into a [`DigestSchedule`].
/// The kind, day and time stay text here so that every fault in them is
/// reported at once, with the key, rather than the first one serde meets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// A unique name, such as `weekly-slt`: part of each run's key.
    pub name: String,
    /// `weekly` (the performance report) or `daily` (breaches and packages
    /// due in 48 hours).
    pub kind: String,
    /// Weekly only: the day, `monday` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// The local time in the force time zone, as `07:00`.
    pub at: String,
    /// The recipient groups (`[recipients.NAME]`) it goes to.
    pub audience: Vec<String>,
}

/// `[delivery]`: how the outbox retries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before a message is given up as dead.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each attempt.
    pub retry_base_seconds: u32,
    /// The longest wait between attempts.
    pub retry_max_seconds: u32,
    /// How long a dispatcher may hold a message before another may take it
    /// (it is presumed dead). Longer than the slowest send.
    pub lease_seconds: u32,
    /// Messages claimed at a time.
    pub batch: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base_seconds: 30,
            retry_max_seconds: 3600,
            lease_seconds: 300,
            batch: 50,
        }
    }
}

/// `[scheduler]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// The safety tick: the scheduler looks for due work at least this
    /// often even if nothing woke it.
    pub tick_seconds: u32,
    /// Packages planned per transaction.
    pub pass_limit: u32,
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
pub struct HttpConfig {
    /// The address the API listens on. Loopback by default: put a TLS
    /// proxy in front before opening it to the force network.
    pub bind: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
        }
    }
}

/// `[force]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ForceConfig {
    /// The force's name, shown in reports.
    pub name: String,
    /// An IANA time zone; calendar days and local times are read in it.
    pub time_zone: String,
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
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl("sqlite://data/ocset.db".into()),
            max_connections: 5,
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

/// Hides the password in a URL (`scheme://user:password@host`) and any
/// `password=` query parameter, so the URL can be logged or printed.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let end = out[value_start..]
            .find('&')
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..end, "***");
    }
    out
}

/// `[timescales]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TimescalesConfig {
    /// Very high risk.
    pub very_high: Timescale,
    /// High risk.
    pub high: Timescale,
    /// Medium risk.
    pub medium: Timescale,
    /// Standard risk.
    pub standard: Timescale,
    /// `from_receipt` or `from_regrade`.
    pub regrade_policy: RegradePolicy,
    /// A name for this set of timescales, recorded with each deadline; when
    /// absent a hash of the settings is recorded instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
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
pub struct EscalationConfig {
    /// The ladder's levels, as `[[escalation.levels]]` tables.
    pub levels: Vec<EscalationLevel>,
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
pub struct LogConfig {
    /// A tracing filter, such as `info` or `ocset_scheduler=debug,info`.
    pub level: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
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
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration fault: the key, where its value came from, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {key}: {reason}")]
pub struct ConfigError {
    /// The file path, or `environment variable OCSET__...`.
    pub source_name: String,
    /// The dotted key (`timescales.high`), or `-` for the file as a whole.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

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
    pub lpas: Lpas,
    /// Where the configuration was read from.
    pub path: PathBuf,
    /// Each webhook's signing secret, read from the environment variable
    /// its `secret_env` names.
    pub webhook_secrets: BTreeMap<String, SecretString>,
    /// The `[[digest]]` schedules, checked; private so that only checked
    /// ones exist (see [`Settings::digests`]).
    digests: Vec<DigestSchedule>,
}

impl Settings {
    /// The escalation ladder.
    pub fn ladder(&self) -> &[EscalationLevel] {
        &self.config.escalation.levels
    }

    /// The protective marking every message carries.
    pub fn marking(&self) -> &str {
        &self.config.mail.marking
    }

    /// The case system's link for a package, when `links.package_url` is set.
    pub fn package_link(&self, reference: &str) -> Option<String> {
        self.config.links.package_url(reference)
    }

    /// The configured webhooks.
    pub fn webhooks(&self) -> &[WebhookConfig] {
        &self.config.webhook
    }

    /// The digest schedules, in the order configured; empty when the
    /// force sends none. Every audience group exists and reaches somebody
    /// (for a daily digest, somebody in every LPA).
    pub fn digests(&self) -> &[DigestSchedule] {
        &self.digests
    }

    /// The ladder with the time zone and safeguarding clock it runs on.
    pub fn ladder_timing(&self) -> LadderTiming<'_> {
        LadderTiming {
            levels: &self.config.escalation.levels,
            time_zone: self.time_zone,
            referral_within: self.config.safeguarding.referral_within,
        }
    }
}

/// Loads `path`, applies the `OCSET__` variables of `env`, and checks the
/// result. `env` is passed in so tests need not touch the process environment.
pub fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, Vec<ConfigError>> {
    let file_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            source_name: file_name.clone(),
            key: "-".into(),
            reason: format!("cannot read the configuration file: {e}"),
        }]
    })?;
    load_str(&text, &file_name, env).map(|mut settings| {
        settings.path = path.to_path_buf();
        settings
    })
}

/// As [`load`], from text already read.
pub fn load_str(
    text: &str,
    file_name: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, Vec<ConfigError>> {
    let file_error = |key: &str, reason: String| ConfigError {
        source_name: file_name.to_string(),
        key: key.to_string(),
        reason,
    };
    let file: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        vec![file_error(
            "-",
            format!("not valid TOML: {}", e.message().trim()),
        )]
    })?;
    let mut merged = toml::Value::try_from(Config::default())
        .expect("the default configuration serializes")
        .as_table()
        .cloned()
        .expect("the default configuration is a table");
    merge(&mut merged, file);

    // Environment overrides, remembered so errors can name the variable.
    let mut from_env: BTreeMap<String, String> = BTreeMap::new();
    let mut errors = Vec::new();
    let env: BTreeMap<String, String> = env.into_iter().collect();
    let mut vars: Vec<(String, String)> = env
        .iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    vars.sort();
    for (name, value) in vars {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(|part| part.to_ascii_lowercase())
            .collect();
        let key = path.join(".");
        match apply_override(&mut merged, &path, &value) {
            Ok(()) => {
                from_env.insert(key, name);
            }
            Err(reason) => errors.push(ConfigError {
                source_name: format!("environment variable {name}"),
                key,
                reason,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let source_of = |key: &str| -> String {
        // The longest overridden key that is the fault's key or a parent of it.
        from_env
            .iter()
            .filter(|(k, _)| {
                key == k.as_str()
                    || key.starts_with(&format!("{k}."))
                    || key.starts_with(&format!("{k}["))
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(_, var)| format!("environment variable {var}"))
            .unwrap_or_else(|| file_name.to_string())
    };
    let config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(merged)).map_err(|e| {
            let key = e.path().to_string();
            let reason = e.into_inner().message().to_string();
            vec![ConfigError {
                source_name: source_of(&key),
                key,
                reason,
            }]
        })?;
    check(config, &source_of, &|name| env.get(name).cloned())
}

/// Lays `over` onto `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `path` in `root` from an environment variable's text, read as the
/// type the key already has (a number stays a number, a list a list).
fn apply_override(root: &mut toml::Table, path: &[String], text: &str) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("the variable names no key")?;
    if path.iter().any(String::is_empty) {
        return Err("the variable's name has an empty part (three underscores in a row?)".into());
    }
    let mut table = root;
    for part in parents {
        table = match table.get_mut(part) {
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(format!("{part} is not a section")),
            None => return Err(format!("there is no section [{part}]")),
        };
    }
    let value = match table.get(last) {
        Some(toml::Value::Integer(_)) => text
            .trim()
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| format!("expected a whole number, got {text:?}"))?,
        Some(toml::Value::Boolean(_)) => text
            .trim()
            .parse()
            .map(toml::Value::Boolean)
            .map_err(|_| format!("expected true or false, got {text:?}"))?,
        Some(toml::Value::Float(_)) => text
            .trim()
            .parse()
            .map(toml::Value::Float)
            .map_err(|_| format!("expected a number, got {text:?}"))?,
        Some(toml::Value::Array(_)) => {
            let parsed: toml::Table = format!("value = {text}").parse().map_err(|_| {
                format!("expected a TOML list such as [\"a\", \"b\"], got {text:?}")
            })?;
            parsed["value"].clone()
        }
        Some(toml::Value::Table(_)) => return Err("this is a section; set one of its keys".into()),
        Some(_) | None => toml::Value::String(text.to_string()),
    };
    table.insert(last.clone(), value);
    Ok(())
}

/// The checks serde cannot make: values that depend on each other.
fn check(
    config: Config,
    source_of: &dyn Fn(&str) -> String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut fault = |key: &str, reason: String| {
        errors.push(ConfigError {
            source_name: source_of(key),
            key: key.to_string(),
            reason,
        })
    };

    let time_zone: Option<Tz> = match config.force.time_zone.parse() {
        Ok(tz) => Some(tz),
        Err(_) => {
            fault(
                "force.time_zone",
                format!(
                    "{:?} is not an IANA time zone name (such as Europe/London)",
                    config.force.time_zone
                ),
            );
            None
        }
    };
    let lpas = match Lpas::new(&config.force.lpas) {
        Ok(lpas) => Some(lpas),
        Err(e) => {
            fault("force.lpas", e.0);
            None
        }
    };
    let url = config.database.url.expose();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres:")
        || url.starts_with("postgresql:"))
    {
        fault(
            "database.url",
            format!(
                "must start with sqlite: or postgres: (got {})",
                config.database.url
            ),
        );
    }
    if config.http.bind.parse::<std::net::SocketAddr>().is_err() {
        fault(
            "http.bind",
            format!(
                "{:?} is not an address and port such as 127.0.0.1:8080",
                config.http.bind
            ),
        );
    }
    if config.database.max_connections == 0 {
        fault("database.max_connections", "must be at least 1".into());
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        fault(
            "log.level",
            format!("{:?} is not a log filter: {e}", config.log.level),
        );
    }
    if let Some(version) = &config.timescales.version {
        if version.trim().is_empty() || version.len() > 64 {
            fault(
                "timescales.version",
                "must be 1 to 64 characters, or left out".into(),
            );
        }
    }

    let mut names = HashSet::new();
    if config.escalation.levels.is_empty() {
        fault(
            "escalation.levels",
            "the ladder has no levels; nobody would ever be told".into(),
        );
    }
    for (i, level) in config.escalation.levels.iter().enumerate() {
        let key = |field: &str| format!("escalation.levels[{i}].{field}");
        if level.name.trim().is_empty() {
            fault(&key("name"), "is empty".into());
        } else if !names.insert(level.name.as_str()) {
            fault(&key("name"), format!("{:?} names two levels", level.name));
        }
        if level.notify.is_empty() {
            fault(&key("notify"), "lists nobody to notify".into());
        }
        if level.grades.as_ref().is_some_and(Vec::is_empty) {
            fault(
                &key("grades"),
                "is an empty list; leave it out to cover every grade".into(),
            );
        }
        if level.clock == PackageClock::Safeguarding && level.grades.is_some() {
            fault(
                &key("grades"),
                "safeguarding levels apply whatever the grade".into(),
            );
        }
        if !level.notify.is_empty() && level.notify.iter().all(|n| n == ASSIGNED_OFFICER) {
            fault(
                &key("notify"),
                "notifies only assigned_officer: an unassigned package would escalate to nobody; add a group".into(),
            );
        }
        for group in level.notify.iter().filter(|n| *n != ASSIGNED_OFFICER) {
            match config.recipients.get(group) {
                None => fault(
                    &key("notify"),
                    format!("names the group {group:?}, which has no [recipients.{group}] table"),
                ),
                Some(members) => {
                    // Every LPA must reach somebody, or that LPA's escalations
                    // would go nowhere.
                    if let Some(whom) = members.unreached(&config.force.lpas) {
                        fault(
                            &format!("recipients.{group}"),
                            format!("is empty{whom}, but level {:?} notifies it: that escalation would reach nobody", level.name),
                        );
                    }
                }
            }
        }
    }
    for (group, members) in &config.recipients {
        let lists = std::iter::once((format!("recipients.{group}.default"), &members.default))
            .chain(
                members
                    .by_lpa
                    .iter()
                    .map(|(lpa, list)| (format!("recipients.{group}.by_lpa.{lpa}"), list)),
            );
        for (key, list) in lists {
            for address in list {
                if let Err(e) = crate::domain::OfficerEmail::parse(address) {
                    fault(
                        &key,
                        e.0.replace("the officer's email address", "an address"),
                    );
                }
            }
        }
        if let Some(lpas) = &lpas {
            if !lpas.all().is_empty() {
                for lpa in members.by_lpa.keys() {
                    if lpas.parse(lpa).is_err() {
                        fault(
                            &format!("recipients.{group}.by_lpa.{lpa}"),
                            format!("{lpa:?} is not one of force.lpas"),
                        );
                    }
                }
            }
        }
    }
    let digests = digest_schedules(&config, &mut fault);
    let level_names: Vec<&str> = config
        .escalation
        .levels
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    let notify_faults = config
        .mail
        .check()
        .into_iter()
        .chain(config.links.check())
        .chain(check_webhooks(&config.webhook, &level_names, env));
    for (key, reason) in notify_faults {
        fault(&key, reason);
    }
    let webhook_secrets: BTreeMap<String, SecretString> = config
        .webhook
        .iter()
        .filter_map(|hook| hook.secret(env).map(|secret| (hook.name.clone(), secret)))
        .collect();
    let delivery = &config.delivery;
    for (key, value) in [
        ("delivery.max_attempts", delivery.max_attempts),
        ("delivery.retry_base_seconds", delivery.retry_base_seconds),
        ("delivery.lease_seconds", delivery.lease_seconds),
        ("delivery.batch", delivery.batch),
        ("scheduler.tick_seconds", config.scheduler.tick_seconds),
        ("scheduler.pass_limit", config.scheduler.pass_limit),
    ] {
        if value == 0 {
            fault(key, "must be at least 1".into());
        }
    }
    if delivery.retry_max_seconds < delivery.retry_base_seconds {
        fault(
            "delivery.retry_max_seconds",
            "must not be less than delivery.retry_base_seconds".into(),
        );
    }

    let timescales = Timescales {
        very_high: config.timescales.very_high,
        high: config.timescales.high,
        medium: config.timescales.medium,
        standard: config.timescales.standard,
    };
    let policy = time_zone.and_then(|tz| {
        match DeadlinePolicy::new(
            timescales,
            tz,
            config.timescales.regrade_policy,
            config.timescales.version.as_deref(),
        ) {
            Ok(policy) => Some(policy),
            Err(e) => {
                fault(&format!("timescales.{}", e.shorter_grade), e.to_string());
                None
            }
        }
    });

    match (time_zone, policy, lpas) {
        (Some(time_zone), Some(policy), Some(lpas)) if errors.is_empty() => Ok(Settings {
            config,
            time_zone,
            policy,
            lpas,
            path: PathBuf::new(),
            webhook_secrets,
            digests,
        }),
        _ => Err(errors),
    }
}

/// Checks each `[[digest]]` and returns those that pass; faults are keyed
/// `digest[i].field` (or `recipients.NAME` for a group that reaches nobody).
fn digest_schedules(config: &Config, fault: &mut dyn FnMut(&str, String)) -> Vec<DigestSchedule> {
    let mut names = HashSet::new();
    let mut schedules = Vec::new();
    for (i, entry) in config.digest.iter().enumerate() {
        let mut faults: Vec<(String, String)> = Vec::new();
        let key = |field: &str| format!("digest[{i}].{field}");
        if let Err(reason) = digest::check_name(&entry.name) {
            faults.push((key("name"), reason));
        } else if !names.insert(entry.name.as_str()) {
            faults.push((key("name"), format!("{:?} names two digests", entry.name)));
        }
        let kind = entry
            .kind
            .parse::<DigestKind>()
            .map_err(|reason| faults.push((key("kind"), reason)))
            .ok();
        let day = match (kind, &entry.day) {
            (Some(DigestKind::Daily), Some(_)) => {
                faults.push((
                    key("day"),
                    "is for weekly digests; a daily digest runs every day, so remove it".into(),
                ));
                None
            }
            (_, Some(text)) => digest::parse_day(text)
                .map_err(|reason| faults.push((key("day"), reason)))
                .ok(),
            (_, None) => None,
        };
        let at = digest::parse_time(&entry.at)
            .map_err(|reason| faults.push((key("at"), reason)))
            .ok();
        if entry.audience.is_empty() {
            faults.push((
                key("audience"),
                "is empty: name the recipient groups it goes to".into(),
            ));
        }
        let mut seen = HashSet::new();
        for group in &entry.audience {
            if !seen.insert(group.as_str()) {
                faults.push((key("audience"), format!("names the group {group:?} twice")));
                continue;
            }
            let Some(members) = config.recipients.get(group) else {
                let reason = if group == ASSIGNED_OFFICER {
                    "assigned_officer is not a group: a digest goes to configured recipient groups"
                        .into()
                } else {
                    format!("names the group {group:?}, which has no [recipients.{group}] table")
                };
                faults.push((key("audience"), reason));
                continue;
            };
            // A daily digest is split by LPA, so every LPA needs somebody
            // (as an escalation does); a weekly one is force-wide.
            let whom = match kind {
                Some(DigestKind::Daily) => members.unreached(&config.force.lpas),
                _ => members.addresses().is_empty().then(String::new),
            };
            if let Some(whom) = whom {
                faults.push((
                    format!("recipients.{group}"),
                    format!(
                        "is empty{whom}, but digest {:?} is sent to it: that digest would reach nobody",
                        entry.name
                    ),
                ));
            }
        }
        match (kind, at) {
            (Some(kind), Some(at)) if faults.is_empty() => schedules.push(DigestSchedule {
                name: entry.name.clone(),
                kind,
                day: match kind {
                    DigestKind::Weekly => Some(day.unwrap_or(chrono::Weekday::Mon)),
                    DigestKind::Daily => None,
                },
                at,
                audience: entry.audience.clone(),
            }),
            _ => {
                for (key, reason) in faults {
                    fault(&key, reason);
                }
            }
        }
    }
    schedules
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recipient groups the default ladder notifies: the built-in
    /// defaults have none, so that no escalation goes to a made-up address.
    const GROUPS: &str = "[recipients.ocset_sergeants]\ndefault = [\"sgts@force.example\"]\n[recipients.ocset_inspector]\ndefault = [\"insp@force.example\"]\n[recipients.ppu_slt]\ndefault = [\"slt@force.example\"]\n";

    /// `text` with the recipient groups appended.
    fn with_groups(text: &str) -> String {
        format!("{text}\n{GROUPS}")
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let s = load_str(GROUPS, "test.toml", env(&[])).unwrap();
        assert_eq!(s.config.database, Config::default().database);
        assert_eq!(s.config.escalation, Config::default().escalation);
        assert_eq!(s.time_zone, chrono_tz::Europe::London);
        assert_eq!(s.policy.timescales(), &Timescales::default());
        assert_eq!(s.ladder().len(), 4);
    }

    #[test]
    fn the_shipped_default_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let s = load(&path, env(&[])).unwrap();
        assert_eq!(s.lpas.all().len(), 7);
        assert_eq!(s.config.database.url.expose(), "sqlite://data/ocset.db");
        assert_eq!(s.policy.timescales(), &Timescales::default());
    }

    #[test]
    fn the_production_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/production.example.toml");
        let s = load(&path, env(&[])).unwrap();
        assert!(s.config.database.url.expose().starts_with("postgres://"));
        assert_eq!(s.config.log.format, LogFormat::Json);
        assert_eq!(s.policy.version().as_str(), "national-2024");
        let digests: Vec<&str> = s.digests().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(digests, ["weekly", "daily-sergeants"]);
    }

    #[test]
    fn environment_overrides_the_file_with_the_right_types() {
        let text = with_groups("[database]\nurl = \"sqlite://a.db\"\nmax_connections = 2\n");
        let s = load_str(
            &text,
            "f.toml",
            env(&[
                ("OCSET__DATABASE__URL", "postgres://u:secret@db/ocset"),
                ("OCSET__DATABASE__MAX_CONNECTIONS", "9"),
                ("OCSET__FORCE__LPAS", "[\"North\", \"South\"]"),
                ("OCSET__TIMESCALES__HIGH", "14d"),
                ("OCSET__TIMESCALES__VERSION", "2025"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.config.database.url.expose(),
            "postgres://u:secret@db/ocset"
        );
        assert_eq!(s.config.database.max_connections, 9);
        assert_eq!(s.lpas.all().len(), 2);
        assert_eq!(s.policy.timescales().high, Timescale::Days(14));
        assert_eq!(s.policy.version().as_str(), "2025");
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let err = load_str(
            &with_groups("[timescales]\nhigh = \"7x\"\n"),
            "cfg.toml",
            env(&[]),
        )
        .unwrap_err();
        assert_eq!(err[0].key, "timescales.high");
        assert_eq!(err[0].source_name, "cfg.toml");
        assert!(err[0].reason.contains("\"7x\""), "{}", err[0]);
        let err = load_str("[databse]\nurl = \"x\"\n", "cfg.toml", env(&[])).unwrap_err();
        assert!(
            err[0].reason.contains("unknown field `databse`"),
            "{}",
            err[0]
        );
        let err = load_str(
            &with_groups("[force]\ntime_zone = \"Mars/Olympus\"\n"),
            "cfg.toml",
            env(&[]),
        )
        .unwrap_err();
        assert_eq!(err[0].key, "force.time_zone");
        let err = load_str(
            &with_groups("[timescales]\nhigh = \"30d\"\nmedium = \"14d\"\n"),
            "cfg.toml",
            env(&[]),
        )
        .unwrap_err();
        assert_eq!(err[0].key, "timescales.medium");
        let err = load_str("not toml = = =", "cfg.toml", env(&[])).unwrap_err();
        assert!(
            err[0]
                .to_string()
                .starts_with("cfg.toml: -: not valid TOML"),
            "{}",
            err[0]
        );
    }

    #[test]
    fn errors_from_the_environment_name_the_variable() {
        let err = load_str(
            GROUPS,
            "f.toml",
            env(&[("OCSET__TIMESCALES__HIGH", "soon")]),
        )
        .unwrap_err();
        assert_eq!(
            err[0].source_name,
            "environment variable OCSET__TIMESCALES__HIGH"
        );
        assert_eq!(err[0].key, "timescales.high");
        let err = load_str(
            "",
            "f.toml",
            env(&[("OCSET__DATABASE__MAX_CONNECTIONS", "many")]),
        )
        .unwrap_err();
        assert!(err[0].reason.contains("whole number"), "{}", err[0]);
        let err = load_str(GROUPS, "f.toml", env(&[("OCSET__NOPE__URL", "x")])).unwrap_err();
        assert!(err[0].reason.contains("no section [nope]"), "{}", err[0]);
        let err = load_str(GROUPS, "f.toml", env(&[("OCSET__DATABASE__URLL", "x")])).unwrap_err();
        assert_eq!(
            err[0].source_name,
            "environment variable OCSET__DATABASE__URLL"
        );
        let err = load_str(
            GROUPS,
            "f.toml",
            env(&[("OCSET__DATABASE__URL", "mysql://x")]),
        )
        .unwrap_err();
        assert_eq!(err[0].key, "database.url");
        assert_eq!(
            err[0].source_name,
            "environment variable OCSET__DATABASE__URL"
        );
    }

    #[test]
    fn ladder_faults_name_the_level() {
        let text = r#"
[[escalation.levels]]
name = "warning"
at = "75%"
notify = []

[[escalation.levels]]
name = "warning"
at = "soon"
notify = ["ocset_sergeants"]
"#;
        let err = load_str(&with_groups(text), "f.toml", env(&[])).unwrap_err();
        assert_eq!(err[0].key, "escalation.levels[1].at");
        let text = text.replace("\"soon\"", "\"0\"");
        let err = load_str(&with_groups(&text), "f.toml", env(&[])).unwrap_err();
        let keys: Vec<&str> = err.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["escalation.levels[0].notify", "escalation.levels[1].name"]
        );
    }

    #[test]
    fn recipient_groups_must_exist_reach_every_lpa_and_hold_addresses() {
        let err = load_str("", "f.toml", env(&[])).unwrap_err();
        assert!(
            err.iter().any(|e| e.key == "escalation.levels[1].notify"
                && e.reason.contains("[recipients.ocset_inspector]")),
            "{err:?}"
        );
        let text = r#"
[force]
lpas = ["North", "South"]
[recipients.ocset_sergeants]
by_lpa = { North = ["north@force.example"], West = ["west@force.example"] }
[recipients.ocset_inspector]
default = ["not an address"]
[recipients.ppu_slt]
default = ["slt@force.example"]
"#;
        let err = load_str(text, "f.toml", env(&[])).unwrap_err();
        let faults: Vec<String> = err
            .iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect();
        assert!(
            faults
                .iter()
                .any(|f| f.starts_with("recipients.ocset_sergeants: is empty for South")),
            "{faults:?}"
        );
        assert!(
            faults.iter().any(|f| f.starts_with(
                "recipients.ocset_inspector.default: \"not an address\" is not an email address"
            )),
            "{faults:?}"
        );
        assert!(
            faults.iter().any(|f| f.starts_with(
                "recipients.ocset_sergeants.by_lpa.West: \"West\" is not one of force.lpas"
            )),
            "{faults:?}"
        );
        let only_officer = with_groups(
            "[[escalation.levels]]\nname = \"w\"\nat = \"75%\"\nnotify = [\"assigned_officer\"]\n",
        );
        let err = load_str(&only_officer, "f.toml", env(&[])).unwrap_err();
        assert!(
            err[0].reason.contains("notifies only assigned_officer"),
            "{err:?}"
        );
    }

    #[test]
    fn groups_resolve_per_lpa_with_a_default() {
        let group = RecipientGroup {
            default: vec!["all@force.example".into()],
            by_lpa: [(
                "Birmingham".to_string(),
                vec!["bham@force.example".to_string()],
            )]
            .into(),
        };
        assert_eq!(group.for_lpa("birmingham"), ["bham@force.example"]);
        assert_eq!(group.for_lpa("Coventry"), ["all@force.example"]);
    }

    #[test]
    fn the_shipped_digests_are_a_weekly_and_a_daily() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let s = load(&path, env(&[])).unwrap();
        let time = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            s.digests(),
            [
                DigestSchedule {
                    name: "weekly".into(),
                    kind: DigestKind::Weekly,
                    day: Some(chrono::Weekday::Mon),
                    at: time(7, 0),
                    audience: vec!["ppu_slt".into(), "acc_crime".into()],
                },
                DigestSchedule {
                    name: "daily-sergeants".into(),
                    kind: DigestKind::Daily,
                    day: None,
                    at: time(8, 0),
                    audience: vec!["ocset_sergeants".into()],
                },
            ]
        );
        // check-config prints them as written, so the output reads back.
        let printed = toml::to_string(&s.config).unwrap();
        assert!(
            printed.contains(
                "[[digest]]\nname = \"daily-sergeants\"\nkind = \"daily\"\nat = \"08:00\""
            ),
            "{printed}"
        );
        let again = load_str(&printed, "printed.toml", env(&[])).unwrap();
        assert_eq!(again.digests(), s.digests());
    }

    #[test]
    fn no_digest_tables_means_no_digests() {
        let s = load_str(GROUPS, "f.toml", env(&[])).unwrap();
        assert!(s.digests().is_empty());
        let s = load_str(&with_groups("digest = []\n"), "f.toml", env(&[])).unwrap();
        assert!(s.digests().is_empty());
    }

    #[test]
    fn a_weekly_digest_runs_on_monday_unless_told_otherwise() {
        let text = with_groups(
            "[[digest]]\nname = \"w\"\nkind = \"weekly\"\nat = \"7:30\"\naudience = [\"ppu_slt\"]\n\n[[digest]]\nname = \"f\"\nkind = \"weekly\"\nday = \"Fri\"\nat = \"16:00\"\naudience = [\"ppu_slt\"]\n",
        );
        let s = load_str(&text, "f.toml", env(&[])).unwrap();
        let days: Vec<_> = s.digests().iter().map(|d| d.day).collect();
        assert_eq!(
            days,
            [Some(chrono::Weekday::Mon), Some(chrono::Weekday::Fri)]
        );
    }

    /// The faults of `digest` tables laid over the test groups, each as
    /// "key: reason".
    fn digest_faults(digest: &str) -> Vec<String> {
        let text = format!("{GROUPS}[recipients.empty]\ndefault = []\n{digest}");
        load_str(&text, "f.toml", env(&[]))
            .map(|_| Vec::new())
            .unwrap_or_else(|err| {
                err.iter()
                    .map(|e| format!("{}: {}", e.key, e.reason))
                    .collect()
            })
    }

    /// A `[[digest]]` table with one line changed or added.
    fn digest_table(kind: &str, extra: &str) -> String {
        format!("[[digest]]\nname = \"d\"\nkind = \"{kind}\"\nat = \"07:00\"\naudience = [\"ocset_sergeants\"]\n{extra}\n")
    }

    #[test]
    fn a_bad_digest_time_names_the_key_and_the_value() {
        let text = format!(
            "{GROUPS}{}{}",
            digest_table("weekly", ""),
            digest_table("daily", "")
                .replace("\"d\"", "\"e\"")
                .replace("07:00", "25:00")
        );
        let err = load_str(&text, "f.toml", env(&[])).unwrap_err();
        assert_eq!(
            err.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["f.toml: digest[1].at: \"25:00\" is not a time like 07:00"]
        );
    }

    #[test]
    fn each_digest_fault_is_refused_with_its_key() {
        let cases: [(String, &str); 12] = [
            (digest_table("hourly", ""), "digest[0].kind: \"hourly\" is not a digest kind (weekly or daily)"),
            (digest_table("weekly", "day = \"funday\""), "digest[0].day: \"funday\" is not a day of the week"),
            (digest_table("daily", "day = \"monday\""), "digest[0].day: is for weekly digests"),
            (digest_table("weekly", "").replace("07:00", "7am"), "digest[0].at: \"7am\" is not a time like 07:00"),
            (
                format!("{}{}", digest_table("weekly", ""), digest_table("daily", "")),
                "digest[1].name: \"d\" names two digests",
            ),
            (digest_table("daily", "").replace("\"d\"", "\"a/b\""), "digest[0].name: \"a/b\" must be 1 to 64 letters"),
            (
                digest_table("weekly", "").replace("[\"ocset_sergeants\"]", "[]"),
                "digest[0].audience: is empty",
            ),
            (
                digest_table("weekly", "").replace("ocset_sergeants", "acc_crim"),
                "digest[0].audience: names the group \"acc_crim\", which has no [recipients.acc_crim] table",
            ),
            (
                digest_table("daily", "").replace("ocset_sergeants", "assigned_officer"),
                "digest[0].audience: assigned_officer is not a group",
            ),
            (
                digest_table("weekly", "").replace("[\"ocset_sergeants\"]", "[\"ppu_slt\", \"ppu_slt\"]"),
                "digest[0].audience: names the group \"ppu_slt\" twice",
            ),
            (
                digest_table("weekly", "").replace("ocset_sergeants", "empty"),
                "recipients.empty: is empty, but digest \"d\" is sent to it: that digest would reach nobody",
            ),
            (
                digest_table("daily", "timezone = \"UTC\""),
                "digest[0].timezone: unknown field `timezone`",
            ),
        ];
        for (table, expected) in cases {
            let faults = digest_faults(&table);
            assert!(
                faults.iter().any(|f| f.starts_with(expected)),
                "{table}\nexpected {expected:?}\ngot {faults:?}"
            );
        }
        // A table without a required field.
        let faults =
            digest_faults("[[digest]]\nname = \"d\"\nkind = \"daily\"\naudience = [\"ppu_slt\"]\n");
        assert!(
            faults
                .iter()
                .any(|f| f.starts_with("digest[0]") && f.contains("missing field `at`")),
            "{faults:?}"
        );
        // Every fault in one entry is reported at once.
        let faults = digest_faults("[[digest]]\nname = \"\"\nkind = \"daily\"\nday = \"mon\"\nat = \"24:00\"\naudience = []\n");
        let keys: Vec<&str> = faults
            .iter()
            .map(|f| f.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "digest[0].name",
                "digest[0].day",
                "digest[0].at",
                "digest[0].audience"
            ]
        );
    }

    #[test]
    fn a_daily_digest_group_must_reach_every_lpa_and_a_weekly_one_somebody() {
        let text = r#"
[force]
lpas = ["North", "South"]
[recipients.ocset_sergeants]
default = ["sgts@force.example"]
[recipients.ocset_inspector]
default = ["insp@force.example"]
[recipients.ppu_slt]
default = ["slt@force.example"]
[recipients.north_only]
by_lpa = { North = ["north@force.example"] }
[[digest]]
name = "weekly"
kind = "weekly"
at = "07:00"
audience = ["north_only"]
[[digest]]
name = "daily"
kind = "daily"
at = "08:00"
audience = ["north_only"]
"#;
        let err = load_str(text, "f.toml", env(&[])).unwrap_err();
        let faults: Vec<String> = err.iter().map(ToString::to_string).collect();
        assert_eq!(
            faults,
            ["f.toml: recipients.north_only: is empty for South, but digest \"daily\" is sent to it: that digest would reach nobody"]
        );
    }

    #[test]
    fn an_address_covers_the_lpas_its_lists_cover() {
        let group = RecipientGroup {
            default: vec!["all@force.example".into(), "both@force.example".into()],
            by_lpa: [
                (
                    "Birmingham".to_string(),
                    vec![
                        "bham@force.example".to_string(),
                        "both@force.example".to_string(),
                    ],
                ),
                (
                    "Coventry".to_string(),
                    vec!["cov@force.example".to_string()],
                ),
            ]
            .into(),
        };
        let force: Vec<String> = ["Birmingham", "Coventry", "Dudley", "Walsall"]
            .map(String::from)
            .into();
        let only = |lpas: &[&str]| LpaCoverage::Only(lpas.iter().map(|l| l.to_string()).collect());
        assert_eq!(
            lpas_of(&group, "all@force.example", &force),
            only(&["Dudley", "Walsall"])
        );
        assert_eq!(
            lpas_of(&group, "BHAM@force.example", &force),
            only(&["Birmingham"])
        );
        assert_eq!(
            lpas_of(&group, "both@force.example", &force),
            only(&["Birmingham", "Dudley", "Walsall"])
        );
        assert!(lpas_of(&group, "stranger@force.example", &force).is_empty());
        // No LPA list: any LPA exists, so the default covers all but those
        // with lists of their own.
        let all = lpas_of(&group, "all@force.example", &[]);
        assert_eq!(
            all,
            LpaCoverage::AllExcept(vec!["Birmingham".into(), "Coventry".into()])
        );
        assert!(all.covers("Anywhere") && !all.covers("birmingham"));
        assert_eq!(
            lpas_of(&group, "both@force.example", &[]),
            LpaCoverage::AllExcept(vec!["Coventry".into()])
        );
        assert_eq!(
            lpas_of(&group, "cov@force.example", &[]),
            only(&["Coventry"])
        );
        assert!(LpaCoverage::all().covers("Anywhere"));
        assert_eq!(
            group.addresses(),
            [
                "all@force.example",
                "bham@force.example",
                "both@force.example",
                "cov@force.example"
            ]
        );
    }

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl("postgres://ocset:hunter2@db:5432/ocset".into());
        assert_eq!(url.to_string(), "postgres://ocset:***@db:5432/ocset");
        assert!(!format!("{url:?}").contains("hunter2"));
        let config = Config {
            database: DatabaseConfig {
                url,
                max_connections: 1,
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
