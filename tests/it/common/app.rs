//! The real HTTP server on port 0 over its own database, as the API's tests
//! drive it (zero-to-production's `spawn_app`): the shipped configuration,
//! API tokens made for the test, and a clock the test controls.

use chrono::{DateTime, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::ManualClock;
use ocset_scheduler::config::{self, Settings};
use ocset_scheduler::domain::Role;
use ocset_scheduler::http::ApiServer;
use ocset_scheduler::store::{self, Actor, ApiToken, Store};
use reqwest::Response;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A running server and what a test needs to drive it. Dropping it stops
/// the server and deletes its folder.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub http: reqwest::Client,
    /// The server's clock.
    pub clock: ManualClock,
    /// The server's database, for what the API does not show.
    pub store: Arc<dyn Store>,
    /// The configuration the server runs with.
    pub settings: Arc<Settings>,
    /// Each role's token, in clear.
    tokens: BTreeMap<Role, String>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// Starts the API over `database_url` (migrated here), with the shipped
/// configuration and the clock at `start`. `tokens` are made in order, one
/// per role, each created at `start` under its name.
pub async fn spawn_app(
    database_url: &str,
    start: DateTime<Utc>,
    tokens: &[(Role, impl AsRef<str>)],
) -> TestApp {
    spawn_app_with(database_url, start, tokens, Vec::new()).await
}

/// As [`spawn_app`], with `env` as environment overrides of the
/// configuration (`OCSET__HTTP__PUBLIC_URL`, ...).
pub async fn spawn_app_with(
    database_url: &str,
    start: DateTime<Utc>,
    tokens: &[(Role, impl AsRef<str>)],
    env: Vec<(String, String)>,
) -> TestApp {
    spawn_app_at(database_url, start, tokens, env, "", "127.0.0.1:0").await
}

/// As [`spawn_app_with`], with `more_toml` appended to the configuration
/// file (tables the environment cannot add, such as `[auth.oidc]`) and the
/// server bound to `bind` (an address picked beforehand, when the
/// configuration must name the server's own port).
pub async fn spawn_app_at(
    database_url: &str,
    start: DateTime<Utc>,
    tokens: &[(Role, impl AsRef<str>)],
    env: Vec<(String, String)>,
    more_toml: &str,
    bind: &str,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let path = super::config_in(dir.path(), database_url);
    if !more_toml.is_empty() {
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n{more_toml}\n")).unwrap();
    }
    let settings: Arc<Settings> = Arc::new(config::load(&path, env).unwrap());
    let store = store::connect(database_url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let clock = ManualClock::new(start);
    let mut clear = BTreeMap::new();
    for (role, name) in tokens {
        let (token, hash) = ocset_scheduler::tokens::generate();
        let record = ApiToken {
            name: name.as_ref().to_string(),
            role: *role,
            created_at: start,
            revoked_at: None,
        };
        store
            .create_token(&record, &hash, &Actor::named("test"))
            .await
            .unwrap();
        clear.insert(*role, token);
    }
    let app = App::new(store.clone(), settings.clone(), Arc::new(clock.clone()));
    let api = ApiServer::build(app, bind).await.unwrap();
    let base = format!("http://127.0.0.1:{}", api.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        http: reqwest::Client::new(),
        clock,
        store,
        settings,
        tokens: clear,
        _stop: stop,
        _dir: dir,
    }
}

impl TestApp {
    /// The token made for `role`.
    pub fn token(&self, role: Role) -> &str {
        &self.tokens[&role]
    }

    /// `GET path` with `role`'s token.
    pub async fn get(&self, path: &str, role: Role) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token(role))
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with `body` as JSON and `role`'s token.
    pub async fn post(&self, path: &str, role: Role, body: Value) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(role))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}
