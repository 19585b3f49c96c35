//! Unauthenticated operational endpoints: liveness, readiness, metrics and
//! the OpenAPI document. None of them reveals a reference or a name.

use super::metrics::family;
use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use std::fmt::Write;

/// A health answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`, `ready` or `not_ready`.
    pub(crate) status: &'static str,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        reason: None,
    })
}

/// Readiness: the database answers and every migration is applied. A 503
/// carries `Retry-After` like the API's other 503s, so a load balancer or
/// client backs off the same way whichever endpoint said "not now".
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health),
        (status = 503, body = Health, headers(("Retry-After" = u32, description = "seconds to wait before asking again")))))]
pub(crate) async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    let Err(not_ready) = readiness(&state).await else {
        return Json(Health {
            status: "ready",
            reason: None,
        })
        .into_response();
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(
            header::RETRY_AFTER,
            super::error::RETRY_AFTER_SECONDS.to_string(),
        )],
        Json(Health {
            status: "not_ready",
            reason: Some(not_ready),
        }),
    )
        .into_response()
}

/// Whether this instance is ready, or why not: what `/readyz` answers and
/// `/metrics` shows as `ocset_ready`.
async fn readiness(state: &AppState) -> Result<(), String> {
    match state.app.is_ready().await {
        // The database answers reads; but while the scheduler's passes
        // fail, writes do (a full disk answers reads): not ready.
        Ok(true) => match state.app.pass_health().figures() {
            crate::scheduler::PassHealthFigures {
                failing: true,
                last_failure,
            } => Err(format!(
                "the scheduler's passes are failing ({}): the database refuses writes",
                last_failure.map_or("other", |(_, kind)| kind)
            )),
            _ => Ok(()),
        },
        Ok(false) => Err("the database migrations are not all applied".into()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err("the database is not answering".into())
        }
    }
}

/// `ocset_ledger_up`'s help text, the same whether the ledger was read.
const LEDGER_UP_HELP: &str = "1 when the ledger could be read for these metrics.";

/// Prometheus metrics in text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    match state.app.position(None).await {
        Ok(position) => {
            family(
                &mut out,
                "ocset_open_packages",
                "gauge",
                "Open packages by grade and stage.",
            );
            for (stage, grades) in &position.by_stage_and_grade {
                for (grade, figures) in grades {
                    let _ = writeln!(
                        out,
                        "ocset_open_packages{{grade=\"{grade}\",stage=\"{stage}\"}} {}",
                        figures.open
                    );
                }
            }
            family(
                &mut out,
                "ocset_breached_packages",
                "gauge",
                "Open packages at or past their deadline, by grade.",
            );
            for (grade, figures) in &position.by_grade {
                let _ = writeln!(
                    out,
                    "ocset_breached_packages{{grade=\"{grade}\"}} {}",
                    figures.breached
                );
            }
            family(
                &mut out,
                "ocset_breached_packages_total_open",
                "gauge",
                "All open packages at or past their deadline.",
            );
            let _ = writeln!(
                out,
                "ocset_breached_packages_total_open {}",
                position.breached
            );
            family(&mut out, "ocset_ledger_up", "gauge", LEDGER_UP_HELP);
            out.push_str("ocset_ledger_up 1\n");
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics could not read the ledger");
            family(&mut out, "ocset_ledger_up", "gauge", LEDGER_UP_HELP);
            out.push_str("ocset_ledger_up 0\n");
        }
    }
    match state.app.delivery_stats().await {
        Ok(stats) => {
            family(
                &mut out,
                "ocset_notifications",
                "gauge",
                "Outbox messages by status.",
            );
            for (status, n) in [
                ("pending", stats.pending),
                ("sending", stats.sending),
                ("sent", stats.sent),
                ("dead", stats.dead),
            ] {
                let _ = writeln!(out, "ocset_notifications{{status=\"{status}\"}} {n}");
            }
            family(
                &mut out,
                "ocset_notification_retries_total",
                "counter",
                "Failed delivery attempts that were retried.",
            );
            let _ = writeln!(out, "ocset_notification_retries_total {}", stats.retries);
            family(
                &mut out,
                "ocset_notifications_oldest_undelivered_age_seconds",
                "gauge",
                "How long the oldest message neither delivered nor dead has waited (0 when none).",
            );
            let age = stats
                .oldest_undelivered_at
                .map_or(0, |at| (state.app.now() - at).num_seconds().max(0));
            let _ = writeln!(
                out,
                "ocset_notifications_oldest_undelivered_age_seconds {age}"
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics could not read the outbox"),
    }
    match state.app.quarantine_counts().await {
        Ok(counts) => {
            family(
                &mut out,
                "ocset_quarantined_rows",
                "gauge",
                "Rows set aside because they cannot be read (every pass skips them), by kind.",
            );
            for (kind, n) in [("package", counts.packages), ("message", counts.messages)] {
                let _ = writeln!(out, "ocset_quarantined_rows{{kind=\"{kind}\"}} {n}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics could not count the rows set aside"),
    }
    if let Ok(figures) = state.app.scheduler_figures().await {
        family(
            &mut out,
            "ocset_scheduler_lag_seconds",
            "gauge",
            "How long the oldest due work has waited.",
        );
        let _ = writeln!(out, "ocset_scheduler_lag_seconds {}", figures.lag_seconds);
        if let Some(at) = figures.last_pass_at {
            family(
                &mut out,
                "ocset_scheduler_last_pass_timestamp_seconds",
                "gauge",
                "When the scheduler last ran a pass.",
            );
            let _ = writeln!(
                out,
                "ocset_scheduler_last_pass_timestamp_seconds {}",
                at.timestamp()
            );
        }
    }
    match state.app.digest_figures().await {
        Ok(digests) => {
            // 0 for "never", so that an alert on the time since the last
            // run fires for a digest that has never gone, too.
            let seconds =
                |at: Option<chrono::DateTime<chrono::Utc>>| at.map_or(0, |at| at.timestamp());
            family(
                &mut out,
                "ocset_digest_last_queued_timestamp_seconds",
                "gauge",
                "When a scheduled run of each configured digest was last queued (0: never).",
            );
            for digest in &digests {
                let _ = writeln!(
                    out,
                    "ocset_digest_last_queued_timestamp_seconds{{digest=\"{}\"}} {}",
                    super::metrics::escape(&digest.name),
                    seconds(digest.last_queued_at)
                );
            }
            family(&mut out, "ocset_digest_last_sent_timestamp_seconds", "gauge", "When the mail server last accepted a message of each configured digest's scheduled runs (0: never).");
            for digest in &digests {
                let _ = writeln!(
                    out,
                    "ocset_digest_last_sent_timestamp_seconds{{digest=\"{}\"}} {}",
                    super::metrics::escape(&digest.name),
                    seconds(digest.last_sent_at)
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics could not read the digests"),
    }
    match state.app.last_audit_verification().await {
        Ok(verification) => {
            // 0 for "never", as for the digests: an alert on the time since
            // the last verification fires for one that never ran, too.
            family(
                &mut out,
                "ocset_audit_verified_timestamp_seconds",
                "gauge",
                "When the audit chain was last verified, by the service (at start and daily) or by `audit verify` (0: never).",
            );
            let _ = writeln!(
                out,
                "ocset_audit_verified_timestamp_seconds {}",
                verification
                    .as_ref()
                    .map_or(0, |v| v.verified_at.timestamp())
            );
            family(
                &mut out,
                "ocset_audit_verify_ok",
                "gauge",
                "1 when the last verification found every audit line in its chain (0: a line does not fit, or never verified).",
            );
            let _ = writeln!(
                out,
                "ocset_audit_verify_ok {}",
                u8::from(verification.as_ref().is_some_and(|v| v.ok))
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics could not read the audit verification"),
    }
    let ready = u8::from(readiness(&state).await.is_ok());
    family(
        &mut out,
        "ocset_ready",
        "gauge",
        "1 when this instance is ready (what /readyz answers).",
    );
    let _ = writeln!(out, "ocset_ready {ready}");
    family(
        &mut out,
        "ocset_build_info",
        "gauge",
        "The version and commit of the running binary.",
    );
    let _ = writeln!(
        out,
        "ocset_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        super::metrics::escape(crate::VERSION),
        super::metrics::escape(crate::COMMIT)
    );
    super::process::render(&mut out);
    state.metrics.render_requests(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// The OpenAPI document of this API, generated from the code.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    let settings = state.app.settings();
    Json(super::openapi::document(
        settings.lpas.all(),
        &settings.breach_reasons.codes(),
    ))
}
