//! Caller names: from MicroSIP's Contacts.xml and an optional CSV of `number,name`, matched on
//! normalized numbers. They are kept in the database and read again only when a file changes,
//! so that the hook finds a name with one indexed query.

use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{Result, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use crate::log::call::now_ms;
use crate::log::caller::NumberPlan;
use crate::log::db;
use crate::microsip::contacts::parse_contacts;

/// `[contacts]` in the config.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ContactsConfig {
    /// MicroSIP's Contacts.xml [default: the one next to the microsip.ini `callhook install`
    /// hooked, else %APPDATA%\MicroSIP\Contacts.xml, the installed MicroSIP's].
    pub xml: Option<PathBuf>,
    /// A CSV file of `number,name` rows (a header row is allowed); its names win.
    pub csv: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Csv,
    Xml,
}

impl Kind {
    fn priority(self) -> i64 {
        match self {
            Kind::Csv => 0,
            Kind::Xml => 1,
        }
    }
}

/// Why a file is a source of names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `[contacts]` in the config.
    Config,
    /// Next to the microsip.ini `callhook install` hooked.
    Install,
    /// The installed MicroSIP's, `%APPDATA%\MicroSIP\Contacts.xml`, when nothing else says.
    AppData,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Config => "[contacts] in the config",
            Origin::Install => "next to the microsip.ini callhook install hooked",
            Origin::AppData => "the installed MicroSIP's",
        }
    }
}

/// The Contacts.xml `callhook install` recorded (table `microsip_install`), if any.
fn recorded_xml(conn: &Connection) -> Option<PathBuf> {
    conn.prepare_cached("SELECT xml FROM microsip_install WHERE id = 1")
        .ok()?
        .query_row([], |r| r.get::<_, String>(0))
        .ok()
        .map(PathBuf::from)
}

/// The installed MicroSIP's Contacts.xml.
fn appdata_xml() -> Option<PathBuf> {
    let appdata = std::env::var_os("APPDATA")?;
    Some(Path::new(&appdata).join("MicroSIP").join("Contacts.xml"))
}

/// Records the microsip.ini install hooked and the Contacts.xml beside it, the default source
/// of names from now on.
pub fn record_microsip(conn: &Connection, ini: &Path, xml: &Path) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO microsip_install (id, ini, xml, recorded_at) VALUES (1, ?1, ?2, ?3)",
        params![ini.display().to_string(), xml.display().to_string(), now_ms()],
    )?;
    Ok(())
}

/// The microsip.ini install recorded, if any.
pub fn recorded_ini(conn: &Connection) -> Option<PathBuf> {
    conn.query_row("SELECT ini FROM microsip_install WHERE id = 1", [], |r| {
        r.get::<_, String>(0)
    })
    .ok()
    .map(PathBuf::from)
}

/// Forgets the ini install recorded (uninstall): Contacts.xml is the installed MicroSIP's
/// again, unless the config names one.
pub fn forget_microsip(conn: &Connection) -> Result<()> {
    if recorded_xml(conn).is_some() {
        conn.execute("DELETE FROM microsip_install", [])?;
    }
    Ok(())
}

impl ContactsConfig {
    /// The files names come from, with why: the CSV, and Contacts.xml (the config's, else the
    /// one next to the ini install hooked, else the installed MicroSIP's).
    pub fn sources(&self, conn: &Connection) -> Vec<(PathBuf, Kind, Origin)> {
        let mut sources = Vec::new();
        if let Some(csv) = &self.csv {
            sources.push((csv.clone(), Kind::Csv, Origin::Config));
        }
        let xml = match &self.xml {
            Some(xml) => Some((xml.clone(), Origin::Config)),
            None => recorded_xml(conn)
                .map(|xml| (xml, Origin::Install))
                .or_else(|| appdata_xml().map(|xml| (xml, Origin::AppData))),
        };
        if let Some((xml, origin)) = xml {
            sources.push((xml, Kind::Xml, origin));
        }
        sources
    }
}

/// What the hook learns of the contact files from a stat of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Check {
    /// A source exists: names can be looked up.
    pub any: bool,
    /// A source changed (or appeared, or went) since it was read: the worker reads it again.
    pub stale: bool,
}

/// Compares the sources with what was read of them, without reading them: the hook leaves
/// the reading (tens of milliseconds for thousands of contacts) to the worker.
pub fn check(conn: &Connection, config: &ContactsConfig) -> Result<Check> {
    let mut check = Check::default();
    let sources = config.sources(conn);
    let known = known_sources(conn)?;
    check.stale = gone(&known, &sources).next().is_some();
    for (path, _, _) in &sources {
        let key = path.display().to_string();
        let was = known.iter().find(|(p, ..)| *p == key).map(|k| (k.1, k.2));
        match std::fs::metadata(path) {
            Ok(meta) => {
                check.any = true;
                check.stale |= was != Some(stamp(&meta));
            }
            Err(_) => check.stale |= was.is_some(),
        }
    }
    Ok(check)
}

/// The sources read before: path, modification time and size when read.
fn known_sources(conn: &Connection) -> Result<Vec<(String, i64, i64)>> {
    Ok(conn
        .prepare_cached("SELECT path, modified, size FROM contact_sources")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// The paths read before that are no longer sources.
fn gone<'a>(
    known: &'a [(String, i64, i64)],
    sources: &'a [(PathBuf, Kind, Origin)],
) -> impl Iterator<Item = &'a String> {
    known.iter().map(|(path, ..)| path).filter(|path| {
        !sources
            .iter()
            .any(|(p, ..)| &p.display().to_string() == *path)
    })
}

/// A file's modification time (ms) and size, to tell when it changed.
pub(crate) fn stamp(meta: &std::fs::Metadata) -> (i64, i64) {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    (modified, meta.len() as i64)
}

/// How long reading a contact file may take (a network share that stopped answering): then it
/// counts as unreadable, and its names stay as they were.
pub const READ_TIME_LIMIT: Duration = Duration::from_secs(10);

/// The largest contact file read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Rows written per turn of the writers' lock.
const ROWS_PER_TURN: usize = 2_000;

/// Reads again the sources that changed since they were last read, forgets those that are gone,
/// and names the calls that have no name. Files are read with no lock held (only regular files,
/// within [`READ_TIME_LIMIT`]); the names are then written in short turns, the new rows of a
/// file before its old ones go, so that a hook meanwhile finds the old name or the new one. A
/// file that cannot be read is recorded with why (`callhook doctor` shows it), and its last
/// good names stay.
pub fn reload(conn: &mut Connection, config: &ContactsConfig, plan: &NumberPlan) -> Result<()> {
    let sources = config.sources(conn);
    // Names of files that are no longer sources (the config or the install changed) go.
    let known = known_sources(conn)?;
    for path in gone(&known, &sources) {
        forget(conn, path)?;
    }
    for (path, kind, _) in sources {
        let key = path.display().to_string();
        let Ok(meta) = std::fs::metadata(&path) else {
            // Gone (or never there): its names go too.
            if known.iter().any(|k| k.0 == key) {
                forget(conn, &key)?;
            }
            continue;
        };
        let (modified, size) = stamp(&meta);
        if known
            .iter()
            .any(|k| k.0 == key && (k.1, k.2) == (modified, size))
        {
            continue;
        }
        let loaded = now_ms();
        let (count, error) = match read(&path, &meta, kind) {
            Ok(contacts) => {
                put(conn, &key, kind, plan, &contacts, loaded)?;
                (contacts.len() as i64, None)
            }
            Err(e) => (0, Some(format!("{e:#}"))),
        };
        db::write(conn, |tx| {
            // A file that failed keeps the count of its last good reading.
            tx.execute(
                "INSERT INTO contact_sources (path, modified, size, loaded_at, contacts, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (path) DO UPDATE SET \
                 modified = excluded.modified, size = excluded.size, error = excluded.error, \
                 loaded_at = CASE WHEN excluded.error IS NULL THEN excluded.loaded_at \
                             ELSE loaded_at END, \
                 contacts = CASE WHEN excluded.error IS NULL THEN excluded.contacts \
                            ELSE contacts END",
                params![key, modified, size, loaded, count, error],
            )?;
            Ok(())
        })?;
    }
    // Also when nothing was read: calls stored while the sources looked changed (a file
    // gone) were left unnamed by their hooks.
    fill_names(conn)?;
    Ok(())
}

/// Writes a file's names (marked `loaded`), then drops the rows of its earlier readings.
fn put(
    conn: &mut Connection,
    key: &str,
    kind: Kind,
    plan: &NumberPlan,
    contacts: &[(String, String)],
    loaded: i64,
) -> Result<()> {
    for chunk in contacts.chunks(ROWS_PER_TURN) {
        db::write(conn, |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO contacts (number, source, priority, name, loaded) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET \
                 name = CASE WHEN contacts.loaded = excluded.loaded THEN contacts.name \
                        ELSE excluded.name END, loaded = excluded.loaded",
            )?;
            for (number, name) in chunk {
                insert.execute(params![
                    plan.number(number),
                    key,
                    kind.priority(),
                    name,
                    loaded
                ])?;
            }
            Ok(())
        })?;
    }
    delete_rows(conn, "source = ?1 AND loaded <> ?2", params![key, loaded])
}

/// Deletes the contact rows matching `filter`, a turn at a time.
fn delete_rows(
    conn: &mut Connection,
    filter: &str,
    args: impl rusqlite::Params + Copy,
) -> Result<()> {
    let sql = format!(
        "DELETE FROM contacts WHERE (number, priority, source) IN \
         (SELECT number, priority, source FROM contacts WHERE {filter} LIMIT {ROWS_PER_TURN})"
    );
    while db::write(conn, |tx| Ok(tx.execute(&sql, args)?))? > 0 {}
    Ok(())
}

fn forget(conn: &mut Connection, key: &str) -> Result<()> {
    delete_rows(conn, "source = ?1", [key])?;
    db::write(conn, |tx| {
        tx.prepare_cached("DELETE FROM contact_sources WHERE path = ?1")?
            .execute([key])?;
        Ok(())
    })
}

/// `(number, name)` pairs of a source; numbers as written there.
fn read(path: &Path, meta: &std::fs::Metadata, kind: Kind) -> Result<Vec<(String, String)>> {
    if !meta.is_file() {
        bail!("not a regular file");
    }
    if meta.len() > MAX_FILE_BYTES {
        bail!(
            "{} MB: larger than the {} MB callhook reads",
            meta.len() / 1_000_000,
            MAX_FILE_BYTES / 1_000_000
        );
    }
    let text = read_in_time(path)?;
    Ok(match kind {
        Kind::Xml => parse_contacts(&text)?
            .into_iter()
            .filter(|c| !c.name.is_empty())
            .flat_map(|c| c.numbers.into_iter().map(move |n| (n, c.name.clone())))
            .collect(),
        Kind::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let mut rows = Vec::new();
            for (i, record) in reader.records().enumerate() {
                let record = record?;
                let (Some(number), Some(name)) = (record.get(0), record.get(1)) else {
                    continue;
                };
                if i == 0 && number.eq_ignore_ascii_case("number") {
                    continue;
                }
                if !number.is_empty() && !name.is_empty() {
                    rows.push((number.to_string(), name.to_string()));
                }
            }
            rows
        }
    })
}

/// Reads a file as text, giving up after [`READ_TIME_LIMIT`]: a read that hangs is left to its
/// thread, which ends with the process.
fn read_in_time(path: &Path) -> Result<String> {
    let (done, result) = std::sync::mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        let read = std::fs::File::open(&owned).and_then(|file| {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(file, MAX_FILE_BYTES),
                &mut text,
            )?;
            Ok(text)
        });
        let _ = done.send(read);
    });
    match result.recv_timeout(READ_TIME_LIMIT) {
        Ok(read) => Ok(read?),
        Err(_) => bail!(
            "reading it took longer than {} s (a network share that does not answer?)",
            READ_TIME_LIMIT.as_secs()
        ),
    }
}

/// The name for a normalized number, if a contact has it.
pub fn lookup(conn: &Connection, number: &str) -> Result<Option<String>> {
    if number.is_empty() {
        return Ok(None);
    }
    Ok(conn
        .prepare_cached(
            "SELECT name FROM contacts WHERE number = ?1 ORDER BY priority, source LIMIT 1",
        )?
        .query_row([number], |r| r.get(0))
        .optional()?)
}

/// Gives the calls without a name the name their number now has, a few hundred numbers per
/// turn (found through the calls' number index).
pub fn fill_names(conn: &mut Connection) -> Result<usize> {
    let mut named = 0;
    let mut after = String::new();
    loop {
        let numbers: Vec<String> = conn
            .prepare_cached(
                "SELECT DISTINCT number FROM contacts WHERE number > ?1 ORDER BY number LIMIT 500",
            )?
            .query_map([&after], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = numbers.last().cloned() else {
            return Ok(named);
        };
        named += db::write(conn, |tx| {
            let mut update = tx.prepare_cached(
                "UPDATE calls SET name = (SELECT name FROM contacts c WHERE c.number = ?1 \
                 ORDER BY priority, source LIMIT 1) WHERE number = ?1 AND name IS NULL",
            )?;
            let mut named = 0;
            for number in &numbers {
                named += update.execute([number])?;
            }
            Ok(named)
        })?;
        after = last;
    }
}
