//! `callhook event`: the hook MicroSIP runs and waits for.
//!
//! It stores the event and returns; nothing else happens on this path (no network, no
//! browser). It never blocks MicroSIP for long: on any failure it gives up within a second,
//! after writing the event to the fallback log.

use std::borrow::Cow;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::call::{Call, rfc3339};
use crate::caller::Caller;
use crate::config::Config;
use crate::contacts;
use crate::db;
use crate::drain;
use crate::fallback;
use crate::fold::{self, NewEvent};
use crate::invocation::HookArgs;
use crate::lease::{self, Lane};
use crate::outbox;
use crate::paths::{self, Locations};
use crate::watchdog;
use crate::worker;

/// Exit codes of `callhook event`.
pub const EXIT_NOT_STORED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CONFIG: u8 = 3;

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
            wall_ms: crate::call::now_ms(),
            boot_ms: crate::clock::boot_ms(),
        }
    }
}

pub fn run(args: HookArgs, start: Start) -> ExitCode {
    let started = start.instant;
    let at = args.time.unwrap_or(start.wall_ms);
    // Until the config is read (which may be what hangs), the database it would name is not
    // known: the options' or the default one stands in.
    let (db, db_known) = paths::provisional_db(args.db.clone());
    let mut report = Report {
        db,
        db_known,
        id: fold::event_id(at),
        at,
        event: args.event_text.clone(),
        caller: args.caller.clone(),
        host: host_name(),
        user: user_name(),
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
    let mut event = NewEvent::new(
        at,
        kind,
        args.caller.clone(),
        config.numbers.number(&args.caller.text),
    );
    event.id = report.id.clone();
    event.host = report.host.clone();
    event.os_user = report.user.clone();
    // Only an event timed by this run's own clock can tell a clock step (not a `--time`).
    event.boot_ms = start.boot_ms.filter(|_| args.time.is_none());
    event.config_error = locations.config_error.as_ref().map(|e| e.to_string());

    // A bug must not cost the event either: a panic is logged like any other failure.
    let stored = catch_unwind(AssertUnwindSafe(|| {
        store(locations, &event, started + BUDGET)
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
                let _ = worker::spawn(locations);
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

/// Stores the event, folds it and queues its side effects in one transaction; returns whether
/// a worker should be started (this hook claimed a lane for it).
fn store(locations: &Locations, event: &NewEvent, deadline: Instant) -> Result<bool> {
    let config = &locations.config;
    let mut conn = db::open(&locations.db, db::Wait::Until(deadline))?;
    db::set_synchronous(&conn, config.database.synchronous)?;
    // Files are looked at before the writers' turn, so that a slow disk or a hung share holds
    // up this hook alone: a stat of each contact file and fallback log.
    let contacts = contacts::check(&conn, &config.contacts)?;
    let drain = drain::needed(&conn, &fallback::logs_for(Some(&locations.db)))?;
    // Hooks take turns to write (waiting asleep, see `lock`) with every other callhook writer.
    db::write_until(&mut conn, deadline, |tx| {
        let event = match clock_step(tx, event, config.calls.window_ms())? {
            Some(moved) => Cow::Owned(moved),
            None => Cow::Borrowed(event),
        };
        // A changed contact file is read by the worker, which then names the calls; until
        // then names are unknown rather than stale.
        let call = record_event(tx, config, &event, contacts.any && !contacts.stale)?;
        // A worker is started only for a lane that has work and no worker: one per burst.
        let now = crate::call::now_ms();
        let mut lanes = Vec::new();
        if contacts.stale {
            lanes.push(Lane::Contacts);
        }
        if drain {
            lanes.push(Lane::Fallback);
        }
        if config.has_side_effects() {
            outbox::enqueue(tx, config, &event, &call, false)?;
            for lane in [Lane::Popup, Lane::Webhook] {
                if outbox::due(tx, lane, now)? {
                    lanes.push(lane);
                }
            }
        }
        lease::claim(tx, &lanes, now)
    })
}

/// Stores one event in `tx`: folded into its call, and the call named from the contacts when
/// `names`. Returns its call.
pub(crate) fn record_event(
    tx: &rusqlite::Transaction<'_>,
    config: &Config,
    event: &NewEvent,
    names: bool,
) -> Result<Call> {
    let mut call = fold::record(tx, event, config.calls.window_ms())?;
    if names && let Some(name) = contacts::lookup(tx, &call.number)? {
        tx.prepare_cached("UPDATE calls SET name = ?1 WHERE id = ?2 AND name IS NOT ?1")?
            .execute([&name, &call.id])?;
        call.name = Some(name);
    }
    Ok(call)
}

/// The event moved into the time base of the call it continues, when the clock was stepped
/// since that call's last event (see [`crate::clock`]); `None` when it stays as it is.
fn clock_step(
    conn: &rusqlite::Connection,
    event: &NewEvent,
    window_ms: i64,
) -> Result<Option<NewEvent>> {
    // Incoming and outgoing open new calls, which take the clock as it is now.
    let continues = !matches!(
        event.kind,
        crate::event::EventKind::Incoming | crate::event::EventKind::Outgoing
    );
    let Some(boot) = event.boot_ms.filter(|_| continues) else {
        return Ok(None);
    };
    let Some(shift) =
        crate::clock::shift_into_call(conn, &event.number, event.at, boot, window_ms)?
    else {
        return Ok(None);
    };
    let mut moved = event.clone();
    moved.at = event.at + shift;
    moved.id = fold::event_id(moved.at);
    moved.clock_shift_ms = Some(shift);
    // Should the run end now, its fallback line must name the event as stored.
    watchdog::replace_entry(&moved.id, moved.at);
    Ok(Some(moved))
}

pub(crate) fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

pub(crate) fn user_name() -> String {
    let var = if cfg!(windows) { "USERNAME" } else { "USER" };
    std::env::var(var)
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default()
}
