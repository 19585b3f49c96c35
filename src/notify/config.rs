//! The notification sections of the configuration: `[mail]`, `[links]` and
//! `[[webhook]]`. Each type has a `check` that returns `(key, reason)`
//! faults, so the main configuration checker can report them with the key
//! and where its value came from. Nothing secret is printed: the SMTP
//! password serializes as `***`, webhook URLs (whose paths are bearer
//! secrets for Teams and Slack) serialize without their path, and webhook
//! signing secrets stay in the environment.

use lettre::message::Mailbox;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

/// A configuration fault: the dotted key (`mail.from`, `webhook[1].url`)
/// and what is wrong with its value.
pub(crate) type Fault = (String, String);

/// The environment variable that carries the SMTP password, so it need not
/// be written in the configuration file.
pub(crate) const SMTP_PASSWORD_ENV: &str = "OCSET__MAIL__SMTP__PASSWORD";

/// `[mail]`: how email leaves the service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `file` writes `.eml` files into `file_dir` (the default, so the
    /// service runs with no mail server); `smtp` sends through `[mail.smtp]`.
    pub transport: MailTransport,
    /// The sender, as `Name <address>` or a bare address.
    pub from: String,
    /// The protective marking shown in every subject and at the top and
    /// bottom of every message.
    pub marking: String,
    /// Where the file transport writes messages; created when missing.
    pub file_dir: PathBuf,
    /// The SMTP relay, used when `transport = "smtp"`.
    pub smtp: SmtpConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::File,
            from: "OCSET Scheduler <ocset-scheduler@localhost>".into(),
            marking: "OFFICIAL-SENSITIVE".into(),
            file_dir: PathBuf::from("data/outbox"),
            smtp: SmtpConfig::default(),
        }
    }
}

/// How email is handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// `.eml` files in a folder.
    File,
    /// An SMTP relay.
    Smtp,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Connect in clear, then upgrade with STARTTLS; refuse to go on if the
    /// server cannot (port 587).
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: only for a relay on the same host.
    None,
}

/// `[mail.smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// The relay's host name; with TLS, the name its certificate must carry.
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// `starttls`, `implicit` or `none`.
    pub tls: SmtpTls,
    /// The user to authenticate as; no authentication when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    /// The password, best given as the environment variable
    /// `OCSET__MAIL__SMTP__PASSWORD`. It serializes as `***`, so a printed
    /// configuration never shows it (and cannot be read back with it).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_redacted"
    )]
    pub(crate) password: Option<SecretString>,
    /// How long one SMTP command may take before the send fails (and is
    /// retried later).
    pub timeout_seconds: u64,
    /// A PEM file of certificate authorities to trust for the relay's
    /// certificate, beside the public web roots: for a relay whose
    /// certificate a force's private CA signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The name announced in `EHLO`: the name the relay knows this host by.
    /// By default the machine's host name (or `[127.0.0.1]` when that is not
    /// a domain name); relays that check it need it set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hello_name: Option<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: None,
            password: None,
            timeout_seconds: 30,
            ca_file: None,
            hello_name: None,
        }
    }
}

// By hand because `SecretString` has no `PartialEq`; the destructuring makes
// a new field a compile error here rather than a silently ignored one.
impl PartialEq for SmtpConfig {
    fn eq(&self, other: &Self) -> bool {
        let SmtpConfig {
            host,
            port,
            tls,
            username,
            password,
            timeout_seconds,
            ca_file,
            hello_name,
        } = self;
        *host == other.host
            && *port == other.port
            && *tls == other.tls
            && *username == other.username
            && password.as_ref().map(ExposeSecret::expose_secret)
                == other.password.as_ref().map(ExposeSecret::expose_secret)
            && *timeout_seconds == other.timeout_seconds
            && *ca_file == other.ca_file
            && *hello_name == other.hello_name
    }
}

fn serialize_redacted<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str("***"),
        None => serializer.serialize_none(),
    }
}

impl MailConfig {
    /// The sender (`[mail] from`) as a mailbox, or why it is not an address.
    pub(crate) fn sender_mailbox(&self) -> Result<Mailbox, String> {
        self.from
            .parse()
            .map_err(|e| format!("{:?} is not an email address ({e})", self.from))
    }

    /// The faults in `[mail]`, keyed `mail.…`.
    pub fn check(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        let mut fault = |key: &str, reason: String| faults.push((key.to_string(), reason));
        if let Err(reason) = self.sender_mailbox() {
            fault("mail.from", reason);
        }
        if self.marking.trim().is_empty() {
            fault(
                "mail.marking",
                "is empty; every message must carry its protective marking".into(),
            );
        } else if self.marking.chars().any(char::is_control) {
            fault("mail.marking", "must be one line of text".into());
        }
        match self.transport {
            MailTransport::File => {
                if self.file_dir.as_os_str().is_empty() {
                    fault("mail.file_dir", "is empty".into());
                }
            }
            MailTransport::Smtp => {
                let smtp = &self.smtp;
                if smtp.host.trim().is_empty() {
                    fault(
                        "mail.smtp.host",
                        "is required when mail.transport is \"smtp\"".into(),
                    );
                }
                if smtp.port == 0 {
                    fault("mail.smtp.port", "must be 1 to 65535".into());
                }
                if smtp.timeout_seconds == 0 {
                    fault("mail.smtp.timeout_seconds", "must be at least 1".into());
                }
                if let Some(path) = &smtp.ca_file {
                    if let Err(reason) = smtp.trusted_authorities(path) {
                        fault("mail.smtp.ca_file", reason);
                    }
                }
                if let Some(name) = &smtp.hello_name {
                    if !is_domain_name(name) {
                        fault(
                            "mail.smtp.hello_name",
                            format!("{name:?} is not a domain name such as ocset.force.police.uk"),
                        );
                    }
                }
                match (&smtp.username, &smtp.password) {
                    (Some(_), None) => fault(
                        "mail.smtp.password",
                        format!("is missing for mail.smtp.username: set the environment variable {SMTP_PASSWORD_ENV}"),
                    ),
                    (None, Some(_)) => fault(
                        "mail.smtp.username",
                        "is missing, so the password would never be used".into(),
                    ),
                    _ => {}
                }
                if smtp.tls == SmtpTls::None
                    && smtp.username.is_some()
                    && !is_loopback_host(&smtp.host)
                {
                    fault(
                        "mail.smtp.tls",
                        "is \"none\" with credentials for a remote host: the password would cross the network in clear; use starttls or implicit".into(),
                    );
                }
            }
        }
        faults
    }
}

impl SmtpConfig {
    /// The certificate authorities in `path` (`ca_file`), read and parsed,
    /// or why they cannot be used.
    pub(crate) fn trusted_authorities(
        &self,
        path: &std::path::Path,
    ) -> Result<lettre::transport::smtp::client::Certificate, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // lettre reads a file with no PEM block as an empty list: say so.
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        lettre::transport::smtp::client::Certificate::from_pem(&pem)
            .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))
    }
}

/// True for a domain name: dot-separated labels of letters, digits and
/// inner hyphens, each 1 to 63 characters, 253 at most in all.
pub(crate) fn is_domain_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// True for `localhost` and loopback addresses, where traffic never leaves
/// the machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `[links]`: how a notice links to a package in the case system.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LinksConfig {
    /// A URL with `{reference}` where the package reference goes, such as
    /// `https://case-system.example/packages/{reference}`. No links when
    /// absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_url: Option<String>,
}

/// What a reference may keep unencoded in a URL: RFC 3986's unreserved
/// characters. Everything else, `/` included, is percent-encoded so a
/// reference stays one path segment or one query value.
const REFERENCE_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl LinksConfig {
    /// The link to the package `reference`, or None when no template is set.
    pub fn package_url(&self, reference: &str) -> Option<String> {
        let encoded = utf8_percent_encode(reference, REFERENCE_KEEP).to_string();
        self.package_url
            .as_ref()
            .map(|template| template.replace("{reference}", &encoded))
    }

    /// The faults in `[links]`, keyed `links.…`.
    pub(crate) fn check(&self) -> Vec<Fault> {
        let Some(template) = &self.package_url else {
            return Vec::new();
        };
        let key = "links.package_url".to_string();
        if !template.contains("{reference}") {
            return vec![(
                key,
                "must contain {reference}, where the package reference goes".into(),
            )];
        }
        match self.package_url("REF").map(|url| Url::parse(&url)) {
            Some(Ok(url)) if matches!(url.scheme(), "http" | "https") => Vec::new(),
            _ => vec![(
                key,
                format!("{template:?} is not an http or https URL template"),
            )],
        }
    }
}

/// `[[webhook]]`: a chat channel or system that receives some escalation
/// levels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A unique name; recipients in the escalation ladder refer to it.
    pub name: String,
    /// Where to post. Teams and Slack URLs carry their own secret, so the
    /// URL is never printed whole.
    pub url: WebhookUrl,
    /// The escalation levels (`warning`, `breach`...) this webhook receives.
    pub levels: Vec<String>,
    /// The body: a Teams card, a Slack message, or the notice as signed JSON.
    pub format: WebhookFormat,
    /// The name of the environment variable holding the HMAC secret that
    /// signs `json` bodies. Required for `json`; not used by the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// What a webhook's body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// A Microsoft Teams message holding an Adaptive Card.
    Teams,
    /// A Slack message with `text` and `blocks`.
    Slack,
    /// The notice as JSON, signed with HMAC-SHA256.
    Json,
}

/// A webhook URL. `Debug`, `Display` and `Serialize` show only the scheme
/// and host, because the path of a Teams or Slack URL is a bearer secret.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The whole URL, to post to. Never log this.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL reduced to `scheme://host[:port]/***`, for logs.
    pub(crate) fn redacted(&self) -> String {
        match Url::parse(&self.0) {
            Ok(url) => match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{}://{host}:{port}/***", url.scheme()),
                (Some(host), None) => format!("{}://{host}/***", url.scheme()),
                _ => "***".into(),
            },
            Err(_) => "***".into(),
        }
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl WebhookConfig {
    /// The signing secret, read through `env` from `secret_env`; None when
    /// no variable is named or it is unset or empty.
    pub(crate) fn secret(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<SecretString> {
        let name = self.secret_env.as_deref()?;
        env(name)
            .filter(|value| !value.is_empty())
            .map(SecretString::from)
    }
}

/// The faults in every `[[webhook]]`, keyed `webhook[i].…`. `levels` are
/// the escalation ladder's level names; `env` looks up environment
/// variables (passed in so tests need not touch the process environment).
pub fn check_webhooks(
    webhooks: &[WebhookConfig],
    levels: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Fault> {
    let mut faults = Vec::new();
    let mut names = HashSet::new();
    for (i, hook) in webhooks.iter().enumerate() {
        let mut fault = |field: &str, reason: String| {
            faults.push((format!("webhook[{i}].{field}"), reason));
        };
        if hook.name.trim().is_empty() {
            fault("name", "is empty".into());
        } else if !names.insert(hook.name.as_str()) {
            fault("name", format!("{:?} names two webhooks", hook.name));
        }
        // The reasons never repeat the URL: it may hold a secret.
        match Url::parse(hook.url.expose()) {
            Ok(url) if url.scheme() == "https" => {}
            Ok(url) if url.scheme() == "http" && url.host_str().is_some_and(is_loopback_host) => {}
            Ok(url) if url.scheme() == "http" => fault(
                "url",
                "must be https (http only to this machine): notices are sensitive".into(),
            ),
            _ => fault("url", "is not an https URL".into()),
        }
        if hook.levels.is_empty() {
            fault(
                "levels",
                "is empty, so the webhook would receive nothing".into(),
            );
        }
        for level in &hook.levels {
            if !levels.contains(&level.as_str()) {
                fault(
                    "levels",
                    format!(
                        "{level:?} is not an escalation level (the ladder has {})",
                        levels.join(", ")
                    ),
                );
            }
        }
        match (hook.format, &hook.secret_env) {
            (WebhookFormat::Json, None) => fault(
                "secret_env",
                "is required for json webhooks: name the environment variable holding the signing secret".into(),
            ),
            (WebhookFormat::Json, Some(name)) if hook.secret(env).is_none() => fault(
                "secret_env",
                format!("the environment variable {name} is not set or is empty"),
            ),
            (WebhookFormat::Teams | WebhookFormat::Slack, Some(_)) => fault(
                "secret_env",
                "only json webhooks are signed; remove it so nobody thinks this one is".into(),
            ),
            _ => {}
        }
    }
    faults
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
