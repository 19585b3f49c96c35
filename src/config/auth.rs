//! `[auth]` and `[auth.oidc]`: checked into [`OidcSettings`], the single
//! sign-on settings the `oidc` module works from. Whether the issuer can be
//! reached and fits is not checked here (loading reads no network):
//! `check-config` asks the issuer itself.

use super::check::Faults;
use super::Config;
use crate::domain::Role;
use secrecy::SecretString;
use std::collections::BTreeMap;

/// Single sign-on, checked: every value present and well formed, the client
/// secret read from its environment variable, the roles parsed.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer, exactly as the discovery document and tokens must name it.
    pub issuer: String,
    /// The service's client id.
    pub client_id: String,
    /// The client secret, from the variable `client_secret_env` names.
    pub client_secret: SecretString,
    /// The scopes asked for at sign-in, `openid` among them.
    pub scopes: Vec<String>,
    /// The ID token's claim that maps to roles.
    pub role_claim: String,
    /// The API access tokens' claim that maps to roles.
    pub api_role_claim: String,
    /// The audience API access tokens must be for.
    pub api_audience: String,
    /// What the sign-in button calls the provider.
    pub display_name: String,
    /// Claim values to roles.
    pub roles: BTreeMap<String, Role>,
    /// Where the issuer sends people back to: `<public_url>/sign-in/oidc/callback`.
    pub redirect_uri: String,
    /// Where the issuer sends people after signing out there: the sign-in page.
    pub post_logout_uri: String,
}

/// The path of the dashboard's callback, under `http.public_url`.
pub const CALLBACK_PATH: &str = "/sign-in/oidc/callback";

/// Whether `url`'s host is this machine (where plain HTTP is tolerable: a
/// trial, or the tests' provider).
fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or_default();
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Checks `[auth]`: the OIDC settings when `[auth.oidc]` is given. `env`
/// reads the client secret's variable.
pub(super) fn auth(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    faults: &mut Faults,
) -> Option<OidcSettings> {
    let Some(oidc) = &config.auth.oidc else {
        if !config.auth.token_sign_in {
            faults.add(
                "auth.token_sign_in",
                "is false but [auth.oidc] is not configured: nobody could sign in to the dashboard"
                    .into(),
            );
        }
        return None;
    };
    let before = faults.count();
    let issuer = oidc.issuer.trim();
    if issuer.is_empty() {
        faults.add(
            "auth.oidc.issuer",
            "is required: the issuer's address, such as https://login.microsoftonline.com/<tenant>/v2.0".into(),
        );
    } else if !(issuer.starts_with("https://") || is_loopback(issuer))
        || issuer.contains(char::is_whitespace)
        || issuer.contains(['?', '#'])
    {
        faults.add(
            "auth.oidc.issuer",
            format!("{issuer:?} must be an https:// address with no query or fragment (http:// only on this machine, for a trial)"),
        );
    }
    if oidc.client_id.trim().is_empty() {
        faults.add(
            "auth.oidc.client_id",
            "is required: the service's client (application) id at the issuer".into(),
        );
    }
    let secret = if oidc.client_secret_env.trim().is_empty() {
        faults.add(
            "auth.oidc.client_secret_env",
            "is required: the name of the environment variable that holds the client secret".into(),
        );
        None
    } else {
        match env(&oidc.client_secret_env).filter(|v| !v.is_empty()) {
            Some(secret) => Some(SecretString::from(secret)),
            None => {
                faults.add(
                    "auth.oidc.client_secret_env",
                    format!(
                        "the environment variable {} is not set (it holds the client secret)",
                        oidc.client_secret_env
                    ),
                );
                None
            }
        }
    };
    if !oidc.scopes.iter().any(|s| s == "openid") {
        faults.add(
            "auth.oidc.scopes",
            "must include \"openid\" (without it there is no ID token)".into(),
        );
    }
    if let Some(bad) = oidc
        .scopes
        .iter()
        .find(|s| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"'))
    {
        faults.add("auth.oidc.scopes", format!("{bad:?} is not a scope"));
    }
    let claim_ok = |claim: &str| !claim.trim().is_empty() && !claim.contains(char::is_whitespace);
    if !claim_ok(&oidc.role_claim) {
        faults.add(
            "auth.oidc.role_claim",
            format!(
                "{:?} is not a claim name (such as groups or roles)",
                oidc.role_claim
            ),
        );
    }
    if let Some(claim) = oidc.api_role_claim.as_deref().filter(|c| !claim_ok(c)) {
        faults.add(
            "auth.oidc.api_role_claim",
            format!("{claim:?} is not a claim name (such as roles)"),
        );
    }
    if oidc
        .api_audience
        .as_deref()
        .is_some_and(|a| a.trim().is_empty())
    {
        faults.add(
            "auth.oidc.api_audience",
            "is empty; leave it out to use client_id".into(),
        );
    }
    let mut roles = BTreeMap::new();
    if oidc.roles.is_empty() {
        faults.add(
            "auth.oidc.roles",
            "maps no claim value to a role: nobody could sign in (add \"ocset-sergeants\" = \"supervisor\", ...)".into(),
        );
    }
    for (value, role) in &oidc.roles {
        match role.parse::<Role>() {
            Ok(role) => {
                roles.insert(value.clone(), role);
            }
            Err(e) => faults.add(&format!("auth.oidc.roles.{value}"), e.to_string()),
        }
    }
    let public_url = config
        .http
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'));
    if public_url.is_none() {
        faults.add(
            "auth.oidc",
            "needs http.public_url: the issuer sends people back to <public_url>/sign-in/oidc/callback".into(),
        );
    }
    if faults.count() > before {
        return None;
    }
    let public_url = public_url?;
    Some(OidcSettings {
        issuer: issuer.to_string(),
        client_id: oidc.client_id.trim().to_string(),
        client_secret: secret?,
        scopes: oidc.scopes.clone(),
        role_claim: oidc.role_claim.clone(),
        api_role_claim: oidc
            .api_role_claim
            .clone()
            .unwrap_or_else(|| oidc.role_claim.clone()),
        api_audience: oidc
            .api_audience
            .clone()
            .unwrap_or_else(|| oidc.client_id.trim().to_string()),
        display_name: oidc
            .display_name
            .clone()
            .unwrap_or_else(|| config.force.name.clone()),
        roles,
        redirect_uri: format!("{public_url}{CALLBACK_PATH}"),
        post_logout_uri: format!("{public_url}/sign-in"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::load_str;
    use super::super::test_support::{env, with_groups};
    use super::*;
    use secrecy::ExposeSecret;

    const GOOD: &str = r#"
[http]
public_url = "https://ocset.force.example/"
[auth.oidc]
issuer = "https://login.force.example/tenant/v2.0"
client_id = "ocset"
client_secret_env = "OIDC_SECRET"
role_claim = "roles"
[auth.oidc.roles]
"ocset-sergeants" = "supervisor"
"ocset-analysts" = "Viewer"
"#;

    #[test]
    fn a_good_section_is_checked_into_settings() {
        let settings = load_str(
            &with_groups(GOOD),
            "f.toml",
            env(&[("OIDC_SECRET", "s3cret")]),
        )
        .unwrap();
        let oidc = settings.oidc().unwrap();
        assert_eq!(oidc.issuer, "https://login.force.example/tenant/v2.0");
        assert_eq!(oidc.client_secret.expose_secret(), "s3cret");
        assert_eq!(oidc.roles["ocset-sergeants"], Role::Supervisor);
        assert_eq!(oidc.roles["ocset-analysts"], Role::Viewer);
        assert_eq!(oidc.api_audience, "ocset");
        assert_eq!(oidc.api_role_claim, "roles");
        assert_eq!(oidc.display_name, "Example Police");
        assert_eq!(
            oidc.redirect_uri,
            "https://ocset.force.example/sign-in/oidc/callback"
        );
        assert!(settings.token_sign_in());
        let printed = toml::to_string(&settings.config).unwrap();
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    #[test]
    fn faults_name_the_field() {
        let text = r#"
[auth]
token_sign_in = false
[auth.oidc]
issuer = "http://login.force.example"
client_secret_env = "MISSING"
scopes = ["email"]
[auth.oidc.roles]
"ocset-sergeants" = "sergeant"
"#;
        let err = load_str(&with_groups(text), "f.toml", env(&[])).unwrap_err();
        let keys: Vec<&str> = err.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "auth.oidc.issuer",
                "auth.oidc.client_id",
                "auth.oidc.client_secret_env",
                "auth.oidc.scopes",
                "auth.oidc.roles.ocset-sergeants",
                "auth.oidc"
            ],
            "{err:?}"
        );
        assert!(err[2].reason.contains("MISSING is not set"), "{err:?}");
        assert!(
            err[4].reason.contains("\"sergeant\" is not a role"),
            "{err:?}"
        );
        let err = load_str(
            &with_groups("[auth]\ntoken_sign_in = false\n"),
            "f.toml",
            env(&[]),
        )
        .unwrap_err();
        assert_eq!(err[0].key, "auth.token_sign_in");
    }

    #[test]
    fn plain_http_is_only_for_this_machine() {
        assert!(is_loopback("http://127.0.0.1:4000"));
        assert!(is_loopback("http://localhost/x"));
        assert!(!is_loopback("http://login.force.example"));
        assert!(!is_loopback("http://127.0.0.1.evil.example"));
        assert!(!is_loopback("https://127.0.0.1"));
    }
}
