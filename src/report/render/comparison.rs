//! The comparison section in text and HTML: the period's figures beside
//! the previous period's and the same period's a year before, or the
//! reason there is no comparison.

use super::{noun, percent, signed, signed_points};
use crate::report::html::{head, note_row, number, row, words, CAPTION, H2, TABLE};
use crate::report::{ComparedPeriod, PeriodFigures, WeeklyReport};
use std::fmt::Write;

/// The figures compared, as (label, value of a period, change as text).
type Line = (&'static str, fn(&PeriodFigures) -> String, ChangeOf);

/// How a line's change reads from a [`ComparedPeriod`].
type ChangeOf = fn(&ComparedPeriod) -> Option<String>;

fn lines() -> [Line; 6] {
    [
        (
            "Received",
            |f| f.received.to_string(),
            |c| c.change.as_ref().map(|d| signed(d.received)),
        ),
        (
            "Enforced",
            |f| f.enforced.to_string(),
            |c| c.change.as_ref().map(|d| signed(d.enforced)),
        ),
        (
            "Enforced within timescale",
            |f| percent(f.percent_within),
            |c| {
                c.change
                    .as_ref()
                    .and_then(|d| d.percent_within_points)
                    .map(|p| format!("{} points", signed_points(p)))
            },
        ),
        (
            "Closed without enforcement",
            |f| f.closed.to_string(),
            |c| c.change.as_ref().map(|d| signed(d.closed)),
        ),
        (
            "Open at the end",
            |f| f.open_at_end.to_string(),
            |c| c.change.as_ref().map(|d| signed(d.open_at_end)),
        ),
        (
            "Breached at the end",
            |f| f.breached_at_end.to_string(),
            |c| c.change.as_ref().map(|d| signed(d.breached_at_end)),
        ),
    ]
}

/// The two periods compared with, each with its heading.
fn compared(report: &WeeklyReport) -> [(String, &ComparedPeriod); 2] {
    let c = &report.comparison;
    [
        (
            format!("Last {} ({})", noun(report), c.previous.period),
            &c.previous,
        ),
        (
            format!("A year before ({})", c.year_before.period),
            &c.year_before,
        ),
    ]
}

/// The section as plain text, headed `number`.
pub(super) fn text(report: &WeeklyReport, number: u32) -> String {
    let mut t = String::new();
    let c = &report.comparison;
    let _ = writeln!(
        t,
        "\n{number}. Compared with last {noun} and the same {noun} a year before",
        noun = noun(report)
    );
    for (heading, other) in compared(report) {
        let _ = writeln!(t, "{heading}:");
        let Some(figures) = &other.figures else {
            let _ = writeln!(t, "  {}", other.note.as_deref().unwrap_or("no comparison"));
            continue;
        };
        for (label, value, change) in lines() {
            let _ = writeln!(
                t,
                "  {:<28} {:>7} then {:>7}, change {}",
                label,
                value(&c.this_period),
                value(figures),
                change(other).unwrap_or_else(|| "-".into())
            );
        }
    }
    t
}

/// The section as HTML, headed `section`.
pub(super) fn html(report: &WeeklyReport, section: u32) -> String {
    let mut h = String::new();
    let c = &report.comparison;
    let _ = write!(
        h,
        "<h2 style=\"{H2}\">{section}. Compared with last {noun} and the same {noun} a year before</h2>",
        noun = noun(report)
    );
    for (i, (heading, other)) in compared(report).into_iter().enumerate() {
        let id = ["compare-previous", "compare-year-before"][i];
        let _ = write!(
            h,
            "<table id=\"{id}\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">{}</caption>",
            crate::text::esc(&heading)
        );
        h.push_str(&head(&[
            words("Figure"),
            number(c.this_period.period),
            number(other.period),
            number("Change"),
        ]));
        match &other.figures {
            None => h.push_str(&note_row(
                other.note.as_deref().unwrap_or("no comparison"),
                4,
            )),
            Some(figures) => {
                for (label, value, change) in lines() {
                    h.push_str(&row(
                        &[
                            words(label),
                            number(value(&c.this_period)),
                            number(value(figures)),
                            number(change(other).unwrap_or_else(|| "-".into())),
                        ],
                        "",
                    ));
                }
            }
        }
        h.push_str("</table>");
    }
    h
}
