//! Central's PostgreSQL: a pool of connections, and the schema from the embedded migrations
//! (`migrations/central/NNNN_name.sql`), applied in order when central connects.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Config, NoTls};

use crate::log::db::Migration;

include!(concat!(env!("OUT_DIR"), "/central_migrations.rs"));

/// The schema version this binary writes: the number of the last central migration.
pub const SCHEMA_VERSION: u32 = CENTRAL_MIGRATIONS.len() as u32;

/// Connections per central process: enough for 50 desks' batches and the queries side by
/// side, few enough that several central processes fit PostgreSQL's default 100 connections.
const POOL_SIZE: usize = 8;

/// How long to wait for a connection (to make one, or for one of the pool's to be free), so that
/// a database that cannot be reached is reported rather than waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The advisory lock that central processes take to migrate, one at a time ("callhook" in
/// ASCII, so that it is recognisable in `pg_locks`).
const MIGRATION_LOCK: i64 = 0x6361_6c6c_686f_6f6b;

/// The advisory lock ingest holds while it numbers events for the live feed (see
/// `events.seq`): transactions then commit their numbers in order.
pub(crate) const FEED_LOCK: i64 = MIGRATION_LOCK + 1;

/// Central's database: a pool of connections (cloning shares it).
#[derive(Clone)]
pub struct Central {
    pool: Pool,
    /// Where it is, without the password, for messages.
    target: Arc<str>,
}

/// Connects to the database at `url` (`postgresql://user:password@host:port/database`, or
/// PostgreSQL's `key=value` form) and brings its schema up to date. Errors never show the
/// password.
///
/// TLS: with `sslmode=prefer` (the default) or `require`, rustls (ring) checks the server's
/// certificate against the system's roots (`rustls-platform-verifier`, as callhook's HTTPS
/// clients do), and a certificate the system does not trust is refused, where libpq would
/// encrypt without checking; `sslmode=disable` and Unix sockets go without TLS.
pub async fn connect(url: &str) -> Result<Central> {
    let mut config: Config = url.trim().parse().map_err(|e| parse_error(&e))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("callhook central");
    }
    if config.get_options().is_none() {
        // Central's queries are short index reads: compiling them (JIT) and starting parallel
        // workers costs tens of milliseconds each, many times the query itself.
        config.options("-c jit=off -c max_parallel_workers_per_gather=0");
    }
    let target: Arc<str> = describe(&config).into();
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if needs_tls(&config) {
        Manager::from_config(config, tls()?, manager_config)
    } else {
        Manager::from_config(config, NoTls, manager_config)
    };
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT))
        .wait_timeout(Some(WAIT_TIMEOUT))
        .build()
        .context("cannot make the connection pool")?;
    let central = Central { pool, target };
    central.migrate().await?;
    Ok(central)
}

impl Central {
    /// A connection from the pool.
    pub(crate) async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => {
                anyhow::Error::new(e).context(format!("cannot connect to {}", self.target))
            }
            PoolError::Timeout(_) => anyhow!(
                "cannot connect to {}: no answer within {} s",
                self.target,
                CONNECT_TIMEOUT.as_secs()
            ),
            other => anyhow!("cannot connect to {}: {other}", self.target),
        })
    }

    /// The version of the schema the database has.
    pub async fn schema_version(&self) -> Result<u32> {
        let client = self.client().await?;
        let version: i32 = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        Ok(version as u32)
    }

    /// Applies the migrations the database lacks, each in a transaction of its own, under an
    /// advisory lock: of several central processes starting at once, one migrates and the
    /// others wait for it and find nothing to do.
    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        loop {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    integer PRIMARY KEY,
                     name       text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await?;
            let version: i32 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM schema_migrations",
                    &[],
                )
                .await?
                .get(0);
            let version = version as u32;
            if version > SCHEMA_VERSION {
                bail!(
                    "the database's schema is version {version}; this callhook knows up to \
                     {SCHEMA_VERSION}: upgrade callhook"
                );
            }
            let Some(next) = CENTRAL_MIGRATIONS.get(version as usize) else {
                tx.commit().await?;
                return Ok(());
            };
            tx.batch_execute(next.sql).await.with_context(|| {
                format!("central migration {:04}_{} failed", next.version, next.name)
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&(next.version as i32), &next.name],
            )
            .await?;
            tx.commit().await?;
        }
    }
}

impl std::fmt::Debug for Central {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Central")
            .field("target", &self.target)
            .finish()
    }
}

/// Runs `f` to completion on a tokio runtime of this thread: for the commands, which are not
/// async themselves. A [`Central`] belongs to the runtime it was connected in.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(f)
}

/// Why a URL was not understood, without any of its text (which holds the password) beyond the
/// name of an option.
fn parse_error(e: &tokio_postgres::Error) -> anyhow::Error {
    let cause = std::error::Error::source(e)
        .map(|cause| cause.to_string())
        .filter(|cause| {
            cause.starts_with("invalid value for option") || cause.starts_with("unknown option")
        });
    let detail = cause.map(|c| format!(" ({c})")).unwrap_or_default();
    anyhow!(
        "the central database is not a PostgreSQL URL{detail}: write \
         postgresql://user:password@host:port/database"
    )
}

/// `postgresql://user@host:port/database` (no password), for messages.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => String::new(),
    };
    let port = config
        .get_ports()
        .first()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let database = config.get_dbname().unwrap_or_default();
    format!("postgresql://{user}{host}{port}/{database}")
}

/// Whether connections may use TLS: not with `sslmode=disable`, nor over Unix sockets only
/// (PostgreSQL has no TLS there).
fn needs_tls(config: &Config) -> bool {
    let all_unix = config
        .get_hosts()
        .iter()
        .all(|host| !matches!(host, Host::Tcp(_)));
    config.get_ssl_mode() != SslMode::Disable && !all_unix
}

/// rustls with ring, and the system's certificate roots.
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS")?
        .with_platform_verifier()
        .context("cannot read the system's certificate roots")?
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_where_postgresql_has_it() {
        let config = |url: &str| url.parse::<Config>().unwrap();
        assert!(needs_tls(&config("postgresql://u@db.example/team")));
        assert!(needs_tls(&config(
            "postgresql://u@db.example/team?sslmode=require"
        )));
        assert!(!needs_tls(&config(
            "postgresql://u@db.example/team?sslmode=disable"
        )));
        // A socket directory is a Unix socket only where there are Unix sockets.
        #[cfg(unix)]
        {
            assert!(!needs_tls(&config(
                "postgresql://u@%2Frun%2Fpostgresql/team"
            )));
            assert!(!needs_tls(&config("host=/run/postgresql dbname=team")));
        }
    }

    #[test]
    fn messages_name_the_database_without_the_password() {
        let config: Config = "postgresql://alice:s3cret@db.example:5433/team"
            .parse()
            .unwrap();
        assert_eq!(describe(&config), "postgresql://alice@db.example:5433/team");
        for url in [
            "postgresql://alice:s3cret@db.example:port/team",
            "postgresql://alice:s3cret@db.example/team?sslmode=sometimes",
            "postgresql://alice:s3cret@db.example/team?colour=blue",
            "host=db.example password='s3cret",
        ] {
            let e = block_on(connect(url)).unwrap_err();
            let message = format!("{e:#} {e:?}");
            assert!(!message.contains("s3cret"), "{message}");
            assert!(message.contains("not a PostgreSQL URL"), "{message}");
        }
        let e = block_on(connect(
            "postgresql://alice:s3cret@db.example/team?sslmode=sometimes",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("`sslmode`"), "{e}");
    }
}

#[cfg(all(test, unix))]
mod cluster_tests {
    use super::*;
    use crate::central::testing;

    #[test]
    fn migrations_apply_once_even_when_centrals_start_together() {
        let db = testing::database();
        block_on(async {
            let (a, b) = tokio::join!(connect(&db.url), connect(&db.url));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.schema_version().await.unwrap(), SCHEMA_VERSION);
            assert_eq!(b.schema_version().await.unwrap(), SCHEMA_VERSION);
            let again = connect(&db.url).await.unwrap();
            let client = again.client().await.unwrap();
            let applied: i64 = client
                .query_one("SELECT count(*) FROM schema_migrations", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(applied, SCHEMA_VERSION as i64);
        });
        // pg_trgm is there for the number search.
        assert_eq!(
            db.cluster
                .sql(
                    db.url.rsplit('/').next().unwrap(),
                    "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"
                )
                .unwrap(),
            "1"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let db = testing::database();
        block_on(async {
            let central = connect(&db.url).await.unwrap();
            let client = central.client().await.unwrap();
            client
                .execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')",
                    &[&(SCHEMA_VERSION as i32 + 1)],
                )
                .await
                .unwrap();
            let e = connect(&db.url).await.unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "the database's schema is version {}; this callhook knows up to \
                     {SCHEMA_VERSION}: upgrade callhook",
                    SCHEMA_VERSION + 1
                )
            );
        });
    }

    #[test]
    fn a_database_that_cannot_be_reached_is_named_without_the_password() {
        let db = testing::database();
        let url = db.url.replace("postgres@", "postgres:s3cret@").replace(
            &format!("/{}", db.url.rsplit('/').next().unwrap()),
            "/missing",
        );
        let e = block_on(connect(&url)).unwrap_err();
        let message = format!("{e:#}");
        assert!(!message.contains("s3cret"), "{message}");
        assert!(
            message.contains("cannot connect to postgresql://postgres@"),
            "{message}"
        );
        assert!(message.contains("/missing"), "{message}");
    }
}
