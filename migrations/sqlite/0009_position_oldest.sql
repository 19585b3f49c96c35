-- The oldest receipt per stage, grade and LPA kept beside the counts
-- (issue 14), so the position reads it from the counters' row rather than
-- by one index step per group at every read: a package that joins a group
-- can only lower its oldest; one that leaves it (or whose receipt changes)
-- has the group's oldest found again by one step of `packages_oldest`.
-- NULL when the group holds no package.
ALTER TABLE position_counts ADD COLUMN oldest_received_at TEXT;

UPDATE position_counts SET oldest_received_at = (
    SELECT MIN(p.received_at) FROM packages p INDEXED BY packages_oldest
    WHERE p.stage = position_counts.stage AND p.risk_grade = position_counts.risk_grade
        AND p.lpa = position_counts.lpa);

-- INSERT OR IGNORE then UPDATE, as the counts' own triggers do, so it does
-- not matter which of the two triggers on the same write runs first.
CREATE TRIGGER position_oldest_insert AFTER INSERT ON packages
BEGIN
    INSERT OR IGNORE INTO position_counts (stage, risk_grade, lpa)
    VALUES (NEW.stage, NEW.risk_grade, NEW.lpa);
    UPDATE position_counts SET oldest_received_at = NEW.received_at
    WHERE stage = NEW.stage AND risk_grade = NEW.risk_grade AND lpa = NEW.lpa
        AND (oldest_received_at IS NULL OR NEW.received_at < oldest_received_at);
END;

CREATE TRIGGER position_oldest_update AFTER UPDATE OF stage, risk_grade, lpa, received_at ON packages
WHEN OLD.stage IS NOT NEW.stage OR OLD.risk_grade IS NOT NEW.risk_grade
    OR OLD.lpa IS NOT NEW.lpa OR OLD.received_at IS NOT NEW.received_at
BEGIN
    UPDATE position_counts SET oldest_received_at = (
        SELECT MIN(p.received_at) FROM packages p INDEXED BY packages_oldest
        WHERE p.stage = OLD.stage AND p.risk_grade = OLD.risk_grade AND p.lpa = OLD.lpa)
    WHERE stage = OLD.stage AND risk_grade = OLD.risk_grade AND lpa = OLD.lpa;
    INSERT OR IGNORE INTO position_counts (stage, risk_grade, lpa)
    VALUES (NEW.stage, NEW.risk_grade, NEW.lpa);
    UPDATE position_counts SET oldest_received_at = (
        SELECT MIN(p.received_at) FROM packages p INDEXED BY packages_oldest
        WHERE p.stage = NEW.stage AND p.risk_grade = NEW.risk_grade AND p.lpa = NEW.lpa)
    WHERE stage = NEW.stage AND risk_grade = NEW.risk_grade AND lpa = NEW.lpa;
END;

CREATE TRIGGER position_oldest_delete AFTER DELETE ON packages
BEGIN
    UPDATE position_counts SET oldest_received_at = (
        SELECT MIN(p.received_at) FROM packages p INDEXED BY packages_oldest
        WHERE p.stage = OLD.stage AND p.risk_grade = OLD.risk_grade AND p.lpa = OLD.lpa)
    WHERE stage = OLD.stage AND risk_grade = OLD.risk_grade AND lpa = OLD.lpa;
END;
