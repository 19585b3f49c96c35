//! `/officers`: the open packages per assigned officer, with how many of
//! each officer's are breached and due within 48 hours and 7 days, then
//! the unassigned open packages listed. Read through the same audited
//! [`App::list_packages`] path as the breaches page. A supervisor assigns
//! a package (unassigned or not) to an officer here with a form, through
//! the same [`App::change`] and `assign` move as the API; a refusal is
//! shown above the form naming the field, and nothing is written.
//!
//! [`App::list_packages`]: crate::app::App::list_packages
//! [`App::change`]: crate::app::App::change

use super::super::format::time;
use super::super::layout::{csrf_field, page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::{chrome, form_fields, open_packages_table, see_other, supervisor_form};
use crate::domain::{OfficerEmail, Package, Reference, Role};
use crate::store::{PackageFilter, StoreError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use std::collections::BTreeMap;

/// The most open packages the page reads; beyond it the page says so.
const READ_LIMIT: u32 = 5000;

/// One officer's open packages in figures.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    open: u64,
    breached: u64,
    due_48_hours: u64,
    due_7_days: u64,
}

impl Figures {
    fn add(&mut self, package: &Package, now: DateTime<Utc>) {
        let deadline = package.deadline().at();
        self.open += 1;
        if deadline <= now {
            self.breached += 1;
        } else {
            if deadline <= now + chrono::Duration::hours(48) {
                self.due_48_hours += 1;
            }
            if deadline <= now + chrono::Duration::days(7) {
                self.due_7_days += 1;
            }
        }
    }
}

/// What the assignment form says above itself.
enum Outcome {
    /// Nothing was posted.
    None,
    /// `reference` was assigned to `officer`.
    Assigned { reference: String, officer: String },
    /// Refused: the message names the field; the form keeps the values.
    Refused {
        message: String,
        reference: String,
        officer: String,
    },
}

/// `GET /officers`.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
    uri: Uri,
) -> Result<Markup, PageError> {
    let query = form_fields(uri.query().unwrap_or_default().as_bytes());
    let outcome = match (query.get("assigned"), query.get("officer")) {
        (Some(reference), Some(officer)) => Outcome::Assigned {
            reference: reference.clone(),
            officer: officer.clone(),
        },
        _ => Outcome::None,
    };
    render(&state, &signed_in, &outcome).await
}

/// The page, with `outcome` above the form.
async fn render(
    state: &WebState,
    signed_in: &SignedIn,
    outcome: &Outcome,
) -> Result<Markup, PageError> {
    let app = &state.app;
    let now = app.now();
    let zone = app.settings().time_zone;
    let filter = PackageFilter {
        open_only: true,
        limit: Some(READ_LIMIT + 1),
        ..PackageFilter::default()
    };
    let mut packages = app.list_packages(&filter, &signed_in.actor()).await?;
    let more = packages.len() > READ_LIMIT as usize;
    packages.truncate(READ_LIMIT as usize);
    let mut officers: BTreeMap<String, Figures> = BTreeMap::new();
    let mut unassigned = Vec::new();
    for package in &packages {
        match package.assigned_officer() {
            Some(officer) => officers
                .entry(officer.to_string())
                .or_default()
                .add(package, now),
            None => unassigned.push(package),
        }
    }
    let supervisor = signed_in.may(Role::Supervisor);
    Ok(frame(
        chrome(state, signed_in, Nav::Officers),
        "Officers",
        html! {
            @match outcome {
                Outcome::Assigned { reference, officer } => {
                    div.notice role="status" { p { (reference) " is assigned to " (officer) "." } }
                }
                Outcome::Refused { message, .. } => {
                    div.problem role="alert" {
                        h2 { "There is a problem" }
                        p #assign-problem { (message) }
                    }
                }
                Outcome::None => {}
            }
            p { "Open packages per assigned officer at " (time(now, zone)) ". Due figures count packages not yet breached."
                @if !supervisor { " Supervisors assign packages here." } }
            @if more {
                p.notice { "Only the " (READ_LIMIT) " open packages with the earliest deadlines are counted." }
            }
            @if officers.is_empty() {
                p #no-officers { "No open package is assigned to an officer." }
            } @else {
                table.stack #officers {
                    caption { (officers.len()) " officers with open packages" }
                    thead {
                        tr {
                            th scope="col" { "Officer" }
                            th scope="col" { "Open" }
                            th scope="col" { "Breached" }
                            th scope="col" { "Due within 48 hours" }
                            th scope="col" { "Due within 7 days" }
                        }
                    }
                    tbody {
                        @for (officer, figures) in &officers {
                            tr data-officer=(officer) {
                                th scope="row" data-label="Officer" { (officer) }
                                td.number data-label="Open" { (figures.open) }
                                td.number data-label="Breached" { (figures.breached) }
                                td.number data-label="Due within 48 hours" { (figures.due_48_hours) }
                                td.number data-label="Due within 7 days" { (figures.due_7_days) }
                            }
                        }
                    }
                }
            }
            h2 { "Unassigned" }
            @if unassigned.is_empty() {
                p #no-unassigned { "Every open package is assigned." }
            } @else {
                (open_packages_table(
                    "unassigned",
                    html! { (unassigned.len()) " open packages with no officer, by deadline" },
                    unassigned.iter().copied(),
                    false,
                    zone,
                    now,
                ))
            }
            @if supervisor {
                h2 { "Assign a package" }
                (assign_form(signed_in, outcome))
            }
        },
    ))
}

/// The assignment form, keeping the values of a refused try.
fn assign_form(signed_in: &SignedIn, outcome: &Outcome) -> Markup {
    let (reference, officer) = match outcome {
        Outcome::Refused {
            reference, officer, ..
        } => (reference.as_str(), officer.as_str()),
        _ => ("", ""),
    };
    html! {
        form.assign method="post" action="/officers/assign" {
            (csrf_field(signed_in))
            div.field {
                label for="reference" { "Reference" }
                input #reference type="text" name="reference" required value=(reference);
            }
            div.field {
                label for="officer" { "Officer email" }
                input #officer type="email" name="officer" required autocomplete="off" value=(officer);
            }
            button type="submit" { "Assign" }
        }
    }
}

/// `POST /officers/assign`: the CSRF token checked first, then the
/// supervisor role, then the fields, then the domain's `assign` move
/// through [`App::change`](crate::app::App::change) (audited in its
/// transaction, as the API's). A 303 back to the page saying what was
/// done; a refusal shows the page again with the message and its status.
pub(crate) async fn assign(
    State(state): State<WebState>,
    signed_in: SignedIn,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = supervisor_form(&signed_in, &body, "Assigning a package")?;
    let reference_text = fields
        .get("reference")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    let officer_text = fields
        .get("officer")
        .map(|o| o.trim().to_string())
        .unwrap_or_default();
    let refuse = |status: StatusCode, message: String| {
        (
            status,
            Outcome::Refused {
                message,
                reference: reference_text.clone(),
                officer: officer_text.clone(),
            },
        )
    };
    let reference = match Reference::parse(&reference_text) {
        Ok(reference) => reference,
        Err(e) => {
            let (status, outcome) = refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Reference: {}", e.0),
            );
            return refused(&state, &signed_in, status, outcome).await;
        }
    };
    let officer = match OfficerEmail::parse(&officer_text) {
        Ok(officer) => officer,
        Err(e) => {
            let (status, outcome) = refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Officer email: {}", e.0),
            );
            return refused(&state, &signed_in, status, outcome).await;
        }
    };
    let assigned = state
        .app
        .change(&reference, &signed_in.actor(), move |p, now| {
            p.assign(officer, now)
        })
        .await;
    let package = match assigned {
        Ok(package) => package,
        Err(StoreError::NotFound(_)) => {
            let (status, outcome) = refuse(
                StatusCode::NOT_FOUND,
                format!("Reference: no package has reference {reference_text}."),
            );
            return refused(&state, &signed_in, status, outcome).await;
        }
        Err(StoreError::Refused(refusal)) => {
            let status = match refusal.kind {
                crate::domain::Refusal::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                crate::domain::Refusal::Conflict => StatusCode::CONFLICT,
            };
            let (status, outcome) =
                refuse(status, format!("Reference {reference_text}: {refusal}"));
            return refused(&state, &signed_in, status, outcome).await;
        }
        Err(other) => return Err(other.into()),
    };
    let officer = package
        .assigned_officer()
        .map(ToString::to_string)
        .unwrap_or_default();
    let location = format!(
        "/officers?assigned={}&officer={}",
        super::encode(&package.reference().to_string()),
        super::encode(&officer)
    );
    see_other(&location)
}

/// The page again with a refusal, answered with `status`.
async fn refused(
    state: &WebState,
    signed_in: &SignedIn,
    status: StatusCode,
    outcome: Outcome,
) -> Result<Response, PageError> {
    let mut response = render(state, signed_in, &outcome).await?.into_response();
    *response.status_mut() = status;
    Ok(response)
}
