-- References are unique whatever their case: `D-2` and `d-2` name one
-- package. The spelling first given is kept; `lower(reference)` is unique
-- and is what a look-up by reference compares (SQLite's lower() folds ASCII
-- letters only, and a reference is ASCII: domain::Reference).
--
-- A ledger that already holds two references differing only in case cannot
-- take the index: this migration stops with the message below and changes
-- nothing. Rename one of each pair (README, "References"), then start again.
-- RAISE works only inside a trigger, hence the temporary table and trigger.
CREATE TEMP TABLE reference_case_check (n INTEGER);
CREATE TEMP TRIGGER reference_case_check_refuses BEFORE INSERT ON reference_case_check
WHEN EXISTS (SELECT 1 FROM packages GROUP BY lower(reference) HAVING COUNT(*) > 1)
BEGIN
    SELECT RAISE(ABORT, 'references differing only in case must be made distinct before upgrading: find them with SELECT lower(reference), group_concat(reference) FROM packages GROUP BY 1 HAVING COUNT(*) > 1');
END;
INSERT INTO reference_case_check VALUES (1);
DROP TRIGGER reference_case_check_refuses;
DROP TABLE reference_case_check;

CREATE UNIQUE INDEX packages_reference_folded ON packages (lower(reference));
