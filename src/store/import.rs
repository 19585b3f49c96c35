//! A large import, streamed: the rows go into a staging table of the
//! import's own transaction batch by batch, duplicate references are found
//! there by SQL, and only then are the packages, their `created` events and
//! their audit lines written from the staging table, each by one
//! `INSERT ... SELECT`, in the same transaction. Memory stays flat whatever
//! the file's size; nothing is written unless everything is.
//!
//! The staging table is TEMP, created inside the transaction (each
//! backend's [`Dialect::CREATE_IMPORT_STAGING`]) and gone when it ends; each
//! backend fills it in its fastest way ([`Dialect::stage_import`]: `COPY` on
//! PostgreSQL, multi-row `INSERT`s with anonymous parameters on SQLite).
//! What is stored is exactly what [`super::Store::insert_packages`] stores
//! for the same entries (the conformance case
//! `an_import_stores_exactly_what_insert_packages_stores` compares them).

use super::dialect::Dialect;
use super::packages::PACKAGE_WRITE_COLUMNS;
use super::rows::variant_name;
use super::rows::{stored_instant, AuditValues, PackageValues};
use super::{Actor, LedgerEntry, SqlStore, StoreError};
use crate::domain::{DueLevel, EventKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Connection, Decode, Encode, Executor, IntoArguments, Transaction, Type};

/// The staging table's columns after `line`: a package's written columns
/// ([`PACKAGE_WRITE_COLUMNS`]), then its `created` event's kind, time,
/// details and stage (the event's grade and deadline are the package's),
/// then, for a history import, the time and details of its move to
/// awaiting enforcement and of its clock's stop, when it made them (NULL
/// otherwise). A history import records no regrade, so every event of a
/// package has the package's grade and deadline; the stage after each is
/// the one the event names.
pub(crate) const STAGING_COLUMNS: &str = {
    use super::sql::{as_str, join, joined_len};
    const PARTS: &[&str] = &[
        "line, ",
        PACKAGE_WRITE_COLUMNS,
        ", event_kind, occurred_at, details, created_stage, moved_at, moved_details, \
         stopped_at, stopped_details",
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// How many values a staged row has.
pub(crate) const STAGING_VALUES: usize = 1 + super::packages::PACKAGE_WRITE_VALUES + 8;

/// A staged row's values, borrowed from its entry.
#[derive(Debug, Clone)]
pub(crate) struct StagedValues<'a> {
    /// The row's line in the file.
    pub(crate) line: i64,
    /// The package's columns, as [`super::Store::insert_packages`] writes them.
    pub(crate) package: PackageValues<'a>,
    /// The `created` event's kind.
    pub(crate) event_kind: &'static str,
    /// When it took effect.
    pub(crate) occurred_at: DateTime<Utc>,
    /// The event as JSON.
    pub(crate) details: String,
    /// The stage the package was received in.
    pub(crate) created_stage: &'static str,
    /// When it moved to awaiting enforcement after its receipt, and that
    /// event as JSON (a history import).
    pub(crate) moved: Option<(DateTime<Utc>, String)>,
    /// When its clock stopped, and that event as JSON (a history import).
    pub(crate) stopped: Option<(DateTime<Utc>, String)>,
}

impl<'a> StagedValues<'a> {
    /// The values of the entry on line `line`: a new package's (its
    /// `created` event), or a package's history (its `created` event
    /// first in `preceded_by`, then its stage moves).
    pub(crate) fn new(line: u64, entry: &'a LedgerEntry) -> Self {
        // Strings, enums and instants only: serialising cannot fail.
        let json = |event: &EventKind| {
            serde_json::to_string(event).expect("an EventKind always serialises to JSON")
        };
        let mut events = entry
            .preceded_by
            .iter()
            .map(|(event, at)| (event, *at))
            .chain(std::iter::once((&entry.event, entry.occurred_at)));
        let (created, created_at) = events.next().expect("an entry has its event");
        let created_stage = match created {
            EventKind::Created { stage, .. } => stage.as_str(),
            _ => entry.package.stage().as_str(),
        };
        let (mut moved, mut stopped) = (None, None);
        for (event, at) in events {
            if let EventKind::StageChanged { to, .. } = event {
                let staged = Some((stored_instant(at), json(event)));
                if to.stops_clock() {
                    stopped = staged;
                } else {
                    moved = staged;
                }
            }
        }
        Self {
            // A file of more than 2^63 lines cannot be read.
            line: i64::try_from(line).unwrap_or(i64::MAX),
            package: PackageValues::new(entry),
            event_kind: created.name(),
            occurred_at: stored_instant(created_at),
            details: json(created),
            created_stage,
            moved,
            stopped,
        }
    }
}

/// A reference refused in an import: repeated in the file, or stored already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedDuplicate {
    /// The line it is on.
    pub line: u64,
    /// The reference as written on that line.
    pub reference: String,
    /// For a reference repeated in the file, the line it first appears on;
    /// `None` when a package with it is stored already.
    pub first_line: Option<u64>,
}

/// The duplicate references of an import: the first `keep` by line, and how
/// many there are in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StagedDuplicates {
    /// The first ones, in line order.
    pub listed: Vec<StagedDuplicate>,
    /// How many in all.
    pub total: u64,
}

/// How an import's commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportCommitted {
    /// Every staged package was written, with its event and audit line.
    Imported(u64),
    /// Another writer stored one of the references since the duplicates were
    /// looked for; nothing was written.
    Duplicates(StagedDuplicates),
}

/// An import under way: one transaction, holding the staged rows. Dropping
/// it without [`Self::commit`] writes nothing.
#[async_trait]
pub trait ImportSession: Send {
    /// Stages `rows` (each with its line in the file).
    async fn stage(&mut self, rows: &[(u64, LedgerEntry)]) -> Result<(), StoreError>;

    /// Makes this a history import (`import --history`): each staged
    /// entry's stage moves (in its `preceded_by` and its event) are written
    /// after the `created` events, and the audit lines say
    /// `imported history`.
    fn history(&mut self);

    /// Stages events of a history import's past beside their packages'
    /// rows (each with the line of its package), written at the commit in
    /// time order with the package's others.
    async fn stage_events(&mut self, rows: &[(u64, PastEvent)]) -> Result<(), StoreError>;

    /// Stages the escalation levels that fell due in a history import's
    /// past (each with the line of its package), to be recorded at the
    /// commit as `imported`: never sent.
    async fn stage_escalations(&mut self, rows: &[(u64, DueLevel)]) -> Result<(), StoreError>;

    /// The staged references that repeat an earlier staged one in any case,
    /// and the first staged occurrences of references stored already: the
    /// first `keep` by line, and how many in all.
    async fn duplicates(&mut self, keep: usize) -> Result<StagedDuplicates, StoreError>;

    /// Writes every staged package, its `created` event and its audit line
    /// (`package.created` by `actor`), in line order, and commits.
    async fn commit(
        self: Box<Self>,
        actor: &Actor,
        recorded_at: DateTime<Utc>,
    ) -> Result<ImportCommitted, StoreError>;
}

/// Serves the look-ups of the duplicates and the event join.
const INDEX_STAGING: &str =
    "CREATE INDEX import_staging_folded ON import_staging (lower(reference), line)";

/// Staged rows whose reference (in any case) is on an earlier staged line:
/// the line, the reference as written, the first line. `$1` is the limit.
const REPEATED_IN_FILE: &str = "SELECT s.line, s.reference, f.first_line \
     FROM import_staging s JOIN (SELECT lower(reference) AS folded, MIN(line) AS first_line \
     FROM import_staging GROUP BY lower(reference) HAVING COUNT(*) > 1) f \
     ON lower(s.reference) = f.folded AND s.line > f.first_line \
     ORDER BY s.line LIMIT $1";

/// How many staged rows repeat an earlier one's reference.
const COUNT_REPEATED_IN_FILE: &str = "SELECT CAST(COALESCE(SUM(n - 1), 0) AS BIGINT) \
     FROM (SELECT COUNT(*) AS n FROM import_staging GROUP BY lower(reference) \
     HAVING COUNT(*) > 1) d";

/// The first staged occurrence of each reference a stored package has (in
/// any case): the line and the reference as written. `$1` is the limit.
const STORED_ALREADY: &str = "SELECT s.line, s.reference FROM import_staging s \
     JOIN packages p ON lower(p.reference) = lower(s.reference) \
     WHERE NOT EXISTS (SELECT 1 FROM import_staging e \
     WHERE lower(e.reference) = lower(s.reference) AND e.line < s.line) \
     ORDER BY s.line LIMIT $1";

/// How many [`STORED_ALREADY`] there are.
const COUNT_STORED_ALREADY: &str = "SELECT COUNT(DISTINCT lower(s.reference)) \
     FROM import_staging s JOIN packages p ON lower(p.reference) = lower(s.reference)";

/// The packages, in line order, so that ids rise with the file as a batch
/// insert's do. `$1` is `created_at` and `updated_at`.
const INSERT_STAGED_PACKAGES: &str = {
    use super::sql::{as_str, join, joined_len};
    const PARTS: &[&str] = &[
        "INSERT INTO packages (",
        PACKAGE_WRITE_COLUMNS,
        ", created_at, updated_at) SELECT ",
        PACKAGE_WRITE_COLUMNS,
        ", $1, $1 FROM import_staging ORDER BY line",
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// Their `created` events, in line order: `$1` is `recorded_at`, `$2` the
/// actor's name. The event records the package's grade and deadline and
/// the stage it was received in.
const INSERT_STAGED_EVENTS: &str = "INSERT INTO package_events (package_id, kind, \
     occurred_at, recorded_at, actor, risk_grade, stage, deadline_at, details) \
     SELECT p.id, s.event_kind, s.occurred_at, $1, $2, s.risk_grade, s.created_stage, \
     s.deadline_at, s.details FROM import_staging s JOIN packages p ON p.reference = s.reference \
     ORDER BY s.line";

/// A history import's events, per package (in line order) in time order:
/// the `created` event, the move to awaiting enforcement, the clock's stop
/// (its stage the package's), and the past events staged apart
/// (`import_staging_events`: safeguarding), each with the stage after it;
/// at one instant in that order. `$1`, `$2` as [`INSERT_STAGED_EVENTS`].
const INSERT_STAGED_HISTORY: &str = "INSERT INTO package_events (package_id, kind, \
     occurred_at, recorded_at, actor, risk_grade, stage, deadline_at, details) \
     SELECT p.id, x.kind, x.occurred_at, $1, $2, s.risk_grade, x.stage, s.deadline_at, \
     x.details FROM (\
     SELECT line, event_kind AS kind, occurred_at, created_stage AS stage, details, 0 AS rank \
     FROM import_staging \
     UNION ALL SELECT line, 'stage_changed', moved_at, 'awaiting_enforcement', moved_details, 1 \
     FROM import_staging WHERE moved_at IS NOT NULL \
     UNION ALL SELECT line, 'stage_changed', stopped_at, stage, stopped_details, 2 \
     FROM import_staging WHERE stopped_at IS NOT NULL \
     UNION ALL SELECT line, kind, occurred_at, stage, details, 3 FROM import_staging_events\
     ) x JOIN import_staging s ON s.line = x.line JOIN packages p ON p.reference = s.reference \
     ORDER BY x.line, x.occurred_at, x.rank";

/// The columns of `import_staging_events`, in the order staged.
const STAGED_EVENT_COLUMNS: &str = "line, kind, occurred_at, stage, details";

/// An event of a package's imported past that its staged row does not
/// carry (a safeguarding update), with the stage the package was in then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastEvent {
    /// What happened.
    pub event: EventKind,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// The package's stage at that time.
    pub stage: crate::domain::Stage,
}

/// The columns of `import_staging_escalations`, in the order staged.
const STAGED_ESCALATION_COLUMNS: &str =
    "line, level, clock, occurrence, clock_due_at, due_at, relation";

/// Rows per staging `INSERT` of escalations: 500 of 7 values.
const ESCALATIONS_PER_INSERT: usize = 500;

/// A history import's past escalation levels, recorded as `imported`
/// (never sent), per package in line order then as the levels came; `$1`
/// is `recorded_at`.
const INSERT_STAGED_ESCALATIONS: &str = "INSERT INTO escalations (package_id, level, clock, \
     occurrence, clock_due_at, due_at, relation, status, recorded_at) \
     SELECT p.id, e.level, e.clock, e.occurrence, e.clock_due_at, e.due_at, e.relation, \
     'imported', $1 FROM import_staging_escalations e JOIN import_staging s ON s.line = e.line \
     JOIN packages p ON p.reference = s.reference ORDER BY e.line, e.due_at, e.level";

/// The audit detail of a package imported with its history.
pub(crate) const IMPORTED_HISTORY: &str = "imported history";

/// Their audit lines, in line order (`$1` to `$5` as
/// [`SqlStore::bind_audit_values`] binds them).
const INSERT_STAGED_AUDIT: &str = "INSERT INTO audit_log (reference, at, actor, action, \
     request_id, detail) SELECT reference, $1, $2, $3, $4, $5 FROM import_staging ORDER BY line";

/// An import in one transaction of a `DB` database.
pub(super) struct SqlImport<DB: Dialect> {
    tx: Transaction<'static, DB>,
    staged: u64,
    indexed: bool,
    /// Whether this is a history import ([`ImportSession::history`]).
    history: bool,
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
{
    /// [`super::Store::begin_import`].
    pub(super) async fn start_import(&self) -> Result<Box<dyn ImportSession>, StoreError> {
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting an import"))?;
        for statement in DB::CREATE_IMPORT_STAGING {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("creating the import's staging table"))?;
        }
        Ok(Box::new(SqlImport::<DB> {
            tx,
            staged: 0,
            indexed: false,
            history: false,
        }))
    }
}

impl<DB> SqlImport<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
{
    /// Indexes the staging table once it is full (cheaper than keeping an
    /// index up to date row by row), and lets the backend plan with it.
    async fn index(&mut self) -> Result<(), StoreError> {
        if !self.indexed {
            sqlx::query(INDEX_STAGING)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::db("indexing the import's staging table"))?;
            for statement in DB::IMPORT_STAGED {
                sqlx::query(statement)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(StoreError::db("analysing the import's staging table"))?;
            }
            self.indexed = true;
        }
        Ok(())
    }

    async fn find_duplicates(&mut self, keep: usize) -> Result<StagedDuplicates, StoreError> {
        self.index().await?;
        let limit = i64::try_from(keep).unwrap_or(i64::MAX);
        let repeated: Vec<(i64, String, i64)> = sqlx::query_as(REPEATED_IN_FILE)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(StoreError::db(
                "looking for references repeated in the file",
            ))?;
        let stored: Vec<(i64, String)> = sqlx::query_as(STORED_ALREADY)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(StoreError::db("looking for references stored already"))?;
        // Counted only when the list may have been cut short.
        let mut total = (repeated.len() + stored.len()) as u64;
        if repeated.len() == keep {
            total -= repeated.len() as u64;
            total += self.count(COUNT_REPEATED_IN_FILE).await?;
        }
        if stored.len() == keep {
            total -= stored.len() as u64;
            total += self.count(COUNT_STORED_ALREADY).await?;
        }
        let line = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut listed: Vec<StagedDuplicate> = repeated
            .into_iter()
            .map(|(at, reference, first)| StagedDuplicate {
                line: line(at),
                reference,
                first_line: Some(line(first)),
            })
            .chain(stored.into_iter().map(|(at, reference)| StagedDuplicate {
                line: line(at),
                reference,
                first_line: None,
            }))
            .collect();
        listed.sort_by_key(|d| d.line);
        listed.truncate(keep);
        Ok(StagedDuplicates { listed, total })
    }

    async fn count(&mut self, sql: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(StoreError::db("counting duplicate references"))?;
        Ok(n.unsigned_abs())
    }
}

#[async_trait]
impl<DB> ImportSession for SqlImport<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
{
    async fn stage(&mut self, rows: &[(u64, LedgerEntry)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        DB::stage_import(&mut self.tx, rows)
            .await
            .map_err(StoreError::db("staging imported rows"))?;
        self.staged += rows.len() as u64;
        Ok(())
    }

    fn history(&mut self) {
        self.history = true;
    }

    async fn stage_events(&mut self, rows: &[(u64, PastEvent)]) -> Result<(), StoreError> {
        for chunk in rows.chunks(ESCALATIONS_PER_INSERT) {
            let statement = format!(
                "INSERT INTO import_staging_events ({STAGED_EVENT_COLUMNS}) VALUES {}",
                super::sql::values_groups(chunk.len(), 5, &[])
            );
            let values: Vec<(i64, &str, DateTime<Utc>, &str, String)> = chunk
                .iter()
                .map(|(line, past)| {
                    (
                        i64::try_from(*line).unwrap_or(i64::MAX),
                        past.event.name(),
                        stored_instant(past.occurred_at),
                        past.stage.as_str(),
                        // Strings, enums and instants only: cannot fail.
                        serde_json::to_string(&past.event)
                            .expect("an EventKind always serialises to JSON"),
                    )
                })
                .collect();
            let mut query = sqlx::query::<DB>(&statement);
            for v in &values {
                query = query
                    .bind(v.0)
                    .bind(v.1)
                    .bind(v.2)
                    .bind(v.3)
                    .bind(v.4.as_str());
            }
            query
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::db("staging imported events"))?;
        }
        Ok(())
    }

    async fn stage_escalations(&mut self, rows: &[(u64, DueLevel)]) -> Result<(), StoreError> {
        for chunk in rows.chunks(ESCALATIONS_PER_INSERT) {
            let statement = format!(
                "INSERT INTO import_staging_escalations ({STAGED_ESCALATION_COLUMNS}) VALUES {}",
                super::sql::values_groups(chunk.len(), 7, &[])
            );
            let values: Vec<(i64, &str, String, i64, DateTime<Utc>, DateTime<Utc>, String)> = chunk
                .iter()
                .map(|(line, due)| {
                    (
                        i64::try_from(*line).unwrap_or(i64::MAX),
                        due.level.as_str(),
                        variant_name(&due.clock),
                        i64::from(due.occurrence),
                        // Cut as every stored time is: the unique key compares them.
                        stored_instant(due.clock_due_at),
                        stored_instant(due.due_at),
                        variant_name(&due.relation),
                    )
                })
                .collect();
            let mut query = sqlx::query::<DB>(&statement);
            for v in &values {
                query = query
                    .bind(v.0)
                    .bind(v.1)
                    .bind(v.2.as_str())
                    .bind(v.3)
                    .bind(v.4)
                    .bind(v.5)
                    .bind(v.6.as_str());
            }
            query
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::db("staging imported escalations"))?;
        }
        Ok(())
    }

    async fn duplicates(&mut self, keep: usize) -> Result<StagedDuplicates, StoreError> {
        self.find_duplicates(keep).await
    }

    async fn commit(
        mut self: Box<Self>,
        actor: &Actor,
        recorded_at: DateTime<Utc>,
    ) -> Result<ImportCommitted, StoreError> {
        self.index().await?;
        let recorded_at = stored_instant(recorded_at);
        // A savepoint, so that a reference another writer stored since the
        // duplicates were looked for (PostgreSQL; SQLite's write lock holds
        // every other writer off) can be named with its line.
        let mut inner = self
            .tx
            .begin()
            .await
            .map_err(StoreError::db("starting to write the import"))?;
        let inserted = sqlx::query(INSERT_STAGED_PACKAGES)
            .bind(recorded_at)
            .execute(&mut *inner)
            .await;
        match inserted {
            Ok(done) => {
                let written = DB::rows_affected(&done);
                if written != self.staged {
                    return Err(StoreError::Corrupt(format!(
                        "the import staged {} packages but wrote {written}",
                        self.staged
                    )));
                }
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                inner
                    .rollback()
                    .await
                    .map_err(StoreError::db("undoing an import with a duplicate"))?;
                let found = self.find_duplicates(super::sql::LOOKUP_CHUNK).await?;
                return Ok(ImportCommitted::Duplicates(found));
            }
            Err(e) => return Err(StoreError::db("writing the imported packages")(e)),
        }
        // A history's events, per package in time order, so that the
        // ledger's sequence follows each package's history.
        let events = if self.history {
            INSERT_STAGED_HISTORY
        } else {
            INSERT_STAGED_EVENTS
        };
        sqlx::query(events)
            .bind(recorded_at)
            .bind(actor.name.as_str())
            .execute(&mut *inner)
            .await
            .map_err(StoreError::db("appending the imported packages' events"))?;
        if self.history {
            sqlx::query(INSERT_STAGED_ESCALATIONS)
                .bind(recorded_at)
                .execute(&mut *inner)
                .await
                .map_err(StoreError::db("recording the imported past's escalations"))?;
        }
        let detail = self.history.then_some(IMPORTED_HISTORY);
        let audit = AuditValues::new(actor, "package.created", detail, recorded_at);
        sqlx::query(INSERT_STAGED_AUDIT)
            .bind(audit.at)
            .bind(audit.actor)
            .bind(audit.action)
            .bind(audit.request_id)
            .bind(audit.detail)
            .execute(&mut *inner)
            .await
            .map_err(StoreError::db("auditing the imported packages"))?;
        // Reports kept for periods the imported events land in are stale.
        sqlx::query(super::snapshots::INVALIDATE_SNAPSHOTS_FOR_IMPORT)
            .execute(&mut *inner)
            .await
            .map_err(StoreError::db(
                "dropping report snapshots a ledger write makes stale",
            ))?;
        // The whole import's lines, chained in line order; the head stays
        // held (PostgreSQL) until the outer commit just below.
        super::chain::seal_audit::<DB>(&mut inner).await?;
        inner
            .commit()
            .await
            .map_err(StoreError::db("writing the import"))?;
        for statement in DB::IMPORT_CLEAN_UP {
            sqlx::query(statement)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::db("dropping the import's staging table"))?;
        }
        self.tx
            .commit()
            .await
            .map_err(StoreError::db("committing the import"))?;
        Ok(ImportCommitted::Imported(self.staged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staging_columns_are_the_line_the_package_and_the_event() {
        assert_eq!(STAGING_COLUMNS.split(',').count(), STAGING_VALUES);
        assert!(INSERT_STAGED_PACKAGES.contains(&format!("SELECT {PACKAGE_WRITE_COLUMNS}, $1")));
    }
}
