//! `callhook calls`.

use crate::support::*;

#[test]
fn a_database_that_does_not_exist_is_an_error_and_no_file() {
    // A typo in --db must not read as an empty call log.
    let desk = Desk::new();
    let typo = desk.path("data/cals.db");
    for args in [
        vec!["calls"],
        vec!["calls", "--format", "json"],
        vec!["missed", "--unreturned"],
        vec!["stats"],
        vec!["show", "01a2"],
        vec!["outbox"],
        vec!["prune", "--before", "365d"],
    ] {
        let out = desk
            .command()
            .arg("--db")
            .arg(&typo)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no database at") && stderr.contains("cals.db"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!typo.exists(), "reading created nothing");
    // Once a call is recorded, an empty result is just that.
    assert_stored(&desk.event_at(T0, "incoming", "1"));
    let table = desk.run(&["calls", "--number", "2"]);
    assert!(table.starts_with("No calls"), "{table}");
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
