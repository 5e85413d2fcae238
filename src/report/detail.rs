//! One call with all its events and deliveries: `callhook show` and `GET /api/calls/{id}`.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::effects::outbox::{self, Delivery};
use crate::log::call::{Call, CallJson, rfc3339};

/// One event as `show` lists it.
#[derive(Serialize, serde::Deserialize)]
pub struct EventJson {
    pub id: String,
    #[serde(skip)]
    pub at_ms: i64,
    pub at: String,
    pub event: String,
    pub caller: String,
    pub caller_truncated: bool,
    pub caller_lossy: bool,
    pub number: String,
    pub host: String,
    pub user: String,
    pub config_error: Option<String>,
}

/// Why no call was shown.
#[derive(Debug, thiserror::Error)]
pub enum Lookup {
    #[error("no call {0}")]
    NotFound(String),
    #[error("{0} is the start of several call ids: give more of it")]
    Ambiguous(String),
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A call with its events and deliveries, as of `now`.
pub struct Detail {
    pub call: Call,
    pub events: Vec<EventJson>,
    pub deliveries: Vec<Delivery>,
    pub now: i64,
}

/// The JSON of a [`Detail`]: fields in the order of their structs, as `calls --format json`
/// has them.
#[derive(Serialize)]
pub struct DetailJson<'a> {
    call: CallJson<'a>,
    events: &'a [EventJson],
    deliveries: &'a [Delivery],
}

impl Detail {
    /// The call whose id is `id`, or the only one whose id starts with it.
    pub fn load(conn: &Connection, id: &str, now: i64) -> Result<Detail, Lookup> {
        let call = find(conn, id)?;
        Ok(Detail {
            events: events(conn, &call.id)?,
            deliveries: outbox::of_call(conn, &call.id)?,
            call,
            now,
        })
    }

    pub fn json(&self) -> DetailJson<'_> {
        DetailJson {
            call: self.call.to_json(self.now),
            events: &self.events,
            deliveries: &self.deliveries,
        }
    }
}

/// The call with this id, or the only one whose id starts with it.
fn find(conn: &Connection, id: &str) -> Result<Call, Lookup> {
    let id = id.trim().to_ascii_lowercase();
    let sql = format!(
        "SELECT {} FROM calls WHERE id >= ?1 AND id < ?1 || '~' ORDER BY id LIMIT 2",
        Call::COLUMNS
    );
    let found: Vec<Call> = conn
        .prepare(&sql)?
        .query_map([&id], Call::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    match found.as_slice() {
        [call] => Ok(call.clone()),
        [] => Err(Lookup::NotFound(id)),
        _ => {
            let exact = conn
                .query_row(
                    &format!("SELECT {} FROM calls WHERE id = ?1", Call::COLUMNS),
                    [&id],
                    Call::from_row,
                )
                .optional()?;
            exact.ok_or(Lookup::Ambiguous(id))
        }
    }
}

/// The events of a call, in event order.
pub fn events(conn: &Connection, call_id: &str) -> Result<Vec<EventJson>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, event, caller, caller_truncated, caller_bytes IS NOT NULL, number, host, \
         os_user, config_error FROM events WHERE call_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([call_id], |r| {
        let at_ms: i64 = r.get(1)?;
        Ok(EventJson {
            id: r.get(0)?,
            at_ms,
            at: rfc3339(at_ms),
            event: r.get(2)?,
            caller: r.get(3)?,
            caller_truncated: r.get(4)?,
            caller_lossy: r.get(5)?,
            number: r.get(6)?,
            host: r.get(7)?,
            user: r.get(8)?,
            config_error: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
