//! `/sign-in` and `/sign-out`. Signing in takes an API token, checked as
//! the API checks a bearer token ([`App::token_for`]), and begins a
//! session; the token itself is never kept.
//!
//! [`App::token_for`]: crate::app::App::token_for

use super::super::layout::{page, Chrome, Nav};
use super::super::session::{
    cookie, random_token, same_secret, set_cookie, to_sign_in, SignedIn, CSRF_FIELD,
    SESSION_COOKIE, SIGN_IN_CSRF_COOKIE,
};
use super::super::{PageError, WebState};
use super::{check_csrf, form_fields};
use crate::store::Actor;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

/// How long the sign-in form's CSRF cookie lasts: 30 minutes.
const SIGN_IN_CSRF_SECONDS: i64 = 30 * 60;

/// The sign-in page, with `problem` shown above the form when the last
/// try failed.
fn sign_in_page(state: &WebState, csrf: &str, problem: Option<&str>) -> Markup {
    page(
        Chrome {
            marking: state.app.settings().marking(),
            signed_in: None,
            current: Nav::Elsewhere,
        },
        "Sign in",
        html! {
            @if let Some(problem) = problem {
                div.problem role="alert" {
                    h2 { "There is a problem" }
                    p { (problem) }
                }
            }
            p { "Sign in with your API token. Ask an administrator for one if you have none: it is made with "
                code { "ocset-scheduler token create" } "." }
            form method="post" action="/sign-in" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                div.field {
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="off" required spellcheck="false";
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The form, with a new CSRF value in a cookie and a hidden field.
pub(crate) async fn form(State(state): State<WebState>) -> Response {
    let csrf = random_token();
    (
        [(SET_COOKIE, sign_in_cookie(&state, &csrf))],
        sign_in_page(&state, &csrf, None),
    )
        .into_response()
}

fn sign_in_cookie(state: &WebState, csrf: &str) -> HeaderValue {
    set_cookie(
        SIGN_IN_CSRF_COOKIE,
        csrf,
        "/sign-in",
        state.secure_cookies,
        Some(SIGN_IN_CSRF_SECONDS),
    )
}

/// Checks the form's CSRF pair, then the token: a good one begins a
/// session (a 303 to the overview with the session cookie); a bad one shows
/// the form again with the reason, and 403.
pub(crate) async fn submit(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = form_fields(&body);
    let expected = cookie(&headers, SIGN_IN_CSRF_COOKIE).unwrap_or_default();
    let posted = fields
        .get(CSRF_FIELD)
        .map(String::as_str)
        .unwrap_or_default();
    if expected.is_empty() || !same_secret(expected, posted) {
        return Err(PageError::Forbidden(
            "The sign-in form has expired or was not sent from this service. Open the sign-in page again.".into(),
        ));
    }
    let token = fields.get("token").map(|t| t.trim()).unwrap_or_default();
    let found = if token.is_empty() {
        None
    } else {
        state.app.token_for(token).await?
    };
    let Some(found) = found else {
        tracing::warn!("a dashboard sign-in was refused: the token is unknown or revoked");
        let mut answer = sign_in_page(
            &state,
            expected,
            Some("That token is not valid: it is unknown or has been revoked."),
        )
        .into_response();
        *answer.status_mut() = StatusCode::FORBIDDEN;
        return Ok(answer);
    };
    // A new id at every sign-in: an id set before it (fixation) is useless.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.end(old);
    }
    let actor = Actor {
        name: format!("token:{}", found.name),
        request_id: headers
            .get(super::super::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    state
        .app
        .record_session(&actor, "dashboard.signed_in")
        .await?;
    let id = state.sessions.begin(
        crate::tokens::hash(token),
        found.name,
        found.role,
        state.app.now(),
    );
    let mut response = (
        StatusCode::SEE_OTHER,
        [(LOCATION, HeaderValue::from_static("/"))],
    )
        .into_response();
    let cookies = response.headers_mut();
    cookies.append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, "/", state.secure_cookies, None),
    );
    cookies.append(
        SET_COOKIE,
        set_cookie(
            SIGN_IN_CSRF_COOKIE,
            "",
            "/sign-in",
            state.secure_cookies,
            Some(0),
        ),
    );
    Ok(response)
}

/// Ends the session (the form's CSRF token checked first) and clears the
/// cookie; a 303 to the sign-in page.
pub(crate) async fn sign_out(
    State(state): State<WebState>,
    signed_in: SignedIn,
    body: Bytes,
) -> Result<Response, PageError> {
    check_csrf(&signed_in, &form_fields(&body))?;
    state.sessions.end(&signed_in.id);
    state
        .app
        .record_session(&signed_in.actor(), "dashboard.signed_out")
        .await?;
    let mut response = to_sign_in();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", state.secure_cookies, Some(0)),
    );
    Ok(response)
}
