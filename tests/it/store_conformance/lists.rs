//! Packages listed, filtered, paged and counted: the filters, keyset pages,
//! counts and the position (open packages per stage and grade).

use super::fixtures::{
    admitted, at, entry, insert, migrated, now, plain, reference, shaped, stored, Shape, AWAITING,
    DEVELOPING,
};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{
    ClockStop, Outcome, Package, PackageState, PackageStatus, RiskGrade, Stage, StopKind,
};
use ocset_scheduler::store::{
    Actor, LedgerEntry, PackageCounts, PackageFilter, PageKey, StageGradeFigures, Store,
};
use std::sync::Arc;

conformance! {
    store: [
        lists_filter_and_order_by_deadline_then_reference,
        counts_tell_demo_packages_by_their_exact_prefix,
        status_filters_select_exactly_the_packages_with_each_status,
        keyset_pages_return_every_package_once_in_order,
        the_position_counts_open_packages_per_stage_and_grade,
    ],
    raw: [],
    db: [],
    postgres_only: [],
}

fn references(packages: &[Package]) -> Vec<&str> {
    packages.iter().map(|p| p.reference().as_str()).collect()
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

/// Where a hand-built package stands.
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
            preceded_by: Vec::new(),
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
    let app: Vec<(Package, Option<DateTime<Utc>>, PackageStatus)> = vec![
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
    let stored: Vec<(Package, Option<DateTime<Utc>>)> = app
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
        let mut expected: Vec<&Package> = app
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
    // A deadline window: after its start (exclusive) and at or before its
    // end, to the microsecond, in every format sqlx writes.
    let window = |after: DateTime<Utc>, by: DateTime<Utc>| PackageFilter {
        open_only: true,
        deadline_within: Some((after, by)),
        ..PackageFilter::default()
    };
    assert_eq!(
        listed(&store, &window(d1, d2)).await,
        ["PG-A", "PG-B", "PG-C", "PG-X"]
    );
    let micro = Duration::microseconds(1);
    assert_eq!(
        listed(&store, &window(d1 - micro, d2 - micro)).await,
        ["PG-E"]
    );
    assert_eq!(listed(&store, &window(d2, d3)).await, ["PG-D", "PG-Y"]);
    assert!(listed(&store, &window(d3, d3 + Duration::days(7)))
        .await
        .is_empty());
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
    let row = |stage, grade, open, breached, due_soon, oldest: DateTime<Utc>| StageGradeFigures {
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
