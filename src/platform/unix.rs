//! The platform interface on Unix (Linux, where callhook is developed and tested, and the
//! others where it is easy).

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// The raw command line is Windows's; elsewhere the arguments are all there is.
pub fn raw_rest(_args: &[OsString], _skip: usize) -> Option<OsString> {
    None
}

/// Starts `program` with `args` detached from the hook, in a session of its own, with no
/// terminal and no inherited standard streams: the hook's caller never waits for it.
pub fn spawn_detached(program: &Path, args: &[&OsStr]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; between fork and exec it only detaches the child
    // into a session of its own, away from the hook's terminal and process group.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    Ok(())
}

/// Opens a URL with the desktop's default browser.
pub fn open_url(url: &str) -> Result<()> {
    let (opener, hint) = if cfg!(target_os = "macos") {
        ("open", "")
    } else {
        ("xdg-open", " (install xdg-utils, or set popup.opener)")
    };
    let mut command = Command::new(opener);
    command.arg(url);
    super::start_quietly(command).with_context(|| format!("cannot start {opener}{hint}"))
}

/// Terminals here take escape sequences as they are.
pub fn enable_ansi() -> bool {
    true
}

/// The width of the terminal standard output writes to, if it is one.
pub fn terminal_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ only fills the winsize it is given.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col)
}

/// The running processes of this user with one of these executable names (any case). Outside
/// Windows MicroSIP runs only under wine, where its process is named after its exe (cut to the
/// 15 bytes the kernel keeps); paths are not read.
pub fn processes_named(names: &[String]) -> Vec<Option<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let comm = |name: &str| -> String {
        let mut end = name.len().min(15);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name[..end].to_string()
    };
    let names: Vec<String> = names.iter().map(|n| comm(n)).collect();
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == me))
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|comm| {
                let comm = comm.trim_end_matches('\n');
                names.iter().any(|n| comm.eq_ignore_ascii_case(n))
            })
        })
        .map(|_| None)
        .collect()
}

/// MicroSIP's window exists only on Windows (a MicroSIP under wine is out of reach of a
/// Linux program): there is never one to send to.
pub fn send_to_microsip(_text: &str) -> std::io::Result<Option<isize>> {
    Ok(None)
}

/// Short (8.3) paths are Windows's.
pub fn short_path(_path: &Path) -> Option<PathBuf> {
    None
}

/// Milliseconds since the computer started, sleep included: a clock no setting changes.
pub fn boot_ms() -> Option<i64> {
    #[cfg(target_os = "linux")]
    let clock = libc::CLOCK_BOOTTIME;
    #[cfg(not(target_os = "linux"))]
    let clock = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let ok = unsafe { libc::clock_gettime(clock, &mut ts) } == 0;
    ok.then(|| ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000)
}

/// The XDG config directory.
pub fn config_dir() -> Option<PathBuf> {
    dirs::config_dir()
}

/// The XDG data directory.
pub fn data_dir() -> Option<PathBuf> {
    dirs::data_dir()
}

/// The environment variable that names the user.
pub const USER_VAR: &str = "USER";

/// Programs here get no console window to hide.
pub fn without_console(_command: &mut Command) {}

/// Whether a file found in a shared directory (the temp directory) may be taken as this
/// user's: a regular file the user owns.
pub fn is_own_file(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no arguments and cannot fail.
    meta.file_type().is_file() && meta.uid() == unsafe { libc::geteuid() }
}
