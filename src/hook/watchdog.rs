//! The hook's watchdog: a run still going at its deadline writes its event to the fallback log
//! and exits, whatever holds it up (a config file on a hung network share, a stalled disk).
//!
//! On Unix a timer signal does it, on the hook's own thread: starting a thread would add a
//! tenth to the hook's time. The handler only calls async-signal-safe functions (`open`,
//! `write`, `_exit`) on a line prepared beforehand. Windows has no such signals, and a thread
//! costs little next to its process start: there a sleeping thread does it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::Instant;

use crate::hook::exit::EXIT_NOT_STORED;
use crate::log::fallback;

/// Whether the run has come to its end (stored, or failed and logged): then the watchdog does
/// nothing.
static SETTLED: AtomicBool = AtomicBool::new(false);
/// What the watchdog writes, and where; replaced as a whole (never freed: the process is short).
static PLAN: AtomicPtr<Plan> = AtomicPtr::new(std::ptr::null_mut());

struct Plan {
    /// The entry of the fallback line, and the database it is for.
    entry: fallback::Entry,
    db: Option<PathBuf>,
    /// The fallback line, newline included.
    line: Vec<u8>,
    /// What stderr gets.
    message: Vec<u8>,
    /// The fallback logs to try in turn: beside the database, then in the temp directory.
    #[cfg(unix)]
    logs: Vec<std::ffi::CString>,
    #[cfg(not(unix))]
    logs: Vec<PathBuf>,
}

/// Prepares the fallback line for `entry` and arms the watchdog for `deadline`; `db` is the
/// database whose fallback log it goes to.
pub fn arm(entry: &fallback::Entry, db: Option<PathBuf>, deadline: Instant) {
    install(entry.clone(), db);
    start(deadline);
}

/// The run now writes to `db` (`None`: to no database known): the watchdog's line goes
/// beside it, or to the temp directory.
pub fn retarget(db: Option<PathBuf>) {
    if let Some(current) = current() {
        let mut entry = current.entry.clone();
        entry.db = db.as_ref().map(|db| db.display().to_string());
        install(entry, db);
    }
}

/// The event is now stored under another id and time (moved by a clock step).
pub fn replace_entry(id: &str, at: i64) {
    if let Some(current) = current() {
        let mut entry = current.entry.clone();
        entry.id = Some(id.to_string());
        entry.at = at;
        entry.time = crate::log::call::rfc3339(at);
        install(entry, current.db.clone());
    }
}

fn current() -> Option<&'static Plan> {
    let current = PLAN.load(Ordering::Acquire);
    // SAFETY: plans are leaked, never freed, so the pointer stays valid.
    (!current.is_null()).then(|| unsafe { &*current })
}

/// The run has ended: the watchdog stays quiet.
pub fn settle() {
    SETTLED.store(true, Ordering::Release);
}

fn install(entry: fallback::Entry, db: Option<PathBuf>) {
    let mut line = serde_json::to_vec(&entry).unwrap_or_default();
    line.push(b'\n');
    let message = format!(
        "callhook: {}\ncallhook: event logged to the fallback log\n",
        entry.error
    )
    .into_bytes();
    let paths = fallback::logs_for(db.as_deref());
    #[cfg(unix)]
    let logs = paths
        .into_iter()
        .filter_map(|p| std::ffi::CString::new(p.into_os_string().into_encoded_bytes()).ok())
        .collect();
    #[cfg(not(unix))]
    let logs = paths;
    let plan = Box::new(Plan {
        entry,
        db,
        line,
        message,
        logs,
    });
    PLAN.store(Box::into_raw(plan), Ordering::Release);
}

#[cfg(unix)]
fn start(deadline: Instant) {
    let after = deadline.saturating_duration_since(Instant::now());
    // SAFETY: plain libc calls with initialised arguments; the handler is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_deadline as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: after.as_secs() as libc::time_t,
                // Never zero: that would disarm the timer.
                tv_usec: (after.subsec_micros() as libc::suseconds_t).max(1),
            },
        };
        libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
    }
}

#[cfg(unix)]
extern "C" fn on_deadline(_signal: libc::c_int) {
    if SETTLED.load(Ordering::Acquire) {
        return;
    }
    let plan = PLAN.load(Ordering::Acquire);
    if plan.is_null() {
        return;
    }
    // SAFETY: plans are leaked, never freed; only async-signal-safe calls follow.
    unsafe {
        let plan = &*plan;
        for log in &plan.logs {
            let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC;
            let fd = libc::open(log.as_ptr(), flags, 0o666 as libc::c_uint);
            if fd >= 0 {
                libc::write(fd, plan.line.as_ptr().cast(), plan.line.len());
                libc::close(fd);
                break;
            }
        }
        libc::write(2, plan.message.as_ptr().cast(), plan.message.len());
        libc::_exit(EXIT_NOT_STORED.into());
    }
}

#[cfg(not(unix))]
fn start(deadline: Instant) {
    // A small stack: it only sleeps, then writes one line.
    let _ = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            if SETTLED.load(Ordering::Acquire) {
                return;
            }
            let plan = PLAN.load(Ordering::Acquire);
            if plan.is_null() {
                return;
            }
            // SAFETY: plans are leaked, never freed.
            let plan = unsafe { &*plan };
            for log in &plan.logs {
                let written = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, &plan.line));
                if written.is_ok() {
                    break;
                }
            }
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &plan.message);
            // Exiting mid-transaction is safe: SQLite rolls an uncommitted one back.
            std::process::exit(EXIT_NOT_STORED.into());
        });
}
