//! Where a package is in its life, and how its enforcement clock stopped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The stage of a package. The first two are queues with a running clock;
/// `Enforced` and `Closed` stop the clock and always carry an [`Outcome`]
/// (see [`PackageState`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Intelligence is being developed before enforcement can be planned.
    IntelligenceDevelopment,
    /// Ready for enforcement action (a warrant, an arrest).
    AwaitingEnforcement,
    /// Enforcement action happened; the clock stopped.
    Enforced,
    /// Closed without enforcement (no further action, transferred); the clock stopped.
    Closed,
}

/// A value that is not a stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a stage: expected one of intelligence_development, awaiting_enforcement, enforced, closed")]
pub struct UnknownStage {
    /// The value as given.
    pub(crate) value: String,
}

impl Stage {
    /// Every stage, in the order a package moves through them.
    pub(crate) const ALL: [Stage; 4] = [
        Stage::IntelligenceDevelopment,
        Stage::AwaitingEnforcement,
        Stage::Enforced,
        Stage::Closed,
    ];

    /// The two queues whose packages still have a running clock.
    pub const OPEN: [Stage; 2] = [Stage::IntelligenceDevelopment, Stage::AwaitingEnforcement];

    /// The snake_case name used in JSON, configuration and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::IntelligenceDevelopment => "intelligence_development",
            Stage::AwaitingEnforcement => "awaiting_enforcement",
            Stage::Enforced => "enforced",
            Stage::Closed => "closed",
        }
    }

    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Stage::IntelligenceDevelopment => "Intelligence development",
            Stage::AwaitingEnforcement => "Awaiting enforcement",
            Stage::Enforced => "Enforced",
            Stage::Closed => "Closed",
        }
    }

    /// True for the stages that stop the enforcement clock.
    pub(crate) fn stops_clock(self) -> bool {
        matches!(self, Stage::Enforced | Stage::Closed)
    }

    /// Reads the snake_case name, or the same words with spaces or hyphens in
    /// any case ("Awaiting Enforcement"), as spreadsheets spell them.
    pub(crate) fn parse_lenient(value: &str) -> Result<Self, UnknownStage> {
        spreadsheet_name(value).parse().map_err(|_| UnknownStage {
            value: value.to_string(),
        })
    }
}

/// A name as spreadsheets spell it ("Awaiting Enforcement",
/// "warrant-executed") turned into the snake_case name: trimmed, spaces and
/// hyphens as underscores, lower case.
fn spreadsheet_name(value: &str) -> String {
    value
        .trim()
        .chars()
        .map(|c| if matches!(c, ' ' | '-') { '_' } else { c })
        .flat_map(char::to_lowercase)
        .collect()
}

named_by_as_str!(Stage, UnknownStage);

/// How a package's clock stopped.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The suspect was arrested.
    Arrest,
    /// A search warrant was executed.
    WarrantExecuted,
    /// The suspect attended voluntarily for interview.
    VoluntaryAttendance,
    /// Closed with no further action.
    NoFurtherAction,
    /// Transferred to another force.
    Transferred,
    /// Anything else; the note says what.
    Other,
}

/// A value that is not an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an outcome: expected one of arrest, warrant_executed, voluntary_attendance, no_further_action, transferred, other")]
pub struct UnknownOutcome {
    /// The value as given.
    pub(crate) value: String,
}

impl Outcome {
    /// Reads the snake_case name, or the same words with spaces or hyphens
    /// in any case ("Warrant Executed"), as spreadsheets spell them; the
    /// error names the name as read.
    pub(crate) fn parse_lenient(value: &str) -> Result<Self, UnknownOutcome> {
        spreadsheet_name(value).parse()
    }

    /// Every outcome.
    pub const ALL: [Outcome; 6] = [
        Outcome::Arrest,
        Outcome::WarrantExecuted,
        Outcome::VoluntaryAttendance,
        Outcome::NoFurtherAction,
        Outcome::Transferred,
        Outcome::Other,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Arrest => "arrest",
            Outcome::WarrantExecuted => "warrant_executed",
            Outcome::VoluntaryAttendance => "voluntary_attendance",
            Outcome::NoFurtherAction => "no_further_action",
            Outcome::Transferred => "transferred",
            Outcome::Other => "other",
        }
    }

    /// Whether this outcome can end a package in `stage`: enforcement outcomes
    /// (arrest, warrant executed, voluntary attendance) belong to `enforced`,
    /// no further action and transfer to `closed`; `other` fits both.
    pub(crate) fn fits(self, stage: StopKind) -> bool {
        match self {
            Outcome::Arrest | Outcome::WarrantExecuted | Outcome::VoluntaryAttendance => {
                stage == StopKind::Enforced
            }
            Outcome::NoFurtherAction | Outcome::Transferred => stage == StopKind::Closed,
            Outcome::Other => true,
        }
    }
}

named_by_as_str!(Outcome, UnknownOutcome);

/// The two ways a clock stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// Enforcement action was taken.
    Enforced,
    /// Closed without enforcement.
    Closed,
}

impl StopKind {
    /// The stage this stop puts a package in.
    pub(crate) fn stage(self) -> Stage {
        match self {
            StopKind::Enforced => Stage::Enforced,
            StopKind::Closed => Stage::Closed,
        }
    }
}

/// A stopped enforcement clock: when, how and with what outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockStop {
    kind: StopKind,
    at: DateTime<Utc>,
    outcome: Outcome,
}

/// An outcome that does not belong to the stop it was given with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outcome {outcome} does not fit stage {}: enforced takes arrest, warrant_executed, voluntary_attendance or other; closed takes no_further_action, transferred or other", .kind.stage())]
pub struct OutcomeMismatch {
    /// The stop asked for.
    pub(crate) kind: StopKind,
    /// The outcome given.
    pub(crate) outcome: Outcome,
}

impl ClockStop {
    /// A stop, if the outcome fits it.
    pub fn new(
        kind: StopKind,
        at: DateTime<Utc>,
        outcome: Outcome,
    ) -> Result<Self, OutcomeMismatch> {
        if outcome.fits(kind) {
            Ok(Self { kind, at, outcome })
        } else {
            Err(OutcomeMismatch { kind, outcome })
        }
    }

    /// Enforced or closed.
    pub fn kind(&self) -> StopKind {
        self.kind
    }

    /// When the clock stopped.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The outcome recorded.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
}

/// A package's clock: running in one of the two queues, or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageState {
    /// In a queue since the given instant; the enforcement clock runs.
    Open {
        /// `IntelligenceDevelopment` or `AwaitingEnforcement`.
        stage: OpenStage,
        /// When the package entered this stage.
        since: DateTime<Utc>,
    },
    /// Enforced or closed: the clock stopped at a recorded instant, with an
    /// outcome.
    Stopped(ClockStop),
}

/// A stage with a running clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenStage {
    /// See [`Stage::IntelligenceDevelopment`].
    IntelligenceDevelopment,
    /// See [`Stage::AwaitingEnforcement`].
    AwaitingEnforcement,
}

impl OpenStage {
    /// The stage this is.
    pub(crate) fn stage(self) -> Stage {
        match self {
            OpenStage::IntelligenceDevelopment => Stage::IntelligenceDevelopment,
            OpenStage::AwaitingEnforcement => Stage::AwaitingEnforcement,
        }
    }

    /// The open stage for `stage`, or `None` for a stage that stops the clock.
    pub(crate) fn from_stage(stage: Stage) -> Option<Self> {
        match stage {
            Stage::IntelligenceDevelopment => Some(OpenStage::IntelligenceDevelopment),
            Stage::AwaitingEnforcement => Some(OpenStage::AwaitingEnforcement),
            Stage::Enforced | Stage::Closed => None,
        }
    }
}

impl PackageState {
    /// The stage, for filters and display.
    pub(crate) fn stage(&self) -> Stage {
        match self {
            PackageState::Open { stage, .. } => stage.stage(),
            PackageState::Stopped(stop) => stop.kind().stage(),
        }
    }

    /// The stop, if the clock has stopped.
    pub fn stop(&self) -> Option<&ClockStop> {
        match self {
            PackageState::Open { .. } => None,
            PackageState::Stopped(stop) => Some(stop),
        }
    }

    /// True while the enforcement clock runs.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, PackageState::Open { .. })
    }

    /// When the package entered its current stage.
    pub fn since(&self) -> DateTime<Utc> {
        match self {
            PackageState::Open { since, .. } => *since,
            PackageState::Stopped(stop) => stop.at(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stage_names_round_trip_and_lenient_spellings_parse() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(stage));
        }
        assert_eq!(
            Stage::parse_lenient("Awaiting Enforcement"),
            Ok(Stage::AwaitingEnforcement)
        );
        assert_eq!(
            Stage::parse_lenient("intelligence-development"),
            Ok(Stage::IntelligenceDevelopment)
        );
        let err = Stage::parse_lenient("pending").unwrap_err();
        assert!(err.to_string().contains("\"pending\""));
    }

    #[test]
    fn only_enforced_and_closed_stop_the_clock() {
        assert!(!Stage::IntelligenceDevelopment.stops_clock());
        assert!(!Stage::AwaitingEnforcement.stops_clock());
        assert!(Stage::Enforced.stops_clock());
        assert!(Stage::Closed.stops_clock());
        for stage in Stage::ALL {
            assert_eq!(OpenStage::from_stage(stage).is_none(), stage.stops_clock());
        }
    }

    #[test]
    fn outcomes_must_fit_the_stop() {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap();
        assert!(ClockStop::new(StopKind::Enforced, at, Outcome::Arrest).is_ok());
        assert!(ClockStop::new(StopKind::Enforced, at, Outcome::WarrantExecuted).is_ok());
        assert!(ClockStop::new(StopKind::Enforced, at, Outcome::VoluntaryAttendance).is_ok());
        assert!(ClockStop::new(StopKind::Closed, at, Outcome::NoFurtherAction).is_ok());
        assert!(ClockStop::new(StopKind::Closed, at, Outcome::Transferred).is_ok());
        assert!(ClockStop::new(StopKind::Closed, at, Outcome::Other).is_ok());
        assert!(ClockStop::new(StopKind::Enforced, at, Outcome::Other).is_ok());
        let err = ClockStop::new(StopKind::Enforced, at, Outcome::Transferred).unwrap_err();
        assert!(err.to_string().contains("transferred"));
        assert!(ClockStop::new(StopKind::Closed, at, Outcome::Arrest).is_err());
    }

    #[test]
    fn outcome_names_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(outcome));
        }
        assert!("arrested".parse::<Outcome>().is_err());
    }
}
