//! `callhook install` and `callhook uninstall`: set callhook's hook keys in microsip.ini, and
//! take them out again, changing nothing else in the file.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::cmd::output::{plural, terminal_safe};
use crate::config::locations::Locations;
use crate::log::contacts;
use crate::log::db;
use crate::log::event::EventKind;
use crate::microsip::ini::{Encoding, Ini};
use crate::microsip::locate;
use crate::platform::windows_cmdline as cmdline;

/// MicroSIP's hook keys live here.
pub const SECTION: &str = "Settings";
/// MicroSIP reads at most this many characters of a value.
const MAX_VALUE: usize = 255;

#[derive(clap::Args)]
pub struct Args {
    /// microsip.ini [default: next to a running or installed microsip.exe (portable), else
    /// %APPDATA%\MicroSIP\microsip.ini]
    #[arg(long, value_name = "PATH")]
    ini: Option<PathBuf>,
    /// The events to hook (comma-separated) [default: all of them]
    #[arg(long, value_delimiter = ',', value_parser = parse_event)]
    events: Vec<EventKind>,
    /// Show what would change, and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Edit the file even while MicroSIP runs (it rewrites its hook keys when it exits), or
    /// without callhookw beside this program
    #[arg(long)]
    force: bool,
    /// For MicroSIP 3.19.2 and earlier, which cannot pass arguments: write a
    /// callhook-<event>.exe copy per event and point the keys at them
    #[arg(long)]
    legacy: bool,
}

#[derive(clap::Args)]
pub struct UninstallArgs {
    /// microsip.ini [default: found as for install]
    #[arg(long, value_name = "PATH")]
    ini: Option<PathBuf>,
    /// Show what would change, and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Edit the file even while MicroSIP runs
    #[arg(long)]
    force: bool,
}

fn parse_event(text: &str) -> Result<EventKind, String> {
    text.parse()
        .map_err(|e: crate::log::event::UnknownEvent| e.to_string())
}

/// What install changed in one ini, so that uninstall can put it back.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Installed {
    /// The value each key had before (absent: none), as read: for messages, and to put back
    /// when its line was not saved.
    previous: BTreeMap<String, Option<String>>,
    /// The whole line of each key that had a value before, as the file's code units: put back
    /// exactly (a high ANSI byte, an unpaired UTF-16 surrogate and all).
    #[serde(default)]
    lines: BTreeMap<String, SavedLine>,
    /// Whether install added the `[Settings]` section.
    created_section: bool,
    /// The `callhook-<event>.exe` copies it wrote.
    legacy_copies: Vec<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SavedLine {
    encoding: Encoding,
    units: Vec<u32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    installs: BTreeMap<String, Installed>,
}

impl State {
    fn path(locations: &Locations) -> PathBuf {
        locations.config_path.with_file_name("install.json")
    }

    fn load(locations: &Locations) -> Result<State> {
        let path = State::path(locations);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged; move it away", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Written to a temporary file first, which then takes the old one's place.
    fn save(&self, locations: &Locations) -> Result<()> {
        let path = State::path(locations);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let temporary = path.with_file_name("install.json.new");
        std::fs::write(&temporary, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The record of an ini: under its key, or under an older spelling of its path.
    fn key_for(&self, ini: &Path) -> String {
        let key = state_key(ini);
        if self.installs.contains_key(&key) {
            return key;
        }
        self.installs
            .keys()
            .find(|stored| state_key(Path::new(stored)) == key)
            .cloned()
            .unwrap_or(key)
    }
}

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

/// The key of an ini in install.json, so that `--ini C:\...\MICROSIP.INI` finds the record
/// of the path install found itself.
fn state_key(ini: &Path) -> String {
    normalised(ini)
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
fn console_program() -> Result<PathBuf> {
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

fn legacy_value(copy: &Path) -> String {
    format!("\"{}\"", copy.display())
}

/// A value MicroSIP reads in full and as written: at most 255 characters, and only ASCII in a
/// file without a UTF-16 byte-order mark (MicroSIP reads that in the ANSI code page, unknown
/// here). Else the same with the short 8.3 name of the program's folder (`shorten`), keeping
/// the file name: `is_ours` and the legacy copies' event both live in it.
fn fitting(
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

fn refuse_if_running(ini: &Path, force: bool) -> Result<()> {
    if !force && !locate::running_for(ini).is_empty() {
        bail!(
            "MicroSIP is running: it writes its hook keys back when it exits, which would undo \
             this. Exit MicroSIP (menu > Exit, not just closing the window), then run this again, \
             or use --force"
        );
    }
    Ok(())
}

fn read_ini(path: &Path) -> Result<(Vec<u8>, Ini)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let ini = Ini::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    Ok((bytes, ini))
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

/// A backup of the file as it was, under a name no earlier backup has: never overwritten.
fn backup(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for n in 1..1000 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let backup = path.with_file_name(format!("{name}.callhook-backup-{stamp}{suffix}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&backup)
        {
            Ok(mut file) => {
                file.write_all(bytes)
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("cannot write the backup {}", backup.display()))?;
                return Ok(backup);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot back {} up", path.display()));
            }
        }
    }
    bail!(
        "cannot back {} up: too many backups this second",
        path.display()
    )
}

/// Writes the ini after a backup of its old bytes; the new text goes to a temporary file
/// first, then takes the old one's place.
fn write_ini(path: &Path, old: &[u8], ini: &Ini) -> Result<PathBuf> {
    let backup = backup(path, old)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = path.with_file_name(format!("{name}.callhook-new"));
    std::fs::write(&temporary, ini.to_bytes())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(backup)
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

/// the `.old` name a replaced copy is moved to.
fn aside(copy: &Path) -> PathBuf {
    let mut name = copy.file_name().unwrap_or_default().to_os_string();
    name.push(".old");
    copy.with_file_name(name)
}

/// Writes a copy of the hook program. An older copy is renamed aside first (Windows cannot
/// overwrite a program that runs, as a 3.19.2 hook may, but can rename it) and deleted after,
/// when it no longer runs.
fn write_copy(program: &Path, copy: &Path) -> Result<()> {
    let old = aside(copy);
    let _ = std::fs::remove_file(&old);
    let moved = copy.exists();
    if moved {
        std::fs::rename(copy, &old)
            .with_context(|| format!("cannot move the old {} aside", copy.display()))?;
    }
    if let Err(e) = std::fs::copy(program, copy) {
        if moved {
            let _ = std::fs::rename(&old, copy);
        }
        return Err(e).with_context(|| format!("cannot write {}", copy.display()));
    }
    let _ = std::fs::remove_file(&old);
    Ok(())
}

/// Records where MicroSIP's Contacts.xml is (beside its ini), for caller names.
fn record_contacts(locations: &Locations, ini: &Path) {
    let xml = ini.with_file_name("Contacts.xml");
    let recorded = locations
        .open_db()
        .and_then(|mut conn| db::write(&mut conn, |tx| contacts::record_microsip(tx, ini, &xml)));
    match (&recorded, &locations.config.contacts.xml) {
        (Err(e), _) => println!(
            "Caller names: could not record {} as MicroSIP's contacts: {e:#}",
            xml.display()
        ),
        (Ok(()), Some(configured)) => println!(
            "Caller names: from {} ([contacts] xml in {}; MicroSIP's is {}).",
            configured.display(),
            locations.config_path.display(),
            xml.display()
        ),
        (Ok(()), None) => println!(
            "Caller names: from {}, next to microsip.ini{}.",
            xml.display(),
            if xml.is_file() {
                ""
            } else {
                " (not there yet: MicroSIP writes it with the first contact)"
            }
        ),
    }
}

pub fn install(locations: &Locations, args: Args) -> Result<()> {
    let (path, layout) = locate::find_ini(args.ini.as_deref())?;
    if !args.dry_run {
        refuse_if_running(&path, args.force)?;
    }
    let (bytes, mut ini) = read_ini(&path)?;
    let warning = utf8_mark_problem(&ini).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Without a UTF-16 mark MicroSIP reads the file in the ANSI code page.
    let ascii_only = ini.encoding() != Encoding::Utf16Le;
    let program = match hook_program() {
        Ok(program) => program,
        Err(e) if args.force => {
            eprintln!("Warning: {e:#}\nWarning: --force: hooking the console program.");
            console_program()?
        }
        Err(e) => return Err(e),
    };
    let events = if args.events.is_empty() {
        EventKind::ALL.to_vec()
    } else {
        args.events.clone()
    };
    let mut state = State::load(locations)?;
    let key = state.key_for(&path);
    let mut installed = state.installs.get(&key).cloned().unwrap_or_default();
    if !installed.previous.is_empty() && !ini.has_section(SECTION) {
        installed = Installed::default();
    }
    if installed.previous.is_empty() {
        installed.created_section = !ini.has_section(SECTION);
    }

    let mut changes = Vec::new();
    let mut copies = Vec::new();
    for kind in events {
        let name = kind.ini_key();
        let value = if args.legacy {
            let copy = legacy_copy(&program, kind);
            let value = fitting(&copy, legacy_value, ascii_only, crate::platform::short_path)?;
            copies.push(copy);
            value
        } else {
            fitting(
                &program,
                |p| hook_value(p, kind),
                ascii_only,
                crate::platform::short_path,
            )?
        };
        let current = ini.get(SECTION, name);
        if current.as_deref() == Some(value.as_str()) {
            continue;
        }
        if !installed.previous.contains_key(name) {
            // What was there before callhook, to put back on uninstall.
            let before = current.clone().filter(|v| !is_ours(v));
            if before.is_some()
                && let Some(units) = ini.line_units(SECTION, name)
            {
                installed.lines.insert(
                    name.to_string(),
                    SavedLine {
                        encoding: ini.encoding(),
                        units,
                    },
                );
            }
            installed.previous.insert(name.to_string(), before);
        }
        ini.set(SECTION, name, &value)?;
        changes.push((name, current, value));
    }
    // Copies missing, or left from an older callhook.
    let stale: Vec<&PathBuf> = copies
        .iter()
        .filter(|copy| copy_is_stale(&program, copy))
        .collect();

    println!("microsip.ini: {} ({})", path.display(), layout.describe());
    if let Some(warning) = &warning {
        println!("Warning: {warning}");
    }
    if changes.is_empty() && stale.is_empty() {
        println!("callhook is already installed there: nothing to change.");
        if !args.dry_run {
            record_contacts(locations, &path);
        }
        return Ok(());
    }
    for (name, before, after) in &changes {
        match before {
            Some(before) => println!("  {name}: {}  ->  {after}", terminal_safe(before)),
            None => println!("  {name}: (not set)  ->  {after}"),
        }
    }
    for copy in &stale {
        let what = if copy.exists() { "update" } else { "write" };
        println!("  {what} {}", copy.display());
    }
    if args.dry_run {
        println!("Dry run: nothing was written.");
        return Ok(());
    }
    for copy in stale {
        write_copy(&program, copy)?;
        if !installed.legacy_copies.contains(copy) {
            installed.legacy_copies.push(copy.clone());
        }
    }
    // The record of what was there goes first: if the ini then cannot be written, it still
    // describes the file; the other way round, the old values could be lost.
    let before = state.installs.insert(key.clone(), installed);
    state.save(locations)?;
    if !changes.is_empty() {
        match write_ini(&path, &bytes, &ini) {
            Ok(backup) => println!("Backup of the old file: {}", backup.display()),
            Err(e) => {
                match before {
                    Some(before) => state.installs.insert(key, before),
                    None => state.installs.remove(&key),
                };
                let _ = state.save(locations);
                return Err(e);
            }
        }
    }
    if changes.is_empty() {
        println!("The hook keys were set already; brought the legacy copies up to date.");
    } else {
        println!(
            "Set {}. MicroSIP runs {} from its next start.",
            plural(changes.len(), "hook key", "hook keys"),
            program.display()
        );
    }
    record_contacts(locations, &path);
    Ok(())
}

pub fn uninstall(locations: &Locations, args: UninstallArgs) -> Result<()> {
    let (path, layout) = locate::find_ini(args.ini.as_deref())?;
    if !args.dry_run {
        refuse_if_running(&path, args.force)?;
    }
    let (bytes, mut ini) = read_ini(&path)?;
    let mut state = State::load(locations)?;
    let key = state.key_for(&path);
    let installed = state.installs.get(&key).cloned().unwrap_or_default();
    let mut changes = Vec::new();
    let mut left = Vec::new();
    let mut lost = Vec::new();
    for kind in EventKind::ALL {
        let name = kind.ini_key();
        let Some(current) = ini.get(SECTION, name) else {
            continue;
        };
        if !is_ours(&current) {
            if installed.previous.contains_key(name) {
                left.push(name);
            }
            continue;
        }
        let before = installed.previous.get(name).cloned().flatten();
        // The line as it was, exactly; else the value as it was read.
        let restored = match installed.lines.get(name) {
            Some(saved) if saved.encoding == ini.encoding() => {
                ini.restore_line(SECTION, name, &saved.units).is_ok()
            }
            _ => false,
        };
        let restored = restored
            || before
                .as_ref()
                .is_some_and(|before| match ini.set(SECTION, name, before) {
                    Ok(()) => true,
                    Err(e) => {
                        lost.push((name, before.clone(), e.to_string()));
                        false
                    }
                });
        if restored {
            changes.push((name, current, before));
        } else {
            ini.remove(SECTION, name);
            changes.push((name, current, None));
        }
    }
    if installed.created_section {
        ini.remove_empty_section(SECTION);
    }
    println!("microsip.ini: {} ({})", path.display(), layout.describe());
    for name in &left {
        println!("  {name}: changed since callhook was installed; left as it is");
    }
    if changes.is_empty() {
        println!("callhook is not installed there: nothing to change.");
        return Ok(());
    }
    for (name, before, after) in &changes {
        match after {
            Some(after) => println!(
                "  {name}: {}  ->  {} (as before callhook)",
                terminal_safe(before),
                terminal_safe(after)
            ),
            None => println!("  {name}: {}  ->  (removed)", terminal_safe(before)),
        }
    }
    for (name, before, error) in &lost {
        println!(
            "  {name}: its value before callhook cannot be put back ({error}); set it again \
             by hand if it is still wanted: {}",
            terminal_safe(before)
        );
    }
    if args.dry_run {
        println!("Dry run: nothing was written.");
        return Ok(());
    }
    let backup = write_ini(&path, &bytes, &ini)?;
    for copy in &installed.legacy_copies {
        let _ = std::fs::remove_file(copy);
        let _ = std::fs::remove_file(aside(copy));
    }
    state.installs.remove(&key);
    state.save(locations)?;
    if locations.db.exists()
        && let Ok(mut conn) = locations.open_db()
        && contacts::recorded_ini(&conn).is_some_and(|ini| same_path(&ini, &path))
    {
        let _ = db::write(&mut conn, |tx| contacts::forget_microsip(tx));
    }
    println!("Backup of the old file: {}", backup.display());
    println!(
        "Removed callhook's {}.",
        plural(changes.len(), "hook key", "hook keys")
    );
    Ok(())
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

    #[test]
    fn saved_state_without_lines_still_loads() {
        let state: State = serde_json::from_str(
            r#"{"installs":{"/x/microsip.ini":{"previous":{"cmdCallEnd":"a"},"created_section":false,"legacy_copies":[]}}}"#,
        )
        .unwrap();
        let installed = &state.installs["/x/microsip.ini"];
        assert_eq!(installed.previous["cmdCallEnd"].as_deref(), Some("a"));
        assert!(installed.lines.is_empty());
    }
}
