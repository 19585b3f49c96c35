//! `/api/v1/packages`: create, read, list, and the moves a package makes.

use super::error::ApiError;
use super::extract::{need, Allowed, ApiJson, ApiQuery, Caller};
use super::AppState;
use crate::app::{CreateError, PackageView};
use crate::domain::{
    parse_instant, Acknowledgement, OfficerEmail, OpenStage, Outcome, PackageStatus, Reference,
    RiskGrade, Stage,
};
use crate::intake::NewPackage;
use crate::store::{EscalationRecord, LedgerEvent, PackageFilter, PageKey};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A new package. Times are RFC 3339 with an offset, or `YYYY-MM-DD HH:MM`
/// in the force time zone. Never put a name in any field. Grades and stages
/// are their snake_case names exactly (the CSV import also reads the
/// spellings spreadsheets use). The published schema is written whole in
/// `openapi.rs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePackage {
    /// The case system's reference: 1 to 64 ASCII letters, digits and
    /// `-_/.`, the first a letter or digit; unique whatever its case.
    #[schema(
        example = "NCA-2024-0193",
        pattern = "^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$"
    )]
    pub(crate) reference: String,
    /// The risk grade.
    #[schema(value_type = String, example = "high")]
    pub(crate) risk_grade: RiskGrade,
    /// When the package was received.
    #[schema(example = "2024-03-28T10:00:00Z")]
    pub(crate) received_at: String,
    /// One of the force's LPAs.
    #[schema(example = "Birmingham")]
    pub(crate) lpa: String,
    /// intelligence_development or awaiting_enforcement.
    #[schema(value_type = String, example = "awaiting_enforcement")]
    pub(crate) stage: OpenStage,
    /// The assigned officer's work email address.
    #[serde(default)]
    pub(crate) assigned_officer: Option<String>,
    /// When access to a child was identified, if it has been.
    #[serde(default)]
    pub(crate) child_access_identified_at: Option<String>,
}

/// A regrade.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Regrade {
    /// The new grade.
    #[schema(value_type = String, example = "very_high")]
    pub(crate) risk_grade: RiskGrade,
    /// Why (new intelligence); kept in the package's history.
    pub(crate) reason: String,
}

/// A stage move.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveStage {
    /// awaiting_enforcement, enforced or closed.
    #[schema(value_type = String, example = "enforced")]
    pub(crate) stage: Stage,
    /// When it happened; now when absent.
    #[serde(default)]
    pub(crate) at: Option<String>,
    /// Needed for enforced (arrest, warrant_executed, voluntary_attendance,
    /// other) and closed (no_further_action, transferred, other).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(crate) outcome: Option<Outcome>,
    /// A note (no names).
    #[serde(default)]
    pub(crate) note: Option<String>,
}

/// An assignment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Assign {
    /// The officer's work email address.
    #[schema(example = "pc.smith@force.police.uk")]
    pub(crate) officer: String,
}

/// Safeguarding facts; give either or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SafeguardingUpdate {
    /// When access to a child was identified.
    #[serde(default)]
    pub(crate) child_access_identified_at: Option<String>,
    /// When the referral to children's social services was made.
    #[serde(default)]
    pub(crate) referral_made_at: Option<String>,
}

/// A package with its history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PackageDetail {
    /// The package.
    #[serde(flatten)]
    pub(crate) package: PackageView,
    /// Every event of its ledger, oldest first.
    pub(crate) events: Vec<LedgerEvent>,
    /// Its escalations, oldest first, each with its deliveries.
    pub(crate) escalations: Vec<EscalationRecord>,
    /// The supervisor's acknowledgement of the current breach, if any.
    pub(crate) acknowledgement: Option<Acknowledgement>,
}

/// A supervisor's acknowledgement of a breach.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Acknowledge {
    /// Why the deadline was missed: a code from the force's
    /// `[[breach_reasons]]` list (the document lists them). Counted in the
    /// weekly report's breaches by reason.
    #[serde(default)]
    #[schema(example = "awaiting_communications_data")]
    pub(crate) reason: Option<String>,
    /// What is being done about it; shown in the weekly digest. No names.
    #[schema(example = "Warrant application with the magistrates; executing Thursday")]
    pub(crate) note: String,
}

/// A supervisor's review of a package's risk.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Review {
    /// What was considered and decided; kept in the package's history.
    /// No names.
    #[schema(example = "Intelligence unchanged; suspect still at the address; grade stands")]
    pub(crate) note: String,
    /// The grade after the review when it changes (a regrade with its usual
    /// rules); absent, null or the current grade confirms it.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "high")]
    pub(crate) risk_grade: Option<RiskGrade>,
    /// When the review was made; now when absent. Not in the future, not
    /// before receipt or the last review.
    #[serde(default)]
    pub(crate) reviewed_at: Option<String>,
}

/// Filters and paging for the list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// on_track, due_soon, breached, met, missed or closed.
    #[param(value_type = Option<String>)]
    pub(crate) status: Option<PackageStatus>,
    /// A risk grade by its snake_case name.
    #[param(value_type = Option<String>)]
    pub(crate) grade: Option<RiskGrade>,
    /// A stage by its snake_case name.
    #[param(value_type = Option<String>)]
    pub(crate) stage: Option<Stage>,
    /// An LPA.
    pub(crate) lpa: Option<String>,
    /// 1 to 1000; 100 when absent.
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// One page of packages, ordered by deadline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PackagePage {
    /// The packages.
    pub(crate) packages: Vec<PackageView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub(crate) next_cursor: Option<String>,
}

/// The default page size.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// The largest page size.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// A reference from a path segment, exactly as given: a segment with spaces
/// around it (`EX-01%20`) is refused, never trimmed to another package's.
fn reference(text: &str) -> Result<Reference, ApiError> {
    Reference::parse_exact(text).map_err(|e| ApiError::invalid_field("reference", e.0))
}

fn instant(state: &AppState, field: &'static str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    parse_instant(text, state.app.settings().time_zone)
        .map_err(|e| ApiError::invalid_field(field, format!("{field}: {}", e.0)))
}

fn optional_instant(
    state: &AppState,
    field: &'static str,
    text: &Option<String>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.as_deref()
        .map(|t| instant(state, field, t))
        .transpose()
}

/// Encodes a page position as a cursor: the deadline as Unix seconds and
/// nanoseconds, then `~` and the reference (`1711965600.000000000~NCA-1`).
/// Every string of that shape is a position to page after, so the
/// published pattern ([`super::openapi::CURSOR_PATTERN`]) is exact.
pub(crate) fn encode_cursor(key: &PageKey) -> String {
    format!(
        "{}.{:09}~{}",
        key.deadline_at.timestamp(),
        key.deadline_at.timestamp_subsec_nanos(),
        key.reference
    )
}

/// The longest reference a cursor carries, in characters.
const CURSOR_REFERENCE_CHARS: usize = 64;

/// Decodes a cursor made by [`encode_cursor`], or any of its shape.
pub(crate) fn decode_cursor(cursor: &str) -> Result<PageKey, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "cursor",
            "cursor: not a cursor (give the next_cursor of the previous page)",
        )
    };
    let (deadline, reference) = cursor.split_once('~').ok_or_else(bad)?;
    let (seconds, nanos) = deadline.split_once('.').ok_or_else(bad)?;
    let digits = |t: &str, range: std::ops::RangeInclusive<usize>| {
        range.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(seconds, 1..=10) || !digits(nanos, 9..=9) {
        return Err(bad());
    }
    let chars = reference.chars().count();
    if chars == 0
        || chars > CURSOR_REFERENCE_CHARS
        || crate::domain::fields::forbidden_char(reference, false).is_some()
    {
        return Err(bad());
    }
    let deadline_at = DateTime::from_timestamp(
        seconds.parse().map_err(|_| bad())?,
        nanos.parse().map_err(|_| bad())?,
    )
    .ok_or_else(bad)?;
    Ok(PageKey {
        deadline_at,
        reference: reference.to_string(),
    })
}

/// Reads list filters into a store filter, naming any bad field.
pub(crate) fn filter_from(
    state: &AppState,
    query: &ListQuery,
    now: DateTime<Utc>,
) -> Result<PackageFilter, ApiError> {
    let status = query.status.map(|status| (status, now));
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be 1 to {MAX_LIMIT}, not {limit}"),
        ));
    }
    Ok(PackageFilter {
        open_only: false,
        grade: query.grade,
        lpa: query
            .lpa
            .as_deref()
            .map(|l| state.app.settings().lpas.parse(l).map(|l| l.to_string()))
            .transpose()
            .map_err(|e| ApiError::invalid_field("lpa", e.0))?,
        stage: query.stage,
        status,
        deadline_within: None,
        after: query.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: Some(limit),
    })
}

/// Lists one page for `filter`, with the cursor of the next.
pub(crate) async fn page(
    state: &AppState,
    mut filter: PackageFilter,
    caller: &Caller,
) -> Result<PackagePage, ApiError> {
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT) as usize;
    // One more than asked tells whether another page follows.
    filter.limit = Some(limit as u32 + 1);
    let mut packages = state.app.list(&filter, &caller.actor()).await?;
    let next_cursor = if packages.len() > limit {
        packages.truncate(limit);
        packages.last().map(|last| {
            encode_cursor(&PageKey {
                deadline_at: last.deadline_at,
                reference: last.reference.clone(),
            })
        })
    } else {
        None
    };
    Ok(PackagePage {
        packages,
        next_cursor,
    })
}

/// Create a package.
#[utoipa::path(post, path = "/api/v1/packages", tag = "packages", request_body = CreatePackage,
    security(("bearer" = [])),
    responses((status = 201, body = PackageView), (status = 409, description = "duplicate reference", body = super::error::ErrorEnvelope),
              (status = 422, description = "a field is not valid", body = super::error::ErrorEnvelope)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Intake>,
    ApiJson(body): ApiJson<CreatePackage>,
) -> Result<impl IntoResponse, ApiError> {
    let input = NewPackage {
        reference: body.reference,
        risk_grade: body.risk_grade.as_str().into(),
        received_at: body.received_at,
        lpa: body.lpa,
        stage: body.stage.stage().as_str().into(),
        assigned_officer: body.assigned_officer,
        child_access_identified_at: body.child_access_identified_at,
        safeguarding_referral_at: None,
    };
    let package = state
        .app
        .create(&input, &caller.actor())
        .await
        .map_err(|e| match e {
            CreateError::Invalid(errors) => ApiError::invalid_fields(errors),
            CreateError::Store(e) => e.into(),
        })?;
    let view = state.app.view(&package);
    let location = format!("/api/v1/packages/{}", encode_path(&view.reference));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    ))
}

/// Percent-encodes a reference for a path segment.
fn encode_path(reference: &str) -> String {
    reference
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Read one package with its history. The read is audited.
#[utoipa::path(get, path = "/api/v1/packages/{reference}", tag = "packages",
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = PackageDetail), (status = 404, body = super::error::ErrorEnvelope)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Viewer>,
    Path(text): Path<String>,
) -> Result<Json<PackageDetail>, ApiError> {
    let reference = reference(&text)?;
    let record = state
        .app
        .read(&reference, &caller.actor())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no package has reference {reference}")))?;
    Ok(Json(PackageDetail {
        package: state.app.view(&record.package),
        acknowledgement: record.package.acknowledgement().cloned(),
        events: record.events,
        escalations: record.escalations,
    }))
}

/// Everything the service holds about one package, for a disclosure or a
/// subject-access request: the package, every event, escalation and
/// delivery, acknowledgement, review and audit line naming it. Admin only;
/// the export is audited (`package.exported`), and its own audit line is
/// the document's last.
#[utoipa::path(get, path = "/api/v1/packages/{reference}/export", tag = "packages",
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = crate::app::PackageExport), (status = 404, body = super::error::ErrorEnvelope)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Admin>,
    Path(text): Path<String>,
) -> Result<Json<crate::app::PackageExport>, ApiError> {
    let reference = reference(&text)?;
    let export = state
        .app
        .export(&reference, &caller.actor())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no package has reference {reference}")))?;
    Ok(Json(export))
}

/// List packages, ordered by deadline, one page at a time.
#[utoipa::path(get, path = "/api/v1/packages", tag = "packages", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PackagePage), (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Viewer>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PackagePage>, ApiError> {
    let filter = filter_from(&state, &query, state.app.now())?;
    Ok(Json(page(&state, filter, &caller).await?))
}

/// Regrade a package; the deadline follows the regrade policy.
#[utoipa::path(post, path = "/api/v1/packages/{reference}/grade", tag = "packages", request_body = Regrade,
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = PackageView), (status = 404, body = super::error::ErrorEnvelope),
              (status = 409, body = super::error::ErrorEnvelope), (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn regrade(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Intake>,
    Path(text): Path<String>,
    ApiJson(body): ApiJson<Regrade>,
) -> Result<Json<PackageView>, ApiError> {
    let reference = reference(&text)?;
    let grade = body.risk_grade;
    let policy = state.app.settings().policy.clone();
    let package = state
        .app
        .change(&reference, &caller.actor(), move |p, now| {
            p.regrade(grade, &body.reason, now, now, &policy)
        })
        .await?;
    Ok(Json(state.app.view(&package)))
}

/// Move a package to another stage. Enforced and closed need an outcome.
#[utoipa::path(post, path = "/api/v1/packages/{reference}/stage", tag = "packages", request_body = MoveStage,
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = PackageView), (status = 404, body = super::error::ErrorEnvelope),
              (status = 409, description = "an illegal move", body = super::error::ErrorEnvelope), (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn move_stage(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Intake>,
    Path(text): Path<String>,
    ApiJson(body): ApiJson<MoveStage>,
) -> Result<Json<PackageView>, ApiError> {
    let reference = reference(&text)?;
    let to = body.stage;
    let at = optional_instant(&state, "at", &body.at)?;
    let outcome = body.outcome;
    let note = body.note;
    let package = state
        .app
        .change(&reference, &caller.actor(), move |p, now| {
            p.move_stage(to, at.unwrap_or(now), outcome, note.as_deref(), now)
        })
        .await?;
    Ok(Json(state.app.view(&package)))
}

/// Assign a package to an officer.
#[utoipa::path(post, path = "/api/v1/packages/{reference}/assign", tag = "packages", request_body = Assign,
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = PackageView), (status = 403, body = super::error::ErrorEnvelope),
              (status = 404, body = super::error::ErrorEnvelope), (status = 409, body = super::error::ErrorEnvelope)))]
pub(crate) async fn assign(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Supervisor>,
    Path(text): Path<String>,
    ApiJson(body): ApiJson<Assign>,
) -> Result<Json<PackageView>, ApiError> {
    let reference = reference(&text)?;
    let officer =
        OfficerEmail::parse(&body.officer).map_err(|e| ApiError::invalid_field("officer", e.0))?;
    let package = state
        .app
        .change(&reference, &caller.actor(), move |p, now| {
            p.assign(officer, now)
        })
        .await?;
    Ok(Json(state.app.view(&package)))
}

/// Record when child access was identified and/or the referral made.
#[utoipa::path(post, path = "/api/v1/packages/{reference}/safeguarding", tag = "packages", request_body = SafeguardingUpdate,
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = PackageView), (status = 404, body = super::error::ErrorEnvelope),
              (status = 409, body = super::error::ErrorEnvelope), (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn safeguarding(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Intake>,
    Path(text): Path<String>,
    ApiJson(body): ApiJson<SafeguardingUpdate>,
) -> Result<Json<PackageView>, ApiError> {
    let reference = reference(&text)?;
    let access = optional_instant(
        &state,
        "child_access_identified_at",
        &body.child_access_identified_at,
    )?;
    let referral = optional_instant(&state, "referral_made_at", &body.referral_made_at)?;
    let package = state
        .app
        .change(&reference, &caller.actor(), move |p, now| {
            p.update_safeguarding(access, referral, now)
        })
        .await?;
    Ok(Json(state.app.view(&package)))
}

/// Record a supervisor's review of a package's risk: the grade confirmed, or
/// changed (a regrade with its usual rules, in the same transaction). The
/// review clock restarts: the next review is due one interval of the grade
/// later (`next_review_due_at` in the answer).
#[utoipa::path(post, path = "/api/v1/packages/{reference}/reviews", tag = "packages", request_body = Review,
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = PackageView), (status = 403, body = super::error::ErrorEnvelope),
              (status = 404, body = super::error::ErrorEnvelope),
              (status = 409, description = "the package is enforced or closed, or the time is before its receipt or its last review", body = super::error::ErrorEnvelope),
              (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn review(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Supervisor>,
    Path(text): Path<String>,
    ApiJson(body): ApiJson<Review>,
) -> Result<Json<PackageView>, ApiError> {
    let reference = reference(&text)?;
    let reviewed_at = optional_instant(&state, "reviewed_at", &body.reviewed_at)?;
    let package = state
        .app
        .review(
            &reference,
            &caller.actor(),
            body.risk_grade,
            body.note,
            reviewed_at,
        )
        .await?;
    Ok(Json(state.app.view(&package)))
}

/// Acknowledge the breach of a package's current deadline with the reason it
/// was missed: repeats of its escalations stop; the breach still counts
/// everywhere, and the reason and note are kept.
#[utoipa::path(post, path = "/api/v1/packages/{reference}/acknowledge", tag = "packages", request_body = Acknowledge,
    params(("reference" = String, Path, description = "URL-encoded reference")),
    security(("bearer" = [])),
    responses((status = 200, body = PackageView), (status = 403, body = super::error::ErrorEnvelope),
              (status = 404, body = super::error::ErrorEnvelope), (status = 409, description = "not breached, or already acknowledged", body = super::error::ErrorEnvelope),
              (status = 422, body = super::error::ErrorEnvelope)))]
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<need::Supervisor>,
    Path(text): Path<String>,
    ApiJson(body): ApiJson<Acknowledge>,
) -> Result<Json<PackageView>, ApiError> {
    let reference = reference(&text)?;
    // Checked before anything is read or written: a bad reason writes nothing.
    let reasons = &state.app.settings().breach_reasons;
    let reason = match body.reason.as_deref() {
        Some(text) => reasons.parse(text),
        None => Err(format!(
            "is required: one of {}",
            reasons.codes().join(", ")
        )),
    }
    .map_err(|why| ApiError::invalid_field("reason", format!("reason: {why}")))?;
    let actor = caller.actor();
    let by = actor.name.clone();
    let package = state
        .app
        .change(&reference, &actor, move |p, now| {
            p.acknowledge(&reason, &body.note, &by, now)
        })
        .await?;
    Ok(Json(state.app.view(&package)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key = PageKey {
            deadline_at: "2024-03-01T10:00:00Z".parse().unwrap(),
            reference: "NCA/2024 #7".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&key)).unwrap(), key);
        let pattern = regex::Regex::new(super::super::openapi::CURSOR_PATTERN).unwrap();
        assert!(pattern.is_match(&encode_cursor(&key)));
        for good in ["0.000000000~a", "9999999999.999999999~ é x"] {
            assert!(decode_cursor(good).is_ok(), "{good}");
            assert!(pattern.is_match(good), "{good}");
        }
        for bad in [
            "",
            "zz",
            "00",
            "€€",
            "1.5~A",
            "+1.000000000~A",
            "1.000000000~",
            "1.000000000~a\tb",
            "12345678901.000000000~A",
            "1.000000000",
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn references_are_percent_encoded_for_paths() {
        assert_eq!(encode_path("NCA/2024 #7"), "NCA%2F2024%20%237");
        assert_eq!(encode_path("A-1_b.c~"), "A-1_b.c~");
    }
}
