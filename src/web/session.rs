//! Dashboard sessions: signing in with an API token, or through the
//! force's OpenID provider (`[auth.oidc]`), makes a server-side session,
//! named by a random id in the `ocset_session` cookie.
//!
//! The sessions are held in memory: a restart signs everybody out, and two
//! instances behind one address do not share them (put the proxy's
//! stickiness in front, or keep one instance). A session ends after
//! [`IDLE_EXPIRY`] without a request, after [`ABSOLUTE_EXPIRY`] whatever
//! happens, at sign-out, or as soon as its token is revoked (the token is
//! looked up again, by its hash, on every request). A person signed in
//! through the provider keeps the role their claims gave at sign-in until
//! the session ends. Time is read from the
//! app's clock, so tests move it.
//!
//! Each session carries its own CSRF token, which every form posts back in a
//! hidden field; the sign-in form, before any session, pairs a field with a
//! short-lived cookie of the same random value.

use super::WebState;
use crate::domain::Role;
use crate::store::Actor;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "ocset_session";
/// The sign-in form's CSRF cookie's name (set before any session exists).
pub(crate) const SIGN_IN_CSRF_COOKIE: &str = "ocset_sign_in";
/// A session ends after this long without a request.
pub(crate) const IDLE_EXPIRY: Duration = Duration::minutes(30);
/// A session ends this long after sign-in, however busy.
pub(crate) const ABSOLUTE_EXPIRY: Duration = Duration::hours(8);
/// The name of every form's hidden CSRF field.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// An ID token kept for signing out at the issuer (its hint); never shown
/// in a log.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct IdToken(pub(crate) String);

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdToken(***)")
    }
}

/// Who a session is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// Signed in with an API token.
    Token {
        /// The hash of the token (never the token).
        hash: String,
        /// The token's name: the actor of what the session does.
        name: String,
    },
    /// A person signed in through the force's OpenID provider.
    Person {
        /// Who, as the issuer knows them.
        person: crate::oidc::Person,
        /// The ID token, the hint for signing out at the issuer.
        id_token: IdToken,
    },
}

/// One signed-in person's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// Who.
    pub(crate) principal: Principal,
    /// Their role.
    pub(crate) role: Role,
    /// The session's CSRF token, posted back by every form.
    pub(crate) csrf: String,
    /// When the session began.
    pub(crate) created_at: DateTime<Utc>,
    /// When it was last used.
    pub(crate) last_seen_at: DateTime<Utc>,
}

impl Session {
    /// The name the page shows: the token's, or the person's name (or
    /// email, or subject).
    pub(crate) fn display(&self) -> &str {
        match &self.principal {
            Principal::Token { name, .. } => name,
            Principal::Person { person, .. } => person
                .name
                .as_deref()
                .or(person.email.as_deref())
                .unwrap_or(&person.subject),
        }
    }

    /// Whether the session is still alive at `now`.
    fn alive_at(&self, now: DateTime<Utc>) -> bool {
        now < self.last_seen_at + IDLE_EXPIRY && now < self.created_at + ABSOLUTE_EXPIRY
    }
}

/// The sessions in memory, by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Begins a session for `principal` with `role` at `now`; returns its
    /// new id. Expired sessions are dropped.
    pub(crate) fn begin(&self, principal: Principal, role: Role, now: DateTime<Utc>) -> String {
        let id = random_token();
        let session = Session {
            principal,
            role,
            csrf: random_token(),
            created_at: now,
            last_seen_at: now,
        };
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.alive_at(now));
        sessions.insert(id.clone(), session);
        id
    }

    /// The live session `id` at `now`, marked as used; an expired one is
    /// removed and `None` returned.
    pub(crate) fn touch(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut sessions = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get_mut(id)?;
        if !session.alive_at(now) {
            sessions.remove(id);
            return None;
        }
        session.last_seen_at = now;
        Some(session.clone())
    }

    /// Ends the session `id`, if it exists.
    pub(crate) fn end(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// 32 random bytes from the operating system, as hex: session ids and
/// CSRF tokens.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    crate::text::hex(&bytes)
}

pub(crate) use crate::text::same_secret;

/// The value of the cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, on `path`, Secure when
/// `secure`; `max_age` in seconds when given (0 deletes it).
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    secure: bool,
    max_age: Option<i64>,
) -> HeaderValue {
    set_cookie_same_site(name, value, "Strict", path, secure, max_age)
}

/// As [`set_cookie`] with `same_site`: `Lax` for the pending single
/// sign-on, whose cookie must come back on the issuer's redirect (a
/// navigation from another site, which `Strict` would leave it out of).
pub(crate) fn set_cookie_same_site(
    name: &str,
    value: &str,
    same_site: &str,
    path: &str,
    secure: bool,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut text = format!("{name}={value}; HttpOnly; SameSite={same_site}; Path={path}");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).expect("cookie names and values are visible ASCII")
}

/// A signed-in request: its session (alive, its token still active) and
/// the request's id. Without one, a page answers 303 to `/sign-in`.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// The session's id.
    pub(crate) id: String,
    /// The session.
    pub(crate) session: Session,
    /// The request's id, for the audit log.
    pub(crate) request_id: Option<String>,
}

impl SignedIn {
    /// The actor recorded for what this person does: the token's name, as
    /// the API records it, or `oidc:<sub> <email>`.
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            name: match &self.session.principal {
                Principal::Token { name, .. } => format!("token:{name}"),
                Principal::Person { person, .. } => person.actor_name(),
            },
            request_id: self.request_id.clone(),
        }
    }

    /// Whether the session's role includes `needed`.
    pub(crate) fn may(&self, needed: Role) -> bool {
        self.session.role.includes(needed)
    }

    /// Whether `posted` is this session's CSRF token.
    pub(crate) fn csrf_matches(&self, posted: Option<&str>) -> bool {
        posted.is_some_and(|p| same_secret(p, &self.session.csrf))
    }
}

/// A 303 to the sign-in page.
pub(crate) fn to_sign_in() -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, HeaderValue::from_static("/sign-in"))],
    )
        .into_response()
}

impl FromRequestParts<WebState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(to_sign_in());
        };
        let Some(session) = state.sessions.touch(&id, state.app.now()) else {
            return Err(to_sign_in());
        };
        if let Principal::Token { hash, .. } = &session.principal {
            match state.app.token_with_hash(hash).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    // Revoked since sign-in: the session ends with the token.
                    state.sessions.end(&id);
                    return Err(to_sign_in());
                }
                Err(e) => return Err(super::PageError::Store(e).into_response()),
            }
        }
        let request_id = parts
            .headers
            .get(super::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(SignedIn {
            id,
            session,
            request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn begin(sessions: &Sessions, at: DateTime<Utc>) -> String {
        let principal = Principal::Token {
            hash: "hash".into(),
            name: "sgt".into(),
        };
        sessions.begin(principal, Role::Supervisor, at)
    }

    #[test]
    fn a_session_ends_after_thirty_idle_minutes() {
        let sessions = Sessions::default();
        let start = utc("2024-02-05T09:00:00Z");
        let id = begin(&sessions, start);
        assert!(sessions.touch(&id, start + Duration::minutes(29)).is_some());
        // Used at 09:29, so alive until 09:59.
        assert!(sessions.touch(&id, start + Duration::minutes(58)).is_some());
        assert!(sessions.touch(&id, start + Duration::minutes(88)).is_none());
        assert!(
            sessions.touch(&id, start + Duration::minutes(60)).is_none(),
            "an expired session is gone"
        );
    }

    #[test]
    fn a_busy_session_still_ends_after_eight_hours() {
        let sessions = Sessions::default();
        let start = utc("2024-02-05T09:00:00Z");
        let id = begin(&sessions, start);
        let mut at = start;
        while at + Duration::minutes(20) < start + ABSOLUTE_EXPIRY {
            at += Duration::minutes(20);
            assert!(sessions.touch(&id, at).is_some(), "{at}");
        }
        assert!(sessions.touch(&id, start + ABSOLUTE_EXPIRY).is_none());
    }

    #[test]
    fn ids_and_csrf_tokens_are_random_and_distinct() {
        let sessions = Sessions::default();
        let now = utc("2024-02-05T09:00:00Z");
        let a = begin(&sessions, now);
        let b = begin(&sessions, now);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let (sa, sb) = (
            sessions.touch(&a, now).unwrap(),
            sessions.touch(&b, now).unwrap(),
        );
        assert_ne!(sa.csrf, sb.csrf);
        assert_ne!(sa.csrf, a);
        sessions.end(&a);
        assert!(sessions.touch(&a, now).is_none());
        assert!(sessions.touch(&b, now).is_some());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("other=1; ocset_session_x=2; ocset_session=abc"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn the_cookie_carries_its_attributes() {
        assert_eq!(
            set_cookie(SESSION_COOKIE, "id", "/", true, None),
            "ocset_session=id; HttpOnly; SameSite=Strict; Path=/; Secure"
        );
        assert_eq!(
            set_cookie(SESSION_COOKIE, "", "/", false, Some(0)),
            "ocset_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
    }
}
