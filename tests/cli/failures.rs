//! Failures a user can cause: the hook never hangs MicroSIP and never loses the event.

use std::time::{Duration, Instant};

use crate::support::*;

/// A generous bound against hangs; the real budget (under a second) is measured by the
/// benchmark, not asserted here.
const HANG: Duration = Duration::from_secs(5);

#[test]
fn a_bad_config_still_stores_the_event() {
    let desk =
        Desk::new().with_config("[calls]\nwindow = \"4h\"\n\n[numbers]\ncountry_code = 49\n");
    let out = desk.event("incoming", "030 123");
    assert_eq!(out.status.code(), Some(callhook::EXIT_CONFIG as i32));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&desk.config.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(stderr.contains("numbers.country_code"), "{stderr}");

    // Stored with the defaults (no country code), the error kept with it.
    let events = desk.events();
    assert_eq!(
        (events[0].1.as_str(), events[0].2.as_str()),
        ("030 123", "030123")
    );
    let error: String = desk
        .conn()
        .query_row("SELECT config_error FROM events", [], |r| r.get(0))
        .unwrap();
    assert!(error.contains("numbers.country_code"), "{error}");
    let lines = json_lines(&desk.fallback_log());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["stored"], true);

    // Admin commands refuse a broken config, naming file, line and key.
    let out = desk.command().args(["calls"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 5") && stderr.contains("numbers.country_code"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_event_exits_2_and_is_logged() {
    let desk = Desk::new();
    let out = desk.event("hangup", "555 & more");
    assert_eq!(out.status.code(), Some(callhook::EXIT_USAGE as i32));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown event `hangup`"));
    let lines = json_lines(&desk.fallback_log());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event"], "hangup");
    assert_eq!(lines[0]["caller"], "555 & more");
    assert_eq!(lines[0]["stored"], false);
    assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
    assert!(!desk.db.exists(), "nothing else was written");
}

#[test]
fn an_unwritable_database_directory_falls_back_to_the_temp_directory() {
    let desk = Desk::new();
    // A directory that cannot be created, whatever the user's rights: its parent is a file.
    let blocker = desk.path("data/not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let db = blocker.join("calls.db");
    let started = Instant::now();
    let out = desk
        .event_command(&[], "incoming", "123")
        .env("CALLHOOK_DB", &db)
        .output()
        .unwrap();
    assert!(started.elapsed() < HANG);
    assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
    let lines = json_lines(&desk.path("tmp/callhook-fallback.log"));
    assert_eq!(lines.len(), 1, "fallback in the temp directory");
    assert_eq!(
        (lines[0]["event"].as_str(), lines[0]["caller"].as_str()),
        (Some("incoming"), Some("123"))
    );
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("database directory"),
        "{}",
        lines[0]
    );
}

/// Makes a directory unwritable even for root (whose rights ignore permission bits): with
/// the immutable attribute. Returns a function that undoes it.
#[cfg(unix)]
fn make_read_only(dir: &std::path::Path) -> impl FnOnce() {
    use std::os::unix::fs::PermissionsExt;
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .expect("chattr (e2fsprogs) is needed to make a directory read-only for root");
        assert!(status.success(), "chattr +i {} failed", dir.display());
    } else {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let dir = dir.to_path_buf();
    move || {
        if root {
            std::process::Command::new("chattr")
                .arg("-i")
                .arg(&dir)
                .status()
                .unwrap();
        } else {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_database_directory_is_reported() {
    let desk = Desk::new();
    assert_stored(&desk.event("incoming", "1"));
    let undo = make_read_only(desk.db.parent().unwrap());
    let started = Instant::now();
    let out = desk.event("end", "1 & x");
    let waited = started.elapsed();
    undo();
    assert!(waited < HANG, "waited {waited:?}");
    assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
    // Nothing could be written beside the database: the line went to the temp directory.
    assert!(!desk.fallback_log().exists());
    let lines = json_lines(&desk.path("tmp/callhook-fallback.log"));
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0]["event"].as_str(), lines[0]["caller"].as_str()),
        (Some("end"), Some("1 & x"))
    );
    assert_eq!(desk.events().len(), 1);

    // Once the directory is writable again, the next hook starts the worker, which stores the
    // event of the temp directory's log: no admin needed.
    assert_stored(&desk.event("incoming", "2"));
    wait_until(Duration::from_secs(30), "the fallback log to drain", || {
        desk.events().len() == 3
    });
    assert_eq!(
        summary(&desk.calls()),
        [row("1", "in", "missed"), row("2", "in", "in-progress")]
    );
    wait_until(Duration::from_secs(30), "the drained log to go", || {
        !desk.path("tmp/callhook-fallback.log").exists()
    });
}

#[cfg(unix)]
#[test]
fn a_hook_that_hangs_gives_up_within_a_second() {
    // A config "file" that never finishes reading (a FIFO nobody writes to): only the
    // watchdog can end this run.
    let desk = Desk::new();
    let fifo = desk.path("config/config.toml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = desk.event("incoming", "+4930 555");
    let waited = started.elapsed();
    assert!(waited < HANG, "waited {waited:?}");
    assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
    let lines = json_lines(&desk.fallback_log());
    assert_eq!(lines.len(), 1, "{:?}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines[0]["caller"], "+4930 555");
    assert_eq!(lines[0]["user"], "reception");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("gave up after"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_bad_config_keeps_its_database() {
    // A typo in the webhook must not send the events to another database.
    let desk = Desk::new();
    let db = desk.path("data/elsewhere/calls.db");
    let desk = desk.with_config(&format!(
        "[database]\npath = {}\n\n[[webhook]]\nurl = \"not a url\"\n",
        toml_str(db.to_str().unwrap())
    ));
    let out = desk
        .bare_command()
        .env("CALLHOOK_CONFIG", &desk.config)
        .args(["event", "incoming", "--", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(callhook::EXIT_CONFIG as i32));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM events WHERE caller = '5'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, 1);
    let log = db.parent().unwrap().join("callhook-fallback.log");
    let lines = json_lines(&log);
    assert_eq!((lines.len(), &lines[0]["stored"]), (1, &true.into()));
}

#[test]
fn a_misread_hook_line_is_logged() {
    // An option before `event` that callhook does not know: the hook line in microsip.ini
    // is wrong, and the event must still not be lost.
    let desk = Desk::new();
    let mut cmd = desk.command();
    cmd.args(["--verbose", "event", "end", "--"]);
    caller_arg(&mut cmd, "1 & x");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(callhook::EXIT_USAGE as i32));
    let lines = json_lines(&desk.fallback_log());
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0]["event"].as_str(), lines[0]["caller"].as_str()),
        (Some("end"), Some("1 & x"))
    );
    assert!(lines[0]["error"].as_str().unwrap().contains("--verbose"));
}

#[test]
fn a_locked_database_gives_up_in_time_and_replay_recovers() {
    let desk = Desk::new();
    assert_stored(&desk.event_at(T0, "incoming", "321"));
    let conn = desk.conn();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let out = desk.event_at(T0 + 9_000, "end", "321");
    let waited = started.elapsed();
    conn.execute_batch("COMMIT").unwrap();
    drop(conn);
    assert!(waited < HANG, "waited {waited:?}");
    assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
    let lines = json_lines(&desk.fallback_log());
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("locked by another program"),
        "{}",
        lines[0]
    );
    let copy = desk.path("copy-of-the-log");
    std::fs::copy(desk.fallback_log(), &copy).unwrap();

    let report = desk.run(&["replay"]);
    assert!(
        report.contains("Stored 1 event from the fallback log; 0 were in the database already."),
        "{report}"
    );
    assert_eq!(summary(&desk.calls()), [row("321", "in", "missed")]);
    assert!(!desk.fallback_log().exists(), "the drained log is gone");
    let report = desk.run(&["replay"]);
    assert!(report.contains("Nothing to replay"), "{report}");
    // Replaying a copy of the log stores nothing twice.
    let report = desk.run(&["replay", "--log", copy.to_str().unwrap()]);
    assert!(
        report.contains("Stored 0 events from the fallback log; 1 was in the database already."),
        "{report}"
    );
    assert_eq!(desk.events().len(), 2);
}

#[test]
fn hooks_blocked_by_another_program_say_so() {
    // A program that is not callhook (a database browser) holds the write lock: the hook
    // holding callhook's own turn waits for it, and so do the hooks queued behind that one.
    // Each says who is in the way.
    let desk = Desk::new();
    assert_stored(&desk.event("incoming", "1"));
    let conn = desk.conn();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let hooks: Vec<_> = (0..6)
        .map(|i| desk.spawn_event_at(T0 + i, "ring", &format!("{i}")))
        .collect();
    let outs: Vec<_> = hooks
        .into_iter()
        .map(|h| h.wait_with_output().unwrap())
        .collect();
    conn.execute_batch("COMMIT").unwrap();
    for out in &outs {
        assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("locked by another program"), "{stderr}");
        assert!(!stderr.contains("too long"), "{stderr}");
    }
    let lines = json_lines(&desk.fallback_log());
    assert_eq!(lines.len(), 6);
}

#[test]
fn a_corrupt_database_is_reported_and_the_event_kept() {
    let desk = Desk::new();
    std::fs::write(&desk.db, vec![0x5a; 8192]).unwrap();
    let out = desk.event("incoming", "888");
    assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
    let lines = json_lines(&desk.fallback_log());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["caller"], "888");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("not a database"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_database_from_a_newer_callhook_is_refused() {
    let desk = Desk::new();
    assert_stored(&desk.event("incoming", "1"));
    desk.conn()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let out = desk.event("end", "1");
    assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer than this callhook"));
    let out = desk.command().arg("calls").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer than this callhook"));
}

#[cfg(unix)]
#[test]
fn a_contacts_file_that_blocks_never_stops_the_hooks() {
    let desk = Desk::new();
    let csv = desk.path("names.csv");
    std::fs::write(&csv, "+4930111,Anna Schmidt\n").unwrap();
    let desk = desk.with_config(&format!(
        "[contacts]\ncsv = {}\n",
        toml_str(csv.to_str().unwrap())
    ));
    // The worker reads the file.
    assert_stored(&desk.event("incoming", "+4930999"));
    wait_until(Duration::from_secs(30), "the names", || {
        desk.conn()
            .query_row("SELECT count(*) FROM contacts", [], |r| r.get::<_, i64>(0))
            .unwrap_or(0)
            == 1
    });
    // The file turns into one that never finishes reading (a hung share; a FIFO here).
    std::fs::remove_file(&csv).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&csv)
        .status()
        .unwrap();
    assert!(status.success());
    assert_stored(&desk.event("incoming", "+4930222"));
    std::thread::sleep(Duration::from_millis(300));
    // Hooks go on storing while the worker deals with it, and names stay as last read.
    for caller in ["+4930333", "+4930111", "+4930444"] {
        let started = Instant::now();
        assert_stored(&desk.event("incoming", caller));
        assert!(started.elapsed() < HANG);
    }
    let named = desk
        .calls()
        .iter()
        .find(|c| c["number"] == "+4930111")
        .unwrap()["name"]
        .clone();
    assert_eq!(named, "Anna Schmidt");
    let doctor = desk.command().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("not a regular file"), "{text}");
}

#[test]
fn doctor_finds_a_damaged_database() {
    let desk = Desk::new();
    for i in 0..40 {
        assert_stored(&desk.event_at(T0 + i * 60_000, "incoming", &format!("+4930{i:06}")));
    }
    let doctor = desk.command().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("no damage found"), "{text}");
    // A page of an index of the events overwritten (a failing disk, a bad copy): the file
    // still opens and counts its calls, but no event can be stored.
    let root: i64 = desk
        .conn()
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'events_by_call'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&desk.db)
        .unwrap();
    std::io::Seek::seek(
        &mut file,
        std::io::SeekFrom::Start((root as u64 - 1) * 4096),
    )
    .unwrap();
    std::io::Write::write_all(&mut file, &[0x5a; 4096]).unwrap();
    drop(file);
    let out = desk.event("incoming", "+4930999999");
    assert_eq!(out.status.code(), Some(callhook::EXIT_NOT_STORED as i32));
    let doctor = desk.command().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "{text}");
    assert!(text.contains("damaged"), "{text}");
}

#[test]
fn a_broken_key_never_moves_the_database() {
    let desk = Desk::new();
    let chosen = desk.path("data/chosen/calls.db");
    let default_db = if cfg!(windows) {
        desk.path("home/AppData/Local/callhook/calls.db")
    } else {
        desk.path("home/.local/share/callhook/calls.db")
    };
    let hook = |config: &str, caller: &str| {
        std::fs::write(&desk.config, config).unwrap();
        let mut cmd = desk.bare_command();
        cmd.env("CALLHOOK_CONFIG", &desk.config)
            .args(["event", "incoming", "--"]);
        caller_arg(&mut cmd, caller);
        output(&mut cmd)
    };
    let path = toml_str(chosen.to_str().unwrap());
    // A misspelled key next to the path: stored where the path says, the error noted.
    let out = hook(&format!("[database]\npath = {path}\npaht = \"x\"\n"), "1");
    assert_eq!(out.status.code(), Some(callhook::EXIT_CONFIG as i32));
    assert!(chosen.exists() && !default_db.exists());
    // The path itself unreadable: stored nowhere the admin did not choose; the event waits in
    // the temp directory's fallback log.
    for config in [
        "[database]\npath = 5\n".to_string(),
        format!("[database]\npaht = {path}\n"),
        "[database\npath = \"x\"\n".to_string(),
    ] {
        let out = hook(&config, "2");
        assert_eq!(
            out.status.code(),
            Some(callhook::EXIT_NOT_STORED as i32),
            "{config}"
        );
        assert!(!default_db.exists(), "{config}");
    }
    let waiting = json_lines(&desk.path("tmp/callhook-fallback.log"));
    assert_eq!(waiting.len(), 3);
    assert!(waiting.iter().all(|l| l.get("db").is_none()), "{waiting:?}");
    // Once the config is fixed, the next event stores them in the chosen database.
    let out = hook(&format!("[database]\npath = {path}\n"), "3");
    assert_stored(&out);
    wait_until(Duration::from_secs(30), "the waiting events", || {
        rusqlite::Connection::open(&chosen)
            .unwrap()
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .unwrap()
            == 5
    });
    assert!(!default_db.exists());
}

#[test]
fn times_and_durations_out_of_range_are_refused() {
    // 2^48 ms would wrap an event id's time.
    let desk = Desk::new();
    let out = desk.event_at(1 << 48, "end", "1");
    assert_eq!(out.status.code(), Some(callhook::EXIT_USAGE as i32));
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 2000-01-01"));
    assert_eq!(json_lines(&desk.fallback_log()).len(), 1);
    assert!(desk.events().is_empty());
    // A timeout that would overflow the worker's lease: the key is named, the event stored.
    let desk = Desk::new()
        .with_config("[[webhook]]\nurl = \"http://127.0.0.1:1/\"\ntimeout = \"300000000y\"\n");
    let out = desk.event("incoming", "1");
    assert_eq!(out.status.code(), Some(callhook::EXIT_CONFIG as i32));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("webhook[0].timeout") && stderr.contains("must be between"),
        "{stderr}"
    );
    assert_eq!(desk.events().len(), 1);
    let out = desk.command().arg("outbox").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("webhook[0].timeout"));
}
