-- The audit log's hash chain: each line carries its place in one chain
-- (`seq`, 1, 2, 3... with no gap), the hash of the line before it
-- (`prev_hash`; 64 zeros before the first) and its own `hash`, hex
-- SHA-256 over a length-prefixed encoding of every column and the previous
-- hash (src/store/chain.rs says exactly which bytes). The service computes
-- them in Rust, in the transaction that appends the line, while it holds
-- the chain's head (`audit_chain_head`): SQLite has no SHA-256 in SQL, and
-- one mechanism serves every write path on both backends. A line is
-- appended with these columns empty and sealed before its transaction
-- commits; the one update the append-only trigger lets through is that
-- sealing, once.
--
-- The reference is hashed through its own commitment: `reference_digest`
-- is SHA-256 of a random `reference_nonce` and the reference, and the line's
-- hash covers the digest, not the reference. A retention purge may then
-- replace the reference by a pseudonym and clear the nonce: the chain still
-- verifies, and the digest no longer reveals the reference (the nonce is
-- gone, so it cannot be found by trying every reference).
--
-- Lines written before this migration are chained, in id order, by the
-- first seal after it (the service's and every command's `migrate` seals
-- at once): they start the chain at seq 1, after the genesis hash.
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
ALTER TABLE audit_log ADD COLUMN reference_nonce TEXT;
ALTER TABLE audit_log ADD COLUMN reference_digest TEXT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;

-- The walk of `audit verify`, and the head at an instant.
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
-- The lines a seal has to chain: a handful, found without a scan.
CREATE INDEX audit_log_unchained ON audit_log (id) WHERE hash IS NULL;

-- The chain's last line: sealing reads and moves it in the appending
-- transaction (SQLite's write transaction already serialises writers).
CREATE TABLE audit_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL CHECK (seq >= 0),
    hash TEXT NOT NULL CHECK (length(hash) = 64)
) STRICT;
INSERT INTO audit_chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only, except the seal: chain columns set once on a line that has
-- none, nothing else changed.
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.hash IS NOT NULL
    OR NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at OR NEW.actor IS NOT OLD.actor
    OR NEW.action IS NOT OLD.action OR NEW.reference IS NOT OLD.reference
    OR NEW.request_id IS NOT OLD.request_id OR NEW.detail IS NOT OLD.detail
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The last verification of the chain (`audit verify`, or the service at
-- start and daily), for /metrics.
CREATE TABLE audit_verification (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    verified_at TEXT NOT NULL,
    ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
    -- Lines in the chain when it verified; the head as SEQ:HASH.
    lines INTEGER NOT NULL CHECK (lines >= 0),
    head TEXT,
    -- Why not, when not.
    failure TEXT
) STRICT;
