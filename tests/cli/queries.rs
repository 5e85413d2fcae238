//! The query commands: filters, formats (snapshots), date parsing, hostile text in every
//! format, retention and redaction.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::server::closed_port;
use crate::support::*;

/// Ids (UUIDv7) vary from run to run, and local table times with the zone the commands run
/// in (UTC unless a test sets TZ): snapshots show placeholders for them.
fn settings() -> insta::Settings {
    let mut settings = local_settings();
    settings.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "[local time]");
    settings
}

/// The same, with local times as they are: for commands run with a fixed `TZ`.
fn local_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[call-id]",
    );
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    settings.add_filter(&format!(r"\b{}\b", regex_escape(&host)), "[host]");
    // Column widths follow the values replaced above: only the layout's shape is compared.
    settings.add_filter("─+", "───");
    settings.add_filter(" {2,}", "  ");
    settings.add_filter(r"(?m) +$", "");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// 2026-11-24, 12:00 UTC: midday, so the local date is the same in every time zone we run in.
const DAY: i64 = T0 - 22 * 3_600_000;

const NUMBER_PLAN: &str = "[numbers]\ncountry_code = \"49\"\n";

/// A day of calls at a front desk, 2026-11-23 and 2026-11-24.
fn front_desk() -> Desk {
    front_desk_with("")
}

/// The same, with more configuration (after the number plan).
fn front_desk_with(config: &str) -> Desk {
    let desk = Desk::new().with_config(&format!("{NUMBER_PLAN}{config}"));
    /// (day offset, [(event, seconds)], caller)
    type Call = (i64, &'static [(&'static str, i64)], &'static str);
    let calls: &[Call] = &[
        (
            -1,
            &[("incoming", 0), ("ring", 1), ("end", 20)],
            "030 1111111",
        ),
        (
            -1,
            &[("outgoing", 3600), ("start", 3605), ("end", 3725)],
            "+49 30 2222222",
        ),
        (
            0,
            &[
                ("incoming", 0),
                ("ring", 1),
                ("answer", 6),
                ("start", 7),
                ("end", 186),
            ],
            "030 2222222",
        ),
        (
            0,
            &[("incoming", 600), ("ring", 601), ("end", 631)],
            "030 1111111",
        ),
        (0, &[("incoming", 1200), ("busy", 1203)], "0171 5555555"),
        (0, &[("outgoing", 1800), ("end", 1830)], "0171 5555555"),
        (
            0,
            &[("incoming", 2400), ("ring", 2401), ("end", 2410)],
            "030 3333333",
        ),
        (
            0,
            &[("outgoing", 3000), ("start", 3010), ("end", 3070)],
            "0303333333",
        ),
        (
            0,
            &[("incoming", 3600), ("ring", 3601), ("end", 3620)],
            "anonymous",
        ),
    ];
    for &(day, events, caller) in calls {
        for &(event, secs) in events {
            assert_stored(&desk.event_at(DAY + day * 86_400_000 + secs * 1000, event, caller));
        }
    }
    desk
}

fn json(desk: &Desk, args: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    match serde_json::from_str(&desk.run(&all)).unwrap() {
        Value::Array(rows) => rows,
        other => vec![other],
    }
}

/// Runs an admin command in the time zone `tz` (the TZ variable: Unix only); it must succeed.
#[cfg(unix)]
fn run_in(desk: &Desk, tz: &str, args: &[&str]) -> String {
    let out = desk.command().env("TZ", tz).args(args).output().unwrap();
    assert_success(&out, &format!("TZ={tz} callhook {args:?}"));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs an admin command that must fail, and returns its stderr.
fn fails(desk: &Desk, args: &[&str]) -> String {
    let out = desk.command().args(args).output().unwrap();
    assert!(
        !out.status.success(),
        "callhook {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Deliveries to a webhook that nobody answers: they are tried once and stay pending for a
/// day, and the worker does not wait around for them.
fn unanswered_webhook() -> String {
    format!(
        "[outbox]\nretries = [\"24h\"]\nstay = \"0s\"\n\n[[webhook]]\nname = \"crm\"\n\
         url = \"http://127.0.0.1:{}/hook\"\n",
        closed_port()
    )
}

/// Waits until no delivery is due (the first was tried, the others wait behind it for its
/// retry) and no worker is left.
fn deliveries_settle(desk: &Desk) {
    wait_until(Duration::from_secs(60), "the deliveries to settle", || {
        let conn = desk.conn();
        let due: i64 = conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE status = 'pending' \
                 AND next_at <= (julianday('now') - 2440587.5) * 86400000.0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let workers: i64 = conn
            .query_row("SELECT count(*) FROM worker_leases", [], |r| r.get(0))
            .unwrap();
        due == 0 && workers == 0
    });
}

/// Text with control and invisible characters made visible, for snapshots of the formats that
/// keep caller text as it is (CSV): each such character as `⟨U+001B⟩`.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (c.is_control() && c != '\n') || is_invisible(c) {
                format!("⟨U+{:04X}⟩", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A table a terminal can show as it is: no control character but line ends, nothing
/// invisible or direction-changing.
fn assert_inert(table: &str) {
    let bad: Vec<char> = table
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || is_invisible(c))
        .collect();
    assert!(bad.is_empty(), "{bad:?} in\n{table}");
}

fn numbers(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| str_field(r, "number").to_string())
        .collect()
}

#[test]
fn every_format_of_calls() {
    let desk = front_desk();
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

/// Tables show local times: here Berlin's (UTC+1 in November), checked as they are.
#[cfg(unix)]
#[test]
fn tables_show_local_times() {
    let desk = front_desk();
    let berlin = |args: &[&str]| run_in(&desk, "Europe/Berlin", args);
    let id = str_field(&json(&desk, &["calls", "--limit", "1"])[0], "id").to_string();
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

#[test]
fn filters() {
    let desk = front_desk();
    let all = json(&desk, &["calls", "--all"]);
    assert_eq!(all.len(), 9);
    // Numbers: normalized, raw, and digits anywhere.
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "+49301111111"])).len(),
        2
    );
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "030 1111111"])).len(),
        2
    );
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "1111"])),
        ["+49301111111", "+49301111111"]
    );
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "5555"])).len(),
        2
    );
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "ANONYM"])),
        ["anonymous"]
    );
    assert!(json(&desk, &["calls", "--number", "999999"]).is_empty());
    // Part of a number written nationally: its digits normalized (49171555) or as typed.
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "0171 555"])),
        ["+491715555555", "+491715555555"]
    );
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "030 2222"])),
        ["+49302222222", "+49302222222"]
    );
    // The start of an international number.
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", "+49 30 11111"])),
        ["+49301111111", "+49301111111"]
    );
    assert_eq!(
        json(&desk, &["calls", "--number", "+49 30", "--all"]).len(),
        6,
        "every Berlin number"
    );
    // The whole number as the caller text had it.
    assert_eq!(json(&desk, &["calls", "--number", "0171 5555555"]).len(), 2);
    // Status and direction.
    let missed = json(&desk, &["calls", "--status", "missed"]);
    assert_eq!(missed.len(), 4);
    assert!(missed.iter().all(|c| c["status"] == "missed"));
    assert_eq!(
        json(&desk, &["calls", "--status", "busy,no-answer"]).len(),
        2
    );
    let out = json(&desk, &["calls", "--direction", "out"]);
    assert_eq!(out.len(), 3);
    // Times: days, relative, RFC 3339; --until includes the day it names.
    assert_eq!(json(&desk, &["calls", "--since", "2026-11-24"]).len(), 7);
    assert_eq!(json(&desk, &["calls", "--until", "2026-11-23"]).len(), 2);
    assert_eq!(
        json(
            &desk,
            &["calls", "--since", "2026-11-23", "--until", "2026-11-23"]
        )
        .len(),
        2
    );
    assert_eq!(
        json(
            &desk,
            &[
                "calls",
                "--since",
                "2026-11-24T12:31:00Z",
                "--until",
                "2026-11-24T12:45:00Z"
            ]
        )
        .len(),
        1
    );
    assert_eq!(json(&desk, &["calls", "--since", "100000d"]).len(), 9);
    assert!(json(&desk, &["calls", "--since", "today"]).is_empty());
    // Limits.
    assert_eq!(json(&desk, &["calls", "--limit", "3"]).len(), 3);
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
    let desk = front_desk();
    let id = str_field(
        &json(
            &desk,
            &["calls", "--number", "+49302222222", "--direction", "in"],
        )[0],
        "id",
    )
    .to_string();
    let shown = &json(&desk, &["show", &id])[0];
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
        json(&desk, &["show", &id[..30]])[0]["call"]["id"],
        id.as_str()
    );
    let out = desk.command().args(["show", "01a0"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn missed_and_unreturned() {
    let desk = front_desk();
    let missed = json(&desk, &["missed"]);
    assert_eq!(missed.len(), 4);
    // 1111111 missed twice, never reached; 3333333 missed, then called back and answered;
    // anonymous cannot be called back.
    let waiting = json(&desk, &["missed", "--unreturned"]);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["number"], "+49301111111");
    assert_eq!(waiting[0]["missed"], 2);
    assert_eq!(
        json(&desk, &["missed", "--unreturned", "--since", "2026-11-24"])[0]["missed"],
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
    assert_eq!(json(&desk, &["missed", "--all"]), missed);
    let ndjson = desk.run(&["missed", "--unreturned", "--all", "--format", "ndjson"]);
    let rows: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows, waiting);
    // `missed` is about missed calls: another status is an error, not silently ignored.
    assert_eq!(json(&desk, &["missed", "--status", "missed"]), missed);
    let err = fails(&desk, &["missed", "--status", "answered"]);
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
    let missed = |at: i64, caller: &str| {
        for (dt, event) in [(0, "incoming"), (1_000, "ring"), (20_000, "end")] {
            assert_stored(&desk.event_at(at + dt, event, caller));
        }
    };
    missed(DAY, "Zed <sip:0301234567@pbx>");
    // The contact was renamed since (a different size, so it is read again).
    std::fs::write(contacts.path(), "+49301234567,Anna New Name\n").unwrap();
    missed(DAY + 3_600_000, "030 1234567");
    let calls = json(&desk, &["calls"]);
    assert_eq!(calls[0]["name"], "Anna New Name");
    assert_eq!(calls[1]["name"], "Zoe Old");
    let waiting = json(&desk, &["missed", "--unreturned"]);
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

#[test]
fn stats_by_day_and_more() {
    let desk = front_desk();
    let report = &json(&desk, &["stats", "--by", "day"])[0];
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
    let by_number = &json(&desk, &["stats", "--by", "number"])[0];
    assert_eq!(by_number["groups"][0]["calls"], 2);
    for by in ["week", "month", "hour", "weekday"] {
        let groups = &json(&desk, &["stats", "--by", by])[0]["groups"];
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
    let err = fails(&desk, &["stats", "--format", "ndjson"]);
    assert!(err.contains("table, csv or json"), "{err}");
}

#[test]
fn hostile_text_is_safe_in_every_format() {
    let desk = Desk::new();
    let callers = [
        "=HYPERLINK(\"http://evil\",\"x\")",
        "+1-555\x1b[2J",
        "@SUM(1)",
        "-2+3",
        "a,\"b\"\nc",
        "\u{202e}moc.evil",
    ];
    for caller in callers {
        assert_stored(&desk.event("incoming", caller));
    }
    let table = desk.run(&["calls"]);
    assert!(
        !table.contains('\x1b') && !table.contains('\u{202e}'),
        "{table}"
    );
    let csv = desk.run(&["calls", "--format", "csv"]);
    assert!(csv.starts_with('\u{feff}'), "UTF-8 BOM for spreadsheets");
    let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let raws: BTreeSet<String> = reader
        .records()
        .map(|r| r.unwrap()[4].to_string())
        .collect();
    for caller in callers {
        let cell = if caller.starts_with(['=', '+', '-', '@']) {
            format!("'{caller}")
        } else {
            caller.to_string()
        };
        assert!(raws.contains(&cell), "{cell:?} not in {raws:?}");
    }
    let from_json: BTreeSet<String> = json(&desk, &["calls"])
        .iter()
        .map(|c| str_field(c, "raw").to_string())
        .collect();
    let ndjson: BTreeSet<String> = desk
        .run(&["calls", "--format", "ndjson"])
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["raw"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: BTreeSet<String> = callers.iter().map(|c| c.to_string()).collect();
    assert_eq!((from_json, ndjson), (want.clone(), want));
}

/// Caller texts that attack terminals (escape sequences, an OSC 8 link, bidirectional
/// overrides, invisible characters, a typed backslash escape) and spreadsheets (formulas,
/// leading tab or carriage return), quotes and line breaks, and a number written `total`.
const HOSTILE: [&str; 13] = [
    "\x1b[31mRED\x1b[0m",
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "\u{202e}0987654321",
    "=HYPERLINK(\"http://evil.example\",\"call me\")",
    "+1 555 0100",
    "-2+3",
    "@SUM(1+1)",
    "\tTAB",
    "\rCR",
    "say \"hi\", then\nbreak",
    "total",
    "\\e[31m typed",
    "zero\u{200b}width\u{feff}\u{2028}sep",
];

/// Every hostile caller text misses a call, a minute apart.
fn hostile_desk() -> Desk {
    let desk = Desk::new();
    for (i, caller) in HOSTILE.iter().enumerate() {
        let at = DAY + i as i64 * 60_000;
        assert_stored(&desk.event_at(at, "incoming", caller));
        assert_stored(&desk.event_at(at + 1_000, "ring", caller));
        assert_stored(&desk.event_at(at + 9_000, "end", caller));
    }
    desk
}

#[test]
fn hostile_text_in_show_missed_and_stats() {
    let desk = hostile_desk();
    let calls = json(&desk, &["calls", "--all"]);
    let id_of = |raw: &str| {
        let call = calls.iter().find(|c| c["raw"] == raw).unwrap();
        str_field(call, "id").to_string()
    };
    let show_osc = desk.run(&["show", &id_of(HOSTILE[1])]);
    let show_quote = desk.run(&["show", &id_of(HOSTILE[9])]);
    let missed_table = desk.run(&["missed", "--all"]);
    let unreturned_table = desk.run(&["missed", "--unreturned", "--all"]);
    let stats_table = desk.run(&["stats", "--by", "number"]);
    for table in [
        &show_osc,
        &show_quote,
        &missed_table,
        &unreturned_table,
        &stats_table,
    ] {
        assert_inert(table);
    }
    // A typed backslash escape cannot pass for an escaped ESC.
    assert!(missed_table.contains("\\e[31mRED"), "{missed_table}");
    assert!(missed_table.contains("\\\\e[31m typed"), "{missed_table}");
    let missed_csv = desk.run(&["missed", "--all", "--format", "csv"]);
    let stats_csv = desk.run(&["stats", "--by", "number", "--format", "csv"]);
    settings().bind(|| {
        insta::assert_snapshot!("hostile_show_osc_table", show_osc);
        insta::assert_snapshot!("hostile_show_quote_table", show_quote);
        insta::assert_snapshot!("hostile_missed_table", missed_table);
        insta::assert_snapshot!("hostile_missed_unreturned_table", unreturned_table);
        insta::assert_snapshot!("hostile_stats_by_number_table", stats_table);
        insta::assert_snapshot!("hostile_missed_csv", visible(&missed_csv));
        insta::assert_snapshot!("hostile_stats_by_number_csv", visible(&stats_csv));
    });
    // CSV keeps the text (neutralized where it could be a formula) and reads back exactly.
    let read = |text: &str| -> Vec<csv::StringRecord> {
        csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes())
            .records()
            .map(Result::unwrap)
            .collect()
    };
    let raws: BTreeSet<String> = read(&missed_csv).iter().map(|r| r[4].to_string()).collect();
    for caller in HOSTILE {
        let cell = if caller.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{caller}")
        } else {
            caller.to_string()
        };
        assert!(raws.contains(&cell), "{cell:?} not in {raws:?}");
    }
    // A number written `total` is a group like any other, apart from the totals.
    let rows = read(&stats_csv);
    let kinds: Vec<(&str, &str)> = rows.iter().map(|r| (&r[0], &r[1])).collect();
    assert!(kinds.contains(&("number", "total")), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|(kind, _)| *kind == "total").count(),
        1,
        "{kinds:?}"
    );
    let total = rows.iter().find(|r| &r[0] == "total").unwrap();
    assert_eq!(&total[2], HOSTILE.len().to_string().as_str());
}

fn integrity(desk: &Desk) {
    let conn = desk.conn();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    for (what, sql) in [
        (
            "events of no call",
            "SELECT count(*) FROM events WHERE call_id NOT IN (SELECT id FROM calls)",
        ),
        (
            "deliveries of no call",
            "SELECT count(*) FROM outbox WHERE call_id NOT IN (SELECT id FROM calls)",
        ),
        (
            "calls without events",
            "SELECT count(*) FROM calls WHERE id NOT IN (SELECT call_id FROM events)",
        ),
        (
            "numbers missing",
            "SELECT count(*) FROM calls WHERE NOT EXISTS (SELECT 1 FROM numbers n WHERE n.number = calls.number AND n.raw = calls.raw)",
        ),
        (
            "numbers left over",
            "SELECT count(*) FROM numbers WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.number = numbers.number AND c.raw = numbers.raw)",
        ),
    ] {
        let n: i64 = conn.query_row(sql, [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{what}");
    }
}

fn count(desk: &Desk, sql: &str) -> i64 {
    desk.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn prune_leaves_a_consistent_log() {
    let desk = front_desk_with(&unanswered_webhook());
    deliveries_settle(&desk);
    // One delivery per event, all still pending.
    assert_eq!(count(&desk, "SELECT count(*) FROM outbox"), 27);
    assert_eq!(
        count(
            &desk,
            "SELECT count(*) FROM outbox WHERE status = 'pending'"
        ),
        27
    );
    let report = desk.run(&["prune", "--before", "2026-11-24", "--dry-run"]);
    assert!(
        report.contains("Would delete 2 calls, 6 events and 6 deliveries"),
        "{report}"
    );
    assert_eq!(
        json(&desk, &["calls", "--all"]).len(),
        9,
        "a dry run changes nothing"
    );
    assert_eq!(count(&desk, "SELECT count(*) FROM outbox"), 27);
    let report = desk.run(&["prune", "--before", "2026-11-24", "--vacuum"]);
    assert!(
        report.contains("Deleted 2 calls, 6 events and 6 deliveries"),
        "{report}"
    );
    assert_eq!(json(&desk, &["calls", "--all"]).len(), 7);
    assert!(json(&desk, &["calls", "--until", "2026-11-23"]).is_empty());
    integrity(&desk);
    // The newer calls keep their deliveries, one per event.
    assert_eq!(count(&desk, "SELECT count(*) FROM outbox"), 21);
    assert_eq!(
        count(
            &desk,
            "SELECT count(*) FROM outbox o JOIN events e ON e.id = o.event_id \
             AND e.call_id = o.call_id"
        ),
        21
    );
    // The missed call of the first day is gone from the worklist's count too.
    assert_eq!(json(&desk, &["missed", "--unreturned"])[0]["missed"], 1);
}

/// The bytes of the database and of its write-ahead log.
fn database_bytes(desk: &Desk) -> Vec<u8> {
    let mut bytes = std::fs::read(&desk.db).unwrap();
    let mut wal = desk.db.clone().into_os_string();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn redact_hashes_old_numbers_and_keeps_the_figures() {
    let desk = front_desk_with(&unanswered_webhook());
    // A caller whose text looks like a redacted value.
    let old = DAY - 86_400_000 + 7_200_000;
    for (dt, event) in [(0, "incoming"), (1_000, "ring"), (15_000, "end")] {
        assert_stored(&desk.event_at(old + dt, event, "redacted:+15551234567"));
    }
    deliveries_settle(&desk);
    assert!(contains(&database_bytes(&desk), "5551234567"));
    let err = fails(&desk, &["redact", "--before", "2026-11-24"]);
    assert!(err.contains("redact_key"), "{err}");
    let desk = desk.with_config(&format!(
        "{NUMBER_PLAN}[privacy]\nredact_key = \"a secret of sixteen+\"\n{}",
        unanswered_webhook()
    ));
    let before = json(&desk, &["stats"])[0]["total"].clone();
    let waiting = json(&desk, &["missed", "--unreturned"]);
    assert_eq!(numbers(&waiting), ["+49301111111", "redacted:+15551234567"]);
    // Another program has the database open (idle): the log must still be cleared.
    let reader = desk.conn();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    let report = desk.run(&["redact", "--before", "2026-11-24", "--vacuum"]);
    assert!(
        report.contains("Redacted 3 calls, 9 events and 9 deliveries"),
        "{report}"
    );
    assert!(report.contains("Vacuumed"), "{report}");
    // Nothing of the old text is left in the files: not in space freed by the updates of the
    // call and its deliveries before, not in the log.
    let bytes = database_bytes(&desk);
    assert!(
        !contains(&bytes, "5551234567"),
        "the old number is in the file"
    );
    drop(reader);
    let again = desk.run(&["redact", "--before", "2026-11-24"]);
    assert!(
        again.contains("Redacted 0 calls, 0 events and 0 deliveries"),
        "idempotent: {again}"
    );
    assert_eq!(
        json(&desk, &["stats"])[0]["total"],
        before,
        "the figures stay"
    );
    let old_calls = json(&desk, &["calls", "--until", "2026-11-23"]);
    assert_eq!(old_calls.len(), 3);
    for call in &old_calls {
        for key in ["number", "raw"] {
            let value = str_field(call, key);
            assert!(
                value.len() == "redacted:".len() + 20
                    && value
                        .trim_start_matches("redacted:")
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{call}"
            );
        }
    }
    let events = desk.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1.starts_with("redacted:"))
            .count(),
        9
    );
    assert!(!events.iter().any(|e| e.1.contains("5551234567")));
    assert!(
        !events
            .iter()
            .any(|e| e.1.contains("1111111") && e.2.starts_with("redacted"))
    );
    // The deliveries of the old calls lose their bodies, and are not sent any more.
    let conn = desk.conn();
    let old_ids = "SELECT id FROM calls WHERE started_at < 1795478400000";
    let (bodies, pending, skipped): (i64, i64, i64) = conn
        .query_row(
            &format!(
                "SELECT count(body), count(*) FILTER (WHERE status = 'pending'), \
                 count(*) FILTER (WHERE status = 'skipped') FROM outbox \
                 WHERE call_id IN ({old_ids})"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((bodies, pending, skipped), (0, 0, 9));
    let newer: i64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM outbox WHERE body IS NOT NULL \
                 AND call_id NOT IN ({old_ids})"
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(newer, 21, "the newer deliveries keep theirs");
    // The newer calls of the same number are untouched, and still found.
    assert_eq!(json(&desk, &["calls", "--number", "1111111"]).len(), 1);
    // A redacted number is no number: its hex digits match no search, and it is nobody to
    // call back; the whole redacted value still finds its calls.
    let hashed = str_field(&old_calls[0], "number").to_string();
    let digits: String = hashed
        .trim_start_matches("redacted:")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let some_digits = if digits.is_empty() {
        hashed
            .chars()
            .rev()
            .find(char::is_ascii_digit)
            .map(String::from)
            .unwrap_or_else(|| "0".into())
    } else {
        digits
    };
    let found = json(&desk, &["calls", "--number", &some_digits, "--all"]);
    assert!(
        !found
            .iter()
            .any(|c| str_field(c, "number").starts_with("redacted:")),
        "--number {some_digits}: {found:?}"
    );
    assert_eq!(
        numbers(&json(&desk, &["calls", "--number", &hashed])),
        [hashed.as_str()]
    );
    let waiting = json(&desk, &["missed", "--unreturned"]);
    assert_eq!(numbers(&waiting), ["+49301111111"]);
    assert_eq!(waiting[0]["missed"], 1);
    integrity(&desk);
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
        let out = desk
            .command()
            .env("TZ", "Europe/Berlin")
            .args(args)
            .output()
            .unwrap();
        assert_success(&out, "stats");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
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

/// Without `--vacuum`, what the redaction itself replaces is gone from the file too: the
/// space it frees is overwritten, and the log is checkpointed and emptied even while another
/// program has the database open.
#[test]
fn redact_leaves_no_old_text_in_the_file() {
    let desk = Desk::new().with_config("[privacy]\nredact_key = \"a secret of sixteen+\"\n");
    // One event: the call's rows are written once, and nothing of them was freed before.
    assert_stored(&desk.event_at(DAY - 86_400_000, "incoming", "+1 555 123 4567"));
    for i in 0..6 {
        let caller = format!("+4930{i}{i}{i}{i}{i}{i}");
        for (dt, event) in [(0, "incoming"), (1_000, "ring"), (9_000, "end")] {
            assert_stored(&desk.event_at(DAY + i * 60_000 + dt, event, &caller));
        }
    }
    assert!(contains(&database_bytes(&desk), "5551234567"));
    let reader = desk.conn();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    let out = desk
        .command()
        .args(["redact", "--before", "2026-11-24"])
        .output()
        .unwrap();
    assert_success(&out, "redact");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("Redacted 1 call, 1 event and 0 deliveries"),
        "{report}"
    );
    assert!(
        out.stderr.is_empty(),
        "the log was cleared: {:?}",
        out.stderr
    );
    let wal = std::fs::metadata(format!("{}-wal", desk.db.display()))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(wal, 0, "the log is empty");
    let bytes = database_bytes(&desk);
    assert!(!contains(&bytes, "5551234567"), "the number is in the file");
    assert!(
        !contains(&bytes, "555 123 4567"),
        "the caller text is in the file"
    );
    drop(reader);
    integrity(&desk);
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

/// Excel in German, French and many other locales splits CSV on semicolons: a caller's `;`
/// must not start a cell of its own, one that begins with `=`.
#[test]
fn csv_is_formula_safe_in_semicolon_locales() {
    let desk = Desk::new();
    let caller = "1;=cmd|'/C calc'!A0;";
    for (dt, event) in [(0, "incoming"), (1_000, "ring"), (9_000, "end")] {
        assert_stored(&desk.event_at(DAY + dt, event, caller));
    }
    for args in [
        &["calls", "--format", "csv"][..],
        &["missed", "--format", "csv"],
        &["missed", "--unreturned", "--format", "csv"],
        &["stats", "--by", "number", "--format", "csv"],
    ] {
        let csv = desk.run(args);
        assert!(csv.contains("\"1;'=cmd|'/C calc'!A0;\""), "{args:?}: {csv}");
        let mut semicolons = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        for record in semicolons.records() {
            for cell in record.unwrap().iter() {
                assert!(
                    !cell.trim_start().starts_with(['=', '+', '-', '@']),
                    "{args:?}: a cell {cell:?} in {csv}"
                );
            }
        }
    }
}

#[test]
fn long_tables_fit_the_terminal() {
    let desk = Desk::new();
    // Long paths and errors make the widest rows.
    let deep = desk.path(&format!(
        "data/{}/calls.db",
        "a-rather-long-folder-name/".repeat(4)
    ));
    let desk = desk.with_config(&format!(
        "[database]\npath = {}\n[[webhook]]\nname = \"crm\"\nurl = \"http://127.0.0.1:1/a/very/long/endpoint/path/that/goes/on\"\ntimeout = \"1s\"\n",
        toml_str(deep.to_str().unwrap())
    ));
    let mut cmd = desk.bare_command();
    cmd.env("CALLHOOK_CONFIG", &desk.config)
        .args(["event", "incoming", "--", "1"]);
    assert_stored(&output(&mut cmd));
    for args in [&["doctor"][..], &["outbox"]] {
        for columns in ["100", "60"] {
            let out = desk
                .bare_command()
                .env("CALLHOOK_CONFIG", &desk.config)
                .env("COLUMNS", columns)
                .args(args)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
            assert!(
                widest <= columns.parse().unwrap(),
                "{args:?} at {columns} columns: {widest}\n{text}"
            );
        }
    }
}

#[test]
fn the_stats_table_adds_up() {
    let desk = Desk::new();
    let now = chrono::Utc::now().timestamp_millis();
    // One call still on, one missed, one answered.
    assert_stored(&desk.event_at(now - 60_000, "incoming", "1"));
    assert_stored(&desk.event_at(now - 50_000, "incoming", "2"));
    assert_stored(&desk.event_at(now - 40_000, "end", "2"));
    assert_stored(&desk.event_at(now - 30_000, "outgoing", "3"));
    assert_stored(&desk.event_at(now - 29_000, "start", "3"));
    assert_stored(&desk.event_at(now - 20_000, "end", "3"));
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
