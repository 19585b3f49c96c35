//! The current position: open packages per queue and grade, with the
//! breached, the due within the week, and the oldest. The figures a leader
//! asks for ("where are we now?"), built from the store's aggregates.

use crate::domain::{RiskGrade, Stage};
use crate::store::StageGradeFigures;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// How far ahead "due soon" looks in the position: seven days.
pub(crate) const DUE_WITHIN_DAYS: i64 = 7;

/// The figures for one grade (in one queue, or across both).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct GradeFigures {
    /// Open packages.
    pub(crate) open: u64,
    /// Of those, at or past their deadline.
    pub(crate) breached: u64,
    /// Of those not breached, due within the next seven days.
    pub(crate) due_within_7_days: u64,
    /// When the oldest open package was received.
    pub(crate) oldest_received_at: Option<DateTime<Utc>>,
    /// Its age in whole days.
    pub(crate) oldest_age_days: Option<i64>,
}

impl GradeFigures {
    fn add(&mut self, row: &StageGradeFigures, now: DateTime<Utc>) {
        self.open += row.open;
        self.breached += row.breached;
        self.due_within_7_days += row.due_soon;
        self.oldest_received_at = match (self.oldest_received_at, row.oldest_received_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.oldest_age_days = self.oldest_received_at.map(|t| (now - t).num_days());
    }
}

/// Figures for every grade, keyed by the grade's snake_case name.
pub(crate) type ByGrade = BTreeMap<RiskGrade, GradeFigures>;

/// The current position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct CurrentPosition {
    /// The instant the figures are for.
    pub(crate) as_of: DateTime<Utc>,
    /// The LPA they cover, when filtered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lpa: Option<String>,
    /// Open packages in each queue.
    #[schema(value_type = BTreeMap<String, u64>)]
    pub(crate) open_by_stage: BTreeMap<Stage, u64>,
    /// Figures per grade across both queues; every grade present.
    #[schema(value_type = BTreeMap<String, GradeFigures>)]
    pub(crate) by_grade: ByGrade,
    /// Figures per queue and grade; every queue and grade present.
    #[schema(value_type = BTreeMap<String, BTreeMap<String, GradeFigures>>)]
    pub(crate) by_stage_and_grade: BTreeMap<Stage, ByGrade>,
    /// Open packages at or past their deadline.
    pub(crate) breached: u64,
}

/// The horizon for "due within 7 days" at `now`.
pub(crate) fn due_by(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(DUE_WITHIN_DAYS)
}

impl CurrentPosition {
    /// Builds the position from the store's rows (one per stage and grade
    /// that has open packages). Every queue and grade appears, with zeros
    /// where there are none, so a reader sees "0 very high" rather than a gap.
    pub(crate) fn from_rows(
        rows: &[StageGradeFigures],
        now: DateTime<Utc>,
        lpa: Option<String>,
    ) -> Self {
        let empty = || -> ByGrade {
            RiskGrade::ALL
                .iter()
                .map(|g| (*g, GradeFigures::default()))
                .collect()
        };
        let mut by_grade = empty();
        let mut by_stage_and_grade: BTreeMap<Stage, ByGrade> =
            Stage::OPEN.iter().map(|s| (*s, empty())).collect();
        let mut open_by_stage: BTreeMap<Stage, u64> = Stage::OPEN.iter().map(|s| (*s, 0)).collect();
        let mut breached = 0;
        for row in rows {
            by_grade.entry(row.grade).or_default().add(row, now);
            by_stage_and_grade
                .entry(row.stage)
                .or_insert_with(empty)
                .entry(row.grade)
                .or_default()
                .add(row, now);
            *open_by_stage.entry(row.stage).or_default() += row.open;
            breached += row.breached;
        }
        Self {
            as_of: now,
            lpa,
            open_by_stage,
            by_grade,
            by_stage_and_grade,
            breached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn rows_fold_into_queues_and_grades_with_zeros_for_the_rest() {
        let now = utc("2024-02-01T12:00:00Z");
        let rows = [
            StageGradeFigures {
                stage: Stage::AwaitingEnforcement,
                grade: RiskGrade::Medium,
                open: 5,
                breached: 1,
                due_soon: 2,
                oldest_received_at: Some(utc("2024-01-25T09:00:00Z")),
            },
            StageGradeFigures {
                stage: Stage::IntelligenceDevelopment,
                grade: RiskGrade::Medium,
                open: 3,
                breached: 0,
                due_soon: 1,
                oldest_received_at: Some(utc("2024-01-20T09:00:00Z")),
            },
        ];
        let p = CurrentPosition::from_rows(&rows, now, None);
        assert_eq!(p.open_by_stage[&Stage::AwaitingEnforcement], 5);
        assert_eq!(p.open_by_stage[&Stage::IntelligenceDevelopment], 3);
        assert_eq!(p.breached, 1);
        let medium = &p.by_grade[&RiskGrade::Medium];
        assert_eq!(
            (medium.open, medium.breached, medium.due_within_7_days),
            (8, 1, 3)
        );
        assert_eq!(medium.oldest_received_at, Some(utc("2024-01-20T09:00:00Z")));
        assert_eq!(medium.oldest_age_days, Some(12));
        let awaiting = &p.by_stage_and_grade[&Stage::AwaitingEnforcement][&RiskGrade::Medium];
        assert_eq!(
            awaiting.oldest_age_days,
            Some(7),
            "6 days 27 hours is 7 whole days"
        );
        let none = &p.by_grade[&RiskGrade::VeryHigh];
        assert_eq!((none.open, none.oldest_age_days), (0, None));
        assert_eq!(p.by_stage_and_grade.len(), 2);
        assert!(p
            .by_stage_and_grade
            .values()
            .all(|g| g.len() == RiskGrade::ALL.len()));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json["by_grade"]["very_high"]["oldest_received_at"],
            serde_json::Value::Null
        );
        assert_eq!(json["open_by_stage"]["awaiting_enforcement"], 5);
    }
}
