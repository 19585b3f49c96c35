//! The audit log: one line per write or audited read, none for a refused
//! or failed write, and append-only.

use super::fixtures::{
    at, audit_log, created, entry, insert, line, migrated, now, plain, policy, reference, requester,
};
use super::harness::Raw;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{OfficerEmail, Outcome, RiskGrade, Stage};
use ocset_scheduler::store::{Actor, LedgerEntry, Store, StoreError};
use std::sync::Arc;

conformance! {
    store: [
        package_writes_append_one_audit_line_each,
        refused_and_failed_writes_append_no_audit_line,
        audited_reads_come_back_oldest_first_all_or_per_package,
    ],
    raw: [
        the_audit_log_refuses_update_and_delete,
    ],
    db: [],
    postgres_only: [],
}

async fn package_writes_append_one_audit_line_each(store: Arc<dyn Store>) {
    migrated(&store).await;
    let intake = requester("token:intake", "req-1");
    store
        .insert_packages(
            &[created(plain("NCA-A1")), created(plain("NCA-A2"))],
            &intake,
            now(),
        )
        .await
        .unwrap();
    let created_lines = [
        line(
            now(),
            "token:intake",
            "package.created",
            Some("NCA-A1"),
            Some("req-1"),
            None,
        ),
        line(
            now(),
            "token:intake",
            "package.created",
            Some("NCA-A2"),
            Some("req-1"),
            None,
        ),
    ];
    assert_eq!(audit_log(&store, None).await, created_lines);

    // Every kind of change: one line each, named after its event, with the
    // actor's request id and the time recorded.
    let officer = OfficerEmail::parse("pc.three@force.police.uk").unwrap();
    let changes: Vec<(Actor, &str, ocset_scheduler::store::PackageChange)> = vec![
        (
            requester("token:sergeant", "req-2"),
            "package.regraded",
            Box::new(|p| {
                p.regrade(
                    RiskGrade::High,
                    "new intelligence",
                    at("2024-05-21T09:00:00Z"),
                    now(),
                    &policy(),
                )
                .map(|c| entry(c, Some(now())))
            }),
        ),
        (
            requester("token:sergeant", "req-3"),
            "package.assigned",
            Box::new(move |p| p.assign(officer, now()).map(|c| entry(c, Some(now())))),
        ),
        (
            // No request id: the command line.
            Actor::named("cli:analyst"),
            "package.safeguarding_updated",
            Box::new(|p| {
                p.update_safeguarding(Some(at("2024-05-31T08:00:00Z")), None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        ),
        (
            requester("token:ppu", "req-4"),
            "package.stage_changed",
            Box::new(|p| {
                p.move_stage(
                    Stage::Enforced,
                    at("2024-05-31T09:00:00Z"),
                    Some(Outcome::Arrest),
                    None,
                    now(),
                )
                .map(|c| entry(c, None))
            }),
        ),
    ];
    let mut expected = vec![created_lines[0].clone()];
    for (i, (actor, action, change)) in changes.into_iter().enumerate() {
        let recorded_at = now() + Duration::minutes(i as i64 + 1);
        store
            .update_package(&reference("NCA-A1"), &actor, recorded_at, change)
            .await
            .unwrap();
        expected.push(line(
            recorded_at,
            &actor.name,
            action,
            Some("NCA-A1"),
            actor.request_id.as_deref(),
            None,
        ));
        assert_eq!(
            audit_log(&store, Some("NCA-A1")).await,
            expected,
            "{action}"
        );
    }
    // The event ledger keeps the actor's name.
    let events = store.events(&reference("NCA-A1")).await.unwrap();
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(
        actors,
        [
            "token:intake",
            "token:sergeant",
            "token:sergeant",
            "cli:analyst",
            "token:ppu"
        ]
    );
    assert_eq!(
        audit_log(&store, Some("NCA-A2")).await,
        [created_lines[1].clone()]
    );
    assert_eq!(audit_log(&store, None).await.len(), 6);
}

async fn refused_and_failed_writes_append_no_audit_line(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-X")]).await;
    let before = audit_log(&store, None).await;
    assert_eq!(before.len(), 1);
    let actor = requester("token:sergeant", "req-refused");

    // Refused by the rules: a backward stage move.
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &actor,
            now(),
            Box::new(|p| {
                p.move_stage(Stage::IntelligenceDevelopment, now(), None, None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    // Refused by the store: another package's state.
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &actor,
            now(),
            Box::new(|_| Ok(created(plain("NCA-OTHER")))),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    // Not stored.
    let missing = store
        .update_package(
            &reference("NCA-404"),
            &actor,
            now(),
            Box::new(|_| panic!("the change must not run for a missing package")),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    // A batch with a stored reference at its end, after more rows than one
    // insert chunk holds on either backend (SQLite 25, PostgreSQL 500): the
    // earlier chunks' audit lines are written first, and must go when the
    // batch is undone.
    let mut batch: Vec<LedgerEntry> = (0..510)
        .map(|i| created(plain(&format!("NCA-B{i:03}"))))
        .collect();
    batch.push(created(plain("NCA-X")));
    let duplicate = store.insert_packages(&batch, &actor, now()).await;
    assert!(
        matches!(duplicate, Err(StoreError::Duplicate(_))),
        "{duplicate:?}"
    );

    assert_eq!(audit_log(&store, None).await, before);
    assert_eq!(store.count_packages().await.unwrap().total, 1);
}

/// What a case passes to [`Store::audit`]: (actor, action, reference,
/// detail, at).
type AuditedRead<'a> = (
    &'a Actor,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    DateTime<Utc>,
);

async fn audited_reads_come_back_oldest_first_all_or_per_package(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1"), plain("NCA-2")]).await;
    let viewer = requester("token:dashboard", "req-7");
    let analyst = Actor::named("cli:analyst");
    let read_at = at("2024-06-01T12:05:00.123456Z");
    let reads: [AuditedRead<'_>; 4] = [
        (&viewer, "package.read", Some("NCA-1"), None, read_at),
        (
            &viewer,
            "package.list",
            None,
            Some("status=breached"),
            read_at + Duration::seconds(1),
        ),
        // A read of a reference that is not stored is audited too.
        (
            &viewer,
            "package.read",
            Some("NCA-404"),
            None,
            read_at + Duration::seconds(2),
        ),
        (
            &analyst,
            "package.events_read",
            Some("NCA-2"),
            Some("events"),
            // Nanoseconds are cut, as for every stored time.
            at("2024-06-01T12:06:00.000000999Z"),
        ),
    ];
    for (actor, action, reference_text, detail, when) in reads {
        let reference_value = reference_text.map(reference);
        store
            .audit(actor, action, reference_value.as_ref(), detail, when)
            .await
            .unwrap();
    }
    let created_line = |r: &str| line(now(), "cli:test", "package.created", Some(r), None, None);
    let read_lines = [
        line(
            read_at,
            "token:dashboard",
            "package.read",
            Some("NCA-1"),
            Some("req-7"),
            None,
        ),
        line(
            read_at + Duration::seconds(1),
            "token:dashboard",
            "package.list",
            None,
            Some("req-7"),
            Some("status=breached"),
        ),
        line(
            read_at + Duration::seconds(2),
            "token:dashboard",
            "package.read",
            Some("NCA-404"),
            Some("req-7"),
            None,
        ),
        line(
            at("2024-06-01T12:06:00Z"),
            "cli:analyst",
            "package.events_read",
            Some("NCA-2"),
            None,
            Some("events"),
        ),
    ];
    let mut everything = vec![created_line("NCA-1"), created_line("NCA-2")];
    everything.extend(read_lines.iter().cloned());
    assert_eq!(audit_log(&store, None).await, everything);
    assert_eq!(
        audit_log(&store, Some("NCA-1")).await,
        [created_line("NCA-1"), read_lines[0].clone()]
    );
    assert_eq!(
        audit_log(&store, Some("NCA-2")).await,
        [created_line("NCA-2"), read_lines[3].clone()]
    );
    assert_eq!(
        audit_log(&store, Some("NCA-404")).await,
        [read_lines[2].clone()]
    );
    assert!(audit_log(&store, Some("NCA-3")).await.is_empty());
}

async fn the_audit_log_refuses_update_and_delete(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1"), plain("NCA-2")]).await;
    let before = audit_log(&store, None).await;
    let mut statements = vec![
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET detail = 'x' WHERE id = (SELECT MIN(id) FROM audit_log)",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)",
    ];
    if matches!(raw, Raw::Postgres(_)) {
        // Row triggers do not see TRUNCATE; a statement trigger refuses it.
        statements.push("TRUNCATE audit_log");
    }
    for statement in statements {
        let error = raw
            .execute(statement)
            .await
            .expect_err(&format!("{statement} must be refused"));
        assert!(
            error.contains("audit_log is append-only"),
            "{statement}: {error}"
        );
    }
    assert_eq!(audit_log(&store, None).await, before);
}
