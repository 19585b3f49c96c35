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
//!
//! The dashboard half, in headless Chromium (as `browser.rs` drives it):
//! "Sign in with ..." goes to the provider's sign-in form and back; the
//! dashboard then shows what the person's groups allow (a sergeant is a
//! supervisor without the audit page, a chief an administrator with it);
//! signing out ends the session here and at the provider; a person whose
//! groups map to no role is refused with a page that says why; the audit
//! names each person. Chromium resolves no name but loopback (the
//! provider's pages link a web font; nothing leaves the machine).

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
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("ready "), "the provider said {line:?}");
        // The rest is drained (a closed pipe would end the provider at its
        // next line of output).
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
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
    service_and_provider_with(database_url, &[]).await
}

/// As [`service_and_provider`], with more environment overrides.
pub(crate) async fn service_and_provider_with(
    database_url: &str,
    extra: &[(&str, &str)],
) -> (TestApp, Provider) {
    let (service_port, provider_port) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{service_port}");
    let issuer = format!("http://127.0.0.1:{provider_port}");
    let mut env: Vec<(String, String)> = vec![
        ("OCSET__HTTP__PUBLIC_URL".into(), public.clone()),
        ("OCSET_TEST_OIDC_SECRET".into(), OCSET_SECRET.into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = spawn_app_at(
        database_url,
        real_now(),
        &[(Role::Viewer, "reader")],
        env,
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

/// A browser for the sign-in tests: headless Chromium over WebDriver,
/// resolving no name beyond this machine.
struct Browser {
    client: fantoccini::Client,
    _driver: crate::browser::ChromeDriver,
}

impl Browser {
    async fn open() -> Self {
        let driver = crate::browser::ChromeDriver::start().await;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": crate::browser::CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--window-size=1280,1000",
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                ],
            },
        });
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = fantoccini::ClientBuilder::new(connector)
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&driver.url)
            .await
            .expect("a WebDriver session with headless Chromium");
        Browser {
            client,
            _driver: driver,
        }
    }

    async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(std::time::Duration::from_secs(20))
            .for_element(fantoccini::Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let at = self.client.current_url().await.unwrap();
                let source = self.client.source().await.unwrap_or_default();
                panic!("{css}: {e}; at {at}:\n{source}")
            }
        }
    }

    async fn text(&self, css: &str) -> String {
        self.wait(css).await.text().await.unwrap()
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(fantoccini::Locator::Css(css))
            .await
            .unwrap()
            .len()
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// From the dashboard's sign-in page through the provider's form as
    /// `login` (and its consent), up to the page the service answers with.
    async fn sign_in_as(&self, app: &TestApp, login: &str) {
        self.client
            .goto(&format!("{}/sign-in", app.base))
            .await
            .unwrap();
        let button = self.wait("#sign-in-oidc").await;
        assert_eq!(
            button.text().await.unwrap(),
            "Sign in with Test Constabulary"
        );
        button.click().await.unwrap();
        self.wait("input[name=login]")
            .await
            .send_keys(login)
            .await
            .unwrap();
        self.wait("input[name=password]")
            .await
            .send_keys("any")
            .await
            .unwrap();
        self.wait("button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        // The provider asks for consent the first time.
        let consent = self
            .wait("input[name=prompt][value=consent] ~ button, #onward, main h1")
            .await;
        if consent.tag_name().await.unwrap() == "button" {
            consent.click().await.unwrap();
        }
    }

    /// Waits for the page's `h1` to read `title`.
    async fn wait_h1(&self, title: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Ok(h1) = self.client.find(fantoccini::Locator::Css("h1")).await {
                if h1.text().await.unwrap_or_default() == title {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no page titled {title:?}; at {}",
                self.client.current_url().await.unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn people_sign_in_through_the_provider_and_see_what_their_role_allows(url: String) {
    let (app, _provider) = service_and_provider(&url).await;
    // The policy is the dashboard's usual one: the sign-in is a link and
    // the sign-out's way to the issuer a page, so form-action stays 'self'.
    let page = app
        .http
        .get(format!("{}/sign-in", app.base))
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("form-action 'self';"), "{policy}");

    let browser = Browser::open().await;
    // A sergeant: a supervisor, without the audit page.
    browser.sign_in_as(&app, "sergeant").await;
    browser.wait_h1("Overview").await;
    assert_eq!(browser.path().await, "/");
    let who = browser.text("form.sign-out span").await;
    assert_eq!(who, "Signed in as Sergeant (supervisor)");
    assert_eq!(browser.count("a[href=\"/audit\"]").await, 0);

    // Signing out ends the session here and at the provider, which sends
    // the browser back to the sign-in page.
    browser
        .wait("form.sign-out button")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait("button[name=logout][value=yes]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_h1("Sign in").await;
    assert_eq!(browser.path().await, "/sign-in");
    browser
        .client
        .goto(&format!("{}/", app.base))
        .await
        .unwrap();
    browser.wait_h1("Sign in").await;

    // Somebody whose groups map to no role: refused, and told why. The
    // provider asks for the sign-in again, as the sign-out ended it there.
    browser.sign_in_as(&app, "visitor").await;
    browser.wait_h1("Not allowed").await;
    let why = browser.text("main").await;
    assert!(
        why.contains("none of your groups (none) gives a role in this service"),
        "{why}"
    );
    browser
        .client
        .goto(&format!("{}/", app.base))
        .await
        .unwrap();
    browser.wait_h1("Sign in").await;

    // A chief (an admin and a sergeant): the highest role, with the audit
    // page, which names each person. Cookies cleared: the provider still
    // holds the visitor's session.
    browser.client.delete_all_cookies().await.unwrap();
    browser.sign_in_as(&app, "chief").await;
    browser.wait_h1("Overview").await;
    assert_eq!(
        browser.text("form.sign-out span").await,
        "Signed in as Chief (admin)"
    );
    browser
        .wait("a[href=\"/audit\"]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_h1("Audit log").await;
    let audit = browser.text("main").await;
    assert!(audit.contains("oidc:chief chief@force.example"), "{audit}");

    let lines = app.store.audit_log(None).await.unwrap();
    let sessions: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l.action.starts_with("dashboard."))
        .map(|l| (l.actor.as_str(), l.action.as_str()))
        .collect();
    assert_eq!(
        sessions,
        [
            (
                "oidc:sergeant sergeant@force.example",
                "dashboard.signed_in"
            ),
            (
                "oidc:sergeant sergeant@force.example",
                "dashboard.signed_out"
            ),
            ("oidc:chief chief@force.example", "dashboard.signed_in"),
        ]
    );
    browser.client.close().await.unwrap();
}

async fn token_sign_in_can_be_turned_off(url: String) {
    let (app, _provider) =
        service_and_provider_with(&url, &[("OCSET__AUTH__TOKEN_SIGN_IN", "false")]).await;
    let page = app
        .http
        .get(format!("{}/sign-in", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with Test Constabulary"), "{page}");
    assert!(!page.contains("name=\"token\""), "{page}");
    let posted = app
        .http
        .post(format!("{}/sign-in", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", app.token(Role::Viewer)))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
    assert!(posted.headers().get("set-cookie").is_none());
    // The API still takes the service's own tokens.
    assert_eq!(
        app.get("/api/v1/status", Role::Viewer).await.status(),
        StatusCode::OK
    );
}

/// `check-config` through the real binary, with `[auth.oidc]` naming
/// `issuer`.
fn check_config(dir: &Path, issuer: &str) -> std::process::Output {
    let config = crate::common::config_in(dir, &crate::common::sqlite_url(dir));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n{}", oidc_toml(issuer))).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ocset-scheduler"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OCSET__")) {
        command.env_remove(name);
    }
    command
        .current_dir(dir)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .env("OCSET__HTTP__PUBLIC_URL", "http://127.0.0.1:8080")
        .env("OCSET_TEST_OIDC_SECRET", OCSET_SECRET)
        .output()
        .unwrap()
}

#[test]
fn check_config_asks_the_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _provider = Provider::start(
        port,
        "http://127.0.0.1:8080/cb",
        "http://127.0.0.1:8080/out",
    );
    let issuer = format!("http://127.0.0.1:{port}");
    let ok = check_config(dir.path(), &issuer);
    let out = String::from_utf8_lossy(&ok.stdout);
    let err = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{err}");
    assert!(
        out.contains(&format!("# issuer {issuer} answers: sign-in at {issuer}/auth, keys at {issuer}/jwks, sign-out there at {issuer}/session/end")),
        "{out}"
    );
    assert!(!out.contains(OCSET_SECRET) && !err.contains(OCSET_SECRET));
    // Plain http beyond loopback is refused by the check; on loopback it
    // is a production concern.
    assert!(err.contains("auth.oidc.issuer: is plain http://"), "{err}");

    // Another spelling of the same host: the document names another issuer.
    let unfit = check_config(dir.path(), &format!("http://localhost:{port}"));
    let err = String::from_utf8_lossy(&unfit.stderr);
    assert!(!unfit.status.success());
    assert!(
        err.contains(&format!("auth.oidc.issuer: the issuer's answer does not fit: the discovery document names the issuer \"{issuer}\", but auth.oidc.issuer is \"http://localhost:{port}\"")),
        "{err}"
    );

    // Nobody there.
    let nobody = free_port();
    let unreachable = check_config(dir.path(), &format!("http://127.0.0.1:{nobody}"));
    let err = String::from_utf8_lossy(&unreachable.stderr);
    assert!(!unreachable.status.success());
    assert!(
        err.contains(&format!("auth.oidc.issuer: the issuer cannot be reached at http://127.0.0.1:{nobody}/.well-known/openid-configuration")),
        "{err}"
    );
}

on_both_backends!(setup;
    token_sign_in_can_be_turned_off,
    the_issuers_access_tokens_are_taken_and_refused_as_they_should,
    people_sign_in_through_the_provider_and_see_what_their_role_allows,
);
