//! Helpers shared by the integration tests: a throwaway PostgreSQL database
//! per test, a project configuration pointed at a temporary folder, a
//! real SMTP server ([`smtp`]), the service's parts driven step by step
//! ([`parts`]), and the HTTP API on port 0 ([`app`]).

#![allow(dead_code)] // the bench example includes this file and uses part of it

pub mod app;
pub mod parts;
pub mod smtp;

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// An instant written in RFC 3339.
pub fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The server the PostgreSQL tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("OCSET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced by `name`, keeping any query.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Runs `test` with the URL of a new PostgreSQL database, and drops the
/// database afterwards whatever the test did; then passes its panic on.
/// When the server cannot be reached it panics, naming the way out: a
/// PostgreSQL test never passes without running.
pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use sqlx::Connection;
    let url = postgres_admin_url();
    let unreachable = |why: String| -> ! {
        panic!(
            "PostgreSQL is not reachable at {}: start it, set OCSET_TEST_POSTGRES_URL, or skip these tests with `cargo test -- --skip postgres` ({why})",
            ocset_scheduler::text::redact_url(&url)
        )
    };
    // A bound on the wait, not a sleep: a firewalled host would otherwise
    // hang the suite for the operating system's TCP timeout.
    let mut admin = match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sqlx::PgConnection::connect(&url),
    )
    .await
    {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => unreachable(e.to_string()),
        Err(_) => unreachable("no answer within 10 seconds".to_string()),
    };
    let name = format!("ocset_test_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("creating the test database");
    let outcome = tokio::spawn(test(with_database(&url, &name))).await;
    // FORCE ends the pool's connections, which may outlive the test.
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("dropping the test database");
    if let Err(failure) = outcome {
        match failure.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(failure) => panic!("the test did not finish: {failure}"),
        }
    }
}

/// Writes a copy of the shipped default configuration into `dir`, with the
/// database at `database_url`, and returns its path.
pub fn config_in(dir: &Path, database_url: &str) -> PathBuf {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"))
            .expect("read config/default.toml");
    let text = shipped.replace(
        "url = \"sqlite://data/ocset.db\"",
        &format!("url = \"{database_url}\""),
    );
    assert!(
        text.contains(database_url),
        "the default config names its database url"
    );
    let path = dir.join("ocset.toml");
    std::fs::write(&path, text).expect("write the test configuration");
    path
}

/// Review intervals beyond every test's horizon (ten years), as
/// environment overrides: the tests of the enforcement and safeguarding
/// clocks read their mail without the review clock's. The review clock's
/// own tests leave them out.
pub const REVIEWS_BEYOND_THE_TEST: &[(&str, &str)] = &[
    ("OCSET__REVIEW__EVERY__VERY_HIGH", "3650d"),
    ("OCSET__REVIEW__EVERY__HIGH", "3650d"),
    ("OCSET__REVIEW__EVERY__MEDIUM", "3650d"),
    ("OCSET__REVIEW__EVERY__STANDARD", "3650d"),
];

/// The shipped configuration over `url` (written into `dir`), mailing by
/// SMTP without TLS to the test server on `smtp_port`, with links to a
/// case system.
pub fn smtp_settings(dir: &Path, url: &str, smtp_port: u16) -> ocset_scheduler::config::Settings {
    smtp_settings_with(dir, url, smtp_port, &[])
}

/// As [`smtp_settings`], with more environment overrides.
pub fn smtp_settings_with(
    dir: &Path,
    url: &str,
    smtp_port: u16,
    extra: &[(&str, &str)],
) -> ocset_scheduler::config::Settings {
    let path = config_in(dir, url);
    let mut env = vec![
        ("OCSET__MAIL__TRANSPORT".to_string(), "smtp".to_string()),
        (
            "OCSET__MAIL__SMTP__HOST".to_string(),
            "127.0.0.1".to_string(),
        ),
        ("OCSET__MAIL__SMTP__PORT".to_string(), smtp_port.to_string()),
        ("OCSET__MAIL__SMTP__TLS".to_string(), "none".to_string()),
        (
            "OCSET__MAIL__SMTP__TIMEOUT_SECONDS".to_string(),
            "5".to_string(),
        ),
        (
            "OCSET__LINKS__PACKAGE_URL".to_string(),
            "https://case-system.example/packages/{reference}".to_string(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ocset_scheduler::config::load(&path, env).unwrap()
}

/// The URL of a SQLite file inside `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("ocset.db").display())
}

/// Generates, for each case, a test on SQLite (a file in a temporary
/// folder) and one on PostgreSQL (a database made for it and dropped after):
/// `on_both_backends!(setup; case_a, case_b)` runs `case(setup(url).await)`.
/// The tests are named `<module>::sqlite::<case>` and
/// `<module>::postgres::<case>`. `main.rs` declares `common` first, with
/// `#[macro_use]`, so every module can call it.
#[allow(unused_macros)] // unused in the bench example, which includes this file
macro_rules! on_both_backends {
    ($setup:ident; $($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = crate::common::sqlite_url(dir.path());
                    super::$case(super::$setup(url).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::common::with_postgres(|url| async move {
                        super::$case(super::$setup(url).await).await;
                    })
                    .await;
                }
            )*
        }
    };
}
