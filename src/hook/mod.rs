//! `callhook event`: the hook MicroSIP runs and waits for.
//!
//! It stores the event and returns; nothing else happens on this path (no network, no
//! browser). It never blocks MicroSIP for long: on any failure it gives up within a second,
//! after writing the event to the fallback log.
//!
//! [`args`] reads the command line by hand (before clap, which the hook never loads),
//! [`store`] is the one transaction, [`watchdog`] ends a run that hangs, [`exit`] names the
//! exit codes. This room reaches the outbox only to queue: never the worker or HTTP.

pub mod args;
pub mod exit;
pub mod store;
pub mod watchdog;

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::config::locations::{self, Locations};
use crate::effects::spawn;
use crate::hook::args::HookArgs;
use crate::hook::exit::{EXIT_CONFIG, EXIT_NOT_STORED, EXIT_USAGE};
use crate::log::call::rfc3339;
use crate::log::caller::Caller;
use crate::log::fallback;
use crate::log::fold::{self, NewEvent};

/// Waiting for other writers stops here: the run, failures included, stays under a second.
const BUDGET: Duration = Duration::from_millis(900);
/// Whatever else holds the hook up (a slow disk, a huge contacts file), it gives up here.
const WATCHDOG: Duration = Duration::from_millis(950);

/// What the fallback log needs to keep an event that was not stored.
struct Report {
    db: Option<PathBuf>,
    /// Whether `db` is the database the event is for (else only where its line goes).
    db_known: bool,
    id: String,
    at: i64,
    event: String,
    caller: Caller,
    host: String,
    user: String,
}

impl Report {
    fn entry(&self, error: &str, stored: bool) -> fallback::Entry {
        fallback::Entry {
            time: rfc3339(self.at),
            at: self.at,
            id: Some(self.id.clone()),
            event: self.event.clone(),
            caller: self.caller.text.clone(),
            caller_hex: self.caller.bytes.as_deref().map(fallback::hex),
            truncated: self.caller.truncated,
            host: self.host.clone(),
            user: self.user.clone(),
            db: self
                .db
                .as_ref()
                .filter(|_| self.db_known)
                .map(|db| db.display().to_string()),
            stored,
            error: error.to_string(),
        }
    }

    /// The run now writes to `db` (`None`: the config does not say which database): the
    /// watchdog's line, and the line a failure writes, go beside it, or to the temp directory.
    fn retarget(&mut self, db: Option<PathBuf>) {
        if self.db == db && self.db_known == db.is_some() {
            return;
        }
        self.db_known = db.is_some();
        self.db.clone_from(&db);
        watchdog::retarget(db);
    }

    /// Appends the event to the fallback log and says so on stderr.
    fn log(&self, error: &str, stored: bool) {
        let written = fallback::append(self.db.as_deref(), &self.entry(error, stored));
        let place = written.map_or("nowhere (the fallback log is not writable)".into(), |p| {
            p.display().to_string()
        });
        // Not eprintln!: a hook must not panic on a closed stderr.
        let _ = writeln!(
            std::io::stderr(),
            "callhook: {error}\ncallhook: event logged to {place}"
        );
    }
}

/// When the hook started, by each clock: taken first, before any other work.
pub struct Start {
    instant: Instant,
    wall_ms: i64,
    boot_ms: Option<i64>,
}

impl Start {
    pub fn now() -> Start {
        Start {
            instant: Instant::now(),
            wall_ms: crate::log::call::now_ms(),
            boot_ms: crate::platform::boot_ms(),
        }
    }
}

pub fn run(args: HookArgs, start: Start) -> ExitCode {
    let started = start.instant;
    let at = args.time.unwrap_or(start.wall_ms);
    // Until the config is read (which may be what hangs), the database it would name is not
    // known: the options' or the default one stands in.
    let (db, db_known) = locations::provisional_db(args.db.clone());
    let mut report = Report {
        db,
        db_known,
        id: fold::event_id(at),
        at,
        event: args.event_text.clone(),
        caller: args.caller.clone(),
        host: crate::platform::host_name(),
        user: crate::platform::login_name(),
    };
    let waited = WATCHDOG.as_millis();
    let late = report.entry(&format!("gave up after {waited} ms (not stored)"), false);
    watchdog::arm(&late, report.db.clone(), started + WATCHDOG);
    let locations = Locations::resolve(args.config.clone(), args.db.clone());
    if let Ok(locations) = &locations {
        // When the config hides its database, not the default one: the line waits in the
        // temp directory, for whichever database the config names once it is fixed.
        report.retarget((!locations.db_unknown).then(|| locations.db.clone()));
    }
    let fail = |code: u8, error: String, stored: bool| {
        watchdog::settle();
        report.log(&error, stored);
        ExitCode::from(code)
    };

    let kind = match &args.event {
        Ok(kind) => *kind,
        Err(e) => return fail(EXIT_USAGE, e.clone(), false),
    };
    let locations = match &locations {
        Ok(locations) => locations,
        Err(e) => return fail(EXIT_NOT_STORED, format!("{e:#}"), false),
    };
    if let (true, Some(e)) = (locations.db_unknown, &locations.config_error) {
        return fail(
            EXIT_NOT_STORED,
            format!("not stored: the config does not say which database to use: {e}"),
            false,
        );
    }
    let config = &locations.config;
    let mut event = NewEvent::with_id(
        report.id.clone(),
        at,
        kind,
        args.caller.clone(),
        config.numbers.number(&args.caller.text),
    );
    event.host = report.host.clone();
    event.os_user = report.user.clone();
    // Only an event timed by this run's own clock can tell a clock step (not a `--time`).
    event.boot_ms = start.boot_ms.filter(|_| args.time.is_none());
    event.config_error = locations.config_error.as_ref().map(|e| e.to_string());

    // A bug must not cost the event either: a panic is logged like any other failure.
    let stored = catch_unwind(AssertUnwindSafe(|| {
        store::store(locations, &event, started + BUDGET)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(anyhow::anyhow!("internal error: {what}"))
    });
    match stored {
        Ok(worker_needed) => {
            watchdog::settle();
            if worker_needed {
                // Deliveries stay queued if this fails: the next event starts a worker.
                let _ = spawn::worker(locations);
            }
            match &event.config_error {
                None => ExitCode::SUCCESS,
                Some(e) => fail(
                    EXIT_CONFIG,
                    format!("stored without the config's broken parts: {e}"),
                    true,
                ),
            }
        }
        Err(e) => fail(
            EXIT_NOT_STORED,
            format!("event not stored in {}: {e:#}", locations.db.display()),
            false,
        ),
    }
}
