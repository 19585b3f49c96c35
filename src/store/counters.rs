//! The counters behind the current position and the delivery figures
//! (migration 0006): database triggers keep them in the same transaction as
//! every package and outbox write, so a read of the position or of the
//! delivery figures costs a few rows whatever the ledger's length.
//!
//! The position's breached and due-soon figures also move with the clock.
//! Each is a count of open packages whose deadline is at or before an
//! instant; the counters hold those counts at a *mark* (and at the mark +
//! 48 hours, + 7 days), and a read adds the open packages whose deadline
//! lies between the mark and the instant asked for (or takes away those
//! between the instant and the mark, when the mark is later: another
//! replica's clock may be ahead). [`SqlStore::advance_mark`] moves the
//! mark to now, so what a read adds is bounded by the deadlines of the
//! minute or so since. The figures are exact at every instant: the mark
//! only decides how much of the sum is kept and how much counted.
//!
//! The counts as they were before (every open package aggregated per read)
//! are kept as [`SqlStore::recounted_position`] and
//! [`SqlStore::recounted_delivery_stats`]: the reference the conformance
//! tests compare the counters with.

use super::dialect::Dialect;
use super::outbox::{DeliveryCountRow, DELIVERY_COUNTS, OLDEST_UNDELIVERED};
use super::rows::{stored_instant, StageGradeFiguresRow};
use super::{SqlStore, StageGradeFigures, StoreError};
use crate::domain::Stage;
use crate::outbox::DeliveryStats;
use chrono::{DateTime, Duration, Utc};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

/// The horizons the counters are kept at, after the mark: the column of
/// `position_counts` and of `position_mark` for each. A read for another
/// horizon uses the nearest.
const MARKS: [(i64, &str, &str); 3] = [
    (0, "due_by_mark", "at"),
    (48, "due_by_mark_48h", "at_48h"),
    (7 * 24, "due_by_mark_7d", "at_7d"),
];

/// The marked horizon nearest `hours` after now: its counter and mark
/// columns.
fn nearest_mark(hours: i64) -> (&'static str, &'static str) {
    let (_, counter, mark) = MARKS
        .iter()
        .min_by_key(|(marked, _, _)| (marked - hours).abs())
        .copied()
        .unwrap_or(MARKS[0]);
    (counter, mark)
}

/// `source` (`packages`, maybe with `INDEXED BY ...`) as table `p`: the
/// alias goes between the table and the index clause.
fn as_p(source: &str) -> String {
    match source.strip_prefix("packages") {
        Some(rest) => format!("packages p{rest}"),
        None => format!("{source} p"),
    }
}

/// `stage IN ('intelligence_development', 'awaiting_enforcement')` for the
/// table alias `alias`.
fn open_stages(alias: &str) -> String {
    let open: Vec<String> = Stage::OPEN
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("{alias}.stage IN ({})", open.join(", "))
}

/// The open packages of one stage-and-grade whose deadline lies between the
/// mark column `mark` and the instant bound as `instant`: +1 each when the
/// mark is earlier, -1 when later. The range is one step of the deadline
/// index; `lpa` adds the LPA condition. The result's columns are those of
/// [`position`]'s union.
fn moved_since_mark(mark: &str, instant: &str, by_now: bool, lpa: &str, source: &str) -> String {
    let step = "CASE WHEN p.deadline_at > m.mark THEN 1 ELSE -1 END";
    let source = as_p(source);
    let (now_column, due_column) = if by_now { (step, "0") } else { ("0", step) };
    format!(
        "SELECT p.stage, p.risk_grade, 0 AS open_count, {now_column} AS by_now, \
         {due_column} AS by_due, p.received_at AS oldest \
         FROM (SELECT {mark} AS mark FROM position_mark WHERE id = 1) m \
         JOIN {source} \
         ON p.deadline_at > (CASE WHEN m.mark < {instant} THEN m.mark ELSE {instant} END) \
         AND p.deadline_at <= (CASE WHEN m.mark < {instant} THEN {instant} ELSE m.mark END) \
         WHERE {}{lpa}",
        open_stages("p"),
    )
}

/// The position at `$1` with "due soon" up to `$2` (`due_in_hours` after
/// `$1`), and, when `for_one_lpa`, only the LPA `$3`: one statement, so the
/// counters and the mark are read in one snapshot. Per stage and grade with
/// open packages: the open count, the breached count (the counters at the
/// mark, plus what moved since), the due-soon count (those due by `$2` less
/// the breached), and the oldest receipt (kept in the counters' row,
/// migration 0009; a package counted as moved is open in the same group,
/// so its receipt, given as that part's `oldest`, never lowers the
/// minimum). `by_deadline` is what the moved parts read `FROM`
/// ([`Dialect::PACKAGE_LIST_SOURCE`]).
pub(crate) fn position(due_in_hours: i64, for_one_lpa: bool, by_deadline: &str) -> String {
    let (due_counter, due_mark) = nearest_mark(due_in_hours);
    let (lpa_c, lpa_p) = if for_one_lpa {
        (" AND c.lpa = $3", " AND p.lpa = $3")
    } else {
        ("", "")
    };
    format!(
        "SELECT stage, risk_grade, \
         CAST(SUM(open_count) AS BIGINT) AS open_count, \
         CAST(SUM(by_now) AS BIGINT) AS breached_count, \
         CAST(SUM(by_due) - SUM(by_now) AS BIGINT) AS due_soon_count, \
         MIN(oldest) AS oldest_received_at \
         FROM ( \
         SELECT c.stage, c.risk_grade, c.packages AS open_count, c.due_by_mark AS by_now, \
         c.{due_counter} AS by_due, \
         c.oldest_received_at AS oldest \
         FROM position_counts c WHERE {open_c}{lpa_c} \
         UNION ALL {moved_now} \
         UNION ALL {moved_due} \
         ) figures GROUP BY stage, risk_grade HAVING SUM(open_count) > 0",
        open_c = open_stages("c"),
        moved_now = moved_since_mark("at", "$1", true, lpa_p, by_deadline),
        moved_due = moved_since_mark(due_mark, "$2", false, lpa_p, by_deadline),
    )
}

/// The mark as stored.
const READ_MARK: &str = "SELECT at FROM position_mark WHERE id = 1";

/// Adds to each counter the open packages whose deadline lies between the
/// old mark (`$1`, `$3`, `$5`) and the new (`$2`, `$4`, `$6`) of its
/// horizon.
const ADVANCE_COUNTS: &str = "UPDATE position_counts SET \
     due_by_mark = position_counts.due_by_mark + moved.by_mark, \
     due_by_mark_48h = position_counts.due_by_mark_48h + moved.by_mark_48h, \
     due_by_mark_7d = position_counts.due_by_mark_7d + moved.by_mark_7d \
     FROM (SELECT stage, risk_grade, lpa, \
     COUNT(CASE WHEN deadline_at > $1 AND deadline_at <= $2 THEN 1 END) AS by_mark, \
     COUNT(CASE WHEN deadline_at > $3 AND deadline_at <= $4 THEN 1 END) AS by_mark_48h, \
     COUNT(CASE WHEN deadline_at > $5 AND deadline_at <= $6 THEN 1 END) AS by_mark_7d \
     FROM packages WHERE stage IN ('intelligence_development', 'awaiting_enforcement') \
     AND ((deadline_at > $1 AND deadline_at <= $2) OR (deadline_at > $3 AND deadline_at <= $4) \
     OR (deadline_at > $5 AND deadline_at <= $6)) \
     GROUP BY stage, risk_grade, lpa) moved \
     WHERE position_counts.stage = moved.stage AND position_counts.risk_grade = moved.risk_grade \
     AND position_counts.lpa = moved.lpa";

/// Moves the mark.
const SET_MARK: &str = "UPDATE position_mark SET at = $1, at_48h = $2, at_7d = $3 WHERE id = 1";

/// The delivery counters, summed over their shards, in the shape of
/// [`DELIVERY_COUNTS`].
const DELIVERY_COUNTERS: &str = "SELECT status, CAST(SUM(messages) AS BIGINT) AS messages, \
     CAST(SUM(retries) AS BIGINT) AS retries FROM delivery_counts GROUP BY status";

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
    /// [`super::Store::position`], from the counters.
    pub(super) async fn open_position(
        &self,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lpa: Option<&str>,
    ) -> Result<Vec<StageGradeFigures>, StoreError> {
        let statement = position(
            (due_by - now).num_hours(),
            lpa.is_some(),
            DB::PACKAGE_LIST_SOURCE,
        );
        let mut query = sqlx::query_as::<_, StageGradeFiguresRow>(&statement)
            .bind(stored_instant(now))
            .bind(stored_instant(due_by));
        if let Some(lpa) = lpa {
            query = query.bind(lpa);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading the position"))?;
        Self::position_rows(rows)
    }

    /// [`super::Store::advance_position_mark`].
    pub(super) async fn advance_mark(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = stored_instant(now);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("moving the position's mark"))?;
        // Held until COMMIT: writers count against the old mark before it
        // moves or against the new one after (their triggers read it FOR
        // SHARE on PostgreSQL; SQLite's BEGIN IMMEDIATE is the lock there).
        let mark: DateTime<Utc> = sqlx::query_scalar(DB::LOCK_POSITION_MARK)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::db("moving the position's mark"))?;
        if mark >= now {
            // Another replica (or an earlier call) is ahead: never back.
            return Ok(false);
        }
        let (h48, d7) = (Duration::hours(48), Duration::days(7));
        sqlx::query(ADVANCE_COUNTS)
            .bind(mark)
            .bind(now)
            .bind(mark + h48)
            .bind(now + h48)
            .bind(mark + d7)
            .bind(now + d7)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("moving the position's mark"))?;
        sqlx::query(SET_MARK)
            .bind(now)
            .bind(now + h48)
            .bind(now + d7)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("moving the position's mark"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("moving the position's mark"))?;
        Ok(true)
    }

    /// Where the position's mark is now.
    pub(super) async fn position_mark(&self) -> Result<DateTime<Utc>, StoreError> {
        sqlx::query_scalar(READ_MARK)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("reading the position's mark"))
    }

    /// [`super::Store::delivery_stats`], from the counters.
    pub(super) async fn counted_delivery_stats(&self) -> Result<DeliveryStats, StoreError> {
        self.delivery_stats_from(DELIVERY_COUNTERS).await
    }

    /// [`super::Store::recounted_delivery_stats`]: every message counted.
    pub(super) async fn recounted_delivery_stats(&self) -> Result<DeliveryStats, StoreError> {
        self.delivery_stats_from(DELIVERY_COUNTS).await
    }

    async fn delivery_stats_from(&self, counts: &str) -> Result<DeliveryStats, StoreError> {
        let groups: Vec<DeliveryCountRow> = sqlx::query_as(counts)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("counting messages"))?;
        let mut stats = DeliveryStats::default();
        for group in &groups {
            group.add_to(&mut stats)?;
        }
        // Bounded by the messages not yet delivered (a partial index).
        stats.oldest_undelivered_at = sqlx::query_scalar(OLDEST_UNDELIVERED)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("finding the oldest undelivered message"))?;
        Ok(stats)
    }

    /// The position's rows in the domain's order (workflow stage, then
    /// gravest grade first), which text order on either backend is not.
    pub(super) fn position_rows(
        rows: Vec<StageGradeFiguresRow>,
    ) -> Result<Vec<StageGradeFigures>, StoreError> {
        let mut rows = rows
            .into_iter()
            .map(StageGradeFigures::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        rows.sort_by_key(|row| (row.stage, row.grade));
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_horizon_reads_the_nearest_marked_one() {
        assert_eq!(nearest_mark(0), ("due_by_mark", "at"));
        assert_eq!(nearest_mark(48), ("due_by_mark_48h", "at_48h"));
        assert_eq!(nearest_mark(7 * 24), ("due_by_mark_7d", "at_7d"));
        assert_eq!(nearest_mark(30), ("due_by_mark_48h", "at_48h"));
        assert_eq!(nearest_mark(200), ("due_by_mark_7d", "at_7d"));
    }

    #[test]
    fn the_position_filters_the_lpa_only_when_asked() {
        assert!(!position(168, false, "packages").contains("$3"));
        let one = position(168, true, "packages");
        assert_eq!(one.matches("c.lpa = $3").count(), 1);
        assert_eq!(one.matches("p.lpa = $3").count(), 2);
        assert!(one.contains("c.due_by_mark_7d AS by_due"));
    }
}
