//! The admin commands: the command line (clap) and one module per command, each with its
//! `Args` and `run`. `callhook event` from MicroSIP never gets here: `crate::hook::args`
//! recognises it first. Helpers shared by commands live beside them (`filter`, `output`,
//! `retention`, `when`); no command imports another.

pub mod calls;
pub mod central;
pub mod control;
pub mod dashboard;
pub mod deliver;
pub mod doctor;
pub mod event;
pub mod filter;
pub mod import;
pub mod install;
pub mod missed;
pub mod outbox;
pub mod prune;
pub mod redact;
pub mod replay;
pub mod retention;
pub mod serve;
pub mod show;
pub mod stats;
pub mod team;
pub mod webhook;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::locations::Locations;

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
    Event(event::Args),
    /// List calls, newest first: filter them, export them (table, csv, json, ndjson)
    Calls(calls::Args),
    /// One call with all its events and deliveries
    Show(show::Args),
    /// Missed calls; --unreturned: the callers still waiting for a call back
    Missed(missed::Args),
    /// Counts, answer rate, talk and ring times, busiest hours; by day, week, month, …
    Stats(stats::Args),
    /// Delete old calls (retention)
    Prune(prune::Args),
    /// Replace the numbers and names of old calls with a keyed hash (privacy)
    Redact(redact::Args),
    /// Store the events of the fallback log that did not reach the database
    Replay(replay::Args),
    /// Deliver queued webhooks and popups now (the hook starts this in the background)
    Deliver(deliver::Args),
    /// List webhook and popup deliveries; `outbox retry` queues failed ones again
    Outbox(outbox::Args),
    /// Webhook tools: `webhook test [NAME]` sends a signed sample event
    Webhook(webhook::Args),
    /// Set callhook's hooks in microsip.ini (with MicroSIP closed)
    Install(install::Args),
    /// Take callhook's hooks out of microsip.ini again, restoring what was there
    Uninstall(install::UninstallArgs),
    /// Check the set-up and say how to fix what is wrong
    Doctor(doctor::Args),
    /// Import MicroSIP's own call history, and caller names from the contacts
    Import(import::Args),
    /// Run the local API, live events and dashboard (127.0.0.1:8765; Ctrl+C stops it)
    Serve(serve::Args),
    /// Open the dashboard of the running `callhook serve`, logged in
    Dashboard(dashboard::Args),
    /// Team mode, on the central server: add-desk, remove-desk, desks
    Central(central::Args),
    /// Dial a number or SIP URI in the running MicroSIP (or start MicroSIP to dial it)
    Dial(control::NumberArgs),
    /// Answer the ringing call in the running MicroSIP
    Answer(control::NoArgs),
    /// Hang up in the running MicroSIP: the current calls, or --incoming, --calling, --all
    Hangup(control::HangupArgs),
    /// Hold (or resume) the current call in the running MicroSIP
    Hold(control::NoArgs),
    /// Transfer the current call in the running MicroSIP to a number or SIP URI
    Transfer(control::NumberArgs),
    /// Send DTMF digits (0-9, *, #, A-D) in the current call of the running MicroSIP
    Dtmf(control::DtmfArgs),
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
                Command::Event(args) => Ok(event::run(l, args)),
                Command::Calls(args) => done(calls::run(l, args)),
                Command::Show(args) => done(show::run(l, args)),
                Command::Missed(args) => done(missed::run(l, args)),
                Command::Stats(args) => done(stats::run(l, args)),
                Command::Prune(args) => done(prune::run(l, args)),
                Command::Redact(args) => done(redact::run(l, args)),
                Command::Replay(args) => done(replay::run(l, args)),
                Command::Deliver(args) => done(deliver::run(l, args)),
                Command::Outbox(args) => done(outbox::run(l, args)),
                Command::Webhook(args) => done(webhook::run(l, args)),
                Command::Install(args) => done(install::install(l, args)),
                Command::Uninstall(args) => done(install::uninstall(l, args)),
                Command::Doctor(args) => doctor::run(l, args),
                Command::Import(args) => done(import::run(l, args)),
                Command::Serve(args) => done(serve::run(l, args)),
                Command::Dashboard(args) => done(dashboard::run(l, args)),
                Command::Central(args) => done(central::run(l, args)),
                Command::Dial(args) => Ok(control::dial(l, args)),
                Command::Answer(args) => Ok(control::answer(l, args)),
                Command::Hangup(args) => Ok(control::hangup(l, args)),
                Command::Hold(args) => Ok(control::hold(l, args)),
                Command::Transfer(args) => Ok(control::transfer(l, args)),
                Command::Dtmf(args) => Ok(control::dtmf(l, args)),
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
