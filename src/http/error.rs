//! One JSON shape for every error:
//! `{"error": {"code": "invalid_field", "message": "...", "field": "received_at"}}`.
//! Bad input is a 4xx that names the field and why; a 500 says only that it
//! failed and the request id, and logs the cause.

use crate::domain::Refusal;
use crate::intake::FieldError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer: a status code, sent with the envelope
/// `{"error": {...}}` around an `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// A stable code a program can branch on.
    pub(crate) code: &'static str,
    /// What went wrong, for a person.
    pub(crate) message: String,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) field: Option<String>,
    /// Every fault, when there were several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub(crate) details: Vec<FieldError>,
    /// The request's id, on a 500: quote it to find the cause in the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
}

/// The envelope: `{"error": {...}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorEnvelope {
    /// The error.
    pub(crate) error: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                field: None,
                details: Vec::new(),
                request_id: None,
            },
        }
    }

    fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// The status code the answer is sent with (only the tests ask; the
    /// response carries it).
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// 422: a field's value is not acceptable.
    pub(crate) fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// 422 for every fault intake found, the first one named in `field`.
    pub(crate) fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let first = errors.first().cloned().unwrap_or(FieldError {
            field: "body",
            message: "the package was refused".into(),
        });
        let message = format!("{}: {}", first.field, first.message);
        let mut error = Self::invalid_field(first.field, message);
        if errors.len() > 1 {
            error.body.details = errors;
        }
        error
    }

    /// 400: the request cannot be read at all.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no token, or a token that is unknown or revoked.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the token's role is too low.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request conflicts with the package's state.
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 413.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {} KiB", limit / 1024),
        )
    }

    /// 415.
    pub(crate) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        )
    }

    /// 405.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not take that method",
        )
    }

    /// 503: the service cannot answer now (the database is unreachable).
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500. The cause is logged, never sent: the body names only the failure.
    pub(crate) fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %ErrorChain(cause), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the service failed to answer; the cause is in its log",
        )
    }

    /// 500 for a handler that panicked: the panic is logged (by the layer
    /// that caught it, with the request id); the body names only the failure
    /// and the request id.
    pub(crate) fn panicked(request_id: Option<String>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the service failed to answer; the cause is in its log under this request id",
        );
        error.body.request_id = request_id;
        error
    }
}

/// Displays an error with its causes, for the log.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            // Many errors already show their cause (`context: cause`):
            // a cause whose words are there already is not said twice.
            let said = cause.to_string();
            if !text.contains(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            source = cause.source();
        }
        f.write_str(&text)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(reference) => Self::conflict(
                "duplicate_reference",
                format!("a package with reference {reference} already exists"),
            )
            .with_field("reference"),
            StoreError::NotFound(reference) => {
                Self::not_found(format!("no package has reference {reference}"))
            }
            StoreError::Refused(refused) => match refused.kind {
                Refusal::Invalid => Self::invalid_field(refused.field, refused.to_string()),
                Refusal::Conflict => {
                    Self::conflict("conflict", refused.to_string()).with_field(refused.field)
                }
            },
            StoreError::DuplicateToken(name) => Self::conflict(
                "duplicate_token",
                format!("a token named {name} already exists"),
            )
            .with_field("name"),
            ref unreachable if unreachable.is_unavailable() => {
                tracing::error!(error = %ErrorChain(unreachable), "database unavailable");
                Self::unavailable(
                    "the database is not answering or has no room to write; try again shortly",
                )
            }
            other => Self::internal(&other),
        }
    }
}

/// The `Retry-After` of a 503, in seconds: long enough for a restarted or
/// reopened database, short enough that a client does not give up.
pub(crate) const RETRY_AFTER_SECONDS: u32 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(ErrorEnvelope { error: self.body })).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(source: sqlx::Error) -> StoreError {
        StoreError::Database {
            context: "testing",
            source,
        }
    }

    #[test]
    fn a_cause_already_shown_is_not_repeated() {
        let error = database(sqlx::Error::Protocol("the server went away".into()));
        let shown = ErrorChain(&error).to_string();
        assert_eq!(shown.matches("the server went away").count(), 1, "{shown}");
        assert!(shown.starts_with("testing"), "{shown}");
    }

    #[test]
    fn an_unreachable_database_is_503_with_retry_after_and_other_failures_500() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for unreachable in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(refused),
            sqlx::Error::WorkerCrashed,
        ] {
            let what = format!("{unreachable:?}");
            let error = ApiError::from(database(unreachable));
            assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
            let response = error.into_response();
            assert_eq!(
                response.headers()[header::RETRY_AFTER],
                RETRY_AFTER_SECONDS.to_string(),
                "{what}"
            );
        }
        let bug = ApiError::from(database(sqlx::Error::RowNotFound));
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(bug
            .into_response()
            .headers()
            .get(header::RETRY_AFTER)
            .is_none());
    }
}
