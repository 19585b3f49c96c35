//! Renderings of one [`WeeklyReport`]: JSON, CSV, plain text and HTML for
//! email. Each carries the protective marking; none holds more than the
//! model (references, grades, dates, LPAs, officers' work addresses).
//!
//! One file per format (`csv_file`, `text_page`, `html_page`); the
//! JSON, the subject line and the wording they share live here. Every
//! per-grade row or column is drawn by iterating over [`RiskGrade::ALL`],
//! so a new grade needs nothing here.
//!
//! [`RiskGrade::ALL`]: crate::domain::RiskGrade::ALL

mod comparison;
mod csv_file;
mod html_page;
mod text_page;

pub mod capacity;

pub use csv_file::csv;
pub(crate) use csv_file::write_csv;
pub(crate) use html_page::html_capped;
pub use html_page::{html, TREND_BAR_MAX_PX, WITHIN_BAR_MAX_PX};
pub(crate) use text_page::{text, text_capped};

use super::{ReportPeriod, WeeklyReport};
use crate::domain::Outcome;
use chrono::{DateTime, Utc};

/// The headline's three lines, in words, for the top of every rendering
/// but the CSV: what is open, what falls due, and how timely enforcement
/// has been.
pub(crate) fn headline_lines(report: &WeeklyReport) -> [String; 3] {
    let h = &report.headline;
    let packages = |n: u64| if n == 1 { "package" } else { "packages" };
    let (noun, window) = (noun(report), window(report).to_lowercase());
    let percent = match (h.percent_within_twelve_weeks, h.percent_within_change) {
        (None, _) => format!("none enforced in the {window}"),
        (Some(now), None) => format!("{now:.1}% over the {window}"),
        (Some(now), Some(0.0)) => {
            format!("{now:.1}% over the {window} (no change on last {noun})")
        }
        (Some(now), Some(change)) => format!(
            "{now:.1}% over the {window} ({} points on last {noun})",
            signed_points(change)
        ),
    };
    [
        format!(
            "{} {} open at the {noun}'s end ({} on last {noun}), {} breached.",
            h.open,
            packages(h.open),
            signed(h.open_change),
            h.breached
        ),
        format!(
            "Due within 48 hours: {}; within 7 days: {}.",
            h.due_within_48_hours, h.due_within_7_days
        ),
        format!("Enforced within timescale: {percent}."),
    ]
}

/// A change in percentage points with its sign: `+16.7`, `-2.0`, `0.0`.
fn signed_points(value: f64) -> String {
    if value > 0.0 {
        format!("+{value:.1}")
    } else if value == 0.0 {
        "0.0".into()
    } else {
        format!("{value:.1}")
    }
}

/// The report as pretty JSON.
pub fn json(report: &WeeklyReport) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises")
}

/// The subject line of the digest email: "[OFFICIAL-SENSITIVE] OCSET
/// weekly performance, week 5 2024", "… monthly performance, February
/// 2024".
pub(crate) fn subject(report: &WeeklyReport) -> String {
    format!(
        "[{}] {}, {}",
        report.marking,
        title(report),
        report.period.label()
    )
}

/// "OCSET weekly performance" (or monthly, or quarterly).
pub(crate) fn title(report: &WeeklyReport) -> String {
    format!("OCSET {} performance", report.period_kind.adjective())
}

/// The period's noun in running text: `week`, `month`, `quarter`.
pub(crate) fn noun(report: &WeeklyReport) -> &'static str {
    report.period_kind.as_str()
}

/// "This week" (or month, or quarter): the column of the period's figures.
pub(crate) fn this_period(report: &WeeklyReport) -> String {
    format!("This {}", noun(report))
}

/// "Last 12 weeks" (12 months, 8 quarters): the trend window's column.
pub(crate) fn window(report: &WeeklyReport) -> String {
    format!("Last {} {}s", report.trend_periods, noun(report))
}

/// "Week ending" (or month, or quarter): the trend's first column.
pub(crate) fn ending(report: &WeeklyReport) -> String {
    let noun = noun(report);
    let mut first = noun[..1].to_uppercase();
    first.push_str(&noun[1..]);
    format!("{first} ending")
}

fn local_date(report: &WeeklyReport, at: DateTime<Utc>) -> String {
    at.with_timezone(&report.time_zone)
        .format("%a %-d %b %Y")
        .to_string()
}

fn period(report: &WeeklyReport) -> String {
    format!(
        "{} to {} ({})",
        local_date(report, report.starts_at),
        local_date(report, report.ends_at - chrono::Duration::seconds(1)),
        report.time_zone
    )
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A change with its sign: `+3`, `0`, `-2`.
pub(crate) fn signed(value: i64) -> String {
    if value > 0 {
        format!("+{value}")
    } else {
        value.to_string()
    }
}

fn percent(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.1}%"))
        .unwrap_or_else(|| "-".into())
}

/// An outcome as a person reads it.
fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Arrest => "Arrest",
        Outcome::WarrantExecuted => "Warrant executed",
        Outcome::VoluntaryAttendance => "Voluntary attendance",
        Outcome::NoFurtherAction => "No further action",
        Outcome::Transferred => "Transferred to another force",
        Outcome::Other => "Other",
    }
}

/// The last day of a trend's `period` in the force time zone: "Sun 22
/// Nov 2026".
fn period_ending(report: &WeeklyReport, period: ReportPeriod) -> String {
    local_date(
        report,
        period.ends_at(report.time_zone) - chrono::Duration::seconds(1),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::snapshot_report;
    use super::*;

    #[test]
    fn every_rendering_carries_the_marking_and_the_snapshot_figures() {
        let report = snapshot_report();
        let value: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(value["marking"], "OFFICIAL-SENSITIVE");
        assert_eq!(value["week"], "2024-W05");
        let medium = value["position"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["stage"] == "awaiting_enforcement" && l["grade"] == "medium")
            .unwrap();
        assert_eq!(
            (medium["open"].as_u64(), medium["oldest_age_days"].as_i64()),
            (Some(5), Some(7))
        );

        let text = text(&report);
        assert!(
            text.starts_with("OFFICIAL-SENSITIVE\n")
                && text.trim_end().ends_with("OFFICIAL-SENSITIVE")
        );
        assert!(text.contains("Awaiting enforcement (10 open)"), "{text}");
        assert!(text.contains("Intelligence development (32 open)"));
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["Medium", "5", "+5", "7", "0", "0"]),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["Standard", "5", "0", "35", "0", "0"]),
            "{text}"
        );

        let csv = csv(&report);
        let mut rows = csv::Reader::from_reader(csv.as_bytes());
        let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 42);
        assert!(records.iter().all(|r| &r[0] == "OFFICIAL-SENSITIVE"));

        assert!(
            text.starts_with(
                "OFFICIAL-SENSITIVE\n\nOCSET weekly performance, 2024-W05\n\
                 Mon 29 Jan 2024 to Sun 4 Feb 2024 (Europe/London)\n\n\
                 42 packages open at the week's end (+37 on last week), 0 breached.\n\
                 Due within 48 hours: 0; within 7 days: 0.\n\
                 Enforced within timescale: none enforced in the last 12 weeks.\n\n1. "
            ),
            "{text}"
        );
        assert_eq!(signed_points(16.7), "+16.7");
        assert_eq!(signed_points(-2.0), "-2.0");
        assert_eq!(signed_points(0.0), "0.0");
        let mut timely = report.clone();
        timely.headline.percent_within_twelve_weeks = Some(57.1);
        timely.headline.percent_within_change = Some(0.0);
        assert_eq!(
            headline_lines(&timely)[2],
            "Enforced within timescale: 57.1% over the last 12 weeks (no change on last week)."
        );
        timely.headline.percent_within_change = Some(-4.2);
        assert_eq!(
            headline_lines(&timely)[2],
            "Enforced within timescale: 57.1% over the last 12 weeks (-4.2 points on last week)."
        );

        assert_eq!(
            subject(&report),
            "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 5 2024"
        );
    }

    /// The snapshot report with `n` breaches (its open packages, made
    /// overdue), most overdue first.
    fn with_breaches(n: usize) -> WeeklyReport {
        let mut report = snapshot_report();
        let first = report.open_packages[0].clone();
        report.breaches = (0..n)
            .map(|i| crate::report::OpenPackageLine {
                reference: format!("LATE-{i:03}"),
                days_overdue: Some((n - i) as i64),
                ..first.clone()
            })
            .collect();
        report
    }

    #[test]
    fn a_capped_digest_lists_the_most_overdue_breaches_and_says_how_many_more_and_where() {
        use crate::report::listing::{FullList, ListCap};
        let report = with_breaches(7);
        let cap = ListCap {
            limit: 3,
            rest: FullList::Attached("ocset-weekly-2024-W05.csv.gz".into()),
        };
        let more =
            "… and 4 more; the full list is in the attached file ocset-weekly-2024-W05.csv.gz.";
        let body = text_capped(&report, Some(&cap));
        assert!(
            body.contains("\n3. Breaches at the week's end (7)\n"),
            "{body}"
        );
        for shown in ["LATE-000", "LATE-001", "LATE-002"] {
            assert!(body.contains(&format!("  {shown} | ")), "{shown}: {body}");
        }
        assert!(!body.contains("LATE-003"), "{body}");
        assert!(body.contains(&format!("LATE-002 | {}", report.breaches[2].grade.label())));
        assert!(body.contains(&format!("\n  {more}\n")), "{body}");
        assert!(
            body.starts_with("OFFICIAL-SENSITIVE\n")
                && body.trim_end().ends_with("OFFICIAL-SENSITIVE"),
            "the marking stays"
        );
        let page = html_capped(&report, Some(&cap));
        let table = page
            .split("<table id=\"breaches\"")
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .unwrap();
        assert_eq!(table.matches(">LATE-").count(), 3, "{table}");
        assert!(
            table.contains(&format!("italic\">{}</td></tr>", crate::text::esc(more))),
            "{table}"
        );
        assert_eq!(
            page.matches("OFFICIAL-SENSITIVE").count(),
            3,
            "title, top and bottom"
        );

        // Under the cap, or without one, every breach and no line under them.
        let wide = ListCap { limit: 7, ..cap };
        assert_eq!(text_capped(&report, Some(&wide)), text(&report));
        assert_eq!(html_capped(&report, Some(&wide)), html(&report));
        assert_eq!(text(&report).matches("  LATE-").count(), 7);
    }
}
