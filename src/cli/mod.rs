//! The command line: `serve`, `migrate`, `import`, `list`, `check-config`,
//! `token`, `audit`, `demo`, `digest`, `retention`, `quarantine`, `capacity`, `healthcheck`. Each takes `--config PATH`. [`run`]
//! dispatches to one function per command (`serve.rs`, `packages.rs`,
//! `tokens.rs`, `digest.rs`), each going through the application facade, and
//! writes to the writer it is given, so tests drive it in-process with
//! their own clock.

mod backup;
mod capacity;
mod digest;
mod health;
mod packages;
mod retention;
mod review;
mod serve;
mod tokens;

pub use capacity::CapacityFormat;
pub use serve::{block_on, init_logging, shutdown_signal};

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
use std::time::Duration;

/// Tracks OCSET intelligence packages against the national enforcement
/// timescales and escalates before and after their deadlines.
#[derive(Debug, Parser)]
#[command(
    name = "ocset-scheduler",
    version = crate::LONG_VERSION,
    propagate_version = true
)]
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
    ///
    /// With --history: packages whose clock has stopped as well as open
    /// ones, with the columns clock_stopped_at and outcome (empty for open
    /// packages) and optionally awaiting_enforcement_at; the ledger records
    /// each receipt and stage move at its historical time.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Import packages with their history (stopped clocks, outcomes,
        /// the move to awaiting enforcement).
        #[arg(long)]
        history: bool,
    },
    /// Print everything the service holds about one package as one JSON
    /// document, for a disclosure or subject-access request: the package,
    /// every event, escalation and delivery, acknowledgement, review, and
    /// every audit line naming it. The export itself is audited
    /// (`package.exported`).
    Export {
        /// The package's reference (any case).
        #[arg(long)]
        reference: String,
    },
    /// List packages with their deadlines and status.
    List(ListArgs),
    /// Record a supervisor's review of a package's risk: confirm its grade
    /// or change it (a regrade with its usual rules); the review clock
    /// restarts. Prints when the next review is due.
    Review(review::ReviewArgs),
    /// Check the configuration file and environment overrides, and print the
    /// effective configuration (passwords hidden) and any warnings: mail to
    /// files or example addresses, plain HTTP beyond this host, passwords in
    /// the file.
    CheckConfig {
        /// Refuse (exit status 1) while any warning remains: the gate for a
        /// production install.
        #[arg(long)]
        production: bool,
    },
    /// Create, list or revoke API tokens.
    #[command(subcommand)]
    Token(TokenAction),
    /// Print the audit log: every change and every read, with who and when;
    /// or verify its hash chain (`audit verify`).
    Audit {
        /// `verify`: walk the hash chain instead of printing the log.
        #[command(subcommand)]
        action: Option<AuditAction>,
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
    /// Apply `[retention] keep_stopped_for`: replace the reference, officer
    /// and notes of every package whose clock stopped longer ago by keyed
    /// pseudonyms, everywhere the database holds them (audited; the
    /// service does it once a day).
    #[command(subcommand)]
    Retention(RetentionAction),
    /// Rows set aside because the service cannot read them (a value it no
    /// longer accepts, a broken JSON payload): every pass skips them.
    #[command(subcommand)]
    Quarantine(QuarantineAction),
    /// The capacity and demand report now: packages received per week and
    /// grade over 12 and 52 weeks, time in each queue, throughput, each
    /// officer's load, and a forecast of the next 4 and 8 weeks (audited).
    Capacity {
        /// text, json or html.
        #[arg(long, value_enum, default_value_t = CapacityFormat::Text)]
        format: CapacityFormat,
    },
    /// Write a consistent copy of the SQLite database to a new file (0600),
    /// safe while the service runs; audited. Prints what it holds. On
    /// PostgreSQL use `pg_dump -Fc` instead.
    Backup {
        /// The new file; an existing one is never overwritten.
        path: PathBuf,
    },
    /// Put a backup made by `backup` in place of the SQLite database, after
    /// checking it; audited in the restored database. Stop the service
    /// first. On PostgreSQL use `pg_restore` instead.
    Restore {
        /// The backup file.
        path: PathBuf,
        /// Replace the database if one exists.
        #[arg(long)]
        force: bool,
    },
    /// Ask a running service whether it is ready (GET /readyz), as a
    /// container's HEALTHCHECK does: exit status 0 when it answers 200,
    /// 1 otherwise, with the reason.
    Healthcheck {
        /// The URL to ask; by default /readyz at http.bind, a wildcard
        /// address (0.0.0.0 or ::) asked on loopback.
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
}

/// What to do with the weekly digest.
#[derive(Debug, Subcommand)]
pub enum DigestAction {
    /// Write the weekly (or monthly, or quarterly) report to stdout
    /// without sending it.
    Preview {
        /// The ISO week, as 2024-W05 (Monday to Monday in the force time
        /// zone); by default the last complete week.
        #[arg(long, value_parser = parse_week, conflicts_with_all = ["month", "quarter"])]
        week: Option<crate::report::IsoWeek>,
        /// A calendar month, as 2024-02, for the monthly report (the 1st
        /// to the 1st in the force time zone).
        #[arg(long, value_parser = parse_month, conflicts_with = "quarter")]
        month: Option<crate::report::CalendarMonth>,
        /// A quarter, as 2024-Q1, for the quarterly report.
        #[arg(long, value_parser = parse_quarter)]
        quarter: Option<crate::report::Quarter>,
        /// html, text, json or csv (the open packages and breaches).
        #[arg(long, value_enum, default_value_t = DigestFormat::Text)]
        format: DigestFormat,
    },
    /// Send the weekly digest for a week again, now, to the audience of
    /// every weekly `[[digest]]` schedule (or a month's or quarter's to
    /// every monthly or quarterly one; audited; the scheduled run is not
    /// affected). Queues the messages and delivers what it can.
    Send {
        /// The ISO week, as 2024-W05; by default the last complete week.
        #[arg(long, value_parser = parse_week, conflicts_with_all = ["month", "quarter"])]
        week: Option<crate::report::IsoWeek>,
        /// A calendar month, as 2024-02: the monthly digest.
        #[arg(long, value_parser = parse_month, conflicts_with = "quarter")]
        month: Option<crate::report::CalendarMonth>,
        /// A quarter, as 2024-Q1: the quarterly digest.
        #[arg(long, value_parser = parse_quarter)]
        quarter: Option<crate::report::Quarter>,
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

fn parse_month(text: &str) -> Result<crate::report::CalendarMonth, String> {
    text.parse()
        .map_err(|e: crate::report::BadPeriod| e.to_string())
}

fn parse_quarter(text: &str) -> Result<crate::report::Quarter, String> {
    text.parse()
        .map_err(|e: crate::report::BadPeriod| e.to_string())
}

/// What to do with the audit log besides printing it.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the audit log's hash chain from its first line. Prints the
    /// number of lines and the head (SEQ:HASH) when every line fits; the
    /// first line that does not, with its id and time, and exit status 1
    /// otherwise. The outcome is recorded for /metrics.
    Verify {
        /// A head kept outside the database (the last line of a weekly
        /// digest, an earlier `audit verify`), as SEQ:HASH: the chain must
        /// still hold that line with that hash, so a chain cut short or
        /// rewritten since is found.
        #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
        head: Option<crate::store::ChainHead>,
    },
}

fn parse_head(text: &str) -> Result<crate::store::ChainHead, String> {
    text.parse()
}

/// What to do about retention.
#[derive(Debug, Subcommand)]
pub enum RetentionAction {
    /// Purge now the packages past the retention period, printing how
    /// many, their stop period and the rule.
    Run {
        /// Only print what would be purged; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// What to do about rows set aside.
#[derive(Debug, Subcommand)]
pub enum QuarantineAction {
    /// List them: kind, id, reference, when and why (audited).
    List,
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
    /// `check-config --production` found what production must not do.
    #[error("the configuration is valid but not fit for production:\n{}", list(.0))]
    NotForProduction(Vec<ConfigError>),
    /// The import file has faults; nothing was imported.
    #[error("{}; nothing was imported:\n{}{}", count(.0.total), list(&.0.listed), unlisted(.0))]
    Import(crate::app::ImportFaults),
    /// A value given on the command line is not valid.
    #[error("{0}")]
    Usage(String),
    /// `check-config`: the single sign-on issuer cannot be reached or
    /// does not fit.
    #[error("auth.oidc.issuer: {0}")]
    Issuer(#[from] crate::oidc::IssuerError),
    /// `audit verify` found a line that does not fit the chain.
    #[error("the audit chain does not verify: {0}")]
    AuditBroken(crate::store::ChainBreak),
    /// Storage refused or failed (the database unreachable, a corrupt row).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A backup or restore was refused or failed; the text says why.
    #[error(transparent)]
    Backup(#[from] crate::store::BackupError),
    /// The outbox's queue failed (the store behind it; the same text).
    #[error(transparent)]
    Queue(#[from] crate::outbox::QueueError),
    /// Anything else, with context.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
    /// Standard output was closed before everything was written, as
    /// `list | head` does: the reader has what it wanted, so [`run`]
    /// ends normally.
    #[error("the output was closed before it was all written")]
    OutputClosed,
}

/// The line that says how many faults were not listed, if any.
fn unlisted(faults: &crate::app::ImportFaults) -> String {
    match faults.unlisted() {
        0 => String::new(),
        n => format!(
            "\n  ... and {n} more (only the first {} are listed)",
            crate::app::IMPORT_FAULTS_LISTED
        ),
    }
}

fn count(n: u64) -> String {
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

/// The actor recorded in the ledger for changes made from this command line:
/// `cli:` and the operating system's name for the user running it.
pub(crate) fn cli_actor() -> String {
    format!("cli:{}", os_user())
}

/// Who runs this process, as the operating system knows them. On Unix the
/// effective user id (the owner of `/proc/self`) named from `/etc/passwd`,
/// or `uid:N` when it has no entry there (a container's bare uid); not
/// `$USER`, which anyone can set and which is often unset under services
/// and cron. Elsewhere `%USERNAME%`.
fn os_user() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(me) = std::fs::metadata("/proc/self") {
            let uid = me.uid();
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            return user_named(&passwd, uid).unwrap_or_else(|| format!("uid:{uid}"));
        }
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The name `passwd` (the text of `/etc/passwd`) gives user id `uid`.
#[cfg_attr(not(unix), allow(dead_code))]
fn user_named(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse() == Ok(uid) && !name.is_empty()).then(|| name.to_string())
    })
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

/// Why writing the output failed, as a command error. Standard output
/// closed by its reader (`list | head`) is [`CliError::OutputClosed`].
fn io(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return CliError::OutputClosed;
    }
    CliError::Other(anyhow::Error::new(e).context("writing the output"))
}

/// Why writing JSON output failed, as [`io`] says for a write.
fn json_io(e: serde_json::Error) -> CliError {
    match e.io_error_kind() {
        Some(kind) => io(std::io::Error::new(kind, e)),
        None => CliError::Other(e.into()),
    }
}

/// `rows` under `header` in columns two spaces apart, each as wide as its
/// widest cell (counted in characters), trailing spaces trimmed.
pub(crate) fn columns<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(*header);
    for row in rows {
        text.push_str(&line(row.each_ref().map(String::as_str)));
    }
    text
}

/// Runs one command with `settings` already loaded. `shutdown` ends `serve`.
pub async fn run(
    command: Command,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let done = match command {
        Command::CheckConfig { production } => {
            serve::check_config(&settings, production, out).await
        }
        Command::Migrate => serve::migrate(settings, clock, out).await,
        Command::Serve => serve::serve(settings, clock, shutdown).await,
        Command::Token(action) => tokens::token(action, settings, clock, out).await,
        Command::Audit {
            action: Some(AuditAction::Verify { head }),
            ..
        } => packages::audit_verify(head, settings, clock, out).await,
        Command::Audit {
            action: None,
            reference,
            json,
        } => packages::audit(reference, json, settings, clock, out).await,
        Command::Import { file, history } => {
            packages::import(&file, history, settings, clock, out).await
        }
        Command::Export { reference } => packages::export(&reference, settings, clock, out).await,
        Command::List(args) => packages::list(args, settings, clock, out).await,
        Command::Review(args) => review::review(args, settings, clock, out).await,
        Command::Digest(DigestAction::Preview {
            week,
            month,
            quarter,
            format,
        }) => {
            let asked = digest::Asked {
                week,
                month,
                quarter,
            };
            digest::preview(asked, format, settings, clock, out).await
        }
        Command::Digest(DigestAction::Send {
            week,
            month,
            quarter,
        }) => {
            let asked = digest::Asked {
                week,
                month,
                quarter,
            };
            digest::send(asked, settings, clock, out).await
        }
        Command::Retention(RetentionAction::Run { dry_run }) => {
            retention::run(dry_run, settings, clock, out).await
        }
        Command::Quarantine(QuarantineAction::List) => {
            retention::quarantine_list(settings, clock, out).await
        }
        Command::Capacity { format } => capacity::capacity(format, settings, clock, out).await,
        Command::Demo => packages::demo(settings, clock, out).await,
        Command::Backup { path } => backup::backup(&path, settings, clock, out).await,
        Command::Restore { path, force } => {
            backup::restore(&path, force, settings, clock, out).await
        }
        Command::Healthcheck { url, timeout } => {
            health::healthcheck(url, Duration::from_secs(timeout), &settings, out).await
        }
    };
    match done {
        Err(CliError::OutputClosed) => Ok(()),
        done => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_named_by_the_passwd_line_with_their_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      # a comment\n\
                      ocset:x:1001:1001::/srv/ocset:/usr/sbin/nologin\n\
                      broken-line\n";
        assert_eq!(user_named(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_named(passwd, 1001).as_deref(), Some("ocset"));
        assert_eq!(user_named(passwd, 1002), None, "no entry: uid:N instead");
    }

    #[test]
    fn a_closed_output_ends_the_command_and_other_write_errors_do_not() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(matches!(io(closed), CliError::OutputClosed));
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(matches!(io(full), CliError::Other(_)));
    }
}
