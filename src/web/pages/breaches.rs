//! `/breaches`: open packages past their deadline, most overdue first (the
//! list `/api/v1/breaches` gives, through the same audited [`App::list`]
//! path), each linking to its page; a supervisor acknowledges each
//! unacknowledged breach here with a reason and a note, through the same
//! [`App::change`] and `acknowledge` move as the API.
//!
//! [`App::list`]: crate::app::App::list
//! [`App::change`]: crate::app::App::change

use super::super::format::{time, time_left};
use super::super::layout::{csrf_field, page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::{chrome, lpa_from_query, package_path, see_other, supervisor_form};
use crate::domain::{Acknowledgement, BreachReasons, Package, PackageStatus, Reference, Role};
use crate::store::PackageFilter;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use maud::{html, Markup};

/// The most breaches one page shows.
const PAGE_LIMIT: u32 = 200;

/// Whether `package`'s current breach is acknowledged (an acknowledgement
/// belongs to one deadline).
pub(crate) fn is_acknowledged(package: &Package) -> bool {
    package
        .acknowledgement()
        .is_some_and(|a| a.deadline_at == package.deadline().at())
}

/// Why an acknowledged breach was missed, in words: the reason's label, or
/// that none was recorded (acknowledgements made before reasons were asked
/// for).
pub(crate) fn reason_words<'a>(reasons: &'a BreachReasons, ack: &'a Acknowledgement) -> &'a str {
    ack.reason
        .as_ref()
        .map_or("no reason recorded", |r| reasons.label(r))
}

/// The acknowledgement form for one package, for a supervisor: the reason
/// from the force's list, and a note; `back` says which page to return to
/// (`breaches` or `package`).
pub(crate) fn acknowledge_form(
    signed_in: &SignedIn,
    reasons: &BreachReasons,
    reference: &str,
    back: &str,
) -> Markup {
    let field = format!("note-{reference}");
    let reason_field = format!("reason-{reference}");
    html! {
        form.acknowledge method="post" action={ (package_path(reference)) "/acknowledge" } {
            (csrf_field(signed_in))
            input type="hidden" name="back" value=(back);
            div.field {
                label for=(reason_field) { "Why the deadline was missed" }
                select id=(reason_field) name="reason" required {
                    option value="" { "Choose a reason" }
                    @for entry in reasons.entries() {
                        option value=(entry.code) { (entry.label) }
                    }
                }
            }
            div.field {
                label for=(field) { "Note: what is being done (no names)" }
                textarea id=(field) name="note" rows="2" required maxlength=(crate::domain::MAX_NOTE_CHARS) {}
            }
            button type="submit" { "Acknowledge breach of " (reference) }
        }
    }
}

/// `GET /breaches`.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
    uri: Uri,
) -> Result<Markup, PageError> {
    let (lpa, query) = lpa_from_query(&state, uri.query())?;
    let app = &state.app;
    let now = app.now();
    let zone = app.settings().time_zone;
    let reasons = &app.settings().breach_reasons;
    let filter = PackageFilter {
        status: Some((PackageStatus::Breached, now)),
        lpa: lpa.as_ref().map(ToString::to_string),
        limit: Some(PAGE_LIMIT + 1),
        ..PackageFilter::default()
    };
    let mut packages = app.list_packages(&filter, &signed_in.actor()).await?;
    let more = packages.len() > PAGE_LIMIT as usize;
    packages.truncate(PAGE_LIMIT as usize);
    let supervisor = signed_in.may(Role::Supervisor);
    let acknowledged = query.get("acknowledged");
    let title = match &lpa {
        Some(lpa) => format!("Breaches: {lpa}"),
        None => "Breaches".to_string(),
    };
    Ok(frame(
        chrome(&state, &signed_in, Nav::Breaches),
        &title,
        html! {
            @if let Some(reference) = acknowledged {
                div.notice role="status" { p { "The breach of " (reference) " is acknowledged." } }
            }
            p { "Open packages past their deadline, most overdue first, at " (time(now, zone)) "."
                @if !supervisor { " Supervisors acknowledge breaches here." } }
            (super::overview::lpa_filter(&state, lpa.as_ref(), "/breaches"))
            @if packages.is_empty() {
                p #no-breaches { "No open package is past its deadline." }
            } @else {
                table.stack #breaches {
                    caption { (packages.len()) " breached packages" @if more { " (the " (PAGE_LIMIT) " most overdue; choose an LPA to see others)" } }
                    thead {
                        tr {
                            th scope="col" { "Reference" }
                            th scope="col" { "Grade" }
                            th scope="col" { "Queue" }
                            th scope="col" { "LPA" }
                            th scope="col" { "Deadline" }
                            th scope="col" { "Overdue by" }
                            th scope="col" { "Officer" }
                            th scope="col" { "Acknowledgement" }
                        }
                    }
                    tbody {
                        @for package in &packages {
                            @let reference = package.reference().to_string();
                            tr data-reference=(reference) {
                                th scope="row" data-label="Reference" { a href=(package_path(&reference)) { (reference) } }
                                td data-label="Grade" { (package.grade().label()) }
                                td data-label="Queue" { (package.stage().label()) }
                                td data-label="LPA" { (package.lpa().as_str()) }
                                td data-label="Deadline" { (time(package.deadline().at(), zone)) }
                                td data-label="Overdue by" { (time_left(package.deadline().at(), now)) }
                                td data-label="Officer" { (package.assigned_officer().map_or("Unassigned".to_string(), ToString::to_string)) }
                                td data-label="Acknowledgement" {
                                    @match package.acknowledgement().filter(|_| is_acknowledged(package)) {
                                        Some(ack) => { "By " (ack.by) " at " (time(ack.at, zone)) " (" (reason_words(reasons, ack)) "): " (ack.note) }
                                        None => {
                                            @if supervisor { (acknowledge_form(&signed_in, reasons, &reference, "breaches")) }
                                            @else { "Not acknowledged" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// `POST /packages/{reference}/acknowledge`: the CSRF token checked first,
/// then the supervisor role, then the domain's `acknowledge` move through
/// [`App::change`](crate::app::App::change) (audited in its transaction, as
/// the API's). A 303 back to the breaches (or the package) page.
pub(crate) async fn acknowledge(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(text): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = supervisor_form(&signed_in, &body, "Acknowledging a breach")?;
    let reference = Reference::parse_exact(&text)
        .map_err(|_| PageError::NotFound(format!("No package has reference {text}.")))?;
    let reasons = &state.app.settings().breach_reasons;
    let reason = reasons
        .parse(fields.get("reason").map(String::as_str).unwrap_or_default())
        .map_err(|why| PageError::Invalid(format!("Why the deadline was missed: {why}")))?;
    let note = fields.get("note").cloned().unwrap_or_default();
    let actor = signed_in.actor();
    let by = actor.name.clone();
    let package = state
        .app
        .change(&reference, &actor, move |p, now| {
            p.acknowledge(&reason, &note, &by, now)
        })
        .await?;
    let stored = package.reference().to_string();
    let location = match fields.get("back").map(String::as_str) {
        Some("package") => package_path(&stored),
        _ => format!("/breaches?acknowledged={}", super::encode(&stored)),
    };
    see_other(&location)
}
