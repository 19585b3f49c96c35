//! Persistence: the [`Store`] trait and its two backends, chosen by the URL
//! scheme of `database.url` (`sqlite:` or `postgres:`).
//!
//! The ledger has two tables: `packages`, the current state of each package
//! (with `next_due_at` indexed for the scheduler), and `package_events`, the
//! append-only history. Every write to a package appends an event in the same
//! transaction, with the grade, stage and deadline after it, so the position
//! at any past instant can be rebuilt from the events alone.
//!
//! Beside the ledger, `audit_log` records who changed or read what (append-
//! only too; a write's line goes in with the write, in its transaction), and
//! `api_tokens` holds the API's tokens as hashes, never the tokens.

use crate::domain::{
    EventKind, MoveRefused, Package, PackageStatus, Reference, RiskGrade, Role, Stage,
};
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
    /// The instant the package becomes "due soon" (its first warning level
    /// before the deadline), stored so status filters can run in SQL.
    pub due_soon_at: Option<DateTime<Utc>>,
}

/// Who made a change or a read: recorded in the event ledger and the audit
/// log. `name` is `token:<name>` for the API, `cli:<user>` for the command
/// line, `demo` or `scheduler` for the service itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub name: String,
    /// The HTTP request's id, when the action came through the API.
    pub request_id: Option<String>,
}

impl Actor {
    /// An actor with no request id (the command line, the service itself).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            request_id: None,
        }
    }
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
    /// Only packages with this status at the given instant. `on_track` and
    /// `due_soon` use the stored `due_soon_at`; the others need only the
    /// deadline, the stage and the stop time.
    pub status: Option<(PackageStatus, DateTime<Utc>)>,
    /// Only packages after this one in (deadline, reference) order: the
    /// keyset cursor of a paginated list.
    pub after: Option<PageKey>,
    /// At most this many packages.
    pub limit: Option<u32>,
}

/// A position in the (deadline, reference) order of packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    /// The deadline of the last package on the previous page.
    pub deadline_at: DateTime<Utc>,
    /// Its reference.
    pub reference: String,
}

/// The open packages of one stage and grade: the figures of the "current
/// position" a leader asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionRow {
    /// An open stage.
    pub stage: Stage,
    /// A grade.
    pub grade: RiskGrade,
    /// Open packages of this stage and grade.
    pub open: u64,
    /// Of those, how many are at or past their deadline at `now`.
    pub breached: u64,
    /// Of those not breached, how many are due by the horizon asked for.
    pub due_soon: u64,
    /// The earliest `received_at` among them.
    pub oldest_received_at: Option<DateTime<Utc>>,
}

/// An API token as stored: never the token itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    /// A unique name, recorded as the actor of what the token does.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked token is refused at once.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    /// Order of appending.
    pub sequence: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (see [`Actor`]).
    pub actor: String,
    /// What: `package.created`, `package.regraded`, `package.read`,
    /// `token.created`...
    pub action: String,
    /// Which package, if any.
    pub reference: Option<String>,
    /// The HTTP request's id, if any.
    pub request_id: Option<String>,
    /// A short detail (a token's name and role; never a secret).
    pub detail: Option<String>,
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
    /// A token with this name already exists; nothing was written.
    #[error("a token named {0} already exists")]
    DuplicateToken(String),
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

    /// Refreshes the query planner's statistics where the backend needs it
    /// (SQLite); run after migrating and periodically by the service.
    async fn maintain(&self) -> Result<(), StoreError>;

    /// True when the database answers and every embedded migration is applied.
    async fn is_ready(&self) -> Result<bool, StoreError>;

    /// Writes new packages, their `created` events and one audit line each
    /// (`package.created`), all or nothing. A reference already stored fails
    /// the whole batch with [`StoreError::Duplicate`].
    async fn insert_packages(
        &self,
        entries: &[LedgerEntry],
        actor: &Actor,
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

    /// Packages matching `filter`, ordered by deadline then reference
    /// (so breached ones come most overdue first).
    async fn list_packages(&self, filter: &PackageFilter) -> Result<Vec<Package>, StoreError>;

    /// Applies `change` to the package with `reference` while holding it
    /// against other writers, writes the new state, appends the event, and
    /// appends an audit line (`package.<event kind>`), in one transaction.
    async fn update_package(
        &self,
        reference: &Reference,
        actor: &Actor,
        recorded_at: DateTime<Utc>,
        change: PackageChange,
    ) -> Result<Package, StoreError>;

    /// How many packages are stored, and how many are demo data.
    async fn count_packages(&self) -> Result<PackageCounts, StoreError>;

    /// The open packages per stage and grade at `now` (only combinations
    /// that have packages), optionally for one LPA. `due_soon` counts those
    /// not breached whose deadline is at or before `due_by`. Reads through
    /// the (stage, risk_grade) index, never the stopped packages.
    async fn position(
        &self,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lpa: Option<&str>,
    ) -> Result<Vec<PositionRow>, StoreError>;

    /// Stores a new API token's hash and appends `token.created` to the
    /// audit log. A name already used (even revoked) is
    /// [`StoreError::DuplicateToken`].
    async fn create_token(
        &self,
        token: &ApiToken,
        hash: &str,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Every token, newest first, revoked ones included.
    async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes the token `name` at `at` and appends `token.revoked` to the
    /// audit log. False (and nothing written) when there is no such active
    /// token.
    async fn revoke_token(
        &self,
        name: &str,
        at: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// The active (not revoked) token with this hash.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError>;

    /// Appends a line to the audit log (reads, and actions that are not
    /// ledger writes).
    async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        reference: Option<&Reference>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The audit log, oldest first: all of it, or the lines about one package.
    async fn audit_log(
        &self,
        reference: Option<&Reference>,
    ) -> Result<Vec<AuditRecord>, StoreError>;
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
