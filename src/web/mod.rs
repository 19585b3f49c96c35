//! The dashboard: server-rendered HTML pages served by `serve` at `/`,
//! beside the API, over the same [`App`] facade and the same figures
//! (the position, the breaches list, a package's record): there is no
//! second source of numbers.
//!
//! Templates are written with `maud`: the HTML is Rust code, so the
//! compiler checks every template (a misspelt field or a missing value
//! does not build), every value is HTML-escaped unless marked otherwise,
//! and there is no template file to load, find or lose at run time and no
//! build step. The one stylesheet is compiled in too ([`STYLESHEET`]).
//!
//! Pages need a session (see [`session`]): without one they answer 303 to
//! `/sign-in`. Every response carries the security headers of
//! [`finish`]; every form carries the session's CSRF token, checked on
//! every POST. Case data is audited as the API audits it: a package page
//! through [`App::read`], a list (breaches, due soon, officers) through
//! [`App::list`], the weekly report and its CSV as `report.read`, the
//! audit page as `audit.read`.

mod charts;
mod format;
mod layout;
mod pages;
mod session;

use crate::app::App;
use crate::store::StoreError;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, RETRY_AFTER,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use session::Sessions;
use std::sync::Arc;

/// The request id header, as the HTTP layers set it.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// The stylesheet, served at `/static/app.css`: the pages have no inline
/// style or script, so the Content-Security-Policy allows only this.
const STYLESHEET: &str = include_str!("app.css");

/// The Content-Security-Policy of every dashboard response.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every dashboard handler shares.
#[derive(Debug, Clone)]
pub(crate) struct WebState {
    /// The application facade, as the API's.
    pub(crate) app: App,
    /// The signed-in sessions.
    pub(crate) sessions: Arc<Sessions>,
    /// Whether cookies are marked `Secure` (`http.public_url` is https).
    pub(crate) secure_cookies: bool,
}

/// The dashboard's routes, with their state: merged into the service's
/// router, behind the same layers as the API.
pub(crate) fn router(app: App) -> Router {
    let secure_cookies = app
        .settings()
        .public_url()
        .is_some_and(|url| url.starts_with("https://"));
    let state = WebState {
        app,
        sessions: Arc::new(Sessions::default()),
        secure_cookies,
    };
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/breaches", get(pages::breaches::page))
        .route("/due-soon", get(pages::due_soon::page))
        .route("/officers", get(pages::officers::page))
        .route("/officers/assign", post(pages::officers::assign))
        .route("/reports/weekly", get(pages::weekly::page))
        .route("/reports/weekly.csv", get(pages::weekly::csv))
        .route("/capacity", get(pages::capacity::page))
        .route("/audit", get(pages::audit::page))
        .route("/packages/{reference}", get(pages::package::page))
        .route(
            "/packages/{reference}/acknowledge",
            post(pages::breaches::acknowledge),
        )
        .route("/packages/{reference}/review", post(pages::review::review))
        .route(
            "/sign-in",
            get(pages::sign_in::form).post(pages::sign_in::submit),
        )
        .route("/sign-in/oidc", get(pages::sign_in::oidc_start))
        .route(
            crate::config::CALLBACK_PATH,
            get(pages::sign_in::oidc_callback),
        )
        .route("/sign-out", post(pages::sign_in::sign_out))
        .route("/static/app.css", get(stylesheet))
        .layer(middleware::from_fn_with_state(state.clone(), finish))
        .with_state(state)
}

/// The stylesheet, cacheable for an hour (it holds no case data).
async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Why a page could not be shown. Rendered by [`finish`], which knows the
/// settings (the marking) the error page carries.
#[derive(Debug)]
pub(crate) enum PageError {
    /// 404: nothing here.
    NotFound(String),
    /// 403: not allowed, or the form's CSRF token is wrong or missing.
    Forbidden(String),
    /// 422: a value in the request is not valid.
    Invalid(String),
    /// 409: refused because of the package's record.
    Conflict(String),
    /// 503: a service the page needs (the sign-in issuer) did not answer.
    Unavailable(String),
    /// The store failed: 503 when the database is unavailable, else 500.
    Store(StoreError),
}

/// A page error on its way to [`finish`]: status, title and message.
#[derive(Debug, Clone)]
struct ErrorPage {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(reference) => {
                PageError::NotFound(format!("No package has reference {reference}."))
            }
            StoreError::Refused(refused) => match refused.kind {
                crate::domain::Refusal::Invalid => PageError::Invalid(refused.to_string()),
                crate::domain::Refusal::Conflict => PageError::Conflict(refused.to_string()),
            },
            other => PageError::Store(other),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message),
            PageError::Invalid(message) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Not accepted", message)
            }
            PageError::Conflict(message) => (StatusCode::CONFLICT, "Not done", message),
            PageError::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                message,
            ),
            PageError::Store(error) if error.is_unavailable() => {
                tracing::error!(error = %error, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable",
                    "The database is not answering; try again in a few seconds.".to_string(),
                )
            }
            PageError::Store(error) => {
                tracing::error!(error = %error, "a dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The page could not be shown; the error is in the service's log.".to_string(),
                )
            }
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(ErrorPage {
            status,
            title,
            message,
        });
        response
    }
}

/// Every dashboard response passes here: an error is rendered as a page,
/// and the security headers are set. Responses are `no-store` unless the
/// handler said otherwise (only the stylesheet does).
async fn finish(State(state): State<WebState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(error) = response.extensions_mut().remove::<ErrorPage>() {
        let mut page =
            layout::error_page(state.app.settings().marking(), error.title, &error.message)
                .into_response();
        *page.status_mut() = error.status;
        if error.status == StatusCode::SERVICE_UNAVAILABLE {
            page.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response = page;
    }
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
