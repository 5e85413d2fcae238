//! `callhook calls`.

use crate::support::*;

#[test]
fn no_database_yet_means_no_calls_and_no_file() {
    let desk = Desk::new();
    let table = desk.run(&["calls"]);
    assert!(table.starts_with("No calls"), "{table}");
    assert_eq!(desk.run(&["calls", "--format", "json"]).trim(), "[]");
    assert!(!desk.db.exists(), "reading created nothing");
}

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
