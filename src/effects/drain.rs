//! Draining the fallback logs: the events that hooks could not store are stored as soon as the
//! database takes them again, by the worker (which a hook starts when it finds a log) or by
//! `callhook replay`, each exactly once, in short turns.
//!
//! - **Claimed before it is read.** A log that holds anything for this database is renamed to
//!   `<log>.draining-<boot ms>-<pid>` (recorded in `fallback_logs` first, so that a drain cut
//!   short is taken up again), so that hooks failing meanwhile start a new log, which is never
//!   renamed away unread. A hook that opened the log just before the rename still writes into
//!   the renamed file: a drained file is read once more and removed only [`QUIET_MS`] after its
//!   claim by the boot clock (no clock setting shortens that), longer than any hook runs.
//! - **Exactly once.** Each entry carries the id its event is stored under: an id already in the
//!   database is not stored again, so a drain killed at any point and run again stores nothing
//!   twice. (Lines of older versions, without an id, match on time, event and caller.)
//! - **One bad line never blocks the others.** Lines that cannot be stored (cut short, not
//!   UTF-8, not JSON, an unknown event, a time out of range) go to `<log>.rejected`, as they
//!   were; lines for another database go back to the log, for that database's drain. A log
//!   that holds only such lines is not claimed at all, so that two databases sharing a temp
//!   directory do not keep rewriting it.
//! - **A file that fails waits.** One that cannot be read, renamed or removed now (another
//!   program holds it) is left for a later pass; its events stored already stay stored once.

use std::collections::HashSet;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::config::Config;
use crate::effects::lease::{self, Lane};
use crate::effects::outbox;
use crate::log::call::now_ms;
use crate::log::contacts::stamp;
use crate::log::db;
use crate::log::event::EventKind;
use crate::log::fallback::{self, Entry, Line};
use crate::log::fold::{NewEvent, event_id};

/// A drained file is removed only this long after it was claimed: every hook that could still
/// be writing into it (opened before the rename) has ended by then; its watchdog ends it
/// within a second.
pub const QUIET_MS: i64 = 3_000;

/// The fallback lane's lease, renewed at each turn of a drain.
pub const LEASE_MS: i64 = 60_000;

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
    /// Claimed files to be read once more and finished after [`QUIET_MS`]: in how long.
    pub again_in: Option<Duration>,
    /// Files that could not be read, finished or claimed now (left for a later pass).
    pub errors: Vec<String>,
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
        self.errors.extend(other.errors);
    }
}

/// The drains of one database, with what they did so far.
pub struct Drain<'a> {
    db: &'a Path,
    config: &'a Config,
    /// Who drains: the holder of the fallback lane, whose lease each turn renews.
    holder: String,
    /// The events stored by this drain, so that reading a file once more counts them once.
    stored: HashSet<String>,
}

impl<'a> Drain<'a> {
    pub fn new(db: &'a Path, config: &'a Config, holder: &str) -> Self {
        Drain {
            db,
            config,
            holder: holder.to_string(),
            stored: HashSet::new(),
        }
    }

    /// One pass: claims the logs that hold anything for this database (when `claim`), stores
    /// the events of every claimed file, and finishes (puts back, rejects, removes) the files
    /// claimed over [`QUIET_MS`] ago. A file that fails is left for a later pass, and said in
    /// `errors`.
    pub fn pass(
        &mut self,
        conn: &mut Connection,
        logs: &[PathBuf],
        claim: bool,
    ) -> Result<Drained> {
        let mut drained = Drained::default();
        if claim {
            for log in logs {
                if let Err(e) = self.claim(conn, log) {
                    drained.errors.push(format!("{}: {e:#}", log.display()));
                }
            }
        }
        let now = Claimed::now();
        for (file, log) in claimed(conn)? {
            match std::fs::symlink_metadata(&file) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    db::write(conn, |tx| forget(tx, &file))?;
                    continue;
                }
                Err(e) => {
                    drained.errors.push(format!("{}: {e}", file.display()));
                    continue;
                }
                Ok(_) => {}
            }
            let wait = claimed_at(&file).map_or(Duration::ZERO, |at| at.wait_before_finish(now));
            let finish = wait.is_zero();
            match self.read(conn, &file, &log, finish) {
                Ok(done) => drained.add(done),
                Err(e) => {
                    drained.errors.push(format!("{}: {e:#}", file.display()));
                    continue;
                }
            }
            if !finish {
                drained.again_in = Some(drained.again_in.map_or(wait, |w| w.min(wait)));
                continue;
            }
            match std::fs::remove_file(&file) {
                Ok(()) => db::write(conn, |tx| forget(tx, &file))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    db::write(conn, |tx| forget(tx, &file))?
                }
                // Held by another program (a virus scanner): finished again next time; its
                // events are stored already and are not stored twice.
                Err(e) => drained.errors.push(format!("{}: {e}", file.display())),
            }
        }
        if drained.again_in.is_none() {
            for log in logs {
                self.settle(conn, log)?;
            }
        }
        Ok(drained)
    }

    /// Whether a log holds anything for this database: an event for it, or a line that no
    /// database can store (it goes to `.rejected`). Lines for other databases are theirs.
    fn has_work(&self, log: &Path) -> std::io::Result<bool> {
        let file = match std::fs::File::open(log) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        for line in fallback::read_lines(BufReader::new(file)) {
            match line? {
                Line::Entry(entry, _) if !entry.is_for(self.db) => {}
                _ => return Ok(true),
            }
        }
        Ok(false)
    }

    /// Renames `log` aside for draining, if it holds anything for this database (and, in a
    /// shared temp directory, is the current user's).
    fn claim(&self, conn: &mut Connection, log: &Path) -> Result<()> {
        let Ok(meta) = std::fs::symlink_metadata(log) else {
            return Ok(());
        };
        // A log in a shared temp directory may be another user's.
        if !crate::platform::is_own_file(&meta) || !self.has_work(log)? {
            return Ok(());
        }
        let mut name = log.file_name().unwrap_or_default().to_os_string();
        name.push(format!(
            "{DRAINING}{}-{}",
            Claimed::now().0,
            std::process::id()
        ));
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
        if let Err(e) = std::fs::rename(log, &file) {
            db::write(conn, |tx| forget(tx, &file))?;
            if e.kind() != std::io::ErrorKind::NotFound {
                // Held by another program: left for a later pass.
                return Err(e).with_context(|| format!("cannot take {}", log.display()));
            }
        }
        Ok(())
    }

    /// After a drain: a log that holds nothing for this database is recorded as it is (hooks
    /// then see it unchanged, and start no worker for it); one that does is left to look
    /// changed, for the next drain.
    fn settle(&self, conn: &mut Connection, log: &Path) -> Result<()> {
        let key = log.display().to_string();
        // The stamp before the reading: a line written after it changes the file again.
        let stamp = std::fs::metadata(log).ok().map(|m| stamp(&m));
        let settled = stamp.filter(|_| self.has_work(log).is_ok_and(|work| !work));
        db::write(conn, |tx| {
            match settled {
                Some((modified, size)) => tx.execute(
                    "INSERT OR REPLACE INTO fallback_logs (path, size, modified) VALUES (?1, ?2, ?3)",
                    params![key, size, modified],
                )?,
                None => tx.execute("DELETE FROM fallback_logs WHERE path = ?1", [&key])?,
            };
            Ok(())
        })
    }

    /// Takes a copy of a file given to `replay --log` into the database's directory as a claimed
    /// file, leaving the file itself as it is; it is finished at the first pass.
    pub fn adopt(&self, conn: &mut Connection, file: &Path) -> Result<()> {
        let log = fallback::path_for(Some(self.db));
        let mut name = log.file_name().unwrap_or_default().to_os_string();
        // Claimed at boot time 0: no hook writes into a copy, nothing to wait for.
        name.push(format!("{DRAINING}0-{}-{}", std::process::id(), now_ms()));
        let copy = log.with_file_name(name);
        let key = copy.display().to_string();
        db::write(conn, |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO fallback_logs (path, size, modified) VALUES (?1, NULL, NULL)",
                [&key],
            )?;
            Ok(())
        })?;
        if let Err(e) = std::fs::copy(file, &copy) {
            let _ = std::fs::remove_file(&copy);
            db::write(conn, |tx| forget(tx, &copy))?;
            return Err(e).with_context(|| format!("cannot read {}", file.display()));
        }
        Ok(())
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
                    fallback::append_line(log, &line)
                        .with_context(|| format!("cannot write {}", log.display()))?;
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
        let id = checked.id.unwrap_or_else(|| event_id(checked.at));
        let mut event = NewEvent::with_id(id, checked.at, checked.kind, checked.caller, number);
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
        let names = !crate::log::contacts::check(conn, &self.config.contacts)?.stale;
        let mut rest = chunk.as_slice();
        while !rest.is_empty() {
            let (config, holder) = (self.config, &self.holder);
            let (stored, present) = db::write(conn, |tx| {
                let started = Instant::now();
                let (mut stored, mut present) = (Vec::new(), Vec::new());
                let mut recorded = Vec::new();
                // A long drain keeps its lane; one whose lease lapsed and was taken stops.
                if !lease::renew(tx, Lane::Fallback, holder, now_ms() + LEASE_MS)? {
                    anyhow::bail!("another worker took the fallback logs over");
                }
                for (event, has_id) in rest {
                    if stored.len() + present.len() >= TURN_EVENTS || started.elapsed() >= TURN {
                        break;
                    }
                    let id = has_id.then_some(event.id.as_str());
                    if is_stored(tx, id, event.at, event.kind, &event.caller.text)? {
                        present.push(key(event, *has_id));
                        continue;
                    }
                    crate::log::rows::record_event(tx, event, config.calls.window_ms(), names)?;
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
            let used = stored.len() + present.len();
            if finish {
                // Those this drain stored on an earlier reading of the file are not "present".
                drained.present += present.iter().filter(|k| !self.stored.contains(*k)).count();
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
fn call_of(conn: &Connection, event_id: &str) -> Result<Option<crate::log::call::Call>> {
    let call_id: Option<String> = conn
        .prepare_cached("SELECT call_id FROM events WHERE id = ?1")?
        .query_row([event_id], |r| r.get(0))
        .optional()?
        .flatten();
    match call_id {
        Some(id) => crate::log::rows::load_call(conn, &id),
        None => Ok(None),
    }
}

/// The files being drained (claimed, not yet finished).
pub fn claimed_files(conn: &Connection) -> Result<Vec<PathBuf>> {
    Ok(claimed(conn)?.into_iter().map(|(file, _)| file).collect())
}

/// Whether the event of a checked fallback entry is in the database.
pub fn is_stored_entry(conn: &Connection, checked: &fallback::Checked) -> Result<bool> {
    is_stored(
        conn,
        checked.id.as_deref(),
        checked.at,
        checked.kind,
        &checked.caller.text,
    )
}

/// Whether an event is in the database: by its id, or (a line of an older version, without
/// one) by its time, event and caller.
fn is_stored(
    conn: &Connection,
    id: Option<&str>,
    at: i64,
    kind: EventKind,
    caller: &str,
) -> Result<bool> {
    let found = match id {
        Some(id) => conn
            .prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
            .query_row([id], |_| Ok(()))
            .optional()?,
        None => conn
            .prepare_cached("SELECT 1 FROM events WHERE at = ?1 AND event = ?2 AND caller = ?3")?
            .query_row(params![at, kind.as_str(), caller], |_| Ok(()))
            .optional()?,
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

/// When a file was claimed, by the boot clock (which no clock setting moves): in its name.
#[derive(Clone, Copy)]
struct Claimed(i64);

impl Claimed {
    fn now() -> Claimed {
        Claimed(crate::platform::boot_ms().unwrap_or_else(now_ms))
    }

    /// How long to wait before the file may be finished: until [`QUIET_MS`] after its claim.
    /// A claim "later" than now was made before the computer started again: no hook of then
    /// is running.
    fn wait_before_finish(self, now: Claimed) -> Duration {
        if self.0 > now.0 {
            return Duration::ZERO;
        }
        Duration::from_millis((self.0 + QUIET_MS - now.0).max(0) as u64)
    }
}

/// When a claimed file was claimed, from its name.
fn claimed_at(file: &Path) -> Option<Claimed> {
    let name = file.file_name()?.to_str()?;
    let (_, rest) = name.rsplit_once(DRAINING)?;
    rest.split('-').next()?.parse().ok().map(Claimed)
}

fn forget(conn: &Connection, file: &Path) -> Result<()> {
    conn.execute(
        "DELETE FROM fallback_logs WHERE path = ?1",
        [file.display().to_string()],
    )?;
    Ok(())
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
