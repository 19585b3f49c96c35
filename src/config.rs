//! Configuration (placeholder while the loader is written).

/// Hides the password in a database URL so it can be logged or printed.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/...: keep the user, hide the password.
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}
