//! `/api/v1/reports/weekly`: the weekly performance report that PPU SLT and
//! the ACC for crime read, as JSON or as the CSV of open packages.

use super::error::ApiError;
use super::extract::{need, Allowed, ApiQuery};
use super::AppState;
use crate::report::{render, IsoWeek};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A rendering of the weekly report over HTTP.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ReportFormat {
    /// Every figure, as JSON.
    #[default]
    Json,
    /// The open packages at the week's end, breaches flagged, as CSV.
    Csv,
}

impl ReportFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }
}

/// Which week, and in which rendering.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WeeklyQuery {
    /// An ISO week that has ended, `2024-W05` (Monday 00:00 to Monday 00:00
    /// in the force time zone); the last complete week when absent.
    #[param(example = "2024-W05")]
    pub(crate) week: Option<String>,
    /// `json` (the default) or `csv`.
    #[param(inline)]
    pub(crate) format: Option<ReportFormat>,
}

/// The weekly performance report for one ISO week, rebuilt from the ledger.
/// The report lists package references, so each read is audited
/// (`report.read`).
#[utoipa::path(get, path = "/api/v1/reports/weekly", tag = "reports", params(WeeklyQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report: JSON (every figure), or with `format=csv` the open packages at the week's end as an attachment",
            content((Object = "application/json"), (String = "text/csv"))),
        (status = 401, body = super::error::ErrorEnvelope),
        (status = 422, description = "a bad or unfinished `week`, a bad `format`, or an unknown parameter", body = super::error::ErrorEnvelope)))]
pub(crate) async fn weekly(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Viewer>,
    ApiQuery(query): ApiQuery<WeeklyQuery>,
) -> Result<Response, ApiError> {
    // One instant for the default, the "has it ended" check and the audit line.
    let now = state.app.now();
    let tz = state.app.settings().time_zone;
    let week = match query.week.as_deref() {
        Some(text) => text
            .parse::<IsoWeek>()
            .map_err(|e| ApiError::invalid_field("week", format!("week: {e}")))?,
        None => IsoWeek::last_complete(now, tz),
    };
    week.check_ended(now, tz)
        .map_err(|reason| ApiError::invalid_field("week", format!("week: {reason}")))?;
    let format = query.format.unwrap_or_default();
    let report = state.app.weekly_report(week).await?;
    // Written before the answer is sent, like the package reads and lists.
    let detail = format!("week {week}, format {}", format.as_str());
    state
        .app
        .record_read(&caller.actor(), "report.read", &detail, now)
        .await?;
    Ok(match format {
        ReportFormat::Json => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            render::json(&report),
        )
            .into_response(),
        ReportFormat::Csv => {
            // The week is YYYY-Www by construction, so the name needs no quoting.
            let disposition = format!("attachment; filename=\"ocset-weekly-{week}.csv\"");
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/csv; charset=utf-8"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_str(&disposition)
                            .expect("an ISO week is a valid header value"),
                    ),
                ],
                render::csv(&report),
            )
                .into_response()
        }
    })
}
