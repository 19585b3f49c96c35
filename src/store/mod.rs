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
//!
//! The scheduler's side: `escalations` records each escalation level
//! occurrence once, under its unique key, in the same transaction that
//! queues its messages in `outbox` (linked by `outbox_escalations`) and
//! records the pass in `service_state`; so nothing found due is lost, and
//! nothing is queued twice. Dispatchers claim `outbox` rows with a lease,
//! strictly in order per destination, and record how each delivery ended.
//! These rows change state but are never deleted; what is read often is
//! indexed only over the rows still to be sent, so the history costs the
//! claims nothing.
//!
//! # How the code is laid out
//!
//! One implementation, generic over the backend: [`SqlStore<DB>`] for
//! `DB: `[`Dialect`], where [`Dialect`] is implemented on sqlx's database
//! type and holds, as required consts and fns, only what differs by backend
//! (`sqlite.rs`: `BEGIN IMMEDIATE`, `INDEXED BY`, small insert chunks;
//! `postgres.rs`: `FOR UPDATE SKIP LOCKED`, the advisory lock). The
//! shared code lives by concern — `packages.rs`, `events.rs`, `listing.rs`,
//! `audit.rs`, `tokens.rs`, `escalations.rs`, `outbox.rs`, `digests.rs` —
//! each file holding its SQL as named consts and fns next to the code that
//! runs it; `rows.rs` decodes rows and `sql.rs` has the building blocks.
//! [`SqliteStore`](sqlite::SqliteStore) and
//! [`PostgresStore`](postgres::PostgresStore) are `SqlStore<Sqlite>` and
//! `SqlStore<Postgres>`.
//!
//! Why generic code rather than the macro it replaces or one copy per
//! backend: the macro existed because futures built under sqlx's
//! higher-ranked bounds were expected to fail `async_trait`'s `Send` check.
//! With sqlx 0.8 and the bounds stated on the impl (`for<'c> &'c mut
//! DB::Connection: Executor<'c, Database = DB>`, arguments, and encoding and
//! decoding of the column types, rows decoded through their derived
//! `FromRow`), the futures are `Send`, including ones that hold a
//! transaction across awaits and call other generic `async fn`s. The cost is
//! that the `where` clause is repeated on each `impl` block: Rust does not
//! carry a trait's `where` clause to the code that uses the trait. A copy
//! per backend would have duplicated the transactions and their ordering
//! rules, which must not drift apart.

use crate::domain::{
    DueLevel, EventKind, MoveRefused, Package, PackageClock, PackageStatus, Reference, RiskGrade,
    Role, Stage,
};
use crate::outbox::{DeliveryRecord, Destination, DigestMail, NoticeItem, OutboxDraft, QueueError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

mod audit;
mod backup;
mod chain;
mod contract;
mod counters;
mod dialect;
mod digests;
mod escalations;
mod events;
mod failure;
mod import;
mod listing;
mod outbox;
mod packages;
pub mod postgres;
mod quarantine;
mod retention;
mod rows;
mod snapshots;
mod sql;
mod sql_store;
pub mod sqlite;
mod tokens;

pub use backup::{BackupContents, BackupError, BackupMethod, RestoreBy, Restored};
pub use chain::{AuditVerification, ChainBreak, ChainHead, ChainIntact, ChainVerdict};
pub use contract::Store;
pub use dialect::{Dialect, StagingFuture};
pub(crate) use failure::failure_kind;
pub use import::{ImportCommitted, ImportSession, PastEvent, StagedDuplicate, StagedDuplicates};
pub use quarantine::{QuarantineCounts, QuarantinedRow};
pub use retention::{PurgeRequest, PurgeSummary, RetentionDue, PURGE_BATCH};
pub use snapshots::{ReportSnapshot, SnapshotKey, SnapshotRecord};
pub use sql_store::SqlStore;

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
    /// Events appended before `event`, in order, in the same transaction,
    /// each with when it took effect: the regrade a review made. Each
    /// records the package's state after the whole change. Empty for every
    /// other change.
    pub preceded_by: Vec<(EventKind, DateTime<Utc>)>,
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
    /// Who, as recorded: `token:<name>`, `cli:<user>`, `demo` or
    /// `scheduler`.
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LedgerEvent {
    /// Order of appending, across the whole ledger.
    pub sequence: i64,
    /// The package's reference.
    #[schema(value_type = String)]
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
    /// Only packages whose deadline is after the first instant and at or
    /// before the second: with the first "now", the open packages not yet
    /// breached that fall due within a horizon (the dashboard's due-soon
    /// worklist, counted as the position counts "due within").
    pub deadline_within: Option<(DateTime<Utc>, DateTime<Utc>)>,
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
pub struct StageGradeFigures {
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Order of appending.
    pub sequence: i64,
    /// When it was written (UTC; the service's clock).
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

/// One audit line to append (a read, or an action that is not a ledger
/// write), for [`Store::audit_lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    /// Who.
    pub actor: Actor,
    /// What: `packages.listed`, `package.read`, ...
    pub action: String,
    /// The package it is about, if one.
    pub reference: Option<Reference>,
    /// What was shown (a filter, a period), never a token.
    pub detail: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

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
    /// One failure shared by everyone who waited on the same write (the
    /// read audit's shared commit); it is what the failure inside is.
    #[error(transparent)]
    Shared(Arc<StoreError>),
}

impl StoreError {
    /// Wraps a driver error with what was being done.
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context, source }
    }

    /// Whether the database could not be reached, rather than refusing what
    /// was asked: no connection within the pool's timeout (which is how a
    /// refused connection ends), the pool closed, a broken or terminated
    /// connection (I/O, TLS, a worker gone), or PostgreSQL ending the session
    /// or refusing it. Retrying later may succeed, so the API answers 503.
    ///
    /// PostgreSQL's codes: class 08 (connection exception), 57P01-57P03
    /// (terminated by an administrator, crash, cannot connect now), 53300
    /// (too many connections); and any FATAL or PANIC error, because those
    /// end the session: "database is not currently accepting connections"
    /// is a FATAL 55000, while a statement's own 55000 is an ERROR.
    ///
    /// A database out of room (SQLite's `SQLITE_FULL`, PostgreSQL's 53100
    /// disk full) is unavailable too: it cannot write now and can once an
    /// operator frees space, so a client should try again, not report a
    /// fault of the service.
    pub fn is_unavailable(&self) -> bool {
        if let StoreError::Shared(inner) = self {
            return inner.is_unavailable();
        }
        let StoreError::Database { source, .. } = self else {
            return false;
        };
        match source {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                let ends_session = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some_and(|pg| {
                        matches!(
                            pg.severity(),
                            sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic
                        )
                    });
                ends_session
                    || code.starts_with("08")
                    || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
                    || is_out_of_room(&code)
            }
            _ => false,
        }
    }
}

/// Is `code` (a SQLite result code as a number, or a PostgreSQL SQLSTATE)
/// "the disk is full"?
pub(crate) fn is_out_of_room(code: &str) -> bool {
    match code.parse::<i64>() {
        // SQLITE_FULL, with any extended code.
        Ok(number) => number & 0xff == 13,
        Err(_) => code == "53100",
    }
}

/// The outbox's queue port reports a store failure as it is: same text,
/// same source chain, and its kind.
impl From<StoreError> for QueueError {
    fn from(error: StoreError) -> Self {
        QueueError::new(failure::failure_kind(&error), error)
    }
}

/// How many packages are stored, and how many of them are demo data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackageCounts {
    /// All packages.
    pub total: u64,
    /// Packages whose reference starts with [`crate::domain::DEMO_PREFIX`].
    pub demo: u64,
}

/// One escalation the scheduler found due for a package, and where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationDraft {
    /// The level occurrence, with its unique key.
    pub due: DueLevel,
    /// Who hears of it; empty when nobody can (recorded as `no_recipients`).
    pub destinations: Vec<Destination>,
    /// The package's line in a notice.
    pub item: NoticeItem,
}

/// What the scheduler decided for one due package in a pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DueDecision {
    /// Every level occurrence due now (already-recorded ones are skipped by
    /// the store through the unique key).
    pub escalations: Vec<EscalationDraft>,
    /// The package's next `next_due_at`.
    pub next_due_at: Option<DateTime<Utc>>,
}

/// An escalation recorded for the first time in this pass, to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEscalation {
    /// Its id in the `escalations` table.
    pub id: i64,
    /// Who hears of it.
    pub destinations: Vec<Destination>,
    /// The package's line in a notice.
    pub item: NoticeItem,
}

/// Plans one due package (called inside the pass's transaction).
pub(crate) type DecideFn = dyn Fn(&Package) -> DueDecision + Send + Sync;

/// Groups the escalations newly recorded in a pass into one message per
/// destination (called inside the pass's transaction).
pub(crate) type ComposeFn = dyn Fn(Vec<RecordedEscalation>) -> Vec<OutboxDraft> + Send + Sync;

/// What one scheduler pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassSummary {
    /// Due packages looked at.
    pub packages: usize,
    /// Escalations recorded for the first time (sent, superseded or with no
    /// recipients).
    pub recorded: usize,
    /// Of those, how many were superseded.
    pub superseded: usize,
    /// Messages queued in the outbox.
    pub messages: usize,
    /// Messages that joined one already waiting for the same destination
    /// (queued by an earlier pass and not tried yet), instead of being
    /// queued on their own.
    pub merged: usize,
}

/// What the scheduler's last passes left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerStatus {
    /// When a pass last ran.
    pub last_pass_at: Option<DateTime<Utc>>,
    /// The earliest `next_due_at` at or before `now`: due work not yet
    /// looked at (its age is the scheduler's lag).
    pub oldest_due_at: Option<DateTime<Utc>>,
}

/// An escalation as recorded, with its deliveries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EscalationRecord {
    /// The level's name.
    pub level: String,
    /// Its clock.
    pub clock: PackageClock,
    /// 0 for the first, 1 for the first repeat...
    pub occurrence: u32,
    /// The clock's due instant it belonged to.
    pub clock_due_at: DateTime<Utc>,
    /// When it fell due.
    pub due_at: DateTime<Utc>,
    /// `notified`, `superseded`, `no_recipients`, or `imported` (fell due
    /// in imported history before the clock stopped; never sent).
    pub status: String,
    /// When the scheduler recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Its messages.
    pub deliveries: Vec<DeliveryRecord>,
}

/// When a digest schedule last ran: the figures `/metrics` shows so that
/// an alert can say a digest did not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRun {
    /// The `[[digest]]` schedule's name.
    pub schedule: String,
    /// When a scheduled run of it was last queued, for any recipient.
    pub last_queued_at: DateTime<Utc>,
    /// When the mail server last accepted one of its messages; `None` while
    /// none has been delivered.
    pub last_sent_at: Option<DateTime<Utc>>,
}

/// A digest to queue for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDraft {
    /// The schedule's name, or `on-demand`.
    pub(crate) schedule: String,
    /// What it reports: `2024-W05` or `2024-02-03`.
    pub(crate) period: String,
    /// The run's occurrence key when scheduled (at most one per recipient);
    /// `None` on demand.
    pub(crate) occurrence: Option<String>,
    /// The email address it goes to.
    pub(crate) recipient: String,
    /// The rendered message.
    pub(crate) mail: DigestMail,
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
        Err(StoreError::UnsupportedUrl(crate::text::redact_url(url)))
    }
}

/// Puts the backup `from` in place of the database `url` names (SQLite;
/// `force` replaces an existing database), with a `database.restored`
/// audit line from `by` in it. Nothing is opened or written when it is
/// refused. PostgreSQL is refused, naming `pg_restore`.
pub async fn restore(
    url: &str,
    from: &std::path::Path,
    force: bool,
    by: &RestoreBy,
) -> Result<Restored, BackupError> {
    use sqlx::{Postgres, Sqlite};
    let (method, backend) = if url.starts_with("sqlite:") {
        (
            <Sqlite as Dialect>::BACKUP,
            <Sqlite as sqlx::Database>::NAME,
        )
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        (
            <Postgres as Dialect>::BACKUP,
            <Postgres as sqlx::Database>::NAME,
        )
    } else {
        return Err(StoreError::UnsupportedUrl(crate::text::redact_url(url)).into());
    };
    match method {
        BackupMethod::VacuumInto => backup::restore_sqlite(url, from, force, by).await,
        BackupMethod::Tools { restore, .. } => Err(BackupError::Unsupported {
            action: "restore",
            backend,
            tool: restore,
        }),
    }
}

/// The database file an SQLite `url` names; an error for an in-memory one.
pub fn sqlite_file(url: &str) -> Result<std::path::PathBuf, BackupError> {
    backup::sqlite_file(url)
}
