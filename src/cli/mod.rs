//! The command line: `serve`, `migrate`, `import`, `list`, `check-config`,
//! `token`, `audit`, `demo`, `digest`. Each takes `--config PATH`. [`run`]
//! dispatches to one function per command (`serve.rs`, `packages.rs`,
//! `tokens.rs`, `digest.rs`), each going through the application facade, and
//! writes to the writer it is given, so tests drive it in-process with
//! their own clock.

mod digest;
mod packages;
mod serve;
mod tokens;

pub use serve::{init_logging, shutdown_signal};

use crate::app::App;
use crate::clock::Clock;
use crate::config::{self, ConfigError, Settings};
use crate::domain::{RiskGrade, Role, Stage};
use crate::store::{self, StoreError};
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
    pub(crate) config: PathBuf,

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
    // "Only this grade: very_high, high, medium or standard", from the enum.
    #[arg(long, value_parser = parse_grade, help = grade_help())]
    pub grade: Option<RiskGrade>,
    /// Only this LPA.
    #[arg(long)]
    pub lpa: Option<String>,
    /// Only this stage: intelligence_development, awaiting_enforcement,
    /// enforced or closed.
    #[arg(long, value_parser = parse_stage)]
    pub stage: Option<Stage>,
}

/// The `--grade` help, naming every grade there is.
fn grade_help() -> String {
    format!("Only this grade: {}", RiskGrade::name_list(" or "))
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
    Import(Vec<crate::app::RowError>),
    /// A value given on the command line is not valid.
    #[error("{0}")]
    Usage(String),
    /// Storage refused or failed (the database unreachable, a corrupt row).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbox's queue failed (the store behind it; the same text).
    #[error(transparent)]
    Queue(#[from] crate::outbox::QueueError),
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
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Loads the settings `cli` names, with the `OCSET__` variables of `env`.
pub fn load_settings(cli: &Cli, env: Vec<(String, String)>) -> Result<Settings, CliError> {
    config::load(&cli.config, env).map_err(CliError::Config)
}

/// Connects to the database `settings` names, migrates it, and opens the
/// application facade over it: every command but `check-config` starts here.
async fn open_app(settings: Settings, clock: Arc<dyn Clock>) -> Result<App, CliError> {
    let store = store::connect(
        settings.config.database.url.expose(),
        settings.config.database.max_connections,
    )
    .await?;
    store.migrate().await?;
    Ok(App::new(store, Arc::new(settings), clock))
}

/// Why writing the output failed, as a command error.
fn io(e: std::io::Error) -> CliError {
    CliError::Other(anyhow::Error::new(e).context("writing the output"))
}

/// Runs one command with `settings` already loaded. `shutdown` ends `serve`.
pub async fn run(
    command: Command,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    match command {
        Command::CheckConfig => serve::check_config(&settings, out),
        Command::Migrate => serve::migrate(settings, clock, out).await,
        Command::Serve => serve::serve(settings, clock, shutdown).await,
        Command::Token(action) => tokens::token(action, settings, clock, out).await,
        Command::Audit { reference, json } => {
            packages::audit(reference, json, settings, clock, out).await
        }
        Command::Import { file } => packages::import(&file, settings, clock, out).await,
        Command::List(args) => packages::list(args, settings, clock, out).await,
        Command::Digest(DigestAction::Preview { week, format }) => {
            digest::preview(week, format, settings, clock, out).await
        }
        Command::Digest(DigestAction::Send { week }) => {
            digest::send(week, settings, clock, out).await
        }
        Command::Demo => packages::demo(settings, clock, out).await,
    }
}
