//! `retention run [--dry-run]`: applies `[retention] keep_stopped_for` now
//! and says what it did (or, dry, what it would do): how many packages,
//! their clocks' stop period, the period and the rule.

use super::{cli_actor, io, open_app, CliError};
use crate::app::RetentionOutcome;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::{Actor, RetentionDue};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::sync::Arc;

/// An instant as printed: RFC 3339 to the second, UTC.
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// "12 packages whose clock stopped between A and B".
fn packages(due: &RetentionDue) -> String {
    let noun = if due.packages == 1 {
        "package"
    } else {
        "packages"
    };
    match (due.earliest_stop, due.latest_stop) {
        (Some(first), Some(last)) => format!(
            "{} {noun} whose clock stopped between {} and {}",
            due.packages,
            instant(first),
            instant(last)
        ),
        _ => format!("{} {noun}", due.packages),
    }
}

/// `retention run`.
pub(super) async fn run(
    dry_run: bool,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    if settings.retention().is_none() {
        return Err(CliError::Usage(
            "retention.keep_stopped_for is not set: nothing is purged without a configured \
             period (see README, \"Retention\")"
                .into(),
        ));
    }
    let app = open_app(settings, clock).await?;
    let outcome = app
        .run_retention(dry_run, false, &Actor::named(cli_actor()))
        .await?;
    match outcome {
        RetentionOutcome::WouldPurge {
            period,
            stopped_before,
            due,
        } => {
            writeln!(
                out,
                "dry run: would pseudonymise {} (rule: keep_stopped_for = {period}, clocks \
                 stopped before {}); nothing written",
                packages(&due),
                instant(stopped_before)
            )
            .map_err(io)?;
        }
        RetentionOutcome::Purged {
            period,
            stopped_before,
            summary,
        } => {
            writeln!(
                out,
                "pseudonymised {} (rule: keep_stopped_for = {period}, clocks stopped before \
                 {}): {} ledger events, {} audit lines, {} messages rewritten; audited as \
                 retention.purged",
                packages(&summary.due),
                instant(stopped_before),
                summary.events,
                summary.audit_lines,
                summary.messages
            )
            .map_err(io)?;
        }
        // Neither happens on demand (checked above; no day is claimed).
        RetentionOutcome::NotConfigured => {
            writeln!(out, "retention.keep_stopped_for is not set: nothing purged").map_err(io)?;
        }
        RetentionOutcome::AlreadyRanToday { day } => {
            writeln!(out, "the run of {day} was already made: nothing purged").map_err(io)?;
        }
    }
    Ok(())
}

/// `quarantine list`: one line per row set aside, then how many.
pub(super) async fn quarantine_list(
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let app = open_app(settings, clock).await?;
    let rows = app.quarantined(&Actor::named(cli_actor())).await?;
    for row in &rows {
        writeln!(
            out,
            "{} {} {} {} {}",
            instant(row.quarantined_at),
            row.kind,
            row.id,
            row.reference.as_deref().unwrap_or("-"),
            row.reason
        )
        .map_err(io)?;
    }
    writeln!(out, "{} row(s) set aside", rows.len()).map_err(io)?;
    Ok(())
}
