//! `callhook calls`: the latest calls, newest first.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table};

use crate::call::{Call, now_ms};
use crate::db;
use crate::output::{self, duration, local_time, terminal_safe};
use crate::paths::Locations;

#[derive(clap::Args)]
pub struct Args {
    /// How many calls to show
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let calls = match db::open_existing(&locations.db)? {
        Some(conn) => {
            let sql = format!(
                "SELECT {} FROM calls ORDER BY started_at DESC, id DESC LIMIT ?1",
                Call::COLUMNS
            );
            let mut stmt = conn.prepare(&sql)?;
            stmt.query_map([args.limit], Call::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        None => Vec::new(),
    };
    let now = now_ms();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let json: Vec<_> = calls.iter().map(|c| c.to_json(now)).collect();
            serde_json::to_writer_pretty(&mut out, &json)?;
            writeln!(out)?;
        }
        Format::Table if calls.is_empty() => {
            writeln!(out, "No calls in {}", locations.db.display())?;
        }
        Format::Table => writeln!(out, "{}", table(&calls, now))?,
    }
    Ok(())
}

fn table(calls: &[Call], now: i64) -> Table {
    let mut table = output::table([
        "Started", "Dir", "Status", "Number", "Name", "Ring", "Talk", "Call ID",
    ]);
    for call in calls {
        let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
        table.add_row([
            Cell::new(local_time(call.started_at)),
            Cell::new(call.direction),
            Cell::new(call.status_at(now)),
            Cell::new(terminal_safe(&call.number)),
            Cell::new(terminal_safe(call.name.as_deref().unwrap_or(""))),
            right(call.ring_ms.map(duration).unwrap_or_default()),
            right(call.talk_ms.map(duration).unwrap_or_default()),
            Cell::new(&call.id),
        ]);
    }
    table
}
