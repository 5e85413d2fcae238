//! `callhook install` and `callhook uninstall`: set callhook's hook keys in microsip.ini, and
//! take them out again, changing nothing else in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::cmdline;
use crate::event::EventKind;
use crate::microsip::ini::Ini;
use crate::microsip::locate::{self, Layout};
use crate::output::terminal_safe;
use crate::paths::Locations;

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
    /// Edit the file even while MicroSIP runs (it rewrites its hook keys when it exits)
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
        .map_err(|e: crate::event::UnknownEvent| e.to_string())
}

/// What install changed in one ini, so that uninstall can put it back.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Installed {
    /// The value each key had before (absent: none).
    previous: BTreeMap<String, Option<String>>,
    /// Whether install added the `[Settings]` section.
    created_section: bool,
    /// The `callhook-<event>.exe` copies it wrote.
    legacy_copies: Vec<PathBuf>,
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

    fn save(&self, locations: &Locations) -> Result<()> {
        let path = State::path(locations);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The program MicroSIP should run: `callhookw` beside this one (no console window), else
/// this one.
fn hook_program() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find callhook's own executable")?;
    let me = std::path::absolute(&me)?;
    let hook = me.with_file_name(format!("callhookw{}", std::env::consts::EXE_SUFFIX));
    Ok(if hook.is_file() { hook } else { me })
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

/// The value for an event, in the form that survives a MicroSIP restart: wrapped in one more
/// pair of quotes than the command, which MicroSIP drops when it reads the value.
pub fn hook_value(program: &Path, kind: EventKind) -> String {
    format!("\"\"{}\" event {kind} --\"", program.display())
}

fn legacy_value(copy: &Path) -> String {
    format!("\"{}\"", copy.display())
}

/// A value MicroSIP reads in full, using the program's short 8.3 path if the long one makes
/// it too long.
fn fitting(program: &Path, value: impl Fn(&Path) -> String) -> Result<String> {
    let long = value(program);
    if as_read(&long).encode_utf16().count() <= MAX_VALUE {
        return Ok(long);
    }
    if let Some(short) = short_path(program) {
        let short = value(&short);
        if as_read(&short).encode_utf16().count() <= MAX_VALUE {
            return Ok(short);
        }
    }
    bail!(
        "the hook command for {} would be {} characters, and MicroSIP reads only {MAX_VALUE}: \
         install callhook in a shorter folder, such as C:\\callhook",
        program.display(),
        as_read(&long).encode_utf16().count()
    )
}

#[cfg(windows)]
fn short_path(path: &Path) -> Option<PathBuf> {
    crate::windows::short_path(path)
}

#[cfg(not(windows))]
fn short_path(_path: &Path) -> Option<PathBuf> {
    None
}

fn refuse_if_running(force: bool) -> Result<()> {
    if !force && !locate::running().is_empty() {
        bail!(
            "MicroSIP is running: it writes its hook keys back when it exits, which would undo \
             this. Exit MicroSIP (menu > Exit, not just closing the window), then run this again, \
             or use --force"
        );
    }
    Ok(())
}

fn read_ini(path: &Path) -> Result<Ini> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ini::parse(&bytes).with_context(|| format!("{}", path.display()))
}

/// Writes the ini after a timestamped copy of the old one; the new text goes to a temporary
/// file first, then takes the old one's place.
fn write_ini(path: &Path, ini: &Ini) -> Result<PathBuf> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let backup = path.with_file_name(format!("{name}.callhook-backup-{stamp}"));
    std::fs::copy(path, &backup)
        .with_context(|| format!("cannot back {} up to {}", path.display(), backup.display()))?;
    let temporary = path.with_file_name(format!("{name}.callhook-new"));
    std::fs::write(&temporary, ini.to_bytes())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(backup)
}

fn state_key(ini: &Path) -> String {
    std::path::absolute(ini)
        .unwrap_or_else(|_| ini.to_path_buf())
        .display()
        .to_string()
}

pub fn install(locations: &Locations, args: Args) -> Result<()> {
    let (path, layout) = locate::find_ini(args.ini.as_deref())?;
    if !args.dry_run {
        refuse_if_running(args.force)?;
    }
    let mut ini = read_ini(&path)?;
    let program = hook_program()?;
    let events = if args.events.is_empty() {
        EventKind::ALL.to_vec()
    } else {
        args.events.clone()
    };
    let mut state = State::load(locations)?;
    let key = state_key(&path);
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
            let copy =
                program.with_file_name(format!("callhook-{kind}{}", std::env::consts::EXE_SUFFIX));
            let value = fitting(&copy, legacy_value)?;
            copies.push(copy);
            value
        } else {
            fitting(&program, |p| hook_value(p, kind))?
        };
        let current = ini.get(SECTION, name);
        if current.as_deref() == Some(value.as_str()) {
            continue;
        }
        if !installed.previous.contains_key(name) {
            // What was there before callhook, to put back on uninstall.
            let before = current.clone().filter(|v| !is_ours(v));
            installed.previous.insert(name.to_string(), before);
        }
        ini.set(SECTION, name, &value)?;
        changes.push((name, current, value));
    }

    println!("microsip.ini: {} ({})", path.display(), layout.describe());
    if changes.is_empty() {
        println!("callhook is already installed there: nothing to change.");
        return Ok(());
    }
    for (name, before, after) in &changes {
        match before {
            Some(before) => println!("  {name}: {}  ->  {after}", terminal_safe(before)),
            None => println!("  {name}: (not set)  ->  {after}"),
        }
    }
    if args.dry_run {
        println!("Dry run: nothing was written.");
        return Ok(());
    }
    for copy in &copies {
        if !copy.is_file() {
            std::fs::copy(&program, copy)
                .with_context(|| format!("cannot write {}", copy.display()))?;
            installed.legacy_copies.push(copy.clone());
        }
    }
    let backup = write_ini(&path, &ini)?;
    state.installs.insert(key, installed);
    state.save(locations)?;
    println!("Backup of the old file: {}", backup.display());
    println!(
        "Set {} hook key(s). MicroSIP runs {} from its next start.",
        changes.len(),
        program.display()
    );
    if layout == Layout::Portable
        && let Some(dir) = path.parent()
        && dir.join("Contacts.xml").is_file()
        && locations.config.contacts.xml.is_none()
    {
        println!(
            "For caller names from this MicroSIP's contacts, set in {}:\n  [contacts]\n  xml = {}",
            locations.config_path.display(),
            toml::Value::String(dir.join("Contacts.xml").display().to_string())
        );
    }
    Ok(())
}

pub fn uninstall(locations: &Locations, args: UninstallArgs) -> Result<()> {
    let (path, layout) = locate::find_ini(args.ini.as_deref())?;
    if !args.dry_run {
        refuse_if_running(args.force)?;
    }
    let mut ini = read_ini(&path)?;
    let mut state = State::load(locations)?;
    let key = state_key(&path);
    let installed = state.installs.get(&key).cloned().unwrap_or_default();
    let mut changes = Vec::new();
    let mut left = Vec::new();
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
        match installed.previous.get(name).cloned().flatten() {
            Some(before) => {
                ini.set(SECTION, name, &before)?;
                changes.push((name, current, Some(before)));
            }
            None => {
                ini.remove(SECTION, name);
                changes.push((name, current, None));
            }
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
                "  {name}: {before}  ->  {} (as before callhook)",
                terminal_safe(after)
            ),
            None => println!("  {name}: {before}  ->  (removed)"),
        }
    }
    if args.dry_run {
        println!("Dry run: nothing was written.");
        return Ok(());
    }
    let backup = write_ini(&path, &ini)?;
    for copy in &installed.legacy_copies {
        let _ = std::fs::remove_file(copy);
    }
    state.installs.remove(&key);
    state.save(locations)?;
    println!("Backup of the old file: {}", backup.display());
    println!("Removed callhook's {} hook key(s).", changes.len());
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
}
