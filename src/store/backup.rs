//! Whole-database copies: a backup taken while the service runs, and a
//! backup put back in place of the database.
//!
//! On SQLite, `VACUUM INTO` writes a consistent snapshot (one read
//! transaction: every committed write before it, none after) into a new
//! file while the service carries on writing (WAL lets one writer and the
//! copy's reader work side by side). The copy is checked as a restore
//! would check it, so a backup that cannot be restored is never reported
//! as written.
//!
//! A restore copies the backup to a temporary file beside the database,
//! checks that copy (SQLite's `integrity_check`, the ocset tables, no
//! migration this binary does not know), appends the restore's audit line
//! to it, syncs it, and renames it over the database: at every instant the
//! database's path holds either the old database whole or the restored one
//! whole. It refuses while anything has the database open: a running
//! service keeps connections open in WAL mode, and leaving WAL mode needs
//! the only connection, so the attempt fails at once when another exists.
//!
//! PostgreSQL has its own tools, better than anything this service could
//! do over one connection (`pg_dump -Fc`, `pg_restore`, and continuous WAL
//! archiving for point-in-time recovery); both commands refuse there,
//! naming them.

use super::dialect::Dialect;
use super::{Actor, SqlStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Encode, Executor, IntoArguments, Sqlite, Type};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// How a backend's database is copied whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupMethod {
    /// By the service: SQLite's `VACUUM INTO` a new file, restored by
    /// putting the file in place.
    VacuumInto,
    /// By the backend's own tools, which the refusal names.
    Tools {
        /// The backup command, as the README shows it.
        backup: &'static str,
        /// The restore command.
        restore: &'static str,
    },
}

/// What a backup file holds, read from the file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupContents {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The latest migration applied to it.
    pub migration: i64,
    /// Rows in `packages`.
    pub packages: u64,
    /// Rows in `package_events` (the ledger).
    pub events: u64,
    /// Lines of the audit log.
    pub audit_lines: u64,
    /// Rows in `outbox` (messages, sent or not).
    pub outbox_rows: u64,
}

impl std::fmt::Display for BackupContents {
    /// `12345 bytes, migration 3, 10 packages, ...`: the figures of the
    /// command's output and of the audit line's detail.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes, migration {}, {} packages, {} ledger events, {} audit lines, {} outbox rows",
            self.bytes,
            self.migration,
            self.packages,
            self.events,
            self.audit_lines,
            self.outbox_rows
        )
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The database file now in place.
    pub database: PathBuf,
    /// What it holds, as read from the backup (before the restore's own
    /// audit line).
    pub contents: BackupContents,
    /// Whether a database was there before and was replaced.
    pub replaced: bool,
    /// The latest migration this binary knows: above `contents.migration`,
    /// the next start migrates the restored database.
    pub known_migration: i64,
}

/// Why a backup or a restore was refused or failed. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backend is copied by its own tools.
    #[error(
        "ocset-scheduler does not {action} {backend} databases: use `{tool}` \
         (README, \"Backups and restore\", has the steps, and point-in-time recovery)"
    )]
    Unsupported {
        /// `back up` or `restore`.
        action: &'static str,
        /// The backend's name.
        backend: &'static str,
        /// The tool to use.
        tool: &'static str,
    },
    /// The backup's path is taken: a backup never overwrites a file.
    #[error("{} already exists: a backup never overwrites a file; give a new path", .0.display())]
    BackupExists(PathBuf),
    /// The database to restore over exists and `--force` was not given.
    #[error(
        "the database {} already exists: stop the service, then restore with --force to replace it",
        .0.display()
    )]
    TargetExists(PathBuf),
    /// Something has the database open.
    #[error(
        "the database {} is in use (a running service or another command has it open): \
         stop it, then restore",
        .0.display()
    )]
    InUse(PathBuf),
    /// `database.url` names no file (an in-memory database).
    #[error("database.url names no database file ({0}): there is nothing to back up or restore")]
    NoFile(String),
    /// The database to back up does not exist.
    #[error("the database {} does not exist: there is nothing to back up", .0.display())]
    NoDatabase(PathBuf),
    /// The file is not an SQLite database at all.
    #[error("{} is not an SQLite database: {reason}", path.display())]
    NotSqlite {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// SQLite's `integrity_check` found faults.
    #[error("{} is damaged: SQLite's integrity_check says {problems}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The first faults it lists.
        problems: String,
    },
    /// An SQLite database, but not this service's.
    #[error("{} is not an ocset-scheduler database: {reason}", path.display())]
    NotOcset {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// Made by a newer version of the service.
    #[error(
        "{} was made by a newer ocset-scheduler: its migration {version} is unknown to this \
         binary, which knows migrations up to {known}; restore it with the version that made it",
        path.display()
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// The first migration this binary does not know.
        version: i64,
        /// The latest this binary knows.
        known: i64,
    },
    /// A migration is recorded with another checksum, or as failed.
    #[error("{} does not match this binary's migrations: migration {version} {problem}", path.display())]
    Migrations {
        /// The file.
        path: PathBuf,
        /// The migration.
        version: i64,
        /// `differs from this binary's` or `did not finish`.
        problem: &'static str,
    },
    /// A file operation failed.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An [`BackupError::Io`] maker for `map_err`.
fn io_error(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io {
        context,
        path,
        source,
    }
}

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The tables an ocset database has had since its first migration.
const OCSET_TABLES: [&str; 6] = [
    "packages",
    "package_events",
    "audit_log",
    "escalations",
    "outbox",
    "api_tokens",
];

/// At most this many of `integrity_check`'s faults are named.
const FAULTS_SHOWN: u32 = 5;

/// SQLite's result codes the checks tell apart (primary codes; the
/// extended ones carry them in the low byte).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_NOTADB: i64 = 26;

/// The primary SQLite result code of `error`, if it is a database error.
fn sqlite_code(error: &sqlx::Error) -> Option<i64> {
    match error {
        sqlx::Error::Database(db) => db.code()?.parse::<i64>().ok().map(|c| c & 0xff),
        _ => None,
    }
}

/// The database file an SQLite URL names, or [`BackupError::NoFile`] for
/// an in-memory database.
pub(crate) fn sqlite_file(url: &str) -> Result<PathBuf, BackupError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(StoreError::db("reading the SQLite database URL"))?;
    let file = options.get_filename();
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let in_memory = query.split('&').any(|pair| pair == "mode=memory");
    if in_memory || file.as_os_str().is_empty() || file.to_string_lossy().starts_with("file:") {
        return Err(BackupError::NoFile(crate::text::redact_url(url)));
    }
    Ok(file.to_path_buf())
}

/// `path` made absolute against the working directory, so that SQLite
/// never reads it as a `file:` URI and the messages name it whole.
fn absolute(path: &Path) -> Result<PathBuf, BackupError> {
    std::path::absolute(path).map_err(io_error("finding the folder of", path))
}

/// Syncs the folder holding `path`, so that a file created or renamed in
/// it survives a power cut (on Unix; elsewhere the rename is as durable as
/// the system makes it).
fn sync_folder(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    if let Some(folder) = path.parent() {
        std::fs::File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(io_error("syncing the folder of", path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Syncs `path`'s contents to the disk.
fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_error("syncing", path))
}

/// A file this code created, removed again unless [`Self::keep`] is
/// called: a refused or failed backup or restore leaves nothing behind.
struct Scratch(Option<PathBuf>);

impl Scratch {
    /// The file, kept from now on.
    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            for file in with_sidecars(&path) {
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

/// `path` and the files SQLite keeps beside it (`-journal`, `-wal`,
/// `-shm`).
fn with_sidecars(path: &Path) -> [PathBuf; 4] {
    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        path.to_path_buf(),
        beside("-journal"),
        beside("-wal"),
        beside("-shm"),
    ]
}

/// Refuses a file that does not start with SQLite's header, naming what
/// it is instead: empty, too short, or something else.
fn check_header(path: &Path) -> Result<(), BackupError> {
    use std::io::Read;
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(io_error("opening", path))?;
    let read = file.read(&mut header).map_err(io_error("reading", path))?;
    let reason = if read == 0 {
        "the file is empty"
    } else if read < header.len() || &header != SQLITE_HEADER {
        "it does not start with SQLite's header (\"SQLite format 3\")"
    } else {
        return Ok(());
    };
    Err(BackupError::NotSqlite {
        path: path.to_path_buf(),
        reason: reason.into(),
    })
}

/// Which migrations [`inspect`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Migrations {
    /// Only this binary's (a restore: the service must be able to run it).
    Ours,
    /// Any (a backup copies the database as it is, even one migrated by a
    /// newer version: that version can restore it).
    Any,
}

/// Checks the SQLite database open on `connection` (the file `path`):
/// whole (`integrity_check`), an ocset database, with `migrations` (for a
/// restore, none this binary does not know or that differs from its own);
/// and counts what it holds. Closes the connection.
///
/// The connection is taken, not borrowed: a borrowed one meets sqlx's
/// higher-ranked executor bounds and the future is then not `Send` for
/// every lifetime ("Executor is not general enough").
async fn inspect(
    mut connection: SqliteConnection,
    path: &Path,
    migrations: Migrations,
) -> Result<BackupContents, BackupError> {
    let contents = inspect_on(&mut connection, path, migrations).await;
    let _ = connection.close().await;
    contents
}

/// [`inspect`] on an open connection.
async fn inspect_on(
    connection: &mut SqliteConnection,
    path: &Path,
    migrations: Migrations,
) -> Result<BackupContents, BackupError> {
    let not_sqlite = |e: sqlx::Error| match sqlite_code(&e) {
        Some(SQLITE_NOTADB) => BackupError::NotSqlite {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        Some(SQLITE_CORRUPT) => BackupError::Damaged {
            path: path.to_path_buf(),
            problems: e.to_string(),
        },
        _ => BackupError::Store(StoreError::db("checking a database file")(e)),
    };
    let faults: Vec<String> =
        sqlx::query_scalar(&format!("PRAGMA integrity_check({FAULTS_SHOWN})"))
            .fetch_all(&mut *connection)
            .await
            .map_err(not_sqlite)?;
    if faults != ["ok"] {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            problems: faults.join("; "),
        });
    }
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *connection)
            .await
            .map_err(not_sqlite)?;
    let not_ocset = |reason: String| BackupError::NotOcset {
        path: path.to_path_buf(),
        reason,
    };
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        return Err(not_ocset(
            "it has no _sqlx_migrations table (never migrated by ocset-scheduler)".into(),
        ));
    }
    if let Some(missing) = OCSET_TABLES
        .iter()
        .find(|t| !tables.iter().any(|n| n == *t))
    {
        return Err(not_ocset(format!("it has no {missing} table")));
    }
    let applied: Vec<(i64, bool, Vec<u8>)> = sqlx::query_as(super::sql_store::APPLIED_MIGRATIONS)
        .fetch_all(&mut *connection)
        .await
        .map_err(not_sqlite)?;
    if migrations == Migrations::Ours {
        check_migrations(path, &applied)?;
    } else if applied.is_empty() {
        return Err(not_ocset("no migration was ever applied to it".into()));
    }
    // One statement for the four counts (the table names are constants).
    let (packages, events, audit_lines, outbox_rows): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM packages), (SELECT COUNT(*) FROM package_events), \
         (SELECT COUNT(*) FROM audit_log), (SELECT COUNT(*) FROM outbox)",
    )
    .fetch_one(&mut *connection)
    .await
    .map_err(not_sqlite)?;
    let bytes = std::fs::metadata(path)
        .map_err(io_error("reading the size of", path))?
        .len();
    Ok(BackupContents {
        path: path.to_path_buf(),
        bytes,
        migration: applied.iter().map(|(v, ..)| *v).max().unwrap_or(0),
        packages: packages.unsigned_abs(),
        events: events.unsigned_abs(),
        audit_lines: audit_lines.unsigned_abs(),
        outbox_rows: outbox_rows.unsigned_abs(),
    })
}

/// The latest migration this binary knows on SQLite.
fn known_migration() -> i64 {
    Sqlite::migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Refuses migrations (`(version, success, checksum)` as sqlx records
/// them) that this binary does not know, that differ from its own, or that
/// did not finish. Fewer is fine: the next start applies the rest.
fn check_migrations(path: &Path, applied: &[(i64, bool, Vec<u8>)]) -> Result<(), BackupError> {
    if applied.is_empty() {
        return Err(BackupError::NotOcset {
            path: path.to_path_buf(),
            reason: "no migration was ever applied to it".into(),
        });
    }
    let mut sorted = applied.to_vec();
    sorted.sort_by_key(|(version, ..)| *version);
    for (version, success, checksum) in sorted {
        let Some(ours) = Sqlite::migrator()
            .iter()
            .find(|m| m.version == version && !m.migration_type.is_down_migration())
        else {
            return Err(BackupError::Newer {
                path: path.to_path_buf(),
                version,
                known: known_migration(),
            });
        };
        let problem = if !success {
            "did not finish"
        } else if *ours.checksum != *checksum {
            "differs from this binary's (made by another build)"
        } else {
            continue;
        };
        return Err(BackupError::Migrations {
            path: path.to_path_buf(),
            version,
            problem,
        });
    }
    Ok(())
}

/// Options for a connection of this module's own to the file `path`: no
/// waiting for locks, never creating the file.
fn own_connection(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::ZERO)
        .foreign_keys(false)
        .disable_statement_logging()
}

/// Reads a backup just written (read-only) and checks it as a restore
/// would, whatever its migrations.
async fn inspect_file(path: &Path) -> Result<BackupContents, BackupError> {
    check_header(path)?;
    let connection = SqliteConnection::connect_with(&own_connection(path).read_only(true))
        .await
        .map_err(StoreError::db("opening the backup to check it"))?;
    inspect(connection, path, Migrations::Any).await
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    /// [`super::Store::backup`], by the dialect's [`BackupMethod`].
    pub(super) async fn backup_to(&self, to: &Path) -> Result<BackupContents, BackupError> {
        match DB::BACKUP {
            BackupMethod::Tools { backup, .. } => Err(BackupError::Unsupported {
                action: "back up",
                backend: DB::NAME,
                tool: backup,
            }),
            BackupMethod::VacuumInto => self.vacuum_into(to).await,
        }
    }

    /// `VACUUM INTO` a new 0600 file at `to`, synced, then checked as a
    /// restore would check it. The file is removed if anything fails.
    async fn vacuum_into(&self, to: &Path) -> Result<BackupContents, BackupError> {
        let to = absolute(to)?;
        // Made here, empty and 0600, before SQLite writes into it (VACUUM
        // INTO accepts an empty file and keeps its mode); create_new, so an
        // existing file is never touched.
        match crate::files::create_private_file(&to) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BackupError::BackupExists(to))
            }
            Err(e) => return Err(io_error("creating", &to)(e)),
        }
        let scratch = Scratch(Some(to.clone()));
        let text = to.to_str().ok_or_else(|| BackupError::Io {
            context: "naming",
            path: to.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not UTF-8"),
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(text)
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("copying the database (VACUUM INTO)"))?;
        // VACUUM INTO does not sync what it writes.
        sync_file(&to)?;
        sync_folder(&to)?;
        let contents = inspect_file(&to).await?;
        scratch.keep();
        Ok(contents)
    }
}

/// Whether a connection other than ours has the SQLite database `path`
/// open. Taking the database out of WAL mode needs the only connection
/// (SQLite cannot wait for that lock), so the attempt fails at once while
/// a service's pool holds one, idle or not; a database already out of WAL
/// mode is then locked exclusively and released, which fails while anyone
/// is in a transaction. On success the database is left out of WAL mode
/// with its `-wal` and `-shm` files gone, so none of them is left beside
/// the file that takes its place.
///
/// A file that is not a database cannot be in use as one: it may be
/// replaced (the damaged database a restore is for).
async fn ensure_not_in_use(path: &Path) -> Result<(), BackupError> {
    let refused = |e: sqlx::Error| match sqlite_code(&e) {
        Some(SQLITE_BUSY | SQLITE_LOCKED) => Err(BackupError::InUse(path.to_path_buf())),
        Some(SQLITE_NOTADB) => Ok(()),
        _ => Err(BackupError::Store(StoreError::db(
            "checking whether the database is in use",
        )(e))),
    };
    // The statements run on an established connection, closed explicitly
    // whatever they answer: a connection whose connect-time pragma failed
    // is closed by its worker thread later, and would itself be "in use"
    // to the next check.
    let mut connection = match SqliteConnection::connect_with(&own_connection(path)).await {
        Ok(connection) => connection,
        Err(e) => return refused(e),
    };
    let mut checked = Ok(());
    // query, not raw_sql: raw_sql's future over a borrowed connection is
    // not `Send` for every lifetime, which the callers need.
    for statement in [
        "PRAGMA locking_mode = EXCLUSIVE",
        "PRAGMA journal_mode = DELETE",
        "BEGIN EXCLUSIVE",
        "COMMIT",
    ] {
        if let Err(e) = sqlx::query(statement).execute(&mut connection).await {
            checked = Err(e);
            break;
        }
    }
    let closed = connection.close().await;
    match (checked, closed) {
        (Err(e), _) => refused(e),
        (Ok(()), Err(e)) => refused(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// Who restores, and when: the restore's audit line.
#[derive(Debug, Clone)]
pub struct RestoreBy {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// Restores the backup `from` over the SQLite database `url` names (see
/// the module documentation for the order of the steps). `force` allows
/// replacing an existing database.
pub(super) async fn restore_sqlite(
    url: &str,
    from: &Path,
    force: bool,
    by: &RestoreBy,
) -> Result<Restored, BackupError> {
    let target = absolute(&sqlite_file(url)?)?;
    let from = absolute(from)?;
    check_header(&from)?;
    let replaced = target.exists();
    if replaced && !force {
        return Err(BackupError::TargetExists(target));
    }
    let folder = target
        .parent()
        .filter(|f| !f.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::files::create_private_dir_all(folder)
        .map_err(io_error("creating the folder", folder))?;
    let name = target
        .file_name()
        .map_or("ocset.db".into(), |n| n.to_string_lossy().into_owned());
    let temp = folder.join(format!(".{name}.restore-{}", std::process::id()));
    let mut out = match crate::files::create_private_file(&temp) {
        Ok(file) => file,
        // Left by a restore that was killed: this process's id is ours now.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&temp).map_err(io_error("removing", &temp))?;
            crate::files::create_private_file(&temp).map_err(io_error("creating", &temp))?
        }
        Err(e) => return Err(io_error("creating", &temp)(e)),
    };
    let scratch = Scratch(Some(temp.clone()));
    let mut source = std::fs::File::open(&from).map_err(io_error("opening", &from))?;
    std::io::copy(&mut source, &mut out).map_err(io_error("copying the backup to", &temp))?;
    drop(out);

    // The copy is checked (not the backup itself, which may be read-only or
    // in WAL mode), and carries the restore's audit line when it is put in
    // place: a restored database always says where it came from.
    let connection = SqliteConnection::connect_with(&own_connection(&temp))
        .await
        .map_err(StoreError::db("opening the copy of the backup"))?;
    let mut contents = inspect(connection, &temp, Migrations::Ours)
        .await
        .map_err(|e| named_as(e, &from))?;
    contents.path = from.clone();
    let detail = format!(
        "from {} ({contents}); {}",
        from.display(),
        if replaced {
            "replaced the database that was there"
        } else {
            "no database was there"
        }
    );
    append_restore_line(&temp, by, &detail).await?;
    sync_file(&temp)?;

    if replaced {
        ensure_not_in_use(&target).await?;
    }
    // Whatever SQLite left beside the old file belongs to it, not to the
    // file that takes its place (none is left when it was a database).
    for sidecar in with_sidecars(&target).iter().skip(1) {
        match std::fs::remove_file(sidecar) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("removing", sidecar)(e)),
        }
    }
    std::fs::rename(&temp, &target)
        .map_err(io_error("putting the restored database at", &target))?;
    scratch.keep();
    sync_folder(&target)?;
    Ok(Restored {
        database: target,
        contents,
        replaced,
        known_migration: known_migration(),
    })
}

/// A check's error about the temporary copy, naming the backup instead:
/// the file the operator gave.
fn named_as(error: BackupError, from: &Path) -> BackupError {
    let from = from.to_path_buf();
    match error {
        BackupError::NotSqlite { reason, .. } => BackupError::NotSqlite { path: from, reason },
        BackupError::Damaged { problems, .. } => BackupError::Damaged {
            path: from,
            problems,
        },
        BackupError::NotOcset { reason, .. } => BackupError::NotOcset { path: from, reason },
        BackupError::Newer { version, known, .. } => BackupError::Newer {
            path: from,
            version,
            known,
        },
        BackupError::Migrations {
            version, problem, ..
        } => BackupError::Migrations {
            path: from,
            version,
            problem,
        },
        other => other,
    }
}

/// Appends `database.restored` to the audit log of the database file
/// `path`, through the store's own audit statement.
async fn append_restore_line(path: &Path, by: &RestoreBy, detail: &str) -> Result<(), BackupError> {
    let options = own_connection(path)
        .journal_mode(SqliteJournalMode::Delete)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = sqlx::pool::PoolOptions::<Sqlite>::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(StoreError::db("opening the restored copy"))?;
    let written = SqlStore::<Sqlite>::from_pool(pool.clone())
        .append_audit(&by.actor, "database.restored", None, Some(detail), by.at)
        .await;
    pool.close().await;
    Ok(written?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_newer_altered_or_unfinished_are_refused_and_older_ones_pass() {
        let path = Path::new("b.db");
        let ours: Vec<(i64, bool, Vec<u8>)> = Sqlite::migrator()
            .iter()
            .map(|m| (m.version, true, m.checksum.to_vec()))
            .collect();
        assert!(check_migrations(path, &ours).is_ok());
        assert!(check_migrations(path, &ours[..1]).is_ok(), "older is fine");
        let mut newer = ours.clone();
        newer.push((known_migration() + 1, true, vec![1]));
        assert!(matches!(
            check_migrations(path, &newer),
            Err(BackupError::Newer { version, .. }) if version == known_migration() + 1
        ));
        let mut altered = ours.clone();
        altered[0].2 = vec![0];
        assert!(matches!(
            check_migrations(path, &altered),
            Err(BackupError::Migrations { version: 1, .. })
        ));
        let mut unfinished = ours.clone();
        unfinished[0].1 = false;
        assert!(matches!(
            check_migrations(path, &unfinished),
            Err(BackupError::Migrations {
                problem: "did not finish",
                ..
            })
        ));
        assert!(matches!(
            check_migrations(path, &[]),
            Err(BackupError::NotOcset { .. })
        ));
    }

    #[test]
    fn an_in_memory_url_names_no_file() {
        assert!(matches!(
            sqlite_file("sqlite::memory:"),
            Err(BackupError::NoFile(_))
        ));
        assert_eq!(
            sqlite_file("sqlite://data/ocset.db").unwrap(),
            PathBuf::from("data/ocset.db")
        );
    }
}
