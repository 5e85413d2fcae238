//! Writing caller-controlled text to a terminal, and other display helpers.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Local};
use comfy_table::{LineStyle, Table, TableStyle};

/// Tables: columns apart, a rule under the header, nothing else (easy to read and to grep).
const TABLE_STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

pub fn table<T: ToString>(header: impl IntoIterator<Item = T>) -> Table {
    let mut table = Table::new();
    table.load_style(TABLE_STYLE).set_header(
        header
            .into_iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>(),
    );
    table
}

/// Text safe to print on a terminal: control characters, escape sequences and bidirectional
/// overrides are shown escaped (`\e`, `\n`, `\u{202e}`), never emitted.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Doubled, in text that is escaped at all, so that escapes stay unambiguous.
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A local date and time for tables.
pub fn local_time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// `m:ss`, or `h:mm:ss` from an hour on.
pub fn duration(ms: i64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_text_is_escaped() {
        assert_eq!(terminal_safe("+4930 123"), "+4930 123");
        assert_eq!(terminal_safe("a\x1b[31mb"), "a\\e[31mb");
        assert_eq!(terminal_safe("x\u{202e}y\n"), "x\\u{202e}y\\n");
        assert_eq!(terminal_safe("a\\b\x07"), "a\\\\b\\u{7}");
        assert_eq!(terminal_safe("\u{9b}"), "\\u{9b}");
        assert_eq!(terminal_safe("שלום 😀"), "שלום 😀");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0:00");
        assert_eq!(duration(65_999), "1:05");
        assert_eq!(duration(3_600_000 + 61_000), "1:01:01");
    }
}
