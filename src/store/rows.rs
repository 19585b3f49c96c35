//! Row types shared by both backends, and the conversions between them and
//! the domain. Reading back is strict: a stored value the domain would not
//! accept is reported as [`StoreError::Corrupt`], naming the package and the
//! column, rather than being guessed at.

use super::{ApiToken, AuditRecord, LedgerEntry, LedgerEvent, StageGradeFigures, StoreError};
use crate::domain::{
    Acknowledgement, BreachReason, ClockStop, Deadline, EventKind, Lpas, OfficerEmail, OpenStage,
    Outcome, Package, PackageParts, PackageState, PolicyVersion, Reference, RiskGrade, Role,
    Safeguarding, Stage, StopKind,
};
use chrono::{DateTime, SubsecRound, Utc};
use std::fmt::Display;

/// An instant as the store keeps it: cut to the microsecond, PostgreSQL's
/// resolution, so that SQLite (which would keep nanoseconds) stores and
/// returns exactly the same values.
pub(crate) fn stored_instant(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// One row of `packages`, as [`super::sql::PACKAGE_ROW_COLUMNS`] selects it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PackageRow {
    /// The row's key, which events refer to.
    pub(crate) id: i64,
    pub(super) reference: String,
    pub(super) risk_grade: String,
    pub(super) stage: String,
    pub(super) lpa: String,
    pub(super) assigned_officer: Option<String>,
    pub(super) received_at: DateTime<Utc>,
    pub(super) deadline_at: DateTime<Utc>,
    pub(super) clock_started_at: DateTime<Utc>,
    pub(super) policy_version: String,
    pub(super) stage_since: DateTime<Utc>,
    pub(super) clock_stopped_at: Option<DateTime<Utc>>,
    pub(super) outcome: Option<String>,
    pub(super) child_access_identified_at: Option<DateTime<Utc>>,
    pub(super) safeguarding_referral_at: Option<DateTime<Utc>>,
    pub(super) acknowledged_at: Option<DateTime<Utc>>,
    pub(super) acknowledged_by: Option<String>,
    pub(super) acknowledgement_note: Option<String>,
    pub(super) acknowledged_deadline_at: Option<DateTime<Utc>>,
    pub(super) acknowledgement_reason: Option<String>,
    pub(super) review_clock_started_at: Option<DateTime<Utc>>,
}

/// One row of `package_events` with its package's reference, as
/// [`super::events::SELECT_EVENTS`] selects it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    reference: String,
    kind: String,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    actor: String,
    risk_grade: String,
    stage: String,
    deadline_at: DateTime<Utc>,
    details: String,
}

/// A stored value the domain refuses: names the row and the column.
pub(super) fn corrupt(row: &str, column: &str, problem: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{row}, column {column}: {problem}"))
}

impl TryFrom<PackageRow> for Package {
    type Error = StoreError;

    fn try_from(row: PackageRow) -> Result<Self, StoreError> {
        let reference = Reference::restore(&row.reference)
            .map_err(|e| corrupt(&format!("package row {}", row.id), "reference", e))?;
        let at = format!("package {reference}");
        let grade: RiskGrade = row
            .risk_grade
            .parse()
            .map_err(|e| corrupt(&at, "risk_grade", e))?;
        let stage: Stage = row.stage.parse().map_err(|e| corrupt(&at, "stage", e))?;
        let assigned_officer = row
            .assigned_officer
            .as_deref()
            .map(OfficerEmail::parse)
            .transpose()
            .map_err(|e| corrupt(&at, "assigned_officer", e))?;
        if row.policy_version.is_empty() {
            return Err(corrupt(&at, "policy_version", "is empty"));
        }
        let outcome: Option<Outcome> = row
            .outcome
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| corrupt(&at, "outcome", e))?;
        let state = match (OpenStage::from_stage(stage), row.clock_stopped_at, outcome) {
            (Some(open), None, None) => PackageState::Open {
                stage: open,
                since: row.stage_since,
            },
            (Some(_), _, _) => {
                return Err(corrupt(
                    &at,
                    "clock_stopped_at",
                    format!("an open package ({stage}) has a stopped clock or an outcome"),
                ))
            }
            (None, Some(stopped_at), Some(outcome)) => {
                if row.stage_since != stopped_at {
                    return Err(corrupt(
                        &at,
                        "stage_since",
                        "differs from clock_stopped_at on a stopped package",
                    ));
                }
                let kind = if stage == Stage::Enforced {
                    StopKind::Enforced
                } else {
                    StopKind::Closed
                };
                PackageState::Stopped(
                    ClockStop::new(kind, stopped_at, outcome)
                        .map_err(|e| corrupt(&at, "outcome", e))?,
                )
            }
            (None, _, _) => {
                return Err(corrupt(
                    &at,
                    "clock_stopped_at",
                    format!("a {stage} package needs both clock_stopped_at and outcome"),
                ))
            }
        };
        let safeguarding =
            Safeguarding::new(row.child_access_identified_at, row.safeguarding_referral_at)
                .map_err(|e| corrupt(&at, "safeguarding_referral_at", e.reason))?;
        let acknowledgement = match (
            row.acknowledged_at,
            row.acknowledged_by,
            row.acknowledgement_note,
            row.acknowledged_deadline_at,
        ) {
            (Some(acknowledged_at), Some(by), Some(note), Some(deadline_at)) => {
                // Absent for an acknowledgement made before reasons were
                // asked for; a code the list has since dropped still reads.
                let reason = row
                    .acknowledgement_reason
                    .as_deref()
                    .map(BreachReason::stored)
                    .transpose()
                    .map_err(|e| corrupt(&at, "acknowledgement_reason", e))?;
                Some(Acknowledgement {
                    at: acknowledged_at,
                    by,
                    reason,
                    note,
                    deadline_at,
                })
            }
            (None, None, None, None) if row.acknowledgement_reason.is_none() => None,
            _ => {
                return Err(corrupt(
                    &at,
                    "acknowledged_at",
                    "an acknowledgement needs its time, author, note and deadline together, and a reason needs an acknowledgement",
                ))
            }
        };
        Ok(Package::from_parts(PackageParts {
            reference,
            received_at: row.received_at,
            lpa: Lpas::restore(row.lpa),
            assigned_officer,
            deadline: Deadline::restore(
                grade,
                row.deadline_at,
                row.clock_started_at,
                PolicyVersion::new(row.policy_version),
            ),
            state,
            safeguarding,
            acknowledgement,
            review_clock_started_at: row.review_clock_started_at,
        }))
    }
}

impl TryFrom<EventRow> for LedgerEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let at = format!("event {} of package {}", row.id, row.reference);
        let reference =
            Reference::restore(&row.reference).map_err(|e| corrupt(&at, "reference", e))?;
        let kind: EventKind =
            serde_json::from_str(&row.details).map_err(|e| corrupt(&at, "details", e))?;
        if kind.name() != row.kind {
            return Err(corrupt(
                &at,
                "kind",
                format!(
                    "{:?} does not match the details, which record {:?}",
                    row.kind,
                    kind.name()
                ),
            ));
        }
        Ok(LedgerEvent {
            sequence: row.id,
            reference,
            occurred_at: row.occurred_at,
            recorded_at: row.recorded_at,
            actor: row.actor,
            risk_grade: row
                .risk_grade
                .parse()
                .map_err(|e| corrupt(&at, "risk_grade", e))?,
            stage: row.stage.parse().map_err(|e| corrupt(&at, "stage", e))?,
            deadline_at: row.deadline_at,
            kind,
        })
    }
}

/// A package's columns as written, borrowed from the package; bound by
/// `SqlStore::bind_package_values` (`packages.rs`).
#[derive(Debug, Clone)]
pub(crate) struct PackageValues<'a> {
    pub(super) reference: &'a str,
    pub(super) risk_grade: &'static str,
    pub(super) stage: &'static str,
    pub(super) lpa: &'a str,
    pub(super) assigned_officer: Option<&'a str>,
    pub(super) received_at: DateTime<Utc>,
    pub(super) deadline_at: DateTime<Utc>,
    pub(super) clock_started_at: DateTime<Utc>,
    pub(super) policy_version: &'a str,
    pub(super) stage_since: DateTime<Utc>,
    pub(super) clock_stopped_at: Option<DateTime<Utc>>,
    pub(super) outcome: Option<&'static str>,
    pub(super) child_access_identified_at: Option<DateTime<Utc>>,
    pub(super) safeguarding_referral_at: Option<DateTime<Utc>>,
    pub(super) next_due_at: Option<DateTime<Utc>>,
    pub(super) due_soon_at: Option<DateTime<Utc>>,
    pub(super) acknowledged_at: Option<DateTime<Utc>>,
    pub(super) acknowledged_by: Option<&'a str>,
    pub(super) acknowledgement_note: Option<&'a str>,
    pub(super) acknowledged_deadline_at: Option<DateTime<Utc>>,
    pub(super) acknowledgement_reason: Option<&'a str>,
    pub(super) review_clock_started_at: Option<DateTime<Utc>>,
}

impl<'a> PackageValues<'a> {
    /// The columns of the package an entry writes.
    pub(crate) fn new(entry: &'a LedgerEntry) -> Self {
        let parts = entry.package.parts();
        let stop = parts.state.stop();
        // As it is, even when a regrade has since moved the deadline past
        // it: the domain decides that it no longer counts, and the history
        // of what was acknowledged is kept.
        let acknowledgement = parts.acknowledgement.as_ref();
        Self {
            reference: parts.reference.as_str(),
            risk_grade: parts.deadline.grade().as_str(),
            stage: parts.state.stage().as_str(),
            lpa: parts.lpa.as_str(),
            assigned_officer: parts.assigned_officer.as_ref().map(OfficerEmail::as_str),
            received_at: stored_instant(parts.received_at),
            deadline_at: stored_instant(parts.deadline.at()),
            clock_started_at: stored_instant(parts.deadline.clock_started_at()),
            policy_version: parts.deadline.policy_version().as_str(),
            stage_since: stored_instant(parts.state.since()),
            clock_stopped_at: stop.map(|s| stored_instant(s.at())),
            outcome: stop.map(|s| s.outcome().as_str()),
            child_access_identified_at: parts
                .safeguarding
                .child_access_identified_at()
                .map(stored_instant),
            safeguarding_referral_at: parts.safeguarding.referral_made_at().map(stored_instant),
            next_due_at: entry.next_due_at.map(stored_instant),
            due_soon_at: entry.due_soon_at.map(stored_instant),
            acknowledged_at: acknowledgement.map(|a| stored_instant(a.at)),
            acknowledged_by: acknowledgement.map(|a| a.by.as_str()),
            acknowledgement_note: acknowledgement.map(|a| a.note.as_str()),
            acknowledged_deadline_at: acknowledgement.map(|a| stored_instant(a.deadline_at)),
            acknowledgement_reason: acknowledgement
                .and_then(|a| a.reason.as_ref())
                .map(BreachReason::code),
            review_clock_started_at: parts.review_clock_started_at.map(stored_instant),
        }
    }
}

/// An event's columns as written; bound by `SqlStore::bind_event_values` (`events.rs`).
#[derive(Debug, Clone)]
pub(crate) struct EventValues<'a> {
    pub(super) package_id: i64,
    pub(super) kind: &'static str,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) recorded_at: DateTime<Utc>,
    pub(super) actor: &'a str,
    pub(super) risk_grade: &'static str,
    pub(super) stage: &'static str,
    pub(super) deadline_at: DateTime<Utc>,
    pub(super) details: String,
}

impl<'a> EventValues<'a> {
    /// The event an entry appends to package row `package_id`, with the
    /// package's state after it.
    pub(crate) fn new(
        package_id: i64,
        entry: &LedgerEntry,
        actor: &'a str,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        Self::of(
            package_id,
            &entry.package,
            (&entry.event, entry.occurred_at),
            actor,
            recorded_at,
        )
    }

    /// `event`, which took effect at the instant beside it, appended to
    /// package row `package_id` with `package`'s state.
    pub(crate) fn of(
        package_id: i64,
        package: &crate::domain::Package,
        (event, occurred_at): (&EventKind, DateTime<Utc>),
        actor: &'a str,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        Self {
            package_id,
            kind: event.name(),
            occurred_at: stored_instant(occurred_at),
            recorded_at: stored_instant(recorded_at),
            actor,
            risk_grade: package.grade().as_str(),
            stage: package.stage().as_str(),
            deadline_at: stored_instant(package.deadline().at()),
            // Strings, enums and instants only: serialising cannot fail.
            details: serde_json::to_string(event).expect("an EventKind always serialises to JSON"),
        }
    }
}

/// What the lines of one audit statement share; bound by
/// `SqlStore::bind_audit_values` (`audit.rs`), the references following.
#[derive(Debug, Clone)]
pub(crate) struct AuditValues<'a> {
    pub(super) at: DateTime<Utc>,
    pub(super) actor: &'a str,
    pub(super) action: &'a str,
    pub(super) request_id: Option<&'a str>,
    pub(super) detail: Option<&'a str>,
}

impl<'a> AuditValues<'a> {
    /// Lines by `actor` (its name and request id) doing `action` at `at`.
    pub(crate) fn new(
        actor: &'a super::Actor,
        action: &'a str,
        detail: Option<&'a str>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            at: stored_instant(at),
            actor: actor.name.as_str(),
            action,
            request_id: actor.request_id.as_deref(),
            detail,
        }
    }
}

/// One row of `audit_log`, as [`super::audit::SELECT_AUDIT_LOG`] selects it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    reference: Option<String>,
    request_id: Option<String>,
    detail: Option<String>,
}

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        AuditRecord {
            sequence: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            reference: row.reference,
            request_id: row.request_id,
            detail: row.detail,
        }
    }
}

/// One row of `api_tokens`, without its hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TokenRow {
    name: String,
    role: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        let role: Role = row
            .role
            .parse()
            .map_err(|e| corrupt(&format!("token {}", row.name), "role", e))?;
        Ok(ApiToken {
            name: row.name,
            role,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// One group of [`super::counters::position`] (and of `super::listing::recount_position`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StageGradeFiguresRow {
    stage: String,
    risk_grade: String,
    open_count: i64,
    breached_count: i64,
    due_soon_count: i64,
    oldest_received_at: Option<DateTime<Utc>>,
}

impl TryFrom<StageGradeFiguresRow> for StageGradeFigures {
    type Error = StoreError;

    fn try_from(row: StageGradeFiguresRow) -> Result<Self, StoreError> {
        let at = format!("position group {}/{}", row.stage, row.risk_grade);
        Ok(StageGradeFigures {
            stage: row.stage.parse().map_err(|e| corrupt(&at, "stage", e))?,
            grade: row
                .risk_grade
                .parse()
                .map_err(|e| corrupt(&at, "risk_grade", e))?,
            // COUNT is never negative.
            open: row.open_count.unsigned_abs(),
            breached: row.breached_count.unsigned_abs(),
            due_soon: row.due_soon_count.unsigned_abs(),
            oldest_received_at: row.oldest_received_at,
        })
    }
}

/// The snake_case name serde gives a unit variant (a clock, a relation): the
/// text stored, so the database and the domain cannot spell it differently.
pub(super) fn variant_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        // Only ever called with fieldless enums, which serialise to a string.
        other => unreachable!("a unit variant serialised as {other:?}"),
    }
}

/// The unit variant stored as `name`.
pub(super) fn parse_variant<T: serde::de::DeserializeOwned>(
    name: &str,
) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
}

/// A stored count or ordinal as the `u32` the domain uses.
pub(super) fn stored_u32(row: &str, column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(row, column, format!("{value} is out of range")))
}

/// A JSON column read back into its type.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    row: &str,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(row, column, e))
}

/// A value stored as JSON text (a destination, a notice): strings, enums,
/// numbers and instants only, so serialising cannot fail.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("destinations and notices always serialise to JSON")
}

/// True when every migration in `migrator` (down migrations aside) appears
/// in `applied` (version, success, checksum) as successful and unchanged.
pub(crate) fn all_migrations_applied(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, bool, Vec<u8>)],
) -> bool {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .all(|m| {
            applied.iter().any(|(version, success, checksum)| {
                *version == m.version && *success && **checksum == *m.checksum
            })
        })
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
