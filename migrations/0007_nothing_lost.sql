-- Clock steps: each event the hook timed itself keeps the boot clock (milliseconds since the
-- computer started, which no clock setting changes), so that the events of one call stay in
-- that call's time base when Windows time sync steps the clock during the call.
ALTER TABLE events ADD COLUMN boot_ms INTEGER;        -- NULL for replayed and --time events
ALTER TABLE events ADD COLUMN clock_shift_ms INTEGER; -- how far `at` was moved off the clock

-- The fallback logs the worker drains: for each log, its size and time as the last drain left
-- it (lines for other databases only), and each log being drained (renamed to
-- `<log>.draining-<ms>-<pid>`, `size` NULL), so that a drain cut short is taken up again.
CREATE TABLE fallback_logs (
    path     TEXT PRIMARY KEY,
    size     INTEGER,
    modified INTEGER
) WITHOUT ROWID;

-- Contact files are read again in short steps: rows of the current reading of a file carry its
-- time (`loaded`), and the rows of the previous reading that it no longer has go after it.
ALTER TABLE contacts ADD COLUMN loaded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX contacts_by_source ON contacts (source, loaded);

-- Retention works through old calls a batch at a time, each batch's deliveries found by call.
CREATE INDEX outbox_by_call ON outbox (call_id);

-- A hook that finds a lane busy asks its worker for one more look before it lets go.
ALTER TABLE worker_leases ADD COLUMN wanted INTEGER NOT NULL DEFAULT 0;
