-- Counters behind the current position and the delivery figures (issue 14),
-- kept by triggers in the same transaction as every write, so that
-- `/api/v1/status`, `/metrics` and the dashboard read a few rows rather than
-- every open package and every message ever queued.
--
-- The position's time-dependent figures (breached; due within 48 hours or
-- 7 days) change with the clock as well as with writes. Each is a count of
-- open packages whose deadline is at or before an instant, and such a count
-- at any instant X is the count at a mark M plus (or less) the open packages
-- whose deadline lies between M and X: `position_mark` holds M (and M + 48
-- hours, M + 7 days), the counters hold the counts at those instants, and the
-- service moves the mark forward every minute (store `advance_position_mark`),
-- so what a read adds is bounded by the deadlines of about a minute.
-- The first mark is 1970: no deadline is before it, so every count is 0.
CREATE TABLE position_mark (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    at TIMESTAMPTZ NOT NULL,
    at_48h TIMESTAMPTZ NOT NULL,
    at_7d TIMESTAMPTZ NOT NULL
);
INSERT INTO position_mark (id, at, at_48h, at_7d)
VALUES (1, '1970-01-01T00:00:00Z', '1970-01-03T00:00:00Z', '1970-01-08T00:00:00Z');

-- Per stage, grade and LPA: the packages, and of the open ones those whose
-- deadline is at or before the mark, the mark + 48 hours, the mark + 7 days.
CREATE TABLE position_counts (
    stage TEXT NOT NULL,
    risk_grade TEXT NOT NULL,
    lpa TEXT NOT NULL,
    packages BIGINT NOT NULL DEFAULT 0,
    due_by_mark BIGINT NOT NULL DEFAULT 0,
    due_by_mark_48h BIGINT NOT NULL DEFAULT 0,
    due_by_mark_7d BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (stage, risk_grade, lpa)
);

INSERT INTO position_counts (stage, risk_grade, lpa, packages)
SELECT stage, risk_grade, lpa, COUNT(*) FROM packages GROUP BY stage, risk_grade, lpa;

-- Statement-level, over the transition tables: an import of a million rows
-- adds its counts in one aggregate rather than a million trigger calls.
-- The mark is read FOR SHARE, so moving it (FOR UPDATE) waits for writers
-- that counted against the old mark to commit, and writers after it count
-- against the new one: no package is counted on both sides or neither.
CREATE FUNCTION position_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mark position_mark%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Most updates (the scheduler's next_due_at) change nothing counted.
        PERFORM 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.stage, o.risk_grade, o.lpa, o.deadline_at)
            IS DISTINCT FROM (n.stage, n.risk_grade, n.lpa, n.deadline_at)
        LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT * INTO mark FROM position_mark WHERE id = 1 FOR SHARE;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO position_counts AS c
            (stage, risk_grade, lpa, packages, due_by_mark, due_by_mark_48h, due_by_mark_7d)
        SELECT stage, risk_grade, lpa, -COUNT(*),
            -COUNT(*) FILTER (WHERE stage IN ('intelligence_development', 'awaiting_enforcement') AND deadline_at <= mark.at),
            -COUNT(*) FILTER (WHERE stage IN ('intelligence_development', 'awaiting_enforcement') AND deadline_at <= mark.at_48h),
            -COUNT(*) FILTER (WHERE stage IN ('intelligence_development', 'awaiting_enforcement') AND deadline_at <= mark.at_7d)
        FROM old_rows GROUP BY stage, risk_grade, lpa
        ORDER BY stage, risk_grade, lpa
        ON CONFLICT (stage, risk_grade, lpa) DO UPDATE SET
            packages = c.packages + EXCLUDED.packages,
            due_by_mark = c.due_by_mark + EXCLUDED.due_by_mark,
            due_by_mark_48h = c.due_by_mark_48h + EXCLUDED.due_by_mark_48h,
            due_by_mark_7d = c.due_by_mark_7d + EXCLUDED.due_by_mark_7d;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO position_counts AS c
            (stage, risk_grade, lpa, packages, due_by_mark, due_by_mark_48h, due_by_mark_7d)
        SELECT stage, risk_grade, lpa, COUNT(*),
            COUNT(*) FILTER (WHERE stage IN ('intelligence_development', 'awaiting_enforcement') AND deadline_at <= mark.at),
            COUNT(*) FILTER (WHERE stage IN ('intelligence_development', 'awaiting_enforcement') AND deadline_at <= mark.at_48h),
            COUNT(*) FILTER (WHERE stage IN ('intelligence_development', 'awaiting_enforcement') AND deadline_at <= mark.at_7d)
        FROM new_rows GROUP BY stage, risk_grade, lpa
        ORDER BY stage, risk_grade, lpa
        ON CONFLICT (stage, risk_grade, lpa) DO UPDATE SET
            packages = c.packages + EXCLUDED.packages,
            due_by_mark = c.due_by_mark + EXCLUDED.due_by_mark,
            due_by_mark_48h = c.due_by_mark_48h + EXCLUDED.due_by_mark_48h,
            due_by_mark_7d = c.due_by_mark_7d + EXCLUDED.due_by_mark_7d;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER position_counts_insert AFTER INSERT ON packages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION position_counts_apply();
CREATE TRIGGER position_counts_update AFTER UPDATE ON packages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION position_counts_apply();
CREATE TRIGGER position_counts_delete AFTER DELETE ON packages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION position_counts_apply();

-- The oldest open package per stage, grade and LPA is one index step.
CREATE INDEX packages_oldest ON packages (stage, risk_grade, lpa, received_at);

-- Messages per status, and the failed sends that were retried, as
-- `DELIVERY_COUNTS` counted them from every row. Each connection adds to
-- its own shard (its backend's process id modulo 8), so passes and
-- dispatchers on several replicas do not queue behind one hot row.
CREATE TABLE delivery_counts (
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    shard INTEGER NOT NULL DEFAULT 0,
    messages BIGINT NOT NULL DEFAULT 0,
    retries BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (status, shard)
);

INSERT INTO delivery_counts (status, shard, messages, retries)
SELECT status, 0, COUNT(*), COALESCE(SUM(CASE WHEN status <> 'dead' THEN attempts
    WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0)
FROM outbox GROUP BY status;

CREATE FUNCTION delivery_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    my_shard INTEGER := pg_backend_pid() % 8;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.status, o.attempts) IS DISTINCT FROM (n.status, n.attempts)
        LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO delivery_counts AS c (status, shard, messages, retries)
        SELECT status, my_shard, -COUNT(*),
            -SUM(CASE WHEN status <> 'dead' THEN attempts WHEN attempts > 1 THEN attempts - 1 ELSE 0 END)
        FROM old_rows GROUP BY status ORDER BY status
        ON CONFLICT (status, shard) DO UPDATE SET
            messages = c.messages + EXCLUDED.messages,
            retries = c.retries + EXCLUDED.retries;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO delivery_counts AS c (status, shard, messages, retries)
        SELECT status, my_shard, COUNT(*),
            SUM(CASE WHEN status <> 'dead' THEN attempts WHEN attempts > 1 THEN attempts - 1 ELSE 0 END)
        FROM new_rows GROUP BY status ORDER BY status
        ON CONFLICT (status, shard) DO UPDATE SET
            messages = c.messages + EXCLUDED.messages,
            retries = c.retries + EXCLUDED.retries;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER delivery_counts_insert AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_apply();
CREATE TRIGGER delivery_counts_update AFTER UPDATE ON outbox
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_apply();
CREATE TRIGGER delivery_counts_delete AFTER DELETE ON outbox
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_apply();
