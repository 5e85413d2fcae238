//! The platform interface on Windows. Shell and COM functions are loaded when needed rather
//! than imported: an import would make every hook process load shell32 at start-up.

use std::ffi::{OsStr, OsString};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};
use windows_sys::Win32::Foundation::CloseHandle;
use windows_sys::Win32::System::Environment::GetCommandLineW;
use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, CreateProcessW, DETACHED_PROCESS,
    PROCESS_INFORMATION, STARTUPINFOW,
};

use super::windows_cmdline as cmdline;

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain([0]).collect()
}

/// The text after the first `skip` arguments of the raw command line, exactly as the starting
/// program wrote it, when the raw split agrees with the arguments the process got.
pub fn raw_rest(args: &[OsString], skip: usize) -> Option<OsString> {
    // SAFETY: GetCommandLineW returns the process's NUL-terminated command line, which lives
    // as long as the process and is not modified here.
    let line = unsafe {
        let ptr = GetCommandLineW();
        let len = (0..).take_while(|&i| *ptr.add(i) != 0).count();
        std::slice::from_raw_parts(ptr, len)
    };
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
    Some(OsString::from_wide(rest))
}

/// One argument quoted for a command line, so that the C runtime's split gives it back.
fn quote(arg: &OsStr) -> Vec<u16> {
    let text: Vec<u16> = arg.encode_wide().collect();
    let mut out = vec![b'"' as u16];
    let mut backslashes = 0;
    for &c in &text {
        if c == b'\\' as u16 {
            backslashes += 1;
        } else {
            if c == b'"' as u16 {
                out.extend(std::iter::repeat_n(b'\\' as u16, backslashes + 1));
            }
            backslashes = 0;
        }
        out.push(c);
    }
    out.extend(std::iter::repeat_n(b'\\' as u16, backslashes));
    out.push(b'"' as u16);
    out
}

/// Starts `program` with `args` detached from the hook: no console, its own process group, no
/// inherited handles; MicroSIP, waiting for the hook, never waits for it.
pub fn spawn_detached(program: &Path, args: &[&OsStr]) -> Result<()> {
    let mut line = quote(program.as_os_str());
    for arg in args {
        line.push(b' ' as u16);
        line.extend(quote(arg));
    }
    line.push(0);
    let application = wide(program.as_os_str());
    // SAFETY: zeroed STARTUPINFOW/PROCESS_INFORMATION are valid inputs; the strings are
    // NUL-terminated and outlive the call; the returned handles are closed.
    unsafe {
        let mut startup: STARTUPINFOW = std::mem::zeroed();
        startup.cb = std::mem::size_of::<STARTUPINFOW>() as u32;
        let mut info: PROCESS_INFORMATION = std::mem::zeroed();
        let ok = CreateProcessW(
            application.as_ptr(),
            line.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
            DETACHED_PROCESS | CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP,
            std::ptr::null(),
            std::ptr::null(),
            &startup,
            &mut info,
        );
        if ok == 0 {
            bail!(
                "cannot start {}: {}",
                program.display(),
                std::io::Error::last_os_error()
            );
        }
        CloseHandle(info.hThread);
        CloseHandle(info.hProcess);
    }
    Ok(())
}

/// Opens a URL with the user's default browser (ShellExecuteW "open").
pub fn open_url(url: &str) -> Result<()> {
    type CoInitializeEx = unsafe extern "system" fn(*const core::ffi::c_void, u32) -> i32;
    type ShellExecuteW = unsafe extern "system" fn(
        *mut core::ffi::c_void,
        *const u16,
        *const u16,
        *const u16,
        *const u16,
        i32,
    ) -> *mut core::ffi::c_void;
    const COINIT_APARTMENTTHREADED: u32 = 0x2;
    const COINIT_DISABLE_OLE1DDE: u32 = 0x4;
    const SW_SHOWNORMAL: i32 = 1;
    let url = wide(OsStr::new(url));
    let verb = wide(OsStr::new("open"));
    // SAFETY: the libraries and functions are looked up by their documented names and called
    // with the documented signatures; the strings are NUL-terminated.
    unsafe {
        // ShellExecute wants COM initialised for some protocol handlers.
        let ole32 = LoadLibraryW(wide(OsStr::new("ole32.dll")).as_ptr());
        if !ole32.is_null()
            && let Some(init) = GetProcAddress(ole32, c"CoInitializeEx".as_ptr().cast())
        {
            let init: CoInitializeEx = std::mem::transmute(init);
            init(
                std::ptr::null(),
                COINIT_APARTMENTTHREADED | COINIT_DISABLE_OLE1DDE,
            );
        }
        let shell32 = LoadLibraryW(wide(OsStr::new("shell32.dll")).as_ptr());
        if shell32.is_null() {
            bail!(
                "cannot load shell32.dll: {}",
                std::io::Error::last_os_error()
            );
        }
        let Some(function) = GetProcAddress(shell32, c"ShellExecuteW".as_ptr().cast()) else {
            bail!("shell32.dll has no ShellExecuteW");
        };
        let shell_execute: ShellExecuteW = std::mem::transmute(function);
        let result = shell_execute(
            std::ptr::null_mut(),
            verb.as_ptr(),
            url.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            SW_SHOWNORMAL,
        );
        if result as usize <= 32 {
            bail!(
                "ShellExecuteW could not open the URL (error {})",
                result as usize
            );
        }
    }
    Ok(())
}

/// How long MicroSIP gets to take a command before it counts as hung.
const MICROSIP_TIMEOUT_MS: u32 = 5_000;

/// Sends one command line to the running MicroSIP of this desktop exactly as a second
/// `microsip.exe` does: `WM_COPYDATA` to the window of class `MicroSIP`, `dwData = 1`, the
/// text as UTF-16 with its terminating NUL counted in `cbData`. Returns MicroSIP's answer (0:
/// taken; 1: its SIP stack is not running), or `None` when there is no such window. A MicroSIP
/// that does not answer within 5 s (or is already hung) gives an error of kind `TimedOut`.
/// user32 is loaded here, not imported: the hook processes never need it.
pub fn send_to_microsip(text: &str) -> std::io::Result<Option<isize>> {
    use std::io::{Error, ErrorKind};
    use windows_sys::Win32::Foundation::{
        ERROR_INVALID_WINDOW_HANDLE, ERROR_TIMEOUT, SetLastError,
    };
    use windows_sys::Win32::System::DataExchange::COPYDATASTRUCT;
    use windows_sys::Win32::UI::WindowsAndMessaging::{SMTO_ABORTIFHUNG, WM_COPYDATA};
    type Hwnd = *mut core::ffi::c_void;
    type FindWindowW = unsafe extern "system" fn(*const u16, *const u16) -> Hwnd;
    type SendMessageTimeoutW =
        unsafe extern "system" fn(Hwnd, u32, usize, isize, u32, u32, *mut usize) -> isize;
    let class = wide(OsStr::new("MicroSIP"));
    let mut data: Vec<u16> = text.encode_utf16().chain([0]).collect();
    let bytes = u32::try_from(data.len() * 2)
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "the command is too long"))?;
    // SAFETY: user32 and its functions are looked up by their documented names and called with
    // their documented signatures; the class name is NUL-terminated; the COPYDATASTRUCT and
    // the text it points to outlive the (synchronous) call; the answer is a local.
    unsafe {
        let user32 = LoadLibraryW(wide(OsStr::new("user32.dll")).as_ptr());
        if user32.is_null() {
            return Err(Error::last_os_error());
        }
        let (Some(find), Some(send)) = (
            GetProcAddress(user32, c"FindWindowW".as_ptr().cast()),
            GetProcAddress(user32, c"SendMessageTimeoutW".as_ptr().cast()),
        ) else {
            return Err(Error::other(
                "user32.dll lacks FindWindowW or SendMessageTimeoutW",
            ));
        };
        let find: FindWindowW = std::mem::transmute(find);
        let send: SendMessageTimeoutW = std::mem::transmute(send);
        let window = find(class.as_ptr(), std::ptr::null());
        if window.is_null() {
            return Ok(None);
        }
        let message = COPYDATASTRUCT {
            dwData: 1,
            cbData: bytes,
            lpData: data.as_mut_ptr().cast(),
        };
        let mut answer = 0usize;
        SetLastError(0);
        let ok = send(
            window,
            WM_COPYDATA,
            0,
            &message as *const COPYDATASTRUCT as isize,
            SMTO_ABORTIFHUNG,
            MICROSIP_TIMEOUT_MS,
            &mut answer,
        );
        if ok == 0 {
            let error = Error::last_os_error();
            return match error.raw_os_error().map(|code| code as u32) {
                // MicroSIP closed between finding its window and sending.
                Some(ERROR_INVALID_WINDOW_HANDLE) => Ok(None),
                // A timeout, or a window already known to be hung (which sets no error).
                Some(ERROR_TIMEOUT) | Some(0) | None => Err(Error::new(
                    ErrorKind::TimedOut,
                    "MicroSIP did not answer within 5 seconds",
                )),
                _ => Err(error),
            };
        }
        Ok(Some(answer as isize))
    }
}

/// Turns on escape sequences (colour) in the console, where Windows supports them.
pub fn enable_ansi() -> bool {
    use windows_sys::Win32::System::Console::{
        ENABLE_VIRTUAL_TERMINAL_PROCESSING, GetConsoleMode, GetStdHandle, STD_OUTPUT_HANDLE,
        SetConsoleMode,
    };
    // SAFETY: the standard output handle and a local mode variable.
    unsafe {
        let out = GetStdHandle(STD_OUTPUT_HANDLE);
        let mut mode = 0;
        GetConsoleMode(out, &mut mode) != 0
            && (mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0
                || SetConsoleMode(out, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0)
    }
}

/// The width of the console window standard output writes to, if it is one.
pub fn terminal_width() -> Option<u16> {
    use windows_sys::Win32::System::Console::{
        CONSOLE_SCREEN_BUFFER_INFO, GetConsoleScreenBufferInfo, GetStdHandle, STD_OUTPUT_HANDLE,
    };
    // SAFETY: the standard output handle and a local, zeroed structure to fill.
    unsafe {
        let mut info: CONSOLE_SCREEN_BUFFER_INFO = std::mem::zeroed();
        if GetConsoleScreenBufferInfo(GetStdHandle(STD_OUTPUT_HANDLE), &mut info) == 0 {
            return None;
        }
        let width = info.srWindow.Right - info.srWindow.Left + 1;
        u16::try_from(width).ok().filter(|&w| w > 0)
    }
}

#[link(name = "kernel32")]
unsafe extern "system" {
    // In kernel32 since Windows XP; windows-sys lists it under a feature this crate does not
    // otherwise need.
    fn ProcessIdToSessionId(process_id: u32, session_id: *mut u32) -> i32;
}

/// The Terminal Services session of a process, when it can be read.
fn session_of(process_id: u32) -> Option<u32> {
    let mut session = 0;
    // SAFETY: a plain query with a local out-parameter.
    (unsafe { ProcessIdToSessionId(process_id, &mut session) } != 0).then_some(session)
}

/// The running processes of the current session (the user's desktop) whose executable has one
/// of these file names (any case), with their paths when they can be read.
pub fn processes_named(names: &[String]) -> Vec<Option<PathBuf>> {
    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW,
        TH32CS_SNAPPROCESS,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcessId, OpenProcess, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION,
        QueryFullProcessImageNameW,
    };
    let mut found = Vec::new();
    // SAFETY: GetCurrentProcessId has no preconditions.
    let own_session = session_of(unsafe { GetCurrentProcessId() });
    // SAFETY: the snapshot handle is checked and closed; the entry's size is set as the API
    // requires; the process handle is checked and closed; buffers are passed with their sizes.
    unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        if snapshot == INVALID_HANDLE_VALUE {
            return found;
        }
        let mut entry: PROCESSENTRY32W = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
        let mut more = Process32FirstW(snapshot, &mut entry) != 0;
        while more {
            let len = entry.szExeFile.iter().position(|&c| c == 0).unwrap_or(0);
            let exe = String::from_utf16_lossy(&entry.szExeFile[..len]);
            // Another user's MicroSIP (fast user switching, a terminal server) has its own
            // ini; one whose session cannot be read counts, to be safe.
            let ours = || {
                own_session.is_none()
                    || session_of(entry.th32ProcessID).is_none_or(|s| Some(s) == own_session)
            };
            if names.iter().any(|name| exe.eq_ignore_ascii_case(name)) && ours() {
                let process =
                    OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, entry.th32ProcessID);
                let mut path = None;
                if !process.is_null() {
                    let mut buffer = [0u16; 1024];
                    let mut size = buffer.len() as u32;
                    if QueryFullProcessImageNameW(
                        process,
                        PROCESS_NAME_WIN32,
                        buffer.as_mut_ptr(),
                        &mut size,
                    ) != 0
                    {
                        path = Some(OsString::from_wide(&buffer[..size as usize]).into());
                    }
                    CloseHandle(process);
                }
                found.push(path);
            }
            more = Process32NextW(snapshot, &mut entry) != 0;
        }
        CloseHandle(snapshot);
    }
    found
}

/// The short (8.3) form of a path, when the file system has one.
pub fn short_path(path: &Path) -> Option<PathBuf> {
    use windows_sys::Win32::Storage::FileSystem::GetShortPathNameW;
    let long = wide(path.as_os_str());
    let mut buffer = vec![0u16; 1024];
    // SAFETY: NUL-terminated input; the output buffer's size is passed.
    let len = unsafe { GetShortPathNameW(long.as_ptr(), buffer.as_mut_ptr(), buffer.len() as u32) };
    (len > 0 && (len as usize) < buffer.len())
        .then(|| OsString::from_wide(&buffer[..len as usize]).into())
}

/// Milliseconds since the computer started, sleep included: a clock no setting changes.
pub fn boot_ms() -> Option<i64> {
    // SAFETY: no arguments; counts milliseconds since start-up, sleep included.
    Some(unsafe { windows_sys::Win32::System::SystemInformation::GetTickCount64() } as i64)
}

// The folders come from the environment, which every user session sets: asking the shell for
// known folders would make every hook load shell32 and COM at start-up.

/// `%APPDATA%`: settings that roam with the user.
pub fn config_dir() -> Option<PathBuf> {
    env_dir("APPDATA").or_else(|| Some(env_dir("USERPROFILE")?.join(r"AppData\Roaming")))
}

/// `%LOCALAPPDATA%`: data that stays on this computer.
pub fn data_dir() -> Option<PathBuf> {
    env_dir("LOCALAPPDATA").or_else(|| Some(env_dir("USERPROFILE")?.join(r"AppData\Local")))
}

fn env_dir(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(name)?);
    dir.is_absolute().then_some(dir)
}

/// The environment variable that names the user.
pub const USER_VAR: &str = "USERNAME";

/// A console program started from a windowless one (the worker, `callhookw.exe`) would get a
/// console window of its own: it gets none.
pub fn without_console(command: &mut Command) {
    use std::os::windows::process::CommandExt;
    command.creation_flags(CREATE_NO_WINDOW);
}

/// Whether a file found in a shared directory may be taken as this user's: a regular file
/// (the temp directory is the user's own on Windows).
pub fn is_own_file(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_the_splitter() {
        for arg in [
            r"C:\Program Files\callhook\calls.db",
            r"C:\dir\",
            r#"a"b"#,
            r"x\\",
            "",
        ] {
            let mut line: Vec<u16> = "prog.exe ".encode_utf16().collect();
            line.extend(quote(OsStr::new(arg)));
            let tokens = cmdline::tokens(&line, 2);
            assert_eq!(String::from_utf16(&tokens[1].value).unwrap(), arg);
        }
    }
}
