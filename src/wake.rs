//! When the service's loops wake. The scheduler and the dispatcher sleep
//! until the earliest instant they have work (`next_work`), at most
//! [`LONGEST_SLEEP`], unless woken sooner: the dispatcher by the scheduler
//! and the digest job after they queue messages, the scheduler by an
//! [`Alarm`] that a ledger change rings only when it brings the work
//! forward, and both by the safety tick.

use crate::clock::Clock;
use chrono::{DateTime, Utc};
use std::fmt::Display;
use std::future::Future;
use tokio::sync::Notify;

/// The longest the loops sleep without looking, whatever the next due
/// instant: a bound against a wall clock that jumps. The safety tick
/// (`scheduler.tick_seconds`) usually wakes them much sooner.
pub(crate) const LONGEST_SLEEP: std::time::Duration = std::time::Duration::from_secs(3600);

/// The earliest instant there is work, as `read` finds it: a package's next
/// level or a queued message's next attempt (the loops pass
/// [`crate::outbox::Queue::next_wake`], so this module needs no store).
/// `None` when there is none, or when it cannot be read (logged; the loops
/// then look again after [`LONGEST_SLEEP`] or the safety tick).
pub(crate) async fn next_work<E: Display>(
    read: impl Future<Output = Result<Option<DateTime<Utc>>, E>>,
) -> Option<DateTime<Utc>> {
    match read.await {
        Ok(at) => at,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the next due instant");
            None
        }
    }
}

/// The instant a loop that wants to wake at `at` (never, for `None`) sleeps
/// until at `now`: `at`, but no later than [`LONGEST_SLEEP`] from now.
pub(crate) fn sleep_until(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    let longest = now
        + chrono::Duration::from_std(LONGEST_SLEEP).expect("LONGEST_SLEEP fits a chrono duration");
    at.map_or(longest, |at| at.min(longest))
}

/// Sleeps until `until` by `clock`, `woken` completes, or `shutdown` does,
/// whichever comes first. True when shutdown came. The scheduler's and the
/// dispatcher's loops both wait here.
pub(crate) async fn wait_until(
    until: DateTime<Utc>,
    clock: &dyn Clock,
    woken: impl Future<Output = ()>,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> bool {
    let wait = (until - clock.now()).to_std().unwrap_or_default();
    tokio::select! {
        () = shutdown => true,
        () = woken => false,
        () = tokio::time::sleep(wait) => false,
    }
}

/// The first wait after a failure of a loop's work (a pass, a round).
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest wait between retries while the work keeps failing.
const LONGEST_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a loop stays quiet about a failure of a kind it has just
/// logged: a database that refuses every write must not fill the disk
/// with the same line (a full disk once made ~1,500 lines a second).
pub(crate) const QUIET_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// How a loop waits after its work failed: 1 s after the first failure,
/// doubling with each failure in a row, at most 30 s; a success starts
/// again at 1 s. Without it, a loop whose work is due (the reads still
/// work) but whose writes fail would retry at once, for ever.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The work succeeded: the next failure waits [`FIRST_RETRY`].
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// The work failed: how long to wait before trying again.
    pub(crate) fn failed(&mut self) -> std::time::Duration {
        let doublings = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        FIRST_RETRY
            .saturating_mul(1 << doublings)
            .min(LONGEST_RETRY)
    }

    /// The work failed at `now`: the instant to try again. Not the work's
    /// own due instant: that is overdue already, and is what just failed.
    pub(crate) fn retry_at(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.failed()).expect("LONGEST_RETRY fits")
    }
}

/// Logs a loop's failures at most once per kind per [`QUIET_FOR`]: the
/// first of a kind is logged at once; the ones that follow within the quiet
/// time are counted, and the count goes with the next line of that kind.
#[derive(Debug, Default)]
pub(crate) struct FailureLog {
    /// Per kind: when it was last logged, and how many were not logged since.
    kinds: std::collections::HashMap<String, (std::time::Instant, u64)>,
}

impl FailureLog {
    /// Whether a failure of `kind` at `now` is to be logged; `Some(n)` with
    /// the failures of that kind left unlogged before it.
    pub(crate) fn admit(&mut self, kind: &str, now: std::time::Instant) -> Option<u64> {
        // A bound on the kinds remembered; they are few (one per failing
        // statement and cause).
        if self.kinds.len() > 64 {
            self.kinds.clear();
        }
        match self.kinds.get_mut(kind) {
            Some((logged_at, unlogged)) if now.duration_since(*logged_at) < QUIET_FOR => {
                *unlogged += 1;
                None
            }
            Some((logged_at, unlogged)) => {
                let left_out = std::mem::take(unlogged);
                *logged_at = now;
                Some(left_out)
            }
            None => {
                self.kinds.insert(kind.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}

/// Wakes the scheduler when a change to the ledger brings its work forward,
/// and only then (as mini-redis's purge task is woken only when a new
/// expiry comes before the one it sleeps until).
///
/// The scheduler records the instant it sleeps until; a change reports the
/// changed package's new due instant, and wakes the scheduler only if that
/// comes sooner. A change that moves a package's due instant later, or
/// stops its clocks, leaves the scheduler asleep: at worst it wakes at the
/// old instant, finds nothing due, and sleeps again. While the scheduler is
/// awake (in a pass) every change wakes it, since the pass may have read
/// the package before the change. The safety tick wakes it regardless.
#[derive(Debug, Default)]
pub(crate) struct Alarm {
    /// The instant the scheduler sleeps until; `None` while it is awake.
    sleeping_until: std::sync::Mutex<Option<DateTime<Utc>>>,
    notify: Notify,
}

impl Alarm {
    /// An alarm with the scheduler awake.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A change made a package due at `due` (`None`: never again). Wakes
    /// the scheduler if that is before the instant it sleeps until, or if
    /// it is not asleep. True when it woke it.
    pub(crate) fn due_at(&self, due: Option<DateTime<Utc>>) -> bool {
        let sooner = match *self.sleeping_until.lock().expect("alarm lock poisoned") {
            None => true,
            Some(until) => due.is_some_and(|due| due < until),
        };
        if sooner {
            self.notify.notify_one();
        }
        sooner
    }

    /// Wakes the scheduler whatever it sleeps until: the safety tick.
    pub(crate) fn wake(&self) {
        self.notify.notify_one();
    }

    /// Sleeps until `until` by `clock`, a wake-up, or `shutdown`; records
    /// `until` meanwhile, so that only changes before it wake the sleeper.
    /// True when shutdown came.
    pub(crate) async fn sleep(
        &self,
        until: DateTime<Utc>,
        clock: &dyn Clock,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> bool {
        // Recorded before waiting: a change that lands between the two
        // still finds the sleeper asleep or leaves a wake-up (`notify_one`
        // keeps one for the next wait), so none is lost.
        *self.sleeping_until.lock().expect("alarm lock poisoned") = Some(until);
        let stopped = wait_until(until, clock, self.notify.notified(), shutdown).await;
        *self.sleeping_until.lock().expect("alarm lock poisoned") = None;
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_loop_backs_off_doubling_up_to_thirty_seconds_and_starts_again_after_a_success() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| backoff.failed().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        backoff.succeeded();
        assert_eq!(backoff.failed().as_secs(), 1);
        let now: DateTime<Utc> = "2024-01-05T00:00:00Z".parse().unwrap();
        assert_eq!(backoff.retry_at(now), now + chrono::Duration::seconds(2));
    }

    #[test]
    fn a_failure_kind_is_logged_at_most_once_per_quiet_time_with_the_count_left_out() {
        let mut log = FailureLog::default();
        let start = std::time::Instant::now();
        let at = |seconds: u64| start + std::time::Duration::from_secs(seconds);
        assert_eq!(log.admit("disk_full", at(0)), Some(0));
        assert_eq!(log.admit("disk_full", at(1)), None);
        assert_eq!(log.admit("locked", at(1)), Some(0), "another kind");
        assert_eq!(log.admit("disk_full", at(9)), None);
        assert_eq!(log.admit("disk_full", at(10)), Some(2), "two left out");
        assert_eq!(log.admit("disk_full", at(11)), None);
    }
    use crate::config::load_str;
    use crate::store::Store;
    use std::sync::Arc;

    use crate::config::TEST_CONFIG as CONFIG;

    /// A migrated SQLite store in `dir`.
    async fn sqlite_store(dir: &std::path::Path) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.join("ocset.db").display());
        let store = crate::store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Whether a wake-up is waiting for the sleeper, looked at without
    /// waiting (and taken, as the sleeper would take it).
    async fn woken(alarm: &Alarm) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, alarm.notify.notified())
            .await
            .is_ok()
    }

    /// Sleeps on `alarm` until `until` (by a clock stopped at `now`) in a
    /// task of its own, and returns once the sleep has begun.
    async fn asleep(
        alarm: &Arc<Alarm>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> tokio::task::JoinHandle<bool> {
        let clock = crate::clock::ManualClock::new(now);
        let sleeper = tokio::spawn({
            let alarm = alarm.clone();
            async move {
                alarm
                    .sleep(until, &clock, &mut std::future::pending())
                    .await
            }
        });
        while *alarm.sleeping_until.lock().unwrap() != Some(until) {
            tokio::task::yield_now().await;
        }
        sleeper
    }

    #[tokio::test]
    async fn a_change_wakes_the_sleeping_scheduler_only_when_it_brings_work_forward() {
        let now: DateTime<Utc> = "2024-01-05T00:00:00Z".parse().unwrap();
        let until = now + chrono::Duration::hours(1);
        let alarm = Arc::new(Alarm::new());
        let sleeper = asleep(&alarm, now, until).await;

        assert!(!alarm.due_at(Some(until + chrono::Duration::minutes(1))));
        assert!(!alarm.due_at(Some(until)), "due at the same instant");
        assert!(!alarm.due_at(None), "clocks stopped");
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!sleeper.is_finished(), "none of those is sooner");

        assert!(alarm.due_at(Some(until - chrono::Duration::minutes(1))));
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), sleeper)
            .await
            .expect("the sooner change wakes the scheduler")
            .unwrap();
        assert!(!stopped, "woken, not shut down");
        assert_eq!(*alarm.sleeping_until.lock().unwrap(), None, "awake now");
    }

    #[tokio::test]
    async fn while_the_scheduler_is_awake_every_change_and_every_tick_wakes_it() {
        let alarm = Alarm::new();
        let far: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        assert!(
            alarm.due_at(Some(far)),
            "a pass may have read the package first"
        );
        assert!(woken(&alarm).await);
        assert!(alarm.due_at(None));
        assert!(woken(&alarm).await);
        assert!(!woken(&alarm).await, "one wake-up, taken");
        alarm.wake();
        assert!(woken(&alarm).await);
    }

    #[tokio::test]
    async fn ledger_changes_wake_the_scheduler_only_for_a_sooner_due_instant() {
        use crate::app::App;
        use crate::clock::{Clock, ManualClock};
        use crate::intake::NewPackage;
        use crate::store::Actor;

        let dir = tempfile::tempdir().unwrap();
        let settings = Arc::new(load_str(CONFIG, "test.toml", Vec::new()).unwrap());
        let start: DateTime<Utc> = "2024-01-08T09:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
        let app = App::new(sqlite_store(dir.path()).await, settings.clone(), clock_arc);
        let alarm = app.changed();
        let received = |reference: &str, at: DateTime<Utc>| NewPackage {
            reference: reference.into(),
            risk_grade: "very high".into(),
            received_at: at.to_rfc3339(),
            lpa: "Coventry".into(),
            stage: "awaiting_enforcement".into(),
            ..NewPackage::default()
        };
        let actor = Actor::named("test");

        let first = app.create(&received("A-1", start), &actor).await.unwrap();
        let first_due = settings
            .ladder_timing()
            .first_due(&first)
            .expect("an open package falls due");
        assert!(woken(&alarm).await, "the scheduler was awake");

        // The scheduler sleeps until the first package's level.
        let sleeper = asleep(&alarm, start, first_due).await;
        app.create(&received("B-2", start), &actor).await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !sleeper.is_finished(),
            "a package due at the same instant does not wake it"
        );
        // Received 14 hours before: its warning (36 hours after receipt)
        // comes before the others' first review (a day after entry).
        app.create(
            &received("C-3", start - chrono::Duration::hours(14)),
            &actor,
        )
        .await
        .unwrap();
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), sleeper)
            .await
            .expect("a package due sooner wakes it")
            .unwrap();
        assert!(!stopped);
    }
}
