//! `callhook calls`: the call log, newest first, filtered, as a table or exported.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table};

use crate::cmd::filter::FilterArgs;
use crate::cmd::output::{self, Format, JsonArray, caller_safe, csv_safe, duration, local_time};
use crate::config::locations::Locations;
use crate::log::call::{Call, now_ms};
use crate::log::query;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    filter: FilterArgs,
    /// How many calls to show
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Every matching call (no limit)
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The CSV columns: the JSON fields, in order.
pub const CSV_HEADER: [&str; 12] = [
    "id",
    "direction",
    "status",
    "number",
    "raw",
    "name",
    "started_at",
    "ringing_at",
    "answered_at",
    "ended_at",
    "ring_seconds",
    "talk_seconds",
];

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let filter = args.filter.to_filter()?;
    let limit = (!args.all).then_some(args.limit);
    let conn = locations.existing_db()?;
    print(
        Some(&conn),
        &filter,
        &locations.config.numbers,
        limit,
        args.format,
        "No calls.",
    )
}

/// Prints the calls `filter` selects (newest first) in `format`; `none` when a table would be
/// empty. Exports stream row by row; only the table needs all rows at once (column widths).
pub fn print(
    conn: Option<&rusqlite::Connection>,
    filter: &query::Filter,
    plan: &crate::log::caller::NumberPlan,
    limit: Option<u32>,
    format: Format,
    none: &str,
) -> Result<()> {
    let now = now_ms();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let each = |f: &mut dyn FnMut(&Call) -> Result<()>| -> Result<()> {
        if let Some(conn) = conn {
            query::each(conn, filter, plan, now, limit, |call| f(&call))?;
        }
        Ok(())
    };
    match format {
        Format::Json => {
            let mut array = JsonArray::new(&mut out)?;
            each(&mut |call| Ok(array.push(&call.to_json(now))?))?;
            array.finish()?;
        }
        Format::Ndjson => each(&mut |call| Ok(output::ndjson(&mut out, &call.to_json(now))?))?,
        Format::Csv => {
            let mut csv = output::csv_writer(&mut out)?;
            csv.write_record(CSV_HEADER)?;
            each(&mut |call| Ok(csv.write_record(csv_record(call, now))?))?;
            csv.flush()?;
        }
        Format::Table => {
            let mut calls = Vec::new();
            each(&mut |call| {
                calls.push(call.clone());
                Ok(())
            })?;
            if calls.is_empty() {
                writeln!(out, "{none}")?;
            } else {
                writeln!(out, "{}", table(&calls, now, output::colour()))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// One call as a CSV row (the JSON fields; text cells safe for spreadsheets).
pub fn csv_record(call: &Call, now: i64) -> Vec<String> {
    let json = call.to_json(now);
    let opt = |v: Option<String>| v.unwrap_or_default();
    let secs = |v: Option<f64>| v.map(|s| s.to_string()).unwrap_or_default();
    vec![
        json.id.to_string(),
        json.direction.as_str().to_string(),
        json.status.as_str().to_string(),
        csv_safe(json.number).into_owned(),
        csv_safe(json.raw).into_owned(),
        csv_safe(json.name.unwrap_or("")).into_owned(),
        json.started_at,
        opt(json.ringing_at),
        opt(json.answered_at),
        opt(json.ended_at),
        secs(json.ring_seconds),
        secs(json.talk_seconds),
    ]
}

pub fn table(calls: &[Call], now: i64, colour: bool) -> Table {
    let mut table = output::table([
        "Started", "Dir", "Status", "Number", "Name", "Ring", "Talk", "Call ID",
    ]);
    for call in calls {
        let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
        table.add_row([
            Cell::new(local_time(call.started_at)),
            Cell::new(call.direction),
            output::status_cell(call.status_at(now), colour),
            Cell::new(caller_safe(&call.number)),
            Cell::new(caller_safe(call.name.as_deref().unwrap_or(""))),
            right(call.ring_ms.map(duration).unwrap_or_default()),
            right(call.talk_ms.map(duration).unwrap_or_default()),
            Cell::new(&call.id),
        ]);
    }
    output::styled(table, colour)
}
