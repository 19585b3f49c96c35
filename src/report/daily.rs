//! The sergeants' daily list: as of one instant, the open packages past
//! their deadline and those due within the next 48 hours, per LPA, most
//! urgent first. Rebuilt from the event ledger with the weekly report's
//! fold, so both agree on what was open, its deadline and its
//! acknowledgement. Pure: the caller reads the events
//! (`App::events_before(now)`) and sends the renderings
//! ([`super::daily_render`]).
//!
//! Each line carries what a sergeant needs to act and nothing else about
//! the case: reference, grade, LPA, stage, deadline, hours overdue or left,
//! assigned officer and any acknowledgement note.

use super::{histories, open_line, Folded, ReportParams};
use crate::domain::LpaCoverage;
use crate::domain::{RiskGrade, Stage};
use crate::store::LedgerEvent;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;

/// How far ahead the list looks, in elapsed hours.
pub(crate) const DUE_WITHIN_HOURS: i64 = 48;

/// The daily list for one recipient (or for everyone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyReport {
    /// The protective marking.
    pub(crate) marking: String,
    /// The instant the list is as of.
    pub(crate) as_of: DateTime<Utc>,
    /// The force time zone, for showing times.
    /// Serialized as its IANA name (`Europe/London`).
    pub time_zone: Tz,
    /// The look-ahead, in hours: packages due in (as_of, as_of + this].
    pub(crate) due_within_hours: i64,
    /// The LPAs this list covers.
    pub(crate) coverage: LpaCoverage,
    /// Breached packages, in all the LPAs covered.
    pub total_breached: u64,
    /// Packages due within the look-ahead, in all the LPAs covered.
    pub total_due: u64,
    /// Per LPA, by name. An LPA named in an `Only` coverage appears even
    /// with nothing in it, so its reader sees that it was looked at.
    pub lpas: Vec<DailyLpa>,
    /// Open packages in the LPAs covered whose risk review is overdue,
    /// most overdue first.
    pub reviews_overdue: Vec<super::reviews::OverdueReview>,
}

impl DailyLine {
    /// The acknowledgement of this breach as people read it.
    pub(crate) fn acknowledged(&self) -> Option<String> {
        super::acknowledgement_text(
            self.acknowledgement_reason.as_deref(),
            self.acknowledgement.as_deref(),
        )
    }
}

/// One LPA's breaches and packages due soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyLpa {
    /// The LPA.
    pub lpa: String,
    /// Open and at or past the deadline, most overdue first.
    pub breached: Vec<DailyLine>,
    /// Open and due within the look-ahead, soonest first.
    pub due: Vec<DailyLine>,
}

/// One package on the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyLine {
    /// The reference.
    pub reference: String,
    /// The grade.
    pub grade: RiskGrade,
    /// The LPA.
    pub(crate) lpa: String,
    /// The queue it is in.
    pub stage: Stage,
    /// The enforcement deadline.
    pub deadline_at: DateTime<Utc>,
    /// Breached: whole hours past the deadline (0 in the first hour).
    pub(crate) hours_overdue: Option<i64>,
    /// Due soon: whole hours left, rounded down so the list never shows
    /// more time than there is.
    pub(crate) hours_left: Option<i64>,
    /// The assigned officer's work address.
    pub officer: Option<String>,
    /// A supervisor's acknowledgement note on the breach of this deadline.
    pub acknowledgement: Option<String>,
    /// The reason given with it, by its label in the force's list.
    pub acknowledgement_reason: Option<String>,
}

/// Builds the list as of `now` from the ledger's events (at least those
/// that took effect before `now`, in sequence order; later ones are
/// ignored). `lpas` restricts it to the LPAs a recipient covers (any case);
/// `None` covers every LPA.
pub fn build(
    now: DateTime<Utc>,
    events: &[LedgerEvent],
    params: &ReportParams,
    lpas: Option<&[String]>,
) -> DailyReport {
    let coverage = match lpas {
        None => LpaCoverage::all(),
        Some(list) => LpaCoverage::Only(list.to_vec()),
    };
    build_for(now, events, params, &coverage)
}

/// As [`build`], for the coverage `config::lpas_of` works out for
/// one address (which can be "every LPA but these").
pub(crate) fn build_for(
    now: DateTime<Utc>,
    events: &[LedgerEvent],
    params: &ReportParams,
    coverage: &LpaCoverage,
) -> DailyReport {
    let horizon = now + Duration::hours(DUE_WITHIN_HOURS);
    let histories = histories(events, now);
    let reviews_overdue =
        super::reviews::overdue_at(&histories, now, &params.review_every, params.time_zone)
            .into_iter()
            .filter(|r| coverage.covers(&r.lpa))
            .collect();
    let mut lines: Vec<DailyLine> = histories
        .iter()
        .map(|h| h.at(now))
        .filter(|p: &Folded<'_>| p.is_open() && coverage.covers(p.lpa))
        .map(|p| open_line(&p, now, &params.reasons))
        .filter(|p| p.deadline_at <= horizon)
        .map(|p| DailyLine {
            hours_overdue: (p.deadline_at <= now).then(|| (now - p.deadline_at).num_hours()),
            hours_left: (p.deadline_at > now).then(|| (p.deadline_at - now).num_hours()),
            reference: p.reference,
            grade: p.grade,
            lpa: p.lpa,
            stage: p.stage,
            deadline_at: p.deadline_at,
            officer: p.officer,
            acknowledgement: p.acknowledgement,
            acknowledgement_reason: p.acknowledgement_reason,
        })
        .collect();
    // Earliest deadline first is most overdue first, then due soonest.
    lines.sort_by(|a, b| (a.deadline_at, &a.reference).cmp(&(b.deadline_at, &b.reference)));

    let mut by_lpa: BTreeMap<String, DailyLpa> = BTreeMap::new();
    if let LpaCoverage::Only(named) = coverage {
        for lpa in named {
            by_lpa.entry(lpa.clone()).or_insert_with(|| empty(lpa));
        }
    }
    let (mut total_breached, mut total_due) = (0, 0);
    for line in lines {
        // Packages carry the configured spelling, but match as the
        // coverage does, in any case.
        let key = by_lpa
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&line.lpa))
            .cloned()
            .unwrap_or_else(|| line.lpa.clone());
        let section = by_lpa.entry(key).or_insert_with(|| empty(&line.lpa));
        if line.hours_overdue.is_some() {
            total_breached += 1;
            section.breached.push(line);
        } else {
            total_due += 1;
            section.due.push(line);
        }
    }
    DailyReport {
        marking: params.marking.clone(),
        as_of: now,
        time_zone: params.time_zone,
        due_within_hours: DUE_WITHIN_HOURS,
        coverage: coverage.clone(),
        total_breached,
        total_due,
        lpas: by_lpa.into_values().collect(),
        reviews_overdue,
    }
}

fn empty(lpa: &str) -> DailyLpa {
    DailyLpa {
        lpa: lpa.to_string(),
        breached: Vec::new(),
        due: Vec::new(),
    }
}

impl DailyReport {
    /// True when nothing is breached or due in the LPAs covered.
    #[cfg(test)]
    pub(crate) fn is_clear(&self) -> bool {
        self.total_breached == 0 && self.total_due == 0
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! The list rebuilt from hand-made ledgers; also the fixture the
    //! renderers' tests use.

    use super::*;
    use crate::domain::{EventKind, Outcome};
    use chrono_tz::Europe::London;

    pub(crate) fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Thursday 26 November 2026, 08:00 GMT: the run the tests look at.
    pub(crate) fn now() -> DateTime<Utc> {
        utc("2026-11-26T08:00:00Z")
    }

    pub(crate) fn params() -> ReportParams {
        ReportParams {
            time_zone: London,
            marking: "OFFICIAL-SENSITIVE".into(),
            referral_within: Duration::hours(24),
            reasons: crate::domain::BreachReasons::default(),
            timescales: crate::domain::Timescales::default(),
            review_every: Default::default(),
        }
    }

    pub(crate) use crate::report::tests_support::TestLedger;

    impl TestLedger {
        /// A package received `hours_ago` before [`now`] in `lpa`,
        /// awaiting enforcement, due `deadline_in` hours from now
        /// (negative: breached).
        pub(crate) fn package(
            &mut self,
            reference: &str,
            lpa: &str,
            grade: RiskGrade,
            deadline_in: Duration,
            officer: Option<&str>,
        ) -> DateTime<Utc> {
            let deadline_at = now() + deadline_in;
            let received = deadline_at.min(now()) - Duration::days(3);
            let kind = EventKind::Created {
                risk_grade: grade,
                stage: Stage::AwaitingEnforcement,
                lpa: lpa.into(),
                assigned_officer: officer.map(Into::into),
                deadline_at,
                policy_version: "national-2024".into(),
                review_clock_started_at: None,
            };
            self.push(
                reference,
                received,
                grade,
                Stage::AwaitingEnforcement,
                deadline_at,
                kind,
            );
            deadline_at
        }

        pub(crate) fn acknowledge(&mut self, reference: &str, note: &str) {
            self.acknowledge_for(reference, None, note);
        }

        /// An acknowledgement with the reason `reason` (a code).
        pub(crate) fn acknowledge_for(
            &mut self,
            reference: &str,
            reason: Option<&str>,
            note: &str,
        ) {
            let last = self.last(reference);
            let kind = EventKind::Acknowledged {
                reason: reason
                    .map(|r| crate::domain::BreachReason::stored(r).expect("a reason code")),
                note: note.into(),
                deadline_at: last.deadline_at,
            };
            let at = last.deadline_at + Duration::hours(1);
            self.push(
                reference,
                at,
                last.risk_grade,
                last.stage,
                last.deadline_at,
                kind,
            );
        }

        fn enforce(&mut self, reference: &str, at: DateTime<Utc>) {
            let last = self.last(reference);
            let kind = EventKind::StageChanged {
                from: last.stage,
                to: Stage::Enforced,
                outcome: Some(Outcome::Arrest),
                note: None,
            };
            self.push(
                reference,
                at,
                last.risk_grade,
                Stage::Enforced,
                last.deadline_at,
                kind,
            );
        }

        fn regrade(
            &mut self,
            reference: &str,
            at: DateTime<Utc>,
            to: RiskGrade,
            deadline_at: DateTime<Utc>,
        ) {
            let last = self.last(reference);
            let kind = EventKind::Regraded {
                from: last.risk_grade,
                to,
                reason: "new intelligence".into(),
                previous_deadline_at: last.deadline_at,
                deadline_at,
                policy_version: "national-2024".into(),
            };
            self.push(reference, at, to, last.stage, deadline_at, kind);
        }

        fn last(&self, reference: &str) -> LedgerEvent {
            self.events
                .iter()
                .rev()
                .find(|e| e.reference.as_str() == reference)
                .cloned()
                .unwrap()
        }
    }

    /// Three breached and five due across two LPAs, with packages just
    /// outside the 48 hours, closed, and not yet received.
    pub(crate) fn sample() -> TestLedger {
        let mut l = TestLedger::default();
        let h = Duration::hours;
        l.package(
            "B-LATE-3D",
            "Birmingham",
            RiskGrade::Medium,
            -h(72),
            Some("pc.one@force.example"),
        );
        l.acknowledge_for(
            "B-LATE-3D",
            Some("awaiting_communications_data"),
            "Warrant refused; re-applying Friday",
        );
        l.package(
            "B-LATE-1H",
            "Birmingham",
            RiskGrade::VeryHigh,
            -h(1) - Duration::minutes(30),
            None,
        );
        l.package(
            "C-LATE-NOW",
            "Coventry",
            RiskGrade::High,
            Duration::zero(),
            Some("pc.two@force.example"),
        );
        l.package(
            "B-DUE-47H",
            "Birmingham",
            RiskGrade::Standard,
            h(47) + Duration::minutes(59),
            None,
        );
        l.package("B-DUE-48H", "Birmingham", RiskGrade::High, h(48), None);
        l.package(
            "B-DUE-2H",
            "Birmingham",
            RiskGrade::VeryHigh,
            h(2),
            Some("pc.three@force.example"),
        );
        l.package("C-DUE-10H", "Coventry", RiskGrade::Medium, h(10), None);
        l.package(
            "C-DUE-1S",
            "Coventry",
            RiskGrade::Medium,
            Duration::seconds(1),
            None,
        );
        // Just outside the look-ahead, by one second.
        l.package(
            "B-LATER",
            "Birmingham",
            RiskGrade::High,
            h(48) + Duration::seconds(1),
            None,
        );
        // Enforced before now: off the list, breached or not.
        let due = l.package("C-DONE", "Coventry", RiskGrade::High, -h(5), None);
        l.enforce("C-DONE", due - h(1));
        // Enforced after now: on the list as of now.
        l.package(
            "C-LATER-ENFORCED",
            "Coventry",
            RiskGrade::Standard,
            h(30),
            None,
        );
        l.enforce("C-LATER-ENFORCED", now() + h(1));
        // Received after now: not yet known.
        let mut late = TestLedger::default();
        late.package("B-FUTURE", "Birmingham", RiskGrade::VeryHigh, h(1), None);
        let mut future = late.events.remove(0);
        future.occurred_at = now() + h(1);
        future.sequence = l.events.len() as i64 + 1;
        l.events.push(future);
        l
    }

    fn references(lines: &[DailyLine]) -> Vec<&str> {
        lines.iter().map(|l| l.reference.as_str()).collect()
    }

    #[test]
    fn the_list_holds_breaches_and_the_next_48_hours_and_nothing_else() {
        let report = build(now(), &sample().events, &params(), None);
        assert_eq!((report.total_breached, report.total_due), (3, 6));
        let lpas: Vec<&str> = report.lpas.iter().map(|l| l.lpa.as_str()).collect();
        assert_eq!(lpas, ["Birmingham", "Coventry"]);
        let (bham, cov) = (&report.lpas[0], &report.lpas[1]);
        assert_eq!(
            references(&bham.breached),
            ["B-LATE-3D", "B-LATE-1H"],
            "most overdue first"
        );
        assert_eq!(
            references(&bham.due),
            ["B-DUE-2H", "B-DUE-47H", "B-DUE-48H"],
            "soonest first; 48 h exactly is in"
        );
        assert_eq!(
            references(&cov.breached),
            ["C-LATE-NOW"],
            "due exactly now is breached"
        );
        assert_eq!(
            references(&cov.due),
            ["C-DUE-1S", "C-DUE-10H", "C-LATER-ENFORCED"]
        );
        assert_eq!(report.coverage, LpaCoverage::all());
        assert_eq!(report.due_within_hours, 48);
        assert_eq!(report.as_of, now());
    }

    #[test]
    fn each_line_has_the_deadline_hours_officer_and_acknowledgement() {
        let report = build(now(), &sample().events, &params(), None);
        let bham = &report.lpas[0];
        let late = &bham.breached[0];
        assert_eq!(late.reference, "B-LATE-3D");
        assert_eq!(late.grade, RiskGrade::Medium);
        assert_eq!(late.lpa, "Birmingham");
        assert_eq!(late.stage, Stage::AwaitingEnforcement);
        assert_eq!(late.deadline_at, utc("2026-11-23T08:00:00Z"));
        assert_eq!((late.hours_overdue, late.hours_left), (Some(72), None));
        assert_eq!(late.officer.as_deref(), Some("pc.one@force.example"));
        assert_eq!(
            late.acknowledgement.as_deref(),
            Some("Warrant refused; re-applying Friday")
        );
        // The reason by its label in the force's list, before the note.
        assert_eq!(
            late.acknowledgement_reason.as_deref(),
            Some("Awaiting communications data")
        );
        assert_eq!(
            late.acknowledged().as_deref(),
            Some("Awaiting communications data: Warrant refused; re-applying Friday")
        );
        assert_eq!(bham.breached[1].acknowledgement_reason, None);
        assert_eq!(bham.breached[1].hours_overdue, Some(1), "whole hours");
        assert_eq!(report.lpas[1].breached[0].hours_overdue, Some(0));
        let left: Vec<Option<i64>> = bham.due.iter().map(|l| l.hours_left).collect();
        assert_eq!(left, [Some(2), Some(47), Some(48)], "rounded down");
        assert!(bham.due.iter().all(|l| l.hours_overdue.is_none()));
    }

    #[test]
    fn an_acknowledgement_of_an_earlier_deadline_does_not_carry_over() {
        let mut l = sample();
        // Upgraded after the acknowledgement: a new deadline, a new breach.
        l.regrade(
            "B-LATE-3D",
            now() - Duration::hours(2),
            RiskGrade::High,
            now() - Duration::hours(80),
        );
        let report = build(now(), &l.events, &params(), None);
        let line = &report.lpas[0].breached[0];
        assert_eq!(
            (line.reference.as_str(), line.grade),
            ("B-LATE-3D", RiskGrade::High)
        );
        assert_eq!(line.hours_overdue, Some(80));
        assert_eq!(line.acknowledgement, None);
    }

    #[test]
    fn a_recipient_sees_only_the_lpas_they_cover() {
        let events = sample().events;
        let coventry = ["coventry".to_string()];
        let report = build(now(), &events, &params(), Some(&coventry));
        assert_eq!(report.lpas.len(), 1);
        assert_eq!(
            report.lpas[0].lpa, "coventry",
            "named as the coverage names it"
        );
        assert_eq!(references(&report.lpas[0].breached), ["C-LATE-NOW"]);
        assert_eq!((report.total_breached, report.total_due), (1, 3));
        // A covered LPA with nothing in it still shows, empty.
        let quiet = ["Dudley".to_string(), "Birmingham".to_string()];
        let report = build(now(), &events, &params(), Some(&quiet));
        let lpas: Vec<(&str, usize, usize)> = report
            .lpas
            .iter()
            .map(|l| (l.lpa.as_str(), l.breached.len(), l.due.len()))
            .collect();
        assert_eq!(lpas, [("Birmingham", 2, 3), ("Dudley", 0, 0)]);
        // Every LPA but Birmingham (a force with no LPA list).
        let report = build_for(
            now(),
            &events,
            &params(),
            &LpaCoverage::AllExcept(vec!["Birmingham".into()]),
        );
        let lpas: Vec<&str> = report.lpas.iter().map(|l| l.lpa.as_str()).collect();
        assert_eq!(lpas, ["Coventry"]);
        // Nothing covered, nothing shown.
        let report = build(now(), &events, &params(), Some(&[] as &[String]));
        assert!(report.lpas.is_empty() && report.is_clear());
    }

    #[test]
    fn an_empty_ledger_is_a_clear_list() {
        let report = build(now(), &[], &params(), None);
        assert!(report.is_clear());
        assert!(report.lpas.is_empty());
        assert_eq!(report.marking, "OFFICIAL-SENSITIVE");
        assert_eq!(report.time_zone.name(), "Europe/London");
    }
}
