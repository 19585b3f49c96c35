//! `/metrics` over real HTTP as Prometheus scrapes it, with the series the
//! alert rules in deploy/prometheus/alerts.yml read: the process's own
//! (`process_*`), the build, readiness, each digest's last run, and the age
//! of the oldest undelivered message. The real digest job and dispatcher
//! deliver by SMTP to a test server, over SQLite and PostgreSQL, with the
//! clock the test's.

use crate::common::parts::World;
use crate::common::utc;
use ocset_scheduler::cli::{self, AuditAction, Command};
use ocset_scheduler::domain::RiskGrade;
use ocset_scheduler::http::ApiServer;
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::Actor;
use ocset_scheduler::store::ChainHead;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A world on Friday 1 March 2024 with one open package, and the HTTP
/// server over its app.
struct Scraped {
    world: World,
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn scraped(url: String) -> Scraped {
    let world = World::start(url, utc("2024-03-01T09:00:00Z")).await;
    let input = NewPackage {
        reference: "MET-1".into(),
        risk_grade: RiskGrade::High.as_str().into(),
        received_at: "2024-02-28T09:00:00Z".into(),
        lpa: "Coventry".into(),
        stage: "awaiting_enforcement".into(),
        ..NewPackage::default()
    };
    world
        .instance
        .app
        .create(&input, &Actor::named("test"))
        .await
        .unwrap();
    let api = ApiServer::build(world.instance.app.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", api.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api.run_until(async {
        let _ = stopped.await;
    }));
    Scraped {
        world,
        base,
        _stop: stop,
    }
}

impl Scraped {
    /// One scrape of `/metrics`: its content type and body.
    async fn scrape(&self) -> String {
        let response = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        response.text().await.unwrap()
    }
}

/// The value of the sample named exactly `series` (with its labels), or a
/// failure naming it.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {e}"))
}

fn timestamp(at: &str) -> f64 {
    utc(at).timestamp() as f64
}

on_both_backends!(
    scraped;
    the_process_and_the_build_are_described,
    each_digest_shows_when_it_was_last_queued_and_delivered,
    the_last_verification_of_the_audit_chain_is_shown,
);

/// `audit verify` (in-process, with the world's clock, on the world's
/// database) records when it verified and whether the chain fitted; a
/// replica's `/metrics` shows it.
async fn the_last_verification_of_the_audit_chain_is_shown(s: Scraped) {
    let verified = "ocset_audit_verified_timestamp_seconds";
    let ok = "ocset_audit_verify_ok";
    let text = s.scrape().await;
    assert_eq!(value(&text, verified), 0.0, "never verified");
    assert_eq!(value(&text, ok), 0.0);
    assert!(text.contains(&format!("# TYPE {ok} gauge")), "{text}");
    let settings = (*s.world.settings).clone();
    let verify = |at: &str, head: Option<ChainHead>| {
        let (settings, clock) = (settings.clone(), s.world.clock.clone());
        clock.set(utc(at));
        async move {
            let mut out = Vec::new();
            let command = Command::Audit {
                action: Some(AuditAction::Verify { head }),
                reference: None,
                json: false,
            };
            let done = cli::run(command, settings, Arc::new(clock), &mut out, async {}).await;
            (done, String::from_utf8(out).unwrap())
        }
    };
    let (done, out) = verify("2024-03-02T10:00:00Z", None).await;
    assert!(done.is_ok(), "{done:?}");
    assert!(out.contains("verifies: 1 lines"), "{out}");
    let text = s.scrape().await;
    assert_eq!(value(&text, verified), timestamp("2024-03-02T10:00:00Z"));
    assert_eq!(value(&text, ok), 1.0);
    // A head copy the chain does not hold: the verification fails, and
    // says so.
    let copy: ChainHead = format!("1:{}", "0".repeat(64)).parse().unwrap();
    let (done, out) = verify("2024-03-03T10:00:00Z", Some(copy)).await;
    assert!(done.is_err(), "{out}");
    let text = s.scrape().await;
    assert_eq!(value(&text, verified), timestamp("2024-03-03T10:00:00Z"));
    assert_eq!(value(&text, ok), 0.0);
}

async fn the_process_and_the_build_are_described(s: Scraped) {
    let text = s.scrape().await;
    let resident = value(&text, "process_resident_memory_bytes");
    assert!(
        (1e6..4e9).contains(&resident),
        "resident memory {resident} bytes"
    );
    assert!(value(&text, "process_virtual_memory_bytes") >= resident);
    let open = value(&text, "process_open_fds");
    assert!(open >= 3.0, "open fds {open}");
    if text.contains("\nprocess_max_fds ") {
        assert!(value(&text, "process_max_fds") >= open);
    }
    assert!(value(&text, "process_cpu_seconds_total") >= 0.0);
    assert!(
        text.contains("# TYPE process_cpu_seconds_total counter"),
        "{text}"
    );
    // The real start of this test process: in the past, and within the
    // hour the test run has lasted at most.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value(&text, "process_start_time_seconds");
    assert!(
        started <= now && started > now - 3600.0,
        "started {started}, now {now}"
    );
    let build = format!(
        "ocset_build_info{{version=\"{}\",commit=\"{}\"}}",
        ocset_scheduler::VERSION,
        ocset_scheduler::COMMIT
    );
    assert_eq!(value(&text, &build), 1.0);
    assert!(!ocset_scheduler::COMMIT.is_empty());
    assert_eq!(value(&text, "ocset_ready"), 1.0);
    assert_eq!(value(&text, "ocset_ledger_up"), 1.0);
}

async fn each_digest_shows_when_it_was_last_queued_and_delivered(s: Scraped) {
    let weekly_queued = "ocset_digest_last_queued_timestamp_seconds{digest=\"weekly\"}";
    let weekly_sent = "ocset_digest_last_sent_timestamp_seconds{digest=\"weekly\"}";
    let oldest = "ocset_notifications_oldest_undelivered_age_seconds";

    // Never run: 0, so that "not sent since Monday 07:00" fires too.
    let text = s.scrape().await;
    assert_eq!(value(&text, weekly_queued), 0.0);
    assert_eq!(value(&text, weekly_sent), 0.0);
    assert_eq!(
        value(
            &text,
            "ocset_digest_last_sent_timestamp_seconds{digest=\"daily-sergeants\"}"
        ),
        0.0
    );
    assert_eq!(value(&text, oldest), 0.0);

    // A week sent on demand (`digest send`) is no scheduled run: still 0.
    let on_demand = s
        .world
        .instance
        .digests
        .send_week("2024-W08".parse().unwrap(), &Actor::named("cli:test"))
        .await
        .unwrap();
    assert_eq!(on_demand, 2);
    s.world.instance.dispatcher.drain().await.unwrap();
    assert_eq!(s.world.smtp.messages().len(), 2);
    let text = s.scrape().await;
    assert_eq!(value(&text, weekly_queued), 0.0);
    assert_eq!(value(&text, weekly_sent), 0.0);

    // Monday 4 March 2024, 07:00 GMT: the weekly digest is queued, and ten
    // minutes later still not delivered.
    let clock = &s.world.clock;
    clock.set(utc("2024-03-04T07:00:00Z"));
    let queued = s.world.instance.digests.run_due().await.unwrap();
    assert!(queued >= 2, "the weekly digest to two groups: {queued}");
    clock.set(utc("2024-03-04T07:10:00Z"));
    let text = s.scrape().await;
    assert_eq!(
        value(&text, weekly_queued),
        timestamp("2024-03-04T07:00:00Z")
    );
    assert_eq!(value(&text, weekly_sent), 0.0);
    assert_eq!(value(&text, oldest), 600.0);
    assert!(value(&text, "ocset_notifications{status=\"pending\"}") >= 2.0);

    // Delivered at 07:10: sent then, nothing waiting.
    s.world.instance.dispatcher.drain().await.unwrap();
    assert!(s.world.smtp.messages().len() >= 4);
    clock.set(utc("2024-03-04T07:11:00Z"));
    let text = s.scrape().await;
    assert_eq!(
        value(&text, weekly_queued),
        timestamp("2024-03-04T07:00:00Z")
    );
    assert_eq!(value(&text, weekly_sent), timestamp("2024-03-04T07:10:00Z"));
    assert_eq!(value(&text, oldest), 0.0);
    assert_eq!(value(&text, "ocset_notifications{status=\"pending\"}"), 0.0);
}
