//! `capacity`: the capacity and demand report now, written out.

use super::{cli_actor, io, open_app, CliError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::report::render::capacity as render;
use crate::store::Actor;
use std::io::Write;
use std::sync::Arc;

/// A rendering of the capacity report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CapacityFormat {
    /// Plain text in columns.
    Text,
    /// JSON, every figure.
    Json,
    /// HTML with inline styles, as the digest's.
    Html,
}

/// `capacity`: the report at the clock's now, rendered as `format`, its
/// reading audited (it names officers).
pub(super) async fn capacity(
    format: CapacityFormat,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let now = clock.now();
    let app = open_app(settings, clock).await?;
    let report = app.capacity_report(now).await?;
    let format_name = format!("{format:?}").to_ascii_lowercase();
    app.record_read(
        &Actor::named(cli_actor()),
        "report.previewed",
        &format!("capacity, format {format_name}"),
        now,
    )
    .await?;
    let body = match format {
        CapacityFormat::Text => render::text(&report),
        CapacityFormat::Json => render::json(&report),
        CapacityFormat::Html => render::html(&report),
    };
    write!(out, "{body}").map_err(io)?;
    if !body.ends_with('\n') {
        writeln!(out).map_err(io)?;
    }
    Ok(())
}
