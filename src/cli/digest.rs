//! `digest preview` and `digest send`: the report for an ended week, month
//! or quarter, written out or queued to the audience of the weekly,
//! monthly or quarterly digests.

use super::{cli_actor, io, open_app, CliError, DigestFormat};
use crate::clock::Clock;
use crate::config::Settings;
use crate::digest::job::DigestJob;
use crate::outbox::{Deliver, Dispatcher};
use crate::report::{render, CalendarMonth, IsoWeek, PeriodKind, Quarter, ReportPeriod};
use crate::service::notifier;
use crate::store::Actor;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::io::Write;
use std::sync::Arc;

/// The period a command asked for: at most one of `--week`, `--month`,
/// `--quarter` (the command line refuses two).
#[derive(Debug, Default)]
pub(super) struct Asked {
    pub(super) week: Option<IsoWeek>,
    pub(super) month: Option<CalendarMonth>,
    pub(super) quarter: Option<Quarter>,
}

impl Asked {
    /// The period asked for, or by default the last complete week; one
    /// that has not ended yet is refused, naming its option.
    fn ended(self, now: DateTime<Utc>, tz: Tz) -> Result<ReportPeriod, CliError> {
        let (option, period) = match (self.month, self.quarter) {
            (Some(month), _) => ("--month", month.into()),
            (None, Some(quarter)) => ("--quarter", quarter.into()),
            (None, None) => match self.week {
                Some(week) => ("--week", week.into()),
                None => ("--week", PeriodKind::Week.last_complete(now, tz)),
            },
        };
        period
            .check_ended(now, tz)
            .map_err(|reason| CliError::Usage(format!("{option}: {reason}")))?;
        Ok(period)
    }
}

/// `digest preview`: the report for the period asked for, rendered as
/// `format`, its reading audited.
pub(super) async fn preview(
    asked: Asked,
    format: DigestFormat,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let now = clock.now();
    let period = asked.ended(now, settings.time_zone)?;
    let app = open_app(settings, clock).await?;
    let report = app.period_report(period).await?;
    // The report lists references, so reading it is audited like a list.
    let format_name = format!("{format:?}").to_ascii_lowercase();
    let detail = format!("{} {period}, format {format_name}", period.kind().as_str());
    app.record_read(&Actor::named(cli_actor()), "report.previewed", &detail, now)
        .await?;
    let body = match format {
        DigestFormat::Html => render::html(&report),
        DigestFormat::Text => render::text(&report),
        DigestFormat::Json => render::json(&report),
        DigestFormat::Csv => render::csv(&report),
    };
    write!(out, "{body}").map_err(io)?;
    if !body.ends_with('\n') {
        writeln!(out).map_err(io)?;
    }
    Ok(())
}

/// `digest send`: queues the digest for the period asked for (by default
/// the last complete week) again and delivers what it can now.
pub(super) async fn send(
    asked: Asked,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let now = clock.now();
    let period = asked.ended(now, settings.time_zone)?;
    let adjective = period.kind().adjective();
    let notifier: Arc<dyn Deliver> = Arc::new(notifier(&settings).map_err(CliError::Other)?);
    let delivery = settings.config.delivery.clone();
    let app = open_app(settings, clock.clone()).await?;
    let job = DigestJob::over(app.clone());
    let queued = job.send_period(period, &Actor::named(cli_actor())).await?;
    if queued == 0 {
        return Err(CliError::Usage(format!(
            "no {adjective} [[digest]] schedule is configured, so the digest has no audience"
        )));
    }
    // Deliver now, as the service would: a running service may take
    // some of them instead (claims never overlap).
    let worker = format!("cli-{}", std::process::id());
    let dispatcher = Dispatcher::new(app.store().clone(), notifier, clock, &delivery, worker);
    let report = dispatcher.drain().await?;
    writeln!(
        out,
        "queued the {adjective} digest for {period} to {queued} recipient(s); the outbox delivered {} message(s), {} wait to be tried again, {} failed for good",
        report.sent, report.retried, report.dead
    )
    .map_err(io)?;
    Ok(())
}
