//! Renderings of one [`CapacityReport`]: JSON, plain text and HTML (inline
//! styles and tables only, as the weekly report's, so it reads in email).
//! Each carries the protective marking. The headline lines are shared
//! with the weekly digest's capacity section ([`digest_lines`]).

use crate::domain::{RiskGrade, Stage};
use crate::report::capacity::{
    CapacityReport, CapacitySummary, CapacityWindow, WindowFigure, SHORT_WEEKS,
};
use crate::report::forecast::{Horizon, Range};
use crate::report::html::{
    self, fixed, group_head, head, note_row, number, row, words, CAPTION, FONT, H2, TABLE, TOTAL,
};
use crate::text::esc;
use std::fmt::Write;

/// The report as pretty JSON.
pub fn json(report: &CapacityReport) -> String {
    serde_json::to_string_pretty(report).expect("the capacity report serialises")
}

fn local(report: &CapacityReport) -> String {
    report
        .generated_at
        .with_timezone(&report.time_zone)
        .format("%a %-d %b %Y %H:%M")
        .to_string()
}

fn mean(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "-".into())
}

fn days(value: Option<f64>) -> String {
    mean(value)
}

/// `central (low–high)`, or the one figure when the range is a point.
pub(crate) fn range(r: &Range) -> String {
    if r.low == r.high {
        r.central.to_string()
    } else {
        format!("{} ({}–{})", r.central, r.low, r.high)
    }
}

fn packages(n: u64) -> &'static str {
    if n == 1 {
        "package"
    } else {
        "packages"
    }
}

/// The few lines a reader needs first: demand and throughput over the
/// last 12 weeks, and the 4-week forecast. The weekly digest's capacity
/// section is these lines.
pub fn digest_lines(report: &CapacityReport) -> Vec<String> {
    summary_lines(&report.summary())
}

/// [`digest_lines`] from the weekly report's capacity section.
pub(crate) fn summary_lines(summary: &CapacitySummary) -> Vec<String> {
    let mut lines = Vec::new();
    let received = CapacityWindow::total(&summary.received);
    let by_grade: Vec<String> = RiskGrade::ALL
        .iter()
        .map(|g| {
            format!(
                "{} {}",
                g.label().to_lowercase(),
                CapacityWindow::of_grade(&summary.received, *g).total
            )
        })
        .collect();
    lines.push(format!(
        "Demand: {} {} received in the last {SHORT_WEEKS} complete weeks ({} a week; {}).",
        received.total,
        packages(received.total),
        mean(received.weekly_mean),
        by_grade.join(", ")
    ));
    lines.push(format!(
        "Throughput: {} enforced ({} a week) and {} closed; {} open now.",
        summary.enforced.total,
        mean(summary.enforced.weekly_mean),
        summary.closed.total,
        summary.open
    ));
    match &summary.forecast_four_weeks {
        Some(h) => {
            let officers = |o: &Option<Range>| {
                o.as_ref()
                    .map(|o| format!(", about {} officers", range(o)))
                    .unwrap_or_default()
            };
            lines.push(format!(
                "Next {} weeks (central, with the 10th–90th percentile range): {} received; {} open at the end if throughput holds; {} expected to breach; to meet every deadline, {} clocks stopped a week{} (from the second week on, once the first week's are stopped, {} a week{}).",
                h.weeks,
                range(&h.arrivals),
                range(&h.open_at_end),
                range(&h.breaches),
                range(&h.needed_per_week),
                officers(&h.officers_needed),
                range(&h.needed_after_first_week),
                officers(&h.officers_after_first_week)
            ));
        }
        None => lines.push("No forecast: the ledger has no complete week of history yet.".into()),
    }
    lines
}

/// Where the whole capacity report is, for the weekly report's section.
const WHOLE_REPORT: &str = "The whole capacity report, with how the forecast is made: the dashboard's Capacity page, `ocset-scheduler capacity`, or GET /api/v1/reports/capacity.";

/// The weekly report's capacity section as plain text (the digest's).
pub(crate) fn weekly_section_text(summary: &CapacitySummary, period_noun: &str) -> String {
    let mut t = format!("\nCapacity and demand (as at the {period_noun}'s end)\n");
    for line in summary_lines(summary) {
        let _ = writeln!(t, "  {line}");
    }
    let _ = writeln!(t, "  {WHOLE_REPORT}");
    t
}

/// The weekly report's capacity section as email HTML.
pub(crate) fn weekly_section_html(summary: &CapacitySummary, period_noun: &str) -> String {
    let mut h = format!(
        "<h2 style=\"{H2}\">Capacity and demand (as at the {period_noun}'s end)</h2><div id=\"capacity\">"
    );
    for line in summary_lines(summary)
        .iter()
        .chain([&WHOLE_REPORT.to_string()])
    {
        let _ = write!(
            h,
            "<p style=\"{FONT};font-size:13px;margin:2px 0\">{}</p>",
            esc(line)
        );
    }
    h.push_str("</div>");
    h
}

fn window_rows(figures: &[WindowFigure]) -> Vec<(String, &WindowFigure)> {
    RiskGrade::ALL
        .iter()
        .map(|g| (g.label().to_string(), CapacityWindow::of_grade(figures, *g)))
        .chain([("All grades".to_string(), CapacityWindow::total(figures))])
        .collect()
}

/// The forecast's rows: a label and the figure for each horizon.
fn forecast_rows(horizons: &[Horizon]) -> Vec<(String, Vec<String>)> {
    let mut rows: Vec<(String, Vec<String>)> = RiskGrade::ALL
        .iter()
        .enumerate()
        .map(|(i, g)| {
            (
                format!("Received: {}", g.label().to_lowercase()),
                horizons
                    .iter()
                    .map(|h| range(&h.arrivals_by_grade[i].arrivals))
                    .collect(),
            )
        })
        .collect();
    let each = |f: &dyn Fn(&Horizon) -> String| horizons.iter().map(f).collect::<Vec<_>>();
    rows.push(("Received: all grades".into(), each(&|h| range(&h.arrivals))));
    rows.push((
        "Clocks stopped (enforced or closed)".into(),
        each(&|h| range(&h.stops)),
    ));
    rows.push((
        "Open at the end, if throughput holds".into(),
        each(&|h| range(&h.open_at_end)),
    ));
    rows.push(("Expected to breach".into(), each(&|h| range(&h.breaches))));
    rows.push((
        "Needed per week to meet every deadline".into(),
        each(&|h| range(&h.needed_per_week)),
    ));
    rows.push((
        "Officers needed at the median rate".into(),
        each(&|h| h.officers_needed.as_ref().map(range).unwrap_or("-".into())),
    ));
    rows.push((
        "Needed per week after the first".into(),
        each(&|h| range(&h.needed_after_first_week)),
    ));
    rows.push((
        "Officers needed after the first week".into(),
        each(&|h| {
            h.officers_after_first_week
                .as_ref()
                .map(range)
                .unwrap_or("-".into())
        }),
    ));
    rows
}

/// The report as plain text, in columns.
pub fn text(report: &CapacityReport) -> String {
    let mut t = String::new();
    let m = &report.marking;
    let _ = writeln!(t, "{m}\n");
    let _ = writeln!(
        t,
        "OCSET capacity and demand, at {} ({})",
        local(report),
        report.time_zone
    );
    let _ = writeln!(
        t,
        "Complete weeks to {}; the ledger reaches back {} of the last 52.\n",
        report.last_complete_week, report.history_weeks
    );
    for line in digest_lines(report) {
        let _ = writeln!(t, "{line}");
    }

    let windows: Vec<&CapacityWindow> = report.windows.iter().collect();
    let header = |t: &mut String, first: &str| {
        let _ = write!(t, "  {first:<22}");
        for w in &windows {
            let _ = write!(t, " {:>9} {:>7}", format!("{} wks", w.weeks), "a week");
        }
        t.push('\n');
    };
    let figure_table = |t: &mut String, pick: &dyn Fn(&CapacityWindow) -> &[WindowFigure]| {
        header(t, "grade");
        for (i, g) in RiskGrade::ALL.iter().map(Some).chain([None]).enumerate() {
            let label = g.map(|g| g.label()).unwrap_or("All grades");
            let _ = write!(t, "  {label:<22}");
            for w in &windows {
                let f = &window_rows(pick(w))[i].1;
                let _ = write!(t, " {:>9} {:>7}", f.total, mean(f.weekly_mean));
            }
            t.push('\n');
        }
    };
    let _ = writeln!(t, "\n1. Demand: packages received (grade on receipt)");
    figure_table(&mut t, &|w| &w.received);
    let _ = writeln!(
        t,
        "\n2. Throughput: packages enforced (grade when enforced)"
    );
    figure_table(&mut t, &|w| &w.enforced);
    let _ = write!(t, "  {:<22}", "Closed, not enforced");
    for w in &windows {
        let _ = write!(
            t,
            " {:>9} {:>7}",
            w.closed.total,
            mean(w.closed.weekly_mean)
        );
    }
    t.push('\n');
    for w in &windows {
        let _ = writeln!(
            t,
            "  ({} weeks: {} to {}, {} of them in the ledger's history)",
            w.weeks, w.first_week, w.last_week, w.weeks_with_history
        );
    }

    let _ = writeln!(
        t,
        "\n3. Time in each queue, in days (stays that ended in the window)"
    );
    for stage in Stage::OPEN {
        let _ = writeln!(t, "\n{}", stage.label());
        let _ = write!(t, "  {:<10}", "grade");
        for w in &windows {
            let _ = write!(
                t,
                " {:>8} {:>7} {:>7}",
                format!("{}w left", w.weeks),
                "median",
                "p90"
            );
        }
        t.push('\n');
        for grade in RiskGrade::ALL {
            let _ = write!(t, "  {:<10}", grade.label());
            for w in &windows {
                let s = w
                    .stage_times
                    .iter()
                    .find(|s| s.stage == stage && s.grade == grade)
                    .expect("a line per stage and grade");
                let _ = write!(
                    t,
                    " {:>8} {:>7} {:>7}",
                    s.stays,
                    days(s.median_days),
                    days(s.p90_days)
                );
            }
            t.push('\n');
        }
    }

    let _ = writeln!(
        t,
        "\n4. Officers (open now; clocks stopped in the last 12 weeks)"
    );
    if report.officers.is_empty() {
        let _ = writeln!(t, "  None.");
    } else {
        let width = report
            .officers
            .iter()
            .map(|o| o.officer.chars().count())
            .max()
            .unwrap_or(0)
            .max("officer".len());
        let _ = writeln!(
            t,
            "  {:<width$} {:>5} {:>13} {:>11} {:>27}",
            "officer", "open", "enforced 12w", "closed 12w", "median days to enforcement"
        );
        for o in &report.officers {
            let _ = writeln!(
                t,
                "  {:<width$} {:>5} {:>13} {:>11} {:>27}",
                o.officer,
                o.open,
                o.enforced_twelve_weeks,
                o.closed_twelve_weeks,
                days(o.median_days_to_enforcement)
            );
        }
    }
    let _ = writeln!(t, "  Unassigned open packages: {}", report.unassigned_open);

    let _ = writeln!(t, "\n5. The last 12 weeks");
    let recent = &report.weeks[report.weeks.len().saturating_sub(SHORT_WEEKS as usize)..];
    let _ = write!(t, "  {:<9}", "week");
    for g in RiskGrade::ALL {
        let _ = write!(t, " {:>9}", g.label());
    }
    let _ = writeln!(t, " {:>9} {:>9} {:>7}", "received", "enforced", "closed");
    for w in recent {
        let _ = write!(t, "  {:<9}", w.week.to_string());
        for g in RiskGrade::ALL {
            let _ = write!(t, " {:>9}", w.received_by_grade[&g]);
        }
        let _ = writeln!(t, " {:>9} {:>9} {:>7}", w.received, w.enforced, w.closed);
    }

    let _ = writeln!(t, "\n6. Forecast");
    match &report.forecast {
        Some(f) => {
            let _ = write!(t, "  {:<40}", "central (10th–90th percentile)");
            for h in &f.horizons {
                let _ = write!(t, " {:>16}", format!("next {} weeks", h.weeks));
            }
            t.push('\n');
            for (label, cells) in forecast_rows(&f.horizons) {
                let _ = write!(t, "  {label:<40}");
                for c in cells {
                    let _ = write!(t, " {c:>16}");
                }
                t.push('\n');
            }
            let _ = writeln!(
                t,
                "  Already past their deadline now: {}. Median officer rate: {} clocks stopped a week.",
                f.already_breached,
                mean(f.officer_rate)
            );
        }
        None => {
            let _ = writeln!(t, "  None.");
        }
    }
    let _ = writeln!(t, "\nHow the forecast is made");
    for line in wrap(&report.method, 76) {
        let _ = writeln!(t, "  {line}");
    }
    let _ = writeln!(t, "\n{m}");
    t
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// How a total row stands out.
/// The report's body as HTML (headings and tables, inline styles), for a
/// page or an email: everything but the document's head and the marking.
fn html_body(report: &CapacityReport) -> String {
    let mut h = String::new();
    h.push_str("<div id=\"capacity-headline\" style=\"border-left:4px solid #1d4f91;padding:2px 0 2px 10px;margin:8px 0 12px 0\">");
    for line in digest_lines(report) {
        let _ = write!(
            h,
            "<p style=\"{FONT};font-size:15px;margin:2px 0\">{}</p>",
            esc(&line)
        );
    }
    h.push_str("</div>");

    let windows: Vec<&CapacityWindow> = report.windows.iter().collect();
    let groups: Vec<(String, usize)> = std::iter::once((String::new(), 1))
        .chain(windows.iter().map(|w| {
            (
                format!(
                    "Last {} weeks ({} to {})",
                    w.weeks, w.first_week, w.last_week
                ),
                2,
            )
        }))
        .collect();
    let group_refs: Vec<(&str, usize)> = groups.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let figures = |h: &mut String,
                   id: &str,
                   title: &str,
                   pick: &dyn Fn(&CapacityWindow) -> &[WindowFigure]| {
        let _ = write!(
            h,
            "<table id=\"{id}\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">{}</caption>",
            esc(title)
        );
        h.push_str(&group_head(&group_refs));
        let mut cells = vec![words("Grade")];
        for _ in &windows {
            cells.push(number("Total"));
            cells.push(number("A week"));
        }
        h.push_str(&head(&cells));
        for (i, g) in RiskGrade::ALL.iter().map(Some).chain([None]).enumerate() {
            let label = g.map(|g| g.label()).unwrap_or("All grades");
            let mut cells = vec![fixed(label)];
            for w in &windows {
                let f = window_rows(pick(w))[i].1;
                cells.push(number(f.total));
                cells.push(number(mean(f.weekly_mean)));
            }
            h.push_str(&row(&cells, if g.is_none() { TOTAL } else { "" }));
        }
        h.push_str("</table>");
    };
    let _ = write!(h, "<h2 style=\"{H2}\">1. Demand and throughput</h2>");
    figures(
        &mut h,
        "capacity-received",
        "Packages received, by grade on receipt",
        &|w| &w.received,
    );
    figures(
        &mut h,
        "capacity-enforced",
        "Packages enforced (throughput), by grade when enforced",
        &|w| &w.enforced,
    );
    let closed: Vec<String> = windows
        .iter()
        .map(|w| {
            format!(
                "{} in the last {} weeks ({} a week)",
                w.closed.total,
                w.weeks,
                mean(w.closed.weekly_mean)
            )
        })
        .collect();
    let _ = write!(
        h,
        "<p style=\"{FONT};font-size:13px\">Closed without enforcement: {}. The ledger reaches back {} of the last 52 complete weeks.</p>",
        esc(&closed.join("; ")),
        report.history_weeks
    );

    let _ = write!(
        h,
        "<h2 style=\"{H2}\">2. Time in each queue (days, stays that ended in the window)</h2>"
    );
    for stage in Stage::OPEN {
        let _ = write!(
            h,
            "<table id=\"capacity-time-{}\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">{}</caption>",
            stage.as_str(),
            stage.label()
        );
        h.push_str(&group_head(
            &groups
                .iter()
                .map(|(t, n)| (t.as_str(), if *n == 2 { 3 } else { 1 }))
                .collect::<Vec<_>>(),
        ));
        let mut cells = vec![words("Grade")];
        for _ in &windows {
            cells.extend([number("Left"), number("Median"), number("90th percentile")]);
        }
        h.push_str(&head(&cells));
        for grade in RiskGrade::ALL {
            let mut cells = vec![fixed(grade.label())];
            for w in &windows {
                let s = w
                    .stage_times
                    .iter()
                    .find(|s| s.stage == stage && s.grade == grade)
                    .expect("a line per stage and grade");
                cells.extend([
                    number(s.stays),
                    number(days(s.median_days)),
                    number(days(s.p90_days)),
                ]);
            }
            h.push_str(&row(&cells, ""));
        }
        h.push_str("</table>");
    }

    let _ = write!(h, "<h2 style=\"{H2}\">3. Officers</h2>");
    let _ = write!(
        h,
        "<table id=\"capacity-officers\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Open packages now, and clocks stopped in the last 12 weeks, per assigned officer</caption>"
    );
    h.push_str(&head(&[
        words("Officer"),
        number("Open now"),
        number("Enforced (12 weeks)"),
        number("Closed (12 weeks)"),
        number("Median days to enforcement"),
    ]));
    if report.officers.is_empty() {
        h.push_str(&note_row("None.", 5));
    }
    for o in &report.officers {
        h.push_str(&row(
            &[
                words(&o.officer),
                number(o.open),
                number(o.enforced_twelve_weeks),
                number(o.closed_twelve_weeks),
                number(days(o.median_days_to_enforcement)),
            ],
            "",
        ));
    }
    h.push_str(&row(
        &[
            words("Unassigned"),
            number(report.unassigned_open),
            fixed(""),
            fixed(""),
            fixed(""),
        ],
        TOTAL,
    ));
    h.push_str("</table>");

    let _ = write!(h, "<h2 style=\"{H2}\">4. The last 12 weeks</h2>");
    let _ = write!(
        h,
        "<table id=\"capacity-weeks\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Received per grade, enforced and closed, per complete week</caption>"
    );
    let mut cells = vec![fixed("Week")];
    cells.extend(RiskGrade::ALL.iter().map(|g| number(g.label())));
    cells.extend([number("Received"), number("Enforced"), number("Closed")]);
    h.push_str(&head(&cells));
    let recent = &report.weeks[report.weeks.len().saturating_sub(SHORT_WEEKS as usize)..];
    for w in recent {
        let mut cells = vec![fixed(w.week)];
        cells.extend(
            RiskGrade::ALL
                .iter()
                .map(|g| number(w.received_by_grade[g])),
        );
        cells.extend([number(w.received), number(w.enforced), number(w.closed)]);
        h.push_str(&row(&cells, ""));
    }
    h.push_str("</table>");

    let _ = write!(h, "<h2 style=\"{H2}\">5. Forecast</h2>");
    match &report.forecast {
        Some(f) => {
            let _ = write!(
                h,
                "<table id=\"capacity-forecast\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Central figure (10th–90th percentile) over {} simulated futures</caption>",
                f.runs
            );
            let mut cells = vec![words("Figure")];
            cells.extend(
                f.horizons
                    .iter()
                    .map(|h| number(format!("Next {} weeks", h.weeks))),
            );
            h.push_str(&head(&cells));
            for (label, values) in forecast_rows(&f.horizons) {
                let mut cells = vec![words(label)];
                cells.extend(values.into_iter().map(number));
                h.push_str(&row(&cells, ""));
            }
            h.push_str("</table>");
            let _ = write!(
                h,
                "<p style=\"{FONT};font-size:13px\">Already past their deadline now: {}. Median officer rate: {} clocks stopped a week.</p>",
                f.already_breached,
                mean(f.officer_rate)
            );
        }
        None => {
            let _ = write!(h, "<p style=\"{FONT};font-size:13px\">None.</p>");
        }
    }
    let _ = write!(
        h,
        "<h3 style=\"{FONT};font-size:14px;margin:12px 0 4px 0\">How the forecast is made</h3><p id=\"capacity-method\" style=\"{FONT};font-size:13px;max-width:48em\">{}</p>",
        esc(&report.method)
    );
    h
}

/// The report as a whole HTML document for email or download.
pub fn html(report: &CapacityReport) -> String {
    let marking = html::marking(&report.marking);
    let mut h = String::new();
    let _ = write!(h, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} OCSET capacity and demand</title></head><body style=\"margin:12px\">", esc(&report.marking));
    h.push_str(&marking);
    let _ = write!(
        h,
        "<h1 style=\"{FONT};font-size:20px;margin:8px 0\">OCSET capacity and demand</h1><p style=\"{FONT};font-size:13px;margin:0 0 8px 0\">At {} ({}); complete weeks to {}.</p>",
        esc(&local(report)),
        report.time_zone,
        report.last_complete_week
    );
    h.push_str(&html_body(report));
    h.push_str(&marking);
    h.push_str("</body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::capacity::CapacityParams;
    use crate::report::html::row_cells;
    use crate::store::LedgerEvent;
    use chrono_tz::Europe::London;

    fn empty() -> CapacityReport {
        let events: Vec<LedgerEvent> = Vec::new();
        CapacityReport::build(
            &events,
            "2024-03-06T12:00:00Z".parse().unwrap(),
            &CapacityParams::new(London, "OFFICIAL-SENSITIVE", Default::default()),
        )
    }

    #[test]
    fn an_empty_ledger_renders_with_no_forecast_said_plainly() {
        let r = empty();
        let text = text(&r);
        assert!(text.starts_with("OFFICIAL-SENSITIVE\n"), "{text}");
        assert!(text.trim_end().ends_with("OFFICIAL-SENSITIVE"));
        assert!(
            text.contains("No forecast: the ledger has no complete week"),
            "{text}"
        );
        assert!(
            text.contains("Demand: 0 packages received in the last 12 complete weeks (- a week"),
            "{text}"
        );
        let page = html(&r);
        assert!(page.contains("id=\"capacity-method\""));
        assert_eq!(row_cells(&page, "All grades")[1], "0");
        let json: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert!(json["forecast"].is_null());
        assert_eq!(json["time_zone"], "Europe/London");
    }

    #[test]
    fn the_weekly_report_carries_the_capacity_section_at_the_weeks_end() {
        use crate::report::tests_support::snapshot_report;
        let weekly = snapshot_report();
        // DOMAIN.md's snapshot: the 10 packages awaiting enforcement were
        // received within 35 days of W05's end, and nothing was enforced.
        let received = CapacityWindow::total(&weekly.capacity.received);
        assert!(received.total >= 10, "{received:?}");
        assert_eq!(weekly.capacity.enforced.total, 0);
        let text = crate::report::render::text(&weekly);
        let section = weekly_section_text(&weekly.capacity, "week");
        assert!(text.contains(&section), "{text}");
        assert!(
            section.contains(&format!(
                "Demand: {} packages received in the last 12 complete weeks",
                received.total
            )),
            "{section}"
        );
        assert!(section.contains("Next 4 weeks"), "{section}");
        // The marking still closes the text.
        assert!(text.trim_end().ends_with("OFFICIAL-SENSITIVE"));
        let html = crate::report::render::html(&weekly);
        assert!(html.contains("<div id=\"capacity\">"), "{html}");
        let json: serde_json::Value =
            serde_json::from_str(&crate::report::render::json(&weekly)).unwrap();
        assert_eq!(json["capacity"]["received"][4]["total"], received.total);
    }

    #[test]
    fn ranges_read_central_then_low_to_high() {
        assert_eq!(
            range(&Range {
                low: 3,
                central: 5,
                high: 9
            }),
            "5 (3–9)"
        );
        assert_eq!(
            range(&Range {
                low: 4,
                central: 4,
                high: 4
            }),
            "4"
        );
    }

    #[test]
    fn long_text_wraps_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("", 5), Vec::<String>::new());
    }
}
