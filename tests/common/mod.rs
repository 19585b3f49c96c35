//! Helpers shared by the integration tests: a throwaway PostgreSQL database
//! per test, and a project configuration pointed at a temporary folder.

#![allow(dead_code)] // each test file uses a different part of this module

use std::path::{Path, PathBuf};

/// The server the PostgreSQL tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("OCSET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test and dropped by [`TestDatabase::drop_now`].
pub struct TestDatabase {
    /// The URL to connect to it.
    pub url: String,
    name: String,
    admin: sqlx::PgPool,
}

impl TestDatabase {
    /// Creates `ocset_test_<random>` on the test server. Panics, naming the
    /// way out, when the server cannot be reached: a PostgreSQL test never
    /// passes without running.
    pub async fn create() -> Self {
        let admin_url = postgres_admin_url();
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {admin_url} ({e}): start it, set OCSET_TEST_POSTGRES_URL, or skip these tests with `cargo test -- --skip postgres`"
                )
            });
        let name = format!("ocset_test_{:016x}", rand::random::<u64>());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create the test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            name,
            admin,
        }
    }

    /// Drops the database (closing any connection still open to it).
    pub async fn drop_now(self) {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await
        .expect("drop the test database");
    }
}

/// Runs `test` against a fresh PostgreSQL database, dropping it afterwards
/// even when the test panics, then passing the panic on.
pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let db = TestDatabase::create().await;
    let outcome = tokio::spawn(test(db.url.clone())).await;
    db.drop_now().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
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

/// The URL of a SQLite file inside `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("ocset.db").display())
}
