//! ISO weeks in the force time zone: the period a weekly report covers.

use crate::domain::timescale::earliest_instant_at_or_after;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An ISO 8601 week (`2024-W05`): Monday to Sunday, week 1 holding the
/// year's first Thursday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    monday: NaiveDate,
}

/// A value that is not an ISO week.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an ISO week: expected YYYY-Www from 2000 to 2099, for example 2024-W05")]
pub struct BadWeek {
    /// The value as given.
    pub(crate) value: String,
}

impl IsoWeek {
    /// The week `week` of ISO year `year`, if it exists (week 53 only in
    /// long years).
    pub(crate) fn new(year: i32, week: u32) -> Option<Self> {
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).map(|monday| Self { monday })
    }

    /// The week that holds `date`.
    pub(crate) fn containing(date: NaiveDate) -> Self {
        let iso = date.iso_week();
        Self::new(iso.year(), iso.week()).expect("a date's own ISO week exists")
    }

    /// The last week that had ended by `now`, in `tz`: on a Monday morning,
    /// the week that ended at midnight.
    pub fn last_complete(now: DateTime<Utc>, tz: Tz) -> Self {
        Self::containing(now.with_timezone(&tz).date_naive()).previous()
    }

    /// The ISO year (which can differ from the calendar year at its ends).
    pub fn year(&self) -> i32 {
        self.monday.iso_week().year()
    }

    /// The week number, 1 to 53.
    pub fn week(&self) -> u32 {
        self.monday.iso_week().week()
    }

    /// The Monday it starts on (only the tests ask).
    #[cfg(test)]
    pub(crate) fn monday(&self) -> NaiveDate {
        self.monday
    }

    /// The Monday it starts on, as a local date.
    pub(crate) fn first_day(&self) -> NaiveDate {
        self.monday
    }

    /// The week before.
    pub(crate) fn previous(&self) -> Self {
        Self {
            monday: self.monday - Duration::days(7),
        }
    }

    /// The week `n` weeks before this one.
    pub(crate) fn weeks_before(&self, n: i64) -> Self {
        Self {
            monday: self.monday - Duration::days(7 * n),
        }
    }

    /// Monday 00:00 local time, as an instant. Local midnight is never in a
    /// UK clock change (they happen at 01:00 and 02:00), but for a zone
    /// where it is, the first instant at or after it is taken.
    pub(crate) fn starts_at(&self, tz: Tz) -> DateTime<Utc> {
        earliest_instant_at_or_after(tz, self.monday.and_hms_opt(0, 0, 0).expect("midnight"))
    }

    /// The next Monday 00:00 local time: the end, exclusive. A week that
    /// holds a clock change is 167 or 169 hours long.
    pub fn ends_at(&self, tz: Tz) -> DateTime<Utc> {
        Self {
            monday: self.monday + Duration::days(7),
        }
        .starts_at(tz)
    }

    /// Ok when the week has ended by `now` (its end is exclusive, so at
    /// Monday 00:00 it has). A report on a week still running would
    /// present figures that are still changing as the week's, so the
    /// report's callers refuse it with this reason: "2024-W05 has not
    /// ended yet (it ends 2024-02-05T00:00:00+00:00)".
    pub(crate) fn check_ended(&self, now: DateTime<Utc>, tz: Tz) -> Result<(), String> {
        super::period::ReportPeriod::Week(*self).check_ended(now, tz)
    }
}

impl FromStr for IsoWeek {
    type Err = BadWeek;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || BadWeek {
            value: value.to_string(),
        };
        let (year, week) = value.trim().split_once(['-']).ok_or_else(bad)?;
        let week = week
            .strip_prefix('W')
            .or_else(|| week.strip_prefix('w'))
            .ok_or_else(bad)?;
        let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(week, 2) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        if !super::fields::PLAUSIBLE_YEARS.contains(&year) {
            return Err(bad());
        }
        IsoWeek::new(year, week).ok_or_else(bad)
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", self.year(), self.week())
    }
}

impl Serialize for IsoWeek {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read back as written (`2024-W05`), for a report kept as JSON.
impl<'de> Deserialize<'de> for IsoWeek {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn weeks_parse_print_and_name_a_bad_value() {
        let week: IsoWeek = "2024-W05".parse().unwrap();
        assert_eq!(week.to_string(), "2024-W05");
        assert_eq!(week.monday(), NaiveDate::from_ymd_opt(2024, 1, 29).unwrap());
        for bad in [
            "2024-05", "2024-W5", "2024-W54", "2023-W53", "W05", "", "2024-Wxx", "0000-W01",
            "1999-W52", "2100-W01",
        ] {
            let err = bad.parse::<IsoWeek>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert!("2020-W53".parse::<IsoWeek>().is_ok());
    }

    #[test]
    fn the_week_of_the_spring_clock_change_is_167_hours() {
        // Clocks went forward at 01:00 UTC on Sunday 31 March 2024.
        let week: IsoWeek = "2024-W13".parse().unwrap();
        assert_eq!(week.starts_at(London), at("2024-03-25T00:00:00Z"));
        assert_eq!(week.ends_at(London), at("2024-03-31T23:00:00Z"));
        assert_eq!(
            (week.ends_at(London) - week.starts_at(London)).num_hours(),
            167
        );
    }

    #[test]
    fn the_week_of_the_autumn_clock_change_is_169_hours() {
        // Clocks went back at 01:00 UTC on Sunday 27 October 2024.
        let week: IsoWeek = "2024-W43".parse().unwrap();
        assert_eq!(week.starts_at(London), at("2024-10-20T23:00:00Z"));
        assert_eq!(week.ends_at(London), at("2024-10-28T00:00:00Z"));
        assert_eq!(
            (week.ends_at(London) - week.starts_at(London)).num_hours(),
            169
        );
    }

    #[test]
    fn the_last_complete_week_is_the_one_before_today_local() {
        // 23:30 UTC on Sunday 31 March is 00:30 BST on Monday 1 April: W13 has ended.
        assert_eq!(
            IsoWeek::last_complete(at("2024-03-31T23:30:00Z"), London).to_string(),
            "2024-W13"
        );
        assert_eq!(
            IsoWeek::last_complete(at("2024-03-31T22:30:00Z"), London).to_string(),
            "2024-W12"
        );
        // ISO year differs from the calendar year: 30 Dec 2024 is 2025-W01.
        assert_eq!(
            IsoWeek::last_complete(at("2025-01-06T09:00:00Z"), London).to_string(),
            "2025-W01"
        );
    }
}
