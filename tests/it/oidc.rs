//! Single sign-on against a real OpenID provider on loopback: the npm
//! package `oidc-provider` (a certified implementation), started by each
//! test from `tests/oidc/provider.mjs` (installed by `tests/oidc/setup.sh`,
//! which `tests/run.sh` runs first). Its clients, people and claims are
//! described in that script.
//!
//! The API half: the provider's JWT access tokens (client credentials)
//! are taken as bearer tokens beside the service's own, mapped to roles by
//! their `roles` claim, and refused with a 401 in the API's error shape
//! when from another issuer, for another audience, expired (the service's
//! clock moved on), or with a broken signature; after the provider rotates
//! its keys, a token signed with the new key is taken once the service may
//! fetch the keys again. The audit names the system.

use crate::common::app::{spawn_app_at, TestApp};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use ocset_scheduler::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The provider's clients' secrets (as in `tests/oidc/provider.mjs`).
pub(crate) const OCSET_SECRET: &str = "ocset-test-secret-that-is-long-enough-0123456789";
const SYSTEM_SECRET: &str = "force-system-secret-0123456789";
const NOBODY_SECRET: &str = "force-nobody-secret-0123456789";

/// The audience the service's API tokens are for.
const API_AUDIENCE: &str = "api://ocset";

fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// A free loopback port (bound, read, released: the tests name ports in
/// configuration before their servers start).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `oidc-provider` running in node on a loopback port; killed on drop.
pub(crate) struct Provider {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) issuer: String,
    http: reqwest::Client,
}

impl Provider {
    /// Starts the provider on `port`, sending people back to `redirect`
    /// and, after signing out, to `post_logout`; returns once it listens.
    pub(crate) fn start(port: u16, redirect: &str, post_logout: &str) -> Self {
        let script = oidc_dir().join("provider.mjs");
        assert!(
            oidc_dir().join("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: run tests/oidc/setup.sh first"
        );
        let mut child = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .arg(redirect)
            .arg(post_logout)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts (npm and node come with tests/oidc/setup.sh)");
        // The script prints one line once it listens; read it, not a guess
        // of how long that takes.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready "), "the provider said {line:?}");
        Provider {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// An access token for `client` (with `secret`) for `resource`, by
    /// client credentials.
    pub(crate) async fn client_token(&self, client: &str, secret: &str, resource: &str) -> String {
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Makes the provider sign with a new key and stop publishing the old.
    pub(crate) async fn rotate_keys(&self) {
        let response = self
            .http
            .post(format!("{}/__test/rotate-keys", self.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[auth.oidc]` table for a provider at `issuer`.
pub(crate) fn oidc_toml(issuer: &str) -> String {
    format!(
        r#"
[auth.oidc]
issuer = "{issuer}"
client_id = "ocset"
client_secret_env = "OCSET_TEST_OIDC_SECRET"
scopes = ["openid", "email", "profile", "groups"]
role_claim = "groups"
api_role_claim = "roles"
api_audience = "{API_AUDIENCE}"
display_name = "Test Constabulary"
[auth.oidc.roles]
"ocset-analysts" = "viewer"
"ocset-intake" = "intake"
"ocset-sergeants" = "supervisor"
"ocset-admins" = "admin"
"#
    )
}

/// Now, to the second: the provider signs with the real time, so the
/// service's clock starts there (and the tests move it on).
pub(crate) fn real_now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// The service, on a port picked first, with single sign-on through a
/// provider on another port picked first; both started. The service has
/// a viewer token of its own too.
pub(crate) async fn service_and_provider(database_url: &str) -> (TestApp, Provider) {
    let (service_port, provider_port) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{service_port}");
    let issuer = format!("http://127.0.0.1:{provider_port}");
    let app = spawn_app_at(
        database_url,
        real_now(),
        &[(Role::Viewer, "reader")],
        vec![
            ("OCSET__HTTP__PUBLIC_URL".into(), public.clone()),
            ("OCSET_TEST_OIDC_SECRET".into(), OCSET_SECRET.into()),
        ],
        &oidc_toml(&issuer),
        &format!("127.0.0.1:{service_port}"),
    )
    .await;
    let provider = Provider::start(
        provider_port,
        &format!("{public}/sign-in/oidc/callback"),
        &format!("{public}/sign-in"),
    );
    (app, provider)
}

/// A bearer request's status and JSON body.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = format!("{}{path}", app.base);
    let request = match method {
        "POST" => app.http.post(url).json(&body.unwrap_or(json!({}))),
        _ => app.http.get(url),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The 401 of a refused token: the API's error shape, with `why` in the
/// message.
fn assert_refused(answer: (StatusCode, Value), why: &str) {
    let (status, body) = answer;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "{why:?} not in {message:?}");
}

async fn setup(url: String) -> String {
    url
}

/// A package for the API tests.
fn package(reference: &str) -> Value {
    json!({"reference": reference, "risk_grade": "high", "received_at": (real_now() - Duration::hours(1)).to_rfc3339(), "lpa": "Dudley", "stage": "awaiting_enforcement"})
}

async fn the_issuers_access_tokens_are_taken_and_refused_as_they_should(url: String) {
    let (app, provider) = service_and_provider(&url).await;
    let other_port = free_port();
    let other = Provider::start(
        other_port,
        "http://127.0.0.1:9/cb",
        "http://127.0.0.1:9/out",
    );

    // A force system's token, with the intake role by its roles claim.
    let token = provider
        .client_token("force-system", SYSTEM_SECRET, API_AUDIENCE)
        .await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/packages",
        &token,
        Some(package("SSO-1")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = call(&app, "GET", "/api/v1/packages/SSO-1", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    // ... and no more than intake.
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/packages/SSO-1/assign",
        &token,
        Some(json!({"officer": "pc@force.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("oidc-client:force-system has intake"),
        "{body}"
    );
    // The service's own tokens still work beside them.
    assert_eq!(
        app.get("/api/v1/packages/SSO-1", Role::Viewer)
            .await
            .status(),
        StatusCode::OK
    );

    // The audit names the system.
    let reference = ocset_scheduler::domain::Reference::parse("SSO-1").unwrap();
    let lines = app.store.audit_log(Some(&reference)).await.unwrap();
    let actors: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.actor.as_str(), l.action.as_str()))
        .collect();
    assert!(
        actors.contains(&("oidc-client:force-system", "package.created")),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("oidc-client:force-system", "package.read")),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("token:reader", "package.read")),
        "{actors:?}"
    );

    // Refusals, each a 401 saying why.
    let foreign = other
        .client_token("force-system", SYSTEM_SECRET, API_AUDIENCE)
        .await;
    assert_refused(
        call(&app, "GET", "/api/v1/packages/SSO-1", &foreign, None).await,
        "another issuer",
    );
    let elsewhere = provider
        .client_token("force-system", SYSTEM_SECRET, "api://other")
        .await;
    assert_refused(
        call(&app, "GET", "/api/v1/packages/SSO-1", &elsewhere, None).await,
        "another audience",
    );
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let broken = format!("{rest}.{flipped}{}", &signature[1..]);
    assert_refused(
        call(&app, "GET", "/api/v1/packages/SSO-1", &broken, None).await,
        "signature is not valid",
    );
    let (header, _) = token.split_once('.').unwrap();
    let unsigned = format!("{header}.e30.");
    assert_refused(
        call(&app, "GET", "/api/v1/packages/SSO-1", &unsigned, None).await,
        "not valid",
    );
    // A valid token whose client has no mapped role: 403, saying why.
    let roleless = provider
        .client_token("force-nobody", NOBODY_SECRET, API_AUDIENCE)
        .await;
    let (status, body) = call(&app, "GET", "/api/v1/packages/SSO-1", &roleless, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("roles claim"),
        "{body}"
    );

    // The provider rotates its keys. A token signed with the new key is
    // refused while the keys were fetched less than 30 s ago (so forged
    // tokens cannot make the service hammer the issuer) ...
    provider.rotate_keys().await;
    let rotated = provider
        .client_token("force-system", SYSTEM_SECRET, API_AUDIENCE)
        .await;
    assert_refused(
        call(&app, "GET", "/api/v1/packages/SSO-1", &rotated, None).await,
        "key the issuer does not publish",
    );
    // ... and taken once the keys may be fetched again.
    app.clock.advance(Duration::seconds(31));
    let (status, body) = call(&app, "GET", "/api/v1/packages/SSO-1", &rotated, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The old key is gone with the rotation.
    app.clock.advance(Duration::seconds(31));
    assert_refused(
        call(&app, "GET", "/api/v1/packages/SSO-1", &token, None).await,
        "key the issuer does not publish",
    );

    // Expired: the service's clock past the token's ten minutes.
    app.clock.advance(Duration::minutes(11));
    assert_refused(
        call(&app, "GET", "/api/v1/packages/SSO-1", &rotated, None).await,
        "expired",
    );
}

on_both_backends!(setup; the_issuers_access_tokens_are_taken_and_refused_as_they_should);
