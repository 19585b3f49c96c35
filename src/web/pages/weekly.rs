//! `/reports/weekly?week=2024-W05`: the weekly performance report of any
//! ended ISO week (the last complete one by default), rebuilt by
//! [`App::weekly_report`] exactly as the API and the digest build it: the
//! headline, the position per queue and grade, the breaches, the LPAs and
//! the 12-week trend. `/reports/weekly.csv?week=...` downloads the CSV.
//! Both reads are audited as the API's (`report.read`). A bad or
//! unfinished week is shown as a message naming it, with the week picker.
//!
//! The digest's HTML is built for email (inline styles, which the
//! dashboard's Content-Security-Policy forbids), so the page draws the
//! same model with the dashboard's own markup.
//!
//! [`App::weekly_report`]: crate::app::App::weekly_report

use super::super::format::{percent, time};
use super::super::layout::{page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::{chrome, encode, form_fields};
use crate::domain::{IsoWeek, RiskGrade, Stage};
use crate::report::{render, WeeklyReport};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

/// The week a query asks for: the last complete one when absent or empty;
/// refused, with a message naming it, when it is not a week or has not
/// ended.
fn week_from_query(state: &WebState, query: Option<&str>) -> Result<IsoWeek, (String, String)> {
    let fields = form_fields(query.unwrap_or_default().as_bytes());
    let app = &state.app;
    let now = app.now();
    let zone = app.settings().time_zone;
    let week = match fields.get("week").map(|w| w.trim()) {
        None | Some("") => IsoWeek::last_complete(now, zone),
        Some(text) => text
            .parse::<IsoWeek>()
            .map_err(|e| (text.to_string(), format!("Week {text:?}: {e}")))?,
    };
    week.check_ended(now, zone)
        .map_err(|reason| (week.to_string(), format!("Week {week}: {reason}.")))?;
    Ok(week)
}

/// `GET /reports/weekly`.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
    uri: Uri,
) -> Result<Response, PageError> {
    let week = match week_from_query(&state, uri.query()) {
        Ok(week) => week,
        Err((text, message)) => {
            let page = frame(
                chrome(&state, &signed_in, Nav::Weekly),
                "Weekly report",
                html! {
                    div.problem role="alert" {
                        h2 { "There is a problem" }
                        p #week-problem { (message) }
                    }
                    (week_picker(&text))
                },
            );
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let app = &state.app;
    let now = app.now();
    let report = app.weekly_report(week).await?;
    app.record_read(
        &signed_in.actor(),
        "report.read",
        &format!("week {week}, format html"),
        now,
    )
    .await?;
    Ok(frame(
        chrome(&state, &signed_in, Nav::Weekly),
        &format!("Weekly report, {week}"),
        report_body(&state, &report, week),
    )
    .into_response())
}

/// `GET /reports/weekly.csv`: the open packages at the week's end, as the
/// API's `format=csv`, as an attachment.
pub(crate) async fn csv(
    State(state): State<WebState>,
    signed_in: SignedIn,
    uri: Uri,
) -> Result<Response, PageError> {
    let week =
        week_from_query(&state, uri.query()).map_err(|(_, message)| PageError::Invalid(message))?;
    let app = &state.app;
    let now = app.now();
    let report = app.weekly_report(week).await?;
    app.record_read(
        &signed_in.actor(),
        "report.read",
        &format!("week {week}, format csv"),
        now,
    )
    .await?;
    // The week is YYYY-Www by construction, so the name needs no quoting.
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"ocset-weekly-{week}.csv\""))
            .map_err(|_| PageError::Invalid("the week cannot be written in a file name".into()))?;
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (CONTENT_DISPOSITION, disposition),
        ],
        render::csv(&report),
    )
        .into_response())
}

/// The week picker: a GET form.
fn week_picker(value: &str) -> Markup {
    html! {
        form.filter method="get" action="/reports/weekly" {
            div.field {
                label for="week" { "ISO week (for example 2024-W05)" }
                input #week type="text" name="week" value=(value) pattern="[0-9]{4}-W[0-9]{2}" spellcheck="false";
            }
            button type="submit" { "Show" }
        }
    }
}

/// The report under its `h1`.
fn report_body(state: &WebState, report: &WeeklyReport, week: IsoWeek) -> Markup {
    let zone = state.app.settings().time_zone;
    let h = &report.headline;
    let csv_link = format!("/reports/weekly.csv?week={}", encode(&week.to_string()));
    html! {
        p { "From " (time(week.starts_at(zone), zone)) " to " (time(week.ends_at(zone), zone))
            " (the figures are as at the week's end)." }
        (week_picker(&week.to_string()))
        p { a #csv-link href=(csv_link) download { "Download the open packages at the week's end (CSV)" } }
        div.headline-lines {
            @for line in render::headline_lines(report) { p { (line) } }
        }
        dl.figures aria-label="Headline figures" {
            div { dt { "Open" } dd #weekly-open { (h.open) } }
            div { dt { "Change on last week" } dd #weekly-open-change { (render::signed(h.open_change)) } }
            div { dt { "Breached" } dd #weekly-breached { (h.breached) } }
            div { dt { "Due within 48 hours" } dd #weekly-due-48h { (h.due_within_48_hours) } }
            div { dt { "Due within 7 days" } dd #weekly-due-7d { (h.due_within_7_days) } }
            div { dt { "Enforced within timescale, 12 weeks" } dd #weekly-percent { (percent(h.percent_within_twelve_weeks)) } }
            div { dt { "Change in points on last week" } dd #weekly-percent-change {
                (h.percent_within_change.map_or_else(|| "–".to_string(), |c| format!("{c:+.1}")))
            } }
        }
        h2 { "Open packages at the week's end" }
        @for stage in Stage::OPEN {
            table.stack id={ "position-" (stage.as_str()) } {
                caption { (stage.label()) " (" (report.open_in(stage)) " open)" }
                thead {
                    tr {
                        th scope="col" { "Grade" }
                        th scope="col" { "Open" }
                        th scope="col" { "Change on last week" }
                        th scope="col" { "Oldest (days since receipt)" }
                        th scope="col" { "Breached" }
                        th scope="col" { "Due within 7 days" }
                    }
                }
                tbody {
                    @for grade in RiskGrade::ALL {
                        @let line = report.position_of(stage, grade);
                        tr {
                            th scope="row" data-label="Grade" { (grade.label()) }
                            td.number data-label="Open" { (line.open) }
                            td.number data-label="Change on last week" { (render::signed(line.open_change)) }
                            td.number data-label="Oldest" { (line.oldest_age_days.map_or("–".to_string(), |d| d.to_string())) }
                            td.number data-label="Breached" { (line.breached) }
                            td.number data-label="Due within 7 days" { (line.due_within_7_days) }
                        }
                    }
                }
            }
        }
        h2 { "Breaches at the week's end" }
        @if report.breaches.is_empty() {
            p #no-weekly-breaches { "No open package was past its deadline at the week's end." }
        } @else {
            table.stack #weekly-breaches {
                caption { (report.breaches.len()) " breached packages, most overdue first" }
                thead {
                    tr {
                        th scope="col" { "Reference" }
                        th scope="col" { "Grade" }
                        th scope="col" { "LPA" }
                        th scope="col" { "Queue" }
                        th scope="col" { "Deadline" }
                        th scope="col" { "Days overdue" }
                        th scope="col" { "Officer" }
                        th scope="col" { "Acknowledgement" }
                    }
                }
                tbody {
                    @for line in &report.breaches {
                        tr data-reference=(line.reference) {
                            th scope="row" data-label="Reference" { a href=(super::package_path(&line.reference)) { (line.reference) } }
                            td data-label="Grade" { (line.grade.label()) }
                            td data-label="LPA" { (line.lpa) }
                            td data-label="Queue" { (line.stage.label()) }
                            td data-label="Deadline" { (time(line.deadline_at, zone)) }
                            td.number data-label="Days overdue" { (line.days_overdue.map_or("–".to_string(), |d| d.to_string())) }
                            td data-label="Officer" { (line.officer.as_deref().unwrap_or("Unassigned")) }
                            td data-label="Acknowledgement" { (line.acknowledged().as_deref().unwrap_or("Not acknowledged")) }
                        }
                    }
                }
            }
        }
        h2 { "Why deadlines were missed" }
        table.stack #weekly-breach-reasons {
            caption { "The reason given when each breach was acknowledged; \"Not given\" when it was not acknowledged or no reason was recorded" }
            thead {
                tr {
                    th scope="col" { "Reason" }
                    th scope="col" { "Breaches acknowledged this week" }
                    th scope="col" { "Enforced late this week" }
                }
            }
            tbody {
                @for line in &report.breach_reasons {
                    tr data-reason=(line.reason.as_deref().unwrap_or("not_given")) {
                        th scope="row" data-label="Reason" { (line.label) }
                        td.number data-label="Breaches acknowledged this week" { (line.acknowledged) }
                        td.number data-label="Enforced late this week" { (line.enforced_late) }
                    }
                }
            }
        }
        (flow_tables(report))
        (timeliness_tables(report))
        (safeguarding_table(report))
        (reviews_table(report))
        h2 { "By LPA at the week's end" }
        table.stack #weekly-lpas {
            caption { "Open packages and breaches per LPA" }
            thead {
                tr {
                    th scope="col" { "LPA" }
                    th scope="col" { (Stage::IntelligenceDevelopment.label()) }
                    th scope="col" { (Stage::AwaitingEnforcement.label()) }
                    th scope="col" { "Breached" }
                }
            }
            tbody {
                @for line in &report.by_lpa {
                    tr {
                        th scope="row" data-label="LPA" { (line.lpa) }
                        td.number data-label=(Stage::IntelligenceDevelopment.label()) { (line.intelligence_development) }
                        td.number data-label=(Stage::AwaitingEnforcement.label()) { (line.awaiting_enforcement) }
                        td.number data-label="Breached" { (line.breached) }
                    }
                }
            }
        }
        h2 { "12-week trend" }
        table.stack #weekly-trend {
            caption { "Open packages per grade at each week's end, and enforcement within timescale in each week" }
            thead {
                tr {
                    th scope="col" { "Week" }
                    @for grade in RiskGrade::ALL { th scope="col" { (grade.label()) } }
                    th scope="col" { "Open" }
                    th scope="col" { "Enforced in time" }
                    th scope="col" { "Enforced late" }
                    th scope="col" { "Within timescale" }
                }
            }
            tbody {
                @for point in &report.trend {
                    tr {
                        th scope="row" data-label="Week" { (point.week) }
                        @for grade in RiskGrade::ALL {
                            td.number data-label=(grade.label()) { (point.open_by_grade.get(&grade).copied().unwrap_or(0)) }
                        }
                        td.number data-label="Open" { (point.open) }
                        td.number data-label="Enforced in time" { (point.enforced_within) }
                        td.number data-label="Enforced late" { (point.enforced_late) }
                        td.number data-label="Within timescale" { (percent(point.percent_within)) }
                    }
                }
            }
        }
    }
}

/// Received, enforced and closed, in the week and over 12 weeks, with
/// enforcement within timescale per grade.
fn flow_tables(report: &WeeklyReport) -> Markup {
    let periods = [
        ("week", "In the week", &report.flow.week),
        ("twelve-weeks", "Over 12 weeks", &report.flow.twelve_weeks),
    ];
    html! {
        h2 { "Received, enforced and closed" }
        @for (id, label, figures) in periods {
            table.stack id={ "flow-" (id) } {
                caption {
                    (label) ": " (figures.received) " received, " (figures.enforced)
                    " enforced, " (figures.closed) " closed"
                }
                thead {
                    tr {
                        th scope="col" { "Grade" }
                        th scope="col" { "Enforced within timescale" }
                        th scope="col" { "Enforced late" }
                        th scope="col" { "Within timescale" }
                    }
                }
                tbody {
                    @for line in &figures.by_grade {
                        tr {
                            th scope="row" data-label="Grade" { (line.grade.label()) }
                            td.number data-label="Enforced within timescale" { (line.within) }
                            td.number data-label="Enforced late" { (line.late) }
                            td.number data-label="Within timescale" { (percent(line.percent_within)) }
                        }
                    }
                }
            }
        }
    }
}

/// Days in each queue for the packages that left it, and the outcomes.
fn timeliness_tables(report: &WeeklyReport) -> Markup {
    let days = |d: Option<f64>| d.map_or_else(|| "–".to_string(), |d| format!("{d:.1}"));
    let periods = [
        ("week", "Left in the week", &report.timeliness.week),
        (
            "twelve-weeks",
            "Left over 12 weeks",
            &report.timeliness.twelve_weeks,
        ),
    ];
    html! {
        h2 { "Time in each queue" }
        @for (id, label, lines) in periods {
            table.stack id={ "queue-time-" (id) } {
                caption { (label) ": days spent in each queue by the packages that left it" }
                thead {
                    tr {
                        th scope="col" { "Queue" }
                        th scope="col" { "Left" }
                        th scope="col" { "Median days" }
                        th scope="col" { "90th percentile days" }
                    }
                }
                tbody {
                    @for line in lines {
                        tr {
                            th scope="row" data-label="Queue" { (line.stage.label()) }
                            td.number data-label="Left" { (line.left) }
                            td.number data-label="Median days" { (days(line.median_days)) }
                            td.number data-label="90th percentile days" { (days(line.p90_days)) }
                        }
                    }
                }
            }
        }
        table.stack #outcomes {
            caption { "How clocks stopped over 12 weeks" }
            thead { tr { th scope="col" { "Outcome" } th scope="col" { "Packages" } } }
            tbody {
                @for (outcome, count) in &report.timeliness.outcomes_twelve_weeks {
                    tr {
                        th scope="row" data-label="Outcome" { (outcome.as_str().replace('_', " ")) }
                        td.number data-label="Packages" { (count) }
                    }
                }
            }
        }
    }
}

/// Risk reviews per grade in the week.
fn reviews_table(report: &WeeklyReport) -> Markup {
    html! {
        h2 { "Risk reviews" }
        table.stack #weekly-reviews {
            caption { "Reviews of each open package's risk at its grade's interval: due this week, done this week on time or late, overdue at the week's end" }
            thead {
                tr {
                    th scope="col" { "Grade" }
                    th scope="col" { "Due this week" }
                    th scope="col" { "Done on time" }
                    th scope="col" { "Done late" }
                    th scope="col" { "Overdue at the week's end" }
                }
            }
            tbody {
                @for line in &report.reviews {
                    tr data-grade=(line.grade.as_str()) {
                        th scope="row" data-label="Grade" { (line.grade.label()) }
                        td.number data-label="Due this week" { (line.due) }
                        td.number data-label="Done on time" { (line.done_on_time) }
                        td.number data-label="Done late" { (line.done_late) }
                        td.number data-label="Overdue at the week's end" { (line.overdue_at_end) }
                    }
                }
            }
        }
    }
}

/// Safeguarding referrals in the week.
fn safeguarding_table(report: &WeeklyReport) -> Markup {
    let s = &report.safeguarding;
    html! {
        h2 { "Safeguarding" }
        table.stack #safeguarding {
            caption { "Child access identified and referrals to children's social services" }
            thead { tr { th scope="col" { "Figure" } th scope="col" { "Packages" } } }
            tbody {
                tr { th scope="row" data-label="Figure" { "Child access identified in the week" } td.number #safeguarding-identified data-label="Packages" { (s.identified) } }
                tr { th scope="row" data-label="Figure" { "Referred in the week within " (s.target_hours) " hours" } td.number data-label="Packages" { (s.referred_within_target) } }
                tr { th scope="row" data-label="Figure" { "Referred in the week after " (s.target_hours) " hours" } td.number data-label="Packages" { (s.referred_late) } }
                tr { th scope="row" data-label="Figure" { "Not yet referred at the week's end" } td.number data-label="Packages" { (s.outstanding) } }
                tr { th scope="row" data-label="Figure" { "Of those, past the target" } td.number data-label="Packages" { (s.outstanding_overdue) } }
            }
        }
    }
}
