//! Group commit for the audit lines of reads. Every list, package read and
//! report shown is audited before it is answered; written one statement
//! each, concurrent readers on SQLite queue for its single write lock, one
//! commit each. Here a reader adds its line to a queue and waits; one task
//! at a time writes everything queued in one transaction and tells each
//! reader how it went, so readers that arrive together share a commit.
//! Nothing is answered before its line is committed: the audit stays
//! complete, only fewer transactions carry it.

use crate::store::{AuditLine, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A line waiting, and who waits for it.
type Waiting = (AuditLine, oneshot::Sender<Result<(), Arc<StoreError>>>);

/// The queue of read audit lines and whether a writer is running.
#[derive(Default)]
pub(crate) struct ReadAudit {
    queue: Mutex<Vec<Waiting>>,
    writing: AtomicBool,
}

impl std::fmt::Debug for ReadAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAudit").finish_non_exhaustive()
    }
}

impl ReadAudit {
    /// Appends `line` to the audit log through `store`, sharing the commit
    /// with the lines of other readers waiting at the same time. Returns
    /// once it is committed, or the store's failure.
    pub(crate) async fn append(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        line: AuditLine,
    ) -> Result<(), StoreError> {
        let (done, outcome) = oneshot::channel();
        self.lock().push((line, done));
        if !self.writing.swap(true, Ordering::AcqRel) {
            // A task of its own, not this request's future: a reader that
            // goes away (a closed connection) never strands the others.
            tokio::spawn(self.clone().write_all(store.clone()));
        }
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(shared)) => Err(StoreError::Shared(shared)),
            // The writer task ended without answering: only when the
            // runtime is shutting down.
            Err(_) => Err(StoreError::Database {
                context: "appending to the audit log",
                source: sqlx::Error::WorkerCrashed,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        // A panic while holding the lock leaves a Vec, which is still valid.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes batches until the queue is empty, then stands down; a line
    /// queued just as it stands down is picked up by a new writer, by the
    /// reader that queued it or by this one.
    async fn write_all(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            let batch = std::mem::take(&mut *self.lock());
            if batch.is_empty() {
                self.writing.store(false, Ordering::Release);
                // Queued after the take but before the flag fell: its
                // reader saw a writer running, so this one must go on.
                if self.lock().is_empty() || self.writing.swap(true, Ordering::AcqRel) {
                    return;
                }
                continue;
            }
            let (lines, waiting): (Vec<AuditLine>, Vec<_>) = batch.into_iter().unzip();
            let outcome = store.audit_lines(&lines).await.map_err(Arc::new);
            for done in waiting {
                let _ = done.send(outcome.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Actor;
    use chrono::{DateTime, Utc};

    fn line(n: usize) -> AuditLine {
        AuditLine {
            actor: Actor::named(format!("token:reader-{n}")),
            action: "packages.listed".into(),
            reference: None,
            detail: Some(format!("count={n}")),
            at: "2024-06-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        }
    }

    async fn store_in(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        let store = crate::store::connect(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_concurrent_reader_gets_its_line_committed_before_it_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir).await;
        let audit = Arc::new(ReadAudit::default());
        let readers: Vec<_> = (0..200)
            .map(|n| {
                let (audit, store) = (audit.clone(), store.clone());
                tokio::spawn(async move {
                    audit.append(&store, line(n)).await.unwrap();
                    // Answered only once committed: the line is readable.
                    let log = store.audit_log(None).await.unwrap();
                    assert!(log
                        .iter()
                        .any(|l| l.detail.as_deref() == Some(&*format!("count={n}"))));
                })
            })
            .collect();
        for reader in readers {
            reader.await.unwrap();
        }
        let log = store.audit_log(None).await.unwrap();
        assert_eq!(log.len(), 200);
        let mut details: Vec<_> = log.iter().filter_map(|l| l.detail.clone()).collect();
        details.sort();
        details.dedup();
        assert_eq!(details.len(), 200, "each line once");
        assert!(
            !audit.writing.load(Ordering::Acquire),
            "the writer stood down"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_reader_waiting_on_it_and_the_next_ones_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir).await;
        let audit = Arc::new(ReadAudit::default());
        // An audit log that refuses lines, as a database out of room would.
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&raw)
        .await
        .unwrap();
        let readers: Vec<_> = (0..20)
            .map(|n| {
                let (audit, store) = (audit.clone(), store.clone());
                tokio::spawn(async move { audit.append(&store, line(n)).await })
            })
            .collect();
        for reader in readers {
            let failed = reader.await.unwrap().unwrap_err();
            assert!(failed.to_string().contains("refused"), "{failed}");
        }
        sqlx::query("DROP TRIGGER refuse")
            .execute(&raw)
            .await
            .unwrap();
        audit.append(&store, line(99)).await.unwrap();
        assert_eq!(store.audit_log(None).await.unwrap().len(), 1);
    }
}
