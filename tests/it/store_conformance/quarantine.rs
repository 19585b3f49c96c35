//! Bad rows set aside (issue 16, part 4): a package row the code no longer
//! accepts, and an outbox message whose JSON is broken, each corrupted with
//! SQL as a bug or an attacker would: the scheduler's pass sets the package
//! aside and escalates the others, the claim sets the message aside and
//! hands out the rest, lists skip them, and both are counted and listed.

use super::harness::Raw;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::{Clock, ManualClock};
use ocset_scheduler::domain::Reference;
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::{Actor, PackageFilter, QuarantineCounts, Store};
use std::sync::Arc;

conformance! {
    store: [],
    raw: [a_corrupt_package_and_a_broken_message_are_set_aside_and_stop_nothing],
    db: [],
    postgres_only: [],
}

const CONFIG: &str = r#"
[force]
lpas = ["Coventry"]
[recipients.ocset_sergeants]
default = ["sgts@force.example"]
[recipients.ocset_inspector]
default = ["insp@force.example"]
[recipients.ppu_slt]
default = ["slt@force.example"]
"#;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

async fn a_corrupt_package_and_a_broken_message_are_set_aside_and_stop_nothing(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(at("2024-01-08T09:00:00Z")));
    let settings =
        Arc::new(ocset_scheduler::config::load_str(CONFIG, "q.toml", Vec::new()).unwrap());
    let app = App::new(store.clone(), settings.clone(), clock.clone());
    for (reference, officer) in [
        ("BAD-1", "bad.one@force.police.uk"),
        ("BAD-2", "bad.two@force.police.uk"),
        ("GOOD-1", "good.one@force.police.uk"),
        ("GOOD-2", "good.two@force.police.uk"),
    ] {
        app.create(
            &NewPackage {
                reference: reference.into(),
                risk_grade: "very_high".into(),
                received_at: "2024-01-08T08:00:00Z".into(),
                lpa: "Coventry".into(),
                stage: "awaiting_enforcement".into(),
                assigned_officer: Some(officer.into()),
                ..NewPackage::default()
            },
            &Actor::named("cli:sgt"),
        )
        .await
        .unwrap();
    }
    // A value the code does not accept, which no constraint refuses.
    assert_eq!(
        raw.execute(
            "UPDATE packages SET assigned_officer = 'not an address' WHERE reference = 'BAD-1'"
        )
        .await
        .unwrap(),
        1
    );
    // A time that is not a time: SQLite keeps any text in a TEXT column
    // (the whole read of the due rows then fails at the driver);
    // PostgreSQL's column type refuses it.
    let bad_time = raw
        .execute("UPDATE packages SET clock_started_at = 'not a time' WHERE reference = 'BAD-2'")
        .await;
    let bad_packages = match &raw {
        Raw::Sqlite(_) => {
            assert_eq!(bad_time, Ok(1));
            2u64
        }
        Raw::Postgres(_) => {
            let refused = bad_time.expect_err("PostgreSQL stores only times in a time column");
            assert!(refused.contains("invalid input syntax"), "{refused}");
            1
        }
    };
    let scheduler = ocset_scheduler::scheduler::Scheduler::new(
        store.clone(),
        settings,
        clock.clone() as Arc<dyn Clock>,
    );
    clock.set(at("2024-01-10T12:00:00Z"));
    let pass = scheduler
        .run_due()
        .await
        .expect("a corrupt row does not fail the pass");
    assert_eq!(pass.packages as u64, 4 - bad_packages, "{pass:?}");
    for good in ["GOOD-1", "GOOD-2"] {
        let escalations = store
            .escalations(&Reference::parse(good).unwrap())
            .await
            .unwrap();
        assert!(
            escalations.iter().any(|e| e.level == "breach"),
            "{good} was not escalated: {escalations:?}"
        );
    }
    assert_eq!(raw.next_due_at("BAD-1").await, None, "set aside for good");
    assert_eq!(
        store.quarantine_counts().await.unwrap(),
        QuarantineCounts {
            packages: bad_packages,
            messages: 0
        }
    );
    // The next pass does not meet it again; lists skip it.
    clock.advance(Duration::days(1));
    scheduler.run_due().await.expect("the next pass");
    let listed: Vec<String> = store
        .list_packages(&PackageFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|p| p.reference().to_string())
        .collect();
    let mut expected = vec!["GOOD-1", "GOOD-2"];
    if bad_packages == 1 {
        expected.insert(0, "BAD-2");
    }
    assert_eq!(listed, expected);

    // A message whose stored JSON is broken.
    let queued = raw
        .count("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        .await;
    assert!(queued >= 2, "{queued} messages");
    raw.execute("UPDATE outbox SET notice = '{broken' WHERE id = (SELECT MIN(id) FROM outbox)")
        .await
        .unwrap();
    let claimed = store
        .claim_outbox(clock.now(), "worker", Duration::minutes(5), 100)
        .await
        .expect("a broken message does not fail the claim");
    assert_eq!(claimed.len() as i64, queued - 1);
    assert_eq!(
        raw.strings("SELECT status FROM outbox WHERE quarantined_at IS NOT NULL")
            .await,
        vec!["dead"]
    );
    assert_eq!(
        store.quarantine_counts().await.unwrap(),
        QuarantineCounts {
            packages: bad_packages,
            messages: 1
        }
    );
    assert_eq!(
        store.delivery_stats().await.unwrap(),
        store.recounted_delivery_stats().await.unwrap(),
        "the counters follow the message set aside"
    );
    let rows = store.quarantined().await.unwrap();
    assert_eq!(rows.len() as u64, bad_packages + 1, "{rows:?}");
    let reason_of = |reference: &str| {
        rows.iter()
            .find(|r| r.kind == "package" && r.reference.as_deref() == Some(reference))
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| panic!("{reference} not listed: {rows:?}"))
    };
    assert!(reason_of("BAD-1").contains("assigned_officer"), "{rows:?}");
    if bad_packages == 2 {
        assert!(
            reason_of("BAD-2").contains("column clock_started_at"),
            "{rows:?}"
        );
    }
    let message = rows.last().unwrap();
    assert_eq!(
        (message.kind, message.reference.as_deref()),
        ("message", None)
    );
    assert!(message.reason.contains("column notice"), "{rows:?}");
}
