-- Retention (issue 16): a package whose clock stopped longer ago than
-- `[retention] keep_stopped_for` has its reference, officer and notes
-- replaced by keyed pseudonyms (src/store/retention.rs); its grades,
-- stages, dates and outcome stay, so every report's figures do too.
-- `purged_at` says when; a purged package is never purged again.
ALTER TABLE packages ADD COLUMN purged_at TEXT;

-- What a run takes: stopped clocks not yet purged, oldest first, found
-- without reading the open packages or the purged ones.
CREATE INDEX packages_purgeable ON packages (clock_stopped_at)
    WHERE purged_at IS NULL AND clock_stopped_at IS NOT NULL;
-- A purged package's audit lines, whatever the case each was written in
-- (a read of `d-2` is about `D-2`).
CREATE INDEX audit_log_reference_folded ON audit_log (lower(reference));

-- The service's daily runs, one row per local day in the force time zone,
-- inserted in the transaction of the purge it records: whatever the
-- replicas, a day's run happens once (the second insert finds the day
-- taken and purges nothing). Runs on demand (`retention run`) are not
-- recorded here, only in the audit log.
CREATE TABLE retention_runs (
    day TEXT NOT NULL PRIMARY KEY,
    ran_at TEXT NOT NULL,
    keep_stopped_for TEXT NOT NULL,
    stopped_before TEXT NOT NULL,
    packages INTEGER NOT NULL CHECK (packages >= 0)
) STRICT;

-- The ledger stays append-only, except the purge: an event of a purged
-- package may have its `details` rewritten (officers and notes replaced),
-- and nothing else of it.
DROP TRIGGER package_events_no_update;
CREATE TRIGGER package_events_no_update BEFORE UPDATE ON package_events
WHEN NOT (
    NEW.id IS OLD.id AND NEW.package_id IS OLD.package_id AND NEW.kind IS OLD.kind
    AND NEW.occurred_at IS OLD.occurred_at AND NEW.recorded_at IS OLD.recorded_at
    AND NEW.actor IS OLD.actor AND NEW.risk_grade IS OLD.risk_grade
    AND NEW.stage IS OLD.stage AND NEW.deadline_at IS OLD.deadline_at
    AND EXISTS (SELECT 1 FROM packages WHERE id = OLD.package_id AND purged_at IS NOT NULL)
)
BEGIN
    SELECT RAISE(ABORT, 'package_events is append-only');
END;

-- The audit log stays append-only, except two updates: the seal (chain
-- columns set once on a line that has none, as in 0008), and the purge's
-- (a sealed line's reference replaced by the pseudonym of a purged
-- package and its reference nonce cleared, every other column as it was).
-- The line's hash covers the reference's digest, not the reference, so
-- the chain still verifies.
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (
    NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor
    AND NEW.action IS OLD.action AND NEW.request_id IS OLD.request_id
    AND NEW.detail IS OLD.detail
    AND (
        (OLD.hash IS NULL AND NEW.reference IS OLD.reference)
        OR (OLD.hash IS NOT NULL AND OLD.reference IS NOT NULL
            AND NEW.reference_nonce IS NULL
            AND NEW.seq IS OLD.seq AND NEW.reference_digest IS OLD.reference_digest
            AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash
            AND EXISTS (SELECT 1 FROM packages
                        WHERE reference = NEW.reference AND purged_at IS NOT NULL))
    )
)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
