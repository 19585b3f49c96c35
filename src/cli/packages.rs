//! The ledger commands: `import`, `export`, `list`, `audit` and `demo`, and the plain
//! text tables they print.

use super::{cli_actor, io, json_io, open_app, CliError, ListArgs};
use crate::app::{ImportError, PackageView};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::{Lpa, Reference};
use crate::import::CsvRows;
use crate::store::{Actor, AuditRecord, PackageFilter};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// `import [--history] FILE`: imports packages (with their history) from a
/// CSV file, all or nothing.
pub(super) async fn import(
    file: &Path,
    history: bool,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    // Opened here, so that a missing file is named before the database is
    // opened; read as the import goes, never held whole.
    let opened = std::fs::File::open(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let input = std::io::BufReader::with_capacity(1 << 16, opened);
    let app = open_app(settings, clock).await?;
    let actor = Actor::named(cli_actor());
    let imported = if history {
        app.import_history(CsvRows::history(input), &actor).await
    } else {
        app.import(CsvRows::new(input), &actor).await
    };
    let imported = imported.map_err(|e| match e {
        ImportError::Rows(rows) => CliError::Import(rows),
        ImportError::Store(e) => CliError::Store(e),
    })?;
    writeln!(
        out,
        "imported {imported} package(s){} from {}",
        if history { " with their history" } else { "" },
        file.display()
    )
    .map_err(io)?;
    Ok(())
}

/// `export --reference R`: everything held about one package, as one JSON
/// document on stdout; audited.
pub(super) async fn export(
    reference: &str,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let reference = Reference::parse(reference)
        .map_err(|e| CliError::Usage(format!("--reference: {}", e.0)))?;
    let app = open_app(settings, clock).await?;
    let export = app
        .export(&reference, &Actor::named(cli_actor()))
        .await?
        .ok_or(crate::store::StoreError::NotFound(reference))?;
    serde_json::to_writer_pretty(&mut *out, &export).map_err(json_io)?;
    writeln!(out).map_err(io)?;
    Ok(())
}

/// `list`: packages with their deadlines and status, as a table or JSON.
pub(super) async fn list(
    args: ListArgs,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
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
    let app = open_app(settings, clock).await?;
    let filter = PackageFilter {
        open_only: args.open,
        grade: args.grade,
        lpa: lpa.as_ref().map(Lpa::to_string),
        stage: args.stage,
        ..PackageFilter::default()
    };
    let views = app.list(&filter, &Actor::named(cli_actor())).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &views).map_err(json_io)?;
        writeln!(out).map_err(io)?;
    } else {
        write!(out, "{}", table(&views, tz)).map_err(io)?;
    }
    Ok(())
}

/// `audit`: the audit log, all of it or one package's, as a table or JSON.
pub(super) async fn audit(
    reference: Option<String>,
    json: bool,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let reference = reference
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .map_err(|e| CliError::Usage(format!("--reference: {}", e.0)))?;
    let app = open_app(settings, clock).await?;
    let lines = app.audit_log(reference.as_ref()).await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &lines).map_err(json_io)?;
        writeln!(out).map_err(io)?;
    } else {
        write!(out, "{}", audit_table(&lines)).map_err(io)?;
    }
    Ok(())
}

/// `audit verify`: walks the chain (against `copy` when given), records
/// the outcome, and prints the line count and the head; a break is the
/// command's error (exit status 1), naming the line.
pub(super) async fn audit_verify(
    copy: Option<crate::store::ChainHead>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let app = open_app(settings, clock).await?;
    match app.verify_audit_chain(copy.as_ref()).await? {
        crate::store::ChainVerdict::Broken(broken) => Err(CliError::AuditBroken(broken)),
        crate::store::ChainVerdict::Intact(intact) => {
            let pseudonymised = match intact.pseudonymised {
                0 => String::new(),
                n => format!(" ({n} with a pseudonymised reference)"),
            };
            writeln!(
                out,
                "the audit chain verifies: {} lines{pseudonymised}",
                intact.lines
            )
            .map_err(io)?;
            if let Some(copy) = &copy {
                writeln!(out, "it holds the copy of the head {copy}").map_err(io)?;
            }
            match &intact.head {
                Some(head) => writeln!(out, "head {head}").map_err(io)?,
                None => writeln!(out, "head none (the audit log is empty)").map_err(io)?,
            }
            Ok(())
        }
    }
}

/// `demo`: fills an empty database with fictional packages.
pub(super) async fn demo(
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let bind = settings.config.http.bind.clone();
    let app = open_app(settings, clock).await?;
    let message = crate::demo::load(&app).await?;
    writeln!(out, "{message}").map_err(io)?;
    // A token to sign in to the dashboard with, so the first run needs no
    // other step: a supervisor (to try acknowledging), named by when it was
    // made so that each run makes a new one.
    // A name already taken (two runs within one second, or a fixed test
    // clock) takes the next free suffix.
    let stamp = format!("demo-{}", app.now().format("%Y%m%d-%H%M%S"));
    let actor = Actor::named(cli_actor());
    let mut attempt = 1;
    let (name, token) = loop {
        let name = match attempt {
            1 => stamp.clone(),
            n => format!("{stamp}-{n}"),
        };
        match app
            .create_token(&name, crate::domain::Role::Supervisor, &actor)
            .await
        {
            Ok(token) => break (name, token),
            Err(crate::app::TokenError::Store(crate::store::StoreError::DuplicateToken(_)))
                if attempt < 100 =>
            {
                attempt += 1
            }
            Err(crate::app::TokenError::BadName(e)) => {
                return Err(CliError::Other(anyhow::anyhow!(e)))
            }
            Err(crate::app::TokenError::Store(e)) => return Err(CliError::Store(e)),
        }
    };
    writeln!(
        out,
        "run `serve`, open http://{bind}/ and sign in with this supervisor token \
         ({name}; shown once, revoke it with `token revoke {name}`):"
    )
    .map_err(io)?;
    writeln!(out, "{token}").map_err(io)?;
    Ok(())
}

/// The audit log as a plain-text table.
pub(crate) fn audit_table(lines: &[AuditRecord]) -> String {
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
pub(crate) fn table(views: &[PackageView], tz: chrono_tz::Tz) -> String {
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
    let mut text = super::columns(&header, &rows);
    text.push_str(&format!("{} package(s)\n", views.len()));
    text
}
