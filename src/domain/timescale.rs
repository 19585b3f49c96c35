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
use std::fmt::{self, Write};
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
    pub(crate) value: String,
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
    pub(crate) fn nominal_hours(self) -> u32 {
        match self {
            Timescale::Hours(n) => n,
            Timescale::Days(n) => n.saturating_mul(24),
        }
    }

    /// The instant this timescale after `start` ends, in zone `tz`.
    pub(crate) fn after(self, start: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
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
pub(crate) fn earliest_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
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

/// The force zone's offsets from UTC over a span, read once an hour apart,
/// so that many deadlines from receipts within the span cost arithmetic
/// instead of a time-zone look-up each (the capacity forecast computes
/// hundreds of millions at a hub's scale). [`ZoneOffsets::after`] gives
/// exactly what [`Timescale::after`] gives: wherever a clock change is
/// within a day and a bit of the receipt or the deadline, or the span does
/// not reach, it asks the zone.
#[derive(Debug, Clone)]
pub(crate) struct ZoneOffsets {
    tz: Tz,
    /// The first sample's instant, in seconds since the epoch (a whole hour).
    first: i64,
    /// The offset in seconds at `first` + i hours.
    offsets: Vec<i32>,
    /// How many samples up to i differ from the one before.
    changes: Vec<u32>,
}

/// Hours on each side of an instant without a clock change for the
/// arithmetic to be trusted: more than a day, so that a deadline, which is
/// within a clock change of the naive one, is inside the calm too.
const CALM_HOURS: i64 = 30;

impl ZoneOffsets {
    /// The offsets of `tz` from `from` to `until` (and a margin round them).
    pub(crate) fn new(tz: Tz, from: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        use chrono::Offset;
        let first = from.timestamp().div_euclid(3600) * 3600 - (CALM_HOURS + 1) * 3600;
        let hours = (until.timestamp() - first).div_euclid(3600) + CALM_HOURS + 2;
        let mut offsets = Vec::with_capacity(hours.max(0) as usize);
        let mut changes = Vec::with_capacity(offsets.capacity());
        for i in 0..hours.max(0) {
            let at = DateTime::from_timestamp(first + i * 3600, 0).expect("within chrono's range");
            let offset = tz
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc();
            let changed = offsets.last().is_some_and(|last| *last != offset);
            changes.push(changes.last().copied().unwrap_or(0) + u32::from(changed));
            offsets.push(offset);
        }
        Self {
            tz,
            first,
            offsets,
            changes,
        }
    }

    /// The offset at `at`, when no clock change is within [`CALM_HOURS`]
    /// of it and the samples reach that far.
    fn calm_offset(&self, at: DateTime<Utc>) -> Option<i64> {
        let i = (at.timestamp() - self.first).div_euclid(3600);
        let (lo, hi) = (i - CALM_HOURS, i + CALM_HOURS + 1);
        if lo < 0 || hi >= self.offsets.len() as i64 {
            return None;
        }
        (self.changes[lo as usize] == self.changes[hi as usize])
            .then(|| i64::from(self.offsets[i as usize]))
    }

    /// [`Timescale::after`] in this zone: the same instant, by arithmetic
    /// where no clock change is near.
    pub(crate) fn after(&self, timescale: Timescale, start: DateTime<Utc>) -> DateTime<Utc> {
        match timescale {
            Timescale::Hours(n) => start + Duration::hours(i64::from(n)),
            Timescale::Days(n) => {
                // The local time n days on is `start`'s local time plus n
                // × 24 hours; with one offset round both ends, the instant
                // that names it is the naive one moved by the difference.
                let naive = start + Duration::days(i64::from(n));
                match (self.calm_offset(start), self.calm_offset(naive)) {
                    (Some(at_start), Some(at_end)) => naive + Duration::seconds(at_start - at_end),
                    _ => timescale.after(start, self.tz),
                }
            }
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
    pub(crate) fn as_str(self) -> &'static str {
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
    pub(crate) very_high: Timescale,
    /// High risk; 7 days by default.
    pub(crate) high: Timescale,
    /// Medium risk; 21 days by default.
    pub(crate) medium: Timescale,
    /// Standard risk; 60 days by default.
    pub(crate) standard: Timescale,
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
#[error("{}", self.describe())]
pub struct TimescalesOutOfOrder {
    /// The more urgent grade.
    pub(crate) longer_grade: RiskGrade,
    /// Its timescale.
    pub(crate) longer: Timescale,
    /// The less urgent grade.
    pub(crate) shorter_grade: RiskGrade,
    /// Its (shorter) timescale.
    pub(crate) shorter: Timescale,
    /// When the two are in order nominally but one counts hours and the
    /// other calendar days, so that a clock change can invert them: the
    /// time zone, the most minutes the urgent grade's timescale can last
    /// and the fewest the lesser grade's can.
    pub(crate) across_clock_change: Option<(Tz, i64, i64)>,
}

impl TimescalesOutOfOrder {
    fn describe(&self) -> String {
        let (urgent, lesser) = (self.longer_grade, self.shorter_grade);
        let (a, b) = (self.longer, self.shorter);
        match self.across_clock_change {
            None => format!(
                "timescales.{lesser} ({b}) is shorter than timescales.{urgent} ({a}): \
                 a less urgent grade cannot have a shorter timescale"
            ),
            Some((tz, most, fewest)) => format!(
                "timescales.{lesser} ({b}) can be shorter than timescales.{urgent} ({a}) \
                 across a clock change in {tz}: {b} can last {} where {a} can last {}; \
                 a less urgent grade cannot have a shorter timescale (give both in hours \
                 or both in days, or leave them more than the clock change apart)",
                hours_and_minutes(fewest),
                hours_and_minutes(most),
                tz = tz.name()
            ),
        }
    }
}

/// `47 hours`, `47 hours 30 minutes`.
fn hours_and_minutes(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (h, 0) => format!("{h} hours"),
        (h, m) => format!("{h} hours {m} minutes"),
    }
}

/// The largest change of `tz`'s offset from UTC at one clock change, in
/// minutes (60 for Europe/London), read from the zone's rules over the
/// years a deadline computed now could plausibly span and some before.
fn largest_clock_change(tz: Tz) -> i64 {
    use chrono::Offset;
    let offset_at = |t: DateTime<Utc>| {
        i64::from(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        ) / 60
    };
    let mut day: DateTime<Utc> = DateTime::from_timestamp(631_195_200, 0) // 1990-01-01T12:00Z
        .expect("within chrono's range");
    let last: DateTime<Utc> =
        DateTime::from_timestamp(2_871_720_000, 0).expect("within chrono's range"); // 2060-12-31T12:00Z
    let mut previous = offset_at(day);
    let mut largest = 0;
    while day < last {
        day += Duration::days(1);
        let offset = offset_at(day);
        largest = largest.max((offset - previous).abs());
        previous = offset;
    }
    largest
}

impl Timescales {
    /// The timescale for `grade`.
    pub(crate) fn for_grade(&self, grade: RiskGrade) -> Timescale {
        match grade {
            RiskGrade::VeryHigh => self.very_high,
            RiskGrade::High => self.high,
            RiskGrade::Medium => self.medium,
            RiskGrade::Standard => self.standard,
        }
    }

    /// Checks that no less urgent grade has a shorter timescale, nominally
    /// or across a clock change in `tz`; otherwise an upgrade could move a
    /// deadline later. Two timescales of one kind keep their order through
    /// any clock change (both elapsed hours, or both calendar days from
    /// the same receipt); an hours one beside a days one does not: `"2d"`
    /// lasts 47 hours across the spring change, less than `"48h"`.
    pub(crate) fn check_order(&self, tz: Tz) -> Result<(), TimescalesOutOfOrder> {
        let mut clock_change = None;
        for pair in RiskGrade::ALL.windows(2) {
            let (urgent, lesser) = (pair[0], pair[1]);
            let (a, b) = (self.for_grade(urgent), self.for_grade(lesser));
            let out_of_order = |across_clock_change| TimescalesOutOfOrder {
                longer_grade: urgent,
                longer: a,
                shorter_grade: lesser,
                shorter: b,
                across_clock_change,
            };
            if b.nominal_hours() < a.nominal_hours() {
                return Err(out_of_order(None));
            }
            let same_kind = matches!(
                (a, b),
                (Timescale::Hours(_), Timescale::Hours(_))
                    | (Timescale::Days(_), Timescale::Days(_))
            );
            // No zone has moved its clocks by more than a day at once (Samoa
            // skipped exactly one in 2011), so timescales further apart
            // cannot invert, and the default configuration (48h beside 7d)
            // reads no zone rules at start-up.
            let gap_hours = b.nominal_hours() - a.nominal_hours();
            if same_kind || gap_hours > 24 {
                continue;
            }
            let change = *clock_change.get_or_insert_with(|| largest_clock_change(tz));
            // The range of minutes a timescale can last: a day is 24 hours
            // give or take the zone's largest clock change.
            let range = |t: Timescale| {
                let nominal = i64::from(t.nominal_hours()) * 60;
                match t {
                    Timescale::Hours(_) => (nominal, nominal),
                    Timescale::Days(_) => (nominal - change, nominal + change),
                }
            };
            let (most, fewest) = (range(a).1, range(b).0);
            if fewest < most {
                return Err(out_of_order(Some((tz, most, fewest))));
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
        timescales.check_order(time_zone)?;
        let version = match name {
            Some(name) => PolicyVersion(name.to_string()),
            None => {
                // `very_high=48h;high=7d;...;tz=Europe/London;regrade=from_receipt`:
                // every grade, so a new grade's timescale is hashed too.
                let mut canonical = String::new();
                for grade in RiskGrade::ALL {
                    let _ = write!(
                        canonical,
                        "{}={};",
                        grade.as_str(),
                        timescales.for_grade(grade)
                    );
                }
                let _ = write!(
                    canonical,
                    "tz={};regrade={}",
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
    pub(crate) fn timescales(&self) -> &Timescales {
        &self.timescales
    }

    /// The force time zone.
    pub(crate) fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The version name new deadlines record.
    pub(crate) fn version(&self) -> &PolicyVersion {
        &self.version
    }

    /// The deadline of a package received at `received_at` with `grade`.
    pub(crate) fn initial(&self, grade: RiskGrade, received_at: DateTime<Utc>) -> Deadline {
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
    pub(crate) fn regrade(
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
    pub(crate) fn grade(&self) -> RiskGrade {
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
#[path = "timescale_tests.rs"]
mod tests;
