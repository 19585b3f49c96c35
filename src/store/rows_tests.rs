//! Tests of the row conversions: stored rows back to domain values, and
//! corrupt rows refused with the column named.

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn open_row() -> PackageRow {
    PackageRow {
        id: 7,
        reference: "NCA-0007".into(),
        risk_grade: "high".into(),
        stage: "awaiting_enforcement".into(),
        lpa: "Coventry".into(),
        assigned_officer: Some("pc.one@force.police.uk".into()),
        received_at: at("2024-05-01T09:00:00Z"),
        deadline_at: at("2024-05-08T09:00:00Z"),
        clock_started_at: at("2024-05-01T09:00:00Z"),
        policy_version: "national-2024".into(),
        stage_since: at("2024-05-02T09:00:00Z"),
        clock_stopped_at: None,
        outcome: None,
        child_access_identified_at: Some(at("2024-05-01T10:00:00Z")),
        safeguarding_referral_at: None,
        acknowledged_at: None,
        acknowledged_by: None,
        acknowledgement_note: None,
        acknowledged_deadline_at: None,
        acknowledgement_reason: None,
        review_clock_started_at: None,
    }
}

fn corrupt_message(row: PackageRow) -> String {
    match Package::try_from(row) {
        Err(StoreError::Corrupt(message)) => message,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_valid_row_becomes_the_package_it_stores() {
    let package = Package::try_from(open_row()).unwrap();
    assert_eq!(package.reference().as_str(), "NCA-0007");
    assert_eq!(package.grade(), RiskGrade::High);
    assert_eq!(package.stage(), Stage::AwaitingEnforcement);
    assert_eq!(package.state().since(), at("2024-05-02T09:00:00Z"));
    assert_eq!(
        package.deadline().policy_version().as_str(),
        "national-2024"
    );
    assert_eq!(
        package.safeguarding().child_access_identified_at(),
        Some(at("2024-05-01T10:00:00Z"))
    );
}

#[test]
fn a_corrupt_grade_names_the_package_and_the_column() {
    let mut row = open_row();
    row.risk_grade = "urgent".into();
    let message = corrupt_message(row);
    assert!(
        message.contains("package NCA-0007") && message.contains("column risk_grade"),
        "{message}"
    );
    assert!(message.contains("\"urgent\""), "{message}");
}

#[test]
fn every_inconsistent_column_is_refused() {
    type Spoil = Box<dyn Fn(&mut PackageRow)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("reference", Box::new(|r| r.reference = " ".into())),
        ("stage", Box::new(|r| r.stage = "pending".into())),
        (
            "assigned_officer",
            Box::new(|r| r.assigned_officer = Some("PC One".into())),
        ),
        (
            "policy_version",
            Box::new(|r| r.policy_version = String::new()),
        ),
        ("outcome", Box::new(|r| r.outcome = Some("arrested".into()))),
        (
            "clock_stopped_at",
            Box::new(|r| r.clock_stopped_at = Some(r.stage_since)),
        ),
        (
            "clock_stopped_at",
            Box::new(|r| r.stage = "enforced".into()),
        ),
        (
            "outcome",
            Box::new(|r| {
                r.stage = "closed".into();
                r.clock_stopped_at = Some(r.stage_since);
                r.outcome = Some("arrest".into());
            }),
        ),
        (
            "stage_since",
            Box::new(|r| {
                r.stage = "enforced".into();
                r.clock_stopped_at = Some(at("2024-05-03T09:00:00Z"));
                r.outcome = Some("arrest".into());
            }),
        ),
        (
            "safeguarding_referral_at",
            Box::new(|r| r.safeguarding_referral_at = Some(at("2024-05-01T09:30:00Z"))),
        ),
        (
            "acknowledged_at",
            Box::new(|r| r.acknowledgement_note = Some("warrant sought".into())),
        ),
        (
            "acknowledged_at",
            Box::new(|r| r.acknowledgement_reason = Some("resourcing".into())),
        ),
        (
            "acknowledgement_reason",
            Box::new(|r| {
                r.acknowledged_at = Some(at("2024-05-09T09:00:00Z"));
                r.acknowledged_by = Some("token:sergeant".into());
                r.acknowledgement_note = Some("warrant being sought".into());
                r.acknowledged_deadline_at = Some(r.deadline_at);
                r.acknowledgement_reason = Some("Not A Code".into());
            }),
        ),
    ];
    for (column, spoil) in cases {
        let mut row = open_row();
        spoil(&mut row);
        let message = corrupt_message(row);
        assert!(
            message.contains(&format!("column {column}:")),
            "{column}: {message}"
        );
    }
}

#[test]
fn a_stopped_row_restores_its_clock_stop() {
    let mut row = open_row();
    row.stage = "enforced".into();
    row.clock_stopped_at = Some(row.stage_since);
    row.outcome = Some("warrant_executed".into());
    let package = Package::try_from(row).unwrap();
    let stop = package.state().stop().unwrap();
    assert_eq!(stop.kind(), StopKind::Enforced);
    assert_eq!(stop.outcome(), Outcome::WarrantExecuted);
    assert_eq!(stop.at(), at("2024-05-02T09:00:00Z"));
}

#[test]
fn an_acknowledged_row_restores_its_acknowledgement() {
    let mut row = open_row();
    row.acknowledged_at = Some(at("2024-05-09T09:00:00Z"));
    row.acknowledged_by = Some("token:sergeant".into());
    row.acknowledgement_note = Some("warrant being sought".into());
    row.acknowledged_deadline_at = Some(row.deadline_at);
    let package = Package::try_from(row).unwrap();
    let acknowledgement = package.acknowledgement().unwrap();
    assert_eq!(acknowledgement.at, at("2024-05-09T09:00:00Z"));
    assert_eq!(acknowledgement.by, "token:sergeant");
    assert_eq!(acknowledgement.note, "warrant being sought");
    assert_eq!(acknowledgement.deadline_at, at("2024-05-08T09:00:00Z"));
    assert_eq!(acknowledgement.reason, None, "recorded before reasons");
}

#[test]
fn an_acknowledged_row_restores_its_reason() {
    let mut row = open_row();
    row.acknowledged_at = Some(at("2024-05-09T09:00:00Z"));
    row.acknowledged_by = Some("token:sergeant".into());
    row.acknowledgement_note = Some("warrant being sought".into());
    row.acknowledged_deadline_at = Some(row.deadline_at);
    row.acknowledgement_reason = Some("suspect_not_located".into());
    let package = Package::try_from(row).unwrap();
    let reason = package.acknowledgement().unwrap().reason.as_ref();
    assert_eq!(reason.map(|r| r.code()), Some("suspect_not_located"));
}

fn event_row(kind: &str, details: &str) -> EventRow {
    EventRow {
        id: 3,
        reference: "NCA-0007".into(),
        kind: kind.into(),
        occurred_at: at("2024-05-02T09:00:00Z"),
        recorded_at: at("2024-05-02T09:01:00Z"),
        actor: "cli:sergeant".into(),
        risk_grade: "high".into(),
        stage: "awaiting_enforcement".into(),
        deadline_at: at("2024-05-08T09:00:00Z"),
        details: details.into(),
    }
}

#[test]
fn event_rows_read_their_details_and_refuse_a_mismatched_kind() {
    let details = r#"{"kind":"assigned","from":null,"to":"pc.one@force.police.uk"}"#;
    let event = LedgerEvent::try_from(event_row("assigned", details)).unwrap();
    assert_eq!(event.sequence, 3);
    assert_eq!(
        event.kind,
        EventKind::Assigned {
            from: None,
            to: "pc.one@force.police.uk".into()
        }
    );
    let Err(StoreError::Corrupt(message)) = LedgerEvent::try_from(event_row("regraded", details))
    else {
        panic!("a kind that disagrees with the details must be refused");
    };
    assert!(
        message.contains("event 3 of package NCA-0007, column kind"),
        "{message}"
    );
    let Err(StoreError::Corrupt(message)) = LedgerEvent::try_from(event_row("assigned", "{"))
    else {
        panic!("unreadable details must be refused");
    };
    assert!(message.contains("column details"), "{message}");
}

#[test]
fn stored_instants_keep_microseconds_and_drop_nanoseconds() {
    let t = at("2024-05-02T09:00:00.123456789Z");
    assert_eq!(stored_instant(t), at("2024-05-02T09:00:00.123456Z"));
}
