//! `healthcheck`: asks a running service whether it is ready, for a
//! container's `HEALTHCHECK` (the runtime image has no curl or wget): a GET
//! of `/readyz`, exit status 0 when it answers 200 and 1 otherwise, with
//! the reason on standard error.

use super::{io, CliError};
use crate::config::Settings;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// `healthcheck`: GETs `url`, or `/readyz` at `http.bind` asked on
/// loopback, within `timeout`; `Ok` only for a 200.
pub(super) async fn healthcheck(
    url: Option<String>,
    timeout: Duration,
    settings: &Settings,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let url = url.unwrap_or_else(|| readyz_url(&settings.config.http.bind));
    // No proxy: an HTTP_PROXY set for the service's own requests (webhooks)
    // must not send a loopback probe through the proxy.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|e| CliError::Other(anyhow::Error::new(e).context("building the HTTP client")))?;
    let answer = client
        .get(&url)
        .send()
        .await
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot reach {url}: {}", cause(&e))))?;
    let status = answer.status();
    if status.is_success() {
        writeln!(out, "ready: {url} answered {status}").map_err(io)?;
        return Ok(());
    }
    // /readyz says why in a small JSON body; cut anything longer.
    let body = answer.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(300).collect();
    Err(CliError::Other(anyhow::anyhow!(
        "not ready: {url} answered {status}: {body}"
    )))
}

/// `/readyz` at `bind`, the address the service listens on. A wildcard
/// address (`0.0.0.0`, `[::]`, as in a container) is asked on loopback, the
/// same address family; a name or a specific address as it is.
pub(crate) fn readyz_url(bind: &str) -> String {
    let host = match bind.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
        Ok(SocketAddr::V6(a)) if a.ip().is_unspecified() => format!("[::1]:{}", a.port()),
        _ => bind.to_string(),
    };
    format!("http://{host}/readyz")
}

/// The innermost cause of a failed request ("Connection refused"), which
/// reqwest's own text ("error sending request") leaves out.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::clock::{Clock, ManualClock};
    use crate::config::{load_str, TEST_CONFIG};
    use crate::http::ApiServer;
    use std::sync::Arc;

    const WITHIN: Duration = Duration::from_secs(10);

    /// The API over a SQLite file in `dir` on a free loopback port, migrated
    /// or not; its `/readyz` URL and the sender that stops it.
    async fn server(
        dir: &std::path::Path,
        migrated: bool,
    ) -> (String, tokio::sync::oneshot::Sender<()>) {
        let url = format!("sqlite://{}", dir.join("ocset.db").display());
        let store = crate::store::connect(&url, 2).await.unwrap();
        if migrated {
            store.migrate().await.unwrap();
        }
        let settings = Arc::new(load_str(TEST_CONFIG, "test.toml", Vec::new()).unwrap());
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::new("2024-01-08T09:00:00Z".parse().unwrap()));
        let api = ApiServer::build(App::new(store, settings, clock), "127.0.0.1:0")
            .await
            .unwrap();
        let readyz = format!("http://127.0.0.1:{}/readyz", api.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api.run_until(async {
            let _ = stopped.await;
        }));
        (readyz, stop)
    }

    fn settings() -> Settings {
        load_str(TEST_CONFIG, "test.toml", Vec::new()).unwrap()
    }

    #[tokio::test]
    async fn a_ready_service_passes_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let (readyz, _stop) = server(dir.path(), true).await;
        let mut out = Vec::new();
        healthcheck(Some(readyz.clone()), WITHIN, &settings(), &mut out)
            .await
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.trim(), format!("ready: {readyz} answered 200 OK"));
    }

    #[tokio::test]
    async fn a_service_that_is_not_ready_fails_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        // Not migrated: /readyz answers 503, the migrations not applied.
        let (readyz, _stop) = server(dir.path(), false).await;
        let mut out = Vec::new();
        let err = healthcheck(Some(readyz.clone()), WITHIN, &settings(), &mut out)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("not ready: {readyz} answered 503")),
            "{err}"
        );
        assert!(err.contains("migrations are not all applied"), "{err}");
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn nothing_listening_fails_naming_the_address() {
        // A port that was free a moment ago: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let readyz = format!("http://127.0.0.1:{port}/readyz");
        let err = healthcheck(Some(readyz.clone()), WITHIN, &settings(), &mut Vec::new())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("cannot reach {readyz}: ")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn by_default_it_asks_the_configured_bind_address() {
        let dir = tempfile::tempdir().unwrap();
        let (readyz, _stop) = server(dir.path(), true).await;
        let port = readyz
            .split(':')
            .nth(2)
            .unwrap()
            .trim_end_matches("/readyz");
        let settings = load_str(
            TEST_CONFIG,
            "test.toml",
            vec![("OCSET__HTTP__BIND".into(), format!("0.0.0.0:{port}"))],
        )
        .unwrap();
        let mut out = Vec::new();
        healthcheck(None, WITHIN, &settings, &mut out)
            .await
            .unwrap();
        assert!(String::from_utf8(out).unwrap().contains(&readyz));
    }

    #[test]
    fn a_wildcard_bind_is_asked_on_loopback_and_anything_else_as_it_is() {
        assert_eq!(readyz_url("0.0.0.0:8080"), "http://127.0.0.1:8080/readyz");
        assert_eq!(readyz_url("[::]:8080"), "http://[::1]:8080/readyz");
        assert_eq!(readyz_url("127.0.0.1:9000"), "http://127.0.0.1:9000/readyz");
        assert_eq!(readyz_url("10.1.2.3:80"), "http://10.1.2.3:80/readyz");
        assert_eq!(readyz_url("localhost:8080"), "http://localhost:8080/readyz");
    }
}
