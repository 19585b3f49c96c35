//! What a valid configuration may do that a force's production service must
//! not: email nobody, email made-up addresses, serve plain HTTP to the
//! network, keep a password in a file. `check-config` prints these as
//! warnings and `serve` logs them at start; `check-config --production`
//! refuses the configuration while any remains, so an install can make it
//! a gate (the systemd unit's `ExecStartPre`, a deployment pipeline).

use super::check::Faults;
use super::Config;
use crate::notify::config::{is_loopback_host, MailTransport, SmtpTls};

/// Adds every production concern about `config` to `concerns`.
pub(super) fn concerns(config: &Config, concerns: &mut Faults) {
    mail(config, concerns);
    recipients(config, concerns);
    http(config, concerns);
    secrets_in_the_file(config, concerns);
    if let Some(oidc) = &config.auth.oidc {
        if oidc.issuer.trim().starts_with("http://") {
            concerns.add(
                "auth.oidc.issuer",
                "is plain http://: sign-in and its keys would cross the network unprotected; use the issuer's https:// address".into(),
            );
        }
    }
}

/// Mail that reaches nobody, or crosses the network in clear.
fn mail(config: &Config, concerns: &mut Faults) {
    let mail = &config.mail;
    match mail.transport {
        MailTransport::File => concerns.add(
            "mail.transport",
            format!(
                "is \"file\": every message is written as an .eml file under {} and nobody is emailed; set mail.transport = \"smtp\" and [mail.smtp] to email people",
                mail.file_dir.display()
            ),
        ),
        MailTransport::Smtp => {
            if mail.smtp.tls == SmtpTls::None && !is_loopback_host(&mail.smtp.host) {
                concerns.add(
                    "mail.smtp.tls",
                    format!(
                        "is \"none\" for {}, another host: messages about packages would cross the network in clear; use starttls",
                        mail.smtp.host
                    ),
                );
            }
        }
    }
    if let Ok(from) = mail.sender_mailbox() {
        if is_reserved_domain(from.email.domain()) {
            concerns.add("mail.from", reserved(from.email.as_ref()));
        }
    }
    if config.links.package_url.is_none() && config.http.public_url.is_none() {
        concerns.add(
            "links.package_url",
            "is unset, and so is http.public_url: emails name packages but link to nothing; set one so a sergeant can open the package from the email".into(),
        );
    }
}

/// Recipients at reserved example domains (RFC 2606, RFC 6761): the
/// shipped examples' addresses, left in by mistake.
fn recipients(config: &Config, concerns: &mut Faults) {
    for (name, group) in &config.recipients {
        let lists = std::iter::once((format!("recipients.{name}.default"), &group.default)).chain(
            group
                .by_lpa
                .iter()
                .map(|(lpa, list)| (format!("recipients.{name}.by_lpa.{lpa}"), list)),
        );
        for (key, list) in lists {
            if let Some(address) = list.iter().find(|a| {
                a.rsplit_once('@')
                    .is_some_and(|(_, domain)| is_reserved_domain(domain))
            }) {
                concerns.add(&key, reserved(address));
            }
        }
    }
}

fn reserved(address: &str) -> String {
    format!(
        "{address:?} is at a reserved example domain, so nobody receives it; give the real address"
    )
}

/// True for the domains reserved for examples and tests: `example`,
/// `test`, `invalid` and `localhost` and their subdomains, and
/// example.com, .net and .org.
fn is_reserved_domain(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let tld = domain.rsplit('.').next().unwrap_or_default();
    matches!(tld, "example" | "test" | "invalid" | "localhost")
        || ["example.com", "example.net", "example.org"]
            .iter()
            .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

/// The API and dashboard served in plain HTTP beyond this host.
fn http(config: &Config, concerns: &mut Faults) {
    let http = &config.http;
    let beyond_loopback = http
        .bind
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|address| !address.ip().is_loopback());
    if beyond_loopback && !http.behind_tls_proxy {
        concerns.add(
            "http.bind",
            format!(
                "{} listens beyond this host in plain HTTP, so tokens and case data would cross the network in clear; put a TLS-terminating proxy in front and say so with http.behind_tls_proxy = true",
                http.bind
            ),
        );
    }
    if let Some(url) = &http.public_url {
        let plain = url
            .strip_prefix("http://")
            .map(|rest| rest.split(['/', ':']).next().unwrap_or_default());
        if plain.is_some_and(|host| !is_loopback_host(host)) {
            concerns.add(
                "http.public_url",
                format!("{url} is plain HTTP: people would sign in and read packages in clear; give the proxy's https:// address"),
            );
        }
    }
}

/// Passwords written into the configuration file rather than given by the
/// environment (or a `_FILE` secret), where a copy of the file, a backup or
/// a support ticket would carry them.
fn secrets_in_the_file(config: &Config, concerns: &mut Faults) {
    if config.database.url.has_password() && !concerns.set_by_environment("database.url") {
        concerns.add(
            "database.url",
            "holds a password in the configuration file; give the URL as OCSET__DATABASE__URL (or OCSET__DATABASE__URL_FILE) instead".into(),
        );
    }
    if config.mail.smtp.password.is_some() && !concerns.set_by_environment("mail.smtp.password") {
        concerns.add(
            "mail.smtp.password",
            "is written in the configuration file; give it as OCSET__MAIL__SMTP__PASSWORD (or OCSET__MAIL__SMTP__PASSWORD_FILE) instead".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{env, with_groups};
    use super::super::{load_str, ConfigError};
    use super::is_reserved_domain;

    /// The production example's settings without the file's links and
    /// mail, so each test adds only what it is about.
    const FIT: &str = r#"
[mail]
transport = "smtp"
from = "OCSET Scheduler <ocset@example-force.police.uk>"
[mail.smtp]
host = "smtp.example-force.police.uk"
[links]
package_url = "https://case.example-force.police.uk/p/{reference}"
[recipients.ocset_sergeants]
default = ["sgts@example-force.police.uk"]
[recipients.ocset_inspector]
default = ["insp@example-force.police.uk"]
[recipients.ppu_slt]
default = ["slt@example-force.police.uk"]
"#;

    fn concerns(text: &str, vars: &[(&str, &str)]) -> Vec<ConfigError> {
        load_str(text, "ocset.toml", env(vars))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .concerns()
            .to_vec()
    }

    fn keys(concerns: &[ConfigError]) -> Vec<&str> {
        concerns.iter().map(|c| c.key.as_str()).collect()
    }

    #[test]
    fn a_fit_configuration_has_no_concerns() {
        assert_eq!(keys(&concerns(FIT, &[])), Vec::<&str>::new());
    }

    #[test]
    fn the_shipped_defaults_mail_files_at_example_addresses_and_link_nowhere() {
        let found = concerns(&with_groups(""), &[]);
        assert_eq!(
            keys(&found),
            [
                "mail.transport",
                "mail.from",
                "links.package_url",
                "recipients.ocset_inspector.default",
                "recipients.ocset_sergeants.default",
                "recipients.ppu_slt.default",
            ]
        );
        assert!(found[0].reason.contains("nobody is emailed"), "{found:?}");
        assert_eq!(found[0].source_name, "ocset.toml");
        assert!(found[3].reason.contains("insp@force.example"), "{found:?}");
    }

    #[test]
    fn an_example_address_in_an_lpa_list_is_named_by_its_key() {
        let text = format!(
            "{FIT}[recipients.ocset_sergeants.by_lpa]\nCoventry = [\"cov@example-force.police.uk\", \"x@cov.example.com\"]\n"
        );
        let found = concerns(&text, &[]);
        assert_eq!(keys(&found), ["recipients.ocset_sergeants.by_lpa.Coventry"]);
        assert!(found[0].reason.contains("x@cov.example.com"));
    }

    #[test]
    fn plain_http_beyond_this_host_needs_a_tls_proxy_noted() {
        let open = [("OCSET__HTTP__BIND", "0.0.0.0:8080")];
        let found = concerns(FIT, &open);
        assert_eq!(keys(&found), ["http.bind"]);
        assert_eq!(
            found[0].source_name,
            "environment variable OCSET__HTTP__BIND"
        );
        let proxied = [
            ("OCSET__HTTP__BIND", "0.0.0.0:8080"),
            ("OCSET__HTTP__BEHIND_TLS_PROXY", "true"),
        ];
        assert!(concerns(FIT, &proxied).is_empty());
        let plain_url = [(
            "OCSET__HTTP__PUBLIC_URL",
            "http://ocset.example-force.police.uk",
        )];
        assert_eq!(keys(&concerns(FIT, &plain_url)), ["http.public_url"]);
        let local_url = [("OCSET__HTTP__PUBLIC_URL", "http://127.0.0.1:8080")];
        assert!(concerns(FIT, &local_url).is_empty());
    }

    #[test]
    fn passwords_belong_in_the_environment_not_the_file() {
        let in_file = format!("{FIT}[database]\nurl = \"postgres://ocset:hunter2@db/ocset\"\n");
        let found = concerns(&in_file, &[]);
        assert_eq!(keys(&found), ["database.url"]);
        assert!(!found[0].reason.contains("hunter2"));
        let from_env = [("OCSET__DATABASE__URL", "postgres://ocset:hunter2@db/ocset")];
        assert!(concerns(FIT, &from_env).is_empty());

        let smtp_in_file = FIT.replace(
            "[mail.smtp]\n",
            "[mail.smtp]\nusername = \"ocset\"\npassword = \"relay-pw\"\n",
        );
        assert_eq!(keys(&concerns(&smtp_in_file, &[])), ["mail.smtp.password"]);
        let smtp_from_env = FIT.replace("[mail.smtp]\n", "[mail.smtp]\nusername = \"ocset\"\n");
        assert!(concerns(&smtp_from_env, &[("OCSET__MAIL__SMTP__PASSWORD", "pw")]).is_empty());
    }

    #[test]
    fn smtp_in_clear_to_another_host_is_a_concern() {
        let clear = [("OCSET__MAIL__SMTP__TLS", "none")];
        assert_eq!(keys(&concerns(FIT, &clear)), ["mail.smtp.tls"]);
        let local = [
            ("OCSET__MAIL__SMTP__TLS", "none"),
            ("OCSET__MAIL__SMTP__HOST", "localhost"),
        ];
        assert!(concerns(FIT, &local).is_empty());
    }

    #[test]
    fn replicas_need_postgresql() {
        let two = [("OCSET__DATABASE__REPLICAS", "2")];
        let errors = load_str(FIT, "ocset.toml", env(&two)).unwrap_err();
        assert_eq!(keys(&errors), ["database.replicas"]);
        assert!(
            errors[0].reason.contains("replicas need PostgreSQL"),
            "{errors:?}"
        );
        let none = [("OCSET__DATABASE__REPLICAS", "0")];
        let errors = load_str(FIT, "ocset.toml", env(&none)).unwrap_err();
        assert_eq!(keys(&errors), ["database.replicas"]);
        let on_postgres = [
            ("OCSET__DATABASE__REPLICAS", "3"),
            ("OCSET__DATABASE__URL", "postgres://ocset@db/ocset"),
        ];
        assert!(concerns(FIT, &on_postgres).is_empty());
    }

    #[test]
    fn reserved_domains_are_the_rfc_ones() {
        for domain in [
            "force.example",
            "EXAMPLE.COM",
            "mail.example.org",
            "example.net.",
            "x.test",
            "host.invalid",
            "localhost",
        ] {
            assert!(is_reserved_domain(domain), "{domain}");
        }
        for domain in [
            "west-midlands.police.uk",
            "example-force.police.uk",
            "notexample.com",
            "examples",
        ] {
            assert!(!is_reserved_domain(domain), "{domain}");
        }
    }
}
