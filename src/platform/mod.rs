//! The one interface to the operating system. `unix.rs` and `windows.rs` each define the
//! same functions; the rest of callhook calls them through here and has no `cfg` of its own
//! for the OS, except where the mechanism itself differs (the hook's watchdog).
//!
//! Windows's command-line rules (`windows_cmdline`) are plain code, built everywhere: callhook
//! writes Windows command lines into microsip.ini on any OS.

use std::process::Command;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

pub mod windows_cmdline;

/// The computer's name.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The name of the user this runs as ("" when the environment does not say).
pub fn login_name() -> String {
    std::env::var(USER_VAR)
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default()
}

/// Starts `command` with no standard streams and no console window, and does not wait.
pub fn start_quietly(mut command: Command) -> std::io::Result<()> {
    use std::process::Stdio;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    without_console(&mut command);
    command.spawn()?;
    Ok(())
}

/// Creates the new file `path` readable and writable by its user only (on Windows, files in
/// the user's profile are theirs alone already).
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Whether a file is readable and writable by its owner alone (on Windows, a file in the user's
/// profile is).
pub fn is_private(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    return std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 == 0;
    #[cfg(not(unix))]
    return meta.is_file();
}
