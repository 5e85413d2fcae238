-- Team mode, the desk's side: its calls replicated to central (`[central]` in the config) by the
-- worker's central lane.

-- The one link of this desk to a central, made by the worker when `[central] url` and `key` are
-- set, and removed (with the queued changes) when they are taken out of the config. While there
-- is no row, the triggers below record nothing.
CREATE TABLE central_link (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    url             TEXT NOT NULL,              -- central, as `[central] url` names it
    desk            TEXT NOT NULL,              -- the desk's own name in its batches
    linked_at       INTEGER NOT NULL,
    -- The backfill of the log from before the link: calls in id order, a page per batch; the
    -- last call delivered, so that a backfill cut short goes on from there.
    backfill_cursor TEXT,
    backfill_done   INTEGER NOT NULL DEFAULT 0,
    -- The revision the backfill's calls go with: a number of `central_changes`' sequence kept
    -- for it when the link was made, above every revision sent before (a desk that was linked,
    -- unlinked and linked again sends its calls as they are now, and central takes them) and
    -- below every change queued after.
    backfill_revision INTEGER NOT NULL DEFAULT 0,
    batch_bytes     INTEGER,                    -- halved by each 413; NULL: the default
    attempts        INTEGER NOT NULL DEFAULT 0, -- failed attempts since the last success
    next_at         INTEGER NOT NULL,           -- no attempt before then (Unix ms)
    last_status     INTEGER,                    -- HTTP status of the last attempt
    last_error      TEXT,
    last_ok_at      INTEGER
);

-- The calls changed since central last took them: a row per change (a call's revision is the
-- highest `seq` of its changes, so every change must count). AUTOINCREMENT: a `seq` is never
-- used twice, even after the delivered changes are deleted, so that revisions only grow. No
-- index: the worker reads the queue in `seq` order, and each index would cost every hook.
CREATE TABLE central_changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL
);

-- Every process that opens the database parses these, and each statement that writes a call or
-- an event carries them: they are kept to the fewest words. `SELECT … FROM central_link` queues
-- a change only while the link's row exists; without it, it reads an empty table and writes
-- nothing, so that a desk without central pays almost nothing.
CREATE TRIGGER central_call_inserted AFTER INSERT ON calls BEGIN
    INSERT INTO central_changes (call_id) SELECT new.id FROM central_link;
END;

CREATE TRIGGER central_call_updated AFTER UPDATE ON calls BEGIN
    INSERT INTO central_changes (call_id) SELECT new.id FROM central_link;
END;

-- A call deleted: re-keyed (sent as gone), or pruned (nothing sent: central keeps it).
CREATE TRIGGER central_call_deleted AFTER DELETE ON calls BEGIN
    INSERT INTO central_changes (call_id) SELECT old.id FROM central_link;
END;

CREATE TRIGGER central_event_inserted AFTER INSERT ON events WHEN new.call_id IS NOT NULL BEGIN
    INSERT INTO central_changes (call_id) SELECT new.call_id FROM central_link;
END;

-- An event folded into another call: both calls changed.
CREATE TRIGGER central_event_moved AFTER UPDATE OF call_id ON events
WHEN old.call_id IS NOT new.call_id BEGIN
    INSERT INTO central_changes (call_id) SELECT old.call_id FROM central_link
    WHERE old.call_id IS NOT NULL;
    INSERT INTO central_changes (call_id) SELECT new.call_id FROM central_link
    WHERE new.call_id IS NOT NULL;
END;
