//! Rebuilds when a migration changes: `sqlx::migrate!` embeds the files at
//! compile time, and without this Cargo would not notice an edited one.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
