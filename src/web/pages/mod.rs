//! The dashboard's pages, one file each, and what they share: reading a
//! posted form, the frame's settings, links to packages, words for states.

pub(crate) mod audit;
pub(crate) mod breaches;
pub(crate) mod capacity;
pub(crate) mod due_soon;
pub(crate) mod officers;
pub(crate) mod overview;
pub(crate) mod package;
pub(crate) mod review;
pub(crate) mod sign_in;
pub(crate) mod weekly;

use super::format::{time, time_left};
use super::layout::{Chrome, Nav};
use super::session::SignedIn;
use super::{PageError, WebState};
use crate::domain::{Lpa, Package, PackageStatus};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};
use std::collections::HashMap;

/// A posted form's fields (`application/x-www-form-urlencoded`); a field
/// given twice keeps its first value.
pub(crate) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        fields
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    fields
}

/// Refuses a posted form whose CSRF field is not the session's.
pub(crate) fn check_csrf(
    signed_in: &SignedIn,
    fields: &HashMap<String, String>,
) -> Result<(), PageError> {
    if signed_in.csrf_matches(fields.get(super::session::CSRF_FIELD).map(String::as_str)) {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "The form's security token is missing or out of date. Go back, reload the page and try again.".into(),
        ))
    }
}

/// A supervisor's posted form: its fields, once its CSRF token (first)
/// and then the supervisor role are checked. `doing` names the action in
/// the refusal ("Recording a review").
pub(crate) fn supervisor_form(
    signed_in: &SignedIn,
    body: &[u8],
    doing: &str,
) -> Result<HashMap<String, String>, PageError> {
    let fields = form_fields(body);
    check_csrf(signed_in, &fields)?;
    if !signed_in.may(crate::domain::Role::Supervisor) {
        return Err(PageError::Forbidden(format!(
            "{doing} needs the supervisor role; you are signed in as {}.",
            signed_in.session.role
        )));
    }
    Ok(fields)
}

/// A 303 to `location` after a form has acted.
pub(crate) fn see_other(location: &str) -> Result<axum::response::Response, PageError> {
    use axum::response::IntoResponse;
    let location = axum::http::HeaderValue::from_str(location)
        .map_err(|_| PageError::Invalid("the reference cannot be written in a link".into()))?;
    Ok((
        axum::http::StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response())
}

/// The frame for a signed-in page.
pub(crate) fn chrome<'a>(state: &'a WebState, signed_in: &'a SignedIn, current: Nav) -> Chrome<'a> {
    Chrome {
        marking: state.app.settings().marking(),
        signed_in: Some(signed_in),
        current,
    }
}

/// What a reference keeps unencoded in a link: letters, digits and the
/// unreserved `-_.~` (a `/` in a reference is encoded, so that it stays
/// one path segment).
const SEGMENT_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` percent-encoded for one path segment or query value.
pub(crate) fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT_KEEP).to_string()
}

/// The dashboard path of a package.
pub(crate) fn package_path(reference: &str) -> String {
    format!("/packages/{}", encode(reference))
}

/// The LPA a page's `lpa` query parameter names: `None` for all (absent
/// or empty), refused when it is not one of the force's.
pub(crate) fn lpa_from_query(
    state: &WebState,
    query: Option<&str>,
) -> Result<(Option<Lpa>, HashMap<String, String>), PageError> {
    let fields = form_fields(query.unwrap_or_default().as_bytes());
    let lpa = match fields.get("lpa").map(|l| l.trim()) {
        None | Some("") => None,
        Some(name) => Some(
            state
                .app
                .settings()
                .lpas
                .parse(name)
                .map_err(|e| PageError::Invalid(e.0))?,
        ),
    };
    Ok((lpa, fields))
}

/// A status as a person reads it.
pub(crate) fn status_label(status: PackageStatus) -> &'static str {
    match status {
        PackageStatus::OnTrack => "On track",
        PackageStatus::DueSoon => "Due soon",
        PackageStatus::Breached => "Breached",
        PackageStatus::Met => "Met (enforced in time)",
        PackageStatus::Missed => "Missed (enforced late)",
        PackageStatus::Closed => "Closed",
    }
}

/// A snake_case name as words: `warrant_executed` → "warrant executed".
pub(crate) fn words(name: &str) -> String {
    name.replace('_', " ")
}

/// A table of open packages by deadline (due soon, unassigned): each
/// reference linking to its page, the officer's column when `with_officer`,
/// and the time left at `now`.
pub(crate) fn open_packages_table<'a>(
    id: &str,
    caption: Markup,
    packages: impl IntoIterator<Item = &'a Package>,
    with_officer: bool,
    zone: Tz,
    now: DateTime<Utc>,
) -> Markup {
    html! {
        table.stack id=(id) {
            caption { (caption) }
            thead {
                tr {
                    th scope="col" { "Reference" }
                    th scope="col" { "Grade" }
                    th scope="col" { "Queue" }
                    th scope="col" { "LPA" }
                    @if with_officer { th scope="col" { "Officer" } }
                    th scope="col" { "Deadline" }
                    th scope="col" { "Time left" }
                }
            }
            tbody {
                @for package in packages {
                    @let reference = package.reference().to_string();
                    tr data-reference=(reference) {
                        th scope="row" data-label="Reference" { a href=(package_path(&reference)) { (reference) } }
                        td data-label="Grade" { (package.grade().label()) }
                        td data-label="Queue" { (package.stage().label()) }
                        td data-label="LPA" { (package.lpa().as_str()) }
                        @if with_officer {
                            td data-label="Officer" {
                                (package.assigned_officer().map_or("Unassigned".to_string(), ToString::to_string))
                            }
                        }
                        td data-label="Deadline" { (time(package.deadline().at(), zone)) }
                        td data-label="Time left" { (time_left(package.deadline().at(), now)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_become_one_path_segment() {
        assert_eq!(package_path("NCA-2024/01.x"), "/packages/NCA-2024%2F01.x");
        assert_eq!(package_path("A1"), "/packages/A1");
    }

    #[test]
    fn a_repeated_field_keeps_its_first_value() {
        let fields = form_fields(b"csrf=a&csrf=b&note=Warrant+Thursday%21");
        assert_eq!(fields["csrf"], "a");
        assert_eq!(fields["note"], "Warrant Thursday!");
    }
}
