//! `callhook missed`: missed calls, and with `--unreturned` the receptionist's list of callers
//! still waiting for an answer.

use anyhow::{Result, bail};

use crate::cmd::filter::ListArgs;
use crate::cmd::team::{self, TeamArgs};
use crate::config::locations::Locations;
use crate::log::call::{Status, now_ms};
use crate::log::query;
use crate::report::call_list::Calls;
use crate::report::filter::FilterArgs;
use crate::report::output;
use crate::report::unreturned::{self, UnreturnedList};

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
    #[command(flatten)]
    team: TeamArgs,
}

const MISSED_NONE: &str = "No missed calls.";
const UNRETURNED_NONE: &str = "Nobody is waiting for a call back.";

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
    if args.team.central {
        let (team, list) = (&args.team, &args.list);
        return match args.unreturned {
            true => team::print_unreturned(locations, &filter, team, list, UNRETURNED_NONE),
            false => team::print_calls(locations, "/api/missed", &filter, team, list, MISSED_NONE),
        };
    }
    let limit = args.list.limit();
    let plan = &locations.config.numbers;
    let conn = locations.existing_db()?;
    let now = now_ms();
    if !args.unreturned {
        // The missed calls themselves, as `calls` shows them.
        return output::print_list(&Calls { now }, args.list.format, MISSED_NONE, |row| {
            query::each(&conn, &filter, plan, now, limit, row)
        });
    }
    output::print_list(&UnreturnedList, args.list.format, UNRETURNED_NONE, |row| {
        unreturned::each(&conn, &filter, plan, now, limit, row)
    })
}
