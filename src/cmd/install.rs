//! `callhook install` and `callhook uninstall`: set callhook's hook keys in microsip.ini, and
//! take them out again, changing nothing else in the file.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::locations::Locations;
use crate::log::contacts;
use crate::log::db;
use crate::log::event::EventKind;
use crate::microsip::hooks::{
    SECTION, console_program, copy_is_stale, fitting, hook_program, hook_value, is_ours,
    legacy_copy, legacy_value, normalised, same_path, utf8_mark_problem,
};
use crate::microsip::ini::{Encoding, Ini};
use crate::microsip::locate;
use crate::report::output::{plural, terminal_safe};

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

/// The key of an ini in install.json, so that `--ini C:\...\MICROSIP.INI` finds the record
/// of the path install found itself.
fn state_key(ini: &Path) -> String {
    normalised(ini)
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
    let program = program_to_hook(args.force)?;
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
    let (changes, copies) = set_hooks(&mut ini, &mut installed, &program, &events, args.legacy)?;
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
    print_changes(&changes, &stale);
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
    if !changes.is_empty() {
        let backup = write_recorded(locations, &mut state, key, installed, &path, &bytes, &ini)?;
        println!("Backup of the old file: {}", backup.display());
        println!(
            "Set {}. MicroSIP runs {} from its next start.",
            plural(changes.len(), "hook key", "hook keys"),
            program.display()
        );
    } else {
        state.installs.insert(key, installed);
        state.save(locations)?;
        println!("The hook keys were set already; brought the legacy copies up to date.");
    }
    record_contacts(locations, &path);
    Ok(())
}

/// The program the hooks run: `callhookw`; with `--force`, the console program when
/// `callhookw` is missing.
fn program_to_hook(force: bool) -> Result<PathBuf> {
    match hook_program() {
        Ok(program) => Ok(program),
        Err(e) if force => {
            eprintln!("Warning: {e:#}\nWarning: --force: hooking the console program.");
            console_program()
        }
        Err(e) => Err(e),
    }
}

/// A hook key install changes: its name, its value before, and the new one.
type Change = (&'static str, Option<String>, String);

/// Sets the hook keys of `events` in `ini`, keeping in `installed` what each held before
/// callhook (to put back on uninstall). Returns the keys changed and, with `legacy`, the
/// copies of the program the keys run.
fn set_hooks(
    ini: &mut Ini,
    installed: &mut Installed,
    program: &Path,
    events: &[EventKind],
    legacy: bool,
) -> Result<(Vec<Change>, Vec<PathBuf>)> {
    // Without a UTF-16 mark MicroSIP reads the file in the ANSI code page.
    let ascii_only = ini.encoding() != Encoding::Utf16Le;
    let shorten = crate::platform::short_path;
    let mut changes = Vec::new();
    let mut copies = Vec::new();
    for &kind in events {
        let name = kind.ini_key();
        let value = if legacy {
            let copy = legacy_copy(program, kind);
            let value = fitting(&copy, legacy_value, ascii_only, shorten)?;
            copies.push(copy);
            value
        } else {
            fitting(program, |p| hook_value(p, kind), ascii_only, shorten)?
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
                let encoding = ini.encoding();
                installed
                    .lines
                    .insert(name.to_string(), SavedLine { encoding, units });
            }
            installed.previous.insert(name.to_string(), before);
        }
        ini.set(SECTION, name, &value)?;
        changes.push((name, current, value));
    }
    Ok((changes, copies))
}

fn print_changes(changes: &[Change], stale: &[&PathBuf]) {
    for (name, before, after) in changes {
        match before {
            Some(before) => println!("  {name}: {}  ->  {after}", terminal_safe(before)),
            None => println!("  {name}: (not set)  ->  {after}"),
        }
    }
    for copy in stale {
        let what = if copy.exists() { "update" } else { "write" };
        println!("  {what} {}", copy.display());
    }
}

/// Records what install changed, then writes the ini; returns the backup of the old file. The
/// record goes first: if the ini then cannot be written, it still describes the file (and is
/// put back as it was); the other way round, the old values could be lost.
fn write_recorded(
    locations: &Locations,
    state: &mut State,
    key: String,
    installed: Installed,
    path: &Path,
    bytes: &[u8],
    ini: &Ini,
) -> Result<PathBuf> {
    let before = state.installs.insert(key.clone(), installed);
    state.save(locations)?;
    write_ini(path, bytes, ini).inspect_err(|_| {
        match before {
            Some(before) => state.installs.insert(key, before),
            None => state.installs.remove(&key),
        };
        let _ = state.save(locations);
    })
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
    let restored = restore_hooks(&mut ini, &installed);
    if installed.created_section {
        ini.remove_empty_section(SECTION);
    }
    println!("microsip.ini: {} ({})", path.display(), layout.describe());
    for name in &restored.left {
        println!("  {name}: changed since callhook was installed; left as it is");
    }
    if restored.changes.is_empty() {
        println!("callhook is not installed there: nothing to change.");
        return Ok(());
    }
    restored.print();
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
        plural(restored.changes.len(), "hook key", "hook keys")
    );
    Ok(())
}

/// What uninstall does to the hook keys.
#[derive(Default)]
struct Restored {
    /// Each key of callhook's: its value, and what it becomes (`None`: removed).
    changes: Vec<(&'static str, String, Option<String>)>,
    /// Keys install set that hold something else now.
    left: Vec<&'static str>,
    /// Keys whose earlier value cannot be written back: the value and why.
    lost: Vec<(&'static str, String, String)>,
}

/// Puts back what each of callhook's hook keys held before install: the line exactly as it
/// was, else the value as it was read, else nothing.
fn restore_hooks(ini: &mut Ini, installed: &Installed) -> Restored {
    let mut restored = Restored::default();
    for kind in EventKind::ALL {
        let name = kind.ini_key();
        let Some(current) = ini.get(SECTION, name) else {
            continue;
        };
        if !is_ours(&current) {
            if installed.previous.contains_key(name) {
                restored.left.push(name);
            }
            continue;
        }
        let before = installed.previous.get(name).cloned().flatten();
        let exact = match installed.lines.get(name) {
            Some(saved) if saved.encoding == ini.encoding() => {
                ini.restore_line(SECTION, name, &saved.units).is_ok()
            }
            _ => false,
        };
        let put_back = exact
            || before
                .as_ref()
                .is_some_and(|before| match ini.set(SECTION, name, before) {
                    Ok(()) => true,
                    Err(e) => {
                        restored.lost.push((name, before.clone(), e.to_string()));
                        false
                    }
                });
        if put_back {
            restored.changes.push((name, current, before));
        } else {
            ini.remove(SECTION, name);
            restored.changes.push((name, current, None));
        }
    }
    restored
}

impl Restored {
    fn print(&self) {
        for (name, before, after) in &self.changes {
            match after {
                Some(after) => println!(
                    "  {name}: {}  ->  {} (as before callhook)",
                    terminal_safe(before),
                    terminal_safe(after)
                ),
                None => println!("  {name}: {}  ->  (removed)", terminal_safe(before)),
            }
        }
        for (name, before, error) in &self.lost {
            println!(
                "  {name}: its value before callhook cannot be put back ({error}); set it again \
                 by hand if it is still wanted: {}",
                terminal_safe(before)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
