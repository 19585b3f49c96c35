//! Streamed imports: rows staged in the import's transaction, duplicate
//! references found there, and the packages, events and audit lines written
//! from the staging table exactly as a batch insert writes them.

use super::fixtures::{created, insert, migrated, now, plain, rules};
use super::harness::{Raw, TestDb};
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::{
    Actor, ImportCommitted, LedgerEntry, PackageFilter, StagedDuplicate, Store,
};
use std::sync::Arc;

conformance! {
    store: [
        duplicates_in_the_file_and_stored_are_named_with_their_lines,
        a_good_import_writes_every_staged_package_in_line_order,
    ],
    raw: [an_import_stores_exactly_what_insert_packages_stores],
    db: [],
    postgres_only: [a_reference_stored_during_an_import_is_named_with_its_line],
}

/// The `created` entry of a package as intake admits it from these fields.
fn admitted_entry(
    reference: &str,
    grade: &str,
    received: &str,
    officer: Option<&str>,
    access: Option<&str>,
    referral: Option<&str>,
) -> LedgerEntry {
    let package = rules()
        .admit(
            &NewPackage {
                reference: reference.into(),
                risk_grade: grade.into(),
                received_at: received.into(),
                lpa: "Birmingham".into(),
                stage: "awaiting_enforcement".into(),
                assigned_officer: officer.map(Into::into),
                child_access_identified_at: access.map(Into::into),
                safeguarding_referral_at: referral.map(Into::into),
            },
            now(),
        )
        .unwrap_or_else(|e| panic!("{reference}: {e:?}"));
    created(package)
}

/// Varied packages under `prefix`: every grade, officers or none, the
/// safeguarding times, times with microseconds, local and offset times.
fn varied(prefix: &str) -> Vec<LedgerEntry> {
    (0..40)
        .map(|i| {
            let grade = ["very_high", "high", "medium", "standard"][i % 4];
            let received = match i % 3 {
                0 => format!("2024-05-{:02} 09:{:02}", 1 + i % 28, i % 60),
                1 => format!("2024-05-{:02}T10:00:00.123456+01:00", 1 + i % 28),
                _ => format!("2024-03-31T00:{:02}:00Z", i % 60),
            };
            let officer = format!("pc.{i}@force.police.uk");
            let (access, referral) = if i % 5 == 0 {
                (Some("2024-05-30T08:00:00Z"), Some("2024-05-30T09:30:00.5Z"))
            } else {
                (None, None)
            };
            admitted_entry(
                &format!("{prefix}{i:03}/x.y_{}", i % 7),
                grade,
                &received,
                (i % 2 == 0).then_some(officer.as_str()),
                access,
                referral,
            )
        })
        .collect()
}

/// Every stored column of the packages, events and audit lines under
/// `prefix`, in id order, as text with the prefix taken off: what two
/// ways of writing the same packages must agree on (ids aside).
async fn stored_rows(raw: &Raw, prefix: &str) -> Vec<String> {
    let text = |columns: &str| -> String {
        columns
            .split(',')
            .map(|c| format!("COALESCE(CAST({} AS TEXT), '-')", c.trim()))
            .collect::<Vec<_>>()
            .join(" || '|' || ")
    };
    let packages = format!(
        "SELECT substr(reference, 3) || '|' || {} FROM packages \
         WHERE substr(reference, 1, 2) = '{prefix}' ORDER BY id",
        text(
            "risk_grade, stage, lpa, assigned_officer, received_at, deadline_at, \
             clock_started_at, policy_version, stage_since, clock_stopped_at, outcome, \
             child_access_identified_at, safeguarding_referral_at, acknowledged_at, \
             acknowledged_by, acknowledgement_note, acknowledged_deadline_at, \
             acknowledgement_reason, next_due_at, due_soon_at, created_at, updated_at, \
             review_clock_started_at"
        )
    );
    let events = format!(
        "SELECT substr(p.reference, 3) || '|' || {} FROM package_events e \
         JOIN packages p ON p.id = e.package_id \
         WHERE substr(p.reference, 1, 2) = '{prefix}' ORDER BY e.id",
        text(
            "e.kind, e.occurred_at, e.recorded_at, e.actor, e.risk_grade, e.stage, \
             e.deadline_at, e.details"
        )
    );
    let audit = format!(
        "SELECT substr(reference, 3) || '|' || {} FROM audit_log \
         WHERE substr(reference, 1, 2) = '{prefix}' ORDER BY id",
        text("at, actor, action, request_id, detail")
    );
    let mut rows = Vec::new();
    for (table, sql) in [("packages", packages), ("events", events), ("audit", audit)] {
        rows.extend(
            raw.strings(&sql)
                .await
                .into_iter()
                .map(|row| format!("{table}: {row}")),
        );
    }
    rows
}

/// Stages `entries` (line numbers from 2) in batches of 7, and commits
/// when nothing is duplicated.
async fn import(store: &Arc<dyn Store>, entries: &[LedgerEntry], actor: &Actor) -> u64 {
    let mut session = store.begin_import().await.unwrap();
    let lines: Vec<(u64, LedgerEntry)> = entries
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, e)| (i as u64 + 2, e))
        .collect();
    for batch in lines.chunks(7) {
        session.stage(batch).await.unwrap();
    }
    let duplicates = session.duplicates(10).await.unwrap();
    assert_eq!(duplicates.total, 0, "{duplicates:?}");
    match session.commit(actor, now()).await.unwrap() {
        ImportCommitted::Imported(n) => n,
        other => panic!("{other:?}"),
    }
}

async fn an_import_stores_exactly_what_insert_packages_stores(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let actor = Actor {
        name: "cli:sergeant".into(),
        request_id: Some("req-1".into()),
    };
    store
        .insert_packages(&varied("A-"), &actor, now())
        .await
        .unwrap();
    assert_eq!(import(&store, &varied("B-"), &actor).await, 40);
    let batch = stored_rows(&raw, "A-").await;
    let streamed = stored_rows(&raw, "B-").await;
    assert_eq!(batch.len(), 40 * 3);
    assert_eq!(streamed, batch);
}

fn duplicate(line: u64, reference: &str, first_line: Option<u64>) -> StagedDuplicate {
    StagedDuplicate {
        line,
        reference: reference.into(),
        first_line,
    }
}

async fn duplicates_in_the_file_and_stored_are_named_with_their_lines(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("D-2")]).await;
    let rows: Vec<(u64, LedgerEntry)> =
        [(2, "N-1"), (3, "x-9"), (5, "X-9"), (7, "d-2"), (9, "x-9")]
            .into_iter()
            .map(|(line, reference)| (line, created(plain(reference))))
            .collect();
    let mut session = store.begin_import().await.unwrap();
    session.stage(&rows[..2]).await.unwrap();
    session.stage(&rows[2..]).await.unwrap();
    let found = session.duplicates(10).await.unwrap();
    assert_eq!(
        found.listed,
        [
            duplicate(5, "X-9", Some(3)),
            duplicate(7, "d-2", None),
            duplicate(9, "x-9", Some(3)),
        ]
    );
    assert_eq!(found.total, 3);
    // Only the first are kept; all are counted.
    let first = session.duplicates(1).await.unwrap();
    assert_eq!(first.listed, [duplicate(5, "X-9", Some(3))]);
    assert_eq!(first.total, 3);
    drop(session);

    // Dropped: nothing of it was written, and the store works on.
    let listed = store
        .list_packages(&PackageFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let audit = store.audit_log(None).await.unwrap();
    assert!(
        audit
            .iter()
            .all(|line| line.reference.as_deref() == Some("D-2")),
        "{audit:?}"
    );
    insert(&store, vec![plain("N-1")]).await;
}

async fn a_good_import_writes_every_staged_package_in_line_order(store: Arc<dyn Store>) {
    migrated(&store).await;
    let entries: Vec<LedgerEntry> = (0..1_203)
        .map(|i| created(plain(&format!("G-{i:05}"))))
        .collect();
    assert_eq!(
        import(&store, &entries, &Actor::named("cli:test")).await,
        1_203
    );
    let listed = store
        .list_packages(&PackageFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1_203);
    let events = store
        .events(&entries[1_202].package.reference().clone())
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "cli:test");
    let audit = store.audit_log(None).await.unwrap();
    let references: Vec<String> = audit.iter().filter_map(|a| a.reference.clone()).collect();
    let expected: Vec<String> = (0..1_203).map(|i| format!("G-{i:05}")).collect();
    assert_eq!(references, expected, "one line each, in line order");
    assert!(audit.iter().all(|a| a.action == "package.created"));
    // The staging table is gone with the transaction: another import
    // starts afresh on whichever pooled connection.
    for i in 0..3 {
        let more = [created(plain(&format!("H-{i}")))];
        assert_eq!(import(&store, &more, &Actor::named("cli:test")).await, 1);
    }
}

async fn a_reference_stored_during_an_import_is_named_with_its_line(db: TestDb) {
    let store = db.store;
    migrated(&store).await;
    let mut session = store.begin_import().await.unwrap();
    session
        .stage(&[(2, created(plain("R-1"))), (3, created(plain("R-2")))])
        .await
        .unwrap();
    assert_eq!(session.duplicates(10).await.unwrap().total, 0);
    // Another writer stores r-2 between the check and the commit.
    insert(&store, vec![plain("r-2")]).await;
    match session
        .commit(&Actor::named("cli:test"), now())
        .await
        .unwrap()
    {
        ImportCommitted::Duplicates(found) => {
            assert_eq!(found.listed, [duplicate(3, "R-2", None)]);
        }
        other => panic!("{other:?}"),
    }
    let listed = store
        .list_packages(&PackageFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "R-1 was not written either");
}
