//! Draining the fallback logs: the events that hooks could not store are stored as soon as the
//! database takes them again, by the worker (which a hook starts when it finds a log) or by
//! `callhook replay`, each exactly once, in short turns.
//!
//! - **Claimed before it is read.** A log is renamed to `<log>.draining-<ms>-<pid>` (recorded in
//!   `fallback_logs` first, so that a drain cut short is taken up again), so that hooks failing
//!   meanwhile start a new log, which is never renamed away unread. A hook that opened the log
//!   just before the rename still writes into the renamed file: a drained file is read once more
//!   and removed only after [`QUIET_MS`], longer than any hook runs.
//! - **Exactly once.** Each entry carries the id its event is stored under: an id already in the
//!   database is not stored again, so a drain killed at any point and run again stores nothing
//!   twice. (Lines of older versions, without an id, match on time, event and caller.)
//! - **One bad line never blocks the others.** Lines that cannot be stored (cut short, not
//!   UTF-8, not JSON, an unknown event, a time out of range) go to `<log>.rejected`, as they
//!   were; lines for another database go back to the log, for that database's drain.

use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::call::now_ms;
use crate::config::Config;
use crate::contacts::stamp;
use crate::db;
use crate::fallback::{self, Entry, Line};
use crate::fold::NewEvent;
use crate::outbox;

/// A drained file is removed only this long after it was claimed: every hook that could still
/// be writing into it (opened before the rename) has ended by then; its watchdog ends it
/// within a second.
pub const QUIET_MS: i64 = 3_000;

/// Events stored per turn at most; a turn also ends after [`TURN`].
const TURN_EVENTS: usize = 200;
const TURN: Duration = Duration::from_millis(25);

/// Entries read into memory at a time (each at most a few KiB), sorted by time within.
const CHUNK: usize = 2_000;

/// What a drain did.
#[derive(Debug, Default)]
pub struct Drained {
    /// Events stored now.
    pub stored: usize,
    /// Events that were in the database already.
    pub present: usize,
    /// Lines for other databases, put back in their log.
    pub other: usize,
    /// Lines that cannot be stored, kept in the `.rejected` files, with why (the first few).
    pub rejected: usize,
    pub reasons: Vec<String>,
    /// The rejected lines went here.
    pub rejected_files: Vec<PathBuf>,
    /// Claimed files still to be read once more after [`QUIET_MS`]: when.
    pub again_at: Option<i64>,
}

impl Drained {
    pub fn add(&mut self, other: Drained) {
        self.stored += other.stored;
        self.present += other.present;
        self.other += other.other;
        self.rejected += other.rejected;
        self.reasons.extend(other.reasons);
        self.reasons.truncate(10);
        for file in other.rejected_files {
            if !self.rejected_files.contains(&file) {
                self.rejected_files.push(file);
            }
        }
    }
}

/// The drains of one database, with what they did so far.
pub struct Drain<'a> {
    db: &'a Path,
    config: &'a Config,
    /// The events stored by this drain, so that reading a file once more counts them once.
    stored: HashSet<String>,
    /// For each log lines were put back into: whether it existed before, and the bytes put.
    put_back: HashMap<PathBuf, (bool, u64)>,
}

impl<'a> Drain<'a> {
    pub fn new(db: &'a Path, config: &'a Config) -> Self {
        Drain {
            db,
            config,
            stored: HashSet::new(),
            put_back: HashMap::new(),
        }
    }

    /// One pass: claims the logs that exist, stores the events of every claimed file, and
    /// finishes (writes back, rejects, removes) the files claimed over [`QUIET_MS`] ago.
    pub fn pass(&mut self, conn: &mut Connection, logs: &[PathBuf]) -> Result<Drained> {
        for log in logs {
            claim(conn, log)?;
        }
        let mut drained = Drained::default();
        let now = now_ms();
        for (file, log) in claimed(conn)? {
            if !file.exists() {
                db::write(conn, |tx| forget(tx, &file))?;
                continue;
            }
            let claimed_at = claimed_at(&file).unwrap_or(0);
            let finish = now >= claimed_at + QUIET_MS;
            drained.add(
                self.read(conn, &file, &log, finish)
                    .with_context(|| format!("cannot drain {}", file.display()))?,
            );
            if finish {
                std::fs::remove_file(&file)
                    .or_else(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => Ok(()),
                        _ => Err(e),
                    })
                    .with_context(|| format!("cannot remove {}", file.display()))?;
                db::write(conn, |tx| forget(tx, &file))?;
            } else {
                let at = claimed_at + QUIET_MS;
                drained.again_at = Some(drained.again_at.map_or(at, |t| t.min(at)));
            }
        }
        if drained.again_at.is_none() {
            for log in logs {
                let put_back = self.put_back.remove(log);
                note_left(conn, log, put_back)?;
            }
        }
        Ok(drained)
    }

    /// Stores the events of one claimed file that are for this database and not stored yet;
    /// when `finish`, also puts lines for other databases back into `log` and the lines that
    /// cannot be stored into `<log>.rejected`.
    fn read(
        &mut self,
        conn: &mut Connection,
        file: &Path,
        log: &Path,
        finish: bool,
    ) -> Result<Drained> {
        let mut drained = Drained::default();
        let reader = BufReader::new(std::fs::File::open(file)?);
        let mut chunk: Vec<(NewEvent, bool)> = Vec::new();
        let rejected_file = rejected_path(log);
        for line in fallback::read_lines(reader) {
            let (entry, bytes) = match line? {
                Line::Entry(entry, bytes) => (entry, bytes),
                Line::Bad(bytes, why) => {
                    if finish {
                        reject(&mut drained, &rejected_file, &bytes, why)?;
                    }
                    continue;
                }
            };
            if !entry.is_for(self.db) {
                if finish {
                    let mut line = bytes;
                    line.push(b'\n');
                    let put = self
                        .put_back
                        .entry(log.to_path_buf())
                        .or_insert_with(|| (log.exists(), 0));
                    fallback::append_line(log, &line)
                        .with_context(|| format!("cannot write {}", log.display()))?;
                    put.1 += line.len() as u64;
                    drained.other += 1;
                }
                continue;
            }
            match self.event(&entry) {
                Err(why) => {
                    if finish {
                        reject(&mut drained, &rejected_file, &bytes, why)?;
                    }
                }
                Ok(None) => drained.present += usize::from(finish),
                Ok(Some(event)) => {
                    chunk.push((event, entry.id.is_some()));
                    if chunk.len() >= CHUNK {
                        self.store(conn, &mut chunk, &mut drained, finish)?;
                    }
                }
            }
        }
        self.store(conn, &mut chunk, &mut drained, finish)?;
        Ok(drained)
    }

    /// The event of an entry for this database, or `None` when the hook stored it after all.
    fn event(&self, entry: &Entry) -> Result<Option<NewEvent>, String> {
        let checked = entry.check()?;
        if entry.stored {
            return Ok(None);
        }
        let number = self.config.numbers.number(&checked.caller.text);
        let mut event = NewEvent::new(checked.at, checked.kind, checked.caller, number);
        if let Some(id) = checked.id {
            event.id = id;
        }
        event.host = checked.host;
        event.os_user = checked.user;
        Ok(Some(event))
    }

    /// Stores the events of `chunk` that are not in the database, in time order, in short
    /// turns; the events already there count as present only on the `finish` pass, so that
    /// each is counted once.
    fn store(
        &mut self,
        conn: &mut Connection,
        chunk: &mut Vec<(NewEvent, bool)>,
        drained: &mut Drained,
        finish: bool,
    ) -> Result<()> {
        chunk.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let names = !crate::contacts::check(conn, &self.config.contacts)?.stale;
        let mut rest = chunk.as_slice();
        while !rest.is_empty() {
            let config = self.config;
            let (stored, present) = db::write(conn, |tx| {
                let started = Instant::now();
                let (mut stored, mut present) = (Vec::new(), 0);
                let mut recorded = Vec::new();
                for (event, has_id) in rest {
                    if stored.len() + present >= TURN_EVENTS || started.elapsed() >= TURN {
                        break;
                    }
                    if is_stored(tx, event, *has_id)? {
                        present += 1;
                        continue;
                    }
                    crate::hook::record_event(tx, config, event, names)?;
                    stored.push(key(event, *has_id));
                    recorded.push(event);
                }
                // Side effects after the turn's events are all in: a late event may join a
                // call only once the others of its call are in (until then it can look like
                // another call's end), and a popup opens only if its call still rings.
                if config.has_side_effects() {
                    for event in recorded {
                        if let Some(call) = call_of(tx, &event.id)? {
                            outbox::enqueue(tx, config, event, &call, true)?;
                        }
                    }
                }
                Ok((stored, present))
            })?;
            let used = stored.len() + present;
            if finish {
                // Those this drain stored on an earlier reading of the file are not "present".
                drained.present += rest[..used]
                    .iter()
                    .filter(|(event, has_id)| !self.stored.contains(&key(event, *has_id)))
                    .count()
                    - stored.len();
            }
            drained.stored += stored.len();
            self.stored.extend(stored);
            rest = &rest[used..];
        }
        chunk.clear();
        Ok(())
    }
}

/// What tells an entry's event from others across readings: its id, or (a line of an older
/// version, whose event gets a new id at each reading) its time, event and caller.
fn key(event: &NewEvent, has_id: bool) -> String {
    if has_id {
        event.id.clone()
    } else {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            event.at, event.kind, event.caller.text
        )
    }
}

/// Whether a drain has work: a log whose size or time is not what the last drain left, or a
/// claimed file not yet done. Costs a `stat` per log (and one query).
pub fn needed(conn: &Connection, logs: &[PathBuf]) -> Result<bool> {
    let rows = rows(conn)?;
    if rows.iter().any(|(_, stamp)| stamp.is_none()) {
        return Ok(true);
    }
    Ok(logs.iter().any(|log| match std::fs::metadata(log) {
        Ok(meta) => {
            let key = log.display().to_string();
            rows.iter().find(|(path, _)| *path == key).map(|r| r.1) != Some(Some(stamp(&meta)))
        }
        Err(_) => false,
    }))
}

/// The call an event is in now.
fn call_of(conn: &Connection, event_id: &str) -> Result<Option<crate::call::Call>> {
    let call_id: Option<String> = conn
        .prepare_cached("SELECT call_id FROM events WHERE id = ?1")?
        .query_row([event_id], |r| r.get(0))
        .optional()?
        .flatten();
    match call_id {
        Some(id) => crate::fold::load_call(conn, &id),
        None => Ok(None),
    }
}

/// The files being drained (claimed, not yet finished).
pub fn claimed_files(conn: &Connection) -> Result<Vec<PathBuf>> {
    Ok(claimed(conn)?.into_iter().map(|(file, _)| file).collect())
}

/// Whether the event of a checked fallback entry is in the database.
pub fn is_stored_entry(conn: &Connection, checked: &fallback::Checked) -> Result<bool> {
    let event = NewEvent::new(
        checked.at,
        checked.kind,
        checked.caller.clone(),
        String::new(),
    );
    match &checked.id {
        Some(id) => is_stored(
            conn,
            &NewEvent {
                id: id.clone(),
                ..event
            },
            true,
        ),
        None => is_stored(conn, &event, false),
    }
}

/// Whether the event is in the database: by its id, or (a line of an older version, without
/// one) by its time, event and caller.
fn is_stored(conn: &Connection, event: &NewEvent, has_id: bool) -> Result<bool> {
    let found = if has_id {
        conn.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
            .query_row([&event.id], |_| Ok(()))
            .optional()?
    } else {
        conn.prepare_cached("SELECT 1 FROM events WHERE at = ?1 AND event = ?2 AND caller = ?3")?
            .query_row(
                params![event.at, event.kind.as_str(), event.caller.text],
                |_| Ok(()),
            )
            .optional()?
    };
    Ok(found.is_some())
}

fn reject(drained: &mut Drained, file: &Path, bytes: &[u8], why: String) -> Result<()> {
    let mut line = bytes.to_vec();
    line.push(b'\n');
    fallback::append_line(file, &line)
        .with_context(|| format!("cannot write {}", file.display()))?;
    drained.rejected += 1;
    if drained.reasons.len() < 10 {
        drained.reasons.push(why);
    }
    if !drained.rejected_files.iter().any(|f| f == file) {
        drained.rejected_files.push(file.to_path_buf());
    }
    Ok(())
}

/// Where the lines of `log` that cannot be stored are kept.
pub fn rejected_path(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".rejected");
    log.with_file_name(name)
}

const DRAINING: &str = ".draining-";

/// Renames `log` aside for draining, if it exists (and, in a shared temp directory, is ours).
fn claim(conn: &mut Connection, log: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(log) else {
        return Ok(());
    };
    if !is_ours(&meta) {
        return Ok(());
    }
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{DRAINING}{}-{}", now_ms(), std::process::id()));
    let file = log.with_file_name(name);
    // Recorded first: should the drain stop after the rename, the next one finds the file.
    let (key, original) = (file.display().to_string(), log.display().to_string());
    db::write(conn, |tx| {
        tx.execute(
            "INSERT OR REPLACE INTO fallback_logs (path, size, modified) VALUES (?1, NULL, NULL)",
            [&key],
        )?;
        // The log itself is gone now: whatever appears there next is new.
        tx.execute("DELETE FROM fallback_logs WHERE path = ?1", [&original])?;
        Ok(())
    })?;
    if std::fs::rename(log, &file).is_err() {
        // Gone meanwhile, or held by another program (an editor, a virus scanner): left for
        // the next drain.
        db::write(conn, |tx| forget(tx, &file))?;
    }
    Ok(())
}

/// The claimed files not yet finished, with the log each came from.
fn claimed(conn: &Connection) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    for (path, stamp) in rows(conn)? {
        if stamp.is_some() {
            continue;
        }
        let file = PathBuf::from(&path);
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if let Some((log, _)) = name.rsplit_once(DRAINING) {
            let log = file.with_file_name(log);
            files.push((file, log));
        }
    }
    files.sort();
    Ok(files)
}

/// When a claimed file was claimed, from its name.
fn claimed_at(file: &Path) -> Option<i64> {
    let name = file.file_name()?.to_str()?;
    let (_, rest) = name.rsplit_once(DRAINING)?;
    rest.split('-').next()?.parse().ok()
}

fn forget(conn: &Connection, file: &Path) -> Result<()> {
    conn.execute(
        "DELETE FROM fallback_logs WHERE path = ?1",
        [file.display().to_string()],
    )?;
    Ok(())
}

/// After a drain: records `log` as it is now, if it holds only the lines the drain put back
/// (`put_back`: whether it existed before, and the bytes put); else leaves it to look changed,
/// so that the next drain reads what hooks wrote meanwhile.
fn note_left(conn: &mut Connection, log: &Path, put_back: Option<(bool, u64)>) -> Result<()> {
    let key = log.display().to_string();
    let stamp = std::fs::metadata(log)
        .ok()
        .map(|m| stamp(&m))
        .filter(|(_, size)| matches!(put_back, Some((false, bytes)) if bytes == *size as u64));
    db::write(conn, |tx| {
        match stamp {
            Some((modified, size)) => tx.execute(
                "INSERT OR REPLACE INTO fallback_logs (path, size, modified) VALUES (?1, ?2, ?3)",
                params![key, size, modified],
            )?,
            None => tx.execute("DELETE FROM fallback_logs WHERE path = ?1", [&key])?,
        };
        Ok(())
    })
}

/// A row of `fallback_logs`: a path, and the time and size of the log as left (none while it
/// is being drained).
type LogRow = (String, Option<(i64, i64)>);

fn rows(conn: &Connection) -> Result<Vec<LogRow>> {
    Ok(conn
        .prepare_cached("SELECT path, size, modified FROM fallback_logs")?
        .query_map([], |r| {
            let size: Option<i64> = r.get(1)?;
            let modified: Option<i64> = r.get(2)?;
            Ok((r.get(0)?, modified.zip(size)))
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// A log in a shared temp directory may be another user's: only our own regular files are
/// drained.
#[cfg(unix)]
fn is_ours(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no arguments and cannot fail.
    meta.file_type().is_file() && meta.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn is_ours(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_file()
}
