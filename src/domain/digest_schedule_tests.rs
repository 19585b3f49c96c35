//! Digest schedules across both clock changes, against instants worked out
//! by hand (Europe/London: BST from 01:00 UTC on the last Sunday of March
//! to 01:00 UTC on the last Sunday of October).

use super::*;
use chrono::{Duration, NaiveDateTime, Timelike};
use chrono_tz::Europe::London;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn weekly(day: Weekday, at: &str) -> DigestSchedule {
    DigestSchedule {
        name: "weekly".into(),
        kind: DigestKind::Weekly,
        day: Some(day),
        at: parse_time(at).unwrap(),
        audience: vec!["ppu_slt".into()],
    }
}

fn daily(at: &str) -> DigestSchedule {
    DigestSchedule {
        name: "daily-sergeants".into(),
        kind: DigestKind::Daily,
        day: None,
        at: parse_time(at).unwrap(),
        audience: vec!["ocset_sergeants".into()],
    }
}

/// The run due at or before `now`: its instant and key.
fn latest(schedule: &DigestSchedule, now: &str) -> (DateTime<Utc>, String) {
    let o = schedule.latest_at_or_before(utc(now), London).unwrap();
    (o.due_at, o.key())
}

fn local(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&London).naive_local()
}

#[test]
fn monday_seven_is_seven_utc_in_winter_and_six_utc_in_summer() {
    let s = weekly(Weekday::Mon, "07:00");
    assert_eq!(
        s.next_after(utc("2024-01-31T12:00:00Z"), London),
        utc("2024-02-05T07:00:00Z")
    );
    assert_eq!(
        s.next_after(utc("2024-07-03T12:00:00Z"), London),
        utc("2024-07-08T06:00:00Z")
    );
}

#[test]
fn the_mondays_either_side_of_each_clock_change_fire_at_seven_local() {
    let s = weekly(Weekday::Mon, "07:00");
    // Spring 2024: clocks forward at 01:00 UTC on Sunday 31 March, the last
    // day of 2024-W13. Monday 25 March, just before, is still GMT.
    assert_eq!(
        latest(&s, "2024-03-25T07:00:00Z"),
        (utc("2024-03-25T07:00:00Z"), "weekly/2024-W12".into())
    );
    assert_eq!(
        latest(&s, "2024-03-25T06:59:59Z").0,
        utc("2024-03-18T07:00:00Z")
    );
    // Monday 1 April, just after, is BST: 07:00 BST is 06:00 UTC.
    assert_eq!(
        s.next_after(utc("2024-03-25T07:00:00Z"), London),
        utc("2024-04-01T06:00:00Z"),
        "a UTC offset fixed before the change would have said 07:00 UTC"
    );
    assert_eq!(
        latest(&s, "2024-04-01T06:00:00Z"),
        (utc("2024-04-01T06:00:00Z"), "weekly/2024-W13".into())
    );
    // Autumn 2024: clocks back at 01:00 UTC on Sunday 27 October, the last
    // day of 2024-W43. Monday 21 October, just before, is BST.
    assert_eq!(
        latest(&s, "2024-10-21T06:00:00Z"),
        (utc("2024-10-21T06:00:00Z"), "weekly/2024-W42".into())
    );
    // Monday 28 October, just after, is GMT: 07:00 GMT is 07:00 UTC.
    assert_eq!(
        s.next_after(utc("2024-10-21T06:00:00Z"), London),
        utc("2024-10-28T07:00:00Z"),
        "a UTC offset fixed before the change would have said 06:00 UTC"
    );
    assert_eq!(
        latest(&s, "2024-10-28T07:00:00Z"),
        (utc("2024-10-28T07:00:00Z"), "weekly/2024-W43".into())
    );
    // At 06:30 UTC on the 28th it is 06:30 GMT: not yet due.
    assert_eq!(
        latest(&s, "2024-10-28T06:30:00Z").0,
        utc("2024-10-21T06:00:00Z")
    );
}

#[test]
fn daily_eight_across_the_change_sundays() {
    let s = daily("08:00");
    for (now, due) in [
        ("2024-03-30T12:00:00Z", "2024-03-31T07:00:00Z"),
        ("2024-03-31T07:00:00Z", "2024-04-01T07:00:00Z"),
        ("2024-03-29T12:00:00Z", "2024-03-30T08:00:00Z"),
        ("2024-10-26T12:00:00Z", "2024-10-27T08:00:00Z"),
        ("2024-10-25T12:00:00Z", "2024-10-26T07:00:00Z"),
        ("2024-10-27T08:00:00Z", "2024-10-28T08:00:00Z"),
    ] {
        assert_eq!(s.next_after(utc(now), London), utc(due), "after {now}");
    }
    assert_eq!(
        latest(&s, "2024-03-31T07:00:00Z"),
        (
            utc("2024-03-31T07:00:00Z"),
            "daily-sergeants/2024-03-31".into()
        )
    );
    assert_eq!(
        latest(&s, "2024-10-27T07:59:59Z"),
        (
            utc("2024-10-26T07:00:00Z"),
            "daily-sergeants/2024-10-26".into()
        )
    );
}

#[test]
fn a_time_in_the_spring_gap_fires_when_the_clocks_go_forward() {
    // 01:30 on 31 March 2024 never happens: at 01:00 GMT it became 02:00 BST.
    let s = daily("01:30");
    assert_eq!(
        s.next_after(utc("2024-03-30T12:00:00Z"), London),
        utc("2024-03-31T01:00:00Z")
    );
    assert_eq!(
        latest(&s, "2024-03-31T01:00:00Z"),
        (
            utc("2024-03-31T01:00:00Z"),
            "daily-sergeants/2024-03-31".into()
        )
    );
    // And back to 01:30 local (00:30 UTC) the next day.
    assert_eq!(
        s.next_after(utc("2024-03-31T01:00:00Z"), London),
        utc("2024-04-01T00:30:00Z")
    );
}

#[test]
fn a_time_in_the_repeated_autumn_hour_fires_the_first_time_only() {
    // 01:30 on 27 October 2024 happens at 00:30 UTC (BST) and 01:30 UTC (GMT).
    let s = daily("01:30");
    assert_eq!(
        s.next_after(utc("2024-10-26T12:00:00Z"), London),
        utc("2024-10-27T00:30:00Z")
    );
    assert_eq!(
        s.next_after(utc("2024-10-27T00:30:00Z"), London),
        utc("2024-10-28T01:30:00Z"),
        "not again at the second 01:30"
    );
    assert_eq!(
        latest(&s, "2024-10-27T01:30:00Z"),
        (
            utc("2024-10-27T00:30:00Z"),
            "daily-sergeants/2024-10-27".into()
        )
    );
}

#[test]
fn exactly_at_the_due_instant_is_that_run_and_a_second_before_the_previous() {
    let s = weekly(Weekday::Mon, "07:00");
    let due = utc("2024-02-05T07:00:00Z");
    assert_eq!(latest(&s, "2024-02-05T07:00:00Z").0, due);
    assert_eq!(
        s.latest_at_or_before(due - Duration::seconds(1), London)
            .unwrap()
            .due_at,
        utc("2024-01-29T07:00:00Z")
    );
    assert_eq!(
        s.next_after(due - Duration::seconds(1), London),
        due,
        "strictly after a second before is the instant itself"
    );
    assert_eq!(
        s.next_after(due, London),
        utc("2024-02-12T07:00:00Z"),
        "strictly after the instant is the next week"
    );
}

#[test]
fn a_weekly_run_reports_the_last_complete_iso_week() {
    let s = weekly(Weekday::Mon, "07:00");
    let o = s
        .latest_at_or_before(utc("2024-02-05T09:00:00Z"), London)
        .unwrap();
    assert_eq!(o.period, DigestPeriod::Week("2024-W05".parse().unwrap()));
    assert_eq!(o.period.key(), "2024-W05");
    assert_eq!(o.key(), "weekly/2024-W05");
    // ISO week-years at the year's edges.
    assert_eq!(latest(&s, "2024-01-01T07:00:00Z").1, "weekly/2023-W52");
    assert_eq!(latest(&s, "2024-12-30T07:00:00Z").1, "weekly/2024-W52");
    assert_eq!(latest(&s, "2026-01-05T07:00:00Z").1, "weekly/2026-W01");
    // 2020 had 53 weeks: Monday 4 January 2021 reports 2020-W53.
    assert_eq!(latest(&s, "2021-01-04T07:00:00Z").1, "weekly/2020-W53");
    // Another day: a Friday run reports the week before the current one.
    let friday = weekly(Weekday::Fri, "16:00");
    assert_eq!(latest(&friday, "2024-02-09T16:00:00Z").1, "weekly/2024-W05");
}

#[test]
fn a_weekly_schedule_without_a_day_runs_on_monday() {
    let s = DigestSchedule {
        day: None,
        ..weekly(Weekday::Mon, "07:00")
    };
    assert_eq!(
        s.next_after(utc("2024-02-01T00:00:00Z"), London),
        utc("2024-02-05T07:00:00Z")
    );
}

#[test]
fn daily_periods_are_the_local_date() {
    let s = daily("00:15");
    // 23:15 UTC on 30 June is 00:15 BST on 1 July.
    let o = s
        .latest_at_or_before(utc("2024-06-30T23:20:00Z"), London)
        .unwrap();
    assert_eq!(o.due_at, utc("2024-06-30T23:15:00Z"));
    assert_eq!(o.period, DigestPeriod::Day(date("2024-07-01")));
    assert_eq!(o.key(), "daily-sergeants/2024-07-01");
}

/// Every run of 2024 and 2025, found by stepping `next_after` from the
/// start: one per day (or per Monday), each at the configured local time
/// except where that time does not exist, and `latest_at_or_before` agrees.
fn walk(schedule: &DigestSchedule) -> Vec<DateTime<Utc>> {
    let end = utc("2026-01-01T00:00:00Z");
    let mut runs = Vec::new();
    let mut now = utc("2023-12-31T23:59:59Z");
    loop {
        let due = schedule.next_after(now, London);
        if due >= end {
            break;
        }
        assert!(due > now);
        let o = schedule.latest_at_or_before(due, London).unwrap();
        assert_eq!(o.due_at, due, "the latest at the instant is the instant");
        if let Some(previous) = runs.last() {
            let before = schedule
                .latest_at_or_before(due - Duration::seconds(1), London)
                .unwrap();
            assert_eq!(before.due_at, *previous, "one second before {due}");
        }
        runs.push(due);
        now = due;
    }
    runs
}

const GAP_DAYS: [&str; 2] = ["2024-03-31", "2025-03-30"];

#[test]
fn every_day_of_2024_and_2025_runs_at_its_local_time() {
    for at in ["08:00", "01:30", "00:00", "23:59", "02:00", "01:00"] {
        let s = daily(at);
        let runs = walk(&s);
        assert_eq!(runs.len(), 366 + 365, "{at}");
        let mut day = date("2024-01-01");
        let mut keys = std::collections::HashSet::new();
        for due in runs {
            let wall = local(due);
            assert_eq!(wall.date(), day, "{at}: one run a day, in order");
            let in_gap =
                GAP_DAYS.contains(&day.to_string().as_str()) && (1..2).contains(&s.at.hour());
            if in_gap {
                // Fired as the clocks went forward (01:00 GMT = 02:00 BST).
                assert_eq!(wall.time(), parse_time("02:00").unwrap(), "{day}");
            } else {
                assert_eq!(wall.time(), s.at, "{at} on {day}");
            }
            let o = s.latest_at_or_before(due, London).unwrap();
            assert_eq!(o.period, DigestPeriod::Day(day));
            assert!(keys.insert(o.key()), "keys are unique");
            day = day.succ_opt().unwrap();
        }
    }
}

#[test]
fn every_monday_of_2024_and_2025_runs_at_seven_local_and_reports_the_week_before() {
    let s = weekly(Weekday::Mon, "07:00");
    let runs = walk(&s);
    assert_eq!(runs.len(), 53 + 52, "2024 has 53 Mondays, 2025 has 52");
    let mut previous: Option<IsoWeek> = None;
    for due in runs {
        let wall = local(due);
        assert_eq!(wall.weekday(), Weekday::Mon);
        assert_eq!(wall.time(), s.at);
        let o = s.latest_at_or_before(due, London).unwrap();
        let DigestPeriod::Week(week) = o.period else {
            panic!("a weekly run reports a week");
        };
        assert_eq!(week.monday() + Duration::days(7), wall.date());
        if let Some(p) = previous {
            assert_eq!(week.previous(), p, "consecutive weeks, none skipped");
        }
        previous = Some(week);
    }
}

#[test]
fn configuration_values_parse_or_say_what_is_wrong() {
    assert_eq!(
        parse_time("07:00").unwrap(),
        NaiveTime::from_hms_opt(7, 0, 0).unwrap()
    );
    assert_eq!(
        parse_time("7:05").unwrap(),
        NaiveTime::from_hms_opt(7, 5, 0).unwrap()
    );
    assert_eq!(
        parse_time("23:59").unwrap(),
        NaiveTime::from_hms_opt(23, 59, 0).unwrap()
    );
    for bad in [
        "25:00", "24:00", "07:60", "7", "07:00:00", "0700", "07:0", "", "7am", "-1:00", "+7:00",
    ] {
        assert_eq!(
            parse_time(bad).unwrap_err(),
            format!("{bad:?} is not a time like 07:00")
        );
    }
    assert_eq!(parse_day("monday"), Ok(Weekday::Mon));
    assert_eq!(parse_day("Friday"), Ok(Weekday::Fri));
    assert_eq!(parse_day("sun"), Ok(Weekday::Sun));
    assert!(parse_day("funday")
        .unwrap_err()
        .contains("\"funday\" is not a day"));
    assert_eq!("weekly".parse(), Ok(DigestKind::Weekly));
    assert_eq!("daily".parse(), Ok(DigestKind::Daily));
    assert!("hourly"
        .parse::<DigestKind>()
        .unwrap_err()
        .contains("\"hourly\" is not a digest kind"));
    assert!(check_name("weekly-slt_2").is_ok());
    for bad in ["", "a/b", "weekly slt", &"x".repeat(65)] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_run_missed_while_down_is_owed_until_its_week_or_day_is_over() {
    let tz = chrono_tz::Europe::London;
    let weekly = DigestSchedule {
        name: "weekly".into(),
        kind: DigestKind::Weekly,
        day: Some(Weekday::Mon),
        at: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
        audience: vec!["ppu_slt".into()],
    };
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    // Monday 5 Feb 2024 07:00 GMT reports 2024-W05.
    assert_eq!(
        weekly
            .owed_at(at("2024-02-05T06:59:59Z"), tz)
            .map(|r| r.key()),
        None,
        "before 07:00 on Monday, last week's run is over"
    );
    for now in [
        "2024-02-05T07:00:00Z",
        "2024-02-07T12:00:00Z",
        "2024-02-11T23:59:59Z",
    ] {
        assert_eq!(
            weekly.owed_at(at(now), tz).map(|r| r.key()).as_deref(),
            Some("weekly/2024-W05"),
            "{now}"
        );
    }
    let daily = DigestSchedule {
        name: "daily".into(),
        kind: DigestKind::Daily,
        day: None,
        at: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        audience: vec!["ocset_sergeants".into()],
    };
    // In summer time: 08:00 BST is 07:00 UTC; the local day ends 23:00 UTC.
    assert_eq!(
        daily
            .owed_at(at("2024-07-01T22:59:59Z"), tz)
            .map(|r| r.key())
            .as_deref(),
        Some("daily/2024-07-01")
    );
    assert_eq!(daily.owed_at(at("2024-07-01T23:00:00Z"), tz), None);
    assert_eq!(daily.owed_at(at("2024-07-01T06:59:59Z"), tz), None);
}

fn calendar(kind: DigestKind, name: &str, at: &str) -> DigestSchedule {
    DigestSchedule {
        name: name.into(),
        kind,
        day: None,
        at: parse_time(at).unwrap(),
        audience: vec!["ppu_slt".into()],
    }
}

#[test]
fn the_first_working_day_skips_the_weekend_only() {
    // Saturday 1 June 2024 -> Monday 3 June; Sunday 1 October 2023 ->
    // Monday 2 October; a weekday is itself (bank holidays are not known:
    // New Year's Day 2025, a Wednesday, is a working day here).
    assert_eq!(first_working_day(date("2024-06-01")), date("2024-06-03"));
    assert_eq!(first_working_day(date("2023-10-01")), date("2023-10-02"));
    assert_eq!(first_working_day(date("2024-03-01")), date("2024-03-01"));
    assert_eq!(first_working_day(date("2025-01-01")), date("2025-01-01"));
}

#[test]
fn a_monthly_digest_goes_on_the_first_working_day_after_the_month() {
    let s = calendar(DigestKind::Monthly, "monthly", "07:00");
    // May 2024 ends on Friday the 31st: its run is Monday 3 June, 07:00
    // BST (06:00 UTC), not on the weekend.
    assert_eq!(
        s.next_after(utc("2024-05-31T12:00:00Z"), London),
        utc("2024-06-03T06:00:00Z")
    );
    assert_eq!(
        latest(&s, "2024-06-03T06:00:00Z"),
        (utc("2024-06-03T06:00:00Z"), "monthly/2024-05".into())
    );
    // A second before it, the latest run was April's, on Wednesday 1 May.
    assert_eq!(
        latest(&s, "2024-06-03T05:59:59Z"),
        (utc("2024-05-01T06:00:00Z"), "monthly/2024-04".into())
    );
    // ... and that run is no longer owed in June; May's is not yet due.
    assert_eq!(s.owed_at(utc("2024-06-03T05:59:59Z"), London), None);
    // Once due, May's run is owed for the rest of June (catch-up after
    // downtime), then left when July begins.
    for now in [
        "2024-06-03T06:00:00Z",
        "2024-06-14T12:00:00Z",
        "2024-06-30T22:59:59Z",
    ] {
        let owed = s.owed_at(utc(now), London).unwrap();
        assert_eq!(owed.key(), "monthly/2024-05", "{now}");
    }
    assert_eq!(s.owed_at(utc("2024-06-30T23:00:00Z"), London), None);
    // October 2024 ends after the autumn change: its run is Friday 1
    // November at 07:00 GMT, 07:00 UTC.
    assert_eq!(
        s.next_after(utc("2024-10-31T12:00:00Z"), London),
        utc("2024-11-01T07:00:00Z")
    );
    // February 2024 ends on the 29th (a Thursday): Friday 1 March.
    assert_eq!(
        latest(&s, "2024-03-01T07:00:00Z"),
        (utc("2024-03-01T07:00:00Z"), "monthly/2024-02".into())
    );
    // March 2024 ends on Sunday 31st, the night the clocks go forward:
    // Monday 1 April, 07:00 BST.
    assert_eq!(
        s.next_after(utc("2024-03-31T12:00:00Z"), London),
        utc("2024-04-01T06:00:00Z")
    );
}

#[test]
fn a_quarterly_digest_goes_on_the_first_working_day_after_the_quarter() {
    let s = calendar(DigestKind::Quarterly, "quarterly", "07:30");
    for (now, due, key) in [
        // Q1 2024 ends Sunday 31 March: Monday 1 April, 07:30 BST.
        (
            "2024-03-15T12:00:00Z",
            "2024-04-01T06:30:00Z",
            "quarterly/2024-Q1",
        ),
        // Q2 2024 ends Sunday 30 June: Monday 1 July.
        (
            "2024-04-01T06:30:00Z",
            "2024-07-01T06:30:00Z",
            "quarterly/2024-Q2",
        ),
        // Q3 2023 ends Saturday 30 September: Monday 2 October.
        (
            "2023-09-29T12:00:00Z",
            "2023-10-02T06:30:00Z",
            "quarterly/2023-Q3",
        ),
        // Q4 2024: Wednesday 1 January 2025, 07:30 GMT (a bank holiday,
        // which is not known).
        (
            "2024-12-31T12:00:00Z",
            "2025-01-01T07:30:00Z",
            "quarterly/2024-Q4",
        ),
    ] {
        assert_eq!(s.next_after(utc(now), London), utc(due), "{now}");
        assert_eq!(latest(&s, due), (utc(due), key.to_string()));
        assert_eq!(s.owed_at(utc(due), London).unwrap().key(), key);
    }
    // Owed for the rest of the quarter in which it fell due.
    assert_eq!(
        s.owed_at(utc("2024-06-30T22:00:00Z"), London)
            .unwrap()
            .key(),
        "quarterly/2024-Q1"
    );
    assert_eq!(s.owed_at(utc("2024-07-01T06:29:59Z"), London), None);
}
