//! `callhook outbox`: the deliveries, and `outbox retry` to queue failed ones again.

use std::io::Write;

use anyhow::{Result, bail};

use crate::config::locations::Locations;
use crate::effects::outbox::{self, Status};
use crate::log::call::now_ms;
use crate::log::db;
use crate::report::output::{self, plural};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Only deliveries in this state
    #[arg(long, value_enum)]
    status: Option<Status>,
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

fn list(locations: &Locations, status: Option<Status>, limit: u32, format: Format) -> Result<()> {
    let rows = outbox::list(&locations.existing_db()?, status, limit)?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        Format::Table if rows.is_empty() => writeln!(out, "No deliveries.")?,
        Format::Table => writeln!(out, "{}", output::deliveries("ID", &rows, true))?,
    }
    Ok(())
}

fn retry(locations: &Locations, ids: &[i64], failed: bool) -> Result<()> {
    let mut conn = locations.existing_db()?;
    let now = now_ms();
    let changed = db::write(&mut conn, |tx| {
        if failed {
            outbox::retry_failed(tx, now)
        } else {
            let found = outbox::existing(tx, ids)?;
            if found < ids.len() {
                bail!(
                    "only {found} of the {} exist",
                    plural(ids.len(), "delivery", "deliveries")
                );
            }
            outbox::retry(tx, ids, now)
        }
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
