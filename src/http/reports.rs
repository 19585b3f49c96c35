//! `/api/v1/reports/{weekly,monthly,quarterly}`: the performance report
//! over an ISO week (PPU SLT and the ACC for crime, weekly), a calendar
//! month (the PPU's monthly SIM) or a quarter (the QPR with the ACC), as
//! JSON or as the CSV of open packages at the period's end.

use super::error::ApiError;
use super::extract::{need, Allowed, ApiQuery};
use super::AppState;
use crate::report::{render, CalendarMonth, IsoWeek, PeriodKind, Quarter, ReportPeriod};
use crate::store::Actor;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A rendering of a report over HTTP.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ReportFormat {
    /// Every figure, as JSON.
    #[default]
    Json,
    /// The open packages at the period's end, breaches flagged, as CSV.
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
    let period = chosen::<IsoWeek>(&state, query.week.as_deref(), PeriodKind::Week, now)?;
    answer(&state, &caller.actor(), period, query.format, now).await
}

/// Which month, and in which rendering.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MonthlyQuery {
    /// A calendar month that has ended, `2024-02` (the 1st 00:00 to the
    /// next month's 1st 00:00 in the force time zone); the last complete
    /// month when absent.
    #[param(example = "2024-02")]
    pub(crate) month: Option<String>,
    /// `json` (the default) or `csv`.
    #[param(inline)]
    pub(crate) format: Option<ReportFormat>,
}

/// The monthly performance report (the PPU's monthly SIM) for one
/// calendar month, rebuilt from the ledger: the weekly report's sections
/// over the month, its trend over 12 months, compared with the month
/// before and the same month a year before. Each read is audited
/// (`report.read`).
#[utoipa::path(get, path = "/api/v1/reports/monthly", tag = "reports", params(MonthlyQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report: JSON (every figure), or with `format=csv` the open packages at the month's end as an attachment",
            content((Object = "application/json"), (String = "text/csv"))),
        (status = 401, body = super::error::ErrorEnvelope),
        (status = 422, description = "a bad or unfinished `month`, a bad `format`, or an unknown parameter", body = super::error::ErrorEnvelope)))]
pub(crate) async fn monthly(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Viewer>,
    ApiQuery(query): ApiQuery<MonthlyQuery>,
) -> Result<Response, ApiError> {
    let now = state.app.now();
    let period = chosen::<CalendarMonth>(&state, query.month.as_deref(), PeriodKind::Month, now)?;
    answer(&state, &caller.actor(), period, query.format, now).await
}

/// Which quarter, and in which rendering.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct QuarterlyQuery {
    /// A quarter that has ended, `2024-Q1` (January to March, local
    /// midnight to local midnight in the force time zone); the last
    /// complete quarter when absent.
    #[param(example = "2024-Q1")]
    pub(crate) quarter: Option<String>,
    /// `json` (the default) or `csv`.
    #[param(inline)]
    pub(crate) format: Option<ReportFormat>,
}

/// The quarterly performance report (the QPR with the ACC for crime) for
/// one quarter, rebuilt from the ledger: the weekly report's sections over
/// the quarter, its trend over 8 quarters, compared with the quarter
/// before and the same quarter a year before. Each read is audited
/// (`report.read`).
#[utoipa::path(get, path = "/api/v1/reports/quarterly", tag = "reports", params(QuarterlyQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report: JSON (every figure), or with `format=csv` the open packages at the quarter's end as an attachment",
            content((Object = "application/json"), (String = "text/csv"))),
        (status = 401, body = super::error::ErrorEnvelope),
        (status = 422, description = "a bad or unfinished `quarter`, a bad `format`, or an unknown parameter", body = super::error::ErrorEnvelope)))]
pub(crate) async fn quarterly(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Viewer>,
    ApiQuery(query): ApiQuery<QuarterlyQuery>,
) -> Result<Response, ApiError> {
    let now = state.app.now();
    let period = chosen::<Quarter>(&state, query.quarter.as_deref(), PeriodKind::Quarter, now)?;
    answer(&state, &caller.actor(), period, query.format, now).await
}

/// The period a query names in the parameter named for `kind` (`week`,
/// `month`, `quarter`; parsed as `P`), or the last complete one of `kind`;
/// refused, naming the parameter, when it is not a period of that kind or
/// has not ended.
fn chosen<P>(
    state: &AppState,
    text: Option<&str>,
    kind: PeriodKind,
    now: DateTime<Utc>,
) -> Result<ReportPeriod, ApiError>
where
    P: std::str::FromStr + Into<ReportPeriod>,
    P::Err: std::fmt::Display,
{
    let tz = state.app.settings().time_zone;
    let field = kind.as_str();
    let period = match text {
        Some(text) => text
            .parse::<P>()
            .map_err(|e| ApiError::invalid_field(field, format!("{field}: {e}")))?
            .into(),
        None => kind.last_complete(now, tz),
    };
    period
        .check_ended(now, tz)
        .map_err(|reason| ApiError::invalid_field(field, format!("{field}: {reason}")))?;
    Ok(period)
}

/// The report for `period`, its read audited, in `format`.
async fn answer(
    state: &AppState,
    actor: &Actor,
    period: ReportPeriod,
    format: Option<ReportFormat>,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let format = format.unwrap_or_default();
    let report = state.app.period_report(period).await?;
    // Written before the answer is sent, like the package reads and lists.
    let detail = format!(
        "{} {period}, format {}",
        period.kind().as_str(),
        format.as_str()
    );
    state
        .app
        .record_read(actor, "report.read", &detail, now)
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
            // The period is YYYY-Www, YYYY-MM or YYYY-Qn by construction,
            // so the name needs no quoting.
            let disposition = format!(
                "attachment; filename=\"ocset-{}-{period}.csv\"",
                period.kind().adjective()
            );
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/csv; charset=utf-8"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_str(&disposition)
                            .expect("a period's name is a valid header value"),
                    ),
                ],
                render::csv(&report),
            )
                .into_response()
        }
    })
}
