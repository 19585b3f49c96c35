//! Rebuilds when a migration changes (`sqlx::migrate!` embeds the files at
//! compile time, and without this Cargo would not notice an edited one), and
//! records the commit the binary is built from, for `--version`, the
//! `ocset_build_info` metric and the container image's labels.
//!
//! The commit comes from `OCSET_COMMIT` when it is set (a container build
//! has no `.git`: the Dockerfile passes it as a build argument), otherwise
//! from `git rev-parse`, otherwise it is "unknown".

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=OCSET_COMMIT");
    let commit = std::env::var("OCSET_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=OCSET_COMMIT={}", commit.trim());
    // Rebuild when HEAD moves: HEAD itself and the branch ref it names.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from) {
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                println!("cargo:rerun-if-changed={}", common.join(branch).display());
            }
            println!(
                "cargo:rerun-if-changed={}",
                common.join("packed-refs").display()
            );
        }
    }
}

fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
