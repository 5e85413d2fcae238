//! One worker per lane at a time: leases in the database that lapse if their holder dies, and
//! the claim with which a hook starts a worker, so that a burst of hooks starts one worker,
//! not one each.

use anyhow::Result;
use rusqlite::{Connection, params};

/// The kinds of background work, each done by one worker at a time. A delivery's kind is the
/// lane it goes in: `popup` or `webhook`; `central` has a queue of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// Opening CRM pages while the phone rings.
    Popup,
    /// Webhook deliveries, in event order per endpoint.
    Webhook,
    /// Storing the events of the fallback logs.
    Fallback,
    /// Reading changed contact files.
    Contacts,
    /// Replicating the call log to central (team mode).
    Central,
}

impl Lane {
    pub const ALL: [Lane; 5] = [
        Lane::Contacts,
        Lane::Fallback,
        Lane::Popup,
        Lane::Webhook,
        Lane::Central,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Popup => "popup",
            Lane::Webhook => "webhook",
            Lane::Fallback => "fallback",
            Lane::Contacts => "contacts",
            Lane::Central => "central",
        }
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::FromSql for Lane {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        Lane::ALL
            .into_iter()
            .find(|lane| lane.as_str() == text)
            .ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("no lane {text}").into()))
    }
}

/// The holder a hook writes when it claims a lane for the worker it starts.
const STARTING: &str = "starting";

/// How long a hook's claim keeps other hooks from starting workers: the worker it starts takes
/// the lane over within milliseconds; should it never come, the next hook after this starts one.
pub const CLAIM_MS: i64 = 5_000;

/// Claims each of `lanes` that no worker holds and no hook has claimed, for the worker the
/// caller is about to start (in the caller's transaction); returns whether it claimed any. A
/// lane that is held is marked wanted: its worker looks once more before it lets go, so that
/// work found by a hook just before the release is never left without a worker.
pub fn claim(conn: &Connection, lanes: &[Lane], now: i64) -> Result<bool> {
    let mut claimed = false;
    for lane in lanes {
        let taken = conn
            .prepare_cached(
                "INSERT INTO worker_leases (lane, holder, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (lane) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at, wanted = 0 \
                 WHERE worker_leases.expires_at <= ?4",
            )?
            .execute(params![lane.as_str(), STARTING, now + CLAIM_MS, now])?
            == 1;
        if !taken {
            conn.prepare_cached(
                "UPDATE worker_leases SET wanted = 1 WHERE lane = ?1 AND wanted = 0",
            )?
            .execute([lane.as_str()])?;
        }
        claimed |= taken;
    }
    Ok(claimed)
}

/// Takes the lane's lease until `until` if it is free, lapsed, claimed for a starting worker,
/// or already ours.
pub fn acquire(conn: &Connection, lane: Lane, holder: &str, until: i64, now: i64) -> Result<bool> {
    Ok(conn.execute(
        "INSERT INTO worker_leases (lane, holder, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (lane) DO UPDATE SET holder = excluded.holder, \
         expires_at = excluded.expires_at, wanted = 0 \
         WHERE worker_leases.expires_at <= ?4 OR worker_leases.holder IN (?5, excluded.holder)",
        params![lane.as_str(), holder, until, now, STARTING],
    )? == 1)
}

/// Extends our lease; false if it lapsed and another worker took it.
pub fn renew(conn: &Connection, lane: Lane, holder: &str, until: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE worker_leases SET expires_at = max(expires_at, ?3) WHERE lane = ?1 AND holder = ?2",
        params![lane.as_str(), holder, until],
    )? == 1)
}

/// Gives our lease up, unless a hook wanted the lane meanwhile (see [`claim`]): then the mark
/// is cleared and false returned, for the worker to look once more.
pub fn release(conn: &Connection, lane: Lane, holder: &str) -> Result<bool> {
    let released = conn.execute(
        "DELETE FROM worker_leases WHERE lane = ?1 AND holder = ?2 AND wanted = 0",
        params![lane.as_str(), holder],
    )? == 1;
    if !released {
        conn.execute(
            "UPDATE worker_leases SET wanted = 0 WHERE lane = ?1 AND holder = ?2",
            params![lane.as_str(), holder],
        )?;
    }
    Ok(released)
}

/// Gives our lease up whatever was wanted (a worker that stops; the next hook starts another).
pub fn give_up(conn: &Connection, lane: Lane, holder: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM worker_leases WHERE lane = ?1 AND holder = ?2",
        params![lane.as_str(), holder],
    )?;
    Ok(())
}
