//! Retention (issue 16): a package whose clock stopped before the cutoff
//! has everything that identifies it replaced, in one transaction, by
//! keyed pseudonyms ([`PseudonymKey`]) wherever the database holds it:
//!
//! - `packages`: the reference, the assigned officer, the acknowledgement's
//!   note (grades, stage, dates, outcome and reason stay: the figures);
//! - `package_events`: the officers in `created` and `assigned`, and every
//!   free-text note or reason (migration 0011 lets exactly this through
//!   the ledger's append-only trigger, and only for a purged package);
//! - `audit_log.reference`: the pseudonym, and the line's reference nonce
//!   cleared (the line's hash covers the reference's salted digest, not the
//!   reference, so the chain verifies; 0011's trigger allows this update
//!   and no other on a sealed line);
//! - `outbox`: the package's lines in the notices that carried it (email
//!   and webhook payloads alike), its reference in digests' text, HTML and
//!   attached CSV (gzip-compressed ones included), and the destination and
//!   last error of a message when every package it carried is purged;
//! - `report_snapshots`: dropped (a cache: the next read folds the ledger
//!   again, with the same figures).
//!
//! Escalations, deliveries' times and statuses, the digests' records and
//! the counters hold no identifying data and are kept as they are.

use super::audit::insert_audit;
use super::dialect::Dialect;
use super::rows::{stored_instant, AuditValues};
use super::sql::{placeholders, LOOKUP_CHUNK};
use super::{Actor, SqlStore, StoreError};
use crate::domain::retention::{scrub, PURGED_TEXT};
use crate::domain::{EventKind, PseudonymKey};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::migrate::Migrate;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use std::collections::{BTreeMap, BTreeSet};

/// What a purge is asked to do.
#[derive(Debug, Clone)]
pub struct PurgeRequest {
    /// Packages whose clock stopped strictly before this are purged.
    pub stopped_before: DateTime<Utc>,
    /// The configured period, as written (`6y`), for the audit line.
    pub period: String,
    /// The pseudonyms' key.
    pub key: PseudonymKey,
    /// The service's daily run: the local day (`2030-07-01`) it claims, so
    /// that one replica runs it; `None` on demand.
    pub day: Option<String>,
    /// Who runs it (`service:retention`, `cli:<user>`).
    pub actor: Actor,
    /// When.
    pub now: DateTime<Utc>,
    /// Packages purged per transaction (each with its own audit line):
    /// [`PURGE_BATCH`] but in tests.
    pub batch: usize,
}

/// The packages a purge at a cutoff takes (or took).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionDue {
    /// How many packages.
    pub packages: u64,
    /// The earliest clock stop among them.
    pub earliest_stop: Option<DateTime<Utc>>,
    /// The latest.
    pub latest_stop: Option<DateTime<Utc>>,
}

/// What a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeSummary {
    /// The packages purged, and their stop period.
    pub due: RetentionDue,
    /// Ledger events rewritten.
    pub events: u64,
    /// Audit lines whose reference became a pseudonym.
    pub audit_lines: u64,
    /// Outbox messages rewritten.
    pub messages: u64,
}

/// The packages due at `$1`, not yet purged.
const SELECT_DUE: &str = "SELECT COUNT(*), MIN(clock_stopped_at), MAX(clock_stopped_at) \
     FROM packages WHERE purged_at IS NULL AND clock_stopped_at IS NOT NULL \
     AND clock_stopped_at < $1";

/// Claims the day `$1` for the service's run; no row when taken.
const CLAIM_DAY: &str = "INSERT INTO retention_runs \
     (day, ran_at, keep_stopped_for, stopped_before, packages) VALUES ($1, $2, $3, $4, 0) \
     ON CONFLICT (day) DO NOTHING RETURNING day";

/// Adds a batch's packages to the day's run.
const COUNT_DAY: &str = "UPDATE retention_runs SET packages = packages + $2 WHERE day = $1";

/// The next packages to purge, oldest stop first, at most `$2`.
const SELECT_PURGEABLE: &str = "SELECT id, reference, assigned_officer, clock_stopped_at, \
     received_at FROM packages WHERE purged_at IS NULL AND clock_stopped_at IS NOT NULL \
     AND clock_stopped_at < $1 ORDER BY clock_stopped_at, id LIMIT $2";

/// Packages purged per transaction (each its own audit line).
pub const PURGE_BATCH: usize = 1000;

/// One package's pseudonyms, and when it is purged.
const PURGE_PACKAGE: &str = "UPDATE packages SET reference = $2, assigned_officer = $3, \
     acknowledgement_note = CASE WHEN acknowledgement_note IS NULL THEN NULL ELSE $4 END, \
     purged_at = $5 WHERE id = $1";

/// A purged package's event, rewritten.
const REWRITE_EVENT: &str = "UPDATE package_events SET details = $2 WHERE id = $1";

/// Audit lines about `$2` (any case), sealed: the reference becomes `$1`.
const PSEUDONYMISE_AUDIT: &str = "UPDATE audit_log SET reference = $1, reference_nonce = NULL \
     WHERE lower(reference) = $2 AND hash IS NOT NULL";

/// A message rewritten.
const REWRITE_MESSAGE: &str =
    "UPDATE outbox SET destination = $2, notice = $3, last_error = $4 WHERE id = $1";

/// Packages still named by message `$1` (not purged).
const MESSAGE_KEEPS_PACKAGES: &str = "SELECT COUNT(*) FROM outbox_escalations oe \
     JOIN escalations e ON e.id = oe.escalation_id JOIN packages p ON p.id = e.package_id \
     WHERE oe.outbox_id = $1 AND p.purged_at IS NULL";

/// Digests queued at or after `$1` (a digest cannot list a package before
/// it was received), with their messages.
const SELECT_DIGEST_MESSAGES: &str = "SELECT o.id, o.destination, o.notice, o.last_error \
     FROM digests d JOIN outbox o ON o.id = d.outbox_id WHERE d.queued_at >= $1 ORDER BY o.id";

/// Every kept report model: a cache of the ledger's fold, read again.
const DROP_SNAPSHOTS: &str = "DELETE FROM report_snapshots";

/// One message as rewritten: id, destination, payload, last error.
type MessageRow = (i64, String, String, Option<String>);

/// One package to purge, as selected.
type PurgeableRow = (i64, String, Option<String>, DateTime<Utc>, DateTime<Utc>);

/// What a purged package's pseudonyms replace.
struct Purged {
    id: i64,
    /// (reference, its pseudonym), and the percent-encoded spelling links
    /// carry when it differs.
    references: Vec<(String, String)>,
    /// (officer's address, its pseudonym), every officer the ledger names.
    officers: Vec<(String, String)>,
}

/// The event with its officers replaced and its free text removed.
fn purged_event(kind: EventKind, officer: &dyn Fn(&str) -> String) -> EventKind {
    let note = || PURGED_TEXT.to_string();
    match kind {
        EventKind::Created {
            risk_grade,
            stage,
            lpa,
            assigned_officer,
            deadline_at,
            policy_version,
            review_clock_started_at,
        } => EventKind::Created {
            risk_grade,
            stage,
            lpa,
            assigned_officer: assigned_officer.as_deref().map(officer),
            deadline_at,
            policy_version,
            review_clock_started_at,
        },
        EventKind::Regraded {
            from,
            to,
            previous_deadline_at,
            deadline_at,
            policy_version,
            ..
        } => EventKind::Regraded {
            from,
            to,
            reason: note(),
            previous_deadline_at,
            deadline_at,
            policy_version,
        },
        EventKind::StageChanged {
            from,
            to,
            outcome,
            note: text,
        } => EventKind::StageChanged {
            from,
            to,
            outcome,
            note: text.map(|_| note()),
        },
        EventKind::Assigned { from, to } => EventKind::Assigned {
            from: from.as_deref().map(officer),
            to: officer(&to),
        },
        EventKind::Acknowledged {
            reason,
            deadline_at,
            ..
        } => EventKind::Acknowledged {
            reason,
            note: note(),
            deadline_at,
        },
        EventKind::Reviewed {
            risk_grade,
            regraded_from,
            review_due_at,
            next_review_due_at,
            ..
        } => EventKind::Reviewed {
            note: note(),
            risk_grade,
            regraded_from,
            review_due_at,
            next_review_due_at,
        },
        other @ (EventKind::SafeguardingUpdated { .. } | EventKind::ReviewClockStarted) => other,
    }
}

/// The free text an event carries (notes, a regrade's reason).
fn notes_of(kind: &EventKind) -> Vec<String> {
    match kind {
        EventKind::Regraded { reason, .. } => vec![reason.clone()],
        EventKind::StageChanged {
            note: Some(note), ..
        }
        | EventKind::Acknowledged { note, .. }
        | EventKind::Reviewed { note, .. } => vec![note.clone()],
        _ => Vec::new(),
    }
}

/// The shortest note looked for in messages: shorter ones ("ok", "n/a")
/// name nobody, and replacing them would garble other packages' lines.
const SHORTEST_NOTE: usize = 5;

/// `(text, "(purged)")` for each note, as written and as HTML shows it.
fn note_pairs(notes: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for note in notes {
        let note = note.trim();
        if note.chars().count() < SHORTEST_NOTE {
            continue;
        }
        let mut spellings = BTreeSet::from([note.to_string(), crate::text::esc(note)]);
        spellings.insert(
            note.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;"),
        );
        pairs.extend(
            spellings
                .into_iter()
                .map(|spelling| (spelling, PURGED_TEXT.to_string())),
        );
    }
    pairs
}

/// Every officer an event names.
fn officers_of(kind: &EventKind) -> Vec<String> {
    match kind {
        EventKind::Created {
            assigned_officer: Some(officer),
            ..
        } => vec![officer.clone()],
        EventKind::Assigned { from, to } => from.iter().cloned().chain([to.clone()]).collect(),
        _ => Vec::new(),
    }
}

/// Scrubs every string of `value` with `replacements`; an attached file
/// held in base64 (a gzip-compressed CSV) is opened, scrubbed and packed
/// again. True when anything changed.
fn scrub_value(value: &mut Value, replacements: &[(String, String)]) -> bool {
    scrub_value_with(value, &|text| scrub(text, replacements))
}

/// [`scrub_value`] with any scrubbing of a text (`None`: unchanged).
fn scrub_value_with(value: &mut Value, replacements: &dyn Fn(&str) -> Option<String>) -> bool {
    match value {
        Value::String(text) => match replacements(text) {
            Some(new) => {
                *text = new;
                true
            }
            None => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            scrub_value_with(item, replacements) | changed
        }),
        Value::Object(fields) => {
            if fields.get("base64") == Some(&Value::Bool(true)) {
                if let Some(Value::String(body)) = fields.get_mut("body") {
                    if let Some(new) = scrub_base64(body, replacements) {
                        *body = new;
                        return fields
                            .iter_mut()
                            .filter(|(name, _)| name.as_str() != "body")
                            .fold(true, |changed, (_, v)| {
                                scrub_value_with(v, replacements) | changed
                            });
                    }
                }
            }
            fields.iter_mut().fold(false, |changed, (_, v)| {
                scrub_value_with(v, replacements) | changed
            })
        }
        _ => false,
    }
}

/// A base64 body scrubbed: gzip opened and packed again, plain text as it
/// is; `None` when nothing in it matched.
fn scrub_base64(body: &str, replacements: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(body).ok()?;
    let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
    let text = if gzipped {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .ok()?;
        text
    } else {
        String::from_utf8(bytes).ok()?
    };
    let scrubbed = replacements(&text)?;
    let packed = if gzipped {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(scrubbed.as_bytes()).ok()?;
        encoder.finish().ok()?
    } else {
        scrubbed.into_bytes()
    };
    Some(engine.encode(packed))
}

/// A digest's text scrubbed of `pairs` (references, notes), and, in each
/// of its lines (a text or CSV line, an HTML table row) that names a purged
/// package, of that package's officers: another package's line keeps its
/// officer.
fn scrub_digest_text(text: &str, pairs: &[(String, String)], purged: &[Purged]) -> Option<String> {
    let scrubbed = scrub(text, pairs);
    let source = scrubbed.as_deref().unwrap_or(text);
    let mut out = String::with_capacity(source.len());
    let mut changed = false;
    let mut rest = source;
    while !rest.is_empty() {
        // The next line: up to and with a line break or a row's end.
        let end = [
            rest.find('\n').map(|at| at + 1),
            rest.find("</tr>").map(|at| at + 5),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
        let (line, after) = rest.split_at(end);
        let mut line = line.to_string();
        for p in purged {
            let pseudonym = &p.references[0].1;
            if line.contains(pseudonym.as_str()) {
                if let Some(new) = scrub(&line, &p.officers) {
                    line = new;
                    changed = true;
                }
            }
        }
        out.push_str(&line);
        rest = after;
    }
    if changed {
        Some(out)
    } else {
        scrubbed
    }
}

/// A notice's payload with the lines of purged packages scrubbed of their
/// references and officers, and the rest of it of the references only
/// (another package's line keeps its officer). True when changed.
fn scrub_notice(value: &mut Value, purged: &[&Purged], all_refs: &[(String, String)]) -> bool {
    let mut changed = false;
    if let Value::Object(fields) = value {
        for (_, field) in fields.iter_mut() {
            if let Value::Array(items) = field {
                for item in items.iter_mut() {
                    let reference = item
                        .get("reference")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase);
                    let owner = reference.and_then(|r| {
                        purged
                            .iter()
                            .find(|p| p.references.iter().any(|(found, _)| *found == r))
                    });
                    if let Some(owner) = owner {
                        let mut pairs = owner.references.clone();
                        pairs.extend(owner.officers.iter().cloned());
                        changed |= scrub_value(item, &pairs);
                        // The link into the case system names the package.
                        if let Some(link) = item.get_mut("link") {
                            if !link.is_null() {
                                *link = Value::Null;
                                changed = true;
                            }
                        }
                    }
                }
            }
        }
    }
    changed | scrub_value(value, all_refs)
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
    /// [`super::Store::retention_due`].
    pub(super) async fn packages_due_for_purge(
        &self,
        stopped_before: DateTime<Utc>,
    ) -> Result<RetentionDue, StoreError> {
        let (packages, earliest_stop, latest_stop): (
            i64,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        ) = sqlx::query_as(SELECT_DUE)
            .bind(stored_instant(stopped_before))
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("counting the packages past retention"))?;
        Ok(RetentionDue {
            packages: packages.max(0) as u64,
            earliest_stop,
            latest_stop,
        })
    }

    /// [`super::Store::purge_stopped`].
    pub(super) async fn purge_stopped_packages(
        &self,
        request: &PurgeRequest,
    ) -> Result<Option<PurgeSummary>, StoreError> {
        let failed = StoreError::db;
        let now = stored_instant(request.now);
        let stopped_before = stored_instant(request.stopped_before);
        let mut total = PurgeSummary::default();
        let mut first = true;
        // One transaction per batch of packages, so that a first run over
        // years of history never holds the database for long: the
        // scheduler's passes get in between. The day's run is claimed by
        // the first; a failure later leaves the rest for the next run.
        loop {
            let mut tx = self
                .pool
                .begin_with(DB::BEGIN_WRITE)
                .await
                .map_err(failed("starting a retention purge"))?;
            if let Some(day) = request.day.as_ref().filter(|_| first) {
                // Another replica's run of the day holds the row until it
                // commits; this one then finds it taken.
                let claimed: Option<String> = sqlx::query_scalar(CLAIM_DAY)
                    .bind(day.as_str())
                    .bind(now)
                    .bind(request.period.as_str())
                    .bind(stopped_before)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(failed("claiming the day's retention run"))?;
                if claimed.is_none() {
                    return Ok(None);
                }
            }
            let rows: Vec<PurgeableRow> = sqlx::query_as(SELECT_PURGEABLE)
                .bind(stopped_before)
                .bind(request.batch.max(1) as i64)
                .fetch_all(&mut *tx)
                .await
                .map_err(failed("reading the packages past retention"))?;
            let mut summary = PurgeSummary {
                due: RetentionDue {
                    packages: rows.len() as u64,
                    earliest_stop: rows.first().map(|r| r.3),
                    latest_stop: rows.last().map(|r| r.3),
                },
                ..PurgeSummary::default()
            };
            let key = &request.key;
            for chunk in rows.chunks(LOOKUP_CHUNK) {
                let ids: Vec<i64> = chunk.iter().map(|r| r.0).collect();
                // The officers each package's ledger names, besides its own.
                let statement = format!(
                    "SELECT id, package_id, details FROM package_events WHERE package_id IN ({}) \
                 ORDER BY id",
                    placeholders(1, ids.len())
                );
                let mut query = sqlx::query_as::<_, (i64, i64, String)>(&statement);
                for id in &ids {
                    query = query.bind(*id);
                }
                let events = query
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failed("reading the ledger of packages past retention"))?;
                let mut parsed: Vec<(i64, i64, String, EventKind)> =
                    Vec::with_capacity(events.len());
                let mut officers: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
                let mut notes: BTreeSet<String> = BTreeSet::new();
                for (id, package_id, details) in events {
                    let kind: EventKind = serde_json::from_str(&details).map_err(|e| {
                        StoreError::Corrupt(format!("event {id}, column details: {e}"))
                    })?;
                    officers
                        .entry(package_id)
                        .or_default()
                        .extend(officers_of(&kind).into_iter().map(|o| o.to_lowercase()));
                    notes.extend(notes_of(&kind));
                    parsed.push((id, package_id, details, kind));
                }
                let purged: Vec<Purged> = chunk
                    .iter()
                    .map(|(id, reference, officer, _, _)| {
                        let pseudonym = key.reference(reference);
                        let lower = reference.to_ascii_lowercase();
                        let mut references = vec![(lower.clone(), pseudonym.clone())];
                        let encoded = percent_encoding::utf8_percent_encode(
                            reference,
                            percent_encoding::NON_ALPHANUMERIC,
                        )
                        .to_string()
                        .to_ascii_lowercase();
                        if encoded != lower {
                            references.push((encoded, pseudonym));
                        }
                        let mut named = officers.remove(id).unwrap_or_default();
                        named.extend(officer.iter().map(|o| o.to_lowercase()));
                        Purged {
                            id: *id,
                            references,
                            officers: named
                                .into_iter()
                                .map(|o| {
                                    let p = key.officer(&o);
                                    (o, p)
                                })
                                .collect(),
                        }
                    })
                    .collect();

                for ((id, reference, officer, _, _), p) in chunk.iter().zip(&purged) {
                    let officer = officer.as_deref().map(|o| key.officer(o));
                    sqlx::query(PURGE_PACKAGE)
                        .bind(*id)
                        .bind(key.reference(reference))
                        .bind(officer.as_deref())
                        .bind(PURGED_TEXT)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(failed("pseudonymising a package"))?;
                    debug_assert_eq!(p.id, *id);
                }
                for (id, _, details, kind) in parsed {
                    let officer = |o: &str| key.officer(o);
                    let rewritten = super::rows::json_text(&purged_event(kind, &officer));
                    if rewritten == details {
                        continue;
                    }
                    sqlx::query(REWRITE_EVENT)
                        .bind(id)
                        .bind(rewritten)
                        .execute(&mut *tx)
                        .await
                        .map_err(failed("pseudonymising a package's ledger"))?;
                    summary.events += 1;
                }
                for p in &purged {
                    let (reference, pseudonym) = &p.references[0];
                    let done = sqlx::query(PSEUDONYMISE_AUDIT)
                        .bind(pseudonym.as_str())
                        .bind(reference.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(failed("pseudonymising the audit log's references"))?;
                    summary.audit_lines += DB::rows_affected(&done);
                }

                // The notices that carried these packages.
                let statement = format!(
                    "SELECT DISTINCT o.id, o.destination, o.notice, o.last_error FROM outbox o \
                 JOIN outbox_escalations oe ON oe.outbox_id = o.id \
                 JOIN escalations e ON e.id = oe.escalation_id \
                 WHERE e.package_id IN ({}) ORDER BY o.id",
                    placeholders(1, ids.len())
                );
                let mut query = sqlx::query_as::<_, MessageRow>(&statement);
                for id in &ids {
                    query = query.bind(*id);
                }
                let notices = query
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failed("reading the messages of packages past retention"))?;
                // The references, and the notes (a digest shows an
                // acknowledgement's note): what any message may carry.
                let mut all_refs: Vec<(String, String)> = purged
                    .iter()
                    .flat_map(|p| p.references.iter().cloned())
                    .collect();
                all_refs.extend(note_pairs(&notes));
                let purged_refs: Vec<&Purged> = purged.iter().collect();
                for (id, destination, notice, last_error) in notices {
                    let kept: i64 = sqlx::query_scalar(MESSAGE_KEEPS_PACKAGES)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(failed("reading what a message carries"))?;
                    // Its destination is the officer's own only when every
                    // package it carried is purged.
                    let mut address_pairs = all_refs.clone();
                    if kept == 0 {
                        address_pairs
                            .extend(purged.iter().flat_map(|p| p.officers.iter().cloned()));
                    }
                    let Ok(mut payload) = serde_json::from_str::<Value>(&notice) else {
                        // A payload that is not JSON is the quarantine's; its
                        // text is still scrubbed of the references.
                        let text = scrub(&notice, &all_refs);
                        if let Some(text) = text {
                            rewrite_message::<DB>(
                                &mut tx,
                                id,
                                &destination,
                                &text,
                                last_error.as_deref(),
                            )
                            .await?;
                            summary.messages += 1;
                        }
                        continue;
                    };
                    let mut changed = scrub_notice(&mut payload, &purged_refs, &all_refs);
                    let new_destination = scrub(&destination, &address_pairs);
                    let new_error = last_error.as_deref().and_then(|e| scrub(e, &address_pairs));
                    changed |= new_destination.is_some() | new_error.is_some();
                    if changed {
                        rewrite_message::<DB>(
                            &mut tx,
                            id,
                            new_destination.as_deref().unwrap_or(&destination),
                            &super::rows::json_text(&payload),
                            new_error.as_deref().or(last_error.as_deref()),
                        )
                        .await?;
                        summary.messages += 1;
                    }
                }

                // Digests that may have listed them.
                let since = chunk
                    .iter()
                    .map(|r| r.4)
                    .min()
                    .expect("a chunk is never empty");
                let digests: Vec<MessageRow> = sqlx::query_as(SELECT_DIGEST_MESSAGES)
                    .bind(since)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failed("reading the digests of packages past retention"))?;
                for (id, destination, notice, last_error) in digests {
                    let Ok(mut payload) = serde_json::from_str::<Value>(&notice) else {
                        continue;
                    };
                    let scrub_text = |text: &str| scrub_digest_text(text, &all_refs, &purged);
                    if scrub_value_with(&mut payload, &scrub_text) {
                        rewrite_message::<DB>(
                            &mut tx,
                            id,
                            &destination,
                            &super::rows::json_text(&payload),
                            last_error.as_deref(),
                        )
                        .await?;
                        summary.messages += 1;
                    }
                }
            }
            if summary.due.packages > 0 {
                sqlx::query(DROP_SNAPSHOTS)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed("dropping the kept reports"))?;
            }
            if let Some(day) = &request.day {
                sqlx::query(COUNT_DAY)
                    .bind(day.as_str())
                    .bind(summary.due.packages as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed("recording the day's retention run"))?;
            }
            // The purge is audited: how many, which stop period, by which rule;
            // never the references. A run that ends on an empty batch has
            // said all in its earlier lines.
            if first || summary.due.packages > 0 {
                let detail = purge_detail(request, &summary);
                let audit =
                    AuditValues::new(&request.actor, "retention.purged", Some(&detail), now);
                Self::bind_audit_values(sqlx::query(&insert_audit(1)), &audit)
                    .bind(None::<&str>)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed("appending to the audit log"))?;
            }
            Self::seal_audit(&mut tx).await?;
            tx.commit()
                .await
                .map_err(failed("committing a retention purge"))?;
            total.due.packages += summary.due.packages;
            total.due.earliest_stop = total.due.earliest_stop.or(summary.due.earliest_stop);
            total.due.latest_stop = summary.due.latest_stop.or(total.due.latest_stop);
            total.events += summary.events;
            total.audit_lines += summary.audit_lines;
            total.messages += summary.messages;
            first = false;
            if rows.len() < request.batch.max(1) {
                return Ok(Some(total));
            }
        }
    }
}

/// Rewrites message `id`.
async fn rewrite_message<DB>(
    connection: &mut DB::Connection,
    id: i64,
    destination: &str,
    payload: &str,
    last_error: Option<&str>,
) -> Result<(), StoreError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(REWRITE_MESSAGE)
        .bind(id)
        .bind(destination)
        .bind(payload)
        .bind(last_error)
        .execute(&mut *connection)
        .await
        .map_err(StoreError::db("pseudonymising a message"))?;
    Ok(())
}

/// The purge's audit detail: the rule, the period and the counts.
fn purge_detail(request: &PurgeRequest, summary: &PurgeSummary) -> String {
    let at = |t: Option<DateTime<Utc>>| {
        t.map_or("-".to_string(), |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
    };
    format!(
        "rule=pseudonymise keep_stopped_for={} stopped_before={} packages={} \
         stopped_from={} stopped_to={} events={} audit_lines={} messages={} run={}",
        request.period,
        at(Some(request.stopped_before)),
        summary.due.packages,
        at(summary.due.earliest_stop),
        at(summary.due.latest_stop),
        summary.events,
        summary.audit_lines,
        summary.messages,
        request
            .day
            .as_deref()
            .map_or("on-demand".to_string(), |d| format!("daily/{d}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzipped_attachment_is_scrubbed_inside() {
        use base64::Engine as _;
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"reference\nNCA-1\nNCA-10\n").unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let mut value = serde_json::json!({
            "digest": {"text": "NCA-1 is late", "attachment": {"body": body, "base64": true}}
        });
        let pairs = vec![("nca-1".to_string(), "purged-x".to_string())];
        assert!(scrub_value(&mut value, &pairs));
        assert_eq!(value["digest"]["text"], "purged-x is late");
        let body = value["digest"]["attachment"]["body"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        assert_eq!(text, "reference\npurged-x\nNCA-10\n");
    }
}
