//! What central's tests share: a PostgreSQL cluster (one while any test holds it, each test in
//! a database of its own), and desk logs made by the desk's own code, turned into the states a
//! desk sends.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use base64::Engine as _;
use rusqlite::Connection;

use crate::central::cluster::Cluster;
use crate::central::db::{self, Central};
use crate::central::desks::{self, Desk, KeyLookup};
use crate::effects::central::batch::{Batch, CallState, EventState};
use crate::log::call::Call;
use crate::log::caller::{Caller, NumberPlan};
use crate::log::event::EventKind;
use crate::log::fold::NewEvent;

static CLUSTER: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A database of its own in the shared cluster; the cluster goes with the last one.
pub struct TestDb {
    pub cluster: Arc<Cluster>,
    pub url: String,
}

pub fn database() -> TestDb {
    let cluster = {
        let mut shared = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
        match shared.upgrade() {
            Some(cluster) => cluster,
            None => {
                let cluster = Arc::new(Cluster::start().expect("a PostgreSQL cluster starts"));
                *shared = Arc::downgrade(&cluster);
                cluster
            }
        }
    };
    let name = format!("t{}", DATABASES.fetch_add(1, Ordering::SeqCst));
    let url = cluster.create_database(&name).expect("a database");
    TestDb { cluster, url }
}

impl TestDb {
    pub async fn connect(&self) -> Central {
        db::connect(&self.url).await.expect("central connects")
    }
}

/// Adds a desk and returns it as ingest knows it.
pub async fn desk(c: &Central, name: &str) -> Desk {
    let key = desks::add(c, name).await.expect("a desk is added");
    match desks::by_key(c, &key.public_key()).await.unwrap() {
        KeyLookup::Active(desk) => desk,
        other => panic!("{other:?}"),
    }
}

/// A batch of these calls.
pub fn batch(calls: Vec<CallState>) -> Batch {
    Batch {
        desk: "desk".into(),
        sent_at: 0,
        backlog: 0,
        backfilled: true,
        calls,
        gone: Vec::new(),
    }
}

pub const WINDOW: i64 = 4 * 3600 * 1000;

/// A desk's call log, written by the hook's own fold.
pub struct DeskLog {
    _dir: tempfile::TempDir,
    pub conn: Connection,
    pub plan: NumberPlan,
    pub host: String,
}

impl DeskLog {
    pub fn new(host: &str) -> DeskLog {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::log::db::open(
            &dir.path().join("calls.db"),
            crate::log::db::ADMIN_BUSY_TIMEOUT,
        )
        .unwrap();
        DeskLog {
            _dir: dir,
            conn,
            plan: NumberPlan {
                country_code: Some("49".into()),
                ..NumberPlan::default()
            },
            host: host.into(),
        }
    }

    /// Records one event as the hook does.
    pub fn event(&mut self, at: i64, kind: EventKind, caller: &str) -> Call {
        self.record(at, kind, Caller::from_text(caller))
    }

    /// Records one event with this caller text as the hook received it.
    pub fn record(&mut self, at: i64, kind: EventKind, caller: Caller) -> Call {
        let number = self.plan.number(&caller.text);
        let mut event = NewEvent::new(at, kind, caller, number);
        event.host = self.host.clone();
        event.os_user = "reception".into();
        event.boot_ms = Some(at - 1_000_000);
        let tx = self.conn.transaction().unwrap();
        let call = crate::log::rows::record(&tx, &event, WINDOW).unwrap();
        tx.commit().unwrap();
        call
    }

    /// An incoming call: answered after 4 s and talked for `talk_ms`, or missed (ended after
    /// 20 s) when `talk_ms` is none.
    pub fn incoming(&mut self, at: i64, caller: &str, talk_ms: Option<i64>) -> Call {
        self.event(at, EventKind::Incoming, caller);
        self.event(at + 150, EventKind::Ring, caller);
        match talk_ms {
            Some(talk) => {
                self.event(at + 4_150, EventKind::Answer, caller);
                self.event(at + 4_150 + talk, EventKind::End, caller)
            }
            None => self.event(at + 20_000, EventKind::End, caller),
        }
    }

    /// An outgoing call, answered and talked for `talk_ms`, or not answered.
    pub fn outgoing(&mut self, at: i64, number: &str, talk_ms: Option<i64>) -> Call {
        self.event(at, EventKind::Outgoing, number);
        match talk_ms {
            Some(talk) => {
                self.event(at + 3_000, EventKind::Start, number);
                self.event(at + 3_000 + talk, EventKind::End, number)
            }
            None => self.event(at + 30_000, EventKind::End, number),
        }
    }

    /// Every call of the log as the desk sends it, with `revision`.
    pub fn states(&self, revision: i64) -> Vec<CallState> {
        let sql = format!("SELECT {}, source FROM calls ORDER BY id", Call::COLUMNS);
        let mut stmt = self.conn.prepare(&sql).unwrap();
        let calls: Vec<(Call, String)> = stmt
            .query_map([], |r| Ok((Call::from_row(r)?, r.get(14)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        calls
            .into_iter()
            .map(|(call, source)| {
                let events = self.events(&call.id);
                CallState::of(call, revision, source, events)
            })
            .collect()
    }

    fn events(&self, call_id: &str) -> Vec<EventState> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, at, event, caller, caller_bytes, caller_truncated, number, host, \
                 os_user, config_error, recorded_at, boot_ms, clock_shift_ms FROM events \
                 WHERE call_id = ?1 ORDER BY id",
            )
            .unwrap();
        stmt.query_map([call_id], |r| {
            let bytes: Option<Vec<u8>> = r.get(4)?;
            Ok(EventState {
                id: r.get(0)?,
                at: r.get(1)?,
                event: r.get(2)?,
                caller: r.get(3)?,
                caller_bytes: bytes.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                caller_truncated: r.get(5)?,
                number: r.get(6)?,
                host: r.get(7)?,
                os_user: r.get(8)?,
                config_error: r.get(9)?,
                recorded_at: r.get(10)?,
                boot_ms: r.get(11)?,
                clock_shift_ms: r.get(12)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }
}
