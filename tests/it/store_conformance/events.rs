//! The event ledger: events in order with their actor and recorded time, the
//! ledger before an instant, acknowledgements, and that it is append-only.

use super::fixtures::{
    admitted, at, audit_log, breached, entry, insert, line, migrated, now, plain, policy,
    reference, requester, stored,
};
use super::harness::Raw;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{
    Acknowledgement, BreachReason, EventKind, OfficerEmail, RiskGrade, Stage,
};
use ocset_scheduler::store::{Actor, Store, StoreError};
use std::sync::Arc;

conformance! {
    store: [
        events_come_back_oldest_first_with_actor_and_recorded_time,
        the_ledger_before_an_instant_comes_back_in_sequence_by_occurrence,
        an_acknowledgement_is_stored_in_the_ledger_and_the_audit_log,
    ],
    raw: [
        the_event_ledger_refuses_update_and_delete,
    ],
    db: [],
    postgres_only: [],
}

async fn events_come_back_oldest_first_with_actor_and_recorded_time(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-L"), plain("NCA-OTHER")]).await;
    let officer = OfficerEmail::parse("pc.two@force.police.uk").unwrap();
    let changes: Vec<(&str, ocset_scheduler::store::PackageChange)> = vec![
        (
            "token:one",
            Box::new(move |p| p.assign(officer, now()).map(|c| entry(c, Some(now())))),
        ),
        (
            "token:two",
            Box::new(|p| {
                p.update_safeguarding(Some(at("2024-05-31T08:00:00Z")), None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        ),
        (
            "cli:three",
            Box::new(|p| {
                p.move_stage(
                    Stage::AwaitingEnforcement,
                    at("2024-05-31T09:00:00Z"),
                    None,
                    None,
                    now(),
                )
                .map(|c| entry(c, Some(now())))
            }),
        ),
    ];
    for (i, (actor, change)) in changes.into_iter().enumerate() {
        let recorded_at = now() + Duration::minutes(10 * (i as i64 + 1));
        store
            .update_package(
                &reference("NCA-L"),
                &Actor::named(actor),
                recorded_at,
                change,
            )
            .await
            .unwrap();
        // Interleave another package's events, which must not show up.
        store
            .update_package(
                &reference("NCA-OTHER"),
                &Actor::named("token:noise"),
                recorded_at,
                Box::new(move |p| {
                    let officer =
                        OfficerEmail::parse(&format!("pc.noise{i}@force.police.uk")).unwrap();
                    p.assign(officer, now()).map(|c| entry(c, Some(now())))
                }),
            )
            .await
            .unwrap();
    }
    let events = store.events(&reference("NCA-L")).await.unwrap();
    let summary: Vec<(&str, &str, DateTime<Utc>)> = events
        .iter()
        .map(|e| (e.kind.name(), e.actor.as_str(), e.recorded_at))
        .collect();
    assert_eq!(
        summary,
        [
            ("created", "cli:test", now()),
            ("assigned", "token:one", now() + Duration::minutes(10)),
            (
                "safeguarding_updated",
                "token:two",
                now() + Duration::minutes(20)
            ),
            ("stage_changed", "cli:three", now() + Duration::minutes(30)),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert!(events.iter().all(|e| e.reference.as_str() == "NCA-L"));
    let back = stored(&store, "NCA-L").await;
    assert_eq!(
        back.safeguarding().child_access_identified_at(),
        Some(at("2024-05-31T08:00:00Z"))
    );
    assert_eq!(
        back.assigned_officer().unwrap().as_str(),
        "pc.two@force.police.uk"
    );
}

async fn the_ledger_before_an_instant_comes_back_in_sequence_by_occurrence(store: Arc<dyn Store>) {
    migrated(&store).await;
    // Received on 20 May (plain) and 25 May.
    let later = admitted(
        "NCA-B",
        "medium",
        "2024-05-25 10:00",
        "Solihull",
        "awaiting_enforcement",
    );
    insert(&store, vec![plain("NCA-A"), later]).await;
    // A stage move recorded now but effective on 22 May: it counts from
    // when it happened, and comes after the creations in sequence.
    store
        .update_package(
            &reference("NCA-A"),
            &Actor::named("cli:test"),
            now(),
            Box::new(|p| {
                p.move_stage(
                    Stage::AwaitingEnforcement,
                    at("2024-05-22T09:00:00Z"),
                    None,
                    None,
                    now(),
                )
                .map(|c| entry(c, Some(now())))
            }),
        )
        .await
        .unwrap();
    let summary =
        |events: Vec<ocset_scheduler::store::LedgerEvent>| -> Vec<(String, &'static str, Stage)> {
            events
                .into_iter()
                .map(|e| (e.reference.to_string(), e.kind.name(), e.stage))
                .collect()
        };
    assert_eq!(
        summary(
            store
                .events_before(at("2024-05-20T09:00:00Z"))
                .await
                .unwrap()
        ),
        []
    );
    assert_eq!(
        summary(
            store
                .events_before(at("2024-05-23T00:00:00Z"))
                .await
                .unwrap()
        ),
        [
            ("NCA-A".into(), "created", Stage::IntelligenceDevelopment),
            ("NCA-A".into(), "stage_changed", Stage::AwaitingEnforcement),
        ]
    );
    let all = store.events_before(now()).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_eq!(
        summary(all),
        [
            ("NCA-A".into(), "created", Stage::IntelligenceDevelopment),
            ("NCA-B".into(), "created", Stage::AwaitingEnforcement),
            ("NCA-A".into(), "stage_changed", Stage::AwaitingEnforcement),
        ]
    );
    // The bound is exclusive: an event at the instant itself is not before it.
    let received_b = stored(&store, "NCA-B").await.received_at();
    let before_b = store.events_before(received_b).await.unwrap();
    assert!(before_b.iter().all(|e| e.reference.as_str() == "NCA-A"));
}

async fn the_event_ledger_refuses_update_and_delete(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1"), plain("NCA-2")]).await;
    let before = store.events(&reference("NCA-1")).await.unwrap();
    for statement in [
        "UPDATE package_events SET actor = 'someone else'",
        "UPDATE package_events SET details = '{}' WHERE id = (SELECT MIN(id) FROM package_events)",
        "DELETE FROM package_events",
        "DELETE FROM package_events WHERE id = (SELECT MAX(id) FROM package_events)",
    ] {
        let error = raw
            .execute(statement)
            .await
            .expect_err(&format!("{statement} must be refused"));
        assert!(
            error.contains("package_events is append-only"),
            "{statement}: {error}"
        );
    }
    assert_eq!(store.events(&reference("NCA-1")).await.unwrap(), before);
    assert_eq!(store.events(&reference("NCA-2")).await.unwrap().len(), 1);
}

async fn an_acknowledgement_is_stored_in_the_ledger_and_the_audit_log(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![breached("NCA-ACK")]).await;
    let supervisor = requester("token:sergeant", "req-ack");
    let at = now();
    let acknowledged = store
        .update_package(
            &reference("NCA-ACK"),
            &supervisor,
            at,
            Box::new(move |p| {
                p.acknowledge(
                    &ocset_scheduler::domain::BreachReasons::default()
                        .parse("resourcing")
                        .unwrap(),
                    "  warrant being sought  ",
                    "token:sergeant",
                    at,
                )
                .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let back = stored(&store, "NCA-ACK").await;
    assert_eq!(back, acknowledged);
    let acknowledgement = back.acknowledgement().expect("acknowledged");
    assert_eq!(
        acknowledgement,
        &Acknowledgement {
            at,
            by: "token:sergeant".into(),
            reason: Some(BreachReason::try_from("resourcing".to_string()).unwrap()),
            note: "warrant being sought".into(),
            deadline_at: back.deadline().at(),
        }
    );

    let events = store.events(&reference("NCA-ACK")).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        last.kind,
        EventKind::Acknowledged {
            reason: Some(BreachReason::try_from("resourcing".to_string()).unwrap()),
            note: "warrant being sought".into(),
            deadline_at: back.deadline().at(),
        }
    );
    assert_eq!(last.actor, "token:sergeant");
    let log = audit_log(&store, Some("NCA-ACK")).await;
    assert_eq!(
        log.last().unwrap(),
        &line(
            at,
            "token:sergeant",
            "package.acknowledged",
            Some("NCA-ACK"),
            Some("req-ack"),
            None
        )
    );

    // A second acknowledgement of the same breach is refused, and leaves
    // the first as it was.
    let refused = store
        .update_package(
            &reference("NCA-ACK"),
            &supervisor,
            at,
            Box::new(move |p| {
                p.acknowledge(
                    &ocset_scheduler::domain::BreachReasons::default()
                        .parse("resourcing")
                        .unwrap(),
                    "again",
                    "token:other",
                    at,
                )
                .map(|c| entry(c, None))
            }),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    assert_eq!(stored(&store, "NCA-ACK").await, back);

    // A regrade moves the deadline: the acknowledgement is kept, for the
    // old deadline, and no longer counts.
    let regraded = store
        .update_package(
            &reference("NCA-ACK"),
            &supervisor,
            at,
            Box::new(move |p| {
                p.regrade(RiskGrade::VeryHigh, "new intelligence", at, at, &policy())
                    .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let back = stored(&store, "NCA-ACK").await;
    assert_eq!(back, regraded);
    assert!(back.acknowledgement().is_none());
    assert_eq!(
        back.parts().acknowledgement.as_ref().map(|a| a.deadline_at),
        Some(acknowledged.deadline().at())
    );
}
