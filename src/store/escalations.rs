//! The scheduler's side: one pass claims the due packages, records each
//! escalation level occurrence once under its unique key, queues the
//! messages (`outbox.rs`), sets each package's next due instant and records
//! the pass, all in one transaction; and the reads that show what it did.

use super::dialect::Dialect;
use super::quarantine::set_package_aside;
use super::rows::{
    corrupt, parse_json, parse_variant, stored_instant, stored_u32, variant_name, PackageRow,
};
use super::sql::{as_str, join, joined_len, PACKAGE_ROW_COLUMNS};
use super::{
    ComposeFn, DecideFn, EscalationDraft, EscalationRecord, PassSummary, RecordedEscalation,
    SchedulerStatus, SqlStore, StoreError,
};
use crate::domain::{Package, PackageClock, Reference};
use crate::outbox::DeliveryRecord;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::query::QueryScalar;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use std::collections::HashMap;

/// The packages due at `$1`, earliest first, at most `$2` of them. Reads
/// only due rows, through the partial `packages_next_due_at` index (a
/// comparison implies `IS NOT NULL` to both planners). A backend's
/// [`Dialect::CLAIM_DUE_PACKAGES`] adds its locking clause.
pub(crate) const SELECT_DUE_PACKAGES: &str = {
    const PARTS: &[&str] = &[
        "SELECT ",
        PACKAGE_ROW_COLUMNS,
        " FROM packages WHERE next_due_at <= $1 ORDER BY next_due_at, id LIMIT $2",
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// The ids and references of the packages due at `$1`, as
/// [`SELECT_DUE_PACKAGES`] orders them: read when a due row cannot be
/// decoded, to read them one by one.
const SELECT_DUE_IDS: &str = "SELECT id, reference FROM packages WHERE next_due_at <= $1 \
     ORDER BY next_due_at, id LIMIT $2";

/// One package row by id.
const SELECT_PACKAGE_BY_ID: &str = {
    const PARTS: &[&str] = &[
        "SELECT ",
        PACKAGE_ROW_COLUMNS,
        " FROM packages WHERE id = $1",
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// Records an escalation ([`SqlStore::bind_escalation_values`]) unless its
/// unique key is already taken; returns its new id, or no row when it was
/// recorded before (by an earlier pass, or by another instance a moment
/// ago).
pub(crate) const INSERT_ESCALATION: &str = "INSERT INTO escalations \
     (package_id, level, clock, occurrence, clock_due_at, due_at, relation, status, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (package_id, level, occurrence, clock_due_at) DO NOTHING RETURNING id";

/// Sets package row `$1`'s next due instant to `$2` (NULL: nothing more
/// can fall due). Not a ledger event, so `updated_at` stays: it says when
/// the package last changed, and the scheduler changes nothing about it.
pub(crate) const SET_NEXT_DUE_AT: &str = "UPDATE packages SET next_due_at = $2 WHERE id = $1";

/// Records `$1` as the scheduler's last pass. Never moves it back: with two
/// instances, the one that commits last may have started first.
pub(crate) const RECORD_PASS: &str =
    "INSERT INTO service_state (name, at) VALUES ('scheduler', $1) \
     ON CONFLICT (name) DO UPDATE SET at = excluded.at WHERE service_state.at < excluded.at";

/// The last pass, and the earliest `next_due_at` at or before `$1`.
pub(crate) const SCHEDULER_STATUS: &str = "SELECT \
     (SELECT at FROM service_state WHERE name = 'scheduler'), \
     (SELECT MIN(next_due_at) FROM packages WHERE next_due_at <= $1)";

/// The escalations of package `$1` (its reference), in the order recorded
/// ([`EscalationRow`]).
pub(crate) const SELECT_ESCALATIONS: &str = "SELECT e.id, e.level, e.clock, e.occurrence, \
     e.clock_due_at, e.due_at, e.status, e.recorded_at \
     FROM packages p JOIN escalations e ON e.package_id = p.id \
     WHERE p.reference = $1 ORDER BY e.id";

/// The messages carrying the escalations of package `$1`
/// ([`DeliveryRow`]), by escalation then message.
pub(crate) const SELECT_ESCALATION_DELIVERIES: &str =
    "SELECT l.escalation_id, o.id AS message_id, \
     o.destination, o.status, o.attempts, o.sent_at, o.last_error \
     FROM packages p JOIN escalations e ON e.package_id = p.id \
     JOIN outbox_escalations l ON l.escalation_id = e.id \
     JOIN outbox o ON o.id = l.outbox_id \
     WHERE p.reference = $1 ORDER BY l.escalation_id, o.id";

/// How an escalation is recorded: the status column of `escalations`.
pub(crate) fn escalation_status(draft: &EscalationDraft) -> &'static str {
    if draft.due.superseded {
        ESCALATION_SUPERSEDED
    } else if draft.destinations.is_empty() {
        ESCALATION_NO_RECIPIENTS
    } else {
        ESCALATION_NOTIFIED
    }
}

/// Queued for its recipients.
pub(crate) const ESCALATION_NOTIFIED: &str = "notified";
/// A warning overtaken by the breach: recorded, not sent.
pub(crate) const ESCALATION_SUPERSEDED: &str = "superseded";
/// Nobody to tell: recorded, not sent.
pub(crate) const ESCALATION_NO_RECIPIENTS: &str = "no_recipients";
// `imported` (migration 0010): a level that fell due in imported history,
// before the clock stopped; recorded by the import (`store/import.rs`),
// never sent.

/// An escalation's columns as written; bound by
/// [`SqlStore::bind_escalation_values`].
#[derive(Debug, Clone)]
pub(crate) struct EscalationValues<'a> {
    pub(super) package_id: i64,
    pub(super) level: &'a str,
    pub(super) clock: String,
    pub(super) occurrence: i64,
    pub(super) clock_due_at: DateTime<Utc>,
    pub(super) due_at: DateTime<Utc>,
    pub(super) relation: String,
    pub(super) status: &'static str,
    pub(super) recorded_at: DateTime<Utc>,
}

impl<'a> EscalationValues<'a> {
    /// The row that records `draft` for package row `package_id`.
    pub(crate) fn new(
        package_id: i64,
        draft: &'a EscalationDraft,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        let due = &draft.due;
        Self {
            package_id,
            level: due.level.as_str(),
            clock: variant_name(&due.clock),
            occurrence: i64::from(due.occurrence),
            // Cut as every stored time is: the unique key compares them.
            clock_due_at: stored_instant(due.clock_due_at),
            due_at: stored_instant(due.due_at),
            relation: variant_name(&due.relation),
            status: escalation_status(draft),
            recorded_at: stored_instant(recorded_at),
        }
    }
}

/// One row of `escalations`, as [`SELECT_ESCALATIONS`] selects it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EscalationRow {
    /// The row's key, which deliveries refer to.
    pub(crate) id: i64,
    level: String,
    clock: String,
    occurrence: i64,
    clock_due_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    status: String,
    recorded_at: DateTime<Utc>,
}

impl EscalationRow {
    /// The record, with its deliveries.
    pub(crate) fn into_record(
        self,
        deliveries: Vec<DeliveryRecord>,
    ) -> Result<EscalationRecord, StoreError> {
        let at = format!("escalation {}", self.id);
        Ok(EscalationRecord {
            clock: parse_variant::<PackageClock>(&self.clock)
                .map_err(|e| corrupt(&at, "clock", e))?,
            occurrence: stored_u32(&at, "occurrence", self.occurrence)?,
            level: self.level,
            clock_due_at: self.clock_due_at,
            due_at: self.due_at,
            status: self.status,
            recorded_at: self.recorded_at,
            deliveries,
        })
    }
}

/// One message carrying an escalation, as
/// [`SELECT_ESCALATION_DELIVERIES`] selects it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    /// The escalation it carries.
    pub(crate) escalation_id: i64,
    message_id: i64,
    destination: String,
    status: String,
    attempts: i64,
    sent_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let at = format!("outbox message {}", row.message_id);
        Ok(DeliveryRecord {
            message_id: row.message_id,
            destination: parse_json(&at, "destination", &row.destination)?,
            status: row.status,
            attempts: stored_u32(&at, "attempts", row.attempts)?,
            sent_at: row.sent_at,
            last_error: row.last_error,
        })
    }
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
    /// Binds an [`EscalationValues`] in the order of [`INSERT_ESCALATION`]'s
    /// columns.
    fn bind_escalation_values<'q, O>(
        query: QueryScalar<'q, DB, O, DB::Arguments<'q>>,
        v: &'q EscalationValues<'q>,
    ) -> QueryScalar<'q, DB, O, DB::Arguments<'q>> {
        query
            .bind(v.package_id)
            .bind(v.level)
            .bind(v.clock.as_str())
            .bind(v.occurrence)
            .bind(v.clock_due_at)
            .bind(v.due_at)
            .bind(v.relation.as_str())
            .bind(v.status)
            .bind(v.recorded_at)
    }

    /// The due packages read one at a time, after the read of them all
    /// failed on a value of the wrong type: each row that cannot be read is
    /// set aside (logged once, with its reference) and the rest returned.
    /// Only SQLite stores such values (PostgreSQL's column types refuse
    /// them), and its write transaction already holds the database, so
    /// the plain read here takes what the claim would.
    async fn claim_due_one_by_one(
        connection: &mut DB::Connection,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PackageRow>, StoreError> {
        let failed = StoreError::db("claiming the due packages");
        let due: Vec<(i64, String)> = sqlx::query_as(SELECT_DUE_IDS)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *connection)
            .await
            .map_err(failed)?;
        let mut rows = Vec::with_capacity(due.len());
        for (id, reference) in due {
            let row: Result<PackageRow, sqlx::Error> = sqlx::query_as(SELECT_PACKAGE_BY_ID)
                .bind(id)
                .fetch_one(&mut *connection)
                .await;
            match row {
                Ok(row) => rows.push(row),
                Err(sqlx::Error::ColumnDecode { index, source }) => {
                    let column = index.trim_matches('"');
                    let why = format!("package {reference}, column {column}: {source}");
                    set_package_aside::<DB>(connection, id, &reference, &why, now).await?;
                }
                Err(e) => return Err(StoreError::db("claiming a due package")(e)),
            }
        }
        Ok(rows)
    }

    /// [`super::Store::escalation_pass`].
    pub(super) async fn run_escalation_pass(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        decide: &DecideFn,
        compose: &ComposeFn,
    ) -> Result<PassSummary, StoreError> {
        let now = stored_instant(now);
        // Every early return drops `tx`, which rolls the whole pass back:
        // escalations, next due instants, messages and the heartbeat go in
        // together or not at all.
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting a scheduler pass"))?;
        let claimed: Result<Vec<PackageRow>, sqlx::Error> = sqlx::query_as(DB::CLAIM_DUE_PACKAGES)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await;
        let due = match claimed {
            Ok(rows) => rows,
            // A stored value of the wrong type (SQLite keeps any text in a
            // time column) fails the whole read: read the due rows one by
            // one instead, and set aside those that cannot be read.
            Err(sqlx::Error::ColumnDecode { .. }) => {
                Self::claim_due_one_by_one(&mut tx, now, limit).await?
            }
            Err(e) => return Err(StoreError::db("claiming the due packages")(e)),
        };
        let mut report = PassSummary::default();
        let mut recorded = Vec::new();
        for row in due {
            let package_id = row.id;
            let reference = row.reference.clone();
            let package = match Package::try_from(row) {
                Ok(package) => package,
                // A row the code cannot read stalls nothing else: it is set
                // aside, in this pass's transaction, and logged once.
                Err(StoreError::Corrupt(why)) => {
                    set_package_aside::<DB>(&mut tx, package_id, &reference, &why, now).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let decision = decide(&package);
            report.packages += 1;
            for draft in decision.escalations {
                let values = EscalationValues::new(package_id, &draft, now);
                let status = values.status;
                let inserted: Option<i64> =
                    Self::bind_escalation_values(sqlx::query_scalar(INSERT_ESCALATION), &values)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::db("recording an escalation"))?;
                // No row: recorded before, so already dealt with.
                let Some(id) = inserted else { continue };
                report.recorded += 1;
                match status {
                    ESCALATION_NOTIFIED => recorded.push(RecordedEscalation {
                        id,
                        destinations: draft.destinations,
                        item: draft.item,
                    }),
                    ESCALATION_SUPERSEDED => report.superseded += 1,
                    _ => {}
                }
            }
            sqlx::query(SET_NEXT_DUE_AT)
                .bind(package_id)
                .bind(decision.next_due_at.map(stored_instant))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("setting a package's next due instant"))?;
        }
        let messages = compose(recorded);
        if !messages.is_empty() {
            Self::serialise_outbox_appends(&mut tx).await?;
        }
        for message in messages {
            if Self::queue_notice(&mut tx, message, now).await? {
                report.merged += 1;
            } else {
                report.messages += 1;
            }
        }
        sqlx::query(RECORD_PASS)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("recording the scheduler's pass"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a scheduler pass"))?;
        Ok(report)
    }

    /// [`super::Store::scheduler_status`].
    pub(super) async fn last_pass_and_lag(
        &self,
        now: DateTime<Utc>,
    ) -> Result<SchedulerStatus, StoreError> {
        let (last_pass_at, oldest_due_at) = sqlx::query_as(SCHEDULER_STATUS)
            .bind(stored_instant(now))
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("reading the scheduler's status"))?;
        Ok(SchedulerStatus {
            last_pass_at,
            oldest_due_at,
        })
    }

    /// [`super::Store::escalations`].
    pub(super) async fn package_escalations(
        &self,
        reference: &Reference,
    ) -> Result<Vec<EscalationRecord>, StoreError> {
        // Two reads, each its own snapshot: a pass may commit between them.
        // A delivery whose escalation the first read missed is then left
        // out, never shown under another escalation.
        let escalations: Vec<EscalationRow> = sqlx::query_as(SELECT_ESCALATIONS)
            .bind(reference.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading a package's escalations"))?;
        let deliveries: Vec<DeliveryRow> = sqlx::query_as(SELECT_ESCALATION_DELIVERIES)
            .bind(reference.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading a package's deliveries"))?;
        let mut by_escalation: HashMap<i64, Vec<DeliveryRecord>> = HashMap::new();
        for row in deliveries {
            let escalation_id = row.escalation_id;
            by_escalation
                .entry(escalation_id)
                .or_default()
                .push(DeliveryRecord::try_from(row)?);
        }
        escalations
            .into_iter()
            .map(|row| {
                let deliveries = by_escalation.remove(&row.id).unwrap_or_default();
                row.into_record(deliveries)
            })
            .collect()
    }
}
