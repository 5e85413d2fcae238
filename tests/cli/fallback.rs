//! The fallback log: events a hook could not store are stored later, by themselves, exactly
//! once, whatever else happens meanwhile.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use crate::server::Server;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

/// Runs `hooks` while another program holds the database's write lock, so that each goes to
/// the fallback log.
fn while_locked(desk: &Desk, hooks: impl FnOnce()) {
    let conn = desk.conn();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    hooks();
    conn.execute_batch("COMMIT").unwrap();
}

fn failed(out: std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(callhook::EXIT_NOT_STORED as i32),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fallback line as a hook writes it (`time` first, as every line starts), for the database
/// `db` names or, without one, the database beside the log.
fn line(at: i64, event: &str, caller: &str, db: Option<&str>) -> Value {
    let mut fields = vec![
        ("time", json!("2026-11-25T10:00:00.000Z")),
        ("at", json!(at)),
        ("id", json!(callhook::log::fold::event_id(at))),
        ("event", json!(event)),
        ("caller", json!(caller)),
        ("host", json!("FRONTDESK-1")),
        ("user", json!("reception")),
    ];
    if let Some(db) = db {
        fields.push(("db", json!(db)));
    }
    fields.push(("stored", json!(false)));
    fields.push(("error", json!("database is locked")));
    // Kept as text in this order: a JSON object here would sort its keys.
    let text = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json!(k)))
        .collect::<Vec<_>>()
        .join(",");
    Value::String(format!("{{{text}}}"))
}

fn id_of(line: &Value) -> String {
    let entry: Value = serde_json::from_str(line.as_str().unwrap()).unwrap();
    entry["id"].as_str().unwrap().to_string()
}

fn append(path: &std::path::Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn json_line(line: &Value) -> Vec<u8> {
    let mut bytes = line.as_str().unwrap().as_bytes().to_vec();
    bytes.push(b'\n');
    bytes
}

#[test]
fn the_next_hook_stores_what_the_fallback_log_holds() {
    let desk = Desk::new();
    assert_stored(&desk.event_at(T0 - 60_000, "incoming", "+4930000"));
    while_locked(&desk, || {
        failed(desk.event_at(T0, "incoming", "+4930111"));
        failed(desk.event_at(T0 + 500, "ring", "+4930111"));
        failed(desk.event_at(T0 + 4_000, "answer", "+4930111"));
    });
    assert_eq!(json_lines(&desk.fallback_log()).len(), 3);
    // No admin: the next event that is stored starts the worker, which stores the rest.
    assert_stored(&desk.event_at(T0 + 60_000, "end", "+4930111"));
    wait_until(WAIT, "the fallback log to drain", || {
        desk.events().len() == 5
    });
    assert_eq!(
        summary(&desk.calls()),
        [
            row("+4930000", "in", "missed"),
            row("+4930111", "in", "answered")
        ]
    );
    let call = &desk.calls()[1];
    assert_eq!(call["ringing_at"], "2026-11-25T10:00:00.500Z");
    assert_eq!(call["talk_seconds"], 56.0);
    wait_until(WAIT, "the drained log to go", || {
        std::fs::read_dir(desk.db.parent().unwrap())
            .unwrap()
            .all(|e| {
                !e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("fallback")
            })
    });
    // Nothing more happens: the next hook finds nothing to drain.
    assert_stored(&desk.event_at(T0 + 70_000, "incoming", "+4930222"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(desk.events().len(), 6);
}

#[test]
fn stored_late_an_event_gets_its_side_effects() {
    let server = Server::ok();
    let (desk, record) = Desk::new().with_webhook_and_popup(&server.url("/"));
    desk.run(&["deliver"]);
    // Live events, so that a late one's call is still ringing when it is stored.
    let now = chrono::Utc::now().timestamp_millis();
    // Keeps workers away until everything is in place.
    desk.hold_leases();
    while_locked(&desk, || {
        failed(desk.event_at(now - 3_000, "incoming", "+1555001"));
        failed(desk.event_at(now - 2_900, "incoming", "+1555002"));
    });
    // The second call ends before its incoming is stored; the first one rings on.
    assert_stored(&desk.event_at(now - 2_000, "end", "+1555002"));
    assert_stored(&desk.event_at(now - 1_000, "ring", "+1555001"));
    desk.release_leases();
    desk.run(&["deliver"]);
    let got = server.wait_for(4, WAIT);
    let mut sent: Vec<(String, String, bool)> = got
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["type"].as_str().unwrap().to_string(),
                body["data"]["number"].as_str().unwrap().to_string(),
                body["data"]["delayed"].as_bool().unwrap(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("call.end".into(), "+1555002".into(), false),
            ("call.incoming".into(), "+1555001".into(), true),
            ("call.incoming".into(), "+1555002".into(), true),
            ("call.ring".into(), "+1555001".into(), false),
        ]
    );
    // A popup only for the call that still rings.
    wait_until(WAIT, "the popup", || !json_lines(&record).is_empty());
    std::thread::sleep(Duration::from_millis(300));
    let popups: Vec<Value> = json_lines(&record);
    assert_eq!(popups.len(), 1, "{popups:?}");
    assert_eq!(
        popups[0]["args"][0],
        "https://crm.example.com/?n=%2B1555001"
    );
    assert_eq!(
        summary(&desk.calls()),
        [
            row("+1555001", "in", "in-progress"),
            row("+1555002", "in", "missed")
        ]
    );
}

#[test]
fn bad_lines_are_set_aside_and_never_block_the_others() {
    let desk = Desk::new();
    assert_stored(&desk.event_at(T0, "incoming", "+4930111"));
    let log = desk.fallback_log();
    let long_caller = "7".repeat(3000);
    let good = [
        line(T0 + 1_000, "ring", "+4930111", None),
        line(T0 + 9_000, "end", "+4930111", None),
        line(T0 + 20_000, "incoming", &long_caller, None),
    ];
    let mut bytes = Vec::new();
    // A line cut short by a full disk, and the next hook's line written right after it.
    bytes.extend_from_slice(&json_line(&good[0])[..50]);
    bytes.extend_from_slice(&json_line(&good[0]));
    bytes.extend_from_slice(b"not a fallback line\n");
    bytes.extend_from_slice(b"{\"time\":\"\xff\xfe\xfd\"}\n");
    bytes.extend_from_slice(&json_line(&line(T0 + 2_000, "hangup", "+4930111", None)));
    bytes.extend_from_slice(&json_line(&line(1 << 48, "end", "+4930111", None)));
    bytes.extend_from_slice(&json_line(&good[1]));
    bytes.extend_from_slice(&json_line(&good[2]));
    append(&log, &bytes);

    let doctor = desk.command().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("3 events wait"), "{text}");
    assert!(text.contains("5 lines cannot be stored"), "{text}");

    let report = desk.run(&["replay"]);
    assert!(
        report.contains("Stored 3 events from the fallback log"),
        "{report}"
    );
    assert!(report.contains("5 lines cannot be stored"), "{report}");
    for why in [
        "cut short",
        "not UTF-8",
        "unknown event `hangup`",
        "2000-01-01",
    ] {
        assert!(report.contains(why), "{why}: {report}");
    }
    let calls = desk.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(summary(&calls[..1]), [row("+4930111", "in", "missed")]);
    // The long caller was cut as the hook cuts it.
    assert_eq!(calls[1]["raw"].as_str().unwrap(), &long_caller[..1024]);
    let events = desk.events();
    assert!(
        events.iter().any(|e| e.1.len() == 1024 && e.3),
        "{events:?}"
    );
    // The rejected lines are kept as they were.
    let rejected = std::fs::read(desk.path("data/callhook-fallback.log.rejected")).unwrap();
    assert_eq!(
        rejected
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        5
    );
    assert!(rejected.windows(3).any(|w| w == b"\xff\xfe\xfd"));
    let doctor = desk.command().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("5 lines kept in"), "{text}");
    assert!(!text.contains("wait"), "{text}");
}

#[test]
fn doctor_counts_the_events_waiting_in_each_log() {
    let desk = Desk::new();
    assert_stored(&desk.event("incoming", "1"));
    let beside = desk.fallback_log();
    let temp = desk.path("tmp/callhook-fallback.log");
    append(&beside, &json_line(&line(T0, "ring", "1", None)));
    append(&beside, &json_line(&line(T0 + 1, "end", "1", None)));
    // An unknown event can never be stored: it does not wait.
    append(&beside, &json_line(&line(T0 + 2, "hangup", "1", None)));
    let other = line(T0 + 3, "end", "2", Some("/elsewhere/calls.db"));
    append(&temp, &json_line(&other));
    append(&temp, &json_line(&line(T0 + 4, "incoming", "3", None)));
    let out = desk.command().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "events that wait must be fixed: {text}"
    );
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("2 events wait to be stored"), "{text}");
    assert!(flat.contains("1 event waits to be stored"), "{text}");
    assert!(flat.contains("1 line cannot be stored"), "{text}");
    assert!(flat.contains("1 event for another database"), "{text}");
}

#[test]
fn a_drain_killed_at_any_point_loses_nothing_and_stores_nothing_twice() {
    let desk = Desk::new();
    desk.run(&["deliver"]);
    let log = desk.fallback_log();
    // Hooks keep failing (lines keep coming) while drains run and are killed.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut ids = Vec::new();
            for i in 0..600 {
                let at = T0 + i * 10;
                let entry = line(
                    at,
                    if i % 2 == 0 { "incoming" } else { "end" },
                    &format!("{}", i / 2),
                    None,
                );
                ids.push(id_of(&entry));
                append(&log, &json_line(&entry));
                if i % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(15));
                }
            }
            ids
        })
    };
    let mut delay = 5;
    while !writer.is_finished() {
        let mut replay = desk.command();
        replay
            .arg("replay")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = retry_start(|| replay.spawn());
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        // As if the killed drain's lease had lapsed.
        desk.release_leases();
        delay = delay % 120 + 17;
    }
    let ids = writer.join().unwrap();
    let report = desk.run(&["replay"]);
    assert!(report.contains("Stored"), "{report}");
    let stored: Vec<String> = desk
        .conn()
        .prepare("SELECT id FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(stored, want, "every event once");
    assert_eq!(desk.calls().len(), 300);
    let left: Vec<_> = std::fs::read_dir(desk.db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("fallback"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn replay_with_its_output_closed_loses_nothing() {
    let desk = Desk::new();
    desk.run(&["deliver"]);
    for i in 0..50 {
        append(
            &desk.fallback_log(),
            &json_line(&line(T0 + i, "incoming", &format!("{i}"), None)),
        );
    }
    let mut child = desk
        .command()
        .arg("replay")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads what it prints.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(desk.events().len(), 50);
}

#[test]
fn lines_for_another_database_are_left_alone() {
    // A temp directory shared with another call log: its lines are not this database's to
    // take, nor to rewrite.
    let desk = Desk::new();
    assert_stored(&desk.event("incoming", "1"));
    let temp = desk.path("tmp/callhook-fallback.log");
    for i in 0..3 {
        let other = line(T0 + i, "end", "2", Some("/elsewhere/calls.db"));
        append(&temp, &json_line(&other));
    }
    let before = std::fs::read(&temp).unwrap();
    let started = std::time::Instant::now();
    let report = desk.run(&["replay"]);
    assert!(report.contains("Nothing to replay"), "{report}");
    desk.run(&["deliver"]);
    assert!(started.elapsed() < WAIT);
    assert_eq!(std::fs::read(&temp).unwrap(), before, "untouched");
    // Hooks now find it as the last drain left it: no worker for it.
    assert_stored(&desk.event("ring", "1"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(desk.count("SELECT count(*) FROM worker_leases"), 0);
    assert_eq!(std::fs::read(&temp).unwrap(), before);
}

#[test]
fn replay_of_a_given_file_leaves_it_as_it_is() {
    let desk = Desk::new();
    assert_stored(&desk.event_at(T0, "incoming", "1"));
    let file = desk.path("saved-fallback.log");
    append(&file, &json_line(&line(T0 + 5_000, "end", "1", None)));
    let before = std::fs::read(&file).unwrap();
    let report = desk.run(&["replay", "--log", file.to_str().unwrap()]);
    assert!(report.contains("Stored 1 event"), "{report}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(summary(&desk.calls()), [row("1", "in", "missed")]);
}
