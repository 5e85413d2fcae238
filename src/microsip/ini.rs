//! An editor for microsip.ini that changes nothing but the keys it sets.
//!
//! The file belongs to the user and to MicroSIP: it is kept as lines of raw code units in its
//! own encoding, so that an unedited file is written back byte for byte, and an edit touches one
//! line. Lookups follow the Windows profile functions (as Wine reimplements them), because
//! MicroSIP reads the file through `GetPrivateProfileString`: lines split at LF, whitespace
//! around names and values ignored, section and key names compared without case, only the
//! first section of a name searched, the first matching key winning.

use std::ops::Range;

/// How the file's text is stored on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// UTF-16LE after an FF FE byte-order mark: what MicroSIP writes.
    Utf16Le,
    /// UTF-8 after an EF BB BF byte-order mark (hand-edited files).
    Utf8Bom,
    /// No byte-order mark: the Windows ANSI code page, which is unknown here, so bytes above
    /// 0x7F are kept as they are and read as the Latin-1 character of the same value.
    Ansi,
}

/// The line ending written after lines this editor adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    CrLf,
    Lf,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    #[error("the ini file is marked UTF-16 but has an odd number of bytes ({len})")]
    OddLength { len: usize },
    #[error("the ini file is marked UTF-8 but has invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    #[error("the ini file is UTF-16 big-endian, which MicroSIP never writes; save it as UTF-16LE")]
    Utf16BigEndian,
    #[error(
        "the ini file has a NUL byte at offset {offset} but no byte-order mark \
         (UTF-16 without a BOM?); refusing to edit it as ANSI text"
    )]
    NulInAnsi { offset: usize },
    #[error(
        "the {what} {text:?} has non-ASCII characters, which cannot be written to an ANSI \
         ini file (its code page is unknown)"
    )]
    NotAnsi { what: &'static str, text: String },
    #[error("invalid {what} {text:?}: {reason}")]
    Invalid {
        what: &'static str,
        text: String,
        reason: &'static str,
    },
}

const LF: u32 = b'\n' as u32;
const CR: u32 = b'\r' as u32;

/// One line: its code units (UTF-16 units, Unicode scalar values or bytes, by encoding),
/// without its line ending. Only the last line may lack one.
#[derive(Clone, Debug)]
struct Line {
    text: Vec<u32>,
    eol: Option<LineEnding>,
    /// A section header this editor appended: removing its last key removes it too, so that
    /// `set` then `remove` leaves the file as it was.
    added_section: bool,
}

/// What a line means to the profile functions; ranges index the line's units.
enum Kind {
    Blank,
    Comment,
    Section {
        name: Range<usize>,
    },
    Key {
        key: Range<usize>,
        /// `None` for a line without `=`: Windows reads it as a key with an empty value.
        value: Option<Range<usize>>,
    },
}

/// microsip.ini as the lines of its original text, in its original encoding.
#[derive(Clone, Debug)]
pub struct Ini {
    encoding: Encoding,
    lines: Vec<Line>,
}

impl Ini {
    /// An empty file, as written to disk by `to_bytes` (just the byte-order mark, if any).
    pub fn new(encoding: Encoding) -> Ini {
        Ini {
            encoding,
            lines: Vec::new(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Ini, IniError> {
        let (encoding, units): (Encoding, Vec<u32>) =
            if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE]) {
                if body.len() % 2 != 0 {
                    return Err(IniError::OddLength { len: bytes.len() });
                }
                let units = body
                    .chunks_exact(2)
                    .map(|pair| u32::from(u16::from_le_bytes([pair[0], pair[1]])))
                    .collect();
                (Encoding::Utf16Le, units)
            } else if bytes.starts_with(&[0xFE, 0xFF]) {
                return Err(IniError::Utf16BigEndian);
            } else if let Some(body) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
                let text = std::str::from_utf8(body).map_err(|e| IniError::InvalidUtf8 {
                    offset: 3 + e.valid_up_to(),
                })?;
                (Encoding::Utf8Bom, text.chars().map(u32::from).collect())
            } else {
                if let Some(offset) = bytes.iter().position(|&b| b == 0) {
                    return Err(IniError::NulInAnsi { offset });
                }
                (
                    Encoding::Ansi,
                    bytes.iter().map(|&b| u32::from(b)).collect(),
                )
            };
        Ok(Ini {
            encoding,
            lines: split_lines(&units),
        })
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The ending of the file's first line that has one; CRLF (MicroSIP's) when none has.
    pub fn line_ending(&self) -> LineEnding {
        self.lines
            .iter()
            .find_map(|line| line.eol)
            .unwrap_or(LineEnding::CrLf)
    }

    /// The value of `key` in `section`, trimmed of surrounding whitespace, quotes kept.
    /// `Some("")` for a key line without `=`, which Windows reads as an empty value.
    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        let index = self.find_key(section, key)?;
        let line = &self.lines[index];
        match classify(&line.text) {
            Kind::Key {
                value: Some(value), ..
            } => Some(self.decode(&line.text[value])),
            _ => Some(String::new()),
        }
    }

    /// The whole line of `key` in `section` (the one Windows reads) as the file's code units,
    /// without its line ending: what [`Ini::restore_line`] puts back exactly, whatever it holds
    /// (high ANSI bytes of an unknown code page, unpaired UTF-16 surrogates, a line without `=`).
    pub fn line_units(&self, section: &str, key: &str) -> Option<Vec<u32>> {
        let index = self.find_key(section, key)?;
        Some(self.lines[index].text.clone())
    }

    /// Replaces the line of `key` in `section` by `units`, a line [`Ini::line_units`] gave for
    /// that key in a file of this encoding, so that the file has the bytes it had then. The line
    /// ending stays. Refused (and nothing changes) unless the key is there and the units are
    /// one line of this encoding that reads as the same key.
    pub fn restore_line(
        &mut self,
        section: &str,
        key: &str,
        units: &[u32],
    ) -> Result<(), IniError> {
        let text = String::from_utf16_lossy(&units.iter().map(|&u| u as u16).collect::<Vec<_>>());
        let bad = |reason| invalid("line", &text, reason);
        let fits = |u: u32| match self.encoding {
            Encoding::Utf16Le => u <= 0xFFFF,
            Encoding::Ansi => (1..=0xFF).contains(&u),
            Encoding::Utf8Bom => char::from_u32(u).is_some_and(|c| c != '\0'),
        };
        if !units.iter().all(|&u| fits(u)) {
            return Err(bad("has code units this file's encoding cannot hold"));
        }
        if units.contains(&LF) {
            return Err(bad("contains a line break"));
        }
        match classify(units) {
            Kind::Key { key: name, .. } if same_name(&self.decode(&units[name.clone()]), key) => {}
            _ => return Err(bad("does not read as the key it replaces")),
        }
        let Some(index) = self.find_key(section, key) else {
            return Err(invalid("key", key, "is not in the file"));
        };
        self.lines[index].text = units.to_vec();
        Ok(())
    }

    /// Windows reads a file without a UTF-16 byte-order mark as ANSI, so a UTF-8 mark is three
    /// junk characters at the start of the first line, and a section header there is no header
    /// to MicroSIP: the name of that section, when the file has a UTF-8 mark and its first line
    /// is one.
    pub fn section_hidden_by_bom(&self) -> Option<String> {
        if self.encoding != Encoding::Utf8Bom {
            return None;
        }
        let first = self.lines.first()?;
        match classify(&first.text) {
            Kind::Section { name } => Some(self.decode(&first.text[name])),
            _ => None,
        }
    }

    /// Whether a section of that name exists (an empty one counts).
    pub fn has_section(&self, section: &str) -> bool {
        self.section_range(section).is_some()
    }

    /// The names of all section headers, in file order, repeated ones included.
    pub fn sections(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|line| match classify(&line.text) {
                Kind::Section { name } => Some(self.decode(&line.text[name])),
                _ => None,
            })
            .collect()
    }

    /// Every key line of `section` (its first occurrence, the one Windows reads) as
    /// `(key, value)` in file order, repeated keys included; empty if the section is missing.
    pub fn entries(&self, section: &str) -> Vec<(String, String)> {
        let Some((header, end)) = self.section_range(section) else {
            return Vec::new();
        };
        self.lines[header + 1..end]
            .iter()
            .filter_map(|line| match classify(&line.text) {
                Kind::Key { key, value } => Some((
                    self.decode(&line.text[key]),
                    value.map_or_else(String::new, |v| self.decode(&line.text[v])),
                )),
                _ => None,
            })
            .collect()
    }

    /// Sets `key` in `section` to `value`: in place when the key exists (only the value's
    /// text changes), else as a new last key line of the section, else in a new section at
    /// the end of the file. The value is written as given, so quotes are the caller's.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> Result<(), IniError> {
        check_name("section", section, b"]")?;
        check_name("key", key, b"=")?;
        if matches!(key.as_bytes()[0], b'[' | b';' | b'#') {
            return Err(invalid(
                "key",
                key,
                "would be read as a section header or a comment",
            ));
        }
        check_value(value)?;
        let section_units = self.encode("section", section)?;
        let key_units = self.encode("key", key)?;
        let value_units = self.encode("value", value)?;

        if let Some(index) = self.find_key(section, key) {
            let line = &mut self.lines[index];
            let (at, insert) = match classify(&line.text) {
                Kind::Key {
                    value: Some(old), ..
                } => (old, value_units),
                _ => {
                    let end = trimmed(&line.text).end;
                    let mut insert = vec![u32::from(b'=')];
                    insert.extend(value_units);
                    (end..end, insert)
                }
            };
            line.text.splice(at, insert);
            return Ok(());
        }

        let mut text = key_units;
        text.push(u32::from(b'='));
        text.extend(value_units);
        if let Some((header, end)) = self.section_range(section) {
            let after = (header + 1..end)
                .rev()
                .find(|&i| matches!(classify(&self.lines[i].text), Kind::Key { .. }))
                .unwrap_or(header);
            self.insert_line(after + 1, text, false);
        } else {
            let mut header = vec![u32::from(b'[')];
            header.extend(section_units);
            header.push(u32::from(b']'));
            self.insert_line(self.lines.len(), header, true);
            self.insert_line(self.lines.len(), text, false);
        }
        Ok(())
    }

    /// Removes the line of `key` in `section` (the first one, as Windows reads), with its line
    /// ending. Returns whether there was one.
    pub fn remove(&mut self, section: &str, key: &str) -> bool {
        let Some(index) = self.find_key(section, key) else {
            return false;
        };
        self.remove_line(index);
        if let Some((header, end)) = self.section_range(section)
            && self.lines[header].added_section
            && end == header + 1
        {
            self.remove_line(header);
        }
        true
    }

    /// Removes the header of `section` if no line follows it within the section (after its
    /// keys were removed, say). Returns whether it did.
    pub fn remove_empty_section(&mut self, section: &str) -> bool {
        match self.section_range(section) {
            Some((header, end)) if end == header + 1 => {
                self.remove_line(header);
                true
            }
            _ => false,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.encoding {
            Encoding::Utf16Le => out.extend_from_slice(&[0xFF, 0xFE]),
            Encoding::Utf8Bom => out.extend_from_slice(&[0xEF, 0xBB, 0xBF]),
            Encoding::Ansi => {}
        }
        for line in &self.lines {
            for &unit in &line.text {
                self.write_unit(&mut out, unit);
            }
            match line.eol {
                Some(LineEnding::CrLf) => {
                    self.write_unit(&mut out, CR);
                    self.write_unit(&mut out, LF);
                }
                Some(LineEnding::Lf) => self.write_unit(&mut out, LF),
                None => {}
            }
        }
        out
    }

    fn write_unit(&self, out: &mut Vec<u8>, unit: u32) {
        match self.encoding {
            // Units came from u16 values, u8 values or chars, so the casts are exact.
            Encoding::Utf16Le => out.extend_from_slice(&(unit as u16).to_le_bytes()),
            Encoding::Ansi => out.push(unit as u8),
            Encoding::Utf8Bom => {
                let c = char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
    }

    fn decode(&self, units: &[u32]) -> String {
        match self.encoding {
            Encoding::Utf16Le => char::decode_utf16(units.iter().map(|&u| u as u16))
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
            Encoding::Utf8Bom | Encoding::Ansi => units
                .iter()
                .map(|&u| char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        }
    }

    fn encode(&self, what: &'static str, text: &str) -> Result<Vec<u32>, IniError> {
        match self.encoding {
            Encoding::Utf16Le => Ok(text.encode_utf16().map(u32::from).collect()),
            Encoding::Utf8Bom => Ok(text.chars().map(u32::from).collect()),
            Encoding::Ansi if text.is_ascii() => Ok(text.bytes().map(u32::from).collect()),
            Encoding::Ansi => Err(IniError::NotAnsi {
                what,
                text: text.to_owned(),
            }),
        }
    }

    /// The header line index of the first section named `section`, and the index where its
    /// lines end (the next header, or the end of the file).
    fn section_range(&self, section: &str) -> Option<(usize, usize)> {
        let header = self
            .lines
            .iter()
            .position(|line| match classify(&line.text) {
                Kind::Section { name } => {
                    !name.is_empty() && same_name(&self.decode(&line.text[name]), section)
                }
                _ => false,
            })?;
        let end = self.lines[header + 1..]
            .iter()
            .position(|line| matches!(classify(&line.text), Kind::Section { .. }))
            .map_or(self.lines.len(), |i| header + 1 + i);
        Some((header, end))
    }

    fn find_key(&self, section: &str, key: &str) -> Option<usize> {
        let (header, end) = self.section_range(section)?;
        (header + 1..end).find(|&i| {
            let line = &self.lines[i];
            match classify(&line.text) {
                Kind::Key { key: name, .. } => same_name(&self.decode(&line.text[name]), key),
                _ => false,
            }
        })
    }

    /// Inserts a line before `index`. At the end of a file whose last line has no ending, that
    /// line gets one and the new line goes without, so `remove_line` can undo it exactly.
    fn insert_line(&mut self, index: usize, text: Vec<u32>, added_section: bool) {
        let eol = self.line_ending();
        let mut line = Line {
            text,
            eol: Some(eol),
            added_section,
        };
        if index == self.lines.len()
            && let Some(last) = self.lines.last_mut()
            && last.eol.is_none()
        {
            last.eol = Some(eol);
            line.eol = None;
        }
        self.lines.insert(index, line);
    }

    /// Removes a line with its ending; the last line, which has none, takes the ending of the
    /// line before it along (the inverse of `insert_line`).
    fn remove_line(&mut self, index: usize) {
        let line = self.lines.remove(index);
        if line.eol.is_none() && index > 0 {
            self.lines[index - 1].eol = None;
        }
    }
}

fn split_lines(units: &[u32]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut rest = units;
    while !rest.is_empty() {
        let (text, eol, next) = match rest.iter().position(|&u| u == LF) {
            Some(lf) if lf > 0 && rest[lf - 1] == CR => {
                (&rest[..lf - 1], Some(LineEnding::CrLf), &rest[lf + 1..])
            }
            Some(lf) => (&rest[..lf], Some(LineEnding::Lf), &rest[lf + 1..]),
            None => (rest, None, &rest[rest.len()..]),
        };
        lines.push(Line {
            text: text.to_vec(),
            eol,
            added_section: false,
        });
        rest = next;
    }
    lines
}

/// The whitespace the profile functions skip around names and values (Wine's list, ASCII
/// part): space, tab, CR, LF, VT, FF and the DOS end-of-file mark ^Z.
fn is_space(unit: u32) -> bool {
    matches!(unit, 0x20 | 0x09..=0x0D | 0x1A)
}

fn trimmed(text: &[u32]) -> Range<usize> {
    let start = text
        .iter()
        .position(|&u| !is_space(u))
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|&u| !is_space(u))
        .map_or(start, |i| i + 1);
    start..end
}

fn classify(text: &[u32]) -> Kind {
    let Range { start, end } = trimmed(text);
    if start == end {
        return Kind::Blank;
    }
    let first = text[start];
    if first == u32::from(b'[')
        && let Some(close) = text[start + 1..end]
            .iter()
            .rposition(|&u| u == u32::from(b']'))
    {
        return Kind::Section {
            name: start + 1..start + 1 + close,
        };
    }
    if first == u32::from(b';') || first == u32::from(b'#') {
        return Kind::Comment;
    }
    match text[start..end].iter().position(|&u| u == u32::from(b'=')) {
        Some(eq) => {
            let eq = start + eq;
            let key_end = text[start..eq]
                .iter()
                .rposition(|&u| !is_space(u))
                .map_or(start, |i| start + i + 1);
            let value_start = text[eq + 1..end]
                .iter()
                .position(|&u| !is_space(u))
                .map_or(end, |i| eq + 1 + i);
            Kind::Key {
                key: start..key_end,
                value: Some(value_start..end),
            }
        }
        None => Kind::Key {
            key: start..end,
            value: None,
        },
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

fn is_space_char(c: char) -> bool {
    is_space(u32::from(c))
}

fn invalid(what: &'static str, text: &str, reason: &'static str) -> IniError {
    IniError::Invalid {
        what,
        text: text.to_owned(),
        reason,
    }
}

/// Names must read back as written: no line breaks, no surrounding whitespace, and not the
/// character that ends them.
fn check_name(what: &'static str, name: &str, forbidden: &[u8]) -> Result<(), IniError> {
    if name.is_empty() {
        return Err(invalid(what, name, "is empty"));
    }
    if name.starts_with(is_space_char) || name.ends_with(is_space_char) {
        return Err(invalid(what, name, "starts or ends with whitespace"));
    }
    if name.contains(['\r', '\n', '\0']) {
        return Err(invalid(what, name, "contains a line break or NUL"));
    }
    if name.bytes().any(|b| forbidden.contains(&b)) {
        return Err(invalid(
            what,
            name,
            "contains a character that would end it early",
        ));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), IniError> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(invalid("value", value, "contains a line break or NUL"));
    }
    if value.starts_with(is_space_char) || value.ends_with(is_space_char) {
        return Err(invalid(
            "value",
            value,
            "starts or ends with whitespace, which would be lost when read back",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTF16_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/microsip/microsip-utf16le.ini");
    const UTF8_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/microsip/microsip-utf8bom.ini");
    const ANSI_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/microsip/microsip-ansi.ini");
    const HOOKED_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/microsip/microsip-with-hooks-utf16le.ini");
    const NO_SETTINGS_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/microsip/microsip-no-settings-utf16le.ini");
    const ANSI_EARLIER_HOOKS_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/microsip/microsip-ansi-earlier-hooks.ini");
    const UTF16_EARLIER_HOOKS_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/microsip/microsip-utf16le-earlier-hooks.ini");
    const UTF8_COMMENT_FIRST_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/microsip/microsip-utf8bom-comment-first.ini");

    fn utf16(text: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        out
    }

    fn utf16_units(units: &[u16]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        for unit in units {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        out
    }

    fn utf8(text: &str) -> Vec<u8> {
        let mut out = vec![0xEF, 0xBB, 0xBF];
        out.extend_from_slice(text.as_bytes());
        out
    }

    fn round_trip(bytes: &[u8]) -> Ini {
        let ini = Ini::parse(bytes).unwrap();
        assert_eq!(
            ini.to_bytes(),
            bytes,
            "parse then to_bytes changed the file"
        );
        ini
    }

    /// `set` of an absent key then `remove` gives the original bytes back, and `set` of a
    /// present key then `set` of its old value too.
    fn assert_reversible(bytes: &[u8], section: &str, key: &str, value: &str) {
        let mut ini = Ini::parse(bytes).unwrap();
        match ini.get(section, key) {
            None => {
                ini.set(section, key, value).unwrap();
                assert_eq!(ini.get(section, key).as_deref(), Some(value));
                assert_ne!(ini.to_bytes(), bytes);
                assert!(ini.remove(section, key));
                assert_eq!(
                    ini.to_bytes(),
                    bytes,
                    "set then remove of {key} changed the file"
                );
                assert_eq!(ini.get(section, key), None);
            }
            Some(old) => {
                ini.set(section, key, value).unwrap();
                assert_eq!(ini.get(section, key).as_deref(), Some(value));
                ini.set(section, key, &old).unwrap();
                assert_eq!(ini.to_bytes(), bytes, "set back of {key} changed the file");
            }
        }
    }

    const HOOK: &str = r#"""C:\Program Files\callhook\callhookw.exe" event end --""#;

    #[test]
    fn fixtures_round_trip_in_every_encoding() {
        for (bytes, encoding) in [
            (UTF16_FIXTURE, Encoding::Utf16Le),
            (UTF8_FIXTURE, Encoding::Utf8Bom),
            (ANSI_FIXTURE, Encoding::Ansi),
            (HOOKED_FIXTURE, Encoding::Utf16Le),
            (NO_SETTINGS_FIXTURE, Encoding::Utf16Le),
            (ANSI_EARLIER_HOOKS_FIXTURE, Encoding::Ansi),
            (UTF16_EARLIER_HOOKS_FIXTURE, Encoding::Utf16Le),
            (UTF8_COMMENT_FIRST_FIXTURE, Encoding::Utf8Bom),
        ] {
            let ini = round_trip(bytes);
            assert_eq!(ini.encoding(), encoding);
        }
    }

    #[test]
    fn earlier_hook_lines_of_the_fixtures_come_back_exactly() {
        let ini = Ini::parse(ANSI_EARLIER_HOOKS_FIXTURE).unwrap();
        assert_eq!(
            ini.get("Settings", "cmdCallEnd").as_deref(),
            Some("C:\\Programme\\Büro\\notify.exe")
        );
        assert_eq!(ini.get("Settings", "cmdCallRing").as_deref(), Some(""));
        for key in [
            "cmdCallEnd",
            "cmdIncomingCall",
            "cmdCallRing",
            "cmdCallStart",
        ] {
            assert_line_restores(ANSI_EARLIER_HOOKS_FIXTURE, "Settings", key);
        }
        let ini = Ini::parse(UTF16_EARLIER_HOOKS_FIXTURE).unwrap();
        assert_eq!(
            ini.get("Settings", "cmdCallEnd").as_deref(),
            Some("C:\\crm\\\u{FFFD}x\u{FFFD}.exe")
        );
        for key in ["cmdCallEnd", "cmdCallStart", "cmdCallBusy"] {
            assert_line_restores(UTF16_EARLIER_HOOKS_FIXTURE, "Settings", key);
        }
    }

    #[test]
    fn fixtures_read_like_microsip() {
        let ini = Ini::parse(UTF16_FIXTURE).unwrap();
        assert_eq!(ini.line_ending(), LineEnding::CrLf);
        assert_eq!(ini.get("Settings", "callsLastKey").as_deref(), Some("4"));
        assert_eq!(ini.get("settings", "CALLSLASTKEY").as_deref(), Some("4"));
        assert_eq!(ini.get("Settings", "cmdCallEnd").as_deref(), Some(""));
        assert_eq!(
            ini.get("Account1", "displayName").as_deref(),
            Some("Zoë Müller")
        );
        assert_eq!(ini.get("Settings", "nope"), None);
        assert_eq!(ini.get("Nope", "callsLastKey"), None);
        assert_eq!(ini.sections(), ["Settings", "Account1", "Calls"]);

        let ini = Ini::parse(UTF8_FIXTURE).unwrap();
        assert_eq!(
            ini.get("Account1", "displayName").as_deref(),
            Some("Zoë Müller")
        );

        let ini = Ini::parse(ANSI_FIXTURE).unwrap();
        assert_eq!(ini.line_ending(), LineEnding::CrLf);
        // 0xEB is ë in Windows-1252 and in Latin-1.
        assert_eq!(ini.get("Account1", "displayName").as_deref(), Some("Zoë"));

        let ini = Ini::parse(HOOKED_FIXTURE).unwrap();
        assert_eq!(
            ini.get("Settings", "cmdCallEnd").as_deref(),
            Some(r#""C:\Program Files\callhook\callhookw.exe" event end --"#)
        );
        assert_eq!(
            ini.get("Settings", "cmdIncomingCall").as_deref(),
            Some(r#"""C:\Program Files\callhook\callhookw.exe" event incoming --""#)
        );
    }

    #[test]
    fn hook_keys_are_reversible_in_every_fixture() {
        let keys = [
            "cmdIncomingCall",
            "cmdCallRing",
            "cmdOutgoingCall",
            "cmdCallAnswer",
            "cmdCallAnswerVideo",
            "cmdCallStart",
            "cmdCallBusy",
            "cmdCallEnd",
            "brandNewKey",
        ];
        for bytes in [
            UTF16_FIXTURE,
            UTF8_FIXTURE,
            ANSI_FIXTURE,
            HOOKED_FIXTURE,
            NO_SETTINGS_FIXTURE,
        ] {
            for key in keys {
                assert_reversible(bytes, "Settings", key, HOOK);
                assert_reversible(bytes, "Settings", key, "x");
                assert_reversible(bytes, "NewSection", key, HOOK);
            }
            assert_reversible(bytes, "Calls", "5", "100;Bob;1;1700000000;3;");
        }
    }

    #[test]
    fn set_replaces_only_the_value_text() {
        let mut ini = round_trip(&utf16(
            "[Settings]\r\n  CmdCallEnd \t=  old value  \r\nnext=1\r\n",
        ));
        ini.set("Settings", "cmdCallEnd", HOOK).unwrap();
        assert_eq!(
            ini.to_bytes(),
            utf16(&format!(
                "[Settings]\r\n  CmdCallEnd \t=  {HOOK}  \r\nnext=1\r\n"
            ))
        );
        ini.set("Settings", "cmdCallEnd", "old value").unwrap();
        assert_eq!(
            ini.to_bytes(),
            utf16("[Settings]\r\n  CmdCallEnd \t=  old value  \r\nnext=1\r\n")
        );
    }

    #[test]
    fn set_fills_an_empty_value() {
        let mut ini = Ini::parse(b"[Settings]\r\ncmdCallEnd=\r\n").unwrap();
        ini.set("Settings", "cmdCallEnd", "x").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\r\ncmdCallEnd=x\r\n");
        ini.set("Settings", "cmdCallEnd", "").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\r\ncmdCallEnd=\r\n");

        let mut ini = Ini::parse(b"[Settings]\r\ncmdCallEnd =   \r\n").unwrap();
        assert_eq!(ini.get("Settings", "cmdCallEnd").as_deref(), Some(""));
        ini.set("Settings", "cmdCallEnd", "x").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\r\ncmdCallEnd =x   \r\n");
        ini.set("Settings", "cmdCallEnd", "").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\r\ncmdCallEnd =   \r\n");
    }

    #[test]
    fn a_key_without_equals_reads_empty_and_is_set_in_place() {
        let mut ini = round_trip(b"[Settings]\r\ncmdCallEnd  \r\ncmdCallEnd=later\r\n");
        assert_eq!(ini.get("Settings", "cmdCallEnd").as_deref(), Some(""));
        ini.set("Settings", "cmdCallEnd", "x").unwrap();
        assert_eq!(
            ini.to_bytes(),
            b"[Settings]\r\ncmdCallEnd=x  \r\ncmdCallEnd=later\r\n"
        );
    }

    #[test]
    fn new_key_goes_after_the_last_key_line_of_its_section() {
        let text = "[Settings]\r\na=1\r\n; about b\r\nb=2\r\n; trailing comment\r\n\r\n\r\n[Calls]\r\n0=null\r\n";
        let mut ini = round_trip(text.as_bytes());
        ini.set("Settings", "cmdCallEnd", "x").unwrap();
        assert_eq!(
            String::from_utf8(ini.to_bytes()).unwrap(),
            "[Settings]\r\na=1\r\n; about b\r\nb=2\r\ncmdCallEnd=x\r\n; trailing comment\r\n\r\n\r\n[Calls]\r\n0=null\r\n"
        );
        ini.set("Calls", "1", "y").unwrap();
        assert!(
            String::from_utf8(ini.to_bytes())
                .unwrap()
                .ends_with("0=null\r\n1=y\r\n")
        );
    }

    #[test]
    fn new_key_in_a_section_without_keys_goes_after_its_header() {
        let mut ini = round_trip(b"[Settings]\n\n; note\n[Calls]\n");
        ini.set("Settings", "k", "v").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\nk=v\n\n; note\n[Calls]\n");
    }

    #[test]
    fn missing_section_is_appended_at_the_end() {
        let mut ini = round_trip(NO_SETTINGS_FIXTURE);
        assert!(!ini.has_section("Settings"));
        ini.set("Settings", "cmdCallEnd", "x").unwrap();
        let mut expected = NO_SETTINGS_FIXTURE.to_vec();
        expected.extend_from_slice(&utf16("[Settings]\r\ncmdCallEnd=x\r\n")[2..]);
        assert_eq!(ini.to_bytes(), expected);
        ini.set("Settings", "cmdCallRing", "y").unwrap();
        expected.extend_from_slice(&utf16("cmdCallRing=y\r\n")[2..]);
        assert_eq!(ini.to_bytes(), expected);
        assert!(ini.remove("Settings", "cmdCallEnd"));
        assert!(ini.has_section("Settings"));
        assert!(ini.remove("Settings", "cmdCallRing"));
        assert!(!ini.has_section("Settings"));
        assert_eq!(ini.to_bytes(), NO_SETTINGS_FIXTURE);
    }

    #[test]
    fn an_empty_file_gets_crlf() {
        for bytes in [&b""[..], &[0xFF, 0xFE][..], &[0xEF, 0xBB, 0xBF][..]] {
            let mut ini = round_trip(bytes);
            assert_eq!(ini.line_ending(), LineEnding::CrLf);
            assert_eq!(ini.sections(), Vec::<String>::new());
            assert_eq!(ini.get("Settings", "cmdCallEnd"), None);
            ini.set("Settings", "cmdCallEnd", "x").unwrap();
            let mut expected = bytes.to_vec();
            let added = match ini.encoding() {
                Encoding::Utf16Le => utf16("[Settings]\r\ncmdCallEnd=x\r\n")[2..].to_vec(),
                _ => b"[Settings]\r\ncmdCallEnd=x\r\n".to_vec(),
            };
            expected.extend_from_slice(&added);
            assert_eq!(ini.to_bytes(), expected);
            assert!(ini.remove("Settings", "cmdCallEnd"));
            assert_eq!(ini.to_bytes(), bytes);
        }
        assert_eq!(Ini::new(Encoding::Utf16Le).to_bytes(), [0xFF, 0xFE]);
        assert_eq!(Ini::new(Encoding::Ansi).to_bytes(), b"");
    }

    #[test]
    fn the_file_line_ending_is_used() {
        let mut ini = round_trip(b"[Settings]\na=1\n");
        assert_eq!(ini.line_ending(), LineEnding::Lf);
        ini.set("Settings", "b", "2").unwrap();
        ini.set("Calls", "0", "null").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\na=1\nb=2\n[Calls]\n0=null\n");

        // Mixed endings: the first one wins.
        let mut ini = round_trip(b"[Settings]\r\na=1\nc=3\r\n");
        ini.set("Settings", "b", "2").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\r\na=1\nc=3\r\nb=2\r\n");
    }

    #[test]
    fn a_missing_final_newline_is_kept_missing() {
        let original = b"[Settings]\r\na=1";
        let mut ini = round_trip(original);
        ini.set("Settings", "b", "2").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\r\na=1\r\nb=2");
        ini.set("Other", "c", "3").unwrap();
        assert_eq!(
            ini.to_bytes(),
            b"[Settings]\r\na=1\r\nb=2\r\n[Other]\r\nc=3"
        );
        assert!(ini.remove("Other", "c"));
        assert!(ini.remove("Settings", "b"));
        assert_eq!(ini.to_bytes(), original);

        let mut ini = round_trip(b"[Settings]");
        ini.set("Settings", "a", "1").unwrap();
        assert_eq!(ini.to_bytes(), b"[Settings]\r\na=1");
    }

    #[test]
    fn remove_takes_the_whole_line() {
        let mut ini = round_trip(b"[Settings]\r\na=1\r\n cmdCallEnd = x \r\nb=2\r\n");
        assert!(ini.remove("settings", "CMDCALLEND"));
        assert_eq!(ini.to_bytes(), b"[Settings]\r\na=1\r\nb=2\r\n");
        assert!(!ini.remove("Settings", "cmdCallEnd"));
        assert!(!ini.remove("Nope", "a"));
        // A section that was in the file stays, even when emptied.
        assert!(ini.remove("Settings", "a"));
        assert!(ini.remove("Settings", "b"));
        assert_eq!(ini.to_bytes(), b"[Settings]\r\n");
    }

    #[test]
    fn a_key_appearing_twice_first_one_wins() {
        let text = "[Settings]\r\ncmdCallEnd=first\r\nCMDCALLEND=second\r\n";
        let mut ini = round_trip(&utf16(text));
        assert_eq!(ini.get("Settings", "cmdCallEnd").as_deref(), Some("first"));
        assert_eq!(
            ini.entries("Settings"),
            [
                ("cmdCallEnd".to_owned(), "first".to_owned()),
                ("CMDCALLEND".to_owned(), "second".to_owned())
            ]
        );
        ini.set("Settings", "cmdCallEnd", "new").unwrap();
        assert_eq!(
            ini.to_bytes(),
            utf16("[Settings]\r\ncmdCallEnd=new\r\nCMDCALLEND=second\r\n")
        );
        assert_reversible(&utf16(text), "Settings", "cmdCallEnd", "x");
        assert!(ini.remove("Settings", "cmdCallEnd"));
        assert_eq!(ini.get("Settings", "cmdCallEnd").as_deref(), Some("second"));
    }

    #[test]
    fn only_the_first_section_of_a_name_is_read() {
        let text = "[Settings]\r\na=1\r\n[Calls]\r\n[settings]\r\nb=2\r\n";
        let mut ini = round_trip(text.as_bytes());
        assert_eq!(ini.get("Settings", "a").as_deref(), Some("1"));
        assert_eq!(ini.get("Settings", "b"), None);
        assert_eq!(ini.entries("SETTINGS").len(), 1);
        ini.set("Settings", "b", "3").unwrap();
        assert_eq!(
            ini.to_bytes(),
            b"[Settings]\r\na=1\r\nb=3\r\n[Calls]\r\n[settings]\r\nb=2\r\n"
        );
        assert_reversible(text.as_bytes(), "Settings", "b", "x");
    }

    #[test]
    fn comments_blank_lines_and_odd_lines_are_not_keys() {
        let text = "; comment=1\r\n# hash=2\r\n\r\n   \r\nkeyBeforeSections=0\r\n[Settings]\r\n\t; a=3\r\n# b=4\r\n[unclosed\r\n  spaced key = spaced value \r\nbare\r\n[Settings ] trailing\r\nc=5\r\n";
        let ini = round_trip(text.as_bytes());
        assert_eq!(ini.get("Settings", "; comment"), None);
        assert_eq!(ini.get("Settings", "a"), None);
        assert_eq!(ini.get("Settings", "b"), None);
        assert_eq!(ini.get("Settings", "keyBeforeSections"), None);
        assert_eq!(
            ini.get("Settings", "spaced key").as_deref(),
            Some("spaced value")
        );
        assert_eq!(ini.get("Settings", "bare").as_deref(), Some(""));
        // `[Settings ] trailing` is a section named "Settings " (not "Settings").
        assert_eq!(ini.sections(), ["Settings", "Settings "]);
        assert_eq!(ini.get("Settings", "c"), None);
        assert_eq!(ini.get("Settings ", "c").as_deref(), Some("5"));
        assert_eq!(
            ini.entries("Settings"),
            [
                ("[unclosed".to_owned(), String::new()),
                ("spaced key".to_owned(), "spaced value".to_owned()),
                ("bare".to_owned(), String::new()),
            ]
        );
        assert_reversible(text.as_bytes(), "Settings", "cmdCallEnd", HOOK);
    }

    #[test]
    fn a_section_header_may_carry_a_comment() {
        let ini = round_trip(b"  [Settings]  ; main\r\na = 1\r\n");
        assert_eq!(ini.get("Settings", "a").as_deref(), Some("1"));
    }

    #[test]
    fn lone_carriage_returns_stay_inside_lines() {
        let bytes = b"[Settings]\ra=1\r\r\nb=2\r\n";
        let ini = round_trip(bytes);
        // One line "[Settings]\ra=1\r" is a section named "Settings".
        assert_eq!(ini.sections(), ["Settings"]);
        assert_eq!(ini.get("Settings", "b").as_deref(), Some("2"));
        assert_reversible(bytes, "Settings", "c", "3");
    }

    #[test]
    fn non_ascii_text_survives_in_utf16_and_utf8() {
        let text = "[Settings]\r\nname=日本語 😀\r\n[Ünïcödé]\r\nclé=valeur\r\n";
        for bytes in [utf16(text), utf8(text)] {
            let mut ini = round_trip(&bytes);
            assert_eq!(ini.get("settings", "name").as_deref(), Some("日本語 😀"));
            assert_eq!(ini.get("üNÏCÖDÉ", "CLÉ").as_deref(), Some("valeur"));
            ini.set("Ünïcödé", "clé", "ça 😀").unwrap();
            assert_eq!(ini.get("Ünïcödé", "clé").as_deref(), Some("ça 😀"));
            ini.set("Ünïcödé", "clé", "valeur").unwrap();
            assert_eq!(ini.to_bytes(), bytes);
            assert_reversible(
                &bytes,
                "Settings",
                "cmdCallEnd",
                r#""C:\Users\Zoë\hook.exe""#,
            );
            assert_reversible(&bytes, "Ωμέγα", "ключ", "值");
        }
    }

    #[test]
    fn unpaired_surrogates_are_kept() {
        let mut units: Vec<u16> = "[Settings]\r\nbad=".encode_utf16().collect();
        units.extend([0xD800, u16::from(b'x'), 0xDC00]);
        units.extend("\r\n".encode_utf16());
        let bytes = utf16_units(&units);
        let ini = round_trip(&bytes);
        assert_eq!(
            ini.get("Settings", "bad").as_deref(),
            Some("\u{FFFD}x\u{FFFD}")
        );
        assert_reversible(&bytes, "Settings", "cmdCallEnd", HOOK);
        assert_reversible(&bytes, "Settings", "other", "1");
    }

    /// `line_units` then `set` then `restore_line` gives the original bytes back.
    fn assert_line_restores(bytes: &[u8], section: &str, key: &str) {
        let mut ini = Ini::parse(bytes).unwrap();
        let saved = ini.line_units(section, key).unwrap();
        ini.set(section, key, HOOK).unwrap();
        assert_ne!(ini.to_bytes(), bytes);
        ini.restore_line(section, key, &saved).unwrap();
        assert_eq!(ini.to_bytes(), bytes, "{key} was not restored exactly");
    }

    #[test]
    fn a_saved_line_comes_back_exactly_whatever_it_holds() {
        // An ANSI value of an unknown code page: `get` reads it as Latin-1, which `set` could
        // not write back to an ANSI file.
        let ansi = b"[Settings]\r\ncmdCallEnd = C:\\Users\\Jos\xe9\\crm.exe \x80\r\nx=1\r\n";
        let ini = Ini::parse(ansi).unwrap();
        let old = ini.get("Settings", "cmdCallEnd").unwrap();
        assert!(matches!(
            ini.clone().set("Settings", "cmdCallEnd", &old),
            Err(IniError::NotAnsi { .. })
        ));
        assert_line_restores(ansi, "Settings", "cmdCallEnd");
        // An unpaired surrogate in UTF-16: `get` reads it as U+FFFD.
        let mut units: Vec<u16> = "[Settings]\r\ncmdCallEnd=C:\\crm\\"
            .encode_utf16()
            .collect();
        units.extend([0xD800, u16::from(b'x'), 0xDC00]);
        units.extend(".exe\r\n".encode_utf16());
        assert_line_restores(&utf16_units(&units), "settings", "CMDCALLEND");
        // A key without `=`, and odd spacing.
        assert_line_restores(
            b"[Settings]\r\n  cmdCallEnd  \r\n",
            "Settings",
            "cmdCallEnd",
        );
        assert_line_restores(
            &utf8("[Settings]\ncmdCallEnd\t=\t\"Zoë\"\n"),
            "Settings",
            "cmdCallEnd",
        );
    }

    #[test]
    fn restore_line_refuses_what_is_not_that_key() {
        let bytes = b"[Settings]\r\ncmdCallEnd=x\r\n";
        let mut ini = Ini::parse(bytes).unwrap();
        let units = |s: &str| s.chars().map(u32::from).collect::<Vec<u32>>();
        for line in [
            units("cmdCallRing=y"),
            units("[cmdCallEnd]"),
            units("; cmdCallEnd=y"),
            units("cmdCallEnd=y\nz=1"),
            units("cmdCallEnd=\u{20ac}"),
            vec![u32::from(b'c'), 0],
        ] {
            assert!(
                ini.restore_line("Settings", "cmdCallEnd", &line).is_err(),
                "{line:?}"
            );
        }
        assert!(
            ini.restore_line("Settings", "cmdCallRing", &units("cmdCallRing=y"))
                .is_err()
        );
        assert_eq!(ini.to_bytes(), bytes, "a refused restore changed the file");
        ini.restore_line("Settings", "cmdCallEnd", &units("CMDCALLEND = y"))
            .unwrap();
        assert_eq!(ini.get("Settings", "cmdCallEnd").as_deref(), Some("y"));
    }

    #[test]
    fn a_utf8_mark_hides_a_first_line_section_from_windows() {
        assert_eq!(
            Ini::parse(UTF8_FIXTURE)
                .unwrap()
                .section_hidden_by_bom()
                .as_deref(),
            Some("Settings")
        );
        for bytes in [
            utf8("; edited by hand\r\n[Settings]\r\n"),
            utf8(""),
            UTF16_FIXTURE.to_vec(),
            ANSI_FIXTURE.to_vec(),
        ] {
            assert_eq!(Ini::parse(&bytes).unwrap().section_hidden_by_bom(), None);
        }
    }

    #[test]
    fn ansi_high_bytes_survive_but_non_ascii_values_are_refused() {
        let bytes = b"[Settings]\r\npath=C:\\Users\\Jos\xe9\\x\r\n\xff\xfe\xfd=\x80\x81\r\n";
        let mut ini = round_trip(bytes);
        assert_eq!(
            ini.get("Settings", "path").as_deref(),
            Some("C:\\Users\\José\\x")
        );
        assert_eq!(
            ini.set("Settings", "cmdCallEnd", "C:\\Users\\José\\hook.exe"),
            Err(IniError::NotAnsi {
                what: "value",
                text: "C:\\Users\\José\\hook.exe".to_owned()
            })
        );
        assert!(matches!(
            ini.set("Settings", "clé", "x"),
            Err(IniError::NotAnsi { what: "key", .. })
        ));
        assert!(matches!(
            ini.set("Sé", "k", "x"),
            Err(IniError::NotAnsi {
                what: "section",
                ..
            })
        ));
        assert_eq!(ini.to_bytes(), bytes, "a refused set changed the file");
        assert_reversible(
            bytes,
            "Settings",
            "cmdCallEnd",
            r"C:\PROGRA~1\callhook\hook.exe",
        );
    }

    #[test]
    fn parse_errors_are_clear() {
        assert_eq!(
            Ini::parse(&[0xFF, 0xFE, b'a']).unwrap_err(),
            IniError::OddLength { len: 3 }
        );
        assert_eq!(
            Ini::parse(&[0xEF, 0xBB, 0xBF, b'a', 0xC3, b'(']).unwrap_err(),
            IniError::InvalidUtf8 { offset: 4 }
        );
        assert_eq!(
            Ini::parse(&[0xFE, 0xFF, 0, b'a']).unwrap_err(),
            IniError::Utf16BigEndian
        );
        let no_bom: Vec<u8> = utf16("[Settings]\r\n")[2..].to_vec();
        assert_eq!(
            Ini::parse(&no_bom).unwrap_err(),
            IniError::NulInAnsi { offset: 1 }
        );
        let message = Ini::parse(&[0xFF, 0xFE, b'a']).unwrap_err().to_string();
        assert!(message.contains("odd number of bytes"), "{message}");
    }

    #[test]
    fn names_and_values_that_would_not_read_back_are_refused() {
        let mut ini = Ini::parse(b"[Settings]\r\n").unwrap();
        for (section, key, value) in [
            ("", "k", "v"),
            (" Settings", "k", "v"),
            ("Set]tings", "k", "v"),
            ("Settings", "", "v"),
            ("Settings", "k=", "v"),
            ("Settings", "k ", "v"),
            ("Settings", "[k]", "v"),
            ("Settings", ";k", "v"),
            ("Settings", "#k", "v"),
            ("Settings", "k\n", "v"),
            ("Settings", "k", "v\r\nx=1"),
            ("Settings", "k", " v"),
            ("Settings", "k", "v\t"),
            ("Settings", "k", "v\0"),
        ] {
            let result = ini.set(section, key, value);
            assert!(
                matches!(result, Err(IniError::Invalid { .. })),
                "{section:?} {key:?} {value:?}: {result:?}"
            );
        }
        assert_eq!(ini.to_bytes(), b"[Settings]\r\n");
        // Inner spaces, '=' and ';' in a value are fine.
        ini.set("Settings", "k", "a = b; c").unwrap();
        assert_eq!(ini.get("Settings", "k").as_deref(), Some("a = b; c"));
    }

    #[test]
    fn entries_lists_a_section_in_file_order() {
        let ini = round_trip(UTF16_FIXTURE);
        let calls = ini.entries("Calls");
        assert_eq!(calls[0], ("0".to_owned(), "null".to_owned()));
        assert_eq!(calls.len(), 5);
        assert_eq!(ini.entries("Nope"), Vec::new());
    }

    /// A small deterministic generator, so that the round-trip properties are checked on many
    /// odd files without a test dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u32
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next() as usize % items.len()]
        }
    }

    fn random_text(rng: &mut Lcg) -> String {
        let pieces = [
            "[Settings]",
            "[settings]",
            "[Calls]",
            " [Account1] ",
            "[",
            "]",
            "cmdCallEnd",
            "cmdcallend",
            "a",
            "callsLastKey",
            "=",
            " = ",
            "\t",
            " ",
            ";",
            "#",
            "\r\n",
            "\n",
            "\r",
            "\r\n",
            "\n",
            "é",
            "😀",
            "\u{1a}",
            "\"",
            "x;y;1;2;3;",
        ];
        let count = rng.next() % 40;
        (0..count).map(|_| rng.pick(&pieces)).collect()
    }

    /// Whether the key is absent, or its old value can be written back as it was: a line
    /// without `=` gains one, and a value `get` decoded lossily or `set` refuses cannot.
    fn can_set_back(bytes: &[u8], section: &str, key: &str) -> bool {
        let ini = Ini::parse(bytes).unwrap();
        let Some(index) = ini.find_key(section, key) else {
            return true;
        };
        let line = &ini.lines[index].text;
        let Kind::Key {
            value: Some(value), ..
        } = classify(line)
        else {
            return false;
        };
        let old = ini.get(section, key).unwrap_or_default();
        check_value(&old).is_ok()
            && ini
                .encode("value", &old)
                .is_ok_and(|units| line[value] == units[..])
    }

    #[test]
    fn random_files_round_trip_and_edits_reverse() {
        let mut rng = Lcg(0x5eed);
        for _ in 0..400 {
            let text = random_text(&mut rng);
            let ansi: Vec<u8> = text
                .chars()
                .map(|c| if c.is_ascii() { c as u8 } else { 0xE9 })
                .collect();
            for bytes in [utf16(&text), utf8(&text), ansi] {
                round_trip(&bytes);
                for (section, key) in [
                    ("Settings", "cmdCallEnd"),
                    ("Calls", "7"),
                    ("Account1", "a"),
                    ("New", "k"),
                ] {
                    if can_set_back(&bytes, section, key) {
                        assert_reversible(&bytes, section, key, HOOK);
                    }
                }
            }
        }
    }

    #[test]
    fn random_bytes_round_trip() {
        let mut rng = Lcg(42);
        for _ in 0..300 {
            let len = rng.next() as usize % 64;
            let ansi: Vec<u8> = (0..len).map(|_| (rng.next() % 255 + 1) as u8).collect();
            if !ansi.starts_with(&[0xFF, 0xFE])
                && !ansi.starts_with(&[0xFE, 0xFF])
                && !ansi.starts_with(&[0xEF, 0xBB, 0xBF])
            {
                round_trip(&ansi);
                if can_set_back(&ansi, "Settings", "cmdCallEnd") {
                    assert_reversible(&ansi, "Settings", "cmdCallEnd", HOOK);
                }
            }
            let units: Vec<u16> = (0..len)
                .map(|_| match rng.next() % 4 {
                    0 => u16::from(b'\n'),
                    1 => u16::from(b'='),
                    2 => rng.next() as u16,
                    _ => u16::from(b'a'),
                })
                .collect();
            let bytes = utf16_units(&units);
            round_trip(&bytes);
            if can_set_back(&bytes, "Settings", "cmdCallEnd") {
                assert_reversible(&bytes, "Settings", "cmdCallEnd", HOOK);
            }
        }
    }
}
