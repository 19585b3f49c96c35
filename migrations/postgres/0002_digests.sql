-- Digests: each weekly or daily digest queued for a recipient. A scheduled
-- run is recorded under its occurrence key (`weekly/2024-W05`) once per
-- recipient, in the transaction that queues its message, so restarts and
-- several instances never send it twice. A digest sent on demand
-- (`digest send`) has no occurrence key and never conflicts.
--
-- From this migration on, outbox.notice holds JSON of notify::Payload: an
-- escalation notice (as before) or a rendered digest.
CREATE TABLE digests (
    id BIGSERIAL PRIMARY KEY,
    -- The `[[digest]]` schedule's name, or `on-demand`.
    schedule TEXT NOT NULL,
    -- What it reports: `2024-W05` or `2024-02-03`.
    period TEXT NOT NULL,
    -- `{schedule}/{period}` for a scheduled run; NULL on demand.
    occurrence TEXT COLLATE "C",
    -- The email address.
    recipient TEXT COLLATE "C" NOT NULL,
    -- Its message (set in the transaction that records it).
    outbox_id BIGINT REFERENCES outbox (id),
    -- Who asked: `service:digest` or the CLI user.
    requested_by TEXT NOT NULL,
    queued_at TIMESTAMPTZ NOT NULL
);

-- Once per scheduled run and recipient (NULLs are distinct: on-demand
-- sends never conflict).
CREATE UNIQUE INDEX digests_once ON digests (occurrence, recipient);
