//! The CRM popup, opened by the detached worker through a recorder standing in for the
//! browser.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

/// A desk whose popups go to the recorder, which writes to the returned file.
fn desk_with_popup(url: &str, extra: &str) -> (Desk, PathBuf) {
    let desk = Desk::new();
    let record = desk.path("tmp/popups.jsonl");
    let opener = format!(
        "[{}, {}]",
        toml_str(example("recorder").to_str().unwrap()),
        toml_str(record.to_str().unwrap())
    );
    let desk = desk.with_config(&format!(
        "[popup]\nurl = {}\nopener = {opener}\n{extra}\n",
        toml_str(url)
    ));
    (desk, record)
}

fn urls(record: &Path) -> Vec<String> {
    json_lines(record)
        .iter()
        .map(|line| line["args"][0].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn hostile_callers_are_percent_encoded_in_the_url() {
    let (desk, record) = desk_with_popup(
        "https://crm.example.com/search?phone={number}&raw={raw}&d={digits}",
        "",
    );
    let callers = ["1 & x", "a?b#c", "%00", "Zoë 😀", "+49 30 123"];
    for caller in callers {
        assert_stored(&desk.event("incoming", caller));
    }
    wait_until(WAIT, "the popups", || urls(&record).len() == callers.len());
    let mut got = urls(&record);
    got.sort();
    let base = "https://crm.example.com/search?";
    let mut want: Vec<String> = [
        "phone=1%20%26%20x&raw=1%20%26%20x&d=1",
        "phone=a%3Fb%23c&raw=a%3Fb%23c&d=",
        "phone=%2500&raw=%2500&d=00",
        "phone=Zo%C3%AB%20%F0%9F%98%80&raw=Zo%C3%AB%20%F0%9F%98%80&d=",
        // The number is normalized; the raw text is kept.
        "phone=%2B4930123&raw=%2B49%2030%20123&d=4930123",
    ]
    .iter()
    .map(|query| format!("{base}{query}"))
    .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn one_popup_per_call() {
    let (desk, record) = desk_with_popup(
        "https://crm.example.com/?n={number}&c={call_id}&e={event}",
        "",
    );
    for event in ["incoming", "incoming", "ring", "answer", "start"] {
        assert_stored(&desk.event(event, "+15550001"));
    }
    assert_stored(&desk.event("end", "+15550001"));
    assert_stored(&desk.event("incoming", "+15550002"));
    wait_until(WAIT, "the popups", || urls(&record).len() >= 2);
    std::thread::sleep(Duration::from_millis(500));
    let calls = desk.calls();
    let got = urls(&record);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains(&format!("c={}", calls[0]["id"].as_str().unwrap())),
        "{got:?}"
    );
    assert!(got[0].ends_with("e=incoming"), "{got:?}");
    assert!(got[1].contains("n=%2B15550002"), "{got:?}");
}

#[test]
fn the_popup_can_wait_for_ring_or_answer() {
    let (desk, record) = desk_with_popup(
        "https://crm.example.com/?e={event}&d={direction}",
        "on = \"answer\"",
    );
    for event in ["incoming", "ring", "answer-video", "start", "end"] {
        assert_stored(&desk.event(event, "7"));
    }
    wait_until(WAIT, "the popup", || !urls(&record).is_empty());
    assert_eq!(
        urls(&record),
        ["https://crm.example.com/?e=answer-video&d=in"]
    );
}

#[test]
fn no_popup_for_a_call_that_has_ended() {
    let (desk, record) = desk_with_popup("https://crm.example.com/?n={number}", "");
    assert_stored(&desk.event("ring", "0"));
    desk.hold_leases();
    // A short call, over before any worker could open its popup.
    assert_stored(&desk.event("incoming", "+15559999"));
    assert_stored(&desk.event("end", "+15559999"));
    desk.release_leases();
    let report = desk.run(&["deliver"]);
    assert!(report.contains("skipped 1"), "{report}");
    let rows = desk.outbox();
    let last = rows.last().unwrap();
    assert_eq!(last["status"], "skipped");
    assert!(!urls(&record).iter().any(|u| u.contains("15559999")));
}

#[test]
fn only_http_and_https_open_unless_allowed() {
    let desk = Desk::new().with_config("[popup]\nurl = \"file:///C:/crm/{number}.html\"\n");
    let out = desk.event("incoming", "5");
    assert_eq!(
        out.status.code(),
        Some(callhook::EXIT_CONFIG as i32),
        "the event is stored anyway"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("popup.url") && err.contains("file scheme is not opened"),
        "{err}"
    );
    assert_eq!(desk.events().len(), 1);

    let (desk, record) = desk_with_popup("crm://search/{number}", "allowed_schemes = [\"crm\"]");
    assert_stored(&desk.event("incoming", "5"));
    wait_until(WAIT, "the popup", || !urls(&record).is_empty());
    assert_eq!(urls(&record), ["crm://search/5"]);
}

#[test]
fn an_opener_that_cannot_start_is_reported() {
    let desk = Desk::new().with_config(
        "[popup]\nurl = \"https://crm.example.com/{number}\"\nopener = [\"/nonexistent/browser\"]\n",
    );
    assert_stored(&desk.event("incoming", "5"));
    wait_until(WAIT, "the popup to fail", || {
        desk.outbox()
            .first()
            .is_some_and(|d| d["status"] == "failed")
    });
    let row = &desk.outbox()[0];
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot start the opener"),
        "{row}"
    );
}
