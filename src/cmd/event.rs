//! `callhook event` as clap sees it: only for `--help`. Real invocations are recognised in
//! `crate::hook::args` before clap runs, so that no caller text is ever parsed as an option.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::config::locations::Locations;

#[derive(clap::Args)]
pub struct Args {
    /// Record this time instead of now (RFC 3339 or Unix milliseconds), e.g. for replays
    #[arg(long, value_name = "TIME")]
    time: Option<String>,
    /// incoming, ring, outgoing, answer, answer-video, start, busy or end
    event: String,
    /// The caller's text, verbatim; never parsed for options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    caller: Vec<OsString>,
}

pub fn run(_locations: &Locations, _args: Args) -> ExitCode {
    // Reaching this means the pre-parser and clap disagree about the command line.
    eprintln!("callhook: put --config and --db before `event`; nothing after it is an option");
    ExitCode::from(crate::EXIT_USAGE)
}
