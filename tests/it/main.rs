//! The integration tests, as one test binary so that the suite links once
//! (`cargo test` builds `tests/it` as the target `it`). Each module is what
//! used to be its own binary; [`common`] holds the helpers they share.
//!
//! Run one part with a filter, e.g. `cargo test --test it escalation::` or
//! `cargo test --test it store_conformance::outbox::`; skip the PostgreSQL
//! half with `cargo test -- --skip postgres`.

// First, so that its macro (`on_both_backends!`) is in scope below.
#[macro_use]
mod common;

mod api;
mod architecture;
mod backup;
mod browser;
mod capacity_api;
mod cli;
mod dashboard;
mod digest;
mod digest_bounded;
mod escalation;
mod export;
mod history_import;
mod migrations;
mod notify;
mod oidc;
mod ops_metrics;
mod report_html;
mod report_snapshots;
mod reports_api;
mod reviews;
mod store_conformance;
