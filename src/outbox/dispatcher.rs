//! The dispatcher: claims queued messages from the outbox, delivers each,
//! and records how it went. Retries back off exponentially up to a cap; a
//! permanent failure (a rejected address) is not retried; after the last
//! attempt a message is dead, counted in `/metrics` and `/api/v1/status`.
//!
//! Delivery is at least once at the wire: a message is marked sent only
//! after the server accepted it, so a crash between the two sends it again
//! when its lease runs out. That window is one message wide.

use super::{
    Deliver, DeliveryConfig, DeliveryOutcome, Lease, OutboxMessage, Queue, QueueError, RetryPolicy,
};
use crate::clock::Clock;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

/// Messages sent at once in a round (each to a different destination).
pub const CONCURRENT_SENDS: usize = 8;

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundSummary {
    /// Messages claimed.
    pub(crate) claimed: usize,
    /// Accepted by the receiving server in this round.
    pub sent: usize,
    /// Failed and queued again.
    pub(crate) retried: usize,
    /// Given up.
    pub(crate) dead: usize,
    /// Put back untried (shutting down).
    pub(crate) released: usize,
}

/// Delivers queued messages.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    queue: Arc<dyn Queue>,
    deliver: Arc<dyn Deliver>,
    clock: Arc<dyn Clock>,
    worker: String,
    policy: RetryPolicy,
    lease: Lease,
    batch: u32,
    stopping: Arc<AtomicBool>,
}

impl Dispatcher {
    /// A dispatcher named `worker` (unique per process: it owns the messages
    /// it claims until it finishes them or its lease runs out), working
    /// `queue` (the store: pass an `Arc<dyn Store>`).
    pub fn new(
        queue: Arc<dyn Queue>,
        deliver: Arc<dyn Deliver>,
        clock: Arc<dyn Clock>,
        config: &DeliveryConfig,
        worker: impl Into<String>,
    ) -> Self {
        Self {
            queue,
            deliver,
            clock,
            worker: worker.into(),
            policy: RetryPolicy::from_config(config),
            lease: Lease::from_config(config),
            batch: config.batch,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Claims one batch and delivers it. The claim takes only the oldest
    /// queued message of each destination, so every destination's messages
    /// go out in order, one round after another.
    pub(crate) async fn round(&self) -> Result<RoundSummary, QueueError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(RoundSummary::default());
        }
        let now = self.clock.now();
        let claimed = self
            .queue
            .claim_outbox(now, &self.worker, self.lease.length(), self.batch)
            .await?;
        let mut report = RoundSummary {
            claimed: claimed.len(),
            ..RoundSummary::default()
        };
        // A claim holds at most one message per destination (first in,
        // first out per destination), so the batch can go out concurrently
        // without reordering anyone's messages; the bound keeps within the
        // SMTP pool.
        let permits = Arc::new(Semaphore::new(CONCURRENT_SENDS));
        let mut sends = JoinSet::new();
        for message in claimed {
            let this = self.clone();
            let permits = permits.clone();
            sends.spawn(async move {
                let _permit = permits.acquire_owned().await;
                this.deliver_one(message).await
            });
        }
        while let Some(joined) = sends.join_next().await {
            match joined.expect("a delivery task panicked")? {
                DeliveryOutcome::Sent => report.sent += 1,
                DeliveryOutcome::Retry { .. } => report.retried += 1,
                DeliveryOutcome::Dead { .. } => report.dead += 1,
                DeliveryOutcome::Release => report.released += 1,
            }
        }
        Ok(report)
    }

    /// Delivers one claimed message (or puts it back when stopping) and
    /// records how it went.
    async fn deliver_one(&self, message: OutboxMessage) -> Result<DeliveryOutcome, QueueError> {
        let outcome = if self.stopping.load(Ordering::SeqCst) {
            DeliveryOutcome::Release
        } else {
            match self
                .deliver
                .deliver(&message.destination, &message.payload)
                .await
            {
                Ok(()) => {
                    tracing::info!(message_id = message.id, destination = %message.destination, payload = %message.payload.describe(), "message delivered");
                    DeliveryOutcome::Sent
                }
                Err(error) => {
                    // This failed send is the message's `attempt`-th; the
                    // store counts it when it records the outcome.
                    let attempt = message.attempts.saturating_add(1);
                    let outcome = self.policy.after_failure(attempt, &error, self.clock.now());
                    if let DeliveryOutcome::Retry { at, .. } = &outcome {
                        tracing::warn!(message_id = message.id, destination = %message.destination, attempt, retry_at = %at, %error, "delivery failed; will retry");
                    } else {
                        tracing::error!(message_id = message.id, destination = %message.destination, attempt, %error, "delivery failed for good; the message is dead");
                    }
                    outcome
                }
            }
        };
        if !self
            .queue
            .finish_delivery(message.id, &self.worker, &outcome, self.clock.now())
            .await?
        {
            tracing::warn!(
                message_id = message.id,
                "the lease on a message ran out before it was finished; another dispatcher has it"
            );
        }
        Ok(outcome)
    }

    /// Rounds until nothing is left to claim now.
    pub async fn drain(&self) -> Result<RoundSummary, QueueError> {
        let mut total = RoundSummary::default();
        loop {
            let report = self.round().await?;
            total.claimed += report.claimed;
            total.sent += report.sent;
            total.retried += report.retried;
            total.dead += report.dead;
            total.released += report.released;
            // Go on while rounds make progress: a sent message may unblock
            // the next one to the same destination. A round that only
            // failed stops here; its retries wait for their time.
            if report.claimed == 0 || report.sent == 0 {
                return Ok(total);
            }
        }
    }

    /// The earliest instant there may be work to claim: a queued message's
    /// next attempt (or a package's next level, which may queue one), or
    /// the end of the oldest lease still held, when a message whose
    /// dispatcher died can be taken over. `None` when there is none.
    pub(crate) async fn next_wake(&self) -> Option<DateTime<Utc>> {
        let queued = crate::wake::next_work(self.queue.next_wake()).await;
        let lease_ends = match self.queue.oldest_claim().await {
            Ok(claimed_at) => claimed_at.map(|at| self.lease.expires_at(at)),
            Err(e) => {
                tracing::error!(error = %e, "cannot read when the oldest lease runs out");
                None
            }
        };
        match (queued, lease_ends) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs until `shutdown` completes: drains whenever woken (new messages
    /// from the scheduler, the safety tick), a retry falls due or a lease
    /// runs out. On shutdown
    /// it stops claiming, finishes the message in flight, puts the rest of
    /// its batch back, and returns.
    pub(crate) async fn run(self, wake: Arc<Notify>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = crate::wake::Backoff::default();
        let mut failures = crate::wake::FailureLog::default();
        loop {
            let work = self.drain();
            tokio::pin!(work);
            let result = tokio::select! {
                result = &mut work => result,
                () = &mut shutdown => {
                    // Let the round finish what it holds: the message in
                    // flight is sent, the rest released.
                    self.stopping.store(true, Ordering::SeqCst);
                    if let Err(e) = work.await {
                        tracing::error!(error = %e, "dispatcher failed while stopping");
                    }
                    return;
                }
            };
            // After a failure, the due work is what failed: wait for the
            // retry rather than for it.
            let until = match result {
                Ok(_) => {
                    backoff.succeeded();
                    crate::wake::sleep_until(self.next_wake().await, self.clock.now())
                }
                Err(e) => {
                    let retry_at = backoff.retry_at(self.clock.now());
                    if let Some(left_out) = failures.admit(e.kind(), std::time::Instant::now()) {
                        tracing::error!(error = %e, kind = e.kind(), %retry_at, same_failures_not_logged = left_out, "dispatcher round failed; will retry");
                    }
                    retry_at
                }
            };
            if crate::wake::wait_until(until, self.clock.as_ref(), wake.notified(), &mut shutdown)
                .await
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::clock::ManualClock;
    use crate::config::load_str;
    use crate::intake::NewPackage;
    use crate::outbox::{DeliveryError, Destination, Payload};
    use crate::scheduler::Scheduler;
    use crate::store::Actor;
    use async_trait::async_trait;
    use std::sync::Mutex;

    use crate::config::TEST_CONFIG as CONFIG;

    /// Accepts every message, and remembers where each went.
    #[derive(Debug, Default)]
    struct Accept(Mutex<Vec<Destination>>);

    #[async_trait]
    impl Deliver for Accept {
        async fn deliver(
            &self,
            destination: &Destination,
            _payload: &Payload,
        ) -> Result<(), DeliveryError> {
            self.0.lock().unwrap().push(destination.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_dispatcher_wakes_when_a_dead_claimants_lease_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ocset.db").display());
        let store = crate::store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let settings = Arc::new(load_str(CONFIG, "test.toml", Vec::new()).unwrap());
        let start: DateTime<Utc> = "2024-01-08T09:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let app = App::new(store.clone(), settings.clone(), shared.clone());
        let package = app
            .create(
                &NewPackage {
                    reference: "A-1".into(),
                    risk_grade: "very high".into(),
                    received_at: start.to_rfc3339(),
                    lpa: "Coventry".into(),
                    stage: "awaiting_enforcement".into(),
                    ..NewPackage::default()
                },
                &Actor::named("test"),
            )
            .await
            .unwrap();
        let due = settings.ladder_timing().first_due(&package).unwrap();
        clock.set(due);
        let pass = Scheduler::new(store.clone(), settings.clone(), shared.clone())
            .run_due()
            .await
            .unwrap();
        assert!(pass.messages > 0, "{pass:?}");

        // Another dispatcher claims every message and dies.
        let lease = Lease::from_config(&settings.config.delivery);
        let claimed = store
            .claim_outbox(due, "doomed", lease.length(), 50)
            .await
            .unwrap();
        assert_eq!(claimed.len(), pass.messages);
        let ends = lease.expires_at(due);
        let other_work = store.next_wake().await.unwrap();
        assert!(
            other_work.is_none_or(|at| at > ends),
            "nothing else is due before the lease ends: {other_work:?}"
        );

        let accept = Arc::new(Accept::default());
        let dispatcher = Dispatcher::new(
            store.clone(),
            accept.clone(),
            shared,
            &settings.config.delivery,
            "survivor",
        );
        assert_eq!(dispatcher.next_wake().await, Some(ends));
        // That is the first instant the messages can be taken over.
        clock.set(ends - chrono::Duration::seconds(1));
        assert_eq!(dispatcher.round().await.unwrap().claimed, 0);
        clock.set(ends);
        let report = dispatcher.round().await.unwrap();
        assert_eq!(report.sent, claimed.len(), "{report:?}");
        assert_eq!(accept.0.lock().unwrap().len(), claimed.len());
    }
}
