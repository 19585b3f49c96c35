//! The report rebuilt from hand-made ledgers, checked against figures
//! computed by hand.

use super::*;
use crate::domain::Reference;
use chrono_tz::Europe::London;

fn params() -> ReportParams {
    ReportParams {
        time_zone: London,
        marking: "OFFICIAL-SENSITIVE".into(),
        referral_within: Duration::hours(24),
        reasons: BreachReasons::default(),
        timescales: crate::domain::Timescales::default(),
        review_every: Default::default(),
    }
}

/// Builds ledgers event by event, numbering them in order (shared with
/// the daily list's tests).
#[derive(Default)]
pub(crate) struct TestLedger {
    pub(crate) events: Vec<LedgerEvent>,
}

impl TestLedger {
    pub(crate) fn push(
        &mut self,
        reference: &str,
        at: DateTime<Utc>,
        grade: RiskGrade,
        stage: Stage,
        deadline_at: DateTime<Utc>,
        kind: EventKind,
    ) {
        self.events.push(LedgerEvent {
            sequence: self.events.len() as i64 + 1,
            reference: Reference::parse(reference).unwrap(),
            occurred_at: at,
            recorded_at: at,
            actor: "cli:test".into(),
            risk_grade: grade,
            stage,
            deadline_at,
            kind,
        });
    }

    fn created(
        &mut self,
        reference: &str,
        at: DateTime<Utc>,
        grade: RiskGrade,
        stage: Stage,
        deadline_at: DateTime<Utc>,
    ) {
        let kind = EventKind::Created {
            risk_grade: grade,
            stage,
            lpa: "Coventry".into(),
            assigned_officer: None,
            deadline_at,
            policy_version: "national-2024".into(),
            review_clock_started_at: None,
        };
        self.push(reference, at, grade, stage, deadline_at, kind);
    }

    #[allow(clippy::too_many_arguments)]
    fn moved(
        &mut self,
        reference: &str,
        at: DateTime<Utc>,
        grade: RiskGrade,
        from: Stage,
        to: Stage,
        deadline_at: DateTime<Utc>,
        outcome: Option<Outcome>,
    ) {
        let kind = EventKind::StageChanged {
            from,
            to,
            outcome,
            note: None,
        };
        self.push(reference, at, grade, to, deadline_at, kind);
    }
}

fn week(text: &str) -> IsoWeek {
    text.parse().unwrap()
}

/// DOMAIN.md's snapshot at the end of 2024-W05: awaiting enforcement 0
/// very high, 0 high, 5 medium (oldest 7 days), 5 standard (oldest 35
/// days); 32 in development.
pub(crate) fn snapshot_report() -> WeeklyReport {
    let w = week("2024-W05");
    let end = w.ends_at(London);
    let mut ledger = TestLedger::default();
    for i in 0..5 {
        let received = end - Duration::days(7 - i);
        let name = format!("NCA-M{i}");
        ledger.created(
            &name,
            received,
            RiskGrade::Medium,
            Stage::IntelligenceDevelopment,
            received + Duration::days(21),
        );
        ledger.moved(
            &name,
            received + Duration::hours(1),
            RiskGrade::Medium,
            Stage::IntelligenceDevelopment,
            Stage::AwaitingEnforcement,
            received + Duration::days(21),
            None,
        );
    }
    for i in 0..5 {
        let received = end - Duration::days(35 - 5 * i);
        ledger.created(
            &format!("NCA-S{i}"),
            received,
            RiskGrade::Standard,
            Stage::AwaitingEnforcement,
            received + Duration::days(60),
        );
    }
    for i in 0..32 {
        let received = end - Duration::days(3) - Duration::hours(i);
        ledger.created(
            &format!("NCA-D{i:02}"),
            received,
            RiskGrade::Standard,
            Stage::IntelligenceDevelopment,
            received + Duration::days(60),
        );
    }
    WeeklyReport::build(w, &ledger.events, &params())
}

#[test]
fn the_domain_snapshot_gives_exactly_its_figures() {
    let report = snapshot_report();
    let ae = Stage::AwaitingEnforcement;
    assert_eq!(report.open_in(ae), 10);
    assert_eq!(report.open_in(Stage::IntelligenceDevelopment), 32);
    assert_eq!(report.position_of(ae, RiskGrade::VeryHigh).open, 0);
    assert_eq!(report.position_of(ae, RiskGrade::High).open, 0);
    let medium = report.position_of(ae, RiskGrade::Medium);
    assert_eq!((medium.open, medium.oldest_age_days), (5, Some(7)));
    let standard = report.position_of(ae, RiskGrade::Standard);
    assert_eq!((standard.open, standard.oldest_age_days), (5, Some(35)));
    assert!(report
        .position
        .iter()
        .all(|l| l.breached == 0 && l.due_within_7_days == 0));
    assert!(report.breaches.is_empty());
    // Against the previous week: the mediums (the oldest received at the
    // week's first instant) and the 32 in development are new; the standards,
    // 15 to 35 days old, were all open a week before.
    assert_eq!(medium.open_change, 5);
    assert_eq!(standard.open_change, 0);
    assert_eq!(report.flow.week.received, 5 + 32);
    assert_eq!(report.trend.last().unwrap().open, 42);
    assert_eq!(report.open_packages.len(), 42);
}

#[test]
fn stage_moves_over_twelve_weeks_give_hand_computed_medians_percentiles_and_trend() {
    let w = week("2024-W05");
    let start = w.starts_at(London); // Monday 29 January 2024 00:00 GMT
    let w03 = week("2024-W03").starts_at(London); // Monday 15 January
    let (id, ae, done) = (
        Stage::IntelligenceDevelopment,
        Stage::AwaitingEnforcement,
        Stage::Enforced,
    );
    let mut ledger = TestLedger::default();
    // Five medium packages leave development in W05 after 2, 4, 6, 8 and 10
    // days, wait 12 hours for enforcement, and are arrested; the first two
    // after their deadline.
    for k in 1..=5i64 {
        let name = format!("NCA-K{k}");
        let left = start + Duration::hours(k);
        let deadline = if k <= 2 {
            start
        } else {
            start + Duration::days(20)
        };
        ledger.created(
            &name,
            left - Duration::days(2 * k),
            RiskGrade::Medium,
            id,
            deadline,
        );
        ledger.moved(&name, left, RiskGrade::Medium, id, ae, deadline, None);
        ledger.moved(
            &name,
            left + Duration::hours(12),
            RiskGrade::Medium,
            ae,
            done,
            deadline,
            Some(Outcome::Arrest),
        );
    }
    // Two standard packages leave development in W03 after 1 and 20 days and
    // stay awaiting enforcement.
    for (name, days, hour) in [("NCA-S6", 1, 2), ("NCA-S7", 20, 3)] {
        let left = w03 + Duration::hours(hour);
        let deadline = left + Duration::days(60);
        ledger.created(
            name,
            left - Duration::days(days),
            RiskGrade::Standard,
            id,
            deadline,
        );
        ledger.moved(name, left, RiskGrade::Standard, id, ae, deadline, None);
    }
    let report = WeeklyReport::build(w, &ledger.events, &params());

    let dev_week = &report.timeliness.week[0];
    assert_eq!((dev_week.stage, dev_week.left), (id, 5));
    assert_eq!(
        (dev_week.median_days, dev_week.p90_days),
        (Some(6.0), Some(10.0))
    );
    let ae_week = &report.timeliness.week[1];
    assert_eq!(
        (ae_week.left, ae_week.median_days, ae_week.p90_days),
        (5, Some(0.5), Some(0.5))
    );
    // Over 12 weeks: 1, 2, 4, 6, 8, 10, 20 days: median 6; p90 by nearest
    // rank is the ceil(0.9 * 7) = 7th value, 20.
    let dev_12 = &report.timeliness.twelve_weeks[0];
    assert_eq!(
        (dev_12.left, dev_12.median_days, dev_12.p90_days),
        (7, Some(6.0), Some(20.0))
    );
    assert_eq!(
        report.timeliness.outcomes_week.get(&Outcome::Arrest),
        Some(&5)
    );

    let flow = &report.flow.week;
    assert_eq!((flow.received, flow.enforced, flow.closed), (0, 5, 0));
    let medium = flow
        .by_grade
        .iter()
        .find(|g| g.grade == RiskGrade::Medium)
        .unwrap();
    assert_eq!(
        (medium.within, medium.late, medium.percent_within),
        (3, 2, Some(60.0))
    );
    assert_eq!(report.flow.twelve_weeks.received, 7);

    let weeks: Vec<String> = report.trend.iter().map(|t| t.week.to_string()).collect();
    assert_eq!(weeks.first().unwrap(), "2023-W46");
    assert_eq!(weeks.last().unwrap(), "2024-W05");
    let medium: Vec<u64> = report
        .trend
        .iter()
        .map(|t| t.open_by_grade[&RiskGrade::Medium])
        .collect();
    assert_eq!(medium, [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 5, 0]);
    let standard: Vec<u64> = report
        .trend
        .iter()
        .map(|t| t.open_by_grade[&RiskGrade::Standard])
        .collect();
    assert_eq!(standard, [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2]);
}

#[test]
fn breaches_carry_days_overdue_and_the_acknowledgement_of_this_deadline_only() {
    let w = week("2024-W05");
    let end = w.ends_at(London);
    let deadline = end - Duration::days(3) - Duration::hours(2);
    let mut ledger = TestLedger::default();
    ledger.created(
        "NCA-B1",
        deadline - Duration::days(7),
        RiskGrade::High,
        Stage::AwaitingEnforcement,
        deadline,
    );
    ledger.push(
        "NCA-B1",
        deadline + Duration::hours(1),
        RiskGrade::High,
        Stage::AwaitingEnforcement,
        deadline,
        EventKind::Acknowledged {
            reason: Some(crate::domain::BreachReason::stored("suspect_not_located").unwrap()),
            note: "Warrant booked".into(),
            deadline_at: deadline,
        },
    );
    ledger.push(
        "NCA-B1",
        deadline + Duration::hours(2),
        RiskGrade::High,
        Stage::AwaitingEnforcement,
        deadline,
        EventKind::Assigned {
            from: None,
            to: "pc.one@force.police.uk".into(),
        },
    );
    ledger.created(
        "NCA-B2",
        deadline - Duration::days(7),
        RiskGrade::High,
        Stage::AwaitingEnforcement,
        deadline - Duration::days(1),
    );
    ledger.push(
        "NCA-B2",
        deadline,
        RiskGrade::High,
        Stage::AwaitingEnforcement,
        deadline - Duration::days(1),
        EventKind::Acknowledged {
            reason: None,
            note: "old".into(),
            deadline_at: deadline - Duration::days(9),
        },
    );
    let report = WeeklyReport::build(w, &ledger.events, &params());
    type Line<'a> = (&'a str, Option<i64>, Option<&'a str>, Option<&'a str>);
    let lines: Vec<Line<'_>> = report
        .breaches
        .iter()
        .map(|b| {
            (
                b.reference.as_str(),
                b.days_overdue,
                b.officer.as_deref(),
                b.acknowledgement.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("NCA-B2", Some(4), None, None),
            (
                "NCA-B1",
                Some(3),
                Some("pc.one@force.police.uk"),
                Some("Warrant booked")
            ),
        ]
    );
    // The reason goes with the note, by its label, in every rendering.
    let b1 = &report.breaches[1];
    assert_eq!(
        b1.acknowledgement_reason.as_deref(),
        Some("Suspect not located")
    );
    assert_eq!(
        b1.acknowledged().as_deref(),
        Some("Suspect not located: Warrant booked")
    );
    assert_eq!(report.breaches[0].acknowledged(), None);
    assert!(crate::report::render::text(&report)
        .contains("acknowledged: Suspect not located: Warrant booked"));
    assert!(crate::report::render::html(&report).contains("Suspect not located: Warrant booked"));
    let csv = crate::report::render::csv(&report);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = reader
        .records()
        .map(Result::unwrap)
        .find(|r| &r[column("reference")] == "NCA-B1")
        .unwrap();
    assert_eq!(&row[column("breach_reason")], "Suspect not located");
    assert_eq!(&row[column("acknowledgement")], "Warrant booked");
    assert_eq!(report.by_lpa[0].breached, 2);
}

#[test]
fn safeguarding_counts_referrals_in_the_week_and_those_outstanding() {
    let w = week("2024-W05");
    let start = w.starts_at(London);
    let mut ledger = TestLedger::default();
    let deadline = start + Duration::days(30);
    let cases = [
        (
            "NCA-G1",
            start + Duration::hours(1),
            Some(start + Duration::hours(20)),
        ),
        (
            "NCA-G2",
            start + Duration::hours(1),
            Some(start + Duration::hours(30)),
        ),
        ("NCA-G3", start + Duration::days(6), None),
        ("NCA-G4", start - Duration::days(3), None),
    ];
    for (name, identified, referral) in cases {
        ledger.created(
            name,
            start - Duration::days(5),
            RiskGrade::Standard,
            Stage::IntelligenceDevelopment,
            deadline,
        );
        ledger.push(
            name,
            referral.unwrap_or(identified),
            RiskGrade::Standard,
            Stage::IntelligenceDevelopment,
            deadline,
            EventKind::SafeguardingUpdated {
                child_access_identified_at: Some(identified),
                referral_made_at: referral,
            },
        );
    }
    let s = WeeklyReport::build(w, &ledger.events, &params()).safeguarding;
    assert_eq!(
        (
            s.identified,
            s.referred_within_target,
            s.referred_late,
            s.outstanding,
            s.outstanding_overdue
        ),
        (3, 1, 1, 2, 1)
    );
}

#[test]
fn percentiles_follow_the_nearest_rank_and_the_median_the_middle() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), Some(2.5));
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 10.0], 90.0), Some(10.0));
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(percentile(&ten, 90.0), Some(9.0));
    assert_eq!(percentile(&[5.0], 90.0), Some(5.0));
}

/// The headline's figures, by hand: four open packages at the end of
/// 2024-W05 (one breached, one due within 48 hours, one more within 7
/// days), one open at its start; enforcements in the 12 weeks 2 within and
/// 1 late, in the 12 weeks before 1 within and 1 late.
#[test]
fn the_headline_counts_what_is_open_due_and_enforced_in_time() {
    let w = week("2024-W05");
    let end = w.ends_at(London);
    let mut ledger = TestLedger::default();
    let open = [
        (
            "A",
            RiskGrade::VeryHigh,
            Duration::hours(1),
            Duration::hours(47),
        ),
        ("B", RiskGrade::High, Duration::days(2), Duration::days(5)),
        ("C", RiskGrade::High, Duration::days(10), -Duration::days(3)),
        (
            "D",
            RiskGrade::Standard,
            Duration::days(3),
            Duration::days(57),
        ),
    ];
    for (name, grade, age, due) in open {
        ledger.created(
            name,
            end - age,
            grade,
            Stage::AwaitingEnforcement,
            end + due,
        );
    }
    // (name, received before the end, enforced before the end, deadline
    // before the end): E1 and E4 this week in time, E2 last week late, E3
    // in time 12 weeks and 3 days before the end (in the earlier window
    // only).
    let enforced = [
        (
            "E1",
            Duration::days(5),
            Duration::days(2),
            Duration::days(1),
        ),
        (
            "E2",
            Duration::days(20),
            Duration::days(9),
            Duration::days(10),
        ),
        (
            "E3",
            Duration::weeks(13) + Duration::days(5),
            Duration::weeks(12) + Duration::days(3),
            Duration::weeks(12),
        ),
        (
            "E4",
            Duration::days(3),
            Duration::days(1),
            -Duration::days(4),
        ),
    ];
    for (name, received, at, deadline) in enforced {
        let grade = RiskGrade::High;
        let stage = Stage::AwaitingEnforcement;
        ledger.created(name, end - received, grade, stage, end - deadline);
        ledger.moved(
            name,
            end - at,
            grade,
            stage,
            Stage::Enforced,
            end - deadline,
            Some(Outcome::Arrest),
        );
    }
    ledger.events.sort_by_key(|e| e.occurred_at);
    for (i, e) in ledger.events.iter_mut().enumerate() {
        e.sequence = i as i64 + 1;
    }
    let report = WeeklyReport::build(w, &ledger.events, &params());
    assert_eq!(
        report.headline,
        Headline {
            open: 4,
            open_change: 3,
            breached: 1,
            due_within_48_hours: 1,
            due_within_7_days: 2,
            percent_within_twelve_weeks: Some(66.7),
            percent_within_change: Some(16.7),
        }
    );
    // The same figures as the tables'.
    let position_open: u64 = report.position.iter().map(|l| l.open).sum();
    let position_due: u64 = report.position.iter().map(|l| l.due_within_7_days).sum();
    assert_eq!(
        (position_open, position_due, report.breaches.len() as u64),
        (4, 2, 1)
    );
    // The trend's timeliness per week: this week 2 of 2, last week 0 of 1,
    // the weeks before none.
    let last = &report.trend[11];
    assert_eq!(
        (
            last.enforced_within,
            last.enforced_late,
            last.percent_within
        ),
        (2, 0, Some(100.0))
    );
    let before = &report.trend[10];
    assert_eq!(
        (
            before.enforced_within,
            before.enforced_late,
            before.percent_within
        ),
        (0, 1, Some(0.0))
    );
    assert!(report.trend[..10]
        .iter()
        .all(|p| p.percent_within.is_none()));
}

#[test]
fn with_nothing_enforced_the_headline_has_no_percentage() {
    let report = snapshot_report();
    assert_eq!(report.headline.open, 42);
    assert_eq!(report.headline.percent_within_twelve_weeks, None);
    assert_eq!(report.headline.percent_within_change, None);
}

#[test]
fn breaches_by_reason_count_the_weeks_acknowledgements_and_late_enforcements() {
    let w = week("2024-W05");
    let (start, end) = (w.starts_at(London), w.ends_at(London));
    // Every deadline passed the Saturday before the week; clocks stop on
    // the Wednesday of it.
    let deadline = start - Duration::days(2);
    let wednesday = start + Duration::days(2);
    let reason = |code: &str| Some(BreachReason::stored(code).unwrap());
    let mut ledger = TestLedger::default();
    let ack = |ledger: &mut TestLedger, r: &str, at, why, for_deadline| {
        ledger.push(
            r,
            at,
            RiskGrade::High,
            Stage::AwaitingEnforcement,
            deadline,
            EventKind::Acknowledged {
                reason: why,
                note: "in hand".into(),
                deadline_at: for_deadline,
            },
        )
    };
    let enforce = |ledger: &mut TestLedger, r: &str, at| {
        ledger.moved(
            r,
            at,
            RiskGrade::High,
            Stage::AwaitingEnforcement,
            Stage::Enforced,
            deadline,
            Some(Outcome::WarrantExecuted),
        )
    };
    for r in ["R1", "R2", "R3", "R4", "R5", "R6", "R7"] {
        ledger.created(
            r,
            deadline - Duration::days(7),
            RiskGrade::High,
            Stage::AwaitingEnforcement,
            deadline,
        );
    }
    // R1: acknowledged in the week (resourcing), then enforced late in it.
    ack(
        &mut ledger,
        "R1",
        start + Duration::hours(1),
        reason("resourcing"),
        deadline,
    );
    enforce(&mut ledger, "R1", wednesday);
    // R2: acknowledged in the week (suspect not located), still open.
    ack(
        &mut ledger,
        "R2",
        start + Duration::hours(2),
        reason("suspect_not_located"),
        deadline,
    );
    // R3: enforced late, never acknowledged.
    enforce(&mut ledger, "R3", wednesday);
    // R4: acknowledged before reasons were asked for, enforced late.
    ack(
        &mut ledger,
        "R4",
        deadline + Duration::hours(1),
        None,
        deadline,
    );
    enforce(&mut ledger, "R4", wednesday);
    // R5: acknowledged last week with a reason the list has since dropped.
    ack(
        &mut ledger,
        "R5",
        deadline + Duration::hours(1),
        reason("weather"),
        deadline,
    );
    enforce(&mut ledger, "R5", wednesday);
    // R6: the reason was given for an earlier deadline: not this breach's.
    ack(
        &mut ledger,
        "R6",
        deadline - Duration::days(9),
        reason("resourcing"),
        deadline - Duration::days(9),
    );
    enforce(&mut ledger, "R6", wednesday);
    // R7: acknowledged in the week after: not in this week's figures.
    ack(
        &mut ledger,
        "R7",
        end + Duration::hours(1),
        reason("other"),
        deadline,
    );

    let report = WeeklyReport::build(w, &ledger.events, &params());
    let lines: Vec<(Option<&str>, &str, u64, u64)> = report
        .breach_reasons
        .iter()
        .map(|l| {
            (
                l.reason.as_deref(),
                l.label.as_str(),
                l.acknowledged,
                l.enforced_late,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                Some("awaiting_communications_data"),
                "Awaiting communications data",
                0,
                0
            ),
            (Some("suspect_not_located"), "Suspect not located", 1, 0),
            (Some("resourcing"), "Resourcing", 1, 1),
            (
                Some("awaiting_partner_agency"),
                "Awaiting partner agency",
                0,
                0
            ),
            (Some("other"), "Other (see note)", 0, 0),
            (Some("weather"), "weather", 0, 1),
            (None, REASON_NOT_GIVEN, 0, 3),
        ]
    );
    // The late enforcements by reason add up to the week's late figure.
    let late: u64 = report.flow.week.by_grade.iter().map(|g| g.late).sum();
    assert_eq!(late, 5);
    assert_eq!(
        report
            .breach_reasons
            .iter()
            .map(|l| l.enforced_late)
            .sum::<u64>(),
        late
    );

    // Every rendering carries the same figures.
    let json: serde_json::Value = serde_json::from_str(&render::json(&report)).unwrap();
    assert_eq!(
        json["breach_reasons"][2],
        serde_json::json!({"reason": "resourcing", "label": "Resourcing", "acknowledged": 1, "enforced_late": 1})
    );
    assert_eq!(
        json["breach_reasons"][6],
        serde_json::json!({"reason": null, "label": "Not given", "acknowledged": 0, "enforced_late": 3})
    );
    let text = render::text(&report);
    assert!(text.contains("8. Why deadlines were missed"), "{text}");
    for (label, acknowledged, late) in [
        ("Suspect not located", 1, 0),
        ("Resourcing", 1, 1),
        ("weather", 0, 1),
        ("Not given", 0, 3),
    ] {
        let line = format!("  {label:<32} {acknowledged:>12} {late:>13}\n");
        assert!(text.contains(&line), "{line:?} in {text}");
    }
    let page = render::html(&report);
    let table = page.split("<table id=\"breach-reasons\"").nth(1).unwrap();
    assert_eq!(
        crate::report::html::row_cells(table, "Resourcing"),
        ["Resourcing", "1", "1"]
    );
    assert_eq!(
        crate::report::html::row_cells(table, "Not given"),
        ["Not given", "0", "3"]
    );
    assert_eq!(
        crate::report::html::row_cells(table, "Total"),
        ["Total", "2", "5"]
    );
}
