//! `callhook show <CALL_ID>`: one call, with all its events and deliveries.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Cell, Table};

use crate::cmd::team::Team;
use crate::config::locations::Locations;
use crate::log::call::now_ms;
use crate::report::detail::{Detail, EventJson};
use crate::report::output::{self, caller_safe, duration, local_time, terminal_safe};
use crate::report::team::{CallRecord, central_time};

#[derive(clap::Args)]
pub struct Args {
    /// The call's id, or enough of its start to be unique
    call_id: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Ask central ([central] url and token): a call of any desk of the team
    #[arg(long)]
    central: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    if args.central {
        return show_central(locations, &args);
    }
    let conn = locations.existing_db()?;
    let shown = Shown(Detail::load(&conn, &args.call_id, now_ms())?, None);
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &shown.0.json())?;
            writeln!(out)?;
        }
        Format::Table => shown.print_tables(&mut out)?,
    }
    Ok(())
}

/// A call as central has it, with its desk.
#[derive(serde::Deserialize)]
struct CentralDetail {
    call: CallRecord,
    events: Vec<EventJson>,
    desk: String,
}

fn show_central(locations: &Locations, args: &Args) -> Result<()> {
    let id = args.call_id.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        anyhow::bail!("a call id is hexadecimal digits and dashes");
    }
    let detail: serde_json::Value = Team::new(locations)?.get(&format!("/api/calls/{id}"), &[])?;
    let mut out = std::io::stdout().lock();
    if let Format::Json = args.format {
        serde_json::to_writer_pretty(&mut out, &detail)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut read: CentralDetail = serde_json::from_value(detail)?;
    read.call.desk = read.desk;
    let call = read.call.into_row()?;
    let mut events = read.events;
    for event in &mut events {
        event.at_ms = central_time(&event.at)?;
    }
    let detail = Detail {
        call: call.row,
        events,
        deliveries: Vec::new(),
        now: now_ms(),
    };
    Shown(detail, Some(call.desk)).print_tables(&mut out)
}

/// A call's detail as tables, and its desk when central shows it.
struct Shown(Detail, Option<String>);

impl Shown {
    fn print_tables(&self, out: &mut impl Write) -> Result<()> {
        let colour = output::colour();
        writeln!(
            out,
            "{}
",
            output::styled(self.summary(colour), colour)
        )?;
        writeln!(out, "{}", self.events_table())?;
        if !self.0.deliveries.is_empty() {
            writeln!(
                out,
                "\n{}",
                output::deliveries("Delivery", &self.0.deliveries, false)
            )?;
        }
        Ok(())
    }

    /// The call itself, one field per row.
    fn summary(&self, colour: bool) -> Table {
        let call = &self.0.call;
        let mut summary = output::table(["Call", &call.id]);
        let mut row = |key: &str, value: Cell| {
            summary.add_row([Cell::new(key), value]);
        };
        let text = |t: &str| Cell::new(caller_safe(t));
        let time = |t: Option<i64>| Cell::new(t.map(local_time).unwrap_or_default());
        let length = |ms: Option<i64>| Cell::new(ms.map(duration).unwrap_or_default());
        if let Some(desk) = &self.1 {
            row("Desk", text(desk));
        }
        row("Direction", Cell::new(call.direction));
        row(
            "Status",
            output::status_cell(call.status_at(self.0.now), colour),
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
        for e in &self.0.events {
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
