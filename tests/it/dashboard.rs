//! The dashboard, end to end: the real server on port 0, driven over HTTP
//! as a browser would (cookies kept by hand, redirects not followed), its
//! pages parsed with `scraper`, on SQLite and on PostgreSQL, with a clock
//! the test controls.

use crate::common::app::TestApp;
use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::clock::Clock;
use ocset_scheduler::domain::Role;
use ocset_scheduler::store::Actor;
use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use scraper::{Html, Selector};
use serde_json::{json, Value};

/// A Monday in February (GMT: local time and UTC agree).
fn start() -> DateTime<Utc> {
    utc("2024-02-05T12:00:00Z")
}

/// The server with a token for every role, named `<role>-test`, and the
/// packages of [`seed`].
async fn spawn_app(database_url: String) -> TestApp {
    let app = common::app::spawn_app(&database_url, start(), &tokens()).await;
    seed(&app).await;
    app
}

fn tokens() -> Vec<(Role, String)> {
    Role::ALL
        .into_iter()
        .map(|role| (role, format!("{role}-test")))
        .collect()
}

/// Six open packages at [`start`]: three breached (one with `/` in its
/// reference), one due within 48 hours, one within 7 days, one later.
async fn seed(app: &TestApp) {
    let packages = [
        (
            "BR-1",
            "very_high",
            "2024-02-02T10:00:00Z",
            "Birmingham",
            "awaiting_enforcement",
        ),
        (
            "BR-2",
            "high",
            "2024-01-20T09:00:00Z",
            "Coventry",
            "intelligence_development",
        ),
        (
            "BR/3.x",
            "medium",
            "2024-01-10T10:00:00Z",
            "Birmingham",
            "awaiting_enforcement",
        ),
        (
            "DUE-48",
            "very_high",
            "2024-02-04T13:00:00Z",
            "Birmingham",
            "awaiting_enforcement",
        ),
        (
            "DUE-7",
            "high",
            "2024-02-01T10:00:00Z",
            "Coventry",
            "awaiting_enforcement",
        ),
        (
            "LATER",
            "standard",
            "2024-02-05T09:00:00Z",
            "Dudley",
            "intelligence_development",
        ),
    ];
    for (reference, grade, received, lpa, stage) in packages {
        let response = app
            .post(
                "/api/v1/packages",
                Role::Intake,
                json!({"reference": reference, "risk_grade": grade, "received_at": received,
                       "lpa": lpa, "stage": stage}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{reference}");
    }
}

/// One person's browser: the session cookie kept by hand, no redirect
/// followed.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    session: Option<String>,
}

/// The value of cookie `name` in a response's `Set-Cookie` headers, with
/// the whole header.
fn set_cookie(response: &Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|header| {
            let value = header[name.len() + 1..]
                .split(';')
                .next()
                .unwrap()
                .to_string();
            (value, header)
        })
}

/// The value of the first `input[name=csrf]` in `html`.
fn csrf_in(html: &str) -> String {
    let document = Html::parse_document(html);
    let selector = Selector::parse("input[name=csrf]").unwrap();
    document
        .select(&selector)
        .next()
        .expect("a CSRF field")
        .value()
        .attr("value")
        .unwrap()
        .to_string()
}

fn form_body(fields: &[(&str, &str)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        body.append_pair(key, value);
    }
    body.finish()
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            session: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
    }

    async fn get(&self, path: &str) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(session) = &self.session {
            request = request.header(COOKIE, format!("ocset_session={session}"));
        }
        request.send().await.unwrap()
    }

    /// `path`'s page as text, asserting 200.
    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields));
        if let Some(session) = &self.session {
            request = request.header(COOKIE, format!("ocset_session={session}"));
        }
        request.send().await.unwrap()
    }

    /// Opens the sign-in form and posts `token` with the form's CSRF pair;
    /// keeps the session cookie when one is set.
    async fn sign_in_with(&mut self, token: &str) -> Response {
        let form = self.client.get(self.url("/sign-in")).send().await.unwrap();
        assert_eq!(form.status(), StatusCode::OK);
        let (cookie, header) = set_cookie(&form, "ocset_sign_in").expect("the form's CSRF cookie");
        assert!(
            header.contains("HttpOnly") && header.contains("SameSite=Strict"),
            "{header}"
        );
        let field = csrf_in(&form.text().await.unwrap());
        assert_eq!(field, cookie, "the field and the cookie carry one value");
        let response = self
            .client
            .post(self.url("/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(COOKIE, format!("ocset_sign_in={cookie}"))
            .body(form_body(&[("csrf", &field), ("token", token)]))
            .send()
            .await
            .unwrap();
        if let Some((session, _)) = set_cookie(&response, "ocset_session") {
            self.session = Some(session);
        }
        response
    }

    /// Signs in with `role`'s token, asserting success.
    async fn signed_in(app: &'a TestApp, role: Role) -> Browser<'a> {
        let mut browser = Browser::new(app);
        let response = browser.sign_in_with(app.token(role)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/");
        browser
    }
}

fn assert_to_sign_in(response: &Response, what: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what}");
    assert_eq!(response.headers()[LOCATION], "/sign-in", "{what}");
}

fn select<'d>(document: &'d Html, css: &str) -> Vec<scraper::ElementRef<'d>> {
    let selector = Selector::parse(css).unwrap();
    document.select(&selector).collect()
}

fn text_of(element: &scraper::ElementRef<'_>) -> String {
    element.text().collect::<String>().trim().to_string()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    app.store
        .audit_log(None)
        .await
        .unwrap()
        .into_iter()
        .map(|line| (line.actor, line.action, line.reference))
        .collect()
}

async fn sign_in_sets_a_session_cookie_and_a_bad_token_is_refused(app: TestApp) {
    let mut browser = Browser::new(&app);
    let response = browser.sign_in_with(app.token(Role::Viewer)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (id, header) = set_cookie(&response, "ocset_session").expect("a session cookie");
    assert_eq!(id.len(), 64, "{header}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            header.split("; ").any(|a| a == attribute),
            "{attribute} in {header}"
        );
    }
    assert!(
        !header.contains("Secure"),
        "no public https address: {header}"
    );
    assert!(!header.contains(app.token(Role::Viewer)), "{header}");
    assert!(
        audit_actions(&app).await.contains(&(
            "token:viewer-test".into(),
            "dashboard.signed_in".into(),
            None
        )),
        "the sign-in is audited"
    );
    let page = browser.page("/").await;
    assert!(page.contains("Signed in as viewer-test (viewer)"), "{page}");

    let mut stranger = Browser::new(&app);
    for bad in ["ocset_not-a-token", ""] {
        let refused = stranger.sign_in_with(bad).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{bad:?}");
        assert!(set_cookie(&refused, "ocset_session").is_none(), "{bad:?}");
        let text = refused.text().await.unwrap();
        assert!(text.contains("That token is not valid"), "{text}");
    }
    assert!(stranger.session.is_none());

    // A sign-in post without the form's CSRF cookie is refused.
    let forged = Browser::new(&app)
        .client
        .post(format!("{}/sign-in", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("csrf", "abc"),
            ("token", app.token(Role::Admin)),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "ocset_session").is_none());
}

async fn pages_redirect_to_sign_in_without_a_session(app: TestApp) {
    let mut browser = Browser::new(&app);
    for path in [
        "/",
        "/?lpa=Dudley",
        "/breaches",
        "/packages/BR-1",
        "/packages/NOPE",
        "/due-soon",
        "/officers",
        "/reports/weekly",
        "/reports/weekly.csv",
        "/capacity",
        "/audit",
    ] {
        assert_to_sign_in(&browser.get(path).await, path);
    }
    browser.session = Some("f".repeat(64));
    assert_to_sign_in(&browser.get("/").await, "an unknown session id");
    let post = browser
        .post(
            "/packages/BR-1/acknowledge",
            &[("csrf", "x"), ("note", "n")],
        )
        .await;
    assert_to_sign_in(&post, "a post without a session");
    // The API and its JSON 404 are unchanged.
    let api = browser.get("/api/v1/status").await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let missing = browser.get("/api/v1/nothing").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

/// The figures of the overview's table row `key`: open, breached, due
/// within 7 days.
fn row_figures(document: &Html, key: &str) -> [u64; 3] {
    let row = select(document, &format!("tr[data-key=\"{key}\"]"));
    assert_eq!(row.len(), 1, "one row {key}");
    let cells: Vec<u64> = select(document, &format!("tr[data-key=\"{key}\"] td.number"))
        .iter()
        .map(|td| text_of(td).parse().unwrap())
        .collect();
    [cells[0], cells[1], cells[2]]
}

fn headline(document: &Html, id: &str) -> u64 {
    text_of(&select(document, &format!("#{id}"))[0])
        .parse()
        .unwrap()
}

async fn assert_overview_matches_status(app: &TestApp, browser: &Browser<'_>, query: &str) {
    let status: Value = app
        .get(&format!("/api/v1/status{query}"), Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    let document = Html::parse_document(&browser.page(&format!("/{query}")).await);
    let mut open = 0;
    let mut due_7 = 0;
    for (stage, grades) in status["by_stage_and_grade"].as_object().unwrap() {
        for (grade, figures) in grades.as_object().unwrap() {
            let expected = [
                figures["open"].as_u64().unwrap(),
                figures["breached"].as_u64().unwrap(),
                figures["due_within_7_days"].as_u64().unwrap(),
            ];
            assert_eq!(
                row_figures(&document, &format!("{stage}/{grade}")),
                expected,
                "{stage}/{grade} {query}"
            );
            open += expected[0];
            due_7 += expected[2];
        }
    }
    for (grade, figures) in status["by_grade"].as_object().unwrap() {
        let expected = [
            figures["open"].as_u64().unwrap(),
            figures["breached"].as_u64().unwrap(),
            figures["due_within_7_days"].as_u64().unwrap(),
        ];
        assert_eq!(
            row_figures(&document, &format!("all/{grade}")),
            expected,
            "all/{grade} {query}"
        );
    }
    assert_eq!(headline(&document, "headline-open"), open, "{query}");
    assert_eq!(
        headline(&document, "headline-breached"),
        status["breached"].as_u64().unwrap(),
        "{query}"
    );
    assert_eq!(headline(&document, "headline-due-7d"), due_7, "{query}");
    let scheduler = &status["scheduler"];
    assert_eq!(
        headline(&document, "scheduler-undelivered"),
        scheduler["due_not_delivered"].as_u64().unwrap()
    );
    assert_eq!(
        headline(&document, "scheduler-dead"),
        scheduler["dead"].as_u64().unwrap()
    );
}

async fn overview_figures_equal_the_status_figures(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Viewer).await;
    assert_overview_matches_status(&app, &browser, "").await;
    assert_overview_matches_status(&app, &browser, "?lpa=Birmingham").await;
    assert_overview_matches_status(&app, &browser, "?lpa=coventry").await;
    let all = browser.page("/").await;
    let birmingham = browser.page("/?lpa=Birmingham").await;
    {
        let all = Html::parse_document(&all);
        assert_eq!(
            [
                headline(&all, "headline-open"),
                headline(&all, "headline-breached"),
                headline(&all, "headline-due-48h"),
                headline(&all, "headline-due-7d"),
            ],
            [6, 3, 1, 2],
            "the seeded packages"
        );
        assert_eq!(text_of(&select(&all, "#scheduler-last-pass")[0]), "never");
        let birmingham = Html::parse_document(&birmingham);
        assert_eq!(headline(&birmingham, "headline-due-48h"), 1);
        let selected = select(&birmingham, "select#lpa option[selected]");
        assert_eq!(text_of(&selected[0]), "Birmingham");
    }
    // Per LPA, the figures the status gives for that LPA.
    for lpa in ["Birmingham", "Coventry", "Dudley", "Walsall"] {
        let status: Value = app
            .get(&format!("/api/v1/status?lpa={lpa}"), Role::Viewer)
            .await
            .json()
            .await
            .unwrap();
        let all = Html::parse_document(&all);
        let row = select(&all, &format!("#by-lpa tr[data-lpa=\"{lpa}\"] td"));
        let figures: Vec<String> = row.iter().map(text_of).collect();
        let open: u64 = status["open_by_stage"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(figures[0], open.to_string(), "{lpa}");
        assert_eq!(figures[3], status["breached"].to_string(), "{lpa}");
    }
    // The 12 weeks: the weekly report's figures, as charts with their table.
    let report: Value = app
        .get("/api/v1/reports/weekly", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    {
        let all = Html::parse_document(&all);
        assert_eq!(select(&all, "#trend-table tbody tr").len(), 12);
        assert_eq!(select(&all, "svg[role=img]").len(), 2);
        let within = text_of(&select(&all, "#headline-within")[0]);
        let expected = report["headline"]["percent_within_twelve_weeks"]
            .as_f64()
            .map_or("–".to_string(), |p| format!("{p:.1}%"));
        assert_eq!(within, expected);
    }
    // An LPA the force does not have is refused, on a page.
    let refused = browser.get("/?lpa=Atlantis").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("not one of the force"));
}

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn every_response_carries_the_security_headers(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Supervisor).await;
    for path in [
        "/",
        "/breaches",
        "/packages/BR-1",
        "/packages/NOPE-1",
        "/sign-in",
        "/static/app.css",
    ] {
        let response = browser.get(path).await;
        assert!(
            response.status() == StatusCode::OK || response.status() == StatusCode::NOT_FOUND,
            "{path}"
        );
        let headers = response.headers();
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        if path.ends_with(".css") {
            assert!(headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/css"));
        } else {
            assert_eq!(headers[CACHE_CONTROL], "no-store", "{path}");
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{path}"
            );
        }
    }
    let stranger = Browser::new(&app).get("/").await;
    assert_eq!(
        stranger.headers()["content-security-policy"],
        CSP,
        "the redirect too"
    );
}

async fn a_form_without_the_right_csrf_token_is_403_and_writes_nothing(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Supervisor).await;
    let page = browser.page("/breaches").await;
    let csrf = csrf_in(&page);
    let before = app.store.audit_log(None).await.unwrap().len();
    let wrong = "0".repeat(64);
    for fields in [
        vec![("note", "Warrant Thursday")],
        vec![("csrf", wrong.as_str()), ("note", "Warrant Thursday")],
        vec![("csrf", ""), ("note", "Warrant Thursday")],
    ] {
        let response = browser.post("/packages/BR-1/acknowledge", &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{fields:?}");
        let text = response.text().await.unwrap();
        assert!(text.contains("security token"), "{text}");
    }
    let signed_out = browser.post("/sign-out", &[]).await;
    assert_eq!(
        signed_out.status(),
        StatusCode::FORBIDDEN,
        "sign-out needs the token too"
    );
    assert_eq!(
        app.store.audit_log(None).await.unwrap().len(),
        before,
        "nothing written"
    );
    let detail: Value = app
        .get("/api/v1/packages/BR-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert!(detail["acknowledgement"].is_null(), "{detail}");
    // Another session's token is no good either.
    let other = Browser::signed_in(&app, Role::Admin).await;
    let others_csrf = csrf_in(&other.page("/").await);
    assert_ne!(others_csrf, csrf);
    let response = browser
        .post(
            "/packages/BR-1/acknowledge",
            &[("csrf", &others_csrf), ("note", "n")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    browser.page("/").await;
}

async fn a_supervisor_acknowledges_a_breach_from_the_breaches_page(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Supervisor).await;
    let (link, action, csrf) = {
        let document = Html::parse_document(&browser.page("/breaches").await);
        let rows: Vec<String> = select(&document, "#breaches tbody tr")
            .iter()
            .map(|tr| tr.value().attr("data-reference").unwrap().to_string())
            .collect();
        assert_eq!(rows, ["BR-2", "BR/3.x", "BR-1"], "most overdue first");
        let attr = |css: &str, name: &str| {
            select(&document, css)[0]
                .value()
                .attr(name)
                .unwrap()
                .to_string()
        };
        // The reason is chosen from the configured list, and required.
        let select_reason = &select(
            &document,
            "tr[data-reference=\"BR-1\"] form select[name=reason]",
        )[0];
        assert!(select_reason.value().attr("required").is_some());
        let options: Vec<(String, String)> = select(
            &document,
            "tr[data-reference=\"BR-1\"] form select[name=reason] option",
        )
        .iter()
        .map(|o| (o.value().attr("value").unwrap().to_string(), text_of(o)))
        .collect();
        assert_eq!(
            options,
            [
                ("", "Choose a reason"),
                (
                    "awaiting_communications_data",
                    "Awaiting communications data"
                ),
                ("suspect_not_located", "Suspect not located"),
                ("resourcing", "Resourcing"),
                ("awaiting_partner_agency", "Awaiting partner agency"),
                ("other", "Other (see note)"),
            ]
            .map(|(v, l)| (v.to_string(), l.to_string()))
        );
        (
            attr("tr[data-reference=\"BR/3.x\"] a", "href"),
            attr("tr[data-reference=\"BR-1\"] form", "action"),
            attr("tr[data-reference=\"BR-1\"] form input[name=csrf]", "value"),
        )
    };
    // Without a reason, or with one not on the list: refused, naming the
    // allowed reasons, and nothing is written.
    let before = app.store.audit_log(None).await.unwrap().len();
    for reason in [None, Some("weather")] {
        let mut fields = vec![("csrf", csrf.as_str()), ("note", "Warrant Thursday")];
        fields.extend(reason.map(|r| ("reason", r)));
        let refused = browser.post(&action, &fields).await;
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason:?}"
        );
        let text = refused.text().await.unwrap();
        assert!(
            text.contains("Why the deadline was missed") && text.contains("suspect_not_located"),
            "{text}"
        );
    }
    assert_eq!(
        app.store
            .audit_log(None)
            .await
            .unwrap()
            .iter()
            .skip(before)
            .filter(|l| l.action == "package.acknowledged")
            .count(),
        0,
        "nothing acknowledged"
    );
    assert_eq!(link, "/packages/BR%2F3.x");
    assert!(browser.page(&link).await.contains("Package BR/3.x"));
    let response = browser
        .post(
            &action,
            &[
                ("csrf", &csrf),
                ("back", "breaches"),
                ("reason", "suspect_not_located"),
                ("note", "Warrant with the magistrates; executing Thursday"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(location, "/breaches?acknowledged=BR-1");
    {
        let after = Html::parse_document(&browser.page(&location).await);
        assert!(text_of(&select(&after, ".notice")[0]).contains("BR-1 is acknowledged"));
        let cell = text_of(
            &select(
                &after,
                "tr[data-reference=\"BR-1\"] td[data-label=Acknowledgement]",
            )[0],
        );
        assert!(
            cell.contains("token:supervisor-test")
                && cell.contains("Suspect not located")
                && cell.contains("executing Thursday"),
            "{cell}"
        );
        assert!(select(&after, "tr[data-reference=\"BR-1\"] form").is_empty());
    }

    let detail: Value = app
        .get("/api/v1/packages/BR-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["acknowledgement"]["by"], "token:supervisor-test",
        "{detail}"
    );
    assert_eq!(
        detail["acknowledgement"]["note"],
        "Warrant with the magistrates; executing Thursday"
    );
    assert_eq!(detail["acknowledgement"]["reason"], "suspect_not_located");
    let lines = app.store.audit_log(None).await.unwrap();
    let line = lines
        .iter()
        .find(|l| l.action == "package.acknowledged")
        .expect("the acknowledgement is audited");
    assert_eq!(line.actor, "token:supervisor-test");
    assert_eq!(line.reference.as_deref(), Some("BR-1"));
    assert!(line.request_id.is_some(), "with the request's id");
    let listed = lines
        .iter()
        .filter(|l| l.action == "packages.listed" && l.actor == "token:supervisor-test")
        .count();
    assert!(listed >= 2, "each breaches page is audited as a list");

    // Twice is refused with the domain's reason, and nothing is written.
    let again = browser
        .post(
            &action,
            &[("csrf", &csrf), ("reason", "resourcing"), ("note", "again")],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("already acknowledged"));
    // An empty note is refused.
    let empty = browser
        .post(
            "/packages/BR-2/acknowledge",
            &[("csrf", &csrf), ("reason", "resourcing"), ("note", " ")],
        )
        .await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // From the package page, back to it.
    let from_package = browser
        .post(
            "/packages/BR-2/acknowledge",
            &[
                ("csrf", &csrf),
                ("back", "package"),
                ("reason", "other"),
                ("note", "Arrest planned"),
            ],
        )
        .await;
    assert_eq!(from_package.headers()[LOCATION], "/packages/BR-2");
    // The package page shows the reason with the acknowledgement and in
    // the history.
    let package_page = browser.page("/packages/BR-2").await;
    let (shown, history) = {
        let page = Html::parse_document(&package_page);
        (
            text_of(&select(&page, "#acknowledgement")[0]),
            text_of(&select(&page, "ol.timeline")[0]),
        )
    };
    assert!(
        shown.contains("Why the deadline was missed: Other (see note). Arrest planned"),
        "{shown}"
    );
    assert!(
        history.contains("acknowledged (Other (see note)): Arrest planned"),
        "{history}"
    );
    // A week on, that week's report counts both acknowledgements by reason.
    // (The session has expired by then: a new one.)
    app.clock.advance(Duration::days(7));
    let viewer = Browser::signed_in(&app, Role::Viewer).await;
    let weekly_page = viewer.page("/reports/weekly").await;
    let weekly = Html::parse_document(&weekly_page);
    let figures = |reason: &str| -> Vec<String> {
        select(
            &weekly,
            &format!("#weekly-breach-reasons tr[data-reason={reason}] td"),
        )
        .iter()
        .map(text_of)
        .collect()
    };
    assert_eq!(figures("suspect_not_located"), ["1", "0"]);
    assert_eq!(figures("other"), ["1", "0"]);
    assert_eq!(figures("resourcing"), ["0", "0"]);
    assert_eq!(figures("not_given"), ["0", "0"]);
}

async fn a_viewer_cannot_acknowledge(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Viewer).await;
    let page = browser.page("/breaches").await;
    let package = browser.page("/packages/BR-1").await;
    let coventry = browser.page("/breaches?lpa=Coventry").await;
    {
        let coventry = Html::parse_document(&coventry);
        let rows: Vec<&str> = select(&coventry, "#breaches tbody tr")
            .iter()
            .map(|tr| tr.value().attr("data-reference").unwrap())
            .collect();
        assert_eq!(rows, ["BR-2"], "one LPA's breaches");
        assert_eq!(text_of(&select(&coventry, "h1")[0]), "Breaches: Coventry");
    }
    {
        let document = Html::parse_document(&page);
        assert_eq!(select(&document, "#breaches tbody tr").len(), 3);
        assert!(
            select(&document, "textarea[name=note]").is_empty(),
            "no form for a viewer"
        );
        let package = Html::parse_document(&package);
        assert!(select(&package, "textarea[name=note]").is_empty());
    }
    let csrf = csrf_in(&page); // the sign-out form's
    let response = browser
        .post(
            "/packages/BR-1/acknowledge",
            &[("csrf", &csrf), ("note", "Not mine to say")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("supervisor role"));
    let detail: Value = app
        .get("/api/v1/packages/BR-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert!(detail["acknowledgement"].is_null(), "{detail}");
    assert!(!audit_actions(&app)
        .await
        .iter()
        .any(|(_, action, _)| action == "package.acknowledged"));
}

async fn sign_out_ends_the_session(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Supervisor).await;
    let csrf = csrf_in(&browser.page("/").await);
    let response = browser.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_to_sign_in(&response, "sign-out");
    let (value, header) = set_cookie(&response, "ocset_session").expect("the cookie is cleared");
    assert_eq!(value, "");
    assert!(header.contains("Max-Age=0"), "{header}");
    assert_to_sign_in(&browser.get("/").await, "the old cookie after sign-out");
    assert!(audit_actions(&app).await.contains(&(
        "token:supervisor-test".into(),
        "dashboard.signed_out".into(),
        None
    )));
}

async fn sessions_expire_when_idle_and_with_their_token(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Viewer).await;
    app.clock.advance(Duration::minutes(29));
    browser.page("/").await;
    app.clock.advance(Duration::minutes(29));
    browser.page("/breaches").await;
    app.clock.advance(Duration::minutes(31));
    assert_to_sign_in(&browser.get("/").await, "after 31 idle minutes");

    let admin = Browser::signed_in(&app, Role::Admin).await;
    let viewer = Browser::signed_in(&app, Role::Viewer).await;
    admin.page("/").await;
    app.store
        .revoke_token("admin-test", app.clock.now(), &Actor::named("test"))
        .await
        .unwrap();
    assert_to_sign_in(&admin.get("/").await, "the token was revoked");
    viewer.page("/").await; // another token's session is unaffected
}

async fn the_package_page_shows_the_record_and_is_audited(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Viewer).await;
    let page = browser.page("/packages/br-1").await;
    {
        let document = Html::parse_document(&page);
        assert_eq!(text_of(&select(&document, "h1")[0]), "Package BR-1");
        assert_eq!(text_of(&select(&document, "#status")[0]), "Breached");
        let deadline = text_of(&select(&document, "#deadline")[0]);
        assert_eq!(deadline, "Sun 4 Feb 2024 10:00 – 1 day 2 hours overdue");
        let history = select(&document, "ol.timeline li");
        assert_eq!(history.len(), 1);
        assert!(
            text_of(&history[0]).starts_with("Fri 2 Feb 2024 10:00 – Received: Very high"),
            "{}",
            text_of(&history[0])
        );
        assert!(page.contains("No escalation yet."));
    }
    let read = app
        .store
        .audit_log(None)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.action == "package.read")
        .expect("the read is audited");
    assert_eq!(read.actor, "token:viewer-test");
    assert_eq!(read.reference.as_deref(), Some("BR-1"));

    let open = browser.page("/packages/DUE-48").await;
    {
        let open = Html::parse_document(&open);
        assert_eq!(
            text_of(&select(&open, "#deadline")[0]),
            "Tue 6 Feb 2024 13:00 – 1 day 1 hour left"
        );
    }

    // A scheduler pass escalates the breach: the page shows each level
    // with to whom its message goes and how it went.
    let scheduler = ocset_scheduler::scheduler::Scheduler::new(
        app.store.clone(),
        app.settings.clone(),
        std::sync::Arc::new(app.clock.clone()),
    );
    scheduler.run_due().await.unwrap();
    let escalated = browser.page("/packages/BR-1").await;
    {
        let document = Html::parse_document(&escalated);
        let rows = select(&document, "#escalations tbody tr");
        assert!(!rows.is_empty(), "{escalated}");
        let deliveries: Vec<String> = select(&document, "#escalations ul.deliveries li")
            .iter()
            .map(text_of)
            .collect();
        assert!(
            deliveries
                .iter()
                .any(|d| d.starts_with("email to ") && d.ends_with(": pending")),
            "{deliveries:?}"
        );
    }
    let overview = browser.page("/").await;
    assert!(
        !overview.contains(">never<"),
        "the pass is shown: {overview}"
    );

    for missing in ["/packages/NOPE-1", "/packages/%20BR-1", "/packages/-bad"] {
        let response = browser.get(missing).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("No package has reference"),
            "{missing}"
        );
    }
}

/// Every page: it parses without an error, says it is English (UK), has
/// one `h1` and headings in order, tables with captions and scoped
/// headers, and the marking at the top and the bottom.
async fn every_page_parses_and_carries_the_marking_twice(app: TestApp) {
    let marking = app.settings.marking().to_string();
    assert_eq!(marking, "OFFICIAL-SENSITIVE");
    let supervisor = Browser::signed_in(&app, Role::Supervisor).await;
    let mut pages = Vec::new();
    for path in [
        "/",
        "/?lpa=Dudley",
        "/breaches",
        "/packages/BR-1",
        "/packages/BR%2F3.x",
        "/packages/NOPE-1",
        "/due-soon",
        "/due-soon?within=48h&sort=lpa",
        "/officers",
        "/reports/weekly?week=2024-W05",
        "/reports/weekly?week=2024-W07",
        "/capacity",
    ] {
        pages.push((
            path.to_string(),
            supervisor.get(path).await.text().await.unwrap(),
        ));
    }
    let admin = Browser::signed_in(&app, Role::Admin).await;
    for path in ["/audit", "/audit?reference=BR-1&actor=intake"] {
        pages.push((path.to_string(), admin.page(path).await));
    }
    let sign_in = Browser::new(&app)
        .client
        .get(format!("{}/sign-in", app.base))
        .send()
        .await
        .unwrap();
    pages.push(("/sign-in".into(), sign_in.text().await.unwrap()));
    let forbidden = supervisor
        .post("/packages/BR-1/acknowledge", &[("note", "x")])
        .await;
    pages.push(("a 403".into(), forbidden.text().await.unwrap()));
    for (path, html) in pages {
        let document = Html::parse_document(&html);
        assert!(document.errors.is_empty(), "{path}: {:?}", document.errors);
        assert_eq!(
            select(&document, "html")[0].value().attr("lang"),
            Some("en-GB"),
            "{path}"
        );
        let markings = select(&document, ".marking");
        assert_eq!(markings.len(), 2, "{path}");
        assert!(markings.iter().all(|m| text_of(m) == marking), "{path}");
        assert_eq!(html.matches(&marking).count(), 2, "{path}");
        assert_eq!(select(&document, "h1").len(), 1, "{path}");
        let mut level = 1;
        for heading in select(&document, "h1, h2, h3, h4") {
            let this: u32 = heading.value().name()[1..].parse().unwrap();
            assert!(this <= level + 1, "{path}: a heading skips a level");
            level = this;
        }
        for table in select(&document, "table") {
            assert_eq!(
                table.select(&Selector::parse("caption").unwrap()).count(),
                1,
                "{path}"
            );
        }
        for th in select(&document, "th") {
            assert!(
                th.value().attr("scope").is_some(),
                "{path}: a header without scope"
            );
        }
        assert!(
            select(&document, "style, script, [style]").is_empty(),
            "{path}: no inline style or script"
        );
    }
}

/// What `f` finds in `html` parsed (a parsed document is not `Send`, so
/// it must not live across an `.await`).
fn parsed<T>(html: &str, f: impl FnOnce(&Html) -> T) -> T {
    f(&Html::parse_document(html))
}

/// The references of `table`'s rows in the page `html`, in order.
fn references_in(html: &str, table: &str) -> Vec<String> {
    parsed(html, |d| {
        select(d, &format!("{table} tbody tr"))
            .iter()
            .map(|tr| tr.value().attr("data-reference").unwrap().to_string())
            .collect()
    })
}

/// The text of the first element `css` selects in `html`.
fn text_at(html: &str, css: &str) -> String {
    parsed(html, |d| text_of(&select(d, css)[0]))
}

/// Every package as the API lists it.
async fn api_packages(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .get("/api/v1/packages?limit=1000", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    page["packages"].as_array().unwrap().clone()
}

/// The open, not breached packages the API says fall due within `within`
/// of the test clock, by deadline.
async fn due_within(app: &TestApp, within: Duration) -> Vec<String> {
    let now = app.clock.now();
    let mut due: Vec<(DateTime<Utc>, String)> = api_packages(app)
        .await
        .iter()
        .filter(|p| p["status"] == "on_track" || p["status"] == "due_soon")
        .map(|p| {
            (
                p["deadline_at"].as_str().unwrap().parse().unwrap(),
                p["reference"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(deadline, _)| *deadline > now && *deadline <= now + within)
        .collect();
    due.sort();
    due.into_iter().map(|(_, reference)| reference).collect()
}

async fn due_soon_lists_exactly_the_packages_due_within_the_horizon(app: TestApp) {
    let browser = Browser::signed_in(&app, Role::Viewer).await;
    let week = browser.page("/due-soon").await;
    let expected_7d = due_within(&app, Duration::days(7)).await;
    assert_eq!(expected_7d, ["DUE-48", "DUE-7"], "the seed");
    assert_eq!(references_in(&week, "#due-soon"), expected_7d);
    let links: Vec<String> = parsed(&week, |d| {
        select(d, "#due-soon tbody th a")
            .iter()
            .map(|a| a.value().attr("href").unwrap().to_string())
            .collect()
    });
    assert_eq!(links, ["/packages/DUE-48", "/packages/DUE-7"]);
    let two_days = browser.page("/due-soon?within=48h").await;
    let expected_48h = due_within(&app, Duration::hours(48)).await;
    assert_eq!(expected_48h, ["DUE-48"]);
    assert_eq!(references_in(&two_days, "#due-soon"), expected_48h);
    let coventry = browser.page("/due-soon?lpa=Coventry").await;
    assert_eq!(references_in(&coventry, "#due-soon"), ["DUE-7"]);
    let dudley = browser.page("/due-soon?lpa=Dudley&sort=officer").await;
    assert!(references_in(&dudley, "#due-soon").is_empty());
    assert_eq!(parsed(&dudley, |d| select(d, "#no-due-soon").len()), 1);
    let bad = browser.get("/due-soon?within=3w").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Listed through the audited list path.
    let lines = app.store.audit_log(None).await.unwrap();
    assert!(
        lines.iter().any(|l| l.actor == "token:viewer-test"
            && l.action == "packages.listed"
            && l.detail.as_deref().is_some_and(|d| d.contains("count=2"))),
        "the list is audited"
    );
}

/// The officers table as (officer, [open, breached, due 48h, due 7d]).
fn officer_rows(document: &Html) -> Vec<(String, [u64; 4])> {
    select(document, "#officers tbody tr")
        .iter()
        .map(|tr| {
            let cells: Vec<u64> = tr
                .select(&Selector::parse("td").unwrap())
                .map(|td| text_of(&td).parse().unwrap())
                .collect();
            (
                tr.value().attr("data-officer").unwrap().to_string(),
                [cells[0], cells[1], cells[2], cells[3]],
            )
        })
        .collect()
}

async fn officers_counts_follow_the_data_and_a_supervisor_assigns(app: TestApp) {
    let assigned = app
        .post(
            "/api/v1/packages/DUE-7/assign",
            Role::Supervisor,
            json!({"officer": "dc.jones@police.example.uk"}),
        )
        .await;
    assert_eq!(assigned.status(), StatusCode::OK);
    let viewer = Browser::signed_in(&app, Role::Viewer).await;
    let page = viewer.page("/officers").await;
    assert_eq!(
        parsed(&page, officer_rows),
        [("dc.jones@police.example.uk".to_string(), [1, 0, 0, 1])]
    );
    let mut unassigned = references_in(&page, "#unassigned");
    unassigned.sort();
    assert_eq!(unassigned, ["BR-1", "BR-2", "BR/3.x", "DUE-48", "LATER"]);
    assert!(
        parsed(&page, |d| select(d, "input[name=officer]").is_empty()),
        "no form for a viewer"
    );
    // A viewer's post is refused, and writes nothing.
    let csrf = csrf_in(&page);
    let refused = viewer
        .post(
            "/officers/assign",
            &[
                ("csrf", &csrf),
                ("reference", "BR-1"),
                ("officer", "dc.jones@police.example.uk"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let supervisor = Browser::signed_in(&app, Role::Supervisor).await;
    let page = supervisor.page("/officers").await;
    let csrf = csrf_in(&page);
    assert_eq!(
        parsed(&page, |d| select(d, "form.assign input[name=officer]")
            .len()),
        1
    );
    // A bad email: the page again, naming the field; nothing written.
    let before = app.store.audit_log(None).await.unwrap().len();
    let bad = supervisor
        .post(
            "/officers/assign",
            &[
                ("csrf", &csrf),
                ("reference", "BR-1"),
                ("officer", "not an email"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = text_at(&bad.text().await.unwrap(), "#assign-problem");
    assert!(problem.starts_with("Officer email:"), "{problem}");
    let after = app.store.audit_log(None).await.unwrap();
    assert!(
        !after[before..]
            .iter()
            .any(|l| l.action == "package.assigned"),
        "nothing is written"
    );
    let detail: Value = app
        .get("/api/v1/packages/BR-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert!(detail["assigned_officer"].is_null(), "{detail}");
    // An unknown reference names the reference.
    let unknown = supervisor
        .post(
            "/officers/assign",
            &[
                ("csrf", &csrf),
                ("reference", "NOPE-1"),
                ("officer", "dc.jones@police.example.uk"),
            ],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("Reference: no package"));

    // A good one: 303 back, the API shows the officer, the audit the line.
    let done = supervisor
        .post(
            "/officers/assign",
            &[
                ("csrf", &csrf),
                ("reference", "BR-1"),
                ("officer", "dc.jones@police.example.uk"),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let location = done.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/officers?assigned=BR-1"),
        "{location}"
    );
    let detail: Value = app
        .get("/api/v1/packages/BR-1", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["assigned_officer"], "dc.jones@police.example.uk");
    assert!(audit_actions(&app).await.contains(&(
        "token:supervisor-test".into(),
        "package.assigned".into(),
        Some("BR-1".into())
    )));
    let after = supervisor.page(&location).await;
    assert_eq!(
        parsed(&after, officer_rows),
        [("dc.jones@police.example.uk".to_string(), [2, 1, 0, 1])]
    );
    assert!(text_at(&after, ".notice").contains("BR-1 is assigned"));
}

async fn the_weekly_page_shows_the_api_headline_and_downloads_the_csv(app: TestApp) {
    // A week later, so that W06 (with the seed in it) has ended.
    app.clock.advance(Duration::days(7));
    let browser = Browser::signed_in(&app, Role::Viewer).await;
    let default = browser.page("/reports/weekly").await;
    assert_eq!(text_at(&default, "h1"), "Weekly report, 2024-W06");
    let json: Value = app
        .get("/api/v1/reports/weekly?week=2024-W06", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    let headline = &json["headline"];
    let shown = |id: &str| text_at(&default, &format!("#{id}"));
    assert_eq!(shown("weekly-open"), headline["open"].to_string());
    assert_eq!(shown("weekly-breached"), headline["breached"].to_string());
    assert_eq!(
        shown("weekly-due-48h"),
        headline["due_within_48_hours"].to_string()
    );
    assert_eq!(
        shown("weekly-due-7d"),
        headline["due_within_7_days"].to_string()
    );
    assert_eq!(headline["open"], 6, "{headline}");
    // The digest's other sections: flow, time in each queue, safeguarding.
    let received = json["flow"]["week"]["received"].as_u64().unwrap();
    assert!(
        text_at(&default, "#flow-week caption")
            .starts_with(&format!("In the week: {received} received")),
        "{}",
        text_at(&default, "#flow-week caption")
    );
    assert_eq!(received, 1, "of the seed, LATER alone was received in W06");
    assert_eq!(
        shown("safeguarding-identified"),
        json["safeguarding"]["identified"].to_string()
    );
    assert!(default.contains("id=\"queue-time-twelve-weeks\""));
    let breaches: Vec<String> = json["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reference"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(references_in(&default, "#weekly-breaches"), breaches);
    let link = parsed(&default, |d| {
        select(d, "#csv-link")[0]
            .value()
            .attr("href")
            .unwrap()
            .to_string()
    });
    assert_eq!(link, "/reports/weekly.csv?week=2024-W06");
    let csv = browser.get(&link).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("ocset-weekly-2024-W06.csv"));
    let body = csv.text().await.unwrap();
    let api_csv = app
        .get(
            "/api/v1/reports/weekly?week=2024-W06&format=csv",
            Role::Viewer,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, api_csv, "the same CSV as the API's");
    let reads = app
        .store
        .audit_log(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.actor == "token:viewer-test" && l.action == "report.read")
        .map(|l| l.detail.unwrap_or_default())
        .collect::<Vec<_>>();
    assert_eq!(
        reads,
        [
            "week 2024-W06, format html", // the page
            "week 2024-W06, format json", // the API, to compare
            "week 2024-W06, format csv",  // the page's link
            "week 2024-W06, format csv",  // the API, to compare
        ]
    );
    // A week not ended and a bad week: a message naming it, not a 500.
    for week in ["2024-W07", "2024-W99", "last"] {
        let response = browser.get(&format!("/reports/weekly?week={week}")).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{week}"
        );
        let problem = text_at(&response.text().await.unwrap(), "#week-problem");
        assert!(problem.contains(week), "{week}: {problem}");
        let csv = browser
            .get(&format!("/reports/weekly.csv?week={week}"))
            .await;
        assert_eq!(csv.status(), StatusCode::UNPROCESSABLE_ENTITY, "{week} CSV");
    }
}

async fn the_capacity_page_shows_the_api_figures_and_is_audited(app: TestApp) {
    // A week later, so that W06 (with the seed in it) is a complete week.
    app.clock.advance(Duration::days(7));
    let browser = Browser::signed_in(&app, Role::Viewer).await;
    let page = browser.page("/capacity").await;
    assert_eq!(text_at(&page, "h1"), "Capacity and demand");
    assert_eq!(
        text_at(&page, "nav a[aria-current=page]"),
        "Capacity",
        "the navigation marks the page"
    );
    let json: Value = app
        .get("/api/v1/reports/capacity", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    let open: u64 = json["open_now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    assert!(open > 0, "the seed leaves packages open: {json}");
    assert_eq!(text_at(&page, "#capacity-open"), open.to_string());
    let mean = json["windows"][0]["received"][4]["weekly_mean"]
        .as_f64()
        .unwrap();
    assert_eq!(
        text_at(&page, "#capacity-received-mean"),
        format!("{mean:.1}")
    );
    let officers: Vec<String> = json["officers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["officer"].as_str().unwrap().to_string())
        .collect();
    let shown: Vec<String> = parsed(&page, |d| {
        select(d, "#capacity-officers tbody tr")
            .iter()
            .map(|tr| tr.value().attr("data-officer").unwrap().to_string())
            .collect()
    });
    assert_eq!(shown, officers);
    assert_eq!(
        text_at(&page, "#capacity-method"),
        json["method"].as_str().unwrap()
    );
    assert_eq!(
        parsed(&page, |d| select(d, "#capacity-weeks tbody tr").len()),
        12
    );
    let reads = app
        .store
        .audit_log(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.actor == "token:viewer-test" && l.action == "report.read")
        .map(|l| l.detail.unwrap_or_default())
        .collect::<Vec<_>>();
    assert_eq!(reads, ["capacity, format html", "capacity, format json"]);
}

async fn the_audit_page_is_for_admins_and_filters_by_reference(app: TestApp) {
    let viewer = Browser::signed_in(&app, Role::Viewer).await;
    assert_eq!(viewer.get("/audit").await.status(), StatusCode::FORBIDDEN);
    let supervisor = Browser::signed_in(&app, Role::Supervisor).await;
    assert_eq!(
        supervisor.get("/audit").await.status(),
        StatusCode::FORBIDDEN
    );
    let overview = viewer.page("/").await;
    assert!(parsed(&overview, |d| select(d, "nav a[href='/audit']").is_empty()));
    let admin = Browser::signed_in(&app, Role::Admin).await;
    viewer.page("/packages/BR-1").await;
    let all = admin.page("/audit").await;
    assert_eq!(parsed(&all, |d| select(d, "nav a[href='/audit']").len()), 1);
    let sequences: Vec<i64> = parsed(&all, |d| {
        select(d, "#audit tbody tr")
            .iter()
            .map(|tr| tr.value().attr("data-sequence").unwrap().parse().unwrap())
            .collect()
    });
    assert!(sequences.len() >= 8, "{}", sequences.len());
    assert!(
        sequences.windows(2).all(|w| w[0] > w[1]),
        "newest first: {sequences:?}"
    );
    let column = |html: &str, label: &str| -> Vec<String> {
        parsed(html, |d| {
            select(d, &format!("#audit tbody tr td[data-label={label}]"))
                .iter()
                .map(text_of)
                .collect()
        })
    };
    let one = admin.page("/audit?reference=BR-1").await;
    let packages = column(&one, "Package");
    assert!(!packages.is_empty());
    assert!(packages.iter().all(|p| p == "BR-1"), "{packages:?}");
    let actions = column(&one, "Action");
    assert!(
        actions.contains(&"package.created".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"package.read".to_string()), "{actions:?}");
    let by_viewer = admin.page("/audit?reference=BR-1&actor=viewer").await;
    assert_eq!(column(&by_viewer, "Actor"), ["token:viewer-test"]);
    assert!(audit_actions(&app)
        .await
        .iter()
        .any(|(actor, action, _)| actor == "token:admin-test" && action == "audit.read"));
    // The package searched for is the line's reference, never its detail
    // (which the chain hashes as it is: a retention purge could not
    // replace it).
    let about = app
        .store
        .audit_log(Some(
            &ocset_scheduler::domain::Reference::parse("BR-1").unwrap(),
        ))
        .await
        .unwrap();
    let read = about
        .iter()
        .rev()
        .find(|l| l.action == "audit.read")
        .expect("the search is audited against the package");
    assert!(
        !read.detail.as_deref().unwrap_or_default().contains("BR-1"),
        "{read:?}"
    );
}

on_both_backends!(spawn_app;
    sign_in_sets_a_session_cookie_and_a_bad_token_is_refused,
    pages_redirect_to_sign_in_without_a_session,
    overview_figures_equal_the_status_figures,
    every_response_carries_the_security_headers,
    a_form_without_the_right_csrf_token_is_403_and_writes_nothing,
    a_supervisor_acknowledges_a_breach_from_the_breaches_page,
    a_viewer_cannot_acknowledge,
    sign_out_ends_the_session,
    sessions_expire_when_idle_and_with_their_token,
    the_package_page_shows_the_record_and_is_audited,
    every_page_parses_and_carries_the_marking_twice,
    due_soon_lists_exactly_the_packages_due_within_the_horizon,
    officers_counts_follow_the_data_and_a_supervisor_assigns,
    the_weekly_page_shows_the_api_headline_and_downloads_the_csv,
    the_capacity_page_shows_the_api_figures_and_is_audited,
    the_audit_page_is_for_admins_and_filters_by_reference,
    a_supervisor_reviews_the_risk_from_the_package_page,
);

async fn a_supervisor_reviews_the_risk_from_the_package_page(app: TestApp) {
    // A viewer sees when the next review is due, and no form.
    let viewer = Browser::signed_in(&app, Role::Viewer).await;
    let page = viewer.page("/packages/BR-2").await;
    assert!(page.contains("id=\"next-review\""), "{page}");
    assert!(!page.contains("form class=\"review\""));
    let csrf = csrf_in(&page);
    let refused = viewer
        .post(
            "/packages/BR-2/review",
            &[("csrf", &csrf), ("note", "looked"), ("risk_grade", "high")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let supervisor = Browser::signed_in(&app, Role::Supervisor).await;
    let page = supervisor.page("/packages/BR-2").await;
    assert!(page.contains("form class=\"review\""), "{page}");
    let csrf = csrf_in(&page);
    let forged = supervisor
        .post(
            "/packages/BR-2/review",
            &[
                ("csrf", "forged"),
                ("note", "looked"),
                ("risk_grade", "high"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let no_note = supervisor
        .post(
            "/packages/BR-2/review",
            &[("csrf", &csrf), ("note", " "), ("risk_grade", "high")],
        )
        .await;
    assert_eq!(no_note.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = supervisor
        .post(
            "/packages/BR-2/review",
            &[
                ("csrf", &csrf),
                ("note", "New intelligence: raise it"),
                ("risk_grade", "very_high"),
                ("reviewed_at", ""),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/packages/BR-2");
    let history = {
        let page = supervisor.page("/packages/BR-2").await;
        let document = Html::parse_document(&page);
        text_of(&select(&document, "ol.timeline")[0])
    };
    assert!(
        history.contains("Regraded from High to Very high"),
        "{history}"
    );
    assert!(
        history
            .contains("Risk reviewed: regraded from High to Very high: New intelligence: raise it"),
        "{history}"
    );
    // The week's report counts it. BR-2 was entered at the start (after
    // its receipt), so its review clock started then: as a high package its
    // first review was due 3 days later, in this week, and the review, made
    // at once, was on time; it is counted under high, the grade it was due
    // under. Its next review, as very high, was due a day later and is
    // overdue at the week's end.
    app.clock.advance(Duration::days(7));
    let viewer = Browser::signed_in(&app, Role::Viewer).await;
    let weekly = Html::parse_document(&viewer.page("/reports/weekly").await);
    let high: Vec<String> = select(&weekly, "#weekly-reviews tr[data-grade=high] td")
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(high[1], "1", "done on time: {high:?}");
    let very_high: Vec<String> = select(&weekly, "#weekly-reviews tr[data-grade=very_high] td")
        .iter()
        .map(text_of)
        .collect();
    assert!(
        very_high[3] != "0",
        "BR-2 overdue at the end: {very_high:?}"
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_public_address_is_https() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let env = vec![(
        "OCSET__HTTP__PUBLIC_URL".to_string(),
        "https://ocset.example.police.uk".to_string(),
    )];
    let app = common::app::spawn_app_with(&url, start(), &tokens(), env).await;
    let mut browser = Browser::new(&app);
    let response = browser.sign_in_with(app.token(Role::Viewer)).await;
    let (_, header) = set_cookie(&response, "ocset_session").unwrap();
    assert!(header.split("; ").any(|a| a == "Secure"), "{header}");
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );
}
