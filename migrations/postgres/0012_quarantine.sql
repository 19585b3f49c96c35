-- Bad rows set aside (issue 16). Same columns and rules as
-- migrations/sqlite/0012_quarantine.sql (which says why); keep the two in
-- step.
ALTER TABLE packages ADD COLUMN quarantined_at TIMESTAMPTZ;
ALTER TABLE packages ADD COLUMN quarantine_reason TEXT;
ALTER TABLE outbox ADD COLUMN quarantined_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN quarantine_reason TEXT;

CREATE INDEX packages_quarantined ON packages (quarantined_at) WHERE quarantined_at IS NOT NULL;
CREATE INDEX outbox_quarantined ON outbox (quarantined_at) WHERE quarantined_at IS NOT NULL;
