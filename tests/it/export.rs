//! The disclosure export (`GET /api/v1/packages/{reference}/export`,
//! `ocset-scheduler export --reference R`): over real HTTP to the server on
//! port 0, on SQLite and PostgreSQL, with escalations really delivered by
//! SMTP before the export; and through the real binary.

use crate::common;
use crate::common::parts::World;
use crate::common::utc;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::Role;
use ocset_scheduler::http::ApiServer;
use ocset_scheduler::store::{Actor, ApiToken};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command as Process;

const OFFICER: &str = "pc.one@force.police.uk";
const SERGEANTS: &str = "ocset.sergeants@force.example";

/// A Monday in January: GMT, so local and UTC times agree.
fn start() -> DateTime<Utc> {
    utc("2024-01-08T09:00:00Z")
}

/// The world (real SMTP, scheduler, dispatcher) with the API on port 0
/// over the same app, and one token per role.
struct Served {
    world: World,
    base: String,
    http: reqwest::Client,
    tokens: BTreeMap<Role, String>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn served(url: String) -> Served {
    let world = World::start(url, start()).await;
    let mut tokens = BTreeMap::new();
    for role in [Role::Viewer, Role::Intake, Role::Supervisor, Role::Admin] {
        let (token, hash) = ocset_scheduler::tokens::generate();
        let record = ApiToken {
            name: role.to_string(),
            role,
            created_at: start(),
            revoked_at: None,
        };
        world
            .instance
            .app
            .store()
            .create_token(&record, &hash, &Actor::named("test"))
            .await
            .unwrap();
        tokens.insert(role, token);
    }
    let api = ApiServer::build(world.instance.app.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", api.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api.run_until(async {
        let _ = stopped.await;
    }));
    Served {
        world,
        base,
        http: reqwest::Client::new(),
        tokens,
        _stop: stop,
    }
}

impl Served {
    async fn get(&self, path: &str, role: Role) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.tokens[&role])
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, role: Role, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.tokens[&role])
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A scheduler pass and a dispatcher drain at the clock's now.
    async fn step(&self) {
        self.world.instance.scheduler.run_due().await.unwrap();
        self.world.instance.dispatcher.drain().await.unwrap();
    }
}

on_both_backends!(
    served;
    the_export_holds_every_kind_of_record_and_is_audited,
    only_an_admin_may_export_and_an_unknown_reference_is_404,
);

/// The `kind` of each event, in order.
fn kinds(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn the_export_holds_every_kind_of_record_and_is_audited(s: Served) {
    // A very high package, created through the API, breached and escalated
    // by the real scheduler (mail received by the SMTP server), then
    // acknowledged and reviewed, and read once.
    let created = s
        .post(
            "/api/v1/packages",
            Role::Intake,
            json!({"reference": "EXP-1", "risk_grade": "very_high",
                   "received_at": start().to_rfc3339(), "lpa": "Coventry",
                   "stage": "awaiting_enforcement", "assigned_officer": OFFICER}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // Another package, whose lines must not appear in EXP-1's export.
    let other = s
        .post(
            "/api/v1/packages",
            Role::Intake,
            json!({"reference": "EXP-2", "risk_grade": "standard",
                   "received_at": start().to_rfc3339(), "lpa": "Dudley",
                   "stage": "intelligence_development"}),
        )
        .await;
    assert_eq!(other.status(), StatusCode::CREATED);
    // The warning at 36 hours (to the officer and sergeants), then the
    // breach at 48.
    s.world.clock.set(start() + Duration::hours(37));
    s.step().await;
    s.world.clock.set(start() + Duration::hours(50));
    s.step().await;
    assert!(
        !s.world.mail_to(SERGEANTS).is_empty(),
        "the breach was mailed"
    );
    let acknowledged = s
        .post(
            "/api/v1/packages/EXP-1/acknowledge",
            Role::Supervisor,
            json!({"reason": "suspect_not_located", "note": "Warrant on Thursday"}),
        )
        .await;
    assert_eq!(acknowledged.status(), StatusCode::OK);
    let reviewed = s
        .post(
            "/api/v1/packages/EXP-1/reviews",
            Role::Supervisor,
            json!({"note": "Grade stands"}),
        )
        .await;
    assert_eq!(reviewed.status(), StatusCode::OK);
    assert_eq!(
        s.get("/api/v1/packages/EXP-1", Role::Viewer).await.status(),
        StatusCode::OK
    );
    s.world.clock.set(start() + Duration::hours(51));

    // Asked in another case: the export names the package as stored.
    let answer = s.get("/api/v1/packages/exp-1/export", Role::Admin).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let export: Value = answer.json().await.unwrap();

    assert_eq!(export["exported_at"], "2024-01-10T12:00:00Z");
    assert_eq!(export["exported_by"], "token:admin");
    assert_eq!(export["package"]["reference"], "EXP-1");
    assert_eq!(export["package"]["assigned_officer"], OFFICER);
    assert_eq!(export["package"]["status"], "breached");
    assert_eq!(
        kinds(&export["events"]),
        ["created", "acknowledged", "reviewed"]
    );
    assert!(export["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["reference"] == "EXP-1"));
    assert_eq!(kinds(&export["acknowledgements"]), ["acknowledged"]);
    assert_eq!(
        export["acknowledgements"][0]["reason"],
        "suspect_not_located"
    );
    assert_eq!(export["acknowledgements"][0]["actor"], "token:supervisor");
    assert_eq!(kinds(&export["reviews"]), ["reviewed"]);
    assert_eq!(export["reviews"][0]["note"], "Grade stands");
    assert_eq!(export["acknowledgement"]["note"], "Warrant on Thursday");

    // Escalations with their deliveries: recipient, time, result.
    let escalations = export["escalations"].as_array().unwrap();
    let levels: Vec<&str> = escalations
        .iter()
        .map(|e| e["level"].as_str().unwrap())
        .collect();
    assert!(levels.contains(&"warning"), "{levels:?}");
    assert!(levels.contains(&"breach"), "{levels:?}");
    let deliveries: Vec<&Value> = escalations
        .iter()
        .flat_map(|e| e["deliveries"].as_array().unwrap())
        .collect();
    let recipients: Vec<&str> = deliveries
        .iter()
        .map(|d| d["destination"]["to"].as_str().unwrap())
        .collect();
    assert!(recipients.contains(&SERGEANTS), "{recipients:?}");
    assert!(recipients.contains(&OFFICER), "{recipients:?}");
    for delivery in &deliveries {
        assert_eq!(delivery["status"], "sent", "{delivery}");
        assert!(delivery["sent_at"].is_string(), "{delivery}");
    }

    // Every audit line naming the package, ending with this export's own;
    // none about the other package.
    let audit = export["audit"].as_array().unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    for action in [
        "package.created",
        "package.acknowledged",
        "package.reviewed",
        "package.read",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let last = audit.last().unwrap();
    assert_eq!(last["action"], "package.exported");
    assert_eq!(last["actor"], "token:admin");
    assert_eq!(last["at"], "2024-01-10T12:00:00Z");
    assert!(audit.iter().all(|l| l["reference"] == "EXP-1"));

    // The export is in the audit log itself, once.
    let logged = s.world.instance.app.store().audit_log(None).await.unwrap();
    let exports: Vec<_> = logged
        .iter()
        .filter(|l| l.action == "package.exported")
        .collect();
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0].reference.as_deref(), Some("EXP-1"));
    assert_eq!(exports[0].actor, "token:admin");
}

async fn only_an_admin_may_export_and_an_unknown_reference_is_404(s: Served) {
    let created = s
        .post(
            "/api/v1/packages",
            Role::Intake,
            json!({"reference": "EXP-3", "risk_grade": "high",
                   "received_at": start().to_rfc3339(), "lpa": "Coventry",
                   "stage": "awaiting_enforcement"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    for role in [Role::Viewer, Role::Intake, Role::Supervisor] {
        let answer = s.get("/api/v1/packages/EXP-3/export", role).await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{role}");
        let body: Value = answer.json().await.unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let unauthenticated = s
        .http
        .get(format!("{}/api/v1/packages/EXP-3/export", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let missing = s.get("/api/v1/packages/NOPE-1/export", Role::Admin).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(
        body["error"]["message"], "no package has reference NOPE-1",
        "{body}"
    );
    let bad = s.get("/api/v1/packages/%3DBAD/export", Role::Admin).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Refused and missing exports write no export line.
    let logged = s.world.instance.app.store().audit_log(None).await.unwrap();
    assert!(
        logged.iter().all(|l| l.action != "package.exported"),
        "{logged:?}"
    );

    // The document describes the endpoint: admin only, with its schema.
    let doc: Value = s
        .get("/api/v1/openapi.json", Role::Viewer)
        .await
        .json()
        .await
        .unwrap();
    let operation = &doc["paths"]["/api/v1/packages/{reference}/export"]["get"];
    assert_eq!(
        operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PackageExport"
    );
    for status in ["401", "403", "404", "422"] {
        assert!(
            operation["responses"][status].is_object(),
            "{status}: {operation}"
        );
    }
    let schema = &doc["components"]["schemas"]["PackageExport"];
    for field in [
        "package",
        "events",
        "escalations",
        "acknowledgements",
        "reviews",
        "audit",
    ] {
        assert!(schema["properties"][field].is_object(), "{field}: {schema}");
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_ocset-scheduler");

fn ocset(dir: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Process::new(BIN);
    command
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(args);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OCSET__")) {
        command.env_remove(name);
    }
    command.output().expect("run ocset-scheduler")
}

/// The command prints the export as JSON, audits it as the command line's
/// user, and refuses an unknown reference with a clear error.
#[test]
fn the_export_command_prints_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let csv = dir.path().join("one.csv");
    std::fs::write(
        &csv,
        "reference,risk_grade,received_at,lpa,stage,assigned_officer\n\
         CLI-EXP-1,high,2024-01-08 09:00,Birmingham,awaiting_enforcement,pc.one@force.police.uk\n",
    )
    .unwrap();
    let imported = ocset(dir.path(), &config, &["import", csv.to_str().unwrap()]);
    assert!(imported.status.success(), "{imported:?}");

    let exported = ocset(dir.path(), &config, &["export", "--reference", "cli-exp-1"]);
    assert!(exported.status.success(), "{exported:?}");
    let export: Value = serde_json::from_slice(&exported.stdout).expect("one JSON document");
    assert_eq!(export["package"]["reference"], "CLI-EXP-1");
    assert_eq!(export["package"]["assigned_officer"], OFFICER);
    assert_eq!(kinds(&export["events"]), ["created"]);
    assert_eq!(export["escalations"], json!([]));
    let audit = export["audit"].as_array().unwrap();
    assert_eq!(audit[0]["action"], "package.created");
    let last = audit.last().unwrap();
    assert_eq!(last["action"], "package.exported");
    assert!(
        last["actor"].as_str().unwrap().starts_with("cli:"),
        "{last}"
    );
    assert_eq!(last["actor"], export["exported_by"]);

    let missing = ocset(dir.path(), &config, &["export", "--reference", "NOPE-9"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("no package has reference NOPE-9"),
        "{stderr}"
    );
    assert!(missing.stdout.is_empty());
}
