//! `callhook missed`: missed calls, and with `--unreturned` the receptionist's list of callers
//! still waiting for an answer.

use anyhow::{Result, bail};
use comfy_table::{Cell, CellAlignment, Table};
use serde::Serialize;

use crate::cmd::call_list::Calls;
use crate::cmd::filter::{FilterArgs, ListArgs};
use crate::cmd::output::{self, Listing, caller_safe, csv_safe, local_time};
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
    #[command(flatten)]
    list: ListArgs,
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
    let limit = args.list.limit();
    let plan = &locations.config.numbers;
    let conn = locations.existing_db()?;
    let now = now_ms();
    if !args.unreturned {
        // The missed calls themselves, as `calls` shows them.
        return output::print_list(
            &Calls { now },
            args.list.format,
            "No missed calls.",
            |row| query::each(&conn, &filter, plan, now, limit, row),
        );
    }
    let none = "Nobody is waiting for a call back.";
    output::print_list(&UnreturnedList, args.list.format, none, |row| {
        let sql = query::unreturned_sql(limit);
        query::run(&conn, &sql, &filter, plan, now, |r| {
            let last_ms: i64 = r.get(5)?;
            row(Unreturned {
                number: r.get(0)?,
                raw: r.get(1)?,
                name: r.get(2)?,
                missed: r.get(3)?,
                first_missed_at: rfc3339(r.get(4)?),
                last_missed_at: rfc3339(last_ms),
                last_call_id: r.get(6)?,
                last_ms,
            })
        })
    })
}

/// The numbers still to call back, as `missed --unreturned` lists them.
struct UnreturnedList;

impl Listing for UnreturnedList {
    type Row = Unreturned;

    fn csv_header(&self) -> &'static [&'static str] {
        &[
            "number",
            "raw",
            "name",
            "missed",
            "first_missed_at",
            "last_missed_at",
            "last_call_id",
        ]
    }

    fn csv_record(&self, r: &Unreturned) -> Vec<String> {
        vec![
            csv_safe(&r.number).into_owned(),
            csv_safe(&r.raw).into_owned(),
            csv_safe(r.name.as_deref().unwrap_or("")).into_owned(),
            r.missed.to_string(),
            r.first_missed_at.clone(),
            r.last_missed_at.clone(),
            r.last_call_id.clone(),
        ]
    }

    fn json<'a>(&'a self, row: &'a Unreturned) -> impl Serialize + 'a {
        row
    }

    fn table(&self, rows: &[Unreturned], _colour: bool) -> Table {
        let mut table = output::table(["Number", "Name", "Missed", "Last missed", "Last call ID"]);
        for r in rows {
            table.add_row([
                Cell::new(caller_safe(&r.number)),
                Cell::new(caller_safe(r.name.as_deref().unwrap_or(""))),
                Cell::new(r.missed).set_alignment(CellAlignment::Right),
                Cell::new(local_time(r.last_ms)),
                Cell::new(&r.last_call_id),
            ]);
        }
        table
    }
}
