//! `callhook show <CALL_ID>`: one call, with all its events and deliveries.

use std::io::Write;

use anyhow::{Result, bail};
use comfy_table::{Cell, Table};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::cmd::output::{self, caller_safe, duration, local_time, terminal_safe};
use crate::config::locations::Locations;
use crate::effects::outbox::{self, Delivery};
use crate::log::call::{Call, now_ms, rfc3339};

#[derive(clap::Args)]
pub struct Args {
    /// The call's id, or enough of its start to be unique
    call_id: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

/// One event as `show` lists it.
#[derive(Serialize)]
pub struct EventJson {
    pub id: String,
    #[serde(skip)]
    pub at_ms: i64,
    pub at: String,
    pub event: String,
    pub caller: String,
    pub caller_truncated: bool,
    pub caller_lossy: bool,
    pub number: String,
    pub host: String,
    pub user: String,
    pub config_error: Option<String>,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let conn = locations.existing_db()?;
    let call = find(&conn, &args.call_id)?;
    let shown = Shown {
        events: events(&conn, &call.id)?,
        deliveries: outbox::of_call(&conn, &call.id)?,
        call,
        now: now_ms(),
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &shown.json())?;
            writeln!(out)?;
        }
        Format::Table => shown.print_tables(&mut out)?,
    }
    Ok(())
}

/// A call with its events and deliveries, as of `now`.
struct Shown {
    call: Call,
    events: Vec<EventJson>,
    deliveries: Vec<Delivery>,
    now: i64,
}

impl Shown {
    /// Fields in the order of their structs, as `calls --format json` has them.
    fn json(&self) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct Json<'a> {
            call: crate::log::call::CallJson<'a>,
            events: &'a [EventJson],
            deliveries: &'a [Delivery],
        }
        Json {
            call: self.call.to_json(self.now),
            events: &self.events,
            deliveries: &self.deliveries,
        }
    }

    fn print_tables(&self, out: &mut impl Write) -> Result<()> {
        let colour = output::colour();
        writeln!(
            out,
            "{}
",
            output::styled(self.summary(colour), colour)
        )?;
        writeln!(out, "{}", self.events_table())?;
        if !self.deliveries.is_empty() {
            writeln!(
                out,
                "\n{}",
                output::deliveries("Delivery", &self.deliveries, false)
            )?;
        }
        Ok(())
    }

    /// The call itself, one field per row.
    fn summary(&self, colour: bool) -> Table {
        let call = &self.call;
        let mut summary = output::table(["Call", &call.id]);
        let mut row = |key: &str, value: Cell| {
            summary.add_row([Cell::new(key), value]);
        };
        let text = |t: &str| Cell::new(caller_safe(t));
        let time = |t: Option<i64>| Cell::new(t.map(local_time).unwrap_or_default());
        let length = |ms: Option<i64>| Cell::new(ms.map(duration).unwrap_or_default());
        row("Direction", Cell::new(call.direction));
        row(
            "Status",
            output::status_cell(call.status_at(self.now), colour),
        );
        row("Number", text(&call.number));
        row("Caller text", text(&call.raw));
        row("Name", text(call.name.as_deref().unwrap_or("")));
        row("Started", time(Some(call.started_at)));
        row("Ringing", time(call.ringing_at));
        row("Answered", time(call.answered_at));
        row("Ended", time(call.ended_at));
        row("Ring", length(call.ring_ms));
        row("Talk", length(call.talk_ms));
        summary
    }

    fn events_table(&self) -> Table {
        let mut table = output::table(["Time", "Event", "Caller text", "Host", "User"]);
        for e in &self.events {
            let mut caller = caller_safe(&e.caller).into_owned();
            if e.caller_truncated {
                caller.push_str(" …(cut at 1 KiB)");
            }
            table.add_row([
                Cell::new(local_time(e.at_ms)),
                Cell::new(&e.event),
                Cell::new(caller),
                Cell::new(terminal_safe(&e.host)),
                Cell::new(terminal_safe(&e.user)),
            ]);
        }
        table
    }
}

/// The call with this id, or the only one whose id starts with it.
fn find(conn: &Connection, id: &str) -> Result<Call> {
    let id = id.trim().to_ascii_lowercase();
    let sql = format!(
        "SELECT {} FROM calls WHERE id >= ?1 AND id < ?1 || '~' ORDER BY id LIMIT 2",
        Call::COLUMNS
    );
    let found: Vec<Call> = conn
        .prepare(&sql)?
        .query_map([&id], Call::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    match found.as_slice() {
        [call] => Ok(call.clone()),
        [] => bail!("no call {id}"),
        _ => {
            let exact = conn
                .query_row(
                    &format!("SELECT {} FROM calls WHERE id = ?1", Call::COLUMNS),
                    [&id],
                    Call::from_row,
                )
                .optional()?;
            exact.ok_or_else(|| {
                anyhow::anyhow!("{id} is the start of several call ids: give more of it")
            })
        }
    }
}

pub fn events(conn: &Connection, call_id: &str) -> Result<Vec<EventJson>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, event, caller, caller_truncated, caller_bytes IS NOT NULL, number, host, \
         os_user, config_error FROM events WHERE call_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([call_id], |r| {
        let at_ms: i64 = r.get(1)?;
        Ok(EventJson {
            id: r.get(0)?,
            at_ms,
            at: rfc3339(at_ms),
            event: r.get(2)?,
            caller: r.get(3)?,
            caller_truncated: r.get(4)?,
            caller_lossy: r.get(5)?,
            number: r.get(6)?,
            host: r.get(7)?,
            user: r.get(8)?,
            config_error: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
