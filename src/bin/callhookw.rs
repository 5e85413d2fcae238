//! `callhookw.exe`: the hook, without a console, for MicroSIP to run.
//!
//! MicroSIP starts hooks with SW_HIDE, but a console program still gets a console, and when
//! Windows Terminal is the default terminal that console can show up as a window on every call.
//! A GUI-subsystem program gets none. Other commands are handed to `callhook.exe` beside it,
//! which admins use directly: it prints to their terminal.
#![cfg_attr(windows, windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    callhook::hook_main()
}
