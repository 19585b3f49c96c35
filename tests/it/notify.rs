//! Notification delivery against real servers on 127.0.0.1: email over
//! SMTP to the tests' own SMTP server, `.eml` files into a folder, and
//! webhooks to an axum server, each failure sorted into worth retrying or
//! not.

use crate::common::smtp::{fixed_widths, parse_mail, TestSmtp};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use ocset_scheduler::domain::{RiskGrade, Stage};
use ocset_scheduler::notify::config::{
    LinksConfig, MailConfig, MailTransport, SmtpTls, WebhookConfig, WebhookFormat, WebhookUrl,
};
use ocset_scheduler::notify::{EmailSender, Notifier, WebhookSender};
use ocset_scheduler::outbox::{
    Attachment, Deliver, DeliveryError, Destination, DigestMail, Notice, NoticeItem, NoticeKind,
    Payload,
};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

const FROM: &str = "ocset-scheduler@force.example";
const SERGEANT: &str = "sergeant@force.example";

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

/// Three packages, one of each urgency, with times on both sides of the
/// clock change of 31 March 2024 (GMT to BST in London).
fn notice() -> Notice {
    let links = LinksConfig {
        package_url: Some(
            "https://case-system.example/packages/{reference}?view=summary&src=ocset".into(),
        ),
    };
    let item = |kind, reference: &str, grade, lpa: &str, stage, received, deadline| NoticeItem {
        kind,
        level: "level-name-not-shown".into(),
        occurrence: 3,
        reference: reference.into(),
        risk_grade: grade,
        lpa: lpa.into(),
        stage,
        received_at: at(received),
        deadline_at: at(deadline),
        referral_due_at: None,
        review_due_at: None,
        assigned_officer: None,
        link: links.package_url(reference),
    };
    let mut safeguarding = item(
        NoticeKind::SafeguardingOverdue,
        "NCA/2024/0417",
        RiskGrade::VeryHigh,
        "Sandwell",
        Stage::AwaitingEnforcement,
        "2024-03-30T09:30:00Z",
        "2024-04-01T09:30:00Z",
    );
    safeguarding.referral_due_at = Some(at("2024-03-31T09:30:00Z"));
    safeguarding.assigned_officer = Some("dc.patel@force.example".into());
    let breached = item(
        NoticeKind::Breached,
        "NCA/2024/0311",
        RiskGrade::High,
        "Dudley",
        Stage::AwaitingEnforcement,
        "2024-03-21T10:00:00Z",
        "2024-03-28T10:00:00Z",
    );
    let mut due_soon = item(
        NoticeKind::DueSoon,
        "NCA/2024/0388",
        RiskGrade::Medium,
        "Coventry",
        Stage::IntelligenceDevelopment,
        "2024-03-12T15:00:00Z",
        "2024-04-02T14:00:00Z",
    );
    due_soon.assigned_officer = Some("pc.jones@force.example".into());
    due_soon.link = None;
    Notice {
        marking: "OFFICIAL-SENSITIVE".into(),
        force: "Example Police".into(),
        time_zone: chrono_tz::Europe::London,
        as_of: at("2024-04-01T12:00:00Z"),
        items: vec![safeguarding, breached, due_soon],
    }
}

/// The whole plain-text part for [`notice`]: every line is asserted, so
/// nothing outside the notice's fields can slip in.
const EXPECTED_TEXT: &str = "\
OFFICIAL-SENSITIVE

Example Police: OCSET escalation as of 2024-04-01 13:00 BST

1 package has an overdue safeguarding referral
Make the referral to children's social services now, and record when it was made.

  Reference: NCA/2024/0417
  Risk grade: Very high
  LPA: Sandwell
  Stage: Awaiting enforcement
  Received: 2024-03-30 09:30 GMT
  Deadline: 2024-04-01 10:30 BST
  Referral due: 2024-03-31 10:30 BST, overdue by 1 day 2 hours
  Assigned officer: dc.patel@force.example
  Link: https://case-system.example/packages/NCA%2F2024%2F0417?view=summary&src=ocset

1 package breached its enforcement deadline
Enforce now, or acknowledge the breach with a note saying why enforcement waits.

  Reference: NCA/2024/0311
  Risk grade: High
  LPA: Dudley
  Stage: Awaiting enforcement
  Received: 2024-03-21 10:00 GMT
  Deadline: 2024-03-28 10:00 GMT, overdue by 4 days 2 hours
  Assigned officer: not assigned
  Link: https://case-system.example/packages/NCA%2F2024%2F0311?view=summary&src=ocset

1 package is approaching its enforcement deadline
Plan the enforcement before the deadline, and assign an officer to any package without one.

  Reference: NCA/2024/0388
  Risk grade: Medium
  LPA: Coventry
  Stage: Intelligence development
  Received: 2024-03-12 15:00 GMT
  Deadline: 2024-04-02 15:00 BST, due in 1 day 2 hours
  Assigned officer: pc.jones@force.example

OFFICIAL-SENSITIVE
";

/// Every piece of text a person can read in the HTML part of [`notice`]
/// (the title aside), in order.
const EXPECTED_HTML_TEXT: &[&str] = &[
    "OFFICIAL-SENSITIVE",
    "Example Police: OCSET escalation as of 2024-04-01 13:00 BST",
    "1 package has an overdue safeguarding referral",
    "Make the referral to children's social services now, and record when it was made.",
    "Reference",
    "NCA/2024/0417",
    "Risk grade",
    "Very high",
    "LPA",
    "Sandwell",
    "Stage",
    "Awaiting enforcement",
    "Received",
    "2024-03-30 09:30 GMT",
    "Deadline",
    "2024-04-01 10:30 BST",
    "Referral due",
    "2024-03-31 10:30 BST",
    "overdue by 1 day 2 hours",
    "Assigned officer",
    "dc.patel@force.example",
    "1 package breached its enforcement deadline",
    "Enforce now, or acknowledge the breach with a note saying why enforcement waits.",
    "Reference",
    "NCA/2024/0311",
    "Risk grade",
    "High",
    "LPA",
    "Dudley",
    "Stage",
    "Awaiting enforcement",
    "Received",
    "2024-03-21 10:00 GMT",
    "Deadline",
    "2024-03-28 10:00 GMT",
    "overdue by 4 days 2 hours",
    "Assigned officer",
    "not assigned",
    "1 package is approaching its enforcement deadline",
    "Plan the enforcement before the deadline, and assign an officer to any package without one.",
    "Reference",
    "NCA/2024/0388",
    "Risk grade",
    "Medium",
    "LPA",
    "Coventry",
    "Stage",
    "Intelligence development",
    "Received",
    "2024-03-12 15:00 GMT",
    "Deadline",
    "2024-04-02 15:00 BST",
    "due in 1 day 2 hours",
    "Assigned officer",
    "pc.jones@force.example",
    "OFFICIAL-SENSITIVE",
];

/// The text nodes of an HTML document, entities decoded, without the
/// head; and every href.
fn html_text_and_links(html: &str) -> (Vec<String>, Vec<String>) {
    let decode = |text: &str| {
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let body = html.split("<body").nth(1).expect("a body");
    let mut texts = Vec::new();
    let mut links = Vec::new();
    for piece in body.split('<').skip(1) {
        let (tag, text) = piece.split_once('>').expect("a closed tag");
        if let Some(href) = tag.split("href=\"").nth(1) {
            links.push(decode(href.split('"').next().unwrap()));
        }
        let text = text.trim();
        if !text.is_empty() {
            texts.push(decode(text));
        }
    }
    (texts, links)
}

fn smtp_config(port: u16) -> MailConfig {
    let mut config = MailConfig {
        transport: MailTransport::Smtp,
        from: format!("OCSET Scheduler <{FROM}>"),
        ..MailConfig::default()
    };
    config.smtp.host = "127.0.0.1".into();
    config.smtp.port = port;
    config.smtp.tls = SmtpTls::None;
    config.smtp.timeout_seconds = 10;
    assert!(config.check().is_empty(), "{:?}", config.check());
    config
}

fn assert_transient(result: Result<(), DeliveryError>) -> String {
    match result {
        Err(DeliveryError::Transient(reason)) => reason,
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

fn assert_permanent(result: Result<(), DeliveryError>) -> String {
    match result {
        Err(DeliveryError::Permanent(reason)) => reason,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

#[tokio::test]
async fn an_email_arrives_over_smtp_with_every_field_in_both_parts_and_nothing_else() {
    let smtp = TestSmtp::start().await;
    let sender = EmailSender::new(&smtp_config(smtp.port())).unwrap();
    let notice = notice();
    sender.send(&notice.clone().into(), SERGEANT).await.unwrap();

    let received = smtp.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].from, FROM);
    assert_eq!(received[0].to, [SERGEANT]);
    let mail = parse_mail(&received[0].data);
    assert_eq!(mail.to, [SERGEANT]);
    assert_eq!(mail.subject, notice.subject());
    assert!(
        mail.subject.starts_with("[OFFICIAL-SENSITIVE] OCSET: "),
        "{}",
        mail.subject
    );

    assert_eq!(
        mail.auto_submitted.as_deref(),
        Some("auto-generated"),
        "no out-of-office replies to a machine"
    );
    assert_eq!(mail.text.replace("\r\n", "\n"), EXPECTED_TEXT);
    let too_wide: Vec<u64> = fixed_widths(&mail.html)
        .into_iter()
        .filter(|w| *w > 420)
        .collect();
    assert!(too_wide.is_empty(), "{too_wide:?} in {}", mail.html);

    let (texts, links) = html_text_and_links(&mail.html);
    assert_eq!(texts, EXPECTED_HTML_TEXT);
    let expected_links: Vec<String> = notice.items.iter().filter_map(|i| i.link.clone()).collect();
    assert_eq!(links, expected_links);
    let head = mail.html.split("<body").next().unwrap();
    assert!(
        head.contains(&format!("<title>{}</title>", notice.subject())),
        "{head}"
    );
    for forbidden in ["<script", "<img", "<link", "<style", " src="] {
        assert!(
            !mail.html.contains(forbidden),
            "{forbidden} in {}",
            mail.html
        );
    }
}

fn digest_mail() -> DigestMail {
    DigestMail {
        digest: "weekly".into(),
        marking: "OFFICIAL-SENSITIVE".into(),
        subject: "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 5 2024".into(),
        text: "OFFICIAL-SENSITIVE\n\nOpen packages: 12\n\nOFFICIAL-SENSITIVE\n".into(),
        html:
            "<html><body><p>OFFICIAL-SENSITIVE</p><table><tr><td>12</td></tr></table></body></html>"
                .into(),
        attachment: Some(Attachment {
            filename: "ocset-weekly-2024-W05.csv".into(),
            content_type: "text/csv; charset=utf-8".into(),
            body: "section,reference\nbreach,NCA/2024/0417\n".into(),
            base64: false,
        }),
    }
}

#[tokio::test]
async fn a_digest_arrives_with_both_parts_and_its_csv_attached() {
    let smtp = TestSmtp::start().await;
    let sender = EmailSender::new(&smtp_config(smtp.port())).unwrap();
    let digest = digest_mail();
    sender
        .send(&Payload::Digest(digest.clone()), SERGEANT)
        .await
        .unwrap();
    let received = smtp.messages();
    assert_eq!(received.len(), 1);
    let mail = parse_mail(&received[0].data);
    assert_eq!(mail.subject, digest.subject);
    assert_eq!(mail.auto_submitted.as_deref(), Some("auto-generated"));
    assert_eq!(mail.text.replace("\r\n", "\n"), digest.text);
    assert!(mail.html.contains("<td>12</td>"), "{}", mail.html);
    assert_eq!(mail.attachments.len(), 1);
    let csv = &mail.attachments[0];
    assert_eq!(csv.filename, "ocset-weekly-2024-W05.csv");
    assert_eq!(csv.content_type, "text/csv");
    assert_eq!(
        csv.body.replace("\r\n", "\n"),
        digest.attachment.unwrap().body
    );
}

#[tokio::test]
async fn a_digest_is_refused_unmarked_and_never_goes_to_a_webhook() {
    let smtp = TestSmtp::start().await;
    let notifier = Notifier::new(vec![
        Arc::new(EmailSender::new(&smtp_config(smtp.port())).unwrap()),
        Arc::new(
            WebhookSender::from_config(&[], &|_| None, std::time::Duration::from_secs(1)).unwrap(),
        ),
    ]);
    let unmarked = DigestMail {
        subject: "OCSET weekly performance, week 5 2024".into(),
        ..digest_mail()
    };
    let reason = assert_permanent(
        notifier
            .deliver(
                &Destination::Email(SERGEANT.into()),
                &Payload::Digest(unmarked),
            )
            .await,
    );
    assert!(reason.contains("marking"), "{reason}");
    let reason = assert_permanent(
        notifier
            .deliver(
                &Destination::Webhook("teams".into()),
                &Payload::Digest(digest_mail()),
            )
            .await,
    );
    assert!(reason.contains("email only"), "{reason}");
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn a_rejected_address_is_permanent_and_the_next_send_goes_through() {
    let smtp = TestSmtp::start().await;
    smtp.reject("gone@force.example");
    let sender = EmailSender::new(&smtp_config(smtp.port())).unwrap();
    let reason = assert_permanent(sender.send(&notice().into(), "gone@force.example").await);
    assert!(reason.contains("550"), "{reason}");
    assert!(smtp.messages().is_empty());

    sender.send(&notice().into(), SERGEANT).await.unwrap();
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn a_stopped_server_is_transient_and_a_restarted_one_takes_mail_again() {
    let mut smtp = TestSmtp::start().await;
    let port = smtp.port();
    let sender = EmailSender::new(&smtp_config(port)).unwrap();
    sender.send(&notice().into(), SERGEANT).await.unwrap();

    // The pooled connection is closed under the sender, and the port refuses.
    smtp.stop().await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
    assert_transient(sender.send(&notice().into(), SERGEANT).await);

    smtp.restart().await;
    assert_eq!(smtp.port(), port);
    sender.send(&notice().into(), SERGEANT).await.unwrap();
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test]
async fn a_451_is_transient() {
    let smtp = TestSmtp::start().await;
    let sender = EmailSender::new(&smtp_config(smtp.port())).unwrap();
    smtp.fail_temporarily(true);
    let reason = assert_transient(sender.send(&notice().into(), SERGEANT).await);
    assert!(reason.contains("451"), "{reason}");
    assert!(smtp.messages().is_empty());

    smtp.fail_temporarily(false);
    sender.send(&notice().into(), SERGEANT).await.unwrap();
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn tls_settings_never_fall_back_to_clear_text() {
    // The test server offers no STARTTLS and speaks no TLS at all.
    let smtp = TestSmtp::start().await;
    for tls in [SmtpTls::StartTls, SmtpTls::Implicit] {
        let mut config = smtp_config(smtp.port());
        config.smtp.tls = tls;
        let sender = EmailSender::new(&config).unwrap();
        let reason = assert_transient(sender.send(&notice().into(), SERGEANT).await);
        if tls == SmtpTls::StartTls {
            assert!(reason.contains("STARTTLS"), "{reason}");
        }
    }
    assert!(smtp.messages().is_empty(), "nothing was sent in clear");
}

#[tokio::test]
async fn an_unmarked_or_empty_notice_is_never_sent() {
    let (base, posts) = receiver().await;
    let smtp = TestSmtp::start().await;
    let notifier = notifier(
        smtp.port(),
        &[hook("teams", format!("{base}/teams"), WebhookFormat::Teams)],
    )
    .await;
    let unmarked = Notice {
        marking: " ".into(),
        ..notice()
    };
    let empty = Notice {
        items: Vec::new(),
        ..notice()
    };
    for bad in [&unmarked, &empty] {
        for destination in [
            Destination::Email(SERGEANT.into()),
            Destination::Webhook("teams".into()),
        ] {
            assert_permanent(notifier.deliver(&destination, &bad.clone().into()).await);
        }
    }
    assert_eq!(smtp.connections(), 0);
    assert!(posts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_address_is_permanent_and_never_reaches_the_server() {
    let smtp = TestSmtp::start().await;
    let sender = EmailSender::new(&smtp_config(smtp.port())).unwrap();
    let reason = assert_permanent(sender.send(&notice().into(), "not an address").await);
    assert!(reason.contains("not an address"), "{reason}");
    assert_eq!(smtp.connections(), 0);
}

#[tokio::test]
async fn the_pool_reuses_its_connections() {
    let smtp = TestSmtp::start().await;
    let sender = EmailSender::new(&smtp_config(smtp.port())).unwrap();
    let sends = 10;
    for n in 0..sends {
        sender
            .send(&notice().into(), &format!("officer{n}@force.example"))
            .await
            .unwrap();
    }
    let to: Vec<Vec<String>> = smtp.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(
        to,
        (0..sends)
            .map(|n| vec![format!("officer{n}@force.example")])
            .collect::<Vec<_>>()
    );
    // lettre hands a used connection back to the pool from a task of its
    // own, so a send that follows at once may open a second one; what
    // matters is that it does not open one per message.
    assert!(
        smtp.connections() <= 2,
        "{} connections",
        smtp.connections()
    );
}

#[tokio::test]
async fn the_file_transport_writes_a_parseable_eml_into_a_new_folder() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("data").join("outbox");
    let config = MailConfig {
        file_dir: outbox.clone(),
        ..MailConfig::default()
    };
    let sender = EmailSender::new(&config).unwrap();
    assert!(outbox.is_dir());
    sender.send(&notice().into(), SERGEANT).await.unwrap();

    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    let mail = parse_mail(&std::fs::read(&files[0]).unwrap());
    assert_eq!(mail.subject, notice().subject());
    assert_eq!(mail.to, [SERGEANT]);
    assert_eq!(mail.text.replace("\r\n", "\n"), EXPECTED_TEXT);
}

/// What the webhook receiver saw.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Posts = Arc<Mutex<Vec<Post>>>;

/// An axum server on a free port: `/status/{code}` answers that code, any
/// other path 200; every post is kept.
async fn receiver() -> (String, Posts) {
    async fn keep(
        State(posts): State<Posts>,
        Path(path): Path<String>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let status = path
            .strip_prefix("status/")
            .map(|code| StatusCode::from_u16(code.parse().unwrap()).unwrap())
            .unwrap_or(StatusCode::OK);
        posts.lock().unwrap().push(Post {
            path,
            headers,
            body: body.to_vec(),
        });
        status
    }
    let posts = Posts::default();
    let app = Router::new()
        .route("/{*path}", post(keep))
        .with_state(Arc::clone(&posts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, posts)
}

const SECRET_VAR: &str = "OCSET_TEST_WEBHOOK_SECRET";
const SECRET: &str = "correct horse battery staple";

fn hook(name: &str, url: String, format: WebhookFormat) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: WebhookUrl::new(url),
        levels: vec!["breach".into()],
        format,
        secret_env: (format == WebhookFormat::Json).then(|| SECRET_VAR.into()),
    }
}

fn env(name: &str) -> Option<String> {
    (name == SECRET_VAR).then(|| SECRET.to_string())
}

async fn notifier(smtp_port: u16, hooks: &[WebhookConfig]) -> Notifier {
    let levels = ["warning", "breach"];
    assert!(
        ocset_scheduler::notify::config::check_webhooks(hooks, &levels, &env).is_empty(),
        "the test's webhooks pass the configuration check"
    );
    Notifier::from_config(&smtp_config(smtp_port), hooks, &env).unwrap()
}

/// The values every chat rendering must show for each package.
fn package_values(notice: &Notice) -> Vec<String> {
    let mut values = Vec::new();
    for item in &notice.items {
        values.push(item.reference.clone());
        values.push(item.lpa.clone());
        values.extend(item.link.clone());
        values.extend(item.assigned_officer.clone());
    }
    values.extend(
        [
            "Very high",
            "Intelligence development",
            "2024-03-31 10:30 BST, overdue by 1 day 2 hours",
            "2024-03-28 10:00 GMT, overdue by 4 days 2 hours",
            "2024-04-02 15:00 BST, due in 1 day 2 hours",
            "not assigned",
        ]
        .map(String::from),
    );
    values
}

#[tokio::test]
async fn teams_and_slack_posts_carry_the_marking_and_every_line() {
    let (base, posts) = receiver().await;
    let smtp = TestSmtp::start().await;
    let notifier = notifier(
        smtp.port(),
        &[
            hook(
                "sergeants-teams",
                format!("{base}/teams"),
                WebhookFormat::Teams,
            ),
            hook(
                "sergeants-slack",
                format!("{base}/slack"),
                WebhookFormat::Slack,
            ),
        ],
    )
    .await;
    let notice = notice();
    for name in ["sergeants-teams", "sergeants-slack"] {
        notifier
            .deliver(&Destination::Webhook(name.into()), &notice.clone().into())
            .await
            .unwrap();
    }
    let posts = posts.lock().unwrap().clone();
    assert_eq!(
        posts.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
        ["teams", "slack"]
    );
    for post in &posts {
        assert_eq!(post.headers["content-type"], "application/json");
        assert!(
            !post.headers.contains_key("x-ocset-signature"),
            "chat posts are not signed"
        );
    }

    let teams: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let body = card["content"]["body"].as_array().unwrap();
    assert_eq!(body[0]["text"], "OFFICIAL-SENSITIVE");
    assert_eq!(body.last().unwrap()["text"], "OFFICIAL-SENSITIVE");
    assert_eq!(body[1]["text"], notice.subject());
    let facts: Vec<String> = body
        .iter()
        .filter(|block| block["type"] == "FactSet")
        .flat_map(|set| set["facts"].as_array().unwrap().clone())
        .map(|fact| fact["value"].as_str().unwrap().to_string())
        .collect();
    for value in package_values(&notice) {
        assert!(
            facts.contains(&value),
            "Teams card lacks {value:?}: {facts:?}"
        );
    }

    let slack: serde_json::Value = serde_json::from_slice(&posts[1].body).unwrap();
    assert_eq!(slack["text"], notice.subject());
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], "*OFFICIAL-SENSITIVE*");
    assert_eq!(
        blocks.last().unwrap()["text"]["text"],
        "*OFFICIAL-SENSITIVE*"
    );
    let text: String = blocks
        .iter()
        .map(|block| block["text"]["text"].as_str().unwrap().to_string() + "\n")
        .collect();
    for value in package_values(&notice) {
        // Slack's mrkdwn escapes only &, < and >.
        let value = value.replace('&', "&amp;");
        assert!(
            text.contains(&format!(": {value}\n")),
            "Slack lacks {value:?}: {text}"
        );
    }
    assert!(!text.contains("level-name-not-shown"), "{text}");

    // The email destination goes through the same notifier.
    notifier
        .deliver(&Destination::Email(SERGEANT.into()), &notice.clone().into())
        .await
        .unwrap();
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn json_posts_carry_the_notice_signed_with_the_secret() {
    let (base, posts) = receiver().await;
    let smtp = TestSmtp::start().await;
    let notifier = notifier(
        smtp.port(),
        &[hook(
            "case-system",
            format!("{base}/json"),
            WebhookFormat::Json,
        )],
    )
    .await;
    let notice = notice();
    let before = chrono::Utc::now().timestamp();
    notifier
        .deliver(
            &Destination::Webhook("case-system".into()),
            &notice.clone().into(),
        )
        .await
        .unwrap();
    let after = chrono::Utc::now().timestamp();

    let post = posts.lock().unwrap()[0].clone();
    let received: Notice = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(received, notice);
    let timestamp: i64 = post.headers["x-ocset-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((before..=after).contains(&timestamp), "{timestamp}");

    let signature = post.headers["x-ocset-signature"].to_str().unwrap();
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let verify = |secret: &str, body: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.verify_slice(&bytes).is_ok()
    };
    assert!(verify(SECRET, &post.body), "the signature verifies");
    assert!(
        !verify("another secret", &post.body),
        "not with another secret"
    );
    let mut tampered = post.body.clone();
    tampered[10] ^= 1;
    assert!(!verify(SECRET, &tampered), "not for another body");
}

#[tokio::test]
async fn webhook_failures_are_sorted_into_retry_or_not() {
    let (base, _posts) = receiver().await;
    // A port that was free a moment ago and has nobody listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let hooks = [
        hook("broken", format!("{base}/status/500"), WebhookFormat::Slack),
        hook("busy", format!("{base}/status/429"), WebhookFormat::Teams),
        hook("wrong", format!("{base}/status/400"), WebhookFormat::Json),
        hook("gone", format!("{base}/status/404"), WebhookFormat::Slack),
        hook("moved", format!("{base}/status/301"), WebhookFormat::Slack),
        hook(
            "down",
            format!("http://{closed}/secret-path"),
            WebhookFormat::Slack,
        ),
    ];
    let webhooks =
        WebhookSender::from_config(&hooks, &env, std::time::Duration::from_secs(10)).unwrap();
    let notice = notice();
    let reason = assert_transient(webhooks.send("broken", &notice).await);
    assert!(reason.contains("500"), "{reason}");
    assert_transient(webhooks.send("busy", &notice).await);
    let reason = assert_permanent(webhooks.send("wrong", &notice).await);
    assert!(reason.contains("400"), "{reason}");
    assert_permanent(webhooks.send("gone", &notice).await);
    assert_permanent(webhooks.send("moved", &notice).await);
    let reason = assert_transient(webhooks.send("down", &notice).await);
    assert!(
        !reason.contains("secret-path"),
        "the URL stays out: {reason}"
    );
    let reason = assert_permanent(webhooks.send("nobody", &notice).await);
    assert!(reason.contains("\"nobody\""), "{reason}");

    // Through the notifier too; and its debug form, which logs may show,
    // holds neither a URL's path nor a secret.
    let smtp = TestSmtp::start().await;
    let notifier = notifier(
        smtp.port(),
        &[
            hooks[0].clone(),
            hook("signed", format!("{base}/secret-path"), WebhookFormat::Json),
        ],
    )
    .await;
    let printed = format!("{notifier:?}");
    assert!(!printed.contains("status/500"), "{printed}");
    assert!(!printed.contains("secret-path"), "{printed}");
    assert!(!printed.contains(SECRET), "{printed}");
    assert_permanent(
        notifier
            .deliver(
                &Destination::Webhook("unknown".into()),
                &notice.clone().into(),
            )
            .await,
    );
}

/// A relay certificate for `localhost` signed by a private certificate
/// authority made here, as a force's own CA signs its relay's: the CA's
/// PEM (for `mail.smtp.ca_file`) and the relay's TLS acceptor.
fn private_relay() -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Example Force Private CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let relay_key = KeyPair::generate().unwrap();
    let relay_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&relay_key, &ca_cert, &ca_key)
        .unwrap();
    let server = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![relay_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(relay_key.serialize_der())),
        )
        .unwrap();
    (
        ca_cert.pem(),
        tokio_rustls::TlsAcceptor::from(Arc::new(server)),
    )
}

#[tokio::test]
async fn starttls_trusts_a_private_ca_only_when_given_and_announces_the_hello_name() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, acceptor) = private_relay();
    let ca_file = dir.path().join("force-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let smtp = TestSmtp::start_with_tls(acceptor).await;
    let mut config = smtp_config(smtp.port());
    config.smtp.host = "localhost".into();
    config.smtp.tls = SmtpTls::StartTls;

    // The public roots do not know the force's CA: refused, nothing sent.
    let untrusting = EmailSender::new(&config).unwrap();
    let reason = assert_transient(untrusting.send(&notice().into(), SERGEANT).await);
    assert!(reason.contains("certificate"), "{reason}");
    assert!(smtp.messages().is_empty());

    config.smtp.ca_file = Some(ca_file);
    config.smtp.hello_name = Some("ocset-scheduler.example-force.police.uk".into());
    assert!(config.check().is_empty(), "{:?}", config.check());
    let trusting = EmailSender::new(&config).unwrap();
    trusting.send(&notice().into(), SERGEANT).await.unwrap();
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.messages()[0].to, [SERGEANT]);
    assert_eq!(smtp.tls_upgrades(), 1, "the message went over TLS");
    // EHLO before STARTTLS and again after it, both with the name given.
    let names = smtp.hello_names();
    assert_eq!(
        names[names.len() - 2..],
        [
            "ocset-scheduler.example-force.police.uk",
            "ocset-scheduler.example-force.police.uk"
        ],
        "{names:?}"
    );
}
