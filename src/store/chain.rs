//! The audit log's hash chain: every line carries its place in one chain
//! (`seq` 1, 2, 3...), the hash of the line before it and its own hash, so
//! that an edited, deleted or inserted line no longer fits (see
//! `migrations/*/0008_audit_chain.sql` and `docs/notes/audit-chain.md`).
//!
//! One mechanism for every write path: a write appends its lines as it
//! always did, with the chain's columns empty, and calls
//! [`SqlStore::seal_audit`] in the same transaction before it commits. The
//! seal takes the chain's head ([`Dialect::LOCK_AUDIT_HEAD`]: a row lock on
//! PostgreSQL, held to the commit, so appenders on every replica extend one
//! chain one after the other), chains every line not yet chained in id
//! order, and moves the head. The hashes are computed here, in Rust,
//! because SQLite has no SHA-256 in SQL.

use super::dialect::Dialect;
use super::rows::stored_instant;
use super::{SqlStore, StoreError};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use std::fmt;

/// The hash before the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What every line hash starts with: names the encoding, so a later one can
/// be told apart.
const LINE_DOMAIN: &[u8] = b"ocset-audit-line/v1";

/// What every reference digest starts with.
const REFERENCE_DOMAIN: &[u8] = b"ocset-audit-reference/v1";

/// Lines a seal or a verification reads at a time.
const PAGE: i64 = 1000;

/// A line of the chain as a copy outside the database holds it (the weekly
/// digest's last line, `audit verify`'s output): `SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The line's place in the chain, from 1.
    pub seq: i64,
    /// Its hash, 64 lowercase hex digits.
    pub hash: String,
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for ChainHead {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (seq, hash) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{text:?} is not SEQ:HASH"))?;
        let seq: i64 = seq
            .parse()
            .ok()
            .filter(|seq| *seq >= 1)
            .ok_or_else(|| format!("{seq:?} is not a sequence number (1 or more)"))?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{hash:?} is not a hash (64 hex digits)"));
        }
        Ok(ChainHead { seq, hash })
    }
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainIntact {
    /// Lines in the chain.
    pub lines: u64,
    /// Its last line; none while the audit log is empty.
    pub head: Option<ChainHead>,
    /// Lines whose reference was replaced by a pseudonym (their reference
    /// commitment's nonce cleared): their hash still verifies, their
    /// reference cannot be checked.
    pub pseudonymised: u64,
}

/// The first place where the chain does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The audit line's id (`AuditRecord::sequence`); none when no line is
    /// there to name (the whole log gone).
    pub id: Option<i64>,
    /// When the line says it was written.
    pub at: Option<DateTime<Utc>>,
    /// Its place in the chain, if it has one.
    pub seq: Option<i64>,
    /// What does not fit.
    pub why: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.id, self.at) {
            (Some(id), Some(at)) => write!(
                f,
                "line {id} at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            )?,
            _ => write!(f, "the audit log")?,
        }
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.why)
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainVerdict {
    /// Every line fits.
    Intact(ChainIntact),
    /// The first line that does not.
    Broken(ChainBreak),
}

/// The last recorded verification, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// When it ran (the verifier's clock).
    pub verified_at: DateTime<Utc>,
    /// Whether the chain fitted.
    pub ok: bool,
    /// Lines in the chain (0 when broken).
    pub lines: i64,
    /// The head as `SEQ:HASH`, when intact and not empty.
    pub head: Option<String>,
    /// The break, when broken.
    pub failure: Option<String>,
}

/// The columns a line's hash covers, in the order they are hashed.
#[derive(Debug)]
pub(crate) struct LineContent<'a> {
    pub(crate) seq: i64,
    pub(crate) id: i64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) actor: &'a str,
    pub(crate) action: &'a str,
    pub(crate) reference_digest: Option<&'a str>,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) detail: Option<&'a str>,
    pub(crate) prev_hash: &'a str,
}

/// One field, unambiguously: a 0 byte for NULL, or a 1 byte, the length as
/// 8 bytes big-endian, and the bytes. No two different rows encode alike.
fn field(hasher: &mut Sha256, value: Option<&[u8]>) {
    match value {
        None => hasher.update([0u8]),
        Some(bytes) => {
            hasher.update([1u8]);
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
    }
}

/// An instant as hashed: RFC 3339 in UTC to the microsecond (what both
/// backends store), whatever text the backend keeps.
fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The line's hash: hex SHA-256 of [`LINE_DOMAIN`] and each column of
/// [`LineContent`] encoded by [`field`]. The reference enters only through
/// its digest, so that a purge that replaces it keeps the hash.
pub(crate) fn line_hash(line: &LineContent<'_>) -> String {
    let mut h = Sha256::new();
    field(&mut h, Some(LINE_DOMAIN));
    field(&mut h, Some(line.seq.to_string().as_bytes()));
    field(&mut h, Some(line.id.to_string().as_bytes()));
    field(&mut h, Some(instant(line.at).as_bytes()));
    field(&mut h, Some(line.actor.as_bytes()));
    field(&mut h, Some(line.action.as_bytes()));
    field(&mut h, line.reference_digest.map(str::as_bytes));
    field(&mut h, line.request_id.map(str::as_bytes));
    field(&mut h, line.detail.map(str::as_bytes));
    field(&mut h, Some(line.prev_hash.as_bytes()));
    hex(&h.finalize())
}

/// The commitment to a line's reference: hex SHA-256 of
/// [`REFERENCE_DOMAIN`], the line's random nonce and the reference. Without
/// the nonce it cannot be matched against a list of references.
pub(crate) fn reference_digest(nonce: &str, reference: &str) -> String {
    let mut h = Sha256::new();
    field(&mut h, Some(REFERENCE_DOMAIN));
    field(&mut h, Some(nonce.as_bytes()));
    field(&mut h, Some(reference.as_bytes()));
    hex(&h.finalize())
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new nonce: 128 random bits in hex.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// A line not yet in the chain, in [`SELECT_UNCHAINED`]'s order (a tuple:
/// read by position, which every write path's store can do).
type UnchainedRow = (
    i64,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A line of the chain, as the verification reads it.
#[derive(Debug, sqlx::FromRow)]
struct ChainRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    reference: Option<String>,
    request_id: Option<String>,
    detail: Option<String>,
    seq: i64,
    reference_nonce: Option<String>,
    reference_digest: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

/// The lines to chain next, oldest first, after the line `$1` (the last
/// one this seal chained). Paging by id, not only by `hash IS NULL`,
/// matters on PostgreSQL: within the sealing transaction every line already
/// sealed still has its old version's entry in the partial index, and
/// restarting from its start each page read them all again — quadratic in
/// the lines one transaction seals (an import of a million packages spent
/// minutes there).
const SELECT_UNCHAINED: &str = "SELECT id, at, actor, action, reference, request_id, detail \
     FROM audit_log WHERE hash IS NULL AND id > $1 ORDER BY id LIMIT $2";

/// Lines sealed by one statement (6 values each).
const SEAL_CHUNK: usize = 100;

/// Sets the chain columns of `rows` lines (the one update the append-only
/// trigger allows): `(seq, nonce, digest, prev_hash, hash, id)` each, from
/// `$1` on. `VALUES` names its columns `column1`... on both backends.
fn seal_lines(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let p = r * 6;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            )
        })
        .collect();
    format!(
        "UPDATE audit_log SET seq = v.column1, reference_nonce = v.column2, \
         reference_digest = v.column3, prev_hash = v.column4, hash = v.column5 \
         FROM (VALUES {}) AS v WHERE audit_log.id = v.column6",
        values.join(", ")
    )
}

/// One sealed line's chain columns, as [`seal_lines`] binds them.
type Sealed = (i64, Option<String>, Option<String>, String, String, i64);

/// Moves the head.
const MOVE_HEAD: &str = "UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1";

/// The chain's lines from seq `$1` on, in order.
const SELECT_CHAIN: &str = "SELECT id, at, actor, action, reference, request_id, detail, seq, \
     reference_nonce, reference_digest, prev_hash, hash FROM audit_log \
     WHERE seq >= $1 ORDER BY seq LIMIT $2";

/// A line outside the chain (no place in it, no hash, or a place before
/// the first, which the walk from seq 1 would never reach), the oldest.
const SELECT_OUTSIDE: &str = "SELECT id, at FROM audit_log \
     WHERE seq IS NULL OR hash IS NULL OR seq < 1 ORDER BY id LIMIT 1";

/// The head as the database records it.
const SELECT_HEAD: &str = "SELECT seq, hash FROM audit_chain_head WHERE id = 1";

/// The last line at or before `$1`.
const SELECT_HEAD_AT: &str = "SELECT seq, hash FROM audit_log \
     WHERE seq IS NOT NULL AND hash IS NOT NULL AND at <= $1 ORDER BY seq DESC LIMIT 1";

/// Records a verification, replacing the last (`ok` is `$2 = 1`: an
/// integer binds alike on both backends).
const RECORD_VERIFICATION: &str = "INSERT INTO audit_verification \
     (id, verified_at, ok, lines, head, failure) VALUES (1, $1, $2 = 1, $3, $4, $5) \
     ON CONFLICT (id) DO UPDATE SET verified_at = excluded.verified_at, ok = excluded.ok, \
     lines = excluded.lines, head = excluded.head, failure = excluded.failure";

/// The last verification.
const SELECT_VERIFICATION: &str =
    "SELECT verified_at, ok, lines, head, failure FROM audit_verification WHERE id = 1";

/// The break at `row`.
fn broken_at(id: i64, at: DateTime<Utc>, seq: Option<i64>, why: String) -> ChainVerdict {
    ChainVerdict::Broken(ChainBreak {
        id: Some(id),
        at: Some(at),
        seq,
        why,
    })
}

/// Chains every audit line not yet chained, in id order, after the
/// head, and moves the head. **Every write that appends audit lines
/// calls this in its transaction, after its last write and just before
/// it commits**: the head's lock (on PostgreSQL) is then held for the
/// least time, and taken after every other lock the write holds.
pub(crate) async fn seal_audit<DB>(connection: &mut DB::Connection) -> Result<(), StoreError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
{
    let failed = StoreError::db("chaining the audit lines");
    let (mut seq, mut prev): (i64, String) = sqlx::query_as(DB::LOCK_AUDIT_HEAD)
        .fetch_one(&mut *connection)
        .await
        .map_err(StoreError::db("taking the audit chain's head"))?;
    let start = seq;
    // Below every id, whatever a restore wrote.
    let mut after = i64::MIN;
    loop {
        let rows: Vec<UnchainedRow> = sqlx::query_as(SELECT_UNCHAINED)
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *connection)
            .await
            .map_err(StoreError::db("chaining the audit lines"))?;
        if rows.is_empty() {
            break;
        }
        let mut sealed: Vec<Sealed> = Vec::with_capacity(rows.len());
        for (id, at, actor, action, reference, request_id, detail) in rows {
            seq += 1;
            after = id;
            let nonce = reference.as_ref().map(|_| nonce());
            let digest = nonce
                .as_deref()
                .zip(reference.as_deref())
                .map(|(n, r)| reference_digest(n, r));
            let hash = line_hash(&LineContent {
                seq,
                id,
                at,
                actor: &actor,
                action: &action,
                reference_digest: digest.as_deref(),
                request_id: request_id.as_deref(),
                detail: detail.as_deref(),
                prev_hash: &prev,
            });
            sealed.push((seq, nonce, digest, prev, hash.clone(), id));
            prev = hash;
        }
        for chunk in sealed.chunks(SEAL_CHUNK) {
            let statement = seal_lines(chunk.len());
            let mut query = sqlx::query(&statement);
            for (seq, nonce, digest, prev_hash, hash, id) in chunk {
                query = query
                    .bind(*seq)
                    .bind(nonce.as_deref())
                    .bind(digest.as_deref())
                    .bind(prev_hash.as_str())
                    .bind(hash.as_str())
                    .bind(*id);
            }
            query
                .execute(&mut *connection)
                .await
                .map_err(StoreError::db("chaining the audit lines"))?;
        }
    }
    if seq != start {
        sqlx::query(MOVE_HEAD)
            .bind(seq)
            .bind(prev.as_str())
            .execute(&mut *connection)
            .await
            .map_err(failed)?;
    }
    Ok(())
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
{
    /// [`seal_audit`], for the store's own write paths.
    pub(crate) async fn seal_audit(connection: &mut DB::Connection) -> Result<(), StoreError> {
        seal_audit::<DB>(connection).await
    }

    /// Seals, in a transaction of its own, lines that no write sealed:
    /// those written before the chain existed (run after migrating).
    pub(crate) async fn seal_pending_audit(&self) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("chaining the audit lines"))?;
        Self::seal_audit(&mut tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("chaining the audit lines"))
    }

    /// [`super::Store::verify_audit_chain`].
    pub(super) async fn verify_chain(
        &self,
        copy: Option<&ChainHead>,
    ) -> Result<ChainVerdict, StoreError> {
        let failed = || StoreError::db("verifying the audit chain");
        let mut tx = self.pool.begin().await.map_err(failed())?;
        for statement in DB::READ_SNAPSHOT {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(failed())?;
        }
        let (head_seq, head_hash): (i64, String) = sqlx::query_as(SELECT_HEAD)
            .fetch_one(&mut *tx)
            .await
            .map_err(failed())?;
        let mut expected = 1i64;
        let mut prev = GENESIS.to_string();
        let mut pseudonymised = 0u64;
        let mut last: Option<(i64, DateTime<Utc>)> = None;
        let mut copy_found = false;
        loop {
            let rows: Vec<ChainRow> = sqlx::query_as(SELECT_CHAIN)
                .bind(expected)
                .bind(PAGE)
                .fetch_all(&mut *tx)
                .await
                .map_err(failed())?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let at_row = |why: String| broken_at(row.id, row.at, Some(row.seq), why);
                if row.seq != expected {
                    return Ok(at_row(format!(
                        "the line before it in the chain (seq {expected}) is missing"
                    )));
                }
                let Some(hash) = row.hash.as_deref() else {
                    return Ok(at_row("it has a place in the chain but no hash".into()));
                };
                if row.prev_hash.as_deref() != Some(prev.as_str()) {
                    return Ok(at_row(format!(
                        "it does not follow the line before it (seq {}): the previous hash it \
                         carries is not that line's hash",
                        expected - 1
                    )));
                }
                match (&row.reference, &row.reference_nonce, &row.reference_digest) {
                    (None, None, None) => {}
                    (Some(reference), Some(nonce), Some(digest))
                        if reference_digest(nonce, reference) == *digest => {}
                    // Pseudonymised by a purge: the nonce is gone.
                    (Some(_), None, Some(_)) => pseudonymised += 1,
                    _ => {
                        return Ok(at_row(
                            "its reference does not match the reference digest it was \
                             chained with: the reference was altered"
                                .into(),
                        ))
                    }
                }
                let recomputed = line_hash(&LineContent {
                    seq: row.seq,
                    id: row.id,
                    at: row.at,
                    actor: &row.actor,
                    action: &row.action,
                    reference_digest: row.reference_digest.as_deref(),
                    request_id: row.request_id.as_deref(),
                    detail: row.detail.as_deref(),
                    prev_hash: &prev,
                });
                if recomputed != hash {
                    return Ok(at_row(
                        "its content does not match its hash: the line was altered".into(),
                    ));
                }
                if let Some(copy) = copy.filter(|c| c.seq == row.seq) {
                    if copy.hash != hash {
                        return Ok(at_row(format!(
                            "its hash is not the one in the copy of the head {copy}: the chain \
                             was rewritten up to here"
                        )));
                    }
                    copy_found = true;
                }
                prev = hash.to_string();
                last = Some((row.id, row.at));
                expected += 1;
            }
        }
        let lines = expected - 1;
        let end = |why: String| match last {
            Some((id, at)) => broken_at(id, at, Some(lines), why),
            None => ChainVerdict::Broken(ChainBreak {
                id: None,
                at: None,
                seq: None,
                why,
            }),
        };
        let outside: Option<(i64, DateTime<Utc>)> = sqlx::query_as(SELECT_OUTSIDE)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed())?;
        if let Some((id, at)) = outside {
            return Ok(broken_at(
                id,
                at,
                None,
                "it is not in the chain: it was written around the service".into(),
            ));
        }
        if let Some(copy) = copy.filter(|_| !copy_found) {
            return Ok(end(format!(
                "the chain ends at seq {lines}, before the line {} of the copy of the head \
                 {copy}: lines were removed from its end",
                copy.seq
            )));
        }
        if head_seq != lines || head_hash != prev {
            return Ok(end(if head_seq > lines {
                format!(
                    "the chain ends at seq {lines} but its head records seq {head_seq}: lines \
                     were removed from its end"
                )
            } else {
                format!("the chain's last line is not the head it records ({head_seq}:{head_hash})")
            }));
        }
        tx.commit().await.map_err(failed())?;
        Ok(ChainVerdict::Intact(ChainIntact {
            lines: lines as u64,
            head: (lines > 0).then_some(ChainHead {
                seq: lines,
                hash: prev,
            }),
            pseudonymised,
        }))
    }

    /// [`super::Store::audit_chain_head_at`].
    pub(super) async fn chain_head_at(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Option<ChainHead>, StoreError> {
        let head: Option<(i64, String)> = sqlx::query_as(SELECT_HEAD_AT)
            .bind(stored_instant(at))
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("reading the audit chain's head"))?;
        Ok(head.map(|(seq, hash)| ChainHead { seq, hash }))
    }

    /// [`super::Store::record_audit_verification`].
    pub(super) async fn save_verification(
        &self,
        at: DateTime<Utc>,
        verdict: &ChainVerdict,
    ) -> Result<(), StoreError> {
        let (ok, lines, head, failure) = match verdict {
            ChainVerdict::Intact(intact) => (
                true,
                intact.lines as i64,
                intact.head.as_ref().map(ToString::to_string),
                None,
            ),
            ChainVerdict::Broken(broken) => (false, 0, None, Some(broken.to_string())),
        };
        sqlx::query(RECORD_VERIFICATION)
            .bind(stored_instant(at))
            .bind(i64::from(ok))
            .bind(lines)
            .bind(head.as_deref())
            .bind(failure.as_deref())
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("recording the audit chain's verification"))?;
        Ok(())
    }

    /// [`super::Store::last_audit_verification`].
    pub(super) async fn read_verification(&self) -> Result<Option<AuditVerification>, StoreError> {
        type Row = (DateTime<Utc>, bool, i64, Option<String>, Option<String>);
        let row: Option<Row> = sqlx::query_as(SELECT_VERIFICATION)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("reading the audit chain's verification"))?;
        Ok(row.map(
            |(verified_at, ok, lines, head, failure)| AuditVerification {
                verified_at,
                ok,
                lines,
                head,
                failure,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(detail: Option<&str>) -> String {
        line_hash(&LineContent {
            seq: 1,
            id: 7,
            at: "2024-05-20T09:00:00Z".parse().unwrap(),
            actor: "token:intake",
            action: "package.read",
            reference_digest: None,
            request_id: Some("r"),
            detail,
            prev_hash: GENESIS,
        })
    }

    #[test]
    fn a_seal_binds_six_values_a_line() {
        assert_eq!(
            seal_lines(2),
            "UPDATE audit_log SET seq = v.column1, reference_nonce = v.column2, \
             reference_digest = v.column3, prev_hash = v.column4, hash = v.column5 \
             FROM (VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)) AS v \
             WHERE audit_log.id = v.column6"
        );
    }

    #[test]
    fn a_null_and_an_empty_value_hash_apart() {
        assert_ne!(content(None), content(Some("")));
        assert_eq!(content(None).len(), 64);
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let a = reference_digest("ab", "c");
        let b = reference_digest("a", "bc");
        assert_ne!(a, b);
    }

    #[test]
    fn a_head_reads_back_as_it_prints_and_bad_ones_name_the_fault() {
        let head: ChainHead = format!("12:{}", "A".repeat(64)).parse().unwrap();
        assert_eq!(head.to_string(), format!("12:{}", "a".repeat(64)));
        assert!("12".parse::<ChainHead>().unwrap_err().contains("SEQ:HASH"));
        assert!(format!("0:{GENESIS}")
            .parse::<ChainHead>()
            .unwrap_err()
            .contains("sequence number"));
        assert!("3:abc".parse::<ChainHead>().unwrap_err().contains("64 hex"));
    }
}
