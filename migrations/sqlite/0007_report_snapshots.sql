-- Report snapshots: the model of a closed period's report (a week, a
-- month or a quarter), kept once computed so that reading it again does
-- not fold the whole ledger. Keyed by the period and a fingerprint of
-- everything the figures depend on besides the ledger (the settings the
-- report reads, and the build of the service): a changed configuration
-- or a new release never serves an old snapshot.
--
-- A snapshot is exact while no event lands before its period's end: every
-- write that appends a ledger event deletes, in its own transaction, each
-- snapshot whose period ends after the event's `occurred_at` (state
-- carries forward, so every later period goes too). Only periods that have
-- ended are kept; the period still running is always folded.
--
-- Times are TEXT as in 0001 (RFC 3339, UTC, "+00:00"), so text order is
-- time order for `period_end > $1`.
CREATE TABLE report_snapshots (
    -- `week`, `month` or `quarter`.
    period_kind TEXT NOT NULL CHECK (period_kind IN ('week', 'month', 'quarter')),
    -- `2024-W05`, `2024-02`, `2024-Q1`.
    period_key TEXT NOT NULL,
    -- Hex SHA-256 of the report's parameters and the build.
    fingerprint TEXT NOT NULL,
    -- The period's end (exclusive) in the force time zone, as an instant.
    period_end TEXT NOT NULL,
    -- The report model, as JSON.
    model TEXT NOT NULL,
    -- How many ledger events the model was folded from (those before
    -- period_end), for diagnosis.
    events_folded INTEGER NOT NULL CHECK (events_folded >= 0),
    computed_at TEXT NOT NULL,
    PRIMARY KEY (period_kind, period_key, fingerprint)
) STRICT;

-- A ledger write deletes by period end.
CREATE INDEX report_snapshots_period_end ON report_snapshots (period_end);
