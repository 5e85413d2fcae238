-- Caller names from Contacts.xml and the contacts CSV, by normalized number, reloaded when a
-- file changes.
CREATE TABLE contacts (
    number   TEXT NOT NULL,
    source   TEXT NOT NULL,             -- the file
    priority INTEGER NOT NULL,          -- lower wins: the CSV (0) over Contacts.xml (1)
    name     TEXT NOT NULL,
    PRIMARY KEY (number, priority, source)
) WITHOUT ROWID;

CREATE TABLE contact_sources (
    path      TEXT PRIMARY KEY,
    modified  INTEGER NOT NULL,         -- the file's modification time (Unix ms) and size when
    size      INTEGER NOT NULL,         -- it was read
    loaded_at INTEGER NOT NULL,
    contacts  INTEGER NOT NULL,
    error     TEXT                      -- why the file could not be read
) WITHOUT ROWID;
