//! Live events: `GET /api/events` as Server-Sent Events. One thread watches the database
//! (the WAL index header, then `PRAGMA data_version`, change whenever another connection
//! commits, so the hook does nothing for it) and reads what was stored, in the order of `event_feed`; each client gets
//! the events after the last one it saw, from the log itself when it reconnects
//! (`Last-Event-ID`) or falls behind, so none is lost or sent twice. Central publishes the
//! events of the desks' batches as it stores them, in the order it stored them.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::{broadcast, mpsc};

use crate::central::db::Central;
use crate::central::query;
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
    /// Central: a batch was stored, look now.
    stored: tokio::sync::Notify,
}

impl Feed {
    pub fn new() -> Feed {
        Feed {
            sender: broadcast::channel(1024).0,
            last: AtomicI64::new(0),
            stored: tokio::sync::Notify::new(),
        }
    }

    /// The feed position of the last event the watcher saw.
    pub fn last(&self) -> i64 {
        self.last.load(Ordering::SeqCst)
    }

    pub fn clients(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Central: a desk's batch was stored; the watcher looks at once.
    pub fn wake(&self) {
        self.stored.notify_one();
    }

    fn publish(&self, frames: Vec<Frame>) {
        if let Some(end) = frames.last().map(|f| f.seq) {
            for frame in frames {
                // No receiver is fine: nobody listens now.
                let _ = self.sender.send(Arc::new(frame));
            }
            self.last.store(end, Ordering::SeqCst);
        }
    }
}

impl Default for Feed {
    fn default() -> Self {
        Feed::new()
    }
}

/// Starts the watcher thread on its own connection.
pub fn watch(app: Arc<App>, conn: Connection) -> Result<()> {
    let last: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM event_feed", [], |r| {
        r.get(0)
    })?;
    app.feed.last.store(last, Ordering::SeqCst);
    let shm = conn.path().map(|db| format!("{db}-shm"));
    let mut watcher = Watcher {
        seen: data_version(&conn)?,
        last,
        changed: Instant::now(),
        asked: Instant::now(),
        shm: shm.and_then(|path| std::fs::File::open(path).ok()),
        header: [0; WAL_HEADER],
        conn,
        app,
    };
    std::thread::Builder::new()
        .name("events".into())
        .spawn(move || {
            loop {
                std::thread::sleep(watcher.pause());
                if let Err(e) = watcher.step() {
                    eprintln!("callhook serve: live events: {e:#}");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        })
        .context("cannot start the live events thread")?;
    Ok(())
}

/// Central: the events desks deliver, published as their batches are stored (and once a
/// second, for what another central process stored).
pub async fn watch_central(app: Arc<App>) -> Result<()> {
    let central = app.central.clone().expect("central mode");
    let last = query::last_seq(&central).await?;
    app.feed.last.store(last, Ordering::SeqCst);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = app.feed.stored.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            loop {
                let after = app.feed.last();
                match central_frames(&central, after).await {
                    Ok(frames) if frames.is_empty() => break,
                    Ok(frames) => app.feed.publish(frames),
                    Err(e) => {
                        eprintln!("callhook serve: live events: {e:#}");
                        break;
                    }
                }
            }
        }
    });
    Ok(())
}

async fn central_frames(central: &Central, after: i64) -> Result<Vec<Frame>> {
    Ok(query::frames_after(central, after, BATCH, now_ms())
        .await?
        .into_iter()
        .map(|item| Frame {
            seq: item.seq,
            id: item.id,
            data: item.data,
        })
        .collect())
}

/// The events stored after `after`, from the desk's log or central's.
async fn frames(app: &Arc<App>, after: i64) -> ApiResult<Vec<Frame>> {
    match &app.central {
        Some(central) => central_frames(central, after)
            .await
            .map_err(crate::serve::ingest::unavailable),
        None => {
            app.db(move |conn| Ok(frames_after(conn, after, BATCH)?))
                .await
        }
    }
}

/// The feed position of event `id`, if it is known.
async fn position(app: &Arc<App>, id: String) -> ApiResult<Option<i64>> {
    match &app.central {
        Some(central) => query::position_of(central, &id)
            .await
            .map_err(crate::serve::ingest::unavailable),
        None => app.db(move |conn| Ok(position_of(conn, &id)?)).await,
    }
}

/// The bytes of the WAL index header (in `<db>-shm`) that every commit changes.
const WAL_HEADER: usize = 48;
/// SQLite itself is asked at least this often, whatever the WAL index says.
const ASK_ANYWAY: Duration = Duration::from_secs(1);

struct Watcher {
    app: Arc<App>,
    conn: Connection,
    /// The last `PRAGMA data_version` and feed position seen.
    seen: i64,
    last: i64,
    changed: Instant,
    asked: Instant,
    shm: Option<std::fs::File>,
    header: [u8; WAL_HEADER],
}

impl Watcher {
    fn pause(&self) -> Duration {
        if self.app.feed.clients() == 0 {
            POLL_UNHEARD
        } else if self.changed.elapsed() < BUSY_FOR {
            POLL_BUSY
        } else {
            POLL_QUIET
        }
    }

    /// Whether the WAL index header changed since the last look: reading 48 bytes costs far
    /// less than asking SQLite (which takes its locks), so an idle server stays idle. Without
    /// the file, always.
    fn wal_moved(&mut self) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        let Some(shm) = &mut self.shm else {
            return true;
        };
        let mut header = [0u8; WAL_HEADER];
        let read = shm
            .seek(SeekFrom::Start(0))
            .and_then(|_| shm.read_exact(&mut header));
        if read.is_err() || header != self.header {
            self.header = header;
            return true;
        }
        false
    }

    /// Sends what was stored since the last look, if anything was.
    fn step(&mut self) -> Result<()> {
        if !self.wal_moved() && self.asked.elapsed() < ASK_ANYWAY {
            return Ok(());
        }
        self.asked = Instant::now();
        let version = data_version(&self.conn)?;
        if version == self.seen {
            return Ok(());
        }
        self.seen = version;
        self.changed = Instant::now();
        loop {
            let frames = frames_after(&self.conn, self.last, BATCH)?;
            let Some(end) = frames.last().map(|f| f.seq) else {
                return Ok(());
            };
            self.app.feed.publish(frames);
            self.last = end;
        }
    }
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
        Some(id) => position(&app, id).await?.unwrap_or_else(|| app.feed.last()),
        None => app.feed.last(),
    };
    let (out, events) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let mut last = start;
        loop {
            // From the log: what was stored after `last` (after a reconnect or a lag).
            loop {
                let frames = frames(&app, last).await;
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
