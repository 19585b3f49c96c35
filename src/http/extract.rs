//! Request extractors that answer bad input in the API's error shape: JSON
//! bodies (content type, size, unknown fields, the field at fault), query
//! strings, and the caller's bearer token (the service's own, or the
//! single sign-on issuer's JWT access token).

use super::error::ApiError;
use super::AppState;
use crate::domain::Role;
use crate::store::Actor;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The largest request body accepted: 64 KiB.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body, read strictly: `Content-Type: application/json`, at most
/// 64 KiB, no unknown fields; a fault names the field.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            // Only application/json, with or without parameters (charset):
            // other JSON-like types (`+json`) are 415, as documented.
            .map(|v| v.trim().eq_ignore_ascii_case("application/json"))
            .unwrap_or(false);
        if !json {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large(MAX_BODY_BYTES)
                } else {
                    ApiError::bad_request("unreadable_body", "the request body could not be read")
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the field at fault. The text is read as JSON first
/// (a body that is not JSON is 400) and only then as `T` (a value of the
/// wrong shape is 422 naming its field): reading `T` from the text at once
/// would call a number where an enumeration's name belongs a syntax error.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = strip_position(&e.into_inner().to_string());
        match field_of(&path, &message) {
            Some(field) => ApiError::invalid_field(field.clone(), format!("{field}: {message}")),
            None => ApiError::invalid_field("body", message),
        }
    })
}

/// serde_json ends messages with " at line 1 column 42": not useful to a
/// caller who sent one object.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The field a deserialisation fault is about: the path, or for a missing or
/// unknown field (reported at the parent) the name inside the message.
fn field_of(path: &str, message: &str) -> Option<String> {
    if path != "." && !path.is_empty() {
        return Some(path.to_string());
    }
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_string())
}

/// A query string, read strictly: unknown parameters are refused.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                let field = field_of(&path, &message).unwrap_or_else(|| "query".into());
                ApiError::invalid_field(field.clone(), format!("{field}: {message}"))
            })
    }
}

/// A caller whose token's role includes `R`'s: 401 without a valid token,
/// 403 with too low a role. Taken before the handler's path and body
/// extractors (axum runs them in argument order, the body last), so a
/// caller who may not use an endpoint learns nothing about what it accepts.
#[derive(Debug, Clone)]
pub(crate) struct Allowed<R>(pub Caller, pub std::marker::PhantomData<R>);

/// The roles an endpoint can require, as types for [`Allowed`].
pub(crate) mod need {
    use crate::domain::Role;

    /// A role an endpoint requires.
    pub(crate) trait Needed {
        /// The lowest role allowed.
        const ROLE: Role;
    }

    /// Any valid token: viewer and above.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Viewer;
    /// Intake and above.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Intake;
    /// Supervisor and above.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Supervisor;
    /// Admin only.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Admin;

    impl Needed for Viewer {
        const ROLE: Role = Role::Viewer;
    }
    impl Needed for Intake {
        const ROLE: Role = Role::Intake;
    }
    impl Needed for Supervisor {
        const ROLE: Role = Role::Supervisor;
    }
    impl Needed for Admin {
        const ROLE: Role = Role::Admin;
    }
}

impl<R: need::Needed + Send + Sync> FromRequestParts<AppState> for Allowed<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(R::ROLE)?;
        Ok(Allowed(caller, std::marker::PhantomData))
    }
}

/// The caller, known by a valid bearer token: one of the service's own
/// tokens, or (with `[auth.oidc]`) a JWT access token of the issuer.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Who, as the audit log records them: `token:<name>`,
    /// `oidc-client:<client id>` or `oidc:<sub> <email>`.
    pub(crate) name: String,
    /// What they may do.
    pub(crate) role: Role,
    /// The request's id, for the audit log.
    pub(crate) request_id: Option<String>,
}

impl Caller {
    /// Refuses with 403 unless the caller's role includes `needed`.
    pub(crate) fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.includes(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {needed} role; the caller {} has {}",
                self.name, self.role
            )))
        }
    }

    /// The actor recorded for what this caller does.
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Whether `token` has the shape of a JWT (three base64url parts), which
/// the service's own tokens (`ocset_<hex>`) never have.
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with(crate::tokens::TOKEN_PREFIX)
}

/// The caller of an issuer's access token, or the reason it is refused:
/// 401 for a token that is not valid, 403 for a valid one that maps to no
/// role, 503 when the issuer's keys cannot be fetched.
async fn oidc_caller(oidc: &crate::oidc::Oidc, token: &str) -> Result<(String, Role), ApiError> {
    use crate::oidc::Rejection;
    match oidc.api_principal(token).await {
        Ok(principal) => Ok((principal.actor, principal.role)),
        Err(Rejection::Refused(refused)) => {
            tracing::warn!(reason = %refused, "an access token was refused");
            Err(ApiError::unauthorized(format!(
                "the access token is not valid: {refused}"
            )))
        }
        Err(Rejection::NoRole(why)) => Err(ApiError::forbidden(why)),
        Err(Rejection::Issuer(e)) => {
            tracing::error!(error = %e, "an access token could not be checked");
            Err(ApiError::unavailable(
                "the access token could not be checked: the issuer's keys cannot be fetched; try again shortly",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send a token: Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be: Bearer <token>")
            })?;
        let (name, role) = match state.app.oidc() {
            Some(oidc) if looks_like_jwt(token) => oidc_caller(oidc, token).await?,
            _ => {
                let found = state.app.token_for(token).await?.ok_or_else(|| {
                    ApiError::unauthorized("the token is not valid (unknown or revoked)")
                })?;
                (format!("token:{}", found.name), found.role)
            }
        };
        let request_id = parts
            .headers
            .get(super::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Caller {
            name,
            role,
            request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields are read only by the deserialiser here
    struct Body {
        risk_grade: String,
        reason: String,
        at: Option<u32>,
    }

    #[test]
    fn json_faults_name_the_field() {
        let e =
            parse_json::<Body>(br#"{"risk_grade":"high","reason":"x","colour":1}"#).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{e:?}").contains("colour"), "{e:?}");
        let e = parse_json::<Body>(br#"{"risk_grade":"high"}"#).unwrap_err();
        assert!(
            format!("{e:?}").contains("field: Some(\"reason\")"),
            "{e:?}"
        );
        let e =
            parse_json::<Body>(br#"{"risk_grade":"high","reason":"x","at":"soon"}"#).unwrap_err();
        assert!(format!("{e:?}").contains("field: Some(\"at\")"), "{e:?}");
        let e = parse_json::<Body>(br#"{"risk_grade": "#).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        let e = parse_json::<Body>(br#"{"risk_grade":"h","reason":"x"} trailing"#).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}
