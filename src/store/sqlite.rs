//! The SQLite backend: one file, for a single node and for trying the
//! service out with no other software.
//!
//! SQLite has one writer at a time. Writers wait for each other through
//! `busy_timeout`, but only if they take the write lock when they begin: a
//! deferred transaction that reads and then writes fails at once with
//! "database is locked" when another writer got in between, whatever the
//! timeout says. So every read-then-write transaction begins `IMMEDIATE`.

use super::dialect::Dialect;
use super::escalations::SELECT_DUE_PACKAGES;
use super::import::{StagedValues, STAGING_COLUMNS, STAGING_VALUES};
use super::outbox::{
    CLAIM_OUTBOX_RETURNING, CLAIM_OUTBOX_SET, SELECT_CLAIMABLE_OUTBOX, SELECT_QUEUE_TAIL,
};
use super::packages::SELECT_PACKAGE;
use super::sql::{as_str, join, joined_len};
use super::{BackupMethod, LedgerEntry, SqlStore, StagingFuture, StoreError};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteQueryResult, SqliteSynchronous,
};
use sqlx::Sqlite;
use std::str::FromStr;
use std::time::Duration;

/// How long a writer waits for another to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows per staging `INSERT` of an import: 500 rows of 31 values, below
/// SQLite's limit of 32,766 parameters.
const STAGING_ROWS_PER_INSERT: usize = 500;

/// The import's staging table ([`super::import::STAGING_COLUMNS`]).
const IMPORT_STAGING_TABLE: &str = {
    const PARTS: &[&str] = &["CREATE TEMP TABLE import_staging (", STAGING_COLUMNS, ")"];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// `INSERT` of `rows` staged rows, with anonymous parameters.
fn staging_insert(rows: usize) -> String {
    let row = format!("({})", vec!["?"; STAGING_VALUES].join(", "));
    format!(
        "INSERT INTO import_staging ({STAGING_COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// The ledger in an SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

impl Dialect for Sqlite {
    /// Takes the write lock at once, so a writer queues behind another
    /// (up to `busy_timeout`) instead of failing when it comes to write.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// Inside a `BEGIN IMMEDIATE` transaction the row is already safe from
    /// other writers: SQLite has no row locks and needs none here.
    const LOCK_PACKAGE: &'static str = SELECT_PACKAGE;
    const LOCK_POSITION_MARK: &'static str = "SELECT at FROM position_mark WHERE id = 1";

    /// Small statements: sqlx's SQLite driver finds each `$n` by name, which
    /// SQLite looks up with a linear scan, so binding time grows with the
    /// square of a statement's parameters. At 25 rows (425 values) a
    /// 100,000-package import took 4 to 9 s on a 2-core machine; at 500
    /// rows, 30 s (`examples/store_import_bench.rs`). With the
    /// acknowledgement columns (25 rows of 22, 550 values) it took 8.8 and
    /// 9.6 s.
    const INSERT_CHUNK_ROWS: usize = 25;

    /// A list is always ordered by (deadline, reference) and limited, so
    /// walking that index and stopping at the limit is never wrong and
    /// usually best; left to itself, SQLite's planner sometimes serves a
    /// status filter from the stage index and sorts every open package
    /// (seconds at 100,000 open, measured by `bench/load-api.sh`).
    const PACKAGE_LIST_SOURCE: &'static str = "packages INDEXED BY packages_deadline_at_reference";

    /// Without statistics SQLite reads the oldest receipt through
    /// `packages_position` (stage, grade, LPA, then deadline), every open
    /// package of the group, rather than one step of `packages_oldest`.
    /// Without statistics SQLite's planner serves a deadline-ordered page
    /// of breached packages from the stage index and sorts every open
    /// package (seconds at 100,000); with them it walks the deadline index
    /// and stops after one page. 0x10002 also analyses tables that have
    /// never been analysed; `analysis_limit` keeps each run short.
    ///
    /// Each connection loads the statistics when it reads the schema, and
    /// re-reads the schema only when its version changes. ANALYZE changes
    /// the version only when it creates `sqlite_stat1` (the first run, on
    /// empty tables after migrating); later runs rewrite its rows and other
    /// pooled connections kept planning with the old figures (seen as the
    /// claim reading the status index in the plan test, whenever its
    /// EXPLAIN landed on another connection). Creating and dropping a table
    /// changes the version, so every connection reloads the statistics
    /// before its next statement.
    const MAINTAIN: &'static [&'static str] = &["PRAGMA analysis_limit = 1000; \
         PRAGMA optimize = 0x10002; \
         CREATE TABLE planner_statistics_reload (unused INTEGER); \
         DROP TABLE planner_statistics_reload;"];

    const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')";

    /// The pass runs in a `BEGIN IMMEDIATE` transaction, which already holds
    /// every other writer (and so every other pass) off until it ends.
    const CLAIM_DUE_PACKAGES: &'static str = SELECT_DUE_PACKAGES;

    /// One writer at a time: ids are committed in order already.
    const SERIALISE_OUTBOX_APPENDS: &'static [&'static str] = &[];

    /// The pass's `BEGIN IMMEDIATE` already holds every dispatcher's claim
    /// off until the pass ends.
    const QUEUE_TAIL: &'static str = SELECT_QUEUE_TAIL;

    /// One statement that selects and updates, inside `BEGIN IMMEDIATE`: no
    /// other dispatcher can claim or finish a message between the choice
    /// and the update, so neither the same message twice nor a message
    /// behind another of its destination can be handed out.
    const CLAIM_OUTBOX: &'static str = {
        const PARTS: &[&str] = &[
            "UPDATE outbox SET ",
            CLAIM_OUTBOX_SET,
            " WHERE id IN (",
            SELECT_CLAIMABLE_OUTBOX,
            ") RETURNING ",
            CLAIM_OUTBOX_RETURNING,
        ];
        as_str(&join::<{ joined_len(PARTS) }>(PARTS))
    };

    /// The save's `BEGIN IMMEDIATE` already holds every writer off.
    const LOCK_REPORT_SNAPSHOTS: &'static [&'static str] = &[];

    /// The appending transaction (`BEGIN IMMEDIATE`, or a write already
    /// made in it) holds every other writer off.
    const LOCK_AUDIT_HEAD: &'static str = "SELECT seq, hash FROM audit_chain_head WHERE id = 1";

    /// A read transaction sees one snapshot from its first read on.
    const READ_SNAPSHOT: &'static [&'static str] = &[];

    /// One step a line, in the `detail` column of
    /// `(id, parent, notused, detail)`.
    const EXPLAIN: &'static str = "EXPLAIN QUERY PLAN ";
    const EXPLAIN_STEP_COLUMN: usize = 3;

    /// A consistent copy while writers carry on (`backup.rs`).
    const BACKUP: BackupMethod = BackupMethod::VacuumInto;

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
        &MIGRATOR
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// Columns without types: each keeps the value sqlx binds (times as
    /// the text it writes into the ledger's STRICT tables), so copying
    /// them over changes nothing. Made in the `temp` schema, which only
    /// this connection sees; a rollback undoes it.
    const CREATE_IMPORT_STAGING: &'static [&'static str] = &[
        IMPORT_STAGING_TABLE,
        "CREATE TEMP TABLE import_staging_escalations (line INTEGER NOT NULL, \
         level TEXT NOT NULL, clock TEXT NOT NULL, occurrence INTEGER NOT NULL, \
         clock_due_at TEXT NOT NULL, due_at TEXT NOT NULL, relation TEXT NOT NULL)",
        "CREATE TEMP TABLE import_staging_events (line INTEGER NOT NULL, kind TEXT NOT NULL, \
         occurred_at TEXT NOT NULL, stage TEXT NOT NULL, details TEXT NOT NULL)",
    ];

    /// SQLite plans with the index alone.
    const IMPORT_STAGED: &'static [&'static str] = &[];

    /// A TEMP table outlives its transaction on SQLite; the pooled
    /// connection must not keep it.
    ///
    /// The page cache is left at its default (2 MiB), though a million
    /// packages' index entries arrive in no useful order and a larger
    /// cache would make fewer reads: at 48 MiB a 1,000,000-row import's
    /// peak RSS was 138 MB (the main cache and SQLite's sorter each take
    /// up to the cache size), above the 100 MB the import keeps to
    /// (`docs/notes/import.md`).
    const IMPORT_CLEAN_UP: &'static [&'static str] = &[
        "DROP TABLE temp.import_staging",
        "DROP TABLE temp.import_staging_escalations",
        "DROP TABLE temp.import_staging_events",
    ];

    /// Multi-row `INSERT`s of [`STAGING_ROWS_PER_INSERT`] rows with
    /// anonymous `?` parameters: sqlx looks a named `$n` up by a linear
    /// scan, so binding time grows with the square of a statement's
    /// parameters (see [`Self::INSERT_CHUNK_ROWS`]), while `?`s are bound
    /// in order. A statement of one size is prepared once and cached.
    fn stage_import<'c>(
        connection: &'c mut SqliteConnection,
        rows: &'c [(u64, LedgerEntry)],
    ) -> StagingFuture<'c> {
        Box::pin(async move {
            for chunk in rows.chunks(STAGING_ROWS_PER_INSERT) {
                let values: Vec<StagedValues<'_>> = chunk
                    .iter()
                    .map(|(line, entry)| StagedValues::new(*line, entry))
                    .collect();
                let statement = staging_insert(chunk.len());
                let mut query = sqlx::query::<Sqlite>(&statement);
                for v in &values {
                    let p = &v.package;
                    query = query
                        .bind(v.line)
                        .bind(p.reference)
                        .bind(p.risk_grade)
                        .bind(p.stage)
                        .bind(p.lpa)
                        .bind(p.assigned_officer)
                        .bind(p.received_at)
                        .bind(p.deadline_at)
                        .bind(p.clock_started_at)
                        .bind(p.policy_version)
                        .bind(p.stage_since)
                        .bind(p.clock_stopped_at)
                        .bind(p.outcome)
                        .bind(p.child_access_identified_at)
                        .bind(p.safeguarding_referral_at)
                        .bind(p.next_due_at)
                        .bind(p.due_soon_at)
                        .bind(p.acknowledged_at)
                        .bind(p.acknowledged_by)
                        .bind(p.acknowledgement_note)
                        .bind(p.acknowledged_deadline_at)
                        .bind(p.acknowledgement_reason)
                        .bind(p.review_clock_started_at)
                        .bind(v.event_kind)
                        .bind(v.occurred_at)
                        .bind(v.details.as_str())
                        .bind(v.created_stage)
                        .bind(v.moved.as_ref().map(|(at, _)| *at))
                        .bind(v.moved.as_ref().map(|(_, d)| d.as_str()))
                        .bind(v.stopped.as_ref().map(|(at, _)| *at))
                        .bind(v.stopped.as_ref().map(|(_, d)| d.as_str()));
                }
                query.execute(&mut *connection).await?;
            }
            Ok(())
        })
    }
}

impl SqliteStore {
    /// Opens (creating if missing, with its folder) the database file `url`
    /// names, such as `sqlite://data/ocset.db`, in WAL mode.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::db("reading the SQLite database URL"))?
            .create_if_missing(true)
            // WAL lets readers carry on while one writer writes. NORMAL
            // syncs the log at checkpoints, not at each commit: a crash of
            // the service loses nothing and nothing can be corrupted, but a
            // power cut may undo the last commits before a checkpoint.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // An in-memory database has no folder (its name has no parent).
        if let Some(folder) = options
            .get_filename()
            .parent()
            .filter(|f| !f.as_os_str().is_empty())
        {
            crate::files::create_private_dir_all(folder).map_err(|e| {
                StoreError::db("creating the SQLite database's folder")(sqlx::Error::Io(e))
            })?;
        }
        // The database holds case data: made 0600 here, before SQLite would
        // make it under the umask (0644 usually). SQLite gives its -wal and
        // -shm files the mode of the database file.
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let in_memory_or_read_only = query
            .split('&')
            .any(|pair| pair == "mode=memory" || pair == "mode=ro");
        let file = options.get_filename();
        // sqlx names `sqlite::memory:` `file:sqlx-in-memory-N`.
        if !in_memory_or_read_only
            && !file.as_os_str().is_empty()
            && !file.to_string_lossy().starts_with("file:")
        {
            crate::files::ensure_private_file(file).map_err(|e| {
                StoreError::db("creating the SQLite database file")(sqlx::Error::Io(e))
            })?;
        }
        let pool = Self::pool_options(max_connections)
            .connect_with(options)
            .await
            .map_err(StoreError::db("opening the SQLite database"))?;
        Ok(Self::from_pool(pool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::counters::position;
    use crate::store::listing::list_packages;
    use crate::store::sql::BindValue;
    use crate::store::Store;
    use chrono::{DateTime, Utc};

    /// SQLite's plan for `statement`, one step a line.
    async fn plan(store: &SqliteStore, statement: &str, values: &[BindValue<'_>]) -> String {
        store.explain(statement, values).await.expect("explaining")
    }

    /// One connection: each connection to `:memory:` is a database of its own.
    async fn migrated_in_memory() -> SqliteStore {
        let store = SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn the_position_reads_the_counters_and_only_index_steps_of_packages() {
        let store = migrated_in_memory().await;
        let now: DateTime<Utc> = "2024-06-01T12:00:00Z".parse().unwrap();
        let due_by = now + chrono::Duration::days(7);
        let times = [BindValue::Instant(now), BindValue::Instant(due_by)];
        let all = plan(
            &store,
            &position(168, false, Sqlite::PACKAGE_LIST_SOURCE),
            &times,
        )
        .await;
        let one_lpa = [times[0], times[1], BindValue::Text("Coventry")];
        let one = plan(
            &store,
            &position(168, true, Sqlite::PACKAGE_LIST_SOURCE),
            &one_lpa,
        )
        .await;
        for steps in [&all, &one] {
            // Never a scan of packages: the deadlines since the mark are a
            // range of the deadline index.
            assert!(!steps.contains("SCAN packages"), "{steps}");
            assert!(
                steps.contains("SEARCH p USING INDEX packages_deadline_at_reference (deadline_at>? AND deadline_at<?)"),
                "{steps}"
            );
            // The oldest receipt is the counters' own column (0009), not
            // an index step per group.
            assert!(!steps.contains("packages_oldest"), "{steps}");
        }
    }

    #[tokio::test]
    async fn a_keyset_page_starts_at_its_cursor_in_the_list_index() {
        let store = migrated_in_memory().await;
        let filter = crate::store::PackageFilter {
            after: Some(crate::store::PageKey {
                deadline_at: "2024-06-01T12:00:00Z".parse().unwrap(),
                reference: "NCA-1".into(),
            }),
            limit: Some(50),
            ..Default::default()
        };
        let (statement, values) = list_packages(&filter, Sqlite::PACKAGE_LIST_SOURCE);
        let steps = plan(&store, &statement, &values).await;
        // Starts at the cursor and reads in list order: no sort, no scan.
        assert!(
            steps.starts_with(
                "SEARCH packages USING INDEX packages_deadline_at_reference \
                 ((deadline_at,reference)>(?,?))"
            ),
            "{steps}"
        );
        assert!(
            !steps.contains("SCAN") && !steps.contains("TEMP B-TREE"),
            "{steps}"
        );
    }
}
