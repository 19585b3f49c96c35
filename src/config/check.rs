//! The checks serde cannot make: values that depend on each other, one
//! small function per section. Every fault is collected (not just the
//! first) in a fixed order — the order `check-config` prints them in.

use super::audience::audiences;
use super::digests::digest_schedules;
use super::{Config, ConfigError, RecipientGroup, Settings, ASSIGNED_OFFICER};
use crate::domain::{
    BreachReasons, DeadlinePolicy, EscalationLevel, Lpas, OfficerEmail, PackageClock, Timescales,
};
use crate::notify::config::check_webhooks;
use chrono_tz::Tz;
use secrecy::SecretString;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// The faults found so far, each named by its key and where the key's
/// value came from.
pub(super) struct Faults<'a> {
    source_of: &'a dyn Fn(&str) -> String,
    errors: Vec<ConfigError>,
}

impl Faults<'_> {
    /// Records that `key` is wrong, and why.
    pub(super) fn add(&mut self, key: &str, reason: String) {
        self.errors.push(ConfigError {
            source_name: (self.source_of)(key),
            key: key.to_string(),
            reason,
        });
    }

    /// How many faults are recorded so far.
    pub(super) fn count(&self) -> usize {
        self.errors.len()
    }

    /// Whether `key`'s value came from an environment variable rather than
    /// the file.
    pub(super) fn set_by_environment(&self, key: &str) -> bool {
        (self.source_of)(key).starts_with(super::load::FROM_ENVIRONMENT)
    }
}

/// Checks `config` as a whole and builds the settings from it, or returns
/// every fault. `source_of` names where a key's value came from; `env`
/// reads the environment variables that hold webhook secrets and the
/// OIDC client secret.
pub(super) fn check(
    config: Config,
    source_of: &dyn Fn(&str) -> String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Vec<ConfigError>> {
    let mut faults = Faults {
        source_of,
        errors: Vec::new(),
    };
    let time_zone = time_zone(&config, &mut faults);
    let lpas = lpas(&config, &mut faults);
    single_values(&config, &mut faults);
    ladder(&config, &mut faults);
    recipients(&config, lpas.as_ref(), &mut faults);
    let digests = digest_schedules(&config, &mut faults);
    notify_sections(&config, env, &mut faults);
    let webhook_secrets: BTreeMap<String, SecretString> = config
        .webhook
        .iter()
        .filter_map(|hook| hook.secret(env).map(|secret| (hook.name.clone(), secret)))
        .collect();
    delivery(&config, &mut faults);
    let breach_reasons = breach_reasons(&config, &mut faults);
    let policy = time_zone.and_then(|tz| policy(&config, tz, &mut faults));
    let oidc = super::auth::auth(&config, env, &mut faults);
    let retention = super::retention::retention(&config, &mut faults);

    let mut concerns = Faults {
        source_of,
        errors: Vec::new(),
    };
    super::production::concerns(&config, &mut concerns);

    match (time_zone, policy, lpas) {
        (Some(time_zone), Some(policy), Some(lpas)) if faults.errors.is_empty() => Ok(Settings {
            concerns: concerns.errors,
            audiences: audiences(&config),
            config,
            time_zone,
            policy,
            lpas,
            breach_reasons,
            path: PathBuf::new(),
            webhook_secrets,
            digests,
            oidc,
            retention,
        }),
        _ => Err(faults.errors),
    }
}

/// `[[breach_reasons]]`: at least one; each code lower-case snake_case and
/// unique, each label present; `other` listed, so that a breach whose cause
/// is not on the list can still be acknowledged (its note says why).
fn breach_reasons(config: &Config, faults: &mut Faults) -> BreachReasons {
    let entries = &config.breach_reasons.0;
    let mut seen = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        if !crate::domain::breach_reason::is_code(&entry.code) {
            faults.add(
                &format!("breach_reasons[{i}].code"),
                format!(
                    "{:?} is not a reason code: lower-case snake_case, such as awaiting_partner_agency, at most 40 characters",
                    entry.code
                ),
            );
        } else if !seen.insert(entry.code.as_str()) {
            faults.add(
                &format!("breach_reasons[{i}].code"),
                format!("{:?} is listed twice", entry.code),
            );
        }
        if entry.label.trim().is_empty() {
            faults.add(
                &format!("breach_reasons[{i}].label"),
                format!("the reason {:?} needs a label", entry.code),
            );
        }
    }
    if !entries
        .iter()
        .any(|e| e.code == crate::domain::breach_reason::OTHER)
    {
        faults.add(
            "breach_reasons",
            "must list the reason \"other\", for causes not on the list (the note says what)"
                .into(),
        );
    }
    BreachReasons::checked(entries.clone())
}

/// `force.time_zone`: an IANA name, parsed once here and held as a [`Tz`].
fn time_zone(config: &Config, faults: &mut Faults) -> Option<Tz> {
    match config.force.time_zone.parse() {
        Ok(tz) => Some(tz),
        Err(_) => {
            faults.add(
                "force.time_zone",
                format!(
                    "{:?} is not an IANA time zone name (such as Europe/London)",
                    config.force.time_zone
                ),
            );
            None
        }
    }
}

/// `force.lpas`.
fn lpas(config: &Config, faults: &mut Faults) -> Option<Lpas> {
    match Lpas::new(&config.force.lpas) {
        Ok(lpas) => Some(lpas),
        Err(e) => {
            faults.add("force.lpas", e.0);
            None
        }
    }
}

/// The values checked on their own: the database, the HTTP address, the
/// log filter and the timescales' version name.
fn single_values(config: &Config, faults: &mut Faults) {
    let url = config.database.url.expose();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres:")
        || url.starts_with("postgresql:"))
    {
        faults.add(
            "database.url",
            format!(
                "must start with sqlite: or postgres: (got {})",
                config.database.url
            ),
        );
    }
    if config.database.replicas == 0 {
        faults.add("database.replicas", "must be at least 1".into());
    } else if config.database.replicas > 1 && url.starts_with("sqlite:") {
        faults.add(
            "database.replicas",
            format!(
                "is {} but database.url is SQLite: a SQLite file belongs to one process; replicas need PostgreSQL",
                config.database.replicas
            ),
        );
    }
    if config.http.bind.parse::<std::net::SocketAddr>().is_err() {
        faults.add(
            "http.bind",
            format!(
                "{:?} is not an address and port such as 127.0.0.1:8080",
                config.http.bind
            ),
        );
    }
    if let Some(url) = &config.http.public_url {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            faults.add(
                "http.public_url",
                format!(
                    "{url:?} must be an address starting with https:// (or http:// for a trial)"
                ),
            );
        }
    }
    if config.database.max_connections == 0 {
        faults.add("database.max_connections", "must be at least 1".into());
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        faults.add(
            "log.level",
            format!("{:?} is not a log filter: {e}", config.log.level),
        );
    }
    if let Some(version) = &config.timescales.version {
        if version.trim().is_empty() || version.len() > 64 {
            faults.add(
                "timescales.version",
                "must be 1 to 64 characters, or left out".into(),
            );
        }
    }
}

/// `[[escalation.levels]]`: at least one level, each named once, each
/// reaching somebody in every LPA.
fn ladder(config: &Config, faults: &mut Faults) {
    let mut names = HashSet::new();
    if config.escalation.levels.is_empty() {
        faults.add(
            "escalation.levels",
            "the ladder has no levels; nobody would ever be told".into(),
        );
    }
    for (i, level) in config.escalation.levels.iter().enumerate() {
        let key = |field: &str| format!("escalation.levels[{i}].{field}");
        if level.name.trim().is_empty() {
            faults.add(&key("name"), "is empty".into());
        } else if !names.insert(level.name.as_str()) {
            faults.add(&key("name"), format!("{:?} names two levels", level.name));
        }
        level_fields(level, &key, faults);
        level_groups(config, level, &key, faults);
    }
}

/// One level's `notify` and `grades` lists on their own.
fn level_fields(level: &EscalationLevel, key: &dyn Fn(&str) -> String, faults: &mut Faults) {
    if level.notify.is_empty() {
        faults.add(&key("notify"), "lists nobody to notify".into());
    }
    if level.grades.as_ref().is_some_and(Vec::is_empty) {
        faults.add(
            &key("grades"),
            "is an empty list; leave it out to cover every grade".into(),
        );
    }
    if level.clock == PackageClock::Safeguarding && level.grades.is_some() {
        faults.add(
            &key("grades"),
            "safeguarding levels apply whatever the grade".into(),
        );
    }
    if !level.notify.is_empty() && level.notify.iter().all(|n| n == ASSIGNED_OFFICER) {
        faults.add(
            &key("notify"),
            "notifies only assigned_officer: an unassigned package would escalate to nobody; add a group".into(),
        );
    }
}

/// The groups one level notifies: each exists and reaches every LPA.
fn level_groups(
    config: &Config,
    level: &EscalationLevel,
    key: &dyn Fn(&str) -> String,
    faults: &mut Faults,
) {
    for group in level.notify.iter().filter(|n| *n != ASSIGNED_OFFICER) {
        match config.recipients.get(group) {
            None => faults.add(
                &key("notify"),
                format!("names the group {group:?}, which has no [recipients.{group}] table"),
            ),
            Some(members) => {
                // Every LPA must reach somebody, or that LPA's escalations
                // would go nowhere.
                if let Some(whom) = members.unreached(&config.force.lpas) {
                    faults.add(
                        &format!("recipients.{group}"),
                        format!("is empty{whom}, but level {:?} notifies it: that escalation would reach nobody", level.name),
                    );
                }
            }
        }
    }
}

/// `[recipients.NAME]`: every address is an email address, and every
/// `by_lpa` key one of the force's LPAs (when it lists them).
fn recipients(config: &Config, lpas: Option<&Lpas>, faults: &mut Faults) {
    for (group, members) in &config.recipients {
        addresses(group, members, faults);
        if let Some(lpas) = lpas {
            if !lpas.all().is_empty() {
                for lpa in members.by_lpa.keys() {
                    if lpas.parse(lpa).is_err() {
                        faults.add(
                            &format!("recipients.{group}.by_lpa.{lpa}"),
                            format!("{lpa:?} is not one of force.lpas"),
                        );
                    }
                }
            }
        }
    }
}

/// Every address of one group, keyed by the list it is in.
fn addresses(group: &str, members: &RecipientGroup, faults: &mut Faults) {
    let lists = std::iter::once((format!("recipients.{group}.default"), &members.default)).chain(
        members
            .by_lpa
            .iter()
            .map(|(lpa, list)| (format!("recipients.{group}.by_lpa.{lpa}"), list)),
    );
    for (key, list) in lists {
        for address in list {
            if let Err(e) = OfficerEmail::parse(address) {
                faults.add(
                    &key,
                    e.0.replace("the officer's email address", "an address"),
                );
            }
        }
    }
}

/// `[mail]`, `[links]` and `[[webhook]]`, which notify checks.
fn notify_sections(config: &Config, env: &dyn Fn(&str) -> Option<String>, faults: &mut Faults) {
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
        faults.add(&key, reason);
    }
}

/// `[delivery]` and `[scheduler]`: counts and waits of at least 1, and a
/// longest retry wait no shorter than the first.
fn delivery(config: &Config, faults: &mut Faults) {
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
            faults.add(key, "must be at least 1".into());
        }
    }
    if delivery.retry_max_seconds < delivery.retry_base_seconds {
        faults.add(
            "delivery.retry_max_seconds",
            "must not be less than delivery.retry_base_seconds".into(),
        );
    }
}

/// `[timescales]` in the force time zone: the deadline policy, refused
/// when a less urgent grade's timescale is shorter than a more urgent one's.
fn policy(config: &Config, tz: Tz, faults: &mut Faults) -> Option<DeadlinePolicy> {
    let timescales = Timescales {
        very_high: config.timescales.very_high,
        high: config.timescales.high,
        medium: config.timescales.medium,
        standard: config.timescales.standard,
    };
    match DeadlinePolicy::new(
        timescales,
        tz,
        config.timescales.regrade_policy,
        config.timescales.version.as_deref(),
    ) {
        Ok(policy) => Some(policy),
        Err(e) => {
            faults.add(&format!("timescales.{}", e.shorter_grade), e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_str;
    use super::super::test_support::{env, with_groups};

    #[test]
    fn breach_reasons_default_to_the_built_in_list_and_faults_name_the_entry() {
        let settings = load_str(&with_groups(""), "f.toml", env(&[])).unwrap();
        assert_eq!(
            settings.breach_reasons.codes(),
            [
                "awaiting_communications_data",
                "suspect_not_located",
                "resourcing",
                "awaiting_partner_agency",
                "other"
            ]
        );
        let text = r#"
[[breach_reasons]]
code = "weather"
label = "Severe weather"
[[breach_reasons]]
code = "other"
label = "Other"
"#;
        let settings = load_str(&with_groups(text), "f.toml", env(&[])).unwrap();
        assert_eq!(settings.breach_reasons.codes(), ["weather", "other"]);
        let text = r#"
[[breach_reasons]]
code = "Bad Code"
label = "x"
[[breach_reasons]]
code = "weather"
label = " "
[[breach_reasons]]
code = "weather"
label = "Weather"
"#;
        let err = load_str(&with_groups(text), "f.toml", env(&[])).unwrap_err();
        let keys: Vec<&str> = err.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "breach_reasons[0].code",
                "breach_reasons[1].label",
                "breach_reasons[2].code",
                "breach_reasons"
            ],
            "{err:?}"
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
}
