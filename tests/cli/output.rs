//! What the admin commands print, whatever the callers sent: inert in a terminal, no formula in
//! a spreadsheet, as wide as the terminal.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::front_desk::*;
use crate::support::*;

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
    let from_json: BTreeSet<String> = desk
        .json(&["calls"])
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
        desk.record(DAY + i as i64 * 60_000, caller, MISSED);
    }
    desk
}

#[test]
fn hostile_text_in_show_missed_and_stats() {
    let desk = hostile_desk();
    let calls = desk.json(&["calls", "--all"]);
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

/// Excel in German, French and many other locales splits CSV on semicolons: a caller's `;`
/// must not start a cell of its own, one that begins with `=`.
#[test]
fn csv_is_formula_safe_in_semicolon_locales() {
    let desk = Desk::new();
    let caller = "1;=cmd|'/C calc'!A0;";
    desk.record(DAY, caller, MISSED);
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
