//! `callhook prune --before <WHEN>`: deletes old calls with their events and deliveries.

use anyhow::Result;
use rusqlite::params_from_iter;

use crate::cmd::retention::{self, Counts, Old, OldArgs, Vacuumed, forget_numbers, numbers_of};
use crate::config::locations::Locations;
use crate::log::db::placeholders;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    old: OldArgs,
    /// Give the freed space back to the file system afterwards
    #[arg(long)]
    vacuum: bool,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let (mut conn, old) = args.old.open(locations)?;
    let before = old.before;
    if args.old.dry_run {
        let counts = old.count(&conn, "1", "1", "1")?;
        println!("{}", counts.report("Would delete", before));
        return Ok(());
    }
    let counts = prune(&mut conn, old)?;
    println!("{}", counts.report("Deleted", before));
    if args.vacuum {
        match retention::vacuum(&mut conn, false)? {
            Vacuumed::Incremental { pages } => println!(
                "Vacuumed {}: {} MB given back.",
                locations.db.display(),
                pages * 4096 / 1_000_000
            ),
            Vacuumed::Full { took } => println!(
                "Vacuumed {} (rewritten in {:.1} s).",
                locations.db.display(),
                took.as_secs_f64()
            ),
        }
    }
    Ok(())
}

/// Deletes the old calls with their events and deliveries, the events that joined no call,
/// and the distinct numbers no call has any more: a batch of calls per turn, each batch whole
/// (a call goes with its events and deliveries), so that hooks keep storing meanwhile.
pub fn prune(conn: &mut rusqlite::Connection, old: Old) -> Result<Counts> {
    let mut counts = Counts::default();
    old.calls(conn, |tx, ids| {
        let numbers = numbers_of(tx, ids)?;
        let list = placeholders(ids.len());
        let delete = |sql: &str| tx.execute(&format!("{sql} ({list})"), params_from_iter(ids));
        counts.deliveries += delete("DELETE FROM outbox WHERE call_id IN")?;
        counts.events += delete("DELETE FROM events WHERE call_id IN")?;
        counts.calls += delete("DELETE FROM calls WHERE id IN")?;
        forget_numbers(tx, &numbers)
    })?;
    old.loose_events(conn, |tx, ids| {
        let list = placeholders(ids.len());
        counts.events += tx.execute(
            &format!("DELETE FROM events WHERE id IN ({list})"),
            params_from_iter(ids),
        )?;
        Ok(())
    })?;
    forget_feed(conn)?;
    Ok(counts)
}

/// Drops the live-event feed's entries of deleted events, a batch per turn. The deleted calls
/// are the oldest, so their entries come first: the first batch whose events all remain ends
/// the work (an entry left behind is skipped by `callhook serve`, it only takes room).
fn forget_feed(conn: &mut rusqlite::Connection) -> Result<()> {
    let mut after = 0i64;
    loop {
        let (last, gone) = crate::log::db::write(conn, |tx| {
            let last: Option<i64> = tx.query_row(
                "SELECT max(seq) FROM (SELECT seq FROM event_feed WHERE seq > ?1 ORDER BY seq \
                 LIMIT 2000)",
                [after],
                |r| r.get(0),
            )?;
            let gone = tx.execute(
                "DELETE FROM event_feed WHERE seq > ?1 AND seq <= ?2 AND NOT EXISTS \
                 (SELECT 1 FROM events WHERE events.id = event_feed.event_id)",
                rusqlite::params![after, last],
            )?;
            Ok((last, gone))
        })?;
        match last {
            Some(last) if gone > 0 => after = last,
            _ => return Ok(()),
        }
    }
}
