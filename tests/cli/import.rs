//! `callhook import`: MicroSIP's own call history, taken into the log once.

use std::path::PathBuf;

use serde_json::Value;

use crate::ini::*;
use crate::support::*;

/// An ini whose `[Calls]` holds MicroSIP's own history.
fn history_ini(desk: &Desk, calls: &[(&str, &str)]) -> PathBuf {
    let ini = desk.path("MicroSIP/microsip.ini");
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    let mut text = String::from("[Settings]\r\ncallsLastKey=9\r\n[Calls]\r\n");
    for (key, value) in calls {
        text.push_str(&format!("{key}={value}\r\n"));
    }
    std::fs::write(&ini, utf16(&text)).unwrap();
    ini
}

#[test]
fn microsips_history_is_imported_once() {
    let desk = Desk::new().with_config("[numbers]\ncountry_code = \"49\"\n");
    // A call the hook saw is also in MicroSIP's history.
    let seen_at = 1_790_000_000;
    assert_stored(&desk.event_at(seen_at * 1000 + 400, "incoming", "0301234"));
    let ini = history_ini(
        &desk,
        &[
            ("0", "0301234;Front desk;1;1790000000;35;"),
            ("1", "+4930999;Müller; Hans;2;1790001000;0;"),
            ("2", "200;;0;1790002000;61;"),
            ("3", "201;;0;1790003000;0;"),
            ("4", "300;Ann;3;1790004000;20;"),
            ("5", "null"),
            ("6", "broken line"),
            ("7", "400;x;9;1790005000;0;"),
        ],
    );
    let dry = desk.run(&["import", "--dry-run", "--ini", ini.to_str().unwrap()]);
    assert!(dry.contains("Would import 4 calls"), "{dry}");
    assert_eq!(desk.calls().len(), 1, "a dry run imports nothing");
    let report = desk.run(&["import", "--ini", ini.to_str().unwrap()]);
    for said in [
        "Imported 4 calls from MicroSIP's history.",
        "1 call was one callhook recorded itself (the same number within a minute), and not again.",
        "2 entries of [Calls] cannot be read, and were skipped:",
    ] {
        assert!(report.contains(said), "{said}\n{report}");
    }
    assert!(!report.contains("imported before"), "{report}");
    let calls = desk.calls();
    let imported: Vec<(String, String, String, Value)> = calls
        .iter()
        .filter(|c| c["number"] != "+49301234")
        .map(|c| {
            (
                str_field(c, "number").into(),
                str_field(c, "direction").into(),
                str_field(c, "status").into(),
                c["name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        imported,
        [
            (
                "+4930999".to_string(),
                "in".to_string(),
                "missed".to_string(),
                Value::from("Müller; Hans")
            ),
            ("200".into(), "out".into(), "answered".into(), Value::Null),
            ("201".into(), "out".into(), "no-answer".into(), Value::Null),
            (
                "300".into(),
                "in".into(),
                "answered".into(),
                Value::from("Ann")
            ),
        ]
    );
    let talk: Vec<Value> = calls
        .iter()
        .filter(|c| c["number"] == "200")
        .map(|c| c["talk_seconds"].clone())
        .collect();
    assert_eq!(talk, [Value::from(61.0)]);
    let again = desk.run(&["import", "--ini", ini.to_str().unwrap()]);
    assert!(
        again.contains("Imported 0 calls from MicroSIP's history.\n4 calls were imported before"),
        "{again}"
    );
    assert_eq!(desk.calls().len(), 5);
}
