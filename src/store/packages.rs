//! Packages: inserting a batch, reading one, changing one under its lock,
//! and counting them. Each write appends its ledger event (`events.rs`) and
//! its audit line (`audit.rs`) in the same transaction.

use super::audit::insert_audit;
use super::dialect::Dialect;
use super::events::insert_events;
use super::rows::{stored_instant, AuditValues, EventValues, PackageRow, PackageValues};
use super::snapshots::earliest_event_at;
use super::sql::{as_str, join, joined_len, values_groups, LOOKUP_CHUNK, PACKAGE_ROW_COLUMNS};
use super::{Actor, LedgerEntry, PackageChange, PackageCounts, SqlStore, StoreError};
use crate::domain::{MoveRefused, Package, Reference};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::query::QueryAs;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use std::collections::{HashMap, HashSet};

/// `SELECT` of one package by reference (`$1`, in any case: `lower()` is
/// what the unique index of migration 0003 holds), without locking; a backend's
/// [`Dialect::LOCK_PACKAGE`] adds its own locking clause to it for
/// read-then-write transactions.
pub(crate) const SELECT_PACKAGE: &str = {
    const PARTS: &[&str] = &[
        "SELECT ",
        PACKAGE_ROW_COLUMNS,
        " FROM packages WHERE lower(reference) = lower($1)",
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// The columns a write sets from a [`PackageValues`], in the order
/// [`SqlStore::bind_package_values`] binds them (`$1` to `$22`).
pub(super) const PACKAGE_WRITE_COLUMNS: &str = "reference, risk_grade, stage, lpa, \
    assigned_officer, received_at, deadline_at, clock_started_at, policy_version, stage_since, \
    clock_stopped_at, outcome, child_access_identified_at, safeguarding_referral_at, \
    next_due_at, due_soon_at, acknowledged_at, acknowledged_by, acknowledgement_note, \
    acknowledged_deadline_at, acknowledgement_reason, review_clock_started_at";

/// How many values [`SqlStore::bind_package_values`] binds.
pub(super) const PACKAGE_WRITE_VALUES: usize = 22;

/// Rewrites a package's state, keyed by its reference as stored (`$1`; the row is
/// already held by the transaction). `$23` is `updated_at`. Returns the row
/// as stored, so the caller hands back exactly what a later read will see.
pub(crate) const UPDATE_PACKAGE: &str = {
    const PARTS: &[&str] = &[
        "UPDATE packages SET risk_grade = $2, stage = $3, lpa = $4, assigned_officer = $5, \
         received_at = $6, deadline_at = $7, clock_started_at = $8, policy_version = $9, \
         stage_since = $10, clock_stopped_at = $11, outcome = $12, \
         child_access_identified_at = $13, safeguarding_referral_at = $14, next_due_at = $15, \
         due_soon_at = $16, acknowledged_at = $17, acknowledged_by = $18, \
         acknowledgement_note = $19, acknowledged_deadline_at = $20, \
         acknowledgement_reason = $21, review_clock_started_at = $22, updated_at = $23 \
         WHERE reference = $1 RETURNING ",
        PACKAGE_ROW_COLUMNS,
    ];
    as_str(&join::<{ joined_len(PARTS) }>(PARTS))
};

/// Inserts `rows` packages. `$1` is the time recorded (`created_at` and
/// `updated_at` of every row); then each row's values in the order of
/// [`SqlStore::bind_package_values`]. A reference already stored is skipped,
/// not an error, and the `RETURNING` list shows which rows went in: that
/// names the duplicate even when another writer stored it a moment ago. No
/// conflict target: a reference stored in another case conflicts on the
/// `lower(reference)` index, not on the column's own.
pub(crate) fn insert_packages(rows: usize) -> String {
    format!(
        "INSERT INTO packages ({PACKAGE_WRITE_COLUMNS}, created_at, updated_at) VALUES {} \
         ON CONFLICT DO NOTHING RETURNING id, reference",
        values_groups(rows, PACKAGE_WRITE_VALUES, &[1, 1])
    )
}

/// Which of `count` references (`$1` ...) are stored, in any case.
pub(crate) fn existing_references(count: usize) -> String {
    let placeholders: Vec<String> = (1..=count).map(|n| format!("lower(${n})")).collect();
    format!(
        "SELECT reference FROM packages WHERE lower(reference) IN ({})",
        placeholders.join(", ")
    )
}

/// All packages (from the counters of migration 0006), and those whose
/// reference starts with the demo prefix: from `$1` (the prefix) up to `$2`
/// (the prefix with its last character's successor), a range of the unique
/// reference index in byte order on both backends (SQLite's BINARY,
/// PostgreSQL's `COLLATE "C"`), so case counts as `substr` would.
pub(crate) const COUNT_PACKAGES: &str = "SELECT \
     (SELECT CAST(COALESCE(SUM(packages), 0) AS BIGINT) FROM position_counts), \
     (SELECT COUNT(*) FROM packages WHERE reference >= $1 AND reference < $2)";

/// The first text after every text that starts with `prefix` (ASCII).
fn after_prefix(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
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
    /// Binds a [`PackageValues`] in the order of [`PACKAGE_WRITE_COLUMNS`].
    pub(super) fn bind_package_values<'q, O>(
        query: QueryAs<'q, DB, O, DB::Arguments<'q>>,
        v: &PackageValues<'q>,
    ) -> QueryAs<'q, DB, O, DB::Arguments<'q>> {
        query
            .bind(v.reference)
            .bind(v.risk_grade)
            .bind(v.stage)
            .bind(v.lpa)
            .bind(v.assigned_officer)
            .bind(v.received_at)
            .bind(v.deadline_at)
            .bind(v.clock_started_at)
            .bind(v.policy_version)
            .bind(v.stage_since)
            .bind(v.clock_stopped_at)
            .bind(v.outcome)
            .bind(v.child_access_identified_at)
            .bind(v.safeguarding_referral_at)
            .bind(v.next_due_at)
            .bind(v.due_soon_at)
            .bind(v.acknowledged_at)
            .bind(v.acknowledged_by)
            .bind(v.acknowledgement_note)
            .bind(v.acknowledged_deadline_at)
            .bind(v.acknowledgement_reason)
            .bind(v.review_clock_started_at)
    }

    /// [`super::Store::insert_packages`].
    pub(super) async fn insert_new_packages(
        &self,
        entries: &[LedgerEntry],
        actor: &Actor,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // A reference twice in one batch (in any case) is refused before
        // touching the database; ON CONFLICT would quietly keep the first.
        let mut seen = HashSet::with_capacity(entries.len());
        if let Some(repeated) = entries
            .iter()
            .map(|e| e.package.reference())
            .find(|r| !seen.insert(r.folded()))
        {
            return Err(StoreError::Duplicate(repeated.clone()));
        }
        if entries.is_empty() {
            return Ok(());
        }
        let recorded_at = stored_instant(recorded_at);
        let audit = AuditValues::new(actor, "package.created", None, recorded_at);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting to insert packages"))?;
        for chunk in entries.chunks(DB::INSERT_CHUNK_ROWS) {
            let packages: Vec<PackageValues<'_>> = chunk.iter().map(PackageValues::new).collect();
            let statement = insert_packages(chunk.len());
            let mut query = sqlx::query_as::<_, (i64, String)>(&statement).bind(recorded_at);
            for values in &packages {
                query = Self::bind_package_values(query, values);
            }
            let inserted: HashMap<String, i64> = query
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::db("inserting packages"))?
                .into_iter()
                .map(|(id, reference)| (reference, id))
                .collect();
            let mut events = Vec::with_capacity(chunk.len());
            for entry in chunk {
                let Some(&id) = inserted.get(entry.package.reference().as_str()) else {
                    // Skipped by ON CONFLICT: already stored, perhaps by
                    // another writer a moment ago. Rolling back undoes the
                    // whole batch, earlier chunks too.
                    tx.rollback()
                        .await
                        .map_err(StoreError::db("undoing a batch with a duplicate"))?;
                    return Err(StoreError::Duplicate(entry.package.reference().clone()));
                };
                events.push(EventValues::new(id, entry, &actor.name, recorded_at));
            }
            let statement = insert_events(events.len());
            let mut query = sqlx::query(&statement);
            for values in &events {
                query = Self::bind_event_values(query, values);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("appending created events"))?;
            let statement = insert_audit(chunk.len());
            let mut query = Self::bind_audit_values(sqlx::query(&statement), &audit);
            for entry in chunk {
                query = query.bind(entry.package.reference().as_str());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("auditing inserted packages"))?;
        }
        // Last, so the snapshots stay locked for the least time.
        if let Some(earliest) = entries.iter().map(earliest_event_at).min() {
            Self::invalidate_report_snapshots(&mut *tx, earliest).await?;
        }
        // Last, so the audit chain's head is held for the least time.
        Self::seal_audit(&mut tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing inserted packages"))
    }

    /// [`super::Store::existing_references`].
    pub(super) async fn stored_references(
        &self,
        references: &[Reference],
    ) -> Result<Vec<Reference>, StoreError> {
        let mut found = HashSet::new();
        for chunk in references.chunks(LOOKUP_CHUNK) {
            let statement = existing_references(chunk.len());
            let mut query = sqlx::query_scalar::<_, String>(&statement);
            for reference in chunk {
                query = query.bind(reference.as_str());
            }
            found.extend(
                query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("looking up existing references"))?
                    .iter()
                    .map(|stored| stored.to_ascii_lowercase()),
            );
        }
        // In the order asked, each once.
        Ok(references
            .iter()
            .filter(|r| found.remove(&r.folded()))
            .cloned()
            .collect())
    }

    /// [`super::Store::package`].
    pub(super) async fn read_package(
        &self,
        reference: &Reference,
    ) -> Result<Option<Package>, StoreError> {
        sqlx::query_as::<_, PackageRow>(SELECT_PACKAGE)
            .bind(reference.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("reading a package"))?
            .map(Package::try_from)
            .transpose()
    }

    /// [`super::Store::update_package`].
    pub(super) async fn change_package(
        &self,
        reference: &Reference,
        actor: &Actor,
        recorded_at: DateTime<Utc>,
        change: PackageChange,
    ) -> Result<Package, StoreError> {
        // Every early return below drops `tx`, which rolls it back.
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting to change a package"))?;
        let row: PackageRow = sqlx::query_as(DB::LOCK_PACKAGE)
            .bind(reference.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("reading the package to change"))?
            .ok_or_else(|| StoreError::NotFound(reference.clone()))?;
        let package_id = row.id;
        let stored = Package::try_from(row)?;
        // Asked for in any case; from here on the reference is as stored.
        let reference = stored.reference().clone();
        let entry = change(&stored)?;
        if entry.package.reference() != &reference {
            // The row is keyed by reference; writing another one's state
            // over it would merge two packages.
            return Err(StoreError::Refused(MoveRefused::conflict(
                "reference",
                format!("a change to {reference} cannot change the reference"),
            )));
        }
        let recorded_at = stored_instant(recorded_at);
        let row: PackageRow =
            Self::bind_package_values(sqlx::query_as(UPDATE_PACKAGE), &PackageValues::new(&entry))
                .bind(recorded_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("writing the changed package"))?;
        let updated = Package::try_from(row)?;
        // Each event with its audit line, the preceding ones (a review's
        // regrade) first.
        let events = entry
            .preceded_by
            .iter()
            .map(|(event, at)| (event, *at))
            .chain([(&entry.event, entry.occurred_at)]);
        for event in events {
            let values =
                EventValues::of(package_id, &entry.package, event, &actor.name, recorded_at);
            Self::bind_event_values(sqlx::query(&insert_events(1)), &values)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("appending the change's event"))?;
            let action = format!("package.{}", event.0.name());
            let audit = AuditValues::new(actor, &action, None, recorded_at);
            Self::bind_audit_values(sqlx::query(&insert_audit(1)), &audit)
                .bind(reference.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("auditing the change"))?;
        }
        Self::invalidate_report_snapshots(&mut *tx, earliest_event_at(&entry)).await?;
        // Last, so the audit chain's head is held for the least time.
        Self::seal_audit(&mut tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing the change"))?;
        Ok(updated)
    }

    /// [`super::Store::count_packages`].
    pub(super) async fn package_counts(&self) -> Result<PackageCounts, StoreError> {
        let (total, demo): (i64, i64) = sqlx::query_as(COUNT_PACKAGES)
            .bind(crate::domain::DEMO_PREFIX)
            .bind(after_prefix(crate::domain::DEMO_PREFIX))
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("counting packages"))?;
        // COUNT is never negative.
        Ok(PackageCounts {
            total: total.unsigned_abs(),
            demo: demo.unsigned_abs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_range_ends_after_every_reference_with_the_prefix() {
        assert_eq!(after_prefix("DEMO-"), "DEMO.");
        assert!("DEMO-zzz" < "DEMO." && "DEMO." <= "DEMO.1" && "DEMOA" > "DEMO.");
    }
    use crate::store::events::{EVENT_COLUMNS, EVENT_VALUES};

    #[test]
    fn column_lists_match_the_number_of_bound_values() {
        assert_eq!(
            PACKAGE_WRITE_COLUMNS.split(',').count(),
            PACKAGE_WRITE_VALUES
        );
        assert_eq!(EVENT_COLUMNS.split(',').count(), EVENT_VALUES);
        // The UPDATE sets every written column but the reference, which keys it.
        for column in PACKAGE_WRITE_COLUMNS.split(',').map(str::trim).skip(1) {
            assert!(
                UPDATE_PACKAGE.contains(&format!(" {column} = $")),
                "{column}"
            );
        }
    }

    #[test]
    fn insert_places_the_shared_time_after_each_rows_values() {
        let sql = insert_packages(2);
        assert!(sql.contains("($2, $3,"), "{sql}");
        assert!(sql.contains("$23, $1, $1), ($24,"), "{sql}");
        assert!(
            sql.ends_with("$45, $1, $1) ON CONFLICT DO NOTHING RETURNING id, reference"),
            "{sql}"
        );
    }
}
