-- Escalations of imported history (`import --history`): the levels a
-- package's clocks passed before they stopped are recorded with the status
-- `imported`, never sent. SQLite cannot alter a CHECK, so `escalations` is
-- rebuilt under its own name with the wider one, its rows (ids kept) and
-- its index, as migration 0005 did; `outbox_escalations` refers to it by
-- name. Foreign keys, deferred, are checked at COMMIT, when every row is
-- back.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE escalations_before_0010 AS SELECT * FROM escalations;
DROP TABLE escalations;
CREATE TABLE escalations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id INTEGER NOT NULL REFERENCES packages (id),
    level TEXT NOT NULL CHECK (level <> ''),
    clock TEXT NOT NULL CHECK (clock IN ('enforcement', 'safeguarding', 'review')),
    -- 0 for the first, 1 for the first repeat...
    occurrence INTEGER NOT NULL CHECK (occurrence >= 0),
    -- The clock's due instant it belongs to (the "deadline version"): after a
    -- regrade moves the deadline, or a review restarts the review clock, the
    -- levels apply afresh.
    clock_due_at TEXT NOT NULL,
    -- When this occurrence fell due.
    due_at TEXT NOT NULL,
    relation TEXT NOT NULL CHECK (relation IN ('before', 'at', 'after')),
    -- notified: queued for its recipients; superseded: a warning overtaken by
    -- the breach, recorded and not sent; no_recipients: nobody to tell;
    -- imported: imported history, fallen due before the clock stopped,
    -- recorded and never sent.
    status TEXT NOT NULL
        CHECK (status IN ('notified', 'superseded', 'no_recipients', 'imported')),
    recorded_at TEXT NOT NULL,
    UNIQUE (package_id, level, occurrence, clock_due_at)
) STRICT;
INSERT INTO escalations
    (id, package_id, level, clock, occurrence, clock_due_at, due_at, relation, status, recorded_at)
SELECT id, package_id, level, clock, occurrence, clock_due_at, due_at, relation, status, recorded_at
FROM escalations_before_0010 ORDER BY id;
DROP TABLE escalations_before_0010;
CREATE INDEX escalations_package_id ON escalations (package_id, id);
