//! `/packages/{reference}`: one package as the API's read shows it: the
//! deadline with the time left or overdue in words, grade, stage, LPA,
//! officer, safeguarding, the acknowledgement, its history as a timeline,
//! and each escalation with its deliveries. Read through [`App::read`],
//! which audits the read before anything is shown.
//!
//! [`App::read`]: crate::app::App::read

use super::super::format::{time, time_left, time_or};
use super::super::layout::{page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::breaches::{acknowledge_form, is_acknowledged, reason_words};
use super::{chrome, status_label, words};
use crate::domain::{BreachReasons, EventKind, PackageStatus, Reference, Role};
use crate::store::{EscalationRecord, LedgerEvent};
use axum::extract::{Path, State};
use chrono_tz::Tz;
use maud::{html, Markup};

/// `GET /packages/{reference}`: 404 for an unknown reference.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(text): Path<String>,
) -> Result<Markup, PageError> {
    let not_found = || PageError::NotFound(format!("No package has reference {text}."));
    let reference = Reference::parse_exact(&text).map_err(|_| not_found())?;
    let app = &state.app;
    let record = app
        .read(&reference, &signed_in.actor())
        .await?
        .ok_or_else(not_found)?;
    let zone = app.settings().time_zone;
    let reasons = &app.settings().breach_reasons;
    let now = app.now();
    let package = &record.package;
    let view = app.view(package);
    let reference = view.reference.clone();
    let open = matches!(
        view.status,
        PackageStatus::OnTrack | PackageStatus::DueSoon | PackageStatus::Breached
    );
    Ok(frame(
        chrome(&state, &signed_in, Nav::Elsewhere),
        &format!("Package {reference}"),
        html! {
            dl.summary {
                div { dt { "Status" } dd #status { (status_label(view.status)) } }
                div { dt { "Deadline" } dd #deadline {
                    (time(view.deadline_at, zone))
                    @if open { " – " strong { (time_left(view.deadline_at, now)) } }
                } }
                div { dt { "Grade" } dd { (view.risk_grade.label()) } }
                div { dt { "Queue" } dd { (view.stage.label()) } }
                div { dt { "LPA" } dd { (view.lpa) } }
                div { dt { "Officer" } dd { (view.assigned_officer.as_deref().unwrap_or("Unassigned")) } }
                div { dt { "Received" } dd { (time(view.received_at, zone)) } }
                @if view.clock_started_at != view.received_at {
                    div { dt { "Clock started" } dd { (time(view.clock_started_at, zone)) } }
                }
                @if let Some(stopped) = view.clock_stopped_at {
                    div { dt { "Clock stopped" } dd {
                        (time(stopped, zone))
                        @if let Some(outcome) = view.outcome { " (" (words(outcome.as_str())) ")" }
                    } }
                }
                div { dt { "Child access identified" } dd { (time_or(view.child_access_identified_at, zone, "not recorded")) } }
                div { dt { "Safeguarding referral" } dd { (time_or(view.safeguarding_referral_at, zone, "not recorded")) } }
                div { dt { "Deadline policy" } dd { (view.policy_version) } }
                @if let Some(next) = view.next_review_due_at {
                    div { dt { "Next risk review" } dd #next-review {
                        (time(next, zone)) " – " strong { (time_left(next, now)) }
                    } }
                }
            }
            @if open && signed_in.may(Role::Supervisor) {
                h2 { "Review the risk" }
                (super::review::review_form(&signed_in, &reference, view.risk_grade))
            }
            h2 { "Acknowledgement" }
            @match package.acknowledgement().filter(|_| is_acknowledged(package)) {
                Some(ack) => p #acknowledgement { "Acknowledged by " (ack.by) " at " (time(ack.at, zone)) ". Why the deadline was missed: " span.reason { (reason_words(reasons, ack)) } ". " (ack.note) }
                None => {
                    @if view.status == PackageStatus::Breached {
                        p #acknowledgement { "The breach is not acknowledged." }
                        @if signed_in.may(Role::Supervisor) { (acknowledge_form(&signed_in, reasons, &reference, "package")) }
                    } @else {
                        p #acknowledgement { "Nothing to acknowledge: the package has not breached its current deadline." }
                    }
                }
            }
            h2 { "History" }
            ol.timeline {
                @for event in &record.events {
                    li { (time(event.occurred_at, zone)) " – " (describe(event, zone, reasons)) span.actor { " (" (event.actor) ")" } }
                }
            }
            h2 { "Escalations" }
            (escalations(&record.escalations, zone))
        },
    ))
}

/// One ledger event in words.
fn describe(event: &LedgerEvent, zone: Tz, reasons: &BreachReasons) -> Markup {
    match &event.kind {
        EventKind::Created {
            risk_grade,
            stage,
            lpa,
            deadline_at,
            ..
        } => html! {
            "Received: " (risk_grade.label()) ", " (stage.label()) ", " (lpa) "; deadline " (time(*deadline_at, zone))
        },
        EventKind::Regraded {
            from,
            to,
            reason,
            previous_deadline_at,
            deadline_at,
            ..
        } => html! {
            "Regraded from " (from.label()) " to " (to.label()) ": " (reason) ". Deadline "
            (time(*deadline_at, zone)) " (was " (time(*previous_deadline_at, zone)) ")"
        },
        EventKind::StageChanged {
            from,
            to,
            outcome,
            note,
        } => html! {
            "Moved from " (from.label()) " to " (to.label())
            @if let Some(outcome) = outcome { " (" (words(outcome.as_str())) ")" }
            @if let Some(note) = note { ": " (note) }
        },
        EventKind::Reviewed {
            note,
            risk_grade,
            regraded_from,
            review_due_at,
            next_review_due_at,
        } => html! {
            "Risk reviewed: "
            @if let Some(from) = regraded_from { "regraded from " (from.label()) " to " (risk_grade.label()) }
            @else { (risk_grade.label()) " confirmed" }
            ": " (note) ". Was due " (time(*review_due_at, zone))
            @if event.occurred_at > *review_due_at { " (late)" }
            "; next review due " (time(*next_review_due_at, zone))
        },
        EventKind::ReviewClockStarted => html! {
            "Review clock started (reviews were introduced)"
        },
        EventKind::Assigned { from, to } => html! {
            "Assigned to " (to) @if let Some(from) = from { " (was " (from) ")" }
        },
        EventKind::Acknowledged {
            reason,
            note,
            deadline_at,
        } => html! {
            "Breach of the deadline " (time(*deadline_at, zone)) " acknowledged ("
            (reason.as_ref().map_or("no reason recorded", |r| reasons.label(r))) "): " (note)
        },
        EventKind::SafeguardingUpdated {
            child_access_identified_at,
            referral_made_at,
        } => html! {
            "Safeguarding updated: child access identified "
            (time_or(*child_access_identified_at, zone, "not recorded"))
            "; referral made " (time_or(*referral_made_at, zone, "not recorded"))
        },
    }
}

/// Each escalation, with to whom each message went, when and how it went.
fn escalations(records: &[EscalationRecord], zone: Tz) -> Markup {
    html! {
        @if records.is_empty() {
            p #no-escalations { "No escalation yet." }
        } @else {
            table.stack #escalations {
                caption { "Escalations, oldest first, with each delivery" }
                thead {
                    tr {
                        th scope="col" { "Level" }
                        th scope="col" { "Fell due" }
                        th scope="col" { "Status" }
                        th scope="col" { "Deliveries" }
                    }
                }
                tbody {
                    @for record in records {
                        tr {
                            th scope="row" data-label="Level" {
                                (words(&record.level))
                                @if record.occurrence > 0 { " (repeat " (record.occurrence) ")" }
                            }
                            td data-label="Fell due" { (time(record.due_at, zone)) }
                            td data-label="Status" { (words(&record.status)) }
                            td data-label="Deliveries" {
                                @if record.deliveries.is_empty() { "None" } @else {
                                    ul.deliveries {
                                        @for delivery in &record.deliveries {
                                            li {
                                                (delivery.destination.channel()) " to " (delivery.destination.to()) ": "
                                                (words(&delivery.status))
                                                @if let Some(at) = delivery.sent_at { " at " (time(at, zone)) }
                                                @if delivery.attempts > 0 { "; " (delivery.attempts) " failed attempt" @if delivery.attempts != 1 { "s" } }
                                                @if let Some(error) = &delivery.last_error { "; last error: " (error) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
