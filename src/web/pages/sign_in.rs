//! `/sign-in` and `/sign-out`. Signing in takes an API token, checked as
//! the API checks a bearer token ([`App::token_for`]), and begins a
//! session; the token itself is never kept. With `[auth.oidc]`, the page
//! also offers the force's sign-in: `/sign-in/oidc` sends the person to the
//! issuer (authorization code with PKCE, state and nonce, the pending
//! sign-in in a signed cookie), and the issuer sends them back to
//! `/sign-in/oidc/callback`, where the code is exchanged, the ID token
//! checked and the role mapped ([`crate::oidc::Oidc::finish`]).
//!
//! [`App::token_for`]: crate::app::App::token_for

use super::super::layout::onward_page;
use super::super::layout::{page, Chrome, Nav};
use super::super::session::{
    cookie, random_token, same_secret, set_cookie, set_cookie_same_site, to_sign_in, IdToken,
    Principal, SignedIn, CSRF_FIELD, SESSION_COOKIE, SIGN_IN_CSRF_COOKIE,
};
use super::super::{PageError, WebState};
use super::{check_csrf, form_fields};
use crate::store::Actor;
use axum::body::Bytes;
use axum::extract::{Query, State};
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
            @if let Some(oidc) = state.app.oidc() {
                p { a.button #sign-in-oidc href="/sign-in/oidc" { "Sign in with " (oidc.settings().display_name) } }
            }
            @if state.app.settings().token_sign_in() {
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
    if !state.app.settings().token_sign_in() {
        return Err(PageError::Forbidden(
            "Signing in with a token is turned off here: use the force's sign-in on the sign-in page.".into(),
        ));
    }
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
        Principal::Token {
            hash: crate::tokens::hash(token),
            name: found.name,
        },
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
    let at_issuer = match (&signed_in.session.principal, state.app.oidc()) {
        (Principal::Person { id_token, .. }, Some(oidc)) => oidc
            .end_session_url(&id_token.0)
            .map(|url| (url, oidc.settings().display_name.clone())),
        _ => None,
    };
    let mut response = match at_issuer {
        // A page that goes on to the issuer, not a 303: the redirect of a
        // form's answer is held to the policy's form-action ('self').
        Some((url, issuer)) => onward_page(
            state.app.settings().marking(),
            "Signed out",
            &format!("You have signed out of the dashboard. Signing you out at {issuer} too."),
            &url,
        )
        .into_response(),
        None => to_sign_in(),
    };
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", state.secure_cookies, Some(0)),
    );
    Ok(response)
}

/// `/sign-in/oidc`: a new pending sign-in in its cookie, and a 303 to the
/// issuer's sign-in.
pub(crate) async fn oidc_start(State(state): State<WebState>) -> Result<Response, PageError> {
    let oidc = state
        .app
        .oidc()
        .ok_or_else(|| PageError::NotFound("Single sign-on is not configured here.".into()))?;
    let start = oidc.begin().await.map_err(|e| {
        tracing::error!(error = %e, "the sign-in issuer cannot be used");
        PageError::Unavailable(format!(
            "The sign-in service of {} cannot be reached just now; try again in a minute.",
            oidc.settings().display_name
        ))
    })?;
    let location = HeaderValue::from_str(&start.redirect).map_err(|_| {
        PageError::Unavailable("The issuer's sign-in address is not usable.".into())
    })?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (LOCATION, location),
            (
                SET_COOKIE,
                set_cookie_same_site(
                    crate::oidc::PENDING_COOKIE,
                    &start.cookie,
                    "Lax",
                    "/sign-in/oidc",
                    state.secure_cookies,
                    Some(crate::oidc::PENDING_SECONDS),
                ),
            ),
        ],
    )
        .into_response())
}

/// What the issuer sends back: a code and the state, or an error.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `/sign-in/oidc/callback`: the pending sign-in finished; a person whose
/// claims map to a role gets a session, anybody else a page saying why.
pub(crate) async fn oidc_callback(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Result<Response, PageError> {
    use crate::oidc::Rejection;
    let oidc = state
        .app
        .oidc()
        .ok_or_else(|| PageError::NotFound("Single sign-on is not configured here.".into()))?;
    let issuer = &oidc.settings().display_name;
    if let Some(error) = answer.error {
        tracing::warn!(error = %error, "the issuer ended a sign-in with an error");
        return Err(PageError::Forbidden(format!(
            "The sign-in at {issuer} did not complete ({error}). Start again from the sign-in page."
        )));
    }
    let (Some(code), Some(sent_state)) = (answer.code, answer.state) else {
        return Err(PageError::Invalid(
            "The answer from the sign-in service has no code or state. Start again from the sign-in page.".into(),
        ));
    };
    let pending = cookie(&headers, crate::oidc::PENDING_COOKIE);
    let (person, id_token) = match oidc.finish(pending, &sent_state, &code).await {
        Ok(done) => done,
        Err(Rejection::NoRole(why)) => {
            tracing::warn!("a single sign-on was refused: no claim value maps to a role");
            return Err(PageError::Forbidden(why));
        }
        Err(Rejection::Refused(refused)) => {
            tracing::warn!(reason = %refused, "a single sign-on was refused");
            return Err(PageError::Forbidden(format!(
                "The sign-in could not be accepted: {refused}"
            )));
        }
        Err(Rejection::Issuer(e)) => {
            tracing::error!(error = %e, "the sign-in issuer cannot be used");
            return Err(PageError::Unavailable(format!(
                "The sign-in service of {issuer} cannot be reached just now; try again in a minute."
            )));
        }
    };
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.end(old);
    }
    let actor = Actor {
        name: person.actor_name(),
        request_id: headers
            .get(super::super::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    state
        .app
        .record_session(&actor, "dashboard.signed_in")
        .await?;
    let role = person.role;
    let shown = person
        .name
        .clone()
        .unwrap_or_else(|| person.subject.clone());
    let id = state.sessions.begin(
        Principal::Person {
            person,
            id_token: IdToken(id_token),
        },
        role,
        state.app.now(),
    );
    // A page that moves on, not a 303: this request came from the issuer's
    // site, and the session cookie (SameSite=Strict) is sent only on a
    // request this site starts.
    let mut response = onward_page(
        state.app.settings().marking(),
        "Signed in",
        &format!("Signed in as {shown} ({role}). Opening the dashboard."),
        "/",
    )
    .into_response();
    let cookies = response.headers_mut();
    cookies.append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, "/", state.secure_cookies, None),
    );
    cookies.append(
        SET_COOKIE,
        set_cookie_same_site(
            crate::oidc::PENDING_COOKIE,
            "",
            "Lax",
            "/sign-in/oidc",
            state.secure_cookies,
            Some(0),
        ),
    );
    Ok(response)
}
