//! The one set of rules that turns a new package, as typed into a CSV file
//! or sent to the API, into a valid [`Package`]. Every field is checked and
//! every fault reported, so one pass shows a sergeant all that is wrong.

use crate::domain::{
    parse_instant, Change, DeadlinePolicy, Invalid, Lpas, OfficerEmail, OpenStage, Outcome,
    Package, PackageParts, PackageState, Reference, RiskGrade, Safeguarding, Stage,
    FUTURE_TOLERANCE_MINUTES,
};
use crate::text::describe_duration;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// A new package as received: text fields, not yet trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPackage {
    /// The case system's reference.
    pub reference: String,
    /// A risk grade, in any spelling [`RiskGrade::parse_lenient`] reads.
    pub risk_grade: String,
    /// RFC 3339 with an offset, or `YYYY-MM-DD HH:MM` local time.
    pub received_at: String,
    /// The LPA.
    pub lpa: String,
    /// `intelligence_development` or `awaiting_enforcement`.
    pub stage: String,
    /// The assigned officer's email; empty or absent when unassigned.
    pub assigned_officer: Option<String>,
    /// When access to a child was identified, if it has been.
    pub child_access_identified_at: Option<String>,
    /// When the social-services referral was made, if it has been.
    pub safeguarding_referral_at: Option<String>,
}

/// What a row of a history file (`import --history`) adds to a package: how its clock stopped
/// and when it left development, as text not yet trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFields {
    /// When the clock stopped (enforcement or closure); absent while open.
    pub clock_stopped_at: Option<String>,
    /// The stop's outcome; absent while open.
    pub outcome: Option<String>,
    /// When the package left intelligence development for awaiting
    /// enforcement, if it did after its receipt.
    pub awaiting_enforcement_at: Option<String>,
}

/// One fault in one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name, as in the CSV header and the API.
    pub(crate) field: &'static str,
    /// Why the value was refused.
    pub(crate) message: String,
}

/// What intake needs to know: the deadline policy and the force's LPAs.
#[derive(Debug, Clone)]
pub struct IntakeRules {
    /// Timescales, time zone, regrade policy and version.
    pub policy: DeadlinePolicy,
    /// The force's LPAs; a package naming any other is refused.
    pub lpas: Lpas,
}

fn check<T>(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    result: Result<T, Invalid>,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(Invalid(message)) => {
            errors.push(FieldError { field, message });
            None
        }
    }
}

fn optional(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl IntakeRules {
    /// Checks every field of `input` against the rules at `now`. Returns the
    /// package, or every fault found.
    pub fn admit(
        &self,
        input: &NewPackage,
        now: DateTime<Utc>,
    ) -> Result<Package, Vec<FieldError>> {
        let tz = self.policy.time_zone();
        let mut errors = Vec::new();
        let not_future = |t: DateTime<Utc>| {
            if t > now + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
                let ahead = t - now;
                Err(Invalid(format!(
                    "{} is in the future (by {}); times more than {FUTURE_TOLERANCE_MINUTES} minutes ahead are refused",
                    t.to_rfc3339(),
                    describe_duration(ahead)
                )))
            } else {
                Ok(t)
            }
        };

        let reference = check(&mut errors, "reference", Reference::parse(&input.reference));
        let grade = check(
            &mut errors,
            "risk_grade",
            if input.risk_grade.trim().is_empty() {
                Err(Invalid("the risk grade is empty".into()))
            } else {
                RiskGrade::parse_lenient(&input.risk_grade).map_err(|e| Invalid(e.to_string()))
            },
        );
        let received_at = check(
            &mut errors,
            "received_at",
            parse_instant(&input.received_at, tz).and_then(not_future),
        );
        let lpa = check(&mut errors, "lpa", self.lpas.parse(&input.lpa));
        let stage = check(
            &mut errors,
            "stage",
            if input.stage.trim().is_empty() {
                Err(Invalid("the stage is empty".into()))
            } else {
                Stage::parse_lenient(&input.stage)
                    .map_err(|e| Invalid(e.to_string()))
                    .and_then(|stage| {
                        OpenStage::from_stage(stage).ok_or_else(|| {
                            Invalid(format!(
                                "a new package must be in intelligence_development or awaiting_enforcement, not {stage}: record enforcement or closure as a stage move with its outcome"
                            ))
                        })
                    })
            },
        );
        let officer = match optional(&input.assigned_officer) {
            None => Some(None),
            Some(text) => check(
                &mut errors,
                "assigned_officer",
                OfficerEmail::parse(text).map(Some),
            ),
        };
        let optional_time =
            |errors: &mut Vec<FieldError>, field: &'static str, value: &Option<String>| {
                match optional(value) {
                    None => Some(None),
                    Some(text) => check(
                        errors,
                        field,
                        parse_instant(text, tz).and_then(not_future).map(Some),
                    ),
                }
            };
        let access = optional_time(
            &mut errors,
            "child_access_identified_at",
            &input.child_access_identified_at,
        );
        let referral = optional_time(
            &mut errors,
            "safeguarding_referral_at",
            &input.safeguarding_referral_at,
        );

        if let (Some(received), Some(Some(access))) = (received_at, access) {
            if access < received {
                errors.push(FieldError {
                    field: "child_access_identified_at",
                    message: "is before the package was received".into(),
                });
            }
        }
        let safeguarding = match (access, referral) {
            (Some(access), Some(referral)) => match Safeguarding::new(access, referral) {
                Ok(s) => Some(s),
                Err(refused) => {
                    errors.push(FieldError {
                        field: refused.field,
                        message: refused.reason,
                    });
                    None
                }
            },
            _ => None,
        };

        match (
            reference,
            grade,
            received_at,
            lpa,
            stage,
            officer,
            safeguarding,
        ) {
            (
                Some(reference),
                Some(grade),
                Some(received_at),
                Some(lpa),
                Some(stage),
                Some(assigned_officer),
                Some(safeguarding),
            ) if errors.is_empty() => Ok(Package::from_parts(PackageParts {
                reference,
                received_at,
                lpa,
                assigned_officer,
                deadline: self.policy.initial(grade, received_at),
                state: PackageState::Open {
                    stage,
                    since: received_at,
                },
                safeguarding,
                acknowledgement: None,
                // Grading a package as it is entered is its first risk
                // assessment: the review clock of a package entered after
                // its receipt (an import of a backlog at go-live, a late
                // entry) starts at entry, so a backlog imported at once is
                // not overdue for review at once.
                review_clock_started_at: (received_at < now).then_some(now),
            })),
            _ => Err(errors),
        }
    }
}

/// Names the CSV column a refused history move is at fault in: the
/// move's time is the column that gave it.
fn move_fault(refused: crate::domain::MoveRefused, time_column: &'static str) -> FieldError {
    FieldError {
        field: match refused.field {
            "at" => time_column,
            other => other,
        },
        message: refused.reason,
    }
}

/// An outcome as a spreadsheet spells it ("Warrant Executed").
fn parse_outcome(text: &str) -> Result<Outcome, Invalid> {
    Outcome::parse_lenient(text).map_err(|e| Invalid(e.to_string()))
}

impl IntakeRules {
    /// Checks a row of a history file (`import --history`) at `now`: the
    /// package as [`Self::admit`] checks it, received in the stage it was
    /// received in, then each stage move its history records, each under
    /// the moves' own rules (times in order, not in the future, an outcome
    /// that fits the stop). Returns the changes in order, the first the
    /// receipt (whose package is the one created), or every fault found.
    ///
    /// The stage it was received in: intelligence development when
    /// `awaiting_enforcement_at` is later than the receipt (then it moved
    /// to awaiting enforcement at that time), or when the package was
    /// stopped without having awaited enforcement; awaiting enforcement
    /// when `awaiting_enforcement_at` is the receipt, or when the row's
    /// stage is awaiting_enforcement without one (as `import` takes it).
    pub fn admit_history(
        &self,
        input: &NewPackage,
        history: &HistoryFields,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>, Vec<FieldError>> {
        let tz = self.policy.time_zone();
        let mut errors = Vec::new();
        let time = |errors: &mut Vec<FieldError>, field: &'static str, value: &Option<String>| {
            match optional(value) {
                None => Some(None),
                Some(text) => check(
                    errors,
                    field,
                    parse_instant(text, tz)
                        .and_then(|t| {
                            if t > now + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
                                Err(Invalid(format!(
                                    "{} is in the future (by {}); history cannot be",
                                    t.to_rfc3339(),
                                    describe_duration(t - now)
                                )))
                            } else {
                                Ok(t)
                            }
                        })
                        .map(Some),
                ),
            }
        };
        let stopped_at = time(&mut errors, "clock_stopped_at", &history.clock_stopped_at);
        let awaiting_at = time(
            &mut errors,
            "awaiting_enforcement_at",
            &history.awaiting_enforcement_at,
        );
        let outcome = match optional(&history.outcome) {
            None => Some(None),
            Some(text) => check(&mut errors, "outcome", parse_outcome(text).map(Some)),
        };
        let stage = Stage::parse_lenient(&input.stage).ok();
        let received = parse_instant(&input.received_at, tz).ok();

        // The stage it was received in, for the intake rules.
        let mut as_received = input.clone();
        if let Some(stage) = stage {
            let received_in = match (stage, awaiting_at.flatten()) {
                (Stage::AwaitingEnforcement, None) => Stage::AwaitingEnforcement,
                (_, Some(at)) if Some(at) == received => Stage::AwaitingEnforcement,
                _ => Stage::IntelligenceDevelopment,
            };
            as_received.stage = received_in.as_str().to_string();
        }
        let created = self.admit(&as_received, now);
        let created = match created {
            Ok(package) => Some(package),
            Err(faults) => {
                errors.extend(faults);
                None
            }
        };

        // What the row's stage allows of the history columns.
        if let Some(stage) = stage {
            let has_stop = optional(&history.clock_stopped_at).is_some();
            let has_outcome = optional(&history.outcome).is_some();
            let has_awaiting = optional(&history.awaiting_enforcement_at).is_some();
            let fault = |errors: &mut Vec<FieldError>, field, message: String| {
                errors.push(FieldError { field, message })
            };
            if stage.stops_clock() {
                if !has_stop {
                    fault(
                        &mut errors,
                        "clock_stopped_at",
                        format!("a package in {stage} needs the time its clock stopped"),
                    );
                }
                if !has_outcome {
                    fault(
                        &mut errors,
                        "outcome",
                        format!(
                            "a package in {stage} needs its outcome: {}",
                            if stage == Stage::Enforced {
                                "arrest, warrant_executed, voluntary_attendance or other"
                            } else {
                                "no_further_action, transferred or other"
                            }
                        ),
                    );
                }
                if optional(&input.child_access_identified_at).is_some()
                    && optional(&input.safeguarding_referral_at).is_none()
                {
                    fault(&mut errors, "safeguarding_referral_at", "a stopped package's history needs the referral's time when child access was identified: an outstanding referral would escalate from the past".into());
                }
            } else {
                if has_stop {
                    fault(&mut errors, "clock_stopped_at", format!("a package in {stage} has a running clock; give stage enforced or closed with the outcome, or leave clock_stopped_at empty"));
                }
                if has_outcome {
                    fault(
                        &mut errors,
                        "outcome",
                        "an outcome is allowed only with clock_stopped_at".into(),
                    );
                }
                if stage == Stage::IntelligenceDevelopment && has_awaiting {
                    fault(&mut errors, "awaiting_enforcement_at", "a package still in intelligence_development has not left it; give stage awaiting_enforcement, enforced or closed".into());
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (Some(package), Some(stage)) = (created, stage) else {
            // Every way to get here has added a fault.
            return Err(errors);
        };
        let mut changes = vec![Change {
            occurred_at: package.received_at(),
            event: package.created_event(),
            package,
        }];
        let last = |changes: &Vec<Change>| changes.last().expect("the receipt").package.clone();
        if let Some(at) = awaiting_at.flatten() {
            if last(&changes).stage() == Stage::IntelligenceDevelopment {
                match last(&changes).move_stage(Stage::AwaitingEnforcement, at, None, None, now) {
                    Ok(change) => changes.push(change),
                    Err(refused) => {
                        return Err(vec![move_fault(refused, "awaiting_enforcement_at")])
                    }
                }
            }
        }
        if stage.stops_clock() {
            let at = stopped_at.flatten().expect("checked above");
            match last(&changes).move_stage(stage, at, outcome.flatten(), None, now) {
                Ok(change) => changes.push(change),
                Err(refused) => return Err(vec![move_fault(refused, "clock_stopped_at")]),
            }
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RegradePolicy, Timescales};
    use chrono_tz::Europe::London;

    fn rules() -> IntakeRules {
        IntakeRules {
            policy: DeadlinePolicy::new(
                Timescales::default(),
                London,
                RegradePolicy::FromReceipt,
                None,
            )
            .unwrap(),
            lpas: Lpas::new(&["Birmingham".into(), "Coventry".into()]).unwrap(),
        }
    }

    fn now() -> DateTime<Utc> {
        "2024-06-01T12:00:00Z".parse().unwrap()
    }

    fn good() -> NewPackage {
        NewPackage {
            reference: "NCA-0001".into(),
            risk_grade: "Very High".into(),
            received_at: "2024-05-31 10:00".into(),
            lpa: "birmingham".into(),
            stage: "awaiting_enforcement".into(),
            assigned_officer: Some("pc.one@force.police.uk".into()),
            child_access_identified_at: None,
            safeguarding_referral_at: None,
        }
    }

    #[test]
    fn the_review_clock_of_a_package_entered_after_receipt_starts_at_entry() {
        let late = rules().admit(&good(), now()).unwrap();
        assert_eq!(late.parts().review_clock_started_at, Some(now()));
        assert_eq!(late.review_clock_started_at(), now());
        let on_time = NewPackage {
            received_at: "2024-06-01T12:00:00Z".into(),
            ..good()
        };
        let on_time = rules().admit(&on_time, now()).unwrap();
        assert_eq!(on_time.parts().review_clock_started_at, None);
        assert_eq!(on_time.review_clock_started_at(), now());
    }

    #[test]
    fn a_good_package_is_admitted_with_its_deadline() {
        let p = rules().admit(&good(), now()).unwrap();
        assert_eq!(p.reference().as_str(), "NCA-0001");
        assert_eq!(p.grade(), RiskGrade::VeryHigh);
        assert_eq!(p.lpa().as_str(), "Birmingham");
        assert_eq!(p.received_at().to_rfc3339(), "2024-05-31T09:00:00+00:00");
        assert_eq!(p.deadline().at().to_rfc3339(), "2024-06-02T09:00:00+00:00");
        assert_eq!(p.stage(), Stage::AwaitingEnforcement);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let input = NewPackage {
            reference: "".into(),
            risk_grade: "urgent".into(),
            received_at: "2024-06-03 10:00".into(),
            lpa: "Gotham".into(),
            stage: "enforced".into(),
            assigned_officer: Some("not-an-email".into()),
            child_access_identified_at: Some("soon".into()),
            safeguarding_referral_at: None,
        };
        let errors = rules().admit(&input, now()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "reference",
                "risk_grade",
                "received_at",
                "lpa",
                "stage",
                "assigned_officer",
                "child_access_identified_at"
            ]
        );
        assert!(
            errors[2]
                .message
                .contains("in the future (by 1 day 21 hours)"),
            "{}",
            errors[2].message
        );
        assert!(
            errors[4].message.contains("record enforcement"),
            "{}",
            errors[4].message
        );
    }

    #[test]
    fn five_minutes_ahead_is_tolerated_six_is_not() {
        let mut input = good();
        input.received_at = "2024-06-01T12:05:00Z".into();
        assert!(rules().admit(&input, now()).is_ok());
        input.received_at = "2024-06-01T12:06:00Z".into();
        let errors = rules().admit(&input, now()).unwrap_err();
        assert_eq!(errors[0].field, "received_at");
    }

    #[test]
    fn safeguarding_times_must_follow_receipt_and_each_other() {
        let mut input = good();
        input.child_access_identified_at = Some("2024-05-30 10:00".into());
        assert_eq!(
            rules().admit(&input, now()).unwrap_err()[0].field,
            "child_access_identified_at"
        );
        input.child_access_identified_at = Some("2024-05-31 12:00".into());
        input.safeguarding_referral_at = Some("2024-05-31 11:00".into());
        assert_eq!(
            rules().admit(&input, now()).unwrap_err()[0].field,
            "safeguarding_referral_at"
        );
        input.child_access_identified_at = None;
        assert_eq!(
            rules().admit(&input, now()).unwrap_err()[0].field,
            "safeguarding_referral_at"
        );
        input.child_access_identified_at = Some("2024-05-31 10:30".into());
        let p = rules().admit(&input, now()).unwrap();
        assert!(p.safeguarding().referral_made_at().is_some());
    }

    #[test]
    fn an_empty_officer_means_unassigned() {
        let mut input = good();
        input.assigned_officer = Some("  ".into());
        assert!(rules()
            .admit(&input, now())
            .unwrap()
            .assigned_officer()
            .is_none());
    }

    fn history(
        stopped: Option<&str>,
        outcome: Option<&str>,
        awaiting: Option<&str>,
    ) -> HistoryFields {
        HistoryFields {
            clock_stopped_at: stopped.map(str::to_string),
            outcome: outcome.map(str::to_string),
            awaiting_enforcement_at: awaiting.map(str::to_string),
        }
    }

    #[test]
    fn a_history_is_its_receipt_then_its_moves_in_order() {
        let mut input = good();
        input.stage = "Enforced".into();
        let changes = rules()
            .admit_history(
                &input,
                &history(
                    Some("2024-05-31 20:00"),
                    Some("Warrant Executed"),
                    Some("2024-05-31 12:00"),
                ),
                now(),
            )
            .unwrap();
        let stages: Vec<Stage> = changes.iter().map(|c| c.package.stage()).collect();
        assert_eq!(
            stages,
            [
                Stage::IntelligenceDevelopment,
                Stage::AwaitingEnforcement,
                Stage::Enforced
            ]
        );
        let times: Vec<String> = changes.iter().map(|c| c.occurred_at.to_rfc3339()).collect();
        // British Summer Time: local 10:00 is 09:00 UTC.
        assert_eq!(
            times,
            [
                "2024-05-31T09:00:00+00:00",
                "2024-05-31T11:00:00+00:00",
                "2024-05-31T19:00:00+00:00"
            ]
        );
        let stop = changes[2].package.state().stop().copied().unwrap();
        assert_eq!(stop.outcome(), Outcome::WarrantExecuted);

        // Received ready for enforcement: awaiting_enforcement_at is the
        // receipt, or absent for an open package in that stage.
        let mut input = good();
        input.stage = "closed".into();
        let changes = rules()
            .admit_history(
                &input,
                &history(
                    Some("2024-05-31 20:00"),
                    Some("other"),
                    Some("2024-05-31 10:00"),
                ),
                now(),
            )
            .unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].package.stage(), Stage::AwaitingEnforcement);
        let changes = rules()
            .admit_history(&good(), &HistoryFields::default(), now())
            .unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].package.stage(), Stage::AwaitingEnforcement);
    }

    #[test]
    fn history_faults_name_their_column() {
        let fault = |stage: &str, h: HistoryFields| {
            let mut input = good();
            input.stage = stage.into();
            let errors = rules().admit_history(&input, &h, now()).unwrap_err();
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
        };
        let got = fault("awaiting_enforcement", history(None, Some("arrest"), None));
        assert!(
            got[0].starts_with("outcome: an outcome is allowed only with clock_stopped_at"),
            "{got:?}"
        );
        let got = fault(
            "enforced",
            history(Some("2024-05-31 09:00"), Some("arrest"), None),
        );
        assert!(
            got[0].starts_with("clock_stopped_at: is before the package was received"),
            "{got:?}"
        );
        let got = fault(
            "enforced",
            history(Some("2024-06-02 09:00"), Some("arrest"), None),
        );
        assert!(
            got[0].starts_with("clock_stopped_at: 2024-06-02T08:00:00+00:00 is in the future"),
            "{got:?}"
        );
        let got = fault(
            "closed",
            history(Some("2024-05-31 20:00"), Some("arrest"), None),
        );
        assert!(
            got[0].starts_with("outcome: outcome arrest does not fit stage closed"),
            "{got:?}"
        );
        let got = fault("closed", history(None, None, None));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("clock_stopped_at: a package in closed needs"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("outcome: a package in closed needs its outcome"),
            "{got:?}"
        );
        let got = fault(
            "enforced",
            history(
                Some("2024-05-31 12:00"),
                Some("arrest"),
                Some("2024-05-31 14:00"),
            ),
        );
        assert!(
            got[0].starts_with(
                "clock_stopped_at: is before the package entered awaiting_enforcement"
            ),
            "{got:?}"
        );
        let mut input = good();
        input.stage = "closed".into();
        input.child_access_identified_at = Some("2024-05-31 11:00".into());
        let got = rules()
            .admit_history(
                &input,
                &history(Some("2024-05-31 20:00"), Some("other"), None),
                now(),
            )
            .unwrap_err();
        assert_eq!(got[0].field, "safeguarding_referral_at");
    }
}
