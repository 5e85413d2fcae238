//! `callhook prune --before <WHEN>`: deletes old calls with their events and deliveries.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, TransactionBehavior, named_params};

use crate::call::{now_ms, rfc3339};
use crate::db;
use crate::paths::Locations;
use crate::when::{self, Bound};

#[derive(clap::Args)]
pub struct Args {
    /// Delete the calls that started before this (a day means its start): 2026-01-01, 365d
    #[arg(long, value_name = "WHEN")]
    before: String,
    /// Report what would be deleted, and delete nothing
    #[arg(long)]
    dry_run: bool,
    /// Give the freed space back to the file system afterwards (rewrites the file)
    #[arg(long)]
    vacuum: bool,
}

/// The calls a retention command works on: over, and started before `:before`.
pub const OLD_CALLS: &str = "SELECT id FROM calls WHERE started_at < :before \
    AND (ended_at IS NOT NULL OR expires_at IS NULL OR expires_at < :now)";

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let before = when::parse_local(&args.before, Bound::Start).map_err(anyhow::Error::msg)?;
    let Some(mut conn) = db::open_existing(&locations.db)? else {
        bail!("no database at {}", locations.db.display());
    };
    let counts = prune(&mut conn, before, now_ms(), args.dry_run)?;
    let verb = if args.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    println!(
        "{verb} {} calls, {} events and {} deliveries from before {}.",
        counts.calls,
        counts.events,
        counts.deliveries,
        rfc3339(before)
    );
    if args.vacuum && !args.dry_run {
        conn.execute_batch("VACUUM").context("VACUUM failed")?;
        println!("Vacuumed {}.", locations.db.display());
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct Pruned {
    pub calls: usize,
    pub events: usize,
    pub deliveries: usize,
}

/// Deletes, in one transaction, the old calls, their events and deliveries, the events that
/// joined no call, and the numbers no call has any more.
pub fn prune(conn: &mut Connection, before: i64, now: i64, dry_run: bool) -> Result<Pruned> {
    with_old_calls(conn, before, now, dry_run, |tx| {
        let deliveries = tx.execute(
            "DELETE FROM outbox WHERE call_id IN (SELECT id FROM old_calls)",
            [],
        )?;
        let events = tx.execute(
            "DELETE FROM events WHERE call_id IN (SELECT id FROM old_calls)",
            [],
        )? + tx.execute(
            "DELETE FROM events WHERE call_id IS NULL AND at < ?1",
            [before],
        )?;
        let calls = tx.execute(
            "DELETE FROM calls WHERE id IN (SELECT id FROM old_calls)",
            [],
        )?;
        Ok(Pruned {
            calls,
            events,
            deliveries,
        })
    })
}

/// Runs `work` in one IMMEDIATE transaction in which the temporary table `old_calls` holds the
/// ids of the calls that are over and started before `before`; afterwards drops the numbers no
/// call has any more, and commits (or, for a dry run, rolls back).
pub fn with_old_calls<T>(
    conn: &mut Connection,
    before: i64,
    now: i64,
    dry_run: bool,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        &format!("CREATE TEMP TABLE old_calls AS {OLD_CALLS}"),
        named_params! {":before": before, ":now": now},
    )?;
    let result = work(&tx)?;
    tx.execute(
        "DELETE FROM numbers WHERE NOT EXISTS (SELECT 1 FROM calls \
         WHERE calls.number = numbers.number AND calls.raw = numbers.raw)",
        [],
    )?;
    tx.execute("DROP TABLE old_calls", [])?;
    if dry_run {
        tx.rollback()?;
    } else {
        tx.commit()?;
    }
    Ok(result)
}
