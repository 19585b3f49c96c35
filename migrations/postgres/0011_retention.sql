-- Retention (issue 16). Same columns, table and rules as
-- migrations/sqlite/0011_retention.sql (which says why); keep the two in
-- step.
ALTER TABLE packages ADD COLUMN purged_at TIMESTAMPTZ;

-- What a run takes: stopped clocks not yet purged, oldest first, found
-- without reading the open packages or the purged ones.
CREATE INDEX packages_purgeable ON packages (clock_stopped_at)
    WHERE purged_at IS NULL AND clock_stopped_at IS NOT NULL;
-- A purged package's audit lines, whatever the case each was written in
-- (a read of `d-2` is about `D-2`).
CREATE INDEX audit_log_reference_folded ON audit_log (lower(reference));

CREATE TABLE retention_runs (
    -- The local day, as 2030-07-01 (text, as on SQLite).
    day TEXT NOT NULL PRIMARY KEY,
    ran_at TIMESTAMPTZ NOT NULL,
    keep_stopped_for TEXT NOT NULL,
    stopped_before TIMESTAMPTZ NOT NULL,
    packages BIGINT NOT NULL CHECK (packages >= 0)
);

-- The ledger: append-only, except a purged package's event `details`.
CREATE OR REPLACE FUNCTION package_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Nested: NEW is not there for a DELETE or a TRUNCATE.
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id = OLD.id AND NEW.package_id = OLD.package_id AND NEW.kind = OLD.kind
            AND NEW.occurred_at = OLD.occurred_at AND NEW.recorded_at = OLD.recorded_at
            AND NEW.actor = OLD.actor AND NEW.risk_grade = OLD.risk_grade
            AND NEW.stage = OLD.stage AND NEW.deadline_at = OLD.deadline_at
            AND EXISTS (SELECT 1 FROM packages
                        WHERE id = OLD.package_id AND purged_at IS NOT NULL)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'package_events is append-only';
END;
$$;

-- The audit log: the seal once, and the purge's reference replacement.
CREATE OR REPLACE FUNCTION audit_log_seal_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Nested: NEW is not there for a DELETE.
    IF TG_OP = 'UPDATE' THEN
      IF NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor
        AND NEW.action = OLD.action
        AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
        AND NEW.detail IS NOT DISTINCT FROM OLD.detail THEN
        IF OLD.hash IS NULL AND NEW.reference IS NOT DISTINCT FROM OLD.reference THEN
            RETURN NEW;
        END IF;
        IF OLD.hash IS NOT NULL AND OLD.reference IS NOT NULL
            AND NEW.reference_nonce IS NULL
            AND NEW.seq IS NOT DISTINCT FROM OLD.seq
            AND NEW.reference_digest IS NOT DISTINCT FROM OLD.reference_digest
            AND NEW.prev_hash IS NOT DISTINCT FROM OLD.prev_hash
            AND NEW.hash IS NOT DISTINCT FROM OLD.hash
            AND EXISTS (SELECT 1 FROM packages
                        WHERE reference = NEW.reference AND purged_at IS NOT NULL) THEN
            RETURN NEW;
        END IF;
      END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
