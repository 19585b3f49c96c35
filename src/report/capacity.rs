//! The capacity and demand report (inspectorate recommendation 46: "the
//! current and future capability and capacity it needs"): demand per
//! week and grade, the time packages spend in each queue, throughput,
//! each officer's load, and a forecast of the coming weeks.
//!
//! [`CapacityReport::build`] is pure: it folds the same ledger events the
//! weekly report folds (through [`super::fold`]) at an instant `now`.
//! Weeks are ISO weeks in the force time zone, and only complete ones
//! count: the 12 and 52 weeks are the ones that ended by `now`. The
//! forecast ([`super::forecast`]) resamples the last 12 of them.

use super::fold::{histories, History};
use super::forecast::{forecast, Fnv64, Forecast, ForecastInput, FEW_WEEKS, RUNS};
use super::{median, one_decimal, percentile, within, IsoWeek};
use crate::domain::{EventKind, RiskGrade, Stage, Timescales};
use crate::store::LedgerEvent;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The short window, in complete weeks: the weekly report's trend, and
/// what the forecast resamples (recent enough to reflect today's team).
pub(crate) const SHORT_WEEKS: u32 = 12;
/// The long window, in complete weeks: a year, so seasons show.
pub(crate) const LONG_WEEKS: u32 = 52;

/// What the capacity report needs besides the ledger.
#[derive(Debug, Clone)]
pub struct CapacityParams {
    /// The force time zone: weeks run Monday 00:00 to Monday 00:00 in it.
    pub time_zone: Tz,
    /// The protective marking every rendering carries.
    pub(crate) marking: String,
    /// Each grade's timescale, for the forecast's new packages.
    pub(crate) timescales: Timescales,
}

impl CapacityParams {
    /// The parameters a weekly report's carry (its capacity section).
    pub(crate) fn of_report(params: &super::ReportParams) -> Self {
        Self::new(params.time_zone, &params.marking, params.timescales)
    }

    /// The parameters from the settings' values.
    pub fn new(time_zone: Tz, marking: &str, timescales: Timescales) -> Self {
        Self {
            time_zone,
            marking: marking.to_string(),
            timescales,
        }
    }
}

/// The capacity and demand report at an instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CapacityReport {
    /// The protective marking.
    pub(crate) marking: String,
    /// The instant the report describes ("now").
    pub generated_at: DateTime<Utc>,
    /// The force time zone, as its IANA name.
    #[schema(value_type = String, example = "Europe/London")]
    pub(crate) time_zone: Tz,
    /// The last ISO week that had ended by `generated_at`.
    #[schema(value_type = String, example = "2024-W05")]
    pub last_complete_week: IsoWeek,
    /// Complete weeks since the week of the ledger's first receipt (that
    /// week included), at most 52: how far back the figures can reach.
    pub history_weeks: u32,
    /// The last 12 and the last 52 complete weeks.
    pub windows: Vec<CapacityWindow>,
    /// Each of the last 52 complete weeks, oldest first.
    pub weeks: Vec<WeekLine>,
    /// Open packages now, per grade.
    pub open_now: Vec<GradeCount>,
    /// Open packages now with no assigned officer.
    pub unassigned_open: u64,
    /// Each officer with an open package now or a clock stopped in the
    /// last 12 weeks, by address.
    pub officers: Vec<OfficerLine>,
    /// The next 4 and 8 weeks; `None` when the ledger has no complete
    /// week to resample.
    pub forecast: Option<Forecast>,
    /// How the forecast is made and how far to trust it, in words.
    pub method: String,
}

/// A count for one grade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GradeCount {
    /// The grade.
    pub grade: RiskGrade,
    /// How many.
    pub count: u64,
}

/// A total over a window and its weekly mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowFigure {
    /// The grade; `None` for every grade together.
    pub grade: Option<RiskGrade>,
    /// The total over the window.
    pub total: u64,
    /// The total divided by the window's weeks of history, one decimal;
    /// `None` when the window holds no history.
    pub weekly_mean: Option<f64>,
}

/// Time spent in one queue by packages of one grade that left it in the
/// window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageGradeTime {
    /// The queue.
    pub stage: Stage,
    /// The grade when the package left it.
    pub grade: RiskGrade,
    /// Stays that ended in the window.
    pub stays: u64,
    /// Their median length in days, one decimal.
    pub median_days: Option<f64>,
    /// Their 90th percentile (nearest rank) in days, one decimal.
    pub p90_days: Option<f64>,
}

/// Demand and work over the last `weeks` complete weeks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CapacityWindow {
    /// 12 or 52.
    pub weeks: u32,
    /// The window's first week.
    #[schema(value_type = String, example = "2024-W05")]
    pub first_week: IsoWeek,
    /// Its last week (the last complete one).
    #[schema(value_type = String, example = "2024-W05")]
    pub last_week: IsoWeek,
    /// Of its weeks, those the ledger reaches (the means divide by this).
    pub weeks_with_history: u32,
    /// Packages received, per grade (the grade on receipt), then every
    /// grade (`grade` null).
    pub received: Vec<WindowFigure>,
    /// Packages enforced (throughput), per grade (the grade when
    /// enforced), then every grade.
    pub enforced: Vec<WindowFigure>,
    /// Packages closed without enforcement, every grade.
    pub closed: WindowFigure,
    /// Time in each queue, per grade, for stays that ended in the window.
    pub stage_times: Vec<StageGradeTime>,
}

/// One complete week's demand and throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WeekLine {
    /// The week.
    #[schema(value_type = String, example = "2024-W05")]
    pub week: IsoWeek,
    /// Packages received, per grade on receipt.
    pub received_by_grade: BTreeMap<RiskGrade, u64>,
    /// Packages received, every grade.
    pub received: u64,
    /// Packages enforced.
    pub enforced: u64,
    /// Packages closed without enforcement.
    pub closed: u64,
}

/// One officer's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfficerLine {
    /// The officer's work address.
    pub officer: String,
    /// Open packages assigned to them now.
    pub open: u64,
    /// Packages they enforced in the last 12 complete weeks (the officer
    /// assigned when the clock stopped).
    pub enforced_twelve_weeks: u64,
    /// Packages they closed without enforcement in those weeks.
    pub closed_twelve_weeks: u64,
    /// Median days from receipt to enforcement of those enforced, one
    /// decimal.
    pub median_days_to_enforcement: Option<f64>,
}

fn days(length: chrono::Duration) -> f64 {
    length.num_seconds() as f64 / 86_400.0
}

/// A stay in a queue, with the grade it left with.
struct GradedStay {
    stage: Stage,
    grade: RiskGrade,
    left_at: DateTime<Utc>,
    days: f64,
}

/// A stopped clock, with who held the package and when it was received.
struct Stopped {
    at: DateTime<Utc>,
    stage: Stage,
    grade: RiskGrade,
    officer: Option<String>,
    received_at: Option<DateTime<Utc>>,
}

/// Everything the windows count, read once from the ledger.
struct Read {
    received: Vec<(DateTime<Utc>, RiskGrade)>,
    stays: Vec<GradedStay>,
    stops: Vec<Stopped>,
}

fn read(histories: &[History<'_>]) -> Read {
    let mut out = Read {
        received: Vec::new(),
        stays: Vec::new(),
        stops: Vec::new(),
    };
    for history in histories {
        let mut entered: Option<DateTime<Utc>> = None;
        let mut officer: Option<String> = None;
        let mut received_at = None;
        for e in &history.events {
            match &e.kind {
                EventKind::Created {
                    risk_grade,
                    assigned_officer,
                    ..
                } => {
                    out.received.push((e.occurred_at, *risk_grade));
                    received_at = Some(e.occurred_at);
                    entered = Some(e.occurred_at);
                    officer = assigned_officer.clone();
                }
                EventKind::Assigned { to, .. } => officer = Some(to.clone()),
                EventKind::StageChanged { from, to, .. } => {
                    if let (Some(since), true) = (entered, Stage::OPEN.contains(from)) {
                        out.stays.push(GradedStay {
                            stage: *from,
                            grade: e.risk_grade,
                            left_at: e.occurred_at,
                            days: days(e.occurred_at - since),
                        });
                    }
                    entered = Some(e.occurred_at);
                    if to.stops_clock() {
                        out.stops.push(Stopped {
                            at: e.occurred_at,
                            stage: *to,
                            grade: e.risk_grade,
                            officer: officer.clone(),
                            received_at,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

impl CapacityReport {
    /// Folds `events` (those that took effect before `now` count) into
    /// the report at `now`.
    pub fn build(events: &[LedgerEvent], now: DateTime<Utc>, params: &CapacityParams) -> Self {
        Self::from_histories(&histories(events, now), events, now, params)
    }

    /// As [`build`](Self::build), from the ledger already folded per
    /// package up to `now` (`histories`), as a report over a period has it.
    pub(super) fn from_histories(
        histories: &[History<'_>],
        events: &[LedgerEvent],
        now: DateTime<Utc>,
        params: &CapacityParams,
    ) -> Self {
        let tz = params.time_zone;
        let last = IsoWeek::last_complete(now, tz);
        let read = read(histories);

        let first_receipt = read.received.iter().map(|(at, _)| *at).min();
        // Weeks (of the last 52) that end after the first receipt.
        let history_weeks = match first_receipt {
            None => 0,
            Some(first) => (0..LONG_WEEKS)
                .filter(|n| last.weeks_before(i64::from(*n)).ends_at(tz) > first)
                .count() as u32,
        };

        let weeks: Vec<WeekLine> = (0..LONG_WEEKS)
            .rev()
            .map(|n| {
                let w = last.weeks_before(i64::from(n));
                let (from, to) = (w.starts_at(tz), w.ends_at(tz));
                let received_by_grade: BTreeMap<RiskGrade, u64> = RiskGrade::ALL
                    .iter()
                    .map(|g| {
                        let n = read
                            .received
                            .iter()
                            .filter(|(at, grade)| grade == g && within(*at, from, to))
                            .count() as u64;
                        (*g, n)
                    })
                    .collect();
                let stopped = |stage: Stage| {
                    read.stops
                        .iter()
                        .filter(|s| s.stage == stage && within(s.at, from, to))
                        .count() as u64
                };
                WeekLine {
                    week: w,
                    received: received_by_grade.values().sum(),
                    received_by_grade,
                    enforced: stopped(Stage::Enforced),
                    closed: stopped(Stage::Closed),
                }
            })
            .collect();

        let windows = [SHORT_WEEKS, LONG_WEEKS]
            .iter()
            .map(|n| window(*n, last, history_weeks, &read, tz))
            .collect();

        // The state now, per package.
        let folded: Vec<_> = histories
            .iter()
            .map(|h| h.at(now))
            .filter(|p| p.is_open())
            .collect();
        let open_now = RiskGrade::ALL
            .iter()
            .map(|g| GradeCount {
                grade: *g,
                count: folded.iter().filter(|p| p.grade == Some(*g)).count() as u64,
            })
            .collect();
        let unassigned_open = folded.iter().filter(|p| p.officer.is_none()).count() as u64;

        let short_from = last.weeks_before(i64::from(SHORT_WEEKS) - 1).starts_at(tz);
        let short_to = last.ends_at(tz);
        let mut officers: BTreeMap<String, OfficerLine> = BTreeMap::new();
        fn line<'a>(
            officers: &'a mut BTreeMap<String, OfficerLine>,
            name: &str,
        ) -> &'a mut OfficerLine {
            officers
                .entry(name.to_string())
                .or_insert_with(|| OfficerLine {
                    officer: name.to_string(),
                    open: 0,
                    enforced_twelve_weeks: 0,
                    closed_twelve_weeks: 0,
                    median_days_to_enforcement: None,
                })
        }
        for name in folded.iter().filter_map(|p| p.officer) {
            line(&mut officers, name).open += 1;
        }
        let mut to_enforcement: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for s in read
            .stops
            .iter()
            .filter(|s| within(s.at, short_from, short_to))
        {
            let Some(name) = &s.officer else { continue };
            let l = line(&mut officers, name);
            if s.stage == Stage::Enforced {
                l.enforced_twelve_weeks += 1;
                if let Some(received) = s.received_at {
                    to_enforcement
                        .entry(name.clone())
                        .or_default()
                        .push(days(s.at - received));
                }
            } else {
                l.closed_twelve_weeks += 1;
            }
        }
        for (name, values) in to_enforcement {
            if let Some(l) = officers.get_mut(&name) {
                l.median_days_to_enforcement = median(&sorted(values)).map(one_decimal);
            }
        }
        let officers: Vec<OfficerLine> = officers.into_values().collect();

        // The forecast resamples the short window's weeks that the ledger
        // reaches: a week before the first receipt is not a week of zero
        // demand, only one the ledger does not know.
        let resampled = history_weeks.min(SHORT_WEEKS) as usize;
        let recent = &weeks[weeks.len() - resampled..];
        let arrivals: Vec<[u64; 4]> = recent
            .iter()
            .map(|w| {
                let mut a = [0u64; 4];
                for (i, g) in RiskGrade::ALL.iter().enumerate() {
                    a[i] = w.received_by_grade[g];
                }
                a
            })
            .collect();
        let covered = f64::from(history_weeks.min(SHORT_WEEKS));
        let rates = sorted(
            officers
                .iter()
                .map(|o| (o.enforced_twelve_weeks + o.closed_twelve_weeks) as f64 / covered)
                .filter(|r| *r > 0.0)
                .collect(),
        );
        let input = ForecastInput {
            now,
            time_zone: tz,
            timescales: params.timescales,
            arrivals,
            stops: recent.iter().map(|w| w.enforced + w.closed).collect(),
            open_deadlines: folded.iter().filter_map(|p| p.deadline_at).collect(),
            officer_rate: median(&rates),
            seed: seed(events, now),
        };
        let forecast = forecast(&input);
        let method = method_text(&input, forecast.as_ref(), recent);

        Self {
            marking: params.marking.clone(),
            generated_at: now,
            time_zone: tz,
            last_complete_week: last,
            history_weeks,
            windows,
            weeks,
            open_now,
            unassigned_open,
            officers,
            forecast,
            method,
        }
    }

    /// The window of `weeks` weeks (12 or 52).
    pub fn window(&self, weeks: u32) -> Option<&CapacityWindow> {
        self.windows.iter().find(|w| w.weeks == weeks)
    }

    /// Open packages now, every grade.
    pub fn open_total(&self) -> u64 {
        self.open_now.iter().map(|g| g.count).sum()
    }
}

/// The capacity section of the weekly report (and its digest): the last
/// 12 weeks' demand and throughput and the 4-week forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacitySummary {
    /// Packages received in the last 12 complete weeks, per grade then
    /// every grade.
    pub received: Vec<WindowFigure>,
    /// Packages enforced in those weeks, every grade.
    pub enforced: WindowFigure,
    /// Packages closed without enforcement in those weeks.
    pub closed: WindowFigure,
    /// Open packages at the report's instant.
    pub open: u64,
    /// The forecast of the next 4 weeks, if the ledger has history.
    pub forecast_four_weeks: Option<super::forecast::Horizon>,
}

impl CapacitySummary {
    /// The summary of the capacity report at `now`.
    pub(super) fn at(
        histories: &[History<'_>],
        events: &[LedgerEvent],
        now: DateTime<Utc>,
        params: &CapacityParams,
    ) -> Self {
        CapacityReport::from_histories(histories, events, now, params).summary()
    }
}

impl CapacityReport {
    /// Its capacity section for the weekly report.
    pub fn summary(&self) -> CapacitySummary {
        let w = self
            .window(SHORT_WEEKS)
            .expect("every report has its 12 weeks");
        CapacitySummary {
            received: w.received.clone(),
            enforced: CapacityWindow::total(&w.enforced).clone(),
            closed: w.closed.clone(),
            open: self.open_total(),
            forecast_four_weeks: self
                .forecast
                .as_ref()
                .and_then(|f| f.horizons.first().cloned()),
        }
    }
}

impl CapacityWindow {
    /// The every-grade figure of `figures` (the last line).
    pub fn total(figures: &[WindowFigure]) -> &WindowFigure {
        figures
            .iter()
            .find(|f| f.grade.is_none())
            .expect("every window has its every-grade line")
    }

    /// The line for `grade` of `figures`.
    pub fn of_grade(figures: &[WindowFigure], grade: RiskGrade) -> &WindowFigure {
        figures
            .iter()
            .find(|f| f.grade == Some(grade))
            .expect("every window has a line per grade")
    }
}

fn window(n: u32, last: IsoWeek, history_weeks: u32, read: &Read, tz: Tz) -> CapacityWindow {
    let first = last.weeks_before(i64::from(n) - 1);
    let (from, to) = (first.starts_at(tz), last.ends_at(tz));
    let covered = history_weeks.min(n);
    let figure = |grade: Option<RiskGrade>, total: u64| WindowFigure {
        grade,
        total,
        weekly_mean: (covered > 0).then(|| one_decimal(total as f64 / f64::from(covered))),
    };
    let per_grade = |count: &dyn Fn(Option<RiskGrade>) -> u64| -> Vec<WindowFigure> {
        RiskGrade::ALL
            .iter()
            .map(|g| Some(*g))
            .chain([None])
            .map(|g| figure(g, count(g)))
            .collect()
    };
    let received = per_grade(&|g| {
        read.received
            .iter()
            .filter(|(at, grade)| within(*at, from, to) && g.is_none_or(|g| g == *grade))
            .count() as u64
    });
    let stopped = |stage: Stage, g: Option<RiskGrade>| {
        read.stops
            .iter()
            .filter(|s| s.stage == stage && within(s.at, from, to))
            .filter(|s| g.is_none_or(|g| g == s.grade))
            .count() as u64
    };
    let enforced = per_grade(&|g| stopped(Stage::Enforced, g));
    let closed = figure(None, stopped(Stage::Closed, None));
    let mut stage_times = Vec::new();
    for stage in Stage::OPEN {
        for grade in RiskGrade::ALL {
            let values = sorted(
                read.stays
                    .iter()
                    .filter(|s| s.stage == stage && s.grade == grade && within(s.left_at, from, to))
                    .map(|s| s.days)
                    .collect(),
            );
            stage_times.push(StageGradeTime {
                stage,
                grade,
                stays: values.len() as u64,
                median_days: median(&values).map(one_decimal),
                p90_days: percentile(&values, 90.0).map(one_decimal),
            });
        }
    }
    CapacityWindow {
        weeks: n,
        first_week: first,
        last_week: last,
        weeks_with_history: covered,
        received,
        enforced,
        closed,
        stage_times,
    }
}

/// The forecast's seed: FNV-1a over the instant and every event's
/// sequence and instant, so the same ledger at the same instant gives the
/// same seed and any change to either gives another. Not the reference:
/// a retention purge replaces it by a pseudonym, and a past report's
/// forecast must stay as it was.
fn seed(events: &[LedgerEvent], now: DateTime<Utc>) -> u64 {
    let mut hash = Fnv64::default();
    hash.write(&now.timestamp_millis().to_le_bytes());
    for e in events.iter().filter(|e| e.occurred_at < now) {
        hash.write(&e.sequence.to_le_bytes());
        hash.write(&e.occurred_at.timestamp_millis().to_le_bytes());
    }
    hash.finish()
}

/// How the forecast is made and how far to trust it, in plain words.
fn method_text(input: &ForecastInput, forecast: Option<&Forecast>, recent: &[WeekLine]) -> String {
    let Some(f) = forecast else {
        return "No forecast: the ledger has no complete week since its first package was \
                received, so there is no history to resample. The forecast appears once a \
                full week (Monday to Sunday, force time) has passed."
            .to_string();
    };
    let (first, last) = (
        recent
            .first()
            .map(|w| w.week.to_string())
            .unwrap_or_default(),
        recent
            .last()
            .map(|w| w.week.to_string())
            .unwrap_or_default(),
    );
    let mut text = String::new();
    if (f.history_weeks as usize) < FEW_WEEKS {
        text.push_str(&format!(
            "Only {} week{} of history: the ranges below are rough and likely too narrow, \
             because so few weeks cannot show how much a week can vary. ",
            f.history_weeks,
            if f.history_weeks == 1 { "" } else { "s" }
        ));
    }
    text.push_str(&format!(
        "The forecast resamples the last {n} complete weeks of this ledger ({first} to {last}). \
         Each of {RUNS} simulated futures draws, for every coming week, one of those weeks' \
         arrivals (all grades from the same week) and, separately, one of those weeks' \
         clocks stopped (enforced or closed), at random with replacement. New packages \
         arrive at random times in their week with their grade's timescale; the open queue \
         is worked earliest deadline first, the week's stops spread evenly through it, and a \
         package breaches when its deadline passes before it is reached. Once the queue falls \
         behind, earliest deadline first spends each stop on a package already late, so most \
         deadlines after that are missed too: the breach figure is what happens if nothing \
         changes, not a target. A range is the \
         10th to 90th percentile of the futures and the central figure their median: if the \
         coming weeks are like the last {n}, about 8 in 10 outcomes fall inside the range. \
         It cannot foresee what those weeks do not hold (a surge of referrals, a change of \
         staffing, a new timescale). The throughput needed is the fewest clocks stopped per \
         week that would meet every deadline in the horizon, the breached packages cleared \
         first: with a backlog it is the rate needed to recover now, so the rate needed from \
         the second week on, once the first week's are stopped, is given too; ",
        n = f.history_weeks
    ));
    match input.officer_rate {
        Some(rate) => text.push_str(&format!(
            "officers needed divides it by the median officer's rate over the last 12 weeks \
             ({:.1} clocks stopped a week), so it is rough: officers differ, and not every \
             hour of theirs goes to these packages. ",
            rate
        )),
        None => text.push_str(
            "no officer stopped a clock in the last 12 weeks, so officers needed is not \
             given. ",
        ),
    }
    text.push_str(&format!(
        "The simulation is seeded from the ledger and the report's instant (seed {}), so \
         the same ledger at the same instant always gives the same figures.",
        f.seed
    ));
    text
}

#[cfg(test)]
mod tests;
