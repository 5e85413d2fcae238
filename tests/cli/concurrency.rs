//! Many hook processes at once, as with overlapping calls and several MicroSIP accounts.

use std::collections::BTreeMap;

use crate::support::*;

/// How many hook processes run at once.
const PROCESSES: usize = 200;

#[test]
fn concurrent_hooks_lose_nothing_and_fold_right() {
    // A fresh database: the first opens race to create the schema too.
    let desk = Desk::new();
    let calls = PROCESSES / 4;
    let mut plan = Vec::new();
    for i in 0..calls {
        let number = format!("+1555000{i:04}");
        let t = T0 + i as i64 * 1500; // calls overlap: each lasts 20 s
        let answered = i % 2 == 0;
        plan.push((t, "incoming", number.clone()));
        plan.push((t + 300, "ring", number.clone()));
        if answered {
            plan.push((t + 5_000, "answer", number.clone()));
        } else {
            plan.push((t + 5_000, "ring", number.clone()));
        }
        plan.push((t + 20_000, "end", number.clone()));
    }
    // Started in an order unrelated to event time, all at once.
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&i| (i * 7919) % plan.len());
    let children: Vec<_> = order
        .iter()
        .map(|&i| desk.spawn_event_at(plan[i].0, plan[i].1, &plan[i].2))
        .collect();
    let mut failures = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        if !out.status.success() || !out.stderr.is_empty() {
            failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    assert!(
        failures.is_empty(),
        "{} hooks failed: {failures:?}",
        failures.len()
    );
    assert!(!desk.fallback_log().exists());
    assert_eq!(desk.events().len(), PROCESSES);

    let by_number: BTreeMap<String, String> = desk
        .calls()
        .iter()
        .map(|c| {
            (
                str_field(c, "number").to_string(),
                str_field(c, "status").to_string(),
            )
        })
        .collect();
    assert_eq!(desk.calls().len(), calls, "one call per caller");
    for i in 0..calls {
        let want = if i % 2 == 0 { "answered" } else { "missed" };
        assert_eq!(by_number[&format!("+1555000{i:04}")], want, "call {i}");
    }
}

#[test]
fn simultaneous_calls_from_many_numbers_all_arrive() {
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
