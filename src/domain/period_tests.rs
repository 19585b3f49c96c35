use super::*;
use chrono_tz::Europe::London;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn period(text: &str) -> ReportPeriod {
    text.parse().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn hours(p: ReportPeriod) -> i64 {
    (p.ends_at(London) - p.starts_at(London)).num_hours()
}

#[test]
fn periods_parse_and_print_each_form() {
    for text in [
        "2024-W05", "2024-02", "2024-12", "2024-Q1", "2024-Q4", "2020-W53",
    ] {
        assert_eq!(period(text).to_string(), text);
    }
    assert_eq!(period("2024-q2").to_string(), "2024-Q2");
    assert_eq!(period("2024-W05").kind(), PeriodKind::Week);
    assert_eq!(period("2024-02").kind(), PeriodKind::Month);
    assert_eq!(period("2024-Q1").kind(), PeriodKind::Quarter);
    assert_eq!(
        "2024-02".parse::<CalendarMonth>().unwrap(),
        CalendarMonth::new(2024, 2).unwrap()
    );
    assert_eq!(
        "2024-Q3".parse::<Quarter>().unwrap(),
        Quarter::new(2024, 3).unwrap()
    );
}

#[test]
fn a_bad_period_names_the_value_and_the_form_expected() {
    for bad in [
        "2024-13", "2024-00", "2024-2", "2024-002", "24-02", "1999-12", "2100-01", "2024-Q1", "",
    ] {
        let err = bad.parse::<CalendarMonth>().unwrap_err().to_string();
        assert!(err.contains(&format!("{bad:?}")), "{err}");
        assert!(err.contains("expected YYYY-MM"), "{err}");
    }
    for bad in [
        "2024-Q0", "2024-Q5", "2024-Q", "2024-Q11", "2024-1", "2024-02", "1999-Q4",
    ] {
        let err = bad.parse::<Quarter>().unwrap_err().to_string();
        assert!(err.contains(&format!("{bad:?}")), "{err}");
        assert!(err.contains("expected YYYY-Qn"), "{err}");
    }
    for bad in [
        "2024-W54", "2024-13", "2024-Q5", "2024", "February", "2024-X1",
    ] {
        let err = bad.parse::<ReportPeriod>().unwrap_err().to_string();
        assert!(err.contains(&format!("{bad:?}")), "{err}");
        assert!(
            err.contains("2024-W05") && err.contains("2024-02") && err.contains("2024-Q1"),
            "{err}"
        );
    }
}

#[test]
fn a_month_runs_from_local_midnight_to_local_midnight() {
    // January is all GMT: 31 days of 24 hours.
    let january = period("2024-01");
    assert_eq!(january.starts_at(London), at("2024-01-01T00:00:00Z"));
    assert_eq!(january.ends_at(London), at("2024-02-01T00:00:00Z"));
    assert_eq!(january.first_day(), date(2024, 1, 1));
    assert_eq!(january.last_day(), date(2024, 1, 31));
    // A summer month starts and ends at 23:00 UTC the day before.
    let july = period("2024-07");
    assert_eq!(july.starts_at(London), at("2024-06-30T23:00:00Z"));
    assert_eq!(july.ends_at(London), at("2024-07-31T23:00:00Z"));
}

#[test]
fn the_month_of_the_spring_clock_change_is_an_hour_short() {
    // Clocks went forward at 01:00 UTC on Sunday 31 March 2024.
    let march = period("2024-03");
    assert_eq!(march.starts_at(London), at("2024-03-01T00:00:00Z"));
    assert_eq!(march.ends_at(London), at("2024-03-31T23:00:00Z"));
    assert_eq!(hours(march), 31 * 24 - 1);
}

#[test]
fn the_month_of_the_autumn_clock_change_is_an_hour_long() {
    // Clocks went back at 01:00 UTC on Sunday 27 October 2024.
    let october = period("2024-10");
    assert_eq!(october.starts_at(London), at("2024-09-30T23:00:00Z"));
    assert_eq!(october.ends_at(London), at("2024-11-01T00:00:00Z"));
    assert_eq!(hours(october), 31 * 24 + 1);
}

#[test]
fn quarters_span_the_clock_changes() {
    // Q1 ends after the spring change; Q4 starts before the autumn one.
    let q1 = period("2024-Q1");
    assert_eq!(q1.starts_at(London), at("2024-01-01T00:00:00Z"));
    assert_eq!(q1.ends_at(London), at("2024-03-31T23:00:00Z"));
    assert_eq!(hours(q1), 91 * 24 - 1);
    let q4 = period("2024-Q4");
    assert_eq!(q4.starts_at(London), at("2024-09-30T23:00:00Z"));
    assert_eq!(q4.ends_at(London), at("2025-01-01T00:00:00Z"));
    assert_eq!(hours(q4), 92 * 24 + 1);
    // Q2 and Q3 hold no change: BST throughout.
    let q2 = period("2024-Q2");
    assert_eq!(q2.starts_at(London), at("2024-03-31T23:00:00Z"));
    assert_eq!(hours(q2), 91 * 24);
    assert_eq!(q2.last_day(), date(2024, 6, 30));
}

#[test]
fn february_has_29_days_in_a_leap_year_and_its_year_before_28() {
    let february = period("2024-02");
    assert_eq!(february.last_day(), date(2024, 2, 29));
    assert_eq!(hours(february), 29 * 24);
    let before = february.year_before();
    assert_eq!(before.to_string(), "2023-02");
    assert_eq!(before.last_day(), date(2023, 2, 28));
    assert_eq!(hours(before), 28 * 24);
    // 29 February is in February and in Q1.
    assert_eq!(
        ReportPeriod::containing(PeriodKind::Month, date(2024, 2, 29)).to_string(),
        "2024-02"
    );
    assert_eq!(
        ReportPeriod::containing(PeriodKind::Quarter, date(2024, 2, 29)).to_string(),
        "2024-Q1"
    );
    assert_eq!(period("2024-Q1").year_before().to_string(), "2023-Q1");
    assert_eq!(hours(period("2023-Q1")), 90 * 24 - 1);
}

#[test]
fn previous_next_and_year_before_cross_the_year_end() {
    assert_eq!(period("2024-01").previous().to_string(), "2023-12");
    assert_eq!(period("2023-12").next().to_string(), "2024-01");
    assert_eq!(period("2024-Q1").previous().to_string(), "2023-Q4");
    assert_eq!(period("2023-Q4").next().to_string(), "2024-Q1");
    assert_eq!(period("2024-W01").previous().to_string(), "2023-W52");
    assert_eq!(period("2024-W05").next().to_string(), "2024-W06");
    assert_eq!(period("2024-03").periods_before(11).to_string(), "2023-04");
    assert_eq!(period("2024-Q1").periods_before(7).to_string(), "2022-Q2");
    assert_eq!(period("2024-W05").year_before().to_string(), "2023-W05");
    // 2020 had a week 53; 2019 did not.
    assert_eq!(period("2020-W53").year_before().to_string(), "2019-W52");
}

#[test]
fn the_last_complete_period_is_the_one_before_today_local() {
    // 23:30 UTC on 31 March 2024 is 00:30 BST on 1 April: March and Q1 have ended.
    let after = at("2024-03-31T23:30:00Z");
    let before = at("2024-03-31T22:30:00Z");
    assert_eq!(
        PeriodKind::Month.last_complete(after, London).to_string(),
        "2024-03"
    );
    assert_eq!(
        PeriodKind::Month.last_complete(before, London).to_string(),
        "2024-02"
    );
    assert_eq!(
        PeriodKind::Quarter.last_complete(after, London).to_string(),
        "2024-Q1"
    );
    assert_eq!(
        PeriodKind::Quarter
            .last_complete(before, London)
            .to_string(),
        "2023-Q4"
    );
    assert_eq!(
        PeriodKind::Week.last_complete(after, London).to_string(),
        "2024-W13"
    );
    assert_eq!(
        PeriodKind::Month
            .last_complete(at("2024-01-15T12:00:00Z"), London)
            .to_string(),
        "2023-12"
    );
}

#[test]
fn a_period_that_has_not_ended_is_refused_with_its_end() {
    let march = period("2024-03");
    assert_eq!(
        march.check_ended(at("2024-03-31T23:00:00Z"), London),
        Ok(())
    );
    assert_eq!(
        march.check_ended(at("2024-03-31T22:59:59Z"), London),
        Err("2024-03 has not ended yet (it ends 2024-03-31T23:00:00+00:00)".into())
    );
}

#[test]
fn labels_and_keys_name_the_period() {
    assert_eq!(period("2024-W05").label(), "week 5 2024");
    assert_eq!(period("2024-02").label(), "February 2024");
    assert_eq!(period("2024-Q1").label(), "Q1 2024 (January to March)");
    assert_eq!(period("2024-Q4").label(), "Q4 2024 (October to December)");
    assert_eq!(period("2024-02").key(), "2024-02");
    assert_eq!(period("2024-Q1").key(), "2024-Q1");
    assert_eq!(
        serde_json::to_string(&period("2024-Q1")).unwrap(),
        "\"2024-Q1\""
    );
    assert_eq!(PeriodKind::Month.trend_periods(), 12);
    assert_eq!(PeriodKind::Quarter.trend_periods(), 8);
    assert_eq!(PeriodKind::Quarter.adjective(), "quarterly");
}
