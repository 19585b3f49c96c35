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
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL,
    at_48h TEXT NOT NULL,
    at_7d TEXT NOT NULL
);
INSERT INTO position_mark (id, at, at_48h, at_7d)
VALUES (1, '1970-01-01T00:00:00+00:00', '1970-01-03T00:00:00+00:00', '1970-01-08T00:00:00+00:00');

-- Per stage, grade and LPA: the packages, and of the open ones those whose
-- deadline is at or before the mark, the mark + 48 hours, the mark + 7 days.
CREATE TABLE position_counts (
    stage TEXT NOT NULL,
    risk_grade TEXT NOT NULL,
    lpa TEXT NOT NULL,
    packages INTEGER NOT NULL DEFAULT 0,
    due_by_mark INTEGER NOT NULL DEFAULT 0,
    due_by_mark_48h INTEGER NOT NULL DEFAULT 0,
    due_by_mark_7d INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stage, risk_grade, lpa)
) WITHOUT ROWID;

INSERT INTO position_counts (stage, risk_grade, lpa, packages)
SELECT stage, risk_grade, lpa, COUNT(*) FROM packages GROUP BY stage, risk_grade, lpa;

CREATE TRIGGER position_counts_insert AFTER INSERT ON packages
BEGIN
    INSERT OR IGNORE INTO position_counts (stage, risk_grade, lpa)
    VALUES (NEW.stage, NEW.risk_grade, NEW.lpa);
    UPDATE position_counts SET
        packages = packages + 1,
        due_by_mark = due_by_mark + (NEW.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND NEW.deadline_at <= (SELECT at FROM position_mark)),
        due_by_mark_48h = due_by_mark_48h + (NEW.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND NEW.deadline_at <= (SELECT at_48h FROM position_mark)),
        due_by_mark_7d = due_by_mark_7d + (NEW.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND NEW.deadline_at <= (SELECT at_7d FROM position_mark))
    WHERE stage = NEW.stage AND risk_grade = NEW.risk_grade AND lpa = NEW.lpa;
END;

-- Only the columns the counts depend on: the scheduler's `next_due_at`
-- updates fire nothing.
CREATE TRIGGER position_counts_update AFTER UPDATE OF stage, risk_grade, lpa, deadline_at ON packages
WHEN OLD.stage IS NOT NEW.stage OR OLD.risk_grade IS NOT NEW.risk_grade
    OR OLD.lpa IS NOT NEW.lpa OR OLD.deadline_at IS NOT NEW.deadline_at
BEGIN
    UPDATE position_counts SET
        packages = packages - 1,
        due_by_mark = due_by_mark - (OLD.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND OLD.deadline_at <= (SELECT at FROM position_mark)),
        due_by_mark_48h = due_by_mark_48h - (OLD.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND OLD.deadline_at <= (SELECT at_48h FROM position_mark)),
        due_by_mark_7d = due_by_mark_7d - (OLD.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND OLD.deadline_at <= (SELECT at_7d FROM position_mark))
    WHERE stage = OLD.stage AND risk_grade = OLD.risk_grade AND lpa = OLD.lpa;
    INSERT OR IGNORE INTO position_counts (stage, risk_grade, lpa)
    VALUES (NEW.stage, NEW.risk_grade, NEW.lpa);
    UPDATE position_counts SET
        packages = packages + 1,
        due_by_mark = due_by_mark + (NEW.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND NEW.deadline_at <= (SELECT at FROM position_mark)),
        due_by_mark_48h = due_by_mark_48h + (NEW.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND NEW.deadline_at <= (SELECT at_48h FROM position_mark)),
        due_by_mark_7d = due_by_mark_7d + (NEW.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND NEW.deadline_at <= (SELECT at_7d FROM position_mark))
    WHERE stage = NEW.stage AND risk_grade = NEW.risk_grade AND lpa = NEW.lpa;
END;

-- Packages are not deleted today (a restore replaces the whole file); a
-- future purge that deletes rows keeps the counts right.
CREATE TRIGGER position_counts_delete AFTER DELETE ON packages
BEGIN
    UPDATE position_counts SET
        packages = packages - 1,
        due_by_mark = due_by_mark - (OLD.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND OLD.deadline_at <= (SELECT at FROM position_mark)),
        due_by_mark_48h = due_by_mark_48h - (OLD.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND OLD.deadline_at <= (SELECT at_48h FROM position_mark)),
        due_by_mark_7d = due_by_mark_7d - (OLD.stage IN ('intelligence_development', 'awaiting_enforcement')
            AND OLD.deadline_at <= (SELECT at_7d FROM position_mark))
    WHERE stage = OLD.stage AND risk_grade = OLD.risk_grade AND lpa = OLD.lpa;
END;

-- The oldest open package per stage, grade and LPA is one index step.
CREATE INDEX packages_oldest ON packages (stage, risk_grade, lpa, received_at);

-- Messages per status, and the failed sends that were retried, as
-- `DELIVERY_COUNTS` counted them from every row. `shard` spreads a
-- backend's writers over rows (PostgreSQL); SQLite has one writer, shard 0.
CREATE TABLE delivery_counts (
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    shard INTEGER NOT NULL DEFAULT 0,
    messages INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (status, shard)
) WITHOUT ROWID;

INSERT INTO delivery_counts (status, shard, messages, retries)
SELECT status, 0, COUNT(*), COALESCE(SUM(CASE WHEN status <> 'dead' THEN attempts
    WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0)
FROM outbox GROUP BY status;
INSERT OR IGNORE INTO delivery_counts (status) VALUES ('pending'), ('sending'), ('sent'), ('dead');

CREATE TRIGGER delivery_counts_insert AFTER INSERT ON outbox
BEGIN
    UPDATE delivery_counts SET
        messages = messages + 1,
        retries = retries + CASE WHEN NEW.status <> 'dead' THEN NEW.attempts
            WHEN NEW.attempts > 1 THEN NEW.attempts - 1 ELSE 0 END
    WHERE status = NEW.status AND shard = 0;
END;

CREATE TRIGGER delivery_counts_update AFTER UPDATE OF status, attempts ON outbox
WHEN OLD.status IS NOT NEW.status OR OLD.attempts IS NOT NEW.attempts
BEGIN
    UPDATE delivery_counts SET
        messages = messages - 1,
        retries = retries - CASE WHEN OLD.status <> 'dead' THEN OLD.attempts
            WHEN OLD.attempts > 1 THEN OLD.attempts - 1 ELSE 0 END
    WHERE status = OLD.status AND shard = 0;
    UPDATE delivery_counts SET
        messages = messages + 1,
        retries = retries + CASE WHEN NEW.status <> 'dead' THEN NEW.attempts
            WHEN NEW.attempts > 1 THEN NEW.attempts - 1 ELSE 0 END
    WHERE status = NEW.status AND shard = 0;
END;

CREATE TRIGGER delivery_counts_delete AFTER DELETE ON outbox
BEGIN
    UPDATE delivery_counts SET
        messages = messages - 1,
        retries = retries - CASE WHEN OLD.status <> 'dead' THEN OLD.attempts
            WHEN OLD.attempts > 1 THEN OLD.attempts - 1 ELSE 0 END
    WHERE status = OLD.status AND shard = 0;
END;
