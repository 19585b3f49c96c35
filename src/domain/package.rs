//! An intelligence package, its derived status, the moves it can make, and
//! the events those moves append to its ledger.

use super::fields::{Lpa, OfficerEmail, Reference};
use super::grade::RiskGrade;
use super::stage::{ClockStop, OpenStage, Outcome, PackageState, Stage, StopKind};
use super::timescale::{Deadline, DeadlinePolicy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

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
    pub fn as_str(self) -> &'static str {
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

/// A move the rules refuse, naming the field at fault. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct MoveRefused {
    /// The field the caller can correct.
    pub field: &'static str,
    /// Why, in words a sergeant can act on.
    pub reason: String,
    /// A bad value, or a move the package's state forbids.
    pub kind: Refusal,
}

/// Why a move was refused: the API answers `Invalid` with 422 and
/// `Conflict` with 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A value is wrong (a time in the future, a missing outcome).
    Invalid,
    /// The package's state forbids the move (a stopped clock, a backward
    /// stage move, a grade it already has).
    Conflict,
}

impl MoveRefused {
    /// A bad value in `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
            kind: Refusal::Invalid,
        }
    }

    /// A move the package's state forbids.
    pub fn conflict(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
            kind: Refusal::Conflict,
        }
    }
}

/// What happened to a package; one row of its append-only ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The package was received (or imported).
    Created {
        /// The first grade.
        risk_grade: RiskGrade,
        /// The first stage.
        stage: Stage,
        /// The LPA.
        lpa: String,
        /// The assigned officer, if any.
        assigned_officer: Option<String>,
        /// The deadline computed.
        deadline_at: DateTime<Utc>,
        /// The policy version it was computed under.
        policy_version: String,
    },
    /// New intelligence changed the grade.
    Regraded {
        /// The grade before.
        from: RiskGrade,
        /// The grade after.
        to: RiskGrade,
        /// Why, as recorded by the person regrading.
        reason: String,
        /// The deadline before.
        previous_deadline_at: DateTime<Utc>,
        /// The deadline after.
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
        /// The officer now.
        to: String,
    },
    /// A supervisor acknowledged the breach of the current deadline.
    Acknowledged {
        /// The note.
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
        }
    }
}

/// A change to a package: the package after it, and the event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The package as it is after the change.
    pub package: Package,
    /// When the change took effect (may be earlier than when it was recorded).
    pub occurred_at: DateTime<Utc>,
    /// What to append to the ledger.
    pub event: EventKind,
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
    /// Safeguarding facts.
    pub safeguarding: Safeguarding,
    /// A supervisor's acknowledgement of the breach of the current deadline.
    pub acknowledgement: Option<Acknowledgement>,
}

/// A supervisor's acknowledgement of a breach: repeats of the breach's
/// escalations stop; the breach still counts everywhere, and the note is kept.
/// It belongs to one deadline: a regrade that moves the deadline makes a new
/// breach, which is not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// Who made it (the actor's name).
    pub by: String,
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

    /// The reference.
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

    /// The LPA.
    pub fn lpa(&self) -> &Lpa {
        &self.0.lpa
    }

    /// The assigned officer.
    pub fn assigned_officer(&self) -> Option<&OfficerEmail> {
        self.0.assigned_officer.as_ref()
    }

    /// The deadline.
    pub fn deadline(&self) -> &Deadline {
        &self.0.deadline
    }

    /// Open or stopped.
    pub fn state(&self) -> &PackageState {
        &self.0.state
    }

    /// Safeguarding facts.
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

    /// Acknowledges the breach of the current deadline with a note, as
    /// `by`: repeats stop, the breach still counts. Only an open package at
    /// or past its deadline can be acknowledged, once per deadline.
    pub fn acknowledge(
        &self,
        note: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Change, MoveRefused> {
        self.require_open("note")?;
        let note = note.trim();
        if note.is_empty() {
            return Err(MoveRefused::invalid(
                "note",
                "an acknowledgement needs a note saying what is being done",
            ));
        }
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(MoveRefused::invalid(
                "note",
                format!("is longer than {MAX_NOTE_CHARS} characters"),
            ));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(MoveRefused::invalid("note", "contains a control character"));
        }
        let deadline_at = self.0.deadline.at();
        if now < deadline_at {
            return Err(MoveRefused::conflict(
                "note",
                "the package has not breached its deadline; there is nothing to acknowledge",
            ));
        }
        if self.acknowledgement().is_some() {
            return Err(MoveRefused::conflict(
                "note",
                "this breach is already acknowledged",
            ));
        }
        let mut parts = self.0.clone();
        parts.acknowledgement = Some(Acknowledgement {
            at: now,
            by: by.to_string(),
            note: note.to_string(),
            deadline_at,
        });
        Ok(Change {
            package: Package(parts),
            occurred_at: now,
            event: EventKind::Acknowledged {
                note: note.to_string(),
                deadline_at,
            },
        })
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
        }
    }

    fn check_time(
        &self,
        field: &'static str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), MoveRefused> {
        if at > now + chrono::Duration::minutes(crate::domain::FUTURE_TOLERANCE_MINUTES) {
            return Err(MoveRefused::invalid(field, "is in the future"));
        }
        if at < self.0.received_at {
            return Err(MoveRefused::invalid(
                field,
                "is before the package was received",
            ));
        }
        Ok(())
    }

    fn require_open(&self, field: &'static str) -> Result<(), MoveRefused> {
        match &self.0.state {
            PackageState::Open { .. } => Ok(()),
            PackageState::Stopped(stop) => Err(MoveRefused::conflict(
                field,
                format!(
                    "the package is {} and its clock has stopped",
                    stop.kind().stage()
                ),
            )),
        }
    }

    /// Regrades to `grade` at `at`, moving the deadline under `policy`.
    pub fn regrade(
        &self,
        grade: RiskGrade,
        reason: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: &DeadlinePolicy,
    ) -> Result<Change, MoveRefused> {
        self.require_open("risk_grade")?;
        self.check_time("at", at, now)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(MoveRefused::invalid("reason", "a regrade needs a reason"));
        }
        if reason.chars().count() > MAX_NOTE_CHARS {
            return Err(MoveRefused::invalid(
                "reason",
                format!("is longer than {MAX_NOTE_CHARS} characters"),
            ));
        }
        if grade == self.grade() {
            return Err(MoveRefused::conflict(
                "risk_grade",
                format!("the package is already graded {grade}"),
            ));
        }
        let previous = self.0.deadline.clone();
        let deadline = policy.regrade(&previous, self.0.received_at, grade, at);
        let event = EventKind::Regraded {
            from: previous.grade(),
            to: grade,
            reason: reason.to_string(),
            previous_deadline_at: previous.at(),
            deadline_at: deadline.at(),
            policy_version: deadline.policy_version().to_string(),
        };
        let mut parts = self.0.clone();
        parts.deadline = deadline;
        Ok(Change {
            package: Package(parts),
            occurred_at: at,
            event,
        })
    }

    /// Moves the package to `to` at `at`. Stages only move forward: from
    /// intelligence development to awaiting enforcement, and from either to
    /// enforced or closed, which need an outcome that fits.
    pub fn move_stage(
        &self,
        to: Stage,
        at: DateTime<Utc>,
        outcome: Option<Outcome>,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Change, MoveRefused> {
        self.require_open("stage")?;
        self.check_time("at", at, now)?;
        let from = self.stage();
        if at < self.0.state.since() {
            return Err(MoveRefused::invalid(
                "at",
                format!("is before the package entered {from}"),
            ));
        }
        let note = match note.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) if n.chars().count() > MAX_NOTE_CHARS => {
                return Err(MoveRefused::invalid(
                    "note",
                    format!("is longer than {MAX_NOTE_CHARS} characters"),
                ))
            }
            Some(n) if n.chars().any(|c| c.is_control() && c != '\n') => {
                return Err(MoveRefused::invalid("note", "contains a control character"))
            }
            other => other.map(str::to_string),
        };
        let state = match (from, to) {
            (Stage::IntelligenceDevelopment, Stage::AwaitingEnforcement) => {
                if outcome.is_some() {
                    return Err(MoveRefused::invalid(
                        "outcome",
                        "only enforced and closed take an outcome",
                    ));
                }
                PackageState::Open {
                    stage: OpenStage::AwaitingEnforcement,
                    since: at,
                }
            }
            (_, Stage::Enforced | Stage::Closed) => {
                let kind = if to == Stage::Enforced {
                    StopKind::Enforced
                } else {
                    StopKind::Closed
                };
                let outcome = outcome.ok_or_else(|| {
                    MoveRefused::invalid("outcome", format!("moving to {to} needs an outcome"))
                })?;
                let stop = ClockStop::new(kind, at, outcome)
                    .map_err(|e| MoveRefused::invalid("outcome", e.to_string()))?;
                PackageState::Stopped(stop)
            }
            (from, to) if from == to => {
                return Err(MoveRefused::conflict(
                    "stage",
                    format!("the package is already in {to}"),
                ))
            }
            (from, to) => {
                return Err(MoveRefused::conflict(
                    "stage",
                    format!("a package cannot move back from {from} to {to}"),
                ))
            }
        };
        let mut parts = self.0.clone();
        parts.state = state;
        Ok(Change {
            package: Package(parts),
            occurred_at: at,
            event: EventKind::StageChanged {
                from,
                to,
                outcome,
                note,
            },
        })
    }

    /// Assigns the package to `officer`.
    pub fn assign(&self, officer: OfficerEmail, now: DateTime<Utc>) -> Result<Change, MoveRefused> {
        self.require_open("officer")?;
        if self.0.assigned_officer.as_ref() == Some(&officer) {
            return Err(MoveRefused::conflict(
                "officer",
                format!("the package is already assigned to {officer}"),
            ));
        }
        let event = EventKind::Assigned {
            from: self.0.assigned_officer.as_ref().map(ToString::to_string),
            to: officer.to_string(),
        };
        let mut parts = self.0.clone();
        parts.assigned_officer = Some(officer);
        Ok(Change {
            package: Package(parts),
            occurred_at: now,
            event,
        })
    }

    /// Records when child access was identified and/or the referral made.
    /// A value already recorded cannot be changed or removed here.
    pub fn update_safeguarding(
        &self,
        child_access_identified_at: Option<DateTime<Utc>>,
        referral_made_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Change, MoveRefused> {
        let current = self.0.safeguarding;
        if child_access_identified_at.is_none() && referral_made_at.is_none() {
            return Err(MoveRefused::invalid(
                "child_access_identified_at",
                "give child_access_identified_at, referral_made_at or both",
            ));
        }
        let merge = |field: &'static str,
                     old: Option<DateTime<Utc>>,
                     new: Option<DateTime<Utc>>| match (old, new) {
            (Some(o), Some(n)) if o != n => Err(MoveRefused::conflict(
                field,
                "is already recorded with a different time",
            )),
            (old, new) => Ok(new.or(old)),
        };
        let access = merge(
            "child_access_identified_at",
            current.child_access_identified_at,
            child_access_identified_at,
        )?;
        let referral = merge(
            "referral_made_at",
            current.referral_made_at,
            referral_made_at,
        )?;
        if let Some(t) = child_access_identified_at {
            self.check_time("child_access_identified_at", t, now)?;
        }
        if let Some(t) = referral_made_at {
            self.check_time("referral_made_at", t, now)?;
        }
        let safeguarding = Safeguarding::new(access, referral)
            .map_err(|e| MoveRefused::invalid("referral_made_at", e.reason))?;
        if safeguarding == current {
            return Err(MoveRefused::conflict(
                "child_access_identified_at",
                "nothing changes: these times are already recorded",
            ));
        }
        let mut parts = self.0.clone();
        parts.safeguarding = safeguarding;
        Ok(Change {
            package: Package(parts),
            occurred_at: referral_made_at
                .or(child_access_identified_at)
                .unwrap_or(now),
            event: EventKind::SafeguardingUpdated {
                child_access_identified_at: access,
                referral_made_at: referral,
            },
        })
    }
}

/// The longest reason or note accepted.
pub const MAX_NOTE_CHARS: usize = 2000;
