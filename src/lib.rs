//! callhook: the call-event hook, call log and CRM popup for the MicroSIP softphone.
//!
//! # Code map
//!
//! callhook has three parts, and each has its room; the rooms below them are shared.
//!
//! - [`hook`]: everything MicroSIP waits for. `callhook event` reads its arguments by hand,
//!   stores the event in one short transaction, queues its side effects and maybe starts a
//!   worker. No network, no browser: this room never reaches [`effects::worker`] or
//!   [`effects::webhook::send`], so `callhookw.exe` links no HTTP or TLS code.
//! - [`effects`]: the side effects, performed by the background worker only: the outbox and
//!   its leases, webhooks, popups, and the drain that brings the fallback log back.
//! - [`cmd`]: the admin commands, one file per command.
//! - [`serve`]: `callhook serve`, the local API, live events, dashboard and MicroSIP control
//!   over HTTP (axum on tokio; `callhook.exe` only).
//! - [`report`]: the read side that the commands and the server share: call lists, a call's
//!   detail, the unreturned missed calls, statistics, filters and output formats.
//! - [`log`]: the call log: the SQLite file, its migrations and lock, events, calls, numbers,
//!   the fold of events into calls, contact names, queries and the fallback log.
//! - [`microsip`]: MicroSIP's own files and processes: microsip.ini, its history, Contacts.xml,
//!   where MicroSIP is, the values of its hook keys, and its remote control (window messages).
//! - [`config`]: the config file, loaded and validated (or salvaged), and where every file is.
//! - [`platform`]: the one interface to the operating system (Unix and Windows).
//!
//! The parts depend downwards only: `cmd` → `serve` → `report` → `effects` → `log` →
//! `platform`, and `cmd` → `hook` → `effects`.
//! `config` gathers each room's section of the config file (the section types live with the
//! code they configure) and `microsip` is used where MicroSIP's files are; no file imports
//! another that imports it back. A test (`architecture`) reads the sources and keeps it so.

pub mod central;
pub mod cmd;
pub mod config;
pub mod effects;
pub mod hook;
pub mod log;
pub mod microsip;
pub mod platform;
pub mod report;
pub mod serve;

// Reads the sources, which are where the Linux build runs.
#[cfg(all(test, unix))]
mod architecture;

use std::ffi::OsString;
use std::process::ExitCode;

use hook::args::Invocation;

pub use hook::exit::{EXIT_CONFIG, EXIT_NOT_STORED, EXIT_USAGE};

pub fn main() -> ExitCode {
    // The event time is taken first, before any other work.
    let started = hook::Start::now();
    let args: Vec<OsString> = std::env::args_os().collect();
    match hook::args::classify(&args, |skip| raw_rest(&args, skip)) {
        Invocation::Hook(hook) => hook::run(hook, started),
        Invocation::Admin => cmd::run(args),
    }
}

/// `callhookw.exe`, the program MicroSIP runs: hooks are handled here; any other command is
/// handed to `callhook.exe` beside it, run without a console window. This program therefore
/// links no HTTP or TLS code, and every hook process starts without loading their DLLs.
pub fn hook_main() -> ExitCode {
    let started = hook::Start::now();
    let args: Vec<OsString> = std::env::args_os().collect();
    match hook::args::classify(&args, |skip| raw_rest(&args, skip)) {
        Invocation::Hook(hook) => hook::run(hook, started),
        Invocation::Admin => forward(&args[1..]),
    }
}

/// Runs `callhook` (beside this program) with `args`, and exits as it does.
fn forward(args: &[OsString]) -> ExitCode {
    let result = config::locations::full_program().and_then(|program| {
        if std::env::current_exe().is_ok_and(|me| me == program) {
            anyhow::bail!("this program only runs hooks: install callhook.exe beside it");
        }
        let mut command = std::process::Command::new(&program);
        command.args(args);
        platform::without_console(&mut command);
        let status = command
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", program.display()))?;
        Ok(status.code().map_or(1, |c| c as u8))
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("callhook: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// On Windows the caller text is cut from the raw command line, so that quotes and
/// backslashes survive exactly as MicroSIP wrote them.
fn raw_rest(args: &[OsString], skip: usize) -> Option<log::caller::Caller> {
    platform::raw_rest(args, skip).map(|rest| log::caller::Caller::from_os(&rest))
}
