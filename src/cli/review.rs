//! `review REFERENCE --note ...`: a supervisor's review of a package's risk
//! from the command line, audited as the OS user like every CLI change.

use super::{cli_actor, io, open_app, CliError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::{parse_instant, Reference, RiskGrade};
use crate::store::Actor;
use clap::Args;
use std::io::Write;
use std::sync::Arc;

/// What `review` takes.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The package's reference.
    pub reference: String,
    /// What was considered and decided; kept in the package's history. No
    /// names.
    #[arg(long)]
    pub note: String,
    /// The grade after the review when it changes (very_high, high, medium,
    /// standard): a regrade with its usual rules. Left out, the grade is
    /// confirmed.
    #[arg(long)]
    pub grade: Option<RiskGrade>,
    /// When the review was made (RFC 3339, or YYYY-MM-DD HH:MM in the force
    /// time zone); now when left out.
    #[arg(long)]
    pub at: Option<String>,
}

/// Records the review and prints when the next one is due.
pub(super) async fn review(
    args: ReviewArgs,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let tz = settings.time_zone;
    let reference = Reference::parse(&args.reference)
        .map_err(|e| CliError::Usage(format!("reference: {}", e.0)))?;
    let at = args
        .at
        .as_deref()
        .map(|text| parse_instant(text, tz))
        .transpose()
        .map_err(|e| CliError::Usage(format!("--at: {}", e.0)))?;
    let app = open_app(settings, clock).await?;
    let package = app
        .review(
            &reference,
            &Actor::named(cli_actor()),
            args.grade,
            args.note,
            at,
        )
        .await?;
    let timing = app.settings().ladder_timing();
    let next = package
        .review_due_at(&timing.review_every, tz)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_else(|| "none".into());
    writeln!(
        out,
        "reviewed {}: {}; next review due {next}",
        package.reference(),
        package.grade().label()
    )
    .map_err(io)?;
    Ok(())
}
