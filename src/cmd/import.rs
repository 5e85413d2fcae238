//! `callhook import`: MicroSIP's own call history (`[Calls]` in microsip.ini), and the caller
//! names of the contacts.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use uuid::Builder;

use crate::config::locations::Locations;
use crate::log::call::{Direction, Status};
use crate::log::contacts;
use crate::log::db;
use crate::log::rows::note_number;
use crate::microsip::history::{HistoryEntry, HistoryKind, MAX_TIME, Skipped, parse_history};
use crate::microsip::ini::Ini;
use crate::microsip::locate;
use crate::report::output::plural;

/// A history entry within this of a call the hook recorded is that call.
const SAME_CALL_MS: i64 = 60_000;

#[derive(clap::Args)]
pub struct Args {
    /// microsip.ini [default: found as for install]
    #[arg(long, value_name = "PATH")]
    ini: Option<PathBuf>,
    /// Report what would be imported, and change nothing
    #[arg(long)]
    dry_run: bool,
}

/// The id of an imported call: a UUIDv7 of its time whose other bits come from the entry, so
/// that importing again finds it.
fn call_id(entry: &HistoryEntry) -> String {
    let digest = Sha256::digest(format!(
        "microsip\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        entry.number,
        entry.kind.code(),
        entry.time,
        entry.duration
    ));
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    let millis = entry.time.clamp(0, MAX_TIME).saturating_mul(1000);
    Builder::from_unix_timestamp_millis(millis as u64, &bits)
        .into_uuid()
        .to_string()
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let (entries, unreadable) = read_history(args.ini.as_deref())?;
    let config = &locations.config;
    let mut conn = locations.open_db()?;
    if !args.dry_run {
        // Read with no lock held; a file that does not read is recorded for doctor.
        let _ = contacts::reload(&mut conn, &config.contacts, &config.numbers);
    }
    let counts = import_calls(&mut conn, config, &entries, args.dry_run)?;
    let named = if args.dry_run {
        0
    } else {
        contacts::fill_names(&mut conn)?
    };
    print_counts(&counts, args.dry_run);
    print_unreadable(&unreadable);
    if named > 0 {
        println!(
            "Named {} from the contacts.",
            plural(named, "call", "calls")
        );
    }
    Ok(())
}

/// MicroSIP's call history from its ini: the entries, and the ones that cannot be read.
fn read_history(ini: Option<&Path>) -> Result<(Vec<HistoryEntry>, Vec<Skipped>)> {
    let (path, layout) = locate::find_ini(ini)?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let ini = Ini::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let history = parse_history(&ini);
    println!(
        "MicroSIP history: {} ({})",
        path.display(),
        layout.describe()
    );
    Ok(history)
}

/// Imports the history a turn of the writers' lock at a time, with progress on a terminal.
fn import_calls(
    conn: &mut rusqlite::Connection,
    config: &crate::config::Config,
    entries: &[HistoryEntry],
    dry_run: bool,
) -> Result<Counts> {
    let progress = if std::io::stderr().is_terminal() && !entries.is_empty() {
        indicatif::ProgressBar::new(entries.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut counts = Counts::default();
    // A dry run writes nothing: the calls it would add are remembered instead.
    let mut would_add = HashSet::new();
    for chunk in entries.chunks(ENTRIES_PER_TURN) {
        let done = if dry_run {
            import_chunk(conn, config, chunk, dry_run, &mut would_add)?
        } else {
            db::write(conn, |tx| {
                import_chunk(tx, config, chunk, dry_run, &mut would_add)
            })?
        };
        counts.added += done.added;
        counts.present += done.present;
        counts.recorded += done.recorded;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(counts)
}

/// Imports one turn's entries; in a dry run, a call already counted as one to add is present.
fn import_chunk(
    tx: &rusqlite::Connection,
    config: &crate::config::Config,
    chunk: &[HistoryEntry],
    dry_run: bool,
    would_add: &mut HashSet<String>,
) -> Result<Counts> {
    let mut counts = Counts::default();
    for entry in chunk {
        match import_entry(tx, config, entry, dry_run)? {
            Imported::Added(id) if dry_run && !would_add.insert(id.clone()) => counts.present += 1,
            Imported::Added(_) => counts.added += 1,
            Imported::Present => counts.present += 1,
            Imported::Recorded => counts.recorded += 1,
        }
    }
    Ok(counts)
}

/// How many calls were imported (or would be), and why the others were not.
fn print_counts(counts: &Counts, dry_run: bool) {
    let verb = if dry_run { "Would import" } else { "Imported" };
    println!(
        "{verb} {} from MicroSIP's history.",
        plural(counts.added, "call", "calls")
    );
    if counts.present > 0 {
        println!(
            "{} imported before, and not again.",
            plural(counts.present, "call was", "calls were")
        );
    }
    if counts.recorded > 0 {
        println!(
            "{} callhook recorded itself (the same number within a minute), and not again.",
            plural(counts.recorded, "call was one", "calls were ones")
        );
    }
}

/// The entries of [Calls] that cannot be read: how many, and the first ten.
fn print_unreadable(unreadable: &[Skipped]) {
    if !unreadable.is_empty() {
        println!(
            "{} of [Calls] cannot be read, and {} skipped:",
            plural(unreadable.len(), "entry", "entries"),
            if unreadable.len() == 1 { "was" } else { "were" }
        );
    }
    for line in unreadable.iter().take(10) {
        let line = format!("  [Calls] {}: {}", line.slot, line.reason);
        println!("{}", crate::report::output::terminal_safe(&line));
    }
    if unreadable.len() > 10 {
        println!("  … and {} more", unreadable.len() - 10);
    }
}

/// History entries imported per turn of the writers' lock.
const ENTRIES_PER_TURN: usize = 200;

#[derive(Default)]
struct Counts {
    added: usize,
    present: usize,
    recorded: usize,
}

enum Imported {
    Added(String),
    /// Imported before.
    Present,
    /// A call the hook recorded.
    Recorded,
}

/// Imports one history entry (or, for a dry run, only says what it would do).
fn import_entry(
    tx: &rusqlite::Connection,
    config: &crate::config::Config,
    entry: &HistoryEntry,
    dry_run: bool,
) -> Result<Imported> {
    let id = call_id(entry);
    let number = config.numbers.number(&entry.number);
    // parse_history bounds the time and duration, so that milliseconds cannot overflow.
    let start = entry.time.saturating_mul(1000);
    let exists = tx
        .prepare_cached("SELECT 1 FROM calls WHERE id = ?1")?
        .query_row([&id], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Ok(Imported::Present);
    }
    // MicroSIP's history repeats the calls the hook saw.
    let seen = tx
        .prepare_cached(
            "SELECT 1 FROM calls WHERE number = ?1 AND started_at BETWEEN ?2 AND ?3 \
             AND source = 'hook' LIMIT 1",
        )?
        .query_row(
            params![number, start - SAME_CALL_MS, start + SAME_CALL_MS],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if seen {
        return Ok(Imported::Recorded);
    }
    if !dry_run {
        add_call(tx, entry, &id, &number, start)?;
    }
    Ok(Imported::Added(id))
}

/// Stores a history entry as a call, named by the entry or else by the contacts.
fn add_call(
    tx: &rusqlite::Connection,
    entry: &HistoryEntry,
    id: &str,
    number: &str,
    start: i64,
) -> Result<()> {
    let talk = (entry.duration > 0).then_some(entry.duration.saturating_mul(1000));
    let (direction, status) = match entry.kind {
        HistoryKind::Outgoing if talk.is_some() => (Direction::Out, Status::Answered),
        HistoryKind::Outgoing => (Direction::Out, Status::NoAnswer),
        HistoryKind::Incoming => (Direction::In, Status::Answered),
        HistoryKind::Missed => (Direction::In, Status::Missed),
        // Taken on another device: the caller was answered.
        HistoryKind::AnsweredElsewhere => (Direction::In, Status::Answered),
    };
    let answered = (status == Status::Answered).then_some(start);
    let ended = start.saturating_add(talk.unwrap_or(0));
    let name = match entry.name.trim() {
        "" => contacts::lookup(tx, number)?,
        name => Some(name.to_string()),
    };
    tx.prepare_cached(
        "INSERT INTO calls (id, direction, status, number, raw, name, started_at, ringing_at, \
         answered_at, ended_at, last_event_at, expires_at, ring_ms, talk_ms, source) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?9, NULL, NULL, ?10, 'microsip')",
    )?
    .execute(params![
        id,
        direction,
        status,
        number,
        entry.number,
        name,
        start,
        answered,
        ended,
        talk
    ])?;
    let call = crate::log::rows::load_call(tx, id)?.expect("just inserted");
    note_number(tx, &call)?;
    Ok(())
}
