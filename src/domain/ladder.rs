//! The escalation ladder: named levels, each at a point on a package clock.
//! This module holds the timing rules only; who is told is resolved later.

use super::grade::RiskGrade;
use super::package::{Package, PackageStatus};
use super::review::ReviewIntervals;
use super::timescale::{earliest_instant_at_or_after, Deadline, Timescale};
use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A point on a clock: a share of the timescale, or an offset from the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelTime {
    /// `"75%"`: that share of the timescale has elapsed (0 to 100).
    Percent(u32),
    /// `"-24h"`, `"0"`, `"+7d"`: before or after the deadline. Days are
    /// calendar days in the force time zone, as for timescales.
    FromDeadline {
        /// True for a point before the deadline.
        before: bool,
        /// The distance from the deadline; `None` is the deadline itself.
        by: Option<Timescale>,
    },
}

/// A level time that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a level time: expected a percentage of the timescale (\"75%\"), \"0\" for the deadline, or an offset from it (\"-24h\", \"+7d\")")]
pub struct BadLevelTime {
    /// The value as given.
    pub(crate) value: String,
}

impl FromStr for LevelTime {
    type Err = BadLevelTime;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || BadLevelTime {
            value: value.to_string(),
        };
        let text = value.trim();
        if let Some(number) = text.strip_suffix('%') {
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let percent: u32 = number.parse().map_err(|_| bad())?;
            return if percent <= 100 {
                Ok(LevelTime::Percent(percent))
            } else {
                Err(bad())
            };
        }
        if text == "0" || text == "+0" || text == "-0" {
            return Ok(LevelTime::FromDeadline {
                before: false,
                by: None,
            });
        }
        let (before, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => return Err(bad()),
        };
        let by: Timescale = rest.parse().map_err(|_| bad())?;
        Ok(LevelTime::FromDeadline {
            before,
            by: Some(by),
        })
    }
}

impl fmt::Display for LevelTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LevelTime::Percent(p) => write!(f, "{p}%"),
            LevelTime::FromDeadline { by: None, .. } => f.write_str("0"),
            LevelTime::FromDeadline {
                before,
                by: Some(by),
            } => write!(f, "{}{by}", if *before { '-' } else { '+' }),
        }
    }
}

impl Serialize for LevelTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LevelTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl LevelTime {
    /// The instant this point falls at on a clock that started at `started`
    /// and is due at `due`, in zone `tz`.
    pub fn instant(self, started: DateTime<Utc>, due: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match self {
            LevelTime::Percent(p) => {
                let seconds = (due - started).num_seconds() * i64::from(p) / 100;
                started + chrono::Duration::seconds(seconds)
            }
            LevelTime::FromDeadline { by: None, .. } => due,
            LevelTime::FromDeadline {
                before: false,
                by: Some(by),
            } => by.after(due, tz),
            LevelTime::FromDeadline {
                before: true,
                by: Some(Timescale::Hours(h)),
            } => due - chrono::Duration::hours(i64::from(h)),
            LevelTime::FromDeadline {
                before: true,
                by: Some(Timescale::Days(d)),
            } => {
                let local = due.with_timezone(&tz).naive_local();
                let target = local
                    .checked_sub_days(Days::new(u64::from(d)))
                    .expect("timescales are capped at ten years");
                earliest_instant_at_or_after(tz, target)
            }
        }
    }
}

/// Which clock of a package a level watches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PackageClock {
    /// From receipt to enforcement or closure; length from the grade.
    #[default]
    Enforcement,
    /// From child access being identified to the social-services referral.
    Safeguarding,
    /// From receipt or the last review to the next review, while the
    /// package is open; length from the grade (`[review.every]`).
    Review,
}

impl PackageClock {
    /// True when the clock's length, and so its levels' `grades` limits,
    /// follow the package's grade: every clock but safeguarding's.
    pub(crate) fn follows_grade(self) -> bool {
        self != PackageClock::Safeguarding
    }
}

/// One level of the escalation ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevel {
    /// The level's name ("warning", "breach", "senior", "safeguarding").
    pub(crate) name: String,
    /// The clock the level watches.
    #[serde(default)]
    pub(crate) clock: PackageClock,
    /// When on that clock the level falls due.
    pub(crate) at: LevelTime,
    /// Recipient groups, or `assigned_officer`.
    pub(crate) notify: Vec<String>,
    /// Limits the level to these grades; all grades when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) grades: Option<Vec<RiskGrade>>,
    /// Repeats this often until the clock stops or a supervisor acknowledges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) repeat_every: Option<Timescale>,
}

impl EscalationLevel {
    /// The clock the level watches.
    pub fn clock(&self) -> PackageClock {
        self.clock
    }

    /// True when the level applies to packages of `grade`.
    pub(crate) fn applies_to(&self, grade: RiskGrade) -> bool {
        self.grades
            .as_ref()
            .is_none_or(|grades| grades.contains(&grade))
    }
}

/// The default ladder of DESIGN.md.
pub fn default_ladder() -> Vec<EscalationLevel> {
    let level =
        |name: &str, clock, at: &str, notify: &[&str], repeat: Option<&str>| EscalationLevel {
            name: name.into(),
            clock,
            at: at.parse().expect("default level time"),
            notify: notify.iter().map(|s| s.to_string()).collect(),
            grades: None,
            repeat_every: repeat.map(|r| r.parse().expect("default repeat")),
        };
    vec![
        level(
            "warning",
            PackageClock::Enforcement,
            "75%",
            &["assigned_officer", "ocset_sergeants"],
            None,
        ),
        level(
            "breach",
            PackageClock::Enforcement,
            "0",
            &["ocset_sergeants", "ocset_inspector"],
            Some("24h"),
        ),
        level(
            "senior",
            PackageClock::Enforcement,
            "+7d",
            &["ppu_slt"],
            None,
        ),
        level(
            "safeguarding",
            PackageClock::Safeguarding,
            "0",
            &["ocset_sergeants"],
            Some("24h"),
        ),
        level(
            "review",
            PackageClock::Review,
            "0",
            &["ocset_sergeants"],
            Some("24h"),
        ),
    ]
}

/// The ladder with what it needs to time a package's levels: the force time
/// zone and the lengths of the safeguarding-referral and review clocks.
#[derive(Debug, Clone, Copy)]
pub struct LadderTiming<'a> {
    /// The force's escalation levels, in configuration order.
    pub levels: &'a [EscalationLevel],
    /// The force's time zone: level times and timescales counted in days
    /// fall on its local calendar.
    pub time_zone: Tz,
    /// How long after child access is identified the referral is due.
    pub referral_within: Timescale,
    /// How often each grade's open packages are reviewed.
    pub review_every: ReviewIntervals,
}

impl LadderTiming<'_> {
    /// Where a package's `clock` started and when it is due, while it runs.
    /// The enforcement clock runs until enforcement or closure; the
    /// safeguarding clock from child access being identified until referral;
    /// the review clock from its last restart while the package is open.
    pub(crate) fn clock_span(
        &self,
        package: &Package,
        clock: PackageClock,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match clock {
            PackageClock::Enforcement => package.state().is_open().then(|| {
                (
                    package.deadline().clock_started_at(),
                    package.deadline().at(),
                )
            }),
            PackageClock::Safeguarding => {
                let safeguarding = package.safeguarding();
                match (
                    safeguarding.child_access_identified_at(),
                    safeguarding.referral_made_at(),
                ) {
                    (Some(access), None) => {
                        Some((access, self.referral_within.after(access, self.time_zone)))
                    }
                    _ => None,
                }
            }
            PackageClock::Review => package
                .review_due_at(&self.review_every, self.time_zone)
                .map(|due| (package.review_clock_started_at(), due)),
        }
    }

    /// Each level that applies to `package` now, with the instant it first
    /// falls due.
    pub(crate) fn first_instants(
        &self,
        package: &Package,
    ) -> Vec<(&EscalationLevel, DateTime<Utc>)> {
        self.levels
            .iter()
            .filter(|level| !level.clock.follows_grade() || level.applies_to(package.grade()))
            .filter_map(|level| {
                let (started, due) = self.clock_span(package, level.clock)?;
                Some((level, level.at.instant(started, due, self.time_zone)))
            })
            .collect()
    }

    /// The earliest instant any level falls due for `package`: its first
    /// `next_due_at`. `None` when every clock has stopped.
    pub(crate) fn first_due(&self, package: &Package) -> Option<DateTime<Utc>> {
        self.first_instants(package)
            .into_iter()
            .map(|(_, at)| at)
            .min()
    }

    /// The instant `package` becomes "due soon": its earliest enforcement
    /// level before the deadline. `None` when no level warns before it.
    pub(crate) fn due_soon_at(&self, package: &Package) -> Option<DateTime<Utc>> {
        due_soon_from(self.levels, package.deadline(), self.time_zone)
    }

    /// The package's status at `now`.
    pub(crate) fn status(&self, package: &Package, now: DateTime<Utc>) -> PackageStatus {
        package.status(now, self.due_soon_at(package))
    }
}

/// The instant a package with `deadline` becomes "due soon": the earliest
/// enforcement-clock level for its grade that falls before the deadline.
pub(crate) fn due_soon_from(
    ladder: &[EscalationLevel],
    deadline: &Deadline,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    ladder
        .iter()
        .filter(|level| {
            level.clock == PackageClock::Enforcement && level.applies_to(deadline.grade())
        })
        .map(|level| {
            level
                .at
                .instant(deadline.clock_started_at(), deadline.at(), tz)
        })
        .filter(|instant| *instant < deadline.at())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::timescale::{DeadlinePolicy, RegradePolicy, Timescales};
    use chrono_tz::Europe::London;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn deadline(grade: RiskGrade, received: &str) -> Deadline {
        DeadlinePolicy::new(
            Timescales::default(),
            London,
            RegradePolicy::FromReceipt,
            None,
        )
        .unwrap()
        .initial(grade, utc(received))
    }

    #[test]
    fn level_times_parse_and_print() {
        for text in ["75%", "0%", "100%", "0", "-24h", "+7d", "-2d", "+1h"] {
            let parsed: LevelTime = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!("+0".parse::<LevelTime>().unwrap().to_string(), "0");
        for bad in ["", "75", "101%", "%", "7d", "+", "-x", "75 %", "+-7d"] {
            let err = bad.parse::<LevelTime>().unwrap_err();
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn level_instants_relative_to_the_deadline() {
        let d = deadline(RiskGrade::High, "2024-03-25T10:00:00Z"); // due 1 Apr 10:00 BST = 09:00Z
        assert_eq!(d.at(), utc("2024-04-01T09:00:00Z"));
        let at = |t: &str| {
            t.parse::<LevelTime>()
                .unwrap()
                .instant(d.clock_started_at(), d.at(), London)
        };
        assert_eq!(at("0"), d.at());
        assert_eq!(at("-24h"), utc("2024-03-31T09:00:00Z"));
        // Seven calendar days back crosses the March change: 10:00 GMT.
        assert_eq!(at("-7d"), utc("2024-03-25T10:00:00Z"));
        assert_eq!(at("+7d"), utc("2024-04-08T09:00:00Z"));
        assert_eq!(at("100%"), d.at());
        assert_eq!(at("0%"), d.clock_started_at());
    }

    #[test]
    fn due_soon_is_the_first_enforcement_level_before_the_deadline() {
        let ladder = default_ladder();
        let d = deadline(RiskGrade::VeryHigh, "2024-01-01T00:00:00Z");
        assert_eq!(
            due_soon_from(&ladder, &d, London),
            Some(utc("2024-01-02T12:00:00Z"))
        );
        // A level limited to other grades does not count.
        let mut limited = ladder.clone();
        limited[0].grades = Some(vec![RiskGrade::Standard]);
        assert_eq!(due_soon_from(&limited, &d, London), None);
        // An earlier level wins.
        limited.push(EscalationLevel {
            name: "early".into(),
            clock: PackageClock::Enforcement,
            at: "-36h".parse().unwrap(),
            notify: vec!["ocset_sergeants".into()],
            grades: None,
            repeat_every: None,
        });
        assert_eq!(
            due_soon_from(&limited, &d, London),
            Some(utc("2024-01-01T12:00:00Z"))
        );
    }

    #[test]
    fn default_ladder_is_the_design_table() {
        let ladder = default_ladder();
        let names: Vec<&str> = ladder.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["warning", "breach", "senior", "safeguarding", "review"]
        );
        assert_eq!(ladder[1].repeat_every, Some(Timescale::Hours(24)));
        assert_eq!(ladder[3].clock, PackageClock::Safeguarding);
        assert_eq!(ladder[4].clock, PackageClock::Review);
        assert_eq!(ladder[4].at.to_string(), "0");
        assert_eq!(ladder[4].repeat_every, Some(Timescale::Hours(24)));
    }
}
