//! The package page's review form and `POST /packages/{reference}/review`:
//! a supervisor records a review of the package's risk, confirming its
//! grade or changing it, through [`App::review`] (the regrade, if any, and
//! the review in one audited transaction), with the session's CSRF token
//! checked before anything else.
//!
//! [`App::review`]: crate::app::App::review

use super::super::layout::csrf_field;
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::{package_path, see_other, supervisor_form};
use crate::domain::{parse_instant, Reference, RiskGrade};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};

/// The form: the grade (the current one first, meaning "confirmed"), a
/// note, and optionally when the review was made (now when blank).
pub(crate) fn review_form(signed_in: &SignedIn, reference: &str, grade: RiskGrade) -> Markup {
    html! {
        form.review method="post" action={ (package_path(reference)) "/review" } {
            (csrf_field(signed_in))
            div.field {
                label for="review-grade" { "Grade after the review" }
                select id="review-grade" name="risk_grade" {
                    option value=(grade.as_str()) selected { (grade.label()) " (confirmed)" }
                    @for other in RiskGrade::ALL.into_iter().filter(|g| *g != grade) {
                        option value=(other.as_str()) { (other.label()) " (regrade)" }
                    }
                }
            }
            div.field {
                label for="review-note" { "Note: what was considered and decided (no names)" }
                textarea id="review-note" name="note" rows="2" required maxlength=(crate::domain::MAX_NOTE_CHARS) {}
            }
            div.field {
                label for="review-at" { "Reviewed at (YYYY-MM-DD HH:MM; blank for now)" }
                input id="review-at" name="reviewed_at" type="text";
            }
            button type="submit" { "Record the review of " (reference) }
        }
    }
}

/// `POST /packages/{reference}/review`: the CSRF token, then the supervisor
/// role, then the review. A 303 back to the package page.
pub(crate) async fn review(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(text): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = supervisor_form(&signed_in, &body, "Recording a review")?;
    let reference = Reference::parse_exact(&text)
        .map_err(|_| PageError::NotFound(format!("No package has reference {text}.")))?;
    let grade = match fields.get("risk_grade").map(|g| g.trim()) {
        None | Some("") => None,
        Some(g) => Some(
            g.parse::<RiskGrade>()
                .map_err(|e| PageError::Invalid(format!("Grade after the review: {e}")))?,
        ),
    };
    let tz = state.app.settings().time_zone;
    let reviewed_at = match fields.get("reviewed_at").map(|t| t.trim()) {
        None | Some("") => None,
        Some(t) => Some(
            parse_instant(t, tz)
                .map_err(|e| PageError::Invalid(format!("Reviewed at: {}", e.0)))?,
        ),
    };
    let note = fields.get("note").cloned().unwrap_or_default();
    let package = state
        .app
        .review(&reference, &signed_in.actor(), grade, note, reviewed_at)
        .await?;
    see_other(&package_path(package.reference().as_str()))
}
