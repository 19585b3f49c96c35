//! Tests of packages: status, moves, and ladder timing on a package.

use super::*;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::London;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn policy() -> DeadlinePolicy {
    DeadlinePolicy::new(
        Timescales::default(),
        London,
        RegradePolicy::FromReceipt,
        None,
    )
    .unwrap()
}

fn package(grade: RiskGrade, received: &str, stage: OpenStage) -> Package {
    let received_at = utc(received);
    Package::from_parts(PackageParts {
        reference: Reference::parse("NCA-1").unwrap(),
        received_at,
        lpa: Lpas::default().parse("Coventry").unwrap(),
        assigned_officer: None,
        deadline: policy().initial(grade, received_at),
        state: PackageState::Open {
            stage,
            since: received_at,
        },
        safeguarding: Safeguarding::default(),
        acknowledgement: None,
        review_clock_started_at: None,
    })
}

fn ladder() -> Vec<EscalationLevel> {
    default_ladder()
}

fn timing(levels: &[EscalationLevel]) -> LadderTiming<'_> {
    LadderTiming {
        levels,
        time_zone: London,
        referral_within: Timescale::Hours(24),
        review_every: Default::default(),
    }
}

#[test]
fn open_status_moves_from_on_track_to_due_soon_to_breached() {
    let levels = ladder();
    let t = timing(&levels);
    let p = package(
        RiskGrade::VeryHigh,
        "2024-01-01T00:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    assert_eq!(
        t.status(&p, utc("2024-01-01T00:00:00Z")),
        PackageStatus::OnTrack
    );
    assert_eq!(
        t.status(&p, utc("2024-01-02T11:59:59Z")),
        PackageStatus::OnTrack
    );
    assert_eq!(
        t.status(&p, utc("2024-01-02T12:00:00Z")),
        PackageStatus::DueSoon
    );
    assert_eq!(
        t.status(&p, utc("2024-01-02T23:59:59Z")),
        PackageStatus::DueSoon
    );
    assert_eq!(
        t.status(&p, utc("2024-01-03T00:00:00Z")),
        PackageStatus::Breached,
        "due at the deadline is breached"
    );
}

#[test]
fn enforced_exactly_at_the_deadline_is_met_a_second_later_missed() {
    let p = package(
        RiskGrade::High,
        "2024-01-01T09:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    let deadline = p.deadline().at();
    let now = deadline + Duration::days(30);
    let met = p
        .move_stage(Stage::Enforced, deadline, Some(Outcome::Arrest), None, now)
        .unwrap();
    assert_eq!(met.package.status(now, None), PackageStatus::Met);
    let late = deadline + Duration::seconds(1);
    let missed = p
        .move_stage(Stage::Enforced, late, Some(Outcome::Arrest), None, now)
        .unwrap();
    assert_eq!(missed.package.status(now, None), PackageStatus::Missed);
    let closed = p
        .move_stage(
            Stage::Closed,
            late,
            Some(Outcome::NoFurtherAction),
            None,
            now,
        )
        .unwrap();
    assert_eq!(closed.package.status(now, None), PackageStatus::Closed);
}

#[test]
fn stages_move_forward_only() {
    let now = utc("2024-01-05T00:00:00Z");
    let dev = package(
        RiskGrade::Medium,
        "2024-01-01T00:00:00Z",
        OpenStage::IntelligenceDevelopment,
    );
    let at = utc("2024-01-02T00:00:00Z");
    let awaiting = dev
        .move_stage(Stage::AwaitingEnforcement, at, None, None, now)
        .unwrap();
    assert_eq!(awaiting.package.stage(), Stage::AwaitingEnforcement);
    assert_eq!(awaiting.package.state().since(), at);
    assert_eq!(
        awaiting.event,
        EventKind::StageChanged {
            from: Stage::IntelligenceDevelopment,
            to: Stage::AwaitingEnforcement,
            outcome: None,
            note: None
        }
    );
    let back = awaiting
        .package
        .move_stage(Stage::IntelligenceDevelopment, now, None, None, now)
        .unwrap_err();
    assert_eq!(back.field, "stage");
    assert!(back.reason.contains("cannot move back"), "{back}");
    let same = awaiting
        .package
        .move_stage(Stage::AwaitingEnforcement, now, None, None, now)
        .unwrap_err();
    assert!(
        same.reason.contains("already in awaiting_enforcement"),
        "{same}"
    );
    // Straight from development to closed is allowed.
    assert!(dev
        .move_stage(Stage::Closed, at, Some(Outcome::Transferred), None, now)
        .is_ok());
}

#[test]
fn stopped_clocks_cannot_move_or_regrade() {
    let now = utc("2024-01-05T00:00:00Z");
    let p = package(
        RiskGrade::High,
        "2024-01-01T00:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    let enforced = p
        .move_stage(
            Stage::Enforced,
            utc("2024-01-03T00:00:00Z"),
            Some(Outcome::WarrantExecuted),
            Some("  "),
            now,
        )
        .unwrap()
        .package;
    for stage in Stage::ALL {
        let err = enforced
            .move_stage(stage, now, Some(Outcome::Other), None, now)
            .unwrap_err();
        assert!(err.reason.contains("clock has stopped"), "{err}");
    }
    let err = enforced
        .regrade(RiskGrade::VeryHigh, "new info", now, now, &policy())
        .unwrap_err();
    assert_eq!(err.field, "risk_grade");
}

#[test]
fn stopping_needs_a_fitting_outcome_and_a_sane_time() {
    let now = utc("2024-01-05T00:00:00Z");
    let p = package(
        RiskGrade::High,
        "2024-01-01T00:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    let at = utc("2024-01-03T00:00:00Z");
    assert_eq!(
        p.move_stage(Stage::Enforced, at, None, None, now)
            .unwrap_err()
            .field,
        "outcome"
    );
    assert_eq!(
        p.move_stage(
            Stage::Enforced,
            at,
            Some(Outcome::NoFurtherAction),
            None,
            now
        )
        .unwrap_err()
        .field,
        "outcome"
    );
    assert_eq!(
        p.move_stage(
            Stage::AwaitingEnforcement,
            at,
            Some(Outcome::Arrest),
            None,
            now
        )
        .unwrap_err()
        .field,
        "stage",
        "already awaiting"
    );
    let future = now + Duration::minutes(6);
    assert_eq!(
        p.move_stage(Stage::Enforced, future, Some(Outcome::Arrest), None, now)
            .unwrap_err()
            .field,
        "at"
    );
    let before_receipt = utc("2023-12-31T00:00:00Z");
    assert_eq!(
        p.move_stage(
            Stage::Enforced,
            before_receipt,
            Some(Outcome::Arrest),
            None,
            now
        )
        .unwrap_err()
        .field,
        "at"
    );
    let long_note = "x".repeat(2001);
    assert_eq!(
        p.move_stage(
            Stage::Enforced,
            at,
            Some(Outcome::Arrest),
            Some(&long_note),
            now
        )
        .unwrap_err()
        .field,
        "note"
    );
}

#[test]
fn regrade_records_both_deadlines_and_refuses_nonsense() {
    let now = utc("2024-01-10T10:00:00Z");
    let p = package(
        RiskGrade::Standard,
        "2024-01-01T10:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    let change = p
        .regrade(RiskGrade::High, " intel update ", now, now, &policy())
        .unwrap();
    assert_eq!(change.package.grade(), RiskGrade::High);
    match &change.event {
        EventKind::Regraded {
            from,
            to,
            reason,
            previous_deadline_at,
            deadline_at,
            ..
        } => {
            assert_eq!((*from, *to), (RiskGrade::Standard, RiskGrade::High));
            assert_eq!(reason, "intel update");
            assert_eq!(*previous_deadline_at, utc("2024-03-01T10:00:00Z"));
            assert_eq!(*deadline_at, utc("2024-01-08T10:00:00Z"));
        }
        other => panic!("unexpected event {other:?}"),
    }
    // Upgraded past its new deadline: breached at once.
    assert_eq!(change.package.status(now, None), PackageStatus::Breached);
    assert_eq!(
        p.regrade(RiskGrade::Standard, "x", now, now, &policy())
            .unwrap_err()
            .field,
        "risk_grade"
    );
    assert_eq!(
        p.regrade(RiskGrade::High, "  ", now, now, &policy())
            .unwrap_err()
            .field,
        "reason"
    );
}

#[test]
fn assignment_and_safeguarding_updates() {
    let now = utc("2024-01-05T00:00:00Z");
    let p = package(
        RiskGrade::High,
        "2024-01-01T00:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    let officer = OfficerEmail::parse("pc@force.police.uk").unwrap();
    let assigned = p.assign(officer.clone(), now).unwrap();
    assert_eq!(assigned.package.assigned_officer(), Some(&officer));
    assert!(assigned.package.assign(officer, now).is_err());

    let access = utc("2024-01-02T00:00:00Z");
    let first = p.update_safeguarding(Some(access), None, now).unwrap();
    assert_eq!(
        first.package.safeguarding().child_access_identified_at(),
        Some(access)
    );
    let referral = utc("2024-01-02T06:00:00Z");
    let second = first
        .package
        .update_safeguarding(None, Some(referral), now)
        .unwrap();
    assert_eq!(
        second.package.safeguarding().referral_made_at(),
        Some(referral)
    );
    assert_eq!(second.occurred_at, referral);
    // A recorded time cannot be rewritten, and a referral needs access first.
    assert!(second
        .package
        .update_safeguarding(Some(now), None, now)
        .is_err());
    assert!(p.update_safeguarding(None, Some(referral), now).is_err());
    assert!(p.update_safeguarding(None, None, now).is_err());
    assert!(p
        .update_safeguarding(Some(now + Duration::hours(1)), None, now)
        .is_err());
}

#[test]
fn first_due_covers_every_clock() {
    let levels = ladder();
    let t = timing(&levels);
    let now = utc("2024-01-05T00:00:00Z");
    let p = package(
        RiskGrade::Standard,
        "2024-01-01T00:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    // The first review, 14 days after receipt, comes before the warning
    // at 75% of 60 days = 45 days.
    assert_eq!(t.first_due(&p), Some(utc("2024-01-15T00:00:00Z")));
    let reviewed = p
        .review(
            None,
            "risk unchanged",
            utc("2024-01-04T00:00:00Z"),
            now,
            &policy(),
            &Default::default(),
        )
        .unwrap()
        .review
        .package;
    assert_eq!(t.first_due(&reviewed), Some(utc("2024-01-18T00:00:00Z")));
    let access = utc("2024-01-02T00:00:00Z");
    let with_access = p
        .update_safeguarding(Some(access), None, now)
        .unwrap()
        .package;
    assert_eq!(t.first_due(&with_access), Some(utc("2024-01-03T00:00:00Z")));
    let referred = with_access
        .update_safeguarding(None, Some(utc("2024-01-02T12:00:00Z")), now)
        .unwrap()
        .package;
    assert_eq!(t.first_due(&referred), Some(utc("2024-01-15T00:00:00Z")));
    let closed = referred
        .move_stage(
            Stage::Closed,
            now,
            Some(Outcome::NoFurtherAction),
            None,
            now,
        )
        .unwrap()
        .package;
    assert_eq!(t.first_due(&closed), None);
    // A closed package with an outstanding referral still has a running
    // safeguarding clock.
    let closed_with_access = with_access
        .move_stage(Stage::Closed, now, Some(Outcome::Transferred), None, now)
        .unwrap()
        .package;
    assert_eq!(
        t.first_due(&closed_with_access),
        Some(utc("2024-01-03T00:00:00Z"))
    );
}

#[test]
fn every_grade_has_its_default_deadline_and_warning() {
    let levels = ladder();
    let t = timing(&levels);
    let cases = [
        (
            RiskGrade::VeryHigh,
            "2024-01-03T00:00:00Z",
            "2024-01-02T12:00:00Z",
        ),
        (
            RiskGrade::High,
            "2024-01-08T00:00:00Z",
            "2024-01-06T06:00:00Z",
        ),
        (
            RiskGrade::Medium,
            "2024-01-22T00:00:00Z",
            "2024-01-16T18:00:00Z",
        ),
        (
            RiskGrade::Standard,
            "2024-03-01T00:00:00Z",
            "2024-02-15T00:00:00Z",
        ),
    ];
    for (grade, due, warn) in cases {
        let p = package(
            grade,
            "2024-01-01T00:00:00Z",
            OpenStage::AwaitingEnforcement,
        );
        assert_eq!(p.deadline().at(), utc(due), "{grade}");
        assert_eq!(t.due_soon_at(&p), Some(utc(warn)), "{grade}");
    }
}

#[test]
fn created_event_records_the_starting_facts() {
    let p = package(
        RiskGrade::Medium,
        "2024-01-01T00:00:00Z",
        OpenStage::IntelligenceDevelopment,
    );
    match p.created_event() {
        EventKind::Created {
            risk_grade,
            stage,
            deadline_at,
            policy_version,
            ..
        } => {
            assert_eq!(risk_grade, RiskGrade::Medium);
            assert_eq!(stage, Stage::IntelligenceDevelopment);
            assert_eq!(deadline_at, p.deadline().at());
            assert_eq!(policy_version, policy().version().as_str());
        }
        other => panic!("unexpected {other:?}"),
    }
    let json = serde_json::to_value(p.created_event()).unwrap();
    assert_eq!(json["kind"], "created");
}

#[test]
fn every_reason_and_note_passes_the_one_free_text_rule() {
    let p = package(
        RiskGrade::Medium,
        "2024-01-01T09:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    let now = utc("2024-03-01T09:00:00Z");
    let bad = [
        ("new\u{0}intel", "contains a control character"),
        ("tab\there", "contains a control character"),
        (
            "\u{202E}letni",
            "bidirectional formatting character (U+202E)",
        ),
        (
            "ok \u{2066}isolate",
            "bidirectional formatting character (U+2066)",
        ),
    ];
    for (text, says) in bad {
        let regrade = p
            .regrade(RiskGrade::High, text, now, now, &policy())
            .unwrap_err();
        assert_eq!(regrade.field, "reason", "{text:?}");
        assert!(
            regrade.reason.contains(says),
            "{text:?}: {}",
            regrade.reason
        );
        let ack = p
            .acknowledge(
                &crate::domain::BreachReasons::default()
                    .parse("resourcing")
                    .unwrap(),
                text,
                "token:sgt",
                now,
            )
            .unwrap_err();
        assert_eq!(ack.field, "note", "{text:?}");
        assert!(ack.reason.contains(says), "{text:?}: {}", ack.reason);
        let moved = p
            .move_stage(Stage::Closed, now, Some(Outcome::Other), Some(text), now)
            .unwrap_err();
        assert_eq!(moved.field, "note", "{text:?}");
        assert!(moved.reason.contains(says), "{text:?}: {}", moved.reason);
    }
    // A line break is a note's own; a reference may not hold one.
    assert!(p
        .acknowledge(
            &crate::domain::BreachReasons::default()
                .parse("resourcing")
                .unwrap(),
            "warrant sought\nsuspect away",
            "token:sgt",
            now
        )
        .is_ok());
    assert!(Reference::parse("EX\u{202E}-01").is_err());
    assert!(Reference::parse("EX\n01").is_err());
}

#[test]
fn an_acknowledgement_keeps_its_reason_and_other_is_explained_by_the_note() {
    let p = package(
        RiskGrade::VeryHigh,
        "2024-01-01T09:00:00Z",
        OpenStage::AwaitingEnforcement,
    );
    let now = p.deadline().at() + chrono::Duration::hours(1);
    let reasons = crate::domain::BreachReasons::default();
    let other = reasons.parse("other").unwrap();
    // "other" says nothing by itself: the note, always required, says what.
    let blank = p.acknowledge(&other, "  ", "token:sgt", now).unwrap_err();
    assert_eq!(blank.field, "note");
    let change = p
        .acknowledge(&other, "witness abroad until Friday", "token:sgt", now)
        .unwrap();
    let ack = change.package.acknowledgement().unwrap();
    assert_eq!(ack.reason.as_ref().map(|r| r.code()), Some("other"));
    let json = serde_json::to_value(&change.event).unwrap();
    assert_eq!(json["kind"], "acknowledged");
    assert_eq!(json["reason"], "other");
    // An event recorded before reasons reads back with none.
    let old: EventKind = serde_json::from_value(serde_json::json!({
        "kind": "acknowledged",
        "note": "warrant sought",
        "deadline_at": "2024-01-03T09:00:00Z"
    }))
    .unwrap();
    assert!(matches!(old, EventKind::Acknowledged { reason: None, .. }));
    // A stored code of the wrong shape is refused on reading.
    assert!(serde_json::from_value::<EventKind>(serde_json::json!({
        "kind": "acknowledged",
        "reason": "Not A Code",
        "note": "n",
        "deadline_at": "2024-01-03T09:00:00Z"
    }))
    .is_err());
}
