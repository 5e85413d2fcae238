//! The queue in which concurrent hook processes take turns to write.
//!
//! SQLite's own lock is taken by polling: with many hooks at once (overlapping calls, several
//! MicroSIP accounts) the waiters' polling steals the CPU from the process holding the lock and
//! some run out of time. Waiting on an OS file lock instead puts the waiters to sleep in the
//! kernel until the lock is free.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};

/// The lock file beside the database.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// Holds the writers' lock of a database until dropped.
pub struct WriterLock {
    _file: File,
}

/// Waits for the writers' lock of `db` until `deadline`.
pub fn acquire(db: &Path, deadline: Instant) -> Result<WriterLock> {
    let path = path_for(db);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    if file.try_lock().is_ok() {
        return Ok(WriterLock { _file: file });
    }
    // A blocking lock has no timeout, so it waits on a thread; if the deadline passes, the
    // process gives up and its exit ends the thread.
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let locked = file.lock().map(|()| file);
        let _ = done.send(locked);
    });
    match result.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(file)) => Ok(WriterLock { _file: file }),
        Ok(Err(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        Err(_) => Err(Timeout(path).into()),
    }
}

/// The writers' lock did not come free in time.
#[derive(Debug, thiserror::Error)]
#[error("database is locked: other callhook processes held {} too long", .0.display())]
pub struct Timeout(pub PathBuf);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_second_writer_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("calls.db");
        let first = acquire(&db, Instant::now() + Duration::from_secs(1)).unwrap();
        let started = Instant::now();
        let err = acquire(&db, Instant::now() + Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(err.to_string().contains("locked"), "{err}");
        drop(first);
        acquire(&db, Instant::now() + Duration::from_millis(100)).unwrap();
        assert_eq!(path_for(&db), dir.path().join("calls.db.lock"));
    }
}
