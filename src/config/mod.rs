//! The optional config file (`config.toml`): every key has a default, a missing file means
//! defaults, and a broken one is reported with its file, line and key.

pub mod duration;
pub mod locations;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::duration;
use crate::effects::central::settings::{CentralConfig, Delivery};
use crate::effects::popup::PopupConfig;
use crate::effects::retry::OutboxConfig;
use crate::effects::webhook::WebhookConfig;
use crate::log::caller::NumberPlan;
use crate::log::contacts::ContactsConfig;
use crate::log::db::Synchronous;
use crate::microsip::control::MicrosipConfig;
use crate::serve::settings::ServeConfig;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub calls: CallsConfig,
    pub numbers: NumberPlan,
    #[serde(rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    pub popup: Option<PopupConfig>,
    pub outbox: OutboxConfig,
    pub privacy: PrivacyConfig,
    pub contacts: ContactsConfig,
    pub serve: ServeConfig,
    pub microsip: MicrosipConfig,
    pub central: CentralConfig,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// The key of the hashes `callhook redact` puts in place of numbers and names.
    pub redact_key: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The SQLite file; `--db` and `CALLHOOK_DB` take precedence.
    pub path: Option<PathBuf>,
    /// How each write is made durable.
    pub synchronous: Synchronous,
}

/// The keys of `[database]`: a broken key of another name may be a misspelled `path`.
const DATABASE_KEYS: [&str; 2] = ["path", "synchronous"];

/// The config's top-level tables.
const TABLES: [&str; 11] = [
    "database", "calls", "numbers", "webhook", "popup", "outbox", "privacy", "contacts", "serve",
    "microsip", "central",
];

/// Whether a broken config still says which database it names: `[database]` (if any) has its
/// `path` sound (or no `path`, and no key that may be a misspelled one), and no other table
/// may be a misspelled `[database]` (a name close to it, or one that holds a `path`).
fn database_is_known(table: &toml::Table, good: &toml::Table) -> bool {
    let misspelled = table.iter().any(|(key, value)| {
        !TABLES.contains(&key.as_str())
            && (close_to(&key.to_ascii_lowercase(), "database")
                || value.as_table().is_some_and(|t| t.contains_key("path")))
    });
    if misspelled {
        return false;
    }
    match table.get("database") {
        None => true,
        Some(toml::Value::Table(fields)) => {
            let kept = good.get("database").and_then(toml::Value::as_table);
            let failed: Vec<&String> = fields
                .keys()
                .filter(|k| !kept.is_some_and(|t| t.contains_key(*k)))
                .collect();
            !failed.iter().any(|k| *k == "path")
                && (fields.contains_key("path")
                    || failed.iter().all(|k| DATABASE_KEYS.contains(&k.as_str())))
        }
        Some(_) => false,
    }
}

/// Within two edits (a typo) of `word`.
fn close_to(text: &str, word: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (text.chars().collect(), word.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()] <= 2
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// How long after its last event a call still takes further events.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
}

impl CallsConfig {
    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            window: Duration::from_secs(4 * 3600),
        }
    }
}

/// A config file that could not be used, with where and why.
#[derive(Clone, Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    /// The dotted key, such as `calls.window`, when the problem is a key's.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ", line {line}, column {column}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Config {
    /// Reads the config at `path`; a file that does not exist gives the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError {
                file: path.to_path_buf(),
                position: None,
                key: None,
                message: format!("cannot read it: {e}"),
            }),
        }
    }

    /// Reads the config at `path` as far as it can be used. On an error, every key that is
    /// fine on its own is still taken (so that a typo in a webhook, or in a key next to
    /// `[database] path`, does not send the events to another database); the broken ones get
    /// their defaults, and a broken webhook is left out. The last part says whether the
    /// database the config names is known: not so when the file cannot be read, is not TOML,
    /// or `[database]` has a broken `path` (or, without one, a key that may be a misspelled
    /// `path`).
    pub fn load_salvaging(path: &Path) -> (Config, Option<ConfigError>, bool) {
        let error = match Config::load(path) {
            Ok(config) => return (config, None, true),
            Err(e) => e,
        };
        let salvaged = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .map(|table| Config::salvage(&table));
        match salvaged {
            Some((config, db_known)) => (config, Some(error), db_known),
            None => (Config::default(), Some(error), false),
        }
    }

    /// The usable keys of a config that has an error, and whether its database is known.
    fn salvage(table: &toml::Table) -> (Config, bool) {
        let fits = |good: &toml::Table| {
            toml::Value::Table(good.clone())
                .try_into::<Config>()
                .is_ok_and(|c| c.validate().is_ok())
        };
        let with = |good: &toml::Table, key: &str, value: toml::Value| {
            let mut candidate = good.clone();
            candidate.insert(key.to_string(), value);
            candidate
        };
        let mut good = toml::Table::new();
        for (key, value) in table {
            let candidate = with(&good, key, value.clone());
            if fits(&candidate) {
                good = candidate;
                continue;
            }
            // What is kept of a broken part; a key of none of the config's tables is dropped.
            let kept = match (key.as_str(), value) {
                // A broken webhook is left out; the others still go.
                ("webhook", toml::Value::Array(webhooks)) => {
                    let mut kept = Vec::new();
                    for webhook in webhooks {
                        let mut list = kept.clone();
                        list.push(webhook.clone());
                        if fits(&with(&good, key, toml::Value::Array(list.clone()))) {
                            kept = list;
                        }
                    }
                    (!kept.is_empty()).then_some(toml::Value::Array(kept))
                }
                // A popup is taken whole or not at all.
                ("popup", _) => None,
                // The other tables key by key.
                (_, toml::Value::Table(fields)) if TABLES.contains(&key.as_str()) => {
                    let mut kept = toml::Table::new();
                    for (field, value) in fields {
                        let mut table = kept.clone();
                        table.insert(field.clone(), value.clone());
                        if fits(&with(&good, key, toml::Value::Table(table.clone()))) {
                            kept = table;
                        }
                    }
                    (!kept.is_empty()).then_some(toml::Value::Table(kept))
                }
                _ => None,
            };
            if let Some(kept) = kept {
                good = with(&good, key, kept);
            }
        }
        let config = toml::Value::Table(good.clone()).try_into::<Config>().ok();
        let db_known = config.is_some() && database_is_known(table, &good);
        (config.unwrap_or_default(), db_known)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let error = |span: Option<std::ops::Range<usize>>, key: Option<String>, message: &str| {
            ConfigError {
                file: file.to_path_buf(),
                position: span.map(|span| line_column(text, span.start)),
                key,
                message: message.trim().to_string(),
            }
        };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| error(e.span(), None, e.message()))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = (key != ".").then_some(key);
            error(e.inner().span(), key, e.inner().message())
        })?;
        config.validate().map_err(|(key, message)| ConfigError {
            file: file.to_path_buf(),
            position: key_position(text, &key),
            key: Some(key),
            message,
        })?;
        Ok(config)
    }

    /// Whether anything is delivered besides storing events.
    pub fn has_side_effects(&self) -> bool {
        !self.webhooks.is_empty() || self.popup.is_some()
    }

    /// Where this desk replicates its calls: `[central] url` and `key` both set.
    pub fn central_delivery(&self) -> Option<Delivery<'_>> {
        self.central.delivery()
    }

    /// Checks what the types cannot; the error names the dotted key.
    fn validate(&self) -> Result<(), (String, String)> {
        within(&self.calls.window, "calls.window", MINUTE, 7 * DAY)?;
        within(&self.outbox.stay, "outbox.stay", Duration::ZERO, DAY)?;
        for (i, retry) in self.outbox.retries.iter().enumerate() {
            within(
                retry,
                &format!("outbox.retries[{i}]"),
                Duration::ZERO,
                7 * DAY,
            )?;
        }
        if self.outbox.retries.len() > 50 {
            return Err(("outbox.retries".into(), "give at most 50 delays".into()));
        }
        for (i, webhook) in self.webhooks.iter().enumerate() {
            within(
                &webhook.timeout,
                &format!("webhook[{i}].timeout"),
                Duration::from_secs(1),
                10 * MINUTE,
            )?;
        }
        self.numbers
            .validate()
            .map_err(|(field, message)| (format!("numbers.{field}"), message))?;
        let mut keys = std::collections::BTreeSet::new();
        for (i, webhook) in self.webhooks.iter().enumerate() {
            webhook
                .validate_headers()
                .map_err(|message| (format!("webhook[{i}].headers"), message))?;
            if !keys.insert(webhook.key()) {
                let message = format!(
                    "two webhooks are called `{}`: give each a name",
                    webhook.key()
                );
                return Err((format!("webhook[{i}].name"), message));
            }
        }
        if let Some(popup) = &self.popup {
            popup
                .validate()
                .map_err(|message| ("popup.url".to_string(), message))?;
            if popup.opener.as_ref().is_some_and(Vec::is_empty) {
                return Err((
                    "popup.opener".into(),
                    "give the program to run, or leave it out".into(),
                ));
            }
            // Windows runs batch files through cmd.exe, which would read the caller's text
            // in the URL as commands.
            if let Some(program) = popup.opener.as_ref().and_then(|o| o.first()) {
                let lower = program.to_ascii_lowercase();
                if lower.ends_with(".bat") || lower.ends_with(".cmd") {
                    return Err((
                        "popup.opener".into(),
                        format!(
                            "`{program}` is a batch file, which runs through cmd.exe: name a program (.exe)"
                        ),
                    ));
                }
            }
        }
        if self
            .privacy
            .redact_key
            .as_ref()
            .is_some_and(|k| k.len() < 16)
        {
            return Err((
                "privacy.redact_key".into(),
                "use at least 16 characters".into(),
            ));
        }
        if self.outbox.retries.is_empty() {
            return Err(("outbox.retries".into(), "give at least one delay".into()));
        }
        self.microsip
            .validate()
            .map_err(|message| ("microsip.program".to_string(), message))?;
        self.central.validate()?;
        Ok(())
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A duration setting within its sane range (a typo such as `"300000000y"` would overflow the
/// times computed from it).
fn within(
    value: &Duration,
    key: &str,
    min: Duration,
    max: Duration,
) -> Result<(), (String, String)> {
    if (min..=max).contains(value) {
        return Ok(());
    }
    let show = |d: Duration| humantime::format_duration(d).to_string();
    Err((
        key.to_string(),
        format!("must be between {} and {}", show(min), show(max)),
    ))
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Where a dotted key (`popup.url`, `webhook[1].name`) is set, for errors found after parsing:
/// the key's line within its table.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let (table, name) = key.rsplit_once('.')?;
    // `retries[1]`: the key's line.
    let name = name.split('[').next()?;
    let (table, index) = match table.split_once('[') {
        Some((table, index)) => (table, index.trim_end_matches(']').parse::<usize>().ok()?),
        None => (table, 0),
    };
    let headers = [format!("[{table}]"), format!("[[{table}]]")];
    let mut seen = 0;
    let mut inside = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            inside = headers
                .iter()
                .any(|h| trimmed.trim_end().starts_with(h.as_str()));
            if inside {
                seen += 1;
            }
        } else if inside
            && seen == index + 1
            && let Some(rest) = trimmed.strip_prefix(name)
            && rest.trim_start().starts_with('=')
        {
            return Some(line_column(text, offset + line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("config.toml"), text)
    }

    #[test]
    fn the_example_config_shows_the_defaults() {
        let text = include_str!("../../config.example.toml");
        assert_eq!(parse(text).unwrap(), Config::default());
        // Its commented-out settings parse too, and set every key.
        let uncommented: String = text
            .lines()
            .map(|line| {
                let setting = |l: &&str| l.contains(" = ") || l.starts_with('[');
                line.strip_prefix("# ").filter(setting).unwrap_or(line)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = parse(&uncommented).unwrap();
        assert_eq!(config.numbers.country_code.as_deref(), Some("49"));
        assert!(config.database.path.is_some());
        let webhook = &config.webhooks[0];
        assert_eq!(webhook.key(), "crm");
        assert!(webhook.secret.is_some() && webhook.events.is_some());
        assert_eq!(webhook.headers.len(), 1);
        let popup = config.popup.unwrap();
        assert!(popup.opener.is_some());
        assert_eq!(popup.allowed_schemes, ["crm"]);
        assert!(config.privacy.redact_key.is_some());
        assert!(config.contacts.xml.is_some() && config.contacts.csv.is_some());
        assert!(config.microsip.program.is_some());
        let central = config.central.delivery().unwrap();
        assert_eq!(
            central.url.as_str(),
            "https://callhook.office.example:8765/"
        );
        assert_eq!(config.central.desk_name(), "FRONTDESK-1");
        assert!(config.central.database.is_some() && config.central.token.is_some());
    }

    #[test]
    fn central_is_checked_and_its_secrets_never_shown() {
        let key = crate::effects::central::key::DeskKey::generate().unwrap();
        let config = parse(&format!(
            "[central]\nurl = \"https://central.example.com\"\nkey = \"{}\"\n",
            key.secret_text()
        ))
        .unwrap();
        let to = config.central_delivery().unwrap();
        assert_eq!(to.key(), &key);
        // The computer's name when none is given.
        assert_eq!(config.central.desk_name(), crate::platform::host_name());
        // Without a key (or a URL) there is nothing to deliver.
        let config = parse("[central]\nurl = \"https://central.example.com\"\n").unwrap();
        assert!(config.central_delivery().is_none());

        let secret = "whsk_AAAAsecretAAAA";
        let password = "postgresql://callhook:hunter2@db.example.com/calls";
        for (text, key, shown) in [
            (
                format!("[central]\n\nkey = \"{secret}\"\n"),
                "central.key",
                secret,
            ),
            (
                format!("[central]\n\nkey = \"{}x\"\n", key.secret_text()),
                "central.key",
                key.secret_text(),
            ),
            (
                format!("[central]\n\ndatabase = \"{}\"\n", &password[10..]),
                "central.database",
                "hunter2",
            ),
            (
                "[central]\n\nurl = \"ftp://central.example.com/\"\n".to_string(),
                "central.url",
                "",
            ),
            (
                "[central]\n\ndesk = \" \"\n".to_string(),
                "central.desk",
                "",
            ),
            (
                "[central]\n\ntoken = \"a b\"\n".to_string(),
                "central.token",
                "a b",
            ),
        ] {
            let err = parse(&text).unwrap_err();
            let message = err.to_string();
            assert_eq!(err.key.as_deref(), Some(key), "{message}");
            assert_eq!(err.position.map(|p| p.0), Some(3), "{message}");
            assert!(
                shown.is_empty() || !message.contains(shown),
                "{message} shows {shown}"
            );
        }
        let err = parse("[central]\nurl = \"https://c.example.com\"\nkye = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("kye"), "{err}");
        // Nor does the config's debug output.
        let config = parse(&format!(
            "[central]\ndatabase = \"{password}\"\ntoken = \"t0k\"\n"
        ))
        .unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("t0k"),
            "{debug}"
        );
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.calls.window, Duration::from_secs(4 * 3600));
    }

    #[test]
    fn keys_are_read() {
        let config = parse(
            "[calls]\nwindow = \"30m\"\n[numbers]\ncountry_code = \"49\"\n[database]\npath = \"/x/calls.db\"\n",
        )
        .unwrap();
        assert_eq!(config.calls.window, Duration::from_secs(1800));
        assert_eq!(config.numbers.country_code.as_deref(), Some("49"));
        assert_eq!(config.database.path, Some(PathBuf::from("/x/calls.db")));
        assert_eq!(
            parse("[calls]\nwindow = 600\n").unwrap().calls.window,
            Duration::from_secs(600)
        );
    }

    #[test]
    fn batch_files_cannot_open_popups() {
        let err = parse(
            "[popup]\nurl = \"https://crm.example.com/?p={number}\"\nopener = [\"C:\\\\x\\\\open.CMD\"]\n",
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("popup.opener"), "{err}");
        assert!(err.to_string().contains("cmd.exe"), "{err}");
    }

    #[test]
    fn the_microsip_program_is_checked() {
        let config =
            parse("[microsip]\nprogram = [\"C:\\\\MicroSIP\\\\microsip.exe\", \"/minimized\"]\n")
                .unwrap();
        assert_eq!(
            config.microsip.program.unwrap(),
            [r"C:\MicroSIP\microsip.exe", "/minimized"]
        );
        for text in [
            "[microsip]\n\nprogram = []\n",
            "[microsip]\n\nprogram = [\"dial.bat\"]\n",
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.key.as_deref(), Some("microsip.program"), "{err}");
            assert_eq!(err.position, Some((3, 1)), "{err}");
        }
        let err = parse("[microsip]\nprogram = \"microsip.exe\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("microsip.program"), "{err}");
        assert_eq!(err.position.map(|p| p.0), Some(2), "{err}");
    }

    #[test]
    fn a_broken_config_keeps_its_good_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[database]\npath = \"/data/calls.db\"\n[numbers]\ncountry_code = 49\n\
             [calls]\nwindow = \"2h\"\n",
        )
        .unwrap();
        let (config, error, db_known) = Config::load_salvaging(&path);
        assert_eq!(error.unwrap().key.as_deref(), Some("numbers.country_code"));
        assert_eq!(config.database.path, Some(PathBuf::from("/data/calls.db")));
        assert!(db_known);
        assert_eq!(config.calls.window, Duration::from_secs(7200));
        assert_eq!(config.numbers, NumberPlan::default());

        // A file that is not TOML at all gives the defaults, and no database is known.
        std::fs::write(&path, "[database\npath = 1").unwrap();
        let (config, error, db_known) = Config::load_salvaging(&path);
        assert!(error.is_some() && !db_known);
        assert_eq!(config, Config::default());
    }

    #[test]
    fn a_broken_key_never_moves_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let salvage = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let (config, error, db_known) = Config::load_salvaging(&path);
            assert!(error.is_some(), "{text}");
            (config, db_known)
        };
        // A misspelled key next to a good path: the path stays, and so do the good keys of
        // other tables.
        let (config, known) = salvage(
            "[database]\npath = \"/data/calls.db\"\npaht = \"/x\"\n\
             [numbers]\ncountry_code = \"49\"\ntrunk_prefix = 5\n",
        );
        assert!(known);
        assert_eq!(config.database.path, Some(PathBuf::from("/data/calls.db")));
        assert_eq!(config.numbers.country_code.as_deref(), Some("49"));
        // The path itself broken, or a key that may be a misspelled path: not known.
        assert!(!salvage("[database]\npath = 5\n").1);
        assert!(!salvage("[database]\npaht = \"/data/calls.db\"\n").1);
        assert!(!salvage("database = 5\n").1);
        // A known key broken, and no path: the default database stays the one.
        let (config, known) = salvage("[database]\nsynchronous = \"sometimes\"\n");
        assert!(known);
        assert_eq!(config.database, DatabaseConfig::default());
        // An unknown table, a webhook table instead of an array of them: the rest stays.
        let path = "[database]\npath = \"/data/calls.db\"\n";
        for extra in [
            "[webhook]\nurl = \"https://a.example.com/\"\n",
            "[contact]\nx = 1\n",
            "[a]\nb = 1\n",
        ] {
            let (config, known) = salvage(&format!("{extra}{path}"));
            assert!(known, "{extra}");
            assert_eq!(
                config.database.path,
                Some(PathBuf::from("/data/calls.db")),
                "{extra}"
            );
        }
        // A misspelled [database] table: not known.
        for table in ["[Database]", "[databse]", "[db]"] {
            let (_, known) = salvage(&format!("{table}\npath = \"/data/calls.db\"\n"));
            assert!(!known, "{table}");
        }
        // A broken webhook is left out, the good one kept.
        let (config, _) = salvage(
            "[[webhook]]\nname = \"a\"\nurl = \"https://a.example.com/\"\n\
             [[webhook]]\nname = \"b\"\nurl = \"not a url\"\n",
        );
        assert_eq!(config.webhooks.len(), 1);
        assert_eq!(config.webhooks[0].key(), "a");
    }

    #[test]
    fn durations_are_range_checked() {
        for (text, key) in [
            (
                "[[webhook]]\nurl = \"https://x.example.com/\"\ntimeout = \"300000000y\"\n",
                "webhook[0].timeout",
            ),
            (
                "[[webhook]]\nurl = \"https://x.example.com/\"\ntimeout = \"0s\"\n",
                "webhook[0].timeout",
            ),
            ("[calls]\nwindow = \"30s\"\n", "calls.window"),
            ("[calls]\nwindow = \"1000d\"\n", "calls.window"),
            ("[outbox]\nstay = \"2d\"\n", "outbox.stay"),
            (
                "[outbox]\nretries = [\"5s\", \"300000000y\"]\n",
                "outbox.retries[1]",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.key.as_deref(), Some(key), "{text}: {err}");
            assert!(err.to_string().contains("must be between"), "{err}");
            assert!(err.position.is_some(), "{err}");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = parse("[calls]\n\nwindow = \"4 parsecs\"\n").unwrap_err();
        let text = err.to_string();
        assert_eq!(err.position.map(|p| p.0), Some(3), "{text}");
        assert_eq!(err.key.as_deref(), Some("calls.window"), "{text}");
        assert!(
            text.starts_with("config file config.toml, line 3"),
            "{text}"
        );

        let err = parse("[calls]\nwindo = \"4h\"\n").unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(2), "{err}");
        assert!(err.to_string().contains("windo"), "{err}");

        let err = parse("[numbers]\ncountry_code = \"+49\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("numbers.country_code"));
        assert_eq!(err.position, Some((2, 1)));

        let err = parse("[calls\n").unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(1), "{err}");
    }
}
