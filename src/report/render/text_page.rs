//! The weekly report as plain text: the email's text part and the terminal.

use super::{opt, outcome_label, percent, period, signed};
use crate::domain::{RiskGrade, Stage};
use crate::report::{StageTime, WeeklyReport};
use std::fmt::Write;

/// The plain-text report: stands on its own, for the email's text part and
/// the terminal.
pub(crate) fn text(report: &WeeklyReport) -> String {
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
        .map(|(o, n)| format!("{} {n}", outcome_label(*o)))
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
    let _ = write!(t, "  {:<8}", "week");
    for (name, width) in &columns {
        let _ = write!(t, " {name:>width$}");
    }
    let _ = writeln!(t, " {:>6}", "total");
    for p in &report.trend {
        let _ = write!(t, "  {:<8}", p.week.to_string());
        for (grade, (_, width)) in RiskGrade::ALL.iter().zip(&columns) {
            let n = p.open_by_grade.get(grade).copied().unwrap_or(0);
            let _ = write!(t, " {n:>width$}");
        }
        let _ = writeln!(t, " {:>6}", p.open);
    }
    let _ = writeln!(t, "\n{m}");
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests_support::snapshot_report;

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
