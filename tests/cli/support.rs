//! A desk: a temp directory with its own database, config, data and temp directories, and
//! the real `callhook` binary run in it as a separate process, as MicroSIP runs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_callhook");

/// 2026-11-25T10:00:00Z, a base for explicit event times.
pub const T0: i64 = 1_795_600_800_000;

/// The events of a call that rings and is given up, for [`Desk::record`].
pub const MISSED: &[(i64, &str)] = &[(0, "incoming"), (1_000, "ring"), (9_000, "end")];

pub struct Desk {
    pub dir: TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
}

impl Desk {
    pub fn new() -> Desk {
        let dir = tempfile::Builder::new()
            .prefix("callhook-test")
            .tempdir()
            .unwrap();
        for sub in ["data", "config", "tmp", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let db = dir.path().join("data").join("calls.db");
        let config = dir.path().join("config").join("config.toml");
        Desk { dir, db, config }
    }

    /// This desk with a webhook to `url` and a popup opened by the recorder, which writes to
    /// the returned file.
    pub fn with_webhook_and_popup(self, url: &str) -> (Desk, PathBuf) {
        let record = self.path("tmp/popups.jsonl");
        let desk = self.with_config(&format!(
            "[[webhook]]\nname = \"crm\"\nurl = {}\n\n[popup]\nurl = \"https://crm.example.com/?n={{number}}\"\nopener = [{}, {}]\n",
            toml_str(url),
            toml_str(example("recorder").to_str().unwrap()),
            toml_str(record.to_str().unwrap())
        ));
        (desk, record)
    }

    pub fn with_config(self, toml: &str) -> Desk {
        std::fs::write(&self.config, toml).unwrap();
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The binary with this desk's environment and no other: the database and config through
    /// `CALLHOOK_DB` and `CALLHOOK_CONFIG`, home, data and temp directories inside the desk.
    pub fn command(&self) -> Command {
        self.command_for(BIN)
    }

    /// Another program (a launcher, a copy of the binary) with the same environment.
    pub fn command_for(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = self.bare_command_for(program);
        cmd.env("CALLHOOK_DB", &self.db)
            .env("CALLHOOK_CONFIG", &self.config);
        cmd
    }

    /// The binary without `CALLHOOK_DB` and `CALLHOOK_CONFIG`: the default locations apply,
    /// inside the desk.
    pub fn bare_command(&self) -> Command {
        self.bare_command_for(BIN)
    }

    pub fn bare_command_for(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let home = self.path("home");
        let tmp = self.path("tmp");
        for proxy in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(proxy);
        }
        cmd.env_remove("CALLHOOK_DB")
            .env_remove("CALLHOOK_CONFIG")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("APPDATA", home.join("AppData/Roaming"))
            .env("LOCALAPPDATA", home.join("AppData/Local"))
            .env("TMPDIR", &tmp)
            .env("TEMP", &tmp)
            .env("TMP", &tmp)
            .env("USER", "reception")
            .env("USERNAME", "reception")
            // Local times and days do not depend on the machine's zone; a test that wants
            // another zone sets its own TZ.
            .env("TZ", "UTC")
            // Tables as wide as their text, so that tests find phrases on one line; a test of
            // the wrapping sets its own width.
            .env("COLUMNS", "1000")
            .stdin(Stdio::null());
        cmd
    }

    /// `callhook event <event> -- <caller>` with the caller text as MicroSIP passes it.
    pub fn event(&self, event: &str, caller: &str) -> Output {
        output(&mut self.event_command(&[], event, caller))
    }

    /// The same with `--time` set (Unix milliseconds).
    pub fn event_at(&self, at: i64, event: &str, caller: &str) -> Output {
        let time = at.to_string();
        output(&mut self.event_command(&["--time", &time], event, caller))
    }

    pub fn spawn_event_at(&self, at: i64, event: &str, caller: &str) -> Child {
        let time = at.to_string();
        let mut cmd = self.event_command(&["--time", &time], event, caller);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        retry_start(|| cmd.spawn())
    }

    pub fn event_command(&self, options: &[&str], event: &str, caller: &str) -> Command {
        let mut cmd = self.command();
        cmd.arg("event").args(options).arg(event).arg("--");
        caller_arg(&mut cmd, caller);
        cmd
    }

    /// Records one call from `caller`: each event the given milliseconds after `at`, each
    /// stored as the hook stores it.
    pub fn record(&self, at: i64, caller: &str, events: &[(i64, &str)]) -> &Desk {
        for &(ms, event) in events {
            assert_stored(&self.event_at(at + ms, event, caller));
        }
        self
    }

    /// Runs an admin command and returns its stdout; it must succeed.
    pub fn run(&self, args: &[&str]) -> String {
        let out = output(self.command().args(args));
        assert_success(&out, &format!("callhook {args:?}"));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `callhook <args> --format json`: its rows, or the one object it prints as a row.
    pub fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        match serde_json::from_str(&self.run(&all)).unwrap() {
            Value::Array(rows) => rows,
            other => vec![other],
        }
    }

    /// `callhook calls --format json`, oldest first.
    pub fn calls(&self) -> Vec<Value> {
        let mut calls = self.json(&["calls", "--limit", "100000"]);
        calls.reverse();
        calls
    }

    /// Runs an admin command that must fail, and returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            !out.status.success(),
            "callhook {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }

    /// The number a query such as `SELECT count(*) …` gives.
    pub fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// (event, caller, number, caller_truncated) of every stored event, in event order; none
    /// while there is no database yet.
    pub fn events(&self) -> Vec<(String, String, String, bool)> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let Ok(conn) = rusqlite::Connection::open_with_flags(&self.db, flags) else {
            return Vec::new();
        };
        if conn
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE name = 'events'",
                [],
                |_| Ok(()),
            )
            .is_err()
        {
            return Vec::new();
        }
        let mut stmt = conn
            .prepare("SELECT event, caller, number, caller_truncated FROM events ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    pub fn fallback_log(&self) -> PathBuf {
        self.db.parent().unwrap().join("callhook-fallback.log")
    }
}

/// MicroSIP appends the caller text to the command line unquoted; on Windows it reaches the
/// hook raw. Elsewhere there is no MicroSIP, and the text is one argument.
#[cfg(windows)]
pub fn caller_arg(cmd: &mut Command, caller: &str) {
    use std::os::windows::process::CommandExt;
    cmd.raw_arg(caller);
}

#[cfg(not(windows))]
pub fn caller_arg(cmd: &mut Command, caller: &str) {
    cmd.arg(caller);
}

/// An example program built beside the tests (`cargo test` builds the examples).
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let path = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: a plain `cargo test` builds it, or `cargo build --examples`",
        path.display()
    );
    path
}

/// Waits until `done` holds, polling; panics after `timeout`.
pub fn wait_until(timeout: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + timeout;
    while !done() {
        assert!(
            std::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The recorder's argument lists, one per time it was started; none while it never was.
pub fn recorded_args(record: &Path) -> Vec<Vec<String>> {
    json_lines(record)
        .iter()
        .map(|line| {
            line["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// The JSON lines of a file (a fallback log, the recorder's record); none while it is missing.
pub fn json_lines(file: &Path) -> Vec<Value> {
    match std::fs::read_to_string(file) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A TOML string literal.
pub fn toml_str(s: impl AsRef<str>) -> String {
    toml::Value::String(s.as_ref().to_string()).to_string()
}

impl Desk {
    /// `callhook outbox --format json`, oldest first.
    pub fn outbox(&self) -> Vec<Value> {
        let mut rows = self.json(&["outbox", "--limit", "100000"]);
        rows.reverse();
        rows
    }

    /// Keeps workers away: a live lease on every lane, as if another worker held them.
    pub fn hold_leases(&self) {
        // Creates the database if there is none yet.
        callhook::log::db::open(&self.db, callhook::log::db::ADMIN_BUSY_TIMEOUT).unwrap();
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO worker_leases (lane, holder, expires_at) VALUES \
                 ('popup', 'test', 9999999999999), ('webhook', 'test', 9999999999999), \
                 ('fallback', 'test', 9999999999999), ('contacts', 'test', 9999999999999)",
                [],
            )
            .unwrap();
    }

    pub fn release_leases(&self) {
        self.conn()
            .execute("DELETE FROM worker_leases", [])
            .unwrap();
    }
}

/// Runs a command to its end; see [`retry_start`].
pub fn output(cmd: &mut Command) -> Output {
    retry_start(|| cmd.output())
}

/// Starts a process, trying again for a moment when the OS fails to start it for reasons of
/// its own: on Linux, another test thread that forks meanwhile can briefly hold a just-copied
/// program open for writing ("text file busy"); under wine, process creation fails now and
/// then with "internal error" (1359) when many tests start processes at once. The process
/// never ran in either case, so trying again changes nothing the test looks at.
pub fn retry_start<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match start() {
            Err(e)
                if (e.kind() == std::io::ErrorKind::ExecutableFileBusy
                    || e.raw_os_error() == Some(1359) && cfg!(windows))
                    && std::time::Instant::now() < until =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result.unwrap(),
        }
    }
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A hook run must be silent and succeed.
pub fn assert_stored(out: &Output) {
    assert_success(out, "callhook event");
    assert!(
        out.stdout.is_empty(),
        "event printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "event printed {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn str_field<'a>(call: &'a Value, key: &str) -> &'a str {
    call[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {call}"))
}

/// (number, direction, status) of each call.
pub fn summary(calls: &[Value]) -> Vec<(String, String, String)> {
    calls
        .iter()
        .map(|c| {
            (
                str_field(c, "number").to_string(),
                str_field(c, "direction").to_string(),
                str_field(c, "status").to_string(),
            )
        })
        .collect()
}

/// The number of each row.
pub fn numbers(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| str_field(r, "number").to_string())
        .collect()
}

pub fn row(number: &str, direction: &str, status: &str) -> (String, String, String) {
    (number.into(), direction.into(), status.into())
}

/// Every call field but the id (ids hold random bits).
pub fn without_ids(calls: Vec<Value>) -> Vec<Value> {
    calls
        .into_iter()
        .map(|mut c| {
            c.as_object_mut().unwrap().remove("id");
            c
        })
        .collect()
}
