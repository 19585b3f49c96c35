//! End-to-end tests of the command line: the real binary on a temporary
//! SQLite file (and on PostgreSQL), and `cli::run` in-process where the test
//! must control the clock.

use crate::common::{self, utc};
use ocset_scheduler::cli::{self, Command, DigestAction, DigestFormat, ListArgs};
use ocset_scheduler::clock::ManualClock;
use ocset_scheduler::config;
use ocset_scheduler::report::IsoWeek;
use serde_json::Value;
use std::path::Path;
use std::process::{Command as Process, Output, Stdio};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_ocset-scheduler");

fn ocset(dir: &Path, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = ocset_command(dir, config, args);
    command.envs(env.iter().copied());
    command.output().expect("run ocset-scheduler")
}

/// The real binary with `args` in `dir`, not yet run.
fn ocset_command(dir: &Path, config: &Path, args: &[&str]) -> Process {
    let mut command = Process::new(BIN);
    command
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(args);
    // The tests' own environment must not leak overrides in.
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OCSET__")) {
        command.env_remove(name);
    }
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `import` of a CSV file `name` in `dir` holding `rows` under the usual
/// header, through the real binary.
fn import_rows(dir: &Path, config: &Path, name: &str, rows: &[&str]) -> Output {
    let file = dir.join(name);
    let header = "reference,risk_grade,received_at,lpa,stage,assigned_officer";
    std::fs::write(&file, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    ocset(dir, config, &["import", file.to_str().unwrap()], &[])
}

/// `list --json` through the real binary, parsed.
fn listed_json(dir: &Path, config: &Path) -> Vec<Value> {
    serde_json::from_str(&stdout(&ocset(dir, config, &["list", "--json"], &[])))
        .expect("list --json prints JSON")
}

/// Packages chosen to cross both clock changes, a leap year and a year end.
const CLOCK_CHANGE_CSV: &str = "\
reference,risk_grade,received_at,lpa,stage,assigned_officer
CLK-SPRING,High,2024-03-28 10:00,Birmingham,awaiting_enforcement,pc.one@force.police.uk
CLK-AUTUMN,high,2024-10-24 10:00,Coventry,awaiting_enforcement,
CLK-VH,VH,2024-03-30 10:00,Dudley,intelligence_development,
CLK-LEAP,Medium,2024-02-22T12:00:00+00:00,Sandwell,awaiting_enforcement,
CLK-YEAR,Standard,2024-12-20 16:45,Walsall,intelligence-development,
";

fn expected_deadlines() -> [(&'static str, &'static str); 5] {
    [
        ("CLK-LEAP", "2024-03-14T12:00:00Z"),
        ("CLK-VH", "2024-04-01T10:00:00Z"),
        ("CLK-SPRING", "2024-04-04T09:00:00Z"),
        ("CLK-AUTUMN", "2024-10-31T10:00:00Z"),
        ("CLK-YEAR", "2025-02-18T16:45:00Z"),
    ]
}

fn import_then_list(dir: &Path, config: &Path, env: &[(&str, &str)]) {
    let csv = dir.join("packages.csv");
    std::fs::write(&csv, CLOCK_CHANGE_CSV).unwrap();
    let imported = ocset(dir, config, &["import", csv.to_str().unwrap()], env);
    assert!(
        imported.status.success(),
        "import failed: {}",
        stderr(&imported)
    );
    assert!(
        stdout(&imported).contains("imported 5 package(s)"),
        "{}",
        stdout(&imported)
    );

    let listed = ocset(dir, config, &["list", "--json"], env);
    assert!(listed.status.success(), "list failed: {}", stderr(&listed));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&listed)).expect("list --json prints JSON");
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["reference"].as_str().unwrap().to_string(),
                r["deadline_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = expected_deadlines()
        .iter()
        .map(|(r, d)| (r.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, want, "ordered by deadline, each to the second");

    let spring = &rows[2];
    assert_eq!(spring["risk_grade"], "high");
    assert_eq!(spring["stage"], "awaiting_enforcement");
    assert_eq!(spring["lpa"], "Birmingham");
    assert_eq!(spring["received_at"], "2024-03-28T10:00:00Z");
    assert_eq!(spring["assigned_officer"], "pc.one@force.police.uk");
    assert_eq!(spring["status"], "breached", "all of 2024 is long past");
    assert!(spring["policy_version"]
        .as_str()
        .unwrap()
        .starts_with("timescales-"));
    assert_eq!(rows[3]["assigned_officer"], Value::Null);
    assert_eq!(rows[4]["stage"], "intelligence_development");

    // Filters.
    let high = ocset(dir, config, &["list", "--json", "--grade", "high"], env);
    let high: Vec<Value> = serde_json::from_str(&stdout(&high)).unwrap();
    assert_eq!(high.len(), 2);
    let dev = ocset(
        dir,
        config,
        &[
            "list",
            "--json",
            "--stage",
            "intelligence_development",
            "--lpa",
            "walsall",
        ],
        env,
    );
    let dev: Vec<Value> = serde_json::from_str(&stdout(&dev)).unwrap();
    assert_eq!(dev.len(), 1);
    assert_eq!(dev[0]["reference"], "CLK-YEAR");

    // The table shows local times with their zone.
    let table = ocset(dir, config, &["list"], env);
    let text = stdout(&table);
    assert!(text.contains("2024-04-04 10:00 BST"), "{text}");
    assert!(text.contains("2024-10-31 10:00 GMT"), "{text}");
    assert!(text.contains("5 package(s)"), "{text}");
}

#[test]
fn import_then_list_on_sqlite_keeps_local_time_across_clock_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    import_then_list(dir.path(), &config, &[]);
}

#[tokio::test]
async fn import_then_list_on_postgres_through_the_environment_override() {
    common::with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        // The file names SQLite; the environment variable wins.
        let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
        tokio::task::spawn_blocking(move || {
            import_then_list(dir.path(), &config, &[("OCSET__DATABASE__URL", &url)]);
            assert!(
                !dir.path().join("ocset.db").exists(),
                "nothing went to SQLite"
            );
        })
        .await
        .unwrap();
    })
    .await;
}

#[test]
fn a_bad_file_imports_nothing_and_names_every_fault() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let csv = dir.path().join("bad.csv");
    let long = "R".repeat(65);
    std::fs::write(
        &csv,
        format!(
            "reference,risk_grade,received_at,lpa,stage,assigned_officer
GOOD-1,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,
BAD-GRADE,Urgent,2024-03-01 10:00,Birmingham,awaiting_enforcement,
BAD-GAP,High,2024-03-31 01:30,Birmingham,awaiting_enforcement,
BAD-TWICE,High,2024-10-27 01:30,Birmingham,awaiting_enforcement,
BAD-LPA,High,2024-03-01 10:00,Gotham,awaiting_enforcement,
BAD-FUTURE,High,2099-01-01 10:00,Birmingham,awaiting_enforcement,
GOOD-1,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,
{long},High,2024-03-01 10:00,Birmingham,awaiting_enforcement,
BAD-STAGE,High,2024-03-01 10:00,Birmingham,enforced,
,,,,,
BAD-EMPTY,,2024-03-01 10:00,Birmingham,awaiting_enforcement,
"
        ),
    )
    .unwrap();
    let out = ocset(dir.path(), &config, &["import", csv.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    for expected in [
        "line 3, column risk_grade: \"Urgent\" is not a risk grade",
        "line 4, column received_at: 2024-03-31 01:30 does not exist in Europe/London",
        "line 5, column received_at: 2024-10-27 01:30 happened twice in Europe/London",
        "line 6, column lpa: \"Gotham\" is not one of the force's LPAs",
        "line 7, column received_at: 2099-01-01T10:00:00+00:00 is in the future",
        "line 8, column reference: GOOD-1 appears twice in the file (first on line 2)",
        "line 9, column reference: the reference is 65 characters long; the most is 64",
        "line 10, column stage: a new package must be in intelligence_development or awaiting_enforcement, not enforced",
        "line 12, column risk_grade: the risk grade is empty",
        "9 problems in the file; nothing was imported",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let listed = ocset(dir.path(), &config, &["list", "--json"], &[]);
    assert_eq!(stdout(&listed).trim(), "[]", "nothing was written");
}

#[test]
fn references_differing_only_in_case_are_one_package_in_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let csv = dir.path().join("case.csv");
    std::fs::write(
        &csv,
        "reference,risk_grade,received_at,lpa,stage,assigned_officer
D-2,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,
d-2,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,
=cmd|' /C calc'!A0,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,
",
    )
    .unwrap();
    let out = ocset(dir.path(), &config, &["import", csv.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    for expected in [
        "line 3, column reference: d-2 appears twice in the file (first on line 2)",
        "line 4, column reference: the reference may hold only letters, digits and -, _, / and .",
        "2 problems in the file; nothing was imported",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }

    // Stored as D-2, a later file's d-2 is the same package.
    let out = import_rows(
        dir.path(),
        &config,
        "first.csv",
        &["D-2,high,2024-03-01 10:00,Dudley,awaiting_enforcement,"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = import_rows(
        dir.path(),
        &config,
        "second.csv",
        &["d-2,medium,2024-03-02 10:00,Dudley,awaiting_enforcement,"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("line 2, column reference: a package with reference d-2 already exists"),
        "{}",
        stderr(&out)
    );
    let listed = listed_json(dir.path(), &config);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["reference"], "D-2", "kept as first given");
    // Its audit lines are found by either spelling.
    for spelling in ["D-2", "d-2"] {
        let audit = stdout(&ocset(
            dir.path(),
            &config,
            &["audit", "--reference", spelling, "--json"],
            &[],
        ));
        let lines: Vec<Value> = serde_json::from_str(&audit).unwrap();
        assert!(!lines.is_empty(), "audit --reference {spelling}: {audit}");
        assert!(lines.iter().all(|l| l["reference"] == "D-2"), "{audit}");
    }
}

#[test]
fn importing_a_reference_already_stored_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let out = import_rows(
        dir.path(),
        &config,
        "first.csv",
        &["DUP-1,high,2024-03-01 10:00,Dudley,awaiting_enforcement,"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = import_rows(
        dir.path(),
        &config,
        "second.csv",
        &[
            "NEW-1,high,2024-03-01 10:00,Dudley,awaiting_enforcement,",
            "DUP-1,medium,2024-03-02 10:00,Dudley,awaiting_enforcement,",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("line 3, column reference: a package with reference DUP-1 already exists"),
        "{}",
        stderr(&out)
    );
    let listed = listed_json(dir.path(), &config);
    assert_eq!(listed.len(), 1, "NEW-1 was not imported either");
}

/// `rows` good packages (`BULK-00000` ...) under the usual header, each
/// on line `i + 2`; `change` may rewrite any row.
fn bulk_csv(rows: usize, change: impl Fn(usize, String) -> String) -> String {
    let mut text = String::from("reference,risk_grade,received_at,lpa,stage,assigned_officer\n");
    for i in 0..rows {
        let row = format!(
            "BULK-{i:05},{},2024-03-01 10:{:02},Birmingham,awaiting_enforcement,pc.{}@force.police.uk",
            ["VH", "High", "Medium", "Standard"][i % 4],
            i % 60,
            i % 50
        );
        text.push_str(&change(i, row));
        text.push('\n');
    }
    text
}

/// A 5,000-row file with a bad grade and a reference repeated in another
/// case near its end imports nothing and names both lines; fixed, it
/// imports whole; a later file repeating a stored reference in another
/// case is refused with its line.
fn a_large_file_is_all_or_nothing(dir: &Path, config: &Path, env: &[(&str, &str)]) {
    let csv = dir.join("bulk.csv");
    std::fs::write(
        &csv,
        bulk_csv(5_000, |i, row| match i {
            4_990 => "BULK-04990,Urgent,2024-03-01 10:00,Birmingham,awaiting_enforcement,".into(),
            4_995 => "bulk-00010,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,".into(),
            _ => row,
        }),
    )
    .unwrap();
    let out = ocset(dir, config, &["import", csv.to_str().unwrap()], env);
    assert!(!out.status.success());
    let err = stderr(&out);
    for expected in [
        "2 problems in the file; nothing was imported",
        "line 4992, column risk_grade: \"Urgent\" is not a risk grade",
        "line 4997, column reference: bulk-00010 appears twice in the file (first on line 12)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let listed = ocset(dir, config, &["list", "--json"], env);
    assert_eq!(stdout(&listed).trim(), "[]", "nothing was written");

    std::fs::write(&csv, bulk_csv(5_000, |_, row| row)).unwrap();
    let out = ocset(dir, config, &["import", csv.to_str().unwrap()], env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 5000 package(s)"),
        "{}",
        stdout(&out)
    );
    let listed: Vec<Value> =
        serde_json::from_str(&stdout(&ocset(dir, config, &["list", "--json"], env))).unwrap();
    assert_eq!(listed.len(), 5_000);
    let audit: Vec<Value> = serde_json::from_str(&stdout(&ocset(
        dir,
        config,
        &["audit", "--reference", "BULK-04999", "--json"],
        env,
    )))
    .unwrap();
    assert!(
        audit.iter().any(|l| l["action"] == "package.created"),
        "{audit:?}"
    );

    let again = dir.join("again.csv");
    std::fs::write(
        &again,
        "reference,risk_grade,received_at,lpa,stage,assigned_officer\n\
         NEW-1,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,\n\
         Bulk-00042,High,2024-03-01 10:00,Birmingham,awaiting_enforcement,\n",
    )
    .unwrap();
    let out = ocset(dir, config, &["import", again.to_str().unwrap()], env);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "1 problem in the file; nothing was imported:\n  line 3, column reference: a package with reference Bulk-00042 already exists"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_large_file_is_all_or_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    a_large_file_is_all_or_nothing(dir.path(), &config, &[]);
}

#[tokio::test]
async fn a_large_file_is_all_or_nothing_on_postgres() {
    common::with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
        tokio::task::spawn_blocking(move || {
            a_large_file_is_all_or_nothing(dir.path(), &config, &[("OCSET__DATABASE__URL", &url)]);
        })
        .await
        .unwrap();
    })
    .await;
}

#[test]
fn a_wholly_bad_file_lists_the_first_thousand_faults_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        bulk_csv(1_500, |_, row| row.replace(",Birmingham,", ",Gotham,")),
    )
    .unwrap();
    let out = ocset(dir.path(), &config, &["import", csv.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("1500 problems in the file; nothing was imported"),
        "{err}"
    );
    assert!(err.contains("line 2, column lpa: \"Gotham\""), "{err}");
    assert!(err.contains("line 1001, column lpa:"), "{err}");
    assert!(!err.contains("line 1002, column lpa:"), "{err}");
    assert!(
        err.contains("... and 500 more (only the first 1000 are listed)"),
        "{err}"
    );
    assert_eq!(err.matches("column lpa:").count(), 1_000);
}

#[test]
fn a_file_that_is_not_csv_text_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let file = dir.path().join("sheet.xlsx");
    std::fs::write(&file, b"PK\x03\x04\x14\x00\x06\x00\xff\xfe binary").unwrap();
    let out = ocset(
        dir.path(),
        &config,
        &["import", file.to_str().unwrap()],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
    let missing = ocset(dir.path(), &config, &["import", "no-such.csv"], &[]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("cannot read no-such.csv"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn check_config_names_the_key_and_hides_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let ok = ocset(
        dir.path(),
        &config,
        &["check-config"],
        &[(
            "OCSET__DATABASE__URL",
            "postgres://ocset:hunter2@db.example/ocset",
        )],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let text = stdout(&ok);
    assert!(
        text.contains("postgres://ocset:***@db.example/ocset"),
        "{text}"
    );
    assert!(!text.contains("hunter2") && !stderr(&ok).contains("hunter2"));
    assert!(text.contains("is valid"), "{text}");
    // The shipped default writes mail to files: valid, and said plainly.
    assert!(
        stderr(&ok).contains("ocset.toml: mail.transport: is \"file\"")
            && text.contains("nobody is emailed"),
        "{}",
        stderr(&ok)
    );
    // As a production gate it is refused, every concern listed.
    let gate = ocset(dir.path(), &config, &["check-config", "--production"], &[]);
    assert_eq!(gate.status.code(), Some(1), "{}", stderr(&gate));
    let refusal = stderr(&gate);
    assert!(
        refusal.contains("valid but not fit for production")
            && refusal.contains("mail.transport: is \"file\"")
            && refusal.contains("recipients.ocset_sergeants.default: \"ocset.sergeants@force.example\" is at a reserved example domain")
            && refusal.contains("links.package_url: is unset"),
        "{refusal}"
    );
    // The production example mails people: no warning.
    let production = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/production.example.toml");
    let checked = ocset(
        dir.path(),
        &production,
        &["check-config"],
        &[("OCSET__MAIL__SMTP__PASSWORD", "relay-secret-7")],
    );
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(
        !stderr(&checked).contains("warning"),
        "{}",
        stderr(&checked)
    );
    // ... and passes the production gate, its password from a secret file.
    let secret = dir.path().join("smtp_password");
    std::fs::write(&secret, "relay-secret-7\n").unwrap();
    let gated = ocset(
        dir.path(),
        &production,
        &["check-config", "--production"],
        &[("OCSET__MAIL__SMTP__PASSWORD_FILE", secret.to_str().unwrap())],
    );
    assert!(gated.status.success(), "{}", stderr(&gated));
    assert!(!stdout(&gated).contains("relay-secret-7"));
    assert!(stdout(&checked).contains("transport = \"smtp\""));
    assert!(
        !stdout(&checked).contains("relay-secret-7")
            && !stderr(&checked).contains("relay-secret-7")
    );

    let bad = ocset(
        dir.path(),
        &config,
        &["check-config"],
        &[("OCSET__TIMESCALES__MEDIUM", "3 weeks")],
    );
    assert!(!bad.status.success());
    let err = stderr(&bad);
    assert!(err.contains("environment variable OCSET__TIMESCALES__MEDIUM: timescales.medium: \"3 weeks\" is not a timescale"), "{err}");

    // A file `check-config` refuses: it fails, and says why on stderr.
    let refused = |name: &str, toml: &str| {
        std::fs::write(dir.path().join(name), toml).unwrap();
        let out = ocset(dir.path(), &dir.path().join(name), &["check-config"], &[]);
        assert!(!out.status.success(), "{name} was accepted");
        stderr(&out)
    };
    let broken = refused(
        "broken.toml",
        "[timescales]\nhigh = \"7d\"\nmedium = \"2d\"\n",
    );
    assert!(broken.contains("broken.toml: timescales.medium: timescales.medium (2d) is shorter than timescales.high (7d)"), "{broken}");

    // Hours beside days: in order by the nominal hours, inverted across
    // the spring clock change (2 calendar days are then 47 hours).
    let inverting = refused(
        "inverting.toml",
        "[timescales]\nvery_high = \"48h\"\nhigh = \"2d\"\n",
    );
    assert!(
        inverting.contains(
            "inverting.toml: timescales.high: timescales.high (2d) can be shorter than \
             timescales.very_high (48h) across a clock change in Europe/London"
        ),
        "{inverting}"
    );

    let missing = ocset(
        dir.path(),
        &dir.path().join("nope.toml"),
        &["check-config"],
        &[],
    );
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("nope.toml: -: cannot read the configuration file"),
        "{}",
        stderr(&missing)
    );
}

/// Every `OCSET__KEY=value` example in the README's Configuration section
/// passes `check-config` against the shipped file, its value in force.
#[test]
fn the_readme_environment_examples_pass_check_config() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Configuration section");
    let examples: Vec<(String, String)> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with("OCSET__"))
        .filter_map(|code| code.split_once('='))
        .map(|(name, value)| (name.to_string(), value.trim_matches('\'').to_string()))
        .collect();
    assert!(
        examples
            .iter()
            .any(|(name, value)| name == "OCSET__FORCE__LPAS" && value.starts_with('[')),
        "{examples:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    for (name, value) in &examples {
        let output = ocset(
            dir.path(),
            &config,
            &["check-config"],
            &[(name.as_str(), value.as_str())],
        );
        assert!(
            output.status.success(),
            "{name}={value}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).contains("is valid"), "{}", stdout(&output));
        if name == "OCSET__FORCE__LPAS" {
            let lpas: Vec<String> = serde_json::from_str(value).unwrap();
            let shown = format!("lpas = {lpas:?}").replace("\",\"", "\", \"");
            assert!(
                stdout(&output).contains(&shown),
                "{shown} in {}",
                stdout(&output)
            );
        }
    }
}

#[test]
fn every_command_has_help() {
    for command in [
        "serve",
        "migrate",
        "import",
        "list",
        "check-config",
        "demo",
        "token",
        "audit",
        "retention",
    ] {
        let out = Process::new(BIN)
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command} --help");
        let text = stdout(&out);
        assert!(text.contains("--config <PATH>"), "{command}: {text}");
    }
    let out = Process::new(BIN)
        .args(["list", "--grade", "urgent"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("\"urgent\" is not a risk grade"),
        "{}",
        stderr(&out)
    );
}

/// `--version` names the commit the binary was built from, so a log line,
/// a metric or a bug report can be tied to the exact source.
#[test]
fn version_names_the_commit() {
    let out = Process::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(
        text.trim(),
        format!(
            "ocset-scheduler {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            ocset_scheduler::COMMIT
        )
    );
    // Built from a git checkout (as here), the commit is the one checked
    // out, unless OCSET_COMMIT (as a container build passes) named another.
    let git = Process::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Ok(git) = git {
        if git.status.success() && std::env::var_os("OCSET_COMMIT").is_none() {
            assert_eq!(ocset_scheduler::COMMIT, stdout(&git).trim());
        }
    }
    assert!(
        ocset_scheduler::COMMIT == "unknown"
            || ocset_scheduler::COMMIT
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        "{}",
        ocset_scheduler::COMMIT
    );
}

/// A child process killed when the test ends, even when it fails early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real binary's `serve` in `dir` on a free port, with its log
/// (standard error) to read.
fn serve(dir: &Path, config: &Path) -> (KillOnDrop, std::io::BufReader<std::process::ChildStderr>) {
    serve_with(dir, config, &[])
}

/// As [`serve`], with environment variables set.
fn serve_with(
    dir: &Path,
    config: &Path,
    env: &[(&str, &str)],
) -> (KillOnDrop, std::io::BufReader<std::process::ChildStderr>) {
    let mut child = KillOnDrop(
        Process::new(BIN)
            .current_dir(dir)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("OCSET__HTTP__BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = std::io::BufReader::new(child.0.stderr.take().unwrap());
    (child, log)
}

/// `serve` from the real binary: it migrates, answers on the address it
/// logs, honours tokens made and revoked by the CLI while it runs, and stops
/// cleanly on SIGTERM.
#[tokio::test]
async fn serve_answers_with_cli_tokens_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let made = ocset(
        dir.path(),
        &config,
        &[
            "token",
            "create",
            "--name",
            "acc-office",
            "--role",
            "viewer",
        ],
        &[],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let printed = stdout(&made);
    let token = printed.lines().last().unwrap().to_string();
    assert!(
        token.starts_with("ocset_") && !token.contains(' '),
        "the last line is the token alone: {printed}"
    );
    let again = ocset(
        dir.path(),
        &config,
        &["token", "create", "--name", "acc-office", "--role", "admin"],
        &[],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("a token named acc-office already exists"),
        "{}",
        stderr(&again)
    );

    let (mut child, mut log) = serve(dir.path(), &config);
    // Wait (on its own output, not a timer) until it says where it listens.
    let mut seen = String::new();
    let base = loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut log, &mut line).unwrap();
        assert!(n > 0, "serve exited before it was running:\n{seen}");
        seen.push_str(&line);
        if line.contains("is running") {
            let start = line.find("http://").expect("the log names the API address");
            break line[start..].split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(
        !seen.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
    assert!(
        dir.path().join("ocset.db").exists(),
        "serve created and migrated the database"
    );

    let http = reqwest::Client::new();
    let status = http
        .get(format!("{base}/api/v1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let revoked = ocset(dir.path(), &config, &["token", "revoke", "acc-office"], &[]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let refused = http
        .get(format!("{base}/api/v1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "a revoked token is refused at once");
    let listed = stdout(&ocset(dir.path(), &config, &["token", "list"], &[]));
    assert!(
        listed.contains("acc-office") && listed.contains("viewer") && !listed.contains(&token),
        "{listed}"
    );

    let audit = stdout(&ocset(dir.path(), &config, &["audit", "--json"], &[]));
    let lines: Vec<Value> = serde_json::from_str(&audit).unwrap();
    // Digests owed on start (this week's weekly run, and today's daily
    // one after 08:00) are queued by the service; the rest is ours.
    let (digests, ours): (Vec<&Value>, Vec<&Value>) =
        lines.iter().partition(|l| l["action"] == "digest.queued");
    assert!(digests.iter().all(|l| l["actor"] == "service:digest"));
    let actions: Vec<&str> = ours.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["token.created", "token.revoked"]);
    assert!(ours[0]["actor"].as_str().unwrap().starts_with("cli:"));
    assert!(!audit.contains(&token), "the audit log never holds a token");

    let killed = Process::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "serve exits 0 on SIGTERM, got {status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut log, &mut rest).unwrap();
    assert!(rest.contains("stopped cleanly"), "{rest}");
    assert!(
        !seen.contains(&token) && !rest.contains(&token),
        "tokens are never logged"
    );
}

/// With `log.format = "json"`, every line `serve` writes is one JSON object
/// with the documented names, and each request has an access line: method,
/// route template, status, latency and request id, never the reference
/// asked for or a token.
#[tokio::test]
async fn serve_logs_json_lines_with_an_access_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let made = ocset(
        dir.path(),
        &config,
        &[
            "token",
            "create",
            "--name",
            "force-systems",
            "--role",
            "viewer",
        ],
        &[],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let token = stdout(&made).lines().last().unwrap().to_string();

    let (mut child, mut log) = serve_with(dir.path(), &config, &[("OCSET__LOG__FORMAT", "json")]);
    let mut lines: Vec<Value> = Vec::new();
    let base = loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut log, &mut line).unwrap();
        assert!(n > 0, "serve exited before it was running: {lines:?}");
        let event: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        lines.push(event.clone());
        if event["message"]
            .as_str()
            .is_some_and(|m| m.contains("is running"))
        {
            break event["api"].as_str().expect("the api field").to_string();
        }
    };

    let http = reqwest::Client::new();
    let secret_reference = "OCSET-LOGTEST-0042";
    let missing = http
        .get(format!(
            "{base}/api/v1/packages/{secret_reference}?q={secret_reference}"
        ))
        .bearer_auth(&token)
        .header("x-request-id", "req-log-1")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad_token = "ocset_not-a-real-token-123";
    let refused = http
        .get(format!("{base}/api/v1/status"))
        .bearer_auth(bad_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let refused_id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();

    let killed = Process::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.0.wait().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut log, &mut rest).unwrap();
    for line in rest.lines() {
        lines.push(
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}")),
        );
    }

    for event in &lines {
        for name in ["timestamp", "level", "target", "message"] {
            assert!(event[name].is_string(), "{name} missing in {event}");
        }
        assert!(
            event.get("fields").is_none(),
            "event fields are at the top level: {event}"
        );
    }
    let access: Vec<&Value> = lines
        .iter()
        .filter(|e| e["target"] == "ocset_scheduler::access")
        .collect();
    let by_id = |id: &str| -> &Value {
        access
            .iter()
            .find(|e| e["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id}: {access:?}"))
    };
    let line = by_id("req-log-1");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["message"], "request");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/api/v1/packages/{reference}");
    assert_eq!(line["status"], 404);
    assert!(
        line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    let line = by_id(&refused_id);
    assert_eq!(line["route"], "/api/v1/status");
    assert_eq!(line["status"], 401);

    let whole = serde_json::to_string(&lines).unwrap();
    for secret in [secret_reference, token.as_str(), bad_token] {
        assert!(!whole.contains(secret), "{secret} is in the log: {whole}");
    }
    assert!(
        lines
            .last()
            .and_then(|e| e["message"].as_str())
            .is_some_and(|m| m.contains("stopped cleanly")),
        "{:?}",
        lines.last()
    );
}

/// What the README promises a new user: import a package whose deadline has
/// passed, run `serve`, and the escalation emails appear as .eml files under
/// ./data/outbox/ (the default file transport).
#[test]
fn serve_writes_eml_files_for_a_package_imported_past_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let csv = dir.path().join("late.csv");
    let received = (chrono::Utc::now() - chrono::Duration::days(3)).format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        &csv,
        format!("reference,risk_grade,received_at,lpa,stage,assigned_officer\nLATE-1,very_high,{received},Birmingham,awaiting_enforcement,pc.one@force.police.uk\n"),
    )
    .unwrap();
    assert!(
        ocset(dir.path(), &config, &["import", csv.to_str().unwrap()], &[])
            .status
            .success()
    );
    let (mut child, mut log) = serve(dir.path(), &config);
    // Wait on the service's own word that it delivered, not on a timer.
    let mut seen = String::new();
    let mut delivered = 0;
    while delivered < 2 {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut log, &mut line).unwrap();
        assert!(n > 0, "serve exited before delivering:\n{seen}");
        seen.push_str(&line);
        // Escalation notices, not the digests also owed on a first start.
        if line.contains("message delivered") && line.contains("notice of") {
            delivered += 1;
        }
    }
    let outbox = dir.path().join("data/outbox");
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files
        .iter()
        .all(|f| f.extension().is_some_and(|e| e == "eml")));
    let notices: Vec<common::smtp::ParsedMail> = files
        .iter()
        .map(|file| common::smtp::parse_mail(&std::fs::read(file).unwrap()))
        .filter(|mail| mail.subject.starts_with("[OFFICIAL-SENSITIVE] OCSET: "))
        .collect();
    assert_eq!(
        notices.len(),
        2,
        "the breach to the Birmingham sergeants and the inspector: {files:?}"
    );
    let mut to: Vec<String> = Vec::new();
    for mail in notices {
        assert_eq!(
            mail.subject,
            "[OFFICIAL-SENSITIVE] OCSET: 1 package breached its enforcement deadline"
        );
        assert!(mail.text.contains("LATE-1") && mail.html.contains("LATE-1"));
        to.extend(mail.to);
    }
    to.sort();
    assert_eq!(
        to,
        [
            "birmingham.ocset.sergeants@force.example",
            "ocset.inspector@force.example"
        ]
    );
    let killed = Process::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.0.wait().unwrap().success());
}

/// The real binary with `args`, in `dir`, under umask 022 (a common
/// default, which lets everyone read what is created with the usual modes),
/// with `env` set and the tests' own `OCSET__` variables removed.
fn under_umask_022(dir: &Path, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
    let mut command = Process::new("sh");
    command
        .current_dir(dir)
        .args(["-c", "umask 022 && exec \"$@\"", "sh", BIN, "--config"])
        .arg(config)
        .args(args);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OCSET__")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

/// Under umask 022, with the database and the mail in `./data`: imports a
/// package past its deadline, then serves with JSON logs until the two
/// escalation notices are written as `.eml` files. Returns the running
/// service and its log lines so far.
fn serve_until_two_notices(dir: &Path) -> (KillOnDrop, Vec<String>) {
    let config = common::config_in(dir, "sqlite://data/ocset.db");
    let csv = dir.join("late.csv");
    let received = (chrono::Utc::now() - chrono::Duration::days(3)).format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        &csv,
        format!("reference,risk_grade,received_at,lpa,stage,assigned_officer\nLATE-1,very_high,{received},Birmingham,awaiting_enforcement,pc.one@force.police.uk\n"),
    )
    .unwrap();
    let imported = under_umask_022(dir, &config, &["import", csv.to_str().unwrap()], &[])
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", stderr(&imported));
    let mut child = KillOnDrop(
        under_umask_022(
            dir,
            &config,
            &["serve"],
            &[
                ("OCSET__HTTP__BIND", "127.0.0.1:0"),
                ("OCSET__LOG__FORMAT", "json"),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut log = std::io::BufReader::new(child.0.stderr.take().unwrap());
    // Wait on the service's own word that it delivered, not on a timer.
    let mut lines = Vec::new();
    let mut delivered = 0;
    while delivered < 2 {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut log, &mut line).unwrap();
        assert!(n > 0, "serve exited before delivering:\n{}", lines.join(""));
        if line.contains("message delivered") && line.contains("notice of") {
            delivered += 1;
        }
        lines.push(line);
    }
    (child, lines)
}

/// The database (with its -wal and -shm files while the service runs), the
/// `.eml` files and their folders hold case data: only the service's user
/// may read them, whatever the umask.
#[cfg(unix)]
#[test]
fn files_holding_case_data_are_for_the_service_user_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (_service, _) = serve_until_two_notices(dir.path());
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = dir.path().join("data");
    let mut modes = vec![(data.clone(), mode(&data))];
    for name in ["ocset.db", "ocset.db-wal", "ocset.db-shm", "outbox"] {
        modes.push((data.join(name), mode(&data.join(name))));
    }
    let emls: Vec<std::path::PathBuf> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(emls.len() >= 2, "{emls:?}");
    modes.extend(emls.iter().map(|eml| (eml.clone(), mode(eml))));
    let wrong: Vec<String> = modes
        .iter()
        .filter(|(path, mode)| *mode != if path.is_dir() { 0o700 } else { 0o600 })
        .map(|(path, mode)| format!("{} is {mode:o}", path.display()))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A JSON object's keys, at any depth, that appear twice in one object.
/// (`serde_json::Value` keeps the last of two silently, as log collectors do.)
fn duplicate_keys(json: &str) -> Vec<String> {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Duplicates(Vec<String>);
    impl<'de> Deserialize<'de> for Duplicates {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Finder)
        }
    }
    struct Finder;
    impl<'de> Visitor<'de> for Finder {
        type Value = Duplicates;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Duplicates, A::Error> {
            let mut keys = std::collections::HashSet::new();
            let mut twice = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                twice.extend(map.next_value::<Duplicates>()?.0);
                if !keys.insert(key.clone()) {
                    twice.push(key);
                }
            }
            Ok(Duplicates(twice))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Duplicates, A::Error> {
            let mut twice = Vec::new();
            while let Some(inner) = seq.next_element::<Duplicates>()? {
                twice.extend(inner.0);
            }
            Ok(Duplicates(twice))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Duplicates, E> {
            Ok(Duplicates(Vec::new()))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Duplicates, E> {
            Ok(Duplicates(Vec::new()))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Duplicates, E> {
            Ok(Duplicates(Vec::new()))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Duplicates, E> {
            Ok(Duplicates(Vec::new()))
        }
        fn visit_str<E>(self, _: &str) -> Result<Duplicates, E> {
            Ok(Duplicates(Vec::new()))
        }
        fn visit_unit<E>(self) -> Result<Duplicates, E> {
            Ok(Duplicates(Vec::new()))
        }
    }
    serde_json::from_str::<Duplicates>(json)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
        .0
}

/// Log collectors keep one value per key: a field named like the text's
/// own key (`message`) would hide the text.
#[test]
fn json_log_lines_never_carry_a_key_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (_service, lines) = serve_until_two_notices(dir.path());
    let delivered: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("message delivered"))
        .collect();
    assert!(!delivered.is_empty());
    for line in &lines {
        assert_eq!(duplicate_keys(line), Vec::<String>::new(), "{line}");
    }
    let first: Value = serde_json::from_str(delivered[0]).unwrap();
    assert_eq!(first["message"], "message delivered", "{first}");
}

/// The CLI's audit actor is the operating system's user, not `$USER`: set
/// to anything or unset (as under cron or a service manager), it changes
/// nothing.
#[cfg(unix)]
#[test]
fn the_cli_is_audited_as_the_os_user_whatever_user_says() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let id = |flag: &str| {
        let out = Process::new("id").arg(flag).output().unwrap();
        out.status
            .success()
            .then(|| stdout(&out).trim().to_string())
    };
    let expected = match id("-un") {
        Some(name) => format!("cli:{name}"),
        None => format!("cli:uid:{}", id("-u").unwrap()),
    };
    let created = ocset_command(
        dir.path(),
        &config,
        &["token", "create", "--name", "x", "--role", "viewer"],
    )
    .env_remove("USER")
    .env_remove("USERNAME")
    .output()
    .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let revoked = ocset(
        dir.path(),
        &config,
        &["token", "revoke", "x"],
        &[("USER", "somebody-else")],
    );
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let audit = stdout(&ocset(dir.path(), &config, &["audit", "--json"], &[]));
    let lines: Vec<Value> = serde_json::from_str(&audit).unwrap();
    let actors: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["action"].as_str().unwrap(), l["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actors,
        [
            ("token.created", expected.as_str()),
            ("token.revoked", expected.as_str())
        ]
    );
}

/// `list | head` and `audit | head`: a reader that stops early is a normal
/// end, not an error.
#[test]
fn list_and_audit_into_a_closed_pipe_end_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let csv = dir.path().join("packages.csv");
    std::fs::write(&csv, CLOCK_CHANGE_CSV).unwrap();
    assert!(
        ocset(dir.path(), &config, &["import", csv.to_str().unwrap()], &[])
            .status
            .success()
    );
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["audit"],
        &["audit", "--json"],
    ] {
        // A pipe whose reader has already gone: the first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ocset_command(dir.path(), &config, args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

/// `token list` keeps its columns whatever the names and roles.
#[test]
fn token_list_columns_line_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let long = "a-token-name-longer-than-thirty-two-characters";
    for (name, role) in [("a", "viewer"), (long, "supervisor"), ("acc", "admin")] {
        let made = ocset(
            dir.path(),
            &config,
            &["token", "create", "--name", name, "--role", role],
            &[],
        );
        assert!(made.status.success(), "{}", stderr(&made));
    }
    assert!(ocset(dir.path(), &config, &["token", "revoke", "acc"], &[])
        .status
        .success());
    let listed = stdout(&ocset(dir.path(), &config, &["token", "list"], &[]));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 5, "{listed}");
    assert_eq!(lines[4], "3 token(s)");
    let header = lines[0];
    let at = |column: &str| header.find(column).unwrap();
    let (role, created, revoked) = (at("ROLE"), at("CREATED"), at("REVOKED"));
    for line in &lines[1..4] {
        assert!(
            [role, created, revoked]
                .iter()
                .all(|&i| line[..i].ends_with("  ") && !line[i..].starts_with(' ')),
            "a cell not under its heading:\n{listed}"
        );
        assert!(
            ["viewer", "supervisor", "admin"]
                .iter()
                .any(|r| line[role..].starts_with(r)),
            "{listed}"
        );
        assert!(line[created..].starts_with("20"), "{listed}");
        assert!(
            line[revoked..].starts_with("20") || &line[revoked..] == "-",
            "{listed}"
        );
    }
}

#[test]
fn token_commands_refuse_bad_names_roles_and_unknown_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let bad_role = ocset(
        dir.path(),
        &config,
        &["token", "create", "--name", "x", "--role", "root"],
        &[],
    );
    assert!(!bad_role.status.success());
    assert!(
        stderr(&bad_role).contains("\"root\" is not a role"),
        "{}",
        stderr(&bad_role)
    );
    let bad_name = ocset(
        dir.path(),
        &config,
        &["token", "create", "--name", "has space", "--role", "viewer"],
        &[],
    );
    assert!(!bad_name.status.success());
    assert!(
        stderr(&bad_name).contains("--name: \"has space\" is not a token name"),
        "{}",
        stderr(&bad_name)
    );
    let unknown = ocset(dir.path(), &config, &["token", "revoke", "nobody"], &[]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("there is no active token named nobody"),
        "{}",
        stderr(&unknown)
    );
    let audit = stdout(&ocset(dir.path(), &config, &["audit"], &[]));
    assert!(audit.contains("0 line(s)"), "nothing was written: {audit}");
}

async fn run(
    command: Command,
    settings: &config::Settings,
    clock: &ManualClock,
) -> Result<String, cli::CliError> {
    let mut out = Vec::new();
    cli::run(
        command,
        settings.clone(),
        Arc::new(clock.clone()),
        &mut out,
        async {},
    )
    .await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn demo_shows_every_status_both_queues_and_every_grade_then_refuses_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let settings = config::load(&config_path, Vec::new()).unwrap();
    let clock = ManualClock::new(utc("2026-11-26T12:00:00Z"));

    let said = run(Command::Demo, &settings, &clock).await.unwrap();
    // "loaded N fictional packages (DEMO-0001 to DEMO-…, … DEMO-R001 to
    // DEMO-R00k)": the list shows every one of the N.
    let loaded: usize = said
        .strip_prefix("loaded ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        said.contains("fictional packages (DEMO-0001 to DEMO-"),
        "{said}"
    );
    let list = |args: ListArgs| run(Command::List(args), &settings, &clock);
    let json = list(ListArgs {
        json: true,
        ..ListArgs::default()
    })
    .await
    .unwrap();
    let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), loaded);
    // The review demo: one reviewed on time, one late and overdue again,
    // one never reviewed, one raised to high by its review.
    let review = |reference: &str| -> &Value {
        rows.iter()
            .find(|r| r["reference"] == reference)
            .unwrap_or_else(|| panic!("{reference}"))
    };
    let now = utc("2026-11-26T12:00:00Z");
    let due = |reference: &str| -> chrono::DateTime<chrono::Utc> {
        review(reference)["next_review_due_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(due("DEMO-R001") > now);
    assert!(due("DEMO-R002") < now);
    assert!(due("DEMO-R003") < now);
    assert!(due("DEMO-R004") > now);
    assert_eq!(review("DEMO-R004")["risk_grade"], "high");
    let values = |field: &str| -> std::collections::BTreeSet<String> {
        rows.iter()
            .map(|r| r[field].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        values("status").into_iter().collect::<Vec<_>>(),
        ["breached", "closed", "due_soon", "met", "missed", "on_track"]
    );
    assert_eq!(values("risk_grade").len(), 4);
    assert_eq!(values("stage").len(), 4);
    assert!(rows
        .iter()
        .all(|r| r["reference"].as_str().unwrap().starts_with("DEMO-")));
    assert!(rows
        .iter()
        .any(|r| r["child_access_identified_at"].is_string()
            && r["safeguarding_referral_at"].is_null()));

    // A second run writes nothing.
    let again = run(Command::Demo, &settings, &clock).await.unwrap();
    assert!(again.contains("already loaded"), "{again}");

    // Not into a database with real packages.
    let other = tempfile::tempdir().unwrap();
    let real_config = common::config_in(other.path(), &common::sqlite_url(other.path()));
    let real = config::load(&real_config, Vec::new()).unwrap();
    let csv = other.path().join("real.csv");
    std::fs::write(&csv, "reference,risk_grade,received_at,lpa,stage,assigned_officer\nNCA-1,high,2026-11-20 10:00,Dudley,awaiting_enforcement,\n").unwrap();
    run(
        Command::Import {
            file: csv,
            history: false,
        },
        &real,
        &clock,
    )
    .await
    .unwrap();
    let refused = run(Command::Demo, &real, &clock).await.unwrap_err();
    assert!(
        refused.to_string().contains("holds 1 real package"),
        "{refused}"
    );
}

#[tokio::test]
async fn status_follows_the_controlled_clock() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let settings = config::load(&config_path, Vec::new()).unwrap();
    let clock = ManualClock::new(utc("2024-01-01T10:00:00Z"));
    let csv = dir.path().join("one.csv");
    std::fs::write(&csv, "reference,risk_grade,received_at,lpa,stage,assigned_officer\nT-1,very_high,2024-01-01 10:00,Dudley,awaiting_enforcement,\n").unwrap();
    run(
        Command::Import {
            file: csv,
            history: false,
        },
        &settings,
        &clock,
    )
    .await
    .unwrap();
    let status = || async {
        let json = run(
            Command::List(ListArgs {
                json: true,
                ..ListArgs::default()
            }),
            &settings,
            &clock,
        )
        .await
        .unwrap();
        let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
        rows[0]["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status().await, "on_track");
    clock.set(utc("2024-01-02T22:00:00Z")); // 36h: 75% of 48h
    assert_eq!(status().await, "due_soon");
    clock.set(utc("2024-01-03T10:00:00Z"));
    assert_eq!(status().await, "breached");
}

#[tokio::test]
async fn digest_preview_renders_the_demo_week_in_every_format_and_names_a_bad_week() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let settings = config::load(&config_path, Vec::new()).unwrap();
    // A Wednesday: the last complete week is 2026-W47 (16 to 23 November);
    // the demo data are relative to now, so they reach into that week.
    let clock = ManualClock::new(utc("2026-11-25T12:00:00Z"));
    run(Command::Demo, &settings, &clock).await.unwrap();
    let preview = |week: Option<&str>, format: DigestFormat| {
        run(
            Command::Digest(DigestAction::Preview {
                week: week.map(|w| w.parse().unwrap()),
                month: None,
                quarter: None,
                format,
            }),
            &settings,
            &clock,
        )
    };
    let json: Value =
        serde_json::from_str(&preview(None, DigestFormat::Json).await.unwrap()).unwrap();
    assert_eq!(json["week"], "2026-W47");
    assert_eq!(json["marking"], "OFFICIAL-SENSITIVE");
    assert_eq!(json["trend"].as_array().unwrap().len(), 12);
    let html = preview(Some("2026-W47"), DigestFormat::Html).await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<table id=\"trend\""));
    let text = preview(Some("2026-W47"), DigestFormat::Text).await.unwrap();
    assert!(
        text.starts_with("OFFICIAL-SENSITIVE")
            && text.contains("OCSET weekly performance, 2026-W47")
    );
    let csv = preview(Some("2026-W47"), DigestFormat::Csv).await.unwrap();
    assert!(csv.starts_with("marking,week,reference"));
    let audit = run(
        Command::Audit {
            action: None,
            reference: None,
            json: false,
        },
        &settings,
        &clock,
    )
    .await
    .unwrap();
    assert!(audit.contains("report.previewed"), "{audit}");

    let bad = ocset(
        dir.path(),
        &config_path,
        &["digest", "preview", "--week", "2024-W5"],
        &[],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("\"2024-W5\" is not an ISO week"),
        "{}",
        stderr(&bad)
    );
}

/// `digest preview --month` and `--quarter` render the monthly and
/// quarterly reports; a period not yet ended is refused naming its option,
/// and two periods at once are refused by the command line.
#[tokio::test]
async fn digest_preview_renders_a_month_or_a_quarter_and_takes_one_period() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let settings = config::load(&config_path, Vec::new()).unwrap();
    let clock = ManualClock::new(utc("2026-11-25T12:00:00Z"));
    run(Command::Demo, &settings, &clock).await.unwrap();
    let preview = |month: Option<&str>, quarter: Option<&str>, format: DigestFormat| {
        run(
            Command::Digest(DigestAction::Preview {
                week: None,
                month: month.map(|m| m.parse().unwrap()),
                quarter: quarter.map(|q| q.parse().unwrap()),
                format,
            }),
            &settings,
            &clock,
        )
    };
    let json: Value = serde_json::from_str(
        &preview(Some("2026-10"), None, DigestFormat::Json)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["period"], "2026-10");
    assert_eq!(json["trend"].as_array().unwrap().len(), 12);
    let text = preview(None, Some("2026-Q3"), DigestFormat::Text)
        .await
        .unwrap();
    assert!(
        text.contains("OCSET quarterly performance, 2026-Q3\nWed 1 Jul 2026 to Wed 30 Sep 2026"),
        "{text}"
    );
    let running = preview(Some("2026-11"), None, DigestFormat::Text)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        running.contains("--month: 2026-11 has not ended yet"),
        "{running}"
    );
    let running = preview(None, Some("2026-Q4"), DigestFormat::Text)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        running.contains("--quarter: 2026-Q4 has not ended yet"),
        "{running}"
    );
    let audit = run(
        Command::Audit {
            action: None,
            reference: None,
            json: false,
        },
        &settings,
        &clock,
    )
    .await
    .unwrap();
    assert!(audit.contains("month 2026-10, format json"), "{audit}");

    for (args, says) in [
        (
            &[
                "digest", "preview", "--week", "2024-W05", "--month", "2024-02",
            ][..],
            "cannot be used with",
        ),
        (
            &[
                "digest",
                "preview",
                "--month",
                "2024-02",
                "--quarter",
                "2024-Q1",
            ][..],
            "cannot be used with",
        ),
        (
            &["digest", "preview", "--month", "2024-13"][..],
            "\"2024-13\" is not a calendar month",
        ),
        (
            &["digest", "preview", "--quarter", "2024-Q5"][..],
            "\"2024-Q5\" is not a quarter",
        ),
        // The shipped configuration has no monthly schedule to send to.
        (
            &["digest", "send", "--month", "2024-02"][..],
            "no monthly [[digest]] schedule is configured",
        ),
        (
            &[
                "digest",
                "send",
                "--quarter",
                "2024-Q1",
                "--week",
                "2024-W05",
            ][..],
            "cannot be used with",
        ),
    ] {
        let bad = ocset(dir.path(), &config_path, args, &[]);
        assert!(!bad.status.success(), "{args:?}");
        assert!(stderr(&bad).contains(says), "{args:?}: {}", stderr(&bad));
    }
}

/// `demo` ends by printing a supervisor token for the dashboard, on its
/// last line, and where to use it; the token is stored (as its hash).
#[test]
fn demo_prints_a_token_to_sign_in_with() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let demo = ocset(dir.path(), &config, &["demo"], &[]);
    assert!(demo.status.success(), "{}", stderr(&demo));
    let said = stdout(&demo);
    let lines: Vec<&str> = said.lines().collect();
    let token = lines.last().unwrap();
    assert!(token.len() >= 32 && !token.contains(' '), "{said}");
    assert!(
        lines[lines.len() - 2].contains("open http://127.0.0.1:8080/ and sign in"),
        "{said}"
    );
    let listed = stdout(&ocset(dir.path(), &config, &["token", "list"], &[]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("demo-") && l.contains("supervisor")),
        "{listed}"
    );
    assert!(!listed.contains(token), "the token itself is never listed");
}

/// `digest send` queues the week's digest to the weekly audience and
/// delivers it at once (here as .eml files), audited; an unfinished week
/// is refused naming `--week`.
#[test]
fn digest_send_delivers_the_week_to_its_audience_and_refuses_an_unfinished_week() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    assert!(ocset(dir.path(), &config, &["demo"], &[]).status.success());
    let week = IsoWeek::last_complete(chrono::Utc::now(), chrono_tz::Europe::London);
    let sent = ocset(
        dir.path(),
        &config,
        &["digest", "send", "--week", &week.to_string()],
        &[],
    );
    assert!(sent.status.success(), "{}", stderr(&sent));
    let said = stdout(&sent);
    assert!(
        said.contains(&format!(
            "queued the weekly digest for {week} to 2 recipient(s)"
        )) && said.contains("delivered 2 message(s)"),
        "{said}"
    );
    let mut to = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("data/outbox")).unwrap() {
        let mail = common::smtp::parse_mail(&std::fs::read(entry.unwrap().path()).unwrap());
        assert_eq!(
            mail.subject,
            format!(
                "[OFFICIAL-SENSITIVE] OCSET weekly performance, week {} {}",
                week.week(),
                week.year()
            )
        );
        assert_eq!(mail.attachments.len(), 1);
        to.extend(mail.to);
    }
    to.sort();
    assert_eq!(
        to,
        ["acc.crime.office@force.example", "ppu.slt@force.example"]
    );
    let audit = stdout(&ocset(dir.path(), &config, &["audit", "--json"], &[]));
    let lines: Vec<Value> = serde_json::from_str(&audit).unwrap();
    let queued: Vec<&Value> = lines
        .iter()
        .filter(|l| l["action"] == "digest.queued")
        .collect();
    assert_eq!(queued.len(), 2);
    assert!(queued
        .iter()
        .all(|l| l["actor"].as_str().unwrap().starts_with("cli:")));

    let early = ocset(
        dir.path(),
        &config,
        &["digest", "send", "--week", "2099-W01"],
        &[],
    );
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains("--week: 2099-W01 has not ended yet"),
        "{}",
        stderr(&early)
    );
}

#[test]
fn review_records_a_review_as_the_os_user_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let imported = import_rows(
        dir.path(),
        &config,
        "one.csv",
        &["REV-CLI,Standard,2024-03-01 10:00,Birmingham,awaiting_enforcement,"],
    );
    assert!(imported.status.success(), "{}", stderr(&imported));
    let reviewed = ocset(
        dir.path(),
        &config,
        &[
            "review",
            "REV-CLI",
            "--note",
            "new intelligence: access to a child",
            "--grade",
            "high",
        ],
        &[],
    );
    assert!(reviewed.status.success(), "{}", stderr(&reviewed));
    let said = stdout(&reviewed);
    assert!(
        said.starts_with("reviewed REV-CLI: High; next review due "),
        "{said}"
    );
    let listed = listed_json(dir.path(), &config);
    assert_eq!(listed[0]["risk_grade"], "high");
    assert!(listed[0]["next_review_due_at"].is_string(), "{}", listed[0]);
    let audit = stdout(&ocset(
        dir.path(),
        &config,
        &["audit", "--reference", "REV-CLI"],
        &[],
    ));
    assert!(
        audit.contains("package.regraded") && audit.contains("package.reviewed"),
        "{audit}"
    );
    assert!(audit.contains("cli:"), "{audit}");
    for (args, why) in [
        (vec!["review", "REV-CLI", "--note", " "], "note"),
        (
            vec![
                "review",
                "REV-CLI",
                "--note",
                "ok",
                "--at",
                "2099-01-01 10:00",
            ],
            "reviewed_at",
        ),
        (
            vec!["review", "REV-CLI", "--note", "ok", "--at", "soon"],
            "--at",
        ),
        (vec!["review", "NO-SUCH", "--note", "ok"], "NO-SUCH"),
    ] {
        let refused = ocset(dir.path(), &config, &args, &[]);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            stderr(&refused).contains(why),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    let refused = ocset(
        dir.path(),
        &config,
        &["review", "REV-CLI", "--note", "ok", "--grade", "urgent"],
        &[],
    );
    assert!(!refused.status.success());
}

/// `audit verify` through the real binary, on the database at `url`: a
/// chain that fits prints its count and head, exit status 0; after
/// `tamper` (SQL run as an attacker with the database's rights would, on
/// the line id it is given) it names the altered line, exit status 1; a
/// malformed `--head` is refused naming the option.
async fn audit_verify_through_the_binary<F, Fut>(url: String, tamper: F)
where
    F: FnOnce(i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &url);
    let run = |args: &'static [&'static str]| {
        let (dir, config) = (dir.path().to_path_buf(), config.clone());
        tokio::task::spawn_blocking(move || ocset(&dir, &config, args, &[]))
    };
    for name in ["first", "second"] {
        let (dir, config) = (dir.path().to_path_buf(), config.clone());
        let made = tokio::task::spawn_blocking(move || {
            ocset(
                &dir,
                &config,
                &["token", "create", "--name", name, "--role", "viewer"],
                &[],
            )
        })
        .await
        .unwrap();
        assert!(made.status.success(), "{}", stderr(&made));
    }
    let fine = run(&["audit", "verify"]).await.unwrap();
    assert!(fine.status.success(), "{}", stderr(&fine));
    let text = stdout(&fine);
    assert!(text.contains("the audit chain verifies: 2 lines"), "{text}");
    let head = text
        .lines()
        .find_map(|l| l.strip_prefix("head "))
        .unwrap()
        .to_string();
    assert!(head.starts_with("2:"), "{text}");

    let bad = run(&["audit", "verify", "--head", "2:not-a-hash"])
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--head"), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("64 hex digits"), "{}", stderr(&bad));

    // The first token's line, edited.
    let listed = run(&["audit", "--json"]).await.unwrap();
    let lines: Vec<Value> = serde_json::from_str(&stdout(&listed)).unwrap();
    let id = lines[0]["sequence"].as_i64().unwrap();
    tamper(id).await;
    let found = run(&["audit", "verify"]).await.unwrap();
    assert_eq!(found.status.code(), Some(1), "{}", stdout(&found));
    let error = stderr(&found);
    assert!(
        error.contains(&format!("the audit chain does not verify: line {id} at ")),
        "{error}"
    );
    assert!(
        error.contains("(seq 1)") && error.contains("altered"),
        "{error}"
    );
}

const EDIT_THE_LINE: &str = "UPDATE audit_log SET detail = 'name=first role=admin' WHERE id = ";

#[tokio::test]
async fn audit_verify_names_an_altered_line_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let pool_url = url.clone();
    audit_verify_through_the_binary(url, |id| async move {
        let pool = sqlx::SqlitePool::connect(&pool_url).await.unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_update")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(&format!("{EDIT_THE_LINE}{id}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    })
    .await;
}

#[tokio::test]
async fn audit_verify_names_an_altered_line_on_postgres() {
    common::with_postgres(|url| async move {
        let pool_url = url.clone();
        audit_verify_through_the_binary(url, |id| async move {
            let pool = sqlx::PgPool::connect(&pool_url).await.unwrap();
            sqlx::query("DROP TRIGGER audit_log_no_update_or_delete ON audit_log")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(&format!("{EDIT_THE_LINE}{id}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        })
        .await;
    })
    .await;
}

/// `retention run`: a dry run says how many packages, their stop period
/// and the rule, and writes nothing; the run pseudonymises them, audits
/// it, and the audit chain still verifies; a second run finds nothing.
#[tokio::test]
async fn retention_run_says_what_it_would_do_then_does_it_and_the_audit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let key = dir.path().join("pseudonym.key");
    std::fs::write(&key, format!("{}\n", "5e".repeat(32))).unwrap();
    let env = vec![
        (
            "OCSET__RETENTION__KEEP_STOPPED_FOR".to_string(),
            "30d".to_string(),
        ),
        (
            "OCSET__RETENTION__PSEUDONYM_KEY_FILE".to_string(),
            key.display().to_string(),
        ),
    ];
    let settings = config::load(&config_path, env).unwrap();
    let clock = ManualClock::new(utc("2026-11-26T12:00:00Z"));
    // The demo's year of history has packages stopped months ago.
    run(Command::Demo, &settings, &clock).await.unwrap();
    let audit_lines = |text: &str| -> usize {
        text.lines()
            .find_map(|l| l.strip_suffix(" line(s)"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{text}"))
    };
    let audit = Command::Audit {
        action: None,
        reference: None,
        json: false,
    };
    let lines_before = audit_lines(&run(audit, &settings, &clock).await.unwrap());

    let dry = run(
        Command::Retention(cli::RetentionAction::Run { dry_run: true }),
        &settings,
        &clock,
    )
    .await
    .unwrap();
    assert!(dry.starts_with("dry run: would pseudonymise "), "{dry}");
    assert!(
        dry.contains("rule: keep_stopped_for = 30d, clocks stopped before 2026-10-27T12:00:00Z"),
        "{dry}"
    );
    assert!(dry.contains("nothing written"), "{dry}");
    let would: u64 = dry
        .trim_start_matches("dry run: would pseudonymise ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{dry}"));
    assert!(would > 0, "the demo has packages stopped long ago: {dry}");
    let audit = Command::Audit {
        action: None,
        reference: None,
        json: false,
    };
    assert_eq!(
        audit_lines(&run(audit, &settings, &clock).await.unwrap()),
        lines_before,
        "the dry run wrote to the audit log"
    );

    let done = run(
        Command::Retention(cli::RetentionAction::Run { dry_run: false }),
        &settings,
        &clock,
    )
    .await
    .unwrap();
    assert!(
        done.starts_with(&format!(
            "pseudonymised {would} packages whose clock stopped between "
        )),
        "{done}"
    );
    assert!(done.contains("audited as retention.purged"), "{done}");
    let verified = run(
        Command::Audit {
            action: Some(cli::AuditAction::Verify { head: None }),
            reference: None,
            json: false,
        },
        &settings,
        &clock,
    )
    .await
    .unwrap();
    assert!(
        verified.starts_with("the audit chain verifies: ")
            && verified.contains("with a pseudonymised reference"),
        "{verified}"
    );
    // Listed by their pseudonyms now.
    let listed = run(Command::List(ListArgs::default()), &settings, &clock)
        .await
        .unwrap();
    assert_eq!(listed.matches("purged-").count() as u64, would, "{listed}");
    let again = run(
        Command::Retention(cli::RetentionAction::Run { dry_run: false }),
        &settings,
        &clock,
    )
    .await
    .unwrap();
    assert!(again.starts_with("pseudonymised 0 packages "), "{again}");
}

/// Without a period nothing is purged, and a wrong `[retention]` is named
/// by its key.
#[test]
fn retention_refuses_without_a_period_and_check_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), &common::sqlite_url(dir.path()));
    let none = ocset(dir.path(), &config, &["retention", "run", "--dry-run"], &[]);
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("retention.keep_stopped_for is not set"),
        "{}",
        stderr(&none)
    );
    let hours = ocset(
        dir.path(),
        &config,
        &["check-config"],
        &[("OCSET__RETENTION__KEEP_STOPPED_FOR", "48h")],
    );
    assert!(!hours.status.success());
    let said = stderr(&hours);
    assert!(
        said.contains("retention.keep_stopped_for") && said.contains("in hours"),
        "{said}"
    );
    assert!(
        said.contains("retention.pseudonym_key_file: is required"),
        "{said}"
    );
    let help = ocset(dir.path(), &config, &["retention", "run", "--help"], &[]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("--dry-run"), "{}", stdout(&help));
}
