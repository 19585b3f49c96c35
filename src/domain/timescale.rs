//! National enforcement timescales and the deadline arithmetic.
//!
//! Two kinds of length: `"48h"` is elapsed hours; `"7d"` is calendar days in
//! the force's time zone, so a package received at 10:00 local is due at
//! 10:00 local seven days later, whatever a clock change does in between.

use super::grade::RiskGrade;
use chrono::{DateTime, Days, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A length of time as the national standards state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timescale {
    /// Elapsed hours ("48h").
    Hours(u32),
    /// Calendar days in the force time zone ("7d").
    Days(u32),
}

/// A timescale that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a timescale: expected a whole number above zero followed by h (elapsed hours) or d (calendar days), such as \"48h\" or \"7d\"")]
pub struct BadTimescale {
    /// The value as given.
    pub value: String,
}

/// The longest timescale accepted, so arithmetic cannot overflow: ten years.
const MAX_HOURS: u32 = 24 * 3660;

impl FromStr for Timescale {
    type Err = BadTimescale;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || BadTimescale {
            value: value.to_string(),
        };
        let text = value.trim();
        let (number, unit) = text.split_at(text.len().saturating_sub(1));
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u32 = number.parse().map_err(|_| bad())?;
        let timescale = match unit {
            "h" | "H" => Timescale::Hours(n),
            "d" | "D" => Timescale::Days(n),
            _ => return Err(bad()),
        };
        if n == 0 || timescale.nominal_hours() > MAX_HOURS {
            return Err(bad());
        }
        Ok(timescale)
    }
}

impl fmt::Display for Timescale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timescale::Hours(n) => write!(f, "{n}h"),
            Timescale::Days(n) => write!(f, "{n}d"),
        }
    }
}

impl Serialize for Timescale {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timescale {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Timescale {
    /// The length in hours, counting a day as 24: for comparing timescales.
    pub fn nominal_hours(self) -> u32 {
        match self {
            Timescale::Hours(n) => n,
            Timescale::Days(n) => n.saturating_mul(24),
        }
    }

    /// The instant this timescale after `start` ends, in zone `tz`.
    pub fn after(self, start: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match self {
            Timescale::Hours(n) => start + Duration::hours(i64::from(n)),
            Timescale::Days(n) => {
                let local = start.with_timezone(&tz).naive_local();
                let target = local
                    .checked_add_days(Days::new(u64::from(n)))
                    .expect("timescales are capped at ten years");
                earliest_instant_at_or_after(tz, target)
            }
        }
    }
}

/// The instant a local wall-clock time names, choosing the conservative one
/// for a deadline: the first of the two in the repeated autumn hour, and the
/// moment the clocks went forward for a time inside the spring gap.
pub fn earliest_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, second) => first.min(second).with_timezone(&Utc),
        LocalResult::None => {
            // Inside a gap. Local time rises with UTC outside a repeated hour,
            // so search for the first second whose local time is not before
            // `local`: that is the moment the clocks jumped past it.
            let at = |s: i64| DateTime::from_timestamp(s, 0).expect("within chrono's range");
            let centre = local.and_utc().timestamp();
            let (mut lo, mut hi) = (centre - 30 * 3600, centre + 30 * 3600);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if at(mid).with_timezone(&tz).naive_local() >= local {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            at(hi)
        }
    }
}

/// How a regrade moves the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegradePolicy {
    /// The new grade's timescale counts from receipt (the default).
    #[default]
    FromReceipt,
    /// The new grade's timescale counts from the regrade.
    FromRegrade,
}

impl RegradePolicy {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RegradePolicy::FromReceipt => "from_receipt",
            RegradePolicy::FromRegrade => "from_regrade",
        }
    }
}

/// The timescale for each grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timescales {
    /// Very high risk; 48 hours by default.
    pub very_high: Timescale,
    /// High risk; 7 days by default.
    pub high: Timescale,
    /// Medium risk; 21 days by default.
    pub medium: Timescale,
    /// Standard risk; 60 days by default.
    pub standard: Timescale,
}

impl Default for Timescales {
    fn default() -> Self {
        Self {
            very_high: Timescale::Hours(48),
            high: Timescale::Days(7),
            medium: Timescale::Days(21),
            standard: Timescale::Days(60),
        }
    }
}

/// Timescales that would make a less urgent grade due sooner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timescales.{shorter_grade} ({shorter}) is shorter than timescales.{longer_grade} ({longer}): a less urgent grade cannot have a shorter timescale")]
pub struct TimescalesOutOfOrder {
    /// The more urgent grade.
    pub longer_grade: RiskGrade,
    /// Its timescale.
    pub longer: Timescale,
    /// The less urgent grade.
    pub shorter_grade: RiskGrade,
    /// Its (shorter) timescale.
    pub shorter: Timescale,
}

impl Timescales {
    /// The timescale for `grade`.
    pub fn for_grade(&self, grade: RiskGrade) -> Timescale {
        match grade {
            RiskGrade::VeryHigh => self.very_high,
            RiskGrade::High => self.high,
            RiskGrade::Medium => self.medium,
            RiskGrade::Standard => self.standard,
        }
    }

    /// Checks that no less urgent grade has a shorter timescale; otherwise an
    /// upgrade could move a deadline later.
    pub fn check_order(&self) -> Result<(), TimescalesOutOfOrder> {
        for pair in RiskGrade::ALL.windows(2) {
            let (urgent, lesser) = (pair[0], pair[1]);
            let (a, b) = (self.for_grade(urgent), self.for_grade(lesser));
            if b.nominal_hours() < a.nominal_hours() {
                return Err(TimescalesOutOfOrder {
                    longer_grade: urgent,
                    longer: a,
                    shorter_grade: lesser,
                    shorter: b,
                });
            }
        }
        Ok(())
    }
}

/// The name of the deadline policy a deadline was computed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyVersion(String);

impl PolicyVersion {
    /// A version as stored; any non-empty text.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The version's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything that decides a deadline: the timescales, the force time zone,
/// the regrade policy, and the version name they are known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlinePolicy {
    timescales: Timescales,
    time_zone: Tz,
    regrade: RegradePolicy,
    version: PolicyVersion,
}

impl DeadlinePolicy {
    /// A policy. Without a `name`, the version is a hash of the settings, so
    /// any change of configuration shows as a new version on new deadlines.
    pub fn new(
        timescales: Timescales,
        time_zone: Tz,
        regrade: RegradePolicy,
        name: Option<&str>,
    ) -> Result<Self, TimescalesOutOfOrder> {
        timescales.check_order()?;
        let version = match name {
            Some(name) => PolicyVersion(name.to_string()),
            None => {
                let canonical = format!(
                    "very_high={};high={};medium={};standard={};tz={};regrade={}",
                    timescales.very_high,
                    timescales.high,
                    timescales.medium,
                    timescales.standard,
                    time_zone.name(),
                    regrade.as_str()
                );
                let digest = Sha256::digest(canonical.as_bytes());
                let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                PolicyVersion(format!("timescales-{hex}"))
            }
        };
        Ok(Self {
            timescales,
            time_zone,
            regrade,
            version,
        })
    }

    /// The timescales in force.
    pub fn timescales(&self) -> &Timescales {
        &self.timescales
    }

    /// The force time zone.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The regrade policy.
    pub fn regrade_policy(&self) -> RegradePolicy {
        self.regrade
    }

    /// The version name new deadlines record.
    pub fn version(&self) -> &PolicyVersion {
        &self.version
    }

    /// The deadline of a package received at `received_at` with `grade`.
    pub fn initial(&self, grade: RiskGrade, received_at: DateTime<Utc>) -> Deadline {
        Deadline {
            grade,
            at: self
                .timescales
                .for_grade(grade)
                .after(received_at, self.time_zone),
            clock_started_at: received_at,
            policy_version: self.version.clone(),
        }
    }

    /// The deadline after a regrade to `grade` at `at`. Under `from_receipt`
    /// the new timescale counts from receipt, under `from_regrade` from the
    /// regrade. An upgrade never moves the deadline later: if the new
    /// computation would, the current deadline stands.
    pub fn regrade(
        &self,
        current: &Deadline,
        received_at: DateTime<Utc>,
        grade: RiskGrade,
        at: DateTime<Utc>,
    ) -> Deadline {
        let clock_started_at = match self.regrade {
            RegradePolicy::FromReceipt => received_at,
            RegradePolicy::FromRegrade => at,
        };
        let computed = Deadline {
            grade,
            at: self
                .timescales
                .for_grade(grade)
                .after(clock_started_at, self.time_zone),
            clock_started_at,
            policy_version: self.version.clone(),
        };
        if grade.is_more_urgent_than(current.grade) && computed.at > current.at {
            Deadline {
                grade,
                ..current.clone()
            }
        } else {
            computed
        }
    }
}

/// When a package must be enforced by, with the grade and policy that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadline {
    grade: RiskGrade,
    at: DateTime<Utc>,
    clock_started_at: DateTime<Utc>,
    policy_version: PolicyVersion,
}

impl Deadline {
    /// A deadline read back from storage, where it was computed before.
    pub fn restore(
        grade: RiskGrade,
        at: DateTime<Utc>,
        clock_started_at: DateTime<Utc>,
        policy_version: PolicyVersion,
    ) -> Self {
        Self {
            grade,
            at,
            clock_started_at,
            policy_version,
        }
    }

    /// The grade whose timescale set this deadline.
    pub fn grade(&self) -> RiskGrade {
        self.grade
    }

    /// The instant enforcement is due by.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Where the timescale was counted from: receipt, or a regrade under
    /// `from_regrade`.
    pub fn clock_started_at(&self) -> DateTime<Utc> {
        self.clock_started_at
    }

    /// The policy version this deadline was computed under.
    pub fn policy_version(&self) -> &PolicyVersion {
        &self.policy_version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn policy(regrade: RegradePolicy) -> DeadlinePolicy {
        DeadlinePolicy::new(Timescales::default(), London, regrade, None).unwrap()
    }

    #[test]
    fn timescale_text_parses_and_prints() {
        assert_eq!("48h".parse(), Ok(Timescale::Hours(48)));
        assert_eq!("7d".parse(), Ok(Timescale::Days(7)));
        assert_eq!("60D".parse(), Ok(Timescale::Days(60)));
        assert_eq!(Timescale::Days(21).to_string(), "21d");
        for bad in [
            "",
            "h",
            "0d",
            "7",
            "7w",
            "-7d",
            "7.5d",
            "d7",
            "99999999d",
            "+7d",
        ] {
            let err = bad.parse::<Timescale>().unwrap_err();
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn default_deadline_for_every_grade_in_winter() {
        let p = policy(RegradePolicy::FromReceipt);
        let received = utc("2024-01-10T10:00:00Z");
        let expected = [
            (RiskGrade::VeryHigh, "2024-01-12T10:00:00Z"),
            (RiskGrade::High, "2024-01-17T10:00:00Z"),
            (RiskGrade::Medium, "2024-01-31T10:00:00Z"),
            (RiskGrade::Standard, "2024-03-10T10:00:00Z"),
        ];
        for (grade, due) in expected {
            let d = p.initial(grade, received);
            assert_eq!(d.at(), utc(due), "{grade}");
            assert_eq!(d.grade(), grade);
            assert_eq!(d.clock_started_at(), received);
        }
    }

    #[test]
    fn days_keep_local_time_across_the_march_change() {
        // 2024-03-31 01:00 UTC the UK goes to BST. 10:00 GMT on the 28th is
        // due 10:00 BST on 4 April, which is 09:00 UTC: 6 days 23 hours.
        let p = policy(RegradePolicy::FromReceipt);
        let d = p.initial(RiskGrade::High, utc("2024-03-28T10:00:00Z"));
        assert_eq!(d.at(), utc("2024-04-04T09:00:00Z"));
    }

    #[test]
    fn days_keep_local_time_across_the_october_change() {
        // 2024-10-27 01:00 UTC the UK returns to GMT. 10:00 BST (09:00 UTC)
        // on the 24th is due 10:00 GMT on 31 October: 7 days 1 hour.
        let p = policy(RegradePolicy::FromReceipt);
        let d = p.initial(RiskGrade::High, utc("2024-10-24T09:00:00Z"));
        assert_eq!(d.at(), utc("2024-10-31T10:00:00Z"));
    }

    #[test]
    fn hours_are_elapsed_across_both_changes() {
        let p = policy(RegradePolicy::FromReceipt);
        let spring = p.initial(RiskGrade::VeryHigh, utc("2024-03-30T10:00:00Z"));
        assert_eq!(spring.at(), utc("2024-04-01T10:00:00Z"));
        let autumn = p.initial(RiskGrade::VeryHigh, utc("2024-10-26T10:00:00Z"));
        assert_eq!(autumn.at(), utc("2024-10-28T10:00:00Z"));
    }

    #[test]
    fn deadline_in_the_spring_gap_is_the_moment_clocks_go_forward() {
        // Received 01:30 GMT on 24 March; 7 days later 01:30 local does not
        // exist (clocks go 01:00 GMT -> 02:00 BST on 31 March).
        let p = policy(RegradePolicy::FromReceipt);
        let d = p.initial(RiskGrade::High, utc("2024-03-24T01:30:00Z"));
        assert_eq!(d.at(), utc("2024-03-31T01:00:00Z"));
    }

    #[test]
    fn deadline_in_the_repeated_autumn_hour_is_the_first_one() {
        // Received 01:30 BST (00:30 UTC) on 20 October; 01:30 on 27 October
        // happens twice: 00:30 UTC (BST) and 01:30 UTC (GMT). The first counts.
        let p = policy(RegradePolicy::FromReceipt);
        let d = p.initial(RiskGrade::High, utc("2024-10-20T00:30:00Z"));
        assert_eq!(d.at(), utc("2024-10-27T00:30:00Z"));
    }

    #[test]
    fn leap_day_and_year_end() {
        let p = policy(RegradePolicy::FromReceipt);
        // 2024 is a leap year: 22 Feb + 7 days is 29 Feb.
        let leap = p.initial(RiskGrade::High, utc("2024-02-22T12:00:00Z"));
        assert_eq!(leap.at(), utc("2024-02-29T12:00:00Z"));
        // Received on the leap day itself: 60 days later is 29 April.
        let from_leap = p.initial(RiskGrade::Standard, utc("2024-02-29T12:00:00Z"));
        assert_eq!(
            from_leap.at(),
            utc("2024-04-29T11:00:00Z"),
            "12:00 GMT -> 12:00 BST"
        );
        // Across the year end.
        let year_end = p.initial(RiskGrade::Medium, utc("2024-12-20T16:45:00Z"));
        assert_eq!(year_end.at(), utc("2025-01-10T16:45:00Z"));
        let hours = p.initial(RiskGrade::VeryHigh, utc("2024-12-31T23:30:00Z"));
        assert_eq!(hours.at(), utc("2025-01-02T23:30:00Z"));
    }

    #[test]
    fn regrade_up_and_down_from_receipt() {
        let p = policy(RegradePolicy::FromReceipt);
        let received = utc("2024-01-01T10:00:00Z");
        let standard = p.initial(RiskGrade::Standard, received);
        let up = p.regrade(
            &standard,
            received,
            RiskGrade::High,
            utc("2024-01-05T10:00:00Z"),
        );
        assert_eq!(up.at(), utc("2024-01-08T10:00:00Z"));
        assert_eq!(up.grade(), RiskGrade::High);
        assert_eq!(up.clock_started_at(), received);
        let down = p.regrade(
            &up,
            received,
            RiskGrade::Medium,
            utc("2024-01-06T10:00:00Z"),
        );
        assert_eq!(down.at(), utc("2024-01-22T10:00:00Z"));
    }

    #[test]
    fn upgrade_past_its_new_deadline_is_already_due() {
        let p = policy(RegradePolicy::FromReceipt);
        let received = utc("2024-01-01T10:00:00Z");
        let standard = p.initial(RiskGrade::Standard, received);
        let regraded_at = utc("2024-01-20T10:00:00Z");
        let up = p.regrade(&standard, received, RiskGrade::High, regraded_at);
        assert!(up.at() < regraded_at, "due 8 January, before the regrade");
    }

    #[test]
    fn regrade_up_and_down_from_regrade() {
        let p = policy(RegradePolicy::FromRegrade);
        let received = utc("2024-01-01T10:00:00Z");
        let standard = p.initial(RiskGrade::Standard, received);
        let at = utc("2024-01-05T10:00:00Z");
        let up = p.regrade(&standard, received, RiskGrade::High, at);
        assert_eq!(up.at(), utc("2024-01-12T10:00:00Z"));
        assert_eq!(up.clock_started_at(), at);
        let later = utc("2024-01-10T10:00:00Z");
        let down = p.regrade(&up, received, RiskGrade::Standard, later);
        assert_eq!(down.at(), utc("2024-03-10T10:00:00Z"));
    }

    #[test]
    fn upgrade_from_regrade_late_in_a_long_timescale_keeps_the_earlier_deadline() {
        // Standard received 1 Jan is due 1 Mar; an upgrade to medium on
        // 20 Feb would count 21 days to 12 Mar, later than 1 Mar: it stays.
        let p = policy(RegradePolicy::FromRegrade);
        let received = utc("2024-01-01T10:00:00Z");
        let standard = p.initial(RiskGrade::Standard, received);
        let up = p.regrade(
            &standard,
            received,
            RiskGrade::Medium,
            utc("2024-02-20T10:00:00Z"),
        );
        assert_eq!(up.at(), standard.at());
        assert_eq!(up.grade(), RiskGrade::Medium);
    }

    #[test]
    fn out_of_order_timescales_are_refused_naming_both_grades() {
        let timescales = Timescales {
            high: Timescale::Days(30),
            medium: Timescale::Days(14),
            ..Timescales::default()
        };
        let err =
            DeadlinePolicy::new(timescales, London, RegradePolicy::FromReceipt, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("timescales.medium (14d)"), "{text}");
        assert!(text.contains("timescales.high (30d)"), "{text}");
    }

    #[test]
    fn policy_version_changes_with_any_setting_and_can_be_named() {
        let a = policy(RegradePolicy::FromReceipt);
        let b = policy(RegradePolicy::FromRegrade);
        assert_ne!(a.version(), b.version());
        let c = DeadlinePolicy::new(
            Timescales {
                high: Timescale::Days(14),
                ..Timescales::default()
            },
            London,
            RegradePolicy::FromReceipt,
            None,
        )
        .unwrap();
        assert_ne!(a.version(), c.version());
        assert_eq!(a.version(), policy(RegradePolicy::FromReceipt).version());
        let named = DeadlinePolicy::new(
            Timescales::default(),
            London,
            RegradePolicy::FromReceipt,
            Some("npcc-2024"),
        )
        .unwrap();
        assert_eq!(named.version().as_str(), "npcc-2024");
        assert_eq!(
            named
                .initial(RiskGrade::High, utc("2024-01-01T00:00:00Z"))
                .policy_version()
                .as_str(),
            "npcc-2024"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_grade() -> impl Strategy<Value = RiskGrade> {
            prop::sample::select(RiskGrade::ALL.to_vec())
        }

        fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
            // 2000-01-01 to 2040-01-01, to the second.
            (946_684_800i64..2_208_988_800i64).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
        }

        fn any_policy() -> impl Strategy<Value = RegradePolicy> {
            prop::sample::select(vec![RegradePolicy::FromReceipt, RegradePolicy::FromRegrade])
        }

        proptest! {
            #[test]
            fn deadline_never_precedes_receipt(grade in any_grade(), received in any_instant()) {
                let p = policy(RegradePolicy::FromReceipt);
                let d = p.initial(grade, received);
                prop_assert!(d.at() > received);
            }

            #[test]
            fn calendar_days_keep_the_local_time_of_receipt(received in any_instant(), days in 1u32..400) {
                let due = Timescale::Days(days).after(received, London);
                let start_local = received.with_timezone(&London).naive_local();
                let due_local = due.with_timezone(&London).naive_local();
                let expected = start_local.checked_add_days(Days::new(u64::from(days))).unwrap();
                // Equal, except when the local time falls in the spring gap,
                // where the deadline is the (earlier) moment of the change.
                if London.from_local_datetime(&expected).single().is_some()
                    || London.from_local_datetime(&expected).earliest().is_some() {
                    prop_assert_eq!(due_local, expected);
                } else {
                    prop_assert!(due_local > expected - Duration::hours(1) && due < expected.and_utc());
                }
            }

            #[test]
            fn upgrading_never_moves_a_deadline_later(
                regrade in any_policy(),
                from in any_grade(),
                to in any_grade(),
                received in any_instant(),
                after_hours in 0i64..(24 * 90),
            ) {
                prop_assume!(to.is_more_urgent_than(from));
                let p = policy(regrade);
                let before = p.initial(from, received);
                let at = received + Duration::hours(after_hours);
                let after = p.regrade(&before, received, to, at);
                prop_assert!(after.at() <= before.at());
                prop_assert!(after.at() > received);
                prop_assert_eq!(after.grade(), to);
            }

            #[test]
            fn regraded_deadline_never_precedes_receipt(
                regrade in any_policy(),
                from in any_grade(),
                to in any_grade(),
                received in any_instant(),
                after_hours in 0i64..(24 * 90),
            ) {
                let p = policy(regrade);
                let before = p.initial(from, received);
                let after = p.regrade(&before, received, to, received + Duration::hours(after_hours));
                prop_assert!(after.at() > received);
            }
        }
    }
}
