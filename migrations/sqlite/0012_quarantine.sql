-- Bad rows set aside (issue 16): a package row the code can no longer
-- read (a value it does not accept) is flagged by the scheduler's pass that
-- meets it, with why, and every pass skips it from then on (its
-- `next_due_at` is cleared, so no claim reads it again); an outbox message
-- whose stored JSON cannot be read is flagged the same way and given up
-- (`dead`), so the messages behind it to the same destination go on.
-- `quarantine list` shows them; the status and /metrics count them.
ALTER TABLE packages ADD COLUMN quarantined_at TEXT;
ALTER TABLE packages ADD COLUMN quarantine_reason TEXT;
ALTER TABLE outbox ADD COLUMN quarantined_at TEXT;
ALTER TABLE outbox ADD COLUMN quarantine_reason TEXT;

-- Counted and listed from these alone: a handful of rows, if any.
CREATE INDEX packages_quarantined ON packages (quarantined_at) WHERE quarantined_at IS NOT NULL;
CREATE INDEX outbox_quarantined ON outbox (quarantined_at) WHERE quarantined_at IS NOT NULL;
