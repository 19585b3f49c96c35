//! Scheduled digests: the job that, at each `[[digest]]` schedule's local
//! time, builds a report through the ledger facade and queues it in the
//! outbox. When a schedule is due is pure calendar arithmetic and lives in
//! the domain ([`crate::domain::digest_schedule`]); it is re-exported here
//! under the names the rest of the service has always used.

pub use crate::domain::digest_schedule::{
    check_name, parse_day, parse_time, DigestKind, DigestPeriod, DigestSchedule, Occurrence,
};

pub mod job;
