//! When digests are due: each `[[digest]]` schedule names a local time in the
//! force time zone (Monday 07:00, every day at 08:00, or the first working
//! day after each month or quarter at 07:00), and this module
//! turns it into instants and the period each run reports on. Pure: no I/O,
//! no clock; the caller passes `now`.
//!
//! tokio-cron-scheduler's time-zone jobs keep the UTC offset they were made
//! with, so they drift an hour after a clock change; here every instant is
//! worked out afresh from the local date, with the deadline rules for local
//! times that do not exist or happen twice (see
//! [`earliest_instant_at_or_after`]).

use crate::domain::period::{CalendarMonth, PeriodKind, Quarter, ReportPeriod};
use crate::domain::timescale::earliest_instant_at_or_after;
use crate::domain::week::IsoWeek;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a digest reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DigestKind {
    /// The weekly performance report for the last complete ISO week.
    Weekly,
    /// The sergeants' daily list of breaches and packages due in 48 hours.
    Daily,
    /// The monthly performance report (the PPU's monthly SIM) for the
    /// month just ended, on the first working day after it.
    Monthly,
    /// The quarterly performance report (the QPR with the ACC for crime)
    /// for the quarter just ended, on the first working day after it.
    Quarterly,
}

impl DigestKind {
    /// The name used in configuration: `weekly`, `daily`, `monthly` or
    /// `quarterly`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DigestKind::Weekly => "weekly",
            DigestKind::Daily => "daily",
            DigestKind::Monthly => "monthly",
            DigestKind::Quarterly => "quarterly",
        }
    }

    /// The kind of period a weekly, monthly or quarterly digest reports
    /// on; `None` for the daily list.
    fn report_kind(self) -> Option<PeriodKind> {
        match self {
            DigestKind::Weekly => Some(PeriodKind::Week),
            DigestKind::Monthly => Some(PeriodKind::Month),
            DigestKind::Quarterly => Some(PeriodKind::Quarter),
            DigestKind::Daily => None,
        }
    }

    /// The calendar period a monthly or quarterly digest reports on (its
    /// run is found from the period, not by searching dates).
    fn calendar_period(self) -> Option<PeriodKind> {
        self.report_kind().filter(|kind| *kind != PeriodKind::Week)
    }

    /// The kind of digest that reports on periods of `kind`.
    pub(crate) fn reporting(kind: PeriodKind) -> Self {
        match kind {
            PeriodKind::Week => DigestKind::Weekly,
            PeriodKind::Month => DigestKind::Monthly,
            PeriodKind::Quarter => DigestKind::Quarterly,
        }
    }
}

impl fmt::Display for DigestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DigestKind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "weekly" => Ok(DigestKind::Weekly),
            "daily" => Ok(DigestKind::Daily),
            "monthly" => Ok(DigestKind::Monthly),
            "quarterly" => Ok(DigestKind::Quarterly),
            _ => Err(format!(
                "{value:?} is not a digest kind (weekly, daily, monthly or quarterly)"
            )),
        }
    }
}

/// Reads a day of the week as configuration writes it: `monday` or `mon`,
/// any case.
pub(crate) fn parse_day(value: &str) -> Result<Weekday, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a day of the week (monday to sunday)"))
}

/// Reads a local time of day as configuration writes it: `07:00` (24-hour
/// clock, hours and minutes only, because a digest needs no seconds).
pub(crate) fn parse_time(value: &str) -> Result<NaiveTime, String> {
    let bad = || format!("{value:?} is not a time like 07:00");
    // Only the shape the message promises (H:MM or HH:MM, digits only),
    // whatever else chrono's parser might be lenient about.
    let (hours, minutes) = value.trim().split_once(':').ok_or_else(bad)?;
    let digits = |part: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || !digits(minutes, 2..=2) {
        return Err(bad());
    }
    NaiveTime::parse_from_str(value.trim(), "%H:%M").map_err(|_| bad())
}

/// Whether a schedule name can be part of an occurrence key: letters,
/// digits, `-` and `_`, at most 64 of them, so `{schedule}/{period}` can
/// never be read two ways.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "{name:?} must be 1 to 64 letters, digits, - or _ (it is part of each run's key)"
        ));
    }
    Ok(())
}

/// One validated `[[digest]]` entry: what is sent, when, to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestSchedule {
    /// Unique among schedules, e.g. `weekly-slt`; the base of each run's key.
    pub(crate) name: String,
    /// Weekly, daily, monthly or quarterly.
    pub(crate) kind: DigestKind,
    /// Weekly: the day it is sent (Monday when absent). Otherwise `None`,
    /// and ignored if set.
    pub(crate) day: Option<Weekday>,
    /// The local time in the force time zone, e.g. 07:00.
    pub(crate) at: NaiveTime,
    /// The recipient groups it goes to.
    pub(crate) audience: Vec<String>,
}

/// The stretch of time a digest run reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DigestPeriod {
    /// A weekly run: the last complete ISO week.
    Week(IsoWeek),
    /// A daily run: the local date it ran on (the position as of the run).
    Day(NaiveDate),
    /// A monthly run: the month just ended.
    Month(CalendarMonth),
    /// A quarterly run: the quarter just ended.
    Quarter(Quarter),
}

impl DigestPeriod {
    /// `2024-W05` for a week, `2024-02-03` for a day, `2024-02` for a
    /// month, `2024-Q1` for a quarter.
    pub(crate) fn key(&self) -> String {
        match self {
            DigestPeriod::Week(week) => week.to_string(),
            DigestPeriod::Day(date) => date.format("%Y-%m-%d").to_string(),
            DigestPeriod::Month(month) => month.to_string(),
            DigestPeriod::Quarter(quarter) => quarter.to_string(),
        }
    }

    /// The report period of a weekly, monthly or quarterly run; `None`
    /// for a daily one.
    pub(crate) fn report_period(&self) -> Option<ReportPeriod> {
        match self {
            DigestPeriod::Week(week) => Some((*week).into()),
            DigestPeriod::Month(month) => Some((*month).into()),
            DigestPeriod::Quarter(quarter) => Some((*quarter).into()),
            DigestPeriod::Day(_) => None,
        }
    }

    fn of(period: ReportPeriod) -> Self {
        match period {
            ReportPeriod::Week(week) => DigestPeriod::Week(week),
            ReportPeriod::Month(month) => DigestPeriod::Month(month),
            ReportPeriod::Quarter(quarter) => DigestPeriod::Quarter(quarter),
        }
    }
}

/// The first working day (Monday to Friday) on or after `date`. Bank
/// holidays are not known: a run due on one goes that day.
pub(crate) fn first_working_day(date: NaiveDate) -> NaiveDate {
    let mut day = date;
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day.succ_opt().expect("within chrono's range");
    }
    day
}

impl fmt::Display for DigestPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// One scheduled run of a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Occurrence {
    /// The schedule's name.
    pub(crate) schedule: String,
    /// The instant it was due.
    pub(crate) due_at: DateTime<Utc>,
    /// What it reports on.
    pub(crate) period: DigestPeriod,
}

impl Occurrence {
    /// `{schedule}/{period key}`, e.g. `weekly/2024-W05`: the same for every
    /// instance and every retry, so recording a run under it is idempotent.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.schedule, self.period.key())
    }
}

/// How far the searches below look either side of `now`'s local date: a
/// weekly schedule fires on one date in every seven, and the extra days
/// cover a zone whose clock change moves the local date.
const SEARCH_DAYS: u64 = 9;

impl DigestSchedule {
    /// The latest scheduled instant at or before `now` (None only if none
    /// exists, which cannot happen in practice), with the period the digest
    /// covers: weekly → the last complete ISO week before the local date
    /// of `due_at` (Monday 07:00 of W06 reports W05); daily → the local
    /// date of `due_at`.
    pub(crate) fn latest_at_or_before(&self, now: DateTime<Utc>, tz: Tz) -> Option<Occurrence> {
        let today = now.with_timezone(&tz).date_naive();
        if let Some(kind) = self.kind.calendar_period() {
            // The run for the period before this one is due early in this
            // one; if not yet, the latest is the run due early in the last.
            let last = ReportPeriod::containing(kind, today).previous();
            return [last, last.previous()]
                .into_iter()
                .map(|period| self.calendar_run(period, tz))
                .find(|run| run.due_at <= now);
        }
        let first = today.checked_sub_days(Days::new(SEARCH_DAYS))?;
        let mut date = today.checked_add_days(Days::new(1))?;
        while date >= first {
            if let Some(due_at) = self.instant_on(date, tz).filter(|due| *due <= now) {
                return Some(self.occurrence(due_at, tz));
            }
            date = date.pred_opt()?;
        }
        None
    }

    /// The first scheduled instant strictly after `now`.
    pub(crate) fn next_after(&self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let today = now.with_timezone(&tz).date_naive();
        if let Some(kind) = self.kind.calendar_period() {
            let last = ReportPeriod::containing(kind, today).previous();
            return [last, last.next()]
                .into_iter()
                .map(|period| self.calendar_run(period, tz).due_at)
                .find(|due| *due > now)
                .expect("the run after this period's is later than today");
        }
        let mut date = today.pred_opt().expect("now is within chrono's range");
        loop {
            if let Some(due_at) = self.instant_on(date, tz).filter(|due| *due > now) {
                return due_at;
            }
            date = date.succ_opt().expect("a schedule fires within a week");
        }
    }

    /// The run owed at `now`: the latest at or before it, while `now` is
    /// still in the same local week (weekly), on the same local date
    /// (daily), or in the same month or quarter (monthly, quarterly) as
    /// its due instant. A service that was down at the scheduled time
    /// sends the run when it starts again that week, day, month or
    /// quarter; after that the run is left, since the next is near and
    /// says more.
    pub(crate) fn owed_at(&self, now: DateTime<Utc>, tz: Tz) -> Option<Occurrence> {
        let run = self.latest_at_or_before(now, tz)?;
        let local = |at: DateTime<Utc>| at.with_timezone(&tz).date_naive();
        let same = match self.kind.report_kind() {
            Some(kind) => {
                ReportPeriod::containing(kind, local(run.due_at))
                    == ReportPeriod::containing(kind, local(now))
            }
            None => local(run.due_at) == local(now),
        };
        same.then_some(run)
    }

    /// The run that reports on `period` (a month or a quarter): due at the
    /// schedule's local time on the first working day after it ends.
    fn calendar_run(&self, period: ReportPeriod, tz: Tz) -> Occurrence {
        let day = first_working_day(period.next_first_day());
        Occurrence {
            schedule: self.name.clone(),
            due_at: earliest_instant_at_or_after(tz, day.and_time(self.at)),
            period: DigestPeriod::of(period),
        }
    }

    /// The occurrence due at `due_at` (an instant this schedule names).
    fn occurrence(&self, due_at: DateTime<Utc>, tz: Tz) -> Occurrence {
        let date = due_at.with_timezone(&tz).date_naive();
        let period = match self.kind.report_kind() {
            Some(kind) => DigestPeriod::of(ReportPeriod::containing(kind, date).previous()),
            None => DigestPeriod::Day(date),
        };
        Occurrence {
            schedule: self.name.clone(),
            due_at,
            period,
        }
    }

    /// The instant this schedule fires on local `date`, or None when it does
    /// not fire that day. A time in the spring gap fires when the clocks go
    /// forward; one in the repeated autumn hour fires the first time round
    /// (the README's time rules for deadlines, applied to digests).
    fn instant_on(&self, date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
        let fires = match self.kind {
            DigestKind::Weekly => date.weekday() == self.day.unwrap_or(Weekday::Mon),
            DigestKind::Daily => true,
            // Found by `calendar_run`, never by searching dates.
            DigestKind::Monthly | DigestKind::Quarterly => false,
        };
        fires.then(|| earliest_instant_at_or_after(tz, date.and_time(self.at)))
    }
}

#[cfg(test)]
#[path = "digest_schedule_tests.rs"]
mod tests;
