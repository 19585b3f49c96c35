//! The weekly report as plain text: the email's text part and the terminal.

use super::{headline_lines, noun, opt, outcome_label, percent, period, signed};
use super::{this_period, title, window};
use crate::domain::{RiskGrade, Stage};
use crate::report::listing::ListCap;
use crate::report::{StageTime, TrendPoint, WeeklyReport};
use std::fmt::Write;

/// The plain-text report: stands on its own, for the email's text part and
/// the terminal.
pub(crate) fn text(report: &WeeklyReport) -> String {
    text_capped(report, None)
}

/// [`text`], its breaches listed up to `cap` (a digest's body), with a
/// line saying how many more there are and where.
pub(crate) fn text_capped(report: &WeeklyReport, cap: Option<&ListCap>) -> String {
    let mut t = String::new();
    let m = &report.marking;
    let _ = writeln!(t, "{m}\n");
    let _ = writeln!(t, "{}, {}", title(report), report.period);
    let (noun, this, window) = (noun(report), this_period(report), window(report));
    let _ = writeln!(t, "{}\n", period(report));
    for line in headline_lines(report) {
        let _ = writeln!(t, "{line}");
    }
    let _ = writeln!(t, "\n1. Current position at the {noun}'s end");
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
        (&this, &report.flow.week),
        (&window, &report.flow.twelve_weeks),
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
        "\n3. Breaches at the {noun}'s end ({})",
        report.breaches.len()
    );
    if report.breaches.is_empty() {
        let _ = writeln!(t, "  none");
    }
    for b in ListCap::shown(cap, &report.breaches) {
        let _ = writeln!(
            t,
            "  {} | {} | {} | {} days overdue | {} | {}",
            b.reference,
            b.grade.label(),
            b.lpa,
            opt(b.days_overdue),
            b.officer.as_deref().unwrap_or("unassigned"),
            b.acknowledged()
                .map(|n| format!("acknowledged: {n}"))
                .unwrap_or_else(|| "not acknowledged".into())
        );
    }
    if let Some(more) = ListCap::more_text(cap, report.breaches.len()) {
        let _ = writeln!(t, "  {more}");
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
    let _ = writeln!(t, "{this}:");
    report
        .timeliness
        .week
        .iter()
        .for_each(|s| stage_line(&mut t, s));
    let _ = writeln!(t, "{window}:");
    report
        .timeliness
        .twelve_weeks
        .iter()
        .for_each(|s| stage_line(&mut t, s));
    let outcomes: Vec<String> = report
        .timeliness
        .outcomes_week
        .iter()
        .map(|(o, n)| format!("{} {n}", outcome_label(*o)))
        .collect();
    let _ = writeln!(
        t,
        "Outcomes this {noun}: {}",
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
    let _ = writeln!(t, "\n7. Open packages at the end of each {noun}");
    // One column per grade, right-aligned and one wider than its name, so
    // a column's numbers stand clear of the one before whatever the grades.
    let columns: Vec<(String, usize)> = RiskGrade::ALL
        .iter()
        .map(|g| {
            let name = g.label().to_lowercase();
            let width = name.len() + 1;
            (name, width)
        })
        .collect();
    let _ = write!(t, "  {:<8}", noun);
    for (name, width) in &columns {
        let _ = write!(t, " {name:>width$}");
    }
    let _ = writeln!(t, " {:>6}", "total");
    for p in &report.trend {
        let _ = write!(t, "  {:<8}", p.period.to_string());
        for (grade, (_, width)) in RiskGrade::ALL.iter().zip(&columns) {
            let n = p.open_by_grade.get(grade).copied().unwrap_or(0);
            let _ = write!(t, " {n:>width$}");
        }
        let _ = writeln!(t, " {:>6}", p.open);
    }
    trend_chart(&mut t, &report.trend);
    within_chart(&mut t, &report.trend, noun);
    let _ = writeln!(
        t,
        "\n8. Why deadlines were missed (the reason given on acknowledging; \"Not given\" when none)"
    );
    let _ = writeln!(
        t,
        "  {:<32} {:>12} {:>13}",
        "reason", "acknowledged", "enforced late"
    );
    for l in &report.breach_reasons {
        let _ = writeln!(
            t,
            "  {:<32} {:>12} {:>13}",
            l.label, l.acknowledged, l.enforced_late
        );
    }
    reviews_text(&mut t, report);
    t.push_str(&super::comparison::text(report, 10));
    t.push_str(&super::capacity::weekly_section_text(
        &report.capacity,
        super::noun(report),
    ));
    let _ = writeln!(t, "\n{m}");
    t
}

/// Risk reviews per grade: due in the week, done on time, done late,
/// overdue at the week's end.
fn reviews_text(t: &mut String, report: &WeeklyReport) {
    let _ = writeln!(
        t,
        "\n9. Risk reviews (due in the {}; done in it on time or late; overdue at its end)",
        super::noun(report)
    );
    let _ = writeln!(
        t,
        "  {:<10} {:>5} {:>8} {:>5} {:>8}",
        "grade", "due", "on time", "late", "overdue"
    );
    for l in &report.reviews {
        let _ = writeln!(
            t,
            "  {:<10} {:>5} {:>8} {:>5} {:>8}",
            l.grade.label(),
            l.due,
            l.done_on_time,
            l.done_late,
            l.overdue_at_end
        );
    }
}

/// The longest bar of a plain-text chart, in characters.
const TEXT_BAR_MAX: u64 = 40;

/// A grade's letter in the plain-text trend chart: the first of its name.
fn grade_letter(grade: RiskGrade) -> char {
    grade.label().chars().next().unwrap_or('?')
}

/// The 12-week trend as a plain-text bar chart: per week a bar of the
/// grades' letters, each grade as many letters as its share of the
/// busiest week's `TEXT_BAR_MAX` (at least one when it has any).
fn trend_chart(t: &mut String, trend: &[TrendPoint]) {
    let max = trend.iter().map(|p| p.open).max().unwrap_or(0).max(1);
    let key: Vec<String> = RiskGrade::ALL
        .iter()
        .map(|g| format!("{} {}", grade_letter(*g), g.label().to_lowercase()))
        .collect();
    let _ = writeln!(
        t,
        "\n  Open packages by grade as bars ({}):",
        key.join(", ")
    );
    for p in trend {
        let mut bar = String::new();
        for grade in RiskGrade::ALL {
            let n = p.open_by_grade.get(&grade).copied().unwrap_or(0);
            if n > 0 {
                let width = (n * TEXT_BAR_MAX / max).max(1) as usize;
                bar.extend(std::iter::repeat_n(grade_letter(grade), width));
            }
        }
        let _ = writeln!(t, "  {:<8} {:>5} {bar}", p.period.to_string(), p.open);
    }
}

/// The share of each week's enforcements made within timescale, as a
/// plain-text bar of `TEXT_BAR_MAX / 2` characters: `#` within, `.` late.
fn within_chart(t: &mut String, trend: &[TrendPoint], noun: &str) {
    let _ = writeln!(
        t,
        "\n8. Enforced within timescale in each {noun} (# within, . late)"
    );
    let full = TEXT_BAR_MAX / 2;
    for p in trend {
        let total = p.enforced_within + p.enforced_late;
        let line = match p.percent_within {
            Some(share) if total > 0 => {
                // Rounded to the nearest character.
                let within = (2 * p.enforced_within * full + total) / (2 * total);
                let bar = "#".repeat(within as usize) + &".".repeat((full - within) as usize);
                format!(
                    "{:>6}  {bar}  {} of {total}",
                    format!("{share:.1}%"),
                    p.enforced_within
                )
            }
            _ => "     -  none enforced".to_string(),
        };
        let _ = writeln!(t, "  {:<8} {line}", p.period.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests_support::snapshot_report;

    #[test]
    fn the_text_charts_draw_each_week_in_proportion() {
        let mut report = snapshot_report();
        let last = report.trend.last_mut().unwrap();
        (
            last.enforced_within,
            last.enforced_late,
            last.percent_within,
        ) = (3, 1, Some(75.0));
        let text = text(&report);
        let chart = text
            .split("Open packages by grade as bars (V very high, H high, M medium, S standard):\n")
            .nth(1)
            .unwrap();
        let rows: Vec<&str> = chart.lines().take_while(|l| !l.is_empty()).collect();
        assert_eq!(rows.len(), 12);
        // The last week: 5 medium and 37 standard of 42, the busiest.
        let bar = rows[11].split_whitespace().nth(2).unwrap();
        assert_eq!(bar.len() as u64, TEXT_BAR_MAX - 1, "{bar}: 4 + 35 letters");
        assert_eq!(bar.matches('M').count(), 4);
        assert_eq!(bar.matches('S').count(), 35);
        let within = text
            .split("8. Enforced within timescale in each week (# within, . late)\n")
            .nth(1)
            .unwrap();
        let rows: Vec<&str> = within.lines().take_while(|l| !l.is_empty()).collect();
        assert_eq!(rows.len(), 12);
        assert_eq!(
            rows[0].split_whitespace().collect::<Vec<_>>()[1..],
            ["-", "none", "enforced"]
        );
        assert_eq!(
            rows[11].split_whitespace().collect::<Vec<_>>(),
            ["2024-W05", "75.0%", "###############.....", "3", "of", "4"]
        );
    }

    #[test]
    fn the_trend_has_a_column_per_grade_each_count_under_its_name() {
        let text = text(&snapshot_report());
        let section = text
            .split("7. Open packages at the end of each week\n")
            .nth(1)
            .unwrap();
        let mut lines = section.lines().take_while(|l| !l.is_empty());
        let header = lines.next().unwrap();
        assert!(header.starts_with("  week "), "{header}");
        // Where each column's name ends: its numbers end there too.
        let mut ends = Vec::new();
        let mut from = 0;
        let names = RiskGrade::ALL.iter().map(|g| g.label().to_lowercase());
        for name in names.chain(["total".to_string()]) {
            from += header[from..].find(&name).unwrap() + name.len();
            ends.push(from);
        }
        assert_eq!(ends.last(), Some(&header.len()), "{header}");
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 12);
        for row in rows {
            assert_eq!(row.len(), header.len(), "{row}");
            assert_eq!(row.split_whitespace().count(), RiskGrade::ALL.len() + 2);
            for &end in &ends {
                assert!(row[..end].ends_with(|c: char| c.is_ascii_digit()), "{row}");
                assert!(
                    row[end..].is_empty() || row[end..].starts_with(' '),
                    "{row}"
                );
            }
        }
    }
}
