//! Events folded into calls, through the binary.

use crate::support::*;

/// Runs `(seconds after T0, event, caller)` one by one and returns the calls, oldest first.
fn fold(desk: &Desk, events: &[(f64, &str, &str)]) -> Vec<serde_json::Value> {
    fold_from(desk, T0, events)
}

fn fold_from(desk: &Desk, base: i64, events: &[(f64, &str, &str)]) -> Vec<serde_json::Value> {
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
    let calls = fold_from(
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
        &[
            (0.0, "incoming", "sip:reception@pbx"),
            (2.0, "answer", "reception"),
            (9.0, "end", "+4930123"),
        ],
    );
    assert_eq!(summary(&calls), [row("reception", "in", "answered")]);
    // With nothing open, such an event still makes a call: nothing is dropped.
    let calls = fold(&desk, &[(100.0, "end", "+4930999")]);
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
    let expected = fold(&in_order, &events);
    let shuffled = Desk::new();
    let mut reversed = events;
    reversed.reverse();
    let got = fold(&shuffled, &reversed);
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
