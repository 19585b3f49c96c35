//! Tests of the mail, links and webhook settings: validation faults and
//! redaction.

use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn keys(faults: &[Fault]) -> Vec<&str> {
    faults.iter().map(|(key, _)| key.as_str()).collect()
}

fn hook(name: &str, format: WebhookFormat, secret_env: Option<&str>) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: WebhookUrl::new("https://hooks.example/services/T0/B0/s3cr3t"),
        levels: vec!["breach".into()],
        format,
        secret_env: secret_env.map(Into::into),
    }
}

const LEVELS: &[&str] = &["warning", "breach", "senior", "safeguarding"];

#[test]
fn defaults_write_files_and_pass_the_check() {
    let mail: MailConfig = toml::from_str("").unwrap();
    assert_eq!(mail, MailConfig::default());
    assert_eq!(mail.transport, MailTransport::File);
    assert_eq!(mail.marking, "OFFICIAL-SENSITIVE");
    assert_eq!(mail.file_dir, PathBuf::from("data/outbox"));
    assert_eq!(mail.smtp.port, 587);
    assert_eq!(mail.smtp.tls, SmtpTls::StartTls);
    assert_eq!(mail.smtp.timeout_seconds, 30);
    assert_eq!(
        mail.sender_mailbox().unwrap().email.to_string(),
        "ocset-scheduler@localhost"
    );
    assert!(mail.check().is_empty(), "{:?}", mail.check());
    assert!(LinksConfig::default().check().is_empty());
}

#[test]
fn unknown_keys_are_refused() {
    let err = toml::from_str::<MailConfig>("[smtp]\nhots = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("unknown field `hots`"), "{err}");
    let err = toml::from_str::<WebhookConfig>(
        "name = \"a\"\nurl = \"https://x\"\nlevels = []\nformat = \"teams\"\nsecret = \"x\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `secret`"), "{err}");
}

#[test]
fn a_bad_from_names_mail_from() {
    let mail = MailConfig {
        from: "not an address".into(),
        ..MailConfig::default()
    };
    let faults = mail.check();
    assert_eq!(keys(&faults), ["mail.from"]);
    assert!(
        faults[0].1.contains("\"not an address\""),
        "{}",
        faults[0].1
    );
}

#[test]
fn smtp_needs_a_host_and_a_password_for_its_user() {
    let text = "transport = \"smtp\"\n[smtp]\nusername = \"ocset\"\ntls = \"none\"\nhost = \"relay.force.example\"\n";
    let mail: MailConfig = toml::from_str(text).unwrap();
    assert_eq!(keys(&mail.check()), ["mail.smtp.password", "mail.smtp.tls"]);
    let faults = mail.check();
    assert!(faults[0].1.contains(SMTP_PASSWORD_ENV), "{}", faults[0].1);

    let mail: MailConfig = toml::from_str("transport = \"smtp\"\n").unwrap();
    assert_eq!(keys(&mail.check()), ["mail.smtp.host"]);

    let local = MailConfig {
        transport: MailTransport::Smtp,
        smtp: SmtpConfig {
            host: "127.0.0.1".into(),
            tls: SmtpTls::None,
            username: Some("ocset".into()),
            password: Some("pw".into()),
            ..SmtpConfig::default()
        },
        ..MailConfig::default()
    };
    assert!(local.check().is_empty(), "{:?}", local.check());
}

#[test]
fn the_password_is_serialized_as_stars() {
    let mut mail = MailConfig::default();
    mail.smtp.username = Some("ocset".into());
    mail.smtp.password = Some(SecretString::from("hunter2"));
    let printed = toml::to_string(&mail).unwrap();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("password = \"***\""), "{printed}");
    assert!(!format!("{mail:?}").contains("hunter2"));
    // Unset, it is left out rather than shown as a placeholder.
    let printed = toml::to_string(&MailConfig::default()).unwrap();
    assert!(!printed.contains("password"), "{printed}");
    // The configuration loader reads the password as a plain string
    // from OCSET__MAIL__SMTP__PASSWORD laid over the table.
    let mail: MailConfig = toml::from_str("[smtp]\npassword = \"hunter2\"\n").unwrap();
    assert_eq!(
        mail.smtp.password.as_ref().map(ExposeSecret::expose_secret),
        Some("hunter2")
    );
}

#[test]
fn links_encode_the_reference() {
    let links = LinksConfig {
        package_url: Some("https://case-system.example/packages/{reference}".into()),
    };
    assert_eq!(
        links.package_url("NCA/2024 7#a?b").as_deref(),
        Some("https://case-system.example/packages/NCA%2F2024%207%23a%3Fb")
    );
    assert!(links.check().is_empty());
    assert_eq!(LinksConfig::default().package_url("A"), None);
    let missing = LinksConfig {
        package_url: Some("https://case-system.example/packages/".into()),
    };
    assert_eq!(keys(&missing.check()), ["links.package_url"]);
    let not_web = LinksConfig {
        package_url: Some("javascript:alert('{reference}')".into()),
    };
    assert_eq!(keys(&not_web.check()), ["links.package_url"]);
}

#[test]
fn a_json_webhook_without_secret_env_names_the_key() {
    let faults = check_webhooks(
        &[hook("siem", WebhookFormat::Json, None)],
        LEVELS,
        &env(&[]),
    );
    assert_eq!(keys(&faults), ["webhook[0].secret_env"]);
    let faults = check_webhooks(
        &[hook("siem", WebhookFormat::Json, Some("OCSET_SIEM_SECRET"))],
        LEVELS,
        &env(&[]),
    );
    assert_eq!(keys(&faults), ["webhook[0].secret_env"]);
    assert!(faults[0].1.contains("OCSET_SIEM_SECRET"), "{}", faults[0].1);
    let faults = check_webhooks(
        &[hook("siem", WebhookFormat::Json, Some("OCSET_SIEM_SECRET"))],
        LEVELS,
        &env(&[("OCSET_SIEM_SECRET", "k")]),
    );
    assert!(faults.is_empty(), "{faults:?}");
}

#[test]
fn webhook_faults_name_the_entry() {
    let mut plain_http = hook("teams", WebhookFormat::Teams, None);
    plain_http.url = WebhookUrl::new("http://chat.force.example/hook/s3cr3t");
    let mut bad_level = hook("slack", WebhookFormat::Slack, Some("X"));
    bad_level.levels = vec!["breech".into()];
    let faults = check_webhooks(
        &[
            hook("teams", WebhookFormat::Teams, None),
            plain_http,
            bad_level,
            WebhookConfig {
                url: WebhookUrl::new("not a url"),
                levels: vec![],
                ..hook("", WebhookFormat::Teams, None)
            },
        ],
        LEVELS,
        &env(&[]),
    );
    assert_eq!(
        keys(&faults),
        [
            "webhook[1].name",
            "webhook[1].url",
            "webhook[2].levels",
            "webhook[2].secret_env",
            "webhook[3].name",
            "webhook[3].url",
            "webhook[3].levels",
        ]
    );
    for (_, reason) in &faults {
        assert!(!reason.contains("s3cr3t"), "{reason}");
    }
    let mut local = hook("local", WebhookFormat::Teams, None);
    local.url = WebhookUrl::new("http://127.0.0.1:9000/hook");
    assert!(check_webhooks(&[local], LEVELS, &env(&[])).is_empty());
}

#[test]
fn webhook_urls_never_print_their_path() {
    let hook = hook("teams", WebhookFormat::Teams, None);
    assert_eq!(hook.url.to_string(), "https://hooks.example/***");
    assert!(!format!("{hook:?}").contains("s3cr3t"));
    let printed = toml::to_string(&hook).unwrap();
    assert!(!printed.contains("s3cr3t"), "{printed}");
    assert_eq!(
        WebhookUrl::new("http://127.0.0.1:9000/x").redacted(),
        "http://127.0.0.1:9000/***"
    );
}

#[test]
fn a_ca_file_must_hold_a_certificate_and_a_hello_name_must_be_a_domain() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = |extra: &str| -> MailConfig {
        toml::from_str(&format!(
            "transport = \"smtp\"\n[smtp]\nhost = \"smtp.example-force.police.uk\"\n{extra}"
        ))
        .unwrap()
    };
    let missing = dir.path().join("missing.pem");
    let faults = smtp(&format!("ca_file = {:?}\n", missing.display().to_string())).check();
    assert_eq!(keys(&faults), ["mail.smtp.ca_file"]);
    assert!(faults[0].1.contains("cannot read"), "{}", faults[0].1);

    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let faults = smtp(&format!("ca_file = {:?}\n", not_pem.display().to_string())).check();
    assert_eq!(keys(&faults), ["mail.smtp.ca_file"]);
    assert!(
        faults[0].1.contains("no PEM certificate"),
        "{}",
        faults[0].1
    );

    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let faults = smtp(&format!("ca_file = {:?}\n", broken.display().to_string())).check();
    assert_eq!(keys(&faults), ["mail.smtp.ca_file"]);

    for bad in ["ocset scheduler", "-ocset.force", "ocset..force", ""] {
        let faults = smtp(&format!("hello_name = {bad:?}\n")).check();
        assert_eq!(keys(&faults), ["mail.smtp.hello_name"], "{bad:?}");
    }
    let good = smtp("hello_name = \"ocset-scheduler.example-force.police.uk\"\n");
    assert!(good.check().is_empty(), "{:?}", good.check());
}
