-- The review clock (issue 13): while a package is open a supervisor reviews
-- its risk at an interval set by its grade. `review_clock_started_at` is
-- where the clock last restarted: the last review, or this upgrade; NULL
-- runs it from receipt (every package received from now on).
ALTER TABLE packages ADD COLUMN review_clock_started_at TEXT;

-- Escalations may now be on the review clock. SQLite cannot alter a CHECK,
-- so `escalations` is rebuilt under its own name with the wider one, its
-- rows (ids kept) and its index; `outbox_escalations` refers to it by name.
-- sqlx runs the migration in a transaction, where foreign keys cannot be
-- switched off: deferred, they are checked at COMMIT, when every row is back.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE escalations_before_0005 AS SELECT * FROM escalations;
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
    -- the breach, recorded and not sent; no_recipients: nobody to tell.
    status TEXT NOT NULL CHECK (status IN ('notified', 'superseded', 'no_recipients')),
    recorded_at TEXT NOT NULL,
    UNIQUE (package_id, level, occurrence, clock_due_at)
) STRICT;
INSERT INTO escalations
    (id, package_id, level, clock, occurrence, clock_due_at, due_at, relation, status, recorded_at)
SELECT id, package_id, level, clock, occurrence, clock_due_at, due_at, relation, status, recorded_at
FROM escalations_before_0005 ORDER BY id;
DROP TABLE escalations_before_0005;
CREATE INDEX escalations_package_id ON escalations (package_id, id);

-- No flood at the upgrade: a package open now has never been reviewed
-- here, and counting its clock from receipt would make nearly every one
-- overdue at once. Its clock starts now instead (never before receipt), so
-- its first review falls due one interval after the upgrade. Its
-- `next_due_at` is brought forward to now so the scheduler's next pass
-- plans it again with the review clock (a stored `next_due_at` knows only
-- the clocks of the ladder that computed it); that pass finds nothing due
-- that was not due before, and stores the next instant, the review's
-- included. Same text form as the store writes: RFC 3339 with "+00:00".
UPDATE packages
SET review_clock_started_at = max(received_at, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    next_due_at = CASE
        WHEN next_due_at IS NULL OR next_due_at > strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
        THEN strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
        ELSE next_due_at END
WHERE clock_stopped_at IS NULL;

-- The ledger says so, so the reports (folded from events) start these
-- clocks where the package does; each write has its audit line.
INSERT INTO package_events
    (package_id, kind, occurred_at, recorded_at, actor, risk_grade, stage, deadline_at, details)
SELECT id, 'review_clock_started', review_clock_started_at, review_clock_started_at,
       'migration', risk_grade, stage, deadline_at, '{"kind":"review_clock_started"}'
FROM packages WHERE review_clock_started_at IS NOT NULL ORDER BY id;

INSERT INTO audit_log (at, actor, action, reference, request_id, detail)
SELECT review_clock_started_at, 'migration', 'package.review_clock_started', reference, NULL, NULL
FROM packages WHERE review_clock_started_at IS NOT NULL ORDER BY id;
