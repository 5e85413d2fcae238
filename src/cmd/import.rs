//! `callhook import`: MicroSIP's own call history (`[Calls]` in microsip.ini), and the caller
//! names of the contacts.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use uuid::Builder;

use crate::call::{Direction, Status};
use crate::contacts;
use crate::db;
use crate::fold::note_number;
use crate::microsip::history::{HistoryEntry, HistoryKind, MAX_TIME, parse_history};
use crate::microsip::ini::Ini;
use crate::microsip::locate;
use crate::paths::Locations;

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
    let (path, layout) = locate::find_ini(args.ini.as_deref())?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let ini = Ini::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let (entries, unreadable) = parse_history(&ini);
    println!(
        "MicroSIP history: {} ({})",
        path.display(),
        layout.describe()
    );

    let config = &locations.config;
    let mut conn = db::open(&locations.db, db::ADMIN_BUSY_TIMEOUT)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    contacts::refresh(&tx, &config.contacts, &config.numbers)?;
    let progress = if std::io::stderr().is_terminal() && !entries.is_empty() {
        indicatif::ProgressBar::new(entries.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (mut added, mut present, mut recorded) = (0, 0, 0);
    for entry in &entries {
        progress.inc(1);
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
            present += 1;
            continue;
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
            recorded += 1;
            continue;
        }
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
            "" => contacts::lookup(&tx, &number)?,
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
        let call = crate::fold::load_call(&tx, &id)?.expect("just inserted");
        note_number(&tx, &call)?;
        added += 1;
    }
    progress.finish_and_clear();
    let named = contacts::fill_names(&tx)?;
    if args.dry_run {
        tx.rollback()?;
    } else {
        tx.commit()?;
    }
    let verb = if args.dry_run {
        "Would import"
    } else {
        "Imported"
    };
    println!(
        "{verb} {added} calls; {present} were imported before; {recorded} are calls the hook \
         recorded; {} lines could not be read.",
        unreadable.len()
    );
    for line in unreadable.iter().take(10) {
        println!("  [Calls] {}: {}", line.slot, line.reason);
    }
    if unreadable.len() > 10 {
        println!("  … and {} more", unreadable.len() - 10);
    }
    if named > 0 {
        println!("Named {named} calls from the contacts.");
    }
    Ok(())
}
