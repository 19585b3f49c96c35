//! Renderings of one [`DailyReport`]: subject line, plain text, HTML for
//! email, CSV and JSON. Each carries the protective marking and nothing
//! beyond the model. Times are shown in the force time zone.

use super::daily::{DailyLine, DailyReport, DUE_WITHIN_HOURS};
use super::html::{self, fixed, head, note_row, number, row, words, FONT, H2, TABLE};
use super::listing::ListCap;
use super::spreadsheet_safe;
use crate::domain::LpaCoverage;
use crate::text::esc;
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// The report as pretty JSON (the tests read it; the API and digests serve
/// the weekly report's JSON only).
#[cfg(test)]
pub(crate) fn daily_json(report: &DailyReport) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises")
}

/// The subject line:
/// `[OFFICIAL-SENSITIVE] OCSET daily: 3 breached, 5 due in 48 hours — Thu 26 Nov 2026`.
pub(crate) fn daily_subject(report: &DailyReport) -> String {
    format!(
        "[{}] OCSET daily: {} breached, {} due in {} hours — {}",
        report.marking,
        report.total_breached,
        report.total_due,
        report.due_within_hours,
        local(report, report.as_of, "%a %-d %b %Y")
    )
}

/// One CSV row per package, breaches first in each LPA. Every row carries
/// the marking in its first column, so a copied-out row still says what
/// it is. (Digests write it through [`write_daily_csv`].)
#[cfg(test)]
pub(crate) fn daily_csv(report: &DailyReport) -> String {
    let mut out = Vec::new();
    write_daily_csv(report, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("CSV is UTF-8")
}

/// `daily_csv`, written to `out` as it goes (a digest compresses it on
/// the way, never holding the whole text). Fails only as `out` fails.
pub(crate) fn write_daily_csv(report: &DailyReport, out: impl std::io::Write) -> csv::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "marking",
        "as_of",
        "status",
        "reference",
        "risk_grade",
        "lpa",
        "stage",
        "deadline_at",
        "hours_overdue",
        "hours_left",
        "assigned_officer",
        "breach_reason",
        "acknowledgement",
    ])?;
    for (status, line) in lines(report) {
        writer.write_record([
            report.marking.clone(),
            report.as_of.to_rfc3339(),
            status.into(),
            spreadsheet_safe(&line.reference),
            line.grade.as_str().into(),
            spreadsheet_safe(&line.lpa),
            line.stage.as_str().into(),
            line.deadline_at.to_rfc3339(),
            line.hours_overdue
                .map(|h| h.to_string())
                .unwrap_or_default(),
            line.hours_left.map(|h| h.to_string()).unwrap_or_default(),
            spreadsheet_safe(line.officer.as_deref().unwrap_or_default()),
            spreadsheet_safe(line.acknowledgement_reason.as_deref().unwrap_or_default()),
            spreadsheet_safe(line.acknowledgement.as_deref().unwrap_or_default()),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// The plain-text report: stands on its own, for the email's text part.
/// (Digests cap its lists: [`daily_text_capped`].)
#[cfg(test)]
pub(crate) fn daily_text(report: &DailyReport) -> String {
    daily_text_capped(report, None)
}

/// `daily_text`, each list (an LPA's breaches, its packages due, the
/// overdue reviews) shown up to `cap` (a digest's body), with a line
/// saying how many more there are and where.
pub(crate) fn daily_text_capped(report: &DailyReport, cap: Option<&ListCap>) -> String {
    let mut t = String::new();
    let m = &report.marking;
    let _ = writeln!(t, "{m}\n");
    let _ = writeln!(t, "{}", title(report));
    let _ = writeln!(t, "{}", as_of(report));
    let _ = writeln!(t, "{}\n", summary(report));
    if report.lpas.is_empty() {
        let _ = writeln!(t, "Nothing breached or due.\n");
    }
    for lpa in &report.lpas {
        let _ = writeln!(
            t,
            "{}: {} breached, {} due",
            lpa.lpa,
            lpa.breached.len(),
            lpa.due.len()
        );
        for (heading, list) in [
            ("Breached, most overdue first".to_string(), &lpa.breached),
            (
                format!(
                    "Due in the next {} hours, soonest first",
                    report.due_within_hours
                ),
                &lpa.due,
            ),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(t, "  {heading}");
            for line in ListCap::shown(cap, list) {
                let _ = writeln!(
                    t,
                    "    {} | {} | {} | {} | deadline {} | {} | {}{}",
                    line.reference,
                    line.grade.label(),
                    line.lpa,
                    line.stage.label(),
                    local(report, line.deadline_at, "%a %-d %b %H:%M"),
                    hours(line),
                    line.officer.as_deref().unwrap_or("unassigned"),
                    line.acknowledged()
                        .map(|note| format!(" | acknowledged: {}", one_line(&note)))
                        .unwrap_or_default()
                );
            }
            if let Some(more) = ListCap::more_text(cap, list.len()) {
                let _ = writeln!(t, "    {more}");
            }
        }
        let _ = writeln!(t);
    }
    if !report.reviews_overdue.is_empty() {
        let _ = writeln!(
            t,
            "Risk reviews overdue: {}, most overdue first",
            report.reviews_overdue.len()
        );
        for r in ListCap::shown(cap, &report.reviews_overdue) {
            let _ = writeln!(
                t,
                "    {} | {} | {} | review due {} | overdue by {} | {}",
                r.reference,
                r.grade.label(),
                r.lpa,
                local(report, r.due_at, "%a %-d %b %H:%M"),
                crate::text::describe_duration(report.as_of - r.due_at),
                r.officer.as_deref().unwrap_or("unassigned"),
            );
        }
        if let Some(more) = ListCap::more_text(cap, report.reviews_overdue.len()) {
            let _ = writeln!(t, "    {more}");
        }
        let _ = writeln!(t);
    }
    let _ = writeln!(t, "{m}");
    t
}

/// The HTML report for email: tables with inline styles only (Outlook
/// ignores style sheets), no script, no images, no SVG; the marking at the
/// top and the bottom.
pub fn daily_html(report: &DailyReport) -> String {
    daily_html_capped(report, None)
}

/// [`daily_html`], each list shown up to `cap` (a digest's body), with a
/// row saying how many more there are and where.
pub(crate) fn daily_html_capped(report: &DailyReport, cap: Option<&ListCap>) -> String {
    let marking = html::marking(&report.marking);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{} {}</title></head><body style=\"margin:12px\">",
        esc(&report.marking),
        esc(&title(report))
    );
    h.push_str(&marking);
    let _ = write!(
        h,
        "<h1 style=\"{FONT};font-size:20px;margin:8px 0\">{}</h1><p style=\"{FONT};font-size:13px;margin:0 0 4px 0\">{}</p><p id=\"summary\" style=\"{FONT};font-size:15px;font-weight:bold;margin:0 0 8px 0\">{}</p>",
        esc(&title(report)),
        esc(&as_of(report)),
        esc(&summary(report))
    );
    if report.lpas.is_empty() {
        let _ = write!(
            h,
            "<p style=\"{FONT};font-size:13px\">Nothing breached or due.</p>"
        );
    }
    for (i, lpa) in report.lpas.iter().enumerate() {
        let _ = write!(
            h,
            "<h2 style=\"{H2}\">{}: {} breached, {} due</h2><table id=\"lpa-{i}\" style=\"{TABLE}\">",
            esc(&lpa.lpa),
            lpa.breached.len(),
            lpa.due.len()
        );
        // No LPA column: the heading above the table names it.
        h.push_str(&head(&[
            words("Status"),
            words("Reference"),
            words("Grade"),
            words("Stage"),
            words("Deadline"),
            number("Overdue by / time left"),
            words("Officer"),
            words("Acknowledgement"),
        ]));
        if lpa.breached.is_empty() && lpa.due.is_empty() {
            h.push_str(&note_row("Nothing breached or due.", 8));
        }
        for (breached, list) in [(true, &lpa.breached), (false, &lpa.due)] {
            // Breaches on a pale red ground, so they stand out in print too.
            let (status, ground, no_note) = if breached {
                ("Breached", ";background:#fbe3e3", "Not acknowledged")
            } else {
                ("Due", "", "")
            };
            for line in ListCap::shown(cap, list) {
                h.push_str(&row(
                    &[
                        fixed(status),
                        fixed(&line.reference),
                        fixed(line.grade.label()),
                        words(line.stage.label()),
                        fixed(local(report, line.deadline_at, "%a %-d %b %Y %H:%M")),
                        number(hours(line)),
                        words(line.officer.as_deref().unwrap_or("Unassigned")),
                        words(line.acknowledged().as_deref().unwrap_or(no_note)),
                    ],
                    ground,
                ));
            }
            if let Some(more) = ListCap::more_row(cap, list.len(), 8) {
                h.push_str(&more);
            }
        }
        h.push_str("</table>");
    }
    if !report.reviews_overdue.is_empty() {
        let _ = write!(
            h,
            "<h2 style=\"{H2}\">Risk reviews overdue: {}</h2><table id=\"reviews-overdue\" style=\"{TABLE}\">",
            report.reviews_overdue.len()
        );
        h.push_str(&head(&[
            words("Reference"),
            words("Grade"),
            words("LPA"),
            words("Review due"),
            number("Overdue by"),
            words("Officer"),
        ]));
        for r in ListCap::shown(cap, &report.reviews_overdue) {
            h.push_str(&row(
                &[
                    fixed(&r.reference),
                    fixed(r.grade.label()),
                    words(&r.lpa),
                    fixed(local(report, r.due_at, "%a %-d %b %Y %H:%M")),
                    number(crate::text::describe_duration(report.as_of - r.due_at)),
                    words(r.officer.as_deref().unwrap_or("Unassigned")),
                ],
                "",
            ));
        }
        if let Some(more) = ListCap::more_row(cap, report.reviews_overdue.len(), 6) {
            h.push_str(&more);
        }
        h.push_str("</table>");
    }
    h.push_str(&marking);
    h.push_str("</body></html>");
    h
}

/// Every line with its status, in the report's order.
fn lines(report: &DailyReport) -> impl Iterator<Item = (&'static str, &DailyLine)> {
    report.lpas.iter().flat_map(|lpa| {
        lpa.breached
            .iter()
            .map(|l| ("breached", l))
            .chain(lpa.due.iter().map(|l| ("due", l)))
    })
}

fn title(report: &DailyReport) -> String {
    format!(
        "OCSET daily: breaches and packages due in the next {} hours",
        report.due_within_hours
    )
}

fn as_of(report: &DailyReport) -> String {
    let lpas = match &report.coverage {
        LpaCoverage::AllExcept(except) if except.is_empty() => "all LPAs".to_string(),
        LpaCoverage::AllExcept(except) => format!("all LPAs except {}", except.join(", ")),
        LpaCoverage::Only(only) if only.is_empty() => "no LPAs".to_string(),
        LpaCoverage::Only(only) => only.join(", "),
    };
    format!(
        "As of {} ({}); {lpas}",
        local(report, report.as_of, "%a %-d %b %Y %H:%M"),
        report.time_zone
    )
}

fn summary(report: &DailyReport) -> String {
    format!(
        "{} breached, {} due in {} hours",
        report.total_breached, report.total_due, report.due_within_hours
    )
}

/// "overdue by 5 hours", "30 hours left", "overdue by 6 days 23 hours":
/// hours up to the list's 48, then days and hours, which a reader takes in
/// at a glance. Under an hour says so rather than "0".
fn hours(line: &DailyLine) -> String {
    let plural = |n: i64, unit: &str| match n {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    };
    let count = |n: i64| match n {
        0 => "under 1 hour".to_string(),
        n if n <= DUE_WITHIN_HOURS => plural(n, "hour"),
        n if n % 24 == 0 => plural(n / 24, "day"),
        n => format!("{} {}", plural(n / 24, "day"), plural(n % 24, "hour")),
    };
    match (line.hours_overdue, line.hours_left) {
        (Some(n), _) => format!("overdue by {}", count(n)),
        (None, Some(n)) => format!("{} left", count(n)),
        (None, None) => String::new(),
    }
}

fn local(report: &DailyReport, at: DateTime<Utc>, format: &str) -> String {
    at.with_timezone(&report.time_zone)
        .format(format)
        .to_string()
}

/// A free-text note on one line of plain text.
fn one_line(text: &str) -> String {
    text.split(char::is_control)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::daily::tests::{now, params, sample, utc};
    use super::super::daily::{build, build_for};
    use super::*;

    fn report() -> DailyReport {
        build(now(), &sample().events, &params(), None)
    }

    #[test]
    fn the_subject_counts_and_dates_the_list() {
        assert_eq!(
            daily_subject(&report()),
            "[OFFICIAL-SENSITIVE] OCSET daily: 3 breached, 6 due in 48 hours — Thu 26 Nov 2026"
        );
        // The date is the force's: 23:30 UTC on 30 June is 1 July in London.
        let summer = build(utc("2026-06-30T23:30:00Z"), &[], &params(), None);
        assert!(daily_subject(&summer).ends_with("0 breached, 0 due in 48 hours — Wed 1 Jul 2026"));
    }

    #[test]
    fn the_text_carries_the_marking_the_numbers_and_each_line() {
        let text = daily_text(&report());
        assert!(text.starts_with("OFFICIAL-SENSITIVE\n"), "{text}");
        assert!(text.trim_end().ends_with("OFFICIAL-SENSITIVE"), "{text}");
        assert!(text.contains("3 breached, 6 due in 48 hours"), "{text}");
        assert!(
            text.contains("As of Thu 26 Nov 2026 08:00 (Europe/London); all LPAs"),
            "{text}"
        );
        assert!(text.contains("Birmingham: 2 breached, 3 due"), "{text}");
        assert!(text.contains("Coventry: 1 breached, 3 due"), "{text}");
        assert!(
            text.contains("    B-LATE-3D | Medium | Birmingham | Awaiting enforcement | deadline Mon 23 Nov 08:00 | overdue by 3 days | pc.one@force.example | acknowledged: Awaiting communications data: Warrant refused; re-applying Friday\n"),
            "{text}"
        );
        assert!(text.contains("C-LATE-NOW | High | Coventry | Awaiting enforcement | deadline Thu 26 Nov 08:00 | overdue by under 1 hour | pc.two@force.example\n"), "{text}");
        assert!(text.contains("B-DUE-48H | High | Birmingham | Awaiting enforcement | deadline Sat 28 Nov 08:00 | 48 hours left | unassigned\n"), "{text}");
        // Breaches before due, most overdue first, within each LPA.
        let at = |r: &str| text.find(r).unwrap();
        assert!(at("B-LATE-3D") < at("B-LATE-1H") && at("B-LATE-1H") < at("B-DUE-2H"));
        assert!(at("B-DUE-2H") < at("B-DUE-47H") && at("B-DUE-48H") < at("C-LATE-NOW"));
        assert!(
            !text.contains("B-LATER") && !text.contains("C-DONE") && !text.contains("B-FUTURE")
        );
    }

    #[test]
    fn the_html_is_tables_with_the_marking_at_top_and_bottom() {
        let page = daily_html(&report());
        assert!(!page.contains("<svg") && !page.contains("<script") && !page.contains("<img"));
        assert!(
            !page.contains("<style") && !page.contains("class="),
            "inline styles only"
        );
        assert_eq!(
            page.matches("OFFICIAL-SENSITIVE").count(),
            3,
            "title, top and bottom"
        );
        let body = page.split("<body").nth(1).unwrap();
        assert!(
            body.split("<h1")
                .next()
                .unwrap()
                .contains("OFFICIAL-SENSITIVE"),
            "marking first"
        );
        assert!(
            body.trim_end_matches("</body></html>")
                .ends_with("OFFICIAL-SENSITIVE</p>"),
            "and last"
        );
        assert!(page.contains(">3 breached, 6 due in 48 hours<"), "{page}");
        assert!(page.contains("<table id=\"lpa-0\"") && page.contains("<table id=\"lpa-1\""));
        let cells = |reference: &str| html::row_cells(&page, reference);
        assert_eq!(
            cells("B-LATE-3D"),
            [
                "Breached",
                "B-LATE-3D",
                "Medium",
                "Awaiting enforcement",
                "Mon 23 Nov 2026 08:00",
                "overdue by 3 days",
                "pc.one@force.example",
                "Awaiting communications data: Warrant refused; re-applying Friday"
            ]
        );
        assert_eq!(
            cells("C-DUE-10H")[..6],
            [
                "Due",
                "C-DUE-10H",
                "Medium",
                "Awaiting enforcement",
                "Thu 26 Nov 2026 18:00",
                "10 hours left"
            ]
        );
    }

    #[test]
    fn the_html_escapes_what_it_is_given() {
        let mut l = sample();
        l.acknowledge("B-LATE-1H", "<b>call</b> & \"check\"");
        let page = daily_html(&build(now(), &l.events, &params(), None));
        assert!(
            page.contains("&lt;b&gt;call&lt;/b&gt; &amp; &quot;check&quot;"),
            "{page}"
        );
        assert!(!page.contains("<b>call"));
    }

    #[test]
    fn a_note_that_looks_like_a_formula_is_text_in_the_csv() {
        let mut l = sample();
        l.acknowledge("B-LATE-1H", "=HYPERLINK(\"http://x.example\",\"click\")");
        let csv = daily_csv(&build(now(), &l.events, &params(), None));
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let notes: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[12].to_string())
            .filter(|note| note.contains("HYPERLINK"))
            .collect();
        assert_eq!(notes, ["'=HYPERLINK(\"http://x.example\",\"click\")"]);
    }

    #[test]
    fn a_clear_list_says_so() {
        let quiet = ["Dudley".to_string()];
        let report = build(now(), &sample().events, &params(), Some(&quiet));
        assert_eq!(
            daily_subject(&report),
            "[OFFICIAL-SENSITIVE] OCSET daily: 0 breached, 0 due in 48 hours — Thu 26 Nov 2026"
        );
        let text = daily_text(&report);
        assert!(
            text.contains("As of Thu 26 Nov 2026 08:00 (Europe/London); Dudley"),
            "{text}"
        );
        assert!(text.contains("Dudley: 0 breached, 0 due"), "{text}");
        assert!(daily_html(&report).contains("Nothing breached or due."));
        let none = build(now(), &[], &params(), None);
        assert!(daily_text(&none).contains("Nothing breached or due."));
        let except = build_for(
            now(),
            &[],
            &params(),
            &LpaCoverage::AllExcept(vec!["Birmingham".into()]),
        );
        assert!(daily_text(&except).contains("; all LPAs except Birmingham"));
    }

    #[test]
    fn csv_and_json_carry_the_marking_and_every_line() {
        let report = report();
        let csv = daily_csv(&report);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 9);
        assert!(rows.iter().all(|r| &r[0] == "OFFICIAL-SENSITIVE"));
        let first = &rows[0];
        assert_eq!(
            first.iter().collect::<Vec<_>>(),
            [
                "OFFICIAL-SENSITIVE",
                "2026-11-26T08:00:00+00:00",
                "breached",
                "B-LATE-3D",
                "medium",
                "Birmingham",
                "awaiting_enforcement",
                "2026-11-23T08:00:00+00:00",
                "72",
                "",
                "pc.one@force.example",
                "Awaiting communications data",
                "Warrant refused; re-applying Friday"
            ]
        );
        let value: serde_json::Value = serde_json::from_str(&daily_json(&report)).unwrap();
        assert_eq!(value["marking"], "OFFICIAL-SENSITIVE");
        assert_eq!(value["total_breached"], 3);
        assert_eq!(value["total_due"], 6);
        assert_eq!(value["coverage"]["all_except"], serde_json::json!([]));
        assert_eq!(value["lpas"][0]["breached"][0]["hours_overdue"], 72);
        assert_eq!(
            value["lpas"][0]["breached"][0]["acknowledgement_reason"],
            "Awaiting communications data"
        );
        assert_eq!(value["lpas"][1]["due"][0]["reference"], "C-DUE-1S");
    }

    #[test]
    fn hours_up_to_the_look_ahead_then_days_and_hours() {
        let line = |overdue: Option<i64>, left: Option<i64>| DailyLine {
            hours_overdue: overdue,
            hours_left: left,
            ..report().lpas[0].breached[0].clone()
        };
        assert_eq!(hours(&line(Some(0), None)), "overdue by under 1 hour");
        assert_eq!(hours(&line(Some(1), None)), "overdue by 1 hour");
        assert_eq!(hours(&line(Some(48), None)), "overdue by 48 hours");
        assert_eq!(hours(&line(Some(49), None)), "overdue by 2 days 1 hour");
        assert_eq!(hours(&line(Some(72), None)), "overdue by 3 days");
        assert_eq!(hours(&line(Some(239), None)), "overdue by 9 days 23 hours");
        assert_eq!(hours(&line(None, Some(48))), "48 hours left");
    }

    #[test]
    fn notes_stay_on_one_line_of_text() {
        assert_eq!(one_line("first\nsecond\r\n\tthird"), "first second third");
    }

    #[test]
    fn a_capped_digest_lists_the_first_of_each_list_and_says_how_many_more_and_where() {
        use crate::report::listing::{FullList, ListCap};
        let report = report();
        let cap = ListCap {
            limit: 1,
            rest: FullList::TooLong("it is at https://ocset.example/breaches".into()),
        };
        let text = daily_text_capped(&report, Some(&cap));
        // Birmingham: 2 breached, 3 due; Coventry: 1 breached, 3 due.
        assert!(text.contains("Birmingham: 2 breached, 3 due"), "{text}");
        assert!(text.contains("B-LATE-3D |"), "{text}");
        assert!(
            !text.contains("B-LATE-1H | Very high | Birmingham | Awaiting"),
            "{text}"
        );
        assert!(
            text.contains("B-DUE-2H |") && !text.contains("B-DUE-47H"),
            "{text}"
        );
        let more = |n: usize| {
            format!("… and {n} more; the full list is too long to attach; it is at https://ocset.example/breaches.")
        };
        assert_eq!(
            text.matches(&more(1)).count(),
            2,
            "Birmingham's breaches, the reviews: {text}"
        );
        assert_eq!(text.matches(&more(2)).count(), 2, "each LPA's due: {text}");
        assert!(text.starts_with("OFFICIAL-SENSITIVE\n"), "{text}");
        assert!(text.trim_end().ends_with("OFFICIAL-SENSITIVE"), "{text}");
        let page = daily_html_capped(&report, Some(&cap));
        let birmingham = page
            .split("<table id=\"lpa-0\"")
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .unwrap();
        assert_eq!(
            birmingham.matches(">B-").count(),
            2,
            "one of each list: {birmingham}"
        );
        assert!(
            birmingham.contains(
                "<a href=\"https://ocset.example/breaches\">https://ocset.example/breaches</a>.</td></tr>"
            ),
            "{birmingham}"
        );
        // The breaches' line comes before the first package due.
        let at = |s: &str| birmingham.find(s).unwrap();
        assert!(at("B-LATE-3D") < at("… and 1 more") && at("… and 1 more") < at("B-DUE-2H"));
        assert_eq!(
            page.matches("OFFICIAL-SENSITIVE").count(),
            3,
            "title, top and bottom"
        );
        // A list within the cap is as it always was.
        let wide = ListCap { limit: 3, ..cap };
        assert_eq!(daily_text_capped(&report, Some(&wide)), daily_text(&report));
        assert_eq!(daily_html_capped(&report, Some(&wide)), daily_html(&report));
    }
}
