//! `import --history`: a year of packages, stopped and open, generated here
//! deterministically, imported through the command (in-process, with the
//! test's clock) over SQLite and PostgreSQL; then the weekly report of past
//! weeks and its 12-week trend checked figure by figure against figures
//! counted here from the generated rows, independently of the service's
//! fold; the counters against a recount; faults with line, column and
//! reason, writing nothing; and a scheduler pass after the import, with a
//! real SMTP server, sending nothing for the stopped packages' past.

use crate::common::parts::World;
use crate::common::utc;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Europe::London;
use ocset_scheduler::cli::{self, CliError, Command};
use ocset_scheduler::domain::{EventKind, Outcome, Reference, RiskGrade, Stage};
use ocset_scheduler::report::{IsoWeek, ReportPeriod, WeeklyReport};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The import runs on Monday 6 January 2025 (GMT).
fn now() -> DateTime<Utc> {
    utc("2025-01-06T12:00:00Z")
}

async fn world(url: String) -> World {
    World::start(url, now()).await
}

on_both_backends!(
    world;
    a_year_of_history_shows_in_past_weekly_reports_and_the_trend,
    a_faulty_history_file_names_every_fault_and_writes_nothing,
    after_a_history_import_the_scheduler_sends_nothing_for_the_past,
);

const GRADES: [RiskGrade; 4] = [
    RiskGrade::VeryHigh,
    RiskGrade::High,
    RiskGrade::Medium,
    RiskGrade::Standard,
];
const LPAS: [&str; 7] = [
    "Birmingham",
    "Coventry",
    "Dudley",
    "Sandwell",
    "Solihull",
    "Walsall",
    "Wolverhampton",
];

/// How a generated package's clock stopped.
#[derive(Debug, Clone, Copy)]
struct Stop {
    at: DateTime<Utc>,
    stage: Stage,
    outcome: Outcome,
}

/// One generated package, as the test knows it.
#[derive(Debug, Clone)]
struct Known {
    reference: String,
    grade: RiskGrade,
    received_local: NaiveDateTime,
    received: DateTime<Utc>,
    deadline: DateTime<Utc>,
    awaiting: Option<DateTime<Utc>>,
    stop: Option<Stop>,
    /// When child access was identified, and the referral made.
    access: Option<DateTime<Utc>>,
    referral: Option<DateTime<Utc>>,
}

fn local(at: NaiveDateTime) -> DateTime<Utc> {
    London
        .from_local_datetime(&at)
        .single()
        .expect("generated local times are never in a clock change's gap or overlap")
        .with_timezone(&Utc)
}

/// The national timescales, counted here on their own: 48 hours elapsed,
/// or N calendar days at the same local time.
fn deadline(grade: RiskGrade, received_local: NaiveDateTime) -> DateTime<Utc> {
    match grade {
        RiskGrade::VeryHigh => local(received_local) + Duration::hours(48),
        RiskGrade::High => local(received_local + Duration::days(7)),
        RiskGrade::Medium => local(received_local + Duration::days(21)),
        RiskGrade::Standard => local(received_local + Duration::days(60)),
    }
}

/// A year of packages, one every 34 hours from Monday 1 January 2024 10:00
/// local (always an even hour, so never in a clock change's missing or
/// repeated hour), five fates in turn; a stop that would lie after now
/// leaves the package open.
fn generate() -> Vec<Known> {
    let start = NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let late_hours = [30, 60, 200, 600, 1500];
    (0..255)
        .map(|i: i64| {
            let received_local = start + Duration::hours(34 * i);
            let received = local(received_local);
            let grade = GRADES[(i % 4) as usize];
            let hours = |h: i64| received + Duration::hours(h);
            let (awaiting, stop_at, stage, outcome) = match i % 5 {
                // Developed for a day, then enforced after 30 h to 1500 h.
                0 => (
                    Some(hours(24)),
                    hours(late_hours[((i / 5) % 5) as usize]),
                    Stage::Enforced,
                    Outcome::Arrest,
                ),
                // Closed from development.
                1 => (None, hours(120), Stage::Closed, Outcome::NoFurtherAction),
                // Received ready for enforcement, enforced after 50 h.
                2 => (
                    Some(received),
                    hours(50),
                    Stage::Enforced,
                    Outcome::WarrantExecuted,
                ),
                // Developed for three days, enforced at ten.
                3 => (
                    Some(hours(72)),
                    hours(240),
                    Stage::Enforced,
                    Outcome::VoluntaryAttendance,
                ),
                // Developed for two days, transferred at eight.
                _ => (
                    Some(hours(48)),
                    hours(192),
                    Stage::Closed,
                    Outcome::Transferred,
                ),
            };
            // Child access identified two hours in for one package in
            // seven (received three days before now at the latest, so its
            // referral is in the past): referred in 8 hours (within the
            // 24-hour target) for one in two, else in 38 (late).
            let access = (i % 7 == 0 && received + Duration::days(3) <= now()).then(|| hours(2));
            let referral = access.map(|at| at + Duration::hours(if i % 14 == 0 { 8 } else { 38 }));
            Known {
                access,
                referral,
                reference: format!("HIST-{i:04}"),
                grade,
                received_local,
                received,
                deadline: deadline(grade, received_local),
                awaiting: awaiting.filter(|at| *at <= now()),
                stop: (stop_at <= now()).then_some(Stop {
                    at: stop_at,
                    stage,
                    outcome,
                }),
            }
        })
        .collect()
}

const HISTORY_HEADER: &str = "reference,risk_grade,received_at,lpa,stage,assigned_officer,awaiting_enforcement_at,clock_stopped_at,outcome";

/// [`HISTORY_HEADER`] with the safeguarding columns.
const FULL_HEADER: &str = "reference,risk_grade,received_at,lpa,stage,assigned_officer,awaiting_enforcement_at,clock_stopped_at,outcome,child_access_identified_at,safeguarding_referral_at";

/// The generated packages as a history file: receipts in local time,
/// the other times in RFC 3339 UTC, grades and outcomes as spreadsheets
/// spell them now and then.
fn csv(packages: &[Known]) -> String {
    let mut text = format!("{FULL_HEADER}\n");
    for (i, p) in packages.iter().enumerate() {
        let stage = match (p.stop, p.awaiting) {
            (Some(stop), _) => stop.stage,
            (None, Some(_)) => Stage::AwaitingEnforcement,
            (None, None) => Stage::IntelligenceDevelopment,
        };
        let rfc = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let outcome = p.stop.map_or(String::new(), |s| {
            if i % 2 == 0 {
                s.outcome.as_str().to_string()
            } else {
                s.outcome.as_str().replace('_', " ").to_uppercase()
            }
        });
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            p.reference,
            p.grade.as_str(),
            p.received_local.format("%Y-%m-%d %H:%M"),
            LPAS[i % 7],
            stage.as_str(),
            if i % 3 == 0 {
                "pc.one@force.police.uk"
            } else {
                ""
            },
            p.awaiting.map(rfc).unwrap_or_default(),
            p.stop.map(|s| rfc(s.at)).unwrap_or_default(),
            outcome,
            p.access.map(rfc).unwrap_or_default(),
            p.referral.map(rfc).unwrap_or_default(),
        ));
    }
    text
}

/// Runs the import through the command, as `ocset-scheduler import
/// --history FILE` does, with the world's clock.
async fn import_history(w: &World, text: &str) -> Result<String, CliError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.csv");
    std::fs::write(&file, text).unwrap();
    let mut out = Vec::new();
    cli::run(
        Command::Import {
            file,
            history: true,
        },
        (*w.settings).clone(),
        Arc::new(w.clock.clone()),
        &mut out,
        async {},
    )
    .await?;
    Ok(String::from_utf8(out).unwrap())
}

/// Monday 00:00 local of an ISO week of 2024 (53 is 2025's first), as an
/// instant.
fn week_start(week: u32) -> DateTime<Utc> {
    let monday = NaiveDate::from_isoywd_opt(2024, 1, Weekday::Mon).unwrap()
        + Duration::weeks(i64::from(week) - 1);
    local(monday.and_hms_opt(0, 0, 0).unwrap())
}

/// The figures of one week, counted from the generated packages.
#[derive(Debug, Default, PartialEq)]
struct Counted {
    received: u64,
    enforced: u64,
    closed: u64,
    within: BTreeMap<RiskGrade, (u64, u64)>,
    open: u64,
    open_by_grade: BTreeMap<RiskGrade, u64>,
    breached: u64,
    outcomes: BTreeMap<Outcome, u64>,
    /// Identified, referred within 24 hours, referred late, outstanding
    /// at the end, of those overdue.
    safeguarding: (u64, u64, u64, u64, u64),
}

fn count(packages: &[Known], from: DateTime<Utc>, to: DateTime<Utc>) -> Counted {
    let mut c = Counted::default();
    for grade in GRADES {
        c.open_by_grade.insert(grade, 0);
    }
    for p in packages {
        if p.received >= from && p.received < to {
            c.received += 1;
        }
        if let Some(stop) = p.stop.filter(|s| s.at >= from && s.at < to) {
            *c.outcomes.entry(stop.outcome).or_default() += 1;
            if stop.stage == Stage::Enforced {
                c.enforced += 1;
                let line = c.within.entry(p.grade).or_default();
                if stop.at <= p.deadline {
                    line.0 += 1;
                } else {
                    line.1 += 1;
                }
            } else {
                c.closed += 1;
            }
        }
        if let Some(access) = p.access.filter(|at| *at < to) {
            let sg = &mut c.safeguarding;
            if access >= from {
                sg.0 += 1;
            }
            match p.referral.filter(|at| *at < to) {
                Some(referral) if referral >= from => {
                    if referral - access <= Duration::hours(24) {
                        sg.1 += 1;
                    } else {
                        sg.2 += 1;
                    }
                }
                Some(_) => {}
                None => {
                    sg.3 += 1;
                    if to - access > Duration::hours(24) {
                        sg.4 += 1;
                    }
                }
            }
        }
        let open_at_end = p.received < to && p.stop.is_none_or(|s| s.at >= to);
        if open_at_end {
            c.open += 1;
            *c.open_by_grade.get_mut(&p.grade).unwrap() += 1;
            if p.deadline <= to {
                c.breached += 1;
            }
        }
    }
    c
}

fn within_by_grade(
    report_by_grade: &[ocset_scheduler::report::GradeTimeliness],
) -> BTreeMap<RiskGrade, (u64, u64)> {
    report_by_grade
        .iter()
        .filter(|g| g.within + g.late > 0)
        .map(|g| (g.grade, (g.within, g.late)))
        .collect()
}

async fn report(w: &World, week: u32) -> WeeklyReport {
    let week: IsoWeek = format!("2024-W{week:02}").parse().unwrap();
    w.instance
        .app
        .period_report(ReportPeriod::Week(week))
        .await
        .unwrap()
}

async fn a_year_of_history_shows_in_past_weekly_reports_and_the_trend(w: World) {
    let packages = generate();
    assert!(packages.iter().any(|p| p.stop.is_none()), "some stay open");
    // Reports of past weeks built before the import are kept (closed
    // periods); the import must make them stale.
    for week in [14, 46] {
        assert_eq!(report(&w, week).await.flow.week.received, 0);
    }

    let printed = import_history(&w, &csv(&packages)).await.unwrap();
    assert!(
        printed.contains("imported 255 package(s) with their history"),
        "{printed}"
    );

    // Two past weeks: one across the spring clock change (week 13 ends
    // the day it happens), one whose trend spans the autumn change.
    for week in [14, 46] {
        let r = report(&w, week).await;
        let (from, to) = (week_start(week), week_start(week + 1));
        let c = count(&packages, from, to);
        assert!(
            c.received > 0 && c.enforced > 0,
            "the week has traffic: {c:?}"
        );
        assert_eq!(r.flow.week.received, c.received, "W{week} received");
        assert_eq!(r.flow.week.enforced, c.enforced, "W{week} enforced");
        assert_eq!(r.flow.week.closed, c.closed, "W{week} closed");
        assert_eq!(
            within_by_grade(&r.flow.week.by_grade),
            c.within,
            "W{week} within/late"
        );
        assert_eq!(r.headline.open, c.open, "W{week} open at the end");
        assert_eq!(
            r.headline.breached, c.breached,
            "W{week} breached at the end"
        );
        let twelve = count(&packages, week_start(week - 11), to);
        assert_eq!(
            r.flow.twelve_weeks.received, twelve.received,
            "W{week} 12-week received"
        );
        assert_eq!(
            r.flow.twelve_weeks.enforced, twelve.enforced,
            "W{week} 12-week enforced"
        );
        assert_eq!(
            r.flow.twelve_weeks.closed, twelve.closed,
            "W{week} 12-week closed"
        );
        assert_eq!(
            r.timeliness.outcomes_twelve_weeks, twelve.outcomes,
            "W{week} 12-week outcomes"
        );
        let enforced: u64 = twelve.within.values().map(|(a, b)| a + b).sum();
        let within: u64 = twelve.within.values().map(|(a, _)| a).sum();
        assert_eq!(
            r.headline.percent_within_twelve_weeks,
            Some((1000.0 * within as f64 / enforced as f64).round() / 10.0),
            "W{week} percent within over 12 weeks"
        );

        // The capacity section: demand over the same 12 weeks, per grade.
        let capacity = &r.capacity;
        let all = capacity
            .received
            .iter()
            .find(|f| f.grade.is_none())
            .unwrap();
        assert_eq!(all.total, twelve.received, "W{week} capacity received");
        for grade in GRADES {
            let counted = packages
                .iter()
                .filter(|p| {
                    p.grade == grade && p.received >= week_start(week - 11) && p.received < to
                })
                .count() as u64;
            let line = capacity.received.iter().find(|f| f.grade == Some(grade));
            assert_eq!(
                line.map_or(0, |f| f.total),
                counted,
                "W{week} capacity received {grade}"
            );
        }
        assert_eq!(
            capacity.enforced.total, twelve.enforced,
            "W{week} capacity enforced"
        );
        assert_eq!(
            capacity.closed.total, twelve.closed,
            "W{week} capacity closed"
        );
        assert_eq!(capacity.open, c.open, "W{week} capacity open");

        // The trend: each of the 12 weeks ending with this one.
        assert_eq!(r.trend.len(), 12);
        for (k, point) in r.trend.iter().enumerate() {
            let n = week - 11 + k as u32;
            assert_eq!(point.week.to_string(), format!("2024-W{n:02}"));
            let c = count(&packages, week_start(n), week_start(n + 1));
            assert_eq!(point.open, c.open, "trend W{n} open");
            assert_eq!(
                point.open_by_grade, c.open_by_grade,
                "trend W{n} open by grade"
            );
            let (within, late) = c
                .within
                .values()
                .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
            assert_eq!(
                (point.enforced_within, point.enforced_late),
                (within, late),
                "trend W{n} enforced within and late"
            );
        }
    }

    // Every week of the year, in brief: the flow, the position at its end
    // and the safeguarding referrals.
    let mut referrals = 0;
    for week in 2..=52 {
        let r = report(&w, week).await;
        let c = count(&packages, week_start(week), week_start(week + 1));
        let sg = &r.safeguarding;
        let got = (
            r.flow.week.received,
            r.flow.week.enforced,
            r.flow.week.closed,
            r.headline.open,
            r.headline.breached,
            (
                sg.identified,
                sg.referred_within_target,
                sg.referred_late,
                sg.outstanding,
                sg.outstanding_overdue,
            ),
        );
        let want = (
            c.received,
            c.enforced,
            c.closed,
            c.open,
            c.breached,
            c.safeguarding,
        );
        assert_eq!(got, want, "W{week}");
        referrals += c.safeguarding.1 + c.safeguarding.2;
    }
    assert!(referrals > 10, "the year has referrals: {referrals}");

    // A month and a quarter: the period's flow and its end's position.
    for (period, from, to) in [
        ("2024-07", (2024, 7), (2024, 8)),
        ("2024-Q4", (2024, 10), (2025, 1)),
    ] {
        let at = |(y, m): (i32, u32)| {
            local(
                NaiveDate::from_ymd_opt(y, m, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap(),
            )
        };
        let r = w
            .instance
            .app
            .period_report(period.parse::<ReportPeriod>().unwrap())
            .await
            .unwrap();
        let c = count(&packages, at(from), at(to));
        assert_eq!(r.flow.week.received, c.received, "{period} received");
        assert_eq!(r.flow.week.enforced, c.enforced, "{period} enforced");
        assert_eq!(r.flow.week.closed, c.closed, "{period} closed");
        assert_eq!(
            within_by_grade(&r.flow.week.by_grade),
            c.within,
            "{period} within/late"
        );
        assert_eq!(r.headline.open, c.open, "{period} open at the end");
        assert_eq!(
            r.headline.breached, c.breached,
            "{period} breached at the end"
        );
    }

    // The counters the position reads stayed exact.
    let store = w.instance.app.store();
    let horizon = now() + Duration::days(7);
    let mut kept = store.position(now(), horizon, None).await.unwrap();
    let mut recounted = store
        .recounted_position(now(), horizon, None)
        .await
        .unwrap();
    let order = |rows: &mut Vec<ocset_scheduler::store::StageGradeFigures>| {
        rows.sort_by_key(|r| (r.stage, r.grade));
    };
    order(&mut kept);
    order(&mut recounted);
    assert_eq!(kept, recounted);
    let open: u64 = kept.iter().map(|r| r.open).sum();
    assert_eq!(
        open,
        packages.iter().filter(|p| p.stop.is_none()).count() as u64
    );

    // One package's ledger: each event at its historical time, with the
    // stage after it, in time order, recorded now by whoever imported.
    let first = &packages[0];
    let events = store
        .events(&Reference::parse(&first.reference).unwrap())
        .await
        .unwrap();
    let seen: Vec<(&str, Stage, DateTime<Utc>)> = events
        .iter()
        .map(|e| (e.kind.name(), e.stage, e.occurred_at))
        .collect();
    let access = first.access.unwrap();
    assert_eq!(
        seen,
        [
            ("created", Stage::IntelligenceDevelopment, first.received),
            (
                "safeguarding_updated",
                Stage::IntelligenceDevelopment,
                access
            ),
            (
                "safeguarding_updated",
                Stage::IntelligenceDevelopment,
                first.referral.unwrap()
            ),
            (
                "stage_changed",
                Stage::AwaitingEnforcement,
                first.awaiting.unwrap()
            ),
            ("stage_changed", Stage::Enforced, first.stop.unwrap().at),
        ]
    );
    assert_eq!(
        events[1].kind,
        EventKind::SafeguardingUpdated {
            child_access_identified_at: Some(access),
            referral_made_at: None
        }
    );
    assert!(events.iter().all(|e| e.recorded_at == now()));
    assert!(events.iter().all(|e| e.actor.starts_with("cli:")));
    let audit = store
        .audit_log(Some(&Reference::parse(&first.reference).unwrap()))
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "package.created");
    assert_eq!(audit[0].detail.as_deref(), Some("imported history"));
    assert!(matches!(
        store.verify_audit_chain(None).await.unwrap(),
        ocset_scheduler::store::ChainVerdict::Intact(_)
    ));
}

async fn a_faulty_history_file_names_every_fault_and_writes_nothing(w: World) {
    // One package stored already.
    let stored = format!(
        "{HISTORY_HEADER}\nOLD-1,high,2024-06-03 10:00,Dudley,closed,,,2024-06-04 10:00,no_further_action\n"
    );
    import_history(&w, &stored).await.unwrap();
    let rows = [
        // 2: fine.
        "H-1,high,2024-06-03 10:00,Dudley,enforced,,2024-06-04 10:00,2024-06-05 10:00,arrest",
        // 3: an outcome without a stop.
        "H-2,high,2024-06-03 10:00,Dudley,awaiting_enforcement,,,,arrest",
        // 4: the stop before the receipt.
        "H-3,high,2024-06-03 10:00,Dudley,closed,,,2024-06-01 10:00,transferred",
        // 5: awaiting enforcement after the stop.
        "H-4,medium,2024-06-03 10:00,Dudley,enforced,,2024-06-10 10:00,2024-06-08 10:00,arrest",
        // 6: a stop in the future.
        "H-5,medium,2024-06-03 10:00,Dudley,enforced,,,2025-02-01 10:00,arrest",
        // 7: an outcome that does not fit the stage.
        "H-6,standard,2024-06-03 10:00,Dudley,closed,,,2024-06-08 10:00,arrest",
        // 8: a stopped package without its outcome.
        "H-7,standard,2024-06-03 10:00,Dudley,enforced,,,2024-06-08 10:00,",
        // 9: still in development, yet left it.
        "H-8,standard,2024-06-03 10:00,Dudley,intelligence_development,,2024-06-04 10:00,,",
        // 10: a reference stored already, in another case.
        "old-1,high,2024-06-03 10:00,Dudley,closed,,,2024-06-04 10:00,other",
        // 11: a reference repeated in the file.
        "H-1,high,2024-06-03 10:00,Dudley,closed,,,2024-06-04 10:00,other",
        // 12: an unknown outcome.
        "H-9,high,2024-06-03 10:00,Dudley,enforced,,,2024-06-04 10:00,arrested",
        // 13: an open package with a stop.
        "H-10,high,2024-06-03 10:00,Dudley,awaiting_enforcement,,,2024-06-04 10:00,",
    ];
    let text = format!("{HISTORY_HEADER}\n{}\n", rows.join("\n"));
    let error = import_history(&w, &text).await.unwrap_err().to_string();
    let expected = [
        "line 3, column outcome: an outcome is allowed only with clock_stopped_at",
        "line 4, column clock_stopped_at: is before the package was received",
        "line 5, column clock_stopped_at: is before the package entered awaiting_enforcement",
        "line 6, column clock_stopped_at: 2025-02-01T10:00:00+00:00 is in the future",
        "line 7, column outcome: outcome arrest does not fit stage closed",
        "line 8, column outcome: a package in enforced needs its outcome",
        "line 9, column awaiting_enforcement_at: a package still in intelligence_development has not left it",
        "line 10, column reference: a package with reference old-1 already exists",
        "line 11, column reference: H-1 appears twice in the file (first on line 2)",
        "line 12, column outcome: \"arrested\" is not an outcome",
        "line 13, column clock_stopped_at: a package in awaiting_enforcement has a running clock",
    ];
    for fault in expected {
        assert!(error.contains(fault), "{fault:?} missing from:\n{error}");
    }
    assert!(error.starts_with("11 problem"), "{error}");
    assert!(error.contains("nothing was imported"), "{error}");
    let counts = w.instance.app.store().count_packages().await.unwrap();
    assert_eq!(counts.total, 1, "only the package stored before");

    // A file without the history columns is refused, naming them.
    let plain = "reference,risk_grade,received_at,lpa,stage,assigned_officer\nH-1,high,2024-06-03 10:00,Dudley,awaiting_enforcement,\n";
    let error = import_history(&w, plain).await.unwrap_err().to_string();
    assert!(
        error.contains("line 1, column clock_stopped_at: this column is missing"),
        "{error}"
    );
    assert!(
        error.contains("line 1, column outcome: this column is missing"),
        "{error}"
    );
    assert_eq!(
        w.instance.app.store().count_packages().await.unwrap().total,
        1
    );
}

async fn after_a_history_import_the_scheduler_sends_nothing_for_the_past(w: World) {
    // A year of stopped packages, every grade, some enforced long after
    // their deadline (their warnings, breaches and senior escalations all
    // lie in the past), and an open one received an hour ago.
    let mut packages: Vec<Known> = generate()
        .into_iter()
        .filter(|p| p.stop.is_some())
        .collect();
    let fresh_local = NaiveDate::from_ymd_opt(2025, 1, 6)
        .unwrap()
        .and_hms_opt(11, 0, 0)
        .unwrap();
    packages.push(Known {
        reference: "FRESH-1".into(),
        grade: RiskGrade::Standard,
        received_local: fresh_local,
        received: local(fresh_local),
        deadline: deadline(RiskGrade::Standard, fresh_local),
        awaiting: None,
        stop: None,
        access: None,
        referral: None,
    });
    let late = packages
        .iter()
        .filter(|p| {
            p.stop
                .is_some_and(|s| s.at > p.deadline + Duration::days(7))
        })
        .count();
    assert!(late > 0, "some were stopped past the senior escalation");
    import_history(&w, &csv(&packages)).await.unwrap();

    w.instance.scheduler.run_due().await.unwrap();
    w.instance.dispatcher.drain().await.unwrap();
    w.clock.set(now() + Duration::days(1));
    w.instance.scheduler.run_due().await.unwrap();
    w.instance.dispatcher.drain().await.unwrap();
    assert!(w.mail().is_empty(), "nothing mailed for the past");
    let store = w.instance.app.store();
    assert_eq!(store.delivery_stats().await.unwrap().pending, 0);

    // The levels each stopped package passed before its stop are recorded
    // as imported history, at the import, with no delivery: the warning at
    // 75% of the timescale, the breach at the deadline (its latest daily
    // repeat), the senior level a week after it.
    let mut seen_senior = false;
    for p in packages.iter().filter(|p| p.stop.is_some()) {
        let stop = p.stop.unwrap();
        let reference = Reference::parse(&p.reference).unwrap();
        let recorded = store.escalations(&reference).await.unwrap();
        let warning_at = p.received + (p.deadline - p.received) * 3 / 4;
        let mut expected = Vec::new();
        if stop.at > warning_at {
            expected.push("warning");
        }
        if stop.at > p.deadline {
            expected.push("breach");
        }
        if stop.at > p.deadline + Duration::days(7) {
            expected.push("senior");
            seen_senior = true;
        }
        let mut levels: Vec<&str> = recorded.iter().map(|e| e.level.as_str()).collect();
        levels.sort_by_key(|l| ["warning", "breach", "senior"].iter().position(|x| x == l));
        assert_eq!(
            levels, expected,
            "{}: stopped {} deadline {}",
            p.reference, stop.at, p.deadline
        );
        for e in &recorded {
            assert_eq!(e.status, "imported", "{}", p.reference);
            assert!(e.deliveries.is_empty(), "{}", p.reference);
            assert!(e.due_at < stop.at, "{}", p.reference);
            assert_eq!(e.recorded_at, now());
        }
        if let Some(breach) = recorded.iter().find(|e| e.level == "breach") {
            assert_eq!(breach.clock_due_at, p.deadline);
            let repeats = (stop.at - p.deadline - Duration::microseconds(1)).num_hours() / 24;
            assert_eq!(i64::from(breach.occurrence), repeats, "{}", p.reference);
        }
    }
    assert!(seen_senior);

    // A disclosure export of a package enforced late shows its imported
    // past: its events and its escalations, none sent.
    let late = packages
        .iter()
        .find(|p| {
            p.stop
                .is_some_and(|s| s.at > p.deadline + Duration::days(7))
        })
        .unwrap();
    let mut out = Vec::new();
    cli::run(
        Command::Export {
            reference: late.reference.clone(),
        },
        (*w.settings).clone(),
        Arc::new(w.clock.clone()),
        &mut out,
        async {},
    )
    .await
    .unwrap();
    let export: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(export["package"]["reference"], late.reference.as_str());
    let escalations = export["escalations"].as_array().unwrap();
    assert!(escalations.len() >= 3, "{escalations:?}");
    assert!(escalations
        .iter()
        .all(|e| e["status"] == "imported" && e["deliveries"] == serde_json::json!([])));
    let audit = export["audit"].as_array().unwrap();
    assert_eq!(audit[0]["detail"], "imported history");
    assert_eq!(audit.last().unwrap()["action"], "package.exported");

    // An open package imported with an old receipt is escalated as
    // `import` escalates it: its breach, once, now.
    let old = format!(
        "{HISTORY_HEADER}\nOPEN-OLD,very_high,2025-01-01 09:00,Coventry,awaiting_enforcement,,,,\n"
    );
    import_history(&w, &old).await.unwrap();
    w.instance.scheduler.run_due().await.unwrap();
    w.instance.dispatcher.drain().await.unwrap();
    let mail = w.mail();
    assert!(!mail.is_empty(), "the open package's breach is sent");
    assert!(mail
        .iter()
        .all(|(_, m)| m.text.contains("OPEN-OLD") && !m.text.contains("HIST-")));
}
