//! Which escalations a package owes at an instant: the pure heart of the
//! scheduler. Given a package, the ladder and "now", [`LadderTiming::plan`]
//! names every level occurrence that has fallen due (each with the unique key
//! the store records it under, so it is sent once) and the next instant the
//! package needs looking at.
//!
//! Rules:
//! - A level falls due at its instant on its clock; a repeating level again
//!   every `repeat_every` until the clock stops.
//! - After downtime only the latest occurrence of a repeating level is owed:
//!   three missed daily repeats make one message, not three.
//! - A level before the enforcement deadline (a warning) that is first found
//!   due once the deadline has passed is superseded: recorded, not sent, since
//!   the breach says more. This happens after downtime or an upgrade.
//! - An acknowledged breach stops the repeats of enforcement-clock levels for
//!   that deadline; first occurrences (such as the senior level) still fire.
//! - The key includes the clock's due instant ("deadline version"): after a
//!   regrade moves the deadline, the levels apply afresh to the new deadline.

use super::ladder::{LadderTiming, LevelTime, PackageClock};
use super::package::Package;
use super::timescale::Timescale;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a level lies relative to its clock's due instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Before the due instant (a warning).
    Before,
    /// At it (the breach).
    At,
    /// After it (a senior escalation).
    After,
}

impl LevelTime {
    /// Where this point lies relative to the due instant.
    pub(crate) fn relation(self) -> Relation {
        match self {
            LevelTime::Percent(p) if p >= 100 => Relation::At,
            LevelTime::Percent(_) => Relation::Before,
            LevelTime::FromDeadline { by: None, .. } => Relation::At,
            LevelTime::FromDeadline { before: true, .. } => Relation::Before,
            LevelTime::FromDeadline { before: false, .. } => Relation::After,
        }
    }
}

/// One occurrence of one level that has fallen due for a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueLevel {
    /// The level's name.
    pub level: String,
    /// Which of the package's clocks the level counts on: the enforcement
    /// deadline or the safeguarding referral.
    pub clock: PackageClock,
    /// 0 for the first, 1 for the first repeat...
    pub occurrence: u32,
    /// The clock's due instant when this fell due: the enforcement deadline,
    /// or when the safeguarding referral was due. Part of the unique key.
    pub clock_due_at: DateTime<Utc>,
    /// The instant this occurrence fell due.
    pub due_at: DateTime<Utc>,
    /// Where the level lies relative to `clock_due_at`.
    pub relation: Relation,
    /// Recorded but not sent (a warning overtaken by the breach).
    pub superseded: bool,
}

/// What a package owes at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EscalationPlan {
    /// Every level occurrence due at or before the instant.
    pub due: Vec<DueLevel>,
    /// The next instant a level falls due after it; `None` when no clock runs.
    pub next_due_at: Option<DateTime<Utc>>,
}

/// The most repeats counted through, so a corrupt repeat cannot spin.
const MAX_REPEATS: u32 = 100_000;

/// The latest occurrence at or before `now` of a level first due at `first`
/// and repeating every `every`: its number, its instant, and the next one.
fn latest_occurrence(
    first: DateTime<Utc>,
    every: Timescale,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> (u32, DateTime<Utc>, DateTime<Utc>) {
    match every {
        Timescale::Hours(h) => {
            let step = chrono::Duration::hours(i64::from(h));
            let k =
                ((now - first).num_seconds() / step.num_seconds()).clamp(0, i64::from(MAX_REPEATS));
            let at = first + step * k as i32;
            (k as u32, at, at + step)
        }
        Timescale::Days(_) => {
            // Calendar days: step one repeat at a time, so each keeps the
            // local time across clock changes.
            let (mut k, mut at) = (0, first);
            loop {
                let next = every.after(at, tz);
                if next > now || k >= MAX_REPEATS {
                    return (k, at, next);
                }
                k += 1;
                at = next;
            }
        }
    }
}

impl LadderTiming<'_> {
    /// The levels `package` owes at `now`, and when to look again.
    pub fn plan(&self, package: &Package, now: DateTime<Utc>) -> EscalationPlan {
        let mut plan = EscalationPlan::default();
        let later = |t: DateTime<Utc>, plan: &mut EscalationPlan| {
            plan.next_due_at = Some(plan.next_due_at.map_or(t, |n| n.min(t)));
        };
        let breached = package.state().is_open() && now >= package.deadline().at();
        for level in self.levels {
            if level.clock.follows_grade() && !level.applies_to(package.grade()) {
                continue;
            }
            let Some((started, clock_due_at)) = self.clock_span(package, level.clock) else {
                continue;
            };
            let first = level.at.instant(started, clock_due_at, self.time_zone);
            if first > now {
                later(first, &mut plan);
                continue;
            }
            let acknowledged =
                level.clock == PackageClock::Enforcement && package.acknowledgement().is_some();
            let (occurrence, due_at) = match level.repeat_every {
                Some(every) if !acknowledged => {
                    let (k, at, next) = latest_occurrence(first, every, self.time_zone, now);
                    later(next, &mut plan);
                    (k, at)
                }
                _ => (0, first),
            };
            let relation = level.at.relation();
            plan.due.push(DueLevel {
                level: level.name.clone(),
                clock: level.clock,
                occurrence,
                clock_due_at,
                due_at,
                relation,
                superseded: level.clock == PackageClock::Enforcement
                    && relation == Relation::Before
                    && breached,
            });
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        default_ladder, Change, DeadlinePolicy, EscalationLevel, Lpas, OpenStage, Outcome,
        PackageParts, PackageState, Reference, Refusal, RegradePolicy, RiskGrade, Safeguarding,
        Stage, Timescales,
    };
    use chrono_tz::Europe::London;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn policy() -> DeadlinePolicy {
        DeadlinePolicy::new(
            Timescales::default(),
            London,
            RegradePolicy::FromReceipt,
            None,
        )
        .unwrap()
    }

    fn package(grade: RiskGrade, received: &str) -> Package {
        let received_at = utc(received);
        Package::from_parts(PackageParts {
            reference: Reference::parse("ESC-1").unwrap(),
            received_at,
            lpa: Lpas::default().parse("Dudley").unwrap(),
            assigned_officer: None,
            deadline: policy().initial(grade, received_at),
            state: PackageState::Open {
                stage: OpenStage::AwaitingEnforcement,
                since: received_at,
            },
            safeguarding: Safeguarding::default(),
            acknowledgement: None,
            review_clock_started_at: None,
        })
    }

    /// The default ladder without its review level: the tests of the
    /// enforcement and safeguarding clocks read clearer without reviews.
    fn enforcement_ladder() -> Vec<EscalationLevel> {
        default_ladder()
            .into_iter()
            .filter(|l| l.clock != PackageClock::Review)
            .collect()
    }

    fn timing(levels: &[EscalationLevel]) -> LadderTiming<'_> {
        LadderTiming {
            levels,
            time_zone: London,
            referral_within: Timescale::Hours(24),
            review_every: Default::default(),
        }
    }

    /// Walks a package through time like the scheduler: at each `next_due_at`
    /// it records what is due (once per key) and moves on. Returns
    /// (instant, level, occurrence) for each first-time key, superseded ones
    /// marked.
    fn walk(
        t: &LadderTiming,
        mut package: Package,
        until: DateTime<Utc>,
        mut during: impl FnMut(DateTime<Utc>, Package) -> Package,
    ) -> Vec<(DateTime<Utc>, String, u32, bool)> {
        let mut seen = std::collections::HashSet::new();
        let mut sent = Vec::new();
        let mut now = t.first_due(&package).unwrap();
        while now <= until {
            package = during(now, package);
            let plan = t.plan(&package, now);
            for due in plan.due {
                if seen.insert((due.level.clone(), due.occurrence, due.clock_due_at)) {
                    sent.push((now, due.level, due.occurrence, due.superseded));
                }
            }
            match plan.next_due_at {
                Some(next) => now = next,
                None => break,
            }
        }
        sent
    }

    #[test]
    fn a_very_high_package_lives_its_whole_life() {
        let levels = enforcement_ladder();
        let t = timing(&levels);
        let p = package(RiskGrade::VeryHigh, "2024-01-01T00:00:00Z");
        let sent = walk(&t, p, utc("2024-01-12T00:00:00Z"), |_, p| p);
        let expected = [
            ("2024-01-02T12:00:00Z", "warning", 0),
            ("2024-01-03T00:00:00Z", "breach", 0),
            ("2024-01-04T00:00:00Z", "breach", 1),
            ("2024-01-05T00:00:00Z", "breach", 2),
            ("2024-01-06T00:00:00Z", "breach", 3),
            ("2024-01-07T00:00:00Z", "breach", 4),
            ("2024-01-08T00:00:00Z", "breach", 5),
            ("2024-01-09T00:00:00Z", "breach", 6),
            ("2024-01-10T00:00:00Z", "breach", 7),
            ("2024-01-10T00:00:00Z", "senior", 0),
            ("2024-01-11T00:00:00Z", "breach", 8),
            ("2024-01-12T00:00:00Z", "breach", 9),
        ];
        let got: Vec<(DateTime<Utc>, &str, u32)> = sent
            .iter()
            .map(|(t, l, o, _)| (*t, l.as_str(), *o))
            .collect();
        let want: Vec<(DateTime<Utc>, &str, u32)> =
            expected.iter().map(|(t, l, o)| (utc(t), *l, *o)).collect();
        assert_eq!(got, want);
        assert!(sent.iter().all(|s| !s.3));
    }

    #[test]
    fn every_grade_warns_at_75_percent_and_breaches_at_the_deadline() {
        let levels = enforcement_ladder();
        let t = timing(&levels);
        let cases = [
            (
                RiskGrade::High,
                "2024-01-06T06:00:00Z",
                "2024-01-08T00:00:00Z",
            ),
            (
                RiskGrade::Medium,
                "2024-01-16T18:00:00Z",
                "2024-01-22T00:00:00Z",
            ),
            (
                RiskGrade::Standard,
                "2024-02-15T00:00:00Z",
                "2024-03-01T00:00:00Z",
            ),
        ];
        for (grade, warn, breach) in cases {
            let p = package(grade, "2024-01-01T00:00:00Z");
            let sent = walk(&t, p, utc(breach), |_, p| p);
            assert_eq!(sent[0].0, utc(warn), "{grade}");
            assert_eq!(sent[0].1, "warning");
            assert_eq!(sent[1], (utc(breach), "breach".into(), 0, false), "{grade}");
        }
    }

    #[test]
    fn daily_repeats_keep_local_time_across_the_march_change() {
        let mut levels = enforcement_ladder();
        levels[1].repeat_every = Some(Timescale::Days(1));
        let t = timing(&levels);
        // High received 10:00 GMT 22 March: due 10:00 GMT 29 March; repeats
        // at 10:00 local, which is 09:00 UTC from 31 March.
        let p = package(RiskGrade::High, "2024-03-22T10:00:00Z");
        let sent = walk(&t, p, utc("2024-04-01T09:00:00Z"), |_, p| p);
        let breaches: Vec<DateTime<Utc>> = sent
            .iter()
            .filter(|s| s.1 == "breach")
            .map(|s| s.0)
            .collect();
        assert_eq!(
            breaches,
            [
                utc("2024-03-29T10:00:00Z"),
                utc("2024-03-30T10:00:00Z"),
                utc("2024-03-31T09:00:00Z"),
                utc("2024-04-01T09:00:00Z")
            ]
        );
    }

    #[test]
    fn after_downtime_only_the_latest_repeat_is_owed_and_the_warning_is_superseded() {
        let levels = enforcement_ladder();
        let t = timing(&levels);
        let p = package(RiskGrade::VeryHigh, "2024-01-01T00:00:00Z");
        // Down from before the warning until 3.5 days after the deadline.
        let plan = t.plan(&p, utc("2024-01-06T12:00:00Z"));
        let due: Vec<(&str, u32, bool)> = plan
            .due
            .iter()
            .map(|d| (d.level.as_str(), d.occurrence, d.superseded))
            .collect();
        assert_eq!(due, [("warning", 0, true), ("breach", 3, false)]);
        assert_eq!(plan.due[1].due_at, utc("2024-01-06T00:00:00Z"));
        assert_eq!(plan.next_due_at, Some(utc("2024-01-07T00:00:00Z")));
    }

    #[test]
    fn acknowledgement_stops_repeats_but_not_the_senior_level() {
        let levels = enforcement_ladder();
        let t = timing(&levels);
        let p = package(RiskGrade::High, "2024-01-01T00:00:00Z");
        let sent = walk(&t, p, utc("2024-01-20T00:00:00Z"), |now, p| {
            if now == utc("2024-01-10T00:00:00Z") {
                p.acknowledge(
                    &crate::domain::BreachReasons::default()
                        .parse("resourcing")
                        .unwrap(),
                    "warrant being sought",
                    "token:sgt",
                    now,
                )
                .unwrap()
                .package
            } else {
                p
            }
        });
        let got: Vec<(DateTime<Utc>, &str, u32)> = sent
            .iter()
            .map(|(t, l, o, _)| (*t, l.as_str(), *o))
            .collect();
        assert_eq!(
            got,
            [
                (utc("2024-01-06T06:00:00Z"), "warning", 0),
                (utc("2024-01-08T00:00:00Z"), "breach", 0),
                (utc("2024-01-09T00:00:00Z"), "breach", 1),
                (utc("2024-01-15T00:00:00Z"), "senior", 0),
            ],
            "acknowledged just before the third breach message: no more repeats"
        );
    }

    #[test]
    fn enforcement_stops_everything() {
        let levels = enforcement_ladder();
        let t = timing(&levels);
        let p = package(RiskGrade::High, "2024-01-01T00:00:00Z");
        let sent = walk(&t, p, utc("2024-02-01T00:00:00Z"), |now, p| {
            if now == utc("2024-01-09T00:00:00Z") {
                let Change { package, .. } = p
                    .move_stage(Stage::Enforced, now, Some(Outcome::Arrest), None, now)
                    .unwrap();
                package
            } else {
                p
            }
        });
        assert_eq!(
            sent.last().unwrap().0,
            utc("2024-01-08T00:00:00Z"),
            "nothing after enforcement"
        );
    }

    #[test]
    fn regrades_apply_the_levels_afresh_to_the_new_deadline() {
        let levels = enforcement_ladder();
        let t = timing(&levels);
        let p = package(RiskGrade::Standard, "2024-01-01T00:00:00Z");
        // Upgraded to high on 10 January: the new deadline (8 January) has
        // passed, so the breach is due at once and the warning superseded.
        let now = utc("2024-01-10T00:00:00Z");
        let up = p
            .regrade(RiskGrade::High, "new intelligence", now, now, &policy())
            .unwrap()
            .package;
        let plan = t.plan(&up, now);
        let due: Vec<(&str, u32, bool, DateTime<Utc>)> = plan
            .due
            .iter()
            .map(|d| (d.level.as_str(), d.occurrence, d.superseded, d.clock_due_at))
            .collect();
        assert_eq!(
            due,
            [
                ("warning", 0, true, utc("2024-01-08T00:00:00Z")),
                ("breach", 2, false, utc("2024-01-08T00:00:00Z"))
            ]
        );
        // Downgraded back to standard: a later deadline, nothing due yet.
        let down = up
            .regrade(RiskGrade::Standard, "reassessed", now, now, &policy())
            .unwrap()
            .package;
        let plan = t.plan(&down, now);
        assert!(plan.due.is_empty());
        assert_eq!(plan.next_due_at, Some(utc("2024-02-15T00:00:00Z")));
    }

    #[test]
    fn safeguarding_repeats_until_the_referral() {
        let levels = enforcement_ladder();
        let t = timing(&levels);
        let p = package(RiskGrade::Standard, "2024-01-01T00:00:00Z");
        let access = utc("2024-01-02T09:00:00Z");
        let p = p
            .update_safeguarding(Some(access), None, access)
            .unwrap()
            .package;
        let plan = t.plan(&p, utc("2024-01-04T10:00:00Z"));
        let due: Vec<(&str, u32, Relation)> = plan
            .due
            .iter()
            .map(|d| (d.level.as_str(), d.occurrence, d.relation))
            .collect();
        assert_eq!(due, [("safeguarding", 1, Relation::At)]);
        assert_eq!(plan.due[0].clock_due_at, utc("2024-01-03T09:00:00Z"));
        assert_eq!(plan.next_due_at, Some(utc("2024-01-05T09:00:00Z")));
        let referred = p
            .update_safeguarding(
                None,
                Some(utc("2024-01-04T10:00:00Z")),
                utc("2024-01-04T10:00:00Z"),
            )
            .unwrap()
            .package;
        let plan = t.plan(&referred, utc("2024-01-04T10:00:00Z"));
        assert!(plan.due.is_empty());
        assert_eq!(
            plan.next_due_at,
            Some(utc("2024-02-15T00:00:00Z")),
            "only the enforcement warning is left"
        );
    }

    #[test]
    fn levels_limited_to_grades_skip_the_others() {
        let mut levels = enforcement_ladder();
        levels[0].grades = Some(vec![RiskGrade::VeryHigh]);
        let t = timing(&levels);
        let p = package(RiskGrade::High, "2024-01-01T00:00:00Z");
        assert_eq!(
            t.plan(&p, utc("2024-01-01T00:00:00Z")).next_due_at,
            Some(utc("2024-01-08T00:00:00Z"))
        );
    }

    #[test]
    fn relations_of_level_times() {
        for (text, relation) in [
            ("75%", Relation::Before),
            ("100%", Relation::At),
            ("-24h", Relation::Before),
            ("0", Relation::At),
            ("+7d", Relation::After),
        ] {
            assert_eq!(
                text.parse::<LevelTime>().unwrap().relation(),
                relation,
                "{text}"
            );
        }
    }

    #[test]
    fn hourly_repeats_count_from_the_first() {
        let (k, at, next) = latest_occurrence(
            utc("2024-01-01T00:00:00Z"),
            Timescale::Hours(24),
            London,
            utc("2024-01-04T23:59:59Z"),
        );
        assert_eq!(
            (k, at, next),
            (3, utc("2024-01-04T00:00:00Z"), utc("2024-01-05T00:00:00Z"))
        );
    }

    fn review_levels() -> Vec<EscalationLevel> {
        default_ladder()
            .into_iter()
            .filter(|l| l.clock == PackageClock::Review)
            .collect()
    }

    /// (instant, occurrence, the review clock's due instant) of each review
    /// escalation first found due while walking.
    fn reviews(
        sent: &[(DateTime<Utc>, String, u32, bool)],
        plans: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Vec<(DateTime<Utc>, u32, DateTime<Utc>)> {
        sent.iter()
            .filter(|s| s.1 == "review")
            .map(|s| {
                let clock_due = plans.iter().find(|p| p.0 == s.0).unwrap().1;
                (s.0, s.2, clock_due)
            })
            .collect()
    }

    #[test]
    fn an_overdue_review_escalates_once_per_occurrence_and_a_review_restarts_the_clock() {
        let levels = review_levels();
        let t = timing(&levels);
        let p = package(RiskGrade::Standard, "2024-01-01T10:00:00Z");
        let review_at = utc("2024-01-16T12:00:00Z");
        let mut keys = Vec::new();
        let sent = walk(&t, p, utc("2024-02-01T00:00:00Z"), |now, p| {
            let plan = t.plan(&p, now);
            for due in &plan.due {
                keys.push((now, due.clock_due_at));
            }
            if now > review_at && p.review_clock_started_at() < review_at {
                p.review(
                    None,
                    "risk unchanged",
                    review_at,
                    now,
                    &policy(),
                    &Default::default(),
                )
                .unwrap()
                .review
                .package
            } else {
                p
            }
        });
        let got = reviews(&sent, &keys);
        assert_eq!(
            got,
            [
                // Due 14 days after receipt, then daily until reviewed.
                (utc("2024-01-15T10:00:00Z"), 0, utc("2024-01-15T10:00:00Z")),
                (utc("2024-01-16T10:00:00Z"), 1, utc("2024-01-15T10:00:00Z")),
                // Reviewed at 12:00 on the 16th (recorded at the next look,
                // the 17th): nothing more of that cycle; the next cycle is
                // due 14 days after the review, a new occurrence key.
                (utc("2024-01-30T12:00:00Z"), 0, utc("2024-01-30T12:00:00Z")),
                (utc("2024-01-31T12:00:00Z"), 1, utc("2024-01-30T12:00:00Z")),
            ]
        );
    }

    #[test]
    fn review_levels_keep_local_time_across_the_march_change() {
        let mut levels = review_levels();
        levels[0].repeat_every = Some(Timescale::Days(1));
        let t = timing(&levels);
        // High (3 days) received 10:00 GMT 28 March: due 10:00 BST 31 March,
        // 09:00 UTC; repeats at 10:00 local.
        let p = package(RiskGrade::High, "2024-03-28T10:00:00Z");
        let plan = t.plan(&p, utc("2024-04-01T09:30:00Z"));
        assert_eq!(plan.due.len(), 1);
        assert_eq!(plan.due[0].clock, PackageClock::Review);
        assert_eq!(plan.due[0].clock_due_at, utc("2024-03-31T09:00:00Z"));
        assert_eq!(plan.due[0].occurrence, 1);
        assert_eq!(plan.due[0].due_at, utc("2024-04-01T09:00:00Z"));
        assert_eq!(plan.due[0].relation, Relation::At);
        assert_eq!(plan.next_due_at, Some(utc("2024-04-02T09:00:00Z")));
    }

    #[test]
    fn a_review_that_changes_the_grade_times_the_next_review_by_the_new_grade() {
        let levels = default_ladder();
        let t = timing(&levels);
        let p = package(RiskGrade::Standard, "2024-01-01T10:00:00Z");
        let at = utc("2024-01-05T10:00:00Z");
        let review = p
            .review(
                Some(RiskGrade::High),
                "new intelligence: access to a child",
                at,
                at,
                &policy(),
                &Default::default(),
            )
            .unwrap();
        let regrade = review.regrade.expect("the grade changed");
        assert!(matches!(
            regrade.event,
            crate::domain::EventKind::Regraded {
                to: RiskGrade::High,
                ..
            }
        ));
        let reviewed = review.review.package;
        assert_eq!(reviewed.grade(), RiskGrade::High);
        // High: every 3 days from the review.
        let plan = t.plan(&reviewed, at);
        assert!(plan.due.iter().all(|d| d.clock != PackageClock::Review));
        let later = t.plan(&reviewed, utc("2024-01-08T10:00:00Z"));
        let review_due: Vec<_> = later
            .due
            .iter()
            .filter(|d| d.clock == PackageClock::Review)
            .map(|d| d.clock_due_at)
            .collect();
        assert_eq!(review_due, [utc("2024-01-08T10:00:00Z")]);
    }

    #[test]
    fn packages_open_at_the_upgrade_are_not_all_overdue_at_once() {
        let levels = review_levels();
        let t = timing(&levels);
        // Received weeks or months before the upgrade, never reviewed.
        let upgrade = utc("2024-06-03T08:00:00Z");
        let received = [
            (RiskGrade::VeryHigh, "2024-06-01T09:00:00Z"),
            (RiskGrade::High, "2024-05-20T09:00:00Z"),
            (RiskGrade::Medium, "2024-05-01T09:00:00Z"),
            (RiskGrade::Standard, "2024-04-10T09:00:00Z"),
        ];
        let mut firsts = Vec::new();
        for (grade, at) in received {
            let mut parts = package(grade, at).parts().clone();
            // What migration 0005 stores for a package open at the upgrade.
            parts.review_clock_started_at = Some(upgrade);
            let p = Package::from_parts(parts);
            let plan = t.plan(&p, upgrade);
            assert!(plan.due.is_empty(), "{grade}: nothing due at the upgrade");
            firsts.push(plan.next_due_at.unwrap());
            // Counted from receipt, every one would have been overdue.
            let mut from_receipt = p.parts().clone();
            from_receipt.review_clock_started_at = None;
            assert_eq!(
                t.plan(&Package::from_parts(from_receipt), upgrade)
                    .due
                    .len(),
                1,
                "{grade}"
            );
        }
        assert_eq!(
            firsts,
            [
                utc("2024-06-04T08:00:00Z"),
                utc("2024-06-06T08:00:00Z"),
                utc("2024-06-10T08:00:00Z"),
                utc("2024-06-17T08:00:00Z"),
            ],
            "one interval of each grade after the upgrade"
        );
    }

    #[test]
    fn reviews_are_refused_in_the_future_before_receipt_or_out_of_order() {
        let p = package(RiskGrade::Medium, "2024-01-01T10:00:00Z");
        let now = utc("2024-01-10T10:00:00Z");
        let intervals = Default::default();
        let review = |p: &Package, at: &str, note: &str| {
            p.review(None, note, utc(at), now, &policy(), &intervals)
        };
        let err = review(&p, "2024-01-10T11:00:00Z", "ok").unwrap_err();
        assert_eq!((err.field, err.kind), ("reviewed_at", Refusal::Invalid));
        let err = review(&p, "2023-12-31T10:00:00Z", "ok").unwrap_err();
        assert_eq!((err.field, err.kind), ("reviewed_at", Refusal::Conflict));
        let err = review(&p, "2024-01-05T10:00:00Z", "  ").unwrap_err();
        assert_eq!((err.field, err.kind), ("note", Refusal::Invalid));
        let reviewed = review(&p, "2024-01-05T10:00:00Z", "ok").unwrap().review;
        assert!(matches!(
            reviewed.event,
            crate::domain::EventKind::Reviewed {
                regraded_from: None,
                risk_grade: RiskGrade::Medium,
                ..
            }
        ));
        let err = review(&reviewed.package, "2024-01-04T10:00:00Z", "ok").unwrap_err();
        assert_eq!((err.field, err.kind), ("reviewed_at", Refusal::Conflict));
        // The current grade given again is a confirmation, not a regrade.
        let same = p
            .review(
                Some(RiskGrade::Medium),
                "confirmed",
                now,
                now,
                &policy(),
                &intervals,
            )
            .unwrap();
        assert!(same.regrade.is_none());
        let closed = p
            .move_stage(
                Stage::Closed,
                now,
                Some(Outcome::NoFurtherAction),
                None,
                now,
            )
            .unwrap()
            .package;
        let err = review(&closed, "2024-01-10T10:00:00Z", "ok").unwrap_err();
        assert_eq!((err.field, err.kind), ("reviewed_at", Refusal::Conflict));
    }
}
