//! The review clock: while a package is open, a supervisor re-assesses its
//! risk at an interval set by its grade (HMICFRS: "ensuring that
//! intelligence is reviewed regularly to help risks to be assessed").
//!
//! Rules:
//! - The clock starts at receipt, restarts at each review, and is due one
//!   review interval (the current grade's) after it started. Intervals are
//!   counted as timescales are: `"24h"` elapsed, `"3d"` local calendar
//!   days in the force time zone.
//! - It runs while the package is open; enforcement or closure stops it.
//! - Packages received before reviews existed start their clock at the
//!   upgrade (migration 0005 stores the instant and records a
//!   `review_clock_started` event), so they fall due one interval after
//!   the upgrade rather than all at once, overdue since receipt.
//! - A review that changes the grade is a regrade with its usual rules,
//!   recorded just before the review; the next interval is the new
//!   grade's.

use super::grade::RiskGrade;
use super::package::Package;
use super::timescale::Timescale;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How often each grade's open packages must be reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewIntervals {
    /// Very high risk; a day by default.
    pub(crate) very_high: Timescale,
    /// High risk; 3 days by default.
    pub(crate) high: Timescale,
    /// Medium risk; 7 days by default.
    pub(crate) medium: Timescale,
    /// Standard risk; 14 days by default.
    pub(crate) standard: Timescale,
}

impl Default for ReviewIntervals {
    /// At least two reviews inside each grade's national timescale (48 h,
    /// 7, 21 and 60 days), and a standard package, which can wait
    /// two months, still looked at fortnightly: see README, "Risk reviews".
    fn default() -> Self {
        Self {
            very_high: Timescale::Days(1),
            high: Timescale::Days(3),
            medium: Timescale::Days(7),
            standard: Timescale::Days(14),
        }
    }
}

impl ReviewIntervals {
    /// The interval for `grade`.
    pub fn for_grade(&self, grade: RiskGrade) -> Timescale {
        match grade {
            RiskGrade::VeryHigh => self.very_high,
            RiskGrade::High => self.high,
            RiskGrade::Medium => self.medium,
            RiskGrade::Standard => self.standard,
        }
    }
}

impl Package {
    /// Where the review clock started: the last review, the upgrade that
    /// introduced reviews (for older packages), or receipt.
    pub fn review_clock_started_at(&self) -> DateTime<Utc> {
        self.parts()
            .review_clock_started_at
            .unwrap_or(self.received_at())
    }

    /// When the next review is due, while the package is open; `None` once
    /// its clock has stopped.
    pub fn review_due_at(&self, intervals: &ReviewIntervals, tz: Tz) -> Option<DateTime<Utc>> {
        self.state().is_open().then(|| {
            intervals
                .for_grade(self.grade())
                .after(self.review_clock_started_at(), tz)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        DeadlinePolicy, Lpas, OpenStage, Outcome, PackageParts, PackageState, Reference,
        RegradePolicy, Safeguarding, Stage, Timescales,
    };
    use chrono_tz::Europe::London;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn package(grade: RiskGrade, received: &str, clock: Option<&str>) -> Package {
        let received_at = utc(received);
        let policy = DeadlinePolicy::new(
            Timescales::default(),
            London,
            RegradePolicy::FromReceipt,
            None,
        )
        .unwrap();
        Package::from_parts(PackageParts {
            reference: Reference::parse("REV-1").unwrap(),
            received_at,
            lpa: Lpas::default().parse("Dudley").unwrap(),
            assigned_officer: None,
            deadline: policy.initial(grade, received_at),
            state: PackageState::Open {
                stage: OpenStage::AwaitingEnforcement,
                since: received_at,
            },
            safeguarding: Safeguarding::default(),
            acknowledgement: None,
            review_clock_started_at: clock.map(utc),
        })
    }

    #[test]
    fn defaults_review_each_grade_at_least_twice_inside_its_timescale() {
        let intervals = ReviewIntervals::default();
        let timescales = Timescales::default();
        for grade in RiskGrade::ALL {
            let review = intervals.for_grade(grade).nominal_hours();
            let timescale = timescales.for_grade(grade).nominal_hours();
            assert!(
                2 * review <= timescale,
                "{grade}: {review}h in {timescale}h"
            );
        }
    }

    #[test]
    fn the_first_review_is_due_one_interval_after_receipt() {
        let intervals = ReviewIntervals::default();
        for (grade, due) in [
            (RiskGrade::VeryHigh, "2024-01-02T10:00:00Z"),
            (RiskGrade::High, "2024-01-04T10:00:00Z"),
            (RiskGrade::Medium, "2024-01-08T10:00:00Z"),
            (RiskGrade::Standard, "2024-01-15T10:00:00Z"),
        ] {
            let p = package(grade, "2024-01-01T10:00:00Z", None);
            assert_eq!(
                p.review_due_at(&intervals, London),
                Some(utc(due)),
                "{grade}"
            );
        }
    }

    #[test]
    fn days_are_local_calendar_days_across_the_march_change() {
        // A medium package reviewed at 10:00 GMT on 28 March 2024 is next due
        // at 10:00 BST on 4 April, which is 09:00 UTC: 167 elapsed hours.
        let intervals = ReviewIntervals::default();
        let p = package(
            RiskGrade::Medium,
            "2024-03-20T10:00:00Z",
            Some("2024-03-28T10:00:00Z"),
        );
        assert_eq!(
            p.review_due_at(&intervals, London),
            Some(utc("2024-04-04T09:00:00Z"))
        );
        // Counted in hours, the same interval would ignore the change.
        let hourly = ReviewIntervals {
            medium: Timescale::Hours(168),
            ..intervals
        };
        assert_eq!(
            p.review_due_at(&hourly, London),
            Some(utc("2024-04-04T10:00:00Z"))
        );
    }

    #[test]
    fn the_clock_starts_at_the_last_restart_and_stops_with_the_package() {
        let intervals = ReviewIntervals::default();
        let p = package(
            RiskGrade::Standard,
            "2023-06-01T10:00:00Z",
            Some("2024-01-10T12:00:00Z"),
        );
        assert_eq!(p.review_clock_started_at(), utc("2024-01-10T12:00:00Z"));
        assert_eq!(
            p.review_due_at(&intervals, London),
            Some(utc("2024-01-24T12:00:00Z"))
        );
        let now = utc("2024-01-11T00:00:00Z");
        let enforced = p
            .move_stage(Stage::Enforced, now, Some(Outcome::Arrest), None, now)
            .unwrap()
            .package;
        assert_eq!(enforced.review_due_at(&intervals, London), None);
    }
}
