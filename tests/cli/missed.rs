//! `callhook missed`: missed calls, and the worklist of those not called back.

use serde_json::Value;

use crate::front_desk::*;
use crate::support::*;

#[test]
fn missed_and_unreturned() {
    let desk = front_desk("");
    let missed = desk.json(&["missed"]);
    assert_eq!(missed.len(), 4);
    // 1111111 missed twice, never reached; 3333333 missed, then called back and answered;
    // anonymous cannot be called back.
    let waiting = desk.json(&["missed", "--unreturned"]);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["number"], "+49301111111");
    assert_eq!(waiting[0]["missed"], 2);
    assert_eq!(
        desk.json(&["missed", "--unreturned", "--since", "2026-11-24"])[0]["missed"],
        1
    );
    settings().bind(|| {
        insta::assert_snapshot!("missed_table", desk.run(&["missed"]));
        insta::assert_snapshot!("missed_csv", desk.run(&["missed", "--format", "csv"]));
        insta::assert_snapshot!("missed_json", desk.run(&["missed", "--format", "json"]));
        insta::assert_snapshot!("missed_ndjson", desk.run(&["missed", "--format", "ndjson"]));
        insta::assert_snapshot!(
            "missed_unreturned_table",
            desk.run(&["missed", "--unreturned"])
        );
        insta::assert_snapshot!(
            "missed_unreturned_csv",
            desk.run(&["missed", "--unreturned", "--format", "csv"])
        );
        insta::assert_snapshot!(
            "missed_unreturned_json",
            desk.run(&["missed", "--unreturned", "--format", "json"])
        );
    });
    // Exports of every row stream; they give the same rows.
    assert_eq!(desk.json(&["missed", "--all"]), missed);
    let ndjson = desk.run(&["missed", "--unreturned", "--all", "--format", "ndjson"]);
    let rows: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows, waiting);
    // `missed` is about missed calls: another status is an error, not silently ignored.
    assert_eq!(desk.json(&["missed", "--status", "missed"]), missed);
    let err = desk.fails(&["missed", "--status", "answered"]);
    assert!(err.contains("missed lists missed calls only"), "{err}");
    assert!(err.contains("callhook calls --status"), "{err}");
}

/// The worklist shows a number as its latest missed call had it: that call's caller text
/// and name, not whichever sorts last.
#[test]
fn unreturned_rows_show_the_latest_missed_call() {
    let contacts = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(contacts.path(), "+49301234567,Zoe Old\n").unwrap();
    let desk = Desk::new().with_config(&format!(
        "{NUMBER_PLAN}[contacts]\ncsv = {}\n",
        toml_str(contacts.path().to_str().unwrap())
    ));
    let missed = [(0, "incoming"), (1_000, "ring"), (20_000, "end")];
    desk.record(DAY, "Zed <sip:0301234567@pbx>", &missed);
    // The contact was renamed since (a different size, so it is read again).
    std::fs::write(contacts.path(), "+49301234567,Anna New Name\n").unwrap();
    desk.record(DAY + 3_600_000, "030 1234567", &missed);
    let calls = desk.json(&["calls"]);
    assert_eq!(calls[0]["name"], "Anna New Name");
    assert_eq!(calls[1]["name"], "Zoe Old");
    let waiting = desk.json(&["missed", "--unreturned"]);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let row = &waiting[0];
    assert_eq!(row["number"], "+49301234567");
    assert_eq!(row["raw"], "030 1234567");
    assert_eq!(row["name"], "Anna New Name");
    assert_eq!(row["missed"], 2);
    assert_eq!(row["last_call_id"], calls[0]["id"]);
    assert_eq!(row["first_missed_at"], calls[1]["started_at"]);
    assert_eq!(row["last_missed_at"], calls[0]["started_at"]);
}
