//! How the dashboard writes times and spans: UK style in the force time
//! zone ("Tue 3 Dec 2024 14:05"), each time inside a `<time>` element whose
//! `datetime` is the exact instant in UTC (the hour repeated when the
//! clocks go back reads the same twice; the attribute tells them apart).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};

/// `at` in `zone`, UK style: weekday, day without a leading zero, month,
/// year, 24-hour time: "Tue 3 Dec 2024 14:05".
pub(crate) fn uk_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %Y %H:%M")
        .to_string()
}

/// [`uk_time`] inside a `<time>` element carrying the instant in UTC.
pub(crate) fn time(at: DateTime<Utc>, zone: Tz) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) { (uk_time(at, zone)) }
    }
}

/// [`time`], or "never" / another word when there is no instant.
pub(crate) fn time_or(at: Option<DateTime<Utc>>, zone: Tz, none: &str) -> Markup {
    match at {
        Some(at) => time(at, zone),
        None => html! { (none) },
    }
}

/// A percentage with one decimal (`57.1%`), or a dash when none applies.
pub(crate) fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |p| format!("{p:.1}%"))
}

/// How far `deadline` is from `now`, in words: "2 days 3 hours left" or
/// "5 hours overdue".
pub(crate) fn time_left(deadline: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let span = deadline - now;
    let words = crate::text::describe_duration(span);
    if span > chrono::Duration::zero() {
        format!("{words} left")
    } else {
        format!("{words} overdue")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_winter_time_is_written_uk_style() {
        let london = chrono_tz::Europe::London;
        assert_eq!(
            uk_time(utc("2024-12-03T14:05:00Z"), london),
            "Tue 3 Dec 2024 14:05"
        );
        assert_eq!(
            uk_time(utc("2024-01-01T00:00:59Z"), london),
            "Mon 1 Jan 2024 00:00"
        );
    }

    #[test]
    fn summer_time_is_an_hour_ahead_of_utc() {
        let london = chrono_tz::Europe::London;
        assert_eq!(
            uk_time(utc("2024-07-09T08:30:00Z"), london),
            "Tue 9 Jul 2024 09:30"
        );
    }

    #[test]
    fn across_the_spring_change_the_local_hour_jumps_from_one_to_three() {
        let london = chrono_tz::Europe::London;
        // Sunday 31 March 2024: at 01:00 GMT the clocks go forward to 02:00 BST.
        assert_eq!(
            uk_time(utc("2024-03-31T00:59:00Z"), london),
            "Sun 31 Mar 2024 00:59"
        );
        assert_eq!(
            uk_time(utc("2024-03-31T01:00:00Z"), london),
            "Sun 31 Mar 2024 02:00"
        );
    }

    #[test]
    fn across_the_autumn_change_the_hour_from_one_to_two_repeats() {
        let london = chrono_tz::Europe::London;
        // Sunday 27 October 2024: at 01:00 GMT (02:00 BST) the clocks go back.
        assert_eq!(
            uk_time(utc("2024-10-27T00:30:00Z"), london),
            "Sun 27 Oct 2024 01:30"
        );
        assert_eq!(
            uk_time(utc("2024-10-27T01:30:00Z"), london),
            "Sun 27 Oct 2024 01:30"
        );
        // The element tells the two apart.
        let first = time(utc("2024-10-27T00:30:00Z"), london).into_string();
        let second = time(utc("2024-10-27T01:30:00Z"), london).into_string();
        assert_eq!(
            first,
            r#"<time datetime="2024-10-27T00:30:00Z">Sun 27 Oct 2024 01:30</time>"#
        );
        assert_ne!(first, second);
    }

    #[test]
    fn time_left_says_left_or_overdue() {
        let now = utc("2024-02-05T12:00:00Z");
        assert_eq!(
            time_left(utc("2024-02-07T15:00:00Z"), now),
            "2 days 3 hours left"
        );
        assert_eq!(
            time_left(utc("2024-02-05T07:00:00Z"), now),
            "5 hours overdue"
        );
        assert_eq!(time_left(now, now), "0 minutes overdue");
    }
}
