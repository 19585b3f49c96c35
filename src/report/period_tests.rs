//! The report over a month and a quarter, on a hand-built ledger, checked
//! against figures worked out by hand (London time; every instant below
//! is in winter except P0's receipt, so UTC is local time unless said).
//!
//! | package | received (UTC)   | grade     | deadline         | then                               |
//! |---------|------------------|-----------|------------------|------------------------------------|
//! | P0      | 2023-09-20 10:00 | standard  | 2023-11-19 10:00 | closed 2023-10-20 10:00 (transfer) |
//! | P1      | 2023-12-15 10:00 | standard  | 2024-02-13 10:00 | enforced 2024-01-20 (within)       |
//! | P2      | 2024-01-05 09:00 | high      | 2024-01-12 09:00 | enforced 2024-02-02 12:00 (late)   |
//! | P3      | 2024-01-25 10:00 | medium    | 2024-02-15 10:00 | to enforcement 02-05, enforced 2024-02-29 15:00 (late) |
//! | P4      | 2024-02-10 10:00 | very high | 2024-02-12 10:00 | enforced 2024-02-11 10:00 (within) |
//! | P5      | 2024-02-29 23:30 | standard  | 2024-04-29 23:30 | open                               |
//! | P6      | 2024-01-31 23:59 | standard  | 2024-03-31 23:59 | closed 2024-02-20 10:00 (NFA)      |

use super::tests::TestLedger;
use super::*;
use chrono_tz::Europe::London;

fn params() -> ReportParams {
    ReportParams::new(London, "OFFICIAL-SENSITIVE", "24h".parse().unwrap())
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn period(text: &str) -> ReportPeriod {
    text.parse().unwrap()
}

/// One package: received at `received` in `first` stage, then each move
/// `(at, to, outcome)`.
fn package(
    ledger: &mut TestLedger,
    reference: &str,
    received: &str,
    grade: RiskGrade,
    deadline: &str,
    first: Stage,
    moves: &[(&str, Stage, Option<Outcome>)],
) {
    let deadline = at(deadline);
    let kind = EventKind::Created {
        risk_grade: grade,
        stage: first,
        lpa: "Coventry".into(),
        assigned_officer: None,
        deadline_at: deadline,
        policy_version: "national-2024".into(),
        review_clock_started_at: None,
    };
    ledger.push(reference, at(received), grade, first, deadline, kind);
    let mut from = first;
    for (when, to, outcome) in moves {
        let kind = EventKind::StageChanged {
            from,
            to: *to,
            outcome: *outcome,
            note: None,
        };
        ledger.push(reference, at(when), grade, *to, deadline, kind);
        from = *to;
    }
}

fn ledger() -> Vec<LedgerEvent> {
    use Stage::{AwaitingEnforcement as Ae, Closed, Enforced, IntelligenceDevelopment as Dev};
    let mut l = TestLedger::default();
    let (standard, high, medium, very_high) = (
        RiskGrade::Standard,
        RiskGrade::High,
        RiskGrade::Medium,
        RiskGrade::VeryHigh,
    );
    let closed = |when, outcome| (when, Closed, Some(outcome));
    let enforced = |when| (when, Enforced, Some(Outcome::Arrest));
    package(
        &mut l,
        "P0",
        "2023-09-20T10:00:00Z",
        standard,
        "2023-11-19T10:00:00Z",
        Dev,
        &[closed("2023-10-20T10:00:00Z", Outcome::Transferred)],
    );
    package(
        &mut l,
        "P1",
        "2023-12-15T10:00:00Z",
        standard,
        "2024-02-13T10:00:00Z",
        Ae,
        &[enforced("2024-01-20T10:00:00Z")],
    );
    package(
        &mut l,
        "P2",
        "2024-01-05T09:00:00Z",
        high,
        "2024-01-12T09:00:00Z",
        Ae,
        &[enforced("2024-02-02T12:00:00Z")],
    );
    package(
        &mut l,
        "P3",
        "2024-01-25T10:00:00Z",
        medium,
        "2024-02-15T10:00:00Z",
        Dev,
        &[
            ("2024-02-05T10:00:00Z", Ae, None),
            enforced("2024-02-29T15:00:00Z"),
        ],
    );
    package(
        &mut l,
        "P4",
        "2024-02-10T10:00:00Z",
        very_high,
        "2024-02-12T10:00:00Z",
        Ae,
        &[enforced("2024-02-11T10:00:00Z")],
    );
    package(
        &mut l,
        "P6",
        "2024-01-31T23:59:00Z",
        standard,
        "2024-03-31T23:59:00Z",
        Dev,
        &[closed("2024-02-20T10:00:00Z", Outcome::NoFurtherAction)],
    );
    package(
        &mut l,
        "P5",
        "2024-02-29T23:30:00Z",
        standard,
        "2024-04-29T23:30:00Z",
        Dev,
        &[],
    );
    // The ledger is in recording order; P5 was typed in last.
    l.events
}

#[test]
fn february_2024_gives_its_hand_computed_figures() {
    let report = WeeklyReport::build_for(period("2024-02"), &ledger(), &params());
    assert_eq!(report.period.to_string(), "2024-02");
    assert_eq!(report.period_kind, PeriodKind::Month);
    // 29 February 2024 is a Thursday of ISO week 9.
    assert_eq!(report.week.to_string(), "2024-W09");
    assert_eq!(report.starts_at, at("2024-02-01T00:00:00Z"));
    assert_eq!(report.ends_at, at("2024-03-01T00:00:00Z"));
    // Received in February: P4 and P5 (on the leap day, 23:30 GMT).
    let month = &report.flow.week;
    assert_eq!((month.received, month.enforced, month.closed), (2, 3, 1));
    let (within, late, percent) = within_and_late(month);
    assert_eq!((within, late, percent), (1, 2, Some(33.3)));
    // Open at the month's end: P5 only; three were open at January's end.
    assert_eq!(report.headline.open, 1);
    assert_eq!(report.headline.open_change, 1 - 3);
    assert_eq!(report.headline.breached, 0);
    // Over 12 months (March 2023 to February 2024): P1 and P4 within, P2
    // and P3 late: 50%. The 12 months to January: P1 alone, 100%.
    assert_eq!(report.headline.percent_within_twelve_weeks, Some(50.0));
    assert_eq!(report.headline.percent_within_change, Some(-50.0));
    // The trend: 12 months, March 2023 to February 2024.
    let trend: Vec<(String, u64)> = report
        .trend
        .iter()
        .map(|p| (p.period.to_string(), p.open))
        .collect();
    assert_eq!(trend.len(), 12);
    assert_eq!(trend[0], ("2023-03".to_string(), 0));
    assert_eq!(
        trend[6..],
        [
            ("2023-09".to_string(), 1),
            ("2023-10".to_string(), 0),
            ("2023-11".to_string(), 0),
            ("2023-12".to_string(), 1),
            ("2024-01".to_string(), 3),
            ("2024-02".to_string(), 1),
        ]
    );
    let last = report.trend.last().unwrap();
    assert_eq!((last.enforced_within, last.enforced_late), (1, 2));
    // Both late enforcements were never acknowledged: "not given".
    let not_given = report.breach_reasons.last().unwrap();
    assert_eq!(
        (not_given.reason.as_deref(), not_given.enforced_late),
        (None, 2)
    );
}

#[test]
fn february_is_compared_with_january_but_not_with_a_february_the_ledger_lacks() {
    let report = WeeklyReport::build_for(period("2024-02"), &ledger(), &params());
    let c = &report.comparison;
    assert_eq!(c.ledger_starts_at, Some(at("2023-09-20T10:00:00Z")));
    let feb = &c.this_period;
    assert_eq!(
        (
            feb.received,
            feb.enforced,
            feb.enforced_within,
            feb.enforced_late
        ),
        (2, 3, 1, 2)
    );
    assert_eq!(
        (feb.closed, feb.open_at_end, feb.breached_at_end),
        (1, 1, 0)
    );
    // January: P2, P3 and P6 received; P1 enforced in time; P2 (past its
    // deadline), P3 and P6 open at the end.
    assert_eq!(c.previous.period.to_string(), "2024-01");
    let jan = c
        .previous
        .figures
        .as_ref()
        .expect("the ledger reaches January");
    assert_eq!(
        (
            jan.received,
            jan.enforced,
            jan.enforced_within,
            jan.enforced_late
        ),
        (3, 1, 1, 0)
    );
    assert_eq!(jan.percent_within, Some(100.0));
    assert_eq!(
        (jan.closed, jan.open_at_end, jan.breached_at_end),
        (0, 3, 1)
    );
    assert_eq!(
        c.previous.change,
        Some(FigureChange {
            received: -1,
            enforced: 2,
            enforced_late: 2,
            percent_within_points: Some(-66.7),
            closed: 1,
            open_at_end: -2,
            breached_at_end: -1,
        })
    );
    assert_eq!(c.previous.note, None);
    // February 2023 is before the ledger's first event.
    assert_eq!(c.year_before.period.to_string(), "2023-02");
    assert_eq!(c.year_before.figures, None);
    assert_eq!(c.year_before.change, None);
    assert_eq!(
        c.year_before.note.as_deref(),
        Some("no comparison: the ledger starts on 2023-09-20")
    );
}

#[test]
fn a_ledger_that_starts_inside_the_previous_period_is_not_compared_with_it() {
    // Without P0 the ledger starts on 15 December: the whole of January is
    // in it, so January is compared; December is not, so a January report
    // is not compared with it.
    let events: Vec<LedgerEvent> = ledger()
        .into_iter()
        .filter(|e| e.reference.as_str() != "P0")
        .collect();
    let feb = WeeklyReport::build_for(period("2024-02"), &events, &params());
    assert!(feb.comparison.previous.figures.is_some());
    let jan = WeeklyReport::build_for(period("2024-01"), &events, &params());
    assert_eq!(
        jan.comparison.previous.note.as_deref(),
        Some("no comparison: the ledger starts on 2023-12-15")
    );
    let empty = WeeklyReport::build_for(period("2024-01"), &[], &params());
    assert_eq!(
        empty.comparison.previous.note.as_deref(),
        Some("no comparison: the ledger holds no packages")
    );
}

#[test]
fn the_first_quarter_of_2024_gives_its_hand_computed_figures_and_comparisons() {
    let report = WeeklyReport::build_for(period("2024-Q1"), &ledger(), &params());
    // The quarter ends at local midnight after 31 March: 23:00 UTC, BST.
    assert_eq!(report.starts_at, at("2024-01-01T00:00:00Z"));
    assert_eq!(report.ends_at, at("2024-03-31T23:00:00Z"));
    let q = &report.flow.week;
    assert_eq!((q.received, q.enforced, q.closed), (5, 4, 1));
    assert_eq!(within_and_late(q), (2, 2, Some(50.0)));
    assert_eq!(report.headline.open, 1);
    // 8 quarters, 2022-Q2 to 2024-Q1.
    let trend: Vec<(String, u64)> = report
        .trend
        .iter()
        .map(|p| (p.period.to_string(), p.open))
        .collect();
    assert_eq!(trend.len(), 8);
    assert_eq!(trend[0].0, "2022-Q2");
    assert_eq!(
        trend[5..],
        [
            ("2023-Q3".to_string(), 1),
            ("2023-Q4".to_string(), 1),
            ("2024-Q1".to_string(), 1),
        ]
    );
    // Q4 2023: P1 received, P0 closed, nothing enforced, P1 open at the end.
    let c = &report.comparison;
    assert_eq!(c.previous.period.to_string(), "2023-Q4");
    let q4 = c.previous.figures.as_ref().expect("the ledger reaches Q4");
    assert_eq!(
        (
            q4.received,
            q4.enforced,
            q4.closed,
            q4.open_at_end,
            q4.breached_at_end
        ),
        (1, 0, 1, 1, 0)
    );
    assert_eq!(q4.percent_within, None);
    let change = c.previous.change.as_ref().unwrap();
    assert_eq!(
        (change.received, change.enforced, change.enforced_late),
        (4, 4, 2)
    );
    assert_eq!(change.percent_within_points, None);
    assert_eq!(
        c.year_before.note.as_deref(),
        Some("no comparison: the ledger starts on 2023-09-20")
    );
}

#[test]
fn a_monthly_report_reads_as_a_month_in_every_rendering() {
    let report = WeeklyReport::build_for(period("2024-02"), &ledger(), &params());
    assert_eq!(
        render::subject(&report),
        "[OFFICIAL-SENSITIVE] OCSET monthly performance, February 2024"
    );
    let text = render::text(&report);
    assert!(
        text.starts_with(
            "OFFICIAL-SENSITIVE\n\nOCSET monthly performance, 2024-02\n\
             Thu 1 Feb 2024 to Thu 29 Feb 2024 (Europe/London)\n\n\
             1 package open at the month's end (-2 on last month), 0 breached.\n"
        ),
        "{text}"
    );
    assert!(text.contains("Last 12 months: received"), "{text}");
    // Every section speaks of the month, except the capacity section,
    // whose figures are weekly rates for every cadence (and say so).
    let (periodic, capacity) = text
        .split_once("Capacity and demand (as at the month's end)")
        .expect("a capacity section, as at the month's end");
    assert!(!periodic.contains("week"), "{text}");
    assert!(capacity.contains("week"), "{text}");
    assert!(
        text.contains(
            "10. Compared with last month and the same month a year before\nLast month (2024-01):\n"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Received", "2", "then", "3,", "change", "-1"]),
        "{text}"
    );
    assert!(
        text.contains("A year before (2023-02):\n  no comparison: the ledger starts on 2023-09-20"),
        "{text}"
    );
    let html = render::html(&report);
    assert!(html.contains("OCSET monthly performance, 2024-02</h1>"));
    assert!(html.contains(">Month ending<"));
    assert!(html.contains("id=\"compare-previous\""));
    let (periodic, capacity) = html
        .split_once("Capacity and demand (as at the month's end)")
        .expect("a capacity section, as at the month's end");
    assert!(!periodic.contains("week"), "the HTML speaks of weeks");
    assert!(capacity.contains("week"), "{html}");
    let csv = render::csv(&report);
    assert!(csv.starts_with("marking,month,reference"), "{csv}");
    assert!(csv.contains("OFFICIAL-SENSITIVE,2024-02,P5,"), "{csv}");
    let json: serde_json::Value = serde_json::from_str(&render::json(&report)).unwrap();
    assert_eq!(json["period"], "2024-02");
    assert_eq!(json["period_kind"], "month");
    assert_eq!(json["trend_periods"], 12);
    assert_eq!(json["comparison"]["previous"]["figures"]["received"], 3);

    let quarter = WeeklyReport::build_for(period("2024-Q1"), &ledger(), &params());
    assert_eq!(
        render::subject(&quarter),
        "[OFFICIAL-SENSITIVE] OCSET quarterly performance, Q1 2024 (January to March)"
    );
    let text = render::text(&quarter);
    assert!(
        text.contains("This quarter: received 5, enforced 4, closed 1"),
        "{text}"
    );
    assert!(text.contains("Mon 1 Jan 2024 to Sun 31 Mar 2024"), "{text}");
}

#[test]
fn a_weekly_report_built_for_a_week_period_is_the_weekly_report() {
    let events = ledger();
    let week: IsoWeek = "2024-W05".parse().unwrap();
    assert_eq!(
        WeeklyReport::build(week, &events, &params()),
        WeeklyReport::build_for(ReportPeriod::Week(week), &events, &params())
    );
    let report = WeeklyReport::build(week, &events, &params());
    assert_eq!(report.trend_periods, 12);
    assert_eq!(report.comparison.previous.period.to_string(), "2024-W04");
    assert_eq!(report.comparison.year_before.period.to_string(), "2023-W05");
}

/// A kept snapshot is the model's JSON read back (`App::period_report`):
/// it must give the very same report, whatever the period's kind, or a
/// served snapshot would differ from a fold.
#[test]
fn a_report_read_back_from_its_json_is_the_same_report() {
    let events = ledger();
    for text in ["2024-W05", "2024-W09", "2024-01", "2024-02", "2024-Q1"] {
        let report = WeeklyReport::build_for(period(text), &events, &params());
        let json = serde_json::to_string(&report).unwrap();
        let back: WeeklyReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report, "{text}");
        assert_eq!(serde_json::to_string(&back).unwrap(), json, "{text}");
    }
    let domain = super::tests::snapshot_report();
    let back: WeeklyReport =
        serde_json::from_str(&serde_json::to_string(&domain).unwrap()).unwrap();
    assert_eq!(back, domain);
}

/// A snapshot is keyed by the fingerprint: each parameter the figures
/// read changes it, and equal parameters give an equal one.
#[test]
fn the_fingerprint_changes_with_each_parameter_the_figures_read() {
    use crate::domain::{BreachReasons, ReviewIntervals, Timescales};
    let base = params();
    assert_eq!(base.fingerprint(), params().fingerprint());
    assert_eq!(base.fingerprint().len(), 64);
    let timescales: Timescales =
        toml::from_str("very_high = \"48h\"\nhigh = \"14d\"\nmedium = \"21d\"\nstandard = \"60d\"")
            .unwrap();
    let intervals: ReviewIntervals = toml::from_str("high = \"5d\"").unwrap();
    let reasons = BreachReasons::default();
    let variants = [
        ReportParams::new(
            chrono_tz::Europe::Dublin,
            "OFFICIAL-SENSITIVE",
            "24h".parse().unwrap(),
        ),
        ReportParams::new(London, "OFFICIAL", "24h".parse().unwrap()),
        ReportParams::new(London, "OFFICIAL-SENSITIVE", "48h".parse().unwrap()),
        params().with_timescales(timescales),
        params().with_review_intervals(intervals),
    ];
    for changed in &variants {
        assert_ne!(changed.fingerprint(), base.fingerprint(), "{changed:?}");
    }
    // The built-in reasons are the default: the same parameters.
    assert_eq!(
        params().with_reasons(reasons).fingerprint(),
        base.fingerprint()
    );
}
