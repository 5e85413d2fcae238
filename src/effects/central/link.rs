//! The central lane's state in the desk's database: the link (`central_link`: where to, how
//! far the backfill got, the last attempt) and the queue of changed calls (`central_changes`,
//! filled by triggers while a link exists). The hook reads it once per event ([`due`]); the
//! worker makes and removes the link and records each attempt.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use crate::effects::retry::{OutboxConfig, next_attempt};

/// The longest a desk waits between two attempts while central is away: it queues without
/// limit meanwhile, and must catch up soon after central is back.
pub const MAX_RETRY_MS: i64 = 5 * 60 * 1000;

/// The link's row.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub url: String,
    pub desk: String,
    pub linked_at: i64,
    /// The last call (by id) the backfill delivered.
    pub backfill_cursor: Option<String>,
    pub backfill_done: bool,
    /// The revision of the backfill's calls.
    pub backfill_revision: i64,
    /// The batch size after 413 answers; `None`: the default.
    pub batch_bytes: Option<i64>,
    /// Failed attempts since the last success.
    pub attempts: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_ok_at: Option<i64>,
}

const COLUMNS: &str = "url, desk, linked_at, backfill_cursor, backfill_done, batch_bytes, \
    attempts, next_at, last_status, last_error, last_ok_at, backfill_revision";

impl Link {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Link> {
        Ok(Link {
            url: row.get(0)?,
            desk: row.get(1)?,
            linked_at: row.get(2)?,
            backfill_cursor: row.get(3)?,
            backfill_done: row.get(4)?,
            batch_bytes: row.get(5)?,
            attempts: row.get(6)?,
            next_at: row.get(7)?,
            last_status: row.get(8)?,
            last_error: row.get(9)?,
            last_ok_at: row.get(10)?,
            backfill_revision: row.get(11)?,
        })
    }
}

/// The hook's one read, in its transaction: whether the lane has work due for a desk that
/// delivers to `url`: no link yet (or one to another URL), or changes queued or the backfill
/// unfinished, and no retry pending.
pub fn due(conn: &Connection, url: &str, now: i64) -> Result<bool> {
    let link: Option<(bool, bool)> = conn
        .prepare_cached(
            "SELECT url = ?1, next_at <= ?2 AND (NOT backfill_done \
             OR EXISTS (SELECT 1 FROM central_changes)) FROM central_link",
        )?
        .query_row(params![url, now], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(link.is_none_or(|(same, due)| !same || due))
}

/// [`due`] for the hook, which has just queued a change (the triggers queue one for each
/// event while the link exists): whether there is no link yet, or one to another URL, or no
/// retry pending. One read of a one-row table, in the hook's transaction.
pub fn due_after_change(conn: &Connection, url: &str, now: i64) -> Result<bool> {
    let waiting: Option<bool> = conn
        .prepare_cached("SELECT url = ?1 AND next_at > ?2 FROM central_link")?
        .query_row(params![url, now], |row| row.get(0))
        .optional()?;
    Ok(waiting != Some(true))
}

/// The link, if there is one.
pub fn get(conn: &Connection) -> Result<Option<Link>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM central_link"))?
        .query_row([], Link::from_row)
        .optional()?)
}

/// Whether the link must be made or changed for a desk that delivers to `url` as `desk`.
pub fn needs_linking(link: Option<&Link>, url: &str, desk: &str) -> bool {
    link.is_none_or(|link| link.url != url || link.desk != desk)
}

/// Makes the link to `url` (in a write turn): from now on every change of a call is queued,
/// and the backfill sends the log from before. A link to another URL starts its backfill
/// afresh (the changes queued go to the new one too); a new desk name is only noted.
pub fn link(conn: &Connection, url: &str, desk: &str, now: i64) -> Result<()> {
    let linked: Option<String> = conn
        .query_row("SELECT url FROM central_link", [], |row| row.get(0))
        .optional()?;
    if linked.as_deref() == Some(url) {
        conn.execute("UPDATE central_link SET desk = ?1", [desk])?;
        return Ok(());
    }
    // The backfill's revision: the next number of the changes' sequence, kept from them.
    let revision: i64 = conn.query_row(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'central_changes'), 0) + 1",
        [],
        |row| row.get(0),
    )?;
    conn.execute(
        "DELETE FROM sqlite_sequence WHERE name = 'central_changes'",
        [],
    )?;
    conn.execute(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('central_changes', ?1)",
        [revision],
    )?;
    conn.execute(
        "INSERT OR REPLACE INTO central_link (id, url, desk, linked_at, next_at, \
         backfill_revision) VALUES (1, ?1, ?2, ?3, ?3, ?4)",
        params![url, desk, now, revision],
    )?;
    Ok(())
}

/// Removes the link (`[central]` left the config): nothing more is queued. Returns whether
/// there was one; the queued changes go with [`forget_changes`].
pub fn unlink(conn: &Connection) -> Result<bool> {
    Ok(conn.execute("DELETE FROM central_link", [])? > 0)
}

/// Deletes up to `limit` queued changes, for a desk that no longer delivers (in short turns:
/// a desk whose central was away for long has many). Returns how many.
pub fn forget_changes(conn: &Connection, limit: usize) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM central_changes WHERE seq IN \
         (SELECT seq FROM central_changes ORDER BY seq LIMIT ?1)",
        [limit as i64],
    )?)
}

/// Whether anything is queued while no link exists (left by an unlink cut short).
pub fn orphan_changes(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM central_changes) \
             AND NOT EXISTS (SELECT 1 FROM central_link)",
        )?
        .query_row([], |row| row.get(0))?)
}

/// When the lane's next attempt may be made: `None` when it has nothing to send.
pub fn next_due(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT next_at FROM central_link \
             WHERE NOT backfill_done OR EXISTS (SELECT 1 FROM central_changes)",
        )?
        .query_row([], |row| row.get(0))
        .optional()?)
}

/// Central took a batch: its changes (up to `upto`) are done with, the backfill moves on to
/// `cursor` (done with `backfill_done`), and the attempts start again from nothing.
pub struct Delivered<'a> {
    pub linked_at: i64,
    pub upto: Option<i64>,
    pub cursor: Option<&'a str>,
    pub backfill_done: bool,
    pub status: Option<u16>,
}

/// Records a batch central took, or one that had nothing to send (`status` `None`: only pruned
/// calls changed, or the backfill found nothing more), which leaves the attempts as they are.
pub fn delivered(conn: &Connection, delivered: &Delivered<'_>, now: i64) -> Result<()> {
    // A link made afresh meanwhile (another URL) owes its central everything.
    let current = conn
        .prepare_cached("SELECT 1 FROM central_link WHERE linked_at = ?1")?
        .exists([delivered.linked_at])?;
    if !current {
        return Ok(());
    }
    if let Some(upto) = delivered.upto {
        conn.prepare_cached("DELETE FROM central_changes WHERE seq <= ?1")?
            .execute([upto])?;
    }
    conn.prepare_cached(
        "UPDATE central_link SET backfill_cursor = coalesce(?1, backfill_cursor), \
         backfill_done = max(backfill_done, ?2)",
    )?
    .execute(params![delivered.cursor, delivered.backfill_done])?;
    if let Some(status) = delivered.status {
        conn.prepare_cached(
            "UPDATE central_link SET attempts = 0, next_at = ?1, last_status = ?2, \
             last_error = NULL, last_ok_at = ?1",
        )?
        .execute(params![now, status])?;
    }
    Ok(())
}

/// Records a failed attempt: tried again at `next_at`; `smaller`: central found the batch too
/// large, so the next ones are half the size.
pub fn failed(
    conn: &Connection,
    linked_at: i64,
    status: Option<u16>,
    error: &str,
    next_at: i64,
    smaller: Option<i64>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE central_link SET attempts = attempts + 1, next_at = ?2, last_status = ?3, \
         last_error = ?4, batch_bytes = coalesce(?5, batch_bytes) WHERE linked_at = ?1",
    )?
    .execute(params![linked_at, next_at, status, error, smaller])?;
    Ok(())
}

/// When to try again after `attempts` failed ones in a row: the `[outbox] retries` schedule
/// (its last wait once it is used up), but never more than [`MAX_RETRY_MS`] apart: a desk
/// never gives up on central.
pub fn next_try(config: &OutboxConfig, attempts: i64, now: i64, seed: u64) -> i64 {
    let step = attempts.clamp(1, config.retries.len().max(1) as i64);
    let at = next_attempt(config, step, now, seed).unwrap_or(now);
    at.min(now + MAX_RETRY_MS)
}

/// Makes the lane due now, with its attempts counted afresh (`callhook outbox retry
/// --failed`). Returns whether there is a link.
pub fn retry_now(conn: &Connection, now: i64) -> Result<bool> {
    Ok(conn.execute("UPDATE central_link SET attempts = 0, next_at = ?1", [now])? > 0)
}

/// The lane as `callhook outbox` and `doctor` show it.
#[derive(Clone, Debug)]
pub struct Progress {
    pub link: Link,
    /// Changes waiting to be delivered.
    pub waiting: i64,
    /// Calls the backfill delivered, of all calls.
    pub backfilled: i64,
    pub calls: i64,
}

/// The link and how far it got.
pub fn progress(conn: &Connection) -> Result<Option<Progress>> {
    let Some(link) = get(conn)? else {
        return Ok(None);
    };
    let count = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<i64> {
        Ok(conn.query_row(sql, params, |row| row.get(0))?)
    };
    let waiting = count("SELECT count(*) FROM central_changes", &[])?;
    let calls = count("SELECT count(*) FROM calls", &[])?;
    let backfilled = match (&link.backfill_cursor, link.backfill_done) {
        (_, true) => calls,
        (Some(cursor), false) => count("SELECT count(*) FROM calls WHERE id <= ?1", &[cursor])?,
        (None, false) => 0,
    };
    Ok(Some(Progress {
        link,
        waiting,
        backfilled,
        calls,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const URL: &str = "https://central.example.com/";
    const T0: i64 = 1_795_600_800_000;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::log::db::open(
            &dir.path().join("calls.db"),
            crate::log::db::ADMIN_BUSY_TIMEOUT,
        )
        .unwrap();
        (dir, conn)
    }

    fn queue(conn: &Connection, call_id: &str) {
        conn.execute(
            "INSERT INTO central_changes (call_id) VALUES (?1)",
            [call_id],
        )
        .unwrap();
    }

    #[test]
    fn the_lane_is_due_until_linked_and_then_while_work_waits_and_no_retry_is_pending() {
        let (_dir, conn) = db();
        // No link: due, for the worker to make it.
        assert!(due(&conn, URL, T0).unwrap());
        assert!(due_after_change(&conn, URL, T0).unwrap());
        link(&conn, URL, "front", T0).unwrap();
        // The backfill waits.
        assert!(due(&conn, URL, T0).unwrap());
        assert_eq!(next_due(&conn).unwrap(), Some(T0));
        conn.execute("UPDATE central_link SET backfill_done = 1", [])
            .unwrap();
        assert!(!due(&conn, URL, T0).unwrap(), "nothing to send");
        assert_eq!(next_due(&conn).unwrap(), None);
        queue(&conn, "c1");
        assert!(due(&conn, URL, T0).unwrap());
        // A retry pending: not due before its time.
        failed(
            &conn,
            T0,
            Some(503),
            "central cannot store it now",
            T0 + 5_000,
            None,
        )
        .unwrap();
        assert!(!due(&conn, URL, T0).unwrap());
        assert!(!due_after_change(&conn, URL, T0).unwrap());
        assert!(due(&conn, URL, T0 + 5_000).unwrap());
        // Another central in the config: due at once, to move the link.
        assert!(due(&conn, "https://other.example.com/", T0).unwrap());
        assert!(due_after_change(&conn, "https://other.example.com/", T0).unwrap());
        // `outbox retry --failed`.
        assert!(retry_now(&conn, T0).unwrap());
        let link = get(&conn).unwrap().unwrap();
        assert_eq!((link.attempts, link.next_at), (0, T0));
    }

    #[test]
    fn another_url_starts_the_backfill_afresh_and_keeps_the_changes() {
        let (_dir, conn) = db();
        link(&conn, URL, "front", T0).unwrap();
        let done = Delivered {
            linked_at: T0,
            upto: None,
            cursor: Some("c9"),
            backfill_done: true,
            status: Some(200),
        };
        delivered(&conn, &done, T0 + 1).unwrap();
        queue(&conn, "c1");
        let before = get(&conn).unwrap().unwrap();
        assert_eq!(before.backfill_cursor.as_deref(), Some("c9"));
        assert_eq!(before.last_ok_at, Some(T0 + 1));
        // A new desk name is only noted.
        assert!(needs_linking(Some(&before), URL, "reception"));
        link(&conn, URL, "reception", T0 + 2).unwrap();
        let renamed = get(&conn).unwrap().unwrap();
        assert_eq!(renamed.desk, "reception");
        assert_eq!(renamed.linked_at, T0);
        assert!(renamed.backfill_done);
        // Another URL: the whole log again, the waiting changes too.
        link(&conn, "https://other.example.com/", "reception", T0 + 3).unwrap();
        let moved = get(&conn).unwrap().unwrap();
        assert_eq!(moved.linked_at, T0 + 3);
        assert!(!moved.backfill_done && moved.backfill_cursor.is_none());
        assert_eq!(moved.last_ok_at, None);
        let waiting: i64 = conn
            .query_row("SELECT count(*) FROM central_changes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(waiting, 1);
        // A batch read from the old link advances nothing of the new one.
        delivered(
            &conn,
            &Delivered {
                upto: Some(99),
                ..done
            },
            T0 + 4,
        )
        .unwrap();
        assert_eq!(get(&conn).unwrap().unwrap(), moved);
    }

    #[test]
    fn unlinking_stops_the_queue() {
        let (_dir, conn) = db();
        link(&conn, URL, "front", T0).unwrap();
        for i in 0..5 {
            queue(&conn, &format!("c{i}"));
        }
        assert!(unlink(&conn).unwrap());
        assert!(orphan_changes(&conn).unwrap());
        assert_eq!(forget_changes(&conn, 3).unwrap(), 3);
        assert_eq!(forget_changes(&conn, 3).unwrap(), 2);
        assert!(!orphan_changes(&conn).unwrap());
        assert!(get(&conn).unwrap().is_none());
    }

    #[test]
    fn retries_follow_the_schedule_but_never_more_than_five_minutes_apart() {
        let config = OutboxConfig::default();
        let first = next_try(&config, 1, T0, 1000) - T0;
        assert!((4_500..=5_500).contains(&first), "{first}");
        for attempts in 2..30 {
            assert_eq!(next_try(&config, attempts, T0, 1000) - T0, MAX_RETRY_MS);
        }
        let quick = OutboxConfig {
            retries: vec![Duration::from_millis(200)],
            ..OutboxConfig::default()
        };
        // After the schedule, its last wait again.
        assert_eq!(next_try(&quick, 7, T0, 1000) - T0, 200);
    }
}
