//! The command line: `serve`, `migrate`, `import`, `list`, `check-config`,
//! `demo`. Each takes `--config PATH`. [`run`] does the work and writes to
//! the writer it is given, so tests drive it in-process with their own clock.

use crate::clock::Clock;
use crate::config::{self, ConfigError, Settings};
use crate::domain::{Lpa, Reference, RiskGrade, Role, Stage};
use crate::import::read_csv;
use crate::ledger::{ImportError, Ledger, PackageView};
use crate::service::{notifier, Service};
use crate::store::{self, Actor, ApiToken, AuditRecord, PackageFilter, StoreError};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Tracks OCSET intelligence packages against the national enforcement
/// timescales and escalates before and after their deadlines.
#[derive(Debug, Parser)]
#[command(name = "ocset-scheduler", version, propagate_version = true)]
pub struct Cli {
    /// The configuration file. Environment variables OCSET__SECTION__KEY
    /// override its keys.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "config/default.toml"
    )]
    pub config: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then run until SIGTERM or Ctrl-C.
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Import packages from a CSV file, all or nothing.
    ///
    /// Header row: reference,risk_grade,received_at,lpa,stage,assigned_officer
    /// and optionally child_access_identified_at,safeguarding_referral_at.
    /// Times are RFC 3339 with an offset, or YYYY-MM-DD HH:MM in the force
    /// time zone.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// List packages with their deadlines and status.
    List(ListArgs),
    /// Check the configuration file and environment overrides, and print the
    /// effective configuration (passwords hidden).
    CheckConfig,
    /// Create, list or revoke API tokens.
    #[command(subcommand)]
    Token(TokenAction),
    /// Print the audit log: every change and every read, with who and when.
    Audit {
        /// Only the lines about this package.
        #[arg(long)]
        reference: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Fill an empty database with fictional packages (DEMO-0001...) relative
    /// to now, to see every feature at work.
    Demo,
    /// The weekly performance digest.
    #[command(subcommand)]
    Digest(DigestAction),
}

/// What to do with the weekly digest.
#[derive(Debug, Subcommand)]
pub enum DigestAction {
    /// Write the weekly report to stdout without sending it.
    Preview {
        /// The ISO week, as 2024-W05 (Monday to Monday in the force time
        /// zone); by default the last complete week.
        #[arg(long, value_parser = parse_week)]
        week: Option<crate::report::IsoWeek>,
        /// html, text, json or csv (the open packages and breaches).
        #[arg(long, value_enum, default_value_t = DigestFormat::Text)]
        format: DigestFormat,
    },
    /// Send the weekly digest for a week again, now, to the audience of
    /// every weekly `[[digest]]` schedule (audited; the scheduled run is
    /// not affected). Queues the messages and delivers what it can.
    Send {
        /// The ISO week, as 2024-W05; by default the last complete week.
        #[arg(long, value_parser = parse_week)]
        week: Option<crate::report::IsoWeek>,
    },
}

/// The week a digest command reports: `week`, or by default the last
/// complete one; a week that has not ended yet is refused, naming `--week`
/// (its figures would still change).
fn ended_week(
    week: Option<crate::report::IsoWeek>,
    now: chrono::DateTime<chrono::Utc>,
    tz: chrono_tz::Tz,
) -> Result<crate::report::IsoWeek, CliError> {
    let week = week.unwrap_or_else(|| crate::report::IsoWeek::last_complete(now, tz));
    week.check_ended(now, tz)
        .map_err(|reason| CliError::Usage(format!("--week: {reason}")))?;
    Ok(week)
}

/// A rendering of the weekly report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DigestFormat {
    /// HTML for email, with inline styles and a table chart.
    Html,
    /// Plain text.
    Text,
    /// JSON, every figure.
    Json,
    /// CSV of the open packages at the week's end, breaches flagged.
    Csv,
}

fn parse_week(text: &str) -> Result<crate::report::IsoWeek, String> {
    text.parse()
        .map_err(|e: crate::report::BadWeek| e.to_string())
}

/// What to do with tokens.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it once; its last line is the token alone.
    Create {
        /// A unique name, recorded as the actor of what the token does.
        #[arg(long)]
        name: String,
        /// viewer, intake, supervisor or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List tokens (names, roles, dates; never the tokens).
    List,
    /// Revoke a token: it is refused from the next request on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse::<Role>().map_err(|e| e.to_string())
}

/// Filters and format for `list`.
#[derive(Debug, Args, Default)]
pub struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only packages whose clock runs (not enforced or closed).
    #[arg(long)]
    pub open: bool,
    /// Only this grade: very_high, high, medium or standard.
    #[arg(long, value_parser = parse_grade)]
    pub grade: Option<RiskGrade>,
    /// Only this LPA.
    #[arg(long)]
    pub lpa: Option<String>,
    /// Only this stage: intelligence_development, awaiting_enforcement,
    /// enforced or closed.
    #[arg(long, value_parser = parse_stage)]
    pub stage: Option<Stage>,
}

fn parse_grade(text: &str) -> Result<RiskGrade, String> {
    RiskGrade::parse_lenient(text).map_err(|e| e.to_string())
}

fn parse_stage(text: &str) -> Result<Stage, String> {
    Stage::parse_lenient(text).map_err(|e| e.to_string())
}

/// Why a command failed. The text is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration has faults.
    #[error("the configuration is not valid:\n{}", list(.0))]
    Config(Vec<ConfigError>),
    /// The import file has faults; nothing was imported.
    #[error("{}; nothing was imported:\n{}", count(.0.len()), list(.0))]
    Import(Vec<crate::ledger::RowError>),
    /// A value given on the command line is not valid.
    #[error("{0}")]
    Usage(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else, with context.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 problem in the file".into()
    } else {
        format!("{n} problems in the file")
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The actor recorded in the ledger for changes made from this command line.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Loads the settings `cli` names, with the `OCSET__` variables of `env`.
pub fn load_settings(cli: &Cli, env: Vec<(String, String)>) -> Result<Settings, CliError> {
    config::load(&cli.config, env).map_err(CliError::Config)
}

async fn open_ledger(settings: Settings, clock: Arc<dyn Clock>) -> Result<Ledger, CliError> {
    let store = store::connect(
        settings.config.database.url.expose(),
        settings.config.database.max_connections,
    )
    .await?;
    store.migrate().await?;
    Ok(Ledger::new(store, Arc::new(settings), clock))
}

/// Runs one command with `settings` already loaded. `shutdown` ends `serve`.
pub async fn run(
    command: Command,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let io =
        |e: std::io::Error| CliError::Other(anyhow::Error::new(e).context("writing the output"));
    match command {
        Command::CheckConfig => {
            let text = toml::to_string(&settings.config).map_err(|e| CliError::Other(e.into()))?;
            writeln!(out, "# effective configuration (passwords hidden)\n{text}").map_err(io)?;
            writeln!(
                out,
                "# {} is valid; deadline policy version {}",
                settings.path.display(),
                settings.policy.version()
            )
            .map_err(io)?;
        }
        Command::Migrate => {
            let url = settings.config.database.url.clone();
            open_ledger(settings, clock).await?;
            writeln!(out, "migrations applied to {url}").map_err(io)?;
        }
        Command::Serve => {
            let url = settings.config.database.url.clone();
            let bind = settings.config.http.bind.clone();
            let ledger = open_ledger(settings, clock).await?;
            let notifier = notifier(&ledger.settings_arc()).map_err(CliError::Other)?;
            let service = Service::build(ledger, Arc::new(notifier), &bind)
                .await
                .map_err(|e| {
                    CliError::Other(
                        anyhow::Error::new(e).context(format!("binding the HTTP API to {bind}")),
                    )
                })?;
            tracing::info!(
                database = %url,
                api = %format!("http://{}", service.address()),
                "ocset-scheduler is running; stop it with SIGTERM or Ctrl-C"
            );
            service.run_until(shutdown).await.map_err(CliError::Other)?;
            tracing::info!("ocset-scheduler stopped cleanly");
        }
        Command::Token(action) => token(action, settings, clock, out).await?,
        Command::Audit { reference, json } => {
            let reference = reference
                .as_deref()
                .map(Reference::parse)
                .transpose()
                .map_err(|e| CliError::Usage(format!("--reference: {}", e.0)))?;
            let ledger = open_ledger(settings, clock).await?;
            let lines = ledger.store().audit_log(reference.as_ref()).await?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &lines)
                    .map_err(|e| CliError::Other(e.into()))?;
                writeln!(out).map_err(io)?;
            } else {
                write!(out, "{}", audit_table(&lines)).map_err(io)?;
            }
        }
        Command::Import { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let rows = read_csv(&bytes).map_err(CliError::Import)?;
            let ledger = open_ledger(settings, clock).await?;
            let imported = ledger
                .import(rows, &Actor::named(cli_actor()))
                .await
                .map_err(|e| match e {
                    ImportError::Rows(rows) => CliError::Import(rows),
                    ImportError::Store(e) => CliError::Store(e),
                })?;
            writeln!(
                out,
                "imported {imported} package(s) from {}",
                file.display()
            )
            .map_err(io)?;
        }
        Command::List(args) => {
            let lpa = match &args.lpa {
                Some(name) => Some(
                    settings
                        .lpas
                        .parse(name)
                        .map_err(|e| CliError::Usage(format!("--lpa: {}", e.0)))?,
                ),
                None => None,
            };
            let tz = settings.time_zone;
            let ledger = open_ledger(settings, clock).await?;
            let filter = PackageFilter {
                open_only: args.open,
                grade: args.grade,
                lpa: lpa.as_ref().map(Lpa::to_string),
                stage: args.stage,
                ..PackageFilter::default()
            };
            let views = ledger.list(&filter, &Actor::named(cli_actor())).await?;
            if args.json {
                serde_json::to_writer_pretty(&mut *out, &views)
                    .map_err(|e| CliError::Other(e.into()))?;
                writeln!(out).map_err(io)?;
            } else {
                write!(out, "{}", table(&views, tz)).map_err(io)?;
            }
        }
        Command::Digest(DigestAction::Preview { week, format }) => {
            use crate::report::render;
            let params = settings.report_params();
            let now = clock.now();
            let week = ended_week(week, now, params.time_zone)?;
            let ledger = open_ledger(settings, clock).await?;
            let report = crate::report::weekly(ledger.store().as_ref(), week, &params).await?;
            // The report lists references, so reading it is audited like a list.
            let format_name = format!("{format:?}").to_ascii_lowercase();
            let detail = format!("week {week}, format {format_name}");
            ledger
                .store()
                .audit(
                    &Actor::named(cli_actor()),
                    "report.previewed",
                    None,
                    Some(&detail),
                    now,
                )
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
        }
        Command::Digest(DigestAction::Send { week }) => {
            let now = clock.now();
            let week = ended_week(week, now, settings.time_zone)?;
            let notifier: Arc<dyn crate::outbox::Deliver> =
                Arc::new(notifier(&settings).map_err(CliError::Other)?);
            let delivery = settings.config.delivery.clone();
            let ledger = open_ledger(settings, clock.clone()).await?;
            let job = crate::digest::job::DigestJob::new(
                ledger.store().clone(),
                ledger.settings_arc(),
                clock.clone(),
            );
            let queued = job.send_week(week, &Actor::named(cli_actor())).await?;
            if queued == 0 {
                return Err(CliError::Usage(
                    "no weekly [[digest]] schedule is configured, so the digest has no audience"
                        .into(),
                ));
            }
            // Deliver now, as the service would: a running service may take
            // some of them instead (claims never overlap).
            let worker = format!("cli-{}", std::process::id());
            let dispatcher = crate::outbox::Dispatcher::new(
                ledger.store().clone(),
                notifier,
                clock,
                &delivery,
                worker,
            );
            let report = dispatcher.drain().await?;
            writeln!(
                out,
                "queued the weekly digest for {week} to {queued} recipient(s); the outbox delivered {} message(s), {} wait to be tried again, {} failed for good",
                report.sent, report.retried, report.dead
            )
            .map_err(io)?;
        }
        Command::Demo => {
            let ledger = open_ledger(settings, clock).await?;
            let message = crate::demo::load(&ledger).await?;
            writeln!(out, "{message}").map_err(io)?;
        }
    }
    Ok(())
}

async fn token(
    action: TokenAction,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let io =
        |e: std::io::Error| CliError::Other(anyhow::Error::new(e).context("writing the output"));
    let actor = Actor::named(cli_actor());
    let ledger = open_ledger(settings, clock).await?;
    let now = ledger.now();
    match action {
        TokenAction::Create { name, role } => {
            crate::tokens::check_name(&name)
                .map_err(|e| CliError::Usage(format!("--name: {e}")))?;
            let (token, hash) = crate::tokens::generate();
            let record = ApiToken {
                name: name.clone(),
                role,
                created_at: now,
                revoked_at: None,
            };
            ledger.store().create_token(&record, &hash, &actor).await?;
            writeln!(
                out,
                "created token {name} with role {role}; it is shown once, store it now:"
            )
            .map_err(io)?;
            writeln!(out, "{token}").map_err(io)?;
        }
        TokenAction::List => {
            let tokens = ledger.store().tokens().await?;
            writeln!(
                out,
                "{:<32}  {:<10}  {:<20}  REVOKED",
                "NAME", "ROLE", "CREATED"
            )
            .map_err(io)?;
            for t in &tokens {
                writeln!(
                    out,
                    "{:<32}  {:<10}  {:<20}  {}",
                    t.name,
                    t.role,
                    t.created_at.format("%Y-%m-%d %H:%M UTC"),
                    t.revoked_at.map_or("-".to_string(), |r| r
                        .format("%Y-%m-%d %H:%M UTC")
                        .to_string())
                )
                .map_err(io)?;
            }
            writeln!(out, "{} token(s)", tokens.len()).map_err(io)?;
        }
        TokenAction::Revoke { name } => {
            if ledger.store().revoke_token(&name, now, &actor).await? {
                writeln!(out, "revoked token {name}; it is refused from now on").map_err(io)?;
            } else {
                return Err(CliError::Usage(format!(
                    "there is no active token named {name}"
                )));
            }
        }
    }
    Ok(())
}

/// The audit log as a plain-text table.
pub fn audit_table(lines: &[AuditRecord]) -> String {
    let mut text = format!(
        "{:<25}  {:<28}  {:<30}  {:<20}  {:<36}  DETAIL\n",
        "AT (UTC)", "ACTOR", "ACTION", "REFERENCE", "REQUEST"
    );
    for line in lines {
        text.push_str(&format!(
            "{:<25}  {:<28}  {:<30}  {:<20}  {:<36}  {}\n",
            line.at.format("%Y-%m-%d %H:%M:%S"),
            line.actor,
            line.action,
            line.reference.as_deref().unwrap_or("-"),
            line.request_id.as_deref().unwrap_or("-"),
            line.detail.as_deref().unwrap_or("-"),
        ));
    }
    text.push_str(&format!("{} line(s)\n", lines.len()));
    text
}

fn local(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// The packages as a plain-text table, times in the force time zone.
pub fn table(views: &[PackageView], tz: chrono_tz::Tz) -> String {
    let header = [
        "REFERENCE",
        "GRADE",
        "STAGE",
        "LPA",
        "RECEIVED",
        "DEADLINE",
        "STATUS",
        "OFFICER",
    ];
    let rows: Vec<[String; 8]> = views
        .iter()
        .map(|v| {
            [
                v.reference.clone(),
                v.risk_grade.to_string(),
                v.stage.to_string(),
                v.lpa.clone(),
                local(v.received_at, tz),
                local(v.deadline_at, tz),
                v.status.to_string(),
                v.assigned_officer.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(header.to_vec());
    for row in &rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text.push_str(&format!("{} package(s)\n", views.len()));
    text
}

/// A future that completes on SIGTERM or Ctrl-C. The handlers are installed
/// when this is called, not when the future is first polled, so a signal that
/// arrives while the service is still starting is not lost (without a
/// handler, SIGTERM would kill the process instead of stopping it cleanly).
/// Must be called inside the Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => tracing::info!("SIGTERM received; stopping"),
                        _ = interrupt.recv() => tracing::info!("Ctrl-C received; stopping"),
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM or Ctrl-C; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received; stopping");
        } else {
            std::future::pending::<()>().await;
        }
    }
}

/// Starts logging as `[log]` says. Logs go to standard error, so standard
/// output stays clean for `list --json`.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match settings.config.log.format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
