//! Packages: migrations and readiness, inserting, reading back, and changes
//! (regrades, stage moves, clock stops) that write a package and its event.

use super::fixtures::{
    admitted, at, created, entry, insert, migrated, now, plain, policy, reference, rules, stored,
    warning_at,
};
use super::harness::Raw;
use chrono::Duration;
use ocset_scheduler::domain::{
    ClockStop, Deadline, EventKind, Lpas, OfficerEmail, OpenStage, Outcome, Package, PackageParts,
    PackageState, PolicyVersion, Reference, RiskGrade, Safeguarding, Stage, StopKind,
};
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::{Actor, LedgerEntry, PackageFilter, Store, StoreError};
use std::sync::Arc;

conformance! {
    store: [
        migrating_twice_is_harmless_and_readiness_follows_it,
        inserted_packages_read_back_exactly,
        times_are_kept_to_the_microsecond_on_every_backend,
        a_duplicate_reference_fails_the_whole_batch,
        references_are_unique_and_found_whatever_their_case,
        a_regrade_writes_the_new_deadline_and_appends_its_event,
        a_refused_change_writes_nothing,
        updating_a_missing_package_is_not_found,
        concurrent_changes_to_one_package_all_land_in_turn,
        a_large_batch_inserts_in_one_call,
    ],
    raw: [
        readiness_needs_every_migration_applied_successfully,
        a_ledger_holding_references_differing_in_case_is_not_migrated_silently,
        an_acknowledgement_from_before_breach_reasons_reads_with_no_reason,
        stopping_the_clock_stores_the_stop_and_clears_next_due,
    ],
    db: [],
    postgres_only: [],
}

async fn migrating_twice_is_harmless_and_readiness_follows_it(store: Arc<dyn Store>) {
    assert!(
        !store.is_ready().await.unwrap(),
        "a new database is not ready"
    );
    store.migrate().await.unwrap();
    assert!(store.is_ready().await.unwrap());
    insert(&store, vec![plain("NCA-1")]).await;
    store
        .migrate()
        .await
        .expect("a second migration is harmless");
    assert!(store.is_ready().await.unwrap());
    assert_eq!(stored(&store, "NCA-1").await, plain("NCA-1"));
}

async fn readiness_needs_every_migration_applied_successfully(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    assert!(store.is_ready().await.unwrap());
    // `(1 = 0)` is false on both backends, whatever their boolean type.
    raw.execute("UPDATE _sqlx_migrations SET success = (1 = 0)")
        .await
        .unwrap();
    assert!(
        !store.is_ready().await.unwrap(),
        "a failed migration is not ready"
    );
    raw.execute("DELETE FROM _sqlx_migrations").await.unwrap();
    assert!(
        !store.is_ready().await.unwrap(),
        "a missing migration is not ready"
    );
}

async fn a_ledger_holding_references_differing_in_case_is_not_migrated_silently(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    // A ledger from before migration 0003: two references differing only
    // in case, made here by dropping the index and renaming one.
    migrated(&store).await;
    insert(&store, vec![plain("D-2"), plain("X-2")]).await;
    raw.execute("DROP INDEX packages_reference_folded")
        .await
        .unwrap();
    raw.execute("DELETE FROM _sqlx_migrations WHERE version = 3")
        .await
        .unwrap();
    raw.execute("UPDATE packages SET reference = 'd-2' WHERE reference = 'X-2'")
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err().to_string();
    assert!(
        err.contains("references differing only in case must be made distinct"),
        "{err}"
    );
    // Once one is renamed, the migration goes through.
    raw.execute("UPDATE packages SET reference = 'X-2' WHERE reference = 'd-2'")
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert!(store.is_ready().await.unwrap());
    assert!(store
        .insert_packages(&[created(plain("x-2"))], &Actor::named("cli:test"), now())
        .await
        .is_err());
}

async fn an_acknowledgement_from_before_breach_reasons_reads_with_no_reason(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    // A ledger from before migration 0004: an acknowledged package, and no
    // reason column (dropped here, as it was before the migration).
    migrated(&store).await;
    insert(&store, vec![plain("ACK-OLD"), plain("NOT-ACK")]).await;
    raw.execute(
        "UPDATE packages SET acknowledged_at = deadline_at, acknowledged_by = 'token:sgt', \
         acknowledgement_note = 'warrant sought', acknowledged_deadline_at = deadline_at \
         WHERE reference = 'ACK-OLD'",
    )
    .await
    .unwrap();
    raw.execute("ALTER TABLE packages DROP COLUMN acknowledgement_reason")
        .await
        .unwrap();
    raw.execute("DELETE FROM _sqlx_migrations WHERE version = 4")
        .await
        .unwrap();
    store
        .migrate()
        .await
        .expect("migration 0004 on an old ledger");
    let old = stored(&store, "ACK-OLD").await;
    let acknowledgement = old.acknowledgement().expect("still acknowledged");
    assert_eq!(acknowledgement.note, "warrant sought");
    assert_eq!(acknowledgement.reason, None, "no reason recorded");
    // A reason belongs to an acknowledgement, and is a code.
    for bad in [
        "UPDATE packages SET acknowledgement_reason = 'resourcing' WHERE reference = 'NOT-ACK'",
        "UPDATE packages SET acknowledgement_reason = 'Not a code' WHERE reference = 'ACK-OLD'",
    ] {
        assert!(raw.execute(bad).await.is_err(), "{bad}");
    }
    raw.execute(
        "UPDATE packages SET acknowledgement_reason = 'resourcing' WHERE reference = 'ACK-OLD'",
    )
    .await
    .unwrap();
    let reason = stored(&store, "ACK-OLD")
        .await
        .acknowledgement()
        .unwrap()
        .reason
        .clone();
    assert_eq!(reason.as_ref().map(|r| r.code()), Some("resourcing"));
}

async fn inserted_packages_read_back_exactly(store: Arc<dyn Store>) {
    migrated(&store).await;
    let assigned = rules()
        .admit(
            &NewPackage {
                reference: "NCA-2024-0001".into(),
                risk_grade: "VH".into(),
                received_at: "2024-05-31 10:00".into(),
                lpa: "birmingham".into(),
                stage: "awaiting enforcement".into(),
                assigned_officer: Some("PC.One@Force.Police.UK".into()),
                child_access_identified_at: Some("2024-05-31 11:00".into()),
                safeguarding_referral_at: Some("2024-05-31T10:30:00Z".into()),
            },
            now(),
        )
        .unwrap();
    let unassigned = plain("NCA-2024-0002");
    // A deadline counted from a regrade, under another policy, so the
    // clock start and the version cannot be mistaken for derived values.
    let received = at("2024-05-01T08:00:00Z");
    let regraded = Package::from_parts(PackageParts {
        reference: reference("NCA-2024-0003"),
        received_at: received,
        lpa: Lpas::restore("Solihull".into()),
        assigned_officer: None,
        deadline: Deadline::restore(
            RiskGrade::Medium,
            at("2024-05-24T08:00:00Z"),
            at("2024-05-03T08:00:00Z"),
            PolicyVersion::new("timescales-0a1b2c3d4e5f"),
        ),
        state: PackageState::Open {
            stage: OpenStage::AwaitingEnforcement,
            since: at("2024-05-02T09:15:00Z"),
        },
        safeguarding: Safeguarding::new(Some(at("2024-05-01T09:00:00Z")), None).unwrap(),
        acknowledgement: None,
        review_clock_started_at: Some(at("2024-05-06T10:00:00.5Z")),
    });
    // A package imported already closed.
    let mut closed_parts = plain("NCA-2024-0004").parts().clone();
    closed_parts.state = PackageState::Stopped(
        ClockStop::new(
            StopKind::Closed,
            at("2024-05-25T16:45:00Z"),
            Outcome::Transferred,
        )
        .unwrap(),
    );
    let closed = Package::from_parts(closed_parts);
    let all = [assigned, unassigned, regraded, closed];
    let recorded_at = now() + Duration::minutes(3);
    let entries: Vec<LedgerEntry> = all.iter().cloned().map(created).collect();
    store
        .insert_packages(&entries, &Actor::named("cli:import"), recorded_at)
        .await
        .unwrap();

    for (package, entry) in all.iter().zip(&entries) {
        assert_eq!(&stored(&store, package.reference().as_str()).await, package);
        let events = store.events(package.reference()).await.unwrap();
        assert_eq!(events.len(), 1, "{}", package.reference());
        let event = &events[0];
        assert_eq!(&event.reference, package.reference());
        assert_eq!(event.kind, package.created_event());
        assert_eq!(event.occurred_at, entry.occurred_at);
        assert_eq!(event.recorded_at, recorded_at);
        assert_eq!(event.actor, "cli:import");
        assert_eq!(event.risk_grade, package.grade());
        assert_eq!(event.stage, package.stage());
        assert_eq!(event.deadline_at, package.deadline().at());
    }
    let first = stored(&store, "NCA-2024-0001").await;
    assert_eq!(
        first.assigned_officer().unwrap().as_str(),
        "pc.one@force.police.uk"
    );
    assert_eq!(
        first.safeguarding().referral_made_at(),
        Some(at("2024-05-31T10:30:00Z"))
    );
    assert_eq!(first.deadline().policy_version().as_str(), "national-2024");
    let third = stored(&store, "NCA-2024-0003").await;
    assert_eq!(
        third.deadline().clock_started_at(),
        at("2024-05-03T08:00:00Z")
    );
    assert!(stored(&store, "NCA-2024-0002")
        .await
        .assigned_officer()
        .is_none());
    assert!(store
        .package(&reference("NCA-2024-0099"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .events(&reference("NCA-2024-0099"))
        .await
        .unwrap()
        .is_empty());
}

async fn times_are_kept_to_the_microsecond_on_every_backend(store: Arc<dyn Store>) {
    migrated(&store).await;
    let package = admitted(
        "NCA-PRECISE",
        "high",
        "2024-05-31T10:00:00.123456789Z",
        "Coventry",
        "intelligence_development",
    );
    let recorded_at = at("2024-06-01T12:00:00.987654321Z");
    store
        .insert_packages(&[created(package)], &Actor::named("cli:test"), recorded_at)
        .await
        .unwrap();
    let back = stored(&store, "NCA-PRECISE").await;
    assert_eq!(back.received_at(), at("2024-05-31T10:00:00.123456Z"));
    assert_eq!(back.state().since(), at("2024-05-31T10:00:00.123456Z"));
    let events = store.events(&reference("NCA-PRECISE")).await.unwrap();
    assert_eq!(events[0].recorded_at, at("2024-06-01T12:00:00.987654Z"));
}

async fn a_duplicate_reference_fails_the_whole_batch(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1")]).await;

    // Already stored: the middle of a batch of three.
    let batch: Vec<LedgerEntry> = ["NCA-2", "NCA-1", "NCA-3"]
        .map(|r| created(plain(r)))
        .into();
    match store
        .insert_packages(&batch, &Actor::named("cli:test"), now())
        .await
    {
        Err(StoreError::Duplicate(duplicate)) => assert_eq!(duplicate.as_str(), "NCA-1"),
        other => panic!("expected Duplicate(NCA-1), got {other:?}"),
    }
    // Twice within one batch.
    let batch: Vec<LedgerEntry> = ["NCA-4", "NCA-5", "NCA-4"]
        .map(|r| created(plain(r)))
        .into();
    match store
        .insert_packages(&batch, &Actor::named("cli:test"), now())
        .await
    {
        Err(StoreError::Duplicate(duplicate)) => assert_eq!(duplicate.as_str(), "NCA-4"),
        other => panic!("expected Duplicate(NCA-4), got {other:?}"),
    }

    for absent in ["NCA-2", "NCA-3", "NCA-4", "NCA-5"] {
        assert!(
            store.package(&reference(absent)).await.unwrap().is_none(),
            "{absent} was written"
        );
        assert!(
            store.events(&reference(absent)).await.unwrap().is_empty(),
            "{absent} has events"
        );
    }
    assert_eq!(store.count_packages().await.unwrap().total, 1);
    assert_eq!(store.events(&reference("NCA-1")).await.unwrap().len(), 1);
    // The store is still usable, and the refused references can be stored.
    insert(&store, vec![plain("NCA-2"), plain("NCA-3")]).await;
    assert_eq!(store.count_packages().await.unwrap().total, 3);
}

async fn references_are_unique_and_found_whatever_their_case(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("D-2")]).await;
    let actor = Actor::named("cli:test");

    // Differing only in case: a duplicate, alone or in a batch.
    match store
        .insert_packages(&[created(plain("d-2"))], &actor, now())
        .await
    {
        Err(StoreError::Duplicate(duplicate)) => assert_eq!(duplicate.as_str(), "d-2"),
        other => panic!("expected Duplicate(d-2), got {other:?}"),
    }
    let batch: Vec<LedgerEntry> = ["E-3", "e-3"].map(|r| created(plain(r))).into();
    match store.insert_packages(&batch, &actor, now()).await {
        Err(StoreError::Duplicate(duplicate)) => assert_eq!(duplicate.as_str(), "e-3"),
        other => panic!("expected Duplicate(e-3), got {other:?}"),
    }
    assert_eq!(store.count_packages().await.unwrap().total, 1);
    let existing = store
        .existing_references(&[reference("d-2"), reference("E-3")])
        .await
        .unwrap();
    assert_eq!(existing, vec![reference("d-2")], "each returned as asked");

    // Found in any case, holding the reference as first given; its history
    // too, through the reference as stored.
    let found = stored(&store, "d-2").await;
    assert_eq!(found.reference().as_str(), "D-2");
    assert_eq!(store.events(found.reference()).await.unwrap().len(), 1);

    // Changed in any case: the stored row, under its stored reference.
    let updated = store
        .update_package(
            &reference("d-2"),
            &actor,
            now(),
            Box::new(move |package| {
                package
                    .regrade(
                        RiskGrade::High,
                        "new intelligence",
                        at("2024-05-21T09:30:00Z"),
                        now(),
                        &policy(),
                    )
                    .map(|change| entry(change, None))
            }),
        )
        .await
        .unwrap();
    assert_eq!(updated.reference().as_str(), "D-2");
    assert_eq!(stored(&store, "D-2").await.grade(), RiskGrade::High);
    assert_eq!(store.events(&reference("D-2")).await.unwrap().len(), 2);
    assert_eq!(store.count_packages().await.unwrap().total, 1);
}

async fn a_regrade_writes_the_new_deadline_and_appends_its_event(store: Arc<dyn Store>) {
    migrated(&store).await;
    let original = plain("NCA-R");
    insert(&store, vec![original.clone()]).await;
    let regraded_at = at("2024-05-21T09:30:00Z");
    let recorded_at = now() + Duration::hours(1);
    let next_due = at("2024-05-25T16:00:00Z");
    let updated = store
        .update_package(
            &reference("NCA-R"),
            &Actor::named("token:sergeant"),
            recorded_at,
            Box::new(move |package| {
                package
                    .regrade(
                        RiskGrade::High,
                        "new intelligence",
                        regraded_at,
                        now(),
                        &policy(),
                    )
                    .map(|change| entry(change, Some(next_due)))
            }),
        )
        .await
        .unwrap();
    // From receipt (2024-05-20 10:00 London) plus seven calendar days.
    let expected_deadline = at("2024-05-27T09:00:00Z");
    assert_eq!(updated.grade(), RiskGrade::High);
    assert_eq!(updated.deadline().at(), expected_deadline);
    assert_eq!(stored(&store, "NCA-R").await, updated);
    let events = store.events(&reference("NCA-R")).await.unwrap();
    assert_eq!(events.len(), 2);
    let event = &events[1];
    assert_eq!(
        event.kind,
        EventKind::Regraded {
            from: RiskGrade::Standard,
            to: RiskGrade::High,
            reason: "new intelligence".into(),
            previous_deadline_at: original.deadline().at(),
            deadline_at: expected_deadline,
            policy_version: "national-2024".into(),
        }
    );
    assert_eq!(event.occurred_at, regraded_at);
    assert_eq!(event.recorded_at, recorded_at);
    assert_eq!(event.actor, "token:sergeant");
    assert_eq!(event.risk_grade, RiskGrade::High);
    assert_eq!(event.stage, Stage::IntelligenceDevelopment);
    assert_eq!(event.deadline_at, expected_deadline);
    // The created event still records the state before.
    assert_eq!(events[0].risk_grade, RiskGrade::Standard);
    assert_eq!(events[0].deadline_at, original.deadline().at());
}

async fn a_refused_change_writes_nothing(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-X")]).await;
    let stop_at = at("2024-05-22T10:00:00Z");
    store
        .update_package(
            &reference("NCA-X"),
            &Actor::named("cli:test"),
            now(),
            Box::new(move |p| {
                p.move_stage(
                    Stage::Closed,
                    stop_at,
                    Some(Outcome::NoFurtherAction),
                    None,
                    now(),
                )
                .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let before = stored(&store, "NCA-X").await;

    // A stopped package cannot move.
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &Actor::named("cli:test"),
            now(),
            Box::new(move |p| {
                p.move_stage(Stage::AwaitingEnforcement, now(), None, None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        )
        .await;
    match refused {
        Err(StoreError::Refused(refusal)) => assert_eq!(refusal.field, "stage"),
        other => panic!("expected Refused, got {other:?}"),
    }
    // A change may not swap in another package's state.
    let other = plain("NCA-OTHER");
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &Actor::named("cli:test"),
            now(),
            Box::new(move |_| Ok(created(other))),
        )
        .await;
    match refused {
        Err(StoreError::Refused(refusal)) => assert_eq!(refusal.field, "reference"),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(stored(&store, "NCA-X").await, before);
    assert_eq!(store.events(&reference("NCA-X")).await.unwrap().len(), 2);
    assert!(store
        .package(&reference("NCA-OTHER"))
        .await
        .unwrap()
        .is_none());
}

async fn updating_a_missing_package_is_not_found(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1")]).await;
    let result = store
        .update_package(
            &reference("NCA-404"),
            &Actor::named("cli:test"),
            now(),
            Box::new(|_| panic!("the change must not run for a missing package")),
        )
        .await;
    match result {
        Err(StoreError::NotFound(missing)) => assert_eq!(missing.as_str(), "NCA-404"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(store
        .package(&reference("NCA-404"))
        .await
        .unwrap()
        .is_none());
}

async fn stopping_the_clock_stores_the_stop_and_clears_next_due(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let package = admitted(
        "NCA-S",
        "high",
        "2024-05-28 08:00",
        "Solihull",
        "awaiting_enforcement",
    );
    let warning = warning_at(&package);
    insert(&store, vec![package]).await;
    assert_eq!(raw.next_due_at("NCA-S").await, Some(warning));

    let enforced_at = at("2024-05-30T06:00:00Z");
    let updated = store
        .update_package(
            &reference("NCA-S"),
            &Actor::named("token:ppu"),
            now(),
            Box::new(move |p| {
                p.move_stage(
                    Stage::Enforced,
                    enforced_at,
                    Some(Outcome::Arrest),
                    Some("early morning"),
                    now(),
                )
                .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let back = stored(&store, "NCA-S").await;
    assert_eq!(back, updated);
    assert_eq!(back.stage(), Stage::Enforced);
    let stop = back.state().stop().expect("the clock has stopped");
    assert_eq!(
        (stop.kind(), stop.at(), stop.outcome()),
        (StopKind::Enforced, enforced_at, Outcome::Arrest)
    );
    assert_eq!(back.state().since(), enforced_at);
    assert_eq!(raw.next_due_at("NCA-S").await, None);
    let open = PackageFilter {
        open_only: true,
        ..PackageFilter::default()
    };
    assert!(store.list_packages(&open).await.unwrap().is_empty());
    let events = store.events(&reference("NCA-S")).await.unwrap();
    assert_eq!(
        events[1].kind,
        EventKind::StageChanged {
            from: Stage::AwaitingEnforcement,
            to: Stage::Enforced,
            outcome: Some(Outcome::Arrest),
            note: Some("early morning".into()),
        }
    );
    assert_eq!(events[1].stage, Stage::Enforced);
}

async fn concurrent_changes_to_one_package_all_land_in_turn(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-C")]).await;
    // Eight reassignments and a stage move at once. Each change reads the
    // package inside its transaction, so none may fail as locked and none
    // may overwrite another's write.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update_package(
                    &reference("NCA-C"),
                    &Actor::named(format!("token:{i}")),
                    now(),
                    Box::new(move |p| {
                        let officer =
                            OfficerEmail::parse(&format!("pc.{i}@force.police.uk")).unwrap();
                        p.assign(officer, now()).map(|c| entry(c, Some(now())))
                    }),
                )
                .await
        }));
    }
    let mover = store.clone();
    tasks.push(tokio::spawn(async move {
        mover
            .update_package(
                &reference("NCA-C"),
                &Actor::named("token:mover"),
                now(),
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
            )
            .await
    }));
    for task in tasks {
        task.await
            .unwrap()
            .expect("every concurrent change succeeds");
    }

    let events = store.events(&reference("NCA-C")).await.unwrap();
    assert_eq!(
        events.len(),
        10,
        "created, eight assignments and a stage move"
    );
    // Each assignment saw the one before it: no write was lost.
    let mut officer: Option<String> = None;
    for event in &events[1..] {
        if let EventKind::Assigned { from, to } = &event.kind {
            assert_eq!(from, &officer, "an assignment did not see the previous one");
            officer = Some(to.clone());
        }
    }
    let back = stored(&store, "NCA-C").await;
    assert_eq!(back.stage(), Stage::AwaitingEnforcement);
    assert_eq!(back.assigned_officer().map(|o| o.to_string()), officer);
}

async fn a_large_batch_inserts_in_one_call(store: Arc<dyn Store>) {
    migrated(&store).await;
    let packages: Vec<Package> = (0..2000).map(|i| plain(&format!("BULK-{i:05}"))).collect();
    let wanted: Vec<Reference> = [
        "BULK-01999",
        "NOT-STORED",
        "BULK-00000",
        "BULK-00500",
        "BULK-00000",
    ]
    .map(reference)
    .into();
    insert(&store, packages).await;
    assert_eq!(store.count_packages().await.unwrap().total, 2000);
    let all = store
        .list_packages(&PackageFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2000);
    assert_eq!(all[1999], plain("BULK-01999"));
    assert_eq!(
        store.events(&reference("BULK-01234")).await.unwrap().len(),
        1
    );
    // In the order asked, each once, across more than one look-up chunk.
    assert_eq!(
        store.existing_references(&wanted).await.unwrap(),
        ["BULK-01999", "BULK-00000", "BULK-00500"].map(reference)
    );
    let every: Vec<Reference> = all.iter().map(|p| p.reference().clone()).collect();
    assert_eq!(store.existing_references(&every).await.unwrap().len(), 2000);
}
