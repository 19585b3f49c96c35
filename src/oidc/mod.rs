//! Single sign-on by OpenID Connect (`[auth.oidc]`): the issuer's discovery
//! document, its signing keys (refetched when a token names a key not yet
//! seen, at most once per [`REFETCH_AFTER`]), the dashboard's sign-in by
//! the authorization code flow with PKCE (S256), `state` and `nonce`, and
//! the API's acceptance of the issuer's JWT access tokens.
//!
//! Nothing is fetched at start: the discovery document is read on first
//! use (and again after a failure), so a provider that is down does not
//! stop the service, only sign-in through it. Every instant comes from the
//! app's clock. The pending sign-in (state, nonce, PKCE verifier) lives in
//! a short-lived cookie signed with a key derived from the client secret
//! ([`pending`]), so the callback can land on any replica.

mod keys;
mod pending;
mod verify;

use crate::clock::Clock;
use crate::config::OidcSettings;
use crate::domain::Role;
use keys::KeyCache;
pub(crate) use pending::PENDING_COOKIE;

/// How long the pending sign-in's cookie lasts, in seconds.
pub(crate) const PENDING_SECONDS: i64 = pending::PENDING_FOR.num_seconds();
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
pub(crate) use verify::Claims;
use verify::{claim_values, Expect};

/// The shortest time between two fetches of the issuer's keys caused by a
/// token naming an unknown key: a stream of forged tokens cannot make the
/// service hammer the issuer.
pub(crate) const REFETCH_AFTER: chrono::Duration = chrono::Duration::seconds(30);

/// How long one request to the issuer may take.
const ISSUER_TIMEOUT: Duration = Duration::from_secs(10);

/// A token or sign-in refused, with a reason fit to show the person or
/// caller (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) String);

/// The issuer cannot be used: not reached, or its answer does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    /// The issuer did not answer, or answered with an error status.
    #[error("the issuer cannot be reached at {url}: {why}")]
    Unreachable {
        /// What was asked for.
        url: String,
        /// Why it failed.
        why: String,
    },
    /// The issuer answered something that does not fit.
    #[error("the issuer's answer does not fit: {0}")]
    Unfit(String),
}

/// The endpoints the issuer's discovery document names, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint (the sign-in page).
    pub authorization: String,
    /// The token endpoint (codes for tokens).
    pub token: String,
    /// The signing keys.
    pub jwks: String,
    /// Where people sign out at the issuer, when it offers it.
    pub end_session: Option<String>,
}

/// The discovery document as read; only what the service uses.
#[derive(Debug, Deserialize)]
struct DiscoveryDocument {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    end_session_endpoint: Option<String>,
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// A client for the issuer's HTTP endpoints, with a bound on every request.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(ISSUER_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client with only a timeout set builds")
}

/// GETs `url` as JSON.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, IssuerError> {
    let unreachable = |why: String| IssuerError::Unreachable {
        url: url.to_string(),
        why,
    };
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("HTTP {}", response.status())));
    }
    response
        .json()
        .await
        .map_err(|e| IssuerError::Unfit(format!("{url} is not the JSON expected: {e}")))
}

/// An error and its causes on one line (reqwest's own text omits them).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Reads `<issuer>/.well-known/openid-configuration` and checks it: the
/// issuer it names is exactly `issuer`, and it names the authorization,
/// token and keys endpoints; PKCE with S256, when it lists its methods.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Endpoints, IssuerError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let document: DiscoveryDocument = get_json(http, &url).await?;
    if document.issuer.as_deref() != Some(issuer) {
        return Err(IssuerError::Unfit(format!(
            "the discovery document names the issuer {:?}, but auth.oidc.issuer is {issuer:?}; they must be the same",
            document.issuer.unwrap_or_default()
        )));
    }
    let required = |name: &str, value: Option<String>| {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| IssuerError::Unfit(format!("the discovery document has no {name}")))
    };
    if let Some(methods) = &document.code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            return Err(IssuerError::Unfit(
                "the issuer does not offer PKCE with S256 (code_challenge_methods_supported)"
                    .into(),
            ));
        }
    }
    Ok(Endpoints {
        authorization: required("authorization_endpoint", document.authorization_endpoint)?,
        token: required("token_endpoint", document.token_endpoint)?,
        jwks: required("jwks_uri", document.jwks_uri)?,
        end_session: document.end_session_endpoint.filter(|e| !e.is_empty()),
    })
}

/// A person signed in through the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    /// The ID token's `sub`.
    pub(crate) subject: String,
    /// The email (or, lacking one, the user name) the ID token gives.
    pub(crate) email: Option<String>,
    /// The name to show.
    pub(crate) name: Option<String>,
    /// The role their claim values map to.
    pub(crate) role: Role,
}

impl Person {
    /// The actor recorded for what they do: `oidc:<sub> <email>`.
    pub(crate) fn actor_name(&self) -> String {
        actor_name(&self.subject, self.email.as_deref())
    }
}

/// `oidc:<sub> <email>`, or `oidc:<sub>` without an email.
fn actor_name(subject: &str, email: Option<&str>) -> String {
    match email {
        Some(email) => format!("oidc:{subject} {email}"),
        None => format!("oidc:{subject}"),
    }
}

/// An API caller known by an access token of the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiPrincipal {
    /// The actor recorded: `oidc-client:<client id>` for a system's own
    /// token (client credentials), `oidc:<sub> <email>` for a person's.
    pub(crate) actor: String,
    /// Its role.
    pub(crate) role: Role,
}

/// Why a sign-in or an access token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    /// The token or the sign-in's answer is not valid.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// Valid, but none of its claim values maps to a role.
    #[error("{0}")]
    NoRole(String),
    /// The issuer could not be asked (discovery, keys, token endpoint).
    #[error(transparent)]
    Issuer(#[from] IssuerError),
}

/// The sign-in to begin: where to send the person, and the pending
/// cookie's value.
#[derive(Debug, Clone)]
pub(crate) struct SignInStart {
    /// The issuer's authorization URL with every parameter.
    pub(crate) redirect: String,
    /// The signed pending state, for [`PENDING_COOKIE`].
    pub(crate) cookie: String,
}

/// Single sign-on: the settings, the issuer's endpoints and keys as
/// fetched, and the app's clock.
#[derive(Debug)]
pub(crate) struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    endpoints: tokio::sync::Mutex<Option<Endpoints>>,
    keys: KeyCache,
}

impl Oidc {
    /// Single sign-on under `settings`, nothing fetched yet.
    pub(crate) fn new(settings: OidcSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            http: http_client(),
            clock,
            endpoints: tokio::sync::Mutex::new(None),
            keys: KeyCache::default(),
        }
    }

    /// The settings.
    pub(crate) fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The issuer's endpoints: fetched once, and again after a failure.
    pub(crate) async fn endpoints(&self) -> Result<Endpoints, IssuerError> {
        let mut held = self.endpoints.lock().await;
        if let Some(endpoints) = held.as_ref() {
            return Ok(endpoints.clone());
        }
        let endpoints = discover(&self.http, &self.settings.issuer).await?;
        *held = Some(endpoints.clone());
        Ok(endpoints)
    }

    /// The endpoints if already fetched (for sign-out, which must not wait
    /// on the issuer).
    pub(crate) fn endpoints_if_known(&self) -> Option<Endpoints> {
        self.endpoints.try_lock().ok().and_then(|held| held.clone())
    }

    /// Checks a JWT from the issuer: algorithm, issuer, key (refetched on
    /// an unknown one), signature, audience, times, nonce.
    async fn check(
        &self,
        token: &str,
        audience: &str,
        nonce: Option<&str>,
    ) -> Result<Claims, Rejection> {
        let peeked = verify::peek(token)?;
        // The issuer is compared before any key is looked for: a token of
        // another issuer is refused for that, and fetches nothing.
        if peeked.issuer.as_deref() != Some(self.settings.issuer.as_str()) {
            return Err(Refused(format!(
                "the token is from another issuer ({}); this service trusts {}",
                peeked.issuer.as_deref().unwrap_or("none named"),
                self.settings.issuer
            ))
            .into());
        }
        let endpoints = self.endpoints().await?;
        let key = self
            .keys
            .key(
                &self.http,
                &endpoints.jwks,
                peeked.kid.as_deref(),
                peeked.alg,
                self.clock.now(),
            )
            .await?;
        let claims = verify::verify(
            token,
            peeked.alg,
            &key,
            Expect {
                issuer: &self.settings.issuer,
                audience,
                nonce,
                now: self.clock.now(),
            },
        )?;
        Ok(claims)
    }

    /// The highest role `claims`' `claim` values map to.
    fn role(&self, claims: &Claims, claim: &str) -> Result<Role, Vec<String>> {
        let values = claim_values(claims, claim);
        values
            .iter()
            .filter_map(|v| self.settings.roles.get(*v))
            .max()
            .copied()
            .ok_or_else(|| values.iter().map(|v| v.to_string()).collect())
    }

    /// Checks an access token sent to the API as a bearer token.
    pub(crate) async fn api_principal(&self, token: &str) -> Result<ApiPrincipal, Rejection> {
        let claims = self.check(token, &self.settings.api_audience, None).await?;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        let subject = text("sub").unwrap_or_default();
        let client = text("client_id").or(text("azp")).or(text("appid"));
        // A system's own token (client credentials): Entra marks it
        // `idtyp: app`; others give the client's id as the subject.
        let is_client = text("idtyp") == Some("app") || client == Some(subject);
        let actor = if is_client {
            format!("oidc-client:{}", client.unwrap_or(subject))
        } else {
            actor_name(
                subject,
                text("email").or(text("preferred_username")).or(text("upn")),
            )
        };
        let claim = &self.settings.api_role_claim;
        let role = self.role(&claims, claim).map_err(|values| {
            Rejection::NoRole(format!(
                "the token's {claim} claim ({}) maps to no role of this service",
                if values.is_empty() {
                    "absent or empty".to_string()
                } else {
                    values.join(", ")
                }
            ))
        })?;
        Ok(ApiPrincipal { actor, role })
    }

    /// Begins a sign-in: a new state, nonce and PKCE verifier, kept in the
    /// signed cookie, and the issuer's URL to send the person to.
    pub(crate) async fn begin(&self) -> Result<SignInStart, IssuerError> {
        let endpoints = self.endpoints().await?;
        let pending = pending::Pending::new(self.clock.now());
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("scope", &self.settings.scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pending.challenge())
            .append_pair("code_challenge_method", "S256");
        let joiner = if endpoints.authorization.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(SignInStart {
            redirect: format!("{}{joiner}{}", endpoints.authorization, query.finish()),
            cookie: pending.seal(self.cookie_key()),
        })
    }

    /// The key the pending cookie is signed with: derived from the client
    /// secret, which every replica has, so any of them can check it.
    fn cookie_key(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"ocset-scheduler oidc pending sign-in\0");
        hasher.update(self.settings.client_secret.expose_secret().as_bytes());
        hasher.finalize().into()
    }

    /// Finishes a sign-in at the callback: the pending cookie (signed, not
    /// expired, bound to `state`), the code exchanged for tokens with the
    /// PKCE verifier, the ID token checked, the role mapped. Returns the
    /// person and the raw ID token (the hint for signing out at the
    /// issuer).
    pub(crate) async fn finish(
        &self,
        cookie: Option<&str>,
        state: &str,
        code: &str,
    ) -> Result<(Person, String), Rejection> {
        let pending = pending::Pending::open(cookie, self.cookie_key(), state, self.clock.now())?;
        let endpoints = self.endpoints().await?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("code_verifier", &pending.verifier)
            .finish();
        // client_secret_basic: id and secret form-encoded, then Basic.
        let encode =
            |text: &str| -> String { form_urlencoded::byte_serialize(text.as_bytes()).collect() };
        let response = self
            .http
            .post(&endpoints.token)
            .basic_auth(
                encode(&self.settings.client_id),
                Some(encode(self.settings.client_secret.expose_secret())),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| IssuerError::Unreachable {
                url: endpoints.token.clone(),
                why: error_chain(&e),
            })?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            // The issuer's error code is safe to show; its description may
            // echo what was sent, so it is logged, not shown.
            tracing::warn!(
                status = status.as_u16(),
                error = answer.get("error").and_then(|v| v.as_str()).unwrap_or(""),
                "the issuer refused the sign-in's code"
            );
            return Err(Refused(format!(
                "the issuer refused to complete the sign-in ({})",
                answer
                    .get("error")
                    .and_then(|v| v.as_str())
                    .unwrap_or("no reason given")
            ))
            .into());
        }
        let id_token = answer
            .get("id_token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Refused("the issuer's answer has no ID token".into()))?
            .to_string();
        let claims = self
            .check(&id_token, &self.settings.client_id, Some(&pending.nonce))
            .await?;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let subject = text("sub").unwrap_or_default();
        let email = text("email")
            .or_else(|| text("preferred_username"))
            .or_else(|| text("upn"));
        let claim = &self.settings.role_claim;
        let role = self.role(&claims, claim).map_err(|values| {
            Rejection::NoRole(format!(
                "You signed in at {} as {}, but none of your {claim} ({}) gives a role in this service. Ask an administrator to add you to one of the groups the service maps to a role.",
                self.settings.display_name,
                email.as_deref().unwrap_or(&subject),
                if values.is_empty() { "none".to_string() } else { values.join(", ") }
            ))
        })?;
        Ok((
            Person {
                subject,
                name: text("name"),
                email,
                role,
            },
            id_token,
        ))
    }

    /// Where to send a person signing out, to end their session at the
    /// issuer too: its `end_session_endpoint` with the ID token as a hint
    /// and the sign-in page to come back to; `None` when the issuer offers
    /// none (or was never reached).
    pub(crate) fn end_session_url(&self, id_token: &str) -> Option<String> {
        let endpoint = self.endpoints_if_known()?.end_session?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", id_token)
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("post_logout_redirect_uri", &self.settings.post_logout_uri)
            .finish();
        let joiner = if endpoint.contains('?') { '&' } else { '?' };
        Some(format!("{endpoint}{joiner}{query}"))
    }
}
