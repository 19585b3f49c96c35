//! Loading: the built-in defaults, the TOML file laid over them, then the
//! `OCSET__SECTION__KEY` environment variables laid over both, each value
//! remembered by where it came from so a fault can name its source.

use super::check::check;
use super::{Config, ConfigError, Settings, ENV_PREFIX};
use std::collections::BTreeMap;
use std::path::Path;

/// How a fault's source names an environment variable: `environment
/// variable OCSET__…`.
pub(super) const FROM_ENVIRONMENT: &str = "environment variable";

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
    let mut env: BTreeMap<String, String> = env.into_iter().collect();
    let (named, mut errors) = read_secret_files(&mut env);
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
                from_env.insert(key, named.get(&name).cloned().unwrap_or(name));
            }
            Err(reason) => errors.push(ConfigError {
                source_name: format!("{FROM_ENVIRONMENT} {}", named.get(&name).unwrap_or(&name)),
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
            .map(|(_, var)| format!("{FROM_ENVIRONMENT} {var}"))
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

/// The variables whose value may instead be read from a file named by the
/// same name with `_FILE` added, as container platforms hand over secrets
/// (`OCSET__DATABASE__URL_FILE=/run/secrets/database_url`). Only these:
/// other keys may themselves end in `_FILE` (`mail.smtp.ca_file`).
pub(crate) const SECRET_FILE_VARIABLES: [&str; 2] =
    ["OCSET__DATABASE__URL", "OCSET__MAIL__SMTP__PASSWORD"];

/// Replaces each `…_FILE` variable of [`SECRET_FILE_VARIABLES`] in `env` by
/// the variable it stands for, holding the file's content less its final
/// line break. Returns which variable each came from (to name it in
/// faults) and the faults: an unreadable file, or both forms set.
fn read_secret_files(
    env: &mut BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<ConfigError>) {
    let mut named = BTreeMap::new();
    let mut errors = Vec::new();
    for name in SECRET_FILE_VARIABLES {
        let file_var = format!("{name}_FILE");
        let Some(path) = env.remove(&file_var) else {
            continue;
        };
        let key = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(".");
        let fault = |reason: String| ConfigError {
            source_name: format!("{FROM_ENVIRONMENT} {file_var}"),
            key: key.clone(),
            reason,
        };
        if env.contains_key(name) {
            errors.push(fault(format!(
                "{name} is set as well; set one or the other"
            )));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let value = text.strip_suffix('\n').unwrap_or(&text);
                let value = value.strip_suffix('\r').unwrap_or(value);
                env.insert(name.to_string(), value.to_string());
                named.insert(name.to_string(), file_var);
            }
            Err(e) => errors.push(fault(format!("cannot read the secret file {path}: {e}"))),
        }
    }
    (named, errors)
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{env, with_groups, GROUPS};
    use super::super::LogFormat;
    use super::*;
    use crate::domain::{ReviewIntervals, RiskGrade, Timescale, Timescales};
    use std::collections::BTreeSet;

    #[test]
    fn empty_file_gives_the_defaults() {
        let s = load_str(GROUPS, "test.toml", env(&[])).unwrap();
        assert_eq!(s.config.database, Config::default().database);
        assert_eq!(s.config.escalation, Config::default().escalation);
        assert_eq!(s.time_zone, chrono_tz::Europe::London);
        assert_eq!(s.policy.timescales(), &Timescales::default());
        assert_eq!(s.ladder().len(), 5);
        assert_eq!(s.ladder_timing().review_every, ReviewIntervals::default());
    }

    #[test]
    fn the_shipped_default_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let s = load(&path, env(&[])).unwrap();
        assert_eq!(s.lpas.all().len(), 7);
        assert_eq!(s.config.database.url.expose(), "sqlite://data/ocset.db");
        assert_eq!(s.policy.timescales(), &Timescales::default());
    }

    /// `text` with every commented-out example (`# key = value`,
    /// `# [section]`, `# [[table]]`) uncommented; prose stays a comment.
    fn uncomment_examples(text: &str) -> String {
        let is_key = |line: &str| {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            !name.is_empty() && line[name.len()..].trim_start().starts_with('=')
        };
        text.lines()
            .map(|line| {
                let Some(comment) = line.strip_prefix('#') else {
                    return line.to_string();
                };
                let example = comment.strip_prefix(' ').unwrap_or(comment);
                let looks_like = example.starts_with('[') || is_key(example);
                if looks_like && example.parse::<toml::Table>().is_ok() {
                    example.to_string()
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The dotted path of every key in `value` (an array of tables counts
    /// as its tables' keys, without an index; an empty table has none)
    /// into `paths`. A recipient group's keys count as any group's
    /// (`recipients.*.default`): the groups' names are the force's data.
    fn key_paths(value: &serde_json::Value, prefix: &str, paths: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    let path = match prefix {
                        "" => key.clone(),
                        "recipients" => "recipients.*".to_string(),
                        _ if prefix.starts_with("recipients.*.by_lpa") => prefix.to_string(),
                        _ => format!("{prefix}.{key}"),
                    };
                    key_paths(inner, &path, paths);
                }
            }
            serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                for item in items {
                    key_paths(item, prefix, paths);
                }
            }
            _ => {
                paths.insert(prefix.to_string());
            }
        }
    }

    #[test]
    fn the_shipped_default_file_documents_every_key_it_accepts() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let shipped = std::fs::read_to_string(path).unwrap();
        let documented: toml::Table = uncomment_examples(&shipped)
            .parse()
            .expect("the file with its examples uncommented is TOML");
        let mut documented_keys = BTreeSet::new();
        key_paths(
            &serde_json::to_value(&documented).unwrap(),
            "",
            &mut documented_keys,
        );

        // Every key shown is one the service reads ...
        let config: Config = toml::Value::Table(documented.clone())
            .try_into()
            .expect("every key the file shows is accepted");
        // ... and every key it reads is shown (each optional one is set in
        // an example, so none is left out of this serialization).
        let mut accepted_keys = BTreeSet::new();
        key_paths(
            &serde_json::to_value(&config).unwrap(),
            "",
            &mut accepted_keys,
        );
        let undocumented: Vec<&String> = accepted_keys.difference(&documented_keys).collect();
        assert!(
            undocumented.is_empty(),
            "keys the configuration accepts that config/default.toml does not show: {undocumented:?}"
        );
        for key in [
            "mail.transport",
            "mail.from",
            "mail.marking",
            "mail.file_dir",
            "mail.smtp.host",
            "mail.smtp.port",
            "mail.smtp.tls",
            "mail.smtp.username",
            "mail.smtp.timeout_seconds",
            "links.package_url",
            "webhook.name",
            "webhook.url",
            "webhook.levels",
            "webhook.format",
            "webhook.secret_env",
            "http.bind",
            "http.public_url",
        ] {
            assert!(documented_keys.contains(key), "{key} is not documented");
        }
        assert!(
            !documented_keys.contains("mail.smtp.password"),
            "the SMTP password is read from the environment only"
        );
        assert!(shipped.contains("OCSET__MAIL__SMTP__PASSWORD"));
        // The examples stay examples: the file as shipped sends no webhook
        // and links nowhere.
        let s = load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"),
            env(&[]),
        )
        .unwrap();
        assert!(s.config.webhook.is_empty());
        assert_eq!(
            s.config.links,
            crate::notify::config::LinksConfig::default()
        );
        assert_eq!(s.config.mail, crate::notify::config::MailConfig::default());
    }

    #[test]
    fn the_production_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/production.example.toml");
        let s = load(&path, env(&[("OCSET__MAIL__SMTP__PASSWORD", "x")])).unwrap();
        assert!(s.config.database.url.expose().starts_with("postgres://"));
        assert_eq!(s.config.log.format, LogFormat::Json);
        assert_eq!(s.policy.version().as_str(), "national-2024");
        let digests: Vec<&str> = s.digests().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(digests, ["weekly", "daily-sergeants"]);
        // It mails people: a production install that follows it emails.
        assert_eq!(
            s.config.mail.transport,
            crate::notify::config::MailTransport::Smtp
        );
        assert!(s.concerns().is_empty(), "{:?}", s.concerns());
    }

    #[test]
    fn secrets_can_come_from_files_named_by_file_variables() {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("database_url");
        std::fs::write(&url_file, "postgres://ocset:s3cret@db/ocset\n").unwrap();
        let password_file = dir.path().join("smtp_password");
        std::fs::write(&password_file, "relay-pw\r\n").unwrap();
        let text = with_groups(
            "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"smtp.force.example\"\nusername = \"ocset\"\n",
        );
        let vars = [
            ("OCSET__DATABASE__URL_FILE", url_file.to_str().unwrap()),
            (
                "OCSET__MAIL__SMTP__PASSWORD_FILE",
                password_file.to_str().unwrap(),
            ),
        ];
        let s = load_str(&text, "t.toml", env(&vars)).unwrap();
        assert_eq!(
            s.config.database.url.expose(),
            "postgres://ocset:s3cret@db/ocset"
        );
        assert_eq!(
            s.config
                .mail
                .smtp
                .password
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
            Some("relay-pw")
        );
        // A fault in a value read from a file names the _FILE variable.
        std::fs::write(&url_file, "mysql://db\n").unwrap();
        let errors = load_str(&text, "t.toml", env(&vars)).unwrap_err();
        assert_eq!(
            errors[0].source_name,
            "environment variable OCSET__DATABASE__URL_FILE"
        );
        assert_eq!(errors[0].key, "database.url");

        let missing = [("OCSET__DATABASE__URL_FILE", "/no/such/secret")];
        let errors = load_str(GROUPS, "t.toml", env(&missing)).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].source_name,
            "environment variable OCSET__DATABASE__URL_FILE"
        );
        assert!(
            errors[0]
                .reason
                .contains("cannot read the secret file /no/such/secret"),
            "{errors:?}"
        );
        let both = [
            ("OCSET__DATABASE__URL_FILE", url_file.to_str().unwrap()),
            ("OCSET__DATABASE__URL", "sqlite://x.db"),
        ];
        let errors = load_str(GROUPS, "t.toml", env(&both)).unwrap_err();
        assert!(
            errors[0].reason.contains("set one or the other"),
            "{errors:?}"
        );
        // Other keys ending in _file are ordinary keys, not secret files.
        let ca = [("OCSET__MAIL__FILE_DIR", "/var/lib/ocset/outbox")];
        let s = load_str(GROUPS, "t.toml", env(&ca)).unwrap();
        assert_eq!(
            s.config.mail.file_dir,
            std::path::PathBuf::from("/var/lib/ocset/outbox")
        );
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
    fn emails_link_to_the_dashboard_when_no_case_system_link_is_set() {
        let dashboard = with_groups("[http]\npublic_url = \"https://ocset.force.police.uk/\"\n");
        let s = load_str(&dashboard, "f.toml", env(&[])).unwrap();
        assert_eq!(
            s.package_link("NCA/1 a").as_deref(),
            Some("https://ocset.force.police.uk/packages/NCA%2F1%20a")
        );
        let both = format!(
            "{dashboard}[links]\npackage_url = \"https://case-system.example/p/{{reference}}\"\n"
        );
        let s = load_str(&both, "f.toml", env(&[])).unwrap();
        assert_eq!(
            s.package_link("A-1").as_deref(),
            Some("https://case-system.example/p/A-1"),
            "the case system's link wins"
        );
        let s = load_str(GROUPS, "f.toml", env(&[])).unwrap();
        assert_eq!(s.package_link("A-1"), None);
    }

    #[test]
    fn the_public_url_is_optional_and_must_be_an_http_address() {
        let s = load_str(GROUPS, "f.toml", env(&[])).unwrap();
        assert_eq!(s.public_url(), None);
        let s = load_str(
            &with_groups("[http]\npublic_url = \"https://ocset.force.police.uk\"\n"),
            "f.toml",
            env(&[]),
        )
        .unwrap();
        assert_eq!(s.public_url(), Some("https://ocset.force.police.uk"));
        for bad in ["ocset.force.police.uk", "ftp://x", "https://a b"] {
            let err =
                load_str(GROUPS, "f.toml", env(&[("OCSET__HTTP__PUBLIC_URL", bad)])).unwrap_err();
            assert_eq!(err[0].key, "http.public_url", "{bad}");
        }
    }

    #[test]
    fn review_intervals_default_per_grade_and_bad_ones_name_their_key() {
        let s = load_str(
            &with_groups("[review.every]\nhigh = \"2d\"\nstandard = \"336h\"\n"),
            "cfg.toml",
            env(&[]),
        )
        .unwrap();
        let every = s.ladder_timing().review_every;
        assert_eq!(every.for_grade(RiskGrade::High), Timescale::Days(2));
        assert_eq!(every.for_grade(RiskGrade::Standard), Timescale::Hours(336));
        // Grades left out keep their defaults.
        assert_eq!(every.for_grade(RiskGrade::VeryHigh), Timescale::Days(1));
        assert_eq!(every.for_grade(RiskGrade::Medium), Timescale::Days(7));
        for (text, key) in [
            ("[review.every]\nhigh = \"3x\"\n", "review.every.high"),
            ("[review.every]\nmedium = \"0d\"\n", "review.every.medium"),
        ] {
            let err = load_str(&with_groups(text), "cfg.toml", env(&[])).unwrap_err();
            assert_eq!(err[0].key, key, "{text}");
        }
        let err = load_str(
            &with_groups("[review.every]\ncritical = \"1d\"\n"),
            "cfg.toml",
            env(&[]),
        )
        .unwrap_err();
        assert!(
            err[0].reason.contains("unknown field `critical`"),
            "{}",
            err[0]
        );
        let err = load_str(
            GROUPS,
            "f.toml",
            env(&[("OCSET__REVIEW__EVERY__VERY_HIGH", "soon")]),
        )
        .unwrap_err();
        assert_eq!(err[0].key, "review.every.very_high");
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
}
