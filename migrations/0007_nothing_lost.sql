-- Clock steps: each event the hook timed itself keeps the boot clock (milliseconds since the
-- computer started, which no clock setting changes), so that the events of one call stay in
-- that call's time base when Windows time sync steps the clock during the call.
ALTER TABLE events ADD COLUMN boot_ms INTEGER;        -- NULL for replayed and --time events
ALTER TABLE events ADD COLUMN clock_shift_ms INTEGER; -- how far `at` was moved off the clock
