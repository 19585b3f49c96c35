//! The outbox's policies: how long a claim holds a message (the lease) and
//! how a failed delivery is retried (exponential backoff up to a cap, a
//! permanent failure never, and a message is dead after its last attempt).
//! Pure arithmetic over `[delivery]` (its section type,
//! [`DeliveryConfig`], lives here so the outbox depends on no configuration
//! module); the store applies the lease in its
//! claim SQL and records what [`RetryPolicy::after_failure`] decides.

use super::{DeliveryError, DeliveryOutcome};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// `[delivery]`: how the outbox retries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before a message is given up as dead.
    pub(crate) max_attempts: u32,
    /// The wait before the first retry; it doubles with each attempt.
    pub(crate) retry_base_seconds: u32,
    /// The longest wait between attempts.
    pub(crate) retry_max_seconds: u32,
    /// How long a dispatcher may hold a message before another may take it
    /// (it is presumed dead). Longer than the slowest send.
    pub(crate) lease_seconds: u32,
    /// Messages claimed at a time.
    pub(crate) batch: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base_seconds: 30,
            retry_max_seconds: 3600,
            lease_seconds: 300,
            batch: 50,
        }
    }
}

/// How long a dispatcher holds a claimed message before another may take
/// it over (its dispatcher is presumed dead: a crash between the send and
/// the record). Delivery is at least once at the wire because of this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    length: Duration,
}

impl Lease {
    /// The lease `[delivery]` configures (`lease_seconds`).
    pub(crate) fn from_config(config: &DeliveryConfig) -> Self {
        Self::new(Duration::seconds(i64::from(config.lease_seconds)))
    }

    /// A lease of `length`.
    pub(crate) fn new(length: Duration) -> Self {
        Self { length }
    }

    /// How long it lasts.
    pub(crate) fn length(&self) -> Duration {
        self.length
    }

    /// When a claim made at `claimed_at` runs out: from that instant on,
    /// another dispatcher's claim takes the message over.
    pub(crate) fn expires_at(&self, claimed_at: DateTime<Utc>) -> DateTime<Utc> {
        claimed_at + self.length
    }
}

/// How failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a message is dead.
    pub(crate) max_attempts: u32,
    /// The wait before the first retry.
    pub(crate) base: Duration,
    /// The longest wait.
    pub(crate) max: Duration,
}

impl RetryPolicy {
    /// The policy `[delivery]` configures.
    pub(crate) fn from_config(config: &DeliveryConfig) -> Self {
        Self {
            max_attempts: config.max_attempts,
            base: Duration::seconds(i64::from(config.retry_base_seconds)),
            max: Duration::seconds(i64::from(config.retry_max_seconds)),
        }
    }

    /// The wait after attempt number `attempts` (1 for the first) failed:
    /// base, 2 × base, 4 × base... at most `max`.
    pub(crate) fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self.base.num_seconds().saturating_mul(1_i64 << doublings);
        Duration::seconds(wait.min(self.max.num_seconds()))
    }

    /// What to record after attempt `attempts` failed with `error`.
    pub(crate) fn after_failure(
        &self,
        attempts: u32,
        error: &DeliveryError,
        now: DateTime<Utc>,
    ) -> DeliveryOutcome {
        match error {
            DeliveryError::Permanent(reason) => DeliveryOutcome::Dead {
                error: format!("permanent failure, not retried: {reason}"),
            },
            DeliveryError::Transient(reason) if attempts >= self.max_attempts => {
                DeliveryOutcome::Dead {
                    error: format!("gave up after {attempts} attempts: {reason}"),
                }
            }
            DeliveryError::Transient(reason) => DeliveryOutcome::Retry {
                at: now + self.backoff(attempts),
                error: reason.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::from_config(&DeliveryConfig::default())
    }

    #[test]
    fn a_lease_runs_out_its_length_after_the_claim() {
        let lease = Lease::from_config(&DeliveryConfig::default());
        let claimed: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            lease.expires_at(claimed),
            claimed + Duration::seconds(i64::from(DeliveryConfig::default().lease_seconds))
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let waits: Vec<i64> = (1..=9).map(|a| p.backoff(a).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(p.backoff(1000).num_seconds(), 3600);
    }

    #[test]
    fn failures_retry_until_the_last_attempt_and_permanent_ones_never() {
        let p = policy();
        let now: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        let busy = DeliveryError::Transient("451 try later".into());
        assert_eq!(
            p.after_failure(1, &busy, now),
            DeliveryOutcome::Retry {
                at: now + Duration::seconds(30),
                error: "451 try later".into()
            }
        );
        match p.after_failure(8, &busy, now) {
            DeliveryOutcome::Dead { error } => {
                assert!(error.contains("gave up after 8 attempts"), "{error}")
            }
            other => panic!("{other:?}"),
        }
        match p.after_failure(1, &DeliveryError::Permanent("550 no such user".into()), now) {
            DeliveryOutcome::Dead { error } => {
                assert!(error.contains("not retried: 550"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }
}
