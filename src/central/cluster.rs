//! A throw-away PostgreSQL cluster in a temporary directory, for the tests and the benchmarks
//! (`examples/desks.rs`): `initdb` and `pg_ctl` from the machine's PostgreSQL, listening on a
//! Unix socket in that directory only (no TCP port), trusted for the local superuser
//! `postgres`, and removed when dropped. PostgreSQL refuses to run as root: as root, the
//! cluster runs as `nobody`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};

use anyhow::{Context, Result, bail};

/// Clusters started by this process, for their directory names.
static CLUSTERS: AtomicU16 = AtomicU16::new(0);

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// The user the server runs as, when this process is root.
    #[cfg_attr(not(unix), expect(dead_code))]
    user: Option<u32>,
    /// PostgreSQL's defaults for durability (fsync on), as a production central runs; else
    /// nothing is synced, which a throw-away cluster does not need.
    durable: bool,
    running: bool,
}

impl Cluster {
    /// Creates and starts a cluster that syncs nothing; `CALLHOOK_PG_BIN` names the directory
    /// of `initdb` and `pg_ctl` when they are not in `/usr/lib/postgresql/<version>/bin`.
    pub fn start() -> Result<Cluster> {
        Cluster::create(false)
    }

    /// Creates and starts a cluster that syncs its writes as PostgreSQL does by default.
    pub fn start_durable() -> Result<Cluster> {
        Cluster::create(true)
    }

    fn create(durable: bool) -> Result<Cluster> {
        let bin = bin_dir()?;
        let base = std::env::temp_dir().join(format!(
            "callhook-pg-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base)?;
        let user = run_as();
        if let Some(uid) = user {
            chown(&base, uid)?;
        }
        // Each cluster has a socket directory of its own, so every one can use the default.
        let port = 5432;
        let mut cluster = Cluster {
            dir: base,
            bin,
            port,
            user,
            durable,
            running: false,
        };
        cluster
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
                "-D",
            ])
            .arg(cluster.data())
            .run()
            .context("initdb")?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Tool {
        let mut command = Command::new(self.bin.join(program));
        command.stdin(Stdio::null());
        #[cfg(unix)]
        if let Some(uid) = self.user {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(uid_group(uid));
        }
        Tool(command)
    }

    /// Starts the server (again, after [`Cluster::stop`]).
    pub fn start_server(&mut self) -> Result<()> {
        let unsynced = if self.durable {
            ""
        } else {
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let options = format!(
            "-k {} -p {} -c listen_addresses='' -c max_connections=200{unsynced}",
            self.dir.display(),
            self.port
        );
        self.command("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.join("server.log"))
            .arg("-o")
            .arg(options)
            .arg("-D")
            .arg(self.data())
            .arg("start")
            .run()
            .with_context(|| {
                format!(
                    "pg_ctl start: see {}",
                    self.dir.join("server.log").display()
                )
            })?;
        self.running = true;
        Ok(())
    }

    /// Stops the server, as an admin restarting it would (`fast`: sessions are cut).
    pub fn stop(&mut self) -> Result<()> {
        self.command("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.data())
            .arg("stop")
            .run()?;
        self.running = false;
        Ok(())
    }

    /// The superuser's URL of database `database` (over the socket).
    pub fn url(&self, database: &str) -> String {
        self.url_as("postgres", database)
    }

    /// The URL of `database` for `user` (over the socket, trusted).
    pub fn url_as(&self, user: &str, database: &str) -> String {
        let host: String =
            url::form_urlencoded::byte_serialize(self.dir.to_string_lossy().as_bytes()).collect();
        format!("postgresql://{user}@{host}:{}/{database}", self.port)
    }

    /// Runs SQL as the superuser in `database` (psql, stopping at the first error).
    pub fn sql(&self, database: &str, sql: &str) -> Result<String> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(database))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .context("psql")?;
        if !output.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Creates a database owned by the superuser; returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        self.sql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url(name))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .args(["-w", "-m", "immediate", "-D"])
                .arg(self.data())
                .arg("stop")
                .run();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Tool(Command);

impl Tool {
    fn args<I, S>(&mut self, args: I) -> &mut Tool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.0.args(args);
        self
    }

    fn arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Tool {
        self.0.arg(arg);
        self
    }

    fn run(&mut self) -> Result<()> {
        let output = self
            .0
            .output()
            .with_context(|| format!("{:?}", self.0.get_program()))?;
        if !output.status.success() {
            bail!(
                "{:?} failed: {}{}",
                self.0.get_program(),
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }
}

/// The directory of the newest PostgreSQL's programs.
fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CALLHOOK_PG_BIN") {
        return Ok(dir.into());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).context(
        "no PostgreSQL server programs in /usr/lib/postgresql/*/bin (apt install postgresql), \
         and CALLHOOK_PG_BIN is not set",
    )
}

#[cfg(unix)]
fn run_as() -> Option<u32> {
    // SAFETY: getuid has no preconditions.
    (unsafe { libc::getuid() } == 0).then_some(65534)
}

#[cfg(not(unix))]
fn run_as() -> Option<u32> {
    None
}

#[cfg(unix)]
fn uid_group(uid: u32) -> u32 {
    // SAFETY: getpwuid returns a pointer into static storage or null; read at once.
    unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() { uid } else { (*pw).pw_gid }
    }
}

#[cfg(unix)]
fn chown(path: &Path, uid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(uid_group(uid)))
        .with_context(|| format!("chown {}", path.display()))
}

#[cfg(not(unix))]
fn chown(_path: &Path, _uid: u32) -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_restarts_and_goes() {
        let mut cluster = Cluster::start().unwrap();
        let dir = cluster.dir.clone();
        cluster.create_database("team").unwrap();
        cluster
            .sql("team", "CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
            .unwrap();
        cluster.stop().unwrap();
        assert!(cluster.sql("team", "SELECT 1").is_err(), "stopped");
        cluster.start_server().unwrap();
        assert_eq!(cluster.sql("team", "SELECT x FROM t").unwrap(), "7");
        drop(cluster);
        assert!(!dir.exists());
    }
}
