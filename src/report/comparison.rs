//! The comparison section: a period's headline figures beside the previous
//! period's and the same period's a year before (last month and February
//! last year, for February), folded from the same ledger histories as the
//! rest of the report. A period the ledger does not reach back to is not
//! compared: its figures would count only the part of it the ledger holds,
//! and a leader would read a rise that is only the ledger starting.

use super::fold::{Folded, History, Stop};
use super::{flow, one_decimal, within_and_late, ReportPeriod};
use crate::store::LedgerEvent;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The headline figures of one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodFigures {
    /// The period.
    pub period: ReportPeriod,
    /// Packages received in it.
    pub received: u64,
    /// Clocks stopped by enforcement in it.
    pub enforced: u64,
    /// Of those, at or before the deadline.
    pub enforced_within: u64,
    /// Of those, after it.
    pub enforced_late: u64,
    /// `enforced_within` as a percentage of `enforced`, one decimal; `None`
    /// when none were enforced.
    pub percent_within: Option<f64>,
    /// Clocks stopped by closure without enforcement in it.
    pub closed: u64,
    /// Open packages at its end.
    pub open_at_end: u64,
    /// Of those, at or past their deadline.
    pub breached_at_end: u64,
}

/// The report's figures minus another period's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureChange {
    /// Received.
    pub received: i64,
    /// Enforced.
    pub enforced: i64,
    /// Enforced late.
    pub enforced_late: i64,
    /// The share enforced within timescale, in percentage points, one
    /// decimal; `None` when either period enforced none.
    pub percent_within_points: Option<f64>,
    /// Closed.
    pub closed: i64,
    /// Open at the period's end.
    pub open_at_end: i64,
    /// Breached at the period's end.
    pub breached_at_end: i64,
}

/// A period the report is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedPeriod {
    /// The period compared with.
    pub period: ReportPeriod,
    /// Its figures; `None` when the ledger does not reach back to its start.
    pub figures: Option<PeriodFigures>,
    /// The report's figures minus these; `None` with `figures`.
    pub change: Option<FigureChange>,
    /// Why there is no comparison, in words: "no comparison: the ledger
    /// starts on 2024-01-03"; `None` when there is one.
    pub note: Option<String>,
}

/// The report's period beside the previous one and the same one a year
/// before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The first instant the ledger holds (its earliest event, the first
    /// package's receipt); `None` for an empty ledger.
    pub ledger_starts_at: Option<DateTime<Utc>>,
    /// The report's own period.
    pub this_period: PeriodFigures,
    /// The period before (last week, last month, last quarter).
    pub previous: ComparedPeriod,
    /// The same period a year before.
    pub year_before: ComparedPeriod,
}

/// The figures of `period` from the report's histories and stops.
fn figures(
    period: ReportPeriod,
    histories: &[History<'_>],
    stops: &[Stop],
    tz: Tz,
) -> PeriodFigures {
    let (start, end) = (period.starts_at(tz), period.ends_at(tz));
    let f = flow(histories, stops, start, end);
    let (enforced_within, enforced_late, percent_within) = within_and_late(&f);
    let open: Vec<Folded<'_>> = histories
        .iter()
        .map(|h| h.at(end))
        .filter(Folded::is_open)
        .collect();
    PeriodFigures {
        period,
        received: f.received,
        enforced: f.enforced,
        enforced_within,
        enforced_late,
        percent_within,
        closed: f.closed,
        open_at_end: open.len() as u64,
        breached_at_end: open
            .iter()
            .filter(|p| p.deadline_at.is_some_and(|d| d <= end))
            .count() as u64,
    }
}

fn change(now: &PeriodFigures, then: &PeriodFigures) -> FigureChange {
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    FigureChange {
        received: diff(now.received, then.received),
        enforced: diff(now.enforced, then.enforced),
        enforced_late: diff(now.enforced_late, then.enforced_late),
        percent_within_points: now
            .percent_within
            .zip(then.percent_within)
            .map(|(a, b)| one_decimal(a - b)),
        closed: diff(now.closed, then.closed),
        open_at_end: diff(now.open_at_end, then.open_at_end),
        breached_at_end: diff(now.breached_at_end, then.breached_at_end),
    }
}

/// The comparison section for `period`. `events` are the ledger's (the
/// earliest of them says where it starts); `histories` and `stops` are the
/// report's fold, which reaches every earlier period.
pub(super) fn compare(
    period: ReportPeriod,
    events: &[LedgerEvent],
    histories: &[History<'_>],
    stops: &[Stop],
    tz: Tz,
) -> Comparison {
    let ledger_starts_at = events.iter().map(|e| e.occurred_at).min();
    let this_period = figures(period, histories, stops, tz);
    let compared = |other: ReportPeriod| {
        // Reached when the ledger's first event is at or before the
        // period's first instant: the whole period is in the ledger.
        if ledger_starts_at.is_some_and(|first| first <= other.starts_at(tz)) {
            let then = figures(other, histories, stops, tz);
            ComparedPeriod {
                period: other,
                change: Some(change(&this_period, &then)),
                figures: Some(then),
                note: None,
            }
        } else {
            let note = match ledger_starts_at {
                Some(first) => format!(
                    "no comparison: the ledger starts on {}",
                    first.with_timezone(&tz).format("%Y-%m-%d")
                ),
                None => "no comparison: the ledger holds no packages".to_string(),
            };
            ComparedPeriod {
                period: other,
                figures: None,
                change: None,
                note: Some(note),
            }
        }
    };
    Comparison {
        ledger_starts_at,
        previous: compared(period.previous()),
        year_before: compared(period.year_before()),
        this_period,
    }
}
