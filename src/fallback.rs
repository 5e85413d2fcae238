//! The fallback log: one JSON line per hook invocation that could not be stored normally, so
//! that no event is lost. It lives next to the database, or in the temp directory when that
//! cannot be written. `callhook replay` stores its events later.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths::FALLBACK_LOG;

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

/// Appends `entry`, next to the database when possible, else in the temp directory; returns
/// the file written, or `None` when neither could be.
pub fn append(db: Option<&Path>, entry: &Entry) -> Option<PathBuf> {
    let mut line = serde_json::to_string(entry).ok()?;
    line.push('\n');
    let first = path_for(db);
    if write_line(&first, &line).is_ok() {
        return Some(first);
    }
    let temp = temp_path();
    (temp != first && write_line(&temp, &line).is_ok()).then_some(temp)
}

fn write_line(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // One write of the whole line in append mode: lines from concurrent hooks do not mix.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let entry = Entry {
            time: "t".into(),
            at: 1,
            id: None,
            event: "end".into(),
            caller: "x".into(),
            caller_hex: None,
            truncated: false,
            host: "desk".into(),
            user: "reception".into(),
            db: None,
            stored: false,
            error: "e".into(),
        };
        let db = dir.path().join("new").join("calls.db");
        assert_eq!(
            append(Some(&db), &entry),
            Some(dir.path().join("new").join(FALLBACK_LOG))
        );
        append(Some(&db), &entry).unwrap();
        let text = std::fs::read_to_string(dir.path().join("new").join(FALLBACK_LOG)).unwrap();
        let lines: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].event, "end");
    }
}
