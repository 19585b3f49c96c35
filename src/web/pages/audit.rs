//! `/audit`: the audit log, newest first, the last [`SHOWN`] lines that
//! match the GET form's filters (a package's reference, and text in the
//! actor's name). Administrators only: anyone else is answered 403. The
//! log names packages and who read them, so showing it is itself
//! recorded (`audit.read`).

use super::super::format::time;
use super::super::layout::{page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::{chrome, form_fields};
use crate::domain::{Reference, Role};
use axum::extract::State;
use axum::http::Uri;
use maud::{html, Markup};

/// The most lines the page shows.
const SHOWN: usize = 500;

/// `GET /audit`.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
    uri: Uri,
) -> Result<Markup, PageError> {
    if !signed_in.may(Role::Admin) {
        return Err(PageError::Forbidden(format!(
            "The audit log needs the admin role; you are signed in as {}.",
            signed_in.session.role
        )));
    }
    let query = form_fields(uri.query().unwrap_or_default().as_bytes());
    let reference_text = query
        .get("reference")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    let actor_text = query
        .get("actor")
        .map(|a| a.trim().to_string())
        .unwrap_or_default();
    let reference = if reference_text.is_empty() {
        None
    } else {
        Some(
            Reference::parse(&reference_text)
                .map_err(|e| PageError::Invalid(format!("Reference: {}", e.0)))?,
        )
    };
    let app = &state.app;
    let now = app.now();
    let zone = app.settings().time_zone;
    let needle = actor_text.to_lowercase();
    let mut lines: Vec<_> = app
        .audit_log(reference.as_ref())
        .await?
        .into_iter()
        .filter(|line| needle.is_empty() || line.actor.to_lowercase().contains(&needle))
        .collect();
    let matching = lines.len();
    lines.reverse();
    lines.truncate(SHOWN);
    // The package searched for goes in the line's `reference` column, not
    // its detail: the chain hashes the detail as it is, but the reference
    // only through its salted digest, so a retention purge can replace it
    // by the pseudonym and the chain still verifies.
    let mut detail = Vec::new();
    if !actor_text.is_empty() {
        detail.push(format!("actor={actor_text}"));
    }
    detail.push(format!("count={}", lines.len()));
    app.audit_read(
        &signed_in.actor(),
        "audit.read",
        reference.as_ref(),
        Some(&detail.join(" ")),
        now,
    )
    .await?;
    Ok(frame(
        chrome(&state, &signed_in, Nav::Audit),
        "Audit log",
        html! {
            p { "Who did what, newest first, at " (time(now, zone)) "." }
            form.filter method="get" action="/audit" {
                div.field {
                    label for="reference" { "Package reference" }
                    input #reference type="text" name="reference" value=(reference_text) spellcheck="false";
                }
                div.field {
                    label for="actor" { "Actor (part of the name)" }
                    input #actor type="text" name="actor" value=(actor_text) spellcheck="false";
                }
                button type="submit" { "Show" }
            }
            @if lines.is_empty() {
                p #no-audit { "No audit line matches." }
            } @else {
                table.stack #audit {
                    caption {
                        @if matching > lines.len() { "The latest " (lines.len()) " of " (matching) " matching lines" }
                        @else { (lines.len()) " matching lines" }
                        ", newest first"
                    }
                    thead {
                        tr {
                            th scope="col" { "When" }
                            th scope="col" { "Actor" }
                            th scope="col" { "Action" }
                            th scope="col" { "Package" }
                            th scope="col" { "Detail" }
                            th scope="col" { "Request" }
                        }
                    }
                    tbody {
                        @for line in &lines {
                            tr data-sequence=(line.sequence) {
                                th scope="row" data-label="When" { (time(line.at, zone)) }
                                td data-label="Actor" { (line.actor) }
                                td data-label="Action" { (line.action) }
                                td data-label="Package" {
                                    @if let Some(reference) = &line.reference {
                                        a href=(super::package_path(reference)) { (reference) }
                                    } @else { "–" }
                                }
                                td data-label="Detail" { (line.detail.as_deref().unwrap_or("")) }
                                td data-label="Request" { (line.request_id.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        },
    ))
}
