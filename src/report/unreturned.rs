//! The receptionist's worklist: the numbers that missed a call and were neither answered nor
//! called back since (`callhook missed --unreturned`, `GET /api/missed?unreturned`).

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, Table};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::log::call::{Status, rfc3339};
use crate::log::caller::NumberPlan;
use crate::log::query::{self, Filter};
use crate::report::output::{self, Listing, caller_safe, csv_safe, local_time};

/// A number still to call back.
#[derive(Serialize, Deserialize)]
pub struct Unreturned {
    pub number: String,
    pub raw: String,
    pub name: Option<String>,
    pub missed: i64,
    /// Calls made to the number since it was last missed, none answered.
    pub callbacks: i64,
    pub first_missed_at: String,
    pub last_missed_at: String,
    pub last_call_id: String,
    #[serde(skip)]
    pub last_ms: i64,
}

/// The numbers still to call back among the missed calls `filter` matches (its statuses are
/// replaced by `missed`), newest first, one at a time.
pub fn each(
    conn: &Connection,
    filter: &Filter,
    plan: &NumberPlan,
    now: i64,
    limit: Option<u32>,
    mut f: impl FnMut(Unreturned) -> Result<()>,
) -> Result<()> {
    let filter = Filter {
        status: vec![Status::Missed],
        ..filter.clone()
    };
    query::run(
        conn,
        &query::unreturned_sql(limit),
        &filter,
        plan,
        now,
        |r| {
            let last_ms: i64 = r.get(5)?;
            f(Unreturned {
                number: r.get(0)?,
                raw: r.get(1)?,
                name: r.get(2)?,
                missed: r.get(3)?,
                first_missed_at: rfc3339(r.get(4)?),
                last_missed_at: rfc3339(last_ms),
                last_call_id: r.get(6)?,
                callbacks: r.get(7)?,
                last_ms,
            })
        },
    )
}

/// The numbers still to call back, as `missed --unreturned` lists them.
pub struct UnreturnedList;

impl Listing for UnreturnedList {
    type Row = Unreturned;

    fn csv_header(&self) -> Vec<&'static str> {
        vec![
            "number",
            "raw",
            "name",
            "missed",
            "callbacks",
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
            r.callbacks.to_string(),
            r.first_missed_at.clone(),
            r.last_missed_at.clone(),
            r.last_call_id.clone(),
        ]
    }

    fn json<'a>(&'a self, row: &'a Unreturned) -> impl Serialize + 'a {
        row
    }

    fn table(&self, rows: &[Unreturned], _colour: bool) -> Table {
        let mut table = output::table([
            "Number",
            "Name",
            "Missed",
            "Tries",
            "Last missed",
            "Last call ID",
        ]);
        for r in rows {
            table.add_row([
                Cell::new(caller_safe(&r.number)),
                Cell::new(caller_safe(r.name.as_deref().unwrap_or(""))),
                Cell::new(r.missed).set_alignment(CellAlignment::Right),
                Cell::new(r.callbacks).set_alignment(CellAlignment::Right),
                Cell::new(local_time(r.last_ms)),
                Cell::new(&r.last_call_id),
            ]);
        }
        table
    }
}
