//! Persistence: the [`Store`] trait and its two backends, chosen by the URL
//! scheme of `database.url` (`sqlite:` or `postgres:`).
//!
//! The ledger has two tables: `packages`, the current state of each package
//! (with `next_due_at` indexed for the scheduler), and `package_events`, the
//! append-only history. Every write to a package appends an event in the same
//! transaction, with the grade, stage and deadline after it, so the position
//! at any past instant can be rebuilt from the events alone.

use crate::domain::{EventKind, MoveRefused, Package, Reference, RiskGrade, Stage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

mod ledger;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

/// A write to the ledger: a package's state after a change, the event that
/// records the change, and the next instant the scheduler must look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The package after the change.
    pub package: Package,
    /// The event to append.
    pub event: EventKind,
    /// When the change took effect.
    pub occurred_at: DateTime<Utc>,
    /// The next instant an escalation level falls due; `None` when nothing
    /// more can fall due (the clocks have stopped).
    pub next_due_at: Option<DateTime<Utc>>,
}

/// One event of a package's ledger, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEvent {
    /// Order of appending, across the whole ledger.
    pub sequence: i64,
    /// The package's reference.
    pub reference: Reference,
    /// When the change took effect.
    pub occurred_at: DateTime<Utc>,
    /// When it was written.
    pub recorded_at: DateTime<Utc>,
    /// Who made it: `cli:<user>`, `token:<name>`, `demo`.
    pub actor: String,
    /// The grade after the event.
    pub risk_grade: RiskGrade,
    /// The stage after the event.
    pub stage: Stage,
    /// The deadline after the event.
    pub deadline_at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Which packages to list. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFilter {
    /// Only packages whose clock runs.
    pub open_only: bool,
    /// Only this grade.
    pub grade: Option<RiskGrade>,
    /// Only this LPA (exact, as stored).
    pub lpa: Option<String>,
    /// Only this stage.
    pub stage: Option<Stage>,
}

/// A change to apply to one package inside a transaction that holds it: it
/// receives the package as stored and returns the entry to write, or refuses.
pub type PackageChange = Box<dyn FnOnce(&Package) -> Result<LedgerEntry, MoveRefused> + Send>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A package with this reference is already stored; nothing was written.
    #[error("a package with reference {0} already exists")]
    Duplicate(Reference),
    /// No package has this reference.
    #[error("no package has reference {0}")]
    NotFound(Reference),
    /// The change was refused by the domain rules; nothing was written.
    #[error(transparent)]
    Refused(#[from] MoveRefused),
    /// A stored row could not be read back into a valid value.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The URL names no supported database.
    #[error("database.url must start with sqlite: or postgres: (got {0:?})")]
    UnsupportedUrl(String),
    /// The database failed; `context` says what was being done.
    #[error("{context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Wraps a driver error with what was being done.
    pub fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context, source }
    }
}

/// How many packages are stored, and how many of them are demo data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackageCounts {
    /// All packages.
    pub total: u64,
    /// Packages whose reference starts with [`crate::demo::DEMO_PREFIX`].
    pub demo: u64,
}

/// The ledger's storage. One implementation per backend; one conformance
/// suite (`tests/store_conformance.rs`) runs the same cases on both.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// True when the database answers and every embedded migration is applied.
    async fn is_ready(&self) -> Result<bool, StoreError>;

    /// Writes new packages and their `created` events, all or nothing. A
    /// reference already stored fails the whole batch with
    /// [`StoreError::Duplicate`].
    async fn insert_packages(
        &self,
        entries: &[LedgerEntry],
        actor: &str,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Which of `references` are already stored.
    async fn existing_references(
        &self,
        references: &[Reference],
    ) -> Result<Vec<Reference>, StoreError>;

    /// The package with `reference`, if stored.
    async fn package(&self, reference: &Reference) -> Result<Option<Package>, StoreError>;

    /// The ledger of one package, oldest first.
    async fn events(&self, reference: &Reference) -> Result<Vec<LedgerEvent>, StoreError>;

    /// Packages matching `filter`, ordered by deadline then reference.
    async fn list_packages(&self, filter: &PackageFilter) -> Result<Vec<Package>, StoreError>;

    /// Applies `change` to the package with `reference` while holding it
    /// against other writers, writes the new state and appends the event.
    async fn update_package(
        &self,
        reference: &Reference,
        actor: &str,
        recorded_at: DateTime<Utc>,
        change: PackageChange,
    ) -> Result<Package, StoreError>;

    /// How many packages are stored, and how many are demo data.
    async fn count_packages(&self) -> Result<PackageCounts, StoreError>;
}

/// Opens the store `url` names: `sqlite:` (a file, created if missing, with
/// its folder) or `postgres:`/`postgresql:`.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::connect(url, max_connections).await?,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            postgres::PostgresStore::connect(url, max_connections).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
    }
}
