//! Live events: `GET /api/events` as Server-Sent Events. One thread watches the database
//! (`PRAGMA data_version` changes whenever another connection commits, so the hook does
//! nothing for it) and reads what was stored, in the order of `event_feed`; each client gets
//! the events after the last one it saw, from the log itself when it reconnects
//! (`Last-Event-ID`) or falls behind, so none is lost or sent twice.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::{broadcast, mpsc};

use crate::effects::webhook::Payload;
use crate::log::call::{Call, now_ms};
use crate::serve::App;
use crate::serve::error::ApiResult;

/// How often the watcher asks SQLite whether anything was committed: often while calls come
/// in (events of a call follow each other within seconds), less while the log is quiet, and
/// seldom while nobody listens, so that an idle server costs next to nothing.
const POLL_BUSY: Duration = Duration::from_millis(10);
const POLL_QUIET: Duration = Duration::from_millis(40);
const POLL_UNHEARD: Duration = Duration::from_millis(500);
/// How long after a change the watcher stays busy.
const BUSY_FOR: Duration = Duration::from_secs(10);
/// Events read from the log per query.
const BATCH: u32 = 200;

/// One stored event as a client receives it: its place in the feed, its id, and the webhook
/// payload (the call as it stands, with the event).
#[derive(Debug)]
pub struct Frame {
    pub seq: i64,
    pub id: String,
    pub data: String,
}

/// What the watcher has seen, shared with the clients.
pub struct Feed {
    sender: broadcast::Sender<Arc<Frame>>,
    last: AtomicI64,
}

impl Feed {
    pub fn new() -> Feed {
        Feed {
            sender: broadcast::channel(1024).0,
            last: AtomicI64::new(0),
        }
    }

    /// The feed position of the last event the watcher saw.
    pub fn last(&self) -> i64 {
        self.last.load(Ordering::SeqCst)
    }

    pub fn clients(&self) -> usize {
        self.sender.receiver_count()
    }
}

impl Default for Feed {
    fn default() -> Self {
        Feed::new()
    }
}

/// Starts the watcher thread on its own connection.
pub fn watch(app: Arc<App>, conn: Connection) -> Result<()> {
    let mut last: i64 =
        conn.query_row("SELECT coalesce(max(seq), 0) FROM event_feed", [], |r| {
            r.get(0)
        })?;
    app.feed.last.store(last, Ordering::SeqCst);
    let mut seen: i64 = data_version(&conn)?;
    let mut changed = std::time::Instant::now();
    std::thread::Builder::new()
        .name("events".into())
        .spawn(move || {
            loop {
                let pause = if app.feed.clients() == 0 {
                    POLL_UNHEARD
                } else if changed.elapsed() < BUSY_FOR {
                    POLL_BUSY
                } else {
                    POLL_QUIET
                };
                std::thread::sleep(pause);
                let mut step = || -> Result<()> {
                    let version = data_version(&conn)?;
                    if version == seen {
                        return Ok(());
                    }
                    seen = version;
                    changed = std::time::Instant::now();
                    loop {
                        let frames = frames_after(&conn, last, BATCH)?;
                        let Some(end) = frames.last().map(|f| f.seq) else {
                            return Ok(());
                        };
                        for frame in frames {
                            // No receiver is fine: nobody listens now.
                            let _ = app.feed.sender.send(Arc::new(frame));
                        }
                        last = end;
                        app.feed.last.store(last, Ordering::SeqCst);
                    }
                };
                if let Err(e) = step() {
                    eprintln!("callhook serve: live events: {e:#}");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        })
        .context("cannot start the live events thread")?;
    Ok(())
}

fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// The events stored after feed position `after`, oldest first, with their calls as they are.
pub fn frames_after(conn: &Connection, after: i64, limit: u32) -> Result<Vec<Frame>> {
    let columns: Vec<String> = Call::COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect();
    let sql = format!(
        "SELECT {}, f.seq, e.id, e.at, e.event, e.host, e.os_user, e.boot_ms IS NULL \
         FROM event_feed f JOIN events e ON e.id = f.event_id JOIN calls c ON c.id = e.call_id \
         WHERE f.seq > ?1 ORDER BY f.seq LIMIT ?2",
        columns.join(", ")
    );
    let n = columns.len();
    let now = now_ms();
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params![after, limit], |r| {
        let call = Call::from_row(r)?;
        let (event, host, user): (String, String, String) =
            (r.get(n + 3)?, r.get(n + 4)?, r.get(n + 5)?);
        let payload = Payload::new(
            &event,
            r.get(n + 2)?,
            call.to_json(now),
            &host,
            &user,
            r.get(n + 6)?,
        );
        Ok(Frame {
            seq: r.get(n)?,
            id: r.get(n + 1)?,
            data: payload.to_body(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The feed position of event `id`; the newest entries are searched first, as a client
/// reconnecting has usually just seen it.
fn position_of(conn: &Connection, id: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT seq FROM event_feed WHERE event_id = ?1 ORDER BY seq DESC LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?)
}

/// `GET /api/events`: every event stored from now on, or after the `Last-Event-ID`.
pub async fn stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Subscribed before the start is read: nothing stored meanwhile falls between the two.
    let mut live = app.feed.sender.subscribe();
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .map(str::to_string);
    let start = match resume {
        Some(id) => app
            .db(move |conn| Ok(position_of(conn, &id)?))
            .await?
            .unwrap_or_else(|| app.feed.last()),
        None => app.feed.last(),
    };
    let (out, events) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let mut last = start;
        loop {
            // From the log: what was stored after `last` (after a reconnect or a lag).
            loop {
                let after = last;
                let frames = app
                    .db(move |conn| Ok(frames_after(conn, after, BATCH)?))
                    .await;
                let Ok(frames) = frames else { return };
                if frames.is_empty() {
                    break;
                }
                for frame in frames {
                    if out.send(event(&frame)).await.is_err() {
                        return;
                    }
                    last = frame.seq;
                }
            }
            // Live, until the client has fallen so far behind that frames were dropped.
            loop {
                match live.recv().await {
                    Ok(frame) if frame.seq > last => {
                        if out.send(event(&frame)).await.is_err() {
                            return;
                        }
                        last = frame.seq;
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(events, |mut events| async move {
        events.recv().await.map(|e| (Ok(e), events))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event(frame: &Frame) -> Event {
    Event::default()
        .id(frame.id.clone())
        .event("call")
        .data(frame.data.clone())
}
