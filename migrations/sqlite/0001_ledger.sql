-- The ledger: `packages` holds each package's current state, `package_events`
-- its append-only history; `audit_log` records who changed or read what, and
-- `api_tokens` the hashes of the API's tokens. The scheduler records each
-- escalation it finds due in `escalations` and queues its messages in
-- `outbox` (linked by `outbox_escalations`); `service_state` keeps its last
-- pass. No names are stored anywhere: a
-- package is known by its reference, an officer by a work email address, a
-- token by the label it was given.
--
-- Times are TEXT exactly as sqlx writes a DateTime<Utc>: RFC 3339, always in
-- UTC with a "+00:00" offset and 0, 3 or 6 fraction digits (the store cuts
-- times to the microsecond, as PostgreSQL does). Text order is then time
-- order, which the ordering, the indexes and the CHECKs below rely on.
--
-- STRICT, so a value of the wrong type is refused instead of silently kept.

CREATE TABLE packages (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    risk_grade TEXT NOT NULL
        CHECK (risk_grade IN ('very_high', 'high', 'medium', 'standard')),
    stage TEXT NOT NULL
        CHECK (stage IN ('intelligence_development', 'awaiting_enforcement', 'enforced', 'closed')),
    lpa TEXT NOT NULL,
    assigned_officer TEXT,
    received_at TEXT NOT NULL,
    deadline_at TEXT NOT NULL,
    -- Where the deadline's timescale was counted from.
    clock_started_at TEXT NOT NULL,
    policy_version TEXT NOT NULL CHECK (policy_version <> ''),
    -- When the package entered its stage; for a stopped one, clock_stopped_at.
    stage_since TEXT NOT NULL,
    clock_stopped_at TEXT,
    outcome TEXT
        CHECK (outcome IN ('arrest', 'warrant_executed', 'voluntary_attendance',
                           'no_further_action', 'transferred', 'other')),
    child_access_identified_at TEXT,
    safeguarding_referral_at TEXT,
    -- A supervisor's acknowledgement of a breach: when, by whom (the actor's
    -- name), the note, and the deadline whose breach it acknowledges (a
    -- regrade that moves the deadline leaves it behind, unheeded).
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    acknowledgement_note TEXT,
    acknowledged_deadline_at TEXT,
    -- The next instant the scheduler must look at this package; NULL when
    -- nothing more can fall due.
    next_due_at TEXT,
    -- When the package becomes "due soon" (its first warning before the
    -- deadline), so status filters run in SQL; NULL when no level warns.
    due_soon_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- A stopped clock has a stop time and an outcome; a running one has neither.
    CHECK (CASE WHEN stage IN ('enforced', 'closed')
                THEN clock_stopped_at IS NOT NULL AND outcome IS NOT NULL
                ELSE clock_stopped_at IS NULL AND outcome IS NULL END),
    CHECK (clock_stopped_at IS NULL OR stage_since = clock_stopped_at),
    -- A referral needs an identified child access at or before it.
    CHECK (safeguarding_referral_at IS NULL
           OR (child_access_identified_at IS NOT NULL
               AND safeguarding_referral_at >= child_access_identified_at)),
    -- An acknowledgement is whole or absent.
    CHECK ((acknowledged_at IS NULL AND acknowledged_by IS NULL
            AND acknowledgement_note IS NULL AND acknowledged_deadline_at IS NULL)
           OR (acknowledged_at IS NOT NULL AND acknowledged_by IS NOT NULL
               AND acknowledgement_note IS NOT NULL AND acknowledged_deadline_at IS NOT NULL))
) STRICT;

-- The scheduler reads only due rows, so only rows with a due time are indexed.
CREATE INDEX packages_next_due_at ON packages (next_due_at) WHERE next_due_at IS NOT NULL;
-- Covers the position query (open packages per stage and grade, optionally
-- for one LPA, counting by deadline and taking the oldest receipt), so it
-- reads only this index and only the open stages' part of it.
CREATE INDEX packages_position ON packages (stage, risk_grade, lpa, deadline_at, received_at);
-- Lists are ordered by (deadline, reference) and paged by a keyset on the
-- same pair, so a page reads only its own rows from this index.
CREATE INDEX packages_deadline_at_reference ON packages (deadline_at, reference);
CREATE INDEX packages_lpa ON packages (lpa);

-- AUTOINCREMENT so a sequence number is never handed out twice.
CREATE TABLE package_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id INTEGER NOT NULL REFERENCES packages (id),
    kind TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL CHECK (actor <> ''),
    -- The package's grade, stage and deadline after the event, so the position
    -- at any past instant can be rebuilt from the events alone.
    risk_grade TEXT NOT NULL
        CHECK (risk_grade IN ('very_high', 'high', 'medium', 'standard')),
    stage TEXT NOT NULL
        CHECK (stage IN ('intelligence_development', 'awaiting_enforcement', 'enforced', 'closed')),
    deadline_at TEXT NOT NULL,
    -- The event as JSON (serde of EventKind, tagged by "kind").
    details TEXT NOT NULL
) STRICT;

CREATE INDEX package_events_package_id ON package_events (package_id, id);
CREATE INDEX package_events_occurred_at ON package_events (occurred_at);

-- The history is evidence: nothing may change or remove it.
CREATE TRIGGER package_events_no_update BEFORE UPDATE ON package_events
BEGIN
    SELECT RAISE(ABORT, 'package_events is append-only');
END;

CREATE TRIGGER package_events_no_delete BEFORE DELETE ON package_events
BEGIN
    SELECT RAISE(ABORT, 'package_events is append-only');
END;

-- Who did or read what, for oversight. Package writes append their line in
-- the same transaction as the write; reads and other actions append theirs
-- on their own. `reference` is not a foreign key: a read of a reference
-- that is not stored is audited too. Never holds a token or its hash.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL CHECK (actor <> ''),
    action TEXT NOT NULL CHECK (action <> ''),
    reference TEXT,
    request_id TEXT,
    detail TEXT
) STRICT;

-- A package's audit trail, in order.
CREATE INDEX audit_log_reference ON audit_log (reference, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- API tokens: only a hash of each token is stored, so a copy of the database
-- cannot be used to call the API. A revoked token keeps its row (and its
-- name, which the audit log refers to) and is refused from then on.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    role TEXT NOT NULL CHECK (role IN ('viewer', 'intake', 'supervisor', 'admin')),
    token_hash TEXT NOT NULL UNIQUE CHECK (token_hash <> ''),
    created_at TEXT NOT NULL,
    -- No CHECK against created_at: a revocation must never be refused.
    revoked_at TEXT
) STRICT;

-- Every escalation level occurrence the scheduler found due, recorded once
-- under its unique key (package, level, occurrence, the clock's due instant)
-- in the same transaction that queues its messages: a second pass, a restart
-- or another instance finds the key taken and sends nothing again. Rows change
-- state only by being written once; there is no API to delete them.
CREATE TABLE escalations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id INTEGER NOT NULL REFERENCES packages (id),
    level TEXT NOT NULL CHECK (level <> ''),
    clock TEXT NOT NULL CHECK (clock IN ('enforcement', 'safeguarding')),
    -- 0 for the first, 1 for the first repeat...
    occurrence INTEGER NOT NULL CHECK (occurrence >= 0),
    -- The clock's due instant it belongs to (the "deadline version"): after a
    -- regrade moves the deadline, the levels apply afresh.
    clock_due_at TEXT NOT NULL,
    -- When this occurrence fell due.
    due_at TEXT NOT NULL,
    relation TEXT NOT NULL CHECK (relation IN ('before', 'at', 'after')),
    -- notified: queued for its recipients; superseded: a warning overtaken by
    -- the breach, recorded and not sent; no_recipients: nobody to tell.
    status TEXT NOT NULL CHECK (status IN ('notified', 'superseded', 'no_recipients')),
    recorded_at TEXT NOT NULL,
    UNIQUE (package_id, level, occurrence, clock_due_at)
) STRICT;

-- A package's escalations, in the order they were recorded.
CREATE INDEX escalations_package_id ON escalations (package_id, id);

-- Messages to send: one notice for one destination. A row is written before
-- anything is sent and moves pending -> sending -> sent, back to pending for a
-- retry, or to dead. AUTOINCREMENT, so ids only grow: the order of ids is the
-- order of sending to each destination.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- JSON of notify::Destination; equal destinations have equal text.
    destination TEXT NOT NULL,
    -- JSON of notify::Notice.
    notice TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    -- Attempts started, the one under way included.
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    -- When a pending message may next be attempted.
    run_at TEXT NOT NULL,
    -- The dispatcher holding a message being sent, and since when (its
    -- lease is counted from here).
    locked_by TEXT,
    locked_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    -- Only a message being sent is held, and it always is.
    CHECK (CASE WHEN status = 'sending'
                THEN locked_by IS NOT NULL AND locked_at IS NOT NULL
                ELSE locked_by IS NULL AND locked_at IS NULL END),
    CHECK (CASE WHEN status = 'sent' THEN sent_at IS NOT NULL ELSE sent_at IS NULL END)
) STRICT;

-- The table grows forever, so what the dispatcher and the scheduler read
-- often is indexed only over the messages not yet delivered (partial
-- indexes): sent and dead rows are in none of these, and cost nothing.
-- Due pending messages, and the earliest next attempt.
CREATE INDEX outbox_pending_run_at ON outbox (run_at) WHERE status = 'pending';
-- Messages being sent, by the start of their lease (to reclaim expired ones).
CREATE INDEX outbox_sending_locked_at ON outbox (locked_at) WHERE status = 'sending';
-- The queue of each destination, oldest first: a message waits while an
-- older one to its destination is pending or being sent.
CREATE INDEX outbox_queue ON outbox (destination, id) WHERE status IN ('pending', 'sending');
-- The figures per status, counted from this index alone.
CREATE INDEX outbox_status_attempts ON outbox (status, attempts);

-- Which escalations each message carries.
CREATE TABLE outbox_escalations (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    escalation_id INTEGER NOT NULL REFERENCES escalations (id),
    PRIMARY KEY (outbox_id, escalation_id)
) STRICT, WITHOUT ROWID;

-- An escalation's messages.
CREATE INDEX outbox_escalations_escalation_id ON outbox_escalations (escalation_id, outbox_id);

-- The service's own instants: `scheduler` is when its last pass ran.
CREATE TABLE service_state (
    name TEXT NOT NULL PRIMARY KEY,
    at TEXT NOT NULL
) STRICT;
