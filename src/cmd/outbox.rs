//! `callhook outbox`: the deliveries (after a line on the central lane, when the desk delivers
//! to central), and `outbox retry` to queue failed ones again.

use std::io::Write;

use anyhow::{Result, bail};

use crate::config::locations::Locations;
use crate::effects::central::link::{self, Progress};
use crate::effects::outbox::{self, Status};
use crate::log::call::now_ms;
use crate::log::db;
use crate::report::output::{self, local_time, plural, terminal_safe};

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
    /// Queue deliveries again (with a fresh retry schedule) and start the worker; `--failed`
    /// also makes the central lane try again now
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
    let conn = locations.existing_db()?;
    let rows = outbox::list(&conn, status, limit)?;
    let mut out = std::io::stdout().lock();
    if matches!(format, Format::Table)
        && let Some(to) = locations.config.central_delivery()
    {
        let line = match link::progress(&conn)? {
            Some(progress) if progress.link.url == to.url.as_str() => central_line(&progress),
            _ => format!(
                "Central {}: not linked yet; the worker links this desk at the next call event \
                 (or `callhook deliver`), then sends it the whole log.",
                to.url
            ),
        };
        writeln!(out, "{}", terminal_safe(&line))?;
    }
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

/// The central lane in one line: where to, what waits, the backfill, the last success, and
/// the last failure since then with the next try.
pub fn central_line(progress: &Progress) -> String {
    let link = &progress.link;
    let mut line = format!(
        "Central {} (desk {}): {} waiting; ",
        link.url,
        link.desk,
        plural(progress.waiting as usize, "change", "changes")
    );
    if link.backfill_done {
        line.push_str("backfill done; ");
    } else {
        line.push_str(&format!(
            "backfill {} of {} calls; ",
            progress.backfilled, progress.calls
        ));
    }
    match link.last_ok_at {
        Some(at) => line.push_str(&format!("last success {}", local_time(at))),
        None => line.push_str("no success yet"),
    }
    if link.attempts > 0 {
        let status = link
            .last_status
            .map(|s| format!(", HTTP {s}"))
            .unwrap_or_default();
        line.push_str(&format!(
            "; last failure ({}{status}): {}; next try {}",
            plural(link.attempts as usize, "attempt", "attempts"),
            link.last_error.as_deref().unwrap_or(""),
            local_time(link.next_at)
        ));
    }
    line.push('.');
    line
}

fn retry(locations: &Locations, ids: &[i64], failed: bool) -> Result<()> {
    let mut conn = locations.existing_db()?;
    let now = now_ms();
    let mut central = false;
    let changed = db::write(&mut conn, |tx| {
        if failed {
            // Central's lane never fails for good; it is made due now, counted afresh.
            central = link::retry_now(tx, now)?;
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
    if central {
        println!("Central is tried again now.");
    }
    if changed > 0 || central {
        crate::effects::spawn::worker(locations)?;
        println!("The worker delivers them in the background; `callhook outbox` shows progress.");
    }
    Ok(())
}
