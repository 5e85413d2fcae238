//! `callhook doctor`: checks the set-up end to end and says how to fix what is wrong.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use comfy_table::{Cell, Color};

use crate::central::db::{self as central_db, block_on};
use crate::central::desks;
use crate::config::locations::Locations;
use crate::effects::central::batch::Batch;
use crate::effects::central::link::{self, Progress};
use crate::effects::central::send::{self as central_send, Answer};
use crate::effects::webhook::send::{self, Outcome};
use crate::log::call::now_ms;
use crate::log::db;
use crate::log::event::EventKind;
use crate::log::fallback;
use crate::microsip::hooks::{
    self, HookTarget, SECTION, copy_is_stale, hook_program, hook_target, is_ours, legacy_copy,
    same_path,
};
use crate::microsip::ini::Ini;
use crate::microsip::locate::{self, Layout};
use crate::report::output::{self, plural, terminal_safe};

#[derive(clap::Args)]
pub struct Args {
    /// microsip.ini [default: found as for install]
    #[arg(long, value_name = "PATH")]
    ini: Option<std::path::PathBuf>,
    /// Send each webhook a signed test event (else only connect to it)
    #[arg(long)]
    send: bool,
}

/// How bad a finding is. Only `Fail` makes doctor exit non-zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// Works.
    Ok,
    /// Information, nothing to fix.
    Note,
    /// Works, but deserves a look.
    Warn,
    /// Calls are (or may be) lost or recorded wrong, or a configured feature does not work.
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        })
    }
}

struct Finding {
    check: String,
    level: Level,
    detail: String,
    hint: String,
}

#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn add(
        &mut self,
        check: &str,
        level: Level,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Finding {
            check: check.to_string(),
            level,
            detail: detail.into(),
            hint: hint.into(),
        });
    }
}

pub fn run(locations: &Locations, args: Args) -> Result<std::process::ExitCode> {
    let mut report = Report::default();
    config(locations, &mut report);
    database(locations, &mut report);
    microsip(args.ini.as_deref(), &mut report);
    webhooks(locations, args.send, &mut report);
    popup(locations, &mut report);
    serve(locations, &mut report);
    central(locations, &mut report);
    central_server(locations, &mut report);

    let colour = output::colour();
    let mut table = output::fitted(["Check", "", "Detail", "How to fix"]);
    for f in &report.0 {
        let mut level = Cell::new(f.level);
        if colour {
            level = level.fg(match f.level {
                Level::Ok => Color::Green,
                Level::Note => Color::Cyan,
                Level::Warn => Color::Yellow,
                Level::Fail => Color::Red,
            });
        }
        table.add_row([
            Cell::new(&f.check),
            level,
            Cell::new(terminal_safe(&f.detail)),
            Cell::new(terminal_safe(&f.hint)),
        ]);
    }
    println!("{}", output::styled(table, colour));
    let failed = report.0.iter().filter(|f| f.level == Level::Fail).count();
    Ok(if failed == 0 {
        println!("Everything needed works.");
        std::process::ExitCode::SUCCESS
    } else {
        println!("{} to fix.", plural(failed, "problem", "problems"));
        std::process::ExitCode::FAILURE
    })
}

fn config(locations: &Locations, report: &mut Report) {
    let path = locations.config_path.display().to_string();
    match &locations.config_error {
        Some(e) => report.add(
            "config",
            Level::Fail,
            e.to_string(),
            "fix that line; config.example.toml documents every key",
        ),
        None if locations.config_path.is_file() => report.add("config", Level::Ok, path, ""),
        None => report.add(
            "config",
            Level::Note,
            format!("{path} does not exist: defaults apply"),
            "",
        ),
    }
}

/// Opens the database as it is, for reading: no migration, no file created.
fn open_as_is(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(db::ADMIN_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn database(locations: &Locations, report: &mut Report) {
    let conn = schema(locations, report);
    if let Some(conn) = &conn {
        integrity(conn, report);
        deliveries(conn, report);
    }
    fallback_logs(locations, conn.as_ref(), report);
    if let Some(conn) = &conn {
        contacts(locations, conn, report);
    }
}

/// The database opens, with a schema this callhook can use; its connection if so.
fn schema(locations: &Locations, report: &mut Report) -> Option<rusqlite::Connection> {
    let path = locations.db.display().to_string();
    if !locations.db.exists() {
        report.add(
            "database",
            Level::Note,
            format!("{path} does not exist yet"),
            "the first call event creates it",
        );
        return None;
    }
    let (conn, version, calls) = open_database(&locations.db, report)?;
    let calls = plural(calls as usize, "call", "calls");
    let current = db::SCHEMA_VERSION;
    if version > current {
        report.add(
            "database",
            Level::Fail,
            format!("{path}: schema {version}, newer than this callhook's ({current})"),
            "use the callhook that wrote it, or a newer one",
        );
        return None;
    } else if version < current {
        report.add(
            "database",
            Level::Warn,
            format!("{path}: schema {version}, older than this callhook's ({current}); {calls}"),
            "the next event or command brings it up to date",
        );
    } else {
        report.add(
            "database",
            Level::Ok,
            format!("{path}: schema {version} (current), {calls}"),
            "",
        );
    }
    Some(conn)
}

/// The database opened as is, with its schema version and number of calls; a failure in the
/// report if it does not open.
fn open_database(db: &Path, report: &mut Report) -> Option<(rusqlite::Connection, u32, i64)> {
    let path = db.display();
    let opened = open_as_is(db).and_then(|conn| {
        let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let calls: i64 = conn.query_row("SELECT count(*) FROM calls", [], |r| r.get(0))?;
        Ok((conn, version, calls))
    });
    match opened {
        Ok(opened) => Some(opened),
        Err(e) if is_damage(&e) => {
            report.add(
                "database",
                Level::Fail,
                format!("{path} is damaged: {e}"),
                RECOVER,
            );
            None
        }
        Err(e) => {
            report.add(
                "database",
                Level::Fail,
                format!("{path}: {e}"),
                "check the path (--db, CALLHOOK_DB, [database] path), its folder's permissions, \
                 and that it is a callhook database",
            );
            None
        }
    }
}

/// How long doctor looks for damage in the database file.
const INTEGRITY_TIME_LIMIT: Duration = Duration::from_secs(10);

/// SQLite's quick check of the whole file (every page, index and constraint but the slow
/// ones), within [`INTEGRITY_TIME_LIMIT`].
fn integrity(conn: &rusqlite::Connection, report: &mut Report) {
    let interrupt = conn.get_interrupt_handle();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if finished.recv_timeout(INTEGRITY_TIME_LIMIT).is_err() {
            interrupt.interrupt();
        }
    });
    let problems: rusqlite::Result<Vec<String>> = conn
        .prepare("PRAGMA quick_check(5)")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    let _ = done.send(());
    let _ = timer.join();
    match problems {
        Ok(problems) if problems == ["ok"] => {
            report.add("integrity", Level::Ok, "no damage found (quick check)", "")
        }
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => {
            report.add(
                "integrity",
                Level::Note,
                format!(
                    "the quick check did not finish within {} s",
                    INTEGRITY_TIME_LIMIT.as_secs()
                ),
                "for a full check: sqlite3 calls.db \"PRAGMA integrity_check\"",
            )
        }
        Ok(problems) => report.add(
            "integrity",
            Level::Fail,
            format!("the database file is damaged: {}", problems.join("; ")),
            RECOVER,
        ),
        Err(e) => report.add(
            "integrity",
            Level::Fail,
            format!("the database file is damaged: {e}"),
            RECOVER,
        ),
    }
}

const RECOVER: &str = "hooks write to the fallback log until it is fixed: with MicroSIP closed, \
    restore a backup, or rebuild it (sqlite3 calls.db \".recover\" | sqlite3 fixed.db) and put \
    fixed.db in its place; the worker then stores what the fallback log holds";

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

fn deliveries(conn: &rusqlite::Connection, report: &mut Report) {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0) as usize;
    let failed = count("SELECT count(*) FROM outbox WHERE status IN ('failed', 'stopped')");
    let hour_ago = now_ms() - 3_600_000;
    let late = conn
        .query_row(
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND created_at < ?1",
            [hour_ago],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0) as usize;
    let pending = count("SELECT count(*) FROM outbox WHERE status = 'pending'");
    if failed > 0 {
        report.add(
            "deliveries",
            Level::Fail,
            format!(
                "{} failed or stopped, {pending} pending",
                plural(failed, "delivery", "deliveries")
            ),
            "callhook outbox --status failed; then callhook outbox retry --failed",
        );
    } else if late > 0 {
        report.add(
            "deliveries",
            Level::Warn,
            format!("{pending} pending, {late} of them for over an hour"),
            "callhook outbox shows the last errors; callhook deliver sends them now",
        );
    } else {
        report.add("deliveries", Level::Ok, format!("{pending} pending"), "");
    }
}

/// The fallback logs (beside the database, in the temp directory, and any being drained):
/// how many events wait in each, and the lines that cannot be stored.
fn fallback_logs(locations: &Locations, conn: Option<&rusqlite::Connection>, report: &mut Report) {
    let logs = fallback::logs_for(Some(&locations.db));
    rejected_lines(&logs, report);
    let mut files = logs;
    if let Some(conn) = conn {
        files.extend(crate::effects::drain::claimed_files(conn).unwrap_or_default());
    }
    for file in &files {
        if let Some(census) = fallback_census(file, &locations.db, conn, report) {
            census_findings(file, &census, report);
        }
    }
}

/// The lines a drain could not store, kept beside each log for a person to read.
fn rejected_lines(logs: &[PathBuf], report: &mut Report) {
    for log in logs {
        let rejected = crate::effects::drain::rejected_path(log);
        if let Ok(lines) = count_lines(&rejected) {
            report.add(
                "fallback log",
                Level::Warn,
                format!(
                    "{} kept in {}: they could not be stored",
                    plural(lines, "line", "lines"),
                    rejected.display()
                ),
                "read them (a damaged line, an unknown event); delete the file when done",
            );
        }
    }
}

/// What one fallback log holds for this database; none if it is gone, or (a failure in the
/// report) does not read.
fn fallback_census(
    file: &Path,
    db: &Path,
    conn: Option<&rusqlite::Connection>,
    report: &mut Report,
) -> Option<fallback::Census> {
    let census = fallback::census(file, db, |checked| {
        conn.is_some_and(|conn| {
            crate::effects::drain::is_stored_entry(conn, checked).unwrap_or(false)
        })
    });
    match census {
        Ok(census) => Some(census),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            report.add(
                "fallback log",
                Level::Fail,
                format!("{}: {e}", file.display()),
                "it may hold events that are not stored: check its permissions",
            );
            None
        }
    }
}

/// A log's events waiting to be stored, its lines that cannot be, and other databases' events.
fn census_findings(file: &Path, census: &fallback::Census, report: &mut Report) {
    let place = file.display();
    if census.waiting > 0 {
        report.add(
            "fallback log",
            Level::Fail,
            format!(
                "{} to be stored in {place}",
                plural(census.waiting, "event waits", "events wait")
            ),
            "the worker stores them by itself after the next call event that is stored; \
             callhook replay stores them now",
        );
    }
    if census.bad > 0 {
        report.add(
            "fallback log",
            Level::Warn,
            format!(
                "{} cannot be stored, in {place}",
                plural(census.bad, "line", "lines")
            ),
            format!(
                "replay moves them to {}",
                crate::effects::drain::rejected_path(file).display()
            ),
        );
    }
    if census.other > 0 {
        report.add(
            "fallback log",
            Level::Note,
            format!(
                "{} in {place}",
                plural(
                    census.other,
                    "event for another database",
                    "events for other databases"
                )
            ),
            "",
        );
    }
}

/// The lines of a file, read a block at a time.
fn count_lines(path: &Path) -> std::io::Result<usize> {
    let mut file = std::fs::File::open(path)?;
    let mut block = vec![0; 64 * 1024];
    let mut lines = 0;
    loop {
        let n = std::io::Read::read(&mut file, &mut block)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += block[..n].iter().filter(|&&b| b == b'\n').count();
    }
}

/// Where caller names come from, and whether the files read.
fn contacts(locations: &Locations, conn: &rusqlite::Connection, report: &mut Report) {
    let errors: Vec<String> = conn
        .prepare("SELECT path || ': ' || error FROM contact_sources WHERE error IS NOT NULL")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default();
    for error in &errors {
        report.add(
            "contacts",
            Level::Warn,
            error,
            "fix the file; callers get the names of its last good reading meanwhile",
        );
    }
    for (file, _, origin) in locations.config.contacts.sources(conn) {
        let what = format!("{} ({})", file.display(), origin.describe());
        if !file.exists() {
            report.add(
                "contacts",
                Level::Note,
                format!("{what} does not exist: no names from it"),
                "",
            );
        } else if !errors
            .iter()
            .any(|e| e.starts_with(&file.display().to_string()))
        {
            report.add("contacts", Level::Ok, what, "");
        }
    }
}

fn microsip(ini: Option<&Path>, report: &mut Report) {
    let found = locate::find_ini(ini);
    microsip_running(&found, report);
    let Some((path, layout)) = ini_found(found, report) else {
        return;
    };
    let Some(ini) = read_ini(&path, report) else {
        return;
    };
    ini_encoding(&ini, &path, layout, report);
    hooks(&ini, report);
    if cfg!(windows) {
        full_program(report);
    }
}

/// Whether MicroSIP runs (for this ini, when it is found): it writes its hook keys back on exit.
fn microsip_running(found: &Result<(PathBuf, Layout)>, report: &mut Report) {
    let running = match found {
        Ok((path, _)) => locate::running_for(path),
        Err(_) => locate::running(),
    };
    report.add(
        "MicroSIP",
        if running.is_empty() {
            Level::Ok
        } else {
            Level::Note
        },
        if running.is_empty() {
            "not running".to_string()
        } else {
            format!(
                "running ({})",
                plural(running.len(), "instance", "instances")
            )
        },
        if running.is_empty() {
            ""
        } else {
            "exit it before callhook install or uninstall: it writes its hook keys back on exit"
        },
    );
}

/// The microsip.ini found, or a failure in the report.
fn ini_found(found: Result<(PathBuf, Layout)>, report: &mut Report) -> Option<(PathBuf, Layout)> {
    match found {
        Ok(found) => Some(found),
        Err(e) => {
            report.add(
                "microsip.ini",
                Level::Fail,
                format!("{e:#}"),
                "start MicroSIP once, or pass --ini",
            );
            None
        }
    }
}

/// The microsip.ini read and parsed, or a failure in the report.
fn read_ini(path: &Path, report: &mut Report) -> Option<Ini> {
    match std::fs::read(path)
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok(Ini::parse(&b)?))
    {
        Ok(ini) => Some(ini),
        Err(e) => {
            report.add(
                "microsip.ini",
                Level::Fail,
                format!("{}: {e:#}", path.display()),
                "",
            );
            None
        }
    }
}

/// Whether MicroSIP can read the ini: a UTF-8 byte-order mark can hide its sections from it.
fn ini_encoding(ini: &Ini, path: &Path, layout: Layout, report: &mut Report) {
    let fix_mark = "with MicroSIP closed, save it as UTF-16 LE (Notepad: File > Save As, \
                    Encoding \"UTF-16 LE\"), then callhook install";
    match hooks::utf8_mark_problem(ini) {
        Err(problem) => report.add(
            "microsip.ini",
            Level::Fail,
            format!("{}: {problem}", path.display()),
            fix_mark,
        ),
        Ok(Some(warning)) => report.add(
            "microsip.ini",
            Level::Warn,
            format!("{}: {warning}", path.display()),
            fix_mark,
        ),
        Ok(None) => report.add(
            "microsip.ini",
            Level::Ok,
            format!("{} ({})", path.display(), layout.describe()),
            "",
        ),
    }
}

/// callhook.exe beside the hook program: the worker and the commands callhookw hands on run it.
fn full_program(report: &mut Report) {
    match crate::config::locations::full_program() {
        Ok(_) => {}
        Err(e) => report.add(
            "callhook.exe",
            Level::Fail,
            format!("{e:#}"),
            "keep callhook.exe and callhookw.exe in one folder",
        ),
    }
}

/// Each hook key: runs this callhook (the program install writes, from this folder), for its
/// own event, with a program that exists and, for a legacy copy, is up to date.
fn hooks(ini: &Ini, report: &mut Report) {
    let here = Here::now();
    let mut tally = HookTally::default();
    for kind in EventKind::ALL {
        let key = kind.ini_key();
        let value = match ini.get(SECTION, key) {
            Some(value) if !value.trim().is_empty() => value,
            _ => {
                tally.missing.push(key);
                continue;
            }
        };
        match hook_runs(kind, &value, &here) {
            Ok(program) => {
                if hooks::runs_console_program(&program) {
                    tally.console += 1;
                }
                tally.good += 1;
            }
            Err((level, detail, hint)) => {
                tally.broken += 1;
                report.add(key, level, detail, hint);
            }
        }
    }
    console_hooks(tally.console, report);
    hooks_summary(&tally, here.program.as_deref(), report);
}

/// The callhook that doctor is: the program install would write, and its folder.
struct Here {
    program: Option<PathBuf>,
    folder: Option<PathBuf>,
}

impl Here {
    fn now() -> Here {
        let program = hook_program().ok();
        let me = std::env::current_exe().ok();
        Here {
            program,
            folder: me.as_deref().and_then(Path::parent).map(Path::to_path_buf),
        }
    }
}

/// How the hook keys stand: the ones that run this callhook (some of them the console
/// program), the ones left out, and the ones that run something else.
#[derive(Default)]
struct HookTally {
    good: usize,
    missing: Vec<&'static str>,
    broken: usize,
    console: usize,
}

/// A hook key's problem: how bad, what is wrong and how to fix it.
type Problem = (Level, String, String);

/// The program a hook value runs, if it is this callhook's hook for `kind`.
fn hook_runs(kind: EventKind, value: &str, here: &Here) -> Result<String, Problem> {
    if !is_ours(value) {
        return Err((
            Level::Fail,
            format!("runs another program, not callhook: {value}"),
            "callhook install replaces it (and uninstall puts it back)".to_string(),
        ));
    }
    let Some(target) = hook_target(value) else {
        return Err((
            Level::Fail,
            format!("cannot tell what it runs: {value}"),
            "callhook install".to_string(),
        ));
    };
    match target_problem(kind, value, &target, here) {
        Some(problem) => Err(problem),
        None => Ok(target.program),
    }
}

/// What is wrong with a callhook hook: another event, a program that is missing, from another
/// folder, or a legacy copy of an older callhook.
fn target_problem(
    kind: EventKind,
    value: &str,
    target: &HookTarget,
    here: &Here,
) -> Option<Problem> {
    let runs = Path::new(&target.program);
    let folder = here.folder.as_deref();
    if target.event.as_deref() != Some(kind.as_str()) {
        Some((
            Level::Fail,
            format!(
                "records the event {}, not {kind}: {value}",
                target.event.as_deref().unwrap_or("(none)")
            ),
            "callhook install".to_string(),
        ))
    } else if !runs.is_file() {
        Some((
            Level::Fail,
            format!("runs {}, which does not exist", target.program),
            "callhook install".to_string(),
        ))
    } else if folder.is_some_and(|folder| !runs.parent().is_some_and(|p| same_path(p, folder))) {
        Some((
            Level::Fail,
            format!(
                "runs {}, not this callhook ({})",
                target.program,
                folder
                    .map(Path::display)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
            "callhook install (run by the callhook to keep) points the hooks at it".to_string(),
        ))
    } else if let Some(program) = &here.program
        && target.legacy
        && copy_is_stale(program, &legacy_copy(program, kind))
    {
        Some((
            Level::Fail,
            format!("runs {}, a copy of an older callhook", target.program),
            "callhook install --legacy updates the copies".to_string(),
        ))
    } else {
        None
    }
}

/// Hooks that run the console program, which may flash a window up on every call.
fn console_hooks(console: usize, report: &mut Report) {
    if console > 0 {
        report.add(
            "hooks",
            Level::Warn,
            format!(
                "{} the console program callhook, not callhookw: a console window may flash up \
                 on every call",
                plural(console, "event runs", "events run")
            ),
            "put callhookw beside callhook, then callhook install (with MicroSIP closed)",
        );
    }
}

/// Whether every event runs callhook, none does, or only some.
fn hooks_summary(tally: &HookTally, program: Option<&Path>, report: &mut Report) {
    let all = EventKind::ALL.len();
    let good = tally.good;
    let shown = program.map(|p| p.display().to_string()).unwrap_or_default();
    if good == all {
        report.add(
            "hooks",
            Level::Ok,
            format!("every event runs callhook ({shown})"),
            "",
        );
    } else if good == 0 && tally.broken == 0 {
        report.add(
            "hooks",
            Level::Fail,
            "no event runs callhook",
            "callhook install (with MicroSIP closed)",
        );
    } else {
        let mut detail = format!("{good} of {all} events run callhook");
        if !tally.missing.is_empty() {
            detail.push_str(&format!("; not hooked: {}", tally.missing.join(", ")));
        }
        report.add(
            "hooks",
            Level::Fail,
            detail,
            "callhook install hooks them all (with MicroSIP closed); calls are recorded wrong \
             without them",
        );
    }
}

fn webhooks(locations: &Locations, send: bool, report: &mut Report) {
    let client = if send { send::client().ok() } else { None };
    for hook in &locations.config.webhooks {
        let check = format!("webhook {}", hook.key());
        if let Some(client) = &client {
            let id = crate::effects::webhook::message_id(&crate::log::fold::event_id(now_ms()));
            let body = serde_json::json!({"type": "call.test", "timestamp": crate::log::call::rfc3339(now_ms()), "data": {}}).to_string();
            match send::post(client, hook, hook.url.0.as_str(), &id, &body).outcome {
                Outcome::Delivered { status } => report.add(
                    &check,
                    Level::Ok,
                    format!("accepted a signed test event (HTTP {status})"),
                    "",
                ),
                Outcome::Gone => report.add(
                    &check,
                    Level::Fail,
                    "answered 410 Gone",
                    "the endpoint wants no more deliveries: remove or fix it",
                ),
                Outcome::Failed { error, .. } => report.add(
                    &check,
                    Level::Fail,
                    error,
                    "check the URL, the secret and the receiver",
                ),
            }
            continue;
        }
        let url = &hook.url.0;
        let target = (
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(443),
        );
        let reached = target
            .to_socket_addrs()
            .map_err(|e| e.to_string())
            .and_then(|mut addrs| {
                let addr = addrs.next().ok_or("no address")?;
                TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| e.to_string())
            });
        match reached {
            Ok(_) => report.add(
                &check,
                Level::Ok,
                format!("{url} is reachable"),
                "doctor --send also sends a signed test event",
            ),
            Err(e) => report.add(
                &check,
                Level::Fail,
                format!("{url}: {e}"),
                "check the URL, DNS, firewall and proxy",
            ),
        }
    }
}

fn popup(locations: &Locations, report: &mut Report) {
    let Some(popup) = &locations.config.popup else {
        return;
    };
    match popup.opener.as_ref().and_then(|o| o.first()) {
        Some(program) if found(program) => {
            report.add("popup", Level::Ok, format!("opens with {program}"), "")
        }
        Some(program) => report.add(
            "popup",
            Level::Fail,
            format!("the opener {program} is not found"),
            "give its full path in popup.opener",
        ),
        None if cfg!(windows) || cfg!(target_os = "macos") => {
            report.add("popup", Level::Ok, "opens with the default browser", "")
        }
        None if found("xdg-open") => report.add("popup", Level::Ok, "opens with xdg-open", ""),
        None => report.add(
            "popup",
            Level::Fail,
            "xdg-open is not installed",
            "install xdg-utils, or set popup.opener",
        ),
    }
}

/// `[serve]`: an address other than loopback needs TLS (and a certificate that loads), and the
/// API token must be its user's alone.
fn serve(locations: &Locations, report: &mut Report) {
    let settings = &locations.config.serve;
    let listen = settings.listen;
    if let Some((key, why)) = settings.problem(listen) {
        report.add("serve", Level::Fail, why, format!("fix [serve] {key}"));
    } else if let Some((cert, key)) = settings.tls() {
        let dir = locations.config_path.parent().unwrap_or(Path::new("."));
        match crate::serve::tls::config(&dir.join(cert), &dir.join(key)) {
            Ok(_) => report.add(
                "serve",
                Level::Note,
                format!("listens on {listen} over HTTPS: other computers can reach it"),
                "",
            ),
            Err(e) => report.add(
                "serve",
                Level::Fail,
                format!("{e:#}"),
                "fix [serve] tls_cert and tls_key",
            ),
        }
    } else {
        report.add(
            "serve",
            Level::Ok,
            format!("listens on {listen}: this computer only"),
            "",
        );
    }
    let token = crate::serve::auth::token_path(&locations.config_path);
    match std::fs::metadata(&token) {
        Ok(meta) if !crate::platform::is_private(&meta) => report.add(
            "serve token",
            Level::Fail,
            format!("{} can be read by other users", token.display()),
            "make it readable by its owner only (chmod 600), or delete it for a new one",
        ),
        Ok(_) => report.add(
            "serve token",
            Level::Ok,
            format!("{} (yours only)", token.display()),
            "",
        ),
        Err(_) => report.add(
            "serve token",
            Level::Note,
            "none yet",
            "`callhook serve` creates it on its first start",
        ),
    }
}

/// The desk's replication to central: a key that central accepts (an empty signed batch, which
/// stores nothing), the changes waiting and the last success, and a plain http URL beyond
/// this computer.
/// A desk that has not delivered for this long is worth a look.
const DESK_QUIET_MS: i64 = 24 * 3_600_000;

/// On central (`[central] database`): PostgreSQL reachable with a schema this callhook knows,
/// and each desk's last contact, backlog and clock.
fn central_server(locations: &Locations, report: &mut Report) {
    let Some(url) = &locations.config.central.database else {
        return;
    };
    let connected = block_on(async {
        let central = central_db::connect(url).await?;
        let schema = central.schema_version().await?;
        let desks = desks::list(&central).await?;
        anyhow::Ok((schema, desks))
    });
    let (schema, desks) = match connected {
        Ok(found) => found,
        Err(e) => {
            report.add(
                "central database",
                Level::Fail,
                format!("{e:#}"),
                "check that PostgreSQL runs, and [central] database's host, user, password and \
                 database (the README's \"Setting up central\")",
            );
            return;
        }
    };
    report.add(
        "central database",
        Level::Ok,
        format!("PostgreSQL answers; schema version {schema}"),
        "",
    );
    let active: Vec<_> = desks.iter().filter(|d| d.revoked_at.is_none()).collect();
    if active.is_empty() {
        report.add(
            "desks",
            Level::Note,
            "no desk delivers to this central",
            "add each desk with `callhook central add-desk NAME`",
        );
    }
    let now = now_ms();
    for desk in active {
        let check = format!("desk {}", output::caller_safe(&desk.name));
        let waiting = desk.last_backlog.unwrap_or(0);
        match desk.last_contact_ms {
            None => report.add(
                &check,
                Level::Note,
                "has not delivered yet",
                "put the block `central add-desk` printed into the desk's config; run `callhook \
                 doctor` there",
            ),
            Some(at) if now - at > DESK_QUIET_MS => report.add(
                &check,
                Level::Warn,
                format!(
                    "last delivered {} ago{}",
                    output::duration(now - at),
                    if waiting > 0 {
                        format!(", with {waiting} changes still to send")
                    } else {
                        String::new()
                    }
                ),
                "a desk delivers when it takes calls: if it did, run `callhook doctor` on it",
            ),
            Some(_) => match desk.clock_skew_ms.filter(|ms| ms.abs() > 2_000) {
                Some(ms) => report.add(
                    &check,
                    Level::Warn,
                    format!(
                        "its clock is {} {} central's",
                        output::duration(ms.abs()),
                        if ms > 0 { "behind" } else { "ahead of" }
                    ),
                    "its calls show its own times: synchronise its clock (Windows time service)",
                ),
                None => report.add(
                    &check,
                    Level::Ok,
                    format!(
                        "{} calls; {}",
                        desk.calls,
                        if waiting > 0 {
                            format!("{waiting} changes still to send")
                        } else {
                            "up to date".to_string()
                        }
                    ),
                    "",
                ),
            },
        }
    }
}

fn central(locations: &Locations, report: &mut Report) {
    let config = &locations.config.central;
    let progress = open_as_is(&locations.db)
        .ok()
        .filter(|_| locations.db.exists())
        .and_then(|conn| link::progress(&conn).ok().flatten());
    let Some(to) = config.delivery() else {
        if config.key.is_some() {
            report.add(
                "central",
                Level::Warn,
                "[central] key is set, but no url: nothing is sent",
                "set [central] url to central's address",
            );
        } else if let Some(progress) = progress.filter(|_| locations.config_error.is_none()) {
            report.add(
                "central",
                Level::Note,
                format!(
                    "[central] left the config; the link to {} remains, with {}",
                    progress.link.url,
                    plural(progress.waiting as usize, "change", "changes")
                ),
                "the next worker removes it (callhook deliver does it now)",
            );
        }
        return;
    };
    let url = to.url;
    if url.scheme() == "http" && !is_loopback(url) {
        report.add(
            "central",
            Level::Warn,
            format!("{url} is plain http: the call data crosses the network in clear"),
            "serve central over https ([serve] tls_cert and tls_key there), and use an https url",
        );
    }
    let progress = progress.filter(|p| p.link.url == url.as_str());
    let batch = Batch {
        desk: config.desk_name(),
        sent_at: now_ms(),
        backlog: progress.as_ref().map_or(0, |p| p.waiting as u64),
        backfilled: progress.as_ref().is_some_and(|p| p.link.backfill_done),
        calls: Vec::new(),
        gone: Vec::new(),
    };
    let body = serde_json::to_vec(&batch).unwrap_or_default();
    let (answer, skew) = match central_send::client() {
        Ok(client) => central_send::post_timed(&client, url, to.key(), &body),
        Err(e) => {
            let error = format!("cannot set up HTTP: {e}");
            (
                Answer::Refused {
                    status: None,
                    error,
                },
                None,
            )
        }
    };
    if let Some(skew) = skew {
        clock_skew(skew, report);
    }
    match answer {
        Answer::Accepted { receipt, .. } => {
            let known = receipt
                .map(|r| format!(": central knows this desk as {}", r.desk))
                .unwrap_or_default();
            report.add(
                "central",
                Level::Ok,
                format!("{url} accepts this desk's key{known}"),
                "",
            );
        }
        Answer::Refused {
            status: Some(401),
            error,
        } => report.add(
            "central",
            Level::Fail,
            format!("{url}: the desk key was refused (revoked or wrong): {error}"),
            "nothing is lost: the desk keeps its changes until central takes them; put the key \
             `callhook central add-desk` gave for this desk in [central] key",
        ),
        Answer::Refused { error, .. } => report.add(
            "central",
            Level::Fail,
            format!("{url}: {error}"),
            "check the URL, DNS, firewall and proxy, and that central runs; the desk keeps its \
             changes meanwhile",
        ),
    }
    central_backlog(progress.as_ref(), report);
}

/// The most this desk's clock may be off central's: central shows each call with its desk's
/// times.
const MAX_SKEW_MS: i64 = 2_000;

/// This desk's clock against central's, warned of when it is surely more than
/// [`MAX_SKEW_MS`] off (central's `Date` has whole seconds, and the request takes its time).
fn clock_skew((least, most): central_send::Skew, report: &mut Report) {
    let off = if least > MAX_SKEW_MS {
        Some((least, "ahead of"))
    } else if most < -MAX_SKEW_MS {
        Some((-most, "behind"))
    } else {
        None
    };
    if let Some((ms, how)) = off {
        report.add(
            "central clock",
            Level::Warn,
            format!(
                "this computer's clock is at least {:.1} s {how} central's: central shows this \
                 desk's calls at this desk's times",
                ms as f64 / 1000.0
            ),
            "synchronise the clocks (Windows time service, NTP)",
        );
    }
}

/// The changes waiting for central, and how long since it last took any.
fn central_backlog(progress: Option<&Progress>, report: &mut Report) {
    let Some(progress) = progress else {
        report.add(
            "central backlog",
            Level::Note,
            "not linked yet",
            "the worker links this desk at the next call event, then sends it the whole log",
        );
        return;
    };
    let link = &progress.link;
    let waiting = plural(progress.waiting as usize, "change waits", "changes wait");
    let backfill = if link.backfill_done {
        "backfill done".to_string()
    } else {
        format!(
            "backfill {} of {} calls",
            progress.backfilled, progress.calls
        )
    };
    let last = match link.last_ok_at {
        Some(at) => format!("last success {}", output::local_time(at)),
        None => format!(
            "no success since the link ({})",
            output::local_time(link.linked_at)
        ),
    };
    let since = link.last_ok_at.unwrap_or(link.linked_at);
    let late = (progress.waiting > 0 || !link.backfill_done) && now_ms() - since > 3_600_000;
    let detail = format!("{waiting}; {backfill}; {last}");
    if late {
        let error = link
            .last_error
            .as_deref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        report.add(
            "central backlog",
            Level::Warn,
            format!("{detail}{error}"),
            "nothing is lost: they go when central takes them; callhook outbox shows the lane, \
             callhook deliver tries now",
        );
    } else {
        report.add("central backlog", Level::Ok, detail, "");
    }
}

/// Whether a URL names this computer (plain http to it stays on the machine).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a program can be started: a path that exists, or a name on the PATH.
fn found(program: &str) -> bool {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH").is_some_and(|dirs| {
        std::env::split_paths(&dirs).any(|dir| {
            dir.join(program).is_file()
                || dir
                    .join(format!("{program}{}", std::env::consts::EXE_SUFFIX))
                    .is_file()
        })
    })
}
