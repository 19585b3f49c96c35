//! The facade's backups: a copy of the whole database, audited, and a
//! restore of one in place of the database (`store/backup.rs` does the
//! copying and checking).

use super::App;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::{Actor, BackupContents, BackupError, RestoreBy, Restored};
use std::path::Path;

impl App {
    /// Writes a consistent copy of the database to the new file `to` while
    /// the service may be writing, and records `database.backup` in the
    /// audit log, naming the file and what it holds. A copy of every case
    /// is never left unaudited: if the line cannot be written, the copy is
    /// removed and the error returned.
    pub async fn backup(&self, to: &Path, actor: &Actor) -> Result<BackupContents, BackupError> {
        let contents = self.store.backup(to).await?;
        let detail = format!("to {} ({contents})", contents.path.display());
        if let Err(e) = self
            .store
            .audit(actor, "database.backup", None, Some(&detail), self.now())
            .await
        {
            let _ = std::fs::remove_file(&contents.path);
            return Err(e.into());
        }
        Ok(contents)
    }

    /// Puts the backup `from` in place of the database `settings` names,
    /// with a `database.restored` audit line by `actor` in it (timed by
    /// `clock`). Opens no application: the database being replaced must not
    /// be migrated or held open first. `force` replaces an existing one.
    pub async fn restore(
        settings: &Settings,
        from: &Path,
        force: bool,
        actor: &Actor,
        clock: &dyn Clock,
    ) -> Result<Restored, BackupError> {
        let by = RestoreBy {
            actor: actor.clone(),
            at: clock.now(),
        };
        crate::store::restore(settings.config.database.url.expose(), from, force, &by).await
    }
}
