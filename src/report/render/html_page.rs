//! The weekly report as HTML for email: inline styles and tables only.

use super::{ending, headline_lines, local_date, noun, opt, outcome_label, percent, period};
use super::{period_ending, signed, this_period, title, window};
use crate::domain::{RiskGrade, Stage};
use crate::report::html::{
    self, fixed, group_head, head, note_row, number, raw_cell, row, tds, words, CAPTION, FONT, H2,
    TABLE, TOTAL,
};
use crate::report::listing::ListCap;
use crate::report::{LpaLine, OpenPackageLine, PositionLine, ReasonLine, WeeklyReport};
use crate::text::esc;
use std::fmt::Write;

fn breach_row(report: &WeeklyReport, b: &OpenPackageLine) -> String {
    row(
        &[
            fixed(&b.reference),
            fixed(b.grade.label()),
            words(&b.lpa),
            words(b.stage.label()),
            fixed(local_date(report, b.deadline_at)),
            number(opt(b.days_overdue)),
            words(b.officer.as_deref().unwrap_or("Unassigned")),
            words(b.acknowledged().as_deref().unwrap_or("Not acknowledged")),
        ],
        "",
    )
}

/// The HTML report for email: tables with inline styles only (Outlook
/// ignores style sheets) and the 12-week trend as a bar chart made of table
/// cells, which every mail client shows (no SVG, no script, no images).
/// Every table has an `id` and a heading or caption that says what it is.
pub fn html(report: &WeeklyReport) -> String {
    html_capped(report, None)
}

/// [`html()`], its breaches listed up to `cap` (a digest's body), with a
/// row saying how many more there are and where.
pub(crate) fn html_capped(report: &WeeklyReport, cap: Option<&ListCap>) -> String {
    let marking = html::marking(&report.marking);
    let mut h = String::new();
    let (noun, this, window) = (noun(report), this_period(report), window(report));
    let _ = write!(h, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{} {} {}</title></head><body style=\"margin:12px\">", esc(&report.marking), title(report), report.period);
    h.push_str(&marking);
    let _ = write!(h, "<h1 style=\"{FONT};font-size:20px;margin:8px 0\">{}, {}</h1><p style=\"{FONT};font-size:13px;margin:0 0 8px 0\">{}</p>", title(report), report.period, esc(&period(report)));
    // The answer first, before any table: three lines in words.
    h.push_str("<div id=\"headline\" style=\"border-left:4px solid #1d4f91;padding:2px 0 2px 10px;margin:8px 0 12px 0\">");
    for (i, line) in headline_lines(report).iter().enumerate() {
        let weight = if i == 0 { ";font-weight:bold" } else { "" };
        let _ = write!(
            h,
            "<p style=\"{FONT};font-size:15px;margin:2px 0{weight}\">{}</p>",
            esc(line)
        );
    }
    h.push_str("</div>");

    let _ = write!(
        h,
        "<h2 style=\"{H2}\">1. Open packages at the {noun}'s end</h2>"
    );
    for stage in Stage::OPEN {
        let _ = write!(
            h,
            "<table id=\"position-{}\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">{} ({} open)</caption>",
            stage.as_str(),
            stage.label(),
            report.open_in(stage)
        );
        h.push_str(&head(&[
            words("Grade"),
            number("Open"),
            number(format!("Change on last {noun}")),
            number("Oldest (days since receipt)"),
            number("Breached"),
            number("Due within 7 days"),
        ]));
        let lines: Vec<_> = RiskGrade::ALL
            .iter()
            .map(|grade| report.position_of(stage, *grade))
            .collect();
        for l in &lines {
            h.push_str(&row(
                &[
                    fixed(l.grade.label()),
                    number(l.open),
                    number(signed(l.open_change)),
                    number(opt(l.oldest_age_days)),
                    number(l.breached),
                    number(l.due_within_7_days),
                ],
                "",
            ));
        }
        let sum = |f: fn(&PositionLine) -> u64| lines.iter().map(|l| f(l)).sum::<u64>();
        h.push_str(&row(
            &[
                fixed("Total"),
                number(sum(|l| l.open)),
                number(signed(lines.iter().map(|l| l.open_change).sum())),
                number(opt(lines.iter().filter_map(|l| l.oldest_age_days).max())),
                number(sum(|l| l.breached)),
                number(sum(|l| l.due_within_7_days)),
            ],
            TOTAL,
        ));
        h.push_str("</table>");
    }

    let _ = write!(
        h,
        "<h2 style=\"{H2}\">2. Packages received, enforced and closed</h2><table id=\"flow\" style=\"{TABLE}\">"
    );
    h.push_str(&head(&[
        words("Period"),
        number("Received"),
        number("Enforced"),
        number("Closed without enforcement"),
    ]));
    for (label, f) in [
        (&this, &report.flow.week),
        (&window, &report.flow.twelve_weeks),
    ] {
        h.push_str(&row(
            &[
                fixed(label),
                number(f.received),
                number(f.enforced),
                number(f.closed),
            ],
            "",
        ));
    }
    h.push_str("</table>");
    let _ = write!(h, "<table id=\"within-timescale\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Enforced within the national timescale, by grade at enforcement</caption>");
    h.push_str(&group_head(&[
        ("", 1),
        (this.as_str(), 3),
        (window.as_str(), 3),
    ]));
    h.push_str(&head(&[
        words("Grade"),
        number("Within timescale"),
        number("Late"),
        number("% within"),
        number("Within timescale"),
        number("Late"),
        number("% within"),
    ]));
    for (w, t) in report
        .flow
        .week
        .by_grade
        .iter()
        .zip(&report.flow.twelve_weeks.by_grade)
    {
        h.push_str(&row(
            &[
                fixed(w.grade.label()),
                number(w.within),
                number(w.late),
                number(percent(w.percent_within)),
                number(t.within),
                number(t.late),
                number(percent(t.percent_within)),
            ],
            "",
        ));
    }
    h.push_str("</table>");

    let _ = write!(h, "<h2 style=\"{H2}\">3. Packages past their deadline at the {noun}'s end ({})</h2><table id=\"breaches\" style=\"{TABLE}\">", report.breaches.len());
    h.push_str(&head(&[
        words("Reference"),
        words("Grade"),
        words("LPA"),
        words("Stage"),
        words("Deadline"),
        number("Days overdue"),
        words("Officer"),
        words("Acknowledgement"),
    ]));
    if report.breaches.is_empty() {
        h.push_str(&note_row("None", 8));
    }
    ListCap::shown(cap, &report.breaches)
        .iter()
        .for_each(|b| h.push_str(&breach_row(report, b)));
    if let Some(more) = ListCap::more_row(cap, report.breaches.len(), 8) {
        h.push_str(&more);
    }
    h.push_str("</table>");

    let _ = write!(h, "<h2 style=\"{H2}\">4. Time in each stage</h2><table id=\"timeliness\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Days spent in the stage by the packages that left it</caption>");
    h.push_str(&group_head(&[
        ("", 1),
        (this.as_str(), 3),
        (window.as_str(), 3),
    ]));
    h.push_str(&head(&[
        words("Stage"),
        number("Packages that left it"),
        number("Median days"),
        number("90th percentile days"),
        number("Packages that left it"),
        number("Median days"),
        number("90th percentile days"),
    ]));
    for (w, t) in report
        .timeliness
        .week
        .iter()
        .zip(&report.timeliness.twelve_weeks)
    {
        h.push_str(&row(
            &[
                words(w.stage.label()),
                number(w.left),
                number(opt(w.median_days)),
                number(opt(w.p90_days)),
                number(t.left),
                number(opt(t.median_days)),
                number(opt(t.p90_days)),
            ],
            "",
        ));
    }
    h.push_str("</table>");
    let _ = write!(h, "<table id=\"outcomes\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Outcomes of the packages enforced or closed</caption>");
    h.push_str(&head(&[words("Outcome"), number(&this), number(&window)]));
    if report.timeliness.outcomes_twelve_weeks.is_empty() {
        h.push_str(&note_row("None", 3));
    }
    for (outcome, total) in &report.timeliness.outcomes_twelve_weeks {
        let week = report
            .timeliness
            .outcomes_week
            .get(outcome)
            .copied()
            .unwrap_or(0);
        h.push_str(&row(
            &[words(outcome_label(*outcome)), number(week), number(total)],
            "",
        ));
    }
    h.push_str("</table>");

    let g = &report.safeguarding;
    let _ = write!(h, "<h2 style=\"{H2}\">5. Safeguarding referrals</h2><table id=\"safeguarding\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Referrals to children's social services, due within {} hours of a suspect's access to a child being identified</caption>", g.target_hours);
    h.push_str(&head(&[
        number(format!("Child access identified this {noun}")),
        number(format!("Referred within target this {noun}")),
        number(format!("Referred late this {noun}")),
        number(format!("Not yet referred at the {noun}'s end")),
        number("Of which past target"),
    ]));
    h.push_str(&row(
        &[
            number(g.identified),
            number(g.referred_within_target),
            number(g.referred_late),
            number(g.outstanding),
            number(g.outstanding_overdue),
        ],
        "",
    ));
    h.push_str("</table>");

    let _ = write!(
        h,
        "<h2 style=\"{H2}\">6. Open packages by LPA at the {noun}'s end</h2><table id=\"by-lpa\" style=\"{TABLE}\">"
    );
    h.push_str(&head(&[
        words("LPA"),
        number("Intelligence development"),
        number("Awaiting enforcement"),
        number("Breached"),
    ]));
    for l in &report.by_lpa {
        h.push_str(&row(
            &[
                words(&l.lpa),
                number(l.intelligence_development),
                number(l.awaiting_enforcement),
                number(l.breached),
            ],
            "",
        ));
    }
    let sum = |f: fn(&LpaLine) -> u64| report.by_lpa.iter().map(f).sum::<u64>();
    h.push_str(&row(
        &[
            words("Total"),
            number(sum(|l| l.intelligence_development)),
            number(sum(|l| l.awaiting_enforcement)),
            number(sum(|l| l.breached)),
        ],
        TOTAL,
    ));
    h.push_str("</table>");

    h.push_str(&trend_chart(report));
    h.push_str(&within_chart(report));
    h.push_str(&reasons_table(report));
    h.push_str(&reviews_table(report));
    h.push_str(&super::comparison::html(report, 11));
    h.push_str(&super::capacity::weekly_section_html(
        &report.capacity,
        super::noun(report),
    ));
    h.push_str(&marking);
    h.push_str("</body></html>");
    h
}

/// Risk reviews per grade: due in the week, done on time, done late,
/// overdue at the week's end, with a total row.
fn reviews_table(report: &WeeklyReport) -> String {
    let mut h = String::new();
    let noun = super::noun(report);
    let _ = write!(
        h,
        "<h2 style=\"{H2}\">10. Risk reviews</h2><table id=\"reviews\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Reviews of each open package's risk, at its grade's interval: due this {noun}, done this {noun} on time or late, and overdue at the {noun}'s end</caption>"
    );
    h.push_str(&head(&[
        words("Grade"),
        number(format!("Due this {noun}")),
        number("Done on time"),
        number("Done late"),
        number(format!("Overdue at the {noun}'s end")),
    ]));
    for l in &report.reviews {
        h.push_str(&row(
            &[
                words(l.grade.label()),
                number(l.due),
                number(l.done_on_time),
                number(l.done_late),
                number(l.overdue_at_end),
            ],
            "",
        ));
    }
    let sum = |f: fn(&crate::report::reviews::ReviewLine) -> u64| {
        report.reviews.iter().map(f).sum::<u64>()
    };
    h.push_str(&row(
        &[
            words("Total"),
            number(sum(|l| l.due)),
            number(sum(|l| l.done_on_time)),
            number(sum(|l| l.done_late)),
            number(sum(|l| l.overdue_at_end)),
        ],
        TOTAL,
    ));
    h.push_str("</table>");
    h
}

/// Why deadlines were missed: per reason, the breaches acknowledged in the
/// week and the packages enforced late in it, with a total row.
fn reasons_table(report: &WeeklyReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<h2 style=\"{H2}\">9. Why deadlines were missed</h2><table id=\"breach-reasons\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">The reason a supervisor gave when acknowledging each breach; \"Not given\" when the breach was not acknowledged or no reason was recorded</caption>"
    );
    h.push_str(&head(&[
        words("Reason"),
        number(format!("Breaches acknowledged this {}", noun(report))),
        number(format!("Enforced late this {}", noun(report))),
    ]));
    for l in &report.breach_reasons {
        h.push_str(&row(
            &[
                words(&l.label),
                number(l.acknowledged),
                number(l.enforced_late),
            ],
            "",
        ));
    }
    let sum = |f: fn(&ReasonLine) -> u64| report.breach_reasons.iter().map(f).sum::<u64>();
    h.push_str(&row(
        &[
            words("Total"),
            number(sum(|l| l.acknowledged)),
            number(sum(|l| l.enforced_late)),
        ],
        TOTAL,
    ));
    h.push_str("</table>");
    h
}

/// The trend chart's longest bar (the week with the most open packages),
/// in pixels. Each grade's part of a week's bar is
/// `count * TREND_BAR_MAX_PX / most open in any week` wide (at least 2).
pub const TREND_BAR_MAX_PX: u64 = 300;

/// The 12-week trend: one row per week with the counts per grade, the
/// total, and a stacked bar made of table cells, one cell per grade with a
/// width proportional to its count.
fn trend_chart(report: &WeeklyReport) -> String {
    let max = report
        .trend
        .iter()
        .map(|p| p.open)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut h = format!(
        "<h2 style=\"{H2}\">7. Open packages at the end of each of the last {} {}s</h2>",
        report.trend.len(),
        noun(report)
    );
    // The key, as coloured cells: Outlook drops the background of a span.
    let _ = write!(
        h,
        "<table id=\"trend-key\" cellpadding=\"0\" cellspacing=\"0\" style=\"{FONT};font-size:12px;margin:4px 0\"><tr>"
    );
    for grade in RiskGrade::ALL {
        let _ = write!(
            h,
            "<td width=\"12\" bgcolor=\"{c}\" style=\"width:12px;background:{c}\">&nbsp;</td><td style=\"padding:0 12px 0 4px\">{}</td>",
            grade.label(),
            c = grade.chart_colour()
        );
    }
    let _ = write!(h, "</tr></table><table id=\"trend\" style=\"{TABLE}\">");
    let mut header = vec![words(ending(report))];
    header.extend(RiskGrade::ALL.iter().map(|g| number(g.label())));
    header.push(number("Total open"));
    header.push(words("Open packages by grade"));
    h.push_str(&head(&header));
    for point in &report.trend {
        let count = |grade| point.open_by_grade.get(&grade).copied().unwrap_or(0);
        let mut cells = vec![fixed(period_ending(report, point.period))];
        cells.extend(RiskGrade::ALL.iter().map(|g| number(count(*g))));
        cells.push(number(point.open));
        let mut bar = String::new();
        for grade in RiskGrade::ALL {
            let n = count(grade);
            if n > 0 {
                let width = (n * TREND_BAR_MAX_PX / max).max(2);
                let _ = write!(bar, "<td width=\"{width}\" height=\"14\" bgcolor=\"{c}\" style=\"width:{width}px;height:14px;background:{c};font-size:1px;line-height:1px\" title=\"{label}: {n}\">&nbsp;</td>", c = grade.chart_colour(), label = grade.label());
            }
        }
        let chart = if bar.is_empty() {
            raw_cell("&nbsp;")
        } else {
            raw_cell(&format!(
                "<table cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tr>{bar}</tr></table>"
            ))
        };
        let _ = write!(h, "<tr>{}{chart}</tr>", tds(&cells, ""));
    }
    h.push_str("</table>");
    h
}

/// The longest bar of the within-timescale chart (100%), in pixels.
pub const WITHIN_BAR_MAX_PX: u64 = 200;

/// The colour of the share enforced within timescale, and of the rest.
const WITHIN_COLOUR: &str = "#2e7d32";
const LATE_COLOUR: &str = "#d9d9d9";

/// One bar segment: a table cell `width` pixels wide in `colour`.
fn bar_cell(width: u64, colour: &str, title: &str) -> String {
    format!("<td width=\"{width}\" height=\"14\" bgcolor=\"{colour}\" style=\"width:{width}px;height:14px;background:{colour};font-size:1px;line-height:1px\" title=\"{title}\">&nbsp;</td>")
}

/// The share of each week's enforcements made within timescale: per week
/// the counts, the percentage, and a bar of table cells, the within part
/// green and the late part grey, `WITHIN_BAR_MAX_PX` wide in all.
fn within_chart(report: &WeeklyReport) -> String {
    let mut h = format!(
        "<h2 style=\"{H2}\">8. Enforced within timescale in each of the last {} {noun}s</h2><table id=\"within-trend\" style=\"{TABLE}\"><caption style=\"{CAPTION}\">Packages enforced in the {noun} by their deadline (green) and after it (grey), every grade</caption>",
        report.trend.len(),
        noun = noun(report)
    );
    h.push_str(&head(&[
        words(ending(report)),
        number("Within timescale"),
        number("Late"),
        number("% within"),
        words("Share within timescale"),
    ]));
    for point in &report.trend {
        let total = point.enforced_within + point.enforced_late;
        let cells = [
            fixed(period_ending(report, point.period)),
            number(point.enforced_within),
            number(point.enforced_late),
            number(percent(point.percent_within)),
        ];
        let chart = if total == 0 {
            raw_cell("None enforced")
        } else {
            let within = (2 * point.enforced_within * WITHIN_BAR_MAX_PX + total) / (2 * total);
            let mut bar = String::new();
            if within > 0 {
                bar.push_str(&bar_cell(
                    within,
                    WITHIN_COLOUR,
                    &format!("Within timescale: {}", point.enforced_within),
                ));
            }
            if within < WITHIN_BAR_MAX_PX {
                bar.push_str(&bar_cell(
                    WITHIN_BAR_MAX_PX - within,
                    LATE_COLOUR,
                    &format!("Late: {}", point.enforced_late),
                ));
            }
            raw_cell(&format!(
                "<table cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tr>{bar}</tr></table>"
            ))
        };
        let _ = write!(h, "<tr>{}{chart}</tr>", tds(&cells, ""));
    }
    h.push_str("</table>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests_support::snapshot_report;

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
        let cells = |grade: &str| html::row_cells(ae, grade);
        assert_eq!(cells("Medium"), ["Medium", "5", "+5", "7", "0", "0"]);
        assert_eq!(cells("Standard"), ["Standard", "5", "0", "35", "0", "0"]);
        assert_eq!(cells("Very high"), ["Very high", "0", "0", "-", "0", "0"]);
        // One trend row per week, named by its last day, the last week
        // with a bar.
        let trend = page
            .split("id=\"trend\"")
            .nth(1)
            .unwrap()
            .split("id=\"within-trend\"")
            .next()
            .unwrap();
        assert_eq!(trend.matches("white-space:nowrap\">Sun ").count(), 12);
        assert!(trend.contains(">Sun 4 Feb 2024<"), "{trend}");
        assert!(trend.contains("bgcolor=\"#e0a000\""), "a medium bar");
    }

    #[test]
    fn the_headline_comes_before_any_table_and_the_within_chart_after_the_trend() {
        let mut report = snapshot_report();
        let last = report.trend.last_mut().unwrap();
        (
            last.enforced_within,
            last.enforced_late,
            last.percent_within,
        ) = (3, 1, Some(75.0));
        let page = html(&report);
        let headline = page.find("<div id=\"headline\"").unwrap();
        assert!(headline < page.find("<table").unwrap());
        assert!(
            page.contains(
                ">42 packages open at the week&#39;s end (+37 on last week), 0 breached.</p>"
            ),
            "{page}"
        );
        assert!(page.contains(">Due within 48 hours: 0; within 7 days: 0.</p>"));
        // The chart's own table: the breach reasons' table follows it.
        let chart = page
            .split("<table id=\"within-trend\"")
            .nth(1)
            .and_then(|rest| rest.split("<h2").next())
            .unwrap();
        assert!(page.find("id=\"trend\"").unwrap() < page.find("id=\"within-trend\"").unwrap());
        assert_eq!(chart.matches("None enforced").count(), 11);
        let last_row = chart.split("<tr><td style").last().unwrap();
        let last_row = format!("<tr><td style{last_row}");
        assert_eq!(
            html::row_cells(&last_row, "Sun 4 Feb 2024")[..4],
            ["Sun 4 Feb 2024", "3", "1", "75.0%"]
        );
        assert!(
            last_row.contains("width=\"150\" height=\"14\" bgcolor=\"#2e7d32\""),
            "{last_row}"
        );
        assert!(
            last_row.contains("width=\"50\" height=\"14\" bgcolor=\"#d9d9d9\""),
            "{last_row}"
        );
    }
}
