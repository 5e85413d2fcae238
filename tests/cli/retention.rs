//! Retention and privacy on a log of realistic size: hooks keep storing while they run.

use std::time::{Duration, Instant};

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
    let left: i64 = desk
        .conn()
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, stored, "only the calls of the hooks are left");
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
