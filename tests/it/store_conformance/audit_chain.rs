//! The audit log's hash chain: every write path chains its lines, and an
//! attacker with access to the database who drops the append-only trigger
//! and edits, deletes, inserts or cuts off lines is found by the
//! verification, which names the first line that does not fit.

use super::fixtures::{created, migrated, now, plain, reference, requester};
use super::harness::{Raw, TestDb};
use chrono::Duration;
use ocset_scheduler::store::{
    Actor, AuditLine, ChainBreak, ChainHead, ChainIntact, ChainVerdict, ImportCommitted,
    LedgerEntry, Store,
};
use std::sync::Arc;

conformance! {
    store: [
        every_write_path_leaves_one_chain_that_verifies,
    ],
    raw: [
        an_edited_line_is_found,
        a_deleted_line_is_found,
        an_inserted_line_is_found,
        a_line_written_around_the_service_is_found,
        a_cut_tail_is_found_by_the_head_or_by_a_copy_of_it,
        an_edited_reference_is_found_and_a_pseudonymised_one_verifies,
    ],
    db: [],
    postgres_only: [
        concurrent_writers_on_two_instances_keep_one_chain,
    ],
}

fn intact(verdict: ChainVerdict) -> ChainIntact {
    match verdict {
        ChainVerdict::Intact(intact) => intact,
        ChainVerdict::Broken(broken) => panic!("the chain should verify: {broken}"),
    }
}

fn broken(verdict: ChainVerdict) -> ChainBreak {
    match verdict {
        ChainVerdict::Broken(broken) => broken,
        ChainVerdict::Intact(intact) => panic!("the chain should not verify: {intact:?}"),
    }
}

async fn verify(store: &Arc<dyn Store>) -> ChainVerdict {
    store.verify_audit_chain(None).await.expect("verifying")
}

/// Six lines: two packages created, one read, a batch of two reads, one
/// action without a reference.
async fn six_lines(store: &Arc<dyn Store>) {
    migrated(store).await;
    store
        .insert_packages(
            &[created(plain("NCA-C1")), created(plain("NCA-C2"))],
            &requester("token:intake", "req-1"),
            now(),
        )
        .await
        .unwrap();
    let reader = requester("token:viewer", "req-2");
    store
        .audit(
            &reader,
            "package.read",
            Some(&reference("NCA-C1")),
            None,
            now() + Duration::minutes(1),
        )
        .await
        .unwrap();
    let batch: Vec<AuditLine> = ["NCA-C1", "NCA-C2"]
        .iter()
        .map(|r| AuditLine {
            actor: reader.clone(),
            action: "package.read".into(),
            reference: Some(reference(r)),
            detail: Some("listed".into()),
            at: now() + Duration::minutes(2),
        })
        .collect();
    store.audit_lines(&batch).await.unwrap();
    store
        .audit(
            &Actor::named("cli:analyst"),
            "report.viewed",
            None,
            Some("week=2024-W21"),
            now() + Duration::minutes(3),
        )
        .await
        .unwrap();
}

/// The id of the line at `seq`.
async fn id_at(raw: &Raw, seq: i64) -> i64 {
    raw.count(&format!("SELECT id FROM audit_log WHERE seq = {seq}"))
        .await
}

/// Drops the append-only triggers, as an attacker with the database's
/// owner's rights can.
async fn drop_triggers(raw: &Raw) {
    let statements: &[&str] = match raw {
        Raw::Sqlite(_) => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ],
        Raw::Postgres(_) => &[
            "DROP TRIGGER audit_log_no_update_or_delete ON audit_log",
            "DROP TRIGGER audit_log_no_truncate ON audit_log",
        ],
    };
    for statement in statements {
        raw.execute(statement).await.unwrap();
    }
}

async fn every_write_path_leaves_one_chain_that_verifies(store: Arc<dyn Store>) {
    six_lines(&store).await;
    // A change, and an import of two packages.
    store
        .update_package(
            &reference("NCA-C1"),
            &requester("token:sergeant", "req-3"),
            now() + Duration::minutes(4),
            Box::new(|p| {
                p.assign(
                    ocset_scheduler::domain::OfficerEmail::parse("pc.one@force.police.uk").unwrap(),
                    now(),
                )
                .map(|c| super::fixtures::entry(c, Some(now())))
            }),
        )
        .await
        .unwrap();
    let mut session = store.begin_import().await.unwrap();
    let rows: Vec<(u64, LedgerEntry)> =
        vec![(2, created(plain("NCA-I1"))), (3, created(plain("NCA-I2")))];
    session.stage(&rows).await.unwrap();
    assert!(matches!(
        session
            .commit(&Actor::named("cli:importer"), now() + Duration::minutes(5))
            .await
            .unwrap(),
        ImportCommitted::Imported(2)
    ));
    let log = store.audit_log(None).await.unwrap();
    assert_eq!(log.len(), 9);
    let chain = intact(verify(&store).await);
    assert_eq!(chain.lines, 9);
    assert_eq!(chain.pseudonymised, 0);
    let head = chain.head.expect("a head");
    assert_eq!(head.seq, 9);
    // A copy of the head, or of any line before it, fits.
    let copy = head.clone();
    assert!(matches!(
        store.verify_audit_chain(Some(&copy)).await.unwrap(),
        ChainVerdict::Intact(_)
    ));
    // The head at an instant: the last line written at or before it.
    let at_read = store
        .audit_chain_head_at(now() + Duration::minutes(1))
        .await
        .unwrap()
        .expect("lines by then");
    assert_eq!(at_read.seq, 3);
    assert!(store
        .audit_chain_head_at(now() - Duration::minutes(1))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .audit_chain_head_at(now() + Duration::days(1))
            .await
            .unwrap(),
        Some(head.clone())
    );
    assert!(matches!(
        store.verify_audit_chain(Some(&at_read)).await.unwrap(),
        ChainVerdict::Intact(_)
    ));
    // A copy whose hash is not the chain's does not fit.
    let forged = ChainHead {
        seq: 3,
        hash: "ab".repeat(32),
    };
    let found = broken(store.verify_audit_chain(Some(&forged)).await.unwrap());
    assert_eq!(found.seq, Some(3));
    assert!(found.why.contains("copy of the head"), "{found}");
    // The last verification is recorded, replacing the one before.
    assert_eq!(store.last_audit_verification().await.unwrap(), None);
    let verdict = verify(&store).await;
    store
        .record_audit_verification(now(), &verdict)
        .await
        .unwrap();
    let recorded = store.last_audit_verification().await.unwrap().unwrap();
    assert!(recorded.ok);
    assert_eq!(recorded.lines, 9);
    assert_eq!(recorded.head, Some(head.to_string()));
    let later = now() + Duration::hours(1);
    store
        .record_audit_verification(later, &ChainVerdict::Broken(found))
        .await
        .unwrap();
    let recorded = store.last_audit_verification().await.unwrap().unwrap();
    assert!(!recorded.ok);
    assert_eq!(recorded.verified_at, later);
    assert!(recorded.failure.unwrap().contains("(seq 3)"));
}

async fn an_edited_line_is_found(store: Arc<dyn Store>, raw: Raw) {
    six_lines(&store).await;
    drop_triggers(&raw).await;
    let id = id_at(&raw, 3).await;
    let edited = raw
        .execute(&format!(
            "UPDATE audit_log SET actor = 'token:someone-else' WHERE id = {id}"
        ))
        .await
        .unwrap();
    assert_eq!(edited, 1);
    let found = broken(verify(&store).await);
    assert_eq!(found.id, Some(id));
    assert_eq!(found.seq, Some(3));
    assert_eq!(found.at, Some(now() + Duration::minutes(1)));
    assert!(found.why.contains("altered"), "{found}");
}

async fn a_deleted_line_is_found(store: Arc<dyn Store>, raw: Raw) {
    six_lines(&store).await;
    drop_triggers(&raw).await;
    let next = id_at(&raw, 4).await;
    raw.execute("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    let found = broken(verify(&store).await);
    // The line after the gap is the first that does not fit.
    assert_eq!(found.id, Some(next));
    assert_eq!(found.seq, Some(4));
    assert!(found.why.contains("(seq 3) is missing"), "{found}");
}

async fn an_inserted_line_is_found(store: Arc<dyn Store>, raw: Raw) {
    six_lines(&store).await;
    drop_triggers(&raw).await;
    // A line made to look chained after the last one: the attacker copies
    // a hash, since the right one covers content they do not control...
    raw.execute(
        "INSERT INTO audit_log (at, actor, action, reference, seq, prev_hash, hash) \
         SELECT at, 'token:ghost', 'package.read', NULL, seq + 1, hash, hash \
         FROM audit_log WHERE seq = 6",
    )
    .await
    .unwrap();
    let id = id_at(&raw, 7).await;
    let found = broken(verify(&store).await);
    assert_eq!(found.id, Some(id));
    assert_eq!(found.seq, Some(7));
    assert!(found.why.contains("altered"), "{found}");
    // ...or put between two lines, shifting those after it.
    raw.execute("DELETE FROM audit_log WHERE seq = 7")
        .await
        .unwrap();
    raw.execute("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4")
        .await
        .unwrap();
    raw.execute(
        "INSERT INTO audit_log (at, actor, action, seq, prev_hash, hash) \
         SELECT at, 'token:ghost', 'package.read', 4, hash, hash FROM audit_log WHERE seq = 3",
    )
    .await
    .unwrap();
    let id = id_at(&raw, 4).await;
    let found = broken(verify(&store).await);
    assert_eq!(found.id, Some(id));
    assert_eq!(found.seq, Some(4));
}

async fn a_line_written_around_the_service_is_found(store: Arc<dyn Store>, raw: Raw) {
    six_lines(&store).await;
    // A line given a place before the first, where a walk from seq 1 would
    // not look.
    raw.execute(
        "INSERT INTO audit_log (at, actor, action, seq, prev_hash, hash) \
         SELECT at, 'token:ghost', 'package.read', 0, prev_hash, hash \
         FROM audit_log WHERE seq = 1",
    )
    .await
    .unwrap();
    let id = id_at(&raw, 0).await;
    let found = broken(verify(&store).await);
    assert_eq!(found.id, Some(id));
    assert!(found.why.contains("not in the chain"), "{found}");
    drop_triggers(&raw).await;
    raw.execute(&format!("DELETE FROM audit_log WHERE id = {id}"))
        .await
        .unwrap();
    // No trigger in the way: an INSERT is allowed, but only the service
    // chains it.
    raw.execute(
        "INSERT INTO audit_log (at, actor, action) \
         SELECT at, 'token:ghost', 'package.read' FROM audit_log WHERE seq = 6",
    )
    .await
    .unwrap();
    let id = raw
        .count("SELECT id FROM audit_log WHERE hash IS NULL")
        .await;
    let found = broken(verify(&store).await);
    assert_eq!(found.id, Some(id));
    assert_eq!(found.seq, None);
    assert!(found.why.contains("not in the chain"), "{found}");
}

async fn a_cut_tail_is_found_by_the_head_or_by_a_copy_of_it(store: Arc<dyn Store>, raw: Raw) {
    six_lines(&store).await;
    // A copy of the head taken at seq 5, as a digest mails it.
    let copy = store
        .audit_chain_head_at(now() + Duration::minutes(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copy.seq, 5);
    drop_triggers(&raw).await;
    raw.execute("DELETE FROM audit_log WHERE seq >= 5")
        .await
        .unwrap();
    let last = id_at(&raw, 4).await;
    // The head the database records still names seq 6.
    let found = broken(verify(&store).await);
    assert_eq!(found.id, Some(last));
    assert!(found.why.contains("head records seq 6"), "{found}");
    // The attacker moves the head back too: only the copy outside the
    // database finds the cut.
    raw.execute(
        "UPDATE audit_chain_head SET seq = 4, \
         hash = (SELECT hash FROM audit_log WHERE seq = 4)",
    )
    .await
    .unwrap();
    assert_eq!(intact(verify(&store).await).lines, 4);
    let found = broken(store.verify_audit_chain(Some(&copy)).await.unwrap());
    assert_eq!(found.id, Some(last));
    assert_eq!(found.seq, Some(4));
    assert!(found.why.contains("removed from its end"), "{found}");
}

async fn an_edited_reference_is_found_and_a_pseudonymised_one_verifies(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    six_lines(&store).await;
    drop_triggers(&raw).await;
    let id = id_at(&raw, 1).await;
    // A retention purge (issue 16) replaces the reference by a pseudonym
    // and forgets the nonce: the chain still verifies, and no column holds
    // the reference.
    raw.execute(&format!(
        "UPDATE audit_log SET reference = 'PSEUDO-1', reference_nonce = NULL WHERE id = {id}"
    ))
    .await
    .unwrap();
    let chain = intact(verify(&store).await);
    assert_eq!((chain.lines, chain.pseudonymised), (6, 1));
    // A reference changed while its nonce is kept does not fit.
    let id = id_at(&raw, 3).await;
    raw.execute(&format!(
        "UPDATE audit_log SET reference = 'NCA-C2' WHERE id = {id}"
    ))
    .await
    .unwrap();
    let found = broken(verify(&store).await);
    assert_eq!(found.id, Some(id));
    assert!(found.why.contains("reference was altered"), "{found}");
}

/// Several tasks on two instances (two pools: two replicas) append at
/// once, single lines and batches: one chain, no line left out.
async fn concurrent_writers_on_two_instances_keep_one_chain(db: TestDb) {
    migrated(&db.store).await;
    let other = db.second_instance().await;
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = if task % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let actor = requester(&format!("token:writer-{task}"), "req");
            for i in 0..15 {
                let at = now() + Duration::seconds(i);
                if i % 5 == 4 {
                    let batch: Vec<AuditLine> = (0..3)
                        .map(|_| AuditLine {
                            actor: actor.clone(),
                            action: "packages.listed".into(),
                            reference: None,
                            detail: Some(format!("batch {i}")),
                            at,
                        })
                        .collect();
                    store.audit_lines(&batch).await.unwrap();
                } else {
                    store
                        .audit(&actor, "package.read", Some(&reference("NCA-X")), None, at)
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // 8 tasks: 12 single lines and 3 batches of 3 each.
    let written = 8 * (12 + 3 * 3);
    assert_eq!(db.store.audit_log(None).await.unwrap().len(), written);
    let chain = intact(verify(&db.store).await);
    assert_eq!(chain.lines, written as u64);
    assert_eq!(chain.head.unwrap().seq, written as i64);
}
