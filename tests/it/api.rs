//! End-to-end tests of the HTTP API: the real server on port 0, driven over
//! HTTP by reqwest, on SQLite and on PostgreSQL, with a clock the test
//! controls.

use crate::common::app::TestApp;
use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::clock::ManualClock;
use ocset_scheduler::config;
use ocset_scheduler::domain::{RiskGrade, Role};
use ocset_scheduler::http::ApiServer;
use ocset_scheduler::store::{self, Actor};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// The instant the tests start at: a Monday in February (GMT, so local
/// time and UTC agree and day counts are plain).
fn start() -> DateTime<Utc> {
    utc("2024-02-05T12:00:00Z")
}

/// The server with a token for every role, named `<role>-test`.
async fn spawn_app(database_url: String) -> TestApp {
    let tokens: Vec<(Role, String)> = Role::ALL
        .into_iter()
        .map(|role| (role, format!("{role}-test")))
        .collect();
    common::app::spawn_app(&database_url, start(), &tokens).await
}

impl TestApp {
    async fn create(
        &self,
        reference: &str,
        grade: &str,
        received: DateTime<Utc>,
        lpa: &str,
        stage: &str,
    ) -> Value {
        let response = self
            .post(
                "/api/v1/packages",
                Role::Intake,
                json!({"reference": reference, "risk_grade": grade, "received_at": received.to_rfc3339(),
                       "lpa": lpa, "stage": stage}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "creating {reference}"
        );
        response.json().await.unwrap()
    }

    async fn count(&self) -> usize {
        let page: Value = self
            .get("/api/v1/packages?limit=1000", Role::Viewer)
            .await
            .json()
            .await
            .unwrap();
        page["packages"].as_array().unwrap().len()
    }
}

/// Asserts an error answer: status, code, and the field named.
async fn assert_error(
    response: Response,
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) -> Value {
    error_named("the answer", response, status, code, field).await
}

/// As [`assert_error`], naming `case` in every failure.
async fn error_named(
    case: &str,
    response: Response,
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) -> Value {
    assert_eq!(response.status(), status, "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{case}: {body}");
    match field {
        Some(field) => assert_eq!(body["error"]["field"], field, "{case}: {body}"),
        None => assert!(body["error"].get("field").is_none(), "{case}: {body}"),
    }
    assert!(
        !body["error"]["message"].as_str().unwrap().is_empty(),
        "{case}: {body}"
    );
    body
}

on_both_backends!(
    spawn_app;
    create_read_regrade_and_move_stages,
    status_gives_the_current_position_to_the_package,
    every_auth_case,
    bad_input_is_a_clear_4xx_and_writes_nothing,
    the_audit_trail_records_changes_and_reads,
    lists_filter_and_page_through_every_package_once,
    breaches_come_most_overdue_first,
    operations_endpoints_need_no_token_and_leak_nothing,
    acknowledging_a_breach_needs_a_supervisor_and_a_breach,
);

async fn acknowledging_a_breach_needs_a_supervisor_and_a_breach(app: TestApp) {
    app.create(
        "ACK-1",
        "very_high",
        start() - Duration::days(3),
        "Dudley",
        "awaiting_enforcement",
    )
    .await;
    app.create(
        "ACK-2",
        "standard",
        start() - Duration::days(3),
        "Dudley",
        "awaiting_enforcement",
    )
    .await;
    let note = json!({"reason": "awaiting_partner_agency", "note": "warrant application with the magistrates"});
    let intake = app
        .post(
            "/api/v1/packages/ACK-1/acknowledge",
            Role::Intake,
            note.clone(),
        )
        .await;
    assert_error(intake, StatusCode::FORBIDDEN, "forbidden", None).await;
    let not_breached = app
        .post(
            "/api/v1/packages/ACK-2/acknowledge",
            Role::Supervisor,
            note.clone(),
        )
        .await;
    assert_error(not_breached, StatusCode::CONFLICT, "conflict", Some("note")).await;
    let empty = app
        .post(
            "/api/v1/packages/ACK-1/acknowledge",
            Role::Supervisor,
            json!({"reason": "resourcing", "note": " "}),
        )
        .await;
    assert_error(
        empty,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("note"),
    )
    .await;
    // A missing, unknown or mistyped reason is a 422 naming the field and
    // the allowed codes, and writes nothing.
    let allowed = "awaiting_communications_data, suspect_not_located, resourcing, awaiting_partner_agency, other";
    for (case, body) in [
        ("missing", json!({"note": "warrant sought"})),
        (
            "unknown",
            json!({"reason": "weather", "note": "warrant sought"}),
        ),
        (
            "a label",
            json!({"reason": "Resourcing", "note": "warrant sought"}),
        ),
        ("empty", json!({"reason": "", "note": "warrant sought"})),
        ("null", json!({"reason": null, "note": "warrant sought"})),
    ] {
        let refused = app
            .post("/api/v1/packages/ACK-1/acknowledge", Role::Supervisor, body)
            .await;
        let error = error_named(
            case,
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("reason"),
        )
        .await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(allowed), "{case}: {message}");
    }
    let mistyped = app
        .post(
            "/api/v1/packages/ACK-1/acknowledge",
            Role::Supervisor,
            json!({"reason": 3, "note": "warrant sought"}),
        )
        .await;
    error_named(
        "a number",
        mistyped,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("reason"),
    )
    .await;
    let untouched: Value = app
        .get("/api/v1/packages/ACK-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert!(untouched["acknowledgement"].is_null(), "{untouched}");
    assert_eq!(untouched["events"].as_array().unwrap().len(), 1);
    let done = app
        .post(
            "/api/v1/packages/ACK-1/acknowledge",
            Role::Supervisor,
            note.clone(),
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let view: Value = done.json().await.unwrap();
    assert_eq!(
        view["status"], "breached",
        "an acknowledged breach still counts"
    );
    let again = app
        .post("/api/v1/packages/ACK-1/acknowledge", Role::Supervisor, note)
        .await;
    assert_error(again, StatusCode::CONFLICT, "conflict", Some("note")).await;
    let detail: Value = app
        .get("/api/v1/packages/ACK-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["acknowledgement"]["note"],
        "warrant application with the magistrates"
    );
    assert_eq!(detail["acknowledgement"]["by"], "token:supervisor-test");
    assert_eq!(
        detail["acknowledgement"]["reason"],
        "awaiting_partner_agency"
    );
    let last = detail["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "acknowledged");
    assert_eq!(last["reason"], "awaiting_partner_agency");
    // The document lists the configured reasons, and requires one.
    let doc: Value = app
        .get("/api/v1/openapi.json", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    let schema = &doc["components"]["schemas"]["Acknowledge"];
    assert_eq!(schema["required"], json!(["reason", "note"]));
    assert_eq!(
        schema["properties"]["reason"]["enum"],
        json!(allowed.split(", ").collect::<Vec<_>>())
    );
    let status: Value = app
        .get("/api/v1/status", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["breached"], 1);
    assert_eq!(status["scheduler"]["dead"], 0);
}

async fn create_read_regrade_and_move_stages(app: TestApp) {
    // `/` is allowed in a reference and percent-encoded in its path.
    let received = start() - Duration::days(2);
    let response = app
        .post(
            "/api/v1/packages",
            Role::Intake,
            json!({"reference": "NCA/2024_7.b", "risk_grade": "standard", "received_at": received.to_rfc3339(),
                   "lpa": "birmingham", "stage": "intelligence_development",
                   "assigned_officer": "PC.One@Force.Police.UK"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["location"],
        "/api/v1/packages/NCA%2F2024_7.b"
    );
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["reference"], "NCA/2024_7.b");
    assert_eq!(created["lpa"], "Birmingham");
    assert_eq!(created["assigned_officer"], "pc.one@force.police.uk");
    assert_eq!(
        created["deadline_at"], "2024-04-03T11:00:00Z",
        "60 calendar days: 12:00 GMT to 12:00 BST"
    );
    let path = "/api/v1/packages/NCA%2F2024_7.b";

    // Upgrade: the deadline follows from receipt and is already near.
    let regraded: Value = app
        .post(
            &format!("{path}/grade"),
            Role::Intake,
            json!({"risk_grade": "very_high", "reason": "new intelligence"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(regraded["risk_grade"], "very_high");
    assert_eq!(regraded["deadline_at"], "2024-02-05T12:00:00Z");
    assert_eq!(
        regraded["status"], "breached",
        "received two days ago: 48 hours are up now"
    );

    // Forward moves; an illegal one is 409; a stop needs an outcome (422).
    let awaiting: Value = app
        .post(
            &format!("{path}/stage"),
            Role::Intake,
            json!({"stage": "awaiting_enforcement", "at": "2024-02-04T09:00:00Z"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(awaiting["stage"], "awaiting_enforcement");
    let back = app
        .post(
            &format!("{path}/stage"),
            Role::Intake,
            json!({"stage": "intelligence_development"}),
        )
        .await;
    assert_error(back, StatusCode::CONFLICT, "conflict", Some("stage")).await;
    let no_outcome = app
        .post(
            &format!("{path}/stage"),
            Role::Intake,
            json!({"stage": "enforced"}),
        )
        .await;
    assert_error(
        no_outcome,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("outcome"),
    )
    .await;
    let wrong_outcome = app
        .post(
            &format!("{path}/stage"),
            Role::Intake,
            json!({"stage": "enforced", "outcome": "transferred"}),
        )
        .await;
    assert_error(
        wrong_outcome,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("outcome"),
    )
    .await;
    let enforced: Value = app
        .post(
            &format!("{path}/stage"),
            Role::Intake,
            json!({"stage": "enforced", "outcome": "arrest", "at": "2024-02-05T11:00:00Z", "note": "search warrant"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        enforced["status"], "met",
        "enforced an hour before the deadline"
    );
    assert_eq!(enforced["outcome"], "arrest");
    assert_eq!(enforced["clock_stopped_at"], "2024-02-05T11:00:00Z");
    let after_stop = app
        .post(
            &format!("{path}/grade"),
            Role::Intake,
            json!({"risk_grade": "high", "reason": "x"}),
        )
        .await;
    assert_error(
        after_stop,
        StatusCode::CONFLICT,
        "conflict",
        Some("risk_grade"),
    )
    .await;

    // The detail shows the history, oldest first.
    let detail: Value = app.get(path, Role::Viewer).await.json().await.unwrap();
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["created", "regraded", "stage_changed", "stage_changed"]
    );
    assert_eq!(detail["events"][1]["reason"], "new intelligence");
    assert_eq!(detail["events"][1]["actor"], "token:intake-test");
    assert_eq!(detail["status"], "met");
    assert!(detail["policy_version"]
        .as_str()
        .unwrap()
        .starts_with("timescales-"));

    // Assignment needs a supervisor; safeguarding is recorded.
    let assigned: Value = app
        .post(
            &format!("{path}/assign"),
            Role::Supervisor,
            json!({"officer": "sgt.two@force.police.uk"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        assigned["error"]["code"], "conflict",
        "a stopped package is not reassigned: {assigned}"
    );
    let other = app
        .create(
            "NCA-2",
            "high",
            start() - Duration::hours(3),
            "Coventry",
            "awaiting_enforcement",
        )
        .await;
    assert_eq!(other["status"], "on_track");
    let assigned: Value = app
        .post(
            "/api/v1/packages/NCA-2/assign",
            Role::Supervisor,
            json!({"officer": "sgt.two@force.police.uk"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(assigned["assigned_officer"], "sgt.two@force.police.uk");
    let sg: Value = app
        .post(
            "/api/v1/packages/NCA-2/safeguarding",
            Role::Intake,
            json!({"child_access_identified_at": "2024-02-05 10:00"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sg["child_access_identified_at"], "2024-02-05T10:00:00Z");
    let missing = app.get("/api/v1/packages/NOPE", Role::Viewer).await;
    assert_error(missing, StatusCode::NOT_FOUND, "not_found", None).await;
}

/// DOMAIN.md's snapshot, awaiting enforcement: no very high or high, five
/// medium (the oldest 7 days), five standard (the oldest 35 days); and 32
/// in development, some due within the week and some breached; and stopped
/// packages that must not count.
async fn status_gives_the_current_position_to_the_package(app: TestApp) {
    let now = start();
    let day = |n: f64| now - Duration::minutes((n * 1440.0) as i64);
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("SNAP-{n:03}")
    };
    for age in [1.0, 2.0, 3.0, 5.0, 7.0] {
        app.create(
            &next(),
            "medium",
            day(age),
            "Birmingham",
            "awaiting_enforcement",
        )
        .await;
    }
    for age in [5.0, 10.0, 20.0, 30.0, 35.0] {
        app.create(
            &next(),
            "standard",
            day(age),
            "Coventry",
            "awaiting_enforcement",
        )
        .await;
    }
    let development: [(&str, &[f64]); 4] = [
        ("very_high", &[1.0, 3.0]),
        ("high", &[0.5, 2.0, 4.0, 8.0, 10.0, 12.0]),
        (
            "medium",
            &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 18.0, 22.0, 25.0],
        ),
        (
            "standard",
            &[
                5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 54.0, 56.0, 61.0, 70.0,
            ],
        ),
    ];
    for (grade, ages) in development {
        for age in ages {
            app.create(
                &next(),
                grade,
                day(*age),
                "Dudley",
                "intelligence_development",
            )
            .await;
        }
    }
    // Stopped clocks never count.
    for (grade, stage, outcome) in [
        ("very_high", "enforced", "arrest"),
        ("high", "closed", "no_further_action"),
        ("standard", "enforced", "warrant_executed"),
    ] {
        let reference = next();
        app.create(
            &reference,
            grade,
            day(9.0),
            "Birmingham",
            "awaiting_enforcement",
        )
        .await;
        let r = app
            .post(
                &format!("/api/v1/packages/{reference}/stage"),
                Role::Intake,
                json!({"stage": stage, "outcome": outcome}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    let status: Value = app
        .get("/api/v1/status", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["as_of"], "2024-02-05T12:00:00Z");
    assert_eq!(
        status["open_by_stage"],
        json!({"intelligence_development": 32, "awaiting_enforcement": 10})
    );
    assert_eq!(status["breached"], 8);
    let figures = |open: u64, breached: u64, due: u64, oldest_days: Option<i64>| {
        json!({
            "open": open, "breached": breached, "due_within_7_days": due,
            "oldest_received_at": oldest_days.map(|d| (now - Duration::days(d)).format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            "oldest_age_days": oldest_days,
        })
    };
    // Every grade is present; those the snapshot has none of show zeros.
    let every_grade = |mut given: Value| {
        for grade in RiskGrade::ALL {
            let zeros = figures(0, 0, 0, None);
            given
                .as_object_mut()
                .unwrap()
                .entry(grade.as_str())
                .or_insert(zeros);
        }
        given
    };
    assert_eq!(
        status["by_grade"],
        every_grade(json!({
            "very_high": figures(2, 1, 1, Some(3)),
            "high": figures(6, 3, 3, Some(12)),
            "medium": figures(15, 2, 2, Some(25)),
            "standard": figures(19, 2, 2, Some(70)),
        }))
    );
    assert_eq!(
        status["by_stage_and_grade"]["awaiting_enforcement"],
        every_grade(json!({
            "very_high": figures(0, 0, 0, None),
            "high": figures(0, 0, 0, None),
            "medium": figures(5, 0, 0, Some(7)),
            "standard": figures(5, 0, 0, Some(35)),
        }))
    );
    assert_eq!(
        status["by_stage_and_grade"]["intelligence_development"],
        every_grade(json!({
            "very_high": figures(2, 1, 1, Some(3)),
            "high": figures(6, 3, 3, Some(12)),
            "medium": figures(10, 2, 2, Some(25)),
            "standard": figures(14, 2, 2, Some(70)),
        }))
    );

    // One LPA.
    let coventry: Value = app
        .get("/api/v1/status?lpa=coventry", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(coventry["lpa"], "Coventry");
    assert_eq!(
        coventry["open_by_stage"],
        json!({"intelligence_development": 0, "awaiting_enforcement": 5})
    );
    assert_eq!(coventry["by_grade"]["standard"], figures(5, 0, 0, Some(35)));
    assert_eq!(coventry["breached"], 0);

    // A day later the figures move with the clock.
    app.clock.advance(Duration::days(1));
    let later: Value = app
        .get("/api/v1/status", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["by_grade"]["very_high"]["breached"], 2);
    assert_eq!(
        later["by_stage_and_grade"]["awaiting_enforcement"]["medium"]["oldest_age_days"],
        8
    );
}

async fn every_auth_case(app: TestApp) {
    let url = format!("{}/api/v1/status", app.base);
    let none = app.http.get(&url).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_error(none, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let bad = app
        .http
        .get(&url)
        .bearer_auth("ocset_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_error(bad, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let basic = app
        .http
        .get(&url)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "unauthorized", None).await;

    // Each role can do its own and no more.
    let body = || json!({"reference": "AUTH-1", "risk_grade": "high", "received_at": "2024-02-05T09:00:00Z", "lpa": "Dudley", "stage": "awaiting_enforcement"});
    let viewer_create = app.post("/api/v1/packages", Role::Viewer, body()).await;
    assert_error(viewer_create, StatusCode::FORBIDDEN, "forbidden", None).await;
    // The role is checked before the body is read: a caller who may not use
    // an endpoint learns nothing about what it accepts.
    let viewer_empty = app.post("/api/v1/packages", Role::Viewer, json!({})).await;
    assert_error(viewer_empty, StatusCode::FORBIDDEN, "forbidden", None).await;
    let viewer_text = app
        .http
        .post(format!("{}/api/v1/packages", app.base))
        .bearer_auth(app.token(Role::Viewer))
        .header("content-type", "text/plain")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_error(viewer_text, StatusCode::FORBIDDEN, "forbidden", None).await;
    for (path, role) in [
        ("/api/v1/packages/NOPE-1/grade", Role::Viewer),
        ("/api/v1/packages/NOPE-1/stage", Role::Viewer),
        ("/api/v1/packages/NOPE-1/safeguarding", Role::Viewer),
        ("/api/v1/packages/NOPE-1/assign", Role::Intake),
        ("/api/v1/packages/NOPE-1/acknowledge", Role::Intake),
    ] {
        let empty = app.post(path, role, json!({})).await;
        error_named(path, empty, StatusCode::FORBIDDEN, "forbidden", None).await;
    }
    assert_eq!(
        app.post("/api/v1/packages", Role::Intake, body())
            .await
            .status(),
        StatusCode::CREATED
    );
    // application/json with a parameter, in any case, is JSON.
    let with_charset = app
        .http
        .post(format!("{}/api/v1/packages", app.base))
        .bearer_auth(app.token(Role::Intake))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(json!({"reference": "AUTH-2", "risk_grade": "high", "received_at": "2024-02-05T09:00:00Z", "lpa": "Dudley", "stage": "awaiting_enforcement"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(with_charset.status(), StatusCode::CREATED);
    let officer = json!({"officer": "pc.a@force.police.uk"});
    let intake_assign = app
        .post(
            "/api/v1/packages/AUTH-1/assign",
            Role::Intake,
            officer.clone(),
        )
        .await;
    assert_error(intake_assign, StatusCode::FORBIDDEN, "forbidden", None).await;
    assert_eq!(
        app.post("/api/v1/packages/AUTH-1/assign", Role::Supervisor, officer)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post(
            "/api/v1/packages/AUTH-1/assign",
            Role::Admin,
            json!({"officer": "pc.b@force.police.uk"})
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/packages/AUTH-1", Role::Viewer)
            .await
            .status(),
        StatusCode::OK
    );

    // A revoked token is refused at once.
    assert!(app
        .store
        .revoke_token("viewer-test", start(), &Actor::named("test"))
        .await
        .unwrap());
    let revoked = app.get("/api/v1/status", Role::Viewer).await;
    assert_error(revoked, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

/// A JSON value in a table of cases: written out, or a string of `n` x's
/// (too long to write out).
#[derive(Debug, Clone, Copy)]
enum Json {
    Is(&'static str),
    Xs(usize),
}

impl Json {
    fn value(self) -> Value {
        match self {
            Json::Is(text) => serde_json::from_str(text).unwrap(),
            Json::Xs(n) => json!("x".repeat(n)),
        }
    }
}

/// One bad request of [`BAD_REQUESTS`].
#[derive(Debug, Clone, Copy)]
enum BadRequest {
    /// `POST /api/v1/packages` as intake: a good new package with `key` set
    /// to the value (added when the package has no such key).
    NewPackageWith(&'static str, Json),
    /// A JSON body (written out) posted to a path as a role.
    Post(&'static str, Role, &'static str),
    /// `GET` a path as a role.
    Get(&'static str, Role),
    /// `GET /api/v1/packages/<reference>` as a viewer.
    GetPackage(Json),
    /// `POST /api/v1/packages` as intake with this content type (`None`: no
    /// header) and body text (`None`: the good new package).
    Raw(Option<&'static str>, Option<&'static str>),
    /// `DELETE` a path as a role.
    Delete(&'static str, Role),
}

/// A bad request and the error it must get: status, code, the field named,
/// and words the message must contain.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    request: BadRequest,
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
    says: Option<&'static str>,
}

/// A 422 naming `field`.
const fn invalid(request: BadRequest, field: &'static str) -> Refusal {
    Refusal {
        request,
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_field",
        field: Some(field),
        says: None,
    }
}

/// A 409: the request conflicts with the package's record at `field`.
const fn conflict(request: BadRequest, field: &'static str) -> Refusal {
    Refusal {
        request,
        status: StatusCode::CONFLICT,
        code: "conflict",
        field: Some(field),
        says: None,
    }
}

/// An error that names no field.
const fn refused(request: BadRequest, status: StatusCode, code: &'static str) -> Refusal {
    Refusal {
        request,
        status,
        code,
        field: None,
        says: None,
    }
}

/// Every bad request [`bad_input_is_a_clear_4xx_and_writes_nothing`] makes,
/// in order. `KEEP-1` is the one package stored; the good new package is
/// received on Monday 5 February 2024, 09:00, three hours before "now".
// One request a line, as a table: rustfmt would spread each over several.
#[rustfmt::skip]
const BAD_REQUESTS: &[Refusal] = {
    use BadRequest::{Delete, Get, GetPackage, NewPackageWith, Post, Raw};
    use Json::{Is, Xs};
    use Role::{Admin, Intake, Supervisor, Viewer};
    &[
        // New packages with one bad field.
        invalid(NewPackageWith("colour", Is(r#""red""#)), "colour"),
        invalid(NewPackageWith("risk_grade", Is(r#""urgent""#)), "risk_grade"),
        invalid(NewPackageWith("risk_grade", Is("3")), "risk_grade"),
        Refusal {
            says: Some("in the future (by 2 days 21 hours)"),
            ..invalid(
                NewPackageWith("received_at", Is(r#""2024-02-08T09:00:00Z""#)),
                "received_at",
            )
        },
        invalid(NewPackageWith("received_at", Is(r#""yesterday""#)), "received_at"),
        // One plausible range and no leap second, for every time typed in.
        invalid(NewPackageWith("received_at", Is(r#""0000-01-01T00:00:00Z""#)), "received_at"),
        invalid(NewPackageWith("received_at", Is(r#""2016-12-31T23:59:60Z""#)), "received_at"),
        invalid(Get("/api/v1/reports/weekly?week=0000-W01", Viewer), "week"),
        // A London time that never happened: the clocks went forward.
        invalid(NewPackageWith("received_at", Is(r#""2023-03-26 01:30""#)), "received_at"),
        invalid(NewPackageWith("lpa", Is(r#""Gotham""#)), "lpa"),
        invalid(NewPackageWith("stage", Is(r#""enforced""#)), "stage"),
        invalid(NewPackageWith("reference", Is(r#""""#)), "reference"),
        invalid(NewPackageWith("reference", Xs(65)), "reference"),
        invalid(NewPackageWith("reference", Is(r#""A\u0007B""#)), "reference"),
        // A reference's shape: ASCII letters, digits and -_/. only, first a
        // letter or digit, so never a spreadsheet formula.
        invalid(NewPackageWith("reference", Is(r#""=cmd|' /C calc'!A0""#)), "reference"),
        invalid(NewPackageWith("reference", Is(r#""-2+3""#)), "reference"),
        invalid(NewPackageWith("reference", Is(r#""EX 01""#)), "reference"),
        invalid(NewPackageWith("reference", Is(r#""EX-01é""#)), "reference"),
        invalid(NewPackageWith("assigned_officer", Is(r#""not an email""#)), "assigned_officer"),
        Refusal {
            status: StatusCode::CONFLICT,
            code: "duplicate_reference",
            ..invalid(NewPackageWith("reference", Is(r#""KEEP-1""#)), "reference")
        },
        // Unique whatever the case: keep-1 is KEEP-1.
        Refusal {
            status: StatusCode::CONFLICT,
            code: "duplicate_reference",
            ..invalid(NewPackageWith("reference", Is(r#""keep-1""#)), "reference")
        },
        invalid(Post("/api/v1/packages", Intake, r#"{"reference": "X"}"#), "risk_grade"),
        // Bodies that are not JSON, or too large.
        refused(Raw(Some("text/plain"), None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        refused(Raw(None, None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        // Only application/json itself: other JSON-like types are 415 too.
        refused(Raw(Some("application/json-patch+json"), None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        refused(Raw(Some("application/vnd.api+json"), None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        refused(Raw(Some("application/jsonx"), None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        refused(Raw(Some("application/json"), Some("{\"reference\": ")), StatusCode::BAD_REQUEST, "malformed_json"),
        refused(NewPackageWith("reference", Xs(70 * 1024)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        // Reads with a bad path or query.
        invalid(GetPackage(Xs(65)), "reference"),
        // A path segment is taken exactly: KEEP-1 with a space after it is
        // refused, never trimmed to KEEP-1.
        invalid(Get("/api/v1/packages/KEEP-1%20", Viewer), "reference"),
        invalid(Get("/api/v1/packages/%20KEEP-1", Viewer), "reference"),
        invalid(Post("/api/v1/packages/KEEP-1%20/grade", Intake, r#"{"risk_grade": "high", "reason": "new intel"}"#), "reference"),
        invalid(Get("/api/v1/packages?limit=0", Viewer), "limit"),
        invalid(Get("/api/v1/packages?limit=1001", Viewer), "limit"),
        invalid(Get("/api/v1/packages?limit=ten", Viewer), "limit"),
        invalid(Get("/api/v1/packages?status=late", Viewer), "status"),
        invalid(Get("/api/v1/packages?grade=low", Viewer), "grade"),
        invalid(Get("/api/v1/packages?stage=pending", Viewer), "stage"),
        invalid(Get("/api/v1/packages?lpa=Gotham", Viewer), "lpa"),
        invalid(Get("/api/v1/packages?cursor=zz", Viewer), "cursor"),
        // Multi-byte and invalid UTF-8 cursors: refused, never a panic.
        invalid(Get("/api/v1/packages?cursor=%E2%82%AC%E2%82%AC", Viewer), "cursor"),
        invalid(Get("/api/v1/packages?cursor=%ff%fe", Viewer), "cursor"),
        invalid(Get("/api/v1/breaches?cursor=%E2%82%AC%E2%82%AC", Viewer), "cursor"),
        invalid(Get("/api/v1/breaches?cursor=%ff%fe", Viewer), "cursor"),
        invalid(Get("/api/v1/packages?colour=red", Viewer), "colour"),
        invalid(Get("/api/v1/status?lpa=Gotham", Viewer), "lpa"),
        // Changes to KEEP-1 with a bad field.
        invalid(Post("/api/v1/packages/KEEP-1/grade", Intake, r#"{"risk_grade": "high"}"#), "reason"),
        invalid(Post("/api/v1/packages/KEEP-1/grade", Intake, r#"{"risk_grade": "high", "reason": "  "}"#), "reason"),
        // Every free text passes one rule: no control character (a line
        // break only in a reason or note), no bidirectional override.
        invalid(Post("/api/v1/packages/KEEP-1/grade", Intake, r#"{"risk_grade": "high", "reason": "new\u0000intel"}"#), "reason"),
        invalid(Post("/api/v1/packages/KEEP-1/grade", Intake, r#"{"risk_grade": "high", "reason": "\u202Elatni wen"}"#), "reason"),
        invalid(NewPackageWith("reference", Is(r#""\u202E""#)), "reference"),
        invalid(NewPackageWith("reference", Is(r#""EX\u202E-01""#)), "reference"),
        invalid(Post("/api/v1/packages/KEEP-1/assign", Supervisor, r#"{"officer": "pc.\u2066one@force.police.uk"}"#), "officer"),
        invalid(
            Post("/api/v1/packages/KEEP-1/stage", Intake, r#"{"stage": "enforced", "outcome": "arrest", "at": "2024-03-01 10:00"}"#),
            "at",
        ),
        invalid(Post("/api/v1/packages/KEEP-1/assign", Supervisor, r#"{"officer": "smith"}"#), "officer"),
        // A referral with no access recorded, and a time before the package
        // was received, conflict with the package's record: 409, not 422
        // (the same values are right for another package).
        conflict(
            Post("/api/v1/packages/KEEP-1/safeguarding", Intake, r#"{"referral_made_at": "2024-02-05 10:00"}"#),
            "referral_made_at",
        ),
        conflict(
            Post("/api/v1/packages/KEEP-1/stage", Intake, r#"{"stage": "enforced", "outcome": "arrest", "at": "2024-01-01 10:00"}"#),
            "at",
        ),
        // Within one request, times out of order are bad input.
        invalid(
            Post("/api/v1/packages/KEEP-1/safeguarding", Intake, r#"{"child_access_identified_at": "2024-02-05 10:00", "referral_made_at": "2024-02-05 09:00"}"#),
            "referral_made_at",
        ),
        // The API reads grades, stages and outcomes by their exact names
        // (the CSV import also reads spreadsheet spellings).
        invalid(NewPackageWith("risk_grade", Is(r#""High""#)), "risk_grade"),
        invalid(NewPackageWith("stage", Is(r#""Awaiting Enforcement""#)), "stage"),
        invalid(Post("/api/v1/packages/KEEP-1/stage", Intake, r#"{"stage": "enforced", "outcome": "Arrest"}"#), "outcome"),
        invalid(Get("/api/v1/packages?cursor=1.000000000", Viewer), "cursor"),
        invalid(Get("/api/v1/packages?cursor=1.5~KEEP-1", Viewer), "cursor"),
        // No such route, or no such method on it.
        refused(Get("/api/v1/nothing", Viewer), StatusCode::NOT_FOUND, "not_found"),
        refused(Delete("/api/v1/packages/KEEP-1", Admin), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ]
};

async fn bad_input_is_a_clear_4xx_and_writes_nothing(app: TestApp) {
    app.create(
        "KEEP-1",
        "medium",
        start() - Duration::days(1),
        "Walsall",
        "awaiting_enforcement",
    )
    .await;
    let audit_before = app.store.audit_log(None).await.unwrap().len();
    let good = || json!({"reference": "NEW-1", "risk_grade": "high", "received_at": "2024-02-05T09:00:00Z", "lpa": "Dudley", "stage": "awaiting_enforcement"});
    for (i, case) in BAD_REQUESTS.iter().enumerate() {
        let url = |path: &str| format!("{}{path}", app.base);
        let response = match case.request {
            BadRequest::NewPackageWith(key, value) => {
                let mut body = good();
                body[key] = value.value();
                app.post("/api/v1/packages", Role::Intake, body).await
            }
            BadRequest::Post(path, role, body) => {
                let body: Value = serde_json::from_str(body).unwrap();
                app.post(path, role, body).await
            }
            BadRequest::Get(path, role) => app.get(path, role).await,
            BadRequest::GetPackage(reference) => {
                let path = format!("/api/v1/packages/{}", reference.value().as_str().unwrap());
                app.get(&path, Role::Viewer).await
            }
            BadRequest::Raw(content_type, body) => {
                let mut request = app
                    .http
                    .post(url("/api/v1/packages"))
                    .bearer_auth(app.token(Role::Intake));
                if let Some(content_type) = content_type {
                    request = request.header("content-type", content_type);
                }
                let body = body.map_or_else(|| good().to_string(), str::to_string);
                request.body(body).send().await.unwrap()
            }
            BadRequest::Delete(path, role) => app
                .http
                .delete(url(path))
                .bearer_auth(app.token(role))
                .send()
                .await
                .unwrap(),
        };
        let case_name = format!("case {i} of BAD_REQUESTS: {case:?}");
        let body = error_named(&case_name, response, case.status, case.code, case.field).await;
        if let Some(words) = case.says {
            assert!(
                body["error"]["message"].as_str().unwrap().contains(words),
                "{case_name}: {body}"
            );
        }
    }

    // Nothing was written: one package, unchanged, and no new change lines
    // in the audit log (only the list reads this test itself made).
    assert_eq!(app.count().await, 1);
    let keep: Value = app
        .get("/api/v1/packages/KEEP-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keep["risk_grade"], "medium");
    assert_eq!(keep["events"].as_array().unwrap().len(), 1);
    // Found by its reference in any case, shown as first given.
    let lower = app.get("/api/v1/packages/keep-1", Role::Viewer).await;
    assert_eq!(lower.status(), StatusCode::OK);
    let lower: Value = lower.json().await.unwrap();
    assert_eq!(lower["reference"], "KEEP-1");
    assert_eq!(lower["events"].as_array().unwrap().len(), 1);
    let changes = app.store.audit_log(None).await.unwrap()[audit_before..]
        .iter()
        .filter(|line| !line.action.ends_with(".read") && !line.action.ends_with(".listed"))
        .count();
    assert_eq!(changes, 0);
}

async fn the_audit_trail_records_changes_and_reads(app: TestApp) {
    app.create(
        "AUD-1",
        "high",
        start() - Duration::hours(5),
        "Solihull",
        "awaiting_enforcement",
    )
    .await;
    let response = app
        .http
        .post(format!("{}/api/v1/packages/AUD-1/grade", app.base))
        .bearer_auth(app.token(Role::Intake))
        .header("x-request-id", "req-regrade-1")
        .json(&json!({"risk_grade": "very_high", "reason": "new intel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "req-regrade-1");
    let read = app.get("/api/v1/packages/AUD-1", Role::Viewer).await;
    let read_id = read.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!read_id.is_empty(), "the server gives each request an id");
    let lines = app
        .store
        .audit_log(Some(
            &ocset_scheduler::domain::Reference::parse("AUD-1").unwrap(),
        ))
        .await
        .unwrap();
    let summary: Vec<(&str, &str, Option<&str>)> = lines
        .iter()
        .map(|l| (l.actor.as_str(), l.action.as_str(), l.request_id.as_deref()))
        .collect();
    assert_eq!(
        summary[1],
        (
            "token:intake-test",
            "package.regraded",
            Some("req-regrade-1")
        )
    );
    assert_eq!(
        summary[2],
        ("token:viewer-test", "package.read", Some(read_id.as_str()))
    );
    assert_eq!(
        (summary[0].0, summary[0].1),
        ("token:intake-test", "package.created")
    );
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.at == start()));
    // The API has no way to change or delete it: no route takes DELETE or PUT.
    for method in [
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
    ] {
        let r = app
            .http
            .request(method, format!("{}/api/v1/packages/AUD-1", app.base))
            .bearer_auth(app.token(Role::Admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    // A request id too long to keep is replaced, and only the new one is
    // recorded.
    let response = app
        .http
        .post(format!("{}/api/v1/packages/AUD-1/grade", app.base))
        .bearer_auth(app.token(Role::Intake))
        .header("x-request-id", "r".repeat(60 * 1024))
        .json(&json!({"risk_grade": "high", "reason": "downgraded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let given = response.headers()["x-request-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(given).is_ok(),
        "a new UUID, not the {} bytes sent",
        given.len()
    );
    let lines = app
        .store
        .audit_log(Some(
            &ocset_scheduler::domain::Reference::parse("AUD-1").unwrap(),
        ))
        .await
        .unwrap();
    let last = lines.last().unwrap();
    assert_eq!(last.action, "package.regraded");
    assert_eq!(last.request_id.as_deref(), Some(given));
}

async fn lists_filter_and_page_through_every_package_once(app: TestApp) {
    for (i, grade) in ["high", "medium", "high", "standard", "high"]
        .iter()
        .enumerate()
    {
        app.create(
            &format!("PG-{i}"),
            grade,
            start() - Duration::hours(i as i64 + 1),
            "Sandwell",
            "awaiting_enforcement",
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/packages?limit=2&cursor={c}"),
            None => "/api/v1/packages?limit=2".to_string(),
        };
        let page: Value = app.get(&path, Role::Viewer).await.json().await.unwrap();
        pages += 1;
        seen.extend(
            page["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["reference"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    // Ordered by deadline: the high ones first (7 days), oldest receipt first.
    assert_eq!(seen, ["PG-4", "PG-2", "PG-0", "PG-1", "PG-3"]);
    let high: Value = app
        .get("/api/v1/packages?grade=high&limit=2", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(high["packages"].as_array().unwrap().len(), 2);
    let rest: Value = app
        .get(
            &format!(
                "/api/v1/packages?grade=high&limit=2&cursor={}",
                high["next_cursor"].as_str().unwrap()
            ),
            Role::Viewer,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["packages"][0]["reference"], "PG-0");
    assert!(rest["next_cursor"].is_null());
    let on_track: Value = app
        .get("/api/v1/packages?status=on_track", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(on_track["packages"].as_array().unwrap().len(), 5);
    app.clock.advance(Duration::days(6));
    let due_soon: Value = app
        .get("/api/v1/packages?status=due_soon", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        due_soon["packages"].as_array().unwrap().len(),
        3,
        "the high ones are past 75% of 7 days"
    );
}

async fn breaches_come_most_overdue_first(app: TestApp) {
    app.create(
        "BR-1",
        "very_high",
        start() - Duration::days(3),
        "Walsall",
        "awaiting_enforcement",
    )
    .await;
    app.create(
        "BR-2",
        "high",
        start() - Duration::days(10),
        "Walsall",
        "awaiting_enforcement",
    )
    .await;
    app.create(
        "BR-3",
        "high",
        start() - Duration::days(1),
        "Walsall",
        "awaiting_enforcement",
    )
    .await;
    let body: Value = app
        .get("/api/v1/breaches", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    let refs: Vec<&str> = body["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["BR-2", "BR-1"]);
    assert_eq!(body["breaches"][0]["overdue_days"], 3);
    assert_eq!(body["breaches"][1]["overdue_seconds"], 86_400);
    assert_eq!(body["as_of"], "2024-02-05T12:00:00Z");
}

async fn operations_endpoints_need_no_token_and_leak_nothing(app: TestApp) {
    app.create(
        "SECRET-REF-1",
        "high",
        start() - Duration::days(9),
        "Walsall",
        "awaiting_enforcement",
    )
    .await;
    let _ = app.get("/api/v1/packages/SECRET-REF-1", Role::Viewer).await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.base)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let metrics = get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("ocset_open_packages{grade=\"high\",stage=\"awaiting_enforcement\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ocset_breached_packages{grade=\"high\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("route=\"/api/v1/packages/{reference}\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("ocset_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/packages\",le=\"+Inf\"} 1"), "{text}");
    assert!(!text.contains("SECRET-REF-1"), "no reference in metrics");

    let doc: Value = get("/api/v1/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parsed: oas3::OpenApiV3Spec =
        serde_json::from_value(doc.clone()).expect("the OpenAPI document parses as OpenAPI 3");
    assert!(parsed.openapi.starts_with("3."), "{}", parsed.openapi);
    let expected = [
        ("/api/v1/packages", "post"),
        ("/api/v1/packages", "get"),
        ("/api/v1/packages/{reference}", "get"),
        ("/api/v1/packages/{reference}/export", "get"),
        ("/api/v1/packages/{reference}/grade", "post"),
        ("/api/v1/packages/{reference}/stage", "post"),
        ("/api/v1/packages/{reference}/assign", "post"),
        ("/api/v1/packages/{reference}/safeguarding", "post"),
        ("/api/v1/packages/{reference}/acknowledge", "post"),
        ("/api/v1/packages/{reference}/reviews", "post"),
        ("/api/v1/status", "get"),
        ("/api/v1/breaches", "get"),
        ("/api/v1/reports/weekly", "get"),
        ("/api/v1/reports/monthly", "get"),
        ("/api/v1/reports/quarterly", "get"),
        ("/api/v1/reports/capacity", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ];
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    assert_eq!(doc["paths"].as_object().unwrap().len(), 19);
    // Every documented operation is routed: none falls through to the
    // "no such endpoint" fallback or answers 405.
    for (path, method) in expected {
        let url = format!("{}{}", app.base, path.replace("{reference}", "NO-SUCH-REF"));
        let request = match method {
            "post" => app.http.post(&url).json(&json!({})),
            _ => app.http.get(&url),
        };
        let response = request
            .bearer_auth(app.token(Role::Admin))
            .send()
            .await
            .unwrap();
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("no such endpoint"),
            "{method} {path} is documented but not routed"
        );
    }
    // Every $ref points at a schema that exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    // Every error an operation can answer is documented with the error
    // schema (schemathesis checks the answers themselves in
    // tests/contract/run.sh); descriptions carry no Rust doc syntax.
    for (path, method) in expected {
        let responses = &doc["paths"][path][method]["responses"];
        let mut needed = vec!["500"];
        if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
            needed.extend(["401", "503"]);
            if method == "post" {
                needed.extend(["400", "403", "413", "415", "422"]);
            }
            if path.contains("{reference}") {
                needed.push("404");
            }
        }
        for status in needed {
            assert_eq!(
                responses[status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorEnvelope",
                "{method} {path} documents {status}"
            );
        }
    }
    assert!(!text.contains("[`"), "an intra-doc link in the document");
    // The LPAs are the configured ones.
    assert_eq!(
        doc["components"]["schemas"]["CreatePackage"]["properties"]["lpa"]["enum"],
        json!([
            "Birmingham",
            "Coventry",
            "Dudley",
            "Sandwell",
            "Solihull",
            "Walsall",
            "Wolverhampton"
        ])
    );
}

// The server shuts down cleanly when asked: a separate test, so the others
// need not wait for it.
#[tokio::test]
async fn the_server_stops_when_shutdown_completes() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let path = common::config_in(dir.path(), &url);
    let settings = config::load(&path, Vec::new()).unwrap();
    let store = store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let app = App::new(
        store,
        Arc::new(settings),
        Arc::new(ManualClock::new(start())),
    );
    let api = ApiServer::build(app, "127.0.0.1:0").await.unwrap();
    let port = api.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api.run_until(async {
        let _ = stopped.await;
    }));
    let ok = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "nothing listens after shutdown"
    );
}

// PostgreSQL refusing connections, as an operator or a failover does it:
// every request that needs the database is 503 `unavailable` with
// `Retry-After`, never 500; and the service recovers without a restart.
#[tokio::test]
async fn postgres_refusing_connections_is_503_with_retry_after() {
    common::with_postgres(|url| async move {
        use sqlx::Connection;
        let app = spawn_app(url.clone()).await;
        assert_eq!(
            app.get("/api/v1/status", Role::Viewer).await.status(),
            StatusCode::OK
        );
        let name = url.rsplit('/').next().unwrap().to_string();
        let mut admin = sqlx::PgConnection::connect(&common::postgres_admin_url())
            .await
            .unwrap();
        let refuse = |allow: bool| format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}");
        sqlx::query(&refuse(false))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();

        let package = json!({"reference": "DOWN-1", "risk_grade": "high", "received_at": "2024-02-05T09:00:00Z",
                             "lpa": "Dudley", "stage": "awaiting_enforcement"});
        for (case, response) in [
            ("GET /api/v1/status", app.get("/api/v1/status", Role::Viewer).await),
            (
                "POST /api/v1/packages",
                app.post("/api/v1/packages", Role::Intake, package.clone())
                    .await,
            ),
            (
                "GET /api/v1/packages",
                app.get("/api/v1/packages", Role::Viewer).await,
            ),
        ] {
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            error_named(
                case,
                response,
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                None,
            )
            .await;
            let seconds: u32 = retry_after
                .unwrap_or_else(|| panic!("{case}: no Retry-After"))
                .parse()
                .unwrap();
            assert!(seconds > 0, "{case}");
        }

        // Connections allowed again: the same server answers.
        sqlx::query(&refuse(true))
            .execute(&mut admin)
            .await
            .unwrap();
        assert_eq!(
            app.get("/api/v1/status", Role::Viewer).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            app.post("/api/v1/packages", Role::Intake, package)
                .await
                .status(),
            StatusCode::CREATED
        );
    })
    .await;
}
