//! What a backend must supply: [`Dialect`], implemented on sqlx's database
//! type (`sqlx::Sqlite` in `sqlite.rs`, `sqlx::Postgres` in `postgres.rs`).
//!
//! Every item is required (no defaults): a backend that leaves one out does
//! not compile. The statements that differ by backend are here because they
//! hold rows or writers off in the backend's own way (`BEGIN IMMEDIATE`,
//! `FOR UPDATE SKIP LOCKED`, an advisory lock, `INDEXED BY`); everything
//! else is shared and runs word for word on both.

use super::LedgerEntry;
use sqlx::migrate::Migrator;
use std::future::Future;
use std::pin::Pin;

/// What [`Dialect::stage_import`] returns: the staging of one batch.
pub type StagingFuture<'c> = Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

/// A database's SQL dialect: the statements and figures the shared store
/// code ([`super::SqlStore`]) cannot write once for every backend.
pub trait Dialect: sqlx::Database {
    /// The statement that opens a read-then-write transaction holding other
    /// writers off.
    const BEGIN_WRITE: &'static str;

    /// Selects the package row ([`super::sql::PACKAGE_ROW_COLUMNS`]) with
    /// reference `$1` and holds it until the transaction ends.
    const LOCK_PACKAGE: &'static str;

    /// Reads the position's mark (`at`) and holds it against writers until
    /// the transaction ends (SQLite's write transaction already does).
    const LOCK_POSITION_MARK: &'static str;

    /// Rows per multi-row `INSERT` of a batch (packages take 22 values a
    /// row, events 9, audit lines 1 plus 5 shared).
    const INSERT_CHUNK_ROWS: usize;

    /// What a package list reads `FROM`: `packages`, or `packages` with the
    /// index that serves the list's order named.
    const PACKAGE_LIST_SOURCE: &'static str;

    /// Statements that keep the query planner's statistics fresh, run after
    /// migrating and periodically.
    const MAINTAIN: &'static [&'static str];

    /// One boolean: true when sqlx's `_sqlx_migrations` table exists.
    const MIGRATIONS_TABLE_EXISTS: &'static str;

    /// The scheduler's due packages ([`super::escalations::SELECT_DUE_PACKAGES`],
    /// `$1` now, `$2` limit), held until the pass ends and not taken by
    /// another pass meanwhile.
    const CLAIM_DUE_PACKAGES: &'static str;

    /// Run before a pass queues messages, so that messages are committed in
    /// the order of their ids (which is the order each destination receives
    /// them).
    const SERIALISE_OUTBOX_APPENDS: &'static [&'static str];

    /// [`super::outbox::SELECT_QUEUE_TAIL`], holding the row it returns
    /// until the pass ends, so no dispatcher claims a message while a pass
    /// adds to it.
    const QUEUE_TAIL: &'static str;

    /// Claims the messages [`super::outbox::SELECT_CLAIMABLE_OUTBOX`]
    /// selects, setting [`super::outbox::CLAIM_OUTBOX_SET`] and returning
    /// [`super::outbox::CLAIM_OUTBOX_RETURNING`], such that two dispatchers
    /// never claim one message or break the order of a destination.
    const CLAIM_OUTBOX: &'static str;

    /// Run first in the transaction that saves a report snapshot, so that
    /// no ledger write's invalidation (`snapshots.rs`) runs between the
    /// save's check of the ledger and its commit.
    const LOCK_REPORT_SNAPSHOTS: &'static [&'static str];

    /// Reads the audit chain's head (`seq`, `hash` of `audit_chain_head`)
    /// and holds it until the transaction ends, so that one appender at a
    /// time extends the chain (`chain.rs`); SQLite's write transaction
    /// already does.
    const LOCK_AUDIT_HEAD: &'static str;

    /// Run first in the transaction that verifies the audit chain, so that
    /// all its reads see one snapshot (the head and the lines agree while
    /// other writers append).
    const READ_SNAPSHOT: &'static [&'static str];

    /// Put before a statement, asks for its plan instead of running it.
    const EXPLAIN: &'static str;

    /// The column of the plan's rows that describes one step.
    const EXPLAIN_STEP_COLUMN: usize;

    /// How the whole database is backed up and restored: by the service
    /// (`VACUUM INTO` a file), or by the backend's own tools, which the
    /// `backup` and `restore` commands then name in their refusal.
    const BACKUP: super::BackupMethod;

    /// This backend's migrations, embedded at compile time.
    fn migrator() -> &'static Migrator;

    /// How many rows a statement wrote (each driver reports it in its own
    /// result type).
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Creates the import's staging tables (`import_staging`, with the
    /// columns of [`super::import::STAGING_COLUMNS`], and
    /// `import_staging_escalations` and `import_staging_events`, a history
    /// import's past escalation levels and other past events by line) inside the import's transaction: TEMP, so no other
    /// connection sees them and they are gone when the transaction ends.
    const CREATE_IMPORT_STAGING: &'static [&'static str];

    /// Run once the staging table is filled and indexed, before the
    /// duplicates are looked for (fresh statistics for the planner).
    const IMPORT_STAGED: &'static [&'static str];

    /// Run just before the import commits: drops what
    /// [`Self::CREATE_IMPORT_STAGING`] made, where the commit does not.
    const IMPORT_CLEAN_UP: &'static [&'static str];

    /// Appends `rows` (each with its line in the file) to the import's
    /// staging table, on the import's connection, in the backend's fastest
    /// way.
    fn stage_import<'c>(
        connection: &'c mut Self::Connection,
        rows: &'c [(u64, LedgerEntry)],
    ) -> StagingFuture<'c>;
}
