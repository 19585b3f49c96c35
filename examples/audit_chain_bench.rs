//! What the audit chain costs per write: audit lines appended through the
//! store (each chained under the head's lock, in its transaction) beside
//! the same lines appended as before the chain (one `INSERT`, no seal) into
//! a table of the same shape, on the same database.
//!
//! ```text
//! cargo run --example audit_chain_bench -- sqlite:///tmp/chain-bench.db 2000 8
//! cargo run --example audit_chain_bench -- postgres://postgres@127.0.0.1/ocset_chain_bench 2000 8
//! ```
//!
//! Arguments: the database (empty; a SQLite file is created), lines per
//! measure, concurrent writers. Three measures: single lines one after
//! another, single lines from several writers at once, and batches of 500
//! (a listing's read audit). Performance is measured here, never asserted
//! in a test.

use chrono::Utc;
use ocset_scheduler::domain::Reference;
use ocset_scheduler::store::{self, Actor, AuditLine, ChainVerdict, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The audit log as it was before the chain (migration 0001's columns and
/// index), for the baseline.
const PLAIN_TABLE: [&str; 2] = [
    "CREATE TABLE audit_plain (id {ID}, at {AT} NOT NULL, actor TEXT NOT NULL, \
     action TEXT NOT NULL, reference TEXT, request_id TEXT, detail TEXT)",
    "CREATE INDEX audit_plain_reference ON audit_plain (reference, id)",
];

const PLAIN_INSERT: &str = "INSERT INTO audit_plain (reference, at, actor, action, request_id, \
     detail) VALUES ($1, $2, $3, $4, $5, $6)";

/// The baseline's connection pool.
#[derive(Clone)]
enum Plain {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Plain {
    async fn create(&self) -> anyhow::Result<()> {
        for statement in PLAIN_TABLE {
            let sql = match self {
                Plain::Sqlite(_) => statement
                    .replace("{ID}", "INTEGER PRIMARY KEY AUTOINCREMENT")
                    .replace("{AT}", "TEXT"),
                Plain::Postgres(_) => statement
                    .replace("{ID}", "BIGSERIAL PRIMARY KEY")
                    .replace("{AT}", "TIMESTAMPTZ"),
            };
            match self {
                Plain::Sqlite(pool) => sqlx::query(&sql).execute(pool).await.map(|_| ())?,
                Plain::Postgres(pool) => sqlx::query(&sql).execute(pool).await.map(|_| ())?,
            }
        }
        Ok(())
    }

    /// `lines` lines in one transaction, as `audit_lines` did before.
    async fn append(&self, lines: usize, reference: &str) -> anyhow::Result<()> {
        let at = Utc::now();
        macro_rules! append {
            ($pool:expr) => {{
                let mut tx = $pool.begin().await?;
                for _ in 0..lines {
                    sqlx::query(PLAIN_INSERT)
                        .bind(reference)
                        .bind(at)
                        .bind("token:bench")
                        .bind("package.read")
                        .bind("req-bench")
                        .bind(None::<&str>)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }};
        }
        match self {
            Plain::Sqlite(pool) => append!(pool),
            Plain::Postgres(pool) => append!(pool),
        }
        Ok(())
    }
}

/// `lines` lines through the store: one `audit` call each, or
/// `audit_lines` batches of `batch`.
async fn chained(store: &Arc<dyn Store>, lines: usize, batch: usize) -> anyhow::Result<()> {
    let actor = Actor {
        name: "token:bench".into(),
        request_id: Some("req-bench".into()),
    };
    let reference = Reference::parse("BENCH-1").map_err(|e| anyhow::anyhow!(e.0))?;
    if batch == 1 {
        for _ in 0..lines {
            store
                .audit(&actor, "package.read", Some(&reference), None, Utc::now())
                .await?;
        }
    } else {
        for _ in 0..lines / batch {
            let at = Utc::now();
            let batch: Vec<AuditLine> = (0..batch)
                .map(|_| AuditLine {
                    actor: actor.clone(),
                    action: "package.read".into(),
                    reference: Some(reference.clone()),
                    detail: None,
                    at,
                })
                .collect();
            store.audit_lines(&batch).await?;
        }
    }
    Ok(())
}

/// Runs `work` on `writers` tasks at once, each given its share of
/// `lines`; the time until the last finishes.
async fn timed<F, Fut>(writers: usize, lines: usize, work: F) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| tokio::spawn(work(lines / writers)))
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(start.elapsed())
}

fn per_line(elapsed: Duration, lines: usize) -> String {
    format!(
        "{:>8.1} µs/line ({:>7.0} lines/s)",
        elapsed.as_secs_f64() * 1e6 / lines as f64,
        lines as f64 / elapsed.as_secs_f64()
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite:///tmp/chain-bench.db".to_string());
    let lines: usize = args.next().map_or(Ok(2000), |n| n.parse())?;
    let writers: usize = args.next().map_or(Ok(8), |n| n.parse())?;

    let store = store::connect(&url, writers as u32 + 2).await?;
    store.migrate().await?;
    let plain = if url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
        Plain::Sqlite(
            sqlx::pool::PoolOptions::new()
                .max_connections(writers as u32 + 2)
                .connect_with(
                    options
                        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(30)),
                )
                .await?,
        )
    } else {
        Plain::Postgres(
            sqlx::pool::PoolOptions::new()
                .max_connections(writers as u32 + 2)
                .connect(&url)
                .await?,
        )
    };
    plain.create().await?;
    println!("{url}: {lines} lines per measure, {writers} concurrent writers");

    for (name, share, batch) in [
        ("one line a write, one writer", 1, 1),
        ("one line a write, concurrent", writers, 1),
        ("batches of 500, one writer", 1, 500),
    ] {
        let p = plain.clone();
        let without = timed(share, lines, move |n| {
            let p = p.clone();
            async move {
                for _ in 0..n / batch {
                    p.append(batch, "BENCH-1").await?;
                }
                Ok(())
            }
        })
        .await?;
        let s = store.clone();
        let with = timed(share, lines, move |n| {
            let s = s.clone();
            async move { chained(&s, n, batch).await }
        })
        .await?;
        println!(
            "{name:<32} without the chain {}   with {}   (+{:.1} µs/line)",
            per_line(without, lines),
            per_line(with, lines),
            (with.as_secs_f64() - without.as_secs_f64()) * 1e6 / lines as f64
        );
    }
    let start = Instant::now();
    match store.verify_audit_chain(None).await? {
        ChainVerdict::Intact(chain) => println!(
            "audit verify: {} lines in {:.2} s ({})",
            chain.lines,
            start.elapsed().as_secs_f64(),
            per_line(start.elapsed(), chain.lines as usize)
        ),
        ChainVerdict::Broken(broken) => anyhow::bail!("the chain does not verify: {broken}"),
    }
    Ok(())
}
