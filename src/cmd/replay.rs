//! `callhook replay`: stores the events that only reached the fallback log.

use std::path::PathBuf;

use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::caller::Caller;
use crate::db;
use crate::event::EventKind;
use crate::fallback::{self, Entry};
use crate::fold::{self, NewEvent};
use crate::paths::Locations;

#[derive(clap::Args)]
pub struct Args {
    /// The fallback log [default: the one next to the database]
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let log = args
        .log
        .unwrap_or_else(|| fallback::path_for(Some(&locations.db)));
    let text = match std::fs::read_to_string(&log) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("Nothing to replay: {} does not exist", log.display());
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", log.display())),
    };
    let config = &locations.config;
    let window_ms = i64::try_from(config.calls.window.as_millis()).unwrap_or(i64::MAX);
    let mut conn = db::open(&locations.db, db::ADMIN_BUSY_TIMEOUT)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (mut stored, mut present, mut skipped) = (0, 0, 0);
    for (index, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let entry: Entry = serde_json::from_str(line).with_context(|| {
            format!("{} line {}: not a fallback entry", log.display(), index + 1)
        })?;
        let Ok(kind) = entry.event.parse::<EventKind>() else {
            skipped += 1;
            continue;
        };
        if entry.stored || already_stored(&tx, &entry)? {
            present += 1;
            continue;
        }
        let mut caller = match entry.caller_hex.as_deref().and_then(fallback::unhex) {
            Some(bytes) => Caller {
                text: entry.caller.clone(),
                bytes: Some(bytes),
                truncated: false,
            },
            None => Caller::from_text(&entry.caller),
        };
        caller.truncated |= entry.truncated;
        let number = config.numbers.number(&caller.text);
        let mut event = NewEvent::new(entry.at, kind, caller, number);
        event.host = entry.host;
        event.os_user = entry.user;
        fold::record(&tx, &event, window_ms)?;
        stored += 1;
    }
    tx.commit()?;
    println!(
        "Replayed {}: {stored} stored, {present} already in the database, {skipped} not events",
        log.display()
    );
    if stored + present + skipped > 0 {
        let done = log.with_extension(format!("log.replayed-{}", crate::call::now_ms()));
        std::fs::rename(&log, &done)
            .with_context(|| format!("cannot move {} aside", log.display()))?;
        println!("Moved it to {}", done.display());
    }
    Ok(())
}

/// A replay of a replay stores nothing twice.
fn already_stored(tx: &rusqlite::Transaction<'_>, entry: &Entry) -> Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM events WHERE at = ?1 AND event = ?2 AND caller = ?3",
            rusqlite::params![entry.at, entry.event, entry.caller],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}
