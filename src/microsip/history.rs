//! MicroSIP's own call history: the `[Calls]` section of microsip.ini.
//!
//! Keys `0`..`999` are a ring, `[Settings] callsLastKey` the slot written last. Each value is
//! `number;name;type;time;duration;info`, written without escaping, so a `;` inside a field
//! shifts the others: the number is taken as the first field, the last four as
//! type;time;duration;info, and everything between as the name.

use std::collections::HashSet;

use crate::microsip::ini::Ini;

/// The number of slots in MicroSIP's ring.
pub const SLOTS: u32 = 1000;

/// The last second of the year 9999: a later time is not a date (and its milliseconds could
/// overflow).
pub const MAX_TIME: i64 = 253_402_300_799;

/// MicroSIP keeps a duration in a C `int`.
pub const MAX_DURATION: i64 = i32::MAX as i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HistoryKind {
    Outgoing,
    Incoming,
    Missed,
    /// Answered on another device (MicroSIP 3.21 and later).
    AnsweredElsewhere,
}

impl HistoryKind {
    /// The type number MicroSIP stores.
    pub fn code(self) -> u8 {
        match self {
            HistoryKind::Outgoing => 0,
            HistoryKind::Incoming => 1,
            HistoryKind::Missed => 2,
            HistoryKind::AnsweredElsewhere => 3,
        }
    }

    pub fn from_code(code: i64) -> Option<HistoryKind> {
        match code {
            0 => Some(HistoryKind::Outgoing),
            1 => Some(HistoryKind::Incoming),
            2 => Some(HistoryKind::Missed),
            3 => Some(HistoryKind::AnsweredElsewhere),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub slot: u32,
    pub number: String,
    pub name: String,
    pub kind: HistoryKind,
    /// Unix seconds when MicroSIP added the call.
    pub time: i64,
    /// Connected seconds.
    pub duration: i64,
    pub info: String,
}

/// A `[Calls]` line that could not be read, for the user to be told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The key as written in the file.
    pub slot: String,
    pub reason: String,
}

/// The history in chronological order: by time, then by ring order (oldest slot first,
/// starting after `callsLastKey`). Deleted slots (`null`) are left out silently.
pub fn parse_history(ini: &Ini) -> (Vec<HistoryEntry>, Vec<Skipped>) {
    let start = ini
        .get("Settings", "callsLastKey")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&k| k < SLOTS)
        .map_or(0, |k| (k + 1) % SLOTS);
    let ring_position = |slot: u32| {
        if slot < SLOTS {
            (slot + SLOTS - start) % SLOTS
        } else {
            slot
        }
    };

    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    for (key, value) in ini.entries("Calls") {
        let Some(slot) = parse_slot(&key) else {
            skipped.push(Skipped {
                slot: key,
                reason: "the key is not a slot number".to_owned(),
            });
            continue;
        };
        if !seen.insert(slot) {
            skipped.push(Skipped {
                slot: key,
                reason: "the slot appears again; MicroSIP reads only its first line".to_owned(),
            });
            continue;
        }
        let value = strip_outer_quotes(&value);
        if value == "null" {
            continue;
        }
        match parse_value(slot, value) {
            Ok(entry) => entries.push(entry),
            Err(reason) => skipped.push(Skipped { slot: key, reason }),
        }
    }
    entries.sort_by_key(|e| (e.time, ring_position(e.slot)));
    (entries, skipped)
}

/// One `[Calls]` value, `number;name;type;time;duration;info`.
pub fn parse_value(slot: u32, value: &str) -> Result<HistoryEntry, String> {
    let fields: Vec<&str> = value.split(';').collect();
    let n = fields.len();
    if n < 6 {
        return Err(format!(
            "{n} of the 6 fields number;name;type;time;duration;info"
        ));
    }
    let code = number_field("type", fields[n - 4])?;
    let kind =
        HistoryKind::from_code(code).ok_or_else(|| format!("type {code} is not one of 0 to 3"))?;
    let time = number_field("time", fields[n - 3])?;
    if time < 0 {
        return Err(format!("time {time} is negative"));
    }
    if time > MAX_TIME {
        return Err(format!("time {time} is after the year 9999"));
    }
    let duration = number_field("duration", fields[n - 2])?;
    if duration < 0 {
        return Err(format!("duration {duration} is negative"));
    }
    if duration > MAX_DURATION {
        return Err(format!(
            "duration {duration} is longer than MicroSIP can count"
        ));
    }
    Ok(HistoryEntry {
        slot,
        number: fields[0].to_owned(),
        name: fields[1..n - 4].join(";"),
        kind,
        time,
        duration,
        info: fields[n - 1].to_owned(),
    })
}

fn number_field(what: &str, text: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("{what} {text:?} is not a whole number"))
}

/// A key MicroSIP writes with `%d`: plain decimal digits, no sign, no leading zero.
fn parse_slot(key: &str) -> Option<u32> {
    let slot: u32 = key.parse().ok()?;
    (slot.to_string() == key).then_some(slot)
}

/// MicroSIP reads the value through GetPrivateProfileString, which drops one pair of outer
/// quotes.
fn strip_outer_quotes(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2
            && let Some(inner) = value
                .strip_prefix(quote)
                .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ini(text: &str) -> Ini {
        Ini::parse(text.as_bytes()).unwrap()
    }

    fn utf16_ini(text: &str) -> Ini {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        Ini::parse(&bytes).unwrap()
    }

    fn entry(
        slot: u32,
        number: &str,
        name: &str,
        kind: HistoryKind,
        time: i64,
        duration: i64,
        info: &str,
    ) -> HistoryEntry {
        HistoryEntry {
            slot,
            number: number.to_owned(),
            name: name.to_owned(),
            kind,
            time,
            duration,
            info: info.to_owned(),
        }
    }

    #[test]
    fn every_type_is_read() {
        let (entries, skipped) = parse_history(&ini("[Settings]\r\ncallsLastKey=3\r\n[Calls]\r\n\
             0=100;Alice;0;1000;10;\r\n\
             1=101;Bob;1;1001;20;note\r\n\
             2=102;Carol;2;1002;0;\r\n\
             3=103;Dave;3;1003;0;Answered elsewhere\r\n"));
        assert_eq!(skipped, []);
        assert_eq!(
            entries,
            [
                entry(0, "100", "Alice", HistoryKind::Outgoing, 1000, 10, ""),
                entry(1, "101", "Bob", HistoryKind::Incoming, 1001, 20, "note"),
                entry(2, "102", "Carol", HistoryKind::Missed, 1002, 0, ""),
                entry(
                    3,
                    "103",
                    "Dave",
                    HistoryKind::AnsweredElsewhere,
                    1003,
                    0,
                    "Answered elsewhere"
                ),
            ]
        );
        for kind in [
            HistoryKind::Outgoing,
            HistoryKind::Incoming,
            HistoryKind::Missed,
            HistoryKind::AnsweredElsewhere,
        ] {
            assert_eq!(HistoryKind::from_code(i64::from(kind.code())), Some(kind));
        }
        assert_eq!(HistoryKind::from_code(4), None);
    }

    fn numbers(entries: &[HistoryEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.number.as_str()).collect()
    }

    #[test]
    fn entries_are_chronological_with_ties_in_ring_order() {
        // The ring was last written at slot 1: slot 2 is the oldest, then 3, 0 and 1.
        let (entries, skipped) = parse_history(&ini(
            "[Calls]\r\n0=a;;0;500;0;\r\n1=b;;0;500;0;\r\n2=c;;0;500;0;\r\n3=d;;0;100;0;\r\n\
             [Settings]\r\ncallsLastKey=1\r\n",
        ));
        assert_eq!(skipped, []);
        assert_eq!(numbers(&entries), ["d", "c", "a", "b"]);
    }

    #[test]
    fn ties_without_calls_last_key_follow_slot_order() {
        for settings in [
            "",
            "[Settings]\r\ncallsLastKey=oops\r\n",
            "[Settings]\r\ncallsLastKey=5000\r\n",
        ] {
            let (entries, _) = parse_history(&ini(&format!(
                "{settings}[Calls]\r\n2=c;;0;7;0;\r\n0=a;;0;7;0;\r\n1=b;;0;7;0;\r\n"
            )));
            assert_eq!(numbers(&entries), ["a", "b", "c"], "{settings:?}");
        }
    }

    #[test]
    fn the_ring_wraps_at_999() {
        let (entries, _) = parse_history(&ini(
            "[Settings]\r\ncallsLastKey=999\r\n[Calls]\r\n999=z;;0;7;0;\r\n0=a;;0;7;0;\r\n",
        ));
        assert_eq!(numbers(&entries), ["a", "z"]);
        let (entries, _) = parse_history(&ini(
            "[Settings]\r\ncallsLastKey=0\r\n[Calls]\r\n999=z;;0;7;0;\r\n0=a;;0;7;0;\r\n",
        ));
        assert_eq!(numbers(&entries), ["z", "a"]);
    }

    #[test]
    fn null_slots_are_skipped_silently() {
        let (entries, skipped) =
            parse_history(&ini("[Calls]\r\n0=null\r\n1=100;;1;5;0;\r\n2=\"null\"\r\n"));
        assert_eq!(skipped, []);
        assert_eq!(numbers(&entries), ["100"]);
        assert_eq!(entries[0].slot, 1);
    }

    #[test]
    fn a_semicolon_in_the_name_shifts_nothing() {
        let (entries, skipped) = parse_history(&ini(
            "[Calls]\r\n0=100;Smith; John; Jr.;1;1700000000;65;Call ended\r\n1=101;;;2;9;0;\r\n",
        ));
        assert_eq!(skipped, []);
        assert_eq!(
            entries,
            [
                entry(1, "101", ";", HistoryKind::Missed, 9, 0, ""),
                entry(
                    0,
                    "100",
                    "Smith; John; Jr.",
                    HistoryKind::Incoming,
                    1_700_000_000,
                    65,
                    "Call ended"
                ),
            ]
        );
    }

    #[test]
    fn malformed_lines_are_reported() {
        let (entries, skipped) = parse_history(&ini("[Calls]\r\n\
             0=100;Bob;1;1700000000;5\r\n\
             1=100\r\n\
             2=\r\n\
             3=100;Bob;x;1700000000;5;\r\n\
             4=100;Bob;1;soon;5;\r\n\
             5=100;Bob;1;1700000000;5s;\r\n\
             6=100;Bob;4;1700000000;5;\r\n\
             7=100;Bob;-1;1700000000;5;\r\n\
             8=100;Bob;1;-1;5;\r\n\
             9=100;Bob;1;1700000000;-5;\r\n\
             13=100;Bob;1;253402300800;5;\r\n\
             14=100;Bob;1;9223372036854775807;5;\r\n\
             15=100;Bob;1;1700000000;2147483648;\r\n\
             16=100;Bob;1;99999999999999999999;5;\r\n\
             010=100;Bob;1;1700000000;5;\r\n\
             last=100;Bob;1;1700000000;5;\r\n\
             bare\r\n\
             11=100;Bob;1; 1700000000;5;\r\n\
             12=ok;Bob;1;1700000000;5;\r\n\
             12=again;Bob;1;1700000000;5;\r\n"));
        assert_eq!(numbers(&entries), ["ok"]);
        let reasons: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.slot.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("0", "5 of the 6 fields number;name;type;time;duration;info"),
                ("1", "1 of the 6 fields number;name;type;time;duration;info"),
                ("2", "1 of the 6 fields number;name;type;time;duration;info"),
                ("3", "type \"x\" is not a whole number"),
                ("4", "time \"soon\" is not a whole number"),
                ("5", "duration \"5s\" is not a whole number"),
                ("6", "type 4 is not one of 0 to 3"),
                ("7", "type -1 is not one of 0 to 3"),
                ("8", "time -1 is negative"),
                ("9", "duration -5 is negative"),
                ("13", "time 253402300800 is after the year 9999"),
                ("14", "time 9223372036854775807 is after the year 9999"),
                (
                    "15",
                    "duration 2147483648 is longer than MicroSIP can count"
                ),
                ("16", "time \"99999999999999999999\" is not a whole number"),
                ("010", "the key is not a slot number"),
                ("last", "the key is not a slot number"),
                ("bare", "the key is not a slot number"),
                ("11", "time \" 1700000000\" is not a whole number"),
                (
                    "12",
                    "the slot appears again; MicroSIP reads only its first line"
                ),
            ]
        );
    }

    #[test]
    fn the_largest_times_and_durations_are_read() {
        let (entries, skipped) = parse_history(&ini(&format!(
            "[Calls]\r\n0=100;;0;{MAX_TIME};{MAX_DURATION};\r\n1=101;;0;0;0;\r\n"
        )));
        assert_eq!(skipped, []);
        assert_eq!(entries[1].time, MAX_TIME);
        assert_eq!(entries[1].duration, MAX_DURATION);
        assert!(entries[1].time.checked_mul(1000).is_some());
    }

    #[test]
    fn an_empty_or_missing_calls_section_gives_nothing() {
        for text in [
            "",
            "[Settings]\r\ncallsLastKey=3\r\n",
            "[Settings]\r\n[Calls]\r\n",
            "[Calls]\r\n\r\n; nothing\r\n[Dialed]\r\n0=100\r\n",
        ] {
            assert_eq!(parse_history(&ini(text)), (vec![], vec![]), "{text:?}");
        }
    }

    #[test]
    fn non_ascii_names_in_a_utf16_file() {
        let (entries, skipped) = parse_history(&utf16_ini(
            "[Settings]\r\ncallsLastKey=1\r\n[Calls]\r\n\
             0=+81312345678;佐藤 花子;1;1700000000;30;\r\n\
             1=+4930123456;Zoë Müller 😀;0;1700000001;0;Nicht erreichbar\r\n",
        ));
        assert_eq!(skipped, []);
        assert_eq!(
            entries,
            [
                entry(
                    0,
                    "+81312345678",
                    "佐藤 花子",
                    HistoryKind::Incoming,
                    1_700_000_000,
                    30,
                    ""
                ),
                entry(
                    1,
                    "+4930123456",
                    "Zoë Müller 😀",
                    HistoryKind::Outgoing,
                    1_700_000_001,
                    0,
                    "Nicht erreichbar"
                ),
            ]
        );
    }

    #[test]
    fn the_fixture_history() {
        let ini = Ini::parse(include_bytes!(
            "../../tests/fixtures/microsip/microsip-utf16le.ini"
        ))
        .unwrap();
        let (entries, skipped) = parse_history(&ini);
        assert_eq!(skipped, []);
        assert_eq!(
            entries,
            [
                entry(
                    3,
                    "sip:bob@example.com",
                    "Bob; the builder",
                    HistoryKind::Missed,
                    1_700_000_050,
                    0,
                    ""
                ),
                entry(
                    1,
                    "+4930123456",
                    "Zoë Müller",
                    HistoryKind::Incoming,
                    1_700_000_100,
                    42,
                    ""
                ),
                entry(
                    2,
                    "100",
                    "",
                    HistoryKind::Outgoing,
                    1_700_000_200,
                    0,
                    "Busy Here"
                ),
                entry(
                    4,
                    "200",
                    "佐藤 花子",
                    HistoryKind::AnsweredElsewhere,
                    1_700_000_300,
                    0,
                    ""
                ),
            ]
        );
    }

    #[test]
    fn outer_quotes_are_dropped_like_get_private_profile_string() {
        let (entries, skipped) = parse_history(&ini("[Calls]\r\n0=\"100;Bob;1;5;0;x\"\r\n1='\r\n"));
        assert_eq!(numbers(&entries), ["100"]);
        assert_eq!(entries[0].info, "x");
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn only_the_first_calls_section_counts() {
        let (entries, _) =
            parse_history(&ini("[Calls]\r\n0=a;;0;1;0;\r\n[calls]\r\n1=b;;0;2;0;\r\n"));
        assert_eq!(numbers(&entries), ["a"]);
    }
}
