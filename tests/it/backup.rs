//! `backup` and `restore`: a round trip on SQLite keeps every table row for
//! row (the ledger, the audit log, the outbox); a backup taken while the
//! API is creating packages is consistent; each refusal names its reason
//! and writes nothing; PostgreSQL is refused over a real connection,
//! naming its own tools.

use crate::common::parts::{instance_over, Instance};
use crate::common::smtp::TestSmtp;
use crate::common::{self, utc};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::app::App;
use ocset_scheduler::cli::{self, CliError, Command};
use ocset_scheduler::clock::ManualClock;
use ocset_scheduler::config::{self, Settings};
use ocset_scheduler::domain::Role;
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::sqlite::SqliteStore;
use ocset_scheduler::store::{Actor, ApiToken, BackupError, Store};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every table of an ocset database, as migration 0003 leaves it.
const TABLES: [&str; 10] = [
    "_sqlx_migrations",
    "packages",
    "package_events",
    "audit_log",
    "api_tokens",
    "escalations",
    "outbox",
    "outbox_escalations",
    "digests",
    "service_state",
];

fn start() -> DateTime<Utc> {
    utc("2024-06-03T09:00:00Z")
}

/// Every row of every table of the SQLite file `path`, each row as a JSON
/// array of its columns, sorted, by table.
async fn rows(path: &Path) -> BTreeMap<&'static str, Vec<String>> {
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let mut all = BTreeMap::new();
    for table in TABLES {
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(table)
            .fetch_all(&mut connection)
            .await
            .unwrap();
        assert!(!columns.is_empty(), "{table} has columns");
        // Blobs (migration checksums) as hex: json_array refuses blobs.
        let values: Vec<String> = columns
            .iter()
            .map(|c| format!("CASE WHEN typeof({c}) = 'blob' THEN hex({c}) ELSE {c} END"))
            .collect();
        let statement = format!(
            "SELECT json_array({}) FROM {table} ORDER BY 1",
            values.join(", ")
        );
        let table_rows: Vec<String> = sqlx::query_scalar(&statement)
            .fetch_all(&mut connection)
            .await
            .unwrap();
        all.insert(table, table_rows);
    }
    connection.close().await.unwrap();
    all
}

/// The audit log of the file `path`, oldest first: (action, actor, detail).
async fn audit_lines(path: &Path) -> Vec<(String, String, Option<String>)> {
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let lines = sqlx::query_as("SELECT action, actor, detail FROM audit_log ORDER BY id")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    lines
}

/// Runs `command` in-process with `settings` and the clock at `now`.
async fn run(
    command: Command,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    let mut out = Vec::new();
    cli::run(
        command,
        settings.clone(),
        Arc::new(ManualClock::new(now)),
        &mut out,
        async {},
    )
    .await?;
    Ok(String::from_utf8(out).unwrap())
}

/// The shipped configuration over the SQLite file `database` (written into
/// `dir`).
fn settings_for(dir: &Path, database: &Path) -> Settings {
    let url = format!("sqlite://{}", database.display());
    config::load(&common::config_in(dir, &url), Vec::new()).unwrap()
}

/// The names in `dir`, sorted: what a refusal must leave as it was.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Closes every connection of `store` before returning. Twice: a
/// connection handed back to the pool while the first close waits for the
/// last ones can land among the idle ones after that close last looked
/// (sqlx 0.8), and stay open until the pool is dropped; the second close
/// finds it idle and closes it.
async fn close(store: SqliteStore) {
    store.pool().close().await;
    store.pool().close().await;
}

/// Restores `from` over `settings`' database with `--force` once the
/// pools the test closed have let go of it: a connection sqlx returned
/// during `close` is closed only when its pool drops, on its worker thread
/// after the drop returns, so the restore may briefly find the database
/// in use (as a restore run the moment a service exits could). Retries
/// only that refusal, for at most 20 s; anything else is returned at once.
async fn restore_once_released(
    from: &Path,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let restored = run(
            Command::Restore {
                path: from.to_path_buf(),
                force: true,
            },
            settings,
            now,
        )
        .await;
        match restored {
            Err(CliError::Backup(BackupError::InUse(_)))
                if std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// A service's parts over the SQLite file `database`, mailing `smtp`,
/// with a handle on the store to close its connections.
async fn service_over(
    dir: &Path,
    database: &Path,
    smtp: &TestSmtp,
    clock: &ManualClock,
) -> (Instance, SqliteStore) {
    let url = format!("sqlite://{}", database.display());
    let settings = Arc::new(common::smtp_settings(dir, &url, smtp.port()));
    let store = SqliteStore::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    (instance_over(settings, shared, clock, "worker-a"), store)
}

async fn create(instance: &Instance, reference: &str, received: DateTime<Utc>, lpa: &str) {
    let input = NewPackage {
        reference: reference.into(),
        risk_grade: "very_high".into(),
        received_at: received.to_rfc3339(),
        lpa: lpa.into(),
        stage: "awaiting_enforcement".into(),
        assigned_officer: Some("pc.one@force.police.uk".into()),
        ..NewPackage::default()
    };
    instance
        .app
        .create(&input, &Actor::named("test"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_round_trip_keeps_the_ledger_the_audit_log_and_the_outbox_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let smtp = TestSmtp::start().await;
    let clock = ManualClock::new(start());
    let (service, store) = service_over(dir.path(), &live, &smtp, &clock).await;
    // Breached packages: a pass queues their notices and a round sends
    // them; two more queued and not sent, so the outbox holds both kinds.
    create(&service, "RT-1", start() - Duration::days(3), "Birmingham").await;
    create(&service, "RT-2", start() - Duration::days(3), "Coventry").await;
    service.scheduler.run_due().await.unwrap();
    assert!(service.dispatcher.drain().await.unwrap().sent > 0);
    create(&service, "RT-3", start() - Duration::days(3), "Dudley").await;
    service.scheduler.run_due().await.unwrap();
    let token = ApiToken {
        name: "ops".into(),
        role: Role::Viewer,
        created_at: start(),
        revoked_at: None,
    };
    let (_, hash) = ocset_scheduler::tokens::generate();
    store
        .create_token(&token, &hash, &Actor::named("test"))
        .await
        .unwrap();
    let before = rows(&live).await;
    let pending = before["outbox"]
        .iter()
        .filter(|r| r.contains("\"pending\""))
        .count();
    assert!(pending > 0, "some messages wait: {:?}", before["outbox"]);
    assert!(before["outbox"].iter().any(|r| r.contains("\"sent\"")));
    for table in [
        "packages",
        "package_events",
        "audit_log",
        "escalations",
        "api_tokens",
    ] {
        assert!(!before[table].is_empty(), "{table} has rows");
    }

    // Backed up while the service's pool is open, as `serve` holds it.
    let backup = dir.path().join("backups/ocset-2024-06-03.db");
    std::fs::create_dir(dir.path().join("backups")).unwrap();
    let settings = settings_for(dir.path(), &live);
    let said = run(
        Command::Backup {
            path: backup.clone(),
        },
        &settings,
        start(),
    )
    .await
    .unwrap();
    assert!(said.contains(&backup.display().to_string()), "{said}");
    // The newest migration: the migrations are numbered 1, 2, ... in order.
    let newest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert!(
        said.contains(&format!("migration {newest}, 3 packages")),
        "{said}"
    );
    assert!(
        said.contains(&format!("{} outbox rows", before["outbox"].len())),
        "{said}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&backup), 0o600, "the backup holds case data");
    assert_eq!(rows(&backup).await, before, "the backup is the database");
    // The backup is audited in the database it was taken from.
    let (action, actor, detail) = audit_lines(&live).await.pop().unwrap();
    assert_eq!(action, "database.backup");
    assert!(actor.starts_with("cli:"), "{actor}");
    assert!(detail.unwrap().contains(&backup.display().to_string()));

    // Restored as a new database elsewhere: every row as it was, and one
    // audit line more, saying where it came from.
    let elsewhere = dir.path().join("elsewhere/ocset.db");
    let other_dir = tempfile::tempdir().unwrap();
    let other = settings_for(other_dir.path(), &elsewhere);
    let restored_at = start() + Duration::hours(1);
    let said = run(
        Command::Restore {
            path: backup.clone(),
            force: false,
        },
        &other,
        restored_at,
    )
    .await
    .unwrap();
    assert!(said.contains("3 packages"), "{said}");
    #[cfg(unix)]
    assert_eq!(mode(&elsewhere), 0o600);
    let mut after = rows(&elsewhere).await;
    let mut audit = audit_lines(&elsewhere).await;
    let (action, actor, detail) = audit.pop().unwrap();
    assert_eq!(action, "database.restored");
    assert!(actor.starts_with("cli:"), "{actor}");
    let detail = detail.unwrap();
    assert!(
        detail.contains(&backup.display().to_string()) && detail.contains("no database was there"),
        "{detail}"
    );
    let line = after["audit_log"]
        .iter()
        .position(|r| r.contains("database.restored"))
        .unwrap();
    after.get_mut("audit_log").unwrap().remove(line);
    assert_eq!(after, before, "row for row");

    // Messages sent after the backup: restoring puts them back as they
    // were (waiting), and they are sent again: the README's warning.
    let sent_before = smtp.messages().len();
    let round = service.dispatcher.drain().await.unwrap();
    assert_eq!(round.sent, pending);
    drop(service);
    close(store).await;
    let said = restore_once_released(&backup, &settings, restored_at)
        .await
        .unwrap();
    assert!(said.contains("was replaced"), "{said}");
    assert!(
        listing(dir.path()).iter().all(|n| !n.contains("restore")),
        "no temporary file is left: {:?}",
        listing(dir.path())
    );
    let mut replaced = rows(&live).await;
    replaced
        .get_mut("audit_log")
        .unwrap()
        .retain(|r| !r.contains("database.restored"));
    assert_eq!(replaced, before, "the live database is the backup again");
    let (service, store) = service_over(dir.path(), &live, &smtp, &clock).await;
    assert_eq!(service.dispatcher.drain().await.unwrap().sent, pending);
    assert_eq!(smtp.messages().len(), sent_before + 2 * pending);
    drop(service);
    close(store).await;
}

/// Creates packages through the API one after another until `stop` is
/// set, telling `created` how many so far, and returns how many it
/// created; any failure fails the test.
async fn keep_creating(
    app: Arc<common::app::TestApp>,
    created: tokio::sync::watch::Sender<usize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> usize {
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        n += 1;
        let response = app
            .post(
                "/api/v1/packages",
                Role::Intake,
                json!({"reference": format!("LIVE-{n:05}"), "risk_grade": "high",
                       "received_at": (start() - Duration::hours(1)).to_rfc3339(),
                       "lpa": "Walsall", "stage": "intelligence_development"}),
            )
            .await;
        assert_eq!(response.status(), 201, "creating LIVE-{n:05}");
        created.send_replace(n);
    }
    n
}

/// Waits until the writer has created more than `at_least` packages (it
/// fails the test if a write fails; a stalled writer fails it here).
async fn created_past(created: &mut tokio::sync::watch::Receiver<usize>, at_least: usize) {
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        created.wait_for(|n| *n > at_least),
    )
    .await
    .expect("the writer stalled")
    .expect("the writer stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_api_creates_packages_is_consistent() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let url = format!("sqlite://{}", live.display());
    let app = Arc::new(common::app::spawn_app(&url, start(), &[(Role::Intake, "intake")]).await);
    let (tell, mut created) = tokio::sync::watch::channel(0);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_creating(app.clone(), tell, stop.clone()));
    let settings = settings_for(dir.path(), &live);
    let mut taken = Vec::new();
    for i in 0..3 {
        created_past(&mut created, 20 * (i + 1)).await;
        let backup = dir.path().join(format!("during-{i}.db"));
        run(
            Command::Backup {
                path: backup.clone(),
            },
            &settings,
            start(),
        )
        .await
        .unwrap();
        // The writer carries on after (and during) the copy.
        let copied = rows(&backup).await["packages"].len();
        created_past(&mut created, copied).await;
        taken.push(backup);
    }
    stop.store(true, Ordering::SeqCst);
    let total = writer.await.unwrap();

    let mut counts = Vec::new();
    for backup in &taken {
        let all = rows(backup).await;
        let packages = all["packages"].len();
        let created_events = all["package_events"]
            .iter()
            .filter(|r| r.contains("\"created\""))
            .count();
        let created_lines = all["audit_log"]
            .iter()
            .filter(|r| r.contains("\"package.created\""))
            .count();
        // Each package's write (row, event, audit line) is in the copy
        // whole or not at all.
        assert_eq!(packages, all["package_events"].len(), "{backup:?}");
        assert_eq!(packages, created_events, "{backup:?}");
        assert_eq!(packages, created_lines, "{backup:?}");
        counts.push(packages);
    }
    assert!(
        counts[0] >= 21 && counts.windows(2).all(|w| w[0] < w[1]),
        "{counts:?}"
    );
    assert!(*counts.last().unwrap() < total, "{counts:?} of {total}");
    // A restored copy is a working database: the restore checks it whole.
    let restored = dir.path().join("restored.db");
    run(
        Command::Restore {
            path: taken[1].clone(),
            force: false,
        },
        &settings_for(tempfile::tempdir().unwrap().path(), &restored),
        start(),
    )
    .await
    .unwrap();
    assert_eq!(rows(&restored).await["packages"].len(), counts[1]);
}

/// What every refusal test starts from: a migrated database with one
/// package, its backup, and the settings over it.
struct Setup {
    dir: tempfile::TempDir,
    live: PathBuf,
    backup: PathBuf,
    settings: Settings,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let settings = settings_for(dir.path(), &live);
    // The store's connections are closed before the test goes on (not
    // left to close on their own after a drop), so the files in the folder
    // are settled when the test lists them.
    let store = SqliteStore::connect(&format!("sqlite://{}", live.display()), 2)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let app = App::new(
        Arc::new(store.clone()),
        Arc::new(settings.clone()),
        Arc::new(ManualClock::new(start())),
    );
    let input = NewPackage {
        reference: "SET-1".into(),
        risk_grade: "medium".into(),
        received_at: start().to_rfc3339(),
        lpa: "Solihull".into(),
        stage: "intelligence_development".into(),
        ..NewPackage::default()
    };
    app.create(&input, &Actor::named("test")).await.unwrap();
    let backup = dir.path().join("backup.db");
    app.backup(&backup, &Actor::named("test")).await.unwrap();
    drop(app);
    close(store).await;
    Setup {
        dir,
        live,
        backup,
        settings,
    }
}

/// The names in `dir` but SQLite's `-wal` and `-shm` files: a pooled
/// connection the setup dropped may still be closing (the last to close
/// checkpoints and removes them), which is not the restore's doing.
fn settled_listing(dir: &Path) -> Vec<String> {
    let mut names = listing(dir);
    names.retain(|n| !n.ends_with("-wal") && !n.ends_with("-shm"));
    names
}

/// Restores `from` over the setup's database with `--force`, expecting a
/// refusal; checks nothing in the folder changed (no file added or
/// removed, every row of the database as it was), and returns the text.
async fn refused_restore(s: &Setup, from: &Path) -> String {
    let names = settled_listing(s.dir.path());
    let database = rows(&s.live).await;
    let error = run(
        Command::Restore {
            path: from.to_path_buf(),
            force: true,
        },
        &s.settings,
        start(),
    )
    .await
    .expect_err("refused");
    assert_eq!(
        settled_listing(s.dir.path()),
        names,
        "no file was added or removed"
    );
    assert_eq!(rows(&s.live).await, database, "the database is untouched");
    error.to_string()
}

#[tokio::test]
async fn a_backup_never_overwrites_a_file() {
    let s = setup().await;
    let taken = s.dir.path().join("taken.db");
    std::fs::write(&taken, "keep me").unwrap();
    let error = run(
        Command::Backup {
            path: taken.clone(),
        },
        &s.settings,
        start(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, CliError::Backup(BackupError::BackupExists(_))),
        "{error}"
    );
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me");
}

#[tokio::test]
async fn a_backup_of_a_missing_database_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(dir.path(), &dir.path().join("none.db"));
    let error = run(
        Command::Backup {
            path: dir.path().join("b.db"),
        },
        &settings,
        start(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert_eq!(listing(dir.path()), ["ocset.toml"]);
}

#[tokio::test]
async fn a_restore_over_an_existing_database_needs_force() {
    let s = setup().await;
    let names = settled_listing(s.dir.path());
    let database = rows(&s.live).await;
    let error = run(
        Command::Restore {
            path: s.backup.clone(),
            force: false,
        },
        &s.settings,
        start(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, CliError::Backup(BackupError::TargetExists(_))),
        "{error}"
    );
    assert!(error.to_string().contains("--force"), "{error}");
    assert_eq!(settled_listing(s.dir.path()), names);
    assert_eq!(rows(&s.live).await, database);
}

#[tokio::test]
async fn a_backup_with_a_newer_migration_is_refused() {
    let s = setup().await;
    let newer = s.dir.path().join("newer.db");
    std::fs::copy(&s.backup, &newer).unwrap();
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&newer))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let text = refused_restore(&s, &newer).await;
    assert!(
        text.contains("newer ocset-scheduler") && text.contains("migration 9999"),
        "{text}"
    );
    // Backing such a database up is not refused: the newer version that
    // migrated it can restore the copy.
    let newer_dir = tempfile::tempdir().unwrap();
    let copy = newer_dir.path().join("copy.db");
    let said = run(
        Command::Backup { path: copy.clone() },
        &settings_for(newer_dir.path(), &newer),
        start(),
    )
    .await
    .unwrap();
    assert!(said.contains("migration 9999"), "{said}");
}

#[tokio::test]
async fn an_sqlite_file_that_is_not_ours_is_refused() {
    let s = setup().await;
    let foreign = s.dir.path().join("foreign.db");
    let pool = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&foreign)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::query("CREATE TABLE recipes (name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let text = refused_restore(&s, &foreign).await;
    assert!(
        text.contains("not an ocset-scheduler database") && text.contains("_sqlx_migrations"),
        "{text}"
    );
}

#[tokio::test]
async fn a_garbage_or_empty_file_is_refused() {
    let s = setup().await;
    let garbage = s.dir.path().join("garbage.db");
    std::fs::write(&garbage, b"PK\x03\x04 this is a zip file, not a database").unwrap();
    let text = refused_restore(&s, &garbage).await;
    assert!(
        text.contains("is not an SQLite database") && text.contains("SQLite's header"),
        "{text}"
    );
    let empty = s.dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let text = refused_restore(&s, &empty).await;
    assert!(text.contains("the file is empty"), "{text}");
    // The right header over a damaged body: SQLite itself says no.
    let damaged = s.dir.path().join("damaged.db");
    let mut body = std::fs::read(&s.backup).unwrap();
    for byte in &mut body[100..4096] {
        *byte = 0xA5;
    }
    std::fs::write(&damaged, &body).unwrap();
    let text = refused_restore(&s, &damaged).await;
    assert!(text.contains(&damaged.display().to_string()), "{text}");
}

#[tokio::test]
async fn a_database_in_use_is_not_replaced() {
    let s = setup().await;
    // A service's pool: connections open in WAL mode, idle between writes.
    let url = format!("sqlite://{}", s.live.display());
    let open = SqliteStore::connect(&url, 2).await.unwrap();
    open.migrate().await.unwrap();
    let text = refused_restore(&s, &s.backup).await;
    assert!(
        text.contains("is in use") && text.contains("stop"),
        "{text}"
    );
    // Still usable: the refusal took nothing from it.
    assert!(open.count_packages().await.unwrap().total > 0);
    close(open).await;
    restore_once_released(&s.backup, &s.settings, start())
        .await
        .expect("restored once nothing has it open");
}

#[tokio::test]
async fn postgres_is_refused_naming_pg_dump_and_pg_restore() {
    common::with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let settings = config::load(&common::config_in(dir.path(), &url), Vec::new()).unwrap();
        run(Command::Migrate, &settings, start()).await.unwrap();
        let names = listing(dir.path());
        let backup = dir.path().join("pg.dump");
        let error = run(Command::Backup { path: backup }, &settings, start())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("PostgreSQL")
                && error.contains("`pg_dump -Fc`")
                && error.contains("README"),
            "{error}"
        );
        let error = run(
            Command::Restore {
                path: dir.path().join("pg.dump"),
                force: true,
            },
            &settings,
            start(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(error.contains("`pg_restore`"), "{error}");
        assert_eq!(listing(dir.path()), names, "nothing written");
        // Nothing audited either: the refusals are not backups.
        let out = run(
            Command::Audit {
                action: None,
                reference: None,
                json: true,
            },
            &settings,
            start(),
        )
        .await
        .unwrap();
        assert!(!out.contains("database."), "{out}");
    })
    .await;
}

/// The real binary, as an operator runs it: `backup` and `restore` with
/// their help, their output and their exit status.
#[test]
fn the_binary_backs_up_restores_and_exits_non_zero_on_a_refusal() {
    use std::process::Command as Process;
    let bin = env!("CARGO_BIN_EXE_ocset-scheduler");
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("data/ocset.db");
    let config = common::config_in(dir.path(), &format!("sqlite://{}", live.display()));
    let ocset = |args: &[&str]| {
        let mut command = Process::new(bin);
        command
            .current_dir(dir.path())
            .arg("--config")
            .arg(&config)
            .args(args);
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OCSET__")) {
            command.env_remove(name);
        }
        let out = command.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (_, help, _) = ocset(&["backup", "--help"]);
    assert!(
        help.contains("pg_dump -Fc") && help.contains("--config <PATH>"),
        "{help}"
    );
    let (_, help, _) = ocset(&["restore", "--help"]);
    assert!(
        help.contains("pg_restore") && help.contains("--force"),
        "{help}"
    );

    let (ok, demo, _) = ocset(&["demo"]);
    assert!(ok, "{demo}");
    // "loaded N fictional packages …"
    let loaded = demo
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{demo}"));
    let (ok, out, err) = ocset(&["backup", "nightly.db"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("backup written to ") && out.contains(&format!(" {loaded} packages")),
        "{out}"
    );
    let (ok, _, err) = ocset(&["backup", "nightly.db"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = ocset(&["restore", "nightly.db"]);
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, out, err) = ocset(&["restore", "nightly.db", "--force"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("was replaced") && out.contains("sent again"),
        "{out}"
    );
    let (ok, audit, _) = ocset(&["audit"]);
    assert!(ok && audit.contains("database.restored"), "{audit}");
}
