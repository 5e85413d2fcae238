//! `callhook missed`: missed calls, and with `--unreturned` the receptionist's list of callers
//! still waiting for an answer.

use std::io::Write;

use anyhow::{Result, bail};
use comfy_table::{Cell, CellAlignment};
use serde::Serialize;

use crate::cmd::calls;
use crate::cmd::filter::FilterArgs;
use crate::cmd::output::{self, Format, JsonArray, caller_safe, csv_safe, local_time};
use crate::config::locations::Locations;
use crate::log::call::{Status, now_ms, rfc3339};
use crate::log::query;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    filter: FilterArgs,
    /// One row per number that was neither answered nor called back (a call answered, in
    /// either direction) after it last missed a call
    #[arg(long)]
    unreturned: bool,
    /// How many rows to show
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Every row (no limit)
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// A number still to call back.
#[derive(Serialize)]
struct Unreturned {
    number: String,
    raw: String,
    name: Option<String>,
    missed: i64,
    first_missed_at: String,
    last_missed_at: String,
    last_call_id: String,
    #[serde(skip)]
    last_ms: i64,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let mut filter = args.filter.to_filter()?;
    if filter.status.iter().any(|&s| s != Status::Missed) {
        bail!(
            "missed lists missed calls only, so --status cannot choose others: use \
             `callhook calls --status …` for calls of any status"
        );
    }
    filter.status = vec![Status::Missed];
    let limit = (!args.all).then_some(args.limit);
    let plan = &locations.config.numbers;
    let conn = Some(locations.existing_db()?);

    if !args.unreturned {
        // The missed calls themselves, as `calls` shows them.
        return calls::print(
            conn.as_ref(),
            &filter,
            plan,
            limit,
            args.format,
            "No missed calls.",
        );
    }

    let now = now_ms();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Exports stream row by row; only the table needs all rows at once (column widths).
    let each = |f: &mut dyn FnMut(Unreturned) -> Result<()>| -> Result<()> {
        let Some(conn) = &conn else { return Ok(()) };
        query::run(
            conn,
            &query::unreturned_sql(limit),
            &filter,
            plan,
            now,
            |row| {
                let last_ms: i64 = row.get(5)?;
                f(Unreturned {
                    number: row.get(0)?,
                    raw: row.get(1)?,
                    name: row.get(2)?,
                    missed: row.get(3)?,
                    first_missed_at: rfc3339(row.get(4)?),
                    last_missed_at: rfc3339(last_ms),
                    last_call_id: row.get(6)?,
                    last_ms,
                })
            },
        )
    };
    match args.format {
        Format::Table => {
            let mut rows = Vec::new();
            each(&mut |r| {
                rows.push(r);
                Ok(())
            })?;
            if rows.is_empty() {
                writeln!(out, "Nobody is waiting for a call back.")?;
            } else {
                let mut table =
                    output::table(["Number", "Name", "Missed", "Last missed", "Last call ID"]);
                for r in &rows {
                    table.add_row([
                        Cell::new(caller_safe(&r.number)),
                        Cell::new(caller_safe(r.name.as_deref().unwrap_or(""))),
                        Cell::new(r.missed).set_alignment(CellAlignment::Right),
                        Cell::new(local_time(r.last_ms)),
                        Cell::new(&r.last_call_id),
                    ]);
                }
                writeln!(out, "{}", output::styled(table, output::colour()))?;
            }
        }
        Format::Json => {
            let mut array = JsonArray::new(&mut out)?;
            each(&mut |r| Ok(array.push(&r)?))?;
            array.finish()?;
        }
        Format::Ndjson => each(&mut |r| Ok(output::ndjson(&mut out, &r)?))?,
        Format::Csv => {
            let mut csv = output::csv_writer(&mut out)?;
            csv.write_record([
                "number",
                "raw",
                "name",
                "missed",
                "first_missed_at",
                "last_missed_at",
                "last_call_id",
            ])?;
            each(&mut |r| {
                Ok(csv.write_record([
                    csv_safe(&r.number).as_ref(),
                    csv_safe(&r.raw).as_ref(),
                    csv_safe(r.name.as_deref().unwrap_or("")).as_ref(),
                    &r.missed.to_string(),
                    &r.first_missed_at,
                    &r.last_missed_at,
                    &r.last_call_id,
                ])?)
            })?;
            csv.flush()?;
        }
    }
    out.flush()?;
    Ok(())
}
