//! The weekly performance report: one model, rebuilt from the append-only
//! event ledger (never from the packages' current state), rendered as
//! JSON, CSV, plain text and HTML (see [`render`]). A closed period's
//! model is kept once built (`report_snapshots`, keyed by the period and
//! [`ReportParams::fingerprint`]) and served from there until a ledger
//! write lands in the period (`App::period_report`).
//!
//! [`WeeklyReport::build`] is pure: it takes the ledger's events before the
//! week's end and folds them per package to the state at each instant it
//! needs (the week's end, the previous week's end, the end of each of the
//! last 12 weeks). Every event row carries the grade, stage and deadline
//! after it, so the fold needs nothing but the events.

pub mod capacity;
pub mod daily;
pub mod daily_render;
mod fold;
pub mod forecast;
pub mod html;
pub mod listing;
pub mod render;
pub mod reviews;

/// Months and quarters are calendar arithmetic too; a report covers any
/// of the three kinds of period.
pub use crate::domain::period::{BadPeriod, CalendarMonth, PeriodKind, Quarter, ReportPeriod};
/// The ISO week is calendar arithmetic and lives in the domain (digest
/// schedules count in it too); the report is where most readers meet it.
pub use crate::domain::week::{BadWeek, IsoWeek};

mod comparison;
pub use comparison::{ComparedPeriod, Comparison, FigureChange, PeriodFigures};

/// A text cell as a spreadsheet should show it: a value that starts like a
/// formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading
/// `'`, so Excel shows the text instead of running it. The CSV files are
/// opened by leaders in Excel, and some cells (acknowledgement notes,
/// references) are typed by people.
pub(crate) fn spreadsheet_safe(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

use crate::domain::{BreachReason, BreachReasons, EventKind, Outcome, RiskGrade, Stage, Timescale};
use crate::store::LedgerEvent;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use fold::{histories, open_line, Folded, History, Stay, Stop};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a report needs besides the ledger.
#[derive(Debug, Clone)]
pub struct ReportParams {
    /// The force time zone: weeks run Monday 00:00 to Monday 00:00 in it.
    pub time_zone: Tz,
    /// The protective marking every rendering carries.
    pub(crate) marking: String,
    /// How soon after child access is identified the referral is due.
    pub(crate) referral_within: Duration,
    /// The force's breach reasons, for their labels and order.
    pub(crate) reasons: BreachReasons,
    /// Each grade's timescale, for the capacity section's forecast.
    pub(crate) timescales: crate::domain::Timescales,
    /// How often each grade is reviewed, to replay review clocks.
    pub(crate) review_every: crate::domain::ReviewIntervals,
}

impl ReportParams {
    /// The parameters from plain configuration values. The referral target
    /// is taken as elapsed hours (a day as 24), which is exact for the
    /// default of 24 hours.
    pub fn new(time_zone: Tz, marking: &str, referral_within: Timescale) -> Self {
        Self {
            time_zone,
            marking: marking.to_string(),
            referral_within: Duration::hours(i64::from(referral_within.nominal_hours())),
            reasons: BreachReasons::default(),
            timescales: crate::domain::Timescales::default(),
            review_every: Default::default(),
        }
    }

    /// The same parameters with the configured timescales (the defaults
    /// otherwise), for the capacity section's forecast.
    pub fn with_timescales(mut self, timescales: crate::domain::Timescales) -> Self {
        self.timescales = timescales;
        self
    }

    /// The same parameters replaying review clocks with `intervals` (the
    /// defaults otherwise).
    pub fn with_review_intervals(mut self, intervals: crate::domain::ReviewIntervals) -> Self {
        self.review_every = intervals;
        self
    }

    /// The same parameters labelling breach reasons from `reasons` (the
    /// built-in list otherwise).
    pub fn with_reasons(mut self, reasons: BreachReasons) -> Self {
        self.reasons = reasons;
        self
    }

    /// What a kept report model ([`crate::store::SnapshotKey`]) depends
    /// on besides the ledger and its period, as hex SHA-256: every
    /// parameter here, and the build (its version and commit, and
    /// [`SNAPSHOT_FORMAT`]), since a new release may compute or shape the
    /// figures differently. Two reports of one period with one fingerprint
    /// over the same ledger are equal.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        // Taken apart field by field: a field added to the parameters
        // does not compile here until it is counted in.
        let Self {
            time_zone,
            marking,
            referral_within,
            reasons,
            timescales,
            review_every,
        } = self;
        // Debug text: exact and stable within a build, and the build is
        // part of the fingerprint.
        let text = format!(
            "format={SNAPSHOT_FORMAT}\nversion={}\ncommit={}\ntime_zone={}\n\
             marking={marking:?}\nreferral_within={}\nreasons={reasons:?}\n\
             timescales={timescales:?}\nreview_every={review_every:?}",
            env!("CARGO_PKG_VERSION"),
            crate::COMMIT,
            time_zone.name(),
            referral_within.num_seconds(),
        );
        crate::text::hex(&Sha256::digest(text.as_bytes()))
    }
}

/// The shape of a kept report model: raise it when the model's fields
/// change, so that no snapshot of the old shape is served (the build's
/// commit is in the fingerprint too, but a build from a tree without git
/// has the commit "unknown").
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The performance report over one period: an ISO week (the weekly
/// report, its name kept), a calendar month or a quarter, with the same
/// sections. In a monthly or quarterly report every figure the model names
/// for "the week" (`flow.week`, `timeliness.week`, the position "at the
/// week's end") is the period's, and every figure named for "twelve weeks"
/// covers the trend window: the last [`PeriodKind::trend_periods`] periods
/// (12 weeks, 12 months or 8 quarters), the report's own included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyReport {
    /// The protective marking.
    pub(crate) marking: String,
    /// The week, `2024-W05`; for a month or a quarter, the ISO week its
    /// last day falls in (readers of `period` need not look at it).
    pub(crate) week: IsoWeek,
    /// The period the report covers: `2024-W05`, `2024-02` or `2024-Q1`.
    pub(crate) period: ReportPeriod,
    /// `week`, `month` or `quarter`.
    pub(crate) period_kind: PeriodKind,
    /// How many periods the trend and the longer figures cover.
    pub(crate) trend_periods: u32,
    /// Monday 00:00 local, as an instant.
    pub(crate) starts_at: DateTime<Utc>,
    /// The next Monday 00:00 local (exclusive): the figures' "now".
    pub(crate) ends_at: DateTime<Utc>,
    /// The force time zone.
    /// Serialized as its IANA name (`Europe/London`).
    pub(crate) time_zone: Tz,
    /// The figures a reader needs first, before any table.
    pub headline: Headline,
    /// Open packages at the week's end, per queue and grade.
    pub(crate) position: Vec<PositionLine>,
    /// Received, enforced and closed in the week and over 12 weeks.
    pub flow: Flow,
    /// Open packages past their deadline at the week's end, most overdue first.
    pub breaches: Vec<OpenPackageLine>,
    /// Time spent in each queue, and the outcomes of stopped clocks.
    pub timeliness: Timeliness,
    /// Safeguarding referrals.
    pub safeguarding: SafeguardingFigures,
    /// The position and breaches per LPA at the week's end.
    pub by_lpa: Vec<LpaLine>,
    /// Open packages per grade at the end of each of the last 12 weeks,
    /// oldest first, ending with this week.
    pub trend: Vec<TrendPoint>,
    /// Why deadlines were missed: per reason (the force's list in order,
    /// then any reason no longer listed, then "not given"), the breaches
    /// acknowledged in the week and the packages enforced late in it.
    pub breach_reasons: Vec<ReasonLine>,
    /// The period's figures beside the previous period's and the same
    /// period's a year before, where the ledger reaches back that far.
    pub comparison: Comparison,
    /// Every open package at the week's end (for the CSV), by deadline.
    pub(crate) open_packages: Vec<OpenPackageLine>,
    /// Risk reviews per grade: due in the week, done on time, done late,
    /// overdue at the week's end (`reviews.rs`).
    pub reviews: Vec<reviews::ReviewLine>,
    /// Demand over the last 12 weeks and the 4-week forecast, as at the
    /// period's end (`report/capacity.rs`), whatever the period: the
    /// capacity figures are weekly for every cadence.
    pub capacity: capacity::CapacitySummary,
}

/// The answer first: the week's position and timeliness in a few figures,
/// from the same fold as the tables below them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// Open packages at the week's end (both queues, every grade).
    pub open: u64,
    /// `open` minus the open count at the previous week's end.
    pub open_change: i64,
    /// Of those, at or past their deadline.
    pub breached: u64,
    /// Not breached, due within 48 hours of the week's end.
    pub due_within_48_hours: u64,
    /// Not breached, due within 7 days of the week's end (the 48 hours
    /// included).
    pub due_within_7_days: u64,
    /// Enforcements in the 12 weeks ending with this one that met their
    /// deadline, as a percentage of all enforcements in them (every
    /// grade), one decimal; `None` when none were enforced.
    pub percent_within_twelve_weeks: Option<f64>,
    /// `percent_within_twelve_weeks` minus the same figure for the 12
    /// weeks ending the week before, in percentage points, one decimal;
    /// `None` when either is `None`.
    pub percent_within_change: Option<f64>,
}

/// One queue and grade of the position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionLine {
    /// The queue.
    pub(crate) stage: Stage,
    /// The grade.
    pub(crate) grade: RiskGrade,
    /// Open packages at the week's end.
    pub open: u64,
    /// Age in whole days of the oldest (from receipt).
    pub oldest_age_days: Option<i64>,
    /// At or past their deadline.
    pub breached: u64,
    /// Not breached, due within 7 days of the week's end.
    pub due_within_7_days: u64,
    /// `open` minus the open count at the previous week's end.
    pub open_change: i64,
}

/// The flow of packages in the week and over 12 weeks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// This week.
    pub week: FlowFigures,
    /// The 12 weeks ending with this one.
    pub twelve_weeks: FlowFigures,
}

/// Received, enforced, closed, and enforcement within timescale per grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FlowFigures {
    /// Packages received.
    pub received: u64,
    /// Clocks stopped by enforcement.
    pub enforced: u64,
    /// Clocks stopped by closure without enforcement.
    pub closed: u64,
    /// Per grade (at enforcement): enforced by the deadline and after it.
    pub by_grade: Vec<GradeTimeliness>,
}

/// Enforcement within timescale for one grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeTimeliness {
    /// The grade at enforcement.
    pub grade: RiskGrade,
    /// Enforced at or before the deadline.
    pub within: u64,
    /// Enforced after it.
    pub late: u64,
    /// `within` as a percentage of all enforced, one decimal; `None` when
    /// none were enforced.
    pub percent_within: Option<f64>,
}

/// Time spent in the queues and how clocks stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeliness {
    /// Per queue: packages that left it in the week.
    pub week: Vec<StageTime>,
    /// Per queue: packages that left it in the 12 weeks.
    pub twelve_weeks: Vec<StageTime>,
    /// Outcomes of clocks stopped in the week.
    pub(crate) outcomes_week: BTreeMap<Outcome, u64>,
    /// Outcomes of clocks stopped in the 12 weeks.
    pub outcomes_twelve_weeks: BTreeMap<Outcome, u64>,
}

/// Time spent in one queue by the packages that left it in a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// The queue.
    pub stage: Stage,
    /// Packages that left it.
    pub left: u64,
    /// Median days spent in it (the mean of the middle two for an even
    /// count), one decimal.
    pub median_days: Option<f64>,
    /// 90th percentile of days spent in it (nearest rank), one decimal.
    pub p90_days: Option<f64>,
}

/// Safeguarding referrals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafeguardingFigures {
    /// The referral target, in hours.
    pub(crate) target_hours: i64,
    /// Child access identified in the week.
    pub identified: u64,
    /// Referrals made in the week within the target.
    pub referred_within_target: u64,
    /// Referrals made in the week after the target.
    pub referred_late: u64,
    /// Identified and not referred at the week's end (any week).
    pub outstanding: u64,
    /// Of those, past the target.
    pub outstanding_overdue: u64,
}

/// One reason a deadline was missed, with its figures for the week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonLine {
    /// The reason's code; `None` for "not given" (no acknowledgement, or
    /// one recorded before reasons were asked for).
    pub reason: Option<String>,
    /// What people read: the configured label, or "Not given".
    pub label: String,
    /// Breaches acknowledged in the week with this reason.
    pub acknowledged: u64,
    /// Packages enforced in the week after their deadline whose breach was
    /// acknowledged with this reason (for "not given": not acknowledged,
    /// or acknowledged without a reason). These add up to the week's late
    /// enforcements.
    pub enforced_late: u64,
}

/// The label of the "not given" line of the breaches by reason.
pub(crate) const REASON_NOT_GIVEN: &str = "Not given";

/// One LPA at the week's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LpaLine {
    /// The LPA.
    pub lpa: String,
    /// Open in intelligence development.
    pub intelligence_development: u64,
    /// Open awaiting enforcement.
    pub awaiting_enforcement: u64,
    /// Open and past the deadline.
    pub breached: u64,
}

/// Open packages per grade at the end of one period of the trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The week; for a month or a quarter, the ISO week its last day is in.
    pub week: IsoWeek,
    /// The period: a week, a month or a quarter, as the report's.
    pub period: ReportPeriod,
    /// Open per grade (every grade present).
    pub open_by_grade: BTreeMap<RiskGrade, u64>,
    /// Open in all.
    pub open: u64,
    /// Enforcements in the week that met their deadline (every grade).
    pub enforced_within: u64,
    /// Enforcements in the week after their deadline.
    pub enforced_late: u64,
    /// `enforced_within` as a percentage of the week's enforcements, one
    /// decimal; `None` when none were enforced.
    pub percent_within: Option<f64>,
}

/// An open package at the week's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPackageLine {
    /// The reference.
    pub reference: String,
    /// The grade.
    pub grade: RiskGrade,
    /// The queue.
    pub stage: Stage,
    /// The LPA.
    pub lpa: String,
    /// When received.
    pub(crate) received_at: DateTime<Utc>,
    /// The deadline.
    pub(crate) deadline_at: DateTime<Utc>,
    /// Whole days since receipt.
    pub(crate) age_days: i64,
    /// Whole days past the deadline; `None` when not breached.
    pub days_overdue: Option<i64>,
    /// The assigned officer's work address.
    pub(crate) officer: Option<String>,
    /// A supervisor's acknowledgement note on the breach of this deadline.
    pub(crate) acknowledgement: Option<String>,
    /// The reason given with that acknowledgement, by its label in the
    /// force's list; `None` when not acknowledged or given no reason.
    pub(crate) acknowledgement_reason: Option<String>,
}

/// An acknowledgement as people read it: the reason's label and the note
/// ("Resourcing: two officers on leave"), or the note alone when no reason
/// was given (acknowledged before reasons were asked for).
pub(crate) fn acknowledgement_text(reason: Option<&str>, note: Option<&str>) -> Option<String> {
    match (reason, note) {
        (Some(reason), Some(note)) => Some(format!("{reason}: {note}")),
        (Some(reason), None) => Some(reason.to_string()),
        (None, note) => note.map(str::to_string),
    }
}

impl OpenPackageLine {
    /// The acknowledgement of this breach as people read it.
    pub(crate) fn acknowledged(&self) -> Option<String> {
        acknowledgement_text(
            self.acknowledgement_reason.as_deref(),
            self.acknowledgement.as_deref(),
        )
    }
}

fn within(at: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    from <= at && at < to
}

fn one_decimal(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Median (mean of the middle two for an even count) of sorted values.
pub(crate) fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The nearest-rank percentile `p` (0 < p <= 100) of sorted values: the
/// smallest value with at least p% of the values at or below it.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

fn stage_times(stays: &[Stay], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<StageTime> {
    Stage::OPEN
        .iter()
        .map(|stage| {
            let mut days: Vec<f64> = stays
                .iter()
                .filter(|s| s.stage == *stage && within(s.left_at, from, to))
                .map(|s| s.length.num_seconds() as f64 / 86_400.0)
                .collect();
            days.sort_by(f64::total_cmp);
            StageTime {
                stage: *stage,
                left: days.len() as u64,
                median_days: median(&days).map(one_decimal),
                p90_days: percentile(&days, 90.0).map(one_decimal),
            }
        })
        .collect()
}

fn flow(
    histories: &[History<'_>],
    stops: &[Stop],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> FlowFigures {
    let received = histories
        .iter()
        .filter(|h| {
            h.events.iter().any(|e| {
                matches!(e.kind, EventKind::Created { .. }) && within(e.occurred_at, from, to)
            })
        })
        .count() as u64;
    let in_period: Vec<&Stop> = stops.iter().filter(|s| within(s.at, from, to)).collect();
    let enforced: Vec<&&Stop> = in_period
        .iter()
        .filter(|s| s.stage == Stage::Enforced)
        .collect();
    let by_grade = RiskGrade::ALL
        .iter()
        .map(|grade| {
            let of_grade = enforced.iter().filter(|s| s.grade == *grade);
            let within_count = of_grade.clone().filter(|s| s.at <= s.deadline_at).count() as u64;
            let late = of_grade.count() as u64 - within_count;
            let total = within_count + late;
            GradeTimeliness {
                grade: *grade,
                within: within_count,
                late,
                percent_within: (total > 0)
                    .then(|| one_decimal(100.0 * within_count as f64 / total as f64)),
            }
        })
        .collect();
    FlowFigures {
        received,
        enforced: enforced.len() as u64,
        closed: in_period
            .iter()
            .filter(|s| s.stage == Stage::Closed)
            .count() as u64,
        by_grade,
    }
}

/// Enforcements within timescale and late, every grade together, and the
/// share within as a percentage (one decimal; `None` when none).
fn within_and_late(figures: &FlowFigures) -> (u64, u64, Option<f64>) {
    let within: u64 = figures.by_grade.iter().map(|g| g.within).sum();
    let late: u64 = figures.by_grade.iter().map(|g| g.late).sum();
    let total = within + late;
    let percent = (total > 0).then(|| one_decimal(100.0 * within as f64 / total as f64));
    (within, late, percent)
}

fn outcomes(stops: &[Stop], from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<Outcome, u64> {
    let mut counts = BTreeMap::new();
    for stop in stops.iter().filter(|s| within(s.at, from, to)) {
        *counts
            .entry(stop.outcome.unwrap_or(Outcome::Other))
            .or_insert(0) += 1;
    }
    counts
}

/// The breaches by reason: a line per configured reason in order, then one
/// per reason given that the list no longer has, then "not given".
fn reason_lines(
    reasons: &BreachReasons,
    acknowledged: &[Option<BreachReason>],
    enforced_late: &[Option<BreachReason>],
) -> Vec<ReasonLine> {
    let mut codes: Vec<Option<String>> = reasons
        .codes()
        .into_iter()
        .map(|c| Some(c.to_string()))
        .collect();
    let mut dropped: Vec<Option<String>> = acknowledged
        .iter()
        .chain(enforced_late)
        .flatten()
        .map(|r| Some(r.code().to_string()))
        .filter(|c| !codes.contains(c))
        .collect();
    dropped.sort();
    dropped.dedup();
    codes.extend(dropped);
    codes.push(None);
    let count = |given: &[Option<BreachReason>], code: &Option<String>| {
        given
            .iter()
            .filter(|r| r.as_ref().map(|r| r.code().to_string()) == *code)
            .count() as u64
    };
    codes
        .into_iter()
        .map(|code| ReasonLine {
            label: match &code {
                Some(c) => BreachReason::stored(c)
                    .map(|r| reasons.label(&r).to_string())
                    .unwrap_or_else(|_| c.clone()),
                None => REASON_NOT_GIVEN.to_string(),
            },
            acknowledged: count(acknowledged, &code),
            enforced_late: count(enforced_late, &code),
            reason: code,
        })
        .collect()
}

impl WeeklyReport {
    /// Builds the report for `week` from the ledger's events (at least all
    /// those before the week's end, in sequence order; later ones are
    /// ignored).
    pub fn build(week: IsoWeek, events: &[LedgerEvent], params: &ReportParams) -> Self {
        Self::build_for(ReportPeriod::Week(week), events, params)
    }

    /// Builds the report for any period (a week, a month, a quarter) from
    /// the ledger's events (at least all those before the period's end, in
    /// sequence order; later ones are ignored).
    pub fn build_for(period: ReportPeriod, events: &[LedgerEvent], params: &ReportParams) -> Self {
        let tz = params.time_zone;
        let (start, end) = (period.starts_at(tz), period.ends_at(tz));
        let trend_periods = period.kind().trend_periods();
        let window_start = period.periods_before(trend_periods - 1).starts_at(tz);

        let histories = histories(events, end);
        // The packages open at an instant, folded one at a time: at a hub's
        // scale a vector of every folded package per instant was hundreds
        // of megabytes, and most instants only count them.
        let open_at = |at: DateTime<Utc>| {
            histories
                .iter()
                .map(move |h| h.at(at))
                .filter(Folded::is_open)
        };
        // Open at the period's start, per queue and grade (in
        // `Stage::OPEN` × `RiskGrade::ALL` order), and in all.
        let (mut before_open, mut before_open_in) = (0i64, [[0i64; 4]; 2]);
        for p in open_at(start) {
            before_open += 1;
            let (Some(stage), Some(grade)) = (p.stage, p.grade) else {
                continue;
            };
            if let (Some(s), Some(g)) = (
                Stage::OPEN.iter().position(|o| *o == stage),
                RiskGrade::ALL.iter().position(|r| *r == grade),
            ) {
                before_open_in[s][g] += 1;
            }
        }

        let mut open_packages: Vec<OpenPackageLine> = open_at(end)
            .map(|p| open_line(&p, end, &params.reasons))
            .collect();
        open_packages
            .sort_by(|a, b| (a.deadline_at, &a.reference).cmp(&(b.deadline_at, &b.reference)));
        let breaches: Vec<OpenPackageLine> = open_packages
            .iter()
            .filter(|p| p.days_overdue.is_some())
            .cloned()
            .collect();

        let horizon = end + Duration::days(crate::position::DUE_WITHIN_DAYS);
        let mut position = Vec::new();
        for (s, stage) in Stage::OPEN.into_iter().enumerate() {
            for (g, grade) in RiskGrade::ALL.into_iter().enumerate() {
                let here: Vec<&OpenPackageLine> = open_packages
                    .iter()
                    .filter(|p| p.stage == stage && p.grade == grade)
                    .collect();
                let before = before_open_in[s][g];
                position.push(PositionLine {
                    stage,
                    grade,
                    open: here.len() as u64,
                    oldest_age_days: here.iter().map(|p| p.age_days).max(),
                    breached: here.iter().filter(|p| p.days_overdue.is_some()).count() as u64,
                    due_within_7_days: here
                        .iter()
                        .filter(|p| p.days_overdue.is_none() && p.deadline_at <= horizon)
                        .count() as u64,
                    open_change: here.len() as i64 - before,
                });
            }
        }

        let mut stays = Vec::new();
        let mut stops = Vec::new();
        let mut late_reasons = Vec::new();
        for h in &histories {
            let (s, stop) = h.stays_and_stop(end);
            stays.extend(s);
            if let Some(stop) = &stop {
                if stop.stage == Stage::Enforced
                    && stop.at > stop.deadline_at
                    && within(stop.at, start, end)
                {
                    late_reasons.push(h.reason_at_stop(stop));
                }
            }
            stops.extend(stop);
        }
        let acknowledged_reasons: Vec<Option<BreachReason>> = histories
            .iter()
            .flat_map(|h| h.events.iter())
            .filter(|e| within(e.occurred_at, start, end))
            .filter_map(|e| match &e.kind {
                EventKind::Acknowledged { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        let breach_reasons = reason_lines(&params.reasons, &acknowledged_reasons, &late_reasons);

        let target = params.referral_within;

        let mut safeguarding = SafeguardingFigures {
            target_hours: target.num_hours(),
            identified: 0,
            referred_within_target: 0,
            referred_late: 0,
            outstanding: 0,
            outstanding_overdue: 0,
        };
        for p in histories.iter().map(|h| h.at(end)) {
            let Some(identified) = p.child_access_at else {
                continue;
            };
            if within(identified, start, end) {
                safeguarding.identified += 1;
            }
            match p.referral_at {
                Some(referral) if within(referral, start, end) => {
                    if referral - identified <= target {
                        safeguarding.referred_within_target += 1;
                    } else {
                        safeguarding.referred_late += 1;
                    }
                }
                Some(_) => {}
                None => {
                    safeguarding.outstanding += 1;
                    if end - identified > target {
                        safeguarding.outstanding_overdue += 1;
                    }
                }
            }
        }

        let mut lpas: BTreeMap<String, LpaLine> = BTreeMap::new();
        for p in &open_packages {
            let line = lpas.entry(p.lpa.clone()).or_insert_with(|| LpaLine {
                lpa: p.lpa.clone(),
                intelligence_development: 0,
                awaiting_enforcement: 0,
                breached: 0,
            });
            match p.stage {
                Stage::IntelligenceDevelopment => line.intelligence_development += 1,
                _ => line.awaiting_enforcement += 1,
            }
            if p.days_overdue.is_some() {
                line.breached += 1;
            }
        }

        let trend = (0..trend_periods)
            .rev()
            .map(|n| {
                let p = period.periods_before(n);
                let (mut open, mut by_grade) = (0u64, [0u64; 4]);
                for folded in open_at(p.ends_at(tz)) {
                    open += 1;
                    if let Some(g) = RiskGrade::ALL.iter().position(|r| Some(*r) == folded.grade) {
                        by_grade[g] += 1;
                    }
                }
                let (enforced_within, enforced_late, percent_within) =
                    within_and_late(&flow(&histories, &stops, p.starts_at(tz), p.ends_at(tz)));
                let open_by_grade = RiskGrade::ALL.into_iter().zip(by_grade).collect();
                TrendPoint {
                    week: p.iso_week(),
                    period: p,
                    open_by_grade,
                    open,
                    enforced_within,
                    enforced_late,
                    percent_within,
                }
            })
            .collect();

        let twelve_weeks = flow(&histories, &stops, window_start, end);
        let (_, _, percent_within_twelve_weeks) = within_and_late(&twelve_weeks);
        let previous_window = period.periods_before(trend_periods).starts_at(tz);
        let (_, _, percent_before) =
            within_and_late(&flow(&histories, &stops, previous_window, start));
        let due_by = |horizon: DateTime<Utc>| {
            open_packages
                .iter()
                .filter(|p| p.days_overdue.is_none() && p.deadline_at <= horizon)
                .count() as u64
        };
        let headline = Headline {
            open: open_packages.len() as u64,
            open_change: open_packages.len() as i64 - before_open,
            breached: breaches.len() as u64,
            due_within_48_hours: due_by(end + Duration::hours(48)),
            due_within_7_days: due_by(horizon),
            percent_within_twelve_weeks,
            percent_within_change: percent_within_twelve_weeks
                .zip(percent_before)
                .map(|(now, before)| one_decimal(now - before)),
        };

        let comparison = comparison::compare(period, events, &histories, &stops, tz);

        WeeklyReport {
            marking: params.marking.clone(),
            week: period.iso_week(),
            period,
            period_kind: period.kind(),
            trend_periods,
            starts_at: start,
            ends_at: end,
            time_zone: tz,
            headline,
            position,
            flow: Flow {
                week: flow(&histories, &stops, start, end),
                twelve_weeks,
            },
            breaches,
            timeliness: Timeliness {
                week: stage_times(&stays, start, end),
                twelve_weeks: stage_times(&stays, window_start, end),
                outcomes_week: outcomes(&stops, start, end),
                outcomes_twelve_weeks: outcomes(&stops, window_start, end),
            },
            safeguarding,
            by_lpa: lpas.into_values().collect(),
            trend,
            breach_reasons,
            comparison,
            open_packages,
            reviews: reviews::review_lines(&histories, start, end, &params.review_every, tz),
            capacity: capacity::CapacitySummary::at(
                &histories,
                events,
                end,
                &capacity::CapacityParams::of_report(params),
            ),
        }
    }

    /// The position line for a queue and grade.
    pub fn position_of(&self, stage: Stage, grade: RiskGrade) -> &PositionLine {
        self.position
            .iter()
            .find(|l| l.stage == stage && l.grade == grade)
            .expect("every queue and grade has a line")
    }

    /// The period the report covers.
    pub fn period(&self) -> ReportPeriod {
        self.period
    }

    /// Open packages in a queue at the week's end.
    pub fn open_in(&self, stage: Stage) -> u64 {
        self.position
            .iter()
            .filter(|l| l.stage == stage)
            .map(|l| l.open)
            .sum()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod period_tests;

#[cfg(test)]
mod spreadsheet_tests {
    use super::spreadsheet_safe;

    #[test]
    fn cells_that_start_like_formulas_are_quoted_and_others_left_alone() {
        for risky in ["=1+1", "+44 121", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(risky), format!("'{risky}"));
        }
        for plain in [
            "NCA/2024/0417",
            "pc.one@force.example",
            "",
            "Warrant refused",
        ] {
            assert_eq!(spreadsheet_safe(plain), plain);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    //! A report built from DOMAIN.md's snapshot, shared by the model's and
    //! the renderers' tests.
    pub(crate) use super::tests::{snapshot_report, TestLedger};
}
