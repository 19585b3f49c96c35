//! Retention (issue 16, part 2): a purge replaces every identifying detail
//! of the packages past the period, wherever the database holds it (every
//! column of every table, found from the schema, not from a list), keeps
//! every figure of the past reports, leaves the packages within the period
//! as they were, keeps the audit chain verifying, writes nothing on a dry
//! run, and runs once a day whatever the replicas.

use super::harness::{Raw, TestDb};
use chrono::{DateTime, Utc};
use ocset_scheduler::app::{App, RetentionOutcome};
use ocset_scheduler::clock::{Clock, ManualClock};
use ocset_scheduler::config::Settings;
use ocset_scheduler::domain::{
    BreachReasons, IsoWeek, Outcome, PseudonymKey, Reference, RiskGrade, Stage,
};
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::report::ReportPeriod;
use ocset_scheduler::store::{Actor, ChainVerdict, Store};
use std::sync::Arc;

conformance! {
    store: [],
    raw: [
        a_purge_leaves_no_identifying_data_and_keeps_every_figure,
        a_purge_in_batches_commits_and_audits_each_batch,
        the_triggers_let_through_the_purge_and_nothing_else,
    ],
    db: [the_daily_run_happens_once_across_two_replicas],
    postgres_only: [],
}

/// The pseudonyms' key the configuration names.
const KEY: &[u8] = b"7f3c2a9b8e1d4c6f0a5b3e2d1c9f8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e";

/// Purged: their clocks stop in January 2024, more than a year before the
/// purge (June 2025).
const OLD_A: &str = "RET-OLD-A";
const OLD_B: &str = "Ret-Old-B";
const OLD_OFFICERS: [&str; 3] = [
    "old.a@force.police.uk",
    "old.b@force.police.uk",
    "was.b@force.police.uk",
];
/// Free text written about them.
const OLD_NOTES: [&str; 4] = [
    "Acacia Avenue",
    "J. Bloggs",
    "the suspect's home",
    "Bloggs arrested",
];
/// The notes and reasons as written whole.
const OLD_NOTES_WHOLE: [&str; 4] = [
    "Warrant for Acacia Avenue sought",
    "NCA: J. Bloggs has access",
    "Nothing found at the suspect's home",
    "Bloggs arrested",
];
/// Kept: one stopped in July 2024 (within the year), one still open.
const KEEP_C: &str = "RET-KEEP-C";
const OPEN_D: &str = "RET-OPEN-D";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

fn sergeant() -> Actor {
    Actor::named("cli:sgt")
}

/// The settings: the default ladder (warnings to the assigned officer), a
/// weekly digest, and a year's retention with its key in `dir`.
fn settings(dir: &std::path::Path) -> Arc<Settings> {
    let key = dir.join("pseudonym.key");
    std::fs::write(&key, KEY).unwrap();
    let text = format!(
        r#"
[force]
lpas = ["Coventry", "Solihull"]
[recipients.ocset_sergeants]
default = ["sgts@force.example"]
[recipients.ocset_inspector]
default = ["insp@force.example"]
[recipients.ppu_slt]
default = ["slt@force.example"]
[[digest]]
name = "weekly"
kind = "weekly"
at = "07:00"
audience = ["ppu_slt"]
[retention]
keep_stopped_for = "1y"
pseudonym_key_file = "{}"
"#,
        key.display()
    );
    Arc::new(ocset_scheduler::config::load_str(&text, "retention.toml", Vec::new()).unwrap())
}

fn new_package(reference: &str, grade: &str, stage: &str, officer: &str) -> NewPackage {
    NewPackage {
        reference: reference.into(),
        risk_grade: grade.into(),
        received_at: "2024-01-08T08:00:00Z".into(),
        lpa: "Coventry".into(),
        stage: stage.into(),
        assigned_officer: Some(officer.into()),
        ..NewPackage::default()
    }
}

/// A year and a half of a small ledger: packages received, warned and
/// breached (messages to their officers), acknowledged and regraded with
/// notes, reassigned, read (in another case too), listed in a weekly
/// digest, and stopped; one stopped within the last year, one still open.
async fn ledger(store: Arc<dyn Store>, dir: &std::path::Path) -> (App, Arc<ManualClock>) {
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(at("2024-01-08T09:00:00Z")));
    let settings = settings(dir);
    let app = App::new(store.clone(), settings.clone(), clock.clone());
    let scheduler = ocset_scheduler::scheduler::Scheduler::new(
        store.clone(),
        settings.clone(),
        clock.clone() as Arc<dyn Clock>,
    );
    for (r, grade, stage, officer) in [
        (OLD_A, "very_high", "awaiting_enforcement", OLD_OFFICERS[0]),
        (OLD_B, "high", "intelligence_development", OLD_OFFICERS[2]),
        (
            KEEP_C,
            "medium",
            "intelligence_development",
            "keep.c@force.police.uk",
        ),
        (
            OPEN_D,
            "standard",
            "intelligence_development",
            "keep.d@force.police.uk",
        ),
    ] {
        app.create(&new_package(r, grade, stage, officer), &sergeant())
            .await
            .unwrap();
    }
    let assigned = ocset_scheduler::domain::OfficerEmail::parse(OLD_OFFICERS[1]).unwrap();
    app.change(&reference(OLD_B), &sergeant(), move |p, now| {
        p.assign(assigned, now)
    })
    .await
    .unwrap();
    // The very high one's warning (36 hours) goes to its officer.
    clock.set(at("2024-01-09T21:00:00Z"));
    scheduler.run_due().await.unwrap();
    // Its breach (48 hours), acknowledged with a note.
    clock.set(at("2024-01-10T12:00:00Z"));
    scheduler.run_due().await.unwrap();
    app.change(&reference(OLD_A), &sergeant(), |p, now| {
        p.acknowledge(
            &BreachReasons::default().parse("resourcing").unwrap(),
            OLD_NOTES_WHOLE[0],
            "cli:sgt",
            now,
        )
    })
    .await
    .unwrap();
    let policy = app.settings().policy.clone();
    app.change(&reference(OLD_B), &sergeant(), move |p, now| {
        p.regrade(RiskGrade::VeryHigh, OLD_NOTES_WHOLE[1], now, now, &policy)
    })
    .await
    .unwrap();
    // Read by the API, once in another case than the stored one.
    app.read(&reference("ret-old-a"), &Actor::named("token:viewer"))
        .await
        .unwrap();
    store
        .audit(
            &Actor::named("token:viewer"),
            "package.read",
            Some(&reference("RET-OLD-b")),
            None,
            clock.now(),
        )
        .await
        .unwrap();
    clock.set(at("2024-01-13T12:00:00Z"));
    scheduler.run_due().await.unwrap();
    // The weekly digest of the week they were breached in lists them.
    clock.set(at("2024-01-15T08:00:00Z"));
    let digests = ocset_scheduler::digest::job::DigestJob::new(
        store.clone(),
        settings.clone(),
        clock.clone() as Arc<dyn Clock>,
    );
    let queued = digests
        .send_week("2024-W02".parse().unwrap(), &sergeant())
        .await
        .unwrap();
    assert_eq!(queued, 1);
    app.change(&reference(OLD_A), &sergeant(), |p, now| {
        p.move_stage(
            Stage::Closed,
            now,
            Some(Outcome::NoFurtherAction),
            Some(OLD_NOTES_WHOLE[2]),
            now,
        )
    })
    .await
    .unwrap();
    clock.set(at("2024-01-17T10:00:00Z"));
    app.change(&reference(OLD_B), &sergeant(), |p, now| {
        p.move_stage(
            Stage::Enforced,
            now,
            Some(Outcome::Arrest),
            Some(OLD_NOTES_WHOLE[3]),
            now,
        )
    })
    .await
    .unwrap();
    // Within the year: stopped in July 2024.
    clock.set(at("2024-07-01T10:00:00Z"));
    scheduler.run_due().await.unwrap();
    app.change(&reference(KEEP_C), &sergeant(), |p, now| {
        p.move_stage(
            Stage::Closed,
            now,
            Some(Outcome::Transferred),
            Some("Sent to another force"),
            now,
        )
    })
    .await
    .unwrap();
    clock.set(at("2025-06-02T12:00:00Z"));
    scheduler.run_due().await.unwrap();
    (app, clock)
}

/// Every table of the schema, read from the database itself.
async fn tables(raw: &Raw) -> Vec<String> {
    match raw {
        Raw::Sqlite(_) => {
            raw.strings(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .await
        }
        Raw::Postgres(_) => {
            raw.strings(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 ORDER BY table_name",
            )
            .await
        }
    }
}

/// Every column of `table`.
async fn columns(raw: &Raw, table: &str) -> Vec<String> {
    match raw {
        Raw::Sqlite(_) => {
            raw.strings(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .await
        }
        Raw::Postgres(_) => {
            raw.strings(&format!(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' \
                 ORDER BY ordinal_position"
            ))
            .await
        }
    }
}

/// Every value of every column of every table, as `table.column: value`
/// (in a fixed order), with what base64 bodies hold (an attached CSV,
/// gzip-compressed or not) opened: the whole database as text.
async fn everything(raw: &Raw) -> Vec<String> {
    let mut values = Vec::new();
    for table in tables(raw).await {
        let columns = columns(raw, &table).await;
        for column in &columns {
            let value = match raw {
                // A blob as hex: not text, and it could hide nothing else.
                Raw::Sqlite(_) => format!(
                    "CASE WHEN typeof(\"{column}\") = 'blob' THEN hex(\"{column}\") \
                     ELSE CAST(\"{column}\" AS TEXT) END"
                ),
                Raw::Postgres(_) => format!("CAST(\"{column}\" AS TEXT)"),
            };
            let select = format!("SELECT COALESCE({value}, '<null>') FROM \"{table}\"");
            // Sorted: an update may move a row (PostgreSQL), and some
            // tables have no rowid (SQLite).
            let mut column_values = raw.strings(&select).await;
            column_values.sort();
            for value in column_values {
                values.extend(
                    opened(&value)
                        .into_iter()
                        .map(|v| format!("{table}.{column}: {v}")),
                );
                values.push(format!("{table}.{column}: {value}"));
            }
        }
    }
    values
}

/// What the base64 bodies of a JSON value hold, as text.
fn opened(value: &str) -> Vec<String> {
    use base64::Engine as _;
    use std::io::Read;
    let mut found = Vec::new();
    let Ok(json) = serde_json::from_str::<serde_json::Value>(value) else {
        return found;
    };
    let mut stack = vec![json];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(fields) => {
                if fields.get("base64") == Some(&serde_json::Value::Bool(true)) {
                    if let Some(body) = fields.get("body").and_then(|b| b.as_str()) {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .unwrap();
                        let mut text = String::new();
                        if bytes.starts_with(&[0x1f, 0x8b]) {
                            flate2::read::GzDecoder::new(&bytes[..])
                                .read_to_string(&mut text)
                                .unwrap();
                        } else {
                            text = String::from_utf8(bytes).unwrap();
                        }
                        found.push(text);
                    }
                }
                stack.extend(fields.into_iter().map(|(_, v)| v));
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// The values in which any of `needles` appears, whatever the case.
fn holding<'a>(values: &'a [String], needles: &[&str]) -> Vec<&'a String> {
    values
        .iter()
        .filter(|v| {
            let lower = v.to_lowercase();
            needles.iter().any(|n| lower.contains(&n.to_lowercase()))
        })
        .collect()
}

/// The weekly and monthly reports of the ledger's past periods, as JSON.
async fn reports(app: &App) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut periods: Vec<ReportPeriod> = ["2024-W02", "2024-W03", "2024-W27"]
        .iter()
        .map(|w| ReportPeriod::from(w.parse::<IsoWeek>().unwrap()))
        .collect();
    periods.push(ReportPeriod::Month("2024-01".parse().unwrap()));
    for period in periods {
        let report = app.period_report(period).await.unwrap();
        out.push(serde_json::to_value(&report).unwrap());
    }
    out
}

/// `value` with every purged detail written as the purge writes it.
fn as_purged(value: &serde_json::Value, key: &PseudonymKey) -> serde_json::Value {
    let mut text = value.to_string();
    for r in [OLD_A, OLD_B] {
        text = text.replace(r, &key.reference(r));
    }
    for o in OLD_OFFICERS {
        text = text.replace(o, &key.officer(o));
    }
    for note in OLD_NOTES_WHOLE {
        text = text.replace(note, "(purged)");
    }
    serde_json::from_str(&text).unwrap()
}

/// Packages, events and audit lines of the packages within the period.
async fn kept(app: &App) -> String {
    let store = app.store();
    let mut text = String::new();
    for r in [KEEP_C, OPEN_D] {
        let reference = reference(r);
        text.push_str(&format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n",
            store.package(&reference).await.unwrap().unwrap(),
            store.events(&reference).await.unwrap(),
            store.escalations(&reference).await.unwrap(),
            store.audit_log(Some(&reference)).await.unwrap(),
        ));
    }
    text
}

async fn a_purge_leaves_no_identifying_data_and_keeps_every_figure(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _clock) = ledger(store.clone(), dir.path()).await;
    let key = PseudonymKey::new(KEY.to_vec()).unwrap();
    let before = everything(&raw).await;
    // The ledger does hold every kind of detail the purge must find.
    for needle in [OLD_A, OLD_B]
        .iter()
        .chain(OLD_OFFICERS.iter())
        .chain(OLD_NOTES.iter())
    {
        assert!(
            !holding(&before, &[needle]).is_empty(),
            "the ledger never held {needle}: the test would prove nothing"
        );
    }
    for place in [
        "outbox.notice",
        "outbox.destination",
        "package_events.details",
    ] {
        assert!(
            holding(&before, &[OLD_OFFICERS[0]])
                .iter()
                .any(|v| v.starts_with(place))
                || holding(&before, &[OLD_A])
                    .iter()
                    .any(|v| v.starts_with(place)),
            "nothing of {OLD_A} in {place}"
        );
    }
    let reports_before = reports(&app).await;
    let kept_before = kept(&app).await;
    // After the reports, which keep their models.
    let before = everything(&raw).await;

    // A dry run says what it would take and writes nothing.
    let outcome = app
        .run_retention(true, false, &Actor::named("cli:dpo"))
        .await
        .unwrap();
    let RetentionOutcome::WouldPurge {
        period,
        stopped_before,
        due,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(period, "1y");
    // 13:00 BST on 2 June 2025 less a year.
    assert_eq!(stopped_before, at("2024-06-02T12:00:00Z"));
    assert_eq!(due.packages, 2);
    assert_eq!(due.earliest_stop, Some(at("2024-01-15T08:00:00Z")));
    assert_eq!(due.latest_stop, Some(at("2024-01-17T10:00:00Z")));
    assert_eq!(everything(&raw).await, before, "the dry run wrote");

    let outcome = app
        .run_retention(false, false, &Actor::named("cli:dpo"))
        .await
        .unwrap();
    let RetentionOutcome::Purged { summary, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(summary.due, due);
    assert!(summary.events >= 6, "{summary:?}");
    assert!(summary.audit_lines >= 6, "{summary:?}");
    assert!(summary.messages >= 3, "{summary:?}");

    // Nothing identifying left, anywhere.
    let after = everything(&raw).await;
    let mut needles: Vec<&str> = vec![OLD_A, OLD_B];
    needles.extend(OLD_OFFICERS);
    needles.extend(OLD_NOTES);
    let left = holding(&after, &needles);
    assert!(left.is_empty(), "identifying data left: {left:#?}");
    // The pseudonyms are where the references were.
    assert!(!holding(&after, &[&key.reference(OLD_A)]).is_empty());
    assert!(store.package(&reference(OLD_A)).await.unwrap().is_none());
    let purged = store
        .package(&reference(&key.reference(OLD_B)))
        .await
        .unwrap()
        .expect("found by its pseudonym");
    assert_eq!(purged.stage(), Stage::Enforced);
    assert_eq!(
        purged.assigned_officer().map(|o| o.as_str().to_string()),
        Some(key.officer(OLD_OFFICERS[1]))
    );

    // Every figure of the past reports is as it was.
    let reports_after = reports(&app).await;
    for (before, after) in reports_before.iter().zip(&reports_after) {
        // Notes are gone, references and officers pseudonymised; every
        // figure the same.
        let expected = as_purged(before, &key);
        assert!(
            after == &expected,
            "the report changed: {}",
            first_difference(after, &expected, "$")
        );
    }
    // The packages within the period are untouched.
    assert_eq!(kept(&app).await, kept_before);

    // The audit chain still verifies, with the pseudonymised lines, and the
    // purge is audited without a reference.
    let ChainVerdict::Intact(chain) = store.verify_audit_chain(None).await.unwrap() else {
        panic!("the chain does not verify after a purge")
    };
    assert_eq!(chain.pseudonymised, summary.audit_lines);
    let log = store.audit_log(None).await.unwrap();
    let line = log.last().unwrap();
    assert_eq!(line.action, "retention.purged");
    assert_eq!(line.reference, None);
    let detail = line.detail.as_deref().unwrap();
    for part in [
        "rule=pseudonymise",
        "keep_stopped_for=1y",
        "stopped_before=2024-06-02T12:00:00Z",
        "packages=2",
        "stopped_from=2024-01-15T08:00:00Z",
        "stopped_to=2024-01-17T10:00:00Z",
        "run=on-demand",
    ] {
        assert!(detail.contains(part), "{part} not in {detail}");
    }

    // A second run finds nothing more to do.
    let again = app
        .run_retention(false, false, &Actor::named("cli:dpo"))
        .await
        .unwrap();
    let RetentionOutcome::Purged { summary, .. } = again else {
        panic!("{again:?}")
    };
    assert_eq!(summary.due.packages, 0);
}

/// Where two JSON values first differ, for the failure's message.
fn first_difference(got: &serde_json::Value, want: &serde_json::Value, at: &str) -> String {
    use serde_json::Value;
    match (got, want) {
        (Value::Object(a), Value::Object(b)) => {
            for (name, value) in a {
                match b.get(name) {
                    Some(other) if other != value => {
                        return first_difference(value, other, &format!("{at}.{name}"))
                    }
                    None => return format!("{at}.{name} only after the purge"),
                    _ => {}
                }
            }
            format!("{at}: fields before the purge missing after")
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| first_difference(x, y, &format!("{at}[{i}]")))
            .unwrap_or_default(),
        _ => format!("{at}: after the purge {got}, expected {want}"),
    }
}

/// One package per transaction: each batch its own audit line, the whole
/// the same as one purge.
async fn a_purge_in_batches_commits_and_audits_each_batch(store: Arc<dyn Store>, raw: Raw) {
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = ledger(store.clone(), dir.path()).await;
    let retention = app.settings().retention().unwrap();
    let now = clock.now();
    let request = ocset_scheduler::store::PurgeRequest {
        stopped_before: retention.period.cutoff(now, app.settings().time_zone),
        period: retention.period.to_string(),
        key: retention.key.clone(),
        day: None,
        actor: Actor::named("cli:dpo"),
        now,
        batch: 1,
    };
    let summary = store.purge_stopped(&request).await.unwrap().unwrap();
    assert_eq!(summary.due.packages, 2);
    assert_eq!(summary.due.earliest_stop, Some(at("2024-01-15T08:00:00Z")));
    assert_eq!(summary.due.latest_stop, Some(at("2024-01-17T10:00:00Z")));
    let details: Vec<String> = store
        .audit_log(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.action == "retention.purged")
        .filter_map(|l| l.detail)
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details.iter().all(|d| d.contains(" packages=1 ")),
        "{details:?}"
    );
    let mut needles: Vec<&str> = vec![OLD_A, OLD_B];
    needles.extend(OLD_OFFICERS);
    needles.extend(OLD_NOTES);
    let after = everything(&raw).await;
    let left = holding(&after, &needles);
    assert!(left.is_empty(), "identifying data left: {left:#?}");
    let ChainVerdict::Intact(_) = store.verify_audit_chain(None).await.unwrap() else {
        panic!("the chain does not verify")
    };
}

async fn the_triggers_let_through_the_purge_and_nothing_else(store: Arc<dyn Store>, raw: Raw) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _clock) = ledger(store.clone(), dir.path()).await;
    app.run_retention(false, false, &Actor::named("cli:dpo"))
        .await
        .unwrap();
    let key = PseudonymKey::new(KEY.to_vec()).unwrap();
    let refused = |result: Result<u64, String>, what: &str| {
        let error = result.expect_err(what);
        assert!(error.contains("append-only"), "{what}: {error}");
    };
    // A kept package's event.
    refused(
        raw.execute(&format!(
            "UPDATE package_events SET details = '{{}}' WHERE package_id = \
             (SELECT id FROM packages WHERE reference = '{KEEP_C}')"
        ))
        .await,
        "an event of a package not purged was rewritten",
    );
    // A purged package's event: only its details.
    let pseudonym = key.reference(OLD_A);
    refused(
        raw.execute(&format!(
            "UPDATE package_events SET actor = 'x' WHERE package_id = \
             (SELECT id FROM packages WHERE reference = '{pseudonym}')"
        ))
        .await,
        "a purged package's event's actor was changed",
    );
    // A sealed audit line: its reference only to a purged package's
    // pseudonym, with the nonce cleared; nothing else.
    refused(
        raw.execute(&format!(
            "UPDATE audit_log SET reference = 'ANY-OTHER', reference_nonce = NULL \
             WHERE reference = '{KEEP_C}'"
        ))
        .await,
        "a reference was replaced by something not a purged pseudonym",
    );
    refused(
        raw.execute(&format!(
            "UPDATE audit_log SET reference = '{pseudonym}' WHERE reference = '{KEEP_C}'"
        ))
        .await,
        "a reference was replaced with its nonce kept",
    );
    refused(
        raw.execute(&format!(
            "UPDATE audit_log SET detail = 'x' WHERE reference = '{pseudonym}'"
        ))
        .await,
        "a purged line's detail was changed",
    );
    refused(
        raw.execute("DELETE FROM audit_log").await,
        "the audit log was deleted",
    );
    refused(
        raw.execute("DELETE FROM package_events").await,
        "the ledger was deleted",
    );
    let ChainVerdict::Intact(_) = store.verify_audit_chain(None).await.unwrap() else {
        panic!("the chain does not verify")
    };
}

/// Two replicas ask for the day's run at once: one purges, the other finds
/// the day taken; the next day's run is made again.
async fn the_daily_run_happens_once_across_two_replicas(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = ledger(db.store.clone(), dir.path()).await;
    let other = App::new(
        db.second_instance().await,
        Arc::new(app.settings().clone()),
        clock.clone() as Arc<dyn Clock>,
    );
    let service = Actor::named("service:retention");
    let (one, two) = tokio::join!(
        app.run_retention(false, true, &service),
        other.run_retention(false, true, &service)
    );
    let outcomes = [one.unwrap(), two.unwrap()];
    let purged: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            RetentionOutcome::Purged { summary, .. } => Some(summary.due.packages),
            _ => None,
        })
        .collect();
    assert_eq!(purged, vec![2], "{outcomes:?}");
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            RetentionOutcome::AlreadyRanToday { day } if day == "2025-06-02"
        )),
        "{outcomes:?}"
    );
    // Later the same day: nothing.
    clock.set(at("2025-06-02T22:00:00Z"));
    assert!(matches!(
        other.run_retention(false, true, &service).await.unwrap(),
        RetentionOutcome::AlreadyRanToday { .. }
    ));
    // The next local day (midnight BST is 23:00 UTC): run again.
    clock.set(at("2025-06-02T23:30:00Z"));
    let next = other.run_retention(false, true, &service).await.unwrap();
    assert!(
        matches!(&next, RetentionOutcome::Purged { summary, .. } if summary.due.packages == 0),
        "{next:?}"
    );
    let runs = db
        .raw
        .strings("SELECT day FROM retention_runs ORDER BY day")
        .await;
    assert_eq!(runs, vec!["2025-06-02", "2025-06-03"]);
    let lines = db
        .store
        .audit_log(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.action == "retention.purged")
        .count();
    assert_eq!(lines, 2, "one audit line per run made");
}
