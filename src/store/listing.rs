//! The status endpoints' reads: packages listed by filter (a keyset page
//! in deadline order) and the open position per stage and grade. Their
//! statements are built at run time from the filter, with only the
//! filter's values bound.

use super::dialect::Dialect;
use super::rows::{stored_instant, PackageRow, StageGradeFiguresRow};
use super::sql::{BindValue, PACKAGE_ROW_COLUMNS};
use super::{PackageFilter, PageKey, SqlStore, StageGradeFigures, StoreError};
use crate::domain::{Package, PackageStatus, RiskGrade, Stage};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, IntoArguments, Type};

/// `stage IN ('intelligence_development', 'awaiting_enforcement')`, from
/// [`Stage::OPEN`]: constants of the code, so written in, not bound.
fn open_stages_condition() -> String {
    let open: Vec<String> = Stage::OPEN
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("stage IN ({})", open.join(", "))
}

/// A statement under construction: its conditions and the values they bind.
#[derive(Default)]
struct Conditions<'a> {
    conditions: Vec<String>,
    values: Vec<BindValue<'a>>,
}

impl<'a> Conditions<'a> {
    /// Binds `value` and returns its placeholder (`$n`).
    fn bind(&mut self, value: BindValue<'a>) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    fn push(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// The condition that selects packages with `status` at `now`, the way
/// [`crate::domain::Package::status`] decides it: an open package at its
/// deadline is breached, one enforced exactly at its deadline has met it.
fn status_condition<'a>(
    conditions: &mut Conditions<'a>,
    status: PackageStatus,
    now: DateTime<Utc>,
) -> String {
    let open = open_stages_condition();
    let enforced = Stage::Enforced.as_str();
    // Bound only by the statuses that use it, so no statement carries a
    // parameter it never reads.
    let mut bind_now = || conditions.bind(BindValue::Instant(stored_instant(now)));
    match status {
        PackageStatus::Breached => format!("{open} AND deadline_at <= {}", bind_now()),
        PackageStatus::DueSoon => {
            let now = bind_now();
            format!("{open} AND deadline_at > {now} AND due_soon_at <= {now}")
        }
        PackageStatus::OnTrack => {
            let now = bind_now();
            format!(
                "{open} AND deadline_at > {now} AND (due_soon_at IS NULL OR due_soon_at > {now})"
            )
        }
        PackageStatus::Met => format!("stage = '{enforced}' AND clock_stopped_at <= deadline_at"),
        PackageStatus::Missed => format!("stage = '{enforced}' AND clock_stopped_at > deadline_at"),
        PackageStatus::Closed => format!("stage = '{}'", Stage::Closed.as_str()),
    }
}

/// The packages `filter` selects from `source` (the dialect's
/// [`Dialect::PACKAGE_LIST_SOURCE`]), by deadline then reference, with the
/// values to bind in order. Only the filter's values are bound; the open
/// stages are written in from [`Stage::OPEN`].
pub(crate) fn list_packages<'f>(
    filter: &'f PackageFilter,
    source: &str,
) -> (String, Vec<BindValue<'f>>) {
    let mut conditions = Conditions::default();
    // Rows set aside (migration 0012) cannot be read back: never listed.
    conditions.push("quarantined_at IS NULL".to_string());
    if filter.open_only {
        conditions.push(open_stages_condition());
    }
    let equal = [
        ("risk_grade", filter.grade.map(RiskGrade::as_str)),
        ("lpa", filter.lpa.as_deref()),
        ("stage", filter.stage.map(Stage::as_str)),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            let placeholder = conditions.bind(BindValue::Text(value));
            conditions.push(format!("{column} = {placeholder}"));
        }
    }
    if let Some((status, now)) = filter.status {
        let condition = status_condition(&mut conditions, status, now);
        conditions.push(format!("({condition})"));
    }
    if let Some((after, by)) = filter.deadline_within {
        let after = conditions.bind(BindValue::Instant(stored_instant(after)));
        let by = conditions.bind(BindValue::Instant(stored_instant(by)));
        conditions.push(format!("deadline_at > {after} AND deadline_at <= {by}"));
    }
    if let Some(PageKey {
        deadline_at,
        reference,
    }) = &filter.after
    {
        // A row value, so both backends can start the walk of the
        // (deadline_at, reference) index at the cursor.
        let deadline = conditions.bind(BindValue::Instant(stored_instant(*deadline_at)));
        let reference = conditions.bind(BindValue::Text(reference));
        conditions.push(format!(
            "(deadline_at, reference) > ({deadline}, {reference})"
        ));
    }
    let mut sql = format!("SELECT {PACKAGE_ROW_COLUMNS} FROM {source}");
    sql.push_str(&conditions.where_clause());
    sql.push_str(" ORDER BY deadline_at, reference");
    if let Some(limit) = filter.limit {
        let placeholder = conditions.bind(BindValue::Integer(i64::from(limit)));
        sql.push_str(&format!(" LIMIT {placeholder}"));
    }
    (sql, conditions.values)
}

/// The open packages per stage and grade: `$1` is now, `$2` the due-by
/// horizon, and, when `for_one_lpa`, `$3` the LPA. Every column it reads is
/// in `packages_position` (stage, risk_grade, lpa, deadline_at,
/// received_at), so both backends answer it from that index alone, reading
/// only the open stages' part of it.
pub(crate) fn recount_position(for_one_lpa: bool) -> String {
    let lpa = if for_one_lpa {
        // Naming every grade (the column's CHECK allows no other) lets the
        // index be searched on stage, grade and LPA together, rather than
        // read through every LPA of the open stages.
        let grades: Vec<String> = RiskGrade::ALL
            .iter()
            .map(|g| format!("'{}'", g.as_str()))
            .collect();
        format!(" AND risk_grade IN ({}) AND lpa = $3", grades.join(", "))
    } else {
        String::new()
    };
    format!(
        "SELECT stage, risk_grade, COUNT(*) AS open_count, \
         COUNT(CASE WHEN deadline_at <= $1 THEN 1 END) AS breached_count, \
         COUNT(CASE WHEN deadline_at > $1 AND deadline_at <= $2 THEN 1 END) AS due_soon_count, \
         MIN(received_at) AS oldest_received_at \
         FROM packages WHERE {}{lpa} GROUP BY stage, risk_grade",
        open_stages_condition(),
    )
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
    /// Binds a list of [`BindValue`]s in order.
    pub(super) fn bind_values<'q>(
        mut query: Query<'q, DB, DB::Arguments<'q>>,
        values: impl IntoIterator<Item = BindValue<'q>>,
    ) -> Query<'q, DB, DB::Arguments<'q>> {
        for value in values {
            query = match value {
                BindValue::Text(text) => query.bind(text),
                BindValue::Instant(at) => query.bind(at),
                BindValue::Integer(n) => query.bind(n),
            };
        }
        query
    }

    /// [`super::Store::list_packages`].
    pub(super) async fn filtered_packages(
        &self,
        filter: &PackageFilter,
    ) -> Result<Vec<Package>, StoreError> {
        let (statement, values) = list_packages(filter, DB::PACKAGE_LIST_SOURCE);
        Self::bind_values(sqlx::query(&statement), values)
            .try_map(|row| PackageRow::from_row(&row))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("listing packages"))?
            .into_iter()
            .map(Package::try_from)
            .collect()
    }

    /// [`super::Store::recounted_position`]: every open package read.
    pub(super) async fn recounted_position(
        &self,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lpa: Option<&str>,
    ) -> Result<Vec<StageGradeFigures>, StoreError> {
        let statement = recount_position(lpa.is_some());
        let mut query = sqlx::query_as::<_, StageGradeFiguresRow>(&statement)
            .bind(stored_instant(now))
            .bind(stored_instant(due_by));
        if let Some(lpa) = lpa {
            query = query.bind(lpa);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("recounting the position"))?;
        Self::position_rows(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_binds_only_the_filter_values_in_order() {
        let everything = PackageFilter::default();
        let (sql, values) = list_packages(&everything, "packages");
        // Only the rows not set aside (migration 0012).
        assert!(
            sql.ends_with(" WHERE quarantined_at IS NULL ORDER BY deadline_at, reference"),
            "{sql}"
        );
        assert!(values.is_empty());
        let filter = PackageFilter {
            open_only: true,
            grade: Some(RiskGrade::High),
            lpa: Some("Coventry".into()),
            stage: Some(Stage::AwaitingEnforcement),
            ..PackageFilter::default()
        };
        let (sql, values) = list_packages(&filter, "packages");
        assert!(
            sql.ends_with(
                " WHERE quarantined_at IS NULL \
                 AND stage IN ('intelligence_development', 'awaiting_enforcement') \
                 AND risk_grade = $1 AND lpa = $2 AND stage = $3 ORDER BY deadline_at, reference"
            ),
            "{sql}"
        );
        assert_eq!(
            values,
            [
                BindValue::Text("high"),
                BindValue::Text("Coventry"),
                BindValue::Text("awaiting_enforcement")
            ]
        );
    }

    #[test]
    fn status_cursor_and_limit_bind_times_as_instants_after_the_other_values() {
        let now: DateTime<Utc> = "2024-06-01T12:00:00.123456789Z".parse().unwrap();
        let deadline: DateTime<Utc> = "2024-06-02T09:00:00Z".parse().unwrap();
        let filter = PackageFilter {
            lpa: Some("Coventry".into()),
            status: Some((PackageStatus::DueSoon, now)),
            after: Some(PageKey {
                deadline_at: deadline,
                reference: "NCA-7".into(),
            }),
            limit: Some(2),
            ..PackageFilter::default()
        };
        let (sql, values) = list_packages(&filter, "packages");
        assert!(
            sql.ends_with(
                " WHERE quarantined_at IS NULL AND lpa = $1 AND (stage IN ('intelligence_development', \
                 'awaiting_enforcement') AND deadline_at > $2 AND due_soon_at <= $2) \
                 AND (deadline_at, reference) > ($3, $4) ORDER BY deadline_at, reference LIMIT $5"
            ),
            "{sql}"
        );
        assert_eq!(
            values,
            [
                BindValue::Text("Coventry"),
                // Cut to the microsecond, as every stored time is.
                BindValue::Instant("2024-06-01T12:00:00.123456Z".parse().unwrap()),
                BindValue::Instant(deadline),
                BindValue::Text("NCA-7"),
                BindValue::Integer(2),
            ]
        );
    }

    #[test]
    fn statuses_that_need_no_time_bind_none() {
        let now: DateTime<Utc> = "2024-06-01T12:00:00Z".parse().unwrap();
        for status in [
            PackageStatus::Met,
            PackageStatus::Missed,
            PackageStatus::Closed,
        ] {
            let filter = PackageFilter {
                status: Some((status, now)),
                ..PackageFilter::default()
            };
            let (sql, values) = list_packages(&filter, "packages");
            assert!(values.is_empty(), "{status}: {values:?}");
            assert!(!sql.contains('$'), "{status}: {sql}");
        }
    }

    #[test]
    fn position_filters_the_lpa_only_when_asked() {
        assert!(!recount_position(false).contains("$3"));
        // Every grade, quoted, most urgent first: `'very_high', 'high', ...`.
        let grades: Vec<String> = RiskGrade::ALL
            .iter()
            .map(|g| format!("'{}'", g.as_str()))
            .collect();
        assert!(recount_position(true).ends_with(&format!(
            " WHERE stage IN ('intelligence_development', 'awaiting_enforcement') \
             AND risk_grade IN ({}) \
             AND lpa = $3 GROUP BY stage, risk_grade",
            grades.join(", ")
        )));
    }
}
