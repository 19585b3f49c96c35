//! `check-config`, `migrate` and `serve`, and what the binary needs to run
//! the service: the stop signal, logging.

use super::{io, open_app, CliError};
use crate::clock::Clock;
use crate::config::{self, Settings};
use crate::service::{notifier, Service};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;

/// `check-config`: prints the effective configuration (passwords hidden),
/// the production concerns as warnings, and the deadline policy version.
/// With `production`, the concerns are a refusal. With `[auth.oidc]`, the
/// issuer's discovery document is read and checked: an issuer that cannot
/// be reached or does not fit is an error.
pub(super) async fn check_config(
    settings: &Settings,
    production: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let text = toml::to_string(&settings.config).map_err(|e| CliError::Other(e.into()))?;
    writeln!(out, "# effective configuration (passwords hidden)\n{text}").map_err(io)?;
    let concerns = settings.concerns();
    if production && !concerns.is_empty() {
        return Err(CliError::NotForProduction(concerns.to_vec()));
    }
    for concern in concerns {
        writeln!(out, "# warning: {concern}").map_err(io)?;
        eprintln!("warning: {concern}");
    }
    if let Some(oidc) = settings.oidc() {
        let endpoints = crate::oidc::discover(&crate::oidc::http_client(), &oidc.issuer).await?;
        writeln!(
            out,
            "# issuer {} answers: sign-in at {}, keys at {}, sign-out there {}",
            oidc.issuer,
            endpoints.authorization,
            endpoints.jwks,
            endpoints
                .end_session
                .as_deref()
                .map_or("not offered".to_string(), |e| format!("at {e}"))
        )
        .map_err(io)?;
    }
    writeln!(
        out,
        "# {} is valid; deadline policy version {}",
        settings.path.display(),
        settings.policy.version()
    )
    .map_err(io)?;
    Ok(())
}

/// `migrate`: applies the migrations (opening the app does) and says
/// which database it migrated, with its password redacted.
pub(super) async fn migrate(
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let url = settings.config.database.url.clone();
    open_app(settings, clock).await?;
    writeln!(out, "migrations applied to {url}").map_err(io)?;
    Ok(())
}

/// `serve`: runs the service until `shutdown`.
pub(super) async fn serve(
    settings: Settings,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    // /metrics' process_start_time_seconds: before the migrations, which
    // may wait on another replica's.
    crate::http::process::note_start();
    let url = settings.config.database.url.clone();
    let bind = settings.config.http.bind.clone();
    let concerns = settings.concerns().to_vec();
    let app = open_app(settings, clock).await?;
    let notifier = notifier(&app.settings_arc()).map_err(CliError::Other)?;
    let service = Service::build(app, Arc::new(notifier), &bind)
        .await
        .map_err(|e| {
            CliError::Other(
                anyhow::Error::new(e).context(format!("binding the HTTP API to {bind}")),
            )
        })?;
    for concern in &concerns {
        tracing::warn!(
            key = %concern.key,
            source = %concern.source_name,
            "not fit for production: {}",
            concern.reason
        );
    }
    tracing::info!(
        database = %url,
        api = %format!("http://{}", service.address()),
        dashboard = %format!("http://{}/", service.address()),
        "ocset-scheduler is running; stop it with SIGTERM or Ctrl-C"
    );
    service.run_until(shutdown).await.map_err(CliError::Other)?;
    tracing::info!("ocset-scheduler stopped cleanly");
    Ok(())
}

/// Runs `main` (the binary's whole work) on a new multi-threaded Tokio
/// runtime, then shuts the runtime down without waiting for the blocking
/// pool. Every command awaits what it must finish before `main` completes
/// (`serve` gives its parts 20 s, `service::STOP_WITHIN`); what may be
/// left on the blocking pool then is abandoned work, such as a digest
/// render cut short by a stop, which queues nothing and is redone at the
/// next start. Dropping a runtime waits for blocking work however long it
/// takes, which once kept a stopped service running for minutes after
/// SIGTERM, until SIGKILL.
pub fn block_on<F: Future>(main: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let output = runtime.block_on(main);
    runtime.shutdown_background();
    Ok(output)
}

/// A future that completes on SIGTERM or Ctrl-C. The handlers are installed
/// when this is called, not when the future is first polled, so a signal that
/// arrives while the service is still starting is not lost (without a
/// handler, SIGTERM would kill the process instead of stopping it cleanly).
/// Must be called inside the Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => tracing::info!("SIGTERM received; stopping"),
                        _ = interrupt.recv() => tracing::info!("Ctrl-C received; stopping"),
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM or Ctrl-C; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received; stopping");
        } else {
            std::future::pending::<()>().await;
        }
    }
}

/// Starts logging as `[log]` says. Logs go to standard error, so standard
/// output stays clean for `list --json`.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match settings.config.log.format {
        // One object per line; the event's fields at the top level beside
        // timestamp, level, target and message, and the span it happened
        // in (a request's method, route and id) under "span". README "Logs"
        // lists the names: they are a contract with the force's log search.
        config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn the_process_does_not_wait_for_abandoned_blocking_work() {
        // A render left on the blocking pool, held until `release` drops.
        let (release, held) = mpsc::channel::<()>();
        let (returned, has_returned) = mpsc::channel();
        let main = std::thread::spawn(move || {
            block_on(async move {
                drop(tokio::task::spawn_blocking(move || {
                    let _ = held.recv();
                }));
            })
            .unwrap();
            let _ = returned.send(());
        });
        // A bound on failure, not a sleep: it returns at once when right.
        let outcome = has_returned.recv_timeout(Duration::from_secs(10));
        drop(release);
        main.join().unwrap();
        assert!(
            outcome.is_ok(),
            "block_on waited for blocking work it had abandoned"
        );
    }
}
