//! The HTML the service mails, parsed as a browser parses it (html5ever,
//! through `scraper`): the weekly report and the sergeants' daily list on
//! the demo ledger, and an escalation notice. Each must parse without an
//! error, carry the marking in its title and as its first and last visible
//! text, have each table with its headers and the model's figures, draw the
//! trend chart to scale, and hold nothing Outlook drops or fetches
//! (scripts, SVG, images, style sheets, outside resources).

use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::ManualClock;
use ocset_scheduler::config;
use ocset_scheduler::domain::{Outcome, Reference, RiskGrade, Stage};
use ocset_scheduler::notify::email;
use ocset_scheduler::outbox::{Notice, NoticeItem, NoticeKind};
use ocset_scheduler::report::{
    daily, daily::DailyReport, daily_render, render, IsoWeek, ReportParams, WeeklyReport,
};
use ocset_scheduler::store::{self, Actor, Store};
use scraper::{ElementRef, Html, Selector};
use std::sync::Arc;

const MARKING: &str = "OFFICIAL-SENSITIVE";

/// An acknowledgement note with characters HTML gives a meaning to.
const NOTE: &str = "Warrant <b>refused</b> & \"re-applying\" Friday";

/// A Wednesday: the last complete week is 2026-W47, and the demo data,
/// relative to now, reach into it and have packages breached and due.
fn now() -> DateTime<Utc> {
    utc("2026-11-25T12:00:00Z")
}

/// The demo ledger on SQLite in a temporary folder.
struct Demo {
    _dir: tempfile::TempDir,
    app: App,
    store: Arc<dyn Store>,
    params: ReportParams,
}

async fn demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let settings = config::load(&common::config_in(dir.path(), &url), Vec::new()).unwrap();
    let params = ReportParams::new(
        settings.time_zone,
        settings.marking(),
        settings.config.safeguarding.referral_within,
    );
    let store = store::connect(&url, 1).await.unwrap();
    store.migrate().await.unwrap();
    let app = App::new(
        store.clone(),
        Arc::new(settings),
        Arc::new(ManualClock::new(now())),
    );
    ocset_scheduler::demo::load(&app).await.unwrap();
    Demo {
        _dir: dir,
        app,
        store,
        params,
    }
}

async fn weekly_report(demo: &Demo) -> WeeklyReport {
    let week: IsoWeek = "2026-W47".parse().unwrap();
    let until = week.ends_at(demo.params.time_zone);
    let events = demo.store.events_before(until).await.unwrap();
    WeeklyReport::build(week, &events, &demo.params)
}

async fn daily_report(demo: &Demo, at: DateTime<Utc>) -> DailyReport {
    let events = demo.store.events_before(at).await.unwrap();
    daily::build(at, &events, &demo.params, None)
}

fn select(selector: &str) -> Selector {
    Selector::parse(selector).unwrap()
}

/// Parses `page` as a document; html5ever must report no error, and every
/// element the renderers open they close (HTML lets some end tags be left
/// out, but a mail client's parser may not be so kind).
fn parse(page: &str) -> Html {
    for tag in [
        "html", "head", "title", "body", "h1", "h2", "p", "table", "caption", "tr", "th", "td",
        "span", "a",
    ] {
        let opened =
            page.matches(&format!("<{tag}>")).count() + page.matches(&format!("<{tag} ")).count();
        let closed = page.matches(&format!("</{tag}>")).count();
        assert_eq!(
            opened, closed,
            "<{tag}> opened {opened} times, closed {closed}"
        );
    }
    let html = Html::parse_document(page);
    assert!(
        html.errors.is_empty(),
        "html5ever reports {:?} in\n{page}",
        html.errors
    );
    html
}

/// An element's text with its white space (non-breaking spaces too)
/// collapsed.
fn text(element: ElementRef<'_>) -> String {
    element
        .text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body's text, one entry per non-blank text node, in reading order.
fn visible_text(html: &Html) -> Vec<String> {
    let body = html.select(&select("body")).next().expect("a body");
    body.text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The marking in the title and as the first and last thing read; no raw
/// enum name or JSON-ish text anywhere a person reads.
fn assert_marked_and_in_words(html: &Html) {
    let title = html
        .select(&select("head > title"))
        .next()
        .expect("a title");
    assert!(text(title).contains(MARKING), "{}", text(title));
    let words = visible_text(html);
    assert_eq!(words.first().map(String::as_str), Some(MARKING), "first");
    assert_eq!(words.last().map(String::as_str), Some(MARKING), "last");
    let all = words.join("\n");
    let raw_names = Stage::OPEN
        .iter()
        .map(|s| s.as_str())
        .chain(RiskGrade::ALL.iter().map(|g| g.as_str()))
        .chain(Outcome::ALL.iter().map(|o| o.as_str()))
        .filter(|name| name.contains('_'));
    for name in raw_names {
        assert!(!all.contains(name), "{name} is shown to people:\n{all}");
    }
    for c in ['{', '}', '[', ']'] {
        assert!(!all.contains(c), "{c:?} in the text:\n{all}");
    }
}

/// Nothing Outlook drops or a mail client fetches: no script, SVG, image,
/// style sheet or frame, no `src`, no `class` (styles are inline), no URL
/// in a style. `links_allowed`: plain links to the case system (a notice).
fn assert_outlook_safe(html: &Html, page: &str, links_allowed: bool) {
    for tag in [
        "script", "svg", "img", "link", "style", "iframe", "object", "embed", "form", "base",
        "video", "audio", "canvas",
    ] {
        assert_eq!(html.select(&select(tag)).count(), 0, "<{tag}> in the page");
    }
    assert_eq!(html.select(&select("[src]")).count(), 0, "a src attribute");
    assert_eq!(
        html.select(&select("[class]")).count(),
        0,
        "a class attribute"
    );
    assert!(!page.contains("url("), "a URL in a style");
    let anchors = html.select(&select("a")).count();
    if links_allowed {
        for a in html.select(&select("a")) {
            let href = a.value().attr("href").unwrap_or_default();
            assert!(href.starts_with("https://"), "{href}");
        }
    } else {
        assert_eq!(anchors, 0, "a link in a report");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "an outside URL"
        );
    }
}

fn table<'a>(html: &'a Html, id: &str) -> ElementRef<'a> {
    html.select(&select(&format!("table#{id}")))
        .next()
        .unwrap_or_else(|| panic!("no table#{id}"))
}

/// A table's own rows (html5ever puts them in a tbody), not those of a
/// table nested in a cell.
fn rows(table: ElementRef<'_>) -> Vec<ElementRef<'_>> {
    table
        .child_elements()
        .filter(|e| e.value().name() == "tbody")
        .flat_map(|tbody| tbody.child_elements())
        .filter(|e| e.value().name() == "tr")
        .collect()
}

/// A row's own cells.
fn cells(row: ElementRef<'_>) -> Vec<ElementRef<'_>> {
    row.child_elements()
        .filter(|e| matches!(e.value().name(), "td" | "th"))
        .collect()
}

/// The last header row's cells, which name the columns.
fn headers(table: ElementRef<'_>) -> Vec<String> {
    let header_rows: Vec<_> = rows(table)
        .into_iter()
        .filter(|r| cells(*r).iter().all(|c| c.value().name() == "th"))
        .collect();
    cells(*header_rows.last().expect("a header row"))
        .into_iter()
        .map(text)
        .collect()
}

/// The body rows' cell texts.
fn body(table: ElementRef<'_>) -> Vec<Vec<String>> {
    rows(table)
        .into_iter()
        .filter(|r| cells(*r).iter().any(|c| c.value().name() == "td"))
        .map(|r| cells(r).into_iter().map(text).collect())
        .collect()
}

/// The body row whose first cell is `first`.
fn row_of(table: ElementRef<'_>, first: &str) -> Vec<String> {
    body(table)
        .into_iter()
        .find(|r| r.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row {first}"))
}

fn style(element: ElementRef<'_>) -> &str {
    element.value().attr("style").unwrap_or_default()
}

fn signed(value: i64) -> String {
    if value > 0 {
        format!("+{value}")
    } else {
        value.to_string()
    }
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[tokio::test]
async fn the_weekly_html_parses_with_its_tables_figures_and_chart() {
    let demo = demo().await;
    let report = weekly_report(&demo).await;
    let page = render::html(&report);
    let html = parse(&page);
    assert_marked_and_in_words(&html);
    assert_outlook_safe(&html, &page, false);
    let title = text(html.select(&select("title")).next().unwrap());
    assert!(title.contains("2026-W47"), "{title}");

    // 1. The position, per queue: every figure is the model's.
    for stage in Stage::OPEN {
        let position = table(&html, &format!("position-{}", stage.as_str()));
        let caption = text(position.select(&select("caption")).next().unwrap());
        assert_eq!(
            caption,
            format!("{} ({} open)", stage.label(), report.open_in(stage))
        );
        assert_eq!(
            headers(position),
            strings(&[
                "Grade",
                "Open",
                "Change on last week",
                "Oldest (days since receipt)",
                "Breached",
                "Due within 7 days"
            ])
        );
        for grade in RiskGrade::ALL {
            let l = report.position_of(stage, grade);
            assert_eq!(
                row_of(position, grade.label()),
                [
                    grade.label().to_string(),
                    l.open.to_string(),
                    signed(l.open_change),
                    or_dash(l.oldest_age_days),
                    l.breached.to_string(),
                    l.due_within_7_days.to_string(),
                ],
                "{stage:?} {grade:?}"
            );
        }
        let lines: Vec<_> = RiskGrade::ALL
            .iter()
            .map(|g| report.position_of(stage, *g))
            .collect();
        assert_eq!(
            row_of(position, "Total"),
            [
                "Total".to_string(),
                report.open_in(stage).to_string(),
                signed(lines.iter().map(|l| l.open_change).sum()),
                or_dash(lines.iter().filter_map(|l| l.oldest_age_days).max()),
                lines.iter().map(|l| l.breached).sum::<u64>().to_string(),
                lines
                    .iter()
                    .map(|l| l.due_within_7_days)
                    .sum::<u64>()
                    .to_string(),
            ]
        );
        // Figures right aligned, words left.
        let first = rows(position)
            .into_iter()
            .find(|r| cells(*r)[0].value().name() == "td")
            .unwrap();
        let first = cells(first);
        assert!(!style(first[0]).contains("text-align:right"));
        assert!(first[1..]
            .iter()
            .all(|c| style(*c).contains("text-align:right")));
    }
    // The demo has something in every part of the report.
    assert!(report.open_in(Stage::AwaitingEnforcement) > 0);

    // 2. Flow.
    let flow = table(&html, "flow");
    assert_eq!(
        headers(flow),
        strings(&[
            "Period",
            "Received",
            "Enforced",
            "Closed without enforcement"
        ])
    );
    for (label, f) in [
        ("This week", &report.flow.week),
        ("Last 12 weeks", &report.flow.twelve_weeks),
    ] {
        assert_eq!(
            row_of(flow, label),
            [
                label.to_string(),
                f.received.to_string(),
                f.enforced.to_string(),
                f.closed.to_string()
            ]
        );
    }
    let within = table(&html, "within-timescale");
    assert_eq!(
        headers(within),
        strings(&[
            "Grade",
            "Within timescale",
            "Late",
            "% within",
            "Within timescale",
            "Late",
            "% within"
        ])
    );
    for (w, t) in report
        .flow
        .week
        .by_grade
        .iter()
        .zip(&report.flow.twelve_weeks.by_grade)
    {
        let cells = row_of(within, w.grade.label());
        assert_eq!(
            cells[1..],
            [
                w.within.to_string(),
                w.late.to_string(),
                or_dash(w.percent_within.map(|p| format!("{p:.1}%"))),
                t.within.to_string(),
                t.late.to_string(),
                or_dash(t.percent_within.map(|p| format!("{p:.1}%"))),
            ]
        );
    }

    // 3. Breaches, most overdue first, as the model orders them.
    let breaches = table(&html, "breaches");
    assert_eq!(
        headers(breaches),
        strings(&[
            "Reference",
            "Grade",
            "LPA",
            "Stage",
            "Deadline",
            "Days overdue",
            "Officer",
            "Acknowledgement"
        ])
    );
    assert!(!report.breaches.is_empty());
    let shown = body(breaches);
    assert_eq!(shown.len(), report.breaches.len());
    for (cells, b) in shown.iter().zip(&report.breaches) {
        assert_eq!(cells[0], b.reference);
        assert_eq!(cells[1], b.grade.label());
        assert_eq!(cells[2], b.lpa);
        assert_eq!(cells[3], b.stage.label());
        assert_eq!(cells[5], or_dash(b.days_overdue));
    }

    // 4. Time in each stage, and outcomes.
    let timeliness = table(&html, "timeliness");
    assert_eq!(
        headers(timeliness),
        strings(&[
            "Stage",
            "Packages that left it",
            "Median days",
            "90th percentile days",
            "Packages that left it",
            "Median days",
            "90th percentile days"
        ])
    );
    for (w, t) in report
        .timeliness
        .week
        .iter()
        .zip(&report.timeliness.twelve_weeks)
    {
        assert_eq!(
            row_of(timeliness, w.stage.label())[1..],
            [
                w.left.to_string(),
                or_dash(w.median_days),
                or_dash(w.p90_days),
                t.left.to_string(),
                or_dash(t.median_days),
                or_dash(t.p90_days),
            ]
        );
    }
    let outcomes = table(&html, "outcomes");
    assert_eq!(
        headers(outcomes),
        strings(&["Outcome", "This week", "Last 12 weeks"])
    );
    assert_eq!(
        body(outcomes)
            .iter()
            .map(|r| r[2].parse::<u64>().unwrap())
            .sum::<u64>(),
        report
            .timeliness
            .outcomes_twelve_weeks
            .values()
            .sum::<u64>()
    );

    // 5. Safeguarding.
    let safeguarding = table(&html, "safeguarding");
    assert_eq!(headers(safeguarding).len(), 5);
    let g = &report.safeguarding;
    assert_eq!(
        body(safeguarding),
        [[
            g.identified,
            g.referred_within_target,
            g.referred_late,
            g.outstanding,
            g.outstanding_overdue
        ]
        .map(|n| n.to_string())]
    );

    // 6. By LPA.
    let by_lpa = table(&html, "by-lpa");
    assert_eq!(
        headers(by_lpa),
        strings(&[
            "LPA",
            "Intelligence development",
            "Awaiting enforcement",
            "Breached"
        ])
    );
    for l in &report.by_lpa {
        assert_eq!(
            row_of(by_lpa, &l.lpa),
            [
                l.lpa.clone(),
                l.intelligence_development.to_string(),
                l.awaiting_enforcement.to_string(),
                l.breached.to_string()
            ]
        );
    }

    // 7. The trend: 12 weeks, each with its counts and a bar per grade
    // present, as wide as its count in proportion to the busiest week.
    let trend = table(&html, "trend");
    let mut expected_headers = vec!["Week ending".to_string()];
    expected_headers.extend(RiskGrade::ALL.iter().map(|g| g.label().to_string()));
    expected_headers.extend(strings(&["Total open", "Open packages by grade"]));
    assert_eq!(headers(trend), expected_headers);
    let week_rows: Vec<_> = rows(trend)
        .into_iter()
        .filter(|r| cells(*r)[0].value().name() == "td")
        .collect();
    assert_eq!(week_rows.len(), 12);
    assert_eq!(report.trend.len(), 12);
    let busiest = report.trend.iter().map(|p| p.open).max().unwrap();
    for (tr, point) in week_rows.iter().zip(&report.trend) {
        let cells = cells(*tr);
        let count = |grade| point.open_by_grade.get(&grade).copied().unwrap_or(0);
        let mut expected = vec![];
        expected.extend(RiskGrade::ALL.iter().map(|g| count(*g).to_string()));
        expected.push(point.open.to_string());
        // The week, a count per grade, the total, then the bar.
        let bar_cell = RiskGrade::ALL.len() + 2;
        assert_eq!(
            cells[1..bar_cell]
                .iter()
                .map(|c| text(*c))
                .collect::<Vec<_>>(),
            expected,
            "{}",
            point.week
        );
        assert!(point.open > 0, "every demo week has open packages");
        let bars: Vec<_> = cells[bar_cell].select(&select("td[bgcolor]")).collect();
        let present: Vec<_> = RiskGrade::ALL
            .into_iter()
            .filter(|g| count(*g) > 0)
            .collect();
        assert_eq!(
            bars.len(),
            present.len(),
            "{}: one bar per grade",
            point.week
        );
        for (bar, grade) in bars.iter().zip(present) {
            let want = (count(grade) * render::TREND_BAR_MAX_PX / busiest).max(2);
            let css = style(*bar);
            assert!(
                css.split(';').any(|p| p == format!("width:{want}px")),
                "{} {grade:?}: {css}, want {want}px",
                point.week
            );
            assert_eq!(bar.value().attr("width"), Some(want.to_string().as_str()));
            assert_eq!(
                bar.value().attr("title"),
                Some(format!("{}: {}", grade.label(), count(grade)).as_str())
            );
        }
    }
    // The busiest week's bar is the full length (less rounding).
    let last_bars: u64 = cells(*week_rows.last().unwrap())[RiskGrade::ALL.len() + 2]
        .select(&select("td[bgcolor]"))
        .map(|b| b.value().attr("width").unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(report.trend.last().unwrap().open, busiest);
    assert!(
        (render::TREND_BAR_MAX_PX - 4..=render::TREND_BAR_MAX_PX).contains(&last_bars),
        "{last_bars}"
    );
    table(&html, "trend-key");
}

#[tokio::test]
async fn the_daily_html_parses_with_a_table_per_lpa_and_every_line() {
    let demo = demo().await;
    // A supervisor acknowledges a breach with a note that is not HTML.
    // (A minute on: the demo's own acknowledgements are made at `now`.)
    let before = daily_report(&demo, now() + Duration::minutes(1)).await;
    let breach = before
        .lpas
        .iter()
        .flat_map(|l| &l.breached)
        // The demo acknowledges some breaches itself.
        .find(|b| b.acknowledgement.is_none())
        .expect("the demo has an unacknowledged breach")
        .reference
        .clone();
    demo.app
        .change(
            &Reference::parse(&breach).unwrap(),
            &Actor::named("test"),
            |package, at| {
                package.acknowledge(
                    &ocset_scheduler::domain::BreachReasons::default()
                        .parse("resourcing")
                        .unwrap(),
                    NOTE,
                    "test",
                    at,
                )
            },
        )
        .await
        .unwrap();
    let report = daily_report(&demo, now() + Duration::minutes(1)).await;
    assert!(report.total_breached > 0 && report.total_due > 0);
    let page = daily_render::daily_html(&report);
    let html = parse(&page);
    assert_marked_and_in_words(&html);
    assert_outlook_safe(&html, &page, false);
    let summary = text(html.select(&select("p#summary")).next().unwrap());
    assert_eq!(
        summary,
        format!(
            "{} breached, {} due in 48 hours",
            report.total_breached, report.total_due
        )
    );
    let tz: chrono_tz::Tz = report.time_zone;
    let headings: Vec<String> = html.select(&select("h2")).map(text).collect();
    // One per LPA, then the overdue risk reviews (the demo has some).
    assert!(!report.reviews_overdue.is_empty());
    assert_eq!(headings.len(), report.lpas.len() + 1);
    assert_eq!(
        headings[report.lpas.len()],
        format!("Risk reviews overdue: {}", report.reviews_overdue.len())
    );
    let reviews = table(&html, "reviews-overdue");
    assert_eq!(
        headers(reviews),
        strings(&[
            "Reference",
            "Grade",
            "LPA",
            "Review due",
            "Overdue by",
            "Officer"
        ])
    );
    assert_eq!(body(reviews).len(), report.reviews_overdue.len());
    for (i, lpa) in report.lpas.iter().enumerate() {
        assert_eq!(
            headings[i],
            format!(
                "{}: {} breached, {} due",
                lpa.lpa,
                lpa.breached.len(),
                lpa.due.len()
            )
        );
        let t = table(&html, &format!("lpa-{i}"));
        assert_eq!(
            headers(t),
            strings(&[
                "Status",
                "Reference",
                "Grade",
                "Stage",
                "Deadline",
                "Overdue by / time left",
                "Officer",
                "Acknowledgement"
            ])
        );
        let shown = body(t);
        let lines: Vec<_> = lpa
            .breached
            .iter()
            .map(|l| ("Breached", l))
            .chain(lpa.due.iter().map(|l| ("Due", l)))
            .collect();
        assert_eq!(shown.len(), lines.len().max(1), "{}", lpa.lpa);
        for (cells, (status, line)) in shown.iter().zip(lines) {
            assert_eq!(cells[0], status);
            assert_eq!(cells[1], line.reference);
            assert_eq!(cells[2], line.grade.label());
            assert_eq!(cells[3], line.stage.label());
            assert_eq!(
                cells[4],
                line.deadline_at
                    .with_timezone(&tz)
                    .format("%a %-d %b %Y %H:%M")
                    .to_string()
            );
            if status == "Breached" {
                assert!(cells[5].starts_with("overdue by "), "{}", cells[5]);
            } else {
                assert!(cells[5].ends_with(" left"), "{}", cells[5]);
            }
            assert_eq!(
                cells[6],
                line.officer.as_deref().unwrap_or("Unassigned"),
                "{}",
                line.reference
            );
            if line.reference == breach {
                assert_eq!(line.acknowledgement.as_deref(), Some(NOTE));
                // The reason's label, then the note, as text, not markup.
                let reason = line
                    .acknowledgement_reason
                    .as_deref()
                    .expect("acknowledged with a reason");
                assert_eq!(
                    cells[7],
                    format!("{reason}: {NOTE}"),
                    "the note is text, not markup"
                );
            }
        }
    }
}

fn notice_item(kind: NoticeKind, reference: &str, deadline: &str) -> NoticeItem {
    NoticeItem {
        kind,
        level: "breach".into(),
        occurrence: 0,
        reference: reference.into(),
        risk_grade: RiskGrade::High,
        lpa: "Dudley".into(),
        stage: Stage::AwaitingEnforcement,
        received_at: utc("2026-11-18T10:00:00Z"),
        deadline_at: utc(deadline),
        referral_due_at: None,
        review_due_at: None,
        assigned_officer: Some("pc.one@force.example".into()),
        link: Some(format!("https://case-system.example/packages/{reference}")),
    }
}

#[test]
fn the_notice_email_html_parses_with_a_table_per_package_and_what_to_do() {
    let mut notice = Notice {
        marking: MARKING.into(),
        force: "Example Police".into(),
        time_zone: chrono_tz::Europe::London,
        as_of: now(),
        items: vec![
            notice_item(NoticeKind::DueSoon, "NCA-2", "2026-11-26T10:00:00Z"),
            notice_item(NoticeKind::Breached, "NCA-1", "2026-11-25T10:00:00Z"),
            notice_item(NoticeKind::Breached, "NCA-3 <&>", "2026-11-24T10:00:00Z"),
        ],
    };
    notice.sort();
    let from = "OCSET <ocset@force.example>".parse().unwrap();
    let to = "Sergeants <sergeants@force.example>".parse().unwrap();
    let raw = email::render(&notice, &from, &to).formatted();
    let page = common::smtp::parse_mail(&raw).html;
    let html = parse(&page);
    assert_marked_and_in_words(&html);
    assert_outlook_safe(&html, &page, true);
    // A heading per kind, what to do under it, then one narrow table per
    // package: a row per field, its name as the row's header.
    let headings: Vec<String> = html.select(&select("h2")).map(text).collect();
    assert_eq!(
        headings,
        [
            NoticeKind::Breached.describe(2),
            NoticeKind::DueSoon.describe(1)
        ]
    );
    let actions: Vec<String> = html.select(&select("h2 + p")).map(text).collect();
    assert_eq!(
        actions,
        [NoticeKind::Breached.action(), NoticeKind::DueSoon.action()]
    );
    let tables: Vec<_> = html.select(&select("body > table")).collect();
    assert_eq!(tables.len(), 3, "one table per package");
    for (t, reference) in tables.iter().zip(["NCA-3 <&>", "NCA-1", "NCA-2"]) {
        assert_eq!(t.value().attr("width"), Some("100%"));
        assert!(style(*t).contains("max-width:100%"), "{}", style(*t));
        let shown = body(*t);
        let fields: Vec<&str> = shown.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            fields,
            [
                "Reference",
                "Risk grade",
                "LPA",
                "Stage",
                "Received",
                "Deadline",
                "Assigned officer"
            ]
        );
        let values: Vec<&str> = shown.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(values[0], reference);
        assert_eq!(values[1..4], ["High", "Dudley", "Awaiting enforcement"]);
        assert_eq!(values[6], "pc.one@force.example");
    }
}

#[tokio::test]
async fn the_demo_acknowledges_breaches_with_reasons_and_the_weekly_html_counts_them() {
    let demo = demo().await;
    // The week of `now`, when the demo's supervisor acknowledged them.
    let week: IsoWeek = "2026-W48".parse().unwrap();
    let events = demo
        .store
        .events_before(week.ends_at(demo.params.time_zone))
        .await
        .unwrap();
    let report = WeeklyReport::build(week, &events, &demo.params);
    let acknowledged: Vec<(Option<&str>, u64)> = report
        .breach_reasons
        .iter()
        .map(|l| (l.reason.as_deref(), l.acknowledged))
        .collect();
    assert_eq!(
        acknowledged,
        [
            (Some("awaiting_communications_data"), 1),
            (Some("suspect_not_located"), 1),
            (Some("resourcing"), 1),
            (Some("awaiting_partner_agency"), 0),
            (Some("other"), 0),
            (None, 0),
        ]
    );
    let page = render::html(&report);
    let html = parse(&page);
    let reasons = table(&html, "breach-reasons");
    assert_eq!(
        headers(reasons),
        strings(&[
            "Reason",
            "Breaches acknowledged this week",
            "Enforced late this week"
        ])
    );
    assert_eq!(body(reasons).len(), report.breach_reasons.len() + 1);
    for line in &report.breach_reasons {
        assert_eq!(
            row_of(reasons, &line.label),
            [
                line.label.clone(),
                line.acknowledged.to_string(),
                line.enforced_late.to_string()
            ]
        );
    }
    let late: u64 = report.breach_reasons.iter().map(|l| l.enforced_late).sum();
    assert_eq!(row_of(reasons, "Total"), ["Total", "3", &late.to_string()]);
}

#[tokio::test]
async fn the_demo_enforces_late_with_reasons_and_the_week_counts_them_by_reason() {
    let demo = demo().await;
    // 2026-W47 (16–23 Nov): DEMO-0028 (very high, received 13 Nov 12:00,
    // enforced 60 hours later, 16 Nov 00:00) and DEMO-0036 (medium,
    // received 30 Oct 12:00, due 20 Nov 12:00, enforced 21 Nov 12:00),
    // each acknowledged with a reason before its enforcement.
    let report = weekly_report(&demo).await;
    // (The demo's year of history may enforce others late that week, with
    // no reason given: "Not given" is left out here.)
    let late: Vec<(&str, u64)> = report
        .breach_reasons
        .iter()
        .filter_map(|l| Some((l.reason.as_deref()?, l.enforced_late)))
        .collect();
    assert_eq!(
        late,
        [
            ("awaiting_communications_data", 1),
            ("suspect_not_located", 0),
            ("resourcing", 0),
            ("awaiting_partner_agency", 1),
            ("other", 0),
        ]
    );
    // In the ledger, the acknowledgement comes before the enforcement, at
    // its historical time.
    let events = demo.store.events_before(now()).await.unwrap();
    let kinds: Vec<(&str, DateTime<Utc>)> = events
        .iter()
        .filter(|e| e.reference.as_str() == "DEMO-0036")
        .map(|e| (e.kind.name(), e.occurred_at))
        .collect();
    assert_eq!(
        kinds,
        [
            ("created", utc("2026-10-30T12:00:00Z")),
            ("acknowledged", utc("2026-11-20T18:00:00Z")),
            ("stage_changed", utc("2026-11-21T12:00:00Z")),
        ]
    );
}
