//! Many hook processes at once, as with overlapping calls and several MicroSIP accounts.

use std::collections::BTreeMap;

use crate::support::*;

/// How many hook processes run at once.
const PROCESSES: usize = 200;

/// One burst of processes at a time: two at once on a small CI machine would measure the
/// machine, not callhook.
static BURST: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Overlapping calls as several lines of a busy desk make them: 44 callers, half answered,
/// and 8 of them calling a second time while their first call is still on (call waiting).
fn busy_day() -> Vec<(i64, &'static str, String)> {
    let mut plan = Vec::new();
    for i in 0..44 {
        let number = format!("+1555000{i:04}");
        let t = T0 + i as i64 * 1500; // calls overlap: each lasts 20 s
        plan.push((t, "incoming", number.clone()));
        plan.push((t + 300, "ring", number.clone()));
        let second = if i % 2 == 0 { "answer" } else { "ring" };
        plan.push((t + 5_000, second, number.clone()));
        plan.push((t + 20_000, "end", number.clone()));
        if i % 5 == 0 && i < 40 {
            // The same caller again on the second line, given up after 6 s.
            plan.push((t + 8_000, "incoming", number.clone()));
            plan.push((t + 8_200, "ring", number.clone()));
            plan.push((t + 14_000, "end", number.clone()));
        }
    }
    plan
}

/// Waits for hook processes; each must have stored its event, silently.
fn all_stored(hooks: Vec<std::process::Child>) {
    let failures: Vec<String> = hooks
        .into_iter()
        .map(|hook| hook.wait_with_output().unwrap())
        .filter(|out| !out.status.success() || !out.stderr.is_empty())
        .map(|out| String::from_utf8_lossy(&out.stderr).into_owned())
        .collect();
    assert!(
        failures.is_empty(),
        "{} hooks failed: {failures:?}",
        failures.len()
    );
}

#[test]
fn concurrent_hooks_lose_nothing_and_fold_right() {
    let _burst = BURST.lock().unwrap_or_else(|e| e.into_inner());
    let plan = busy_day();
    assert_eq!(plan.len(), PROCESSES);
    // A fresh database: the first opens race to create the schema too.
    let desk = Desk::new();
    // Started in an order unrelated to event time, all at once.
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&i| (i * 7919) % plan.len());
    let children: Vec<_> = order
        .iter()
        .map(|&i| desk.spawn_event_at(plan[i].0, plan[i].1, &plan[i].2))
        .collect();
    all_stored(children);
    assert!(!desk.fallback_log().exists());
    assert_eq!(desk.events().len(), PROCESSES);

    let calls = desk.calls();
    assert_eq!(calls.len(), 52, "one call per call, the waiting ones too");
    let mut by_number: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for call in &calls {
        by_number
            .entry(str_field(call, "number").to_string())
            .or_default()
            .push(str_field(call, "status").to_string());
    }
    for i in 0..44 {
        let first = if i % 2 == 0 { "answered" } else { "missed" };
        let mut want = vec![first];
        if i % 5 == 0 && i < 40 {
            want.push("missed");
        }
        assert_eq!(by_number[&format!("+1555000{i:04}")], want, "caller {i}");
    }

    // The same as the events one at a time, in time order: times and durations included.
    let one_by_one = Desk::new();
    let mut sorted = plan.clone();
    sorted.sort();
    for (at, event, number) in &sorted {
        assert_stored(&one_by_one.event_at(*at, event, number));
    }
    assert_eq!(without_ids(calls), without_ids(one_by_one.calls()));
}

#[test]
fn simultaneous_calls_from_many_numbers_all_arrive() {
    let _burst = BURST.lock().unwrap_or_else(|e| e.into_inner());
    let desk = Desk::new();
    let children: Vec<_> = (0..PROCESSES / 2)
        .map(|i| {
            desk.event_command(&[], "incoming", &format!("caller {i}"))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_success(&out, "concurrent incoming");
    }
    let calls = desk.calls();
    assert_eq!(calls.len(), PROCESSES / 2);
    assert!(
        calls
            .iter()
            .all(|c| str_field(c, "status") == "in-progress")
    );
}

/// 200 calls ringing at once with a webhook and a popup configured: every hook stores its
/// event in time (none goes to the fallback log), a handful of workers do all the deliveries.
#[cfg(unix)]
#[test]
fn a_burst_with_side_effects_starts_few_workers_and_delivers_everything() {
    use std::os::unix::fs::PermissionsExt;
    let _burst = BURST.lock().unwrap_or_else(|e| e.into_inner());
    let server = crate::server::Server::ok();
    let desk = Desk::new();
    // The programs in a folder of their own, `callhook` there a script that notes each worker
    // start before it runs the real program.
    let bin = desk.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = bin.join("callhook.real");
    std::fs::copy(BIN, &real).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_callhookw"), bin.join("callhookw")).unwrap();
    let starts = desk.path("worker-starts.log");
    let script = bin.join("callhook");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            starts.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (desk, record) = desk.with_webhook_and_popup(&server.url("/"));
    assert_stored(&output(
        desk.command_for(&real)
            .args(["event", "incoming", "--", "0"]),
    ));
    wait_until(
        std::time::Duration::from_secs(30),
        "the first delivery",
        || desk.outbox().iter().all(|d| d["status"] == "delivered"),
    );
    std::fs::remove_file(&starts).ok();
    server.wait_for(1, std::time::Duration::from_secs(5));

    let hooks: Vec<_> = (1..=PROCESSES)
        .map(|i| {
            let mut cmd = desk.command_for(bin.join("callhookw"));
            cmd.args(["event", "incoming", "--", &format!("+1555{i:04}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            retry_start(|| cmd.spawn())
        })
        .collect();
    all_stored(hooks);
    assert!(!desk.fallback_log().exists());
    wait_until(std::time::Duration::from_secs(60), "every delivery", || {
        json_lines(&record).len() == PROCESSES + 1 && server.received().len() == PROCESSES + 1
    });
    let workers = std::fs::read_to_string(&starts).unwrap_or_default();
    let started = workers.lines().filter(|l| l.contains(" deliver")).count();
    assert!(
        (1..=3).contains(&started),
        "{started} workers started:\n{workers}"
    );
    assert!(desk.outbox().iter().all(|d| d["status"] == "delivered"));
}
