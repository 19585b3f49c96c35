-- The ledger: `packages` holds each package's current state, `package_events`
-- its append-only history; `audit_log` records who changed or read what, and
-- `api_tokens` the hashes of the API's tokens. No names are stored anywhere: a
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
               AND safeguarding_referral_at >= child_access_identified_at))
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
