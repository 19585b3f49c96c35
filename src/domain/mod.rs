//! The pure domain: grades, stages, timescales, deadlines, statuses, the
//! escalation ladder's timing, and the calendar arithmetic of reports and
//! digests (ISO weeks, digest schedules, which LPAs a recipient covers).
//! No I/O and no clock of its own: every function that needs "now" takes
//! it as an argument.

/// `FromStr` (the strict snake_case name, refused with `$error { value }`)
/// and `Display` for a domain enum with `ALL` and `as_str`: one definition
/// for grades, stages and outcomes.
macro_rules! named_by_as_str {
    ($type:ty, $error:ident) => {
        impl std::str::FromStr for $type {
            type Err = $error;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                <$type>::ALL
                    .into_iter()
                    .find(|named| named.as_str() == value)
                    .ok_or_else(|| $error {
                        value: value.to_string(),
                    })
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) mod access;
pub(crate) mod breach_reason;
pub(crate) mod coverage;
pub(crate) mod digest_schedule;
pub(crate) mod escalation;
pub(crate) mod fields;
pub(crate) mod grade;
pub(crate) mod ladder;
pub(crate) mod package;
pub(crate) mod period;
pub(crate) mod retention;
pub(crate) mod review;
pub(crate) mod stage;
pub(crate) mod timescale;
pub(crate) mod week;

#[cfg(test)]
mod package_tests;

pub use access::Role;
pub use breach_reason::{default_reasons, BreachReason, BreachReasons, ReasonEntry};
pub(crate) use coverage::LpaCoverage;
pub(crate) use digest_schedule::{DigestKind, DigestPeriod, DigestSchedule, Occurrence};
pub use escalation::{DueLevel, Relation};
pub use fields::{parse_instant, Invalid, Lpa};
pub use fields::{Lpas, OfficerEmail, Reference};
pub use grade::RiskGrade;
pub use ladder::EscalationLevel;
pub use ladder::{default_ladder, LadderTiming, LevelTime, PackageClock};
pub use package::MoveRefused;
pub use package::Review;
pub(crate) use package::MAX_NOTE_CHARS;
pub use package::{
    Acknowledgement, Change, EventKind, Package, PackageParts, PackageStatus, Refusal, Safeguarding,
};
pub use period::{BadPeriod, CalendarMonth, PeriodKind, Quarter, ReportPeriod};
pub use retention::{PseudonymKey, RetentionPeriod};
pub use review::ReviewIntervals;
pub use stage::{ClockStop, OpenStage, Outcome, PackageState, Stage, StopKind};
pub use timescale::{
    Deadline, DeadlinePolicy, PolicyVersion, RegradePolicy, Timescale, Timescales,
};
pub use week::{BadWeek, IsoWeek};

/// How far in the future a time given by a person may lie before it is
/// refused: five minutes, for clocks that disagree a little.
pub(crate) const FUTURE_TOLERANCE_MINUTES: i64 = 5;

/// The reference prefix of the fictional packages `demo` loads: the store
/// counts packages with it apart, so demo data never hides real data.
pub(crate) const DEMO_PREFIX: &str = "DEMO-";
