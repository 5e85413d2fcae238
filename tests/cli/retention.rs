//! Retention and privacy: `prune` and `redact` leave a consistent log and nothing of the old
//! text in the file; on a log of realistic size, hooks keep storing while they run.

use std::time::{Duration, Instant};

use crate::front_desk::*;
use crate::server::closed_port;
use crate::support::*;

/// Enough calls that redacting half of them, or pruning them all, in one transaction would
/// hold the database for over a second (measured: 1.3 s and 1.2 s on the project's machine).
const CALLS: &str = "80000";

#[test]
fn hooks_keep_storing_while_prune_and_redact_work() {
    let desk = Desk::new().with_config("[privacy]\nredact_key = \"a secret of sixteen+\"\n");
    let out = output(
        std::process::Command::new(example("generate"))
            .arg("--db")
            .arg(&desk.db)
            .args(["--calls", CALLS, "--days", "30"]),
    );
    assert_success(&out, "generate");
    let mut stored = 0;
    for command in [
        &["redact", "--before", "15d"][..],
        &["prune", "--before", "1h"],
    ] {
        let mut child = desk
            .command()
            .args(command)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut during = 0;
        while child.try_wait().unwrap().is_none() {
            let caller = format!("+4930999{stored:04}");
            assert_stored(&desk.event("incoming", &caller));
            stored += 1;
            during += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert_success(&out, &format!("{command:?}"));
        assert!(
            during >= 3,
            "{command:?} ran {:?}, too short to show anything",
            started.elapsed()
        );
    }
    assert!(!desk.fallback_log().exists());
    assert_eq!(
        desk.count("SELECT count(*) FROM calls"),
        stored,
        "only the calls of the hooks are left"
    );
}

/// `--vacuum` gives space back in steps on a database made by this version; an older one needs
/// one full VACUUM, which waits until MicroSIP is closed.
#[cfg(target_os = "linux")]
#[test]
fn vacuum_goes_in_steps_or_waits_for_microsip_to_close() {
    let desk = Desk::new();
    let out = output(
        std::process::Command::new(example("generate"))
            .arg("--db")
            .arg(&desk.db)
            .args(["--calls", "20000", "--days", "30"]),
    );
    assert_success(&out, "generate");
    let pragma = |name: &str| -> i64 {
        desk.conn()
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        pragma("auto_vacuum"),
        2,
        "new databases vacuum incrementally"
    );
    let size = || std::fs::metadata(&desk.db).unwrap().len();
    let before = size();
    let report = desk.run(&["prune", "--before", "15d", "--vacuum"]);
    assert!(report.contains("MB given back"), "{report}");
    assert_eq!(pragma("freelist_count"), 0);
    assert!(size() < before * 3 / 4, "{} of {before}", size());

    // A database of an earlier version, and MicroSIP running (a process of that name).
    desk.conn()
        .execute_batch("PRAGMA auto_vacuum = NONE; VACUUM;")
        .unwrap();
    assert_eq!(pragma("auto_vacuum"), 0);
    let microsip = desk.path("bin/microsip.exe");
    std::fs::create_dir_all(microsip.parent().unwrap()).unwrap();
    std::fs::copy("/bin/sleep", &microsip).unwrap();
    let mut running = retry_start(|| std::process::Command::new(&microsip).arg("60").spawn());
    let out = output(desk.command().args(["prune", "--before", "5d", "--vacuum"]));
    let _ = running.kill();
    let _ = running.wait();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MicroSIP is running"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Deleted"));
    let report = desk.run(&["prune", "--before", "5d", "--vacuum"]);
    assert!(report.contains("rewritten"), "{report}");
    assert_eq!(pragma("auto_vacuum"), 2, "from now on in steps");
}

/// Deliveries to a webhook that nobody answers: they are tried once and stay pending for a
/// day, and the worker does not wait around for them.
fn unanswered_webhook() -> String {
    format!(
        "[outbox]\nretries = [\"24h\"]\nstay = \"0s\"\n\n[[webhook]]\nname = \"crm\"\n\
         url = \"http://127.0.0.1:{}/hook\"\n",
        closed_port()
    )
}

/// Waits until no delivery is due (the first was tried, the others wait behind it for its
/// retry) and no worker is left.
fn deliveries_settle(desk: &Desk) {
    wait_until(Duration::from_secs(60), "the deliveries to settle", || {
        let conn = desk.conn();
        let due: i64 = conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE status = 'pending' \
                 AND next_at <= (julianday('now') - 2440587.5) * 86400000.0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let workers: i64 = conn
            .query_row("SELECT count(*) FROM worker_leases", [], |r| r.get(0))
            .unwrap();
        due == 0 && workers == 0
    });
}

fn integrity(desk: &Desk) {
    let conn = desk.conn();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    for (what, sql) in [
        (
            "events of no call",
            "SELECT count(*) FROM events WHERE call_id NOT IN (SELECT id FROM calls)",
        ),
        (
            "deliveries of no call",
            "SELECT count(*) FROM outbox WHERE call_id NOT IN (SELECT id FROM calls)",
        ),
        (
            "calls without events",
            "SELECT count(*) FROM calls WHERE id NOT IN (SELECT call_id FROM events)",
        ),
        (
            "numbers missing",
            "SELECT count(*) FROM calls WHERE NOT EXISTS (SELECT 1 FROM numbers n WHERE n.number = calls.number AND n.raw = calls.raw)",
        ),
        (
            "numbers left over",
            "SELECT count(*) FROM numbers WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.number = numbers.number AND c.raw = numbers.raw)",
        ),
    ] {
        let n: i64 = conn.query_row(sql, [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{what}");
    }
}

/// The bytes of the database and of its write-ahead log.
fn database_bytes(desk: &Desk) -> Vec<u8> {
    let mut bytes = std::fs::read(&desk.db).unwrap();
    let mut wal = desk.db.clone().into_os_string();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn prune_leaves_a_consistent_log() {
    let desk = front_desk(&unanswered_webhook());
    deliveries_settle(&desk);
    // One delivery per event, all still pending.
    assert_eq!(desk.count("SELECT count(*) FROM outbox"), 27);
    assert_eq!(
        desk.count("SELECT count(*) FROM outbox WHERE status = 'pending'"),
        27
    );
    let report = desk.run(&["prune", "--before", "2026-11-24", "--dry-run"]);
    assert!(
        report.contains("Would delete 2 calls, 6 events and 6 deliveries"),
        "{report}"
    );
    assert_eq!(
        desk.json(&["calls", "--all"]).len(),
        9,
        "a dry run changes nothing"
    );
    assert_eq!(desk.count("SELECT count(*) FROM outbox"), 27);
    let report = desk.run(&["prune", "--before", "2026-11-24", "--vacuum"]);
    assert!(
        report.contains("Deleted 2 calls, 6 events and 6 deliveries"),
        "{report}"
    );
    assert_eq!(desk.json(&["calls", "--all"]).len(), 7);
    assert!(desk.json(&["calls", "--until", "2026-11-23"]).is_empty());
    integrity(&desk);
    // The newer calls keep their deliveries, one per event.
    assert_eq!(desk.count("SELECT count(*) FROM outbox"), 21);
    assert_eq!(
        desk.count(
            "SELECT count(*) FROM outbox o JOIN events e ON e.id = o.event_id \
             AND e.call_id = o.call_id"
        ),
        21
    );
    // The missed call of the first day is gone from the worklist's count too.
    assert_eq!(desk.json(&["missed", "--unreturned"])[0]["missed"], 1);
}

#[test]
fn redact_hashes_old_numbers_and_keeps_the_figures() {
    let desk = front_desk(&unanswered_webhook());
    // A caller whose text looks like a redacted value.
    let old = DAY - 86_400_000 + 7_200_000;
    desk.record(
        old,
        "redacted:+15551234567",
        &[(0, "incoming"), (1_000, "ring"), (15_000, "end")],
    );
    deliveries_settle(&desk);
    assert!(contains(&database_bytes(&desk), "5551234567"));
    let err = desk.fails(&["redact", "--before", "2026-11-24"]);
    assert!(err.contains("redact_key"), "{err}");
    let desk = desk.with_config(&format!(
        "{NUMBER_PLAN}[privacy]\nredact_key = \"a secret of sixteen+\"\n{}",
        unanswered_webhook()
    ));
    let before = desk.json(&["stats"])[0]["total"].clone();
    let waiting = desk.json(&["missed", "--unreturned"]);
    assert_eq!(numbers(&waiting), ["+49301111111", "redacted:+15551234567"]);
    // Another program has the database open (idle): the log must still be cleared.
    let reader = desk.conn();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    let report = desk.run(&["redact", "--before", "2026-11-24", "--vacuum"]);
    assert!(
        report.contains("Redacted 3 calls, 9 events and 9 deliveries"),
        "{report}"
    );
    assert!(report.contains("Vacuumed"), "{report}");
    // Nothing of the old text is left in the files: not in space freed by the updates of the
    // call and its deliveries before, not in the log.
    let bytes = database_bytes(&desk);
    assert!(
        !contains(&bytes, "5551234567"),
        "the old number is in the file"
    );
    drop(reader);
    let again = desk.run(&["redact", "--before", "2026-11-24"]);
    assert!(
        again.contains("Redacted 0 calls, 0 events and 0 deliveries"),
        "idempotent: {again}"
    );
    assert_eq!(
        desk.json(&["stats"])[0]["total"],
        before,
        "the figures stay"
    );
    let old_calls = desk.json(&["calls", "--until", "2026-11-23"]);
    assert_eq!(old_calls.len(), 3);
    for call in &old_calls {
        for key in ["number", "raw"] {
            let value = str_field(call, key);
            assert!(
                value.len() == "redacted:".len() + 20
                    && value
                        .trim_start_matches("redacted:")
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{call}"
            );
        }
    }
    let events = desk.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1.starts_with("redacted:"))
            .count(),
        9
    );
    assert!(!events.iter().any(|e| e.1.contains("5551234567")));
    assert!(
        !events
            .iter()
            .any(|e| e.1.contains("1111111") && e.2.starts_with("redacted"))
    );
    // The deliveries of the old calls lose their bodies, and are not sent any more.
    let conn = desk.conn();
    let old_ids = "SELECT id FROM calls WHERE started_at < 1795478400000";
    let (bodies, pending, skipped): (i64, i64, i64) = conn
        .query_row(
            &format!(
                "SELECT count(body), count(*) FILTER (WHERE status = 'pending'), \
                 count(*) FILTER (WHERE status = 'skipped') FROM outbox \
                 WHERE call_id IN ({old_ids})"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((bodies, pending, skipped), (0, 0, 9));
    let newer: i64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM outbox WHERE body IS NOT NULL \
                 AND call_id NOT IN ({old_ids})"
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(newer, 21, "the newer deliveries keep theirs");
    // The newer calls of the same number are untouched, and still found.
    assert_eq!(desk.json(&["calls", "--number", "1111111"]).len(), 1);
    // A redacted number is no number: its hex digits match no search, and it is nobody to
    // call back; the whole redacted value still finds its calls.
    let hashed = str_field(&old_calls[0], "number").to_string();
    let digits: String = hashed
        .trim_start_matches("redacted:")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let some_digits = if digits.is_empty() {
        hashed
            .chars()
            .rev()
            .find(char::is_ascii_digit)
            .map(String::from)
            .unwrap_or_else(|| "0".into())
    } else {
        digits
    };
    let found = desk.json(&["calls", "--number", &some_digits, "--all"]);
    assert!(
        !found
            .iter()
            .any(|c| str_field(c, "number").starts_with("redacted:")),
        "--number {some_digits}: {found:?}"
    );
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", &hashed])),
        [hashed.as_str()]
    );
    let waiting = desk.json(&["missed", "--unreturned"]);
    assert_eq!(numbers(&waiting), ["+49301111111"]);
    assert_eq!(waiting[0]["missed"], 1);
    integrity(&desk);
}

/// Without `--vacuum`, what the redaction itself replaces is gone from the file too: the
/// space it frees is overwritten, and the log is checkpointed and emptied even while another
/// program has the database open.
#[test]
fn redact_leaves_no_old_text_in_the_file() {
    let desk = Desk::new().with_config("[privacy]\nredact_key = \"a secret of sixteen+\"\n");
    // One event: the call's rows are written once, and nothing of them was freed before.
    assert_stored(&desk.event_at(DAY - 86_400_000, "incoming", "+1 555 123 4567"));
    for i in 0..6 {
        desk.record(
            DAY + i * 60_000,
            &format!("+4930{i}{i}{i}{i}{i}{i}"),
            MISSED,
        );
    }
    assert!(contains(&database_bytes(&desk), "5551234567"));
    let reader = desk.conn();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    let out = desk
        .command()
        .args(["redact", "--before", "2026-11-24"])
        .output()
        .unwrap();
    assert_success(&out, "redact");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("Redacted 1 call, 1 event and 0 deliveries"),
        "{report}"
    );
    assert!(
        out.stderr.is_empty(),
        "the log was cleared: {:?}",
        out.stderr
    );
    let wal = std::fs::metadata(format!("{}-wal", desk.db.display()))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(wal, 0, "the log is empty");
    let bytes = database_bytes(&desk);
    assert!(!contains(&bytes, "5551234567"), "the number is in the file");
    assert!(
        !contains(&bytes, "555 123 4567"),
        "the caller text is in the file"
    );
    drop(reader);
    integrity(&desk);
}
