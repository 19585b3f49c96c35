//! Reports of closed periods served from their snapshots
//! (`report_snapshots`), end to end: the real server on port 0 over SQLite
//! and PostgreSQL, with a clock the test controls. A kept model is proved
//! to be served without folding the ledger by changing the kept row and
//! seeing the change in the answer; a back-dated write, a change of
//! settings and the open week are each shown never to serve a stale one.

use crate::common::app::{spawn_app_with, TestApp};
use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::domain::Role;
use ocset_scheduler::report::{self, render, ReportParams, ReportPeriod};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// Monday 29 January 2024, 09:00: the start of ISO week 2024-W05 (London
/// time is UTC in winter).
fn week_05_monday() -> DateTime<Utc> {
    utc("2024-01-29T09:00:00Z")
}

/// Monday 5 February 2024, 12:00: W05 has ended, W06 is running.
fn after_week_05() -> DateTime<Utc> {
    utc("2024-02-05T12:00:00Z")
}

/// A server after a week of work, and the database's URL (for a second
/// server over it, and for the kept rows).
struct Setup {
    app: TestApp,
    url: String,
}

async fn setup(url: String) -> Setup {
    let tokens = [(Role::Viewer, "leaders"), (Role::Intake, "intake")];
    let app = common::app::spawn_app(&url, week_05_monday(), &tokens).await;
    for (reference, grade, stage) in [
        ("SN-1", "high", "awaiting_enforcement"),
        ("SN-2", "very_high", "awaiting_enforcement"),
        ("SN-3", "medium", "intelligence_development"),
    ] {
        let body = json!({"reference": reference, "risk_grade": grade,
            "received_at": week_05_monday().to_rfc3339(), "lpa": "Birmingham", "stage": stage});
        let response = app.post("/api/v1/packages", Role::Intake, body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    app.clock.advance(Duration::days(1));
    let enforce = json!({"stage": "enforced", "outcome": "arrest"});
    let response = app
        .post("/api/v1/packages/SN-1/stage", Role::Intake, enforce)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.clock.set(after_week_05());
    Setup { app, url }
}

on_both_backends!(
    setup;
    a_closed_weeks_report_is_kept_and_then_served_from_its_snapshot,
    a_back_dated_move_or_receipt_drops_the_snapshot_and_the_report_shows_it,
    changed_timescales_never_serve_the_snapshot_kept_under_the_old_ones,
    the_open_week_is_never_kept,
);

/// The report's JSON as a viewer gets it.
async fn report_json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, Role::Viewer).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// The report folded straight from the store, as JSON.
async fn folded(app: &TestApp, period: ReportPeriod) -> Value {
    let settings = &app.settings;
    let params = ReportParams::new(
        settings.time_zone,
        settings.marking(),
        settings.config.safeguarding.referral_within,
    );
    let events = app
        .store
        .events_before(period.ends_at(params.time_zone))
        .await
        .unwrap();
    let model = report::WeeklyReport::build_for(period, &events, &params);
    serde_json::from_str(&render::json(&model)).unwrap()
}

/// The kept snapshots, as (kind, key).
async fn kept(app: &TestApp) -> Vec<(String, String)> {
    app.store
        .report_snapshots()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.period_kind, r.period_key))
        .collect()
}

/// Rewrites every kept model of `period_key`: its headline's open count
/// becomes 999 (a figure the ledger cannot give), so an answer showing it
/// was read from the snapshot, not folded.
async fn tamper(url: &str, period_key: &str) -> u64 {
    const READ: &str = "SELECT model FROM report_snapshots WHERE period_key = $1";
    const WRITE: &str = "UPDATE report_snapshots SET model = $2 WHERE period_key = $1";
    let change = |model: String| {
        let mut model: Value = serde_json::from_str(&model).unwrap();
        model["headline"]["open"] = json!(999);
        model.to_string()
    };
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let model: String = sqlx::query_scalar(READ)
            .bind(period_key)
            .fetch_one(&pool)
            .await
            .unwrap();
        let done = sqlx::query(WRITE)
            .bind(period_key)
            .bind(change(model))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        done.rows_affected()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let model: String = sqlx::query_scalar(READ)
            .bind(period_key)
            .fetch_one(&pool)
            .await
            .unwrap();
        let done = sqlx::query(WRITE)
            .bind(period_key)
            .bind(change(model))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        done.rows_affected()
    }
}

fn w05() -> ReportPeriod {
    "2024-W05".parse().unwrap()
}

async fn a_closed_weeks_report_is_kept_and_then_served_from_its_snapshot(setup: Setup) {
    let Setup { app, url } = setup;
    let path = "/api/v1/reports/weekly?week=2024-W05&format=json";
    assert!(kept(&app).await.is_empty());
    let first = report_json(&app, path).await;
    assert_eq!(first, folded(&app, w05()).await);
    assert_eq!(first["headline"]["open"], 2, "{first}");

    let records = app.store.report_snapshots().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (
            records[0].period_kind.as_str(),
            records[0].period_key.as_str()
        ),
        ("week", "2024-W05")
    );
    let events = app
        .store
        .events_before(w05().ends_at(app.settings.time_zone))
        .await
        .unwrap();
    assert_eq!(records[0].events_folded, events.len() as i64);
    assert_eq!(records[0].computed_at, after_week_05());
    assert_eq!(records[0].period_end, utc("2024-02-05T00:00:00Z"));

    // Served again, it is the kept model, byte for byte what was folded.
    assert_eq!(report_json(&app, path).await, first);
    // The kept row is what is served: the ledger is not read.
    assert_eq!(tamper(&url, "2024-W05").await, 1);
    let served = report_json(&app, path).await;
    assert_eq!(served["headline"]["open"], 999);

    // A closed month is kept the same way.
    let month = report_json(&app, "/api/v1/reports/monthly?month=2024-01&format=json").await;
    assert_eq!(month, folded(&app, "2024-01".parse().unwrap()).await);
    assert_eq!(
        kept(&app).await,
        [
            ("month".to_string(), "2024-01".to_string()),
            ("week".to_string(), "2024-W05".to_string())
        ]
    );
}

async fn a_back_dated_move_or_receipt_drops_the_snapshot_and_the_report_shows_it(setup: Setup) {
    let Setup { app, url } = setup;
    let path = "/api/v1/reports/weekly?week=2024-W05&format=json";
    let before = report_json(&app, path).await;
    assert_eq!(before["flow"]["week"]["enforced"], 1);
    assert_eq!(tamper(&url, "2024-W05").await, 1);

    // Recorded in W06, enforced on Thursday of W05.
    let back_dated =
        json!({"stage": "enforced", "outcome": "arrest", "at": "2024-02-01T10:00:00Z"});
    let response = app
        .post("/api/v1/packages/SN-2/stage", Role::Intake, back_dated)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        kept(&app).await.is_empty(),
        "the move dropped W05's snapshot"
    );
    let after = report_json(&app, path).await;
    assert_eq!(after, folded(&app, w05()).await);
    assert_eq!(after["flow"]["week"]["enforced"], 2);
    assert_eq!(after["headline"]["open"], 1);
    assert_eq!(kept(&app).await.len(), 1, "kept again");

    // A package received in W05 and recorded now (a late import).
    let late = json!({"reference": "SN-4", "risk_grade": "standard",
        "received_at": "2024-02-02T10:00:00Z", "lpa": "Birmingham",
        "stage": "intelligence_development"});
    let response = app.post("/api/v1/packages", Role::Intake, late).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        kept(&app).await.is_empty(),
        "the receipt dropped W05's snapshot"
    );
    let after = report_json(&app, path).await;
    assert_eq!(after, folded(&app, w05()).await);
    assert_eq!(after["flow"]["week"]["received"], 4);

    // A write after the week's end leaves its snapshot alone.
    let now = json!({"reference": "SN-5", "risk_grade": "standard",
        "received_at": after_week_05().to_rfc3339(), "lpa": "Birmingham",
        "stage": "intelligence_development"});
    let response = app.post("/api/v1/packages", Role::Intake, now).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(kept(&app).await.len(), 1);
}

async fn changed_timescales_never_serve_the_snapshot_kept_under_the_old_ones(setup: Setup) {
    let Setup { app, url } = setup;
    let path = "/api/v1/reports/weekly?week=2024-W05&format=json";
    report_json(&app, path).await;
    let old = app.store.report_snapshots().await.unwrap();
    assert_eq!(tamper(&url, "2024-W05").await, 1);

    // The same database under another configuration.
    let env = vec![("OCSET__TIMESCALES__HIGH".to_string(), "14d".to_string())];
    let other = spawn_app_with(&url, after_week_05(), &[(Role::Viewer, "leaders-2")], env).await;
    let served = report_json(&other, path).await;
    assert_eq!(
        served["headline"]["open"], 2,
        "not the snapshot of the old settings"
    );
    let new = other.store.report_snapshots().await.unwrap();
    assert_eq!(new.len(), 1, "the period's snapshot replaced");
    assert_ne!(new[0].fingerprint, old[0].fingerprint);
    // The first server's settings are not the ones kept now: it folds.
    assert_eq!(report_json(&app, path).await["headline"]["open"], 2);
}

async fn the_open_week_is_never_kept(setup: Setup) {
    let Setup { app, .. } = setup;
    // The API refuses a period still running; the dashboard and the
    // digest reach the app's report use case for it too.
    let use_case = App::new(
        app.store.clone(),
        app.settings.clone(),
        Arc::new(app.clock.clone()),
    );
    let w06: ReportPeriod = "2024-W06".parse().unwrap();
    let open = use_case.period_report(w06).await.unwrap();
    let open: Value = serde_json::from_str(&render::json(&open)).unwrap();
    assert_eq!(open, folded(&app, w06).await);
    let month = use_case
        .period_report("2024-02".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(month.period().to_string(), "2024-02");
    assert!(kept(&app).await.is_empty());
    // Once it has ended, it is.
    app.clock.set(utc("2024-02-12T00:00:00Z"));
    use_case.period_report(w06).await.unwrap();
    assert_eq!(
        kept(&app).await,
        [("week".to_string(), "2024-W06".to_string())]
    );
}
