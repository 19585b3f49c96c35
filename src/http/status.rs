//! `/api/v1/status` and `/api/v1/breaches`: the current position, and the
//! packages past their deadline.

use super::error::ApiError;
use super::extract::{need, Allowed, ApiQuery};
use super::packages::{page, ListQuery};
use super::AppState;
use crate::app::{PackageView, SchedulerFigures};
use crate::domain::PackageStatus;
use crate::position::CurrentPosition;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The optional LPA filter of the status.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatusQuery {
    /// Only this LPA.
    pub(crate) lpa: Option<String>,
}

/// The status answer: the current position, and whether the scheduler is
/// keeping up (late is visible).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StatusAnswer {
    /// The position.
    #[serde(flatten)]
    pub(crate) position: CurrentPosition,
    /// The scheduler's last pass, its lag, and undelivered and dead messages.
    pub(crate) scheduler: SchedulerFigures,
    /// Package rows and outbox messages set aside because they cannot be
    /// read: every pass skips them (`ocset-scheduler quarantine list`).
    pub(crate) quarantined: crate::store::QuarantineCounts,
}

/// The current position: open packages per queue and grade, breached, due
/// within seven days, and the oldest; and the scheduler's health.
#[utoipa::path(get, path = "/api/v1/status", tag = "status", params(StatusQuery),
    security(("bearer" = [])),
    responses((status = 200, body = StatusAnswer), (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    _: Allowed<need::Viewer>,
    ApiQuery(query): ApiQuery<StatusQuery>,
) -> Result<Json<StatusAnswer>, ApiError> {
    let lpa = query
        .lpa
        .as_deref()
        .map(|l| state.app.settings().lpas.parse(l))
        .transpose()
        .map_err(|e| ApiError::invalid_field("lpa", e.0))?;
    Ok(Json(StatusAnswer {
        position: state.app.position(lpa.as_ref()).await?,
        scheduler: state.app.scheduler_figures().await?,
        quarantined: state.app.quarantine_counts().await?,
    }))
}

/// Paging for the breaches.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BreachQuery {
    /// Only this LPA.
    pub(crate) lpa: Option<String>,
    /// 1 to 1000; 100 when absent.
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// A breached package and how far past its deadline it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Breach {
    /// The package.
    #[serde(flatten)]
    pub(crate) package: PackageView,
    /// Seconds since the deadline.
    pub(crate) overdue_seconds: i64,
    /// Whole days since the deadline.
    pub(crate) overdue_days: i64,
}

/// Open packages past their deadline, most overdue first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Breaches {
    /// The instant the list is for.
    pub(crate) as_of: DateTime<Utc>,
    /// The breached packages.
    pub(crate) breaches: Vec<Breach>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub(crate) next_cursor: Option<String>,
}

/// Open packages past their deadline, most overdue first.
#[utoipa::path(get, path = "/api/v1/breaches", tag = "status", params(BreachQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Breaches), (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn breaches(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Viewer>,
    ApiQuery(query): ApiQuery<BreachQuery>,
) -> Result<Json<Breaches>, ApiError> {
    let now = state.app.now();
    let list = ListQuery {
        status: Some(PackageStatus::Breached),
        lpa: query.lpa,
        limit: query.limit,
        cursor: query.cursor,
        ..ListQuery::default()
    };
    let filter = super::packages::filter_from(&state, &list, now)?;
    let found = page(&state, filter, &caller).await?;
    let breaches = found
        .packages
        .into_iter()
        .map(|package| {
            let overdue = now - package.deadline_at;
            Breach {
                overdue_seconds: overdue.num_seconds(),
                overdue_days: overdue.num_days(),
                package,
            }
        })
        .collect();
    Ok(Json(Breaches {
        as_of: now,
        breaches,
        next_cursor: found.next_cursor,
    }))
}
