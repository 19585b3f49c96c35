//! One conformance suite for every [`Store`] backend: each case below is a
//! plain async function, and [`conformance!`] runs it on SQLite (a fresh file
//! in a temporary folder) and on PostgreSQL (a fresh database, dropped
//! afterwards even when the case fails).
//!
//! PostgreSQL is found at `OCSET_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached
//! the `postgres::` tests fail, never pass; skip them explicitly with
//! `cargo test -- --skip postgres::`.

mod common;

use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{
    Change, ClockStop, Deadline, DeadlinePolicy, EventKind, Lpas, OfficerEmail, OpenStage, Outcome,
    Package, PackageParts, PackageState, PolicyVersion, Reference, RegradePolicy, RiskGrade,
    Safeguarding, Stage, StopKind, Timescales,
};
use ocset_scheduler::domain::{PackageStatus, Role};
use ocset_scheduler::intake::{IntakeRules, NewPackage};
use ocset_scheduler::store::postgres::PostgresStore;
use ocset_scheduler::store::sqlite::SqliteStore;
use ocset_scheduler::store::{
    Actor, ApiToken, AuditRecord, LedgerEntry, PackageCounts, PackageFilter, PageKey, PositionRow,
    Store, StoreError,
};
use std::future::Future;
use std::sync::Arc;

// ---------------------------------------------------------------------------
// The harness: one test per case and backend.
// ---------------------------------------------------------------------------

/// Generates `sqlite::<case>` and `postgres::<case>` tests. Cases listed
/// under `store` take the store; cases under `raw` also take [`Raw`], for
/// SQL the trait does not offer.
macro_rules! conformance {
    (store: [$($case:ident),* $(,)?], raw: [$($raw_case:ident),* $(,)?] $(,)?) => {
        conformance!(@backend sqlite, on_sqlite, [$($case),*], [$($raw_case),*]);
        conformance!(@backend postgres, on_postgres, [$($case),*], [$($raw_case),*]);
    };
    (@backend $backend:ident, $harness:ident, [$($case:ident),*], [$($raw_case:ident),*]) => {
        mod $backend {
            $(
                // Two workers, so the concurrency case really runs in parallel.
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::$harness(|db| crate::$case(db.store)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $raw_case() {
                    crate::$harness(|db| crate::$raw_case(db.store, db.raw)).await;
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
    ],
    raw: [
        readiness_needs_every_migration_applied_successfully,
        stopping_the_clock_stores_the_stop_and_clears_next_due,
        the_event_ledger_refuses_update_and_delete,
        the_audit_log_refuses_update_and_delete,
    ],
}

/// Raw access to the database under test.
#[derive(Debug, Clone)]
pub enum Raw {
    /// The SQLite store's pool.
    Sqlite(sqlx::SqlitePool),
    /// The PostgreSQL store's pool.
    Postgres(sqlx::PgPool),
}

impl Raw {
    /// Runs one statement; the driver's message on failure.
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        let done = match self {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        };
        done.map_err(|e| e.to_string())
    }

    /// The package's `next_due_at`, which the trait does not return.
    async fn next_due_at(&self, reference: &str) -> Option<DateTime<Utc>> {
        const SQL: &str = "SELECT next_due_at FROM packages WHERE reference = $1";
        let due = match self {
            Raw::Sqlite(pool) => {
                sqlx::query_scalar(SQL)
                    .bind(reference)
                    .fetch_one(pool)
                    .await
            }
            Raw::Postgres(pool) => {
                sqlx::query_scalar(SQL)
                    .bind(reference)
                    .fetch_one(pool)
                    .await
            }
        };
        due.expect("reading next_due_at")
    }
}

/// What a case gets.
pub struct TestDb {
    store: Arc<dyn Store>,
    raw: Raw,
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
    let raw = Raw::Sqlite(store.pool().clone());
    case(TestDb {
        store: Arc::new(store),
        raw,
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
        let raw = Raw::Postgres(store.pool().clone());
        case(TestDb {
            store: Arc::new(store),
            raw,
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
