//! Risk reviews in the reports, folded from the ledger: per grade, the
//! reviews due in a period, those done on time and late, and those overdue
//! at its end (the weekly report); and the packages whose review is overdue
//! at an instant (the daily digest).
//!
//! A package's review clock is replayed from its events: it starts at
//! receipt (or entry, or the upgrade's `review_clock_started` event), and
//! each cycle is due one interval of the grade after it started. A cycle
//! ends with a review (`reviewed`, which records when it was due, so
//! on time or late does not depend on today's configuration), or when the
//! package's clock stops. A regrade moves the cycle's due instant to the
//! new grade's interval from the same start, as `Package::review_due_at`
//! does for the escalations: a downgrade can take an overdue review out
//! of overdue, an upgrade can make it overdue at once.
//!
//! Counting, for a period:
//! - **due**: cycles whose due instant falls in the period, reviewed (early,
//!   on time or late) or not;
//! - **done on time / done late**: reviews recorded as taking effect in the
//!   period, at or before their due instant / after it;
//! - **overdue at the end**: open packages whose current cycle fell due
//!   before the period's end and has not been reviewed.
//!
//! Each under the grade it was due under.

use super::fold::History;
use crate::domain::{EventKind, ReviewIntervals, RiskGrade};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// One grade's reviews in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewLine {
    /// The grade the reviews were due under.
    pub grade: RiskGrade,
    /// Reviews whose due instant fell in the period.
    pub due: u64,
    /// Reviews made in the period at or before their due instant.
    pub done_on_time: u64,
    /// Reviews made in the period after their due instant.
    pub done_late: u64,
    /// Open packages whose review was overdue at the period's end.
    pub overdue_at_end: u64,
}

/// A package whose review is overdue at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueReview {
    /// The package's reference.
    pub reference: String,
    /// Its grade.
    pub grade: RiskGrade,
    /// Its LPA.
    pub lpa: String,
    /// The assigned officer, if any.
    pub officer: Option<String>,
    /// When the review fell due.
    pub due_at: DateTime<Utc>,
}

/// What happened to one review cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CycleEnd {
    /// Reviewed at this instant.
    Reviewed(DateTime<Utc>),
    /// The package's clock stopped (enforced or closed) at this instant.
    Stopped(DateTime<Utc>),
    /// Still running at the instant the history was replayed to.
    Running,
}

/// One review cycle of one package.
#[derive(Debug, Clone, Copy)]
struct Cycle {
    grade: RiskGrade,
    started: DateTime<Utc>,
    due_at: DateTime<Utc>,
    end: CycleEnd,
}

/// Replays `history`'s review clock over its events before `until`.
fn cycles(
    history: &History<'_>,
    until: DateTime<Utc>,
    intervals: &ReviewIntervals,
    tz: Tz,
) -> Vec<Cycle> {
    let due = |grade: RiskGrade, from: DateTime<Utc>| intervals.for_grade(grade).after(from, tz);
    let mut done = Vec::new();
    let mut current: Option<Cycle> = None;
    for e in history.events.iter().filter(|e| e.occurred_at < until) {
        let at = e.occurred_at;
        match &e.kind {
            EventKind::Created {
                review_clock_started_at,
                ..
            } => {
                let started = review_clock_started_at.unwrap_or(at);
                current = (!e.stage.stops_clock()).then(|| Cycle {
                    grade: e.risk_grade,
                    started,
                    due_at: due(e.risk_grade, started),
                    end: CycleEnd::Running,
                });
            }
            EventKind::Reviewed {
                review_due_at,
                regraded_from,
                ..
            } => {
                // The stored due instant and grade, not today's
                // configuration's.
                done.push(Cycle {
                    grade: regraded_from.unwrap_or(e.risk_grade),
                    started: current.map_or(at, |c| c.started),
                    due_at: *review_due_at,
                    end: CycleEnd::Reviewed(at),
                });
                current = Some(Cycle {
                    grade: e.risk_grade,
                    started: at,
                    due_at: due(e.risk_grade, at),
                    end: CycleEnd::Running,
                });
            }
            EventKind::ReviewClockStarted => {
                current = Some(Cycle {
                    grade: e.risk_grade,
                    started: at,
                    due_at: due(e.risk_grade, at),
                    end: CycleEnd::Running,
                });
            }
            EventKind::Regraded { .. } => {
                // The new grade's interval from the same start, due or
                // not: the rule the scheduler escalates by
                // (`Package::review_due_at`), so the reports agree with it.
                if let Some(cycle) = current.as_mut() {
                    cycle.grade = e.risk_grade;
                    cycle.due_at = due(e.risk_grade, cycle.started);
                }
            }
            EventKind::StageChanged { .. } if e.stage.stops_clock() => {
                if let Some(mut cycle) = current.take() {
                    cycle.end = CycleEnd::Stopped(at);
                    done.push(cycle);
                }
            }
            _ => {}
        }
    }
    done.extend(current);
    done
}

/// Per grade (every grade, in order), the reviews of the period
/// `[start, end)`.
pub(super) fn review_lines(
    histories: &[History<'_>],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    intervals: &ReviewIntervals,
    tz: Tz,
) -> Vec<ReviewLine> {
    let mut lines: Vec<ReviewLine> = RiskGrade::ALL
        .into_iter()
        .map(|grade| ReviewLine {
            grade,
            due: 0,
            done_on_time: 0,
            done_late: 0,
            overdue_at_end: 0,
        })
        .collect();
    let within = |t: DateTime<Utc>| start <= t && t < end;
    for history in histories {
        for cycle in cycles(history, end, intervals, tz) {
            let line = lines
                .iter_mut()
                .find(|l| l.grade == cycle.grade)
                .expect("every grade has a line");
            // A cycle stopped before its due instant never fell due.
            let reached = match cycle.end {
                CycleEnd::Stopped(at) => cycle.due_at <= at,
                _ => true,
            };
            if reached && within(cycle.due_at) {
                line.due += 1;
            }
            match cycle.end {
                CycleEnd::Reviewed(at) if within(at) => {
                    if at <= cycle.due_at {
                        line.done_on_time += 1;
                    } else {
                        line.done_late += 1;
                    }
                }
                CycleEnd::Running if cycle.due_at < end => line.overdue_at_end += 1,
                _ => {}
            }
        }
    }
    lines
}

/// The open packages whose review is overdue at `at`, most overdue first.
pub(super) fn overdue_at(
    histories: &[History<'_>],
    at: DateTime<Utc>,
    intervals: &ReviewIntervals,
    tz: Tz,
) -> Vec<OverdueReview> {
    let mut overdue: Vec<OverdueReview> = histories
        .iter()
        .filter_map(|history| {
            let cycle = cycles(history, at, intervals, tz).pop()?;
            if cycle.end != CycleEnd::Running || cycle.due_at >= at {
                return None;
            }
            let folded = history.at(at);
            Some(OverdueReview {
                reference: folded.reference.to_string(),
                grade: cycle.grade,
                lpa: folded.lpa.to_string(),
                officer: folded.officer.map(str::to_string),
                due_at: cycle.due_at,
            })
        })
        .collect();
    overdue.sort_by(|a, b| (a.due_at, &a.reference).cmp(&(b.due_at, &b.reference)));
    overdue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Outcome, Stage};
    use crate::report::tests_support::TestLedger;
    use crate::report::{IsoWeek, ReportParams, WeeklyReport};
    use chrono_tz::Europe::London;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// Events of one package, its grade and stage after each.
    struct Package<'a> {
        ledger: &'a mut TestLedger,
        reference: &'static str,
        grade: RiskGrade,
        stage: Stage,
    }

    impl Package<'_> {
        fn event(&mut self, at: &str, kind: EventKind) -> &mut Self {
            // The deadline plays no part in reviews.
            let deadline = utc("2024-06-01T00:00:00Z");
            self.ledger.push(
                self.reference,
                utc(at),
                self.grade,
                self.stage,
                deadline,
                kind,
            );
            self
        }

        fn reviewed(&mut self, at: &str, due: &str, next: &str) -> &mut Self {
            let grade = self.grade;
            self.event(
                at,
                EventKind::Reviewed {
                    note: "reviewed".into(),
                    risk_grade: grade,
                    regraded_from: None,
                    review_due_at: utc(due),
                    next_review_due_at: utc(next),
                },
            )
        }

        fn regraded(&mut self, at: &str, to: RiskGrade) -> &mut Self {
            let from = self.grade;
            self.grade = to;
            self.event(
                at,
                EventKind::Regraded {
                    from,
                    to,
                    reason: "new intelligence".into(),
                    previous_deadline_at: utc("2024-06-01T00:00:00Z"),
                    deadline_at: utc("2024-06-01T00:00:00Z"),
                    policy_version: "v1".into(),
                },
            )
        }

        fn enforced(&mut self, at: &str) -> &mut Self {
            let from = self.stage;
            self.stage = Stage::Enforced;
            self.event(
                at,
                EventKind::StageChanged {
                    from,
                    to: Stage::Enforced,
                    outcome: Some(Outcome::Arrest),
                    note: None,
                },
            )
        }
    }

    fn received<'a>(
        ledger: &'a mut TestLedger,
        reference: &'static str,
        grade: RiskGrade,
        at: &str,
    ) -> Package<'a> {
        let mut p = Package {
            ledger,
            reference,
            grade,
            stage: Stage::AwaitingEnforcement,
        };
        p.event(
            at,
            EventKind::Created {
                risk_grade: grade,
                stage: Stage::AwaitingEnforcement,
                lpa: "Dudley".into(),
                assigned_officer: None,
                deadline_at: utc("2024-06-01T00:00:00Z"),
                policy_version: "v1".into(),
                review_clock_started_at: None,
            },
        );
        p
    }

    /// Week 2024-W10: Monday 4 March to Monday 11 March, GMT throughout.
    /// Default intervals: very high 1 day, high 3, medium 7, standard 14.
    fn ledger() -> TestLedger {
        let mut l = TestLedger::default();
        // A, standard: due 5 March 10:00, reviewed early on the 4th.
        received(&mut l, "A", RiskGrade::Standard, "2024-02-20T10:00:00Z").reviewed(
            "2024-03-04T09:00:00Z",
            "2024-03-05T10:00:00Z",
            "2024-03-18T09:00:00Z",
        );
        // B, standard: due 10 March 12:00, never reviewed.
        received(&mut l, "B", RiskGrade::Standard, "2024-02-25T12:00:00Z");
        // C, high: due 4 March 08:00, reviewed a day late; the next cycle
        // is due 8 March 08:00 and not reviewed.
        received(&mut l, "C", RiskGrade::High, "2024-03-01T08:00:00Z").reviewed(
            "2024-03-05T08:00:00Z",
            "2024-03-04T08:00:00Z",
            "2024-03-08T08:00:00Z",
        );
        // D, medium: due 27 February, before the week; still not reviewed.
        received(&mut l, "D", RiskGrade::Medium, "2024-02-20T10:00:00Z");
        // E, very high: enforced before its first review fell due.
        received(&mut l, "E", RiskGrade::VeryHigh, "2024-03-06T10:00:00Z")
            .enforced("2024-03-06T20:00:00Z");
        // F, medium raised to high before its review: due 4 March 10:00
        // (3 days from receipt), reviewed two hours late; the next cycle,
        // due 7 March 12:00, passes unreviewed before enforcement on the 9th.
        received(&mut l, "F", RiskGrade::Medium, "2024-03-01T10:00:00Z")
            .regraded("2024-03-02T10:00:00Z", RiskGrade::High)
            .reviewed(
                "2024-03-04T12:00:00Z",
                "2024-03-04T10:00:00Z",
                "2024-03-07T12:00:00Z",
            )
            .enforced("2024-03-09T10:00:00Z");
        // G, standard, received long before reviews existed: the upgrade
        // started its clock on 1 March, so it is due on the 15th, not
        // overdue since January.
        received(&mut l, "G", RiskGrade::Standard, "2024-01-01T10:00:00Z")
            .event("2024-03-01T09:00:00Z", EventKind::ReviewClockStarted);
        l
    }

    #[test]
    fn the_weeks_reviews_per_grade_are_the_hand_computed_figures() {
        let params = ReportParams::new(
            London,
            "OFFICIAL-SENSITIVE",
            crate::domain::Timescale::Hours(24),
        );
        let week: IsoWeek = "2024-W10".parse().unwrap();
        let report = WeeklyReport::build(week, &ledger().events, &params);
        let got: Vec<(RiskGrade, u64, u64, u64, u64)> = report
            .reviews
            .iter()
            .map(|l| {
                (
                    l.grade,
                    l.due,
                    l.done_on_time,
                    l.done_late,
                    l.overdue_at_end,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (RiskGrade::VeryHigh, 0, 0, 0, 0),
                // C's two cycles (4th, 8th) and F's (4th, 7th); C and F late;
                // C's second cycle overdue at the end.
                (RiskGrade::High, 4, 0, 2, 1),
                // D, overdue since before the week.
                (RiskGrade::Medium, 0, 0, 0, 1),
                // A (on time, early) and B (overdue); G not yet due.
                (RiskGrade::Standard, 2, 1, 0, 1),
            ]
        );
        // Every rendering carries the figures.
        let json: serde_json::Value =
            serde_json::from_str(&crate::report::render::json(&report)).unwrap();
        assert_eq!(json["reviews"][1]["grade"], "high");
        assert_eq!(json["reviews"][1]["done_late"], 2);
        let text = crate::report::render::text(&report);
        assert!(text.contains("9. Risk reviews"), "{text}");
        assert!(
            text.contains("  High           4        0     2        1"),
            "{text}"
        );
        let html = crate::report::render::html(&report);
        assert!(html.contains("id=\"reviews\""), "{html}");
    }

    #[test]
    fn overdue_reviews_at_an_instant_are_listed_most_overdue_first() {
        let ledger = ledger();
        let at = utc("2024-03-11T00:00:00Z");
        let histories = crate::report::fold::histories(&ledger.events, at);
        let overdue = overdue_at(&histories, at, &ReviewIntervals::default(), London);
        let got: Vec<(&str, RiskGrade, DateTime<Utc>)> = overdue
            .iter()
            .map(|o| (o.reference.as_str(), o.grade, o.due_at))
            .collect();
        assert_eq!(
            got,
            [
                ("D", RiskGrade::Medium, utc("2024-02-27T10:00:00Z")),
                ("C", RiskGrade::High, utc("2024-03-08T08:00:00Z")),
                ("B", RiskGrade::Standard, utc("2024-03-10T12:00:00Z")),
            ]
        );
        assert_eq!(overdue[0].lpa, "Dudley");
    }

    #[test]
    fn a_regrade_after_the_review_fell_due_times_it_as_the_scheduler_does() {
        // H, medium: due 8 March 10:00; downgraded to standard on the
        // 10th, so due 15 March (14 days from receipt), as the package's
        // own clock says; I, standard: due 15 March; raised to very high on
        // the 3rd, so due on the 2nd, overdue at once.
        let mut l = TestLedger::default();
        received(&mut l, "H", RiskGrade::Medium, "2024-03-01T10:00:00Z")
            .regraded("2024-03-10T10:00:00Z", RiskGrade::Standard);
        received(&mut l, "I", RiskGrade::Standard, "2024-03-01T10:00:00Z")
            .regraded("2024-03-03T10:00:00Z", RiskGrade::VeryHigh);
        let at = utc("2024-03-11T00:00:00Z");
        let histories = crate::report::fold::histories(&l.events, at);
        let overdue = overdue_at(&histories, at, &ReviewIntervals::default(), London);
        let got: Vec<(&str, RiskGrade, DateTime<Utc>)> = overdue
            .iter()
            .map(|o| (o.reference.as_str(), o.grade, o.due_at))
            .collect();
        assert_eq!(
            got,
            [("I", RiskGrade::VeryHigh, utc("2024-03-02T10:00:00Z"))]
        );
    }

    #[test]
    fn the_daily_list_shows_the_overdue_reviews_in_the_lpas_it_covers() {
        let params = ReportParams::new(
            London,
            "OFFICIAL-SENSITIVE",
            crate::domain::Timescale::Hours(24),
        );
        let at = utc("2024-03-11T00:00:00Z");
        let ledger = ledger();
        let daily = crate::report::daily::build(at, &ledger.events, &params, None);
        assert_eq!(daily.reviews_overdue.len(), 3);
        let text = crate::report::daily_render::daily_text(&daily);
        assert!(text.contains("Risk reviews overdue: 3"), "{text}");
        assert!(
            text.contains(
                "D | Medium | Dudley | review due Tue 27 Feb 10:00 | overdue by 12 days 14 hours"
            ),
            "{text}"
        );
        let html = crate::report::daily_render::daily_html(&daily);
        assert!(html.contains("id=\"reviews-overdue\""), "{html}");
        let elsewhere = crate::report::daily::build(
            at,
            &ledger.events,
            &params,
            Some(&["Walsall".to_string()]),
        );
        assert!(elsewhere.reviews_overdue.is_empty());
    }
}
