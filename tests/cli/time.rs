//! Local time: tables in the zone the commands run in, and days that are not 24 hours long.

use serde_json::Value;

use crate::front_desk::*;
use crate::support::*;

/// Runs an admin command in the time zone `tz`; it must succeed.
fn run_in(desk: &Desk, tz: &str, args: &[&str]) -> String {
    let out = desk.command().env("TZ", tz).args(args).output().unwrap();
    assert_success(&out, &format!("TZ={tz} callhook {args:?}"));
    String::from_utf8(out.stdout).unwrap()
}

/// Tables show local times: here Berlin's (UTC+1 in November), checked as they are.
#[cfg(unix)]
#[test]
fn tables_show_local_times() {
    let desk = front_desk("");
    let berlin = |args: &[&str]| run_in(&desk, "Europe/Berlin", args);
    let id = str_field(&desk.json(&["calls", "--limit", "1"])[0], "id").to_string();
    local_settings().bind(|| {
        insta::assert_snapshot!("calls_table_berlin", berlin(&["calls"]));
        insta::assert_snapshot!("show_table_berlin", berlin(&["show", &id]));
        insta::assert_snapshot!(
            "missed_unreturned_table_berlin",
            berlin(&["missed", "--unreturned"])
        );
    });
    // The same call in UTC (the tests' default zone): an hour earlier.
    assert!(
        desk.run(&["calls", "--limit", "1"])
            .contains("2026-11-24 13:00:00")
    );
    assert!(berlin(&["calls", "--limit", "1"]).contains("2026-11-24 14:00:00"));
}

#[cfg(unix)]
#[test]
fn days_follow_daylight_saving_time() {
    // Berlin leaves summer time on 2026-10-25: that day has 25 hours.
    let desk = Desk::new();
    for at in [
        "2026-10-24T22:30:00Z",
        "2026-10-25T22:30:00Z",
        "2026-10-25T23:30:00Z",
    ] {
        let ms = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis();
        assert_stored(&desk.event_at(ms, "incoming", "1"));
    }
    let berlin = |args: &[&str]| {
        serde_json::from_str::<Value>(&run_in(&desk, "Europe/Berlin", args)).unwrap()
    };
    // 22:30Z on the 24th is 00:30 on the 25th (summer time); 22:30Z on the 25th is 23:30
    // (winter time), still the 25th; 23:30Z on the 25th is the 26th.
    let report = berlin(&["stats", "--by", "day", "--format", "json"]);
    let groups: Vec<(String, u64)> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_string(),
                g["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("2026-10-25".to_string(), 2), ("2026-10-26".to_string(), 1)]
    );
    let day = berlin(&[
        "calls",
        "--since",
        "2026-10-25",
        "--until",
        "2026-10-25",
        "--format",
        "json",
    ]);
    assert_eq!(day.as_array().unwrap().len(), 2);
    // New York springs forward on 2026-03-08: a 23-hour day.
    let desk = Desk::new();
    for at in [
        "2026-03-08T04:59:00Z",
        "2026-03-08T05:00:00Z",
        "2026-03-09T03:59:00Z",
        "2026-03-09T04:00:00Z",
    ] {
        let ms = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis();
        assert_stored(&desk.event_at(ms, "incoming", "2"));
    }
    let out = desk
        .command()
        .env("TZ", "America/New_York")
        .args([
            "calls",
            "--since",
            "2026-03-08",
            "--until",
            "2026-03-08",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let calls: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        calls.as_array().unwrap().len(),
        2,
        "00:00 EST to 00:00 EDT the next day"
    );
}

/// Santiago moves its clocks from 00:00 to 01:00 on 2026-09-06: that day has no midnight,
/// begins at 01:00 (-03, 04:00Z) and lasts 23 hours.
#[cfg(unix)]
#[test]
fn a_day_without_midnight() {
    let desk = Desk::new();
    for (at, caller) in [
        ("2026-09-06T03:59:00Z", "31"),
        ("2026-09-06T04:00:00Z", "32"),
        ("2026-09-07T02:59:00Z", "33"),
        ("2026-09-07T03:00:00Z", "34"),
    ] {
        let ms = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis();
        assert_stored(&desk.event_at(ms, "incoming", caller));
    }
    let santiago = |args: &[&str]| run_in(&desk, "America/Santiago", args);
    let day: Value = serde_json::from_str(&santiago(&[
        "calls",
        "--since",
        "2026-09-06",
        "--until",
        "2026-09-06",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(numbers(day.as_array().unwrap()), ["33", "32"]);
    let today: Value =
        serde_json::from_str(&santiago(&["stats", "--by", "day", "--format", "json"])).unwrap();
    let groups: Vec<(&str, u64)> = today["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["group"].as_str().unwrap(), g["calls"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        groups,
        [("2026-09-05", 1), ("2026-09-06", 2), ("2026-09-07", 1)]
    );
    local_settings().bind(|| {
        insta::assert_snapshot!("calls_table_santiago", santiago(&["calls"]));
    });
}
