//! An intelligence package, its derived status, and the events its moves
//! append to its ledger. The moves themselves, and the rules that refuse
//! them, are in `moves`.

use super::breach_reason::BreachReason;
use super::fields::{Lpa, OfficerEmail, Reference};
use super::grade::RiskGrade;
use super::stage::{Outcome, PackageState, Stage, StopKind};
use super::timescale::Deadline;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

mod moves;
pub(crate) use moves::MAX_NOTE_CHARS;

pub use moves::MoveRefused;
pub use moves::{Change, Refusal, Review};

/// When child access was identified and when the referral to children's
/// social services was made. A referral cannot precede the identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Safeguarding {
    child_access_identified_at: Option<DateTime<Utc>>,
    referral_made_at: Option<DateTime<Utc>>,
}

impl Safeguarding {
    /// Checks the pair: a referral needs an identified child access at or
    /// before it.
    pub fn new(
        child_access_identified_at: Option<DateTime<Utc>>,
        referral_made_at: Option<DateTime<Utc>>,
    ) -> Result<Self, MoveRefused> {
        match (child_access_identified_at, referral_made_at) {
            (None, Some(_)) => Err(MoveRefused::invalid(
                "safeguarding_referral_at",
                "a referral needs child_access_identified_at: say when access to a child was identified",
            )),
            (Some(access), Some(referral)) if referral < access => Err(MoveRefused::invalid(
                "safeguarding_referral_at",
                "the referral is dated before child access was identified",
            )),
            _ => Ok(Self {
                child_access_identified_at,
                referral_made_at,
            }),
        }
    }

    /// When access to a child was identified, if it has been.
    pub fn child_access_identified_at(&self) -> Option<DateTime<Utc>> {
        self.child_access_identified_at
    }

    /// When the referral was made, if it has been.
    pub fn referral_made_at(&self) -> Option<DateTime<Utc>> {
        self.referral_made_at
    }
}

/// A package's status, derived from its deadline, its clock and the time.
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
pub enum PackageStatus {
    /// Open, before the first warning level.
    OnTrack,
    /// Open, past the first warning level (75% of the timescale by default).
    DueSoon,
    /// Open, at or past the deadline.
    Breached,
    /// Enforced by the deadline.
    Met,
    /// Enforced after the deadline.
    Missed,
    /// Closed without enforcement.
    Closed,
}

impl PackageStatus {
    /// Every status.
    pub const ALL: [PackageStatus; 6] = [
        PackageStatus::OnTrack,
        PackageStatus::DueSoon,
        PackageStatus::Breached,
        PackageStatus::Met,
        PackageStatus::Missed,
        PackageStatus::Closed,
    ];

    /// The snake_case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PackageStatus::OnTrack => "on_track",
            PackageStatus::DueSoon => "due_soon",
            PackageStatus::Breached => "breached",
            PackageStatus::Met => "met",
            PackageStatus::Missed => "missed",
            PackageStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for PackageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a package; one row of its append-only ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The package was received (or imported).
    Created {
        /// The grade the package was received with.
        risk_grade: RiskGrade,
        /// The stage the package was received in.
        stage: Stage,
        /// The Local Policing Area's name.
        lpa: String,
        /// The assigned officer, if any.
        assigned_officer: Option<String>,
        /// The enforcement deadline the first grade gives, counted from
        /// receipt.
        deadline_at: DateTime<Utc>,
        /// The policy version it was computed under.
        policy_version: String,
        /// Where the review clock started, when not at receipt: the
        /// package's entry into the service, for one entered after its
        /// receipt. Absent in events recorded before reviews existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review_clock_started_at: Option<DateTime<Utc>>,
    },
    /// New intelligence changed the grade.
    Regraded {
        /// The grade before.
        from: RiskGrade,
        /// The grade after.
        to: RiskGrade,
        /// Why, as recorded by the person regrading.
        reason: String,
        /// The enforcement deadline under the old grade.
        previous_deadline_at: DateTime<Utc>,
        /// The enforcement deadline under the new grade, as the regrade
        /// policy sets it.
        deadline_at: DateTime<Utc>,
        /// The policy version of the new deadline.
        policy_version: String,
    },
    /// The package moved to another stage.
    StageChanged {
        /// The stage before.
        from: Stage,
        /// The stage after.
        to: Stage,
        /// The outcome, for enforced and closed.
        outcome: Option<Outcome>,
        /// A free-text note (no names).
        note: Option<String>,
    },
    /// The package was assigned to an officer.
    Assigned {
        /// The officer before, if any.
        from: Option<String>,
        /// The officer's address it is now assigned to.
        to: String,
    },
    /// A supervisor acknowledged the breach of the current deadline.
    Acknowledged {
        /// Why the deadline was missed, from the force's list; absent in
        /// events recorded before reasons were asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        reason: Option<BreachReason>,
        /// The supervisor's note saying what is being done.
        note: String,
        /// The deadline whose breach was acknowledged.
        deadline_at: DateTime<Utc>,
    },
    /// Safeguarding facts changed.
    SafeguardingUpdated {
        /// When child access was identified.
        child_access_identified_at: Option<DateTime<Utc>>,
        /// When the referral was made.
        referral_made_at: Option<DateTime<Utc>>,
    },
    /// A supervisor reviewed the package's risk: the review clock restarts.
    /// A review that changed the grade follows its `regraded` event.
    Reviewed {
        /// What the supervisor considered and decided (no names).
        note: String,
        /// The grade after the review: confirmed, or the new one.
        risk_grade: RiskGrade,
        /// The grade before, when the review changed it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        regraded_from: Option<RiskGrade>,
        /// When this review was due (the cycle it closes): the review was on
        /// time when it took effect at or before this instant.
        review_due_at: DateTime<Utc>,
        /// When the next review is due.
        next_review_due_at: DateTime<Utc>,
    },
    /// The review clock started for a package received before reviews
    /// existed: written once by migration 0005, at the upgrade, for every
    /// package then open.
    ReviewClockStarted,
}

impl EventKind {
    /// The event's name, as stored in the ledger's `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created { .. } => "created",
            EventKind::Regraded { .. } => "regraded",
            EventKind::StageChanged { .. } => "stage_changed",
            EventKind::Assigned { .. } => "assigned",
            EventKind::SafeguardingUpdated { .. } => "safeguarding_updated",
            EventKind::Acknowledged { .. } => "acknowledged",
            EventKind::Reviewed { .. } => "reviewed",
            EventKind::ReviewClockStarted => "review_clock_started",
        }
    }
}

/// The parts of a package, for building one from storage or intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageParts {
    /// The case system's reference.
    pub reference: Reference,
    /// When the package was received; the enforcement clock starts here.
    pub received_at: DateTime<Utc>,
    /// The Local Policing Area.
    pub lpa: Lpa,
    /// The assigned officer's address.
    pub assigned_officer: Option<OfficerEmail>,
    /// The deadline, carrying the current grade.
    pub deadline: Deadline,
    /// Open in a queue, or stopped.
    pub state: PackageState,
    /// When child access was identified and the referral made, if they
    /// have been.
    pub safeguarding: Safeguarding,
    /// A supervisor's acknowledgement of the breach of the current deadline.
    pub acknowledgement: Option<Acknowledgement>,
    /// Where the review clock last restarted: the last review, or the
    /// upgrade that introduced reviews; `None` runs it from receipt.
    pub review_clock_started_at: Option<DateTime<Utc>>,
}

/// A supervisor's acknowledgement of a breach: repeats of the breach's
/// escalations stop; the breach still counts everywhere, and the note is kept.
/// It belongs to one deadline: a regrade that moves the deadline makes a new
/// breach, which is not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Acknowledgement {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// Who made it (the actor's name).
    pub by: String,
    /// Why the deadline was missed (a code from the force's list); null
    /// for acknowledgements recorded before reasons were asked for.
    #[schema(value_type = Option<String>)]
    pub reason: Option<BreachReason>,
    /// The supervisor's note.
    pub note: String,
    /// The deadline it acknowledges the breach of.
    pub deadline_at: DateTime<Utc>,
}

/// An intelligence package. Holds a reference, a grade (via its deadline),
/// dates, an LPA, a stage and an officer; never a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package(PackageParts);

impl Package {
    /// A package from parts already checked (storage, or [`crate::intake`]).
    pub fn from_parts(parts: PackageParts) -> Self {
        Self(parts)
    }

    /// The parts, to store.
    pub fn parts(&self) -> &PackageParts {
        &self.0
    }

    /// The case system's reference, unique among packages.
    pub fn reference(&self) -> &Reference {
        &self.0.reference
    }

    /// The current grade.
    pub fn grade(&self) -> RiskGrade {
        self.0.deadline.grade()
    }

    /// The current stage.
    pub fn stage(&self) -> Stage {
        self.0.state.stage()
    }

    /// When it was received.
    pub fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }

    /// The Local Policing Area it belongs to.
    pub fn lpa(&self) -> &Lpa {
        &self.0.lpa
    }

    /// The assigned officer's address; `None` while unassigned.
    pub fn assigned_officer(&self) -> Option<&OfficerEmail> {
        self.0.assigned_officer.as_ref()
    }

    /// The enforcement deadline under the current grade, with the policy
    /// version that set it.
    pub fn deadline(&self) -> &Deadline {
        &self.0.deadline
    }

    /// Open or stopped.
    pub fn state(&self) -> &PackageState {
        &self.0.state
    }

    /// When child access was identified and the referral made, if they
    /// have been.
    pub fn safeguarding(&self) -> &Safeguarding {
        &self.0.safeguarding
    }

    /// The acknowledgement of the current deadline's breach, if any. One
    /// made for an earlier deadline (before a regrade) does not count.
    pub fn acknowledgement(&self) -> Option<&Acknowledgement> {
        self.0
            .acknowledgement
            .as_ref()
            .filter(|a| a.deadline_at == self.0.deadline.at())
    }

    /// The status at `now`, given the instant the package becomes due soon
    /// (from the escalation ladder; `None` if no level warns before the
    /// deadline). An open package at its deadline is breached; one enforced
    /// exactly at its deadline has met it.
    pub fn status(&self, now: DateTime<Utc>, due_soon_at: Option<DateTime<Utc>>) -> PackageStatus {
        match &self.0.state {
            PackageState::Open { .. } => {
                if now >= self.0.deadline.at() {
                    PackageStatus::Breached
                } else if due_soon_at.is_some_and(|t| now >= t) {
                    PackageStatus::DueSoon
                } else {
                    PackageStatus::OnTrack
                }
            }
            PackageState::Stopped(stop) => match stop.kind() {
                StopKind::Closed => PackageStatus::Closed,
                StopKind::Enforced if stop.at() <= self.0.deadline.at() => PackageStatus::Met,
                StopKind::Enforced => PackageStatus::Missed,
            },
        }
    }

    /// The event that records this package's receipt.
    pub fn created_event(&self) -> EventKind {
        EventKind::Created {
            risk_grade: self.grade(),
            stage: self.stage(),
            lpa: self.0.lpa.to_string(),
            assigned_officer: self.0.assigned_officer.as_ref().map(ToString::to_string),
            deadline_at: self.0.deadline.at(),
            policy_version: self.0.deadline.policy_version().to_string(),
            review_clock_started_at: self.0.review_clock_started_at,
        }
    }
}
