//! Retention and privacy over a log of any size (`prune`, `redact`): the old calls are worked
//! through a batch at a time, each batch a short turn of the writers' lock, so that hooks keep
//! storing events the whole time; and the file's free space is given back without holding the
//! database for long.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, Transaction, named_params, params};

use crate::config::locations::Locations;
use crate::log::call::now_ms;
use crate::log::db::{self, placeholders};
use crate::report::when::{self, Bound};

/// The calls a retention command works on: over, and started before `:before`.
const OLD: &str = "started_at < :before \
    AND (ended_at IS NOT NULL OR expires_at IS NULL OR expires_at < :now)";

/// A turn of the writers' lock aims at this (well within the 50 ms a turn may take); batches
/// grow and shrink to stay near it.
const TURN: Duration = Duration::from_millis(30);
const FIRST_BATCH: usize = 200;
const MAX_BATCH: usize = 5_000;

/// The options `prune` and `redact` share: which calls, and whether to change them.
#[derive(clap::Args)]
pub struct OldArgs {
    /// The calls that started before this (a day means its start): 2026-01-01, 90d
    #[arg(long, value_name = "WHEN")]
    pub before: String,
    /// Report what would change, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

impl OldArgs {
    /// The old calls, and the database opened to work through them.
    pub fn open(&self, locations: &Locations) -> Result<(Connection, Old)> {
        let before = when::parse_local(&self.before, Bound::Start).map_err(anyhow::Error::msg)?;
        let conn = locations.existing_db()?;
        big_cache(&conn)?;
        let now = now_ms();
        Ok((conn, Old { before, now }))
    }
}

/// Old calls and the events that joined none, selected by time.
#[derive(Clone, Copy)]
pub struct Old {
    pub before: i64,
    pub now: i64,
}

impl Old {
    /// How many old calls, events and deliveries there are (a read, for dry runs), of those
    /// that meet the conditions given (on `c`, the call, `e`, the event, `o`, the delivery).
    pub fn count(
        &self,
        conn: &Connection,
        calls: &str,
        events: &str,
        deliveries: &str,
    ) -> Result<Counts> {
        let args = named_params! {":before": self.before, ":now": self.now};
        let count = |sql: String| -> Result<usize> {
            Ok(conn.query_row(&sql, args, |r| r.get::<_, i64>(0))? as usize)
        };
        Ok(Counts {
            calls: count(format!(
                "SELECT count(*) FROM calls c WHERE {OLD} AND ({calls})"
            ))?,
            events: count(format!(
                "SELECT count(*) FROM events e WHERE (e.call_id IN (SELECT id FROM calls WHERE \
                 {OLD}) OR (e.call_id IS NULL AND e.at < :before)) AND ({events})"
            ))?,
            deliveries: count(format!(
                "SELECT count(*) FROM outbox o WHERE o.call_id IN (SELECT id FROM calls WHERE \
                 {OLD}) AND ({deliveries})"
            ))?,
        })
    }

    /// Calls `work` with each batch of old calls' ids, oldest first, each in a turn of its own.
    pub fn calls(
        &self,
        conn: &mut Connection,
        work: impl FnMut(&Transaction<'_>, &[String]) -> Result<()>,
    ) -> Result<()> {
        let select = |tx: &Transaction<'_>, after: &(i64, String), batch: usize| {
            let rows: Vec<(i64, String)> = tx
                .prepare_cached(&format!(
                    "SELECT started_at, id FROM calls WHERE {OLD} \
                     AND (started_at, id) > (:after_at, :after_id) \
                     ORDER BY started_at, id LIMIT :batch"
                ))?
                .query_map(
                    named_params! {
                        ":before": self.before, ":now": self.now,
                        ":after_at": after.0, ":after_id": after.1, ":batch": batch as i64,
                    },
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let ids = rows.iter().map(|r| r.1.clone()).collect();
            Ok((ids, rows.last().cloned()))
        };
        in_turns(conn, (i64::MIN, String::new()), select, work)
    }

    /// Calls `work` with each batch of the ids of the old events that joined no call.
    pub fn loose_events(
        &self,
        conn: &mut Connection,
        work: impl FnMut(&Transaction<'_>, &[String]) -> Result<()>,
    ) -> Result<()> {
        let select = |tx: &Transaction<'_>, after: &String, batch: usize| {
            let ids: Vec<String> = tx
                .prepare_cached(
                    "SELECT id FROM events WHERE call_id IS NULL AND at < ?1 AND id > ?2 \
                     ORDER BY id LIMIT ?3",
                )?
                .query_map(params![self.before, after, batch as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let last = ids.last().cloned();
            Ok((ids, last))
        };
        in_turns(conn, String::new(), select, work)
    }
}

/// Works through rows a batch per turn of the writers' lock: `select` gives the ids of the
/// batch after `cursor` and the cursor after it, `work` does the job on them; batches grow and
/// shrink to keep each turn near [`TURN`].
fn in_turns<C>(
    conn: &mut Connection,
    mut cursor: C,
    mut select: impl FnMut(&Transaction<'_>, &C, usize) -> Result<(Vec<String>, Option<C>)>,
    mut work: impl FnMut(&Transaction<'_>, &[String]) -> Result<()>,
) -> Result<()> {
    let mut batch = FIRST_BATCH;
    loop {
        let started = Instant::now();
        let next = db::write(conn, |tx| {
            let (ids, next) = select(tx, &cursor, batch)?;
            if !ids.is_empty() {
                work(tx, &ids)?;
            }
            Ok(next)
        })?;
        let Some(next) = next else {
            return Ok(());
        };
        cursor = next;
        batch = next_batch(batch, started.elapsed());
        pause(started.elapsed());
    }
}

/// What a retention command changed (or would change).
#[derive(Debug, Default)]
pub struct Counts {
    pub calls: usize,
    pub events: usize,
    pub deliveries: usize,
}

impl Counts {
    /// `Deleted 2 calls, 6 events and 1 delivery from before 2026-11-24T00:00:00.000Z.`
    pub fn report(&self, verb: &str, before: i64) -> String {
        use crate::report::output::plural;
        format!(
            "{verb} {}, {} and {} from before {}.",
            plural(self.calls, "call", "calls"),
            plural(self.events, "event", "events"),
            plural(self.deliveries, "delivery", "deliveries"),
            crate::log::call::rfc3339(before)
        )
    }
}

/// The distinct (number, raw) pairs of some calls.
pub fn numbers_of(tx: &Transaction<'_>, ids: &[String]) -> Result<Vec<(String, String)>> {
    let sql = format!(
        "SELECT DISTINCT number, raw FROM calls WHERE id IN ({})",
        placeholders(ids.len())
    );
    Ok(tx
        .prepare(&sql)?
        .query_map(rusqlite::params_from_iter(ids), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// Drops the distinct numbers that no call has any more, of those given.
pub fn forget_numbers(tx: &Transaction<'_>, numbers: &[(String, String)]) -> Result<()> {
    let mut forget = tx.prepare_cached(
        "DELETE FROM numbers WHERE number = ?1 AND raw = ?2 \
         AND NOT EXISTS (SELECT 1 FROM calls WHERE number = ?1 AND raw = ?2)",
    )?;
    for (number, raw) in numbers {
        forget.execute([number, raw])?;
    }
    Ok(())
}

/// The next batch size: a quarter more while turns are short, half when one ran long.
fn next_batch(batch: usize, took: Duration) -> usize {
    if took > TURN * 3 / 2 {
        (batch / 2).max(10)
    } else if took < TURN * 2 / 3 {
        (batch + batch / 4 + 1).min(MAX_BATCH)
    } else {
        batch
    }
}

/// Between turns the writers' lock stays free for a moment, so that the hooks waiting for it
/// (asleep in the kernel) wake up and take their turns first.
fn pause(took: Duration) {
    std::thread::sleep((took / 8).clamp(Duration::from_millis(2), Duration::from_millis(10)));
}

/// A larger page cache for a long job over much of the file (the default is 2 MB).
pub fn big_cache(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "cache_size", -65_536)?;
    Ok(())
}

/// Gives the file's free space back to the file system. A database made by this callhook
/// (incremental auto-vacuum) frees it a few megabytes per turn, with hooks going on; an older
/// one needs one full VACUUM, which holds the database for its whole duration: refused while
/// MicroSIP runs (its hooks would wait and go to the fallback log meanwhile), unless `full` is
/// asked for anyway (`redact`, whose rewrite must also clear space freed inside pages).
pub fn vacuum(conn: &mut Connection, full: bool) -> Result<Vacuumed> {
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if mode == 2 && !full {
        let mut pages = 0;
        let mut step = 256;
        loop {
            let started = Instant::now();
            let (freed, left) = db::write(conn, |tx| {
                let before: i64 = tx.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
                tx.execute_batch(&format!("PRAGMA incremental_vacuum({step})"))?;
                let after: i64 = tx.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
                Ok((before - after, after))
            })?;
            pages += freed;
            if left == 0 || freed == 0 {
                break;
            }
            step = next_batch(step, started.elapsed());
            pause(started.elapsed());
        }
        return Ok(Vacuumed::Incremental { pages });
    }
    let running = crate::microsip::locate::running();
    if !running.is_empty() {
        let size = conn
            .path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len() / 1_000_000);
        bail!(
            "not vacuumed: MicroSIP is running, and this database ({size} MB) needs one full \
             VACUUM, which holds it until done (seconds per hundred MB): calls meanwhile would \
             wait and go to the fallback log. Run it again with MicroSIP closed (menu > Exit); \
             it also makes later vacuums run in small steps alongside calls"
        );
    }
    let started = Instant::now();
    let _turn = db::turn(conn, Instant::now() + db::ADMIN_BUSY_TIMEOUT)?;
    // From now on this file frees space in small steps (see above).
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")
        .context("VACUUM failed")?;
    Ok(Vacuumed::Full {
        took: started.elapsed(),
    })
}

/// How the space was given back.
pub enum Vacuumed {
    /// Free pages given back a few at a time.
    Incremental { pages: i64 },
    /// The whole file rewritten.
    Full { took: Duration },
}

/// Checkpoints the write-ahead log into the database and empties it: a pass that does not
/// hold up writers first, then a short one that does. False when a reader kept it from
/// finishing (the log is emptied once the last reader closes).
pub fn empty_wal(conn: &mut Connection) -> Result<bool> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    let _turn = db::turn(conn, Instant::now() + db::ADMIN_BUSY_TIMEOUT)?;
    // (busy, log frames, checkpointed frames): busy when a reader kept it from finishing.
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}
