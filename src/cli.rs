//! The admin command line. (`callhook event` is recognised before this, in `invocation`.)

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::paths::Locations;

#[derive(Parser)]
#[command(
    name = "callhook",
    version,
    about = "Call-event hook, call log and CRM popup for the MicroSIP softphone",
    after_help = "MicroSIP runs `callhook event <EVENT> -- <caller>` on every call event; \
                  `callhook install` sets that up."
)]
struct Cli {
    /// Config file [default: %APPDATA%\callhook\config.toml, or ~/.config/callhook/config.toml]
    #[arg(long, global = true, env = "CALLHOOK_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// SQLite call log [default: %LOCALAPPDATA%\callhook\calls.db, or ~/.local/share/callhook/calls.db]
    #[arg(long, global = true, env = "CALLHOOK_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record a call event; MicroSIP runs this. Everything after EVENT is the caller's text.
    Event(cmd::event::Args),
    /// List calls, newest first: filter them, export them (table, csv, json, ndjson)
    Calls(cmd::calls::Args),
    /// One call with all its events and deliveries
    Show(cmd::show::Args),
    /// Missed calls; --unreturned: the callers still waiting for a call back
    Missed(cmd::missed::Args),
    /// Counts, answer rate, talk and ring times, busiest hours; by day, week, month, …
    Stats(cmd::stats::Args),
    /// Delete old calls (retention)
    Prune(cmd::prune::Args),
    /// Replace the numbers and names of old calls with a keyed hash (privacy)
    Redact(cmd::redact::Args),
    /// Store the events of the fallback log that did not reach the database
    Replay(cmd::replay::Args),
    /// Deliver queued webhooks and popups now (the hook starts this in the background)
    Deliver(cmd::deliver::Args),
    /// List webhook and popup deliveries; `outbox retry` queues failed ones again
    Outbox(cmd::outbox::Args),
    /// Webhook tools: `webhook test [NAME]` sends a signed sample event
    Webhook(cmd::webhook::Args),
    /// Set callhook's hooks in microsip.ini (with MicroSIP closed)
    Install(cmd::install::Args),
    /// Take callhook's hooks out of microsip.ini again, restoring what was there
    Uninstall(cmd::install::UninstallArgs),
    /// Check the set-up and say how to fix what is wrong
    Doctor(cmd::doctor::Args),
    /// Import MicroSIP's own call history, and caller names from the contacts
    Import(cmd::import::Args),
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = Locations::resolve(cli.config.map(OsString::from), cli.db.map(OsString::from))
        .and_then(|locations| {
            let l = &locations;
            let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
            match cli.command {
                Command::Event(args) => Ok(cmd::event::run(l, args)),
                Command::Calls(args) => done(cmd::calls::run(l, args)),
                Command::Show(args) => done(cmd::show::run(l, args)),
                Command::Missed(args) => done(cmd::missed::run(l, args)),
                Command::Stats(args) => done(cmd::stats::run(l, args)),
                Command::Prune(args) => done(cmd::prune::run(l, args)),
                Command::Redact(args) => done(cmd::redact::run(l, args)),
                Command::Replay(args) => done(cmd::replay::run(l, args)),
                Command::Deliver(args) => done(cmd::deliver::run(l, args)),
                Command::Outbox(args) => done(cmd::outbox::run(l, args)),
                Command::Webhook(args) => done(cmd::webhook::run(l, args)),
                Command::Install(args) => done(cmd::install::install(l, args)),
                Command::Uninstall(args) => done(cmd::install::uninstall(l, args)),
                Command::Doctor(args) => cmd::doctor::run(l, args),
                Command::Import(args) => done(cmd::import::run(l, args)),
            }
        });
    match result {
        Ok(code) => code,
        // `callhook calls | head` is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callhook: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}
