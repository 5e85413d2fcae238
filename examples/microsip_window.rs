//! Stands in for a running MicroSIP in tests: a hidden window of class `MicroSIP` that takes
//! commands by `WM_COPYDATA` as MicroSIP does, and records each one.
//!
//! microsip_window FILE [--not-ready] [--hang-ms N] [--timeout-ms N]
//!
//! Each `WM_COPYDATA` appends a JSON line to FILE, `{"dw_data": 1, "text": "/answer",
//! "cb_data": 16}` (`text` without its terminating NUL, `cb_data` as sent), and is answered 0,
//! as MicroSIP answers a command it runs; with `--not-ready`, 1, as MicroSIP answers when its
//! SIP stack is not running; with `--hang-ms`, only after N ms, as a hung MicroSIP. `FILE.ready` is created once the window exists. The program ends
//! on `WM_CLOSE`, or after N ms (default 60 000) so that a failed test leaves nothing behind.

#[cfg(windows)]
fn main() {
    if let Err(e) = window::run() {
        eprintln!("microsip_window: {e}");
        std::process::exit(2);
    }
}

#[cfg(not(windows))]
fn main() {
    eprintln!("microsip_window: this stand-in runs on Windows (or under wine)");
    std::process::exit(2);
}

#[cfg(windows)]
mod window {
    use std::ffi::OsStr;
    use std::io::Write;
    use std::os::windows::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
    use windows_sys::Win32::System::DataExchange::COPYDATASTRUCT;
    use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        CreateWindowExW, DefWindowProcW, DestroyWindow, DispatchMessageW, GetMessageW, MSG,
        PostQuitMessage, RegisterClassW, SetTimer, TranslateMessage, WM_CLOSE, WM_COPYDATA,
        WM_DESTROY, WM_TIMER, WNDCLASSW, WS_OVERLAPPEDWINDOW,
    };

    struct State {
        record: PathBuf,
        answer: LRESULT,
        hang_ms: u64,
    }

    static STATE: OnceLock<State> = OnceLock::new();

    fn wide(s: &str) -> Vec<u16> {
        OsStr::new(s).encode_wide().chain([0]).collect()
    }

    pub fn run() -> Result<(), String> {
        let mut args = std::env::args_os().skip(1);
        let record = PathBuf::from(args.next().ok_or("usage: microsip_window FILE")?);
        let (mut answer, mut timeout_ms, mut hang_ms) = (0, 60_000u32, 0u64);
        while let Some(arg) = args.next() {
            match arg.to_str() {
                Some("--not-ready") => answer = 1,
                Some("--hang-ms") => {
                    hang_ms = args
                        .next()
                        .and_then(|n| n.to_str()?.parse().ok())
                        .ok_or("--hang-ms N")?;
                }
                Some("--timeout-ms") => {
                    timeout_ms = args
                        .next()
                        .and_then(|n| n.to_str()?.parse().ok())
                        .ok_or("--timeout-ms N")?;
                }
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        let mut ready = record.clone().into_os_string();
        ready.push(".ready");
        STATE
            .set(State {
                record,
                answer,
                hang_ms,
            })
            .map_err(|_| "started twice")?;
        let class = wide("MicroSIP");
        // SAFETY: the class and window are this program's own; the strings are NUL-terminated
        // and outlive the calls; the message loop runs on the thread that made the window.
        unsafe {
            let instance = GetModuleHandleW(std::ptr::null());
            let mut wc: WNDCLASSW = std::mem::zeroed();
            wc.lpfnWndProc = Some(window_proc);
            wc.hInstance = instance;
            wc.lpszClassName = class.as_ptr();
            if RegisterClassW(&wc) == 0 {
                return Err(format!(
                    "RegisterClassW: {}",
                    std::io::Error::last_os_error()
                ));
            }
            // A hidden top-level window, as FindWindowW finds MicroSIP's (a message-only
            // window would not be found).
            let title = wide("MicroSIP");
            let window = CreateWindowExW(
                0,
                class.as_ptr(),
                title.as_ptr(),
                WS_OVERLAPPEDWINDOW,
                0,
                0,
                200,
                100,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                instance,
                std::ptr::null(),
            );
            if window.is_null() {
                return Err(format!(
                    "CreateWindowExW: {}",
                    std::io::Error::last_os_error()
                ));
            }
            SetTimer(window, 1, timeout_ms, None);
            std::fs::write(&ready, b"").map_err(|e| format!("cannot write {ready:?}: {e}"))?;
            let mut msg: MSG = std::mem::zeroed();
            while GetMessageW(&mut msg, std::ptr::null_mut(), 0, 0) > 0 {
                TranslateMessage(&msg);
                DispatchMessageW(&msg);
            }
        }
        Ok(())
    }

    unsafe extern "system" fn window_proc(
        window: HWND,
        message: u32,
        wparam: WPARAM,
        lparam: LPARAM,
    ) -> LRESULT {
        match message {
            WM_COPYDATA => {
                // SAFETY: for WM_COPYDATA, lparam points to a COPYDATASTRUCT whose lpData
                // holds cbData bytes, valid while the message is handled.
                let (dw_data, bytes) = unsafe {
                    let data = &*(lparam as *const COPYDATASTRUCT);
                    let bytes = if data.lpData.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(data.lpData as *const u8, data.cbData as usize)
                    };
                    (data.dwData, bytes.to_vec())
                };
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                    .collect();
                let text = units.strip_suffix(&[0]).unwrap_or(&units);
                let state = STATE
                    .get()
                    .expect("the state is set before the window exists");
                let line = serde_json::json!({
                    "dw_data": dw_data,
                    "text": String::from_utf16_lossy(text),
                    "cb_data": bytes.len(),
                });
                let mut out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&state.record)
                    .expect("the record file opens");
                writeln!(out, "{line}").expect("the record is written");
                std::thread::sleep(std::time::Duration::from_millis(state.hang_ms));
                state.answer
            }
            // SAFETY: the window is this thread's own.
            WM_TIMER | WM_CLOSE => unsafe {
                DestroyWindow(window);
                0
            },
            WM_DESTROY => {
                // SAFETY: called on the thread of the message loop.
                unsafe { PostQuitMessage(0) };
                0
            }
            // SAFETY: the arguments are the ones this window procedure was given.
            _ => unsafe { DefWindowProcW(window, message, wparam, lparam) },
        }
    }
}
