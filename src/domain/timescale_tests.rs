//! Tests of timescales, deadline arithmetic and deadline policies.

use super::*;
use chrono_tz::Europe::London;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn policy(regrade: RegradePolicy) -> DeadlinePolicy {
    DeadlinePolicy::new(Timescales::default(), London, regrade, None).unwrap()
}

#[test]
fn timescale_text_parses_and_prints() {
    assert_eq!("48h".parse(), Ok(Timescale::Hours(48)));
    assert_eq!("7d".parse(), Ok(Timescale::Days(7)));
    assert_eq!("60D".parse(), Ok(Timescale::Days(60)));
    assert_eq!(Timescale::Days(21).to_string(), "21d");
    for bad in [
        "",
        "h",
        "0d",
        "7",
        "7w",
        "-7d",
        "7.5d",
        "d7",
        "99999999d",
        "+7d",
    ] {
        let err = bad.parse::<Timescale>().unwrap_err();
        assert_eq!(err.value, bad);
    }
}

#[test]
fn default_deadline_for_every_grade_in_winter() {
    let p = policy(RegradePolicy::FromReceipt);
    let received = utc("2024-01-10T10:00:00Z");
    let expected = [
        (RiskGrade::VeryHigh, "2024-01-12T10:00:00Z"),
        (RiskGrade::High, "2024-01-17T10:00:00Z"),
        (RiskGrade::Medium, "2024-01-31T10:00:00Z"),
        (RiskGrade::Standard, "2024-03-10T10:00:00Z"),
    ];
    for (grade, due) in expected {
        let d = p.initial(grade, received);
        assert_eq!(d.at(), utc(due), "{grade}");
        assert_eq!(d.grade(), grade);
        assert_eq!(d.clock_started_at(), received);
    }
}

#[test]
fn days_keep_local_time_across_the_march_change() {
    // 2024-03-31 01:00 UTC the UK goes to BST. 10:00 GMT on the 28th is
    // due 10:00 BST on 4 April, which is 09:00 UTC: 6 days 23 hours.
    let p = policy(RegradePolicy::FromReceipt);
    let d = p.initial(RiskGrade::High, utc("2024-03-28T10:00:00Z"));
    assert_eq!(d.at(), utc("2024-04-04T09:00:00Z"));
}

#[test]
fn days_keep_local_time_across_the_october_change() {
    // 2024-10-27 01:00 UTC the UK returns to GMT. 10:00 BST (09:00 UTC)
    // on the 24th is due 10:00 GMT on 31 October: 7 days 1 hour.
    let p = policy(RegradePolicy::FromReceipt);
    let d = p.initial(RiskGrade::High, utc("2024-10-24T09:00:00Z"));
    assert_eq!(d.at(), utc("2024-10-31T10:00:00Z"));
}

#[test]
fn hours_are_elapsed_across_both_changes() {
    let p = policy(RegradePolicy::FromReceipt);
    let spring = p.initial(RiskGrade::VeryHigh, utc("2024-03-30T10:00:00Z"));
    assert_eq!(spring.at(), utc("2024-04-01T10:00:00Z"));
    let autumn = p.initial(RiskGrade::VeryHigh, utc("2024-10-26T10:00:00Z"));
    assert_eq!(autumn.at(), utc("2024-10-28T10:00:00Z"));
}

#[test]
fn deadline_in_the_spring_gap_is_the_moment_clocks_go_forward() {
    // Received 01:30 GMT on 24 March; 7 days later 01:30 local does not
    // exist (clocks go 01:00 GMT -> 02:00 BST on 31 March).
    let p = policy(RegradePolicy::FromReceipt);
    let d = p.initial(RiskGrade::High, utc("2024-03-24T01:30:00Z"));
    assert_eq!(d.at(), utc("2024-03-31T01:00:00Z"));
}

#[test]
fn deadline_in_the_repeated_autumn_hour_is_the_first_one() {
    // Received 01:30 BST (00:30 UTC) on 20 October; 01:30 on 27 October
    // happens twice: 00:30 UTC (BST) and 01:30 UTC (GMT). The first counts.
    let p = policy(RegradePolicy::FromReceipt);
    let d = p.initial(RiskGrade::High, utc("2024-10-20T00:30:00Z"));
    assert_eq!(d.at(), utc("2024-10-27T00:30:00Z"));
}

#[test]
fn leap_day_and_year_end() {
    let p = policy(RegradePolicy::FromReceipt);
    // 2024 is a leap year: 22 Feb + 7 days is 29 Feb.
    let leap = p.initial(RiskGrade::High, utc("2024-02-22T12:00:00Z"));
    assert_eq!(leap.at(), utc("2024-02-29T12:00:00Z"));
    // Received on the leap day itself: 60 days later is 29 April.
    let from_leap = p.initial(RiskGrade::Standard, utc("2024-02-29T12:00:00Z"));
    assert_eq!(
        from_leap.at(),
        utc("2024-04-29T11:00:00Z"),
        "12:00 GMT -> 12:00 BST"
    );
    // Across the year end.
    let year_end = p.initial(RiskGrade::Medium, utc("2024-12-20T16:45:00Z"));
    assert_eq!(year_end.at(), utc("2025-01-10T16:45:00Z"));
    let hours = p.initial(RiskGrade::VeryHigh, utc("2024-12-31T23:30:00Z"));
    assert_eq!(hours.at(), utc("2025-01-02T23:30:00Z"));
}

#[test]
fn regrade_up_and_down_from_receipt() {
    let p = policy(RegradePolicy::FromReceipt);
    let received = utc("2024-01-01T10:00:00Z");
    let standard = p.initial(RiskGrade::Standard, received);
    let up = p.regrade(
        &standard,
        received,
        RiskGrade::High,
        utc("2024-01-05T10:00:00Z"),
    );
    assert_eq!(up.at(), utc("2024-01-08T10:00:00Z"));
    assert_eq!(up.grade(), RiskGrade::High);
    assert_eq!(up.clock_started_at(), received);
    let down = p.regrade(
        &up,
        received,
        RiskGrade::Medium,
        utc("2024-01-06T10:00:00Z"),
    );
    assert_eq!(down.at(), utc("2024-01-22T10:00:00Z"));
}

#[test]
fn upgrade_past_its_new_deadline_is_already_due() {
    let p = policy(RegradePolicy::FromReceipt);
    let received = utc("2024-01-01T10:00:00Z");
    let standard = p.initial(RiskGrade::Standard, received);
    let regraded_at = utc("2024-01-20T10:00:00Z");
    let up = p.regrade(&standard, received, RiskGrade::High, regraded_at);
    assert!(up.at() < regraded_at, "due 8 January, before the regrade");
}

#[test]
fn regrade_up_and_down_from_regrade() {
    let p = policy(RegradePolicy::FromRegrade);
    let received = utc("2024-01-01T10:00:00Z");
    let standard = p.initial(RiskGrade::Standard, received);
    let at = utc("2024-01-05T10:00:00Z");
    let up = p.regrade(&standard, received, RiskGrade::High, at);
    assert_eq!(up.at(), utc("2024-01-12T10:00:00Z"));
    assert_eq!(up.clock_started_at(), at);
    let later = utc("2024-01-10T10:00:00Z");
    let down = p.regrade(&up, received, RiskGrade::Standard, later);
    assert_eq!(down.at(), utc("2024-03-10T10:00:00Z"));
}

#[test]
fn upgrade_from_regrade_late_in_a_long_timescale_keeps_the_earlier_deadline() {
    // Standard received 1 Jan is due 1 Mar; an upgrade to medium on
    // 20 Feb would count 21 days to 12 Mar, later than 1 Mar: it stays.
    let p = policy(RegradePolicy::FromRegrade);
    let received = utc("2024-01-01T10:00:00Z");
    let standard = p.initial(RiskGrade::Standard, received);
    let up = p.regrade(
        &standard,
        received,
        RiskGrade::Medium,
        utc("2024-02-20T10:00:00Z"),
    );
    assert_eq!(up.at(), standard.at());
    assert_eq!(up.grade(), RiskGrade::Medium);
}

#[test]
fn out_of_order_timescales_are_refused_naming_both_grades() {
    let timescales = Timescales {
        high: Timescale::Days(30),
        medium: Timescale::Days(14),
        ..Timescales::default()
    };
    let err =
        DeadlinePolicy::new(timescales, London, RegradePolicy::FromReceipt, None).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("timescales.medium (14d)"), "{text}");
    assert!(text.contains("timescales.high (30d)"), "{text}");
}

#[test]
fn hours_beside_days_are_refused_when_a_clock_change_could_invert_them() {
    // The case: high "2d" beside very high "48h". Received on the
    // Saturday before the spring change, high is due 47 hours later and
    // very high 48: an upgrade would move the deadline later.
    let received = utc("2024-03-30T10:00:00Z");
    assert_eq!(
        Timescale::Days(2).after(received, London) - received,
        Duration::hours(47)
    );
    let inverted = Timescales {
        very_high: Timescale::Hours(48),
        high: Timescale::Days(2),
        ..Timescales::default()
    };
    let err = DeadlinePolicy::new(inverted, London, RegradePolicy::FromReceipt, None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("timescales.high (2d) can be shorter than timescales.very_high (48h)"),
        "{text}"
    );
    assert!(text.contains("Europe/London"), "{text}");
    assert!(
        text.contains("2d can last 47 hours where 48h can last 48 hours"),
        "{text}"
    );

    // The other way round: "2d" (49 hours across the autumn change) above
    // "48h".
    let days_first = Timescales {
        very_high: Timescale::Days(2),
        high: Timescale::Hours(48),
        ..Timescales::default()
    };
    let err =
        DeadlinePolicy::new(days_first, London, RegradePolicy::FromReceipt, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("48h can last 48 hours where 2d can last 49 hours"),
        "{err}"
    );

    // An hour's margin is enough in London; in a zone without clock
    // changes, equal lengths are fine; two days kinds never invert.
    let margin = Timescales {
        very_high: Timescale::Hours(47),
        high: Timescale::Days(2),
        ..Timescales::default()
    };
    assert!(DeadlinePolicy::new(margin, London, RegradePolicy::FromReceipt, None).is_ok());
    assert!(
        DeadlinePolicy::new(inverted, chrono_tz::UTC, RegradePolicy::FromReceipt, None).is_ok()
    );
    let all_days = Timescales {
        very_high: Timescale::Days(2),
        high: Timescale::Days(2),
        ..Timescales::default()
    };
    assert!(DeadlinePolicy::new(all_days, London, RegradePolicy::FromReceipt, None).is_ok());
    // Lord Howe Island moves its clocks by half an hour.
    let err = DeadlinePolicy::new(
        inverted,
        chrono_tz::Australia::Lord_Howe,
        RegradePolicy::FromReceipt,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("2d can last 47 hours 30 minutes"),
        "{err}"
    );
}

#[test]
fn policy_version_changes_with_any_setting_and_can_be_named() {
    let a = policy(RegradePolicy::FromReceipt);
    let b = policy(RegradePolicy::FromRegrade);
    assert_ne!(a.version(), b.version());
    let c = DeadlinePolicy::new(
        Timescales {
            high: Timescale::Days(14),
            ..Timescales::default()
        },
        London,
        RegradePolicy::FromReceipt,
        None,
    )
    .unwrap();
    assert_ne!(a.version(), c.version());
    assert_eq!(a.version(), policy(RegradePolicy::FromReceipt).version());
    let named = DeadlinePolicy::new(
        Timescales::default(),
        London,
        RegradePolicy::FromReceipt,
        Some("npcc-2024"),
    )
    .unwrap();
    assert_eq!(named.version().as_str(), "npcc-2024");
    assert_eq!(
        named
            .initial(RiskGrade::High, utc("2024-01-01T00:00:00Z"))
            .policy_version()
            .as_str(),
        "npcc-2024"
    );
}

/// The hashed version of the default policy is stored on every deadline;
/// it must not change when the way it is computed does. (A new grade does
/// change it, rightly: its timescale is part of the policy.)
#[test]
fn the_default_policy_versions_are_stable() {
    assert_eq!(
        policy(RegradePolicy::FromReceipt).version().as_str(),
        "timescales-bae9faa35c3d"
    );
    assert_eq!(
        policy(RegradePolicy::FromRegrade).version().as_str(),
        "timescales-54198d08c161"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_grade() -> impl Strategy<Value = RiskGrade> {
        prop::sample::select(RiskGrade::ALL.to_vec())
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2000-01-01 to 2040-01-01, to the second.
        (946_684_800i64..2_208_988_800i64).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    fn any_policy() -> impl Strategy<Value = RegradePolicy> {
        prop::sample::select(vec![RegradePolicy::FromReceipt, RegradePolicy::FromRegrade])
    }

    proptest! {
        #[test]
        fn deadline_never_precedes_receipt(grade in any_grade(), received in any_instant()) {
            let p = policy(RegradePolicy::FromReceipt);
            let d = p.initial(grade, received);
            prop_assert!(d.at() > received);
        }

        #[test]
        fn calendar_days_keep_the_local_time_of_receipt(received in any_instant(), days in 1u32..400) {
            let due = Timescale::Days(days).after(received, London);
            let start_local = received.with_timezone(&London).naive_local();
            let due_local = due.with_timezone(&London).naive_local();
            let expected = start_local.checked_add_days(Days::new(u64::from(days))).unwrap();
            // Equal, except when the local time falls in the spring gap,
            // where the deadline is the (earlier) moment of the change.
            if London.from_local_datetime(&expected).single().is_some()
                || London.from_local_datetime(&expected).earliest().is_some() {
                prop_assert_eq!(due_local, expected);
            } else {
                prop_assert!(due_local > expected - Duration::hours(1) && due < expected.and_utc());
            }
        }

        #[test]
        fn upgrading_never_moves_a_deadline_later(
            regrade in any_policy(),
            from in any_grade(),
            to in any_grade(),
            received in any_instant(),
            after_hours in 0i64..(24 * 90),
        ) {
            prop_assume!(to.is_more_urgent_than(from));
            let p = policy(regrade);
            let before = p.initial(from, received);
            let at = received + Duration::hours(after_hours);
            let after = p.regrade(&before, received, to, at);
            prop_assert!(after.at() <= before.at());
            prop_assert!(after.at() > received);
            prop_assert_eq!(after.grade(), to);
        }

        #[test]
        fn regraded_deadline_never_precedes_receipt(
            regrade in any_policy(),
            from in any_grade(),
            to in any_grade(),
            received in any_instant(),
            after_hours in 0i64..(24 * 90),
        ) {
            let p = policy(regrade);
            let before = p.initial(from, received);
            let after = p.regrade(&before, received, to, received + Duration::hours(after_hours));
            prop_assert!(after.at() > received);
        }
    }
}

#[test]
fn zone_offsets_give_every_deadline_the_zone_gives() {
    // Receipts every 7 minutes and 13 seconds (and a few milliseconds)
    // through two years, in London and in Lord Howe (half-hour changes),
    // for hours and days timescales: the arithmetic agrees with the zone
    // at every one, the clock changes' days included; and outside the
    // span it was read for it still does (by asking the zone).
    for tz in [London, chrono_tz::Australia::Lord_Howe] {
        let from = utc("2024-01-01T00:00:00Z");
        let until = utc("2026-01-01T00:00:00Z");
        let zone = ZoneOffsets::new(tz, from, until + Duration::days(61));
        let mut at = from - Duration::days(3);
        let mut checked = 0;
        while at < until + Duration::days(3) {
            for timescale in [
                Timescale::Hours(48),
                Timescale::Days(1),
                Timescale::Days(7),
                Timescale::Days(21),
                Timescale::Days(60),
            ] {
                assert_eq!(
                    zone.after(timescale, at),
                    timescale.after(at, tz),
                    "{timescale} from {at} in {}",
                    tz.name()
                );
                checked += 1;
            }
            at += Duration::milliseconds(7 * 60_000 + 13_000 + 7);
        }
        assert!(checked > 700_000, "{checked}");
    }
}
