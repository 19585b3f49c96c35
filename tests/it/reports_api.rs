//! End-to-end tests of `GET /api/v1/reports/{weekly,monthly,quarterly}`: the real server on port
//! 0, driven over HTTP by reqwest, on SQLite and on PostgreSQL, with a clock
//! the test controls. The answers are compared with the report model built
//! directly from the same store, so these tests check the endpoint, not the
//! report's arithmetic (src/report/tests.rs does that).

use crate::common::app::TestApp;
use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::Role;
use ocset_scheduler::report::{self, render, IsoWeek, ReportParams, ReportPeriod};
use ocset_scheduler::store::AuditRecord;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// Monday 29 January 2024, 09:00: the start of ISO week 2024-W05. Winter,
/// so London time is UTC and the week runs 29 Jan 00:00Z to 5 Feb 00:00Z.
fn week_05_monday() -> DateTime<Utc> {
    utc("2024-01-29T09:00:00Z")
}

/// Monday 5 February 2024, 12:00: W05 has ended, W06 is running.
fn after_week_05() -> DateTime<Utc> {
    utc("2024-02-05T12:00:00Z")
}

fn week(text: &str) -> IsoWeek {
    text.parse().unwrap()
}

/// The server with a leader's (viewer) token and an intake token, after a
/// week of work (see [`TestApp::seed`]).
async fn spawn_app(database_url: String) -> TestApp {
    let tokens = [(Role::Viewer, "leaders"), (Role::Intake, "intake")];
    let app = common::app::spawn_app(&database_url, week_05_monday(), &tokens).await;
    app.seed().await;
    app
}

impl TestApp {
    /// Drives a week of work through the API with the clock: three packages
    /// received in W05, one enforced within its timescale, one very high
    /// left past its 48 hours. Then the clock stands after W05's end.
    async fn seed(&self) {
        let intake = self.token(Role::Intake);
        let receive = |reference: &str, grade: &str, lpa: &str, stage: &str| {
            json!({"reference": reference, "risk_grade": grade,
                   "received_at": self.clock_now().to_rfc3339(), "lpa": lpa, "stage": stage})
        };
        for body in [
            receive("WR-1", "high", "Birmingham", "awaiting_enforcement"),
            receive("WR-2", "very_high", "Dudley", "awaiting_enforcement"),
            receive("WR-3", "medium", "Coventry", "intelligence_development"),
        ] {
            let response = self
                .http
                .post(format!("{}/api/v1/packages", self.base))
                .bearer_auth(intake)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "{body}");
        }
        self.clock.advance(Duration::days(1));
        let response = self
            .http
            .post(format!("{}/api/v1/packages/WR-1/stage", self.base))
            .bearer_auth(intake)
            .json(&json!({"stage": "enforced", "outcome": "arrest"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        self.clock.set(after_week_05());
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use ocset_scheduler::clock::Clock;
        self.clock.now()
    }

    async fn weekly_as(&self, query: &str, token: Option<&str>) -> Response {
        let request = self
            .http
            .get(format!("{}/api/v1/reports/weekly{query}", self.base));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    /// The weekly report as a viewer asks for it.
    async fn weekly(&self, query: &str) -> Response {
        self.weekly_as(query, Some(self.token(Role::Viewer))).await
    }

    /// The report at `/api/v1/reports/{which}{query}`, as a viewer asks.
    async fn report(&self, which: &str, query: &str) -> Response {
        self.http
            .get(format!("{}/api/v1/reports/{which}{query}", self.base))
            .bearer_auth(self.token(Role::Viewer))
            .send()
            .await
            .unwrap()
    }

    /// The report built straight from the store, as the handler should.
    async fn model(&self, week: IsoWeek) -> report::WeeklyReport {
        self.model_of(ReportPeriod::Week(week)).await
    }

    /// The report over any period, built straight from the store.
    async fn model_of(&self, period: ReportPeriod) -> report::WeeklyReport {
        let settings = &self.settings;
        let params = ReportParams::new(
            settings.time_zone,
            settings.marking(),
            settings.config.safeguarding.referral_within,
        );
        let until = period.ends_at(params.time_zone);
        let events = self.store.events_before(until).await.unwrap();
        report::WeeklyReport::build_for(period, &events, &params)
    }

    async fn audit(&self) -> Vec<AuditRecord> {
        self.store.audit_log(None).await.unwrap()
    }
}

/// Asserts a 422 naming `field`, with a message that says `why`.
async fn assert_refused(response: Response, field: &str, why: &str) {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(why), "{message} should say {why:?}");
}

on_both_backends!(
    spawn_app;
    the_json_report_is_the_model_for_the_week,
    the_csv_report_is_an_attachment_of_the_open_packages,
    a_token_is_needed_and_a_viewer_may_read,
    bad_weeks_and_formats_are_refused_and_only_good_reads_audited,
    the_default_week_is_the_last_complete_one,
    the_report_is_documented_and_routed,
    monthly_and_quarterly_reports_are_the_model_for_their_period,
    bad_months_and_quarters_are_refused_naming_the_parameter,
    the_default_month_and_quarter_are_the_last_complete_ones,
    monthly_and_quarterly_reports_are_documented,
);

async fn the_json_report_is_the_model_for_the_week(app: TestApp) {
    let response = app.weekly("?week=2024-W05&format=json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let got: Value = response.json().await.unwrap();
    let expected: Value =
        serde_json::from_str(&render::json(&app.model(week("2024-W05")).await)).unwrap();
    assert_eq!(got, expected);

    // The figures the seed made, so equality above is not of two empties.
    assert_eq!(got["week"], "2024-W05");
    assert_eq!(got["flow"]["week"]["received"], 3);
    assert_eq!(got["flow"]["week"]["enforced"], 1);
    let breaches = got["breaches"].as_array().unwrap();
    assert_eq!(breaches.len(), 1, "{got}");
    assert_eq!(breaches[0]["reference"], "WR-2");
    let open: Vec<&str> = got["open_packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["WR-2", "WR-3"]);

    // JSON is the default rendering.
    let default: Value = app.weekly("?week=2024-W05").await.json().await.unwrap();
    assert_eq!(default, expected);
}

async fn the_csv_report_is_an_attachment_of_the_open_packages(app: TestApp) {
    let response = app.weekly("?week=2024-W05&format=csv").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"ocset-weekly-2024-W05.csv\""
    );
    let body = response.text().await.unwrap();
    assert_eq!(body, render::csv(&app.model(week("2024-W05")).await));
    assert_eq!(body.lines().count(), 3, "a header and two open packages");
    assert!(body.lines().nth(1).unwrap().contains("WR-2"), "{body}");
}

async fn a_token_is_needed_and_a_viewer_may_read(app: TestApp) {
    let before = app.audit().await.len();
    let none = app.weekly_as("?week=2024-W05", None).await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    let bad = app.weekly_as("?week=2024-W05", Some("not-a-token")).await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.audit().await.len(), before, "no read, no audit line");

    // The viewer role is the lowest: a leader's token reads the report.
    let viewer = app.weekly("?week=2024-W05").await;
    assert_eq!(viewer.status(), StatusCode::OK);
}

async fn bad_weeks_and_formats_are_refused_and_only_good_reads_audited(app: TestApp) {
    let before = app.audit().await.len();
    assert_refused(
        app.weekly("?week=2024-W99").await,
        "week",
        "not an ISO week",
    )
    .await;
    assert_refused(app.weekly("?week=banana").await, "week", "not an ISO week").await;
    assert_refused(app.weekly("?week=").await, "week", "not an ISO week").await;
    // W06 is running at the clock's Monday noon; W07 is still to come.
    assert_refused(
        app.weekly("?week=2024-W06").await,
        "week",
        "has not ended yet",
    )
    .await;
    assert_refused(
        app.weekly("?week=2024-W07").await,
        "week",
        "has not ended yet",
    )
    .await;
    assert_refused(
        app.weekly("?week=2024-W05&format=pdf").await,
        "format",
        "pdf",
    )
    .await;
    // Unknown parameters are refused, as everywhere in the API.
    assert_refused(
        app.weekly("?week=2024-W05&lpa=Dudley").await,
        "lpa",
        "unknown field",
    )
    .await;
    assert_eq!(
        app.audit().await.len(),
        before,
        "a refused request writes nothing"
    );

    let good = app
        .http
        .get(format!(
            "{}/api/v1/reports/weekly?week=2024-W05&format=csv",
            app.base
        ))
        .bearer_auth(app.token(Role::Viewer))
        .header("x-request-id", "req-weekly-1")
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    let lines = app.audit().await;
    let new = &lines[before..];
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].action, "report.read");
    assert_eq!(new[0].actor, "token:leaders");
    assert_eq!(new[0].reference, None);
    assert_eq!(new[0].request_id.as_deref(), Some("req-weekly-1"));
    assert_eq!(new[0].detail.as_deref(), Some("week 2024-W05, format csv"));
    assert_eq!(new[0].at, after_week_05());
}

async fn the_default_week_is_the_last_complete_one(app: TestApp) {
    let report: Value = app.weekly("").await.json().await.unwrap();
    assert_eq!(report["week"], "2024-W05");
    let expected: Value =
        serde_json::from_str(&render::json(&app.model(week("2024-W05")).await)).unwrap();
    assert_eq!(report, expected);

    // A week's end is exclusive: one second before it the week is still
    // running and not the default; at its end it has ended and is.
    let w06_ends = utc("2024-02-12T00:00:00Z");
    app.clock.set(w06_ends - Duration::seconds(1));
    assert_refused(
        app.weekly("?week=2024-W06").await,
        "week",
        "has not ended yet",
    )
    .await;
    let report: Value = app.weekly("").await.json().await.unwrap();
    assert_eq!(report["week"], "2024-W05");
    app.clock.set(w06_ends);
    let report: Value = app.weekly("").await.json().await.unwrap();
    assert_eq!(report["week"], "2024-W06");
    assert_eq!(app.weekly("?week=2024-W06").await.status(), StatusCode::OK);
}

async fn the_report_is_documented_and_routed(app: TestApp) {
    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operation = &doc["paths"]["/api/v1/reports/weekly"]["get"];
    assert!(operation.is_object(), "the report is documented");
    let params: Vec<&str> = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["week", "format"]);
    let content = &operation["responses"]["200"]["content"];
    assert!(content["application/json"].is_object(), "{content}");
    assert!(content["text/csv"].is_object(), "{content}");
    // Every $ref points at a schema that exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
}

async fn monthly_and_quarterly_reports_are_the_model_for_their_period(app: TestApp) {
    let january: ReportPeriod = "2024-01".parse().unwrap();
    let response = app.report("monthly", "?month=2024-01").await;
    assert_eq!(response.status(), StatusCode::OK);
    let got: Value = response.json().await.unwrap();
    let expected: Value =
        serde_json::from_str(&render::json(&app.model_of(january).await)).unwrap();
    assert_eq!(got, expected);
    // The seed's figures: three received on 29 January, one enforced.
    assert_eq!(got["period"], "2024-01");
    assert_eq!(got["period_kind"], "month");
    assert_eq!(got["trend_periods"], 12);
    assert_eq!(got["flow"]["week"]["received"], 3);
    assert_eq!(got["flow"]["week"]["enforced"], 1);
    assert_eq!(got["trend"].as_array().unwrap().len(), 12);
    assert_eq!(
        got["comparison"]["previous"]["note"],
        "no comparison: the ledger starts on 2024-01-29"
    );

    let csv = app.report("monthly", "?month=2024-01&format=csv").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(
        csv.headers()["content-disposition"],
        "attachment; filename=\"ocset-monthly-2024-01.csv\""
    );
    let body = csv.text().await.unwrap();
    assert_eq!(body, render::csv(&app.model_of(january).await));
    assert!(body.starts_with("marking,month,"), "{body}");

    // After the first quarter has ended (10:00 BST on 1 April).
    app.clock.set(utc("2024-04-01T09:00:00Z"));
    let q1: ReportPeriod = "2024-Q1".parse().unwrap();
    let got: Value = app
        .report("quarterly", "?quarter=2024-Q1")
        .await
        .json()
        .await
        .unwrap();
    let expected: Value = serde_json::from_str(&render::json(&app.model_of(q1).await)).unwrap();
    assert_eq!(got, expected);
    assert_eq!(got["period"], "2024-Q1");
    assert_eq!(got["trend_periods"], 8);
    assert_eq!(got["flow"]["week"]["received"], 3);
    assert_eq!(got["ends_at"], "2024-03-31T23:00:00Z");
    let csv = app.report("quarterly", "?quarter=2024-Q1&format=csv").await;
    assert_eq!(
        csv.headers()["content-disposition"],
        "attachment; filename=\"ocset-quarterly-2024-Q1.csv\""
    );
}

async fn bad_months_and_quarters_are_refused_naming_the_parameter(app: TestApp) {
    let before = app.audit().await.len();
    let cases = [
        (
            "monthly",
            "?month=2024-13",
            "month",
            "is not a calendar month",
        ),
        ("monthly", "?month=2024-Q1", "month", "expected YYYY-MM"),
        ("monthly", "?month=", "month", "is not a calendar month"),
        // February is running at the clock's 5 February.
        ("monthly", "?month=2024-02", "month", "has not ended yet"),
        ("monthly", "?week=2024-W05", "week", "unknown field"),
        ("monthly", "?month=2024-01&format=pdf", "format", "pdf"),
        (
            "quarterly",
            "?quarter=2024-Q5",
            "quarter",
            "is not a quarter",
        ),
        (
            "quarterly",
            "?quarter=2024-03",
            "quarter",
            "expected YYYY-Qn",
        ),
        (
            "quarterly",
            "?quarter=2024-Q1",
            "quarter",
            "has not ended yet",
        ),
        ("quarterly", "?month=2024-01", "month", "unknown field"),
    ];
    for (which, query, field, why) in cases {
        assert_refused(app.report(which, query).await, field, why).await;
    }
    assert_eq!(
        app.audit().await.len(),
        before,
        "a refused request writes nothing"
    );
    assert_eq!(
        app.report("monthly", "?month=2024-01").await.status(),
        StatusCode::OK
    );
    let lines = app.audit().await;
    let new = &lines[before..];
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].action, "report.read");
    assert_eq!(new[0].actor, "token:leaders");
    assert_eq!(new[0].detail.as_deref(), Some("month 2024-01, format json"));
}

async fn the_default_month_and_quarter_are_the_last_complete_ones(app: TestApp) {
    // 5 February 2024: January and 2023-Q4 are the last complete ones.
    let month: Value = app.report("monthly", "").await.json().await.unwrap();
    assert_eq!(month["period"], "2024-01");
    let quarter: Value = app.report("quarterly", "").await.json().await.unwrap();
    assert_eq!(quarter["period"], "2023-Q4");
    // 2023-Q4 is before the ledger: nothing in it, nothing to compare.
    assert_eq!(quarter["flow"]["week"]["received"], 0);
    // A month's end is exclusive: at midnight on 1 March February has ended.
    app.clock.set(utc("2024-02-29T23:59:59Z"));
    let month: Value = app.report("monthly", "").await.json().await.unwrap();
    assert_eq!(month["period"], "2024-01");
    app.clock.set(utc("2024-03-01T00:00:00Z"));
    let month: Value = app.report("monthly", "").await.json().await.unwrap();
    assert_eq!(month["period"], "2024-02");
    assert_eq!(
        month["comparison"]["previous"]["note"],
        "no comparison: the ledger starts on 2024-01-29"
    );
}

async fn monthly_and_quarterly_reports_are_documented(app: TestApp) {
    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, param, pattern_ok, pattern_bad) in [
        ("/api/v1/reports/monthly", "month", "2024-02", "2024-13"),
        ("/api/v1/reports/quarterly", "quarter", "2024-Q1", "2024-Q5"),
    ] {
        let operation = &doc["paths"][path]["get"];
        assert!(operation.is_object(), "{path} is documented");
        let params = operation["parameters"].as_array().unwrap();
        let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, [param, "format"]);
        let pattern = params[0]["schema"]["pattern"].as_str().unwrap();
        let re = regex::Regex::new(pattern).unwrap();
        assert!(
            re.is_match(pattern_ok) && !re.is_match(pattern_bad),
            "{pattern}"
        );
        for status in ["200", "401", "422", "500", "503"] {
            assert!(
                operation["responses"][status].is_object(),
                "{path} documents {status}"
            );
        }
    }
}
