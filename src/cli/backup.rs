//! `backup` and `restore`: a consistent copy of the SQLite database taken
//! while the service runs, and that copy put back in place of the
//! database, each audited. PostgreSQL is copied with its own tools
//! (`pg_dump -Fc`, `pg_restore`): both commands refuse there, naming them.

use super::{cli_actor, io, CliError};
use crate::app::App;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::{self, Actor, BackupError};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// `backup PATH`: opens the database as it is, without migrating it (a
/// backup taken before an upgrade must be of the old schema), and writes
/// the copy through the application facade.
pub(super) async fn backup(
    to: &Path,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let url = settings.config.database.url.expose().to_string();
    // Connecting creates a missing SQLite file: refuse first instead of
    // backing up an empty database made on the spot.
    if url.starts_with("sqlite:") {
        let file = store::sqlite_file(&url)?;
        if !file.exists() {
            return Err(BackupError::NoDatabase(file).into());
        }
    }
    let store = store::connect(&url, settings.config.database.max_connections).await?;
    let app = App::new(store, Arc::new(settings), clock);
    let started = std::time::Instant::now();
    let made = app.backup(to, &Actor::named(cli_actor())).await?;
    writeln!(
        out,
        "backup written to {} in {:.1} s: {made}",
        made.path.display(),
        started.elapsed().as_secs_f64()
    )
    .map_err(io)?;
    Ok(())
}

/// `restore PATH [--force]`: puts the backup in place of the database the
/// configuration names, and says what it holds and what happens next.
pub(super) async fn restore(
    from: &Path,
    force: bool,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let actor = Actor::named(cli_actor());
    let done = App::restore(&settings, from, force, &actor, clock.as_ref()).await?;
    writeln!(
        out,
        "restored {} from {}: {}",
        done.database.display(),
        done.contents.path.display(),
        done.contents
    )
    .map_err(io)?;
    if done.replaced {
        writeln!(out, "the database that was there was replaced").map_err(io)?;
    }
    if done.contents.migration < done.known_migration {
        writeln!(
            out,
            "the backup is at migration {}; this version migrates it to {} when it next starts",
            done.contents.migration, done.known_migration
        )
        .map_err(io)?;
    }
    writeln!(
        out,
        "messages queued after the backup was taken are not in it; messages sent after it may be sent again (README, \"Backups and restore\")"
    )
    .map_err(io)?;
    Ok(())
}
