//! Renderings of one [`WeeklyReport`]: JSON, CSV, plain text and HTML for
//! email. Each carries the protective marking; none holds more than the
//! model (references, grades, dates, LPAs, officers' work addresses).

use super::{OpenPackageLine, StageTime, WeeklyReport};
use crate::domain::{RiskGrade, Stage};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// The report as pretty JSON.
pub fn json(report: &WeeklyReport) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises")
}

/// One CSV of every open package at the week's end (the breaches are those
/// with `days_overdue`). Every row carries the marking in its first column,
/// so a copied-out row still says what it is.
pub fn csv(report: &WeeklyReport) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "marking",
        "week",
        "reference",
        "risk_grade",
        "stage",
        "lpa",
        "received_at",
        "deadline_at",
        "age_days",
        "breached",
        "days_overdue",
        "assigned_officer",
        "acknowledgement",
    ];
    writer.write_record(header).expect("writing to memory");
    for p in &report.open_packages {
        writer
            .write_record([
                report.marking.clone(),
                report.week.to_string(),
                p.reference.clone(),
                p.grade.as_str().into(),
                p.stage.as_str().into(),
                p.lpa.clone(),
                p.received_at.to_rfc3339(),
                p.deadline_at.to_rfc3339(),
                p.age_days.to_string(),
                p.days_overdue.is_some().to_string(),
                p.days_overdue.map(|d| d.to_string()).unwrap_or_default(),
                p.officer.clone().unwrap_or_default(),
                p.acknowledgement.clone().unwrap_or_default(),
            ])
            .expect("writing to memory");
    }
    String::from_utf8(writer.into_inner().expect("flushing to memory")).expect("CSV is UTF-8")
}

/// The subject line of the digest email.
pub fn subject(report: &WeeklyReport) -> String {
    format!(
        "[{}] OCSET weekly performance, week {} {}",
        report.marking,
        report.week.week(),
        report.week.year()
    )
}

fn local_date(report: &WeeklyReport, at: DateTime<Utc>) -> String {
    let tz: chrono_tz::Tz = report.time_zone.parse().unwrap_or(chrono_tz::UTC);
    at.with_timezone(&tz).format("%a %-d %b %Y").to_string()
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

/// The plain-text report: stands on its own, for the email's text part and
/// the terminal.
pub fn text(report: &WeeklyReport) -> String {
    let mut t = String::new();
    let m = &report.marking;
    let _ = writeln!(t, "{m}\n");
    let _ = writeln!(t, "OCSET weekly performance, {}", report.week);
    let _ = writeln!(t, "{}\n", period(report));
    let _ = writeln!(t, "1. Current position at the week's end");
    for stage in Stage::OPEN {
        let _ = writeln!(t, "\n{} ({} open)", stage.label(), report.open_in(stage));
        let _ = writeln!(
            t,
            "  {:<10} {:>5} {:>7} {:>11} {:>9} {:>9}",
            "grade", "open", "change", "oldest days", "breached", "due 7d"
        );
        for grade in RiskGrade::ALL {
            let l = report.position_of(stage, grade);
            let _ = writeln!(
                t,
                "  {:<10} {:>5} {:>7} {:>11} {:>9} {:>9}",
                grade.label(),
                l.open,
                signed(l.open_change),
                opt(l.oldest_age_days),
                l.breached,
                l.due_within_7_days
            );
        }
    }
    let _ = writeln!(t, "\n2. Flow");
    for (label, f) in [
        ("This week", &report.flow.week),
        ("Last 12 weeks", &report.flow.twelve_weeks),
    ] {
        let _ = writeln!(
            t,
            "\n{label}: received {}, enforced {}, closed {}",
            f.received, f.enforced, f.closed
        );
        for g in &f.by_grade {
            let _ = writeln!(
                t,
                "  {:<10} within timescale {:>3}, late {:>3}, {} within",
                g.grade.label(),
                g.within,
                g.late,
                percent(g.percent_within)
            );
        }
    }
    let _ = writeln!(
        t,
        "\n3. Breaches at the week's end ({})",
        report.breaches.len()
    );
    if report.breaches.is_empty() {
        let _ = writeln!(t, "  none");
    }
    for b in &report.breaches {
        let _ = writeln!(
            t,
            "  {} | {} | {} | {} days overdue | {} | {}",
            b.reference,
            b.grade.label(),
            b.lpa,
            opt(b.days_overdue),
            b.officer.as_deref().unwrap_or("unassigned"),
            b.acknowledgement
                .as_deref()
                .map(|n| format!("acknowledged: {n}"))
                .unwrap_or_else(|| "not acknowledged".into())
        );
    }
    let _ = writeln!(
        t,
        "\n4. Time in each stage (days: median / 90th percentile)"
    );
    let stage_line = |t: &mut String, s: &StageTime| {
        let _ = writeln!(
            t,
            "  {:<26} left {:>3}, median {}, 90th percentile {}",
            s.stage.label(),
            s.left,
            opt(s.median_days),
            opt(s.p90_days)
        );
    };
    let _ = writeln!(t, "This week:");
    report
        .timeliness
        .week
        .iter()
        .for_each(|s| stage_line(&mut t, s));
    let _ = writeln!(t, "Last 12 weeks:");
    report
        .timeliness
        .twelve_weeks
        .iter()
        .for_each(|s| stage_line(&mut t, s));
    let outcomes: Vec<String> = report
        .timeliness
        .outcomes_week
        .iter()
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    let _ = writeln!(
        t,
        "Outcomes this week: {}",
        if outcomes.is_empty() {
            "none".into()
        } else {
            outcomes.join(", ")
        }
    );
    let s = &report.safeguarding;
    let _ = writeln!(
        t,
        "\n5. Safeguarding referrals (target {} hours)",
        s.target_hours
    );
    let _ = writeln!(t, "  child access identified {}, referred within target {}, referred late {}, outstanding {} ({} past target)", s.identified, s.referred_within_target, s.referred_late, s.outstanding, s.outstanding_overdue);
    let _ = writeln!(t, "\n6. By LPA");
    for l in &report.by_lpa {
        let _ = writeln!(
            t,
            "  {:<16} development {:>4}, awaiting enforcement {:>4}, breached {:>4}",
            l.lpa, l.intelligence_development, l.awaiting_enforcement, l.breached
        );
    }
    let _ = writeln!(t, "\n7. Open packages at the end of each week");
    let _ = writeln!(
        t,
        "  {:<9} {:>9} {:>5} {:>7} {:>9} {:>6}",
        "week", "very high", "high", "medium", "standard", "total"
    );
    for p in &report.trend {
        let g = |grade| p.open_by_grade.get(&grade).copied().unwrap_or(0);
        let _ = writeln!(
            t,
            "  {:<9} {:>9} {:>5} {:>7} {:>9} {:>6}",
            p.week.to_string(),
            g(RiskGrade::VeryHigh),
            g(RiskGrade::High),
            g(RiskGrade::Medium),
            g(RiskGrade::Standard),
            p.open
        );
    }
    let _ = writeln!(t, "\n{m}");
    t
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const TABLE: &str =
    "border-collapse:collapse;font-family:Arial,sans-serif;font-size:13px;margin:6px 0 14px 0";
const TH: &str = "border:1px solid #999;background:#e8e8e8;padding:4px 8px;text-align:left";
const TD: &str = "border:1px solid #999;padding:4px 8px";
const TDN: &str = "border:1px solid #999;padding:4px 8px;text-align:right";
const H2: &str = "font-family:Arial,sans-serif;font-size:16px;margin:18px 0 4px 0";

fn row(cells: &[(String, bool)]) -> String {
    let mut r = String::from("<tr>");
    for (cell, numeric) in cells {
        let style = if *numeric { TDN } else { TD };
        let _ = write!(r, "<td style=\"{style}\">{}</td>", esc(cell));
    }
    r.push_str("</tr>");
    r
}

fn head(cells: &[&str]) -> String {
    let mut r = String::from("<tr>");
    for cell in cells {
        let _ = write!(r, "<th style=\"{TH}\">{}</th>", esc(cell));
    }
    r.push_str("</tr>");
    r
}

fn n(value: impl ToString) -> (String, bool) {
    (value.to_string(), true)
}

fn s(value: impl ToString) -> (String, bool) {
    (value.to_string(), false)
}

fn breach_row(b: &OpenPackageLine) -> String {
    row(&[
        s(&b.reference),
        s(b.grade.label()),
        s(&b.lpa),
        n(opt(b.days_overdue)),
        s(b.officer.as_deref().unwrap_or("unassigned")),
        s(b.acknowledgement.as_deref().unwrap_or("")),
    ])
}

/// The HTML report for email: tables with inline styles only (Outlook
/// ignores style sheets) and the 12-week trend as a bar chart made of table
/// cells, which every mail client shows (no SVG, no script, no images).
pub fn html(report: &WeeklyReport) -> String {
    let m = esc(&report.marking);
    let marking = format!("<p style=\"font-family:Arial,sans-serif;font-weight:bold;text-align:center;color:#b00000;margin:4px 0\">{m}</p>");
    let mut h = String::new();
    let _ = write!(h, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{} OCSET weekly performance {}</title></head><body style=\"margin:12px\">", m, report.week);
    h.push_str(&marking);
    let _ = write!(h, "<h1 style=\"font-family:Arial,sans-serif;font-size:20px;margin:8px 0\">OCSET weekly performance, {}</h1><p style=\"font-family:Arial,sans-serif;font-size:13px;margin:0 0 8px 0\">{}</p>", report.week, esc(&period(report)));

    let _ = write!(
        h,
        "<h2 style=\"{H2}\">1. Current position at the week's end</h2>"
    );
    for stage in Stage::OPEN {
        let _ = write!(h, "<table id=\"position-{}\" style=\"{TABLE}\"><caption style=\"text-align:left;font-weight:bold;font-family:Arial,sans-serif;font-size:13px\">{} ({} open)</caption>", stage.as_str(), stage.label(), report.open_in(stage));
        h.push_str(&head(&[
            "Grade",
            "Open",
            "Change on last week",
            "Oldest (days)",
            "Breached",
            "Due within 7 days",
        ]));
        for grade in RiskGrade::ALL {
            let l = report.position_of(stage, grade);
            h.push_str(&row(&[
                s(grade.label()),
                n(l.open),
                n(signed(l.open_change)),
                n(opt(l.oldest_age_days)),
                n(l.breached),
                n(l.due_within_7_days),
            ]));
        }
        h.push_str("</table>");
    }

    let _ = write!(
        h,
        "<h2 style=\"{H2}\">2. Flow</h2><table id=\"flow\" style=\"{TABLE}\">"
    );
    h.push_str(&head(&["Period", "Received", "Enforced", "Closed"]));
    for (label, f) in [
        ("This week", &report.flow.week),
        ("Last 12 weeks", &report.flow.twelve_weeks),
    ] {
        h.push_str(&row(&[s(label), n(f.received), n(f.enforced), n(f.closed)]));
    }
    h.push_str("</table>");
    let _ = write!(h, "<table id=\"within-timescale\" style=\"{TABLE}\">");
    h.push_str(&head(&[
        "Grade",
        "Within timescale (week)",
        "Late (week)",
        "% within (week)",
        "Within (12 weeks)",
        "Late (12 weeks)",
        "% within (12 weeks)",
    ]));
    for (w, t) in report
        .flow
        .week
        .by_grade
        .iter()
        .zip(&report.flow.twelve_weeks.by_grade)
    {
        h.push_str(&row(&[
            s(w.grade.label()),
            n(w.within),
            n(w.late),
            n(percent(w.percent_within)),
            n(t.within),
            n(t.late),
            n(percent(t.percent_within)),
        ]));
    }
    h.push_str("</table>");

    let _ = write!(h, "<h2 style=\"{H2}\">3. Breaches at the week's end ({})</h2><table id=\"breaches\" style=\"{TABLE}\">", report.breaches.len());
    h.push_str(&head(&[
        "Reference",
        "Grade",
        "LPA",
        "Days overdue",
        "Officer",
        "Acknowledgement",
    ]));
    if report.breaches.is_empty() {
        h.push_str(&row(&[s("None"), s(""), s(""), s(""), s(""), s("")]));
    }
    report
        .breaches
        .iter()
        .for_each(|b| h.push_str(&breach_row(b)));
    h.push_str("</table>");

    let _ = write!(h, "<h2 style=\"{H2}\">4. Time in each stage (days)</h2><table id=\"timeliness\" style=\"{TABLE}\">");
    h.push_str(&head(&[
        "Stage",
        "Left (week)",
        "Median (week)",
        "90th percentile (week)",
        "Left (12 weeks)",
        "Median (12 weeks)",
        "90th percentile (12 weeks)",
    ]));
    for (w, t) in report
        .timeliness
        .week
        .iter()
        .zip(&report.timeliness.twelve_weeks)
    {
        h.push_str(&row(&[
            s(w.stage.label()),
            n(w.left),
            n(opt(w.median_days)),
            n(opt(w.p90_days)),
            n(t.left),
            n(opt(t.median_days)),
            n(opt(t.p90_days)),
        ]));
    }
    h.push_str("</table>");
    let _ = write!(h, "<table id=\"outcomes\" style=\"{TABLE}\">");
    h.push_str(&head(&["Outcome", "This week", "Last 12 weeks"]));
    for (outcome, total) in &report.timeliness.outcomes_twelve_weeks {
        let week = report
            .timeliness
            .outcomes_week
            .get(outcome)
            .copied()
            .unwrap_or(0);
        h.push_str(&row(&[
            s(outcome.as_str().replace('_', " ")),
            n(week),
            n(total),
        ]));
    }
    h.push_str("</table>");

    let g = &report.safeguarding;
    let _ = write!(h, "<h2 style=\"{H2}\">5. Safeguarding referrals (target {} hours)</h2><table id=\"safeguarding\" style=\"{TABLE}\">", g.target_hours);
    h.push_str(&head(&[
        "Child access identified",
        "Referred within target",
        "Referred late",
        "Outstanding",
        "Outstanding past target",
    ]));
    h.push_str(&row(&[
        n(g.identified),
        n(g.referred_within_target),
        n(g.referred_late),
        n(g.outstanding),
        n(g.outstanding_overdue),
    ]));
    h.push_str("</table>");

    let _ = write!(
        h,
        "<h2 style=\"{H2}\">6. By LPA</h2><table id=\"by-lpa\" style=\"{TABLE}\">"
    );
    h.push_str(&head(&[
        "LPA",
        "Intelligence development",
        "Awaiting enforcement",
        "Breached",
    ]));
    for l in &report.by_lpa {
        h.push_str(&row(&[
            s(&l.lpa),
            n(l.intelligence_development),
            n(l.awaiting_enforcement),
            n(l.breached),
        ]));
    }
    h.push_str("</table>");

    h.push_str(&trend_chart(report));
    h.push_str(&marking);
    h.push_str("</body></html>");
    h
}

/// Colours per grade, most urgent darkest.
fn colour(grade: RiskGrade) -> &'static str {
    match grade {
        RiskGrade::VeryHigh => "#7a0000",
        RiskGrade::High => "#d04000",
        RiskGrade::Medium => "#e0a000",
        RiskGrade::Standard => "#4a7ab0",
    }
}

/// The 12-week trend as a stacked bar chart of table cells: one row per
/// week, one cell per grade with a width proportional to its count.
fn trend_chart(report: &WeeklyReport) -> String {
    const WIDTH: u64 = 400;
    let max = report
        .trend
        .iter()
        .map(|p| p.open)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut h = format!("<h2 style=\"{H2}\">7. Open packages at the end of each week</h2><table id=\"trend\" style=\"{TABLE}\">");
    h.push_str(&head(&[
        "Week",
        "Open",
        "Very high / high / medium / standard",
    ]));
    for point in &report.trend {
        let mut bar = String::from(
            "<table cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tr>",
        );
        for grade in RiskGrade::ALL {
            let count = point.open_by_grade.get(&grade).copied().unwrap_or(0);
            if count > 0 {
                let width = (count * WIDTH / max).max(2);
                let _ = write!(bar, "<td class=\"bar\" width=\"{width}\" height=\"14\" bgcolor=\"{c}\" style=\"width:{width}px;height:14px;background:{c};font-size:1px;line-height:1px\" title=\"{label} {count}\">&nbsp;</td>", c = colour(grade), label = grade.label());
            }
        }
        bar.push_str("</tr></table>");
        let _ = write!(h, "<tr><td style=\"{TD}\">{}</td><td style=\"{TDN}\">{}</td><td style=\"{TD}\">{bar}</td></tr>", point.week, point.open);
    }
    h.push_str("</table><p style=\"font-family:Arial,sans-serif;font-size:12px;margin:0\">");
    for grade in RiskGrade::ALL {
        let _ = write!(
            h,
            "<span style=\"background:{};color:#fff;padding:1px 6px;margin-right:6px\">{}</span>",
            colour(grade),
            grade.label()
        );
    }
    h.push_str("</p>");
    h
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

    #[test]
    fn the_html_has_the_tables_the_numbers_and_a_table_chart() {
        let report = snapshot_report();
        let page = html(&report);
        assert!(!page.contains("<svg") && !page.contains("<script"));
        assert_eq!(
            page.matches("OFFICIAL-SENSITIVE").count(),
            3,
            "title, top and bottom"
        );
        for id in [
            "position-awaiting_enforcement",
            "position-intelligence_development",
            "flow",
            "within-timescale",
            "breaches",
            "timeliness",
            "safeguarding",
            "by-lpa",
            "trend",
        ] {
            assert!(page.contains(&format!("<table id=\"{id}\"")), "{id}");
        }
        // The awaiting-enforcement table's medium and standard rows.
        let ae = page
            .split("id=\"position-awaiting_enforcement\"")
            .nth(1)
            .unwrap()
            .split("</table>")
            .next()
            .unwrap();
        let cells = |grade: &str| -> Vec<String> {
            let row = ae
                .split("<tr>")
                .find(|r| r.contains(&format!(">{grade}<")))
                .unwrap();
            row.split("<td")
                .skip(1)
                .map(|c| {
                    c.split('>')
                        .nth(1)
                        .unwrap()
                        .split('<')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(cells("Medium"), ["Medium", "5", "+5", "7", "0", "0"]);
        assert_eq!(cells("Standard"), ["Standard", "5", "0", "35", "0", "0"]);
        assert_eq!(cells("Very high"), ["Very high", "0", "0", "-", "0", "0"]);
        // One trend row per week, the last with a bar.
        let trend = page
            .split("id=\"trend\"")
            .nth(1)
            .unwrap()
            .split("</table><p")
            .next()
            .unwrap();
        assert_eq!(
            trend
                .matches("<td style=\"border:1px solid #999;padding:4px 8px\">20")
                .count(),
            12
        );
        assert!(trend.contains("class=\"bar\""));
    }
}
