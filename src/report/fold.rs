//! The ledger fold every report shares: a package's events, folded to
//! its state at an instant ([`Folded`]), and the stays in the queues and
//! the clock's stop read from the same events. The weekly and the daily
//! report both read the ledger through [`histories`], so they agree.

use super::OpenPackageLine;
use crate::domain::{BreachReason, BreachReasons, EventKind, Outcome, RiskGrade, Stage};
use crate::store::LedgerEvent;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// A package as the ledger says it was at some instant.
///
/// It borrows its text from the events it was folded from: a report folds
/// every package at several instants (the period's start and end, each
/// trend period's end), and owned copies of each reference, LPA and
/// officer at every fold were millions of allocations at a hub's scale.
#[derive(Debug, Clone, Default)]
pub(super) struct Folded<'a> {
    pub(super) reference: &'a str,
    pub(super) lpa: &'a str,
    pub(super) received_at: Option<DateTime<Utc>>,
    pub(super) grade: Option<RiskGrade>,
    pub(super) stage: Option<Stage>,
    pub(super) deadline_at: Option<DateTime<Utc>>,
    pub(super) stage_since: Option<DateTime<Utc>>,
    pub(super) officer: Option<&'a str>,
    /// The latest acknowledgement: its reason (absent in events from before
    /// reasons were asked for), its note, and the deadline it was for.
    pub(super) acknowledgement: Option<(Option<&'a BreachReason>, &'a str, DateTime<Utc>)>,
    pub(super) child_access_at: Option<DateTime<Utc>>,
    pub(super) referral_at: Option<DateTime<Utc>>,
    /// Where the review clock last (re)started: receipt, a review, or the
    /// upgrade that introduced reviews.
    pub(super) review_started: Option<DateTime<Utc>>,
}

impl Folded<'_> {
    pub(super) fn is_open(&self) -> bool {
        self.stage.is_some_and(|s| !s.stops_clock())
    }
}

/// A stay in a queue that ended: which, when it ended, how long it lasted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stay {
    pub(super) stage: Stage,
    pub(super) left_at: DateTime<Utc>,
    pub(super) length: Duration,
}

/// A stopped clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stop {
    pub(super) at: DateTime<Utc>,
    pub(super) stage: Stage,
    pub(super) grade: RiskGrade,
    pub(super) deadline_at: DateTime<Utc>,
    pub(super) outcome: Option<Outcome>,
}

/// The events of one package, in sequence.
pub(super) struct History<'a> {
    pub(super) events: Vec<&'a LedgerEvent>,
}

/// The ledger's events that took effect before `until`, per package (by
/// reference): what every report folds. Shared by the weekly and the
/// daily report so both read the ledger the same way.
pub(super) fn histories(events: &[LedgerEvent], until: DateTime<Utc>) -> Vec<History<'_>> {
    let mut by_reference: BTreeMap<&str, History<'_>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.occurred_at < until) {
        by_reference
            .entry(e.reference.as_str())
            .or_insert_with(|| History { events: Vec::new() })
            .events
            .push(e);
    }
    by_reference.into_values().collect()
}

impl<'a> History<'a> {
    /// Folds the events that took effect before `at`.
    pub(super) fn at(&self, at: DateTime<Utc>) -> Folded<'a> {
        let mut p = Folded::default();
        for e in self.events.iter().filter(|e| e.occurred_at < at) {
            p.reference = e.reference.as_str();
            p.grade = Some(e.risk_grade);
            p.deadline_at = Some(e.deadline_at);
            if p.stage != Some(e.stage) {
                p.stage_since = Some(e.occurred_at);
            }
            p.stage = Some(e.stage);
            match &e.kind {
                EventKind::Created {
                    lpa,
                    assigned_officer,
                    review_clock_started_at,
                    ..
                } => {
                    p.received_at = Some(e.occurred_at);
                    p.stage_since = Some(e.occurred_at);
                    p.review_started = Some(review_clock_started_at.unwrap_or(e.occurred_at));
                    p.lpa = lpa.as_str();
                    p.officer = assigned_officer.as_deref();
                }
                EventKind::Assigned { to, .. } => p.officer = Some(to.as_str()),
                EventKind::Acknowledged {
                    reason,
                    note,
                    deadline_at,
                } => p.acknowledgement = Some((reason.as_ref(), note.as_str(), *deadline_at)),
                EventKind::SafeguardingUpdated {
                    child_access_identified_at,
                    referral_made_at,
                } => {
                    p.child_access_at = *child_access_identified_at;
                    p.referral_at = *referral_made_at;
                }
                EventKind::Reviewed { .. } | EventKind::ReviewClockStarted => {
                    p.review_started = Some(e.occurred_at)
                }
                EventKind::Regraded { .. } | EventKind::StageChanged { .. } => {}
            }
        }
        p
    }

    /// Why the deadline a stopped clock missed was missed: the reason given
    /// when that deadline's breach was acknowledged before the stop; `None`
    /// when it was not acknowledged, or acknowledged before reasons were
    /// asked for ("not given").
    pub(super) fn reason_at_stop(&self, stop: &Stop) -> Option<BreachReason> {
        self.events
            .iter()
            .rev()
            .filter(|e| e.occurred_at <= stop.at)
            .find_map(|e| match &e.kind {
                EventKind::Acknowledged {
                    reason,
                    deadline_at,
                    ..
                } if *deadline_at == stop.deadline_at => Some(reason.clone()),
                _ => None,
            })
            .flatten()
    }

    /// Stays in the queues that ended, and the clock's stop, before `until`.
    pub(super) fn stays_and_stop(&self, until: DateTime<Utc>) -> (Vec<Stay>, Option<Stop>) {
        let mut stays = Vec::new();
        let mut stop = None;
        let mut entered: Option<DateTime<Utc>> = None;
        for e in self.events.iter().filter(|e| e.occurred_at < until) {
            match &e.kind {
                EventKind::Created { .. } => entered = Some(e.occurred_at),
                EventKind::StageChanged {
                    from, to, outcome, ..
                } => {
                    if let Some(since) = entered {
                        stays.push(Stay {
                            stage: *from,
                            left_at: e.occurred_at,
                            length: e.occurred_at - since,
                        });
                    }
                    entered = Some(e.occurred_at);
                    if to.stops_clock() {
                        stop = Some(Stop {
                            at: e.occurred_at,
                            stage: *to,
                            grade: e.risk_grade,
                            deadline_at: e.deadline_at,
                            outcome: *outcome,
                        });
                    }
                }
                _ => {}
            }
        }
        (stays, stop)
    }
}

/// Whole days from `from` to `to` (elapsed, rounded down).
fn whole_days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// The line for an open package at `now`; a breach reason is shown by
/// its label in the force's list (`reasons`).
pub(super) fn open_line(
    p: &Folded,
    now: DateTime<Utc>,
    reasons: &BreachReasons,
) -> OpenPackageLine {
    let deadline_at = p.deadline_at.expect("a folded package has a deadline");
    let received_at = p.received_at.unwrap_or(deadline_at);
    let breached = deadline_at <= now;
    // An acknowledgement belongs to one deadline: a regrade that moved it
    // made a new breach, not acknowledged.
    let acknowledgement = p
        .acknowledgement
        .as_ref()
        .filter(|(_, _, acked)| *acked == deadline_at);
    OpenPackageLine {
        reference: p.reference.to_string(),
        grade: p.grade.expect("a folded package has a grade"),
        stage: p.stage.expect("a folded package has a stage"),
        lpa: p.lpa.to_string(),
        received_at,
        deadline_at,
        age_days: whole_days(received_at, now),
        days_overdue: breached.then(|| whole_days(deadline_at, now)),
        officer: p.officer.map(str::to_string),
        acknowledgement: acknowledgement.map(|(_, note, _)| note.to_string()),
        acknowledgement_reason: acknowledgement
            .and_then(|(reason, _, _)| *reason)
            .map(|reason| reasons.label(reason).to_string()),
    }
}
