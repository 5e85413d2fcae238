//! callhook: the call-event hook, call log and CRM popup for the MicroSIP softphone.

pub mod call;
pub mod caller;
mod cli;
mod cmd;
pub mod cmdline;
pub mod config;
pub mod db;
pub mod event;
pub mod fallback;
pub mod fold;
mod hook;
pub mod invocation;
mod lock;
mod output;
pub mod paths;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Instant;

use invocation::Invocation;

pub use hook::{EXIT_CONFIG, EXIT_NOT_STORED, EXIT_USAGE};

pub fn main() -> ExitCode {
    // The event time is taken first, before any other work.
    let started = Instant::now();
    let started_ms = call::now_ms();
    let args: Vec<OsString> = std::env::args_os().collect();
    match invocation::classify(&args, |skip| raw_rest(&args, skip)) {
        Invocation::Hook(hook) => hook::run(hook, started_ms, started),
        Invocation::Admin => cli::run(args),
    }
}

/// On Windows the caller text is cut from the raw command line, so that quotes and
/// backslashes survive exactly as MicroSIP wrote them.
#[cfg(windows)]
fn raw_rest(args: &[OsString], skip: usize) -> Option<caller::Caller> {
    use std::os::windows::ffi::{OsStrExt, OsStringExt};
    // SAFETY: GetCommandLineW returns the process's NUL-terminated command line, which lives
    // as long as the process and is not modified here.
    let line = unsafe {
        let ptr = windows_sys::Win32::System::Environment::GetCommandLineW();
        let len = (0..).take_while(|&i| *ptr.add(i) != 0).count();
        std::slice::from_raw_parts(ptr, len)
    };
    // Only when the raw split agrees with the arguments the caller text follows.
    let tokens = cmdline::tokens(line, skip);
    let agrees = tokens.len() == skip
        && tokens
            .iter()
            .zip(args)
            .skip(1)
            .all(|(token, arg)| token.value.iter().copied().eq(arg.encode_wide()));
    if !agrees {
        return None;
    }
    let rest = cmdline::rest_after(line, skip)?;
    Some(caller::Caller::from_os(&OsString::from_wide(rest)))
}

#[cfg(not(windows))]
fn raw_rest(_args: &[OsString], _skip: usize) -> Option<caller::Caller> {
    None
}
