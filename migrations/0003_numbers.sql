-- The distinct numbers (with their raw caller texts) of the calls: partial-number searches
-- scan this small table, then find the calls by index.
CREATE TABLE numbers (
    number TEXT NOT NULL,
    raw    TEXT NOT NULL,
    PRIMARY KEY (number, raw)
) WITHOUT ROWID;
INSERT OR IGNORE INTO numbers (number, raw) SELECT DISTINCT number, raw FROM calls;
