//! The outbox: side effects queued in the same transaction as the event that causes them, so
//! that a crash can lose none; and every change of a delivery's [`Status`], from queued to
//! delivered, failed, stopped (410 Gone) or skipped, and back to pending on a retry.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use crate::config::Config;
use crate::effects::lease::Lane;
use crate::effects::popup::{PopupConfig, Values};
use crate::effects::webhook::{Payload, message_id};
use crate::log::call::{Call, now_ms};
use crate::log::caller::digits;
use crate::log::fold::NewEvent;

/// Where a delivery is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Queued, waiting for its time or its turn.
    Pending,
    Delivered,
    /// Out of attempts, or of no use any more.
    Failed,
    /// Its endpoint answered 410 Gone: nothing more goes there until an admin retries.
    Stopped,
    /// A popup whose call was over before it could open.
    Skipped,
}

impl Status {
    const ALL: [Status; 5] = [
        Status::Pending,
        Status::Delivered,
        Status::Failed,
        Status::Stopped,
        Status::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
            Status::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for Status {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        Status::parse(text)
            .ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("no status {text}").into()))
    }
}

/// One row of the outbox.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub kind: Lane,
    pub target: String,
    pub url: String,
    pub event_id: String,
    pub call_id: String,
    #[serde(skip)]
    pub message_id: Option<String>,
    #[serde(skip)]
    pub body: Option<String>,
    pub status: Status,
    pub attempts: i64,
    #[serde(serialize_with = "ms_as_rfc3339")]
    pub next_at: i64,
    #[serde(serialize_with = "ms_as_rfc3339")]
    pub created_at: i64,
    #[serde(serialize_with = "opt_ms_as_rfc3339")]
    pub delivered_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

fn ms_as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::log::call::rfc3339(*ms))
}

fn opt_ms_as_rfc3339<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => ms_as_rfc3339(ms, s),
        None => s.serialize_none(),
    }
}

impl Delivery {
    pub const COLUMNS: &'static str = "id, kind, target, url, event_id, call_id, message_id, \
        body, status, attempts, next_at, created_at, delivered_at, last_status, last_error";

    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
        Ok(Delivery {
            id: row.get(0)?,
            kind: row.get(1)?,
            target: row.get(2)?,
            url: row.get(3)?,
            event_id: row.get(4)?,
            call_id: row.get(5)?,
            message_id: row.get(6)?,
            body: row.get(7)?,
            status: row.get(8)?,
            attempts: row.get(9)?,
            next_at: row.get(10)?,
            created_at: row.get(11)?,
            delivered_at: row.get(12)?,
            last_status: row.get(13)?,
            last_error: row.get(14)?,
        })
    }
}

/// A popup for an event stored late (from the fallback log) opens only while its call still
/// rings: unanswered, not over, and its last event this recent.
pub const LATE_POPUP_MS: i64 = 60_000;

/// Queues the side effects that `event` causes, in the transaction that stores it. `delayed`:
/// the event is stored late, from the fallback log. Returns how many.
pub fn enqueue(
    tx: &Transaction<'_>,
    config: &Config,
    event: &NewEvent,
    call: &Call,
    delayed: bool,
) -> Result<usize> {
    let now = now_ms();
    let mut queued = 0;
    let kind = event.kind.as_str();
    let wanted: Vec<_> = config
        .webhooks
        .iter()
        .filter(|w| w.wants(event.kind))
        .collect();
    if !wanted.is_empty() {
        let body = Payload::new(
            kind,
            event.at,
            call.to_json(event.at),
            &event.host,
            &event.os_user,
            delayed,
        )
        .to_body();
        let message_id = message_id(&event.id);
        for webhook in wanted {
            // An endpoint that answered 410 Gone gets nothing more until an admin retries.
            let stopped = tx
                .prepare_cached(
                    "SELECT 1 FROM outbox WHERE kind = 'webhook' AND target = ?1 \
                     AND status = 'stopped' LIMIT 1",
                )?
                .exists([webhook.key()])?;
            // Behind a delivery that waits for a retry, a new one waits too: an endpoint gets
            // its events in order.
            let after: Option<i64> = tx
                .prepare_cached(
                    "SELECT next_at FROM outbox WHERE status = 'pending' AND kind = 'webhook' \
                     AND target = ?1 ORDER BY event_id LIMIT 1",
                )?
                .query_row([webhook.key()], |row| row.get(0))
                .optional()?;
            tx.prepare_cached(
                "INSERT INTO outbox (kind, target, url, event_id, call_id, message_id, body, \
                 next_at, created_at, status, last_error) \
                 VALUES ('webhook', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                webhook.key(),
                webhook.url.0.as_str(),
                event.id,
                call.id,
                message_id,
                body,
                after.unwrap_or(now).max(now),
                now,
                if stopped { "stopped" } else { "pending" },
                stopped.then_some(GONE),
            ])?;
            queued += usize::from(!stopped);
        }
    }
    let ringing = call.ended_at.is_none()
        && (!delayed || (call.answered_at.is_none() && now - call.last_event_at <= LATE_POPUP_MS));
    if let Some(popup) = &config.popup
        && popup.on.fires_on(event.kind)
        && ringing
    {
        let url = popup_url(popup, call, kind);
        // One popup per call: a second popup event of the call adds nothing.
        queued += tx
            .prepare_cached(
                "INSERT OR IGNORE INTO outbox (kind, target, url, event_id, call_id, next_at, \
                 created_at) VALUES ('popup', 'popup', ?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![url, event.id, call.id, now])?;
    }
    Ok(queued)
}

/// The page a popup opens for a call, on the event that caused it.
pub fn popup_url(popup: &PopupConfig, call: &Call, event: &str) -> String {
    popup.url.render(&Values {
        number: &call.number,
        raw: &call.raw,
        digits: &digits(&call.number),
        name: call.name.as_deref().unwrap_or(""),
        call_id: &call.id,
        direction: call.direction.as_str(),
        event,
    })
}

/// Why an endpoint's deliveries are stopped.
pub const GONE: &str = "the endpoint answered 410 Gone: its deliveries are stopped until \
    `callhook outbox retry`";

/// The condition on an outbox row `o` that it may go next: any popup, and of the webhooks
/// only the first pending one of its endpoint (an endpoint gets its events in order).
const SENDABLE: &str = "(o.kind = 'popup' OR o.event_id = (SELECT min(h.event_id) \
    FROM outbox h WHERE h.status = 'pending' AND h.kind = 'webhook' AND h.target = o.target))";

/// The popups due now, oldest first.
pub fn due_popups(conn: &Connection, now: i64) -> Result<Vec<Delivery>> {
    select(
        conn,
        "status = 'pending' AND kind = 'popup' AND next_at <= ?1 ORDER BY id",
        params![now],
    )
}

/// The deliveries `tail` (a WHERE clause and an order) selects.
fn select(conn: &Connection, tail: &str, params: impl rusqlite::Params) -> Result<Vec<Delivery>> {
    let sql = format!("SELECT {} FROM outbox WHERE {tail}", Delivery::COLUMNS);
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params, Delivery::from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// The webhook delivery to attempt now: the oldest due one among the heads of the endpoints'
/// queues.
pub fn next_webhook(conn: &Connection, now: i64) -> Result<Option<Delivery>> {
    let sql = format!(
        "SELECT {} FROM outbox o WHERE status = 'pending' AND kind = 'webhook' \
         AND next_at <= ?1 AND {SENDABLE} ORDER BY event_id, id LIMIT 1",
        Delivery::COLUMNS
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([now], Delivery::from_row)
        .optional()?)
}

/// The deliveries, newest first: all, or those with `status`.
pub fn list(conn: &Connection, status: Option<Status>, limit: u32) -> Result<Vec<Delivery>> {
    let tail = "?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT ?2";
    select(conn, tail, params![status, limit])
}

/// The deliveries of one call, in order.
pub fn of_call(conn: &Connection, call_id: &str) -> Result<Vec<Delivery>> {
    select(conn, "call_id = ?1 ORDER BY id", [call_id])
}

/// Queues every failed and stopped delivery again, with a fresh retry schedule. Returns how
/// many.
pub fn retry_failed(tx: &Transaction<'_>, now: i64) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_at = ?1 \
         WHERE status IN ('failed', 'stopped')",
        [now],
    )?)
}

/// How many of these deliveries exist.
pub fn existing(conn: &Connection, ids: &[i64]) -> Result<usize> {
    let placeholders = crate::log::db::placeholders(ids.len());
    let found: i64 = conn.query_row(
        &format!("SELECT count(*) FROM outbox WHERE id IN ({placeholders})"),
        rusqlite::params_from_iter(ids),
        |row| row.get(0),
    )?;
    Ok(found as usize)
}

/// Queues these deliveries again, with a fresh retry schedule: a stopped endpoint (410)
/// resumes as a whole, its stopped deliveries go again, in order, and new events are sent to
/// it again. Returns how many.
pub fn retry(tx: &Transaction<'_>, ids: &[i64], now: i64) -> Result<usize> {
    let placeholders = crate::log::db::placeholders(ids.len());
    let sql = format!(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_at = {now} \
         WHERE id IN ({placeholders}) OR (status = 'stopped' AND kind = 'webhook' \
         AND target IN (SELECT target FROM outbox WHERE kind = 'webhook' \
                        AND status = 'stopped' AND id IN ({placeholders})))"
    );
    Ok(tx.execute(&sql, rusqlite::params_from_iter(ids.iter().chain(ids)))?)
}

/// When the lane's next delivery may go: `None` when nothing of it is pending.
pub fn next_due(conn: &Connection, lane: Lane) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT min(o.next_at) FROM outbox o WHERE o.status = 'pending' AND o.kind = ?1 \
         AND {SENDABLE}"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([lane.as_str()], |row| row.get(0))?)
}

/// Whether deliveries of the lane are due.
pub fn due(conn: &Connection, lane: Lane, now: i64) -> Result<bool> {
    Ok(next_due(conn, lane)?.is_some_and(|at| at <= now))
}

/// Counts an attempt before it is made, due again at `next_at` should it never record its end:
/// an attempt that kills the worker (out of memory, a crash) still uses up the schedule, so that
/// the delivery ends `failed` instead of being tried forever.
pub fn begin_attempt(conn: &Connection, delivery: &Delivery, next_at: i64) -> Result<()> {
    let attempt = delivery.attempts + 1;
    conn.prepare_cached(
        "UPDATE outbox SET attempts = ?2, next_at = ?3, last_status = NULL, last_error = ?4 \
         WHERE id = ?1",
    )?
    .execute(params![
        delivery.id,
        attempt,
        next_at,
        format!("attempt {attempt} recorded no outcome: the worker stopped during it")
    ])?;
    Ok(())
}

/// The delivery is over: `delivered`, `failed`, or `skipped` (a popup that had nothing to
/// open). The endpoint's next delivery may go.
pub fn finished(
    conn: &Connection,
    delivery: &Delivery,
    status: Status,
    http_status: Option<u16>,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET status = ?2, last_status = ?3, last_error = ?4, \
         delivered_at = CASE ?2 WHEN 'delivered' THEN ?5 ELSE delivered_at END WHERE id = ?1",
        params![delivery.id, status, http_status, error, now],
    )?;
    if delivery.kind == Lane::Webhook {
        queue_from(conn, &delivery.target, now)?;
    }
    Ok(())
}

/// The attempt failed; the delivery goes again at `next`, and the rest of its endpoint's
/// queue waits behind it, in order.
pub fn retry_at(
    conn: &Connection,
    delivery: &Delivery,
    next: i64,
    http_status: Option<u16>,
    error: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET next_at = ?2, last_status = ?3, last_error = ?4 WHERE id = ?1",
        params![delivery.id, next, http_status, error],
    )?;
    conn.execute(
        "UPDATE outbox SET next_at = max(next_at, ?2) \
         WHERE status = 'pending' AND kind = 'webhook' AND target = ?1",
        params![delivery.target, next],
    )?;
    Ok(())
}

/// The endpoint answered 410 Gone: its pending deliveries are stopped.
pub fn stop_endpoint(conn: &Connection, delivery: &Delivery) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET status = 'stopped', last_status = 410, last_error = ?2 \
         WHERE status = 'pending' AND kind = 'webhook' AND target = ?1",
        params![delivery.target, GONE],
    )?;
    Ok(())
}

/// The endpoint's queue has no head waiting any more: the next may go from `at` on.
fn queue_from(conn: &Connection, target: &str, at: i64) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET next_at = min(next_at, ?2) \
         WHERE status = 'pending' AND kind = 'webhook' AND target = ?1",
        params![target, at],
    )?;
    Ok(())
}

/// What is not redacted yet of a delivery (`o`).
pub const NOT_REDACTED: &str = "o.body IS NOT NULL OR (o.kind = 'popup' AND o.url <> 'redacted')";

/// Takes the personal data out of the deliveries of these calls: the webhook bodies and the
/// popup URLs. Those still pending are skipped: they would send what is gone. Returns how many
/// changed.
pub fn redact(tx: &Transaction<'_>, call_ids: &[String]) -> Result<usize> {
    let list = crate::log::db::placeholders(call_ids.len());
    Ok(tx.execute(
        &format!(
            "UPDATE outbox AS o SET body = NULL, \
             url = CASE kind WHEN 'popup' THEN 'redacted' ELSE url END, \
             last_error = CASE status WHEN 'pending' THEN 'redacted before delivery' \
                          ELSE last_error END, \
             status = CASE status WHEN 'pending' THEN 'skipped' ELSE status END \
             WHERE call_id IN ({list}) AND ({NOT_REDACTED})"
        ),
        rusqlite::params_from_iter(call_ids),
    )?)
}
