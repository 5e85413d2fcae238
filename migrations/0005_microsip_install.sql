-- The microsip.ini `callhook install` hooked, and the Contacts.xml beside it: the default
-- source of caller names (the hook finds it here without looking for MicroSIP).
CREATE TABLE microsip_install (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    ini         TEXT NOT NULL,
    xml         TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
