-- The oldest receipt per stage, grade and LPA kept beside the counts
-- (issue 14), so the position reads it from the counters' row rather than
-- by one index step per group at every read (56 steps, most of a read's
-- time at a million packages): a package that joins a group can only lower
-- its oldest; one that leaves it (or whose receipt changes) has the
-- group's oldest found again by one step of `packages_oldest`. NULL when
-- the group holds no package.
ALTER TABLE position_counts ADD COLUMN oldest_received_at TIMESTAMPTZ;

UPDATE position_counts c SET oldest_received_at = (
    SELECT MIN(p.received_at) FROM packages p
    WHERE p.stage = c.stage AND p.risk_grade = c.risk_grade AND p.lpa = c.lpa);

-- Statement-level over the transition tables, as the counts are. Triggers
-- on one event fire in name order, so this one (`position_oldest_*`) runs
-- after the counts' (`position_counts_*`), which made every group's row.
CREATE FUNCTION position_oldest_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Joining only lowers the oldest. The upsert takes the row's lock
        -- and compares with its latest committed value.
        INSERT INTO position_counts AS c (stage, risk_grade, lpa, oldest_received_at)
        SELECT stage, risk_grade, lpa, MIN(received_at)
        FROM new_rows GROUP BY stage, risk_grade, lpa
        ORDER BY stage, risk_grade, lpa
        ON CONFLICT (stage, risk_grade, lpa) DO UPDATE SET
            oldest_received_at = LEAST(c.oldest_received_at, EXCLUDED.oldest_received_at);
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- Most updates (the scheduler's next_due_at) move no package
        -- between groups and change no receipt.
        PERFORM 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.stage, o.risk_grade, o.lpa, o.received_at)
            IS DISTINCT FROM (n.stage, n.risk_grade, n.lpa, n.received_at)
        LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        -- Lock the groups' rows first (in one order, as the counts do),
        -- then find each oldest in a later statement: under READ COMMITTED
        -- that statement's snapshot is taken after the locks are granted,
        -- so it sees every write to these groups that committed before.
        PERFORM 1 FROM position_counts c
        WHERE (c.stage, c.risk_grade, c.lpa) IN
            (SELECT stage, risk_grade, lpa FROM old_rows UNION SELECT stage, risk_grade, lpa FROM new_rows)
        ORDER BY c.stage, c.risk_grade, c.lpa
        FOR UPDATE;
        UPDATE position_counts c SET oldest_received_at = (
            SELECT MIN(p.received_at) FROM packages p
            WHERE p.stage = c.stage AND p.risk_grade = c.risk_grade AND p.lpa = c.lpa)
        WHERE (c.stage, c.risk_grade, c.lpa) IN
            (SELECT stage, risk_grade, lpa FROM old_rows UNION SELECT stage, risk_grade, lpa FROM new_rows);
    ELSE
        PERFORM 1 FROM position_counts c
        WHERE (c.stage, c.risk_grade, c.lpa) IN (SELECT stage, risk_grade, lpa FROM old_rows)
        ORDER BY c.stage, c.risk_grade, c.lpa
        FOR UPDATE;
        UPDATE position_counts c SET oldest_received_at = (
            SELECT MIN(p.received_at) FROM packages p
            WHERE p.stage = c.stage AND p.risk_grade = c.risk_grade AND p.lpa = c.lpa)
        WHERE (c.stage, c.risk_grade, c.lpa) IN (SELECT stage, risk_grade, lpa FROM old_rows);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER position_oldest_insert AFTER INSERT ON packages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION position_oldest_apply();
CREATE TRIGGER position_oldest_update AFTER UPDATE ON packages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION position_oldest_apply();
CREATE TRIGGER position_oldest_delete AFTER DELETE ON packages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION position_oldest_apply();
