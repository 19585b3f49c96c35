//! Every SQL statement both backends run word for word, in one place.
//!
//! sqlx reads `$1`-style placeholders on SQLite as well as on PostgreSQL, and
//! the statements keep to SQL both dialects accept (`ON CONFLICT`,
//! `RETURNING`, `substr`, `length`), so only the few statements that really
//! differ live in `sqlite.rs` and `postgres.rs`.

use super::rows::stored_instant;
use super::{PackageFilter, PageKey};
use crate::domain::{PackageStatus, RiskGrade, Stage};
use chrono::{DateTime, Utc};

/// The columns of `packages` that [`super::rows::PackageRow`] reads, in its
/// field order. A macro rather than a `const` so that `concat!` can build
/// whole statements from it at compile time (the backends add their locking
/// clause that way).
macro_rules! package_row_columns {
    () => {
        "id, reference, risk_grade, stage, lpa, assigned_officer, received_at, \
         deadline_at, clock_started_at, policy_version, stage_since, clock_stopped_at, \
         outcome, child_access_identified_at, safeguarding_referral_at, acknowledged_at, \
         acknowledged_by, acknowledgement_note, acknowledged_deadline_at"
    };
}

/// `SELECT` of one package by reference (`$1`), without locking; a backend
/// appends its own locking clause for read-then-write transactions.
macro_rules! select_package_by_reference {
    () => {
        concat!(
            "SELECT ",
            $crate::store::sql::package_row_columns!(),
            " FROM packages WHERE reference = $1"
        )
    };
}
pub(super) use {package_row_columns, select_package_by_reference};

/// One package by reference (`$1`).
pub const SELECT_PACKAGE: &str = select_package_by_reference!();

/// The columns a write sets from a [`super::rows::PackageValues`], in the
/// order [`bind_package_values!`] binds them (`$1` to `$20`).
const PACKAGE_WRITE_COLUMNS: &str = "reference, risk_grade, stage, lpa, assigned_officer, \
    received_at, deadline_at, clock_started_at, policy_version, stage_since, clock_stopped_at, \
    outcome, child_access_identified_at, safeguarding_referral_at, next_due_at, due_soon_at, \
    acknowledged_at, acknowledged_by, acknowledgement_note, acknowledged_deadline_at";

/// How many values [`bind_package_values!`] binds.
const PACKAGE_WRITE_VALUES: usize = 20;

/// Binds a [`super::rows::PackageValues`] in the order of
/// `PACKAGE_WRITE_COLUMNS`. Works on `Query` and `QueryAs` of either backend.
macro_rules! bind_package_values {
    ($query:expr, $values:expr) => {{
        let v: &$crate::store::rows::PackageValues<'_> = $values;
        $query
            .bind(v.reference)
            .bind(v.risk_grade)
            .bind(v.stage)
            .bind(v.lpa)
            .bind(v.assigned_officer)
            .bind(v.received_at)
            .bind(v.deadline_at)
            .bind(v.clock_started_at)
            .bind(v.policy_version)
            .bind(v.stage_since)
            .bind(v.clock_stopped_at)
            .bind(v.outcome)
            .bind(v.child_access_identified_at)
            .bind(v.safeguarding_referral_at)
            .bind(v.next_due_at)
            .bind(v.due_soon_at)
            .bind(v.acknowledged_at)
            .bind(v.acknowledged_by)
            .bind(v.acknowledgement_note)
            .bind(v.acknowledged_deadline_at)
    }};
}
pub(super) use bind_package_values;

/// Rewrites a package's state, keyed by its reference (`$1`; the row is
/// already held by the transaction). `$21` is `updated_at`. Returns the row
/// as stored, so the caller hands back exactly what a later read will see.
pub const UPDATE_PACKAGE: &str = concat!(
    "UPDATE packages SET risk_grade = $2, stage = $3, lpa = $4, assigned_officer = $5, \
     received_at = $6, deadline_at = $7, clock_started_at = $8, policy_version = $9, \
     stage_since = $10, clock_stopped_at = $11, outcome = $12, \
     child_access_identified_at = $13, safeguarding_referral_at = $14, next_due_at = $15, \
     due_soon_at = $16, acknowledged_at = $17, acknowledged_by = $18, \
     acknowledgement_note = $19, acknowledged_deadline_at = $20, updated_at = $21 \
     WHERE reference = $1 RETURNING ",
    package_row_columns!()
);

/// Binds a [`super::rows::EventValues`] in the order of `EVENT_COLUMNS`.
macro_rules! bind_event_values {
    ($query:expr, $values:expr) => {{
        let v: &$crate::store::rows::EventValues<'_> = $values;
        $query
            .bind(v.package_id)
            .bind(v.kind)
            .bind(v.occurred_at)
            .bind(v.recorded_at)
            .bind(v.actor)
            .bind(v.risk_grade)
            .bind(v.stage)
            .bind(v.deadline_at)
            .bind(v.details.as_str())
    }};
}
pub(super) use bind_event_values;

/// The columns [`bind_event_values!`] binds, in its order.
const EVENT_COLUMNS: &str =
    "package_id, kind, occurred_at, recorded_at, actor, risk_grade, stage, deadline_at, details";

/// How many values [`bind_event_values!`] binds.
const EVENT_VALUES: usize = 9;

/// References per `IN (...)` look-up: a few hundred round trips for a large
/// import's check, far below either backend's limit on parameters.
pub const LOOKUP_CHUNK: usize = 500;

/// `($1, $2, ...), (...)`: `rows` groups of `per_row` numbered placeholders,
/// each group ending with the placeholders in `shared`, which number values
/// bound once, before all the rows' values.
fn values_groups(rows: usize, per_row: usize, shared: &[usize]) -> String {
    let leading = shared.iter().copied().max().unwrap_or(0);
    let mut text = String::with_capacity(rows * (per_row * 6 + shared.len() * 6 + 4));
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        let first = leading + row * per_row + 1;
        for n in first..first + per_row {
            if n > first {
                text.push_str(", ");
            }
            text.push('$');
            text.push_str(&n.to_string());
        }
        for n in shared {
            text.push_str(", $");
            text.push_str(&n.to_string());
        }
        text.push(')');
    }
    text
}

/// Inserts `rows` packages. `$1` is the time recorded (`created_at` and
/// `updated_at` of every row); then each row's values in the order of
/// [`bind_package_values!`]. A reference already stored is skipped, not an
/// error, and the `RETURNING` list shows which rows went in: that names the
/// duplicate even when another writer stored it a moment ago.
pub fn insert_packages(rows: usize) -> String {
    format!(
        "INSERT INTO packages ({PACKAGE_WRITE_COLUMNS}, created_at, updated_at) VALUES {} \
         ON CONFLICT (reference) DO NOTHING RETURNING id, reference",
        values_groups(rows, PACKAGE_WRITE_VALUES, &[1, 1])
    )
}

/// Appends `rows` events, each bound with [`bind_event_values!`].
pub fn insert_events(rows: usize) -> String {
    format!(
        "INSERT INTO package_events ({EVENT_COLUMNS}) VALUES {}",
        values_groups(rows, EVENT_VALUES, &[])
    )
}

/// Which of `count` references (`$1` ...) are stored.
pub fn existing_references(count: usize) -> String {
    let placeholders: Vec<String> = (1..=count).map(|n| format!("${n}")).collect();
    format!(
        "SELECT reference FROM packages WHERE reference IN ({})",
        placeholders.join(", ")
    )
}

/// The ledger of one package (`$1` is its reference), oldest first.
pub const SELECT_EVENTS: &str = "SELECT e.id, p.reference, e.kind, e.occurred_at, e.recorded_at, \
     e.actor, e.risk_grade, e.stage, e.deadline_at, e.details \
     FROM package_events e JOIN packages p ON p.id = e.package_id \
     WHERE p.reference = $1 ORDER BY e.id";

/// Every event of the ledger that took effect before `$1`, in the order
/// they were appended (the sequence), for rebuilding the position at past
/// instants. Filtered on `occurred_at`, not `recorded_at`: a stage move
/// recorded late counts from when it happened.
pub const SELECT_EVENTS_BEFORE: &str =
    "SELECT e.id, p.reference, e.kind, e.occurred_at, e.recorded_at, \
     e.actor, e.risk_grade, e.stage, e.deadline_at, e.details \
     FROM package_events e JOIN packages p ON p.id = e.package_id \
     WHERE e.occurred_at < $1 ORDER BY e.id";

/// All packages, and those whose reference starts with `$1`. `substr`, not
/// `LIKE`: SQLite's `LIKE` ignores case, PostgreSQL's does not, and a demo
/// count must not depend on the backend.
pub const COUNT_PACKAGES: &str = "SELECT COUNT(*), \
     COUNT(CASE WHEN substr(reference, 1, length($1)) = $1 THEN 1 END) FROM packages";

/// Every migration sqlx recorded as applied.
pub const APPLIED_MIGRATIONS: &str = "SELECT version, success, checksum FROM _sqlx_migrations";

/// A value bound to a statement built at run time. Times are bound as
/// `DateTime<Utc>`, never as text: PostgreSQL compares them as
/// `TIMESTAMPTZ`, and on SQLite sqlx encodes them exactly as it wrote the
/// stored ones, so the text comparison there is a time comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindValue<'a> {
    /// A text value.
    Text(&'a str),
    /// An instant, already cut to the stored precision.
    Instant(DateTime<Utc>),
    /// An integer (a row limit).
    Integer(i64),
}

/// Binds a list of [`BindValue`]s in order. Works on `Query` and `QueryAs`
/// of either backend.
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                $crate::store::sql::BindValue::Text(text) => query.bind(text),
                $crate::store::sql::BindValue::Instant(at) => query.bind(at),
                $crate::store::sql::BindValue::Integer(n) => query.bind(n),
            };
        }
        query
    }};
}
pub(super) use bind_values;

/// `stage IN ('intelligence_development', 'awaiting_enforcement')`, from
/// [`Stage::OPEN`]: constants of the code, so written in, not bound.
fn open_stages_condition() -> String {
    let open: Vec<String> = Stage::OPEN
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("stage IN ({})", open.join(", "))
}

/// A statement under construction: its conditions and the values they bind.
#[derive(Default)]
struct Conditions<'a> {
    conditions: Vec<String>,
    values: Vec<BindValue<'a>>,
}

impl<'a> Conditions<'a> {
    /// Binds `value` and returns its placeholder (`$n`).
    fn bind(&mut self, value: BindValue<'a>) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    fn push(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// The condition that selects packages with `status` at `now`, the way
/// [`crate::domain::Package::status`] decides it: an open package at its
/// deadline is breached, one enforced exactly at its deadline has met it.
fn status_condition<'a>(
    conditions: &mut Conditions<'a>,
    status: PackageStatus,
    now: DateTime<Utc>,
) -> String {
    let open = open_stages_condition();
    let enforced = Stage::Enforced.as_str();
    // Bound only by the statuses that use it, so no statement carries a
    // parameter it never reads.
    let mut bind_now = || conditions.bind(BindValue::Instant(stored_instant(now)));
    match status {
        PackageStatus::Breached => format!("{open} AND deadline_at <= {}", bind_now()),
        PackageStatus::DueSoon => {
            let now = bind_now();
            format!("{open} AND deadline_at > {now} AND due_soon_at <= {now}")
        }
        PackageStatus::OnTrack => {
            let now = bind_now();
            format!(
                "{open} AND deadline_at > {now} AND (due_soon_at IS NULL OR due_soon_at > {now})"
            )
        }
        PackageStatus::Met => format!("stage = '{enforced}' AND clock_stopped_at <= deadline_at"),
        PackageStatus::Missed => format!("stage = '{enforced}' AND clock_stopped_at > deadline_at"),
        PackageStatus::Closed => format!("stage = '{}'", Stage::Closed.as_str()),
    }
}

/// The packages `filter` selects, by deadline then reference, with the
/// values to bind in order. Only the filter's values are bound; the open
/// stages are written in from [`Stage::OPEN`].
pub fn list_packages(filter: &PackageFilter) -> (String, Vec<BindValue<'_>>) {
    let mut conditions = Conditions::default();
    if filter.open_only {
        conditions.push(open_stages_condition());
    }
    let equal = [
        ("risk_grade", filter.grade.map(RiskGrade::as_str)),
        ("lpa", filter.lpa.as_deref()),
        ("stage", filter.stage.map(Stage::as_str)),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            let placeholder = conditions.bind(BindValue::Text(value));
            conditions.push(format!("{column} = {placeholder}"));
        }
    }
    if let Some((status, now)) = filter.status {
        let condition = status_condition(&mut conditions, status, now);
        conditions.push(format!("({condition})"));
    }
    if let Some(PageKey {
        deadline_at,
        reference,
    }) = &filter.after
    {
        // A row value, so both backends can start the walk of the
        // (deadline_at, reference) index at the cursor.
        let deadline = conditions.bind(BindValue::Instant(stored_instant(*deadline_at)));
        let reference = conditions.bind(BindValue::Text(reference));
        conditions.push(format!(
            "(deadline_at, reference) > ({deadline}, {reference})"
        ));
    }
    let mut sql = concat!("SELECT ", package_row_columns!(), " FROM packages").to_string();
    sql.push_str(&conditions.where_clause());
    sql.push_str(" ORDER BY deadline_at, reference");
    if let Some(limit) = filter.limit {
        let placeholder = conditions.bind(BindValue::Integer(i64::from(limit)));
        sql.push_str(&format!(" LIMIT {placeholder}"));
    }
    (sql, conditions.values)
}

/// The open packages per stage and grade: `$1` is now, `$2` the due-by
/// horizon, and, when `for_one_lpa`, `$3` the LPA. Every column it reads is
/// in `packages_position` (stage, risk_grade, lpa, deadline_at,
/// received_at), so both backends answer it from that index alone, reading
/// only the open stages' part of it.
pub fn position(for_one_lpa: bool) -> String {
    let lpa = if for_one_lpa {
        // Naming every grade (the column's CHECK allows no other) lets the
        // index be searched on stage, grade and LPA together, rather than
        // read through every LPA of the open stages.
        let grades: Vec<String> = RiskGrade::ALL
            .iter()
            .map(|g| format!("'{}'", g.as_str()))
            .collect();
        format!(" AND risk_grade IN ({}) AND lpa = $3", grades.join(", "))
    } else {
        String::new()
    };
    format!(
        "SELECT stage, risk_grade, COUNT(*) AS open_count, \
         COUNT(CASE WHEN deadline_at <= $1 THEN 1 END) AS breached_count, \
         COUNT(CASE WHEN deadline_at > $1 AND deadline_at <= $2 THEN 1 END) AS due_soon_count, \
         MIN(received_at) AS oldest_received_at \
         FROM packages WHERE {}{lpa} GROUP BY stage, risk_grade",
        open_stages_condition(),
    )
}

/// The values every audit line of one statement shares, in the order
/// [`bind_audit_values!`] binds them (`$1` to `$5`).
const AUDIT_SHARED_COLUMNS: [&str; 5] = ["at", "actor", "action", "request_id", "detail"];

/// Binds a [`super::rows::AuditValues`]: the values shared by the lines of
/// one [`insert_audit`] statement. The references follow, one per line.
macro_rules! bind_audit_values {
    ($query:expr, $values:expr) => {{
        let v: &$crate::store::rows::AuditValues<'_> = $values;
        $query
            .bind(v.at)
            .bind(v.actor)
            .bind(v.action)
            .bind(v.request_id)
            .bind(v.detail)
    }};
}
pub(super) use bind_audit_values;

/// Appends `rows` audit lines that share their time, actor, action, request
/// id and detail (`$1` to `$5`, [`bind_audit_values!`]) and differ by
/// reference (`$6`, `$7`, ...): one line per package of a batch, or one line.
pub fn insert_audit(rows: usize) -> String {
    let shared: Vec<usize> = (1..=AUDIT_SHARED_COLUMNS.len()).collect();
    format!(
        "INSERT INTO audit_log (reference, {}) VALUES {}",
        AUDIT_SHARED_COLUMNS.join(", "),
        values_groups(rows, 1, &shared)
    )
}

/// The `SELECT` of [`super::rows::AuditRow`]s, to which a statement adds its
/// condition and order.
macro_rules! select_audit_rows {
    () => {
        "SELECT id, at, actor, action, reference, request_id, detail FROM audit_log"
    };
}

/// The whole audit log, oldest first.
pub const SELECT_AUDIT_LOG: &str = concat!(select_audit_rows!(), " ORDER BY id");

/// The audit lines about package `$1`, oldest first.
pub const SELECT_AUDIT_LOG_FOR: &str =
    concat!(select_audit_rows!(), " WHERE reference = $1 ORDER BY id");

/// Stores a token (`$1` name, `$2` role, `$3` hash, `$4` created_at,
/// `$5` revoked_at). A name already used is skipped, not an error, so the
/// caller can tell it apart from a failure by the count of rows written.
pub const INSERT_TOKEN: &str = "INSERT INTO api_tokens \
     (name, role, token_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (name) DO NOTHING";

/// Revokes the active token `$1` at `$2`; touches no row when there is none.
pub const REVOKE_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL";

/// The `SELECT` of [`super::rows::TokenRow`]s (never the hash), to which a
/// statement adds its condition and order.
macro_rules! select_token_rows {
    () => {
        "SELECT name, role, created_at, revoked_at FROM api_tokens"
    };
}

/// Every token, newest first (the row id breaks ties of one instant).
pub const SELECT_TOKENS: &str = concat!(select_token_rows!(), " ORDER BY created_at DESC, id DESC");

/// The active token with hash `$1`.
pub const SELECT_ACTIVE_TOKEN_BY_HASH: &str = concat!(
    select_token_rows!(),
    " WHERE token_hash = $1 AND revoked_at IS NULL"
);

// ---------------------------------------------------------------------------
// Escalations and the outbox.
// ---------------------------------------------------------------------------

/// The packages due at `$1`, earliest first, at most `$2` of them. Reads
/// only due rows, through the partial `packages_next_due_at` index (a
/// comparison implies `IS NOT NULL` to both planners). A backend appends its
/// locking clause.
macro_rules! select_due_packages {
    () => {
        concat!(
            "SELECT ",
            $crate::store::sql::package_row_columns!(),
            " FROM packages WHERE next_due_at <= $1 ORDER BY next_due_at, id LIMIT $2"
        )
    };
}

/// The messages a dispatcher may claim at `$1` (`$2` is `$1` less the
/// lease), oldest first, at most `$4` (`$3`, the worker, is bound for the
/// update that follows): queued ones whose attempt is due, and ones held
/// longer than the lease (their dispatcher died). Strictly first in, first
/// out per destination: none while an older message to the same destination
/// is pending or being sent, so at most one per destination. A sent or dead
/// older message does not hold the queue up.
///
/// Each arm of the `OR` names the status of one partial index
/// (`outbox_pending_run_at`, `outbox_sending_locked_at`; SQLite uses a
/// partial index only when the query states its condition), and the queue
/// check is [`head_of_its_queue!`]: no sent or dead row is read.
macro_rules! select_claimable_outbox {
    () => {
        concat!(
            "SELECT o.id FROM outbox o \
             WHERE ((o.status = 'pending' AND o.run_at <= $1) \
                    OR (o.status = 'sending' AND o.locked_at <= $2)) AND ",
            $crate::store::sql::head_of_its_queue!(),
            " ORDER BY o.id LIMIT $4"
        )
    };
}

/// True of message `o` when no older message to its destination is pending
/// or being sent: it is at the head of its destination's queue. States
/// `outbox_queue`'s condition word for word, so both backends search that
/// partial index and never read a sent or dead row.
macro_rules! head_of_its_queue {
    () => {
        "NOT EXISTS (SELECT 1 FROM outbox older \
                     WHERE older.destination = o.destination AND older.id < o.id \
                       AND older.status IN ('pending', 'sending'))"
    };
}

/// What a claim sets (`$1` now, `$3` the worker); the backends wrap it
/// round [`select_claimable_outbox!`].
macro_rules! claim_outbox_set {
    () => {
        "status = 'sending', locked_by = $3, locked_at = $1, attempts = outbox.attempts + 1"
    };
}
/// What a claim returns: an [`super::rows::OutboxRow`]. Qualified, since on
/// PostgreSQL the claimed ids' CTE has an `id` too.
macro_rules! claim_outbox_returning {
    () => {
        "outbox.id, outbox.destination, outbox.notice, outbox.attempts, outbox.created_at"
    };
}
pub(super) use {
    claim_outbox_returning, claim_outbox_set, head_of_its_queue, select_claimable_outbox,
    select_due_packages,
};

/// Binds a [`super::rows::EscalationValues`] in the order of
/// [`INSERT_ESCALATION`]'s columns.
macro_rules! bind_escalation_values {
    ($query:expr, $values:expr) => {{
        let v: &$crate::store::rows::EscalationValues<'_> = $values;
        $query
            .bind(v.package_id)
            .bind(v.level)
            .bind(v.clock.as_str())
            .bind(v.occurrence)
            .bind(v.clock_due_at)
            .bind(v.due_at)
            .bind(v.relation.as_str())
            .bind(v.status)
            .bind(v.recorded_at)
    }};
}
pub(super) use bind_escalation_values;

/// Records an escalation ([`bind_escalation_values!`]) unless its unique
/// key is already taken; returns its new id, or no row when it was recorded
/// before (by an earlier pass, or by another instance a moment ago).
pub const INSERT_ESCALATION: &str = "INSERT INTO escalations \
     (package_id, level, clock, occurrence, clock_due_at, due_at, relation, status, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (package_id, level, occurrence, clock_due_at) DO NOTHING RETURNING id";

/// Sets package row `$1`'s next due instant to `$2` (NULL: nothing more
/// can fall due). Not a ledger event, so `updated_at` stays: it says when
/// the package last changed, and the scheduler changes nothing about it.
pub const SET_NEXT_DUE_AT: &str = "UPDATE packages SET next_due_at = $2 WHERE id = $1";

/// Queues a message (`$1` destination, `$2` notice, both JSON) at `$3`,
/// due at once; returns its id.
pub const INSERT_OUTBOX: &str = "INSERT INTO outbox \
     (destination, notice, status, attempts, run_at, created_at) \
     VALUES ($1, $2, 'pending', 0, $3, $3) RETURNING id";

/// The newest message to destination `$1` still waiting or being sent:
/// the tail of its queue, which a pass's message to the same destination
/// may join ([`super::rows::QueueTailRow`]). Reads one entry of
/// `outbox_queue`, whose condition it states. The backends may add a lock.
macro_rules! select_queue_tail {
    () => {
        "SELECT id, status, attempts, notice FROM outbox \
         WHERE destination = $1 AND status IN ('pending', 'sending') \
         ORDER BY id DESC LIMIT 1"
    };
}
pub(super) use select_queue_tail;

/// Records digest (`$1` schedule, `$2` period, `$3` occurrence or NULL,
/// `$4` recipient, `$5` requested by, `$6` queued at) unless its scheduled
/// run was recorded for the recipient before; returns its id, or no row.
pub const INSERT_DIGEST: &str = "INSERT INTO digests \
     (schedule, period, occurrence, recipient, requested_by, queued_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (occurrence, recipient) DO NOTHING RETURNING id";

/// Sets digest `$1`'s message to `$2`.
pub const SET_DIGEST_MESSAGE: &str = "UPDATE digests SET outbox_id = $2 WHERE id = $1";

/// The recipients scheduled run `$1` was queued for.
pub const SELECT_DIGEST_RECIPIENTS: &str =
    "SELECT recipient FROM digests WHERE occurrence = $1 ORDER BY recipient";

/// Replaces the notice of message `$1` with `$2` (JSON).
pub const UPDATE_OUTBOX_NOTICE: &str = "UPDATE outbox SET notice = $2 WHERE id = $1";

/// Links message `$1` to `rows` escalations (`$2`, `$3`, ...).
pub fn insert_outbox_links(rows: usize) -> String {
    format!(
        "INSERT INTO outbox_escalations (escalation_id, outbox_id) VALUES {}",
        values_groups(rows, 1, &[1])
    )
}

/// Records `$1` as the scheduler's last pass. Never moves it back: with two
/// instances, the one that commits last may have started first.
pub const RECORD_PASS: &str = "INSERT INTO service_state (name, at) VALUES ('scheduler', $1) \
     ON CONFLICT (name) DO UPDATE SET at = excluded.at WHERE service_state.at < excluded.at";

/// The earliest `next_due_at`, and the earliest attempt of a queued message
/// at the head of its destination's queue. A message behind an older one
/// (being sent, or waiting for its retry) cannot be claimed at its own
/// `run_at`; counting it would wake the dispatcher over and over for
/// nothing. Reads only due packages' index entries and pending messages
/// (through `outbox_pending_run_at`, or the status index), never a sent one.
pub const NEXT_WAKE: &str = concat!(
    "SELECT (SELECT MIN(next_due_at) FROM packages WHERE next_due_at IS NOT NULL), \
     (SELECT o.run_at FROM outbox o WHERE o.status = 'pending' AND ",
    head_of_its_queue!(),
    " ORDER BY o.run_at LIMIT 1)"
);

/// The earliest claim on a message still being sent (through the partial
/// `outbox_sending_locked_at` index).
pub const OLDEST_CLAIM: &str = "SELECT MIN(locked_at) FROM outbox WHERE status = 'sending'";

/// How a delivery ended, for message `$1` held by worker `$2`: each touches
/// no row unless the message is still being sent by that worker (its lease
/// may have run out and another taken it). Every outcome lets go of the
/// message.
pub const FINISH_SENT: &str = "UPDATE outbox SET status = 'sent', sent_at = $3, \
     locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Back to the queue, to be tried at `$3`; `$4` says why it failed.
pub const FINISH_RETRY: &str = "UPDATE outbox SET status = 'pending', run_at = $3, \
     last_error = $4, locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Given up; `$3` says why.
pub const FINISH_DEAD: &str = "UPDATE outbox SET status = 'dead', last_error = $3, \
     locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Not attempted: back to the queue as it was, the attempt uncounted.
pub const FINISH_RELEASE: &str = "UPDATE outbox SET status = 'pending', \
     attempts = attempts - 1, locked_by = NULL, locked_at = NULL \
     WHERE id = $1 AND status = 'sending' AND locked_by = $2";

/// Messages and attempts beyond the first, per status
/// ([`super::rows::DeliveryCountRow`]). Unlike the claims it reads an entry
/// for every message ever queued, from the narrow `outbox_status_attempts`
/// where the planner takes it, not the wide rows: the figures cost grows
/// with the history. The CAST because PostgreSQL sums BIGINTs as NUMERIC.
pub const DELIVERY_COUNTS: &str = "SELECT status, COUNT(*) AS messages, \
     CAST(COALESCE(SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) AS BIGINT) \
     AS retries FROM outbox GROUP BY status";

/// When the oldest message not delivered and not dead was queued: reads
/// only those (through `outbox_queue`, whose condition it states, or the
/// status index).
pub const OLDEST_UNDELIVERED: &str =
    "SELECT MIN(created_at) FROM outbox WHERE status IN ('pending', 'sending')";

/// The last pass, and the earliest `next_due_at` at or before `$1`.
pub const SCHEDULER_STATUS: &str = "SELECT \
     (SELECT at FROM service_state WHERE name = 'scheduler'), \
     (SELECT MIN(next_due_at) FROM packages WHERE next_due_at <= $1)";

/// The escalations of package `$1` (its reference), in the order recorded
/// ([`super::rows::EscalationRow`]).
pub const SELECT_ESCALATIONS: &str = "SELECT e.id, e.level, e.clock, e.occurrence, \
     e.clock_due_at, e.due_at, e.status, e.recorded_at \
     FROM packages p JOIN escalations e ON e.package_id = p.id \
     WHERE p.reference = $1 ORDER BY e.id";

/// The messages carrying the escalations of package `$1`
/// ([`super::rows::DeliveryRow`]), by escalation then message.
pub const SELECT_ESCALATION_DELIVERIES: &str = "SELECT l.escalation_id, o.id AS message_id, \
     o.destination, o.status, o.attempts, o.sent_at, o.last_error \
     FROM packages p JOIN escalations e ON e.package_id = p.id \
     JOIN outbox_escalations l ON l.escalation_id = e.id \
     JOIN outbox o ON o.id = l.outbox_id \
     WHERE p.reference = $1 ORDER BY l.escalation_id, o.id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_groups_number_every_placeholder_once_and_repeat_shared_ones() {
        assert_eq!(values_groups(2, 3, &[]), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(
            values_groups(2, 2, &[1, 1]),
            "($2, $3, $1, $1), ($4, $5, $1, $1)"
        );
    }

    #[test]
    fn column_lists_match_the_number_of_bound_values() {
        assert_eq!(
            PACKAGE_WRITE_COLUMNS.split(',').count(),
            PACKAGE_WRITE_VALUES
        );
        assert_eq!(EVENT_COLUMNS.split(',').count(), EVENT_VALUES);
        // The UPDATE sets every written column but the reference, which keys it.
        for column in PACKAGE_WRITE_COLUMNS.split(',').map(str::trim).skip(1) {
            assert!(
                UPDATE_PACKAGE.contains(&format!(" {column} = $")),
                "{column}"
            );
        }
    }

    #[test]
    fn insert_places_the_shared_time_after_each_rows_values() {
        let sql = insert_packages(2);
        assert!(sql.contains("($2, $3,"), "{sql}");
        assert!(sql.contains("$21, $1, $1), ($22,"), "{sql}");
        assert!(
            sql.ends_with(
                "$41, $1, $1) ON CONFLICT (reference) DO NOTHING RETURNING id, reference"
            ),
            "{sql}"
        );
    }

    #[test]
    fn audit_lines_share_five_values_and_bind_one_reference_each() {
        assert_eq!(
            insert_audit(2),
            "INSERT INTO audit_log (reference, at, actor, action, request_id, detail) \
             VALUES ($6, $1, $2, $3, $4, $5), ($7, $1, $2, $3, $4, $5)"
        );
    }

    #[test]
    fn list_binds_only_the_filter_values_in_order() {
        let everything = PackageFilter::default();
        let (sql, values) = list_packages(&everything);
        assert!(!sql.contains("WHERE"), "{sql}");
        assert!(values.is_empty());
        let filter = PackageFilter {
            open_only: true,
            grade: Some(RiskGrade::High),
            lpa: Some("Coventry".into()),
            stage: Some(Stage::AwaitingEnforcement),
            ..PackageFilter::default()
        };
        let (sql, values) = list_packages(&filter);
        assert!(
            sql.ends_with(
                " WHERE stage IN ('intelligence_development', 'awaiting_enforcement') \
                 AND risk_grade = $1 AND lpa = $2 AND stage = $3 ORDER BY deadline_at, reference"
            ),
            "{sql}"
        );
        assert_eq!(
            values,
            [
                BindValue::Text("high"),
                BindValue::Text("Coventry"),
                BindValue::Text("awaiting_enforcement")
            ]
        );
    }

    #[test]
    fn status_cursor_and_limit_bind_times_as_instants_after_the_other_values() {
        let now: DateTime<Utc> = "2024-06-01T12:00:00.123456789Z".parse().unwrap();
        let deadline: DateTime<Utc> = "2024-06-02T09:00:00Z".parse().unwrap();
        let filter = PackageFilter {
            lpa: Some("Coventry".into()),
            status: Some((PackageStatus::DueSoon, now)),
            after: Some(PageKey {
                deadline_at: deadline,
                reference: "NCA-7".into(),
            }),
            limit: Some(2),
            ..PackageFilter::default()
        };
        let (sql, values) = list_packages(&filter);
        assert!(
            sql.ends_with(
                " WHERE lpa = $1 AND (stage IN ('intelligence_development', \
                 'awaiting_enforcement') AND deadline_at > $2 AND due_soon_at <= $2) \
                 AND (deadline_at, reference) > ($3, $4) ORDER BY deadline_at, reference LIMIT $5"
            ),
            "{sql}"
        );
        assert_eq!(
            values,
            [
                BindValue::Text("Coventry"),
                // Cut to the microsecond, as every stored time is.
                BindValue::Instant("2024-06-01T12:00:00.123456Z".parse().unwrap()),
                BindValue::Instant(deadline),
                BindValue::Text("NCA-7"),
                BindValue::Integer(2),
            ]
        );
    }

    #[test]
    fn statuses_that_need_no_time_bind_none() {
        let now: DateTime<Utc> = "2024-06-01T12:00:00Z".parse().unwrap();
        for status in [
            PackageStatus::Met,
            PackageStatus::Missed,
            PackageStatus::Closed,
        ] {
            let filter = PackageFilter {
                status: Some((status, now)),
                ..PackageFilter::default()
            };
            let (sql, values) = list_packages(&filter);
            assert!(values.is_empty(), "{status}: {values:?}");
            assert!(!sql.contains('$'), "{status}: {sql}");
        }
    }

    #[test]
    fn position_filters_the_lpa_only_when_asked() {
        assert!(!position(false).contains("$3"));
        assert!(position(true).ends_with(
            " WHERE stage IN ('intelligence_development', 'awaiting_enforcement') \
             AND risk_grade IN ('very_high', 'high', 'medium', 'standard') \
             AND lpa = $3 GROUP BY stage, risk_grade"
        ));
    }
}
