//! The fallback log: one JSON line per hook invocation that could not be stored normally, so
//! that no event is lost. It lives next to the database, or in the temp directory when that
//! cannot be written. The worker stores its events as soon as the database takes them again
//! (see `drain`), and `callhook replay` does so on demand.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::log::caller::{Caller, MAX_CALLER_BYTES};
use crate::log::event::EventKind;

/// One line of the fallback log. `time` comes first: every line starts with `{"time":"`, which
/// no caller text can put inside a line (its quotes are escaped), so that a line cut short (a
/// full disk) can be told from the one after it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The event time, RFC 3339.
    pub time: String,
    /// The event time, Unix milliseconds.
    pub at: i64,
    /// The id the event is stored under, so that it is stored once however often it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The event as given (possibly not a known one).
    pub event: String,
    /// The caller text, verbatim (lossy when the input was not valid Unicode).
    pub caller: String,
    /// The exact caller bytes in hex, when the input was not valid Unicode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_hex: Option<String>,
    /// The caller text was longer than the 1 KiB kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The computer and OS user that ran the hook.
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub user: String,
    /// The database the event is for; none when the config could not say which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    /// Whether the event reached the database anyway (e.g. stored with a default config).
    pub stored: bool,
    pub error: String,
}

/// The fallback log's file name, beside the database or in the temp directory.
pub const FALLBACK_LOG: &str = "callhook-fallback.log";

/// How every line starts (see [`Entry`]).
const LINE_START: &[u8] = b"{\"time\":\"";

/// Lines longer than this are not a callhook's (a whole entry with 1 KiB of caller text
/// escaped as `\u0000` stays far below): they are rejected, and only this much of them kept.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest host or user name taken from a line.
const MAX_NAME_BYTES: usize = 256;

/// Where the fallback log for a database lives.
pub fn path_for(db: Option<&Path>) -> PathBuf {
    match db
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    {
        Some(dir) => dir.join(FALLBACK_LOG),
        None => temp_path(),
    }
}

pub fn temp_path() -> PathBuf {
    std::env::temp_dir().join(FALLBACK_LOG)
}

/// The logs of `db`, in the order a hook writes to them: the one beside it, then the temp
/// directory's (events for `db` may be in either).
pub fn logs_for(db: Option<&Path>) -> Vec<PathBuf> {
    let mut logs = vec![path_for(db)];
    if logs[0] != temp_path() {
        logs.push(temp_path());
    }
    logs
}

/// Appends `entry`, next to the database when possible, else in the temp directory; returns
/// the file written, or `None` when neither could be.
pub fn append(db: Option<&Path>, entry: &Entry) -> Option<PathBuf> {
    let mut line = serde_json::to_vec(entry).ok()?;
    line.push(b'\n');
    logs_for(db)
        .into_iter()
        .find(|log| append_line(log, &line).is_ok())
}

/// Appends one line (its newline included) in one write: lines from concurrent hooks do not
/// mix.
pub fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        // The temp directory may be shared: never follow a link another user put there.
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)?.write_all(line)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A line of a log, read.
#[derive(Debug)]
pub enum Line {
    /// An entry that parses, with the exact line (for writing it back elsewhere).
    Entry(Box<Entry>, Vec<u8>),
    /// Anything else: the bytes (at most [`MAX_LINE_BYTES`]) and why.
    Bad(Vec<u8>, String),
}

/// Reads a log line by line, never more than [`MAX_LINE_BYTES`] of a line at once. A line that
/// another ran into (the first was cut short by a full disk) is split where the second starts.
pub fn read_lines(reader: impl BufRead) -> impl Iterator<Item = std::io::Result<Line>> {
    let mut lines = RawLines { reader };
    let mut pending: std::vec::IntoIter<Line> = Vec::new().into_iter();
    std::iter::from_fn(move || {
        loop {
            if let Some(line) = pending.next() {
                return Some(Ok(line));
            }
            match lines.next()? {
                Ok(raw) => pending = parse_raw(raw).into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    })
}

/// One raw line: its bytes (without the newline), or why it is too long.
enum RawLine {
    Bytes(Vec<u8>),
    TooLong(Vec<u8>),
}

struct RawLines<R> {
    reader: R,
}

impl<R: BufRead> RawLines<R> {
    fn next(&mut self) -> Option<std::io::Result<RawLine>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if buffer.is_empty() {
                // The end: a last line without its newline (cut short) counts as a line.
                return match (line.is_empty(), too_long) {
                    (true, false) => None,
                    (_, true) => Some(Ok(RawLine::TooLong(line))),
                    (false, false) => Some(Ok(RawLine::Bytes(line))),
                };
            }
            let (used, done) = match buffer.iter().position(|&b| b == b'\n') {
                Some(end) => (end + 1, true),
                None => (buffer.len(), false),
            };
            let content = &buffer[..if done { used - 1 } else { used }];
            let room = MAX_LINE_BYTES.saturating_sub(line.len());
            line.extend_from_slice(&content[..content.len().min(room)]);
            too_long |= content.len() > room;
            self.reader.consume(used);
            if done {
                return Some(Ok(if too_long {
                    RawLine::TooLong(line)
                } else {
                    RawLine::Bytes(line)
                }));
            }
        }
    }
}

fn parse_raw(raw: RawLine) -> Vec<Line> {
    let bytes = match raw {
        RawLine::TooLong(bytes) => {
            return vec![Line::Bad(
                bytes,
                format!("longer than {MAX_LINE_BYTES} bytes"),
            )];
        }
        RawLine::Bytes(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => return Vec::new(),
        RawLine::Bytes(bytes) => bytes,
    };
    // Where entries start; text before the first is a cut line's rest.
    let mut starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(LINE_START))
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(bytes.len());
            parse_one(bytes[start..end].to_vec())
        })
        .collect()
}

fn parse_one(bytes: Vec<u8>) -> Line {
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(_) => return Line::Bad(bytes, "not UTF-8 text".into()),
    };
    match serde_json::from_str::<Entry>(text.trim_end()) {
        Ok(entry) => Line::Entry(Box::new(entry), bytes),
        Err(e) => {
            let why = if bytes.starts_with(LINE_START) {
                format!("cut short, or not a fallback entry ({e})")
            } else {
                format!("not a fallback entry ({e})")
            };
            Line::Bad(bytes, why)
        }
    }
}

/// An entry's event as it can be stored, with every field capped as the hook caps it.
#[derive(Debug)]
pub struct Checked {
    pub kind: EventKind,
    pub at: i64,
    /// The entry's id, when it is one that event time makes (else the event gets a new one).
    pub id: Option<String>,
    pub caller: Caller,
    pub host: String,
    pub user: String,
}

impl Entry {
    /// Checks what a line says before anything of it is stored: a known event, a sane time,
    /// the caller at most 1 KiB (cut and flagged as the hook does), names cut at 256 bytes.
    pub fn check(&self) -> Result<Checked, String> {
        let kind: EventKind = self.event.parse().map_err(|e| format!("{e}"))?;
        let at = crate::log::event::check_time(self.at)?;
        let mut caller = match self.caller_hex.as_deref() {
            Some(hex) => {
                let bytes = unhex(hex).ok_or("caller_hex is not hex")?;
                Caller {
                    bytes: Some(bytes[..bytes.len().min(MAX_CALLER_BYTES)].to_vec()),
                    truncated: bytes.len() > MAX_CALLER_BYTES,
                    ..Caller::from_text(&self.caller)
                }
            }
            None => Caller::from_text(&self.caller),
        };
        caller.truncated |= self.truncated;
        let id = self
            .id
            .as_deref()
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .filter(|id| {
                id.get_version_num() == 7
                    && id
                        .get_timestamp()
                        .map(|t| t.to_unix())
                        .is_some_and(|(s, ns)| s as i64 * 1000 + ns as i64 / 1_000_000 == at)
            })
            .map(|id| id.hyphenated().to_string());
        Ok(Checked {
            kind,
            at,
            id,
            caller,
            host: cap(&self.host, MAX_NAME_BYTES),
            user: cap(&self.user, MAX_NAME_BYTES),
        })
    }

    /// Whether the entry is for the database `db` (or says for none).
    pub fn is_for(&self, db: &Path) -> bool {
        match self.db.as_deref() {
            None => true,
            Some(entry_db) => same_file(Path::new(entry_db), db),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

fn cap(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// What a log holds for one database, for `doctor`: read, not changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Events not in the database that a drain would store.
    pub waiting: usize,
    /// Lines that cannot be stored (not an entry, an unknown event, a time out of range).
    pub bad: usize,
    /// Events for other databases.
    pub other: usize,
}

/// Counts what a log holds for `db`; `in_db` tells whether an entry's event is stored already.
pub fn census(
    path: &Path,
    db: &Path,
    mut in_db: impl FnMut(&Checked) -> bool,
) -> std::io::Result<Census> {
    let file = std::fs::File::open(path)?;
    let mut census = Census::default();
    for line in read_lines(std::io::BufReader::new(file)) {
        match line? {
            Line::Bad(..) => census.bad += 1,
            Line::Entry(entry, _) if !entry.is_for(db) => census.other += 1,
            Line::Entry(entry, _) => match entry.check() {
                Err(_) => census.bad += 1,
                Ok(_) if entry.stored => {}
                Ok(checked) => census.waiting += usize::from(!in_db(&checked)),
            },
        }
    }
    Ok(census)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str, caller: &str) -> Entry {
        let at = 1_795_600_800_000;
        Entry {
            time: crate::log::call::rfc3339(at),
            at,
            id: Some(crate::log::fold::event_id(at)),
            event: event.into(),
            caller: caller.into(),
            caller_hex: None,
            truncated: false,
            host: "desk".into(),
            user: "reception".into(),
            db: None,
            stored: false,
            error: "e".into(),
        }
    }

    fn line(entry: &Entry) -> Vec<u8> {
        let mut line = serde_json::to_vec(entry).unwrap();
        line.push(b'\n');
        line
    }

    fn read(bytes: &[u8]) -> Vec<Line> {
        read_lines(bytes).map(Result::unwrap).collect()
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(b"\x00a\xff"), "0061ff");
        assert_eq!(unhex("0061ff").unwrap(), b"\x00a\xff");
        assert!(unhex("0g").is_none());
        assert!(unhex("abc").is_none());
    }

    #[test]
    fn lines_go_next_to_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let entry = entry("end", "x");
        let db = dir.path().join("new").join("calls.db");
        assert_eq!(
            append(Some(&db), &entry),
            Some(dir.path().join("new").join(FALLBACK_LOG))
        );
        append(Some(&db), &entry).unwrap();
        let text = std::fs::read(dir.path().join("new").join(FALLBACK_LOG)).unwrap();
        let lines = read(&text);
        assert_eq!(lines.len(), 2);
        assert!(matches!(&lines[1], Line::Entry(e, _) if e.event == "end"));
    }

    #[test]
    fn every_line_starts_with_the_time() {
        let text = line(&entry("end", "{\"time\":\"x"));
        assert!(text.starts_with(LINE_START));
        // A caller cannot fake a line start inside a line.
        assert_eq!(
            text.windows(LINE_START.len())
                .filter(|w| *w == LINE_START)
                .count(),
            1
        );
    }

    #[test]
    fn bad_lines_never_hide_good_ones() {
        let good = line(&entry("ring", "1 & 2"));
        let mut log = Vec::new();
        // A line cut short by a full disk, then a good one written after it on the same line.
        log.extend_from_slice(&good[..40]);
        log.extend_from_slice(&good);
        log.extend_from_slice(b"not json\n");
        log.extend_from_slice(b"{\"time\":\"\xff\xfe\"}\n");
        log.extend_from_slice(&vec![b'x'; MAX_LINE_BYTES + 10]);
        log.push(b'\n');
        log.extend_from_slice(b"\n  \n");
        log.extend_from_slice(&good);
        // The last line, cut short with no newline.
        log.extend_from_slice(&good[..30]);
        let lines = read(&log);
        let kinds: Vec<&str> = lines
            .iter()
            .map(|l| match l {
                Line::Entry(..) => "entry",
                Line::Bad(..) => "bad",
            })
            .collect();
        assert_eq!(kinds, ["bad", "entry", "bad", "bad", "bad", "entry", "bad"]);
        match &lines[4] {
            Line::Bad(bytes, why) => {
                assert_eq!(bytes.len(), MAX_LINE_BYTES);
                assert!(why.contains("longer than"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        match &lines[1] {
            Line::Entry(_, bytes) => assert_eq!(bytes.as_slice(), &good[..good.len() - 1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn entries_are_checked_and_capped() {
        let mut e = entry("end", &"9".repeat(5000));
        e.host = "h".repeat(1000);
        let checked = e.check().unwrap();
        assert_eq!(checked.caller.text.len(), MAX_CALLER_BYTES);
        assert!(checked.caller.truncated);
        assert_eq!(checked.host.len(), 256);
        assert_eq!(checked.id, e.id);

        let mut e = entry("end", "1");
        e.id = Some("not-an-id".into());
        assert_eq!(e.check().unwrap().id, None);
        // An id of another time is not taken either.
        e.id = Some(crate::log::fold::event_id(e.at + 5));
        assert_eq!(e.check().unwrap().id, None);

        assert!(
            entry("hangup", "1")
                .check()
                .unwrap_err()
                .contains("unknown event")
        );
        for at in [0, -5, 1 << 48, i64::MAX] {
            let mut e = entry("end", "1");
            e.at = at;
            assert!(e.check().unwrap_err().contains("2000-01-01"), "{at}");
        }
        let mut e = entry("end", "x");
        e.caller_hex = Some("zz".into());
        assert!(e.check().is_err());
        e.caller_hex = Some(hex(&vec![0xff; 3000]));
        let checked = e.check().unwrap();
        assert_eq!(checked.caller.bytes.unwrap().len(), MAX_CALLER_BYTES);
        assert!(checked.caller.truncated);
    }
}
