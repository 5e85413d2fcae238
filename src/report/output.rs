//! Output: caller-controlled text made safe for each sink (terminal, CSV), the formats, and
//! display helpers.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use chrono::{DateTime, Local};
use comfy_table::{Cell, LineStyle, Table, TableStyle};

use crate::effects::outbox::{Delivery, Status};

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

/// Text safe to print on a terminal: control characters, escape sequences, bidirectional
/// marks and overrides, invisible (zero-width) characters and line or paragraph separators are
/// shown escaped (`\e`, `\n`, `\u{202e}`), never emitted. Backslashes are doubled only in
/// text that needs escapes at all, so that paths (`C:\crm\pop.exe`) stay readable; caller
/// text takes [`caller_safe`].
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Caller text safe to print on a terminal: as [`terminal_safe`], and every backslash shown
/// doubled (`\\`), so that text a caller typed, such as a literal `\e[31m`, never looks like
/// an escaped control character.
pub fn caller_safe(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, backslashes: bool) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| needs_escape(c) || (backslashes && c == '\\'))
    {
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
        || matches!(
            c,
            // Arabic letter mark; zero-width space, non-joiner, joiner; LRM, RLM.
            '\u{61c}'
                | '\u{200b}'..='\u{200f}'
                // Line and paragraph separators; bidi embeddings and overrides.
                | '\u{2028}'..='\u{202e}'
                // Bidi isolates.
                | '\u{2066}'..='\u{2069}'
                // Byte order mark (zero-width no-break space).
                | '\u{feff}'
        )
}

/// The output formats of the query commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people (colour on a terminal)
    Table,
    /// CSV for spreadsheets: UTF-8 with a BOM, one header row
    Csv,
    /// A JSON array
    Json,
    /// One JSON object per line
    Ndjson,
}

/// A CSV cell that a spreadsheet will not run as a formula: text starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading apostrophe (`'+15551234567`). The cell then
/// starts with an apostrophe, so no formula runs, and a person still reads the number; some
/// programs show the apostrophe, some hide it. The same after every `;` in the text
/// (`1;'=cmd`): Excel in German, French and many other locales splits lines on semicolons,
/// quotes or not, so whatever follows one starts a cell there.
pub fn csv_safe(text: &str) -> Cow<'_, str> {
    let formula = |rest: &str| {
        rest.trim_start_matches(['"', ' '])
            .starts_with(['=', '+', '-', '@', '\t', '\r'])
    };
    let after_semicolon = |i: usize| formula(&text[i + 1..]);
    let lead = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let semicolons: Vec<usize> = text
        .match_indices(';')
        .map(|(i, _)| i)
        .filter(|&i| after_semicolon(i))
        .collect();
    if !lead && semicolons.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut cell = String::with_capacity(text.len() + semicolons.len() + 1);
    if lead {
        cell.push('\'');
    }
    let mut from = 0;
    for i in semicolons {
        cell.push_str(&text[from..=i]);
        cell.push('\'');
        from = i + 1;
    }
    cell.push_str(&text[from..]);
    Cow::Owned(cell)
}

/// CSV for spreadsheets: a UTF-8 byte order mark first (Excel needs it to read UTF-8), CRLF
/// line ends, and every cell that holds a comma, a semicolon, a quote, a tab or a line break
/// quoted. The semicolon matters: Excel in German, French and many other locales splits on it,
/// so an unquoted `1;=cmd|' /C calc'!A0` would make a cell that starts with `=`.
pub struct Csv<W: Write> {
    out: W,
}

/// Starts a CSV file on `out`.
pub fn csv_writer<W: Write>(mut out: W) -> io::Result<Csv<W>> {
    out.write_all("\u{feff}".as_bytes())?;
    Ok(Csv { out })
}

impl<W: Write> Csv<W> {
    pub fn write_record<T: AsRef<str>>(
        &mut self,
        cells: impl IntoIterator<Item = T>,
    ) -> io::Result<()> {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            let cell = cell.as_ref();
            if cell.contains([',', ';', '"', '\t', '\r', '\n']) {
                write!(self.out, "\"{}\"", cell.replace('"', "\"\""))?;
            } else {
                self.out.write_all(cell.as_bytes())?;
            }
        }
        self.out.write_all(b"\r\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A JSON array written one element at a time, so that exports need not fit in memory.
pub struct JsonArray<W: Write> {
    out: W,
    empty: bool,
}

impl<W: Write> JsonArray<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"[")?;
        Ok(JsonArray { out, empty: true })
    }

    pub fn push(&mut self, value: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.out
            .write_all(if self.empty { b"\n  " } else { b",\n  " })?;
        self.out.write_all(text.replace('\n', "\n  ").as_bytes())?;
        self.empty = false;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.out
            .write_all(if self.empty { b"]\n" } else { b"\n]\n" })
    }
}

/// A list a query command prints, one kind of row, in any [`Format`]: what a row is in JSON
/// and CSV, and the table of them all.
pub trait Listing {
    type Row;
    /// The CSV header: the JSON fields, in order.
    fn csv_header(&self) -> Vec<&'static str>;
    fn csv_record(&self, row: &Self::Row) -> Vec<String>;
    fn json<'a>(&'a self, row: &'a Self::Row) -> impl Serialize + 'a;
    fn table(&self, rows: &[Self::Row], colour: bool) -> Table;
}

/// Prints the rows `each` gives (calling back once per row) as `listing` lays them out in
/// `format`; `none` when a table would be empty. Exports stream row by row; only the table
/// needs all rows at once (column widths).
pub fn print_list<L: Listing>(
    listing: &L,
    format: Format,
    none: &str,
    each: impl FnOnce(&mut dyn FnMut(L::Row) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    write_list(io::stdout().lock(), listing, format, none, each)
}

/// [`print_list`] into `out`.
pub fn write_list<L: Listing>(
    out: impl Write,
    listing: &L,
    format: Format,
    none: &str,
    each: impl FnOnce(&mut dyn FnMut(L::Row) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = io::BufWriter::new(out);
    match format {
        Format::Json => {
            let mut array = JsonArray::new(&mut out)?;
            each(&mut |row| Ok(array.push(&listing.json(&row))?))?;
            array.finish()?;
        }
        Format::Ndjson => each(&mut |row| Ok(ndjson(&mut out, &listing.json(&row))?))?,
        Format::Csv => {
            let mut csv = csv_writer(&mut out)?;
            csv.write_record(listing.csv_header())?;
            each(&mut |row| Ok(csv.write_record(listing.csv_record(&row))?))?;
            csv.flush()?;
        }
        Format::Table => {
            let mut rows = Vec::new();
            each(&mut |row| {
                rows.push(row);
                Ok(())
            })?;
            if rows.is_empty() {
                writeln!(out, "{none}")?;
            } else {
                let colour = colour();
                writeln!(out, "{}", styled(listing.table(&rows, colour), colour))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Deliveries as a table: `outbox` lists them with their times and calls (`full`), `show`
/// those of one call.
pub fn deliveries(first: &str, rows: &[Delivery], full: bool) -> Table {
    let mut header = vec![first, "Kind", "Target", "Status", "Tries"];
    if full {
        header.extend(["Queued", "Next / done", "Call ID"]);
    }
    header.push("Last error");
    let mut table = fitted(header);
    for d in rows {
        let mut row = vec![
            Cell::new(d.id),
            Cell::new(d.kind),
            Cell::new(terminal_safe(&d.target)),
            Cell::new(d.status),
            Cell::new(d.attempts),
        ];
        if full {
            let when = match (d.status, d.delivered_at) {
                (Status::Pending, _) => local_time(d.next_at),
                (_, Some(at)) => local_time(at),
                _ => String::new(),
            };
            row.extend([
                Cell::new(local_time(d.created_at)),
                Cell::new(when),
                Cell::new(&d.call_id),
            ]);
        }
        row.push(Cell::new(terminal_safe(
            d.last_error.as_deref().unwrap_or(""),
        )));
        table.add_row(row);
    }
    table
}

/// Writes one compact JSON object and a newline.
pub fn ndjson(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Colour only on a terminal, and not when NO_COLOR is set.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && io::stdout().is_terminal()
        && crate::platform::enable_ansi()
}

/// A status cell, coloured when `colour`.
pub fn status_cell(status: crate::log::call::Status, colour: bool) -> comfy_table::Cell {
    use crate::log::call::Status;
    use comfy_table::Color;
    let cell = comfy_table::Cell::new(status);
    if !colour {
        return cell;
    }
    cell.fg(match status {
        Status::Answered => Color::Green,
        Status::Missed => Color::Red,
        Status::Busy => Color::Yellow,
        Status::NoAnswer => Color::Magenta,
        Status::InProgress => Color::Cyan,
    })
}

/// The width tables with long text (doctor, outbox) fit in: the terminal's, else `COLUMNS`,
/// else 100 (a file, a pipe).
pub fn width() -> u16 {
    crate::platform::terminal_width()
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&w| w >= 40)
        .unwrap_or(100)
}

/// A table whose long cells wrap so that it fits in [`width`].
pub fn fitted<T: ToString>(header: impl IntoIterator<Item = T>) -> Table {
    let mut table = self::table(header);
    table
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(width());
    table
}

/// A table that is styled only when `colour` (comfy-table would ask the terminal itself).
pub fn styled(mut table: Table, colour: bool) -> Table {
    if colour {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// `1 call`, `2 calls`: a count with its noun.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
        // Invisible and layout characters.
        for (c, shown) in [
            ('\u{61c}', "\\u{61c}"),
            ('\u{200b}', "\\u{200b}"),
            ('\u{200c}', "\\u{200c}"),
            ('\u{200d}', "\\u{200d}"),
            ('\u{200e}', "\\u{200e}"),
            ('\u{200f}', "\\u{200f}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{feff}', "\\u{feff}"),
        ] {
            assert_eq!(
                terminal_safe(&format!("1{c}2")),
                format!("1{shown}2"),
                "{c:?}"
            );
        }
        // Paths stay readable.
        assert_eq!(terminal_safe("C:\\crm\\pop.exe"), "C:\\crm\\pop.exe");
    }

    #[test]
    fn caller_text_never_passes_for_an_escape() {
        assert_eq!(caller_safe("\\e[31m"), "\\\\e[31m");
        assert_eq!(caller_safe("\x1b[31m"), "\\e[31m");
        assert_ne!(caller_safe("\\e[31m"), caller_safe("\x1b[31m"));
        assert_ne!(caller_safe("\\u{202e}"), caller_safe("\u{202e}"));
        assert_eq!(caller_safe("a\\b"), "a\\\\b");
        assert_eq!(caller_safe("+4930 123"), "+4930 123");
        assert_eq!(caller_safe("x\u{200b}y"), "x\\u{200b}y");
    }

    #[test]
    fn csv_cells_cannot_be_formulas() {
        assert_eq!(csv_safe("+15551234567"), "'+15551234567");
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("-1+1"), "'-1+1");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("\tx"), "'\tx");
        assert_eq!(csv_safe("\rx"), "'\rx");
        assert_eq!(csv_safe("100"), "100");
        assert_eq!(csv_safe(""), "");
        // Semicolon locales split the text there.
        assert_eq!(csv_safe("1;=cmd|'/C calc'!A0;"), "1;'=cmd|'/C calc'!A0;");
        assert_eq!(csv_safe("+1;-2; \"@3"), "'+1;'-2;' \"@3");
        assert_eq!(csv_safe("Müller; Hans"), "Müller; Hans");
    }

    #[test]
    fn csv_cells_with_separators_are_quoted() {
        let mut out = Vec::new();
        let mut csv = csv_writer(&mut out).unwrap();
        csv.write_record([
            "1;=cmd|' /C calc'!A0;",
            "a,b",
            "say \"hi\"",
            "x\ny",
            "plain",
            "",
        ])
        .unwrap();
        csv.write_record([csv_safe("=1+1"), csv_safe("100")])
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\u{feff}\"1;=cmd|' /C calc'!A0;\",\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",plain,\r\n\
             '=1+1,100\r\n"
        );
    }

    #[test]
    fn json_arrays_stream() {
        let mut out = Vec::new();
        let mut array = JsonArray::new(&mut out).unwrap();
        array.push(&serde_json::json!({"a": 1})).unwrap();
        array.push(&serde_json::json!({"b": [1, 2]})).unwrap();
        array.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, serde_json::json!([{"a": 1}, {"b": [1, 2]}]));
        let mut empty = Vec::new();
        JsonArray::new(&mut empty).unwrap().finish().unwrap();
        assert_eq!(empty, b"[]\n");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0:00");
        assert_eq!(duration(65_999), "1:05");
        assert_eq!(duration(3_600_000 + 61_000), "1:01:01");
    }
}
