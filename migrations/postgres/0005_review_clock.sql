-- The review clock (issue 13): while a package is open a supervisor reviews
-- its risk at an interval set by its grade. `review_clock_started_at` is
-- where the clock last restarted: the last review, or this upgrade; NULL
-- runs it from receipt (every package received from now on). Same rules as
-- migrations/sqlite/0005_review_clock.sql; keep the two in step.
ALTER TABLE packages ADD COLUMN review_clock_started_at TIMESTAMPTZ;

-- Escalations may now be on the review clock.
ALTER TABLE escalations DROP CONSTRAINT escalations_clock_check;
ALTER TABLE escalations ADD CONSTRAINT escalations_clock_check
    CHECK (clock IN ('enforcement', 'safeguarding', 'review'));

-- No flood at the upgrade: a package open now has never been reviewed
-- here, and counting its clock from receipt would make nearly every one
-- overdue at once. Its clock starts now instead (never before receipt), so
-- its first review falls due one interval after the upgrade. Its
-- `next_due_at` is brought forward to now so the scheduler's next pass
-- plans it again with the review clock (a stored `next_due_at` knows only
-- the clocks of the ladder that computed it); that pass finds nothing due
-- that was not due before, and stores the next instant, the review's
-- included. now() is the transaction's start: one instant for every row.
UPDATE packages
SET review_clock_started_at = GREATEST(received_at, date_trunc('milliseconds', now())),
    next_due_at = LEAST(COALESCE(next_due_at, date_trunc('milliseconds', now())),
                        date_trunc('milliseconds', now()))
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
