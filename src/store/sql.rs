//! Every SQL statement both backends run word for word, in one place.
//!
//! sqlx reads `$1`-style placeholders on SQLite as well as on PostgreSQL, and
//! the statements keep to SQL both dialects accept (`ON CONFLICT`,
//! `RETURNING`, `substr`, `length`), so only the few statements that really
//! differ live in `sqlite.rs` and `postgres.rs`.

use super::PackageFilter;
use crate::domain::{RiskGrade, Stage};

/// The columns of `packages` that [`super::rows::PackageRow`] reads, in its
/// field order. A macro rather than a `const` so that `concat!` can build
/// whole statements from it at compile time (the backends add their locking
/// clause that way).
macro_rules! package_row_columns {
    () => {
        "id, reference, risk_grade, stage, lpa, assigned_officer, received_at, \
         deadline_at, clock_started_at, policy_version, stage_since, clock_stopped_at, \
         outcome, child_access_identified_at, safeguarding_referral_at"
    };
}

/// `SELECT` of one package by reference (`$1`), without locking; a backend
/// appends its own locking clause for read-then-write transactions.
macro_rules! select_package_by_reference {
    () => {
        concat!(
            "SELECT ",
            $crate::store::sql::package_row_columns!(),
            " FROM packages WHERE reference = $1"
        )
    };
}
pub(super) use {package_row_columns, select_package_by_reference};

/// One package by reference (`$1`).
pub const SELECT_PACKAGE: &str = select_package_by_reference!();

/// The columns a write sets from a [`super::rows::PackageValues`], in the
/// order [`bind_package_values!`] binds them (`$1` to `$15`).
const PACKAGE_WRITE_COLUMNS: &str = "reference, risk_grade, stage, lpa, assigned_officer, \
    received_at, deadline_at, clock_started_at, policy_version, stage_since, clock_stopped_at, \
    outcome, child_access_identified_at, safeguarding_referral_at, next_due_at";

/// How many values [`bind_package_values!`] binds.
const PACKAGE_WRITE_VALUES: usize = 15;

/// Binds a [`super::rows::PackageValues`] in the order of
/// `PACKAGE_WRITE_COLUMNS`. Works on `Query` and `QueryAs` of either backend.
macro_rules! bind_package_values {
    ($query:expr, $values:expr) => {{
        let v: &$crate::store::rows::PackageValues<'_> = $values;
        $query
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
    }};
}
pub(super) use bind_package_values;

/// Rewrites a package's state, keyed by its reference (`$1`; the row is
/// already held by the transaction). `$16` is `updated_at`. Returns the row
/// as stored, so the caller hands back exactly what a later read will see.
pub const UPDATE_PACKAGE: &str = concat!(
    "UPDATE packages SET risk_grade = $2, stage = $3, lpa = $4, assigned_officer = $5, \
     received_at = $6, deadline_at = $7, clock_started_at = $8, policy_version = $9, \
     stage_since = $10, clock_stopped_at = $11, outcome = $12, \
     child_access_identified_at = $13, safeguarding_referral_at = $14, next_due_at = $15, \
     updated_at = $16 WHERE reference = $1 RETURNING ",
    package_row_columns!()
);

/// Binds a [`super::rows::EventValues`] in the order of `EVENT_COLUMNS`.
macro_rules! bind_event_values {
    ($query:expr, $values:expr) => {{
        let v: &$crate::store::rows::EventValues<'_> = $values;
        $query
            .bind(v.package_id)
            .bind(v.kind)
            .bind(v.occurred_at)
            .bind(v.recorded_at)
            .bind(v.actor)
            .bind(v.risk_grade)
            .bind(v.stage)
            .bind(v.deadline_at)
            .bind(v.details.as_str())
    }};
}
pub(super) use bind_event_values;

/// The columns [`bind_event_values!`] binds, in its order.
const EVENT_COLUMNS: &str =
    "package_id, kind, occurred_at, recorded_at, actor, risk_grade, stage, deadline_at, details";

/// How many values [`bind_event_values!`] binds.
const EVENT_VALUES: usize = 9;

/// References per `IN (...)` look-up: a few hundred round trips for a large
/// import's check, far below either backend's limit on parameters.
pub const LOOKUP_CHUNK: usize = 500;

/// `($1, $2, ...), (...)`: `rows` groups of `per_row` numbered placeholders,
/// each group ending with the placeholders in `shared`, which number values
/// bound once, before all the rows' values.
fn values_groups(rows: usize, per_row: usize, shared: &[usize]) -> String {
    let leading = shared.iter().copied().max().unwrap_or(0);
    let mut text = String::with_capacity(rows * (per_row * 6 + shared.len() * 6 + 4));
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        let first = leading + row * per_row + 1;
        for n in first..first + per_row {
            if n > first {
                text.push_str(", ");
            }
            text.push('$');
            text.push_str(&n.to_string());
        }
        for n in shared {
            text.push_str(", $");
            text.push_str(&n.to_string());
        }
        text.push(')');
    }
    text
}

/// Inserts `rows` packages. `$1` is the time recorded (`created_at` and
/// `updated_at` of every row); then each row's values in the order of
/// [`bind_package_values!`]. A reference already stored is skipped, not an
/// error, and the `RETURNING` list shows which rows went in: that names the
/// duplicate even when another writer stored it a moment ago.
pub fn insert_packages(rows: usize) -> String {
    format!(
        "INSERT INTO packages ({PACKAGE_WRITE_COLUMNS}, created_at, updated_at) VALUES {} \
         ON CONFLICT (reference) DO NOTHING RETURNING id, reference",
        values_groups(rows, PACKAGE_WRITE_VALUES, &[1, 1])
    )
}

/// Appends `rows` events, each bound with [`bind_event_values!`].
pub fn insert_events(rows: usize) -> String {
    format!(
        "INSERT INTO package_events ({EVENT_COLUMNS}) VALUES {}",
        values_groups(rows, EVENT_VALUES, &[])
    )
}

/// Which of `count` references (`$1` ...) are stored.
pub fn existing_references(count: usize) -> String {
    let placeholders: Vec<String> = (1..=count).map(|n| format!("${n}")).collect();
    format!(
        "SELECT reference FROM packages WHERE reference IN ({})",
        placeholders.join(", ")
    )
}

/// The ledger of one package (`$1` is its reference), oldest first.
pub const SELECT_EVENTS: &str = "SELECT e.id, p.reference, e.kind, e.occurred_at, e.recorded_at, \
     e.actor, e.risk_grade, e.stage, e.deadline_at, e.details \
     FROM package_events e JOIN packages p ON p.id = e.package_id \
     WHERE p.reference = $1 ORDER BY e.id";

/// All packages, and those whose reference starts with `$1`. `substr`, not
/// `LIKE`: SQLite's `LIKE` ignores case, PostgreSQL's does not, and a demo
/// count must not depend on the backend.
pub const COUNT_PACKAGES: &str = "SELECT COUNT(*), \
     COUNT(CASE WHEN substr(reference, 1, length($1)) = $1 THEN 1 END) FROM packages";

/// Every migration sqlx recorded as applied.
pub const APPLIED_MIGRATIONS: &str = "SELECT version, success, checksum FROM _sqlx_migrations";

/// The packages `filter` selects, by deadline then reference, with the
/// values to bind in order. Only the filter's values are bound; the open
/// stages are written in from [`Stage::OPEN`].
pub fn list_packages(filter: &PackageFilter) -> (String, Vec<&str>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<&str> = Vec::new();
    if filter.open_only {
        let open: Vec<String> = Stage::OPEN
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        conditions.push(format!("stage IN ({})", open.join(", ")));
    }
    let equal = [
        ("risk_grade", filter.grade.map(RiskGrade::as_str)),
        ("lpa", filter.lpa.as_deref()),
        ("stage", filter.stage.map(Stage::as_str)),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            values.push(value);
            conditions.push(format!("{column} = ${}", values.len()));
        }
    }
    let mut sql = concat!("SELECT ", package_row_columns!(), " FROM packages").to_string();
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY deadline_at, reference");
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_groups_number_every_placeholder_once_and_repeat_shared_ones() {
        assert_eq!(values_groups(2, 3, &[]), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(
            values_groups(2, 2, &[1, 1]),
            "($2, $3, $1, $1), ($4, $5, $1, $1)"
        );
    }

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
        assert!(sql.contains("$16, $1, $1), ($17,"), "{sql}");
        assert!(
            sql.ends_with(
                "$31, $1, $1) ON CONFLICT (reference) DO NOTHING RETURNING id, reference"
            ),
            "{sql}"
        );
    }

    #[test]
    fn list_binds_only_the_filter_values_in_order() {
        let everything = PackageFilter::default();
        let (sql, values) = list_packages(&everything);
        assert!(!sql.contains("WHERE"), "{sql}");
        assert!(values.is_empty());
        let filter = PackageFilter {
            open_only: true,
            grade: Some(RiskGrade::High),
            lpa: Some("Coventry".into()),
            stage: Some(Stage::AwaitingEnforcement),
        };
        let (sql, values) = list_packages(&filter);
        assert!(
            sql.ends_with(
                " WHERE stage IN ('intelligence_development', 'awaiting_enforcement') \
                 AND risk_grade = $1 AND lpa = $2 AND stage = $3 ORDER BY deadline_at, reference"
            ),
            "{sql}"
        );
        assert_eq!(values, ["high", "Coventry", "awaiting_enforcement"]);
    }
}
