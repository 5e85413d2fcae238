//! `callhook event`: the hook MicroSIP runs and waits for.
//!
//! It stores the event and returns; nothing else happens on this path (no network, no
//! browser). It never blocks MicroSIP for long: on any failure it gives up within a second,
//! after writing the event to the fallback log.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::TransactionBehavior;

use crate::call::rfc3339;
use crate::contacts;
use crate::db;
use crate::fallback;
use crate::fold::{self, NewEvent};
use crate::invocation::HookArgs;
use crate::lock;
use crate::outbox;
use crate::paths::Locations;
use crate::worker;

/// Exit codes of `callhook event`.
pub const EXIT_NOT_STORED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CONFIG: u8 = 3;

/// The whole run, failures included, stays under a second.
const BUDGET: Duration = Duration::from_millis(900);

pub fn run(args: HookArgs, started_ms: i64, started: Instant) -> ExitCode {
    let at = args.time.unwrap_or(started_ms);
    let locations = Locations::resolve(args.config.clone(), args.db.clone());
    let db_path = locations.as_ref().ok().map(|l| l.db.as_path());
    let fail = |code: u8, error: String, stored: bool| {
        let entry = fallback::Entry {
            time: rfc3339(at),
            at,
            event: args.event_text.clone(),
            caller: args.caller.text.clone(),
            caller_hex: args.caller.bytes.as_deref().map(fallback::hex),
            stored,
            error: error.clone(),
        };
        let written = fallback::append(db_path, &entry);
        let place = written.map_or("nowhere (the fallback log is not writable)".into(), |p| {
            p.display().to_string()
        });
        eprintln!("callhook: {error}\ncallhook: event logged to {place}");
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
    let config = &locations.config;
    let mut event = NewEvent::new(
        at,
        kind,
        args.caller.clone(),
        config.numbers.number(&args.caller.text),
    );
    event.host = host_name();
    event.os_user = user_name();
    event.config_error = locations.config_error.as_ref().map(|e| e.to_string());

    match store(locations, &event, started + BUDGET) {
        Ok(worker_needed) => {
            if worker_needed {
                // Deliveries stay queued if this fails: the next event starts a worker.
                let _ = worker::spawn(locations);
            }
            match &event.config_error {
                None => ExitCode::SUCCESS,
                Some(e) => fail(
                    EXIT_CONFIG,
                    format!("stored with the default config: {e}"),
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
/// a worker should be started to deliver them.
fn store(locations: &Locations, event: &NewEvent, deadline: Instant) -> Result<bool> {
    let path = &locations.db;
    let config = &locations.config;
    let window_ms = i64::try_from(config.calls.window.as_millis()).unwrap_or(i64::MAX);
    let mut conn = db::open(path, db::Wait::Until(deadline))?;
    // Hooks take turns to write (waiting asleep, see `lock`); SQLite's own lock then only
    // waits for admin commands and the worker.
    let turn = lock::acquire(path, deadline)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("the database stayed locked")?;
    let mut call = fold::record(&tx, event, window_ms)?;
    // A name from the contacts (one stat when there are none).
    if contacts::refresh(&tx, &config.contacts, &config.numbers)?
        && let Some(name) = contacts::lookup(&tx, &call.number)?
    {
        tx.prepare_cached("UPDATE calls SET name = ?1 WHERE id = ?2 AND name IS NOT ?1")?
            .execute([&name, &call.id])?;
        call.name = Some(name);
    }
    // With no side effects configured, the hook does nothing more.
    let worker_needed = config.has_side_effects() && {
        outbox::enqueue(&tx, config, event, &call)?;
        outbox::worker_needed(&tx, crate::call::now_ms())?
    };
    tx.commit().context("cannot commit")?;
    drop(turn);
    Ok(worker_needed)
}

fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn user_name() -> String {
    let var = if cfg!(windows) { "USERNAME" } else { "USER" };
    std::env::var(var)
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default()
}
