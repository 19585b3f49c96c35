//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, a `chromedriver` started by
//! each test on a free port) with `fantoccini`, against the real server on
//! port 0 over SQLite with the demo ledger. A person signs in through the
//! form, reads the overview (its figures are the status API's), opens a
//! package from the breaches page, acknowledges a breach as a supervisor,
//! and signs out. axe-core (npm, pinned) runs in every page: no serious or
//! critical violation. Screenshots at 1280 and 420 px wide go to
//! `target/browser-artifacts/`; at 420 px no page scrolls sideways.
//!
//! `tests/browser/setup.sh` installs Chromium, chromedriver and axe-core
//! (`tests/run.sh` runs it first); without them these tests fail and say
//! so rather than skip.

use crate::common::app::{spawn_app, TestApp};
use crate::common::{sqlite_url, utc};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use ocset_scheduler::app::App;
use ocset_scheduler::domain::Role;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// The repository's `target/`, where setup puts axe-core and the tests put
/// their screenshots.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

fn axe_source() -> String {
    let path = target_dir().join("browser-npm/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is not installed ({}: {e}): run tests/browser/setup.sh first",
            path.display()
        )
    })
}

/// A `chromedriver` on a free loopback port, in its own process group:
/// dropping it kills the group, Chromium included.
pub(crate) struct ChromeDriver {
    child: Child,
    pub(crate) url: String,
}

impl ChromeDriver {
    /// Starts chromedriver and waits until its `/status` says it is ready.
    pub(crate) async fn start() -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} or {CHROMIUM} is missing: run tests/browser/setup.sh \
             (as root: it installs Debian's chromium and chromium-driver)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts")
        };
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(format!("{}/status", driver.url)).send().await {
                if let Ok(status) = response.json::<Value>().await {
                    if status["value"]["ready"] == true {
                        return driver;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready within 30 s"
            );
            // Polling, not waiting for a guessed time.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session against one server.
struct Browser {
    client: Client,
    base: String,
    // Dropped after the client: the session ends, then the driver.
    _driver: ChromeDriver,
}

impl Browser {
    async fn open(app: &TestApp) -> Self {
        let driver = ChromeDriver::start().await;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--window-size=1280,1000",
                ],
            },
        });
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&driver.url)
            .await
            .expect("a WebDriver session with headless Chromium");
        Browser {
            client,
            base: app.base.clone(),
            _driver: driver,
        }
    }

    async fn close(self) {
        let Browser {
            client, _driver, ..
        } = self;
        client.close().await.unwrap();
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The path of the current page.
    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    async fn wait(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn h1(&self) -> String {
        self.wait("h1").await.text().await.unwrap()
    }

    /// Signs in through the form with `token`, landing on the overview.
    async fn sign_in(&self, token: &str) {
        self.goto("/sign-in").await;
        self.wait("#token").await.send_keys(token).await.unwrap();
        self.wait("form[action=\"/sign-in\"] button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        self.wait("#headline-open").await;
        assert_eq!(self.path().await, "/");
    }

    /// A figure of the page: the number in element `id`.
    async fn figure(&self, id: &str) -> u64 {
        let text = self.wait(&format!("#{id}")).await.text().await.unwrap();
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("#{id} is a number: {text:?}"))
    }

    /// Runs axe-core in the current page; fails listing every serious or
    /// critical violation.
    async fn assert_accessible(&self, axe: &str) {
        let page = self.path().await;
        // WebDriver's scripts are the driver's, not the page's: the
        // dashboard's Content-Security-Policy (no script at all) does not
        // apply to them.
        self.client.execute(axe, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done({ passes: r.passes.length, violations: r.violations.map(v => ({
                        id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => ({ target: n.target, html: n.html,
                                                   summary: n.failureSummary })) })) }))
                    .catch(e => done({ error: String(e) }));",
                vec![],
            )
            .await
            .unwrap();
        assert!(result["error"].is_null(), "axe-core on {page}: {result}");
        assert!(
            result["passes"].as_u64().unwrap() > 0,
            "axe-core ran no rule on {page}: {result}"
        );
        let violations = result["violations"].as_array().unwrap();
        let serious: Vec<&Value> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "axe-core on {page}: serious or critical violations:\n{}",
            serde_json::to_string_pretty(&violations).unwrap()
        );
    }

    /// Sets the window `width` px wide, opens `path`, and saves a
    /// screenshot as `target/browser-artifacts/<name>-<width>.png`.
    async fn screenshot(&self, path: &str, name: &str, width: u32) -> PathBuf {
        self.client.set_window_size(width, 1000).await.unwrap();
        self.goto(path).await;
        self.wait("h1").await;
        let png = self.client.screenshot().await.unwrap();
        let dir = target_dir().join("browser-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}-{width}.png"));
        std::fs::write(&file, png).unwrap();
        file
    }

    /// The page's width and the window's inner width, in CSS pixels.
    async fn widths(&self) -> (u64, u64) {
        let widths = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap())
    }
}

fn tokens() -> Vec<(Role, String)> {
    Role::ALL
        .into_iter()
        .map(|role| (role, format!("{role}-test")))
        .collect()
}

/// The server over a new SQLite database holding the demo ledger.
async fn demo_app(dir: &Path) -> TestApp {
    let app = spawn_app(&sqlite_url(dir), utc("2024-02-05T12:00:00Z"), &tokens()).await;
    let demo = App::new(
        app.store.clone(),
        app.settings.clone(),
        Arc::new(app.clock.clone()),
    );
    ocset_scheduler::demo::load(&demo).await.unwrap();
    app
}

async fn status(app: &TestApp) -> Value {
    let response = app.get("/api/v1/status", Role::Viewer).await;
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_viewer_reads_the_dashboard_and_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    let axe = axe_source();
    let browser = Browser::open(&app).await;

    // Not signed in: the sign-in page, itself accessible.
    browser.goto("/").await;
    browser.wait("#token").await;
    assert_eq!(browser.path().await, "/sign-in");
    browser.assert_accessible(&axe).await;

    browser.sign_in(app.token(Role::Viewer)).await;
    let status = status(&app).await;
    let mut open = 0;
    let mut due_7 = 0;
    for figures in status["by_grade"].as_object().unwrap().values() {
        open += figures["open"].as_u64().unwrap();
        due_7 += figures["due_within_7_days"].as_u64().unwrap();
    }
    assert!(
        open > 0 && status["breached"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert_eq!(browser.figure("headline-open").await, open, "{status}");
    assert_eq!(
        browser.figure("headline-breached").await,
        status["breached"].as_u64().unwrap(),
        "{status}"
    );
    assert_eq!(browser.figure("headline-due-7d").await, due_7, "{status}");
    browser.assert_accessible(&axe).await;

    // The breaches page, then the first breached package from it.
    browser
        .wait("nav a[href=\"/breaches\"]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait("table#breaches").await;
    assert_eq!(browser.h1().await, "Breaches");
    assert_eq!(
        browser.count("form.acknowledge").await,
        0,
        "a viewer has no acknowledgement form"
    );
    browser.assert_accessible(&axe).await;
    let link = browser.wait("table#breaches tbody tr th a").await;
    let reference = link.text().await.unwrap();
    link.click().await.unwrap();
    browser.wait("dl").await;
    assert_eq!(browser.h1().await, format!("Package {reference}"));
    assert_eq!(browser.path().await, format!("/packages/{reference}"));
    assert_eq!(browser.count("form.acknowledge").await, 0);
    browser.assert_accessible(&axe).await;
    let package_path = format!("/packages/{reference}");

    // The other pages a viewer reads are as accessible.
    for path in ["/due-soon", "/officers", "/reports/weekly", "/capacity"] {
        browser.goto(path).await;
        browser.wait("h1").await;
        assert_eq!(browser.path().await, path, "a viewer may read {path}");
        browser.assert_accessible(&axe).await;
    }

    // Wide and narrow screenshots; nothing scrolls sideways when narrow.
    for width in [1280, 420] {
        for (name, path) in [
            ("overview", "/"),
            ("breaches", "/breaches"),
            ("package", package_path.as_str()),
            ("due-soon", "/due-soon"),
            ("officers", "/officers"),
            ("weekly", "/reports/weekly"),
            ("capacity", "/capacity"),
        ] {
            let file = browser.screenshot(path, name, width).await;
            if width == 420 {
                let (scroll, inner) = browser.widths().await;
                assert!(
                    scroll <= inner,
                    "{path} at {width} px scrolls sideways: scrollWidth {scroll} > \
                     innerWidth {inner} (see {})",
                    file.display()
                );
            }
        }
    }

    // Signing out ends the session: the overview asks to sign in again.
    browser.client.set_window_size(1280, 1000).await.unwrap();
    browser.goto("/").await;
    browser
        .wait("form.sign-out button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait("#token").await;
    browser.goto("/").await;
    browser.wait("#token").await;
    assert_eq!(browser.path().await, "/sign-in");
    assert_eq!(browser.count("#headline-open").await, 0);
    browser.close().await;
}

#[tokio::test]
async fn a_supervisor_acknowledges_a_breach_through_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    let axe = axe_source();
    let browser = Browser::open(&app).await;
    browser.sign_in(app.token(Role::Supervisor)).await;
    browser.goto("/breaches").await;
    browser.wait("table#breaches").await;
    browser.assert_accessible(&axe).await;

    let form = browser.wait("tr[data-reference] form.acknowledge").await;
    let action = form.attr("action").await.unwrap().unwrap();
    let reference = action
        .strip_prefix("/packages/")
        .and_then(|a| a.strip_suffix("/acknowledge"))
        .unwrap()
        .to_string();
    form.find(Locator::Css("select[name=reason]"))
        .await
        .unwrap()
        .select_by_value("awaiting_communications_data")
        .await
        .unwrap();
    let note = "Warrant with the magistrates; executing Thursday";
    form.find(Locator::Css("textarea[name=note]"))
        .await
        .unwrap()
        .send_keys(note)
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = browser.wait(".notice").await.text().await.unwrap();
    assert!(
        notice.contains(&format!("{reference} is acknowledged")),
        "{notice}"
    );
    assert_eq!(
        browser
            .count(&format!(
                "tr[data-reference=\"{reference}\"] form.acknowledge"
            ))
            .await,
        0
    );
    browser.assert_accessible(&axe).await;

    let detail: Value = app
        .get(&format!("/api/v1/packages/{reference}"), Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["acknowledgement"]["by"], "token:supervisor-test",
        "{detail}"
    );
    assert_eq!(detail["acknowledgement"]["note"], note, "{detail}");
    assert_eq!(
        detail["acknowledgement"]["reason"], "awaiting_communications_data",
        "{detail}"
    );
    browser.close().await;
}
