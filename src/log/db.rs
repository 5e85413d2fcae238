//! The SQLite file: opened in WAL mode, schema from the embedded migrations.

use std::path::Path;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Deserialize;

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The schema version this binary writes: the number of the last migration.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long an admin command waits for another process's write lock.
pub const ADMIN_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for another process's lock.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// Up to this long, with SQLite's own back-off.
    For(Duration),
    /// Until this moment, trying again every millisecond or so (the hook, see [`busy`]).
    Until(Instant),
}

impl Wait {
    fn deadline(self) -> Instant {
        match self {
            Wait::For(d) => Instant::now() + d,
            Wait::Until(t) => t,
        }
    }
}

impl From<Duration> for Wait {
    fn from(d: Duration) -> Wait {
        Wait::For(d)
    }
}

/// SQLite's `synchronous` setting for the log (WAL mode): what a power cut can take.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Each write reaches the disk before the hook returns.
    Full,
    /// Writes reach the disk at each checkpoint: a power cut can take the last events.
    #[default]
    Normal,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// `?, ?, …` for `n` values.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Opens (creating it and its directory if needed) and migrates the database at `path`.
pub fn open(path: &Path, wait: impl Into<Wait>) -> Result<Connection> {
    let wait = wait.into();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the database {}", path.display()))?;
    prepare(&mut conn, path, wait).with_context(|| format!("database {}", path.display()))?;
    Ok(conn)
}

/// Runs `work` in one write transaction, in turn with the hooks and every other callhook
/// writer (see [`crate::log::lock`]), waiting up to [`ADMIN_BUSY_TIMEOUT`] for the turn. Hooks wait
/// for it asleep and give up within a second, so `work` must be short (a goal of 50 ms): never
/// a file, the network or a person inside it; long jobs take many turns.
pub fn write<T>(
    conn: &mut Connection,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    write_until(conn, Instant::now() + ADMIN_BUSY_TIMEOUT, work)
}

/// [`write`], giving up at `deadline`.
pub fn write_until<T>(
    conn: &mut Connection,
    deadline: Instant,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let path = conn_path(conn);
    let _turn = turn_on(conn, &path, deadline)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| locked(&path, e))?;
    let value = work(&tx)?;
    tx.commit().map_err(|e| locked(&path, e))?;
    Ok(value)
}

/// Takes the writers' turn on the database of `conn`, waiting until `deadline`.
pub fn turn(conn: &Connection, deadline: Instant) -> Result<crate::log::lock::WriterLock> {
    turn_on(conn, &conn_path(conn), deadline)
}

fn turn_on(
    conn: &Connection,
    path: &Path,
    deadline: Instant,
) -> Result<crate::log::lock::WriterLock> {
    match crate::log::lock::acquire(path, deadline) {
        Err(e) if e.is::<crate::log::lock::Timeout>() && !sqlite_lock_free(conn) => {
            // The writer ahead waits for SQLite's own lock: a program that does not take
            // turns (a database browser, a backup or sync tool) holds it.
            Err(anyhow::anyhow!(held_by_another_program(path)))
        }
        other => other,
    }
}

fn conn_path(conn: &Connection) -> std::path::PathBuf {
    std::path::PathBuf::from(conn.path().unwrap_or_default())
}

/// Whether SQLite's write lock is free at this moment (asked without waiting).
fn sqlite_lock_free(conn: &Connection) -> bool {
    let _ = conn.busy_timeout(Duration::ZERO);
    let free = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
    if free {
        let _ = conn.execute_batch("ROLLBACK");
    }
    free
}

fn held_by_another_program(path: &Path) -> String {
    format!(
        "database is locked by another program: a program that is not callhook (a database \
         browser, a backup or sync tool) held the write lock of {} the whole time",
        path.display()
    )
}

/// A busy database at the start or end of a transaction: callhook's own writers took turns
/// before, so the lock is another program's.
fn locked(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    if is_busy(&e) {
        anyhow::Error::new(e).context(held_by_another_program(path))
    } else {
        anyhow::Error::new(e)
    }
}

/// Sets how writes are made durable (`[database] synchronous`; [`open`] sets NORMAL).
pub fn set_synchronous(conn: &Connection, sync: Synchronous) -> Result<()> {
    if sync != Synchronous::Normal {
        conn.pragma_update(None, "synchronous", sync.pragma())?;
    }
    Ok(())
}

fn prepare(conn: &mut Connection, path: &Path, wait: Wait) -> Result<()> {
    match wait {
        Wait::For(timeout) => conn.busy_timeout(timeout)?,
        Wait::Until(deadline) => {
            // One hook process waits for one deadline.
            let _ = BUSY_DEADLINE.set(deadline);
            conn.busy_handler(Some(busy))?;
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Closing the last connection checkpoints the WAL and deletes it. That is kept on
    // purpose: with one short-lived process per event, a WAL left behind would have to be
    // read back in full (recovery) by every next hook, which costs more as it grows.
    // The common case, a current schema, costs one read of the header.
    if schema_version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    // Processes that find a new database at once take turns to set it up.
    let deadline = wait.deadline();
    let _turn = crate::log::lock::acquire(path, deadline)?;
    let empty: bool = conn.query_row("SELECT count(*) = 0 FROM sqlite_schema", [], |r| r.get(0))?;
    if empty {
        // Only possible before the first table: `prune --vacuum` can then give space back
        // in small steps, alongside the hooks (see `retention::vacuum`).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    set_wal(conn, deadline)?;
    migrate(conn)
}

static BUSY_DEADLINE: OnceLock<Instant> = OnceLock::new();

/// The hook's busy handler: tries again after about a millisecond until the deadline.
/// SQLite's default back-off sleeps up to 100 ms between tries, so with many hooks at once a
/// waiter keeps losing the lock to newcomers and runs out of time; short, jittered sleeps
/// keep the queue moving.
fn busy(attempt: i32) -> bool {
    let Some(deadline) = BUSY_DEADLINE.get() else {
        return false;
    };
    if Instant::now() >= *deadline {
        return false;
    }
    let seed = (std::process::id() as u64).wrapping_mul(6_364_136_223_846_793_005)
        ^ (attempt as u64).wrapping_mul(1_442_695_040_888_963_407);
    sleep(Duration::from_micros(500 + (seed >> 33) % 1000));
    true
}

pub fn schema_version(conn: &Connection) -> Result<u32> {
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("cannot read the schema version (is this a callhook database?)")?;
    if version > SCHEMA_VERSION {
        bail!(
            "its schema version {version} is newer than this callhook understands \
             ({SCHEMA_VERSION}); use the callhook version that wrote it, or a newer one"
        );
    }
    Ok(version)
}

/// WAL lets readers and the hook work side by side. The switch needs an exclusive lock that
/// SQLite does not always wait for, so a busy answer is retried until the timeout.
fn set_wal(conn: &Connection, deadline: Instant) -> Result<()> {
    loop {
        let result: rusqlite::Result<String> =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0));
        match result {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => bail!("cannot switch to WAL mode (the journal mode stays {mode})"),
            Err(e) if is_busy(&e) && Instant::now() < deadline => sleep(Duration::from_millis(5)),
            Err(e) => return Err(e).context("cannot switch to WAL mode"),
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Applies the missing migrations in one IMMEDIATE transaction: of several processes opening
/// a new database at once, one migrates and the others wait for it and find nothing to do.
fn migrate(conn: &Connection) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let from = schema_version(&tx)?;
    for migration in MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.execute_batch(migration.sql).with_context(|| {
            format!(
                "migration {:04}_{} failed",
                migration.version, migration.name
            )
        })?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        assert!(!MIGRATIONS.is_empty());
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
            assert!(!m.sql.trim().is_empty(), "{} is empty", m.name);
        }
    }

    #[test]
    fn open_creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("calls.db");
        let conn = open(&path, ADMIN_BUSY_TIMEOUT).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        let conn = open(&path, ADMIN_BUSY_TIMEOUT).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('calls', 'events', 'call_log')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 3);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = format!("{:#}", open(&path, ADMIN_BUSY_TIMEOUT).unwrap_err());
        assert!(err.contains("newer than this callhook"), "{err}");
    }
}
