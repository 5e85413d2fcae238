-- Searching for part of a number (`calls --number 4567`) without reading every number: a
-- trigram index over the distinct numbers finds those that hold the digits, then the calls
-- are found by index. Kept up to date by triggers, whatever writes the numbers table.
CREATE TABLE number_texts (
    id     INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE number_search USING fts5(
    number,
    content = 'number_texts',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER numbers_add AFTER INSERT ON numbers BEGIN
    INSERT OR IGNORE INTO number_texts (number) VALUES (new.number);
END;
CREATE TRIGGER numbers_remove AFTER DELETE ON numbers
WHEN NOT EXISTS (SELECT 1 FROM numbers WHERE number = old.number) BEGIN
    DELETE FROM number_texts WHERE number = old.number;
END;
CREATE TRIGGER number_texts_add AFTER INSERT ON number_texts BEGIN
    INSERT INTO number_search (rowid, number) VALUES (new.id, new.number);
END;
CREATE TRIGGER number_texts_remove AFTER DELETE ON number_texts BEGIN
    INSERT INTO number_search (number_search, rowid, number) VALUES ('delete', old.id, old.number);
END;

INSERT INTO number_texts (number) SELECT DISTINCT number FROM numbers;
