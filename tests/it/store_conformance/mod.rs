//! One conformance suite for every [`Store`] backend: each case is a plain
//! async function, and [`conformance!`] runs it on SQLite (a fresh file in a
//! temporary folder) and on PostgreSQL (a fresh database, dropped afterwards
//! even when the case fails). The cases are split by concern, one module
//! each; every module lists its own cases in one `conformance!` call, so a
//! test is named `store_conformance::<concern>::<backend>::<case>`.
//!
//! PostgreSQL is found at `OCSET_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached
//! the `postgres::` tests fail, never pass; skip them explicitly with
//! `cargo test -- --skip postgres::`.
//!
//! [`Store`]: ocset_scheduler::store::Store

// First, so that `conformance!` is in scope in the modules below.
#[macro_use]
mod harness;
mod fixtures;

mod audit;
mod audit_chain;
mod counters;
mod escalations;
mod events;
mod failures;
mod import;
mod lists;
mod outbox;
mod packages;
mod quarantine;
mod retention;
mod snapshots;
mod tokens;
