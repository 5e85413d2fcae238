-- Side effects, queued in the transaction that stores the event and delivered by the detached
-- worker (`callhook deliver`).

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('webhook', 'popup')),
    target       TEXT NOT NULL,             -- the webhook's name (or URL); 'popup'
    url          TEXT NOT NULL,             -- the endpoint, or the page the popup opens
    event_id     TEXT NOT NULL,             -- events.id: webhooks go out in this order
    call_id      TEXT NOT NULL,
    message_id   TEXT,                      -- webhook-id, the same for every attempt
    body         TEXT,                      -- the exact webhook body, the same for every attempt
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'delivered', 'failed', 'stopped', 'skipped')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,          -- not attempted before then (Unix ms)
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    last_status  INTEGER,                   -- HTTP status of the last attempt
    last_error   TEXT
);
CREATE INDEX outbox_due ON outbox (kind, next_at) WHERE status = 'pending';
CREATE INDEX outbox_queue ON outbox (target, event_id) WHERE status = 'pending';
CREATE INDEX outbox_by_status ON outbox (status, id);
CREATE INDEX outbox_by_target ON outbox (target, id);
-- One popup per call.
CREATE UNIQUE INDEX outbox_one_popup ON outbox (call_id) WHERE kind = 'popup';

-- One worker per lane ('popup', 'webhook') at a time; a lease lapses if its holder dies.
CREATE TABLE worker_leases (
    lane       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
