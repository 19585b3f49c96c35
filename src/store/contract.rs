//! The [`Store`] trait: what the rest of the service asks of storage,
//! whatever the backend. [`super::SqlStore`] implements it for both.

use super::{
    Actor, ApiToken, AuditLine, AuditRecord, BackupContents, BackupError, ComposeFn, DecideFn,
    DigestDraft, DigestRun, EscalationRecord, LedgerEntry, LedgerEvent, PackageChange,
    PackageCounts, PackageFilter, PassSummary, ReportSnapshot, SchedulerStatus, SnapshotKey,
    SnapshotRecord, StageGradeFigures, StoreError,
};
use crate::domain::{Package, Reference};
use crate::outbox::{DeliveryStats, Queue};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::Path;

/// The ledger's storage. One implementation, generic over the backend
/// ([`super::SqlStore`]); one conformance suite (`tests/it/store_conformance/`)
/// runs the same cases on both.
///
/// The outbox's queue ([`Queue`]: claiming messages, finishing deliveries,
/// the next instant there is work) is a supertrait: the outbox defines the
/// port its dispatcher needs, and every store is one, so an
/// `Arc<dyn Store>` is handed to a dispatcher as an `Arc<dyn Queue>`.
#[async_trait]
pub trait Store: Queue {
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Refreshes the query planner's statistics; run after migrating,
    /// after an import and periodically by the service.
    async fn maintain(&self) -> Result<(), StoreError>;

    /// True when the database answers and every embedded migration is applied.
    async fn is_ready(&self) -> Result<bool, StoreError>;

    /// Writes new packages, their `created` events and one audit line each
    /// (`package.created`), all or nothing. A reference already stored fails
    /// the whole batch with [`StoreError::Duplicate`].
    async fn insert_packages(
        &self,
        entries: &[LedgerEntry],
        actor: &Actor,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Starts a streamed import: one transaction, in which rows are staged
    /// batch by batch, checked for duplicate references, and written only
    /// at [`super::ImportSession::commit`]. Until then nothing is visible
    /// to others, and dropping the session writes nothing.
    async fn begin_import(&self) -> Result<Box<dyn super::ImportSession>, StoreError>;

    /// Which of `references` are already stored, in any case (`d-2` is
    /// stored when `D-2` is); each returned as asked.
    async fn existing_references(
        &self,
        references: &[Reference],
    ) -> Result<Vec<Reference>, StoreError>;

    /// The package with `reference` in any case, if stored; it holds the
    /// reference as first given.
    async fn package(&self, reference: &Reference) -> Result<Option<Package>, StoreError>;

    /// The ledger of one package, oldest first; `reference` exactly as
    /// stored (as [`Self::package`] returns it).
    async fn events(&self, reference: &Reference) -> Result<Vec<LedgerEvent>, StoreError>;

    /// Every event of every package that took effect before `until`
    /// (`occurred_at < until`), in the order appended. The reports rebuild
    /// the position at any past instant from these, with no snapshots.
    async fn events_before(&self, until: DateTime<Utc>) -> Result<Vec<LedgerEvent>, StoreError>;

    /// The report model kept for `key` (a closed period's, as JSON), if
    /// any: `report_snapshots`, migration 0007.
    async fn report_snapshot(&self, key: &SnapshotKey) -> Result<Option<String>, StoreError>;

    /// Keeps `snapshot` (replacing the period's under any fingerprint)
    /// if the ledger before its period's end still holds exactly
    /// `snapshot.events_folded` events: false, and nothing kept, when an
    /// event landed in the period after the model's events were read.
    /// Every later ledger write that lands before the period's end drops
    /// it again, in the write's own transaction.
    async fn save_report_snapshot(&self, snapshot: &ReportSnapshot) -> Result<bool, StoreError>;

    /// Every report snapshot kept, without its model, by period end.
    async fn report_snapshots(&self) -> Result<Vec<SnapshotRecord>, StoreError>;

    /// Packages matching `filter`, ordered by deadline then reference
    /// (so breached ones come most overdue first).
    async fn list_packages(&self, filter: &PackageFilter) -> Result<Vec<Package>, StoreError>;

    /// Applies `change` to the package with `reference` (in any case) while holding it
    /// against other writers, writes the new state, appends the event, and
    /// appends an audit line (`package.<event kind>`), in one transaction.
    async fn update_package(
        &self,
        reference: &Reference,
        actor: &Actor,
        recorded_at: DateTime<Utc>,
        change: PackageChange,
    ) -> Result<Package, StoreError>;

    /// Writes a consistent copy of the whole database to the new file `to`
    /// (0600; never over an existing file) while writers carry on, checks
    /// it as a restore would, and says what it holds. Backends copied by
    /// their own tools refuse, naming them.
    async fn backup(&self, to: &Path) -> Result<BackupContents, BackupError>;

    /// How many packages are stored, and how many are demo data.
    async fn count_packages(&self) -> Result<PackageCounts, StoreError>;

    /// The open packages per stage and grade at `now` (only combinations
    /// that have packages), optionally for one LPA. `due_soon` counts those
    /// not breached whose deadline is at or before `due_by`. Read from the
    /// counters the database keeps (migration 0006) and the deadlines
    /// passed since their mark: a few rows, whatever the number of packages.
    async fn position(
        &self,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lpa: Option<&str>,
    ) -> Result<Vec<StageGradeFigures>, StoreError>;

    /// The same figures as [`Store::position`], counted from every open
    /// package: the reference the counters are checked against (tests, and
    /// a diagnosis), never a request's read.
    async fn recounted_position(
        &self,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lpa: Option<&str>,
    ) -> Result<Vec<StageGradeFigures>, StoreError>;

    /// Moves the position's mark forward to `now`, so that a read of the
    /// position adds only the deadlines passed since (see
    /// `store/counters.rs`). Returns false when the mark is already at or
    /// after `now` (another instance moved it): it never moves back.
    async fn advance_position_mark(&self, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Where the position's mark is.
    async fn position_mark(&self) -> Result<DateTime<Utc>, StoreError>;

    /// Stores a new API token's hash and appends `token.created` to the
    /// audit log. A name already used (even revoked) is
    /// [`StoreError::DuplicateToken`].
    async fn create_token(
        &self,
        token: &ApiToken,
        hash: &str,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Every token, newest first, revoked ones included.
    async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes the token `name` at `at` and appends `token.revoked` to the
    /// audit log. False (and nothing written) when there is no such active
    /// token.
    async fn revoke_token(
        &self,
        name: &str,
        at: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// The active (not revoked) token with this hash.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError>;

    /// Appends a line to the audit log (reads, and actions that are not
    /// ledger writes).
    async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        reference: Option<&Reference>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Appends several audit lines in one transaction: all or none.
    async fn audit_lines(&self, lines: &[AuditLine]) -> Result<(), StoreError>;

    /// The audit log, oldest first: all of it, or the lines about one package.
    async fn audit_log(
        &self,
        reference: Option<&Reference>,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// Walks the audit log's hash chain from its first line and returns
    /// the first line that does not fit, or the chain's length and head.
    /// With `copy` (a head kept outside the database, `SEQ:HASH`), the
    /// chain must also hold that line with that hash: a chain cut short or
    /// rewritten since the copy was taken is found.
    async fn verify_audit_chain(
        &self,
        copy: Option<&super::ChainHead>,
    ) -> Result<super::ChainVerdict, StoreError>;

    /// The chain's last line at or before `at` (by its `at`), if any.
    async fn audit_chain_head_at(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Option<super::ChainHead>, StoreError>;

    /// Records a verification made at `at`, replacing the last one.
    async fn record_audit_verification(
        &self,
        at: DateTime<Utc>,
        verdict: &super::ChainVerdict,
    ) -> Result<(), StoreError>;

    /// The last recorded verification, if any.
    async fn last_audit_verification(&self)
        -> Result<Option<super::AuditVerification>, StoreError>;

    /// One scheduler pass, in one transaction: claims up to `limit` packages
    /// whose `next_due_at` is at or before `now` (earliest first; on
    /// PostgreSQL `FOR UPDATE SKIP LOCKED`, so another instance takes other
    /// packages), decides each with `decide`, records each escalation under its
    /// unique key (package, level, occurrence, clock due instant) — one
    /// already recorded is skipped, which makes the pass idempotent across
    /// restarts and instances — queues the messages `compose` makes from
    /// the newly recorded ones, sets each package's `next_due_at`, and
    /// records `now` as the last pass.
    async fn escalation_pass(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        decide: &DecideFn,
        compose: &ComposeFn,
    ) -> Result<PassSummary, StoreError>;

    /// The outbox's figures.
    async fn delivery_stats(&self) -> Result<DeliveryStats, StoreError>;

    /// The same figures as [`Store::delivery_stats`], counted from every
    /// message: the reference its counters are checked against.
    async fn recounted_delivery_stats(&self) -> Result<DeliveryStats, StoreError>;

    /// The last pass and the oldest due work at `now`.
    async fn scheduler_status(&self, now: DateTime<Utc>) -> Result<SchedulerStatus, StoreError>;

    /// A package's escalations, oldest first, each with its deliveries.
    async fn escalations(&self, reference: &Reference)
        -> Result<Vec<EscalationRecord>, StoreError>;

    /// The recipients a scheduled digest run (its occurrence key, such as
    /// `weekly/2024-W05`) has been queued for.
    async fn digest_recipients(&self, occurrence: &str) -> Result<Vec<String>, StoreError>;

    /// Per `[[digest]]` schedule that has run: when a scheduled run was
    /// last queued and when one of its messages was last delivered.
    async fn digest_runs(&self) -> Result<Vec<DigestRun>, StoreError>;

    /// Queues each digest in one transaction: records it, queues its
    /// message and appends its audit line (`digest.queued`, by `actor`). A
    /// scheduled run already recorded for a recipient (by an earlier call,
    /// or another instance a moment ago) is skipped. Returns how many were
    /// queued.
    async fn queue_digests(
        &self,
        drafts: &[DigestDraft],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// The packages a retention purge at `stopped_before` would take: not
    /// yet purged, clock stopped strictly before it.
    async fn retention_due(
        &self,
        stopped_before: DateTime<Utc>,
    ) -> Result<super::RetentionDue, StoreError>;

    /// Replaces every identifying detail of the packages past retention by
    /// pseudonyms, in one transaction with its audit line
    /// (`retention.purged`: the counts, the period, the rule; never a
    /// reference); see `store/retention.rs` for what is touched. With a
    /// `day`, the service's daily run: `None`, and nothing done, when
    /// that day's run was already made (by this or another replica).
    async fn purge_stopped(
        &self,
        request: &super::PurgeRequest,
    ) -> Result<Option<super::PurgeSummary>, StoreError>;

    /// How many package rows and outbox messages are set aside (migration
    /// 0012): rows the code cannot read, skipped by every pass.
    async fn quarantine_counts(&self) -> Result<super::QuarantineCounts, StoreError>;

    /// Every row set aside, oldest first, with why.
    async fn quarantined(&self) -> Result<Vec<super::QuarantinedRow>, StoreError>;
}
