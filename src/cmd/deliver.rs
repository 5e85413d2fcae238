//! `callhook deliver`: the worker, run in the foreground (from a scheduled task, or by hand).

use anyhow::Result;

use crate::config::locations::Locations;
use crate::effects::worker;

#[derive(clap::Args)]
pub struct Args {
    /// Started by a hook: stay a moment after the work is done, for the rest of a burst
    #[arg(long, hide = true)]
    background: bool,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    // The worker a hook started does the work the hook queued with the config's sound keys
    // (it stored its event so, and exited 3); run by hand, deliver wants a sound config.
    if !args.background || locations.db_unknown {
        locations.require_config()?;
    }
    let summary = worker::deliver(locations, args.background)?;
    if summary.busy {
        println!("Another worker is delivering.");
    } else {
        println!(
            "Delivered {}, retrying {}, failed {}, skipped {}.",
            summary.delivered, summary.retrying, summary.failed, summary.skipped
        );
        if summary.central_batches > 0 {
            println!(
                "Central took {} in {}.",
                crate::report::output::plural(summary.central_calls, "call", "calls"),
                crate::report::output::plural(summary.central_batches, "batch", "batches")
            );
        }
        if let Some(error) = &summary.central_error {
            println!(
                "Central: {}; the changes wait on this desk (callhook outbox shows the lane).",
                crate::report::output::terminal_safe(error)
            );
        }
        if summary.drained + summary.rejected > 0 {
            println!(
                "Stored {} from the fallback log; {} cannot be stored (see callhook doctor).",
                crate::report::output::plural(summary.drained, "event", "events"),
                crate::report::output::plural(summary.rejected, "line", "lines")
            );
        }
    }
    Ok(())
}
