//! `/`: the overview. The headline first (open, breached, due within 48
//! hours and 7 days), then the position per queue and grade exactly as
//! `/api/v1/status` gives it ([`App::position`]), then the scheduler's
//! health ([`App::scheduler_figures`]); filtered by LPA with a GET form.
//! It shows figures, never a package, so like the status it is not
//! audited.
//!
//! [`App::position`]: crate::app::App::position
//! [`App::scheduler_figures`]: crate::app::App::scheduler_figures

use super::super::charts;
use super::super::format::percent;
use super::super::format::{time, time_or};
use super::super::layout::{page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::{chrome, lpa_from_query};
use crate::app::SchedulerFigures;
use crate::domain::{Lpa, RiskGrade, Stage};
use crate::position::{CurrentPosition, GradeFigures};
use axum::extract::State;
use axum::http::Uri;
use chrono_tz::Tz;
use maud::{html, Markup};

/// The shorter "due within" horizon of the headline.
const SOON_HOURS: i64 = 48;

/// The overview, for all LPAs or the one asked for.
async fn page_for(
    state: &WebState,
    signed_in: &SignedIn,
    lpa: Option<Lpa>,
) -> Result<Markup, PageError> {
    let app = &state.app;
    let position = app.position(lpa.as_ref()).await?;
    let due_48 = app
        .due_within(lpa.as_ref(), chrono::Duration::hours(SOON_HOURS))
        .await?;
    let scheduler = app.scheduler_figures().await?;
    let zone = app.settings().time_zone;
    // The 12 weeks to the last complete one, from the same report as the
    // weekly digest (it folds the ledger: issue 14 makes that cheap).
    let week = crate::report::IsoWeek::last_complete(app.now(), zone);
    let report = app.weekly_report(week).await?;
    let by_lpa = match &lpa {
        Some(_) => Vec::new(),
        None => {
            let mut rows = Vec::new();
            for each in app.settings().lpas.all() {
                rows.push((each.clone(), app.position(Some(each)).await?));
            }
            rows
        }
    };
    let open: u64 = position.open_by_stage.values().sum();
    let due_7: u64 = position
        .by_grade
        .values()
        .map(|g| g.due_within_7_days)
        .sum();
    let title = match &lpa {
        Some(lpa) => format!("Overview: {lpa}"),
        None => "Overview".to_string(),
    };
    Ok(frame(
        chrome(state, signed_in, Nav::Overview),
        &title,
        html! {
            ul.headline aria-label="Headline figures" {
                li { span.figure #headline-open { (open) } " open" }
                li { a href="/breaches" { span.figure #headline-breached { (position.breached) } " breached" } }
                li { span.figure #headline-due-48h { (due_48) } " due within 48 hours" }
                li { span.figure #headline-due-7d { (due_7) } " due within 7 days" }
                li {
                    span.figure #headline-within { (percent(report.headline.percent_within_twelve_weeks)) }
                    " enforced within timescale over the 12 weeks to " (week)
                    @if let Some(change) = report.headline.percent_within_change {
                        " (" (change_words(change)) ")"
                    }
                }
            }
            p.as-of { "As at " (time(position.as_of, zone)) ". Due figures count open packages not yet breached." }
            (lpa_filter(state, lpa.as_ref(), "/"))
            (position_table(&position, zone))
            @if !by_lpa.is_empty() { (lpa_table(&by_lpa)) }
            h2 { "The last 12 weeks" }
            p { "Every LPA, to the end of " (week) ", from the weekly report." }
            (charts::open_by_grade(&report.trend))
            (charts::percent_within(&report.trend))
            (scheduler_health(&scheduler, zone))
        },
    ))
}

/// A change in percentage points, in words.
fn change_words(points: f64) -> String {
    if points.abs() < 0.05 {
        "no change on the 12 weeks before".to_string()
    } else {
        format!(
            "{} {:.1} points on the 12 weeks before",
            if points > 0.0 { "up" } else { "down" },
            points.abs()
        )
    }
}

/// The position per LPA now: open per queue, breached, due within 7 days.
fn lpa_table(rows: &[(Lpa, CurrentPosition)]) -> Markup {
    html! {
        h2 { "Position by LPA" }
        table.stack #by-lpa {
            caption { "Open packages per LPA now: per queue, breached and due within 7 days" }
            thead {
                tr {
                    th scope="col" { "LPA" }
                    th scope="col" { "Open" }
                    th scope="col" { "Intelligence development" }
                    th scope="col" { "Awaiting enforcement" }
                    th scope="col" { "Breached" }
                    th scope="col" { "Due within 7 days" }
                }
            }
            tbody {
                @for (lpa, position) in rows {
                    @let queue = |stage| position.open_by_stage.get(&stage).copied().unwrap_or(0);
                    tr data-lpa=(lpa.as_str()) {
                        th scope="row" data-label="LPA" { a href=(format!("/?lpa={}", lpa_query(lpa))) { (lpa.as_str()) } }
                        td.number data-label="Open" { (position.open_by_stage.values().sum::<u64>()) }
                        td.number data-label="Intelligence development" { (queue(Stage::IntelligenceDevelopment)) }
                        td.number data-label="Awaiting enforcement" { (queue(Stage::AwaitingEnforcement)) }
                        td.number data-label="Breached" { (position.breached) }
                        td.number data-label="Due within 7 days" { (position.by_grade.values().map(|g| g.due_within_7_days).sum::<u64>()) }
                    }
                }
            }
        }
    }
}

/// An LPA name for a query string.
fn lpa_query(lpa: &Lpa) -> String {
    form_urlencoded::byte_serialize(lpa.as_str().as_bytes()).collect()
}

/// `GET /`.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
    uri: Uri,
) -> Result<Markup, PageError> {
    let (lpa, _) = lpa_from_query(&state, uri.query())?;
    page_for(&state, &signed_in, lpa).await
}

/// The LPA filter: a GET form, a select of the configured LPAs (a text
/// field when the force lists none).
pub(crate) fn lpa_filter(state: &WebState, chosen: Option<&Lpa>, action: &str) -> Markup {
    let lpas = state.app.settings().lpas.all();
    html! {
        form.filter method="get" action=(action) {
            div.field {
                label for="lpa" { "Local policing area" }
                @if lpas.is_empty() {
                    input #lpa type="text" name="lpa" value=[chosen.map(Lpa::as_str)];
                } @else {
                    select #lpa name="lpa" {
                        option value="" selected[chosen.is_none()] { "All LPAs" }
                        @for lpa in lpas {
                            option value=(lpa.as_str()) selected[chosen == Some(lpa)] { (lpa.as_str()) }
                        }
                    }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

/// One row of the position table.
fn position_row(
    queue: &str,
    grade: RiskGrade,
    key: &str,
    figures: &GradeFigures,
    zone: Tz,
) -> Markup {
    html! {
        tr data-key=(key) {
            th scope="row" data-label="Queue" { (queue) }
            th scope="row" data-label="Grade" { (grade.label()) }
            td.number data-label="Open" { (figures.open) }
            td.number data-label="Breached" { (figures.breached) }
            td.number data-label="Due within 7 days" { (figures.due_within_7_days) }
            td data-label="Oldest received" {
                (time_or(figures.oldest_received_at, zone, "–"))
                @if let Some(days) = figures.oldest_age_days {
                    " (" (days) (if days == 1 { " day" } else { " days" }) " old)"
                }
            }
        }
    }
}

/// The position per queue and grade, then per grade across both queues.
fn position_table(position: &CurrentPosition, zone: Tz) -> Markup {
    html! {
        h2 { "Position by queue and grade" }
        table.stack {
            caption { "Open packages per queue and grade: breached, due within 7 days, and the oldest" }
            thead {
                tr {
                    th scope="col" { "Queue" }
                    th scope="col" { "Grade" }
                    th scope="col" { "Open" }
                    th scope="col" { "Breached" }
                    th scope="col" { "Due within 7 days" }
                    th scope="col" { "Oldest received" }
                }
            }
            tbody {
                @for (stage, grades) in &position.by_stage_and_grade {
                    @for (grade, figures) in grades {
                        (position_row(stage.label(), *grade, &format!("{}/{}", stage.as_str(), grade.as_str()), figures, zone))
                    }
                }
                @for (grade, figures) in &position.by_grade {
                    (position_row("Both queues", *grade, &format!("all/{}", grade.as_str()), figures, zone))
                }
            }
        }
        p { "Open in each queue: "
            @for (i, (stage, open)) in position.open_by_stage.iter().enumerate() {
                @if i > 0 { ", " }
                (stage.label()) " " (open)
            }
            "." }
    }
}

/// The scheduler's last pass, lag, and messages undelivered and dead.
fn scheduler_health(figures: &SchedulerFigures, zone: Tz) -> Markup {
    let lag = chrono::Duration::seconds(figures.lag_seconds);
    html! {
        h2 { "Scheduler" }
        @if figures.passes_failing {
            div.problem role="alert" {
                p { "The scheduler's passes are failing"
                    @if let Some(kind) = figures.last_failure_kind { " (" (kind) ")" }
                    ": escalations are not being sent. Tell the service's administrator." }
            }
        }
        dl.figures {
            div { dt { "Last pass" } dd #scheduler-last-pass { (time_or(figures.last_pass_at, zone, "never")) } }
            div { dt { "Lag" } dd #scheduler-lag {
                @if figures.lag_seconds == 0 { "none" } @else { (crate::text::describe_duration(lag)) }
            } }
            div { dt { "Messages not yet delivered" } dd #scheduler-undelivered { (figures.due_not_delivered) } }
            div { dt { "Messages given up (dead)" } dd #scheduler-dead { (figures.dead) } }
            @if let Some(at) = figures.last_failure_at {
                div { dt { "Last failed pass" } dd { (time(at, zone)) } }
            }
        }
    }
}
