//! `/capacity`: the capacity and demand report now, rebuilt by
//! [`App::capacity_report`] exactly as the API and the command build it:
//! demand per grade over 12 and 52 weeks, throughput, time in each queue,
//! each officer's load, the last 12 weeks, and the forecast with the
//! words saying how it is made. The read is audited as the API's
//! (`report.read`). The email HTML carries inline styles, which the
//! dashboard's Content-Security-Policy forbids, so the page draws the
//! same model with the dashboard's own markup.
//!
//! [`App::capacity_report`]: crate::app::App::capacity_report

use super::super::format::time;
use super::super::layout::{page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::chrome;
use crate::domain::{RiskGrade, Stage};
use crate::report::capacity::{CapacityReport, CapacityWindow, WindowFigure, SHORT_WEEKS};
use crate::report::forecast::Horizon;
use crate::report::render::capacity::{digest_lines, range};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

/// `GET /capacity`.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let app = &state.app;
    let now = app.now();
    let report = app.capacity_report(now).await?;
    app.record_read(
        &signed_in.actor(),
        "report.read",
        "capacity, format html",
        now,
    )
    .await?;
    Ok(frame(
        chrome(&state, &signed_in, Nav::Capacity),
        "Capacity and demand",
        body(&state, &report),
    )
    .into_response())
}

fn mean(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

/// A grade's label, or "All grades" for the total line.
fn grade_label(grade: Option<RiskGrade>) -> &'static str {
    grade.map_or("All grades", RiskGrade::label)
}

fn body(state: &WebState, report: &CapacityReport) -> Markup {
    let zone = state.app.settings().time_zone;
    let short = report.window(SHORT_WEEKS);
    let four = report.forecast.as_ref().and_then(|f| f.horizons.first());
    html! {
        p { "As at " (time(report.generated_at, zone)) ", from the complete weeks to "
            (report.last_complete_week) "; the ledger reaches back "
            (report.history_weeks) " of the last 52 weeks." }
        div.headline-lines {
            @for line in digest_lines(report) { p { (line) } }
        }
        dl.figures aria-label="Capacity figures" {
            div { dt { "Open now" } dd #capacity-open { (report.open_total()) } }
            @if let Some(w) = short {
                div { dt { "Received a week, last 12 weeks" } dd #capacity-received-mean { (mean(CapacityWindow::total(&w.received).weekly_mean)) } }
                div { dt { "Enforced a week, last 12 weeks" } dd #capacity-enforced-mean { (mean(CapacityWindow::total(&w.enforced).weekly_mean)) } }
            }
            @if let Some(h) = four {
                div { dt { "Expected to breach, next 4 weeks" } dd #capacity-breaches-4 { (range(&h.breaches)) } }
                div { dt { "Needed a week to meet every deadline" } dd #capacity-needed-4 { (range(&h.needed_per_week)) } }
            }
        }
        h2 { "Demand and throughput" }
        (figure_table(report, "capacity-received", "Packages received, by grade on receipt", |w| &w.received))
        (figure_table(report, "capacity-enforced", "Packages enforced (throughput), by grade when enforced", |w| &w.enforced))
        p #capacity-closed {
            "Closed without enforcement: "
            @for (i, w) in report.windows.iter().enumerate() {
                @if i > 0 { "; " }
                (w.closed.total) " in the last " (w.weeks) " weeks (" (mean(w.closed.weekly_mean)) " a week)"
            }
            "."
        }
        h2 { "Time in each queue" }
        @for stage in Stage::OPEN {
            table.stack id={ "capacity-time-" (stage.as_str()) } {
                caption { (stage.label()) ": days spent, for stays that ended in the last 12 and 52 weeks" }
                thead {
                    tr {
                        th scope="col" { "Grade" }
                        @for w in &report.windows {
                            th scope="col" { "Left, " (w.weeks) " weeks" }
                            th scope="col" { "Median, " (w.weeks) " weeks" }
                            th scope="col" { "90th percentile, " (w.weeks) " weeks" }
                        }
                    }
                }
                tbody {
                    @for grade in RiskGrade::ALL {
                        tr {
                            th scope="row" data-label="Grade" { (grade.label()) }
                            @for w in &report.windows {
                                @if let Some(s) = w.stage_times.iter().find(|s| s.stage == stage && s.grade == grade) {
                                    td.number data-label={ "Left, " (w.weeks) " weeks" } { (s.stays) }
                                    td.number data-label={ "Median days, " (w.weeks) " weeks" } { (mean(s.median_days)) }
                                    td.number data-label={ "90th percentile, " (w.weeks) " weeks" } { (mean(s.p90_days)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Officers" }
        table.stack #capacity-officers {
            caption { "Open packages now and clocks stopped in the last 12 weeks, per assigned officer; "
                (report.unassigned_open) " open packages are unassigned" }
            thead {
                tr {
                    th scope="col" { "Officer" }
                    th scope="col" { "Open now" }
                    th scope="col" { "Enforced, 12 weeks" }
                    th scope="col" { "Closed, 12 weeks" }
                    th scope="col" { "Median days to enforcement" }
                }
            }
            tbody {
                @for o in &report.officers {
                    tr data-officer=(o.officer) {
                        th scope="row" data-label="Officer" { (o.officer) }
                        td.number data-label="Open now" { (o.open) }
                        td.number data-label="Enforced, 12 weeks" { (o.enforced_twelve_weeks) }
                        td.number data-label="Closed, 12 weeks" { (o.closed_twelve_weeks) }
                        td.number data-label="Median days to enforcement" { (mean(o.median_days_to_enforcement)) }
                    }
                }
            }
        }
        h2 { "The last 12 weeks" }
        table.stack #capacity-weeks {
            caption { "Packages received per grade, enforced and closed, in each complete week" }
            thead {
                tr {
                    th scope="col" { "Week" }
                    @for grade in RiskGrade::ALL { th scope="col" { (grade.label()) } }
                    th scope="col" { "Received" }
                    th scope="col" { "Enforced" }
                    th scope="col" { "Closed" }
                }
            }
            tbody {
                @for w in &report.weeks[report.weeks.len().saturating_sub(SHORT_WEEKS as usize)..] {
                    tr {
                        th scope="row" data-label="Week" { (w.week) }
                        @for grade in RiskGrade::ALL {
                            td.number data-label=(grade.label()) { (w.received_by_grade.get(&grade).copied().unwrap_or(0)) }
                        }
                        td.number data-label="Received" { (w.received) }
                        td.number data-label="Enforced" { (w.enforced) }
                        td.number data-label="Closed" { (w.closed) }
                    }
                }
            }
        }
        h2 { "Forecast" }
        @match &report.forecast {
            Some(f) => {
                table.stack #capacity-forecast {
                    caption { "Central figure, with the 10th to 90th percentile in brackets, over " (f.runs) " simulated futures" }
                    thead {
                        tr {
                            th scope="col" { "Figure" }
                            @for h in &f.horizons { th scope="col" { "Next " (h.weeks) " weeks" } }
                        }
                    }
                    tbody {
                        @for (label, pick) in forecast_rows() {
                            tr {
                                th scope="row" data-label="Figure" { (label) }
                                @for h in &f.horizons {
                                    td.number data-label={ "Next " (h.weeks) " weeks" } { (pick(h)) }
                                }
                            }
                        }
                    }
                }
                p { "Already past their deadline now: " (f.already_breached)
                    ". Median officer rate: " (mean(f.officer_rate)) " clocks stopped a week." }
            }
            None => { p #no-forecast { "No forecast yet." } }
        }
        h3 { "How the forecast is made" }
        p #capacity-method { (report.method) }
    }
}

/// The forecast's rows: a label and how to read it from a horizon.
#[allow(clippy::type_complexity)]
fn forecast_rows() -> Vec<(String, Box<dyn Fn(&Horizon) -> String>)> {
    let mut rows: Vec<(String, Box<dyn Fn(&Horizon) -> String>)> = RiskGrade::ALL
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let pick: Box<dyn Fn(&Horizon) -> String> =
                Box::new(move |h: &Horizon| range(&h.arrivals_by_grade[i].arrivals));
            (format!("Received: {}", g.label().to_lowercase()), pick)
        })
        .collect();
    rows.push((
        "Received: all grades".into(),
        Box::new(|h| range(&h.arrivals)),
    ));
    rows.push((
        "Clocks stopped (enforced or closed)".into(),
        Box::new(|h| range(&h.stops)),
    ));
    rows.push((
        "Open at the end, if throughput holds".into(),
        Box::new(|h| range(&h.open_at_end)),
    ));
    rows.push((
        "Expected to breach".into(),
        Box::new(|h| range(&h.breaches)),
    ));
    rows.push((
        "Needed a week to meet every deadline".into(),
        Box::new(|h| range(&h.needed_per_week)),
    ));
    rows.push((
        "Officers needed at the median rate".into(),
        Box::new(|h| h.officers_needed.as_ref().map_or("–".to_string(), range)),
    ));
    rows.push((
        "Needed a week after the first".into(),
        Box::new(|h| range(&h.needed_after_first_week)),
    ));
    rows.push((
        "Officers needed after the first week".into(),
        Box::new(|h| {
            h.officers_after_first_week
                .as_ref()
                .map_or("–".to_string(), range)
        }),
    ));
    rows
}

/// One table of window figures: per grade and in total, each window's
/// total and weekly mean.
fn figure_table(
    report: &CapacityReport,
    id: &str,
    title: &str,
    pick: fn(&CapacityWindow) -> &[WindowFigure],
) -> Markup {
    html! {
        table.stack id=(id) {
            caption { (title) }
            thead {
                tr {
                    th scope="col" { "Grade" }
                    @for w in &report.windows {
                        th scope="col" { "Last " (w.weeks) " weeks" }
                        th scope="col" { "A week, " (w.weeks) " weeks" }
                    }
                }
            }
            tbody {
                @for grade in RiskGrade::ALL.iter().copied().map(Some).chain([None]) {
                    tr {
                        th scope="row" data-label="Grade" { (grade_label(grade)) }
                        @for w in &report.windows {
                            @let f = match grade {
                                Some(g) => CapacityWindow::of_grade(pick(w), g),
                                None => CapacityWindow::total(pick(w)),
                            };
                            td.number data-label={ "Last " (w.weeks) " weeks" } { (f.total) }
                            td.number data-label={ "A week, " (w.weeks) " weeks" } { (mean(f.weekly_mean)) }
                        }
                    }
                }
            }
        }
    }
}
