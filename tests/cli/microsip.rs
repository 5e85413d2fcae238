//! The Windows .exe run exactly as MicroSIP runs it (through `examples/microsip.rs`, which
//! calls ShellExecuteExW the way MicroSIP does and waits), under Windows or wine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// The GUI-subsystem build MicroSIP runs.
const HOOK: &str = env!("CARGO_BIN_EXE_callhookw");

/// The launcher, built by `cargo test` among the examples.
fn launcher() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/microsip.exe");
    assert!(
        path.exists(),
        "{} is missing: a plain `cargo test` builds it, or `cargo build --examples`",
        path.display()
    );
    path
}

/// A path as a Windows program (and an admin writing microsip.ini) would write it.
fn windows_path(path: &Path) -> String {
    let full = std::fs::canonicalize(path).unwrap();
    let text = full.to_str().unwrap();
    text.strip_prefix(r"\\?\").unwrap_or(text).to_string()
}

/// The value of a hook key as MicroSIP holds it after reading microsip.ini.
fn hook_value(exe: &Path, event: &str) -> String {
    format!(r#""{}" event {event} --"#, windows_path(exe))
}

struct MicroSip<'a> {
    desk: &'a Desk,
    calls: usize,
}

impl<'a> MicroSip<'a> {
    fn new(desk: &'a Desk) -> MicroSip<'a> {
        MicroSip { desk, calls: 0 }
    }

    fn caller_file(&mut self, caller: &str) -> PathBuf {
        self.calls += 1;
        let path = self.desk.path(&format!("tmp/caller-{}.txt", self.calls));
        let bytes: Vec<u8> = caller.encode_utf16().flat_map(u16::to_le_bytes).collect();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Runs a hook value for a caller as MicroSIP 3.19.27+ does; returns the launcher's report.
    fn run(&mut self, value: &str, caller: &str, env: &[(&str, &Path)]) -> Value {
        let file = self.caller_file(caller);
        let mut cmd = self.desk.command_for(launcher());
        cmd.arg("--value")
            .arg(value)
            .arg("--caller-file")
            .arg(&file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        launched(cmd.output().unwrap())
    }

    /// Runs the hook of `key` as MicroSIP reads it from `ini`.
    fn run_key(&mut self, ini: &Path, key: &str, caller: &str) -> Value {
        let file = self.caller_file(caller);
        let mut cmd = self.desk.command_for(launcher());
        cmd.arg("--ini")
            .arg(ini)
            .args(["--key", key, "--caller-file"])
            .arg(&file);
        launched(cmd.output().unwrap())
    }

    fn event(&mut self, event: &str, caller: &str) -> Value {
        self.run(&hook_value(Path::new(HOOK), event), caller, &[])
    }
}

fn launched(out: std::process::Output) -> Value {
    assert_success(&out, "microsip launcher");
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

fn assert_hook_ok(report: &Value) {
    assert_eq!(report["timed_out"], false, "{report}");
    assert_eq!(report["exit_code"], 0, "{report}");
}

#[test]
fn call_patterns_through_microsip() {
    let desk = Desk::new();
    let mut microsip = MicroSip::new(&desk);
    for (event, caller) in [
        ("incoming", "+15550001"),
        ("ring", "+15550001"),
        ("answer", "+15550001"),
        ("start", "+15550001"),
        ("incoming", "+15550002"),
        ("ring", "+15550002"),
        ("busy", "+15550002"),
        ("end", "+15550001"),
        ("outgoing", "200"),
        ("end", "200"),
        ("incoming", "anonymous"),
        ("end", "anonymous"),
    ] {
        assert_hook_ok(&microsip.event(event, caller));
    }
    assert_eq!(
        summary(&desk.calls()),
        [
            row("+15550001", "in", "answered"),
            row("+15550002", "in", "busy"),
            row("200", "out", "no-answer"),
            row("anonymous", "in", "missed"),
        ]
    );
}

#[test]
fn hostile_callers_arrive_verbatim_through_microsip() {
    let desk = Desk::new();
    let mut microsip = MicroSip::new(&desk);
    let callers = [
        r#"1 & x --event end"#,
        r#""Bob" \"x\" C:\path\ \\server\share\""#,
        r#"a "quoted \" arg" "unclosed"#,
        r#"trailing backslash\"#,
        "%PATH% ^& | < > ^^ !x!",
        "--help",
        "--db C:\\elsewhere.db",
        "  leading and trailing  ",
        "tab\there esc\x1b[31m",
        "\u{202e}gpj.exe \u{5e9}\u{5dc}\u{5d5}\u{5dd} \u{1f600} \u{4f60}\u{597d}",
        "",
    ];
    for caller in callers {
        assert_hook_ok(&microsip.event("incoming", caller));
    }
    let stored: Vec<String> = desk.events().into_iter().map(|e| e.1).collect();
    assert_eq!(stored, callers);
}

#[test]
fn unpaired_surrogates_are_kept_losslessly() {
    let desk = Desk::new();
    let mut microsip = MicroSip::new(&desk);
    let file = microsip.caller_file("");
    // "a", a lone high surrogate, "b".
    std::fs::write(&file, [0x61, 0x00, 0x00, 0xd8, 0x62, 0x00]).unwrap();
    let mut cmd = desk.command_for(launcher());
    cmd.args([
        "--value",
        &hook_value(Path::new(HOOK), "incoming"),
        "--caller-file",
    ])
    .arg(&file);
    assert_hook_ok(&launched(cmd.output().unwrap()));
    let (text, bytes): (String, Vec<u8>) = desk
        .conn()
        .query_row("SELECT caller, caller_bytes FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(text, "a\u{fffd}b");
    // WTF-8: the surrogate as its generalized UTF-8 bytes.
    assert_eq!(bytes, b"a\xed\xa0\x80b");
}

/// microsip.ini as MicroSIP writes it: UTF-16LE with a BOM, CRLF.
fn write_ini(path: &Path, lines: &[String]) {
    let text = lines.join("\r\n") + "\r\n";
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_quoted_ini_form_survives_microsip_reading_it() {
    let desk = Desk::new();
    let ini = desk.path("microsip.ini");
    let exe = windows_path(Path::new(HOOK));
    write_ini(
        &ini,
        &[
            "[Settings]".into(),
            format!(r#"cmdIncomingCall=""{exe}" event incoming --""#),
            format!(r#"cmdCallEnd=""{exe}" event end --""#),
        ],
    );
    let mut microsip = MicroSip::new(&desk);
    for (key, caller) in [("cmdIncomingCall", "+4930111"), ("cmdCallEnd", "+4930111")] {
        assert_hook_ok(&microsip.run_key(&ini, key, caller));
    }
    assert_eq!(summary(&desk.calls()), [row("+4930111", "in", "missed")]);
}

#[test]
fn an_install_path_with_spaces() {
    let desk = Desk::new();
    let program_files = std::env::var_os("ProgramFiles").unwrap();
    let dir = Path::new(&program_files).join("callhook");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("callhookw.exe");
    std::fs::copy(HOOK, &exe).unwrap();
    std::fs::copy(BIN, dir.join("callhook.exe")).unwrap();
    assert!(windows_path(&exe).contains(' '), "{}", windows_path(&exe));
    let mut microsip = MicroSip::new(&desk);
    let report = microsip.run(&hook_value(&exe, "incoming"), "+4930222", &[]);
    assert_hook_ok(&report);
    assert_eq!(
        summary(&desk.calls()),
        [row("+4930222", "in", "in-progress")]
    );
}

#[test]
fn default_locations_are_under_localappdata_and_appdata() {
    let desk = Desk::new();
    let appdata = desk.path("home/AppData/Roaming");
    let local = desk.path("home/AppData/Local");
    std::fs::create_dir_all(appdata.join("callhook")).unwrap();
    std::fs::write(
        appdata.join("callhook/config.toml"),
        "[numbers]\ncountry_code = \"33\"\n",
    )
    .unwrap();
    let mut microsip = MicroSip::new(&desk);
    let file = microsip.caller_file("01 23 45 67 89");
    let mut cmd = desk.bare_command_for(launcher());
    cmd.args([
        "--value",
        &hook_value(Path::new(HOOK), "incoming"),
        "--caller-file",
    ])
    .arg(&file);
    assert_hook_ok(&launched(cmd.output().unwrap()));
    let db = local.join("callhook/calls.db");
    assert!(db.exists(), "the database is in %LOCALAPPDATA%\\callhook");
    let number: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT number FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        number, "+33123456789",
        "the config in %APPDATA%\\callhook was read"
    );
}

#[test]
fn an_unwritable_database_directory_returns_quickly_and_logs() {
    let desk = Desk::new();
    let blocker = desk.path("data/not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let mut microsip = MicroSip::new(&desk);
    let report = microsip.run(
        &hook_value(Path::new(HOOK), "ring"),
        "+4930333",
        &[("CALLHOOK_DB", &blocker.join("calls.db"))],
    );
    assert_eq!(report["timed_out"], false, "{report}");
    assert_eq!(report["exit_code"], callhook::EXIT_NOT_STORED, "{report}");
    let lines = json_lines(&desk.path("tmp/callhook-fallback.log"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["caller"], "+4930333");
    assert_eq!(lines[0]["event"], "ring");
}

#[test]
fn legacy_microsip_runs_callhook_event_named_copies() {
    let desk = Desk::new();
    std::fs::create_dir_all(desk.path("bin")).unwrap();
    let mut microsip = MicroSip::new(&desk);
    for (event, caller) in [("incoming", "3192 & x"), ("end", "3192 & x")] {
        let exe = desk.path(&format!("bin/callhook-{event}.exe"));
        std::fs::copy(HOOK, &exe).unwrap();
        let file = microsip.caller_file(caller);
        let mut cmd = desk.command_for(launcher());
        cmd.args(["--legacy", "--value", &windows_path(&exe), "--caller-file"])
            .arg(&file);
        assert_eq!(launched(cmd.output().unwrap())["launched"], true);
        // MicroSIP 3.19.2 does not wait: the event arrives on its own time.
        let until = Instant::now() + Duration::from_secs(20);
        while desk.events().iter().filter(|e| e.0 == event).count() == 0 {
            assert!(
                Instant::now() < until,
                "the {event} hook did not store its event"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert_eq!(summary(&desk.calls()), [row("3192 & x", "in", "missed")]);
}

/// IMAGE_SUBSYSTEM_WINDOWS_GUI (2) or _CUI (3), from the PE header.
fn subsystem(exe: &str) -> u16 {
    let bytes = std::fs::read(exe).unwrap();
    let pe = u32::from_le_bytes(bytes[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&bytes[pe..pe + 4], b"PE\0\0");
    let at = pe + 4 + 20 + 68;
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

#[test]
fn the_hook_gets_no_console_and_admin_commands_print() {
    assert_eq!(
        subsystem(HOOK),
        2,
        "callhookw.exe is a GUI-subsystem program: no console window"
    );
    assert_eq!(
        subsystem(BIN),
        3,
        "callhook.exe is a console program for admins"
    );
    let desk = Desk::new();
    assert_stored(&desk.event("incoming", "5"));
    assert!(desk.run(&["calls"]).contains("in-progress"));
}

#[test]
fn the_worker_delivers_after_microsip_has_returned() {
    use crate::server::{Reply, Server};
    // The endpoint answers slowly: MicroSIP must not wait for it.
    let server = Server::start(|_, _| Reply::status(200).after(Duration::from_secs(3)));
    let desk = Desk::new();
    let record = desk.path("tmp/popups.jsonl");
    let desk = desk.with_config(&format!(
        "[[webhook]]\nurl = {}\n\n[popup]\nurl = \"https://crm.example.com/?n={{number}}\"\nopener = [{}, {}]\n",
        toml_str(server.url("/hook")),
        toml_str(windows_path(&example("recorder"))),
        toml_str(record.to_str().unwrap()),
    ));
    let mut microsip = MicroSip::new(&desk);
    let report = microsip.event("incoming", "+4930 444");
    assert_hook_ok(&report);
    assert!(report["waited_ms"].as_f64().unwrap() < 3000.0, "{report}");
    assert_eq!(
        server.answered(),
        0,
        "MicroSIP got control back before the endpoint answered"
    );
    wait_until(Duration::from_secs(60), "the popup", || {
        !json_lines(&record).is_empty()
    });
    assert_eq!(
        json_lines(&record)[0]["args"][0],
        "https://crm.example.com/?n=%2B4930444"
    );
    let got = server.wait_for(1, Duration::from_secs(60));
    assert_eq!(got[0].json()["type"], "call.incoming");
    wait_until(Duration::from_secs(60), "the delivery", || {
        desk.outbox().iter().all(|d| d["status"] == "delivered")
    });
}

#[test]
fn install_writes_hooks_that_microsip_runs() {
    let desk = Desk::new();
    let dir = desk.path("Program Files/callhook");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(BIN, dir.join("callhook.exe")).unwrap();
    std::fs::copy(HOOK, dir.join("callhookw.exe")).unwrap();
    let ini = desk.path("MicroSIP/microsip.ini");
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/microsip/microsip-utf16le.ini"),
        &ini,
    )
    .unwrap();
    let out = desk
        .command_for(dir.join("callhook.exe"))
        .args(["install", "--force", "--ini"])
        .arg(&ini)
        .output()
        .unwrap();
    assert_success(&out, "install");
    let mut microsip = MicroSip::new(&desk);
    for (key, caller) in [
        ("cmdIncomingCall", "\"Front\" 030 & 1"),
        ("cmdCallRing", "\"Front\" 030 & 1"),
        ("cmdCallAnswer", "\"Front\" 030 & 1"),
        ("cmdCallStart", "\"Front\" 030 & 1"),
        ("cmdCallEnd", "\"Front\" 030 & 1"),
    ] {
        assert_hook_ok(&microsip.run_key(&ini, key, caller));
    }
    assert_eq!(
        summary(&desk.calls()),
        [row("\"Front\" 030 & 1", "in", "answered")]
    );
    assert_eq!(desk.events()[0].1, "\"Front\" 030 & 1");
}

#[test]
fn install_waits_for_microsip_to_exit() {
    let desk = Desk::new();
    let ini = desk.path("microsip.ini");
    write_ini(&ini, &["[Settings]".into(), "language=en".into()]);
    let fake = desk.path("bin/microsip.exe");
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    std::fs::copy(launcher(), &fake).unwrap();
    let mut running = std::process::Command::new(&fake)
        .args(["--wait-ms", "60000"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = desk
            .command()
            .args(["install", "--ini"])
            .arg(&ini)
            .output()
            .unwrap();
        if !out.status.success() || Instant::now() > deadline {
            break out;
        }
        // Not seen yet: the process is still starting.
        desk.command()
            .args(["uninstall", "--ini"])
            .arg(&ini)
            .output()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MicroSIP is running"),
        "{out:?}"
    );
    let forced = desk
        .command()
        .args(["install", "--force", "--ini"])
        .arg(&ini)
        .output()
        .unwrap();
    let _ = running.kill();
    let _ = running.wait();
    assert_success(&forced, "install --force");
}

#[test]
fn hooks_installed_with_a_short_folder_run_in_microsip() {
    let desk = Desk::new();
    // Programs whose paths are 245 characters: too long for any hook value MicroSIP reads in
    // full (255), so install names their folder by its short 8.3 path.
    let base = std::path::absolute(desk.path("")).unwrap();
    let mut dir = base.clone();
    let mut left = 245 - base.as_os_str().len() - r"\callhookw.exe".len();
    while left > 0 {
        let part = left.min(100);
        let name = "x".repeat(if left > part { part - 1 } else { part });
        left -= name.len() + usize::from(left > name.len());
        dir = dir.join(name);
    }
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(BIN, dir.join("callhook.exe")).unwrap();
    std::fs::copy(HOOK, dir.join("callhookw.exe")).unwrap();
    let ini = desk.path("MicroSIP/microsip.ini");
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    write_ini(&ini, &["[Settings]".into(), "language=en".into()]);
    let original = std::fs::read(&ini).unwrap();
    let out = output(
        desk.command_for(dir.join("callhook.exe"))
            .args(["install", "--force", "--ini"])
            .arg(&ini),
    );
    assert_success(&out, "install");
    let units: Vec<u16> = std::fs::read(&ini).unwrap()[2..]
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    let text = String::from_utf16(&units).unwrap();
    let end = text
        .lines()
        .find_map(|l| l.strip_prefix("cmdCallEnd="))
        .unwrap()
        .to_string();
    assert!(
        end.contains('~') && end.ends_with(r#"\callhookw.exe" event end --""#),
        "{end}"
    );
    let mut microsip = MicroSip::new(&desk);
    for key in ["cmdIncomingCall", "cmdCallRing", "cmdCallEnd"] {
        assert_hook_ok(&microsip.run_key(&ini, key, "+4930555"));
    }
    assert_eq!(summary(&desk.calls()), [row("+4930555", "in", "missed")]);
    let out = output(
        desk.command_for(dir.join("callhook.exe"))
            .args(["uninstall", "--force", "--ini"])
            .arg(&ini),
    );
    assert_success(&out, "uninstall");
    assert_eq!(std::fs::read(&ini).unwrap(), original);
}
