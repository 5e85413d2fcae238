-- The order in which events were stored, for `callhook serve`'s live events (`GET /api/events`):
-- `seq` only grows, whatever the clock does, so a client that reconnects with the last event it
-- saw gets every event stored after it exactly once, late ones from the fallback log included.
-- Events have no rowid (their id is their key); this is the one place their order of storage is
-- kept. `callhook prune` removes the entries of the events it deletes.
CREATE TABLE event_feed (
    seq      INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL
);
