//! Events folded into calls, through the binary.

use crate::support::*;

/// Runs `(seconds after base, event, caller)` one by one and returns the calls, oldest first.
fn fold(desk: &Desk, base: i64, events: &[(f64, &str, &str)]) -> Vec<serde_json::Value> {
    for &(secs, event, caller) in events {
        assert_stored(&desk.event_at(base + (secs * 1000.0) as i64, event, caller));
    }
    desk.calls()
}

#[test]
fn an_answered_call_has_its_times() {
    let desk = Desk::new();
    let calls = fold(
        &desk,
        T0,
        &[
            (0.0, "incoming", "+15551230001"),
            (0.25, "ring", "+15551230001"),
            (4.25, "answer", "+15551230001"),
            (4.3, "start", "+15551230001"),
            (94.3, "end", "+15551230001"),
        ],
    );
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    let fields: Vec<&str> = call
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "id",
        "direction",
        "status",
        "number",
        "raw",
        "name",
        "started_at",
        "ringing_at",
        "answered_at",
        "ended_at",
        "ring_seconds",
        "talk_seconds",
    ];
    expected.sort();
    let mut fields = fields;
    fields.sort();
    assert_eq!(fields, expected);
    assert_eq!(str_field(call, "status"), "answered");
    assert_eq!(str_field(call, "direction"), "in");
    assert_eq!(str_field(call, "started_at"), "2026-11-25T10:00:00.000Z");
    assert_eq!(str_field(call, "ringing_at"), "2026-11-25T10:00:00.250Z");
    assert_eq!(str_field(call, "answered_at"), "2026-11-25T10:00:04.250Z");
    assert_eq!(str_field(call, "ended_at"), "2026-11-25T10:01:34.300Z");
    assert_eq!(call["ring_seconds"], 4.0);
    assert_eq!(call["talk_seconds"], 90.05);
    assert!(call["name"].is_null());
    assert_eq!(str_field(call, "id").len(), 36);
}

#[test]
fn every_way_a_call_can_go() {
    let desk = Desk::new();
    // Recent, so that the last call is still within its window.
    let base = chrono::Utc::now().timestamp_millis() - 600_000;
    let calls = fold(
        &desk,
        base,
        &[
            // missed: rang, nobody answered
            (0.0, "incoming", "101"),
            (0.1, "ring", "101"),
            (20.0, "end", "101"),
            // declined
            (30.0, "incoming", "102"),
            (31.0, "busy", "102"),
            // auto-answered, no ring hook
            (40.0, "incoming", "103"),
            (40.1, "answer-video", "103"),
            (40.2, "start", "103"),
            (50.0, "end", "103"),
            // outgoing: answered, unanswered, busy
            (60.0, "outgoing", "201"),
            (65.0, "start", "201"),
            (90.0, "end", "201"),
            (100.0, "outgoing", "202"),
            (130.0, "end", "202"),
            (140.0, "outgoing", "203"),
            (141.0, "busy", "203"),
            // rejected by MicroSIP's own checks: nothing after incoming
            (150.0, "incoming", "104"),
        ],
    );
    assert_eq!(
        summary(&calls),
        [
            row("101", "in", "missed"),
            row("102", "in", "busy"),
            row("103", "in", "answered"),
            row("201", "out", "answered"),
            row("202", "out", "no-answer"),
            row("203", "out", "busy"),
            row("104", "in", "in-progress"),
        ]
    );
}

#[test]
fn overlapping_calls_and_call_waiting() {
    let desk = Desk::new();
    let calls = fold(
        &desk,
        T0,
        &[
            (0.0, "incoming", "301"),
            (0.1, "ring", "301"),
            (3.0, "answer", "301"),
            (3.1, "start", "301"),
            // a second caller while talking (call waiting), never answered
            (10.0, "incoming", "302"),
            (10.1, "ring", "302"),
            // and an outgoing call on another account at the same time
            (12.0, "outgoing", "900"),
            (14.0, "start", "900"),
            (25.0, "end", "302"),
            (40.0, "end", "301"),
            (41.0, "end", "900"),
            // the first caller calls again
            (60.0, "incoming", "301"),
            (61.0, "answer", "301"),
            (61.1, "start", "301"),
            (70.0, "end", "301"),
        ],
    );
    assert_eq!(
        summary(&calls),
        [
            row("301", "in", "answered"),
            row("302", "in", "missed"),
            row("900", "out", "answered"),
            row("301", "in", "answered"),
        ]
    );
    assert_eq!(calls[0]["talk_seconds"], 37.0);
    assert_eq!(calls[3]["talk_seconds"], 9.0);
}

#[test]
fn an_end_under_another_identity_closes_the_only_open_call() {
    let desk = Desk::new();
    let calls = fold(
        &desk,
        T0,
        &[
            (0.0, "incoming", "sip:reception@pbx"),
            (2.0, "answer", "reception"),
            (9.0, "end", "+4930123"),
        ],
    );
    assert_eq!(summary(&calls), [row("reception", "in", "answered")]);
    // With nothing open, such an event still makes a call: nothing is dropped.
    let calls = fold(&desk, T0, &[(100.0, "end", "+4930999")]);
    assert_eq!(calls.len(), 2);
    assert_eq!(summary(&calls[1..]), [row("+4930999", "out", "no-answer")]);
}

#[test]
fn out_of_order_commits_fold_by_event_time() {
    let in_order = Desk::new();
    let events = [
        (0.0, "incoming", "55"),
        (0.5, "ring", "55"),
        (5.0, "answer", "55"),
        (5.1, "start", "55"),
        (9.0, "end", "55"),
    ];
    let expected = fold(&in_order, T0, &events);
    let shuffled = Desk::new();
    let mut reversed = events;
    reversed.reverse();
    let got = fold(&shuffled, T0, &reversed);
    assert_eq!(summary(&got), summary(&expected));
    for key in [
        "started_at",
        "ringing_at",
        "answered_at",
        "ended_at",
        "ring_seconds",
        "talk_seconds",
    ] {
        assert_eq!(got[0][key], expected[0][key], "{key}");
    }
}

#[test]
fn a_repeated_event_is_harmless() {
    let desk = Desk::new();
    let calls = fold(
        &desk,
        T0,
        &[
            (0.0, "incoming", "66"),
            (0.01, "incoming", "66"),
            (4.0, "start", "66"),
            (8.0, "end", "66"),
            (8.0, "end", "66"),
        ],
    );
    assert_eq!(summary(&calls), [row("66", "in", "answered")]);
    assert_eq!(desk.events().len(), 5, "every invocation is kept");
}

#[test]
fn a_call_open_past_the_window_counts_as_missed() {
    let desk = Desk::new().with_config("[calls]\nwindow = \"10m\"\n");
    let now = chrono::Utc::now().timestamp_millis();
    assert_stored(&desk.event_at(now - 20 * 60_000, "incoming", "77"));
    assert_stored(&desk.event_at(now - 20 * 60_000 + 100, "ring", "77"));
    assert_stored(&desk.event_at(now - 60_000, "incoming", "78"));
    // An end after the window opens a call of its own instead of closing the stale one.
    assert_stored(&desk.event_at(now - 5 * 60_000, "end", "77"));
    let calls = desk.calls();
    assert_eq!(
        summary(&calls),
        [
            row("77", "in", "missed"),
            row("77", "out", "no-answer"),
            row("78", "in", "in-progress"),
        ]
    );
}

/// A caller who hangs up and calls again within seconds (auto-redial, a misdial, a short call
/// and a call back): each call is a call of its own, whatever events MicroSIP reports.
/// `(number, events, expected (direction, status) of each call)`.
type QuickCalls = (
    &'static str,
    &'static [(f64, &'static str)],
    &'static [(&'static str, &'static str)],
);

const QUICK_SECOND_CALLS: &[QuickCalls] = &[
    // incoming only, each ended by `end`
    (
        "201",
        &[
            (0.0, "incoming"),
            (0.5, "end"),
            (1.0, "incoming"),
            (1.5, "end"),
        ],
        &[("in", "missed"), ("in", "missed")],
    ),
    // with ring, the second one answered
    (
        "202",
        &[
            (0.0, "incoming"),
            (0.1, "ring"),
            (0.6, "end"),
            (1.0, "incoming"),
            (1.1, "ring"),
            (1.5, "answer"),
            (1.6, "start"),
            (1.9, "end"),
        ],
        &[("in", "missed"), ("in", "answered")],
    ),
    // both answered: answer and start come twice within two seconds
    (
        "203",
        &[
            (0.0, "incoming"),
            (0.1, "ring"),
            (0.4, "answer"),
            (0.5, "start"),
            (0.9, "end"),
            (1.2, "incoming"),
            (1.3, "ring"),
            (1.6, "answer-video"),
            (1.7, "start"),
            (2.5, "end"),
        ],
        &[("in", "answered"), ("in", "answered")],
    ),
    // declined twice
    (
        "204",
        &[
            (0.0, "incoming"),
            (0.3, "busy"),
            (1.0, "incoming"),
            (1.3, "busy"),
        ],
        &[("in", "busy"), ("in", "busy")],
    ),
    // outgoing: busy, then redialled and answered
    (
        "205",
        &[
            (0.0, "outgoing"),
            (0.4, "busy"),
            (1.0, "outgoing"),
            (1.5, "start"),
            (1.9, "end"),
        ],
        &[("out", "busy"), ("out", "answered")],
    ),
    // outgoing, both answered
    (
        "206",
        &[
            (0.0, "outgoing"),
            (0.2, "start"),
            (0.5, "end"),
            (1.0, "outgoing"),
            (1.2, "start"),
            (1.8, "end"),
        ],
        &[("out", "answered"), ("out", "answered")],
    ),
    // MicroSIP before 3.19.27 (no outgoing hook): start and end only
    (
        "207",
        &[(0.0, "start"), (0.5, "end"), (1.0, "start"), (1.5, "end")],
        &[("out", "answered"), ("out", "answered")],
    ),
    // call waiting: the same caller on the second line while the first call is answered
    (
        "208",
        &[
            (0.0, "incoming"),
            (0.1, "ring"),
            (0.5, "answer"),
            (0.6, "start"),
            (1.0, "incoming"),
            (1.1, "ring"),
            (1.8, "end"),
            (3.0, "end"),
        ],
        &[("in", "answered"), ("in", "missed")],
    ),
    // a duplicated INVITE while the call rings is still a repeat, and so is a second end
    (
        "209",
        &[
            (0.0, "incoming"),
            (0.05, "incoming"),
            (0.1, "ring"),
            (1.0, "end"),
            (1.2, "end"),
        ],
        &[("in", "missed")],
    ),
];

#[test]
fn a_quick_second_call_from_one_number_is_a_call_of_its_own() {
    // Each number's calls a minute apart from the previous number's; events in time order,
    // then the same events stored in reverse order (hooks commit out of order).
    let events: Vec<(i64, &str, &str)> = QUICK_SECOND_CALLS
        .iter()
        .enumerate()
        .flat_map(|(i, (number, events, _))| {
            events.iter().map(move |&(secs, event)| {
                (
                    T0 + i as i64 * 60_000 + (secs * 1000.0) as i64,
                    event,
                    *number,
                )
            })
        })
        .collect();
    let in_order = Desk::new();
    for &(at, event, number) in &events {
        assert_stored(&in_order.event_at(at, event, number));
    }
    let calls = in_order.calls();
    let want: Vec<_> = QUICK_SECOND_CALLS
        .iter()
        .flat_map(|(number, _, calls)| {
            calls
                .iter()
                .map(|(direction, status)| row(number, direction, status))
        })
        .collect();
    assert_eq!(summary(&calls), want);
    // The second call starts at its own first event and has its own times.
    let second_202 = calls
        .iter()
        .filter(|c| c["number"] == "202")
        .nth(1)
        .unwrap();
    assert_eq!(
        str_field(second_202, "started_at"),
        "2026-11-25T10:01:01.000Z"
    );
    assert_eq!(
        str_field(second_202, "ringing_at"),
        "2026-11-25T10:01:01.100Z"
    );
    assert_eq!(second_202["ring_seconds"], 0.4);
    assert_eq!(second_202["talk_seconds"], 0.4);

    let reversed = Desk::new();
    for &(at, event, number) in events.iter().rev() {
        assert_stored(&reversed.event_at(at, event, number));
    }
    assert_eq!(without_ids(reversed.calls()), without_ids(calls));
}

/// libfaketime moves the wall clock of the programs it is preloaded into and, with
/// FAKETIME_DONT_FAKE_MONOTONIC, leaves the boot clock alone: a clock step as Windows time
/// sync makes one.
#[cfg(target_os = "linux")]
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

#[cfg(target_os = "linux")]
#[test]
fn a_clock_step_during_a_call_keeps_the_call_whole() {
    assert!(
        std::path::Path::new(FAKETIME).exists(),
        "{FAKETIME} is missing: apt-get install faketime"
    );
    let desk = Desk::new();
    // A live hook (no --time), with the clock moved by `step` (as faketime writes it).
    let live = |event: &str, caller: &str, step: Option<&str>| {
        let mut cmd = desk.event_command(&[], event, caller);
        if let Some(step) = step {
            cmd.env("LD_PRELOAD", FAKETIME)
                .env("FAKETIME", step)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        assert_stored(&output(&mut cmd));
    };
    let before = chrono::Utc::now().timestamp_millis();
    // Time sync sets the clock back an hour while a call is on…
    live("incoming", "+4930111", None);
    live("answer", "+4930111", None);
    std::thread::sleep(std::time::Duration::from_millis(400));
    live("end", "+4930111", Some("-1h"));
    // …and forward two hours during another one.
    live("outgoing", "+4930222", None);
    live("start", "+4930222", None);
    std::thread::sleep(std::time::Duration::from_millis(400));
    live("end", "+4930222", Some("+2h"));
    // A call that starts after the step takes the clock as it is.
    live("incoming", "+4930333", Some("-1h"));
    let after = chrono::Utc::now().timestamp_millis();

    let calls = desk.calls();
    let mut got = summary(&calls);
    got.sort();
    assert_eq!(
        got,
        [
            row("+4930111", "in", "answered"),
            row("+4930222", "out", "answered"),
            row("+4930333", "in", "in-progress"),
        ],
        "no phantom call, no call left open"
    );
    let time = |call: &serde_json::Value, key: &str| {
        chrono::DateTime::parse_from_rfc3339(str_field(call, key))
            .unwrap()
            .timestamp_millis()
    };
    for number in ["+4930111", "+4930222"] {
        let call = calls.iter().find(|c| c["number"] == number).unwrap();
        // The talk time is the time that passed, not the step.
        let talk = call["talk_seconds"].as_f64().unwrap();
        assert!((0.3..10.0).contains(&talk), "{call}");
        assert!(
            time(call, "ended_at") >= time(call, "answered_at"),
            "{call}"
        );
        assert!(time(call, "started_at") >= before, "{call}");
    }
    let third = calls.iter().find(|c| c["number"] == "+4930333").unwrap();
    let started = time(third, "started_at");
    let hour = 3_600_000;
    assert!((before - hour..=after - hour).contains(&started), "{third}");
}
