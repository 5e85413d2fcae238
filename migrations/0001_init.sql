-- The call log. Times are Unix milliseconds (UTC); the views below show them as RFC 3339.

-- One row per hook invocation, appended and never rewritten except for `call_id`, the call the
-- event was folded into.
CREATE TABLE events (
    id               TEXT PRIMARY KEY,             -- UUIDv7 from `at`: sorts in event-time order
    at               INTEGER NOT NULL,             -- when the hook process started
    event            TEXT NOT NULL CHECK (event IN ('incoming', 'ring', 'outgoing', 'answer',
                                                    'answer-video', 'start', 'busy', 'end')),
    caller           TEXT NOT NULL,                -- caller text verbatim (at most 1 KiB)
    caller_bytes     BLOB,                         -- exact input when it was not valid Unicode
    caller_truncated INTEGER NOT NULL DEFAULT 0,   -- 1: the input was longer than 1 KiB
    number           TEXT NOT NULL,                -- normalized number, or the caller's name text
    host             TEXT NOT NULL,
    os_user          TEXT NOT NULL,
    call_id          TEXT,                         -- calls.id
    config_error     TEXT,                         -- the config could not be used; defaults were
    recorded_at      INTEGER NOT NULL              -- when it was stored
) WITHOUT ROWID;
CREATE INDEX events_by_call ON events (call_id, id);

-- One row per call, derived from its events.
CREATE TABLE calls (
    id           TEXT PRIMARY KEY,                 -- UUIDv7: the id of the call's first event
    direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    status       TEXT NOT NULL CHECK (status IN ('in-progress', 'answered', 'missed', 'busy',
                                                 'no-answer')),
    number       TEXT NOT NULL,
    raw          TEXT NOT NULL,                    -- caller text of the first event
    name         TEXT,
    started_at   INTEGER NOT NULL,
    ringing_at   INTEGER,
    answered_at  INTEGER,
    ended_at     INTEGER,
    last_event_at INTEGER NOT NULL,
    expires_at   INTEGER,                          -- an unended call takes events until then
    ring_ms      INTEGER,
    talk_ms      INTEGER,
    source       TEXT NOT NULL DEFAULT 'hook'
) WITHOUT ROWID;
CREATE INDEX calls_by_start ON calls (started_at);
CREATE INDEX calls_by_number ON calls (number, started_at);
CREATE INDEX calls_open_by_number ON calls (number, expires_at) WHERE ended_at IS NULL;
CREATE INDEX calls_open ON calls (expires_at) WHERE ended_at IS NULL;

-- For BI tools and sqlite3 users: calls with readable times and the status as of now (a call
-- left open past its window counts as missed, or no-answer when outgoing).
CREATE VIEW call_log AS
SELECT
    id,
    direction,
    CASE
        WHEN status = 'in-progress'
             AND expires_at < (julianday('now') - 2440587.5) * 86400000.0
        THEN CASE
            WHEN answered_at IS NOT NULL THEN 'answered'
            WHEN direction = 'in' THEN 'missed'
            ELSE 'no-answer'
        END
        ELSE status
    END AS status,
    number,
    raw,
    name,
    strftime('%Y-%m-%dT%H:%M:%fZ', started_at / 1000.0, 'unixepoch') AS started_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', ringing_at / 1000.0, 'unixepoch') AS ringing_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', answered_at / 1000.0, 'unixepoch') AS answered_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', ended_at / 1000.0, 'unixepoch') AS ended_at,
    ring_ms / 1000.0 AS ring_seconds,
    talk_ms / 1000.0 AS talk_seconds,
    source
FROM calls;

CREATE VIEW event_log AS
SELECT
    id,
    strftime('%Y-%m-%dT%H:%M:%fZ', at / 1000.0, 'unixepoch') AS at,
    event,
    caller,
    caller_truncated,
    caller_bytes IS NOT NULL AS caller_lossy,
    number,
    host,
    os_user,
    call_id,
    config_error
FROM events;
