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

mod csv_file;
mod html_page;
mod text_page;

pub use csv_file::csv;
pub use html_page::{html, TREND_BAR_MAX_PX};
pub(crate) use text_page::text;

use super::{IsoWeek, WeeklyReport};
use crate::domain::Outcome;
use chrono::{DateTime, Utc};

/// The report as pretty JSON.
pub fn json(report: &WeeklyReport) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises")
}

/// The subject line of the digest email.
pub(crate) fn subject(report: &WeeklyReport) -> String {
    format!(
        "[{}] OCSET weekly performance, week {} {}",
        report.marking,
        report.week.week(),
        report.week.year()
    )
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

fn signed(value: i64) -> String {
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

/// The last day of `week` in the force time zone: "Sun 22 Nov 2026".
fn week_ending(report: &WeeklyReport, week: IsoWeek) -> String {
    local_date(
        report,
        week.ends_at(report.time_zone) - chrono::Duration::seconds(1),
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

        assert_eq!(
            subject(&report),
            "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 5 2024"
        );
    }
}
