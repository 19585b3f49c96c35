//! Webhooks: a notice posted to a chat channel (a Teams Adaptive Card, a
//! Slack message) with the same lines as the email, or to a system as the
//! notice itself in JSON, signed with HMAC-SHA256 so the receiver can tell
//! it came from us.

use super::config::{WebhookConfig, WebhookFormat, WebhookUrl};
use super::lines::{self, PackageLine};
use super::Channel;
use crate::outbox::{DeliveryError, Notice, Payload};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub(crate) const SIGNATURE_HEADER: &str = "X-OCSET-Signature";
/// The header carrying the time of sending, in seconds since 1970 UTC. It
/// is not signed; a receiver checking freshness should use the signed
/// body's `as_of`.
pub(crate) const TIMESTAMP_HEADER: &str = "X-OCSET-Timestamp";
/// How long one post may take before it counts as a transient failure.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Chat messages list at most this many packages, so a long notice (after
/// downtime, say) stays within Slack's 50 blocks and Teams' card size; the
/// rest are counted in a closing line.
const CHAT_PACKAGE_LIMIT: usize = 25;
/// Slack refuses a section whose text is longer.
const SLACK_SECTION_CHARS: usize = 3000;

/// One configured webhook, ready to post to.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    /// Its unique name, as destinations name it.
    pub(crate) name: String,
    url: WebhookUrl,
    format: WebhookFormat,
    secret: Option<SecretString>,
}

impl Webhook {
    /// The webhook of a `[[webhook]]` entry, with its signing secret read
    /// through `env`. Fails when a json webhook has no secret.
    pub(crate) fn from_config(
        config: &WebhookConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let secret = config.secret(env);
        if config.format == WebhookFormat::Json && secret.is_none() {
            return Err(format!(
                "webhook {:?}: a json webhook needs a signing secret in the environment variable named by secret_env",
                config.name
            ));
        }
        Ok(Self {
            name: config.name.clone(),
            url: config.url.clone(),
            format: config.format,
            secret,
        })
    }
}

/// Posts notices to the configured webhooks through one HTTP client (one
/// connection pool, rustls, a timeout, no redirects).
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    hooks: BTreeMap<String, Webhook>,
}

impl WebhookSender {
    /// A sender for `hooks`, each post limited to `timeout`.
    pub(crate) fn new(hooks: Vec<Webhook>, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect would carry the notice (and its signature) to an
            // address nobody configured; a 3xx is answered as a fault.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ocset-scheduler/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let hooks = hooks
            .into_iter()
            .map(|hook| (hook.name.clone(), hook))
            .collect();
        Ok(Self { client, hooks })
    }

    /// A sender for every `[[webhook]]` entry, secrets read through `env`.
    pub fn from_config(
        configs: &[WebhookConfig],
        env: &dyn Fn(&str) -> Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let hooks = configs
            .iter()
            .map(|config| Webhook::from_config(config, env))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        Self::new(hooks, timeout)
    }

    /// Posts `notice` to the webhook called `name` once. 2xx is success;
    /// 408, 429, 5xx and network failures are `Transient`; any other answer,
    /// a name that is not configured, and a notice without a marking or
    /// packages are `Permanent`.
    pub async fn send(&self, name: &str, notice: &Notice) -> Result<(), DeliveryError> {
        super::check_notice(notice)?;
        let hook = self
            .hooks
            .get(name)
            .ok_or_else(|| DeliveryError::Permanent(format!("no webhook is named {name:?}")))?;
        let body = match hook.format {
            WebhookFormat::Teams => serde_json::to_vec(&teams_message(notice)),
            WebhookFormat::Slack => serde_json::to_vec(&slack_message(notice)),
            WebhookFormat::Json => serde_json::to_vec(notice),
        }
        .expect("JSON values and notices always serialize");
        let mut request = self
            .client
            .post(hook.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &hook.secret {
            request = request
                .header(
                    SIGNATURE_HEADER,
                    signature(secret.expose_secret().as_bytes(), &body),
                )
                .header(TIMESTAMP_HEADER, chrono::Utc::now().timestamp().to_string());
        }
        let response = request.body(body).send().await.map_err(|e| {
            // without_url: a Teams or Slack URL is itself a secret.
            DeliveryError::Transient(format!("webhook {name}: {}", error_chain(&e.without_url())))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let said: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let reason = format!("webhook {name} answered {status}: {}", said.trim());
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            Err(DeliveryError::Transient(reason))
        } else {
            Err(DeliveryError::Permanent(reason))
        }
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` keyed with `secret`, as sent in
/// [`SIGNATURE_HEADER`].
pub(crate) fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", crate::text::hex(&mac.finalize().into_bytes()))
}

/// An error and its causes on one line (reqwest's own text says only
/// "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A notice's packages in chat form: the groups with their lines, at most
/// [`CHAT_PACKAGE_LIMIT`] packages, and how many were left out.
fn chat_groups(notice: &Notice) -> (Vec<(String, Vec<PackageLine>)>, usize) {
    let mut left = CHAT_PACKAGE_LIMIT;
    let mut groups = Vec::new();
    for (_, heading, items) in lines::groups(&notice.items) {
        let shown = &items[..items.len().min(left)];
        left -= shown.len();
        if !shown.is_empty() {
            groups.push((heading, lines::package_lines(notice, shown)));
        }
    }
    let omitted = notice.items.len().saturating_sub(CHAT_PACKAGE_LIMIT);
    (groups, omitted)
}

fn omitted_line(omitted: usize) -> String {
    format!(
        "…and {omitted} more package{} not listed here.",
        if omitted == 1 { "" } else { "s" }
    )
}

/// The Teams body: a message holding one Adaptive Card (accepted by both
/// Teams workflows and the older incoming-webhook connectors), with the
/// marking first and last and a fact set per package.
pub(crate) fn teams_message(notice: &Notice) -> Value {
    let text = |text: String| json!({"type": "TextBlock", "text": text, "wrap": true});
    let marking = || json!({"type": "TextBlock", "text": notice.marking, "weight": "Bolder", "color": "Attention", "wrap": true});
    let mut body = vec![
        marking(),
        json!({"type": "TextBlock", "text": notice.subject(), "weight": "Bolder", "size": "Medium", "wrap": true}),
        text(lines::introduction(notice)),
    ];
    let (groups, omitted) = chat_groups(notice);
    for (heading, package_lines) in groups {
        body.push(json!({"type": "TextBlock", "text": heading, "weight": "Bolder", "spacing": "Medium", "wrap": true}));
        for line in package_lines {
            let facts: Vec<Value> = line
                .fields()
                .into_iter()
                .map(|(label, value)| json!({"title": label, "value": value}))
                .collect();
            body.push(json!({"type": "FactSet", "separator": true, "facts": facts}));
        }
    }
    if omitted > 0 {
        body.push(text(omitted_line(omitted)));
    }
    body.push(marking());
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
            }
        }]
    })
}

/// Escapes the three characters Slack's mrkdwn treats as markup.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack body: `text` (the subject, for notifications and clients that
/// show no blocks) and `blocks` with the marking first and last and a
/// section per package.
pub(crate) fn slack_message(notice: &Notice) -> Value {
    let section = |text: String| {
        let text: String = text.chars().take(SLACK_SECTION_CHARS).collect();
        json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    };
    let marking = format!("*{}*", slack_escape(&notice.marking));
    let mut blocks = vec![
        section(marking.clone()),
        section(slack_escape(&lines::introduction(notice))),
    ];
    let (groups, omitted) = chat_groups(notice);
    for (heading, package_lines) in groups {
        blocks.push(section(format!("*{}*", slack_escape(&heading))));
        for line in package_lines {
            let text: Vec<String> = line
                .fields()
                .into_iter()
                .map(|(label, value)| format!("{label}: {}", slack_escape(&value)))
                .collect();
            blocks.push(section(text.join("\n")));
        }
    }
    if omitted > 0 {
        blocks.push(section(omitted_line(omitted)));
    }
    blocks.push(section(marking));
    json!({"text": notice.subject(), "blocks": blocks})
}

/// Webhook destinations, by the webhook's name: notices only, since a
/// digest is written for a mail reader.
#[async_trait]
impl Channel for WebhookSender {
    fn channel(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, to: &str, payload: &Payload) -> Result<(), DeliveryError> {
        match payload {
            Payload::Notice(notice) => self.send(to, notice).await,
            Payload::Digest(_) => Err(DeliveryError::Permanent(format!(
                "digests go by email only, not to webhook {to}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RiskGrade, Stage};
    use crate::outbox::{NoticeItem, NoticeKind};

    fn notice(count: usize) -> Notice {
        let items = (0..count)
            .map(|i| NoticeItem {
                kind: NoticeKind::Breached,
                level: "breach".into(),
                occurrence: 0,
                reference: format!("REF<{i}>"),
                risk_grade: RiskGrade::Medium,
                lpa: "Walsall".into(),
                stage: Stage::IntelligenceDevelopment,
                received_at: "2024-03-01T10:00:00Z".parse().unwrap(),
                deadline_at: "2024-03-22T10:00:00Z".parse().unwrap(),
                referral_due_at: None,
                review_due_at: None,
                assigned_officer: None,
                link: None,
            })
            .collect();
        Notice {
            marking: "OFFICIAL-SENSITIVE".into(),
            force: "Example Police".into(),
            time_zone: chrono_tz::Europe::London,
            as_of: "2024-03-22T12:00:00Z".parse().unwrap(),
            items,
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn slack_escapes_markup_and_keeps_the_marking_at_both_ends() {
        let message = slack_message(&notice(1));
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], "*OFFICIAL-SENSITIVE*");
        assert_eq!(
            blocks.last().unwrap()["text"]["text"],
            "*OFFICIAL-SENSITIVE*"
        );
        let all = message.to_string();
        assert!(all.contains("Reference: REF&lt;0&gt;"), "{all}");
        assert!(message["text"]
            .as_str()
            .unwrap()
            .starts_with("[OFFICIAL-SENSITIVE]"));
    }

    #[test]
    fn long_notices_are_cut_to_fit_chat_limits() {
        let message = slack_message(&notice(60));
        let blocks = message["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{}", blocks.len());
        assert!(message
            .to_string()
            .contains("…and 35 more packages not listed here."));
        let card = teams_message(&notice(26));
        let facts = card.to_string().matches("FactSet").count();
        assert_eq!(facts, 25);
        assert!(card
            .to_string()
            .contains("…and 1 more package not listed here."));
    }
}
