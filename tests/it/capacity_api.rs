//! End-to-end tests of `GET /api/v1/reports/capacity` (the real server on
//! port 0, on SQLite and on PostgreSQL, with a clock the test controls)
//! and of the `capacity` command. The answers are compared with the model
//! built directly from the same store, so these check the surfaces; the
//! arithmetic is checked in src/report/capacity/tests.rs.

use crate::common::app::TestApp;
use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::cli::{self, CapacityFormat, Command};
use ocset_scheduler::clock::ManualClock;
use ocset_scheduler::config;
use ocset_scheduler::domain::{Role, Timescales};
use ocset_scheduler::report::capacity::{CapacityParams, CapacityReport};
use ocset_scheduler::report::render::capacity as render;
use ocset_scheduler::store::AuditRecord;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// Monday 29 January 2024, 09:00 (London is on UTC in winter).
fn week_05_monday() -> DateTime<Utc> {
    utc("2024-01-29T09:00:00Z")
}

/// Wednesday 7 February 2024, 12:00: W05 is the last complete week.
fn asked_at() -> DateTime<Utc> {
    utc("2024-02-07T12:00:00Z")
}

async fn spawn_app(database_url: String) -> TestApp {
    let tokens = [(Role::Viewer, "leaders"), (Role::Intake, "intake")];
    let app = common::app::spawn_app(&database_url, week_05_monday(), &tokens).await;
    app.seed_capacity().await;
    app
}

impl TestApp {
    /// Three packages received in W05 through the API, two with officers;
    /// one enforced a day later. Then the clock stands at [`asked_at`].
    async fn seed_capacity(&self) {
        use ocset_scheduler::clock::Clock;
        let now = self.clock.now().to_rfc3339();
        for body in [
            json!({"reference": "CAP-1", "risk_grade": "high", "received_at": now, "lpa": "Dudley",
                   "stage": "awaiting_enforcement", "assigned_officer": "pc.one@ocset.example"}),
            json!({"reference": "CAP-2", "risk_grade": "medium", "received_at": now, "lpa": "Coventry",
                   "stage": "intelligence_development", "assigned_officer": "pc.two@ocset.example"}),
            json!({"reference": "CAP-3", "risk_grade": "standard", "received_at": now, "lpa": "Walsall",
                   "stage": "intelligence_development"}),
        ] {
            let response = self
                .post("/api/v1/packages", Role::Intake, body.clone())
                .await;
            assert_eq!(response.status(), StatusCode::CREATED, "{body}");
        }
        self.clock.advance(Duration::days(1));
        let response = self
            .post(
                "/api/v1/packages/CAP-1/stage",
                Role::Intake,
                json!({"stage": "enforced", "outcome": "arrest"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        self.clock.set(asked_at());
    }

    async fn capacity_as(&self, query: &str, token: Option<&str>) -> Response {
        let request = self
            .http
            .get(format!("{}/api/v1/reports/capacity{query}", self.base));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    async fn capacity(&self, query: &str) -> Response {
        self.get(&format!("/api/v1/reports/capacity{query}"), Role::Viewer)
            .await
    }

    /// The report built straight from the store at [`asked_at`].
    async fn capacity_model(&self) -> CapacityReport {
        let s = &self.settings;
        let params = CapacityParams::new(s.time_zone, s.marking(), Timescales::default());
        let events = self.store.events_before(asked_at()).await.unwrap();
        CapacityReport::build(&events, asked_at(), &params)
    }

    async fn audit_lines(&self) -> Vec<AuditRecord> {
        self.store.audit_log(None).await.unwrap()
    }
}

on_both_backends!(
    spawn_app;
    the_json_report_is_the_model_now,
    text_and_html_are_the_renderings_of_the_model,
    a_token_is_needed_bad_formats_refused_and_good_reads_audited,
    the_capacity_report_is_documented_with_its_schema,
);

async fn the_json_report_is_the_model_now(app: TestApp) {
    let response = app.capacity("").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let got: Value = response.json().await.unwrap();
    let expected: Value = serde_json::from_str(&render::json(&app.capacity_model().await)).unwrap();
    assert_eq!(got, expected);

    // The seed's figures, so the equality is not of two empty reports.
    assert_eq!(got["last_complete_week"], "2024-W05");
    assert_eq!(got["history_weeks"], 1);
    let twelve = &got["windows"][0];
    assert_eq!(twelve["weeks"], 12);
    assert_eq!(twelve["received"][4]["grade"], Value::Null);
    assert_eq!(twelve["received"][4]["total"], 3);
    assert_eq!(twelve["enforced"][4]["total"], 1);
    let officers: Vec<&str> = got["officers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["officer"].as_str().unwrap())
        .collect();
    assert_eq!(officers, ["pc.one@ocset.example", "pc.two@ocset.example"]);
    assert_eq!(got["unassigned_open"], 1);
    assert_eq!(got["forecast"]["history_weeks"], 1);
    assert!(got["method"]
        .as_str()
        .unwrap()
        .starts_with("Only 1 week of history"));

    // The same ledger at the same instant: the same forecast.
    let again: Value = app.capacity("?format=json").await.json().await.unwrap();
    assert_eq!(again, got);
}

async fn text_and_html_are_the_renderings_of_the_model(app: TestApp) {
    let model = app.capacity_model().await;
    let text = app.capacity("?format=text").await;
    assert_eq!(text.status(), StatusCode::OK);
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    let body = text.text().await.unwrap();
    assert_eq!(body, render::text(&model));
    assert!(
        body.contains("Demand: 3 packages received in the last 12 complete weeks"),
        "{body}"
    );

    let html = app.capacity("?format=html").await;
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let body = html.text().await.unwrap();
    assert_eq!(body, render::html(&model));
    assert!(body.contains("<table id=\"capacity-forecast\""), "{body}");
}

async fn a_token_is_needed_bad_formats_refused_and_good_reads_audited(app: TestApp) {
    let before = app.audit_lines().await.len();
    assert_eq!(
        app.capacity_as("", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for (query, field, why) in [
        ("?format=pdf", "format", "pdf"),
        ("?week=2024-W05", "week", "unknown field"),
    ] {
        let response = app.capacity(query).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_field", "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    assert_eq!(
        app.audit_lines().await.len(),
        before,
        "a refusal writes nothing"
    );

    let good = app
        .http
        .get(format!("{}/api/v1/reports/capacity?format=text", app.base))
        .bearer_auth(app.token(Role::Viewer))
        .header("x-request-id", "req-capacity-1")
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    let lines = app.audit_lines().await;
    let new = &lines[before..];
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].action, "report.read");
    assert_eq!(new[0].actor, "token:leaders");
    assert_eq!(new[0].request_id.as_deref(), Some("req-capacity-1"));
    assert_eq!(new[0].detail.as_deref(), Some("capacity, format text"));
    assert_eq!(new[0].at, asked_at());
}

async fn the_capacity_report_is_documented_with_its_schema(app: TestApp) {
    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operation = &doc["paths"]["/api/v1/reports/capacity"]["get"];
    assert!(operation.is_object(), "the report is documented");
    let params: Vec<&str> = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["format"]);
    let content = &operation["responses"]["200"]["content"];
    assert_eq!(
        content["application/json"]["schema"]["$ref"], "#/components/schemas/CapacityReport",
        "{content}"
    );
    assert!(content["text/plain"].is_object() && content["text/html"].is_object());
    for status in ["401", "422", "500"] {
        assert!(operation["responses"][status].is_object(), "{status}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let properties = schemas["CapacityReport"]["properties"].as_object().unwrap();
    for field in ["windows", "weeks", "officers", "forecast", "method"] {
        assert!(properties.contains_key(field), "{field}");
    }
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
}

/// `capacity` in-process with the test's clock, in each format, audited.
#[tokio::test]
async fn the_capacity_command_renders_the_demo_ledger_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let settings = config::load(&config_path, Vec::new()).unwrap();
    let clock = ManualClock::new(utc("2026-11-25T12:00:00Z"));
    let run = |command: Command| {
        let settings = settings.clone();
        let clock = clock.clone();
        async move {
            let mut out = Vec::new();
            cli::run(command, settings, Arc::new(clock), &mut out, async {})
                .await
                .unwrap();
            String::from_utf8(out).unwrap()
        }
    };
    run(Command::Demo).await;
    let text = run(Command::Capacity {
        format: CapacityFormat::Text,
    })
    .await;
    assert!(text.starts_with("OFFICIAL-SENSITIVE\n"), "{text}");
    assert!(
        text.contains("OCSET capacity and demand, at Wed 25 Nov 2026 12:00"),
        "{text}"
    );
    assert!(text.contains("6. Forecast"), "{text}");
    let json: Value = serde_json::from_str(
        &run(Command::Capacity {
            format: CapacityFormat::Json,
        })
        .await,
    )
    .unwrap();
    assert_eq!(json["last_complete_week"], "2026-W47");
    // The demo's year of history: every one of the 52 weeks, seven officers
    // stopping clocks, and a forecast from the last 12 weeks.
    assert_eq!(json["history_weeks"], 52);
    assert_eq!(json["forecast"]["history_weeks"], 12);
    let stopping = json["officers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["enforced_twelve_weeks"].as_u64().unwrap() > 0)
        .count();
    assert!(stopping >= 7, "{json}");
    let weeks = json["weeks"].as_array().unwrap();
    // Packages every week, but for the oldest, which the history reaches
    // in part.
    assert!(
        weeks[1..]
            .iter()
            .all(|w| w["received"].as_u64().unwrap() >= 1),
        "{json}"
    );
    assert!(
        json["forecast"]["horizons"].as_array().unwrap().len() == 2,
        "{json}"
    );
    // The same ledger at the same instant gives the same figures.
    let again: Value = serde_json::from_str(
        &run(Command::Capacity {
            format: CapacityFormat::Json,
        })
        .await,
    )
    .unwrap();
    assert_eq!(again, json);
    let html = run(Command::Capacity {
        format: CapacityFormat::Html,
    })
    .await;
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("id=\"capacity-officers\""));
    let audit = run(Command::Audit {
        action: None,
        reference: None,
        json: true,
    })
    .await;
    assert_eq!(
        audit.matches("capacity, format").count(),
        4,
        "each rendering is an audited read: {audit}"
    );
}
