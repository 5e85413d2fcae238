//! callhook: the call-event hook, call log and CRM popup for the MicroSIP softphone.

pub mod call;
pub mod caller;
mod cli;
pub mod clock;
mod cmd;
pub mod cmdline;
pub mod config;
pub mod contacts;
pub mod db;
pub mod drain;
pub mod event;
pub mod fallback;
pub mod fold;
mod hook;
pub mod invocation;
pub mod lease;
mod lock;
pub mod microsip;
pub mod outbox;
mod output;
pub mod paths;
pub mod popup;
pub mod query;
pub mod retention;
mod watchdog;
pub mod webhook;
pub mod when;
#[cfg(windows)]
mod windows;
mod worker;

use std::ffi::OsString;
use std::process::ExitCode;

use invocation::Invocation;

pub use hook::{EXIT_CONFIG, EXIT_NOT_STORED, EXIT_USAGE};

pub fn main() -> ExitCode {
    // The event time is taken first, before any other work.
    let started = hook::Start::now();
    let args: Vec<OsString> = std::env::args_os().collect();
    match invocation::classify(&args, |skip| raw_rest(&args, skip)) {
        Invocation::Hook(hook) => hook::run(hook, started),
        Invocation::Admin => cli::run(args),
    }
}

/// `callhookw.exe`, the program MicroSIP runs: hooks are handled here; any other command is
/// handed to `callhook.exe` beside it, run without a console window. This program therefore
/// links no HTTP or TLS code, and every hook process starts without loading their DLLs.
pub fn hook_main() -> ExitCode {
    let started = hook::Start::now();
    let args: Vec<OsString> = std::env::args_os().collect();
    match invocation::classify(&args, |skip| raw_rest(&args, skip)) {
        Invocation::Hook(hook) => hook::run(hook, started),
        Invocation::Admin => forward(&args[1..]),
    }
}

/// Runs `callhook` (beside this program) with `args`, and exits as it does.
fn forward(args: &[OsString]) -> ExitCode {
    let result = paths::full_program().and_then(|program| {
        if std::env::current_exe().is_ok_and(|me| me == program) {
            anyhow::bail!("this program only runs hooks: install callhook.exe beside it");
        }
        let mut command = std::process::Command::new(&program);
        command.args(args);
        #[cfg(windows)]
        {
            use std::os::windows::process::CommandExt;
            const CREATE_NO_WINDOW: u32 = 0x0800_0000;
            command.creation_flags(CREATE_NO_WINDOW);
        }
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
#[cfg(windows)]
fn raw_rest(args: &[OsString], skip: usize) -> Option<caller::Caller> {
    windows::raw_rest(args, skip)
}

#[cfg(not(windows))]
fn raw_rest(_args: &[OsString], _skip: usize) -> Option<caller::Caller> {
    None
}
