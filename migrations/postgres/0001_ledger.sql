-- The ledger: `packages` holds each package's current state, `package_events`
-- its append-only history; `audit_log` records who changed or read what, and
-- `api_tokens` the hashes of the API's tokens. No names are stored anywhere: a
-- package is known by its reference, an officer by a work email address, a
-- token by the label it was given.
--
-- Same tables, columns and rules as migrations/sqlite/0001_ledger.sql; keep
-- the two in step.

CREATE TABLE packages (
    id BIGSERIAL PRIMARY KEY,
    -- COLLATE "C": byte order, as SQLite sorts, so both backends list
    -- packages in the same order whatever the server's locale.
    reference TEXT COLLATE "C" NOT NULL UNIQUE,
    risk_grade TEXT NOT NULL
        CHECK (risk_grade IN ('very_high', 'high', 'medium', 'standard')),
    stage TEXT NOT NULL
        CHECK (stage IN ('intelligence_development', 'awaiting_enforcement', 'enforced', 'closed')),
    lpa TEXT NOT NULL,
    assigned_officer TEXT,
    received_at TIMESTAMPTZ NOT NULL,
    deadline_at TIMESTAMPTZ NOT NULL,
    -- Where the deadline's timescale was counted from.
    clock_started_at TIMESTAMPTZ NOT NULL,
    policy_version TEXT NOT NULL CHECK (policy_version <> ''),
    -- When the package entered its stage; for a stopped one, clock_stopped_at.
    stage_since TIMESTAMPTZ NOT NULL,
    clock_stopped_at TIMESTAMPTZ,
    outcome TEXT
        CHECK (outcome IN ('arrest', 'warrant_executed', 'voluntary_attendance',
                           'no_further_action', 'transferred', 'other')),
    child_access_identified_at TIMESTAMPTZ,
    safeguarding_referral_at TIMESTAMPTZ,
    -- The next instant the scheduler must look at this package; NULL when
    -- nothing more can fall due.
    next_due_at TIMESTAMPTZ,
    -- When the package becomes "due soon" (its first warning before the
    -- deadline), so status filters run in SQL; NULL when no level warns.
    due_soon_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    -- A stopped clock has a stop time and an outcome; a running one has neither.
    CHECK (CASE WHEN stage IN ('enforced', 'closed')
                THEN clock_stopped_at IS NOT NULL AND outcome IS NOT NULL
                ELSE clock_stopped_at IS NULL AND outcome IS NULL END),
    CHECK (clock_stopped_at IS NULL OR stage_since = clock_stopped_at),
    -- A referral needs an identified child access at or before it.
    CHECK (safeguarding_referral_at IS NULL
           OR (child_access_identified_at IS NOT NULL
               AND safeguarding_referral_at >= child_access_identified_at))
);

-- The scheduler reads only due rows, so only rows with a due time are indexed.
CREATE INDEX packages_next_due_at ON packages (next_due_at) WHERE next_due_at IS NOT NULL;
-- Covers the position query (open packages per stage and grade, optionally
-- for one LPA, counting by deadline and taking the oldest receipt), so it
-- can be answered by an index-only scan of the open stages' part.
CREATE INDEX packages_position ON packages (stage, risk_grade, lpa, deadline_at, received_at);
-- Lists are ordered by (deadline, reference) and paged by a keyset on the
-- same pair, so a page reads only its own rows from this index.
CREATE INDEX packages_deadline_at_reference ON packages (deadline_at, reference);
CREATE INDEX packages_lpa ON packages (lpa);

CREATE TABLE package_events (
    id BIGSERIAL PRIMARY KEY,
    package_id BIGINT NOT NULL REFERENCES packages (id),
    kind TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL CHECK (actor <> ''),
    -- The package's grade, stage and deadline after the event, so the position
    -- at any past instant can be rebuilt from the events alone.
    risk_grade TEXT NOT NULL
        CHECK (risk_grade IN ('very_high', 'high', 'medium', 'standard')),
    stage TEXT NOT NULL
        CHECK (stage IN ('intelligence_development', 'awaiting_enforcement', 'enforced', 'closed')),
    deadline_at TIMESTAMPTZ NOT NULL,
    -- The event as JSON (serde of EventKind, tagged by "kind"). TEXT, not
    -- JSONB, so it reads back byte for byte as on SQLite.
    details TEXT NOT NULL
);

CREATE INDEX package_events_package_id ON package_events (package_id, id);
CREATE INDEX package_events_occurred_at ON package_events (occurred_at);

-- The history is evidence: nothing may change or remove it.
CREATE FUNCTION package_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'package_events is append-only';
END;
$$;

-- Row-level, as SQLite's triggers are, so both refuse the same statements.
CREATE TRIGGER package_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON package_events
    FOR EACH ROW EXECUTE FUNCTION package_events_append_only();

-- TRUNCATE skips row triggers; refuse it too.
CREATE TRIGGER package_events_no_truncate
    BEFORE TRUNCATE ON package_events
    FOR EACH STATEMENT EXECUTE FUNCTION package_events_append_only();

-- Who did or read what, for oversight. Package writes append their line in
-- the same transaction as the write; reads and other actions append theirs
-- on their own. `reference` is not a foreign key: a read of a reference
-- that is not stored is audited too. Never holds a token or its hash.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL CHECK (actor <> ''),
    action TEXT NOT NULL CHECK (action <> ''),
    reference TEXT COLLATE "C",
    request_id TEXT,
    detail TEXT
);

-- A package's audit trail, in order.
CREATE INDEX audit_log_reference ON audit_log (reference, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- API tokens: only a hash of each token is stored, so a copy of the database
-- cannot be used to call the API. A revoked token keeps its row (and its
-- name, which the audit log refers to) and is refused from then on.
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE CHECK (name <> ''),
    role TEXT NOT NULL CHECK (role IN ('viewer', 'intake', 'supervisor', 'admin')),
    token_hash TEXT NOT NULL UNIQUE CHECK (token_hash <> ''),
    created_at TIMESTAMPTZ NOT NULL,
    -- No CHECK against created_at: a revocation must never be refused.
    revoked_at TIMESTAMPTZ
);
