//! The review clock end to end: an overdue risk review escalates through
//! the ladder (the shipped `review` level) by real SMTP, once per
//! occurrence, to the sergeants; a review stops it and restarts the clock,
//! and the next cycle escalates again. Then the API's
//! `POST /api/v1/packages/{reference}/reviews`: its refusals and what it
//! writes.

use crate::common::app::TestApp;
use crate::common::parts::World;
use crate::common::smtp::ParsedMail;
use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{EventKind, Reference, Role};
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::Actor;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SERGEANTS: &str = "ocset.sergeants@force.example";
const INSPECTOR: &str = "ocset.inspector@force.example";

/// A Monday in January: GMT, so local and UTC times agree.
fn start() -> DateTime<Utc> {
    utc("2024-01-08T09:00:00Z")
}

/// The shipped configuration, reviews included.
async fn world(url: String) -> World {
    World::start_with(url, start(), &[]).await
}

/// What the service does when it wakes at `at`: a pass, then deliver.
async fn step_at(w: &World, at: DateTime<Utc>) {
    w.clock.set(at);
    w.instance.scheduler.run_due().await.unwrap();
    w.instance.dispatcher.drain().await.unwrap();
}

/// Every instant there is work up to `until`, stepping at each.
async fn run_until(w: &World, until: DateTime<Utc>) {
    while let Some(next) = w.instance.app.store().next_wake().await.unwrap() {
        if next > until {
            break;
        }
        step_at(w, next.max(ocset_scheduler::clock::Clock::now(&w.clock))).await;
    }
    step_at(w, until).await;
}

fn reviews_overdue(mail: &[ParsedMail]) -> Vec<&ParsedMail> {
    mail.iter()
        .filter(|m| m.subject.contains("overdue risk review"))
        .collect()
}

on_both_backends!(
    world;
    an_overdue_review_escalates_once_and_a_review_restarts_the_clock,
);

async fn an_overdue_review_escalates_once_and_a_review_restarts_the_clock(w: World) {
    let input = NewPackage {
        reference: "REV-1".into(),
        risk_grade: "standard".into(),
        received_at: start().to_rfc3339(),
        lpa: "Coventry".into(),
        stage: "awaiting_enforcement".into(),
        ..NewPackage::default()
    };
    w.instance
        .app
        .create(&input, &Actor::named("test"))
        .await
        .unwrap();
    // Standard: reviewed every 14 days, so due 22 January 09:00. Nothing
    // before it (the enforcement warning is at 45 days).
    run_until(&w, utc("2024-01-22T08:59:00Z")).await;
    assert!(w.mail().is_empty(), "nothing is due before the review");
    run_until(&w, utc("2024-01-22T11:00:00Z")).await;
    let sergeants = w.mail_to(SERGEANTS);
    assert_eq!(sergeants.len(), 1, "one notice for the overdue review");
    assert_eq!(
        sergeants[0].subject,
        "[OFFICIAL-SENSITIVE] OCSET: 1 package has an overdue risk review"
    );
    for expected in ["REV-1", "Review due", "2024-01-22 09:00 GMT", "due now"] {
        assert!(
            sergeants[0].text.contains(expected),
            "{expected} in {}",
            sergeants[0].text
        );
    }
    assert!(
        w.mail_to(INSPECTOR).is_empty(),
        "the review level tells sergeants only"
    );
    // Another pass at the same instant sends nothing more.
    step_at(&w, utc("2024-01-22T11:00:00Z")).await;
    assert_eq!(w.mail().len(), 1, "once per occurrence");

    // Reviewed at noon: the daily repeat (23 January 09:00) is not sent,
    // and the next review is due 14 days after the review.
    w.clock.set(utc("2024-01-22T12:00:00Z"));
    let reference = Reference::parse("REV-1").unwrap();
    let reviewed = w
        .instance
        .app
        .review(
            &reference,
            &Actor::named("token:sergeant"),
            None,
            "Intelligence unchanged; grade stands".into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        reviewed.review_clock_started_at(),
        utc("2024-01-22T12:00:00Z")
    );
    run_until(&w, utc("2024-02-05T11:59:00Z")).await;
    assert_eq!(w.mail().len(), 1, "the review stopped the repeats");
    run_until(&w, utc("2024-02-05T12:30:00Z")).await;
    let overdue = w.mail_to(SERGEANTS);
    let overdue = reviews_overdue(&overdue);
    assert_eq!(overdue.len(), 2, "the next cycle escalates again");
    assert!(
        overdue[1].text.contains("2024-02-05 12:00 GMT"),
        "{}",
        overdue[1].text
    );
    // Its history has the review.
    let events = w.instance.app.store().events(&reference).await.unwrap();
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Reviewed { review_due_at, .. } if *review_due_at == utc("2024-01-22T09:00:00Z")
    )));
}

/// The API over a fresh database, with a token per role.
async fn api(url: String) -> TestApp {
    let tokens: Vec<(Role, String)> = Role::ALL
        .into_iter()
        .map(|role| (role, format!("{role}-test")))
        .collect();
    common::app::spawn_app(&url, utc("2024-02-05T12:00:00Z"), &tokens).await
}

mod api_tests {
    use super::*;

    on_both_backends!(
        api;
        reviews_through_the_api_refuse_bad_input_and_record_the_regrade,
    );
}

async fn refused(response: reqwest::Response, status: StatusCode, field: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], field, "{body}");
    body
}

async fn reviews_through_the_api_refuse_bad_input_and_record_the_regrade(app: TestApp) {
    let now = utc("2024-02-05T12:00:00Z");
    let created = app
        .post(
            "/api/v1/packages",
            Role::Intake,
            json!({"reference": "R-1", "risk_grade": "standard",
                   "received_at": (now - Duration::days(20)).to_rfc3339(),
                   "lpa": "Dudley", "stage": "awaiting_enforcement"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    // Entered 20 days after its receipt: grading it at entry is its first
    // assessment, so the first review is due 14 days after entry, not
    // overdue at once.
    let first_due: DateTime<Utc> = created["next_review_due_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first_due, now + Duration::days(14));
    let path = "/api/v1/packages/R-1/reviews";
    let intake = app
        .post(path, Role::Intake, json!({"note": "looked at it"}))
        .await;
    assert_eq!(intake.status(), StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"note": " "}), "note"),
        (json!({}), "note"),
        (
            json!({"note": "ok", "risk_grade": "critical"}),
            "risk_grade",
        ),
        (
            json!({"note": "ok", "reviewed_at": "yesterday"}),
            "reviewed_at",
        ),
        (
            json!({"note": "ok", "reviewed_at": (now + Duration::hours(1)).to_rfc3339()}),
            "reviewed_at",
        ),
        (json!({"note": "ok", "extra": 1}), "extra"),
    ] {
        let response = app.post(path, Role::Supervisor, body.clone()).await;
        let status = response.status();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        refused(response, status, field).await;
    }
    let before_receipt = app
        .post(
            path,
            Role::Supervisor,
            json!({"note": "ok", "reviewed_at": (now - Duration::days(30)).to_rfc3339()}),
        )
        .await;
    refused(before_receipt, StatusCode::CONFLICT, "reviewed_at").await;
    let missing = app
        .post(
            "/api/v1/packages/NOPE/reviews",
            Role::Supervisor,
            json!({"note": "ok"}),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // Nothing refused was written: the history is the receipt alone.
    let read: Value = app
        .get("/api/v1/packages/R-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["events"].as_array().unwrap().len(), 1, "{read}");

    // A day later, a review recorded late that upgrades: a regrade, then
    // the review, together.
    app.clock.set(now + Duration::days(1));
    let reviewed_at = now + Duration::days(1) - Duration::hours(2);
    let answer = app
        .post(
            path,
            Role::Supervisor,
            json!({"note": "new intelligence: access to a child", "risk_grade": "high",
                   "reviewed_at": reviewed_at.to_rfc3339()}),
        )
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["risk_grade"], "high");
    // High: every 3 days from the review.
    let next: DateTime<Utc> = answer["next_review_due_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next, reviewed_at + Duration::days(3));
    let read: Value = app
        .get("/api/v1/packages/R-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = read["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "regraded", "reviewed"], "{read}");
    let review = &read["events"][2];
    assert_eq!(review["regraded_from"], "standard", "{review}");
    assert_eq!(review["risk_grade"], "high", "{review}");
    // A review dated before the last one is refused.
    let out_of_order = app
        .post(
            path,
            Role::Supervisor,
            json!({"note": "ok", "reviewed_at": (reviewed_at - Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    refused(out_of_order, StatusCode::CONFLICT, "reviewed_at").await;
    let audit: Vec<String> = app
        .store
        .audit_log(Some(&Reference::parse("R-1").unwrap()))
        .await
        .unwrap()
        .into_iter()
        .map(|line| line.action)
        .collect();
    assert!(
        audit.contains(&"package.regraded".to_string())
            && audit.contains(&"package.reviewed".to_string()),
        "{audit:?}"
    );
}
