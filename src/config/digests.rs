//! `[[digest]]` tables checked into the domain's [`DigestSchedule`]s: every
//! fault in an entry is reported at once, keyed `digest[i].field`.

use super::check::Faults;
use super::{Config, DigestConfig, ASSIGNED_OFFICER};
use crate::domain::digest_schedule::{self as digest, DigestKind, DigestSchedule};
use std::collections::HashSet;

/// Checks each `[[digest]]` and returns those that pass; faults are keyed
/// `digest[i].field` (or `recipients.NAME` for a group that reaches nobody).
pub(super) fn digest_schedules(config: &Config, out: &mut Faults) -> Vec<DigestSchedule> {
    let mut names = HashSet::new();
    let mut schedules = Vec::new();
    for (i, entry) in config.digest.iter().enumerate() {
        let key = |field: &str| format!("digest[{i}].{field}");
        let mut faults: Vec<(String, String)> = Vec::new();
        if let Err(reason) = digest::check_name(&entry.name) {
            faults.push((key("name"), reason));
        } else if !names.insert(entry.name.as_str()) {
            faults.push((key("name"), format!("{:?} names two digests", entry.name)));
        }
        match schedule(config, entry, &key, faults) {
            Ok(schedule) => schedules.push(schedule),
            Err(faults) => {
                for (key, reason) in faults {
                    out.add(&key, reason);
                }
            }
        }
    }
    schedules
}

/// One entry's kind, day, time and audience, after the faults already
/// found in its name: the schedule, or every fault in the entry.
fn schedule(
    config: &Config,
    entry: &DigestConfig,
    key: &dyn Fn(&str) -> String,
    mut faults: Vec<(String, String)>,
) -> Result<DigestSchedule, Vec<(String, String)>> {
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
        (Some(kind @ (DigestKind::Monthly | DigestKind::Quarterly)), Some(_)) => {
            faults.push((
                key("day"),
                format!(
                    "is for weekly digests; a {kind} digest goes on the first working day (Monday to Friday) after the period ends, so remove it"
                ),
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
    audience(config, entry, kind, key, &mut faults);
    match (kind, at) {
        (Some(kind), Some(at)) if faults.is_empty() => Ok(DigestSchedule {
            name: entry.name.clone(),
            kind,
            day: match kind {
                DigestKind::Weekly => Some(day.unwrap_or(chrono::Weekday::Mon)),
                DigestKind::Daily | DigestKind::Monthly | DigestKind::Quarterly => None,
            },
            at,
            audience: entry.audience.clone(),
        }),
        _ => Err(faults),
    }
}

/// The audience: named, each group once, each an existing group that
/// reaches somebody (for a daily digest, somebody in every LPA).
fn audience(
    config: &Config,
    entry: &DigestConfig,
    kind: Option<DigestKind>,
    key: &dyn Fn(&str) -> String,
    faults: &mut Vec<(String, String)>,
) {
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
        // (as an escalation does); the weekly, monthly and quarterly ones
        // are force-wide.
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{env, with_groups, GROUPS};
    use super::super::{load, load_str};
    use super::*;
    use std::path::Path;

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

    #[test]
    fn monthly_and_quarterly_digests_are_force_wide_and_take_no_day() {
        let text = with_groups(
            "[[digest]]\nname = \"monthly\"\nkind = \"monthly\"\nat = \"07:00\"\naudience = [\"ppu_slt\"]\n\n[[digest]]\nname = \"qpr\"\nkind = \"quarterly\"\nat = \"07:30\"\naudience = [\"ocset_inspector\"]\n",
        );
        let s = load_str(&text, "f.toml", env(&[])).unwrap();
        let got: Vec<_> = s.digests().iter().map(|d| (d.kind, d.day)).collect();
        assert_eq!(
            got,
            [(DigestKind::Monthly, None), (DigestKind::Quarterly, None)]
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
        let cases: [(String, &str); 14] = [
            (digest_table("hourly", ""), "digest[0].kind: \"hourly\" is not a digest kind (weekly, daily, monthly or quarterly)"),
            (digest_table("weekly", "day = \"funday\""), "digest[0].day: \"funday\" is not a day of the week"),
            (digest_table("daily", "day = \"monday\""), "digest[0].day: is for weekly digests"),
            (digest_table("monthly", "day = \"monday\""), "digest[0].day: is for weekly digests; a monthly digest goes on the first working day"),
            (digest_table("quarterly", "day = \"friday\""), "digest[0].day: is for weekly digests; a quarterly digest goes on the first working day"),
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
}
