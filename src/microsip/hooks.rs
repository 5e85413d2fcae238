//! The values of MicroSIP's hook keys (`cmdIncomingCall` … in `[Settings]`): the command
//! line callhook writes, whether a value runs callhook, what program and event it names, and
//! the `callhook-<event>` copies MicroSIP 3.19.2 needs. `install`, `uninstall` and `doctor`
//! read and write them through here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::log::event::EventKind;
use crate::microsip::ini::{Encoding, Ini};
use crate::platform::windows_cmdline as cmdline;

/// MicroSIP's hook keys live here.
pub const SECTION: &str = "Settings";
/// MicroSIP reads at most this many characters of a value.
const MAX_VALUE: usize = 255;

/// A path as one spelling: canonical when it exists (links, `..`, 8.3 names resolved), and on
/// Windows without the `\\?\` prefix and case-folded, as the file system compares names.
pub fn normalised(path: &Path) -> String {
    let full = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let text = full.display().to_string();
    if cfg!(windows) {
        let text = match text.strip_prefix(r"\\?\UNC\") {
            Some(rest) => format!(r"\\{rest}"),
            None => text.strip_prefix(r"\\?\").unwrap_or(&text).to_string(),
        };
        text.to_lowercase()
    } else {
        text
    }
}

/// Whether two paths name the same file or folder.
pub fn same_path(a: &Path, b: &Path) -> bool {
    normalised(a) == normalised(b)
}

/// The program MicroSIP should run: `callhookw` beside this one, which never opens a console
/// window; an error when it is not there.
pub fn hook_program() -> Result<PathBuf> {
    let me = console_program()?;
    let hook = me.with_file_name(format!("callhookw{}", std::env::consts::EXE_SUFFIX));
    if !hook.is_file() {
        bail!(
            "{} is missing: MicroSIP must run callhookw, which opens no window; {} is the \
             console program, whose window would flash up on every call. Put callhookw beside it \
             (a release build makes both: cargo build --release; `cargo run` builds only \
             callhook), or pass --force to hook the console program all the same",
            hook.display(),
            me.display()
        );
    }
    Ok(hook)
}

/// This program: `callhook`, the console program.
pub fn console_program() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find callhook's own executable")?;
    Ok(std::path::absolute(&me)?)
}

/// Whether a hook runs the console program (`callhook.exe`, not `callhookw.exe` or a
/// `callhook-<event>` copy of it).
pub fn runs_console_program(program: &str) -> bool {
    let name = program
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    name.strip_suffix(".exe").unwrap_or(&name) == "callhook"
}

/// The `--legacy` copy of the hook program for an event, beside it.
pub fn legacy_copy(program: &Path, kind: EventKind) -> PathBuf {
    program.with_file_name(format!("callhook-{kind}{}", std::env::consts::EXE_SUFFIX))
}

/// The text of a hook value as MicroSIP reads it: GetPrivateProfileString drops one pair of
/// outer quotes.
fn as_read(value: &str) -> &str {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if value.len() >= 2 => inner,
        _ => value,
    }
}

/// Whether a hook value runs callhook (any of its programs, from anywhere): a command line
/// whose program is callhook's, or (MicroSIP 3.19.2's form) the path of a callhook-<event>
/// copy, spaces and all.
pub fn is_ours(value: &str) -> bool {
    let callhook = |program: &str| {
        let program = program.trim().to_ascii_lowercase();
        let name = program.rsplit(['/', '\\']).next().unwrap_or("");
        let stem = name.strip_suffix(".exe").unwrap_or(name);
        stem == "callhook" || stem == "callhookw" || stem.starts_with("callhook-")
    };
    let read = as_read(value);
    if callhook(read) {
        return true;
    }
    let line: Vec<u16> = read.encode_utf16().collect();
    cmdline::tokens(&line, 1)
        .into_iter()
        .next()
        .is_some_and(|program| callhook(&String::from_utf16_lossy(&program.value)))
}

/// What a hook value runs, as MicroSIP reads it.
#[derive(Debug, PartialEq, Eq)]
pub struct HookTarget {
    /// The program's path as written.
    pub program: String,
    /// The event it records: the argument after `event`, or a legacy copy's name; `None`
    /// when it names none.
    pub event: Option<String>,
    /// MicroSIP 3.19.2's form: the whole value is the path of a `callhook-<event>` copy.
    pub legacy: bool,
}

/// The event a `callhook-<event>[.exe]` file is for, from the last component of `path`.
fn legacy_event_of(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next()?.to_ascii_lowercase();
    let stem = name.strip_suffix(".exe").unwrap_or(&name);
    let event = stem.strip_prefix("callhook-")?;
    event
        .parse::<EventKind>()
        .ok()
        .map(|kind| kind.as_str().to_string())
}

/// Splits a hook value into its program and event. A value that is, as a whole, the path of
/// a `callhook-<event>` copy is one path, spaces and all (MicroSIP 3.19.2 runs the value as a
/// file name); anything else is a command line.
pub fn hook_target(value: &str) -> Option<HookTarget> {
    let read = as_read(value.trim()).trim();
    if let Some(event) = legacy_event_of(read) {
        return Some(HookTarget {
            program: read.to_string(),
            event: Some(event),
            legacy: true,
        });
    }
    let line: Vec<u16> = read.encode_utf16().collect();
    let tokens: Vec<String> = cmdline::tokens(&line, 8)
        .into_iter()
        .map(|t| String::from_utf16_lossy(&t.value))
        .collect();
    let program = tokens.first()?.clone();
    if program.is_empty() {
        return None;
    }
    // `[--config P] [--db P] event [--time T] <EVENT>`, as the hook itself reads it.
    let mut rest = tokens[1..].iter().map(String::as_str);
    let mut event = None;
    while let Some(token) = rest.next() {
        match token {
            "--config" | "--db" => {
                rest.next();
            }
            t if t.starts_with("--config=") || t.starts_with("--db=") => {}
            "event" => {
                let mut next = rest.next();
                if next == Some("--time") {
                    rest.next();
                    next = rest.next();
                } else if next.is_some_and(|t| t.starts_with("--time=")) {
                    next = rest.next();
                }
                event = next.map(str::to_string);
                break;
            }
            _ => break,
        }
    }
    Some(HookTarget {
        program,
        event,
        legacy: false,
    })
}

/// The value for an event, in the form that survives a MicroSIP restart: wrapped in one more
/// pair of quotes than the command, which MicroSIP drops when it reads the value.
pub fn hook_value(program: &Path, kind: EventKind) -> String {
    format!("\"\"{}\" event {kind} --\"", program.display())
}

pub fn legacy_value(copy: &Path) -> String {
    format!("\"{}\"", copy.display())
}

/// A value MicroSIP reads in full and as written: at most 255 characters, and only ASCII in a
/// file without a UTF-16 byte-order mark (MicroSIP reads that in the ANSI code page, unknown
/// here). Else the same with the short 8.3 name of the program's folder (`shorten`), keeping
/// the file name: `is_ours` and the legacy copies' event both live in it.
pub fn fitting(
    program: &Path,
    value: impl Fn(&Path) -> String,
    ascii_only: bool,
    shorten: impl Fn(&Path) -> Option<PathBuf>,
) -> Result<String> {
    let length = |v: &str| as_read(v).encode_utf16().count();
    let fits = |v: &str| length(v) <= MAX_VALUE && (v.is_ascii() || !ascii_only);
    let long = value(program);
    if fits(&long) {
        return Ok(long);
    }
    if let Some(short) = short_folder(program, shorten) {
        let short = value(&short);
        if fits(&short) {
            return Ok(short);
        }
    }
    if length(&long) > MAX_VALUE {
        bail!(
            "the hook command for {} would be {} characters, and MicroSIP reads only \
             {MAX_VALUE} (and Windows has no short 8.3 name for its folder that fits): install \
             callhook in a shorter folder, such as C:\\callhook",
            program.display(),
            length(&long)
        )
    }
    bail!(
        "the path {} has non-ASCII characters, which MicroSIP would misread: its microsip.ini \
         has no UTF-16 byte-order mark, so MicroSIP reads it in the ANSI code page (and Windows \
         has no short 8.3 name for the folder). Install callhook in a folder whose path is plain \
         ASCII, such as C:\\callhook, or, with MicroSIP closed, save microsip.ini as UTF-16 LE \
         (Notepad: File > Save As, Encoding \"UTF-16 LE\") and run this again",
        program.display()
    )
}

/// `program` with its folder's short 8.3 path and its own file name.
fn short_folder(program: &Path, shorten: impl Fn(&Path) -> Option<PathBuf>) -> Option<PathBuf> {
    let folder = program.parent()?;
    let name = program.file_name()?;
    let short = shorten(folder)?.join(name);
    (short != program).then_some(short)
}

/// What MicroSIP cannot read in a UTF-8 file with a byte-order mark: `Err` when it hides the
/// `[Settings]` section, else a warning for the report.
pub fn utf8_mark_problem(ini: &Ini) -> Result<Option<String>, String> {
    const FIX: &str = "with MicroSIP closed, save microsip.ini as UTF-16 LE (Notepad: File > \
                       Save As, Encoding \"UTF-16 LE\"), or as ANSI without the mark";
    if ini.encoding() != Encoding::Utf8Bom {
        return Ok(None);
    }
    match ini.section_hidden_by_bom() {
        Some(section) if section.eq_ignore_ascii_case(SECTION) => Err(format!(
            "microsip.ini starts with a UTF-8 byte-order mark, which MicroSIP reads (in the ANSI \
             code page) as junk before [{section}], so it sees no [Settings] section and would \
             never run the hooks: {FIX}"
        )),
        _ => Ok(Some(format!(
            "microsip.ini has a UTF-8 byte-order mark: MicroSIP reads the file in the ANSI code \
             page, so its first line starts with junk and non-ASCII text is misread; {FIX}"
        ))),
    }
}

/// Whether two files have the same bytes.
fn same_content(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) if ma.len() == mb.len() => {
            matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}

/// Whether a `--legacy` copy is missing or is not the hook program as it is now (an older
/// version, after an upgrade).
pub fn copy_is_stale(program: &Path, copy: &Path) -> bool {
    !same_content(program, copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_values_are_recognised() {
        let program = Path::new(r"C:\Program Files\callhook\callhookw.exe");
        let value = hook_value(program, EventKind::End);
        assert_eq!(
            value,
            r#"""C:\Program Files\callhook\callhookw.exe" event end --""#
        );
        assert_eq!(
            as_read(&value),
            r#""C:\Program Files\callhook\callhookw.exe" event end --"#
        );
        assert!(is_ours(&value));
        assert!(is_ours(as_read(&value)), "as MicroSIP 3.21 saves it back");
        assert!(is_ours(r#""C:\tools\CALLHOOK-END.EXE""#));
        assert!(
            is_ours(r"C:\Program Files\callhook\callhook-end.exe"),
            "3.19.2's bare path"
        );
        assert!(!is_ours(r"C:\crm\notify.exe --end"));
        assert!(!is_ours(""));
    }

    #[test]
    fn hook_targets_are_read_like_microsip() {
        let target = |value: &str| hook_target(value).unwrap();
        let program = r"C:\Program Files\callhook\callhookw.exe";
        for value in [
            hook_value(Path::new(program), EventKind::AnswerVideo),
            as_read(&hook_value(Path::new(program), EventKind::AnswerVideo)).to_string(),
            format!(r#""{program}" --db "D:\x y.db" event --time 5 answer-video -- "#),
        ] {
            assert_eq!(
                target(&value),
                HookTarget {
                    program: program.into(),
                    event: Some("answer-video".into()),
                    legacy: false
                },
                "{value}"
            );
        }
        // A legacy value is one path, spaces and all, quoted or not.
        let legacy = r"C:\Users\John Smith\AppData\Local\Programs\callhook\callhook-end.exe";
        for value in [legacy.to_string(), format!("\"{legacy}\"")] {
            assert_eq!(
                target(&value),
                HookTarget {
                    program: legacy.into(),
                    event: Some("end".into()),
                    legacy: true
                }
            );
        }
        assert_eq!(
            target(r"C:\x\CALLHOOK-RING.EXE").event.as_deref(),
            Some("ring")
        );
        assert!(!target(r"C:\x\callhook-nope.exe").legacy);
        assert_eq!(target(r"C:\x\callhookw.exe").event, None);
        assert_eq!(
            target(r#""C:\x\callhook-end.exe" extra"#).program,
            r"C:\x\callhook-end.exe"
        );
        assert_eq!(hook_target(""), None);
    }

    /// A path from the root, with this platform's separators.
    fn rooted(parts: &[&str]) -> PathBuf {
        let mut path = PathBuf::from(std::path::MAIN_SEPARATOR_STR);
        path.extend(parts);
        path
    }

    #[test]
    fn a_short_folder_keeps_the_file_name() {
        let long = "x".repeat(240);
        let short = rooted(&["XXXXXX~1", "callhook"]);
        let shorten = |_: &Path| Some(short.clone());
        let program = rooted(&[&long, "callhook", "callhookw.exe"]);
        let value = fitting(&program, |p| hook_value(p, EventKind::End), false, shorten).unwrap();
        let target = hook_target(&value).unwrap();
        assert_eq!(
            target.program,
            short.join("callhookw.exe").display().to_string()
        );
        assert_eq!(target.event.as_deref(), Some("end"));
        assert!(is_ours(&value));
        let copy = rooted(&[&long, "callhook", "callhook-answer-video.exe"]);
        let value = fitting(&copy, legacy_value, false, shorten).unwrap();
        let target = hook_target(&value).unwrap();
        assert!(target.legacy, "{value}");
        assert_eq!(target.event.as_deref(), Some("answer-video"), "{value}");
        assert_eq!(
            target.program,
            short
                .join("callhook-answer-video.exe")
                .display()
                .to_string()
        );
        // No short name, or none that fits: refused with advice.
        for shorten in [None, Some(rooted(&[&long]))] {
            let value = |p: &Path| hook_value(p, EventKind::End);
            let error = fitting(&program, value, false, |_: &Path| shorten.clone()).unwrap_err();
            assert!(error.to_string().contains("shorter folder"), "{error}");
        }
    }

    #[test]
    fn non_ascii_paths_take_the_short_folder_in_an_ansi_file() {
        let program = rooted(&["Users", "José", "callhook", "callhookw.exe"]);
        let value = |p: &Path| hook_value(p, EventKind::End);
        // UTF-16: as it is.
        let utf16 = fitting(&program, value, false, |_: &Path| None).unwrap();
        assert!(utf16.contains("José"));
        // ANSI: the short folder, which is ASCII.
        let short = rooted(&["Users", "JOS~1", "callhook"]);
        let ansi = fitting(&program, value, true, |_: &Path| Some(short.clone())).unwrap();
        assert!(ansi.is_ascii(), "{ansi}");
        assert_eq!(
            hook_target(&ansi).unwrap().program,
            short.join("callhookw.exe").display().to_string()
        );
        // None that is ASCII: refused with advice.
        for shorten in [None, Some(program.parent().unwrap().to_path_buf())] {
            let error = fitting(&program, value, true, |_: &Path| shorten.clone()).unwrap_err();
            assert!(error.to_string().contains("non-ASCII"), "{error}");
            assert!(error.to_string().contains("UTF-16 LE"), "{error}");
        }
    }
}
