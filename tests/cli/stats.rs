//! `callhook stats`: the figures, grouped, in every format.

use crate::front_desk::*;
use crate::support::*;

#[test]
fn stats_by_day_and_more() {
    let desk = front_desk("");
    let report = &desk.json(&["stats", "--by", "day"])[0];
    let total = &report["total"];
    assert_eq!(
        (
            total["calls"].as_u64(),
            total["answered"].as_u64(),
            total["missed"].as_u64()
        ),
        (Some(9), Some(3), Some(4))
    );
    assert_eq!(total["busy"], 1);
    assert_eq!(total["no_answer"], 1);
    // Incoming and over: 6, of which 1 answered.
    assert!((total["answer_rate"].as_f64().unwrap() - 1.0 / 6.0).abs() < 1e-9);
    assert_eq!(total["talk_seconds_total"], 180.0 + 120.0 + 60.0);
    assert_eq!(total["ring_seconds_average"], 5.0);
    let days: Vec<&str> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2026-11-23", "2026-11-24"]);
    assert_eq!(report["groups"][1]["calls"], 7);
    let by_number = &desk.json(&["stats", "--by", "number"])[0];
    assert_eq!(by_number["groups"][0]["calls"], 2);
    for by in ["week", "month", "hour", "weekday"] {
        let groups = &desk.json(&["stats", "--by", by])[0]["groups"];
        let sum: u64 = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["calls"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 9, "--by {by}");
    }
    settings().bind(|| {
        insta::assert_snapshot!(
            "stats_day_csv",
            desk.run(&["stats", "--by", "day", "--format", "csv"])
        );
        // The output as written: field order and number formatting included.
        insta::assert_snapshot!(
            "stats_day_json",
            desk.run(&["stats", "--by", "day", "--format", "json"])
        );
        insta::assert_snapshot!("stats_table", desk.run(&["stats"]));
        insta::assert_snapshot!("stats_csv", desk.run(&["stats", "--format", "csv"]));
        insta::assert_snapshot!("stats_week_table", desk.run(&["stats", "--by", "week"]));
        insta::assert_snapshot!(
            "stats_month_csv",
            desk.run(&["stats", "--by", "month", "--format", "csv"])
        );
        insta::assert_snapshot!(
            "stats_hour_json",
            desk.run(&["stats", "--by", "hour", "--format", "json"])
        );
        insta::assert_snapshot!(
            "stats_weekday_table",
            desk.run(&["stats", "--by", "weekday"])
        );
        insta::assert_snapshot!(
            "stats_number_csv",
            desk.run(&["stats", "--by", "number", "--format", "csv"])
        );
        insta::assert_snapshot!("stats_number_table", desk.run(&["stats", "--by", "number"]));
    });
    let table = desk.run(&["stats", "--by", "weekday"]);
    assert!(
        table.contains("Total") && table.contains("Busiest hours"),
        "{table}"
    );
    // The busiest hours are in every format.
    let csv = desk.run(&["stats", "--format", "csv"]);
    assert!(csv.contains("\r\nbusiest_hour,12:00,7,"), "{csv}");
    assert!(csv.contains("\r\nbusiest_hour,13:00,2,"), "{csv}");
    assert_eq!(report["busiest_hours"][0]["hour"], 12);
    assert!(
        desk.run(&["stats"])
            .contains("Busiest hours: 12:00 (7 calls), 13:00 (2 calls)")
    );
    let err = desk.fails(&["stats", "--format", "ndjson"]);
    assert!(err.contains("table, csv or json"), "{err}");
}

#[test]
fn the_stats_table_adds_up() {
    let desk = Desk::new();
    let now = chrono::Utc::now().timestamp_millis();
    // One call still on, one missed, one answered.
    desk.record(now - 60_000, "1", &[(0, "incoming")])
        .record(now - 50_000, "2", &[(0, "incoming"), (10_000, "end")])
        .record(
            now - 30_000,
            "3",
            &[(0, "outgoing"), (1_000, "start"), (10_000, "end")],
        );
    let table = desk.run(&["stats"]);
    assert!(table.contains("In progress"), "{table}");
    let total: Vec<u64> = table
        .lines()
        .find(|l| l.trim_start().starts_with("Total"))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .take(6)
        .map(|n| n.parse().unwrap())
        .collect();
    // Calls, then answered, missed, busy, no answer, in progress: the counts add up.
    assert_eq!(total, [3, 1, 1, 0, 0, 1], "{table}");
    assert_eq!(total[0], total[1..].iter().sum::<u64>());
}
