//! Scheduled digests: the job that, at each `[[digest]]` schedule's local
//! time, builds a report through the ledger facade and queues it in the
//! outbox. When a schedule is due is pure calendar arithmetic and lives in
//! the domain ([`crate::domain::digest_schedule`]).

pub mod job;
pub mod mail;

pub use mail::DigestLimits;
