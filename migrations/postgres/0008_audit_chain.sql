-- The audit log's hash chain. Same tables, columns and rules as
-- migrations/sqlite/0008_audit_chain.sql (which says why); keep the two in
-- step. Here several replicas append at once: a seal locks the one row of
-- `audit_chain_head` (SELECT ... FOR UPDATE) until its transaction ends, so
-- the chain has one order whatever the writers.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN reference_nonce TEXT;
ALTER TABLE audit_log ADD COLUMN reference_digest TEXT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;

CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE INDEX audit_log_unchained ON audit_log (id) WHERE hash IS NULL;

CREATE TABLE audit_chain_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL CHECK (seq >= 0),
    hash TEXT NOT NULL CHECK (length(hash) = 64)
);
INSERT INTO audit_chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_seal_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL
        AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor
        AND NEW.action = OLD.action
        AND NEW.reference IS NOT DISTINCT FROM OLD.reference
        AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
        AND NEW.detail IS NOT DISTINCT FROM OLD.detail THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

DROP TRIGGER audit_log_no_update_or_delete ON audit_log;
CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_seal_once();

CREATE TABLE audit_verification (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    verified_at TIMESTAMPTZ NOT NULL,
    ok BOOLEAN NOT NULL,
    lines BIGINT NOT NULL CHECK (lines >= 0),
    head TEXT,
    failure TEXT
);
