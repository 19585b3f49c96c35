//! The PostgreSQL backend, for production and for more than one replica.
//!
//! Writers that read a package and then write it hold its row with
//! `SELECT ... FOR UPDATE`, so two changes to the same package run one after
//! the other and neither is lost; changes to different packages run side by
//! side.

use super::dialect::Dialect;
use super::escalations::SELECT_DUE_PACKAGES;
use super::import::{StagedValues, STAGING_COLUMNS};
use super::outbox::{
    CLAIM_OUTBOX_RETURNING, CLAIM_OUTBOX_SET, SELECT_CLAIMABLE_OUTBOX, SELECT_QUEUE_TAIL,
};
use super::packages::SELECT_PACKAGE;
use super::sql::{as_str, join, joined_len};
use super::{BackupMethod, LedgerEntry, SqlStore, StagingFuture, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnection, PgQueryResult};
use sqlx::Postgres;

/// Fills the import's staging table ([`super::import::STAGING_COLUMNS`]).
const COPY_STAGING: &str = {
    const PARTS: &[&str] = &["COPY import_staging (", STAGING_COLUMNS, ") FROM STDIN"];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// Appends one staged row to `data` in `COPY`'s text format: tab between
/// values, `\N` for NULL, times in RFC 3339 (UTC, to the microsecond).
fn copy_line(data: &mut Vec<u8>, v: &StagedValues<'_>) {
    enum Cell<'a> {
        Text(Option<&'a str>),
        Time(Option<DateTime<Utc>>),
    }
    fn text(data: &mut Vec<u8>, value: Option<&str>) {
        let Some(value) = value else {
            data.extend_from_slice(b"\\N");
            return;
        };
        for byte in value.bytes() {
            match byte {
                b'\\' => data.extend_from_slice(b"\\\\"),
                b'\t' => data.extend_from_slice(b"\\t"),
                b'\n' => data.extend_from_slice(b"\\n"),
                b'\r' => data.extend_from_slice(b"\\r"),
                other => data.push(other),
            }
        }
    }
    fn time(data: &mut Vec<u8>, value: Option<DateTime<Utc>>) {
        let formatted = value.map(|at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        text(data, formatted.as_deref());
    }
    let p = &v.package;
    let line = v.line.to_string();
    text(data, Some(&line));
    for value in [
        Cell::Text(Some(p.reference)),
        Cell::Text(Some(p.risk_grade)),
        Cell::Text(Some(p.stage)),
        Cell::Text(Some(p.lpa)),
        Cell::Text(p.assigned_officer),
        Cell::Time(Some(p.received_at)),
        Cell::Time(Some(p.deadline_at)),
        Cell::Time(Some(p.clock_started_at)),
        Cell::Text(Some(p.policy_version)),
        Cell::Time(Some(p.stage_since)),
        Cell::Time(p.clock_stopped_at),
        Cell::Text(p.outcome),
        Cell::Time(p.child_access_identified_at),
        Cell::Time(p.safeguarding_referral_at),
        Cell::Time(p.next_due_at),
        Cell::Time(p.due_soon_at),
        Cell::Time(p.acknowledged_at),
        Cell::Text(p.acknowledged_by),
        Cell::Text(p.acknowledgement_note),
        Cell::Time(p.acknowledged_deadline_at),
        Cell::Text(p.acknowledgement_reason),
        Cell::Time(p.review_clock_started_at),
        Cell::Text(Some(v.event_kind)),
        Cell::Time(Some(v.occurred_at)),
        Cell::Text(Some(v.details.as_str())),
        Cell::Text(Some(v.created_stage)),
        Cell::Time(v.moved.as_ref().map(|(at, _)| *at)),
        Cell::Text(v.moved.as_ref().map(|(_, d)| d.as_str())),
        Cell::Time(v.stopped.as_ref().map(|(at, _)| *at)),
        Cell::Text(v.stopped.as_ref().map(|(_, d)| d.as_str())),
    ] {
        data.push(b'\t');
        match value {
            Cell::Time(at) => time(data, at),
            Cell::Text(value) => text(data, value),
        }
    }
    data.push(b'\n');
}

/// The ledger in a PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    /// READ COMMITTED is enough: the row lock below serialises the writers
    /// of one package, and a locked read sees the latest committed row.
    const BEGIN_WRITE: &'static str = "BEGIN";

    const LOCK_PACKAGE: &'static str = {
        const PARTS: &[&str] = &[SELECT_PACKAGE, " FOR UPDATE"];
        as_str(&join::<{ joined_len(PARTS) }>(PARTS))
    };
    const LOCK_POSITION_MARK: &'static str = "SELECT at FROM position_mark WHERE id = 1 FOR UPDATE";

    /// Large statements, since each is a round trip: 500 rows of 22 values
    /// stays far below PostgreSQL's limit of 65,535 parameters.
    const INSERT_CHUNK_ROWS: usize = 500;

    /// PostgreSQL's planner picks the (deadline, reference) index itself.
    const PACKAGE_LIST_SOURCE: &'static str = "packages";

    /// PostgreSQL's planner picks `packages_oldest` itself.
    /// Autovacuum keeps PostgreSQL's statistics fresh in the end, but only
    /// a minute or more after a change of 10% of a table: after an import
    /// (which calls `maintain`) or at a start, the tables the position and
    /// the lists read are sampled at once (about 30,000 rows each, whatever
    /// their size).
    const MAINTAIN: &'static [&'static str] = &["ANALYZE packages", "ANALYZE package_events"];

    /// `to_regclass` looks the table up on the search path, where sqlx
    /// creates it, and answers NULL rather than failing when it is missing.
    const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";

    /// SKIP LOCKED, so that two instances' passes share the due packages
    /// out instead of queueing behind each other: each takes the earliest
    /// ones nobody holds, and a package held by a pass (or by an API write)
    /// is left for the next pass. A row another pass has just committed is
    /// checked again against `next_due_at <= now`, so it is not taken twice;
    /// the escalations' unique key would refuse the second recording anyway.
    const CLAIM_DUE_PACKAGES: &'static str = {
        const PARTS: &[&str] = &[SELECT_DUE_PACKAGES, " FOR UPDATE SKIP LOCKED"];
        as_str(&join::<{ joined_len(PARTS) }>(PARTS))
    };

    /// A sequence hands out ids when rows are inserted, not when they are
    /// committed: without this, pass A could take message 10 and pass B
    /// message 11 to the same destination, B commit first, and 11 be sent
    /// before 10 exists for the dispatcher. This transaction-scoped lock
    /// makes passes queue messages one after the other, each holding it
    /// from its first id to its commit, so ids are committed in order. Taken
    /// last in a pass (after the package rows), and only by passes, so it
    /// cannot deadlock with them; the key is the store's own constant.
    const SERIALISE_OUTBOX_APPENDS: &'static [&'static str] =
        &["SELECT pg_advisory_xact_lock(7236828450091101541)"];

    /// FOR UPDATE: a dispatcher claiming the message waits for the pass to
    /// commit what it adds (its claim skips a locked row, so it claims it
    /// next round); a pass that waited for a claim finds the message being
    /// sent and queues its own.
    const QUEUE_TAIL: &'static str = {
        const PARTS: &[&str] = &[SELECT_QUEUE_TAIL, " FOR UPDATE"];
        as_str(&join::<{ joined_len(PARTS) }>(PARTS))
    };

    /// `FOR UPDATE SKIP LOCKED`, and why it keeps each destination in order
    /// with several dispatchers:
    /// - SKIP LOCKED: a message another dispatcher is claiming or finishing
    ///   right now is passed over instead of waited for, so dispatchers do
    ///   not queue behind each other, and a message cannot be claimed twice
    ///   (a row whose claim committed meanwhile is checked again, and is no
    ///   longer pending).
    /// - The order: the queue check (`NOT EXISTS` an older pending or
    ///   sending message to the destination) reads this statement's
    ///   snapshot, in which a message another dispatcher has claimed but not
    ///   yet committed is still pending. So the younger one waits behind it
    ///   either way: pending in the snapshot, or sending once committed.
    ///   Only the oldest message of a destination can be chosen, and if it
    ///   is locked it is skipped, never replaced by the next one.
    ///
    /// MATERIALIZED: the choice is made once, before the update, whatever
    /// the planner would otherwise do with the subquery.
    const CLAIM_OUTBOX: &'static str = {
        const PARTS: &[&str] = &[
            "WITH claimable AS MATERIALIZED (",
            SELECT_CLAIMABLE_OUTBOX,
            " FOR UPDATE OF o SKIP LOCKED) UPDATE outbox SET ",
            CLAIM_OUTBOX_SET,
            " FROM claimable WHERE outbox.id = claimable.id RETURNING ",
            CLAIM_OUTBOX_RETURNING,
        ];
        as_str(&join::<{ joined_len(PARTS) }>(PARTS))
    };

    /// SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock a
    /// writer's `DELETE` (its invalidation) holds until it commits, and
    /// with itself: the save waits for writers that have invalidated, then
    /// counts the ledger with their events committed; a writer that has
    /// not invalidated yet waits for the save to commit, and its `DELETE`
    /// (planned after the lock, so reading a snapshot taken after it)
    /// then drops the saved row if its event is in the period.
    const LOCK_REPORT_SNAPSHOTS: &'static [&'static str] =
        &["LOCK TABLE report_snapshots IN SHARE ROW EXCLUSIVE MODE"];

    /// The head's one row, locked until the transaction ends: appenders
    /// on every replica queue here for the moment of their seal.
    const LOCK_AUDIT_HEAD: &'static str =
        "SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE";

    const READ_SNAPSHOT: &'static [&'static str] =
        &["SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"];

    /// One plan node a line, in the only column. With values bound, a
    /// custom plan for those values.
    const EXPLAIN: &'static str = "EXPLAIN ";
    const EXPLAIN_STEP_COLUMN: usize = 0;

    /// PostgreSQL's own tools: a custom-format dump restores table by
    /// table in parallel, and WAL archiving gives point-in-time recovery,
    /// neither of which one connection of the service could.
    const BACKUP: BackupMethod = BackupMethod::Tools {
        backup: "pg_dump -Fc",
        restore: "pg_restore",
    };

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
        &MIGRATOR
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// Typed as `packages`, so the copy into it converts nothing; dropped
    /// at the end of the transaction, whether it commits or not.
    const CREATE_IMPORT_STAGING: &'static [&'static str] = &[
        "CREATE TEMP TABLE import_staging (line BIGINT NOT NULL, \
         reference TEXT COLLATE \"C\" NOT NULL, risk_grade TEXT NOT NULL, stage TEXT NOT NULL, \
         lpa TEXT NOT NULL, assigned_officer TEXT, received_at TIMESTAMPTZ NOT NULL, \
         deadline_at TIMESTAMPTZ NOT NULL, clock_started_at TIMESTAMPTZ NOT NULL, \
         policy_version TEXT NOT NULL, stage_since TIMESTAMPTZ NOT NULL, \
         clock_stopped_at TIMESTAMPTZ, outcome TEXT, child_access_identified_at TIMESTAMPTZ, \
         safeguarding_referral_at TIMESTAMPTZ, next_due_at TIMESTAMPTZ, due_soon_at TIMESTAMPTZ, \
         acknowledged_at TIMESTAMPTZ, acknowledged_by TEXT, acknowledgement_note TEXT, \
         acknowledged_deadline_at TIMESTAMPTZ, acknowledgement_reason TEXT, \
         review_clock_started_at TIMESTAMPTZ, event_kind TEXT NOT NULL, \
         occurred_at TIMESTAMPTZ NOT NULL, details TEXT NOT NULL, created_stage TEXT NOT NULL, \
         moved_at TIMESTAMPTZ, moved_details TEXT, stopped_at TIMESTAMPTZ, \
         stopped_details TEXT) ON COMMIT DROP",
        "CREATE TEMP TABLE import_staging_escalations (line BIGINT NOT NULL, \
         level TEXT NOT NULL, clock TEXT NOT NULL, occurrence BIGINT NOT NULL, \
         clock_due_at TIMESTAMPTZ NOT NULL, due_at TIMESTAMPTZ NOT NULL, \
         relation TEXT NOT NULL) ON COMMIT DROP",
        "CREATE TEMP TABLE import_staging_events (line BIGINT NOT NULL, kind TEXT NOT NULL, \
         occurred_at TIMESTAMPTZ NOT NULL, stage TEXT NOT NULL, details TEXT NOT NULL) \
         ON COMMIT DROP",
    ];

    /// Autovacuum never visits a TEMP table: without statistics the
    /// planner guesses its size.
    const IMPORT_STAGED: &'static [&'static str] = &["ANALYZE import_staging"];

    /// `ON COMMIT DROP` drops it.
    const IMPORT_CLEAN_UP: &'static [&'static str] = &[];

    /// One `COPY ... FROM STDIN` (text format) per batch: no parameters to
    /// bind and one round trip.
    fn stage_import<'c>(
        connection: &'c mut PgConnection,
        rows: &'c [(u64, LedgerEntry)],
    ) -> StagingFuture<'c> {
        Box::pin(async move {
            let mut data = Vec::with_capacity(rows.len() * 400);
            for (line, entry) in rows {
                copy_line(&mut data, &StagedValues::new(*line, entry));
            }
            let mut copy = connection.copy_in_raw(COPY_STAGING).await?;
            copy.send(data).await?;
            copy.finish().await?;
            Ok(())
        })
    }
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://user@host/db`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = Self::pool_options(max_connections)
            .connect(url)
            .await
            .map_err(StoreError::db("connecting to PostgreSQL"))?;
        Ok(Self::from_pool(pool))
    }
}
