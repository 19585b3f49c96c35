//! The moves a package can make (acknowledge, regrade, review, move stage,
//! assign, update safeguarding), the rules that refuse them, and the change
//! each accepted move makes.

use super::{Acknowledgement, EventKind, Package, Safeguarding};
use crate::domain::fields::OfficerEmail;
use crate::domain::grade::RiskGrade;
use crate::domain::review::ReviewIntervals;
use crate::domain::stage::{ClockStop, OpenStage, Outcome, PackageState, Stage, StopKind};
use crate::domain::timescale::DeadlinePolicy;
use crate::domain::BreachReason;
use chrono::{DateTime, Utc};

/// A move the rules refuse, naming the field at fault. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct MoveRefused {
    /// The field the caller can correct.
    pub field: &'static str,
    /// Why, in words a sergeant can act on.
    pub(crate) reason: String,
    /// A bad value, or a move the package's state forbids.
    pub(crate) kind: Refusal,
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
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
            kind: Refusal::Invalid,
        }
    }

    /// A move the package's state forbids.
    pub(crate) fn conflict(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
            kind: Refusal::Conflict,
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

/// What a review changes: the regrade it made, if it changed the grade,
/// then the review itself. Both are written in one transaction, the regrade
/// first, so the ledger reads "regraded, then reviewed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The regrade, made with the regrade move's own rules, when the review
    /// changed the grade.
    pub regrade: Option<Change>,
    /// The review: the package after it (its review clock restarted) and
    /// the `reviewed` event.
    pub review: Change,
}

/// The longest reason or note accepted.
pub(crate) const MAX_NOTE_CHARS: usize = 2000;

/// A reason or note a move cannot do without, as `field`: trimmed, refused
/// when empty (saying `why` one is needed), then checked as [`check_note`].
fn required_note<'a>(
    field: &'static str,
    text: &'a str,
    why: &str,
) -> Result<&'a str, MoveRefused> {
    let text = text.trim();
    if text.is_empty() {
        return Err(MoveRefused::invalid(field, why));
    }
    check_note(field, text)?;
    Ok(text)
}

/// Checks a reason or note (already trimmed) as `field`: at most
/// [`MAX_NOTE_CHARS`], line breaks allowed, and otherwise the one rule for
/// free text ([`crate::domain::fields::forbidden_char`]).
fn check_note(field: &'static str, text: &str) -> Result<(), MoveRefused> {
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(MoveRefused::invalid(
            field,
            format!("is longer than {MAX_NOTE_CHARS} characters"),
        ));
    }
    match crate::domain::fields::forbidden_char(text, true) {
        Some(c) => Err(MoveRefused::invalid(
            field,
            crate::domain::fields::why_forbidden(c),
        )),
        None => Ok(()),
    }
}

impl Package {
    /// Acknowledges the breach of the current deadline with a reason (why
    /// it was missed) and a note, as `by`: repeats stop, the breach still
    /// counts. Only an open package at or past its deadline can be
    /// acknowledged, once per deadline.
    pub fn acknowledge(
        &self,
        reason: &BreachReason,
        note: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Change, MoveRefused> {
        self.require_open("note")?;
        let note = required_note(
            "note",
            note,
            "an acknowledgement needs a note saying what is being done",
        )?;
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
            reason: Some(reason.clone()),
            note: note.to_string(),
            deadline_at,
        });
        Ok(Change {
            package: Package(parts),
            occurred_at: now,
            event: EventKind::Acknowledged {
                reason: Some(reason.clone()),
                note: note.to_string(),
                deadline_at,
            },
        })
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
        // A conflict with the package's record, not a bad value: the same
        // time is right for a package received earlier.
        if at < self.0.received_at {
            return Err(MoveRefused::conflict(
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

    /// Reviews the package's risk at `at` with `note`, confirming its grade
    /// or changing it to `grade` (a regrade under `policy`, with its usual
    /// rules; the note is its reason). The review clock restarts at `at`;
    /// the next review is due one interval of the grade after the review.
    /// Refused for a stopped package, a time in the future (invalid), or a
    /// time before receipt or before the review clock's last restart
    /// (conflicts with the record).
    pub fn review(
        &self,
        grade: Option<RiskGrade>,
        note: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: &DeadlinePolicy,
        intervals: &ReviewIntervals,
    ) -> Result<Review, MoveRefused> {
        self.require_open("reviewed_at")?;
        self.check_time("reviewed_at", at, now)?;
        let note = required_note(
            "note",
            note,
            "a review needs a note saying what was considered",
        )?;
        let started = self.review_clock_started_at();
        if at < started {
            return Err(MoveRefused::conflict(
                "reviewed_at",
                "is before the review clock last restarted (the last review, or the package's entry into the service): reviews are recorded in order",
            ));
        }
        let tz = policy.time_zone();
        let review_due_at = self
            .review_due_at(intervals, tz)
            .expect("an open package has a review clock");
        // The grade it already has is a confirmation, not a regrade: a form
        // offers the current grade first.
        let regrade = match grade {
            Some(grade) if grade != self.grade() => {
                Some(self.regrade(grade, note, at, now, policy)?)
            }
            _ => None,
        };
        let before = regrade.as_ref().map_or(self, |r| &r.package);
        let mut parts = before.0.clone();
        parts.review_clock_started_at = Some(at);
        let package = Package(parts);
        let next_review_due_at = package
            .review_due_at(intervals, tz)
            .expect("an open package has a review clock");
        let event = EventKind::Reviewed {
            note: note.to_string(),
            risk_grade: package.grade(),
            regraded_from: regrade.as_ref().map(|_| self.grade()),
            review_due_at,
            next_review_due_at,
        };
        Ok(Review {
            regrade,
            review: Change {
                package,
                occurred_at: at,
                event,
            },
        })
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
        let reason = required_note("reason", reason, "a regrade needs a reason")?;
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
            return Err(MoveRefused::conflict(
                "at",
                format!("is before the package entered {from}"),
            ));
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = note {
            check_note("note", n)?;
        }
        let note = note.map(str::to_string);
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
        // Times that disagree with each other in one request are a bad
        // request; with a time already recorded, a conflict with the record.
        let safeguarding = Safeguarding::new(access, referral).map_err(|e| {
            if child_access_identified_at.is_some() && referral_made_at.is_some() {
                MoveRefused::invalid("referral_made_at", e.reason)
            } else {
                MoveRefused::conflict("referral_made_at", e.reason)
            }
        })?;
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
