//! Starts a hook exactly as MicroSIP does, and reports how long MicroSIP would be frozen.
//!
//! microsip (--value VALUE | --ini FILE --key KEY) --caller-file FILE [--legacy] [--repeat N]
//!
//! The hook value is taken as MicroSIP holds it: `--value` as given, or read from `[Settings]`
//! of `--ini` with GetPrivateProfileStringW into a 256-character buffer, as MicroSIP reads it
//! (one pair of outer quotes dropped, cut at 255 characters). The caller text is read from
//! `--caller-file` as UTF-16LE, so any text (even unpaired surrogates) arrives exactly; with
//! `--repeat`, `{n}` in it becomes the run number.
//!
//! MicroSIP 3.19.27 and later: the value is split with CommandLineToArgvW, the arguments after
//! the program are joined with single spaces, the caller is appended unquoted after a space,
//! and the program is started with ShellExecuteExW (SW_HIDE, NOCLOSEPROCESS | NOASYNC |
//! FLAG_NO_UI) and waited for up to 10 s. Prints one JSON line per run:
//! `{"exit_code": 0, "waited_ms": 3.1, "timed_out": false}`.
//!
//! `--legacy`, MicroSIP 3.19.2 and earlier: ShellExecuteW(value, caller, SW_HIDE), no wait.
//! Prints `{"launched": true}`.
//!
//! `--wait-ms N`: runs nothing, only stays alive that long, as a running microsip.exe (copy
//! it under that name) that `callhook install` must notice.

#[cfg(windows)]
fn main() {
    if let Err(e) = launcher::run() {
        eprintln!("microsip: {e}");
        std::process::exit(2);
    }
}

#[cfg(not(windows))]
fn main() {
    eprintln!("microsip: this launcher runs on Windows (or under wine)");
    std::process::exit(2);
}

#[cfg(windows)]
mod launcher {
    use std::ffi::OsString;
    use std::os::windows::ffi::OsStrExt;
    use std::ptr::null;
    use std::time::Instant;

    use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, WAIT_TIMEOUT};
    use windows_sys::Win32::System::Threading::{GetExitCodeProcess, WaitForSingleObject};
    use windows_sys::Win32::System::WindowsProgramming::GetPrivateProfileStringW;
    use windows_sys::Win32::UI::Shell::{
        CommandLineToArgvW, SEE_MASK_FLAG_NO_UI, SEE_MASK_NOASYNC, SEE_MASK_NOCLOSEPROCESS,
        SHELLEXECUTEINFOW, ShellExecuteExW, ShellExecuteW,
    };
    use windows_sys::Win32::UI::WindowsAndMessaging::SW_HIDE;

    /// MicroSIP waits this long for a hook.
    const WAIT_MS: u32 = 10_000;

    fn wide(s: impl AsRef<std::ffi::OsStr>) -> Vec<u16> {
        s.as_ref().encode_wide().chain([0]).collect()
    }

    pub fn run() -> Result<(), String> {
        let mut args = std::env::args_os().skip(1).peekable();
        if args.peek().is_some_and(|a| a == "--wait-ms") {
            let ms = args
                .nth(1)
                .and_then(|n| n.to_str()?.parse().ok())
                .ok_or("--wait-ms N")?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
            return Ok(());
        }
        let (mut value, mut ini, mut key, mut caller_file) = (None, None, None, None);
        let (mut legacy, mut repeat) = (false, 1u32);
        while let Some(arg) = args.next() {
            let mut next = || args.next().ok_or(format!("{arg:?} needs a value"));
            match arg.to_str() {
                Some("--value") => value = Some(next()?),
                Some("--ini") => ini = Some(next()?),
                Some("--key") => key = Some(next()?),
                Some("--caller-file") => caller_file = Some(next()?),
                Some("--legacy") => legacy = true,
                Some("--repeat") => {
                    repeat = next()?
                        .to_str()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--repeat N")?
                }
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        let value: Vec<u16> = match (value, ini, key) {
            (Some(value), None, None) => value.encode_wide().collect(),
            (None, Some(ini), Some(key)) => read_ini(&ini, &key),
            _ => return Err("give --value, or --ini and --key".into()),
        };
        let caller_file = caller_file.ok_or("--caller-file is required")?;
        let bytes = std::fs::read(&caller_file).map_err(|e| format!("{caller_file:?}: {e}"))?;
        let caller: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        for n in 1..=repeat {
            let caller = substitute(&caller, n);
            let line = if legacy {
                launch_legacy(&value, &caller)
            } else {
                launch(&value, &caller)?
            };
            println!("{line}");
        }
        Ok(())
    }

    /// `{n}` in the caller text becomes the run number.
    fn substitute(caller: &[u16], n: u32) -> Vec<u16> {
        let text = String::from_utf16_lossy(caller);
        if !text.contains("{n}") {
            return caller.to_vec();
        }
        text.replace("{n}", &n.to_string()).encode_utf16().collect()
    }

    fn read_ini(ini: &OsString, key: &OsString) -> Vec<u16> {
        let mut buffer = [0u16; 256];
        let (section, key, empty, file) = (wide("Settings"), wide(key), wide(""), wide(ini));
        // SAFETY: all strings are NUL-terminated and the buffer's size is passed.
        let len = unsafe {
            GetPrivateProfileStringW(
                section.as_ptr(),
                key.as_ptr(),
                empty.as_ptr(),
                buffer.as_mut_ptr(),
                buffer.len() as u32,
                file.as_ptr(),
            )
        };
        buffer[..len as usize].to_vec()
    }

    /// Splits the value with CommandLineToArgvW: the program and its arguments.
    fn split(value: &[u16]) -> Result<Vec<Vec<u16>>, String> {
        let line: Vec<u16> = value.iter().copied().chain([0]).collect();
        let mut count = 0;
        // SAFETY: `line` is NUL-terminated; the returned array holds `count` NUL-terminated
        // strings and is freed with LocalFree.
        unsafe {
            let argv = CommandLineToArgvW(line.as_ptr(), &mut count);
            if argv.is_null() {
                return Err("CommandLineToArgvW failed".into());
            }
            let parts = (0..count as usize)
                .map(|i| {
                    let p = *argv.add(i);
                    let len = (0..).take_while(|&j| *p.add(j) != 0).count();
                    std::slice::from_raw_parts(p, len).to_vec()
                })
                .collect();
            LocalFree(argv.cast());
            Ok(parts)
        }
    }

    fn launch(value: &[u16], caller: &[u16]) -> Result<String, String> {
        let parts = split(value)?;
        let file = parts.first().ok_or("empty hook value")?;
        let mut params: Vec<u16> = parts[1..].join(&(b' ' as u16));
        params.push(b' ' as u16);
        params.extend_from_slice(caller);
        let file: Vec<u16> = file.iter().copied().chain([0]).collect();
        let params: Vec<u16> = params.into_iter().chain([0]).collect();
        // SAFETY: a zeroed SHELLEXECUTEINFOW is valid; the strings outlive the call.
        let mut info: SHELLEXECUTEINFOW = unsafe { std::mem::zeroed() };
        info.cbSize = std::mem::size_of::<SHELLEXECUTEINFOW>() as u32;
        info.fMask = SEE_MASK_NOCLOSEPROCESS | SEE_MASK_NOASYNC | SEE_MASK_FLAG_NO_UI;
        info.lpFile = file.as_ptr();
        info.lpParameters = params.as_ptr();
        info.nShow = SW_HIDE;
        let started = Instant::now();
        // SAFETY: `info` is initialised as ShellExecuteExW requires.
        if unsafe { ShellExecuteExW(&mut info) } == 0 {
            return Err(format!(
                "ShellExecuteExW failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: hProcess is a process handle (NOCLOSEPROCESS), closed below.
        let (timed_out, exit_code) = unsafe {
            let timed_out = WaitForSingleObject(info.hProcess, WAIT_MS) == WAIT_TIMEOUT;
            let mut code = 0u32;
            let got = GetExitCodeProcess(info.hProcess, &mut code) != 0;
            CloseHandle(info.hProcess);
            (timed_out, (got && !timed_out).then_some(code))
        };
        let waited_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(serde_json::json!({
            "exit_code": exit_code,
            "waited_ms": waited_ms,
            "timed_out": timed_out,
        })
        .to_string())
    }

    fn launch_legacy(value: &[u16], caller: &[u16]) -> String {
        let file: Vec<u16> = value.iter().copied().chain([0]).collect();
        let params: Vec<u16> = caller.iter().copied().chain([0]).collect();
        // SAFETY: NUL-terminated strings; a null window, verb and directory are allowed.
        let result = unsafe {
            ShellExecuteW(
                std::ptr::null_mut(),
                null(),
                file.as_ptr(),
                params.as_ptr(),
                null(),
                SW_HIDE,
            )
        };
        serde_json::json!({ "launched": result as usize > 32 }).to_string()
    }
}
