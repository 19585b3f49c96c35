//! `/api/v1/reports/capacity`: the capacity and demand report (demand,
//! time in each queue, throughput, officers' load, and the forecast) at
//! the moment of asking, as JSON, text or HTML.

use super::error::ApiError;
use super::extract::{need, Allowed, ApiQuery};
use super::AppState;
use crate::report::render::capacity as render;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A rendering of the capacity report over HTTP.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CapacityFormat {
    /// Every figure, as JSON.
    #[default]
    Json,
    /// Plain text in columns.
    Text,
    /// An HTML document (inline styles, tables), as the digest's.
    Html,
}

impl CapacityFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
            Self::Html => "html",
        }
    }
}

/// Which rendering.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CapacityQuery {
    /// `json` (the default), `text` or `html`.
    #[param(inline)]
    pub(crate) format: Option<CapacityFormat>,
}

/// The capacity and demand report now, rebuilt from the ledger: packages
/// received per week and grade over the last 12 and 52 complete weeks,
/// time in each queue, throughput, each officer's load, and a seeded
/// forecast of the next 4 and 8 weeks (its `method` says how it is made).
/// It names officers, so each read is audited (`report.read`).
#[utoipa::path(get, path = "/api/v1/reports/capacity", tag = "reports", params(CapacityQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report: JSON (every figure), or with `format=text` or `format=html` a rendering to read",
            content((crate::report::capacity::CapacityReport = "application/json"), (String = "text/plain"), (String = "text/html"))),
        (status = 401, body = super::error::ErrorEnvelope),
        (status = 422, description = "a bad `format`, or an unknown parameter", body = super::error::ErrorEnvelope)))]
pub(crate) async fn capacity(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Viewer>,
    ApiQuery(query): ApiQuery<CapacityQuery>,
) -> Result<Response, ApiError> {
    // One instant for the report and its audit line.
    let now = state.app.now();
    let format = query.format.unwrap_or_default();
    let report = state.app.capacity_report(now).await?;
    // Written before the answer is sent, like the weekly report's.
    let detail = format!("capacity, format {}", format.as_str());
    state
        .app
        .record_read(&caller.actor(), "report.read", &detail, now)
        .await?;
    let (content_type, body) = match format {
        CapacityFormat::Json => ("application/json", render::json(&report)),
        CapacityFormat::Text => ("text/plain; charset=utf-8", render::text(&report)),
        CapacityFormat::Html => ("text/html; charset=utf-8", render::html(&report)),
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response())
}
