//! Where callhook keeps its files. Never relative to the working directory: a hook runs in
//! MicroSIP's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::{Config, ConfigError};

pub const APP_DIR: &str = "callhook";

/// `%APPDATA%\callhook\config.toml` on Windows, the XDG config directory elsewhere.
pub fn default_config() -> Option<PathBuf> {
    Some(
        crate::platform::config_dir()?
            .join(APP_DIR)
            .join("config.toml"),
    )
}

/// `%LOCALAPPDATA%\callhook\calls.db` on Windows, the XDG data directory elsewhere.
pub fn default_db() -> Option<PathBuf> {
    Some(crate::platform::data_dir()?.join(APP_DIR).join("calls.db"))
}

/// `callhook` (`callhook.exe`), the program with every command, beside the running one: the
/// worker and the commands `callhookw.exe` hands on run there.
pub fn full_program() -> Result<PathBuf> {
    let current = std::env::current_exe().context("cannot find callhook's own executable")?;
    let full = current.with_file_name(format!("callhook{}", std::env::consts::EXE_SUFFIX));
    if !full.exists() {
        anyhow::bail!(
            "{} is missing: keep it beside {}",
            full.display(),
            current.display()
        );
    }
    Ok(full)
}

/// The database named by `--db` or `CALLHOOK_DB` (then `true`: it is the one), else the
/// default one: where a run's fallback log goes before its config has been read.
pub fn provisional_db(db: Option<OsString>) -> (Option<PathBuf>, bool) {
    match db.or_else(|| non_empty_env("CALLHOOK_DB")) {
        Some(db) => (Some(PathBuf::from(db)), true),
        None => (default_db(), false),
    }
}

/// The config and database a command works on, from options, environment, config and defaults.
#[derive(Clone, Debug)]
pub struct Locations {
    pub config_path: PathBuf,
    pub config: Config,
    /// Set when the config file exists but could not be used; `config` then holds its usable
    /// keys and defaults for the rest.
    pub config_error: Option<ConfigError>,
    pub db: PathBuf,
    /// The config's error hides which database it names (and neither `--db` nor
    /// `CALLHOOK_DB` says): `db` is only the default, which the admin may not have chosen.
    pub db_unknown: bool,
}

impl Locations {
    /// `config` and `db` are the `--config` and `--db` options, which win over the
    /// `CALLHOOK_CONFIG` and `CALLHOOK_DB` environment variables.
    pub fn resolve(config: Option<OsString>, db: Option<OsString>) -> Result<Locations> {
        let config_path = match config.or_else(|| non_empty_env("CALLHOOK_CONFIG")) {
            Some(path) => PathBuf::from(path),
            None => default_config().context(
                "cannot find the user's config directory; pass --config or set CALLHOOK_CONFIG",
            )?,
        };
        let (config, config_error, db_known) = Config::load_salvaging(&config_path);
        let given = db.or_else(|| non_empty_env("CALLHOOK_DB"));
        let db_unknown = given.is_none() && !db_known;
        let db = match given {
            Some(path) => PathBuf::from(path),
            None => match &config.database.path {
                Some(path) => relative_to(&config_path, path),
                None => default_db().context(
                    "cannot find the user's data directory; pass --db or set CALLHOOK_DB",
                )?,
            },
        };
        Ok(Locations {
            config_path,
            config,
            config_error,
            db,
            db_unknown,
        })
    }

    /// Opens the database (creating and migrating it if needed), written as the config says.
    pub fn open_db(&self) -> Result<rusqlite::Connection> {
        let conn = crate::log::db::open(&self.db, crate::log::db::ADMIN_BUSY_TIMEOUT)?;
        crate::log::db::set_synchronous(&conn, self.config.database.synchronous)?;
        Ok(conn)
    }

    /// Opens the database for a command that works on what it holds: it must exist (a typo in
    /// `--db` is an error, not an empty log).
    pub fn existing_db(&self) -> Result<rusqlite::Connection> {
        if !self.db.exists() {
            anyhow::bail!(
                "no database at {}: no call event was recorded there (check --db, CALLHOOK_DB \
                 and [database] path; callhook doctor checks the set-up)",
                self.db.display()
            );
        }
        self.open_db()
    }

    /// For commands other than the hook a broken config is an error, not a fallback.
    pub fn require_config(&self) -> Result<()> {
        match &self.config_error {
            Some(e) => Err(anyhow::anyhow!("{e}")),
            None => Ok(()),
        }
    }
}

fn non_empty_env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// A path in the config file is relative to the config file's directory.
fn relative_to(config_path: &Path, path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}
