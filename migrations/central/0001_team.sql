-- Central: the call logs of every desk in team mode, in one PostgreSQL database (15 or newer).
-- Desks send their calls as they folded them (`POST /api/ingest`); central never folds events
-- itself, so every call reads exactly as it does on its desk. Times are Unix milliseconds
-- (bigint, UTC), as desks store them. `schema_migrations` (the versions applied) is made by
-- callhook before the first migration, which it records.
--
-- Columns are ordered fixed-width first (uuid, bigint, integer, boolean), then text, so that no
-- row pays alignment padding: at ten million calls every byte per row is ten megabytes.
-- There are no foreign keys to `desks`: desks are never deleted (a removed desk is revoked and
-- its calls stay), and a check per stored row would cost every batch a lookup per call.

-- Partial-number search (`calls --number 4567`) through a trigram index. pg_trgm is a trusted
-- extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The desks that may send, each known by its Ed25519 public key (central never sees a secret
-- key). Removing a desk revokes it: its key is then refused with a reason, and its calls stay.
CREATE TABLE desks (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      bigint NOT NULL,
    revoked_at      bigint,
    -- What the desk's last batch told: when it came, the changes the desk still had to send,
    -- whether its backfill of the log from before it joined is done, and how far its clock
    -- was behind central's (`now - sent_at`, transit included).
    last_contact_at bigint,
    last_backlog    bigint,
    clock_skew_ms   bigint,
    -- Received in all (batches, call states, events), and held now (kept by ingest, so that
    -- listing the desks never counts millions of rows).
    batches         bigint NOT NULL DEFAULT 0,
    calls_received  bigint NOT NULL DEFAULT 0,
    events_received bigint NOT NULL DEFAULT 0,
    calls_held      bigint NOT NULL DEFAULT 0,
    events_held     bigint NOT NULL DEFAULT 0,
    backfilled      boolean NOT NULL DEFAULT false,
    public_key      bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    name            text NOT NULL,                 -- central's name for it (`desks add NAME`)
    reported_name   text                           -- the desk's own name for itself
);
-- A name is unique among the desks not revoked: a new desk may take a removed one's name.
CREATE UNIQUE INDEX desks_active_name ON desks (name) WHERE revoked_at IS NULL;

-- One row per call, as its desk folded it; the columns of the desk's `calls`.
CREATE TABLE calls (
    id            uuid PRIMARY KEY,                -- the desk's call id (UUIDv7): global
    started_at    bigint NOT NULL,
    last_event_at bigint NOT NULL,
    -- The desk's revision of this state: only a higher one from the same desk replaces it.
    revision      bigint NOT NULL,
    received_at   bigint NOT NULL,                 -- when central stored this state
    ringing_at    bigint,
    answered_at   bigint,
    ended_at      bigint,
    expires_at    bigint,                          -- an unended call takes events until then
    ring_ms       bigint,
    talk_ms       bigint,
    desk_id       integer NOT NULL,                -- desks.id: the only desk that may change it
    direction     text NOT NULL CHECK (direction IN ('in', 'out')),
    status        text NOT NULL CHECK (status IN ('in-progress', 'answered', 'missed', 'busy',
                                                  'no-answer')),
    number        text NOT NULL,
    raw           text NOT NULL,                   -- caller text of the first event
    name          text,
    source        text NOT NULL                    -- hook, or microsip (imported)
);
-- Two indexes serve every query (at ten million calls: `calls --number` and `--since today`
-- in milliseconds, `missed --unreturned --since 30d` in tens, `stats --since 30d` within
-- 200 ms). No more: each costs every stored call an entry, and a desk's calls are read by time
-- (desks share the log, so a desk's newest calls are among the newest).
-- Time: the newest calls and pages by cursor, ranges (`stats` reads a range page by page),
-- and the newest missed calls of `missed --unreturned`.
CREATE INDEX calls_by_start ON calls (started_at);
-- A number's calls, newest first (`calls --number`, number by number), whether a missed call's
-- number was answered later, and how often it was called back since.
CREATE INDEX calls_by_number ON calls (number, started_at);

-- Every event of the calls, as its desk stored it.
CREATE SEQUENCE events_seq AS bigint;
CREATE TABLE events (
    id               uuid PRIMARY KEY,             -- the desk's event id (UUIDv7)
    call_id          uuid NOT NULL,                -- calls.id
    at               bigint NOT NULL,
    recorded_at      bigint NOT NULL,
    -- The revision of the call state that last wrote the event: an older state of another
    -- call (a re-keyed call's, arriving late) never takes it back.
    revision         bigint NOT NULL,
    -- The live events' order (`GET /api/events` on central): a new number on every insert and
    -- every change, so that a client that reconnects with the last one it saw gets every event
    -- stored or changed since. Ingest takes these numbers one transaction at a time, so they
    -- become visible in order and no reader skips one.
    seq              bigint NOT NULL DEFAULT nextval('events_seq'),
    boot_ms          bigint,
    clock_shift_ms   bigint,
    desk_id          integer NOT NULL,
    caller_truncated boolean NOT NULL,
    event            text NOT NULL CHECK (event IN ('incoming', 'ring', 'outgoing', 'answer',
                                                    'answer-video', 'start', 'busy', 'end')),
    caller           text NOT NULL,
    caller_bytes     bytea,                        -- exact input when it was not valid Unicode
    number           text NOT NULL,
    host             text NOT NULL,
    os_user          text NOT NULL,
    config_error     text
);
ALTER SEQUENCE events_seq OWNED BY events.seq;
-- A call's events (`show`), and those of a re-keyed call to remove.
CREATE INDEX events_by_call ON events (call_id);
CREATE UNIQUE INDEX events_by_seq ON events (seq);

-- Calls a desk re-keyed away (their events went to another call), with the desk's revision of
-- that change: a state of the call as old or older, arriving late or again, is not stored
-- again; a newer one is, and clears this. Kept: re-keying is rare, and a row is small.
CREATE TABLE gone_calls (
    id       uuid PRIMARY KEY,
    revision bigint NOT NULL,
    desk_id  integer NOT NULL
);

-- The distinct (number, caller text) pairs of the calls, kept by ingest: partial-number and
-- text searches look through the trigram index of these (far fewer than the calls), then find
-- the calls by `calls_by_number`. A pair whose calls went away stays: it matches no call.
CREATE TABLE numbers (
    number text NOT NULL,
    raw    text NOT NULL,
    PRIMARY KEY (number, raw)
);
CREATE INDEX numbers_search ON numbers USING gin (number gin_trgm_ops, raw gin_trgm_ops);
