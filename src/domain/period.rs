//! Report periods in the force time zone: an ISO week (the weekly report
//! to PPU SLT and the ACC for crime), a calendar month (the PPU's monthly
//! SIM) or a quarter (the QPR with the ACC). Each runs from local midnight
//! on its first day to local midnight on the day after its last, so a
//! period that holds a clock change is an hour shorter or longer than its
//! days times 24.

use crate::domain::timescale::earliest_instant_at_or_after;
use crate::domain::week::IsoWeek;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A calendar month (`2024-02`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarMonth {
    first: NaiveDate,
}

/// A calendar quarter (`2024-Q1`: January to March).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    first: NaiveDate,
}

/// The period a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportPeriod {
    /// An ISO week, Monday to Sunday.
    Week(IsoWeek),
    /// A calendar month.
    Month(CalendarMonth),
    /// A calendar quarter.
    Quarter(Quarter),
}

/// Which kind of period: a week, a month or a quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// An ISO week.
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter.
    Quarter,
}

/// A value that is not a period of the kind asked for; its message names
/// the value and the form expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not {expected}")]
pub struct BadPeriod {
    /// The value as given.
    pub(crate) value: String,
    /// What was expected, in words with an example.
    expected: &'static str,
}

const MONTH_FORM: &str =
    "a calendar month: expected YYYY-MM from 2000 to 2099, for example 2024-02";
const QUARTER_FORM: &str =
    "a quarter: expected YYYY-Qn (n from 1 to 4) from 2000 to 2099, for example 2024-Q1";
const ANY_FORM: &str = "a report period: expected an ISO week (2024-W05), a calendar month (2024-02) or a quarter (2024-Q1), from 2000 to 2099";

/// `YYYY` and the rest after the dash, the year checked against
/// [`PLAUSIBLE_YEARS`](super::fields::PLAUSIBLE_YEARS).
fn year_and_rest(value: &str) -> Option<(i32, &str)> {
    let (year, rest) = value.trim().split_once('-')?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    super::fields::PLAUSIBLE_YEARS
        .contains(&year)
        .then_some((year, rest))
}

impl CalendarMonth {
    /// Month `month` (1 to 12) of `year`.
    pub(crate) fn new(year: i32, month: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|first| Self { first })
    }

    /// The month that holds `date`.
    pub(crate) fn containing(date: NaiveDate) -> Self {
        Self::new(date.year(), date.month()).expect("a date's own month exists")
    }

    /// The month before.
    pub(crate) fn previous(&self) -> Self {
        Self {
            first: self.first - Months::new(1),
        }
    }
}

impl Quarter {
    /// Quarter `quarter` (1 to 4) of `year`.
    pub(crate) fn new(year: i32, quarter: u32) -> Option<Self> {
        if !(1..=4).contains(&quarter) {
            return None;
        }
        NaiveDate::from_ymd_opt(year, 3 * quarter - 2, 1).map(|first| Self { first })
    }

    /// The quarter that holds `date`.
    pub(crate) fn containing(date: NaiveDate) -> Self {
        Self::new(date.year(), (date.month() - 1) / 3 + 1).expect("a date's own quarter exists")
    }

    /// The quarter number, 1 to 4.
    pub(crate) fn number(&self) -> u32 {
        (self.first.month() - 1) / 3 + 1
    }

    /// The quarter before.
    pub(crate) fn previous(&self) -> Self {
        Self {
            first: self.first - Months::new(3),
        }
    }
}

impl FromStr for CalendarMonth {
    type Err = BadPeriod;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || BadPeriod {
            value: value.to_string(),
            expected: MONTH_FORM,
        };
        let (year, month) = year_and_rest(value).ok_or_else(bad)?;
        if month.len() != 2 || !month.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Self::new(year, month.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
}

impl FromStr for Quarter {
    type Err = BadPeriod;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || BadPeriod {
            value: value.to_string(),
            expected: QUARTER_FORM,
        };
        let (year, quarter) = year_and_rest(value).ok_or_else(bad)?;
        let digit = quarter
            .strip_prefix('Q')
            .or_else(|| quarter.strip_prefix('q'))
            .filter(|d| d.len() == 1 && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(bad)?;
        Self::new(year, digit.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
}

impl fmt::Display for CalendarMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}", self.first.year(), self.first.month())
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.first.year(), self.number())
    }
}

impl PeriodKind {
    /// `week`, `month` or `quarter`: the word a title or a parameter uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
        }
    }

    /// `weekly`, `monthly` or `quarterly`: the report's name.
    pub fn adjective(self) -> &'static str {
        match self {
            PeriodKind::Week => "weekly",
            PeriodKind::Month => "monthly",
            PeriodKind::Quarter => "quarterly",
        }
    }

    /// How many periods a report's trend and its longer figures cover,
    /// the report's own included: 12 weeks (a quarter of a year at a
    /// glance, as the weekly report always had), 12 months (a full year,
    /// so every month of the year is on the monthly SIM's page) and 8
    /// quarters (two years, so the QPR sees this quarter beside the same
    /// one last year).
    pub fn trend_periods(self) -> u32 {
        match self {
            PeriodKind::Week | PeriodKind::Month => 12,
            PeriodKind::Quarter => 8,
        }
    }

    /// The last complete period of this kind at `now` in `tz`.
    pub fn last_complete(self, now: DateTime<Utc>, tz: Tz) -> ReportPeriod {
        ReportPeriod::containing(self, now.with_timezone(&tz).date_naive()).previous()
    }
}

impl ReportPeriod {
    /// The period of `kind` that holds local `date`.
    pub(crate) fn containing(kind: PeriodKind, date: NaiveDate) -> Self {
        match kind {
            PeriodKind::Week => Self::Week(IsoWeek::containing(date)),
            PeriodKind::Month => Self::Month(CalendarMonth::containing(date)),
            PeriodKind::Quarter => Self::Quarter(Quarter::containing(date)),
        }
    }

    /// Week, month or quarter.
    pub fn kind(&self) -> PeriodKind {
        match self {
            Self::Week(_) => PeriodKind::Week,
            Self::Month(_) => PeriodKind::Month,
            Self::Quarter(_) => PeriodKind::Quarter,
        }
    }

    /// The first local date in the period.
    pub(crate) fn first_day(&self) -> NaiveDate {
        match self {
            Self::Week(week) => week.first_day(),
            Self::Month(month) => month.first,
            Self::Quarter(quarter) => quarter.first,
        }
    }

    /// The first local date after the period.
    pub(crate) fn next_first_day(&self) -> NaiveDate {
        self.next().first_day()
    }

    /// The last local date in the period.
    pub fn last_day(&self) -> NaiveDate {
        self.next_first_day()
            .pred_opt()
            .expect("within chrono's range")
    }

    /// The ISO week the period's last day falls in (a week's is itself).
    pub fn iso_week(&self) -> IsoWeek {
        match self {
            Self::Week(week) => *week,
            _ => IsoWeek::containing(self.last_day()),
        }
    }

    /// The period after.
    pub(crate) fn next(&self) -> Self {
        match self {
            Self::Week(week) => Self::Week(week.weeks_before(-1)),
            Self::Month(m) => Self::Month(CalendarMonth {
                first: m.first + Months::new(1),
            }),
            Self::Quarter(q) => Self::Quarter(Quarter {
                first: q.first + Months::new(3),
            }),
        }
    }

    /// The period before.
    pub fn previous(&self) -> Self {
        match self {
            Self::Week(week) => Self::Week(week.previous()),
            Self::Month(month) => Self::Month(month.previous()),
            Self::Quarter(quarter) => Self::Quarter(quarter.previous()),
        }
    }

    /// The period `n` periods before this one (`n` = 0 is this one).
    pub fn periods_before(&self, n: u32) -> Self {
        (0..n).fold(*self, |p, _| p.previous())
    }

    /// The same period a year earlier: the same month or quarter of the
    /// year before; for a week, the week with the same number in the ISO
    /// year before (week 53, which that year may lack, compares with its
    /// week 52).
    pub fn year_before(&self) -> Self {
        match self {
            Self::Week(week) => Self::Week(
                IsoWeek::new(week.year() - 1, week.week())
                    .or_else(|| IsoWeek::new(week.year() - 1, 52))
                    .expect("every ISO year has a week 52"),
            ),
            Self::Month(m) => Self::Month(CalendarMonth {
                first: m.first - Months::new(12),
            }),
            Self::Quarter(q) => Self::Quarter(Quarter {
                first: q.first - Months::new(12),
            }),
        }
    }

    /// Local midnight at the start of its first day, as an instant (for a
    /// zone whose clocks change at midnight, the first instant after it).
    pub fn starts_at(&self, tz: Tz) -> DateTime<Utc> {
        local_midnight(tz, self.first_day())
    }

    /// Local midnight at the start of the day after its last: the end,
    /// exclusive.
    pub fn ends_at(&self, tz: Tz) -> DateTime<Utc> {
        local_midnight(tz, self.next_first_day())
    }

    /// Ok when the period has ended by `now` (its end is exclusive); else
    /// the reason a report on it is refused: "2024-02 has not ended yet
    /// (it ends 2024-03-01T00:00:00+00:00)". A report on a running period
    /// would show figures that still change as the period's.
    pub(crate) fn check_ended(&self, now: DateTime<Utc>, tz: Tz) -> Result<(), String> {
        let ends_at = self.ends_at(tz);
        if ends_at > now {
            Err(format!(
                "{self} has not ended yet (it ends {})",
                ends_at.to_rfc3339()
            ))
        } else {
            Ok(())
        }
    }

    /// How a title names it: "week 5 2024", "February 2024", "Q1 2024
    /// (January to March)".
    pub fn label(&self) -> String {
        match self {
            Self::Week(week) => format!("week {} {}", week.week(), week.year()),
            Self::Month(month) => month.first.format("%B %Y").to_string(),
            Self::Quarter(q) => format!(
                "Q{} {} ({} to {})",
                q.number(),
                q.first.year(),
                q.first.format("%B"),
                (q.first + Months::new(2)).format("%B")
            ),
        }
    }

    /// The key of a digest run's period (`2024-W05`, `2024-02`,
    /// `2024-Q1`): the occurrence key is `{schedule}/{this}`, so a monthly
    /// schedule named `monthly` runs under `monthly/2024-02`.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

/// Local midnight on `date`, as an instant.
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    earliest_instant_at_or_after(tz, date.and_hms_opt(0, 0, 0).expect("midnight"))
}

impl FromStr for ReportPeriod {
    type Err = BadPeriod;

    /// Any of `2024-W05`, `2024-02`, `2024-Q1`; the error names all three.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || BadPeriod {
            value: value.to_string(),
            expected: ANY_FORM,
        };
        let rest = value
            .trim()
            .split_once('-')
            .map(|(_, r)| r)
            .ok_or_else(bad)?;
        match rest.chars().next() {
            Some('W' | 'w') => value.parse().map(Self::Week).map_err(|_| bad()),
            Some('Q' | 'q') => value.parse().map(Self::Quarter).map_err(|_| bad()),
            _ => value.parse().map(Self::Month).map_err(|_| bad()),
        }
    }
}

impl fmt::Display for ReportPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Week(week) => week.fmt(f),
            Self::Month(month) => month.fmt(f),
            Self::Quarter(quarter) => quarter.fmt(f),
        }
    }
}

impl Serialize for ReportPeriod {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read back as written (`2024-W05`, `2024-02`, `2024-Q1`), for a report
/// kept as JSON.
impl<'de> Deserialize<'de> for ReportPeriod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl From<IsoWeek> for ReportPeriod {
    fn from(week: IsoWeek) -> Self {
        Self::Week(week)
    }
}

impl From<CalendarMonth> for ReportPeriod {
    fn from(month: CalendarMonth) -> Self {
        Self::Month(month)
    }
}

impl From<Quarter> for ReportPeriod {
    fn from(quarter: Quarter) -> Self {
        Self::Quarter(quarter)
    }
}

#[cfg(test)]
#[path = "period_tests.rs"]
mod tests;
