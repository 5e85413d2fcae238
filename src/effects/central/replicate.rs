//! The next batch for central, read in one transaction: the calls of the oldest queued
//! changes (each as it stands now, with all its events), the re-keyed calls as gone; and when
//! no change waits, the next page of the backfill.

use std::collections::HashMap;

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::batch::{Batch, CallState, EventState, Gone};
use super::link::{self, Link};
use crate::log::call::Call;

/// A batch's JSON stays under this (central reads up to [`super::batch::MAX_BODY`]; proxies in
/// front of it often less).
pub const MAX_BYTES: usize = 1024 * 1024;
/// And holds at most this many calls (gone ones included).
pub const MAX_CALLS: usize = 500;
/// Halving after 413 answers stops here.
const MIN_BYTES: usize = 4 * 1024;
/// Queued changes looked at per batch: a prune queues one per call it deletes, and those come
/// to nothing; the read stays short however many wait.
const MAX_CHANGES: usize = 20_000;

/// How large a batch may grow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub bytes: usize,
    pub calls: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            bytes: MAX_BYTES,
            calls: MAX_CALLS,
        }
    }
}

impl Limits {
    /// The limits of a link, after the 413 answers it had (each halves the batch).
    pub fn of(link: &Link) -> Limits {
        match link.batch_bytes {
            None => Limits::default(),
            Some(bytes) => {
                let bytes = (bytes.max(0) as usize).clamp(MIN_BYTES, MAX_BYTES);
                Limits {
                    bytes,
                    calls: (MAX_CALLS * bytes / MAX_BYTES).max(1),
                }
            }
        }
    }

    /// The batch size to use after central answered 413 to a batch of `sent` bytes made with
    /// these limits.
    pub fn halved(self, sent: usize) -> i64 {
        (self.bytes.min(sent) / 2).max(MIN_BYTES) as i64
    }
}

/// A batch, and what to record once central took it.
#[derive(Debug)]
pub struct Built {
    pub batch: Batch,
    /// The link it was read from (a link made afresh meanwhile is not advanced by it).
    pub linked_at: i64,
    /// The last change it covers: those up to it are done with once central took it.
    pub upto: Option<i64>,
    /// A backfill page: the last call of it, for the cursor.
    pub cursor: Option<String>,
    /// The backfill is done once central took it.
    pub backfill_done: bool,
}

impl Built {
    /// Nothing to send: the changes were of pruned calls, or the backfill found no more.
    pub fn is_empty(&self) -> bool {
        self.batch.calls.is_empty() && self.batch.gone.is_empty()
    }
}

/// The next batch, read in one transaction; `None` when there is no link or nothing to send.
pub fn build(conn: &mut Connection, desk: &str, limits: Limits, now: i64) -> Result<Option<Built>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let Some(link) = link::get(&tx)? else {
        return Ok(None);
    };
    let mut batch = Batch {
        desk: desk.to_string(),
        sent_at: now,
        backlog: 0,
        backfilled: link.backfill_done,
        calls: Vec::new(),
        gone: Vec::new(),
    };
    let mut size = Size::new(&batch, limits);
    let upto = changes(&tx, &mut batch, &mut size)?;
    let mut built = Built {
        linked_at: link.linked_at,
        upto,
        cursor: None,
        backfill_done: link.backfill_done,
        batch,
    };
    match upto {
        Some(upto) => {
            built.batch.backlog =
                tx.prepare_cached("SELECT count(*) FROM central_changes WHERE seq > ?1")?
                    .query_row([upto], |row| row.get::<_, i64>(0))? as u64;
        }
        // Live changes go first; the backfill takes the quiet moments.
        None if !link.backfill_done => {
            let (cursor, done) = backfill(&tx, &link, &mut built, size)?;
            built.cursor = cursor;
            built.backfill_done = done;
            built.batch.backfilled = done;
        }
        None => return Ok(None),
    }
    Ok(Some(built))
}

/// The JSON size of a batch as it grows.
struct Size {
    bytes: usize,
    items: usize,
    limits: Limits,
}

impl Size {
    fn new(empty: &Batch, limits: Limits) -> Size {
        Size {
            // Room for the backlog's digits, filled in last, and for revisions that grow as
            // later changes of a call are read.
            bytes: serde_json::to_vec(empty).map_or(0, |b| b.len()) + 1024,
            items: 0,
            limits,
        }
    }

    /// Takes an item of `bytes` if it fits; the first always does (an oversized call goes
    /// alone).
    fn take(&mut self, bytes: usize) -> bool {
        let fits = self.items < self.limits.calls && self.bytes + bytes < self.limits.bytes;
        if fits || self.items == 0 {
            self.bytes += bytes + 1;
            self.items += 1;
            return true;
        }
        false
    }
}

/// What a changed call comes to in a batch.
enum Item {
    Call(Box<CallState>),
    Gone(Gone),
    /// Pruned: central keeps its copy.
    Nothing,
}

/// Where a changed call went in the batch, for its revision to follow its later changes.
enum Placed {
    Call(usize),
    Gone(usize),
    Nothing,
}

/// The calls of the oldest queued changes, in order of change, as far as they fit; returns
/// the last change taken. A call's revision is its last change taken (the queue has no index
/// by call: one more would cost every hook): a later change of it, left for the next batch,
/// sends it again with a higher one.
fn changes(conn: &Connection, batch: &mut Batch, size: &mut Size) -> Result<Option<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, call_id FROM central_changes ORDER BY seq LIMIT ?1")?;
    let mut rows = stmt.query([MAX_CHANGES as i64])?;
    let mut placed: HashMap<String, Placed> = HashMap::new();
    let mut upto = None;
    while let Some(row) = rows.next()? {
        let (seq, call_id): (i64, String) = (row.get(0)?, row.get(1)?);
        match placed.get(&call_id) {
            Some(Placed::Call(i)) => batch.calls[*i].revision = seq,
            Some(Placed::Gone(i)) => batch.gone[*i].revision = seq,
            Some(Placed::Nothing) => {}
            None => {
                let place = match item(conn, &call_id, seq)? {
                    Item::Call(call) => {
                        if !size.take(json_len(&call)) {
                            break;
                        }
                        batch.calls.push(*call);
                        Placed::Call(batch.calls.len() - 1)
                    }
                    Item::Gone(gone) => {
                        if !size.take(json_len(&gone)) {
                            break;
                        }
                        batch.gone.push(gone);
                        Placed::Gone(batch.gone.len() - 1)
                    }
                    Item::Nothing => Placed::Nothing,
                };
                placed.insert(call_id, place);
            }
        }
        upto = Some(seq);
    }
    Ok(upto)
}

fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(0, |b| b.len())
}

/// A changed call as it stands: its state, gone into another call (re-keyed: the event with
/// its id is in that call now), or nothing (pruned with its events).
fn item(conn: &Connection, call_id: &str, revision: i64) -> Result<Item> {
    if let Some(call) = call_state(conn, call_id, revision)? {
        return Ok(Item::Call(Box::new(call)));
    }
    let into: Option<Option<String>> = conn
        .prepare_cached("SELECT call_id FROM events WHERE id = ?1")?
        .query_row([call_id], |row| row.get(0))
        .optional()?;
    Ok(match into.flatten() {
        Some(into) if into != call_id => Item::Gone(Gone {
            id: call_id.to_string(),
            revision,
            into,
        }),
        _ => Item::Nothing,
    })
}

/// A call's row: `Call::COLUMNS`, then `source`.
fn call_sql(rest: &str) -> String {
    format!("SELECT {}, source FROM calls {rest}", Call::COLUMNS)
}

fn call_from_row(row: &rusqlite::Row<'_>, revision: i64) -> rusqlite::Result<CallState> {
    Ok(CallState::of(
        Call::from_row(row)?,
        revision,
        row.get(14)?,
        Vec::new(),
    ))
}

/// A call with all its events, if it exists.
fn call_state(conn: &Connection, call_id: &str, revision: i64) -> Result<Option<CallState>> {
    let call = conn
        .prepare_cached(&call_sql("WHERE id = ?1"))?
        .query_row([call_id], |row| call_from_row(row, revision))
        .optional()?;
    let Some(mut call) = call else {
        return Ok(None);
    };
    call.events = events(conn, call_id)?;
    Ok(Some(call))
}

fn events(conn: &Connection, call_id: &str) -> Result<Vec<EventState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, event, caller, caller_bytes, caller_truncated, number, host, os_user, \
         config_error, recorded_at, boot_ms, clock_shift_ms FROM events WHERE call_id = ?1 \
         ORDER BY id",
    )?;
    let events = stmt
        .query_map([call_id], |row| {
            let bytes: Option<Vec<u8>> = row.get(4)?;
            Ok(EventState {
                id: row.get(0)?,
                at: row.get(1)?,
                event: row.get(2)?,
                caller: row.get(3)?,
                caller_bytes: bytes.map(|b| BASE64.encode(b)),
                caller_truncated: row.get(5)?,
                number: row.get(6)?,
                host: row.get(7)?,
                os_user: row.get(8)?,
                config_error: row.get(9)?,
                recorded_at: row.get(10)?,
                boot_ms: row.get(11)?,
                clock_shift_ms: row.get(12)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(events)
}

/// The next page of the backfill: the calls after the link's cursor, by id, as far as they
/// fit, at the revision kept for the backfill when the link was made (above what an earlier
/// link sent, below every change queued since). Returns the new cursor, and whether no call
/// is left after it.
fn backfill(
    conn: &Connection,
    link: &Link,
    built: &mut Built,
    mut size: Size,
) -> Result<(Option<String>, bool)> {
    let mut stmt = conn.prepare_cached(&call_sql("WHERE id > ?1 ORDER BY id LIMIT ?2"))?;
    let page = size.limits.calls as i64;
    let cursor = link.backfill_cursor.as_deref().unwrap_or("");
    let mut rows = stmt.query(rusqlite::params![cursor, page + 1])?;
    let mut last = None;
    while let Some(row) = rows.next()? {
        let mut call = call_from_row(row, link.backfill_revision)?;
        call.events = events(conn, &call.id)?;
        if !size.take(json_len(&call)) {
            return Ok((last, false));
        }
        last = Some(call.id.clone());
        built.batch.calls.push(call);
    }
    Ok((last, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::caller::Caller;
    use crate::log::event::EventKind::{self, *};
    use crate::log::fold::NewEvent;

    const WINDOW: i64 = 4 * 3600 * 1000;
    const T0: i64 = 1_795_600_800_000;

    struct Desk {
        _dir: tempfile::TempDir,
        conn: Connection,
    }

    impl Desk {
        fn new() -> Desk {
            let dir = tempfile::tempdir().unwrap();
            let conn = crate::log::db::open(
                &dir.path().join("calls.db"),
                crate::log::db::ADMIN_BUSY_TIMEOUT,
            )
            .unwrap();
            Desk { _dir: dir, conn }
        }

        fn linked() -> Desk {
            let desk = Desk::new();
            link::link(&desk.conn, "https://central.example.com/", "front", T0).unwrap();
            desk
        }

        /// Stores an event `secs` after T0 as the hook does; returns its id and its call's.
        fn record(&mut self, secs: f64, kind: EventKind, number: &str) -> (String, String) {
            let at = T0 + (secs * 1000.0) as i64;
            let event = NewEvent::new(at, kind, Caller::from_text(number), number.to_string());
            let tx = self.conn.transaction().unwrap();
            let call = crate::log::rows::record(&tx, &event, WINDOW).unwrap();
            tx.commit().unwrap();
            (event.id, call.id)
        }

        fn build(&mut self, limits: Limits) -> Option<Built> {
            build(&mut self.conn, "front", limits, T0).unwrap()
        }

        /// Records a batch as delivered.
        fn deliver(&self, built: &Built) {
            let done = link::Delivered {
                linked_at: built.linked_at,
                upto: built.upto,
                cursor: built.cursor.as_deref(),
                backfill_done: built.backfill_done,
                status: Some(200),
            };
            link::delivered(&self.conn, &done, T0).unwrap();
        }

        fn count(&self, sql: &str) -> i64 {
            self.conn.query_row(sql, [], |r| r.get(0)).unwrap()
        }
    }

    #[test]
    fn nothing_is_queued_without_a_link() {
        let mut desk = Desk::new();
        desk.record(0.0, Incoming, "100");
        assert_eq!(desk.count("SELECT count(*) FROM central_changes"), 0);
        assert!(desk.build(Limits::default()).is_none());
    }

    #[test]
    fn a_changed_call_goes_with_all_its_events_and_a_growing_revision() {
        let mut desk = Desk::linked();
        // Backfill of the empty log first.
        let empty = desk.build(Limits::default()).unwrap();
        assert!(empty.is_empty() && empty.backfill_done);
        desk.deliver(&empty);

        let (first, call_id) = desk.record(0.0, Incoming, "100");
        desk.record(1.0, Ring, "100");
        let built = desk.build(Limits::default()).unwrap();
        assert_eq!(built.batch.desk, "front");
        assert!(built.batch.backfilled);
        assert_eq!((built.batch.backlog, built.batch.gone.len()), (0, 0));
        let [call] = built.batch.calls.as_slice() else {
            panic!("{:?}", built.batch)
        };
        assert_eq!(call.id, call_id);
        assert_eq!(call.id, first);
        assert_eq!(call.source, "hook");
        let kinds: Vec<_> = call.events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(kinds, ["incoming", "ring"]);
        let revision = call.revision;
        assert!(revision > 0);
        desk.deliver(&built);
        assert_eq!(desk.count("SELECT count(*) FROM central_changes"), 0);
        assert!(desk.build(Limits::default()).is_none(), "nothing left");

        desk.record(9.0, End, "100");
        let built = desk.build(Limits::default()).unwrap();
        let call = &built.batch.calls[0];
        assert!(
            call.revision > revision,
            "{} after {revision}",
            call.revision
        );
        assert_eq!(call.status, "missed");
        assert_eq!(call.events.len(), 3);
    }

    #[test]
    fn a_rekeyed_call_is_gone_into_the_new_one_and_a_pruned_one_is_not_sent() {
        let mut desk = Desk::linked();
        let empty = desk.build(Limits::default()).unwrap();
        desk.deliver(&empty);
        // The end first, then the incoming from before it: the call is re-keyed to the
        // incoming's id.
        let (_, old) = desk.record(5.0, End, "200");
        let (incoming, new) = desk.record(0.0, Incoming, "200");
        assert_eq!(incoming, new);
        assert_ne!(old, new);
        let built = desk.build(Limits::default()).unwrap();
        assert_eq!(built.batch.gone.len(), 1);
        let gone = &built.batch.gone[0];
        assert_eq!(
            (gone.id.as_str(), gone.into.as_str()),
            (old.as_str(), new.as_str())
        );
        assert!(gone.revision > 0);
        let ids: Vec<_> = built.batch.calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, [new.as_str()]);
        assert_eq!(built.batch.calls[0].events.len(), 2);
        desk.deliver(&built);

        // Pruned, call and events: the change comes to nothing, and is done with.
        desk.conn
            .execute_batch("DELETE FROM events; DELETE FROM calls;")
            .unwrap();
        let built = desk.build(Limits::default()).unwrap();
        assert!(built.is_empty(), "{:?}", built.batch);
        desk.deliver(&built);
        assert_eq!(desk.count("SELECT count(*) FROM central_changes"), 0);
    }

    #[test]
    fn the_backfill_pages_through_the_log_from_before_the_link() {
        let mut desk = Desk::new();
        let mut ids = Vec::new();
        for i in 0..7 {
            let number = format!("30{i}");
            ids.push(desk.record(i as f64 * 60.0, Incoming, &number).1);
            desk.record(i as f64 * 60.0 + 5.0, End, &number);
        }
        link::link(&desk.conn, "https://central.example.com/", "front", T0).unwrap();
        let limits = Limits {
            bytes: MAX_BYTES,
            calls: 3,
        };
        let mut sent = Vec::new();
        loop {
            let built = desk.build(limits).unwrap();
            assert!(built.batch.calls.len() <= 3);
            // The revision kept for the backfill: above 0 (what a link before this one
            // sent), below every change queued from now on.
            let kept = link::get(&desk.conn).unwrap().unwrap().backfill_revision;
            assert!(kept > 0);
            assert!(built.batch.calls.iter().all(|c| c.revision == kept));
            sent.extend(built.batch.calls.iter().map(|c| c.id.clone()));
            let done = built.backfill_done;
            assert_eq!(built.batch.backfilled, done);
            desk.deliver(&built);
            if done {
                break;
            }
        }
        assert_eq!(sent, ids);
        assert!(desk.build(limits).is_none());

        // A change since goes first, and only it.
        desk.record(900.0, Incoming, "399");
        let built = desk.build(limits).unwrap();
        assert_eq!(built.batch.calls.len(), 1);
        assert!(built.batch.calls[0].revision > 0);
    }

    #[test]
    fn live_changes_go_before_the_backfill() {
        let mut desk = Desk::new();
        desk.record(0.0, Incoming, "1");
        link::link(&desk.conn, "https://central.example.com/", "front", T0).unwrap();
        let (_, live) = desk.record(60.0, Incoming, "2");
        let built = desk.build(Limits::default()).unwrap();
        let ids: Vec<_> = built.batch.calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, [live.as_str()]);
        assert!(!built.batch.backfilled && built.cursor.is_none());
        desk.deliver(&built);
        let built = desk.build(Limits::default()).unwrap();
        assert_eq!(
            built.batch.calls.len(),
            2,
            "the backfill sends the whole log"
        );
        assert!(built.backfill_done);
    }

    #[test]
    fn a_batch_stays_within_its_limits_and_the_rest_waits() {
        let mut desk = Desk::linked();
        let empty = desk.build(Limits::default()).unwrap();
        desk.deliver(&empty);
        for i in 0..10 {
            desk.record(i as f64 * 60.0, Incoming, &format!("40{i}"));
        }
        let one = json_len(&desk.build(Limits::default()).unwrap().batch.calls[0]);
        // Room for three calls (the empty batch and its slack take under 1,200 bytes).
        let limits = Limits {
            bytes: 1200 + 3 * (one + 1),
            calls: MAX_CALLS,
        };
        let built = desk.build(limits).unwrap();
        let body = serde_json::to_vec(&built.batch).unwrap();
        assert!(
            body.len() < limits.bytes,
            "{} of {}",
            body.len(),
            limits.bytes
        );
        assert!(
            (2..=3).contains(&built.batch.calls.len()),
            "{}",
            built.batch.calls.len()
        );
        assert!(built.batch.backlog > 0);
        desk.deliver(&built);
        let mut sent = built.batch.calls.len();
        while let Some(built) = desk.build(limits) {
            sent += built.batch.calls.len();
            desk.deliver(&built);
        }
        assert_eq!(sent, 10);

        // One call larger than the limit still goes, alone.
        desk.record(3000.0, Incoming, "500");
        desk.record(3001.0, Incoming, "501");
        let tiny = Limits {
            bytes: 10,
            calls: 5,
        };
        let built = desk.build(tiny).unwrap();
        assert_eq!(built.batch.calls.len(), 1);
        // The other call's changes wait: its row inserted, and its event.
        assert_eq!(built.batch.backlog, 2);
    }

    #[test]
    fn a_caller_that_is_not_unicode_goes_as_base64() {
        let mut desk = Desk::linked();
        let empty = desk.build(Limits::default()).unwrap();
        desk.deliver(&empty);
        let event = NewEvent::new(
            T0,
            Incoming,
            Caller {
                text: "caf\u{fffd} <sip:1@x>".into(),
                bytes: Some(b"caf\xe9 <sip:1@x>".to_vec()),
                truncated: false,
            },
            "1".to_string(),
        );
        let tx = desk.conn.transaction().unwrap();
        crate::log::rows::record(&tx, &event, WINDOW).unwrap();
        tx.commit().unwrap();
        let built = desk.build(Limits::default()).unwrap();
        let stored = &built.batch.calls[0].events[0];
        let bytes = BASE64
            .decode(stored.caller_bytes.as_ref().unwrap())
            .unwrap();
        assert_eq!(bytes, b"caf\xe9 <sip:1@x>");
    }

    #[test]
    fn halving_after_413_goes_down_to_a_floor() {
        let mut link = Link {
            url: String::new(),
            desk: String::new(),
            linked_at: 0,
            backfill_cursor: None,
            backfill_done: false,
            backfill_revision: 0,
            batch_bytes: None,
            attempts: 0,
            next_at: 0,
            last_status: None,
            last_error: None,
            last_ok_at: None,
        };
        assert_eq!(Limits::of(&link), Limits::default());
        link.batch_bytes = Some(Limits::default().halved(usize::MAX));
        assert_eq!(Limits::of(&link).calls, MAX_CALLS / 2);
        // Half of what was sent, when that was less than the limit.
        link.batch_bytes = Some(Limits::default().halved(100_000));
        assert_eq!(Limits::of(&link).bytes, 50_000);
        for _ in 0..20 {
            link.batch_bytes = Some(Limits::of(&link).halved(usize::MAX));
        }
        assert_eq!(Limits::of(&link).bytes, MIN_BYTES);
        assert!(Limits::of(&link).calls >= 1);
    }

    #[test]
    fn a_desk_linked_again_sends_its_calls_above_what_it_sent_before() {
        let mut desk = Desk::linked();
        let first = desk.record(0.0, Incoming, "301").1;
        let sent = desk.build(Limits::default()).unwrap();
        desk.deliver(&sent);
        let before = sent.batch.calls[0].revision;
        // Unlinked (its queue forgotten), the call ends, and the desk is linked again: the
        // backfill sends the call as it is now, with a revision central takes over the old.
        link::unlink(&desk.conn).unwrap();
        link::forget_changes(&desk.conn, 100).unwrap();
        desk.record(5.0, End, "301");
        link::link(&desk.conn, "https://central.example.com/", "front", T0).unwrap();
        let again = desk.build(Limits::default()).unwrap();
        let call = again.batch.calls.iter().find(|c| c.id == first).unwrap();
        assert!(call.revision > before, "{} after {before}", call.revision);
        assert!(call.ended_at.is_some());
    }
}
