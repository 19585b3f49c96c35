//! One conformance suite for every [`Store`] backend: each case below is a
//! plain async function, and [`conformance!`] runs it on SQLite (a fresh file
//! in a temporary folder) and on PostgreSQL (a fresh database, dropped
//! afterwards even when the case fails).
//!
//! PostgreSQL is found at `OCSET_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached
//! the `postgres::` tests fail, never pass; skip them explicitly with
//! `cargo test -- --skip postgres::`.


use crate::common;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{
    default_ladder, Acknowledgement, DueLevel, LadderTiming, PackageClock, Relation, Timescale,
};
use ocset_scheduler::domain::{
    Change, ClockStop, Deadline, DeadlinePolicy, EventKind, Lpas, OfficerEmail, OpenStage, Outcome,
    Package, PackageParts, PackageState, PolicyVersion, Reference, RegradePolicy, RiskGrade,
    Safeguarding, Stage, StopKind, Timescales,
};
use ocset_scheduler::domain::{PackageStatus, Role};
use ocset_scheduler::intake::{IntakeRules, NewPackage};
use ocset_scheduler::notify::{Destination, Notice, NoticeItem, NoticeKind, Payload};
use ocset_scheduler::store::postgres::PostgresStore;
use ocset_scheduler::store::sqlite::SqliteStore;
use ocset_scheduler::store::{
    Actor, ApiToken, AuditRecord, DeliveryOutcome, DeliveryRecord, DeliveryStats, EscalationDraft,
    LedgerEntry, OutboxDraft, OutboxMessage, PackageCounts, PackageFilter, PackagePlan, PageKey,
    PassReport, PositionRow, RecordedEscalation, SchedulerStatus, Store, StoreError,
};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------
// The harness: one test per case and backend.
// ---------------------------------------------------------------------------

/// Generates `sqlite::<case>` and `postgres::<case>` tests. Cases listed
/// under `store` take the store; cases under `raw` also take [`Raw`], for
/// SQL the trait does not offer; cases under `db` take the whole [`TestDb`]
/// (to open a second pool). Cases under `postgres_only` test what only
/// PostgreSQL allows (a transaction left open while another claims), and
/// exist only as `postgres::<case>`: never reported as passed on SQLite.
macro_rules! conformance {
    (
        store: [$($case:ident),* $(,)?],
        raw: [$($raw_case:ident),* $(,)?],
        db: [$($db_case:ident),* $(,)?],
        postgres_only: [$($pg_case:ident),* $(,)?] $(,)?
    ) => {
        conformance!(@backend sqlite, on_sqlite, [$($case),*], [$($raw_case),*], [$($db_case),*]);
        conformance!(
            @backend postgres, on_postgres, [$($case),*], [$($raw_case),*],
            [$($db_case,)* $($pg_case),*]
        );
    };
    (
        @backend $backend:ident, $harness:ident, [$($case:ident),*], [$($raw_case:ident),*],
        [$($db_case:ident),*]
    ) => {
        mod $backend {
            $(
                // Two workers, so the concurrency case really runs in parallel.
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$harness(|db| super::$case(db.store)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $raw_case() {
                    super::$harness(|db| super::$raw_case(db.store, db.raw)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $db_case() {
                    super::$harness(super::$db_case).await;
                }
            )*
        }
    };
}

conformance! {
    store: [
        migrating_twice_is_harmless_and_readiness_follows_it,
        inserted_packages_read_back_exactly,
        times_are_kept_to_the_microsecond_on_every_backend,
        a_duplicate_reference_fails_the_whole_batch,
        lists_filter_and_order_by_deadline_then_reference,
        a_regrade_writes_the_new_deadline_and_appends_its_event,
        a_refused_change_writes_nothing,
        updating_a_missing_package_is_not_found,
        events_come_back_oldest_first_with_actor_and_recorded_time,
        the_ledger_before_an_instant_comes_back_in_sequence_by_occurrence,
        concurrent_changes_to_one_package_all_land_in_turn,
        counts_tell_demo_packages_by_their_exact_prefix,
        a_large_batch_inserts_in_one_call,
        package_writes_append_one_audit_line_each,
        refused_and_failed_writes_append_no_audit_line,
        audited_reads_come_back_oldest_first_all_or_per_package,
        tokens_are_named_once_found_by_hash_and_revoked_at_once,
        tokens_are_listed_newest_first,
        status_filters_select_exactly_the_packages_with_each_status,
        keyset_pages_return_every_package_once_in_order,
        the_position_counts_open_packages_per_stage_and_grade,
        superseded_and_unaddressed_escalations_are_recorded_but_not_sent,
        composed_messages_are_queued_and_linked_to_their_escalations,
        a_limited_pass_takes_the_earliest_due_packages_first,
        every_pass_records_the_heartbeat_and_due_work_shows_the_lag,
        claims_are_first_in_first_out_per_destination,
        an_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish,
        a_released_message_keeps_its_place_and_its_attempt_is_not_counted,
        a_pass_adds_to_the_message_still_waiting_for_its_destination,
        delivery_figures_count_each_status_and_the_retries,
        an_acknowledgement_is_stored_in_the_ledger_and_the_audit_log,
    ],
    raw: [
        readiness_needs_every_migration_applied_successfully,
        stopping_the_clock_stores_the_stop_and_clears_next_due,
        the_event_ledger_refuses_update_and_delete,
        the_audit_log_refuses_update_and_delete,
        a_pass_records_each_escalation_once,
        next_due_at_follows_the_plan_and_the_next_wake_follows_the_work,
        a_failed_pass_writes_nothing,
        the_hot_statements_read_no_sent_message_and_no_undue_package,
    ],
    db: [
        concurrent_passes_record_each_escalation_once,
        concurrent_claimers_never_share_a_message_or_break_a_queue,
    ],
    postgres_only: [
        an_uncommitted_claim_holds_its_destination_back,
        messages_are_committed_in_the_order_of_their_ids,
        a_pass_leaves_packages_another_transaction_holds,
    ],
}

/// Raw access to the database under test: the backend's own store, for its
/// pool and what only the concrete store offers.
#[derive(Debug, Clone)]
pub enum Raw {
    /// The SQLite store.
    Sqlite(SqliteStore),
    /// The PostgreSQL store.
    Postgres(PostgresStore),
}

impl Raw {
    /// Runs one statement; the driver's message on failure.
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        let done = match self {
            Raw::Sqlite(store) => sqlx::query(sql)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(store) => sqlx::query(sql)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
        };
        done.map_err(|e| e.to_string())
    }

    /// The package's `next_due_at`, which the trait does not return.
    async fn next_due_at(&self, reference: &str) -> Option<DateTime<Utc>> {
        const SQL: &str = "SELECT next_due_at FROM packages WHERE reference = $1";
        let due = match self {
            Raw::Sqlite(store) => {
                sqlx::query_scalar(SQL)
                    .bind(reference)
                    .fetch_one(store.pool())
                    .await
            }
            Raw::Postgres(store) => {
                sqlx::query_scalar(SQL)
                    .bind(reference)
                    .fetch_one(store.pool())
                    .await
            }
        };
        due.expect("reading next_due_at")
    }

    /// Sets the package's `next_due_at`, as a write through the API would.
    async fn set_next_due_at(&self, reference: &str, at: Option<DateTime<Utc>>) {
        const SQL: &str = "UPDATE packages SET next_due_at = $2 WHERE reference = $1";
        let done = match self {
            Raw::Sqlite(store) => sqlx::query(SQL)
                .bind(reference)
                .bind(at)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(store) => sqlx::query(SQL)
                .bind(reference)
                .bind(at)
                .execute(store.pool())
                .await
                .map(|r| r.rows_affected()),
        };
        assert_eq!(done.expect("setting next_due_at"), 1);
    }

    /// One count.
    async fn count(&self, sql: &str) -> i64 {
        let count = match self {
            Raw::Sqlite(store) => sqlx::query_scalar(sql).fetch_one(store.pool()).await,
            Raw::Postgres(store) => sqlx::query_scalar(sql).fetch_one(store.pool()).await,
        };
        count.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The backend's plans of the scheduler's and dispatcher's statements.
    async fn query_plans(&self, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
        match self {
            Raw::Sqlite(store) => store.query_plans(now).await,
            Raw::Postgres(store) => store.query_plans(now).await,
        }
        .expect("explaining the hot statements")
    }
}

/// What a case gets.
pub struct TestDb {
    store: Arc<dyn Store>,
    raw: Raw,
    /// The database's URL, to open another pool on it (another instance).
    url: String,
}

impl TestDb {
    /// Another store on the same database, with its own pool: a second
    /// instance of the service.
    async fn second_instance(&self) -> Arc<dyn Store> {
        match self.raw {
            Raw::Sqlite(_) => Arc::new(
                SqliteStore::connect(&self.url, 4)
                    .await
                    .expect("opening the SQLite store again"),
            ),
            Raw::Postgres(_) => Arc::new(
                PostgresStore::connect(&self.url, 4)
                    .await
                    .expect("connecting to the test database again"),
            ),
        }
    }
}

/// Runs `case` against a new SQLite file. The file sits in a folder that
/// does not exist yet, so connecting must create it.
async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let folder = tempfile::tempdir().expect("creating a temporary folder");
    let url = format!("sqlite://{}/data/ocset.db", folder.path().display());
    let store = SqliteStore::connect(&url, 4)
        .await
        .expect("opening the SQLite store");
    let raw = Raw::Sqlite(store.clone());
    case(TestDb {
        store: Arc::new(store),
        raw,
        url,
    })
    .await;
    assert!(folder.path().join("data/ocset.db").is_file());
}

/// Runs `case` against a new PostgreSQL database, dropped afterwards.
async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    common::with_postgres(|database_url| async move {
        let store = PostgresStore::connect(&database_url, 4)
            .await
            .expect("connecting to the test database");
        let raw = Raw::Postgres(store.clone());
        case(TestDb {
            store: Arc::new(store),
            raw,
            url: database_url,
        })
        .await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Domain values for the cases.
// ---------------------------------------------------------------------------

fn policy() -> DeadlinePolicy {
    DeadlinePolicy::new(
        Timescales::default(),
        chrono_tz::Europe::London,
        RegradePolicy::FromReceipt,
        Some("national-2024"),
    )
    .unwrap()
}

fn rules() -> IntakeRules {
    IntakeRules {
        policy: policy(),
        lpas: Lpas::new(&["Birmingham".into(), "Coventry".into(), "Solihull".into()]).unwrap(),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The time the cases run at.
fn now() -> DateTime<Utc> {
    at("2024-06-01T12:00:00Z")
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

/// A package admitted by intake; `received` is RFC 3339 or London time.
fn admitted(reference: &str, grade: &str, received: &str, lpa: &str, stage: &str) -> Package {
    rules()
        .admit(
            &NewPackage {
                reference: reference.into(),
                risk_grade: grade.into(),
                received_at: received.into(),
                lpa: lpa.into(),
                stage: stage.into(),
                ..NewPackage::default()
            },
            now(),
        )
        .unwrap_or_else(|errors| panic!("{reference} was refused: {errors:?}"))
}

/// A standard-risk package in intelligence development, unassigned.
fn plain(reference: &str) -> Package {
    admitted(
        reference,
        "standard",
        "2024-05-20 10:00",
        "Coventry",
        "intelligence_development",
    )
}

/// The entry that stores a new package.
fn created(package: Package) -> LedgerEntry {
    LedgerEntry {
        event: package.created_event(),
        occurred_at: package.received_at(),
        next_due_at: Some(warning_at(&package)),
        due_soon_at: Some(warning_at(&package)),
        package,
    }
}

/// The entry for a change, with the next due instant a caller would compute
/// and the default warning (75% of the timescale) as its due-soon instant.
fn entry(change: Change, next_due_at: Option<DateTime<Utc>>) -> LedgerEntry {
    LedgerEntry {
        due_soon_at: Some(warning_at(&change.package)),
        package: change.package,
        occurred_at: change.occurred_at,
        event: change.event,
        next_due_at,
    }
}

async fn insert(store: &Arc<dyn Store>, packages: Vec<Package>) {
    let entries: Vec<LedgerEntry> = packages.into_iter().map(created).collect();
    store
        .insert_packages(&entries, &Actor::named("cli:test"), now())
        .await
        .expect("inserting packages");
}

async fn migrated(store: &Arc<dyn Store>) {
    store.migrate().await.expect("migrating");
}

async fn stored(store: &Arc<dyn Store>, text: &str) -> Package {
    store
        .package(&reference(text))
        .await
        .expect("reading a package")
        .unwrap_or_else(|| panic!("{text} is not stored"))
}

fn references(packages: &[Package]) -> Vec<&str> {
    packages.iter().map(|p| p.reference().as_str()).collect()
}

// ---------------------------------------------------------------------------
// The cases.
// ---------------------------------------------------------------------------

async fn migrating_twice_is_harmless_and_readiness_follows_it(store: Arc<dyn Store>) {
    assert!(
        !store.is_ready().await.unwrap(),
        "a new database is not ready"
    );
    store.migrate().await.unwrap();
    assert!(store.is_ready().await.unwrap());
    insert(&store, vec![plain("NCA-1")]).await;
    store
        .migrate()
        .await
        .expect("a second migration is harmless");
    assert!(store.is_ready().await.unwrap());
    assert_eq!(stored(&store, "NCA-1").await, plain("NCA-1"));
}

async fn readiness_needs_every_migration_applied_successfully(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    assert!(store.is_ready().await.unwrap());
    // `(1 = 0)` is false on both backends, whatever their boolean type.
    raw.execute("UPDATE _sqlx_migrations SET success = (1 = 0)")
        .await
        .unwrap();
    assert!(
        !store.is_ready().await.unwrap(),
        "a failed migration is not ready"
    );
    raw.execute("DELETE FROM _sqlx_migrations").await.unwrap();
    assert!(
        !store.is_ready().await.unwrap(),
        "a missing migration is not ready"
    );
}

async fn inserted_packages_read_back_exactly(store: Arc<dyn Store>) {
    migrated(&store).await;
    let assigned = rules()
        .admit(
            &NewPackage {
                reference: "NCA-2024-0001".into(),
                risk_grade: "VH".into(),
                received_at: "2024-05-31 10:00".into(),
                lpa: "birmingham".into(),
                stage: "awaiting enforcement".into(),
                assigned_officer: Some("PC.One@Force.Police.UK".into()),
                child_access_identified_at: Some("2024-05-31 11:00".into()),
                safeguarding_referral_at: Some("2024-05-31T10:30:00Z".into()),
            },
            now(),
        )
        .unwrap();
    let unassigned = plain("NCA-2024-0002");
    // A deadline counted from a regrade, under another policy, so the
    // clock start and the version cannot be mistaken for derived values.
    let received = at("2024-05-01T08:00:00Z");
    let regraded = Package::from_parts(PackageParts {
        reference: reference("NCA-2024-0003"),
        received_at: received,
        lpa: Lpas::restore("Solihull".into()),
        assigned_officer: None,
        deadline: Deadline::restore(
            RiskGrade::Medium,
            at("2024-05-24T08:00:00Z"),
            at("2024-05-03T08:00:00Z"),
            PolicyVersion::new("timescales-0a1b2c3d4e5f"),
        ),
        state: PackageState::Open {
            stage: OpenStage::AwaitingEnforcement,
            since: at("2024-05-02T09:15:00Z"),
        },
        safeguarding: Safeguarding::new(Some(at("2024-05-01T09:00:00Z")), None).unwrap(),
        acknowledgement: None,
    });
    // A package imported already closed.
    let mut closed_parts = plain("NCA-2024-0004").parts().clone();
    closed_parts.state = PackageState::Stopped(
        ClockStop::new(
            StopKind::Closed,
            at("2024-05-25T16:45:00Z"),
            Outcome::Transferred,
        )
        .unwrap(),
    );
    let closed = Package::from_parts(closed_parts);
    let all = [assigned, unassigned, regraded, closed];
    let recorded_at = now() + Duration::minutes(3);
    let entries: Vec<LedgerEntry> = all.iter().cloned().map(created).collect();
    store
        .insert_packages(&entries, &Actor::named("cli:import"), recorded_at)
        .await
        .unwrap();

    for (package, entry) in all.iter().zip(&entries) {
        assert_eq!(&stored(&store, package.reference().as_str()).await, package);
        let events = store.events(package.reference()).await.unwrap();
        assert_eq!(events.len(), 1, "{}", package.reference());
        let event = &events[0];
        assert_eq!(&event.reference, package.reference());
        assert_eq!(event.kind, package.created_event());
        assert_eq!(event.occurred_at, entry.occurred_at);
        assert_eq!(event.recorded_at, recorded_at);
        assert_eq!(event.actor, "cli:import");
        assert_eq!(event.risk_grade, package.grade());
        assert_eq!(event.stage, package.stage());
        assert_eq!(event.deadline_at, package.deadline().at());
    }
    let first = stored(&store, "NCA-2024-0001").await;
    assert_eq!(
        first.assigned_officer().unwrap().as_str(),
        "pc.one@force.police.uk"
    );
    assert_eq!(
        first.safeguarding().referral_made_at(),
        Some(at("2024-05-31T10:30:00Z"))
    );
    assert_eq!(first.deadline().policy_version().as_str(), "national-2024");
    let third = stored(&store, "NCA-2024-0003").await;
    assert_eq!(
        third.deadline().clock_started_at(),
        at("2024-05-03T08:00:00Z")
    );
    assert!(stored(&store, "NCA-2024-0002")
        .await
        .assigned_officer()
        .is_none());
    assert!(store
        .package(&reference("NCA-2024-0099"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .events(&reference("NCA-2024-0099"))
        .await
        .unwrap()
        .is_empty());
}

async fn times_are_kept_to_the_microsecond_on_every_backend(store: Arc<dyn Store>) {
    migrated(&store).await;
    let package = admitted(
        "NCA-PRECISE",
        "high",
        "2024-05-31T10:00:00.123456789Z",
        "Coventry",
        "intelligence_development",
    );
    let recorded_at = at("2024-06-01T12:00:00.987654321Z");
    store
        .insert_packages(&[created(package)], &Actor::named("cli:test"), recorded_at)
        .await
        .unwrap();
    let back = stored(&store, "NCA-PRECISE").await;
    assert_eq!(back.received_at(), at("2024-05-31T10:00:00.123456Z"));
    assert_eq!(back.state().since(), at("2024-05-31T10:00:00.123456Z"));
    let events = store.events(&reference("NCA-PRECISE")).await.unwrap();
    assert_eq!(events[0].recorded_at, at("2024-06-01T12:00:00.987654Z"));
}

async fn a_duplicate_reference_fails_the_whole_batch(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1")]).await;

    // Already stored: the middle of a batch of three.
    let batch: Vec<LedgerEntry> = ["NCA-2", "NCA-1", "NCA-3"]
        .map(|r| created(plain(r)))
        .into();
    match store
        .insert_packages(&batch, &Actor::named("cli:test"), now())
        .await
    {
        Err(StoreError::Duplicate(duplicate)) => assert_eq!(duplicate.as_str(), "NCA-1"),
        other => panic!("expected Duplicate(NCA-1), got {other:?}"),
    }
    // Twice within one batch.
    let batch: Vec<LedgerEntry> = ["NCA-4", "NCA-5", "NCA-4"]
        .map(|r| created(plain(r)))
        .into();
    match store
        .insert_packages(&batch, &Actor::named("cli:test"), now())
        .await
    {
        Err(StoreError::Duplicate(duplicate)) => assert_eq!(duplicate.as_str(), "NCA-4"),
        other => panic!("expected Duplicate(NCA-4), got {other:?}"),
    }

    for absent in ["NCA-2", "NCA-3", "NCA-4", "NCA-5"] {
        assert!(
            store.package(&reference(absent)).await.unwrap().is_none(),
            "{absent} was written"
        );
        assert!(
            store.events(&reference(absent)).await.unwrap().is_empty(),
            "{absent} has events"
        );
    }
    assert_eq!(store.count_packages().await.unwrap().total, 1);
    assert_eq!(store.events(&reference("NCA-1")).await.unwrap().len(), 1);
    // The store is still usable, and the refused references can be stored.
    insert(&store, vec![plain("NCA-2"), plain("NCA-3")]).await;
    assert_eq!(store.count_packages().await.unwrap().total, 3);
}

async fn lists_filter_and_order_by_deadline_then_reference(store: Arc<dyn Store>) {
    migrated(&store).await;
    let received = "2024-05-30 09:00";
    let mut enforced_parts = admitted(
        "NCA-E",
        "very_high",
        received,
        "Coventry",
        "awaiting_enforcement",
    )
    .parts()
    .clone();
    enforced_parts.state = PackageState::Stopped(
        ClockStop::new(
            StopKind::Enforced,
            at("2024-05-31T09:00:00Z"),
            Outcome::Arrest,
        )
        .unwrap(),
    );
    insert(
        &store,
        vec![
            // Inserted out of order; B and A share a deadline.
            admitted(
                "NCA-S",
                "standard",
                received,
                "Coventry",
                "intelligence_development",
            ),
            admitted(
                "NCA-B",
                "high",
                received,
                "Birmingham",
                "awaiting_enforcement",
            ),
            admitted(
                "NCA-M",
                "medium",
                received,
                "Solihull",
                "intelligence_development",
            ),
            admitted(
                "NCA-A",
                "high",
                received,
                "Coventry",
                "intelligence_development",
            ),
            admitted(
                "NCA-V",
                "very_high",
                received,
                "Birmingham",
                "intelligence_development",
            ),
            Package::from_parts(enforced_parts),
        ],
    )
    .await;
    let list = |filter: PackageFilter| {
        let store = store.clone();
        async move {
            let packages = store.list_packages(&filter).await.unwrap();
            let deadlines: Vec<DateTime<Utc>> =
                packages.iter().map(|p| p.deadline().at()).collect();
            assert!(
                deadlines.windows(2).all(|w| w[0] <= w[1]),
                "not by deadline"
            );
            references(&packages)
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(PackageFilter::default()).await,
        ["NCA-E", "NCA-V", "NCA-A", "NCA-B", "NCA-M", "NCA-S"]
    );
    let open = PackageFilter {
        open_only: true,
        ..PackageFilter::default()
    };
    assert_eq!(
        list(open.clone()).await,
        ["NCA-V", "NCA-A", "NCA-B", "NCA-M", "NCA-S"]
    );
    let very_high = PackageFilter {
        grade: Some(RiskGrade::VeryHigh),
        ..PackageFilter::default()
    };
    assert_eq!(list(very_high.clone()).await, ["NCA-E", "NCA-V"]);
    assert_eq!(
        list(PackageFilter {
            open_only: true,
            ..very_high
        })
        .await,
        ["NCA-V"]
    );
    assert_eq!(
        list(PackageFilter {
            lpa: Some("Coventry".into()),
            ..PackageFilter::default()
        })
        .await,
        ["NCA-E", "NCA-A", "NCA-S"]
    );
    // LPAs are matched exactly, as stored.
    assert!(list(PackageFilter {
        lpa: Some("coventry".into()),
        ..PackageFilter::default()
    })
    .await
    .is_empty());
    assert_eq!(
        list(PackageFilter {
            stage: Some(Stage::IntelligenceDevelopment),
            ..PackageFilter::default()
        })
        .await,
        ["NCA-V", "NCA-A", "NCA-M", "NCA-S"]
    );
    assert_eq!(
        list(PackageFilter {
            stage: Some(Stage::Enforced),
            ..PackageFilter::default()
        })
        .await,
        ["NCA-E"]
    );
    assert_eq!(
        list(PackageFilter {
            open_only: true,
            grade: Some(RiskGrade::High),
            lpa: Some("Coventry".into()),
            stage: Some(Stage::IntelligenceDevelopment),
            ..PackageFilter::default()
        })
        .await,
        ["NCA-A"]
    );
    // Returned in full, not just by reference.
    let all = store
        .list_packages(&PackageFilter::default())
        .await
        .unwrap();
    assert_eq!(all[0], stored(&store, "NCA-E").await);
}

async fn a_regrade_writes_the_new_deadline_and_appends_its_event(store: Arc<dyn Store>) {
    migrated(&store).await;
    let original = plain("NCA-R");
    insert(&store, vec![original.clone()]).await;
    let regraded_at = at("2024-05-21T09:30:00Z");
    let recorded_at = now() + Duration::hours(1);
    let next_due = at("2024-05-25T16:00:00Z");
    let updated = store
        .update_package(
            &reference("NCA-R"),
            &Actor::named("token:sergeant"),
            recorded_at,
            Box::new(move |package| {
                package
                    .regrade(
                        RiskGrade::High,
                        "new intelligence",
                        regraded_at,
                        now(),
                        &policy(),
                    )
                    .map(|change| entry(change, Some(next_due)))
            }),
        )
        .await
        .unwrap();
    // From receipt (2024-05-20 10:00 London) plus seven calendar days.
    let expected_deadline = at("2024-05-27T09:00:00Z");
    assert_eq!(updated.grade(), RiskGrade::High);
    assert_eq!(updated.deadline().at(), expected_deadline);
    assert_eq!(stored(&store, "NCA-R").await, updated);
    let events = store.events(&reference("NCA-R")).await.unwrap();
    assert_eq!(events.len(), 2);
    let event = &events[1];
    assert_eq!(
        event.kind,
        EventKind::Regraded {
            from: RiskGrade::Standard,
            to: RiskGrade::High,
            reason: "new intelligence".into(),
            previous_deadline_at: original.deadline().at(),
            deadline_at: expected_deadline,
            policy_version: "national-2024".into(),
        }
    );
    assert_eq!(event.occurred_at, regraded_at);
    assert_eq!(event.recorded_at, recorded_at);
    assert_eq!(event.actor, "token:sergeant");
    assert_eq!(event.risk_grade, RiskGrade::High);
    assert_eq!(event.stage, Stage::IntelligenceDevelopment);
    assert_eq!(event.deadline_at, expected_deadline);
    // The created event still records the state before.
    assert_eq!(events[0].risk_grade, RiskGrade::Standard);
    assert_eq!(events[0].deadline_at, original.deadline().at());
}

async fn a_refused_change_writes_nothing(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-X")]).await;
    let stop_at = at("2024-05-22T10:00:00Z");
    store
        .update_package(
            &reference("NCA-X"),
            &Actor::named("cli:test"),
            now(),
            Box::new(move |p| {
                p.move_stage(
                    Stage::Closed,
                    stop_at,
                    Some(Outcome::NoFurtherAction),
                    None,
                    now(),
                )
                .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let before = stored(&store, "NCA-X").await;

    // A stopped package cannot move.
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &Actor::named("cli:test"),
            now(),
            Box::new(move |p| {
                p.move_stage(Stage::AwaitingEnforcement, now(), None, None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        )
        .await;
    match refused {
        Err(StoreError::Refused(refusal)) => assert_eq!(refusal.field, "stage"),
        other => panic!("expected Refused, got {other:?}"),
    }
    // A change may not swap in another package's state.
    let other = plain("NCA-OTHER");
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &Actor::named("cli:test"),
            now(),
            Box::new(move |_| Ok(created(other))),
        )
        .await;
    match refused {
        Err(StoreError::Refused(refusal)) => assert_eq!(refusal.field, "reference"),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(stored(&store, "NCA-X").await, before);
    assert_eq!(store.events(&reference("NCA-X")).await.unwrap().len(), 2);
    assert!(store
        .package(&reference("NCA-OTHER"))
        .await
        .unwrap()
        .is_none());
}

async fn updating_a_missing_package_is_not_found(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1")]).await;
    let result = store
        .update_package(
            &reference("NCA-404"),
            &Actor::named("cli:test"),
            now(),
            Box::new(|_| panic!("the change must not run for a missing package")),
        )
        .await;
    match result {
        Err(StoreError::NotFound(missing)) => assert_eq!(missing.as_str(), "NCA-404"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(store
        .package(&reference("NCA-404"))
        .await
        .unwrap()
        .is_none());
}

async fn stopping_the_clock_stores_the_stop_and_clears_next_due(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let package = admitted(
        "NCA-S",
        "high",
        "2024-05-28 08:00",
        "Solihull",
        "awaiting_enforcement",
    );
    let warning = warning_at(&package);
    insert(&store, vec![package]).await;
    assert_eq!(raw.next_due_at("NCA-S").await, Some(warning));

    let enforced_at = at("2024-05-30T06:00:00Z");
    let updated = store
        .update_package(
            &reference("NCA-S"),
            &Actor::named("token:ppu"),
            now(),
            Box::new(move |p| {
                p.move_stage(
                    Stage::Enforced,
                    enforced_at,
                    Some(Outcome::Arrest),
                    Some("early morning"),
                    now(),
                )
                .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let back = stored(&store, "NCA-S").await;
    assert_eq!(back, updated);
    assert_eq!(back.stage(), Stage::Enforced);
    let stop = back.state().stop().expect("the clock has stopped");
    assert_eq!(
        (stop.kind(), stop.at(), stop.outcome()),
        (StopKind::Enforced, enforced_at, Outcome::Arrest)
    );
    assert_eq!(back.state().since(), enforced_at);
    assert_eq!(raw.next_due_at("NCA-S").await, None);
    let open = PackageFilter {
        open_only: true,
        ..PackageFilter::default()
    };
    assert!(store.list_packages(&open).await.unwrap().is_empty());
    let events = store.events(&reference("NCA-S")).await.unwrap();
    assert_eq!(
        events[1].kind,
        EventKind::StageChanged {
            from: Stage::AwaitingEnforcement,
            to: Stage::Enforced,
            outcome: Some(Outcome::Arrest),
            note: Some("early morning".into()),
        }
    );
    assert_eq!(events[1].stage, Stage::Enforced);
}

async fn events_come_back_oldest_first_with_actor_and_recorded_time(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-L"), plain("NCA-OTHER")]).await;
    let officer = OfficerEmail::parse("pc.two@force.police.uk").unwrap();
    let changes: Vec<(&str, ocset_scheduler::store::PackageChange)> = vec![
        (
            "token:one",
            Box::new(move |p| p.assign(officer, now()).map(|c| entry(c, Some(now())))),
        ),
        (
            "token:two",
            Box::new(|p| {
                p.update_safeguarding(Some(at("2024-05-31T08:00:00Z")), None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        ),
        (
            "cli:three",
            Box::new(|p| {
                p.move_stage(
                    Stage::AwaitingEnforcement,
                    at("2024-05-31T09:00:00Z"),
                    None,
                    None,
                    now(),
                )
                .map(|c| entry(c, Some(now())))
            }),
        ),
    ];
    for (i, (actor, change)) in changes.into_iter().enumerate() {
        let recorded_at = now() + Duration::minutes(10 * (i as i64 + 1));
        store
            .update_package(
                &reference("NCA-L"),
                &Actor::named(actor),
                recorded_at,
                change,
            )
            .await
            .unwrap();
        // Interleave another package's events, which must not show up.
        store
            .update_package(
                &reference("NCA-OTHER"),
                &Actor::named("token:noise"),
                recorded_at,
                Box::new(move |p| {
                    let officer =
                        OfficerEmail::parse(&format!("pc.noise{i}@force.police.uk")).unwrap();
                    p.assign(officer, now()).map(|c| entry(c, Some(now())))
                }),
            )
            .await
            .unwrap();
    }
    let events = store.events(&reference("NCA-L")).await.unwrap();
    let summary: Vec<(&str, &str, DateTime<Utc>)> = events
        .iter()
        .map(|e| (e.kind.name(), e.actor.as_str(), e.recorded_at))
        .collect();
    assert_eq!(
        summary,
        [
            ("created", "cli:test", now()),
            ("assigned", "token:one", now() + Duration::minutes(10)),
            (
                "safeguarding_updated",
                "token:two",
                now() + Duration::minutes(20)
            ),
            ("stage_changed", "cli:three", now() + Duration::minutes(30)),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert!(events.iter().all(|e| e.reference.as_str() == "NCA-L"));
    let back = stored(&store, "NCA-L").await;
    assert_eq!(
        back.safeguarding().child_access_identified_at(),
        Some(at("2024-05-31T08:00:00Z"))
    );
    assert_eq!(
        back.assigned_officer().unwrap().as_str(),
        "pc.two@force.police.uk"
    );
}

async fn the_ledger_before_an_instant_comes_back_in_sequence_by_occurrence(store: Arc<dyn Store>) {
    migrated(&store).await;
    // Received on 20 May (plain) and 25 May.
    let later = admitted(
        "NCA-B",
        "medium",
        "2024-05-25 10:00",
        "Solihull",
        "awaiting_enforcement",
    );
    insert(&store, vec![plain("NCA-A"), later]).await;
    // A stage move recorded now but effective on 22 May: it counts from
    // when it happened, and comes after the creations in sequence.
    store
        .update_package(
            &reference("NCA-A"),
            &Actor::named("cli:test"),
            now(),
            Box::new(|p| {
                p.move_stage(
                    Stage::AwaitingEnforcement,
                    at("2024-05-22T09:00:00Z"),
                    None,
                    None,
                    now(),
                )
                .map(|c| entry(c, Some(now())))
            }),
        )
        .await
        .unwrap();
    let summary =
        |events: Vec<ocset_scheduler::store::LedgerEvent>| -> Vec<(String, &'static str, Stage)> {
            events
                .into_iter()
                .map(|e| (e.reference.to_string(), e.kind.name(), e.stage))
                .collect()
        };
    assert_eq!(
        summary(
            store
                .events_before(at("2024-05-20T09:00:00Z"))
                .await
                .unwrap()
        ),
        []
    );
    assert_eq!(
        summary(
            store
                .events_before(at("2024-05-23T00:00:00Z"))
                .await
                .unwrap()
        ),
        [
            ("NCA-A".into(), "created", Stage::IntelligenceDevelopment),
            ("NCA-A".into(), "stage_changed", Stage::AwaitingEnforcement),
        ]
    );
    let all = store.events_before(now()).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_eq!(
        summary(all),
        [
            ("NCA-A".into(), "created", Stage::IntelligenceDevelopment),
            ("NCA-B".into(), "created", Stage::AwaitingEnforcement),
            ("NCA-A".into(), "stage_changed", Stage::AwaitingEnforcement),
        ]
    );
    // The bound is exclusive: an event at the instant itself is not before it.
    let received_b = stored(&store, "NCA-B").await.received_at();
    let before_b = store.events_before(received_b).await.unwrap();
    assert!(before_b.iter().all(|e| e.reference.as_str() == "NCA-A"));
}

async fn the_event_ledger_refuses_update_and_delete(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1"), plain("NCA-2")]).await;
    let before = store.events(&reference("NCA-1")).await.unwrap();
    for statement in [
        "UPDATE package_events SET actor = 'someone else'",
        "UPDATE package_events SET details = '{}' WHERE id = (SELECT MIN(id) FROM package_events)",
        "DELETE FROM package_events",
        "DELETE FROM package_events WHERE id = (SELECT MAX(id) FROM package_events)",
    ] {
        let error = raw
            .execute(statement)
            .await
            .expect_err(&format!("{statement} must be refused"));
        assert!(
            error.contains("package_events is append-only"),
            "{statement}: {error}"
        );
    }
    assert_eq!(store.events(&reference("NCA-1")).await.unwrap(), before);
    assert_eq!(store.events(&reference("NCA-2")).await.unwrap().len(), 1);
}

async fn concurrent_changes_to_one_package_all_land_in_turn(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-C")]).await;
    // Eight reassignments and a stage move at once. Each change reads the
    // package inside its transaction, so none may fail as locked and none
    // may overwrite another's write.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update_package(
                    &reference("NCA-C"),
                    &Actor::named(format!("token:{i}")),
                    now(),
                    Box::new(move |p| {
                        let officer =
                            OfficerEmail::parse(&format!("pc.{i}@force.police.uk")).unwrap();
                        p.assign(officer, now()).map(|c| entry(c, Some(now())))
                    }),
                )
                .await
        }));
    }
    let mover = store.clone();
    tasks.push(tokio::spawn(async move {
        mover
            .update_package(
                &reference("NCA-C"),
                &Actor::named("token:mover"),
                now(),
                Box::new(|p| {
                    p.move_stage(
                        Stage::AwaitingEnforcement,
                        at("2024-05-31T09:00:00Z"),
                        None,
                        None,
                        now(),
                    )
                    .map(|c| entry(c, Some(now())))
                }),
            )
            .await
    }));
    for task in tasks {
        task.await
            .unwrap()
            .expect("every concurrent change succeeds");
    }

    let events = store.events(&reference("NCA-C")).await.unwrap();
    assert_eq!(
        events.len(),
        10,
        "created, eight assignments and a stage move"
    );
    // Each assignment saw the one before it: no write was lost.
    let mut officer: Option<String> = None;
    for event in &events[1..] {
        if let EventKind::Assigned { from, to } = &event.kind {
            assert_eq!(from, &officer, "an assignment did not see the previous one");
            officer = Some(to.clone());
        }
    }
    let back = stored(&store, "NCA-C").await;
    assert_eq!(back.stage(), Stage::AwaitingEnforcement);
    assert_eq!(back.assigned_officer().map(|o| o.to_string()), officer);
}

async fn counts_tell_demo_packages_by_their_exact_prefix(store: Arc<dyn Store>) {
    migrated(&store).await;
    assert_eq!(
        store.count_packages().await.unwrap(),
        PackageCounts::default()
    );
    insert(
        &store,
        [
            "DEMO-0001",
            "DEMO-0002",
            "demo-0003",
            "NCA-DEMO-4",
            "DEMO0005",
            "NCA-6",
        ]
        .map(plain)
        .into(),
    )
    .await;
    assert_eq!(
        store.count_packages().await.unwrap(),
        PackageCounts { total: 6, demo: 2 }
    );
}

async fn a_large_batch_inserts_in_one_call(store: Arc<dyn Store>) {
    migrated(&store).await;
    let packages: Vec<Package> = (0..2000).map(|i| plain(&format!("BULK-{i:05}"))).collect();
    let wanted: Vec<Reference> = [
        "BULK-01999",
        "NOT-STORED",
        "BULK-00000",
        "BULK-00500",
        "BULK-00000",
    ]
    .map(reference)
    .into();
    insert(&store, packages).await;
    assert_eq!(store.count_packages().await.unwrap().total, 2000);
    let all = store
        .list_packages(&PackageFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2000);
    assert_eq!(all[1999], plain("BULK-01999"));
    assert_eq!(
        store.events(&reference("BULK-01234")).await.unwrap().len(),
        1
    );
    // In the order asked, each once, across more than one look-up chunk.
    assert_eq!(
        store.existing_references(&wanted).await.unwrap(),
        ["BULK-01999", "BULK-00000", "BULK-00500"].map(reference)
    );
    let every: Vec<Reference> = all.iter().map(|p| p.reference().clone()).collect();
    assert_eq!(store.existing_references(&every).await.unwrap().len(), 2000);
}

/// When 75% of the package's timescale has elapsed: the default warning.
fn warning_at(package: &ocset_scheduler::domain::Package) -> chrono::DateTime<chrono::Utc> {
    let deadline = package.deadline();
    ocset_scheduler::domain::LevelTime::Percent(75).instant(
        deadline.clock_started_at(),
        deadline.at(),
        chrono_tz::Europe::London,
    )
}

// ---------------------------------------------------------------------------
// The audit log.
// ---------------------------------------------------------------------------

/// An actor with a request id, as the API makes them.
fn requester(name: &str, request_id: &str) -> Actor {
    Actor {
        name: name.into(),
        request_id: Some(request_id.into()),
    }
}

/// An audit line without its sequence number: (at, actor, action,
/// reference, request id, detail).
type AuditLine = (
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn line(
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    reference: Option<&str>,
    request_id: Option<&str>,
    detail: Option<&str>,
) -> AuditLine {
    (
        at,
        actor.into(),
        action.into(),
        reference.map(String::from),
        request_id.map(String::from),
        detail.map(String::from),
    )
}

/// The lines of `log`, after checking they are in appending order.
fn lines(log: &[AuditRecord]) -> Vec<AuditLine> {
    assert!(
        log.windows(2).all(|w| w[0].sequence < w[1].sequence),
        "not oldest first: {log:?}"
    );
    log.iter()
        .map(|r| {
            (
                r.at,
                r.actor.clone(),
                r.action.clone(),
                r.reference.clone(),
                r.request_id.clone(),
                r.detail.clone(),
            )
        })
        .collect()
}

async fn audit_log(store: &Arc<dyn Store>, reference_text: Option<&str>) -> Vec<AuditLine> {
    let reference_value = reference_text.map(reference);
    lines(
        &store
            .audit_log(reference_value.as_ref())
            .await
            .expect("reading the audit log"),
    )
}

async fn package_writes_append_one_audit_line_each(store: Arc<dyn Store>) {
    migrated(&store).await;
    let intake = requester("token:intake", "req-1");
    store
        .insert_packages(
            &[created(plain("NCA-A1")), created(plain("NCA-A2"))],
            &intake,
            now(),
        )
        .await
        .unwrap();
    let created_lines = [
        line(
            now(),
            "token:intake",
            "package.created",
            Some("NCA-A1"),
            Some("req-1"),
            None,
        ),
        line(
            now(),
            "token:intake",
            "package.created",
            Some("NCA-A2"),
            Some("req-1"),
            None,
        ),
    ];
    assert_eq!(audit_log(&store, None).await, created_lines);

    // Every kind of change: one line each, named after its event, with the
    // actor's request id and the time recorded.
    let officer = OfficerEmail::parse("pc.three@force.police.uk").unwrap();
    let changes: Vec<(Actor, &str, ocset_scheduler::store::PackageChange)> = vec![
        (
            requester("token:sergeant", "req-2"),
            "package.regraded",
            Box::new(|p| {
                p.regrade(
                    RiskGrade::High,
                    "new intelligence",
                    at("2024-05-21T09:00:00Z"),
                    now(),
                    &policy(),
                )
                .map(|c| entry(c, Some(now())))
            }),
        ),
        (
            requester("token:sergeant", "req-3"),
            "package.assigned",
            Box::new(move |p| p.assign(officer, now()).map(|c| entry(c, Some(now())))),
        ),
        (
            // No request id: the command line.
            Actor::named("cli:analyst"),
            "package.safeguarding_updated",
            Box::new(|p| {
                p.update_safeguarding(Some(at("2024-05-31T08:00:00Z")), None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        ),
        (
            requester("token:ppu", "req-4"),
            "package.stage_changed",
            Box::new(|p| {
                p.move_stage(
                    Stage::Enforced,
                    at("2024-05-31T09:00:00Z"),
                    Some(Outcome::Arrest),
                    None,
                    now(),
                )
                .map(|c| entry(c, None))
            }),
        ),
    ];
    let mut expected = vec![created_lines[0].clone()];
    for (i, (actor, action, change)) in changes.into_iter().enumerate() {
        let recorded_at = now() + Duration::minutes(i as i64 + 1);
        store
            .update_package(&reference("NCA-A1"), &actor, recorded_at, change)
            .await
            .unwrap();
        expected.push(line(
            recorded_at,
            &actor.name,
            action,
            Some("NCA-A1"),
            actor.request_id.as_deref(),
            None,
        ));
        assert_eq!(
            audit_log(&store, Some("NCA-A1")).await,
            expected,
            "{action}"
        );
    }
    // The event ledger keeps the actor's name.
    let events = store.events(&reference("NCA-A1")).await.unwrap();
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(
        actors,
        [
            "token:intake",
            "token:sergeant",
            "token:sergeant",
            "cli:analyst",
            "token:ppu"
        ]
    );
    assert_eq!(
        audit_log(&store, Some("NCA-A2")).await,
        [created_lines[1].clone()]
    );
    assert_eq!(audit_log(&store, None).await.len(), 6);
}

async fn refused_and_failed_writes_append_no_audit_line(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-X")]).await;
    let before = audit_log(&store, None).await;
    assert_eq!(before.len(), 1);
    let actor = requester("token:sergeant", "req-refused");

    // Refused by the rules: a backward stage move.
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &actor,
            now(),
            Box::new(|p| {
                p.move_stage(Stage::IntelligenceDevelopment, now(), None, None, now())
                    .map(|c| entry(c, Some(now())))
            }),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    // Refused by the store: another package's state.
    let refused = store
        .update_package(
            &reference("NCA-X"),
            &actor,
            now(),
            Box::new(|_| Ok(created(plain("NCA-OTHER")))),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    // Not stored.
    let missing = store
        .update_package(
            &reference("NCA-404"),
            &actor,
            now(),
            Box::new(|_| panic!("the change must not run for a missing package")),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    // A batch with a stored reference at its end, after more rows than one
    // insert chunk holds on either backend (SQLite 25, PostgreSQL 500): the
    // earlier chunks' audit lines are written first, and must go when the
    // batch is undone.
    let mut batch: Vec<LedgerEntry> = (0..510)
        .map(|i| created(plain(&format!("NCA-B{i:03}"))))
        .collect();
    batch.push(created(plain("NCA-X")));
    let duplicate = store.insert_packages(&batch, &actor, now()).await;
    assert!(
        matches!(duplicate, Err(StoreError::Duplicate(_))),
        "{duplicate:?}"
    );

    assert_eq!(audit_log(&store, None).await, before);
    assert_eq!(store.count_packages().await.unwrap().total, 1);
}

/// What a case passes to [`Store::audit`]: (actor, action, reference,
/// detail, at).
type AuditedRead<'a> = (
    &'a Actor,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    DateTime<Utc>,
);

async fn audited_reads_come_back_oldest_first_all_or_per_package(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1"), plain("NCA-2")]).await;
    let viewer = requester("token:dashboard", "req-7");
    let analyst = Actor::named("cli:analyst");
    let read_at = at("2024-06-01T12:05:00.123456Z");
    let reads: [AuditedRead<'_>; 4] = [
        (&viewer, "package.read", Some("NCA-1"), None, read_at),
        (
            &viewer,
            "package.list",
            None,
            Some("status=breached"),
            read_at + Duration::seconds(1),
        ),
        // A read of a reference that is not stored is audited too.
        (
            &viewer,
            "package.read",
            Some("NCA-404"),
            None,
            read_at + Duration::seconds(2),
        ),
        (
            &analyst,
            "package.events_read",
            Some("NCA-2"),
            Some("events"),
            // Nanoseconds are cut, as for every stored time.
            at("2024-06-01T12:06:00.000000999Z"),
        ),
    ];
    for (actor, action, reference_text, detail, when) in reads {
        let reference_value = reference_text.map(reference);
        store
            .audit(actor, action, reference_value.as_ref(), detail, when)
            .await
            .unwrap();
    }
    let created_line = |r: &str| line(now(), "cli:test", "package.created", Some(r), None, None);
    let read_lines = [
        line(
            read_at,
            "token:dashboard",
            "package.read",
            Some("NCA-1"),
            Some("req-7"),
            None,
        ),
        line(
            read_at + Duration::seconds(1),
            "token:dashboard",
            "package.list",
            None,
            Some("req-7"),
            Some("status=breached"),
        ),
        line(
            read_at + Duration::seconds(2),
            "token:dashboard",
            "package.read",
            Some("NCA-404"),
            Some("req-7"),
            None,
        ),
        line(
            at("2024-06-01T12:06:00Z"),
            "cli:analyst",
            "package.events_read",
            Some("NCA-2"),
            None,
            Some("events"),
        ),
    ];
    let mut everything = vec![created_line("NCA-1"), created_line("NCA-2")];
    everything.extend(read_lines.iter().cloned());
    assert_eq!(audit_log(&store, None).await, everything);
    assert_eq!(
        audit_log(&store, Some("NCA-1")).await,
        [created_line("NCA-1"), read_lines[0].clone()]
    );
    assert_eq!(
        audit_log(&store, Some("NCA-2")).await,
        [created_line("NCA-2"), read_lines[3].clone()]
    );
    assert_eq!(
        audit_log(&store, Some("NCA-404")).await,
        [read_lines[2].clone()]
    );
    assert!(audit_log(&store, Some("NCA-3")).await.is_empty());
}

async fn the_audit_log_refuses_update_and_delete(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    insert(&store, vec![plain("NCA-1"), plain("NCA-2")]).await;
    let before = audit_log(&store, None).await;
    let mut statements = vec![
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET detail = 'x' WHERE id = (SELECT MIN(id) FROM audit_log)",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)",
    ];
    if matches!(raw, Raw::Postgres(_)) {
        // Row triggers do not see TRUNCATE; a statement trigger refuses it.
        statements.push("TRUNCATE audit_log");
    }
    for statement in statements {
        let error = raw
            .execute(statement)
            .await
            .expect_err(&format!("{statement} must be refused"));
        assert!(
            error.contains("audit_log is append-only"),
            "{statement}: {error}"
        );
    }
    assert_eq!(audit_log(&store, None).await, before);
}

// ---------------------------------------------------------------------------
// API tokens.
// ---------------------------------------------------------------------------

fn token(name: &str, role: Role, created_at: DateTime<Utc>) -> ApiToken {
    ApiToken {
        name: name.into(),
        role,
        created_at,
        revoked_at: None,
    }
}

async fn tokens_are_named_once_found_by_hash_and_revoked_at_once(store: Arc<dyn Store>) {
    migrated(&store).await;
    let admin = Actor::named("cli:admin");
    let created_at = at("2024-06-01T09:00:00.250Z");
    let dashboard = token("ppu-dashboard", Role::Viewer, created_at);
    store
        .create_token(&dashboard, "hash-dashboard", &admin)
        .await
        .unwrap();
    assert_eq!(
        store.token_by_hash("hash-dashboard").await.unwrap(),
        Some(dashboard.clone())
    );
    assert_eq!(store.token_by_hash("hash-unknown").await.unwrap(), None);

    // The name is taken: refused, whatever the role or hash, and nothing
    // is written.
    let again = token("ppu-dashboard", Role::Admin, now());
    match store.create_token(&again, "hash-again", &admin).await {
        Err(StoreError::DuplicateToken(name)) => assert_eq!(name, "ppu-dashboard"),
        other => panic!("expected DuplicateToken, got {other:?}"),
    }
    assert_eq!(store.token_by_hash("hash-again").await.unwrap(), None);
    assert_eq!(
        store.tokens().await.unwrap(),
        std::slice::from_ref(&dashboard)
    );

    // Revoked: refused from that moment.
    let root = requester("token:root", "req-9");
    let revoked_at = now();
    assert!(store
        .revoke_token("ppu-dashboard", revoked_at, &root)
        .await
        .unwrap());
    assert_eq!(store.token_by_hash("hash-dashboard").await.unwrap(), None);
    let revoked = ApiToken {
        revoked_at: Some(revoked_at),
        ..dashboard.clone()
    };
    assert_eq!(
        store.tokens().await.unwrap(),
        std::slice::from_ref(&revoked)
    );

    // Nothing to revoke: false, and no audit line.
    let audited = audit_log(&store, None).await;
    assert!(!store
        .revoke_token("ppu-dashboard", now() + Duration::hours(1), &root)
        .await
        .unwrap());
    assert!(!store
        .revoke_token("no-such-token", now(), &root)
        .await
        .unwrap());
    assert_eq!(audit_log(&store, None).await, audited);
    // The first revocation's time stands.
    assert_eq!(store.tokens().await.unwrap(), [revoked]);

    // A revoked token's name stays taken.
    match store.create_token(&again, "hash-again", &admin).await {
        Err(StoreError::DuplicateToken(name)) => assert_eq!(name, "ppu-dashboard"),
        other => panic!("expected DuplicateToken, got {other:?}"),
    }

    assert_eq!(
        audit_log(&store, None).await,
        [
            line(
                created_at,
                "cli:admin",
                "token.created",
                None,
                None,
                Some("name=ppu-dashboard role=viewer"),
            ),
            line(
                revoked_at,
                "token:root",
                "token.revoked",
                None,
                Some("req-9"),
                Some("name=ppu-dashboard"),
            ),
        ]
    );
}

async fn tokens_are_listed_newest_first(store: Arc<dyn Store>) {
    migrated(&store).await;
    let admin = Actor::named("cli:admin");
    let created = [
        token("first", Role::Admin, at("2024-06-01T09:00:00Z")),
        token("third", Role::Intake, at("2024-06-01T11:00:00Z")),
        token("second", Role::Supervisor, at("2024-06-01T10:00:00Z")),
        // Created at the same instant as "third", but after it.
        token("fourth", Role::Viewer, at("2024-06-01T11:00:00Z")),
    ];
    for (i, t) in created.iter().enumerate() {
        store
            .create_token(t, &format!("hash-{i}"), &admin)
            .await
            .unwrap();
    }
    assert!(store.revoke_token("second", now(), &admin).await.unwrap());
    let names: Vec<(String, bool)> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.revoked_at.is_some()))
        .collect();
    assert_eq!(
        names,
        [
            ("fourth".to_string(), false),
            ("third".to_string(), false),
            ("second".to_string(), true),
            ("first".to_string(), false),
        ]
    );
}

// ---------------------------------------------------------------------------
// Status filters, keyset pages and the position.
// ---------------------------------------------------------------------------

/// Where a hand-built package stands.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Open(OpenStage),
    Enforced(DateTime<Utc>),
    Closed(DateTime<Utc>),
}

const DEVELOPING: Shape = Shape::Open(OpenStage::IntelligenceDevelopment);
const AWAITING: Shape = Shape::Open(OpenStage::AwaitingEnforcement);

/// A package with exactly this deadline, built from parts (intake would
/// compute the deadline itself), so a case can put it anywhere in time.
fn shaped(
    text: &str,
    grade: RiskGrade,
    lpa: &str,
    received_at: DateTime<Utc>,
    deadline_at: DateTime<Utc>,
    shape: Shape,
) -> Package {
    let state = match shape {
        Shape::Open(stage) => PackageState::Open {
            stage,
            since: received_at,
        },
        Shape::Enforced(stopped_at) => PackageState::Stopped(
            ClockStop::new(StopKind::Enforced, stopped_at, Outcome::Arrest).unwrap(),
        ),
        Shape::Closed(stopped_at) => PackageState::Stopped(
            ClockStop::new(StopKind::Closed, stopped_at, Outcome::NoFurtherAction).unwrap(),
        ),
    };
    Package::from_parts(PackageParts {
        reference: reference(text),
        received_at,
        lpa: Lpas::restore(lpa.into()),
        assigned_officer: None,
        deadline: Deadline::restore(
            grade,
            deadline_at,
            received_at,
            PolicyVersion::new("national-2024"),
        ),
        state,
        safeguarding: Safeguarding::default(),
        acknowledgement: None,
    })
}

/// Stores packages, each with the instant it becomes due soon.
async fn insert_with_due_soon(
    store: &Arc<dyn Store>,
    packages: &[(Package, Option<DateTime<Utc>>)],
) {
    let entries: Vec<LedgerEntry> = packages
        .iter()
        .map(|(package, due_soon_at)| LedgerEntry {
            event: package.created_event(),
            occurred_at: package.received_at(),
            next_due_at: None,
            due_soon_at: *due_soon_at,
            package: package.clone(),
        })
        .collect();
    store
        .insert_packages(&entries, &Actor::named("cli:test"), now())
        .await
        .expect("inserting packages");
}

async fn listed(store: &Arc<dyn Store>, filter: &PackageFilter) -> Vec<String> {
    references(&store.list_packages(filter).await.unwrap())
        .into_iter()
        .map(String::from)
        .collect()
}

async fn status_filters_select_exactly_the_packages_with_each_status(store: Arc<dyn Store>) {
    migrated(&store).await;
    let t = now();
    let micro = Duration::microseconds(1);
    let hour = Duration::hours(1);
    let day = Duration::days(1);
    let received = t - Duration::days(10);
    let open = |r: &str, lpa: &str, shape: Shape, deadline: DateTime<Utc>| {
        shaped(r, RiskGrade::High, lpa, received, deadline, shape)
    };
    // (package, due_soon_at, its status at `t`)
    let ledger: Vec<(Package, Option<DateTime<Utc>>, PackageStatus)> = vec![
        (
            open("ST-ON-TRACK", "Coventry", DEVELOPING, t + day * 2),
            Some(t + day),
            PackageStatus::OnTrack,
        ),
        // No warning before the deadline: on track until the deadline.
        (
            open("ST-ON-TRACK-NO-WARNING", "Birmingham", AWAITING, t + micro),
            None,
            PackageStatus::OnTrack,
        ),
        (
            open("ST-DUE-SOON", "Coventry", AWAITING, t + day),
            Some(t - hour),
            PackageStatus::DueSoon,
        ),
        (
            open("ST-DUE-SOON-EXACT", "Birmingham", DEVELOPING, t + hour * 3),
            Some(t),
            PackageStatus::DueSoon,
        ),
        (
            open("ST-BREACHED", "Coventry", DEVELOPING, t - day),
            Some(t - day * 2),
            PackageStatus::Breached,
        ),
        // At its deadline: breached.
        (
            open("ST-BREACHED-EXACT", "Birmingham", AWAITING, t),
            Some(t - hour),
            PackageStatus::Breached,
        ),
        (
            open(
                "ST-BREACHED-BY-A-MICROSECOND",
                "Coventry",
                DEVELOPING,
                t - micro,
            ),
            None,
            PackageStatus::Breached,
        ),
        (
            open("ST-MET", "Coventry", Shape::Enforced(t - day * 2), t - day),
            Some(t - day * 3),
            PackageStatus::Met,
        ),
        // Enforced at its deadline: met.
        (
            open(
                "ST-MET-EXACT",
                "Birmingham",
                Shape::Enforced(t - hour * 3),
                t - hour * 3,
            ),
            None,
            PackageStatus::Met,
        ),
        (
            open(
                "ST-MISSED",
                "Coventry",
                Shape::Enforced(t - hour),
                t - hour - micro,
            ),
            None,
            PackageStatus::Missed,
        ),
        (
            open(
                "ST-CLOSED",
                "Coventry",
                Shape::Closed(t - day * 5),
                t - day * 4,
            ),
            None,
            PackageStatus::Closed,
        ),
        (
            open(
                "ST-CLOSED-LATE",
                "Birmingham",
                Shape::Closed(t - hour),
                t - day * 2,
            ),
            Some(t - day * 3),
            PackageStatus::Closed,
        ),
    ];
    let stored: Vec<(Package, Option<DateTime<Utc>>)> = ledger
        .iter()
        .map(|(p, due_soon_at, _)| (p.clone(), *due_soon_at))
        .collect();
    insert_with_due_soon(&store, &stored).await;

    // What the domain says, in list order.
    let by_domain = |status: PackageStatus, at: DateTime<Utc>, lpa: Option<&str>| {
        let mut chosen: Vec<&Package> = stored
            .iter()
            .filter(|(p, due_soon_at)| {
                p.status(at, *due_soon_at) == status && lpa.is_none_or(|l| p.lpa().as_str() == l)
            })
            .map(|(p, _)| p)
            .collect();
        chosen.sort_by_key(|p| (p.deadline().at(), p.reference().as_str().to_string()));
        chosen
            .into_iter()
            .map(|p| p.reference().to_string())
            .collect::<Vec<_>>()
    };
    for status in PackageStatus::ALL {
        let filter = PackageFilter {
            status: Some((status, t)),
            ..PackageFilter::default()
        };
        let mut expected: Vec<&Package> = ledger
            .iter()
            .filter(|(_, _, s)| *s == status)
            .map(|(p, _, _)| p)
            .collect();
        expected.sort_by_key(|p| (p.deadline().at(), p.reference().as_str().to_string()));
        let expected: Vec<String> = expected.iter().map(|p| p.reference().to_string()).collect();
        assert!(!expected.is_empty(), "{status} occurs");
        assert_eq!(listed(&store, &filter).await, expected, "{status}");
        // The store and the domain agree.
        assert_eq!(by_domain(status, t, None), expected, "{status}");
    }
    // At other instants too, and combined with other filters.
    for when in [t - hour * 2, t - micro, t + micro, t + day + micro] {
        for status in PackageStatus::ALL {
            for lpa in [None, Some("Birmingham")] {
                let filter = PackageFilter {
                    status: Some((status, when)),
                    lpa: lpa.map(String::from),
                    ..PackageFilter::default()
                };
                assert_eq!(
                    listed(&store, &filter).await,
                    by_domain(status, when, lpa),
                    "{status} at {when} in {lpa:?}"
                );
            }
        }
    }
}

async fn keyset_pages_return_every_package_once_in_order(store: Arc<dyn Store>) {
    migrated(&store).await;
    let t = now();
    // Deadlines with 6, 3 and no fraction digits: on SQLite, text order
    // must still be time order, and a cursor must equal the deadline it was
    // taken from, in every format sqlx writes.
    let d1 = t + Duration::days(1) + Duration::microseconds(123_456);
    let d2 = t + Duration::days(2) + Duration::milliseconds(500);
    let d3 = t + Duration::days(3);
    let received = t - Duration::days(1);
    let package = |r: &str, lpa: &str, deadline: DateTime<Utc>, shape: Shape| {
        shaped(r, RiskGrade::Medium, lpa, received, deadline, shape)
    };
    insert_with_due_soon(
        &store,
        &[
            // Stored out of order; C, A, X and B share a deadline.
            (package("PG-D", "Coventry", d3, AWAITING), None),
            (package("PG-C", "Coventry", d2, DEVELOPING), None),
            (package("PG-A", "Coventry", d2, DEVELOPING), None),
            (package("PG-X", "Birmingham", d2, DEVELOPING), None),
            (package("PG-E", "Coventry", d1, DEVELOPING), None),
            // Due soon, so not on track.
            (
                package("PG-B", "Coventry", d2, AWAITING),
                Some(t - Duration::hours(1)),
            ),
            (package("PG-Z", "Coventry", d1, Shape::Closed(t)), None),
            (package("PG-Y", "Birmingham", d3, DEVELOPING), None),
        ],
    )
    .await;

    /// Every page of `size` that `filter` gives, following the cursor.
    async fn pages(store: &Arc<dyn Store>, filter: PackageFilter, size: u32) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_packages(&PackageFilter {
                    after,
                    limit: Some(size),
                    ..filter.clone()
                })
                .await
                .unwrap();
            after = page.last().map(|p| PageKey {
                deadline_at: p.deadline().at(),
                reference: p.reference().to_string(),
            });
            pages.push(references(&page).into_iter().map(String::from).collect());
            if page.len() < size as usize {
                return pages;
            }
        }
    }

    let open_in_coventry = PackageFilter {
        open_only: true,
        lpa: Some("Coventry".into()),
        ..PackageFilter::default()
    };
    assert_eq!(
        pages(&store, open_in_coventry.clone(), 2).await,
        [vec!["PG-E", "PG-A"], vec!["PG-B", "PG-C"], vec!["PG-D"]]
    );
    // The pages put together are the unpaged list.
    assert_eq!(
        pages(&store, open_in_coventry.clone(), 2).await.concat(),
        listed(&store, &open_in_coventry).await
    );
    let on_track_in_coventry = PackageFilter {
        status: Some((PackageStatus::OnTrack, t)),
        ..open_in_coventry.clone()
    };
    assert_eq!(
        pages(&store, on_track_in_coventry, 2).await,
        [vec!["PG-E", "PG-A"], vec!["PG-C", "PG-D"], vec![]]
    );
    // A cursor between two packages of one deadline.
    let after_a = PackageFilter {
        after: Some(PageKey {
            deadline_at: d2,
            reference: "PG-A".into(),
        }),
        ..PackageFilter::default()
    };
    assert_eq!(
        listed(&store, &after_a).await,
        ["PG-B", "PG-C", "PG-X", "PG-D", "PG-Y"]
    );
    // And between two of a whole second.
    let after_d = PackageFilter {
        after: Some(PageKey {
            deadline_at: d3,
            reference: "PG-D".into(),
        }),
        ..PackageFilter::default()
    };
    assert_eq!(listed(&store, &after_d).await, ["PG-Y"]);
    // A limit alone is the first page.
    assert_eq!(
        listed(
            &store,
            &PackageFilter {
                limit: Some(3),
                ..PackageFilter::default()
            }
        )
        .await,
        ["PG-E", "PG-Z", "PG-A"]
    );
}

async fn the_position_counts_open_packages_per_stage_and_grade(store: Arc<dyn Store>) {
    migrated(&store).await;
    let t = now();
    let due_by = t + Duration::days(2);
    let h = Duration::hours;
    let d = Duration::days;
    let package = |r: &str, grade, lpa: &str, received: DateTime<Utc>, deadline, shape| {
        shaped(r, grade, lpa, received, deadline, shape)
    };
    use RiskGrade::{High, Standard, VeryHigh};
    insert_with_due_soon(
        &store,
        &[
            // Intelligence development, high: breached, due soon, neither.
            (
                package("PS-A", High, "Coventry", t - d(7), t - h(1), DEVELOPING),
                None,
            ),
            (
                package("PS-B", High, "Coventry", t - d(6), t + d(1), DEVELOPING),
                None,
            ),
            (
                package("PS-C", High, "Coventry", t - d(2), t + d(5), DEVELOPING),
                None,
            ),
            (
                package("PS-G", High, "Birmingham", t - d(8), t + d(1), DEVELOPING),
                None,
            ),
            // Intelligence development, very high: at its deadline.
            (
                package("PS-D", VeryHigh, "Coventry", t - d(1), t, DEVELOPING),
                None,
            ),
            // Awaiting enforcement, high: due exactly at the horizon, and later.
            (
                package("PS-E", High, "Birmingham", t - d(5), due_by, AWAITING),
                None,
            ),
            (
                package("PS-F", High, "Birmingham", t - d(10), t + d(3), AWAITING),
                None,
            ),
            // Stopped: never counted, however late or old.
            (
                package(
                    "PS-S1",
                    High,
                    "Coventry",
                    t - d(30),
                    t - d(1),
                    Shape::Enforced(t - h(2)),
                ),
                None,
            ),
            (
                package(
                    "PS-S2",
                    Standard,
                    "Birmingham",
                    t - d(40),
                    t - d(20),
                    Shape::Closed(t - d(19)),
                ),
                None,
            ),
        ],
    )
    .await;
    let row = |stage, grade, open, breached, due_soon, oldest: DateTime<Utc>| PositionRow {
        stage,
        grade,
        open,
        breached,
        due_soon,
        oldest_received_at: Some(oldest),
    };
    use Stage::{AwaitingEnforcement, IntelligenceDevelopment};
    assert_eq!(
        store.position(t, due_by, None).await.unwrap(),
        [
            row(IntelligenceDevelopment, VeryHigh, 1, 1, 0, t - d(1)),
            row(IntelligenceDevelopment, High, 4, 1, 2, t - d(8)),
            row(AwaitingEnforcement, High, 2, 0, 1, t - d(10)),
        ]
    );
    assert_eq!(
        store.position(t, due_by, Some("Coventry")).await.unwrap(),
        [
            row(IntelligenceDevelopment, VeryHigh, 1, 1, 0, t - d(1)),
            row(IntelligenceDevelopment, High, 3, 1, 1, t - d(7)),
        ]
    );
    assert_eq!(
        store.position(t, due_by, Some("Birmingham")).await.unwrap(),
        [
            row(IntelligenceDevelopment, High, 1, 0, 1, t - d(8)),
            row(AwaitingEnforcement, High, 2, 0, 1, t - d(10)),
        ]
    );
    // LPAs match exactly, as stored.
    assert!(store
        .position(t, due_by, Some("coventry"))
        .await
        .unwrap()
        .is_empty());

    // Once its clock stops, a package leaves the position.
    store
        .update_package(
            &reference("PS-G"),
            &Actor::named("cli:test"),
            t,
            Box::new(move |p| {
                p.move_stage(Stage::Enforced, t - h(1), Some(Outcome::Arrest), None, t)
                    .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        store.position(t, due_by, None).await.unwrap(),
        [
            row(IntelligenceDevelopment, VeryHigh, 1, 1, 0, t - d(1)),
            row(IntelligenceDevelopment, High, 3, 1, 1, t - d(7)),
            row(AwaitingEnforcement, High, 2, 0, 1, t - d(10)),
        ]
    );
}

// ---------------------------------------------------------------------------
// Escalations and the outbox.
// ---------------------------------------------------------------------------

fn sergeants() -> Destination {
    Destination::Email("ocset.sergeants@force.police.uk".into())
}

fn inspector() -> Destination {
    Destination::Email("ocset.inspector@force.police.uk".into())
}

fn webhook() -> Destination {
    Destination::Webhook("duty-desk".into())
}

/// A high-risk package received on 20 May: by [`now`] its deadline (27 May)
/// has passed, so the default ladder owes a breach repeat and has a
/// superseded warning.
fn breached(reference: &str) -> Package {
    admitted(
        reference,
        "high",
        "2024-05-20 10:00",
        "Coventry",
        "awaiting_enforcement",
    )
}

/// Stores `packages`, each with the `next_due_at` given.
async fn insert_due(store: &Arc<dyn Store>, packages: Vec<(Package, Option<DateTime<Utc>>)>) {
    let entries: Vec<LedgerEntry> = packages
        .into_iter()
        .map(|(package, next_due_at)| LedgerEntry {
            next_due_at,
            ..created(package)
        })
        .collect();
    store
        .insert_packages(&entries, &Actor::named("cli:test"), now())
        .await
        .expect("inserting packages");
}

/// The package's line in a notice, as the scheduler would write it.
fn notice_item(package: &Package, due: &DueLevel) -> NoticeItem {
    NoticeItem {
        kind: match due.relation {
            Relation::Before => NoticeKind::DueSoon,
            Relation::At => NoticeKind::Breached,
            Relation::After => NoticeKind::LongOverdue,
        },
        level: due.level.clone(),
        occurrence: due.occurrence,
        reference: package.reference().to_string(),
        risk_grade: package.grade(),
        lpa: package.lpa().to_string(),
        stage: package.stage(),
        received_at: package.received_at(),
        deadline_at: package.deadline().at(),
        referral_due_at: None,
        assigned_officer: package.assigned_officer().map(ToString::to_string),
        link: None,
    }
}

/// An occurrence of an enforcement-clock `level` of `package`, due
/// `occurrence` days after its deadline.
fn due_level(package: &Package, level: &str, occurrence: u32, relation: Relation) -> DueLevel {
    DueLevel {
        level: level.into(),
        clock: PackageClock::Enforcement,
        occurrence,
        clock_due_at: package.deadline().at(),
        due_at: package.deadline().at() + Duration::days(i64::from(occurrence)),
        relation,
        superseded: false,
    }
}

fn draft(package: &Package, due: DueLevel, destinations: Vec<Destination>) -> EscalationDraft {
    EscalationDraft {
        item: notice_item(package, &due),
        due,
        destinations,
    }
}

/// Plans each package as the scheduler does, with the default ladder at
/// `at`, every level going to `destinations`.
fn ladder_plan(
    at: DateTime<Utc>,
    destinations: Vec<Destination>,
) -> impl Fn(&Package) -> PackagePlan + Send + Sync {
    let levels = default_ladder();
    move |package: &Package| {
        let timing = LadderTiming {
            levels: &levels,
            time_zone: chrono_tz::Europe::London,
            referral_within: Timescale::Hours(24),
        };
        let owed = timing.plan(package, at);
        PackagePlan {
            escalations: owed
                .due
                .into_iter()
                .map(|due| EscalationDraft {
                    item: notice_item(package, &due),
                    due,
                    destinations: destinations.clone(),
                })
                .collect(),
            next_due_at: owed.next_due_at,
        }
    }
}

/// Plans from a table by reference; packages not in it owe nothing and
/// have nothing more due.
fn planned(plans: Vec<(&str, PackagePlan)>) -> impl Fn(&Package) -> PackagePlan + Send + Sync {
    let plans: HashMap<String, PackagePlan> = plans
        .into_iter()
        .map(|(reference, plan)| (reference.to_string(), plan))
        .collect();
    move |package: &Package| {
        plans
            .get(package.reference().as_str())
            .cloned()
            .unwrap_or_default()
    }
}

/// A plan that owes nothing and looks again at `next`.
fn nothing_until(next: Option<DateTime<Utc>>) -> impl Fn(&Package) -> PackagePlan + Send + Sync {
    move |_: &Package| PackagePlan {
        escalations: Vec::new(),
        next_due_at: next,
    }
}

fn notice(marking: &str, items: Vec<NoticeItem>) -> Notice {
    Notice {
        marking: marking.into(),
        force: "Example Police".into(),
        time_zone: "Europe/London".into(),
        as_of: now(),
        items,
    }
}

/// Groups escalations into one message per destination, as the scheduler
/// does, and keeps what it was given.
#[derive(Debug, Clone, Default)]
struct ByDestination {
    given: Arc<Mutex<Vec<Vec<RecordedEscalation>>>>,
}

impl ByDestination {
    fn compose(&self) -> impl Fn(Vec<RecordedEscalation>) -> Vec<OutboxDraft> + Send + Sync {
        let given = self.given.clone();
        move |recorded: Vec<RecordedEscalation>| {
            given.lock().unwrap().push(recorded.clone());
            let mut groups: BTreeMap<Destination, (Vec<NoticeItem>, Vec<i64>)> = BTreeMap::new();
            for escalation in recorded {
                for destination in &escalation.destinations {
                    let group = groups.entry(destination.clone()).or_default();
                    group.0.push(escalation.item.clone());
                    group.1.push(escalation.id);
                }
            }
            groups
                .into_iter()
                .map(|(destination, (items, escalation_ids))| OutboxDraft {
                    destination,
                    notice: notice("OFFICIAL-SENSITIVE", items),
                    escalation_ids,
                })
                .collect()
        }
    }

    /// What each pass gave it.
    fn given(&self) -> Vec<Vec<RecordedEscalation>> {
        self.given.lock().unwrap().clone()
    }
}

/// Composes nothing.
fn no_messages(_: Vec<RecordedEscalation>) -> Vec<OutboxDraft> {
    Vec::new()
}

/// Queues one message per destination, in order, through a pass at `at`
/// (with nothing due); each notice's marking is its label, so a claim can
/// be told apart by it.
async fn queue(store: &Arc<dyn Store>, at: DateTime<Utc>, messages: &[(&str, Destination)]) {
    let drafts: Vec<OutboxDraft> = messages
        .iter()
        .map(|(label, destination)| OutboxDraft {
            destination: destination.clone(),
            notice: notice(label, Vec::new()),
            escalation_ids: Vec::new(),
        })
        .collect();
    let report = store
        .escalation_pass(at, 10, &nothing_until(None), &move |_| drafts.clone())
        .await
        .expect("queueing messages");
    assert_eq!(report.messages, messages.len());
}

/// The labels of claimed messages, oldest first.
fn labels(messages: &[OutboxMessage]) -> Vec<&str> {
    assert!(
        messages.windows(2).all(|w| w[0].id < w[1].id),
        "claims come oldest first"
    );
    messages.iter().map(|m| m.payload.marking()).collect()
}

/// How long a claim holds a message in these cases: longer than any of
/// them runs in its own time, but for the case about leases.
fn lease() -> Duration {
    Duration::hours(1)
}

async fn claim(store: &Arc<dyn Store>, at: DateTime<Utc>, worker: &str) -> Vec<OutboxMessage> {
    store
        .claim_outbox(at, worker, lease(), 10)
        .await
        .expect("claiming messages")
}

async fn finish(
    store: &Arc<dyn Store>,
    message: &OutboxMessage,
    worker: &str,
    outcome: DeliveryOutcome,
    at: DateTime<Utc>,
) -> bool {
    store
        .finish_delivery(message.id, worker, &outcome, at)
        .await
        .expect("finishing a delivery")
}

async fn a_pass_records_each_escalation_once(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let due = breached("NCA-DUE");
    let later = plain("NCA-LATER");
    let later_due = warning_at(&later);
    assert!(later_due > now());
    insert_due(
        &store,
        vec![
            (due.clone(), Some(warning_at(&due))),
            (later, Some(later_due)),
        ],
    )
    .await;
    let plan = ladder_plan(now(), vec![sergeants(), inspector()]);
    let expected = plan(&due);
    let composer = ByDestination::default();

    let first = store
        .escalation_pass(now(), 100, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        first,
        PassReport {
            packages: 1,
            recorded: 2,
            superseded: 1,
            messages: 2,
            merged: 0
        },
        "the warning superseded, the breach repeat sent to two destinations"
    );
    assert_eq!(
        raw.next_due_at("NCA-DUE").await,
        expected.next_due_at,
        "the package waits for its next level"
    );
    assert_eq!(
        raw.next_due_at("NCA-LATER").await,
        Some(later_due),
        "a package not yet due is not touched"
    );
    assert!(store
        .escalations(&reference("NCA-LATER"))
        .await
        .unwrap()
        .is_empty());

    // As after a crash between the pass and anything else: the package is
    // due again at the same instant. Its escalations are already recorded.
    raw.set_next_due_at("NCA-DUE", Some(now() - Duration::hours(1)))
        .await;
    let second = store
        .escalation_pass(now(), 100, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        second,
        PassReport {
            packages: 1,
            ..PassReport::default()
        }
    );
    let given = composer.given();
    assert_eq!(given.len(), 2);
    assert_eq!(given[0].len(), 1, "only the breach is sent");
    assert!(
        given[1].is_empty(),
        "nothing new to compose the second time"
    );
    assert_eq!(raw.next_due_at("NCA-DUE").await, expected.next_due_at);
    let recorded = store.escalations(&reference("NCA-DUE")).await.unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(store.delivery_stats().await.unwrap().pending, 2);
    assert_eq!(raw.count("SELECT COUNT(*) FROM outbox").await, 2);
    assert_eq!(
        raw.count("SELECT COUNT(*) FROM outbox_escalations").await,
        2
    );
}

async fn superseded_and_unaddressed_escalations_are_recorded_but_not_sent(store: Arc<dyn Store>) {
    migrated(&store).await;
    let package = breached("NCA-S1");
    insert_due(&store, vec![(package.clone(), Some(now()))]).await;
    let warning = DueLevel {
        superseded: true,
        due_at: package.deadline().at() - Duration::days(1),
        ..due_level(&package, "warning", 0, Relation::Before)
    };
    let breach = due_level(&package, "breach", 0, Relation::At);
    let senior = due_level(&package, "senior", 0, Relation::After);
    let plan = planned(vec![(
        "NCA-S1",
        PackagePlan {
            escalations: vec![
                // Superseded wins over having recipients: recorded, not sent.
                draft(&package, warning.clone(), vec![sergeants()]),
                draft(&package, breach.clone(), vec![]),
                draft(&package, senior.clone(), vec![inspector()]),
            ],
            next_due_at: None,
        },
    )]);
    let composer = ByDestination::default();
    let recorded_at = now() + Duration::seconds(30);
    let report = store
        .escalation_pass(recorded_at, 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        report,
        PassReport {
            packages: 1,
            recorded: 3,
            superseded: 1,
            messages: 1,
            merged: 0
        }
    );
    let given = composer.given();
    assert_eq!(given.len(), 1);
    assert_eq!(
        given[0].len(),
        1,
        "only the notified escalation is composed"
    );
    assert_eq!(given[0][0].destinations, [inspector()]);
    assert_eq!(given[0][0].item, notice_item(&package, &senior));

    let records = store.escalations(&reference("NCA-S1")).await.unwrap();
    let summary: Vec<(&str, &str, usize)> = records
        .iter()
        .map(|r| (r.level.as_str(), r.status.as_str(), r.deliveries.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("warning", "superseded", 0),
            ("breach", "no_recipients", 0),
            ("senior", "notified", 1)
        ]
    );
    for (record, due) in records.iter().zip([&warning, &breach, &senior]) {
        assert_eq!(record.clock, PackageClock::Enforcement);
        assert_eq!(record.occurrence, due.occurrence);
        assert_eq!(record.clock_due_at, due.clock_due_at);
        assert_eq!(record.due_at, due.due_at);
        assert_eq!(record.recorded_at, recorded_at);
    }
    let delivery = &records[2].deliveries[0];
    assert_eq!(delivery.destination, inspector());
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("pending", 0)
    );
    assert_eq!(
        (delivery.sent_at, delivery.last_error.as_deref()),
        (None, None)
    );
}

async fn composed_messages_are_queued_and_linked_to_their_escalations(store: Arc<dyn Store>) {
    migrated(&store).await;
    let one = breached("NCA-C1");
    let two = breached("NCA-C2");
    insert_due(
        &store,
        vec![(one.clone(), Some(now())), (two.clone(), Some(now()))],
    )
    .await;
    let plan = planned(vec![
        (
            "NCA-C1",
            PackagePlan {
                escalations: vec![draft(
                    &one,
                    due_level(&one, "breach", 0, Relation::At),
                    vec![sergeants(), inspector()],
                )],
                next_due_at: None,
            },
        ),
        (
            "NCA-C2",
            PackagePlan {
                escalations: vec![
                    draft(
                        &two,
                        due_level(&two, "breach", 0, Relation::At),
                        vec![sergeants()],
                    ),
                    draft(
                        &two,
                        due_level(&two, "senior", 0, Relation::After),
                        vec![inspector()],
                    ),
                ],
                next_due_at: None,
            },
        ),
    ]);
    let composer = ByDestination::default();
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!((report.recorded, report.messages), (3, 2));
    let given = composer.given().remove(0);
    let ids: Vec<i64> = given.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in recording order");
    let items: Vec<(&str, &str)> = given
        .iter()
        .map(|r| (r.item.reference.as_str(), r.item.level.as_str()))
        .collect();
    assert_eq!(
        items,
        [
            ("NCA-C1", "breach"),
            ("NCA-C2", "breach"),
            ("NCA-C2", "senior")
        ]
    );

    // Destinations in order: the inspector's message was queued first.
    let claimed = claim(&store, now(), "dispatcher-1").await;
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        (
            claimed[0].destination.clone(),
            claimed[1].destination.clone()
        ),
        (inspector(), sergeants())
    );
    let expected_inspector = notice(
        "OFFICIAL-SENSITIVE",
        vec![given[0].item.clone(), given[2].item.clone()],
    );
    assert_eq!(claimed[0].payload, Payload::Notice(expected_inspector));
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].created_at, now());
    let sent_at = now() + Duration::minutes(1);
    assert!(
        finish(
            &store,
            &claimed[0],
            "dispatcher-1",
            DeliveryOutcome::Sent,
            sent_at
        )
        .await
    );

    let first = store.escalations(&reference("NCA-C1")).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].deliveries,
        [
            DeliveryRecord {
                message_id: claimed[0].id,
                destination: inspector(),
                status: "sent".into(),
                attempts: 1,
                sent_at: Some(sent_at),
                last_error: None,
            },
            DeliveryRecord {
                message_id: claimed[1].id,
                destination: sergeants(),
                status: "sending".into(),
                attempts: 1,
                sent_at: None,
                last_error: None,
            }
        ],
        "each delivery of the breach, by message"
    );
    let second = store.escalations(&reference("NCA-C2")).await.unwrap();
    let messages: Vec<(&str, Vec<i64>)> = second
        .iter()
        .map(|r| {
            (
                r.level.as_str(),
                r.deliveries.iter().map(|d| d.message_id).collect(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            ("breach", vec![claimed[1].id]),
            ("senior", vec![claimed[0].id])
        ]
    );
}

async fn next_due_at_follows_the_plan_and_the_next_wake_follows_the_work(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    migrated(&store).await;
    assert_eq!(store.next_wake().await.unwrap(), None, "nothing to do");
    let t1 = now();
    let t2 = now() + Duration::hours(2);
    let t3 = now() + Duration::days(1);
    insert_due(
        &store,
        vec![
            (breached("NCA-N1"), Some(t1)),
            (breached("NCA-N2"), Some(t2)),
        ],
    )
    .await;
    assert_eq!(store.next_wake().await.unwrap(), Some(t1));

    let plan = planned(vec![
        (
            "NCA-N1",
            PackagePlan {
                escalations: vec![],
                next_due_at: Some(t3),
            },
        ),
        ("NCA-N2", PackagePlan::default()),
    ]);
    let report = store
        .escalation_pass(t1, 10, &plan, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 1, "NCA-N2 is not due yet");
    assert_eq!(raw.next_due_at("NCA-N1").await, Some(t3));
    assert_eq!(store.next_wake().await.unwrap(), Some(t2));
    let report = store
        .escalation_pass(t2, 10, &plan, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 1);
    assert_eq!(
        raw.next_due_at("NCA-N2").await,
        None,
        "nothing more can fall due"
    );
    assert_eq!(store.next_wake().await.unwrap(), Some(t3));
    let report = store
        .escalation_pass(t3 - Duration::seconds(1), 10, &plan, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 0);

    // A queued message is work at its run_at.
    queue(&store, t2, &[("A1", sergeants())]).await;
    assert_eq!(store.next_wake().await.unwrap(), Some(t2));
    let claimed = claim(&store, t2, "w").await;
    let retry_at = t2 + Duration::hours(1);
    assert!(
        finish(
            &store,
            &claimed[0],
            "w",
            DeliveryOutcome::Retry {
                at: retry_at,
                error: "451 try later".into()
            },
            t2
        )
        .await
    );
    assert_eq!(store.next_wake().await.unwrap(), Some(retry_at));
    // A younger message to the same destination waits for the retry: its
    // own run_at is no reason to wake.
    queue(&store, t2, &[("A2", sergeants())]).await;
    assert_eq!(store.next_wake().await.unwrap(), Some(retry_at));
    // One to another destination is.
    queue(&store, t2 + Duration::minutes(1), &[("B1", inspector())]).await;
    assert_eq!(
        store.next_wake().await.unwrap(),
        Some(t2 + Duration::minutes(1))
    );
}

async fn a_failed_pass_writes_nothing(store: Arc<dyn Store>, raw: Raw) {
    migrated(&store).await;
    let package = breached("NCA-F1");
    insert_due(&store, vec![(package, Some(now()))]).await;
    let plan = ladder_plan(now(), vec![sergeants()]);
    let composer = ByDestination::default();
    let grouped = composer.compose();
    // A composer with a bug: it also links an escalation that does not exist.
    let faulty = move |recorded: Vec<RecordedEscalation>| {
        let mut drafts = grouped(recorded);
        drafts.push(OutboxDraft {
            destination: inspector(),
            notice: notice("OFFICIAL-SENSITIVE", vec![]),
            escalation_ids: vec![i64::MAX],
        });
        drafts
    };
    let failed = store.escalation_pass(now(), 10, &plan, &faulty).await;
    assert!(
        matches!(failed, Err(StoreError::Database { .. })),
        "{failed:?}"
    );
    assert_eq!(composer.given().len(), 1, "it got as far as composing");

    assert!(store
        .escalations(&reference("NCA-F1"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(raw.next_due_at("NCA-F1").await, Some(now()), "still due");
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        DeliveryStats::default()
    );
    assert_eq!(
        raw.count("SELECT COUNT(*) FROM outbox_escalations").await,
        0
    );
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus {
            last_pass_at: None,
            oldest_due_at: Some(now())
        },
        "no heartbeat either"
    );

    // The next pass does it all.
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!((report.recorded, report.messages), (2, 1));
}

async fn a_limited_pass_takes_the_earliest_due_packages_first(store: Arc<dyn Store>) {
    migrated(&store).await;
    let due = [
        ("NCA-L1", Duration::hours(-1)),
        ("NCA-L2", Duration::hours(-5)),
        ("NCA-L3", Duration::hours(-3)),
        ("NCA-L4", Duration::hours(-2)),
        ("NCA-L5", Duration::hours(1)),
    ];
    insert_due(
        &store,
        due.iter()
            .map(|(r, offset)| (plain(r), Some(now() + *offset)))
            .collect(),
    )
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recording = {
        let seen = seen.clone();
        move |package: &Package| {
            seen.lock()
                .unwrap()
                .push(package.reference().as_str().to_string());
            PackagePlan::default()
        }
    };
    let report = store
        .escalation_pass(now(), 2, &recording, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 2);
    assert_eq!(*seen.lock().unwrap(), ["NCA-L2", "NCA-L3"]);
    let report = store
        .escalation_pass(now(), 10, &recording, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 2);
    assert_eq!(
        *seen.lock().unwrap(),
        ["NCA-L2", "NCA-L3", "NCA-L4", "NCA-L1"],
        "the one due after now is left"
    );
    let report = store
        .escalation_pass(now(), 0, &recording, &no_messages)
        .await
        .unwrap();
    assert_eq!(report.packages, 0, "a limit of nought takes nothing");
}

async fn every_pass_records_the_heartbeat_and_due_work_shows_the_lag(store: Arc<dyn Store>) {
    migrated(&store).await;
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus::default()
    );
    insert_due(
        &store,
        vec![
            (plain("NCA-H1"), Some(now() - Duration::hours(2))),
            (plain("NCA-H2"), Some(now() + Duration::hours(1))),
        ],
    )
    .await;
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus {
            last_pass_at: None,
            oldest_due_at: Some(now() - Duration::hours(2))
        },
        "due two hours ago and not looked at: the lag"
    );
    let later = nothing_until(Some(now() + Duration::days(1)));
    store
        .escalation_pass(now(), 10, &later, &no_messages)
        .await
        .unwrap();
    assert_eq!(
        store.scheduler_status(now()).await.unwrap(),
        SchedulerStatus {
            last_pass_at: Some(now()),
            oldest_due_at: None
        }
    );
    // A pass with nothing due still beats.
    let quiet = now() + Duration::minutes(30);
    let report = store
        .escalation_pass(quiet, 10, &later, &no_messages)
        .await
        .unwrap();
    assert_eq!(report, PassReport::default());
    assert_eq!(
        store.scheduler_status(quiet).await.unwrap().last_pass_at,
        Some(quiet)
    );
    // Another instance's pass that started earlier and committed later
    // does not move it back.
    store
        .escalation_pass(now(), 10, &later, &no_messages)
        .await
        .unwrap();
    let status = store
        .scheduler_status(now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(
        status,
        SchedulerStatus {
            last_pass_at: Some(quiet),
            oldest_due_at: Some(now() + Duration::hours(1))
        }
    );
}

async fn claims_are_first_in_first_out_per_destination(store: Arc<dyn Store>) {
    migrated(&store).await;
    queue(
        &store,
        now(),
        &[
            ("A1", sergeants()),
            ("B1", webhook()),
            ("A2", sergeants()),
            ("B2", webhook()),
            ("A3", sergeants()),
            ("C1", inspector()),
        ],
    )
    .await;
    // Queued a minute later: not yet due at now().
    queue(&store, now() + Duration::minutes(1), &[("D1", inspector())]).await;

    let first = store.claim_outbox(now(), "w1", lease(), 2).await.unwrap();
    assert_eq!(labels(&first), ["A1", "B1"], "the limit, oldest first");
    assert!(first.iter().all(|m| m.attempts == 1));
    let (a1, b1) = (&first[0], &first[1]);
    assert_eq!(
        labels(&claim(&store, now(), "w2").await),
        ["C1"],
        "A2 and B2 wait behind messages being sent"
    );
    assert!(claim(&store, now(), "w2").await.is_empty());

    let retry_at = now() + Duration::minutes(10);
    let retry = DeliveryOutcome::Retry {
        at: retry_at,
        error: "421 busy".into(),
    };
    assert!(finish(&store, a1, "w1", retry, now()).await);
    assert!(
        claim(&store, now() + Duration::minutes(5), "w2")
            .await
            .is_empty(),
        "A2 waits while A1 waits for its retry; D1 behind C1"
    );
    assert!(finish(&store, b1, "w1", DeliveryOutcome::Sent, now()).await);
    let next = claim(&store, now() + Duration::minutes(5), "w2").await;
    assert_eq!(labels(&next), ["B2"], "B's queue moves on its own");

    let again = claim(&store, retry_at, "w3").await;
    assert_eq!(labels(&again), ["A1"], "A1 comes back first at its retry");
    assert_eq!(again[0].attempts, 2);
    let dead = DeliveryOutcome::Dead {
        error: "550 no such mailbox".into(),
    };
    assert!(finish(&store, &again[0], "w3", dead, retry_at).await);
    let after_dead = claim(&store, retry_at, "w3").await;
    assert_eq!(
        labels(&after_dead),
        ["A2"],
        "a dead message holds nobody up"
    );
    assert!(
        finish(
            &store,
            &after_dead[0],
            "w3",
            DeliveryOutcome::Sent,
            retry_at
        )
        .await
    );
    assert_eq!(labels(&claim(&store, retry_at, "w3").await), ["A3"]);
}

async fn an_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish(store: Arc<dyn Store>) {
    migrated(&store).await;
    queue(&store, now(), &[("A1", sergeants()), ("A2", sergeants())]).await;
    let taken = claim(&store, now(), "w1").await;
    assert_eq!(labels(&taken), ["A1"]);
    let almost = now() + lease() - Duration::seconds(1);
    assert!(
        claim(&store, almost, "w2").await.is_empty(),
        "w1 still holds A1, and A2 waits behind it"
    );
    // w1 died mid-delivery: once its lease is up, A1 is taken again.
    let expired = now() + lease();
    let retaken = claim(&store, expired, "w2").await;
    assert_eq!(labels(&retaken), ["A1"]);
    assert_eq!(retaken[0].attempts, 2, "the lost attempt counts");
    assert!(
        !finish(&store, &taken[0], "w1", DeliveryOutcome::Sent, expired).await,
        "w1 no longer holds it"
    );
    for outcome in [
        DeliveryOutcome::Release,
        DeliveryOutcome::Dead {
            error: "late".into(),
        },
    ] {
        assert!(!finish(&store, &taken[0], "w1", outcome, expired).await);
    }
    let stats = store.delivery_stats().await.unwrap();
    assert_eq!((stats.sending, stats.pending, stats.sent), (1, 1, 0));
    assert!(finish(&store, &retaken[0], "w2", DeliveryOutcome::Sent, expired).await);
    assert!(
        !finish(&store, &retaken[0], "w2", DeliveryOutcome::Sent, expired).await,
        "finished once"
    );
    assert_eq!(labels(&claim(&store, expired, "w2").await), ["A2"]);
}

/// Queues, through a pass at `at` (nothing due), one notice to
/// `destination` listing `items` (reference, kind).
async fn queue_items(
    store: &Arc<dyn Store>,
    at: DateTime<Utc>,
    destination: Destination,
    items: &[(&str, NoticeKind)],
) -> PassReport {
    let items: Vec<NoticeItem> = items
        .iter()
        .map(|(reference, kind)| NoticeItem {
            kind: *kind,
            level: "breach".into(),
            occurrence: 0,
            reference: (*reference).into(),
            risk_grade: RiskGrade::High,
            lpa: "Dudley".into(),
            stage: Stage::AwaitingEnforcement,
            received_at: now() - Duration::days(7),
            deadline_at: now(),
            referral_due_at: None,
            assigned_officer: None,
            link: None,
        })
        .collect();
    let draft = OutboxDraft {
        destination,
        notice: Notice {
            as_of: at,
            ..notice("OFFICIAL-SENSITIVE", items)
        },
        escalation_ids: Vec::new(),
    };
    store
        .escalation_pass(at, 10, &nothing_until(None), &move |_| vec![draft.clone()])
        .await
        .expect("queueing a notice")
}

/// The references and kinds a claimed message lists, in its order.
fn lines_of(message: &OutboxMessage) -> Vec<(String, NoticeKind)> {
    let notice = message.payload.notice().expect("a notice");
    notice
        .items
        .iter()
        .map(|item| (item.reference.clone(), item.kind))
        .collect()
}

async fn a_pass_adds_to_the_message_still_waiting_for_its_destination(store: Arc<dyn Store>) {
    use NoticeKind::{Breached, DueSoon, LongOverdue};
    migrated(&store).await;
    let t1 = now();
    let t2 = t1 + Duration::minutes(1);
    let first = queue_items(&store, t1, sergeants(), &[("P-1", Breached)]).await;
    assert_eq!((first.messages, first.merged), (1, 0));
    // The next pass's notice to the sergeants joins the one still waiting:
    // P-1's newer line replaces its older one.
    let second = queue_items(
        &store,
        t2,
        sergeants(),
        &[("P-2", DueSoon), ("P-1", LongOverdue)],
    )
    .await;
    assert_eq!((second.messages, second.merged), (0, 1));
    // Another destination's queue is its own.
    let other = queue_items(&store, t2, inspector(), &[("P-2", DueSoon)]).await;
    assert_eq!((other.messages, other.merged), (1, 0));

    let claimed = claim(&store, t2, "w").await;
    assert_eq!(claimed.len(), 2, "one message each");
    let to_sergeants = claimed
        .iter()
        .find(|m| m.destination == sergeants())
        .unwrap();
    assert_eq!(
        lines_of(to_sergeants),
        [
            ("P-1".to_string(), LongOverdue),
            ("P-2".to_string(), DueSoon)
        ]
    );
    assert_eq!(to_sergeants.payload.notice().unwrap().as_of, t2);
    assert_eq!(to_sergeants.created_at, t1, "it keeps its place and age");

    // A message being sent is not added to: the next one queues behind it.
    let t3 = t2 + Duration::minutes(1);
    let behind = queue_items(&store, t3, sergeants(), &[("P-3", Breached)]).await;
    assert_eq!((behind.messages, behind.merged), (1, 0));
    // Nor is one waiting to be tried again: what was tried is not changed.
    let retry_at = t3 + Duration::minutes(30);
    let failed = DeliveryOutcome::Retry {
        at: retry_at,
        error: "451 try later".into(),
    };
    assert!(finish(&store, to_sergeants, "w", failed, t3).await);
    let fourth = queue_items(&store, t3, sergeants(), &[("P-4", Breached)]).await;
    assert_eq!(
        (fourth.messages, fourth.merged),
        (0, 1),
        "P-4 joins P-3's message, the tail of the queue"
    );
    let retried = claim(&store, retry_at, "w").await;
    let retried: Vec<_> = retried
        .iter()
        .filter(|m| m.destination == sergeants())
        .collect();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        lines_of(retried[0]).len(),
        2,
        "P-1 and P-2, as tried before"
    );
    assert!(finish(&store, retried[0], "w", DeliveryOutcome::Sent, retry_at).await);
    let next = claim(&store, retry_at, "w").await;
    assert_eq!(
        lines_of(&next[0]),
        [("P-3".to_string(), Breached), ("P-4".to_string(), Breached)]
    );
}

async fn a_released_message_keeps_its_place_and_its_attempt_is_not_counted(store: Arc<dyn Store>) {
    migrated(&store).await;
    queue(&store, now(), &[("A1", sergeants()), ("A2", sergeants())]).await;
    let taken = claim(&store, now(), "w1").await;
    assert_eq!(taken[0].attempts, 1);
    // Shutting down before trying: back to the queue, in its place.
    assert!(finish(&store, &taken[0], "w1", DeliveryOutcome::Release, now()).await);
    let again = claim(&store, now(), "w2").await;
    assert_eq!(labels(&again), ["A1"]);
    assert_eq!(again[0].attempts, 1, "the released attempt was not counted");

    // Released after a retry: it keeps its retry time.
    let retry_at = now() + Duration::hours(1);
    let retry = DeliveryOutcome::Retry {
        at: retry_at,
        error: "timeout".into(),
    };
    assert!(finish(&store, &again[0], "w2", retry, now()).await);
    let retried = claim(&store, retry_at, "w2").await;
    assert_eq!((labels(&retried), retried[0].attempts), (vec!["A1"], 2));
    assert!(
        finish(
            &store,
            &retried[0],
            "w2",
            DeliveryOutcome::Release,
            retry_at
        )
        .await
    );
    assert!(
        claim(&store, retry_at - Duration::seconds(1), "w3")
            .await
            .is_empty(),
        "not before its retry time, and A2 still waits"
    );
    let last = claim(&store, retry_at, "w3").await;
    assert_eq!((labels(&last), last[0].attempts), (vec!["A1"], 2));
}

async fn delivery_figures_count_each_status_and_the_retries(store: Arc<dyn Store>) {
    migrated(&store).await;
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        DeliveryStats::default()
    );
    let t0 = now();
    let t1 = now() + Duration::minutes(1);
    // Five destinations, so each message can be claimed on its own.
    let to = |n: usize| Destination::Webhook(format!("hook-{n}"));
    queue(
        &store,
        t0,
        &[("SENT-ONCE", to(1)), ("SENT-THIRD", to(2)), ("DEAD", to(3))],
    )
    .await;
    queue(&store, t1, &[("SENDING", to(4)), ("PENDING", to(5))]).await;

    let retry = |at| DeliveryOutcome::Retry {
        at,
        error: "busy".into(),
    };
    let mut at = t1;
    for round in 0..3 {
        for message in claim(&store, at, "w").await {
            let outcome = match (message.payload.marking(), round) {
                ("SENT-ONCE", _) => DeliveryOutcome::Sent,
                ("SENT-THIRD", 2) => DeliveryOutcome::Sent,
                ("SENT-THIRD", _) => retry(at),
                ("DEAD", 0) => retry(at),
                ("DEAD", _) => DeliveryOutcome::Dead {
                    error: "gone".into(),
                },
                ("SENDING", 0) => retry(at),
                ("SENDING", _) => continue,
                ("PENDING", _) => DeliveryOutcome::Release,
                (other, _) => panic!("unexpected {other}"),
            };
            assert!(finish(&store, &message, "w", outcome, at).await);
        }
        at += Duration::minutes(1);
    }
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        DeliveryStats {
            pending: 1,
            sending: 1,
            sent: 2,
            dead: 1,
            // SENT-THIRD 2, DEAD 1, SENDING 1 (on its second attempt).
            retries: 4,
            oldest_undelivered_at: Some(t1),
        }
    );
}

async fn an_acknowledgement_is_stored_in_the_ledger_and_the_audit_log(store: Arc<dyn Store>) {
    migrated(&store).await;
    insert(&store, vec![breached("NCA-ACK")]).await;
    let supervisor = requester("token:sergeant", "req-ack");
    let at = now();
    let acknowledged = store
        .update_package(
            &reference("NCA-ACK"),
            &supervisor,
            at,
            Box::new(move |p| {
                p.acknowledge("  warrant being sought  ", "token:sergeant", at)
                    .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let back = stored(&store, "NCA-ACK").await;
    assert_eq!(back, acknowledged);
    let acknowledgement = back.acknowledgement().expect("acknowledged");
    assert_eq!(
        acknowledgement,
        &Acknowledgement {
            at,
            by: "token:sergeant".into(),
            note: "warrant being sought".into(),
            deadline_at: back.deadline().at(),
        }
    );

    let events = store.events(&reference("NCA-ACK")).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        last.kind,
        EventKind::Acknowledged {
            note: "warrant being sought".into(),
            deadline_at: back.deadline().at(),
        }
    );
    assert_eq!(last.actor, "token:sergeant");
    let log = audit_log(&store, Some("NCA-ACK")).await;
    assert_eq!(
        log.last().unwrap(),
        &line(
            at,
            "token:sergeant",
            "package.acknowledged",
            Some("NCA-ACK"),
            Some("req-ack"),
            None
        )
    );

    // A second acknowledgement of the same breach is refused, and leaves
    // the first as it was.
    let refused = store
        .update_package(
            &reference("NCA-ACK"),
            &supervisor,
            at,
            Box::new(move |p| {
                p.acknowledge("again", "token:other", at)
                    .map(|c| entry(c, None))
            }),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    assert_eq!(stored(&store, "NCA-ACK").await, back);

    // A regrade moves the deadline: the acknowledgement is kept, for the
    // old deadline, and no longer counts.
    let regraded = store
        .update_package(
            &reference("NCA-ACK"),
            &supervisor,
            at,
            Box::new(move |p| {
                p.regrade(RiskGrade::VeryHigh, "new intelligence", at, at, &policy())
                    .map(|c| entry(c, None))
            }),
        )
        .await
        .unwrap();
    let back = stored(&store, "NCA-ACK").await;
    assert_eq!(back, regraded);
    assert!(back.acknowledgement().is_none());
    assert_eq!(
        back.parts().acknowledgement.as_ref().map(|a| a.deadline_at),
        Some(acknowledged.deadline().at())
    );
}

/// Runs passes of `limit` until one finds nothing due, and returns their
/// reports.
async fn passes_until_done(
    store: Arc<dyn Store>,
    composer: ByDestination,
    limit: u32,
) -> Vec<PassReport> {
    let plan = ladder_plan(now(), vec![sergeants(), inspector()]);
    let compose = composer.compose();
    let mut reports = Vec::new();
    loop {
        let report = store
            .escalation_pass(now(), limit, &plan, &compose)
            .await
            .expect("a concurrent pass");
        if report.packages == 0 {
            return reports;
        }
        reports.push(report);
    }
}

async fn concurrent_passes_record_each_escalation_once(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    let packages: Vec<(Package, Option<DateTime<Utc>>)> = (0..200)
        .map(|i| {
            let package = breached(&format!("NCA-{i:04}"));
            let due = warning_at(&package);
            (package, Some(due))
        })
        .collect();
    insert_due(&store, packages).await;
    let other = db.second_instance().await;
    let composer = ByDestination::default();
    let one = tokio::spawn(passes_until_done(store.clone(), composer.clone(), 15));
    let two = tokio::spawn(passes_until_done(other, composer.clone(), 15));
    let reports: Vec<PassReport> = [one.await.unwrap(), two.await.unwrap()].concat();

    let total = |f: fn(&PassReport) -> usize| reports.iter().map(f).sum::<usize>();
    assert_eq!(total(|r| r.packages), 200, "each package taken once");
    assert_eq!(total(|r| r.recorded), 400, "a warning and a breach each");
    assert_eq!(total(|r| r.superseded), 200);
    assert_eq!(
        store.scheduler_status(now()).await.unwrap().oldest_due_at,
        None,
        "nothing left due"
    );
    let composed: Vec<i64> = composer.given().iter().flatten().map(|r| r.id).collect();
    assert_eq!(composed.len(), 200, "each breach composed once");
    let distinct: std::collections::HashSet<i64> = composed.iter().copied().collect();
    assert_eq!(distinct.len(), 200);
    // Two messages per pass that recorded anything, one per destination.
    let messages = total(|r| r.messages);
    assert_eq!(
        db.raw.count("SELECT COUNT(*) FROM outbox").await,
        messages as i64
    );
    assert_eq!(
        store.delivery_stats().await.unwrap().pending,
        messages as u64
    );
    for i in (0..200).step_by(7) {
        let records = store
            .escalations(&reference(&format!("NCA-{i:04}")))
            .await
            .unwrap();
        let shape: Vec<(&str, &str, Vec<Destination>)> = records
            .iter()
            .map(|r| {
                (
                    r.level.as_str(),
                    r.status.as_str(),
                    r.deliveries.iter().map(|d| d.destination.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("warning", "superseded", vec![]),
                ("breach", "notified", vec![inspector(), sergeants()])
            ],
            "NCA-{i:04}"
        );
    }
}

/// What the claimers of one test share: the claims in the order they were
/// made, the messages held now, and the messages sent.
#[derive(Debug, Default)]
struct Dispatch {
    claims: Vec<(Destination, i64)>,
    held: HashMap<Destination, i64>,
    sent: Vec<i64>,
}

/// Claims and delivers until `total` messages are sent. Every third
/// message fails its first attempt and is retried at once. Checks, as each
/// claim comes back, that no other message of its destination is held.
async fn dispatch(
    store: Arc<dyn Store>,
    worker: String,
    shared: Arc<Mutex<Dispatch>>,
    total: usize,
) {
    loop {
        if shared.lock().unwrap().sent.len() == total {
            return;
        }
        let claimed = store
            .claim_outbox(now(), &worker, Duration::hours(1), 3)
            .await
            .expect("claiming concurrently");
        {
            let mut shared = shared.lock().unwrap();
            for message in &claimed {
                if let Some(other) = shared.held.get(&message.destination) {
                    panic!(
                        "{worker} claimed {} while {other} to {} is held",
                        message.id, message.destination
                    );
                }
                shared.held.insert(message.destination.clone(), message.id);
                shared
                    .claims
                    .push((message.destination.clone(), message.id));
            }
        }
        // Let the other claimers in between the claim and the outcome.
        tokio::task::yield_now().await;
        for message in claimed {
            // Let go in the record before the database: another claim of
            // this destination can only follow the outcome's commit.
            shared.lock().unwrap().held.remove(&message.destination);
            let outcome = if message.id % 3 == 0 && message.attempts == 1 {
                DeliveryOutcome::Retry {
                    at: now(),
                    error: "421 try again".into(),
                }
            } else {
                DeliveryOutcome::Sent
            };
            let sent = outcome == DeliveryOutcome::Sent;
            assert!(
                store
                    .finish_delivery(message.id, &worker, &outcome, now())
                    .await
                    .expect("finishing concurrently"),
                "{worker} lost {}",
                message.id
            );
            if sent {
                shared.lock().unwrap().sent.push(message.id);
            }
        }
        tokio::task::yield_now().await;
    }
}

async fn concurrent_claimers_never_share_a_message_or_break_a_queue(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    let destinations = [
        sergeants(),
        inspector(),
        webhook(),
        Destination::Webhook("b".into()),
    ];
    // Interleaved, over a few passes.
    for batch in 0..4 {
        let messages: Vec<(String, Destination)> = (0..15)
            .map(|i| {
                (
                    format!("M{batch}-{i}"),
                    destinations[(i * 7 + batch) % 4].clone(),
                )
            })
            .collect();
        let messages: Vec<(&str, Destination)> = messages
            .iter()
            .map(|(label, destination)| (label.as_str(), destination.clone()))
            .collect();
        queue(&store, now(), &messages).await;
    }
    let other = db.second_instance().await;
    let shared = Arc::new(Mutex::new(Dispatch::default()));
    let workers = [
        (store.clone(), "w1"),
        (other.clone(), "w2"),
        (store.clone(), "w3"),
        (other, "w4"),
    ];
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|(store, name)| tokio::spawn(dispatch(store, name.into(), shared.clone(), 60)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let (claims, mut sent) = {
        let shared = shared.lock().unwrap();
        (shared.claims.clone(), shared.sent.clone())
    };
    sent.sort_unstable();
    sent.dedup();
    assert_eq!(sent.len(), 60, "each message sent once");
    let mut per_destination: HashMap<&Destination, Vec<i64>> = HashMap::new();
    for (destination, id) in &claims {
        per_destination.entry(destination).or_default().push(*id);
    }
    for (destination, ids) in per_destination {
        assert!(
            ids.windows(2).all(|w| w[0] <= w[1]),
            "{destination} was claimed out of order: {ids:?}"
        );
    }
    let retried = sent.iter().filter(|id| *id % 3 == 0).count();
    assert_eq!(claims.len(), 60 + retried, "one claim per attempt");
    let stats = store.delivery_stats().await.unwrap();
    assert_eq!((stats.sent, stats.retries), (60, retried as u64));
}

/// The PostgreSQL pool of a PostgreSQL-only case.
fn postgres_pool(db: &TestDb) -> sqlx::PgPool {
    match &db.raw {
        Raw::Postgres(store) => store.pool().clone(),
        Raw::Sqlite(_) => unreachable!("a PostgreSQL-only case ran on SQLite"),
    }
}

async fn an_uncommitted_claim_holds_its_destination_back(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    queue(
        &store,
        now(),
        &[("A1", sergeants()), ("A2", sergeants()), ("B1", webhook())],
    )
    .await;
    let pool = postgres_pool(&db);
    let id_of = |label: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM outbox WHERE notice LIKE $1")
                .bind(format!("%\"marking\":\"{label}\"%"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let a1 = id_of("A1").await;

    // Worker A has chosen A1 and holds its row, not yet updated.
    let mut choosing = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM outbox WHERE id = $1 FOR UPDATE")
        .bind(a1)
        .execute(&mut *choosing)
        .await
        .unwrap();
    assert_eq!(
        labels(&claim(&store, now(), "worker-b").await),
        ["B1"],
        "A1 is skipped, and A2 still waits behind it"
    );
    choosing.rollback().await.unwrap();

    // Worker A has claimed A1 and not yet committed.
    let mut claiming = pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE outbox SET status = 'sending', locked_by = 'worker-a', locked_at = $2, \
         attempts = attempts + 1 WHERE id = $1",
    )
    .bind(a1)
    .bind(now())
    .execute(&mut *claiming)
    .await
    .unwrap();
    assert!(
        claim(&store, now(), "worker-b").await.is_empty(),
        "A2 must not overtake A1 while A1's claim is in flight"
    );
    claiming.commit().await.unwrap();
    assert!(
        claim(&store, now(), "worker-b").await.is_empty(),
        "A1 is being sent: A2 still waits"
    );
    assert!(store
        .finish_delivery(a1, "worker-a", &DeliveryOutcome::Sent, now())
        .await
        .unwrap());
    assert_eq!(labels(&claim(&store, now(), "worker-b").await), ["A2"]);
}

async fn a_pass_leaves_packages_another_transaction_holds(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    insert_due(
        &store,
        vec![
            (breached("NCA-P1"), Some(now() - Duration::hours(2))),
            (breached("NCA-P2"), Some(now() - Duration::hours(1))),
        ],
    )
    .await;
    let pool = postgres_pool(&db);
    // Another pass (or an API write) holds the earliest due package.
    let mut holding = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM packages WHERE reference = 'NCA-P1' FOR UPDATE")
        .execute(&mut *holding)
        .await
        .unwrap();
    let plan = ladder_plan(now(), vec![sergeants()]);
    let composer = ByDestination::default();
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!(
        report.packages, 1,
        "the held package is skipped, not waited for"
    );
    assert!(store
        .escalations(&reference("NCA-P1"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.escalations(&reference("NCA-P2")).await.unwrap().len(),
        2
    );
    holding.rollback().await.unwrap();
    let report = store
        .escalation_pass(now(), 10, &plan, &composer.compose())
        .await
        .unwrap();
    assert_eq!((report.packages, report.recorded), (1, 2));
}

async fn the_hot_statements_read_no_sent_message_and_no_undue_package(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    migrated(&store).await;
    // A service that has run for a while: many packages, few of them due;
    // many messages, nearly all sent.
    let packages: Vec<(Package, Option<DateTime<Utc>>)> = (0..3000)
        .map(|i| {
            let due = match i % 100 {
                0 => Some(now() - Duration::hours(1)),
                1..=49 => None,
                _ => Some(now() + Duration::days(i64::from(i % 30) + 1)),
            };
            (plain(&format!("NCA-{i:05}")), due)
        })
        .collect();
    insert_due(&store, packages).await;
    let sent = "'sent', 1, '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00', \
                '2024-01-01T00:00:00+00:00'";
    let fill = match raw {
        Raw::Sqlite(_) => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO outbox (destination, notice, status, attempts, run_at, created_at, sent_at) \
             SELECT '{{\"channel\":\"webhook\",\"to\":\"hook-' || (i % 20) || '\"}}', '{{}}', {sent} \
             FROM n"
        ),
        Raw::Postgres(_) => format!(
            "INSERT INTO outbox (destination, notice, status, attempts, run_at, created_at, sent_at) \
             SELECT '{{\"channel\":\"webhook\",\"to\":\"hook-' || (i % 20) || '\"}}', '{{}}', {sent} \
             FROM generate_series(1, 20000) AS i"
        ),
    };
    raw.execute(&fill).await.unwrap();
    queue(
        &store,
        now(),
        &[("A1", webhook()), ("A2", webhook()), ("B1", sergeants())],
    )
    .await;
    claim(&store, now(), "w").await;
    match raw {
        Raw::Sqlite(_) => store.maintain().await.unwrap(),
        Raw::Postgres(_) => {
            raw.execute("ANALYZE").await.unwrap();
        }
    }

    let plans = raw.query_plans(now()).await;
    let plan = |name: &str| {
        plans
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no plan for {name}"))
            .1
            .clone()
    };
    for (name, steps) in &plans {
        println!("-- {name}\n{steps}");
        let lines: Vec<&str> = steps.lines().map(str::trim_start).collect();
        for (i, step) in lines.iter().enumerate() {
            let full_read = match raw {
                // SQLite: SCAN walks a whole table or index.
                Raw::Sqlite(_) => step.starts_with("SCAN ") && *step != "SCAN CONSTANT ROW",
                // The one-row service_state may be read whole.
                Raw::Postgres(_) => {
                    step.contains("Seq Scan on outbox") || step.contains("Seq Scan on packages")
                }
            };
            assert!(!full_read, "{name} reads a whole table:\n{steps}");
            // The index of every message may only be searched by status
            // (which skips the sent and dead ones).
            if step.contains("outbox_status_attempts") {
                let searched = match raw {
                    Raw::Sqlite(_) => step.contains("(status=?)"),
                    Raw::Postgres(_) => lines
                        .get(i + 1)
                        .is_some_and(|next| next.starts_with("Index Cond: (status =")),
                };
                assert!(searched, "{name} reads every message's entry:\n{steps}");
            }
        }
    }
    let claims = plan("claim messages");
    let due = plan("claim due packages");
    let wake = plan("next wake");
    assert!(claims.contains("outbox_queue"), "{claims}");
    assert!(due.contains("packages_next_due_at"), "{due}");
    assert!(wake.contains("packages_next_due_at"), "{wake}");
    assert!(wake.contains("outbox_queue"), "{wake}");
    if let Raw::Sqlite(_) = raw {
        // The two arms of the claim each search their partial index.
        assert!(
            claims.contains("SEARCH o USING INDEX outbox_pending_run_at (run_at<?)")
                && claims.contains("SEARCH o USING INDEX outbox_sending_locked_at (locked_at<?)"),
            "{claims}"
        );
    }
}

/// Waits, within a bound, until `waiting` sessions of this database wait
/// for a lock, or `done` says there is nothing to wait for. Polls the
/// server rather than sleeping for a guessed time.
async fn until_waiting_for_locks(pool: &sqlx::PgPool, waiting: i64, done: impl Fn() -> bool) {
    let poll = async {
        loop {
            let now_waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if now_waiting >= waiting || done() {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), poll)
        .await
        .expect("the sessions never came to wait for their locks");
}

async fn messages_are_committed_in_the_order_of_their_ids(db: TestDb) {
    let store = db.store.clone();
    migrated(&store).await;
    let package = breached("NCA-O1");
    insert_due(&store, vec![(package, Some(now()))]).await;
    store
        .escalation_pass(
            now(),
            10,
            &ladder_plan(now(), vec![sergeants()]),
            &ByDestination::default().compose(),
        )
        .await
        .unwrap();
    let breach = store.escalations(&reference("NCA-O1")).await.unwrap()[1].clone();
    assert_eq!(breach.level, "breach");
    let breach_id = breach.deliveries[0].message_id;
    let first = claim(&store, now(), "w").await;
    assert!(finish(&store, &first[0], "w", DeliveryOutcome::Sent, now()).await);
    let pool = postgres_pool(&db);
    let escalation_id: i64 =
        sqlx::query_scalar("SELECT escalation_id FROM outbox_escalations WHERE outbox_id = $1")
            .bind(breach_id)
            .fetch_one(&pool)
            .await
            .unwrap();

    // Pass A queues a message to the inspector carrying that escalation,
    // and then waits: the link's foreign-key check needs the escalation's
    // row, which this transaction holds. A has its message id by then.
    let mut holding = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM escalations WHERE id = $1 FOR UPDATE")
        .bind(escalation_id)
        .execute(&mut *holding)
        .await
        .unwrap();
    let compose_to = |label: &'static str, links: Vec<i64>| {
        move |_: Vec<RecordedEscalation>| {
            vec![OutboxDraft {
                destination: inspector(),
                notice: notice(label, vec![]),
                escalation_ids: links.clone(),
            }]
        }
    };
    let pass_a = {
        let store = store.clone();
        let compose = compose_to("A", vec![escalation_id]);
        tokio::spawn(async move {
            store
                .escalation_pass(now(), 10, &nothing_until(None), &compose)
                .await
                .expect("pass A")
        })
    };
    until_waiting_for_locks(&pool, 1, || false).await;

    // Pass B, on another instance, queues a message to the same destination.
    let other = db.second_instance().await;
    let pass_b = {
        let compose = compose_to("B", vec![]);
        tokio::spawn(async move {
            other
                .escalation_pass(now(), 10, &nothing_until(None), &compose)
                .await
                .expect("pass B")
        })
    };
    // B waits for A to commit. (Were it to run on, B would commit its
    // message, younger by id, while A's is still unseen.)
    until_waiting_for_locks(&pool, 2, || pass_b.is_finished()).await;
    assert!(
        claim(&store, now(), "w").await.is_empty(),
        "a dispatcher must not see B's message before A's"
    );

    holding.rollback().await.unwrap();
    assert_eq!(pass_a.await.unwrap().messages, 1);
    assert_eq!(pass_b.await.unwrap().messages, 1);
    let a = claim(&store, now(), "w").await;
    assert_eq!(labels(&a), ["A"]);
    assert!(finish(&store, &a[0], "w", DeliveryOutcome::Sent, now()).await);
    assert_eq!(labels(&claim(&store, now(), "w").await), ["B"]);
}
