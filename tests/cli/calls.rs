//! `callhook calls` and `callhook show`: the log of calls, its filters and formats, and one
//! call with its events.

use crate::front_desk::*;
use crate::support::*;

#[test]
fn the_latest_calls_come_first_and_limit_applies() {
    let desk = Desk::new();
    for (i, number) in ["1001", "1002", "1003"].iter().enumerate() {
        assert_stored(&desk.event_at(T0 + i as i64 * 60_000, "incoming", number));
    }
    let json: serde_json::Value =
        serde_json::from_str(&desk.run(&["calls", "--format", "json", "--limit", "2"])).unwrap();
    let numbers: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| str_field(c, "number"))
        .collect();
    assert_eq!(numbers, ["1003", "1002"]);
    let table = desk.run(&["calls"]);
    let (first, second) = (table.find("1003").unwrap(), table.find("1001").unwrap());
    assert!(first < second, "{table}");
    for header in [
        "Started", "Dir", "Status", "Number", "Ring", "Talk", "Call ID",
    ] {
        assert!(table.contains(header), "{table}");
    }
}

#[test]
fn help_lists_the_commands() {
    let desk = Desk::new();
    let help = desk.run(&["--help"]);
    for command in ["event", "calls", "replay"] {
        assert!(help.contains(command), "{help}");
    }
    let help = desk.run(&["event", "--help"]);
    assert!(help.contains("answer-video"), "{help}");
}

#[test]
fn every_format_of_calls() {
    let desk = front_desk("");
    settings().bind(|| {
        insta::assert_snapshot!("calls_table", desk.run(&["calls"]));
        insta::assert_snapshot!("calls_csv", desk.run(&["calls", "--format", "csv"]));
        insta::assert_snapshot!(
            "calls_json",
            desk.run(&["calls", "--format", "json", "--limit", "2"])
        );
        insta::assert_snapshot!(
            "calls_ndjson",
            desk.run(&["calls", "--format", "ndjson", "--limit", "3"])
        );
    });
}

#[test]
fn filters() {
    let desk = front_desk("");
    let all = desk.json(&["calls", "--all"]);
    assert_eq!(all.len(), 9);
    // Numbers: normalized, raw, and digits anywhere.
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", "+49301111111"])).len(),
        2
    );
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", "030 1111111"])).len(),
        2
    );
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", "1111"])),
        ["+49301111111", "+49301111111"]
    );
    assert_eq!(numbers(&desk.json(&["calls", "--number", "5555"])).len(), 2);
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", "ANONYM"])),
        ["anonymous"]
    );
    assert!(desk.json(&["calls", "--number", "999999"]).is_empty());
    // Part of a number written nationally: its digits normalized (49171555) or as typed.
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", "0171 555"])),
        ["+491715555555", "+491715555555"]
    );
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", "030 2222"])),
        ["+49302222222", "+49302222222"]
    );
    // The start of an international number.
    assert_eq!(
        numbers(&desk.json(&["calls", "--number", "+49 30 11111"])),
        ["+49301111111", "+49301111111"]
    );
    assert_eq!(
        desk.json(&["calls", "--number", "+49 30", "--all"]).len(),
        6,
        "every Berlin number"
    );
    // The whole number as the caller text had it.
    assert_eq!(desk.json(&["calls", "--number", "0171 5555555"]).len(), 2);
    // Status and direction.
    let missed = desk.json(&["calls", "--status", "missed"]);
    assert_eq!(missed.len(), 4);
    assert!(missed.iter().all(|c| c["status"] == "missed"));
    assert_eq!(desk.json(&["calls", "--status", "busy,no-answer"]).len(), 2);
    let out = desk.json(&["calls", "--direction", "out"]);
    assert_eq!(out.len(), 3);
    // Times: days, relative, RFC 3339; --until includes the day it names.
    assert_eq!(desk.json(&["calls", "--since", "2026-11-24"]).len(), 7);
    assert_eq!(desk.json(&["calls", "--until", "2026-11-23"]).len(), 2);
    assert_eq!(
        desk.json(&["calls", "--since", "2026-11-23", "--until", "2026-11-23"])
            .len(),
        2
    );
    assert_eq!(
        desk.json(&[
            "calls",
            "--since",
            "2026-11-24T12:31:00Z",
            "--until",
            "2026-11-24T12:45:00Z"
        ])
        .len(),
        1
    );
    assert_eq!(desk.json(&["calls", "--since", "100000d"]).len(), 9);
    assert!(desk.json(&["calls", "--since", "today"]).is_empty());
    // Limits.
    assert_eq!(desk.json(&["calls", "--limit", "3"]).len(), 3);
    let out = desk
        .command()
        .args(["calls", "--since", "last tuesday"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since: `last tuesday` is not a time"));
}

#[test]
fn show_one_call() {
    let desk = front_desk("");
    let id = str_field(
        &desk.json(&["calls", "--number", "+49302222222", "--direction", "in"])[0],
        "id",
    )
    .to_string();
    let shown = &desk.json(&["show", &id])[0];
    assert_eq!(shown["call"]["id"], id.as_str());
    let events: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["incoming", "ring", "answer", "start", "end"]);
    assert_eq!(shown["events"][0]["caller"], "030 2222222");
    settings().bind(|| {
        insta::assert_snapshot!("show_table", desk.run(&["show", &id]));
        insta::assert_snapshot!("show_json", desk.run(&["show", &id, "--format", "json"]));
    });
    // A unique start of the id is enough; an unknown one is an error.
    assert_eq!(
        desk.json(&["show", &id[..30]])[0]["call"]["id"],
        id.as_str()
    );
    let out = desk.command().args(["show", "01a0"]).output().unwrap();
    assert!(!out.status.success());
}
