//! `callhook calls`: the call log, newest first, filtered, as a table or exported.

use anyhow::Result;

use crate::cmd::filter::ListArgs;
use crate::cmd::team::{self, TeamArgs};
use crate::config::locations::Locations;
use crate::log::call::now_ms;
use crate::log::query;
use crate::report::call_list::Calls;
use crate::report::filter::FilterArgs;
use crate::report::output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    list: ListArgs,
    #[command(flatten)]
    team: TeamArgs,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    let filter = args.filter.to_filter()?;
    if args.team.central {
        let none = "No calls.";
        return team::print_calls(
            locations,
            "/api/calls",
            &filter,
            &args.team,
            &args.list,
            none,
        );
    }
    let conn = locations.existing_db()?;
    let now = now_ms();
    let calls = Calls { now };
    output::print_list(&calls, args.list.format, "No calls.", |row| {
        query::each(
            &conn,
            &filter,
            &locations.config.numbers,
            now,
            args.list.limit(),
            row,
        )
    })
}
