//! `callhook deliver`: the worker, run in the foreground (from a scheduled task, or by hand).

use anyhow::Result;

use crate::paths::Locations;
use crate::worker;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(locations: &Locations, _args: Args) -> Result<()> {
    locations.require_config()?;
    let summary = worker::deliver(locations)?;
    if summary.busy {
        println!("Another worker is delivering.");
    } else {
        println!(
            "Delivered {}, retrying {}, failed {}, skipped {}.",
            summary.delivered, summary.retrying, summary.failed, summary.skipped
        );
        if summary.drained + summary.rejected > 0 {
            println!(
                "Stored {} from the fallback log; {} cannot be stored (see callhook doctor).",
                crate::output::plural(summary.drained, "event", "events"),
                crate::output::plural(summary.rejected, "line", "lines")
            );
        }
    }
    Ok(())
}
