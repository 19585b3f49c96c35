//! Failed transactions: a write whose COMMIT fails, or whose transaction
//! the database rolled back by itself (SQLite does so on a full disk), is
//! reported, leaves nothing behind, and leaves no pooled connection inside
//! a transaction: every later write succeeds.

use super::fixtures::{created, migrated, now, plain, reference};
use super::harness::Raw;
use ocset_scheduler::store::{Actor, Store};
use std::sync::Arc;

conformance! {
    store: [],
    raw: [
        after_a_failed_commit_every_later_write_succeeds,
    ],
    db: [],
    postgres_only: [],
}

/// Makes the transactions that store a package whose reference starts with
/// `NCA-FAIL` fail at COMMIT (a deferred constraint, checked only then),
/// and on SQLite, one starting with `NCA-ROLLBACK` be rolled back by the
/// database itself, as a full disk does. Returns the references to try.
async fn inject_failures(raw: &Raw) -> Vec<&'static str> {
    let (statements, failing): (&[&str], _) = match raw {
        Raw::Sqlite(_) => (
            &[
                "CREATE TABLE commit_guard_parent (id INTEGER PRIMARY KEY)",
                "CREATE TABLE commit_guard (parent INTEGER \
                 REFERENCES commit_guard_parent (id) DEFERRABLE INITIALLY DEFERRED)",
                "CREATE TRIGGER fail_at_commit AFTER INSERT ON packages \
                 WHEN NEW.reference LIKE 'NCA-FAIL%' \
                 BEGIN INSERT INTO commit_guard (parent) VALUES (1); END",
                "CREATE TRIGGER roll_back_itself AFTER INSERT ON packages \
                 WHEN NEW.reference LIKE 'NCA-ROLLBACK%' \
                 BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END",
            ],
            vec![
                "NCA-FAIL-1",
                "NCA-ROLLBACK-1",
                "NCA-FAIL-2",
                "NCA-ROLLBACK-2",
            ],
        ),
        Raw::Postgres(_) => (
            &[
                "CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$",
                "CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON packages \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW \
                 WHEN (NEW.reference LIKE 'NCA-FAIL%') EXECUTE FUNCTION fail_at_commit()",
            ],
            vec!["NCA-FAIL-1", "NCA-FAIL-2"],
        ),
    };
    for statement in statements {
        raw.execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    failing
}

async fn after_a_failed_commit_every_later_write_succeeds(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let failing = inject_failures(&raw).await;
    let actor = Actor::named("cli:test");
    let write = |text: String| {
        let store = store.clone();
        let actor = actor.clone();
        async move {
            store
                .insert_packages(&[created(plain(&text))], &actor, now())
                .await
        }
    };
    let mut written = 0;
    for bad in failing {
        write(bad.to_string())
            .await
            .expect_err("the injected failure fails the write");
        assert!(store.package(&reference(bad)).await.unwrap().is_none());
        // More writes than the pool has connections, one after another: the
        // connection that held the failed transaction comes round again.
        for _ in 0..6 {
            written += 1;
            write(format!("NCA-OK-{written}"))
                .await
                .unwrap_or_else(|e| panic!("a write after a failed one: {e}"));
        }
    }
    assert_eq!(store.count_packages().await.unwrap().total, written);
}
