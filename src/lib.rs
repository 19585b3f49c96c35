//! ocset-scheduler: tracks OCSET intelligence packages against the national
//! enforcement timescales, escalates before and after deadlines, and reports.
//!
//! The library holds everything; `main.rs` only parses the command line and
//! calls [`cli::run`].
//!
//! The documentation is for the service's developers: build it with
//! `cargo doc --document-private-items`. Its links to crate-private items
//! are meant (a module's overview names the private parts it is made of).
#![allow(rustdoc::private_intra_doc_links)]

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod digest;
pub mod domain;
pub(crate) mod files;
pub mod http;
pub(crate) mod import;
pub mod intake;
pub mod notify;
pub mod oidc;
pub mod outbox;
pub(crate) mod position;
pub mod report;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod text;
pub mod tokens;
pub(crate) mod wake;
pub(crate) mod web;

/// The crate's version (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit the binary was built from (`build.rs`: `OCSET_COMMIT` or
/// `git rev-parse`), or "unknown".
pub const COMMIT: &str = env!("OCSET_COMMIT");

/// What `--version` prints after the name: the version and the commit.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("OCSET_COMMIT"),
    ")"
);
