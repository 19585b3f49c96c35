//! The OpenAPI document: generated from the handlers' annotations, then
//! completed here with what annotations cannot say, so that the document
//! describes exactly what the server does (checked by schemathesis in CI,
//! `tests/contract/run.sh`):
//!
//! - every error answer each operation can give, with the error schema and
//!   its headers (`WWW-Authenticate` on 401, `Retry-After` on 503);
//! - the request shapes whose rules span fields (a stage move's outcome
//!   depends on the stage; a safeguarding update needs one of two times);
//! - the force's LPAs, which are configuration, as an enumeration;
//! - the links a client (or a stateful tester) follows from a created
//!   package to every move it can make;
//! - descriptions in plain CommonMark (Rust's intra-doc links removed).

use super::{capacity, error, ops, packages, reports, status};
use crate::app::PackageView;
use crate::domain::Lpa;
use crate::position::{CurrentPosition, GradeFigures};
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ocset-scheduler",
        description = "OCSET intelligence packages against national enforcement timescales. Every endpoint under /api/v1 except this document needs `Authorization: Bearer <token>`; roles are viewer < intake < supervisor < admin. Every error is `{\"error\": {\"code\", \"message\", \"field\"?, \"details\"?, \"request_id\"?}}`: 400 a body that is not JSON, 401 no valid token, 403 a role too low, 404 no such package, 409 a move the package's state refuses, 413 a body over 64 KiB, 415 a body that is not `application/json`, 422 a field that breaks its rule (named in `field`), 500 a failure of the service (quote `request_id`), 503 the database is not answering (retry after `Retry-After` seconds).",
    ),
    paths(
        packages::create, packages::read, packages::export, packages::list, packages::regrade, packages::move_stage,
        packages::assign, packages::safeguarding, packages::acknowledge, packages::review, status::status, status::breaches,
        reports::weekly, reports::monthly, reports::quarterly, capacity::capacity,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    components(schemas(
        PackageView, CurrentPosition, GradeFigures, error::ErrorEnvelope, error::ErrorBody,
        packages::CreatePackage, packages::Regrade, packages::MoveStage, packages::Assign,
        packages::SafeguardingUpdate, packages::Acknowledge, packages::Review, packages::PackageDetail, crate::app::SchedulerFigures, crate::store::QuarantineCounts, status::StatusAnswer, packages::PackagePage,
        status::Breach, status::Breaches, ops::Health,
        crate::store::LedgerEvent, crate::domain::EventKind, crate::store::EscalationRecord,
        crate::outbox::DeliveryRecord, crate::outbox::Destination, crate::domain::Acknowledgement,
        crate::domain::PackageClock, crate::domain::RiskGrade, crate::domain::Stage,
        crate::domain::Outcome, crate::domain::PackageStatus,
        crate::report::capacity::CapacityReport, crate::app::PackageExport, crate::store::AuditRecord,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "packages", description = "Intelligence packages and their moves"),
        (name = "status", description = "Where are we now?"),
        (name = "reports", description = "The performance report over a week, a month or a quarter, and the capacity and demand report"),
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

/// The OpenAPI document for the API, stamped with the crate's version and
/// naming the force's LPAs (`lpas`; any name when empty) and breach reason
/// codes (`reasons`); served at `/api/v1/openapi.json`.
pub(crate) fn document(lpas: &[Lpa], reasons: &[&str]) -> Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    complete_operations(&mut doc);
    complete_schemas(&mut doc, lpas, reasons);
    plain_descriptions(&mut doc);
    doc
}

/// A reference to the error envelope.
fn error_content() -> Value {
    json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}})
}

/// Adds to every operation the error answers it can give, and the links
/// from a created package.
fn complete_operations(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let has_body = operation.get("requestBody").is_some();
            let has_params = operation
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty());
            let authenticated = operation.get("security").is_some();
            let names_package = path.contains("{reference}");
            let Some(responses) = operation["responses"].as_object_mut() else {
                continue;
            };
            let mut add = |status: &str, description: &str, extra: Option<(&str, Value)>| {
                let mut response = json!({"description": description, "content": error_content()});
                if let Some((header, schema)) = extra {
                    response["headers"] = json!({header: schema});
                }
                responses.entry(status.to_string()).or_insert(response);
            };
            // A panic or a failure the service cannot name: every route.
            add(
                "500",
                "The service failed; the cause is in its log under `request_id`.",
                None,
            );
            if !authenticated {
                continue;
            }
            add(
                "401",
                "No token, or a token that is unknown or revoked.",
                Some((
                    "WWW-Authenticate",
                    json!({"description": "Always `Bearer`.", "schema": {"type": "string"}}),
                )),
            );
            // Writes need more than a viewer; so does a disclosure export
            // (admin only), the one read that does.
            if method == "post" || path.ends_with("/export") {
                add("403", "The token's role is too low for this.", None);
            }
            if names_package {
                add("404", "No package has this reference.", None);
            }
            if has_body {
                add("400", "The body is not JSON.", None);
                add("413", "The body is larger than 64 KiB.", None);
                add("415", "The body is not sent as `application/json`.", None);
            }
            if has_body || has_params || names_package {
                add(
                    "422",
                    "A field or parameter breaks its rule; `field` names it.",
                    None,
                );
            }
            add(
                "503",
                "The database is not answering; try again after `Retry-After` seconds.",
                Some((
                    "Retry-After",
                    json!({"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 1}}),
                )),
            );
        }
    }
    // From a created package to everything that can be done with it.
    let created = &mut doc["paths"]["/api/v1/packages"]["post"]["responses"]["201"];
    let mut links = Map::new();
    for (name, operation) in [
        ("read", "read"),
        ("regrade", "regrade"),
        ("move_stage", "move_stage"),
        ("assign", "assign"),
        ("safeguarding", "safeguarding"),
        ("acknowledge", "acknowledge"),
        ("review", "review"),
        ("export", "export"),
    ] {
        links.insert(
            name.into(),
            json!({"operationId": operation, "parameters": {"reference": "$response.body#/reference"}}),
        );
    }
    created["links"] = Value::Object(links);
}

/// Text with at least one character that is not a space, no control
/// character (a line break where `multi_line`) and no bidirectional
/// formatting character: the one rule for free text
/// (`domain::fields::forbidden_char`), as a pattern.
fn text_pattern(multi_line: bool) -> String {
    let forbidden =
        r"\u0000-\u0009\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069";
    let forbidden = if multi_line {
        forbidden.to_string()
    } else {
        format!(r"\u000A{forbidden}")
    };
    format!(r"^[^{forbidden}]*[^\s{forbidden}][^{forbidden}]*$")
}

/// Text that may be blank, otherwise as [`text_pattern`] with line breaks.
fn optional_text_pattern() -> String {
    r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$"
        .to_string()
}

/// A package reference (`domain::Reference`), as a pattern.
pub(crate) const REFERENCE_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$";

/// A page position (`packages::encode_cursor`): Unix seconds, nine digits
/// of nanoseconds, `~` and a reference of up to 64 characters.
pub(crate) const CURSOR_PATTERN: &str = r"^[0-9]{1,10}\.[0-9]{9}~[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]{1,64}$";

/// An ISO week from 2000 to 2099 that exists: week 53 only in the years
/// that have one.
pub(crate) const WEEK_PATTERN: &str = r"^\s*(20[0-9]{2}-[Ww](0[1-9]|[1-4][0-9]|5[0-2])|20(04|09|15|20|26|32|37|43|48|54|60|65|71|76|82|88|93|99)-[Ww]53)\s*$";

/// A calendar month from 2000 to 2099 (`domain::CalendarMonth`).
pub(crate) const MONTH_PATTERN: &str = r"^\s*20[0-9]{2}-(0[1-9]|1[0-2])\s*$";

/// A quarter from 2000 to 2099 (`domain::Quarter`).
pub(crate) const QUARTER_PATTERN: &str = r"^\s*20[0-9]{2}-[Qq][1-4]\s*$";

/// An officer's work email address (`domain::OfficerEmail`), unanchored.
const EMAIL: &str = r#"[^\s@<>,;"()\[\]\\\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"#;

/// A calendar date from 2000 to 2099, every day that exists and no other.
const DATE_PATTERN: &str = r"(20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|20[0-9]{2}-(0[13-9]|1[0-2])-(29|30)|20[0-9]{2}-(0[13578]|1[02])-31|20([02468][048]|[13579][26])-02-29)";

/// `core` as a whole value, with the spaces around it that the server
/// trims, and blank allowed where `blank` (a blank optional field is
/// absent).
fn trimmed(core: &str, blank: Blank) -> String {
    match blank {
        Blank::Refused => format!(r"^\s*({core})\s*$"),
        Blank::Absent => format!(r"^\s*({core})?\s*$"),
    }
}

/// Whether a blank value is refused or read as absent.
#[derive(Debug, Clone, Copy)]
enum Blank {
    Refused,
    Absent,
}

/// An officer's address as a pattern.
fn email_pattern(blank: Blank) -> String {
    trimmed(EMAIL, blank)
}

/// An instant as the API reads one (`domain::parse_instant`): RFC 3339
/// with an offset, or `YYYY-MM-DD HH:MM[:SS]` local time in the force's
/// time zone.
fn instant_pattern(blank: Blank) -> String {
    let time = r"([01][0-9]|2[0-3]):[0-5][0-9]";
    trimmed(
        &format!(
            r"{DATE_PATTERN}[Tt ]{time}:[0-5][0-9](\.[0-9]{{1,9}})?([Zz]|[+-]{time})|{DATE_PATTERN} {time}(:[0-5][0-9])?"
        ),
        blank,
    )
}

/// An instant field.
fn instant(description: &str) -> Value {
    instant_or(description, Blank::Refused)
}

/// An instant field that may be blank where `blank` says so.
fn instant_or(description: &str, blank: Blank) -> Value {
    json!({
        "type": "string",
        "pattern": instant_pattern(blank),
        "description": format!("{description} RFC 3339 with an offset (`2024-03-28T10:00:00Z`), or `YYYY-MM-DD HH:MM` in the force's time zone (a local time a clock change skips or repeats is refused); from 2000 to 2099, never more than 5 minutes ahead of now."),
        "example": "2024-03-28T10:00:00Z",
    })
}

/// A free-text field of at most `max` characters.
fn text(description: &str, max: usize, multi_line: bool) -> Value {
    json!({
        "type": "string",
        "pattern": text_pattern(multi_line),
        "maxLength": max,
        "description": description,
    })
}

/// An optional (absent or null) variant of `schema`.
fn nullable(mut schema: Value) -> Value {
    schema["type"] = json!(["string", "null"]);
    // An enumeration lists every accepted value: null too, or a validator
    // refuses the null the handler takes (`enum` applies beside `type`).
    // (`get_mut`: indexing would add an `"enum": null` where there is none.)
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    schema
}

/// An enumeration of a named schema's values.
fn one_of_names(names: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": names, "description": description})
}

/// Writes the request schemas whole, exactly as the handlers read them,
/// and the LPA list into every `lpa` parameter.
fn complete_schemas(doc: &mut Value, lpas: &[Lpa], reasons: &[&str]) {
    let lpa = if lpas.is_empty() {
        text("A Local Policing Area.", 64, false)
    } else {
        let names: Vec<&str> = lpas.iter().map(Lpa::as_str).collect();
        json!({"type": "string", "enum": names, "description": "One of the force's Local Policing Areas."})
    };
    let grades = ["very_high", "high", "medium", "standard"];
    let enforced = [
        "arrest",
        "warrant_executed",
        "voluntary_attendance",
        "other",
    ];
    let closed = ["no_further_action", "transferred", "other"];
    let note = |what: &str| text(what, crate::domain::MAX_NOTE_CHARS, true);
    let schemas = &mut doc["components"]["schemas"];
    schemas["CreatePackage"] = json!({
        "type": "object",
        "description": "A new package. Never put a name in any field.",
        "additionalProperties": false,
        "required": ["reference", "risk_grade", "received_at", "lpa", "stage"],
        "properties": {
            "reference": {
                "type": "string",
                "pattern": trimmed(&REFERENCE_PATTERN[1..REFERENCE_PATTERN.len() - 1], Blank::Refused),
                "description": "The case system's reference: 1 to 64 ASCII letters, digits and `-_/.`, the first a letter or digit; unique whatever its case.",
                "example": "NCA-2024-0193",
            },
            "risk_grade": one_of_names(&grades, "The risk grade."),
            "received_at": instant("When the package was received."),
            "lpa": lpa,
            "stage": one_of_names(&["intelligence_development", "awaiting_enforcement"], "The queue it starts in."),
            "assigned_officer": nullable(json!({
                "type": "string",
                "pattern": email_pattern(Blank::Absent),
                "maxLength": 254,
                "description": "The assigned officer's work email address; absent or null when unassigned.",
                "example": "pc.smith@force.police.uk",
            })),
            "child_access_identified_at": nullable(instant_or("When access to a child was identified, if it has been; not before `received_at`.", Blank::Absent)),
        },
    });
    schemas["Regrade"] = json!({
        "type": "object",
        "description": "A regrade: the deadline follows the regrade policy.",
        "additionalProperties": false,
        "required": ["risk_grade", "reason"],
        "properties": {
            "risk_grade": one_of_names(&grades, "The new grade (409 if it is the current one)."),
            "reason": note("Why (new intelligence); kept in the package's history. No names."),
        },
    });
    let move_to = |stages: &[&str], outcome: Option<&[&str]>| {
        let mut properties = json!({
            "stage": {"type": "string", "enum": stages},
            "at": nullable(instant("When it happened; now when absent. Not before the package entered its current stage.")),
            "note": nullable(json!({
                "type": "string",
                "pattern": optional_text_pattern(),
                "maxLength": crate::domain::MAX_NOTE_CHARS,
                "description": "A note; blank is none. No names.",
            })),
        });
        let mut required = vec!["stage"];
        match outcome {
            Some(outcomes) => {
                properties["outcome"] = json!({"type": "string", "enum": outcomes});
                required.push("outcome");
            }
            None => properties["outcome"] = json!({"type": "null"}),
        }
        json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
    };
    schemas["MoveStage"] = json!({
        "description": "A stage move. Stages only move forward (409 otherwise); enforced and closed need an outcome that fits them, the open stages take none.",
        "oneOf": [
            move_to(&["intelligence_development", "awaiting_enforcement"], None),
            move_to(&["enforced"], Some(&enforced)),
            move_to(&["closed"], Some(&closed)),
        ],
    });
    schemas["Assign"] = json!({
        "type": "object",
        "description": "An assignment.",
        "additionalProperties": false,
        "required": ["officer"],
        "properties": {"officer": {
            "type": "string",
            "pattern": email_pattern(Blank::Refused),
            "maxLength": 254,
            "description": "The officer's work email address.",
            "example": "pc.smith@force.police.uk",
        }},
    });
    let safeguarding_time = |field: &str, description: &str| json!({"type": "object", "required": [field], "properties": {field: instant(description)}});
    schemas["SafeguardingUpdate"] = json!({
        "type": "object",
        "description": "Safeguarding facts: give either or both. A time already recorded cannot be changed (409); a referral needs the time access was identified, here or recorded, and cannot be before it.",
        "additionalProperties": false,
        "properties": {
            "child_access_identified_at": nullable(instant("When access to a child was identified.")),
            "referral_made_at": nullable(instant("When the referral to children's social services was made.")),
        },
        "anyOf": [
            safeguarding_time("child_access_identified_at", "When access to a child was identified."),
            safeguarding_time("referral_made_at", "When the referral was made."),
        ],
    });
    schemas["Acknowledge"] = json!({
        "type": "object",
        "description": "A supervisor's acknowledgement of a breach.",
        "additionalProperties": false,
        "required": ["reason", "note"],
        "properties": {
            "reason": {
                "type": "string",
                "enum": reasons,
                "description": "Why the deadline was missed: one of the force's breach reasons (`[[breach_reasons]]`). Counted in the weekly report's breaches by reason.",
                "example": reasons.first(),
            },
            "note": note("What is being done about it; shown in the weekly digest. No names."),
        },
    });
    schemas["Review"] = json!({
        "type": "object",
        "description": "A supervisor's review of a package's risk: the grade confirmed or changed. The review clock restarts at `reviewed_at`.",
        "additionalProperties": false,
        "required": ["note"],
        "properties": {
            "note": note("What was considered and decided; kept in the package's history. No names."),
            "risk_grade": nullable(one_of_names(&grades, "The grade after the review when it changes (a regrade with its usual rules); absent, null or the current grade confirms it.")),
            "reviewed_at": nullable(instant("When the review was made; now when absent. Not in the future; not before receipt or the last review (409).")),
        },
    });
    // Query and path parameters.
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        // The capacity report renders to read (text, HTML); the
        // performance reports export their open packages (CSV).
        let formats = if path.ends_with("/capacity") {
            json!(["json", "text", "html"])
        } else {
            json!(["json", "csv"])
        };
        for operation in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let parameters = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                let schema = match parameter["name"].as_str() {
                    Some("reference") => json!({"type": "string", "pattern": REFERENCE_PATTERN}),
                    Some("lpa") => lpa.clone(),
                    Some("limit") => {
                        json!({"type": "integer", "minimum": 1, "maximum": packages::MAX_LIMIT})
                    }
                    Some("cursor") => json!({"type": "string", "pattern": CURSOR_PATTERN}),
                    Some("week") => json!({"type": "string", "pattern": WEEK_PATTERN}),
                    Some("month") => json!({"type": "string", "pattern": MONTH_PATTERN}),
                    Some("quarter") => json!({"type": "string", "pattern": QUARTER_PATTERN}),
                    Some("grade") => json!({"type": "string", "enum": grades}),
                    Some("stage") => {
                        json!({"type": "string", "enum": ["intelligence_development", "awaiting_enforcement", "enforced", "closed"]})
                    }
                    Some("status") => {
                        json!({"type": "string", "enum": ["on_track", "due_soon", "breached", "met", "missed", "closed"]})
                    }
                    Some("format") => json!({"type": "string", "enum": formats}),
                    _ => continue,
                };
                parameter["schema"] = schema;
            }
        }
    }
}

/// Rewrites Rust's intra-doc links (`` [`Outcome`] ``, `[text](Self::x)`)
/// in every description as plain CommonMark code or text.
fn plain_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(text) if key == "description" => *text = plain_doc(text),
                    _ => plain_descriptions(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(plain_descriptions),
        _ => {}
    }
}

/// One description without intra-doc links: `` [`X`] `` becomes `` `X` ``,
/// `[text](path)` where the path is not a URL becomes `text`.
fn plain_doc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        let tail = &after[close + 1..];
        if let Some(target) = tail.strip_prefix('(') {
            if let Some(end) = target.find(')') {
                if target[..end].contains("://") {
                    out.push_str(&rest[open..open + 1 + close + 1 + end + 2]);
                } else {
                    out.push_str(inner);
                }
                rest = &target[end + 1..];
                continue;
            }
        }
        out.push_str(inner);
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_needs_a_reason_from_the_configured_codes() {
        let doc = document(&[], &["weather", "other"]);
        let schemas = &doc["components"]["schemas"];
        let body = &schemas["Acknowledge"];
        assert_eq!(body["required"], json!(["reason", "note"]));
        assert_eq!(
            body["properties"]["reason"]["enum"],
            json!(["weather", "other"])
        );
        // Read back, a reason may be absent (recorded before reasons).
        let read = &schemas["Acknowledgement"];
        assert!(read["properties"]["reason"].is_object(), "{read}");
        assert!(
            !read["required"]
                .as_array()
                .unwrap()
                .contains(&json!("reason")),
            "{read}"
        );
    }

    #[test]
    fn a_review_may_confirm_the_grade_with_null_as_its_handler_takes() {
        // The handler reads `"risk_grade": null` as "confirmed"; the
        // schema's enumeration must list null too, or a client that
        // validates refuses what the server accepts (schemathesis found it).
        let doc = document(&[], &["other"]);
        let grade = &doc["components"]["schemas"]["Review"]["properties"]["risk_grade"];
        assert_eq!(grade["type"], json!(["string", "null"]), "{grade}");
        let values = grade["enum"].as_array().unwrap();
        assert!(values.contains(&Value::Null), "{grade}");
        assert!(values.contains(&json!("very_high")), "{grade}");
        // A nullable field without an enumeration gains none.
        let at = &doc["components"]["schemas"]["Review"]["properties"]["reviewed_at"];
        assert!(at.get("enum").is_none(), "{at}");
    }

    #[test]
    fn each_report_offers_the_formats_its_handler_takes() {
        let doc = document(&[], &["other"]);
        let formats = |path: &str| -> Vec<String> {
            let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let format = parameters.iter().find(|p| p["name"] == "format").unwrap();
            serde_json::from_value(format["schema"]["enum"].clone()).unwrap()
        };
        for path in [
            "/api/v1/reports/weekly",
            "/api/v1/reports/monthly",
            "/api/v1/reports/quarterly",
        ] {
            assert_eq!(formats(path), ["json", "csv"], "{path}");
        }
        assert_eq!(
            formats("/api/v1/reports/capacity"),
            ["json", "text", "html"]
        );
    }

    #[test]
    fn intra_doc_links_become_plain_text() {
        assert_eq!(
            plain_doc("carry an [`Outcome`] (see [`PackageState`])"),
            "carry an `Outcome` (see `PackageState`)"
        );
        assert_eq!(
            plain_doc("whose [`channel`](Self::channel) is"),
            "whose `channel` is"
        );
        assert_eq!(
            plain_doc("see [the docs](https://example.org/x) now"),
            "see [the docs](https://example.org/x) now"
        );
        assert_eq!(plain_doc("a [dangling"), "a [dangling");
    }

    #[test]
    fn the_patterns_match_what_the_domain_accepts() {
        use crate::domain::{parse_instant, OfficerEmail, Reference};
        let instant = regex_lite(&instant_pattern(Blank::Refused));
        for good in [
            "2024-03-28T10:00:00Z",
            "2024-03-28T10:00:00.123+01:00",
            "2024-02-29 10:00",
            "2000-02-29 10:00:59",
        ] {
            assert!(instant(good), "{good}");
            assert!(
                parse_instant(good, chrono_tz::Europe::London).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "2023-02-29 10:00",
            "2024-04-31T10:00:00Z",
            "2100-01-01 10:00",
            "2024-03-28T23:59:60Z",
            "2024-1-5 9:00",
        ] {
            assert!(!instant(bad), "{bad}");
            assert!(
                parse_instant(bad, chrono_tz::Europe::London).is_err(),
                "{bad}"
            );
        }
        let reference = regex_lite(REFERENCE_PATTERN);
        for good in ["A", "NCA-2024/01.x_y"] {
            assert!(
                reference(good) && Reference::parse_exact(good).is_ok(),
                "{good}"
            );
        }
        let week = regex_lite(WEEK_PATTERN);
        for good in ["2024-W05", "2026-W53", " 2020-w53 "] {
            assert!(
                week(good) && good.parse::<crate::report::IsoWeek>().is_ok(),
                "{good}"
            );
        }
        for bad in ["2024-W53", "2024-W+1", "2024-W00", "1999-W01", "2024-W5"] {
            assert!(
                !week(bad) && bad.parse::<crate::report::IsoWeek>().is_err(),
                "{bad}"
            );
        }
        let month = regex_lite(MONTH_PATTERN);
        for good in ["2024-02", "2000-12", " 2099-01 "] {
            assert!(
                month(good) && good.parse::<crate::report::CalendarMonth>().is_ok(),
                "{good}"
            );
        }
        for bad in [
            "2024-13", "2024-00", "2024-2", "1999-12", "2100-01", "2024-Q1",
        ] {
            assert!(
                !month(bad) && bad.parse::<crate::report::CalendarMonth>().is_err(),
                "{bad}"
            );
        }
        let quarter = regex_lite(QUARTER_PATTERN);
        for good in ["2024-Q1", "2099-q4", " 2000-Q2 "] {
            assert!(
                quarter(good) && good.parse::<crate::report::Quarter>().is_ok(),
                "{good}"
            );
        }
        for bad in ["2024-Q0", "2024-Q5", "2024-Q", "1999-Q1", "2024-03"] {
            assert!(
                !quarter(bad) && bad.parse::<crate::report::Quarter>().is_err(),
                "{bad}"
            );
        }
        for bad in ["-A", "A B", "é", ""] {
            assert!(
                !reference(bad) && Reference::parse_exact(bad).is_err(),
                "{bad}"
            );
        }
        let email = regex_lite(&email_pattern(Blank::Refused));
        for good in ["pc.one@force.police.uk", "a+b@x-y.z"] {
            assert!(email(good) && OfficerEmail::parse(good).is_ok(), "{good}");
        }
        for bad in ["a@b", "a@.b.c", "a@b..c", "a b@c.d", "@c.d", "a@b.c."] {
            assert!(!email(bad) && OfficerEmail::parse(bad).is_err(), "{bad}");
        }
    }

    /// The patterns as the `regex` crate reads them: the syntax this
    /// document uses (classes, groups, counted repeats, `\uXXXX`) reads the
    /// same in ECMA-262.
    fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool {
        let re = regex::Regex::new(pattern).expect("the pattern compiles");
        move |text| re.is_match(text)
    }
}
