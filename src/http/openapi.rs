//! The OpenAPI document, generated from the handlers' annotations.

use super::{error, ops, packages, reports, status};
use crate::app::PackageView;
use crate::position::{CurrentPosition, GradeFigures};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ocset-scheduler",
        description = "OCSET intelligence packages against national enforcement timescales. Every endpoint under /api/v1 except this document needs `Authorization: Bearer <token>`; roles are viewer < intake < supervisor < admin.",
    ),
    paths(
        packages::create, packages::read, packages::list, packages::regrade, packages::move_stage,
        packages::assign, packages::safeguarding, packages::acknowledge, status::status, status::breaches,
        reports::weekly,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    components(schemas(
        PackageView, CurrentPosition, GradeFigures, error::ErrorEnvelope, error::ErrorBody,
        packages::CreatePackage, packages::Regrade, packages::MoveStage, packages::Assign,
        packages::SafeguardingUpdate, packages::Acknowledge, packages::PackageDetail, crate::app::SchedulerFigures, status::StatusAnswer, packages::PackagePage,
        status::Breach, status::Breaches, ops::Health,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "packages", description = "Intelligence packages and their moves"),
        (name = "status", description = "Where are we now?"),
        (name = "reports", description = "The weekly performance report"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document for the API, stamped with the crate's version;
/// served at `/api/v1/openapi.json`.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
