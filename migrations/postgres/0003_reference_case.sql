-- References are unique whatever their case: `D-2` and `d-2` name one
-- package. The spelling first given is kept; `lower(reference)` is unique
-- and is what a look-up by reference compares. The column's "C" collation
-- makes lower() fold ASCII letters only, as SQLite's does, and a reference
-- is ASCII (domain::Reference).
--
-- A ledger that already holds two references differing only in case cannot
-- take the index: this migration stops, naming them, and changes nothing.
-- Rename one of each pair in the case system and in the ledger (or remove
-- the package created by mistake), then start the service again.
DO $$
DECLARE
    clashes TEXT;
BEGIN
    SELECT string_agg(pair, '; ') INTO clashes FROM (
        SELECT string_agg(reference, ' and ' ORDER BY id) AS pair
        FROM packages GROUP BY lower(reference) HAVING COUNT(*) > 1
        ORDER BY 1 LIMIT 20
    ) AS duplicates;
    IF clashes IS NOT NULL THEN
        RAISE EXCEPTION 'references differing only in case must be made distinct before upgrading: %', clashes
            USING HINT = 'rename one package of each pair (README, "References"), then start again';
    END IF;
END
$$;

CREATE UNIQUE INDEX packages_reference_folded ON packages (lower(reference));
