-- Digests: each weekly or daily digest queued for a recipient. A scheduled
-- run is recorded under its occurrence key (`weekly/2024-W05`) once per
-- recipient, in the transaction that queues its message, so restarts and
-- several instances never send it twice. A digest sent on demand
-- (`digest send`) has no occurrence key and never conflicts.
--
-- From this migration on, outbox.notice holds JSON of notify::Payload: an
-- escalation notice (as before) or a rendered digest.
CREATE TABLE digests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The `[[digest]]` schedule's name, or `on-demand`.
    schedule TEXT NOT NULL,
    -- What it reports: `2024-W05` or `2024-02-03`.
    period TEXT NOT NULL,
    -- `{schedule}/{period}` for a scheduled run; NULL on demand.
    occurrence TEXT,
    -- The email address.
    recipient TEXT NOT NULL,
    -- Its message (set in the transaction that records it).
    outbox_id INTEGER REFERENCES outbox (id),
    -- Who asked: `service:digest` or the CLI user.
    requested_by TEXT NOT NULL,
    queued_at TEXT NOT NULL
) STRICT;

-- Once per scheduled run and recipient (NULLs are distinct: on-demand
-- sends never conflict).
CREATE UNIQUE INDEX digests_once ON digests (occurrence, recipient);
