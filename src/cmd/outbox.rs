//! `callhook outbox`: the deliveries, and `outbox retry` to queue failed ones again.

use std::io::Write;

use anyhow::{Result, bail};
use comfy_table::Cell;
use rusqlite::params_from_iter;

use crate::cmd::output::{self, local_time, plural, terminal_safe};
use crate::config::locations::Locations;
use crate::effects::outbox::Delivery;
use crate::log::call::now_ms;
use crate::log::db;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Only deliveries in this state
    #[arg(long, value_enum)]
    status: Option<State>,
    /// How many to show, newest first
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Queue deliveries again (with a fresh retry schedule) and start the worker
    Retry {
        /// Delivery ids, as `callhook outbox` shows them
        #[arg(required_unless_present = "failed")]
        ids: Vec<i64>,
        /// Every failed delivery, and those stopped by a 410
        #[arg(long, conflicts_with = "ids")]
        failed: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum State {
    Pending,
    Delivered,
    Failed,
    Stopped,
    Skipped,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    match args.action {
        Some(Action::Retry { ids, failed }) => retry(locations, &ids, failed),
        None => list(locations, args.status, args.limit, args.format),
    }
}

fn list(locations: &Locations, status: Option<State>, limit: u32, format: Format) -> Result<()> {
    let rows = match Some(locations.existing_db()?) {
        Some(conn) => {
            let status = status.map(|s| {
                clap::ValueEnum::to_possible_value(&s)
                    .unwrap()
                    .get_name()
                    .to_string()
            });
            let sql = format!(
                "SELECT {} FROM outbox WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT ?2",
                Delivery::COLUMNS
            );
            let mut stmt = conn.prepare(&sql)?;
            stmt.query_map(rusqlite::params![status, limit], Delivery::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        None => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        Format::Table if rows.is_empty() => writeln!(out, "No deliveries.")?,
        Format::Table => {
            let mut table = output::fitted([
                "ID",
                "Kind",
                "Target",
                "Status",
                "Tries",
                "Queued",
                "Next / done",
                "Call ID",
                "Last error",
            ]);
            for d in &rows {
                let when = match (d.status.as_str(), d.delivered_at) {
                    ("pending", _) => local_time(d.next_at),
                    (_, Some(at)) => local_time(at),
                    _ => String::new(),
                };
                let error = d.last_error.as_deref().unwrap_or("");
                table.add_row([
                    Cell::new(d.id),
                    Cell::new(&d.kind),
                    Cell::new(terminal_safe(&d.target)),
                    Cell::new(&d.status),
                    Cell::new(d.attempts),
                    Cell::new(local_time(d.created_at)),
                    Cell::new(when),
                    Cell::new(&d.call_id),
                    Cell::new(terminal_safe(error)),
                ]);
            }
            writeln!(out, "{table}")?;
        }
    }
    Ok(())
}

fn retry(locations: &Locations, ids: &[i64], failed: bool) -> Result<()> {
    let mut conn = locations.existing_db()?;
    let now = now_ms();
    let changed = db::write(&mut conn, |tx| {
        if failed {
            return Ok(tx.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_at = ?1 \
                 WHERE status IN ('failed', 'stopped')",
                [now],
            )?);
        }
        let placeholders = vec!["?"; ids.len()].join(", ");
        let found: i64 = tx.query_row(
            &format!("SELECT count(*) FROM outbox WHERE id IN ({placeholders})"),
            params_from_iter(ids),
            |row| row.get(0),
        )?;
        if found < ids.len() as i64 {
            bail!(
                "only {found} of the {} exist",
                plural(ids.len(), "delivery", "deliveries")
            );
        }
        // A stopped endpoint (410) resumes as a whole: its stopped deliveries go again, in
        // order, and new events are sent to it again.
        let sql = format!(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_at = {now} \
             WHERE id IN ({placeholders}) OR (status = 'stopped' AND kind = 'webhook' \
             AND target IN (SELECT target FROM outbox WHERE kind = 'webhook' \
                            AND status = 'stopped' AND id IN ({placeholders})))"
        );
        Ok(tx.execute(&sql, params_from_iter(ids.iter().chain(ids)))?)
    })?;
    println!(
        "Queued {} again.",
        plural(changed, "delivery", "deliveries")
    );
    if changed > 0 {
        crate::effects::spawn::worker(locations)?;
        println!("The worker delivers them in the background; `callhook outbox` shows progress.");
    }
    Ok(())
}
