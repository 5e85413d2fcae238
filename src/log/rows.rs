//! Storing events and the calls they fold into: [`record`] runs the fold of
//! [`crate::log::fold`] against the rows an event can change, in the hook's transaction.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::log::call::{Call, Direction};
use crate::log::contacts;
use crate::log::event::EventKind;
use crate::log::fold::{FoldEvent, NewEvent, REPEAT_WINDOW_MS, id_floor, phase, reduce};

/// Stores `event` and folds it into its call, inside `tx` (which should be IMMEDIATE, so that
/// concurrent hooks fold one at a time). Returns the event's call as it stands afterwards.
pub fn record(tx: &Transaction<'_>, event: &NewEvent, window_ms: i64) -> Result<Call> {
    let this = FoldEvent {
        id: event.id.clone(),
        at: event.at,
        kind: event.kind,
        number: event.number.clone(),
        raw: event.caller.text.clone(),
    };
    let mut fold = Fold::load(tx, &this, window_ms)?;
    let later = fold.rewind()?;
    if !later.is_empty() {
        fold.load_open_calls(this.at)?;
    }
    let call_id = fold.add(this)?;
    for (event, _) in &later {
        fold.add(event.clone())?;
    }
    insert_event(tx, event, &call_id)?;
    for (event, before) in &later {
        let after = &fold.assigned[&event.id];
        if Some(after) != before.as_ref() {
            tx.prepare_cached("UPDATE events SET call_id = ?1 WHERE id = ?2")?
                .execute([after, &event.id])?;
        }
    }
    fold.store()?;
    Ok(fold.slots[&call_id]
        .call
        .clone()
        .expect("the event's call holds the event"))
}

/// Stores one event in `tx`: folded into its call, and the call named from the contacts when
/// `names`. Returns its call.
pub fn record_event(
    tx: &rusqlite::Transaction<'_>,
    event: &NewEvent,
    window_ms: i64,
    names: bool,
) -> Result<Call> {
    let mut call = record(tx, event, window_ms)?;
    if names && let Some(name) = contacts::lookup(tx, &call.number)? {
        tx.prepare_cached("UPDATE calls SET name = ?1 WHERE id = ?2 AND name IS NOT ?1")?
            .execute([&name, &call.id])?;
        call.name = Some(name);
    }
    Ok(call)
}

/// The part of the call log an event can change, loaded into memory and folded there.
struct Fold<'t> {
    tx: &'t Transaction<'t>,
    window_ms: i64,
    slots: HashMap<String, Slot>,
    /// Events already in a call, for the repeat check: the last seconds' from the database and
    /// those folded here.
    recent: Vec<(FoldEvent, String)>,
    /// The call each folded event went to.
    assigned: HashMap<String, String>,
    /// Whether every call open at the first event's time is loaded (needed to fold several
    /// events; for one, the open calls of its number are enough).
    all_open: bool,
    /// Events after this one (within a window of it), to fold again after it.
    later: Vec<(FoldEvent, Option<String>)>,
}

struct Slot {
    /// The call as its events make it; `None` once it has none.
    call: Option<Call>,
    /// Its events, loaded when the call changes.
    events: Option<Vec<FoldEvent>>,
    changed: bool,
    /// Whether the call has a row in the database.
    stored: bool,
}

impl<'t> Fold<'t> {
    /// Loads the open calls of the event's number, the events of the seconds before it (for
    /// the repeat check) and those after it (normally none).
    fn load(tx: &'t Transaction<'t>, event: &FoldEvent, window_ms: i64) -> Result<Fold<'t>> {
        let mut fold = Fold {
            tx,
            window_ms,
            slots: HashMap::new(),
            recent: Vec::new(),
            assigned: HashMap::new(),
            all_open: false,
            later: Vec::new(),
        };
        fold.load_calls("number = ?2", params![event.at, event.number])?;
        let around = fold.events_where(
            "id >= ?1 AND id < ?2 ORDER BY id",
            params![
                id_floor(event.at - REPEAT_WINDOW_MS),
                id_floor(event.at.saturating_add(window_ms).saturating_add(1))
            ],
        )?;
        for (other, call_id) in around {
            if other.id > event.id {
                fold.later.push((other, call_id));
            } else if let Some(call_id) = call_id {
                fold.ensure_slot(&call_id)?;
                fold.recent.push((other, call_id));
            }
        }
        Ok(fold)
    }

    /// Loads every call open at `at`.
    fn load_open_calls(&mut self, at: i64) -> Result<()> {
        self.all_open = true;
        self.load_calls("1", [at])
    }

    fn load_calls(&mut self, filter: &str, args: impl rusqlite::Params) -> Result<()> {
        let sql = format!(
            "SELECT {} FROM calls WHERE ended_at IS NULL AND expires_at >= ?1 AND {filter}",
            Call::COLUMNS
        );
        let open = self
            .tx
            .prepare_cached(&sql)?
            .query_map(args, Call::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for call in open {
            self.slots
                .entry(call.id.clone())
                .or_insert(Slot::loaded(call));
        }
        Ok(())
    }

    /// Takes the events later than the first one (within a window of it) out of their calls,
    /// so that they can be folded again after it. Returns them with the call each was in.
    fn rewind(&mut self) -> Result<Vec<(FoldEvent, Option<String>)>> {
        let later = std::mem::take(&mut self.later);
        for (later_event, call_id) in &later {
            if let Some(call_id) = call_id {
                self.ensure_slot(call_id)?;
                self.events_of(call_id)?.retain(|e| e.id != later_event.id);
                self.refresh(call_id);
            }
        }
        Ok(later)
    }

    fn events_where(
        &self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<(FoldEvent, Option<String>)>> {
        let sql =
            format!("SELECT id, at, event, number, caller, call_id FROM events WHERE {filter}");
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(args, |row| {
            let kind: String = row.get(2)?;
            let event = FoldEvent {
                id: row.get(0)?,
                at: row.get(1)?,
                // The table's CHECK constraint admits only known events.
                kind: kind.parse().unwrap_or(EventKind::End),
                number: row.get(3)?,
                raw: row.get(4)?,
            };
            Ok((event, row.get(5)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn ensure_slot(&mut self, call_id: &str) -> Result<()> {
        if !self.slots.contains_key(call_id)
            && let Some(call) = load_call(self.tx, call_id)?
        {
            self.slots.insert(call_id.to_string(), Slot::loaded(call));
        }
        Ok(())
    }

    fn events_of(&mut self, call_id: &str) -> Result<&mut Vec<FoldEvent>> {
        if self.slots.get(call_id).is_none_or(|s| s.events.is_none()) {
            let events = self
                .events_where("call_id = ?1 ORDER BY id", [call_id])?
                .into_iter()
                .map(|(event, _)| event)
                .collect();
            self.slots
                .entry(call_id.to_string())
                .or_insert(Slot {
                    call: None,
                    events: None,
                    changed: false,
                    stored: false,
                })
                .events = Some(events);
        }
        Ok(self
            .slots
            .get_mut(call_id)
            .and_then(|s| s.events.as_mut())
            .unwrap())
    }

    fn refresh(&mut self, call_id: &str) {
        let window_ms = self.window_ms;
        let slot = self.slots.get_mut(call_id).unwrap();
        let events = slot.events.as_deref().unwrap_or_default();
        slot.call = (!events.is_empty()).then(|| Call {
            // The id stays the call's even if its first event was taken out for a rewind.
            id: call_id.to_string(),
            ..reduce(events, window_ms)
        });
        slot.changed = true;
    }

    /// Folds one event into its call; returns the call's id.
    fn add(&mut self, event: FoldEvent) -> Result<String> {
        let call_id = self
            .matching_call(&event)?
            .unwrap_or_else(|| event.id.clone());
        let events = self.events_of(&call_id)?;
        let at = events.partition_point(|e| e.id < event.id);
        events.insert(at, event.clone());
        self.refresh(&call_id);
        self.assigned.insert(event.id.clone(), call_id.clone());
        self.recent.push((event, call_id.clone()));
        Ok(call_id)
    }

    /// The call an event joins, given the calls made by the events before it.
    fn matching_call(&mut self, event: &FoldEvent) -> Result<Option<String>> {
        use EventKind::*;
        let direction = match event.kind {
            Ring | Answer | AnswerVideo => Some(Direction::In),
            Incoming | Outgoing | Start | Busy | End => None,
        };
        // An end goes to an open call of its number first: two calls of one number (call
        // waiting) can end within seconds of each other, and neither is a repeat.
        if event.kind.is_final()
            && let Some(id) = self.open_call_of_number(event, direction)
        {
            return Ok(Some(id));
        }
        // The same event with the same caller text seconds after a first one repeats it.
        if let Some(call_id) = self.repeat_of(event) {
            return Ok(Some(call_id));
        }
        match event.kind {
            Incoming | Outgoing => Ok(None),
            Ring => Ok(self.open_call_of_number(event, direction)),
            _ => match self.open_call_of_number(event, direction) {
                Some(id) => Ok(Some(id)),
                None => self.only_open_call(event, direction),
            },
        }
    }

    /// The call of an earlier identical event within [`REPEAT_WINDOW_MS`], if this event can
    /// be a repeat of it: a repeat only repeats what its call has not gone past. An `incoming`
    /// after that call was answered or ended is a new call of the same number (call waiting,
    /// a call back, a redial), not a repeat; a second `end` of an ended call is one.
    fn repeat_of(&self, event: &FoldEvent) -> Option<String> {
        let floor = event.at - REPEAT_WINDOW_MS;
        let (_, call_id) = self
            .recent
            .iter()
            .filter(|(e, _)| {
                e.id < event.id && e.at >= floor && e.kind == event.kind && e.raw == event.raw
            })
            .max_by(|a, b| a.0.id.cmp(&b.0.id))?;
        let call = self.slots.get(call_id)?.call.as_ref()?;
        let open = call.ended_at.is_none() && call.expires_at.is_some_and(|t| t >= event.at);
        let repeats = if event.kind.is_final() {
            // An open call of the number was looked for first: this one is over.
            !open
        } else {
            open && phase(call) <= event.kind.phase()
        };
        repeats.then(|| call_id.clone())
    }

    fn open_calls<'a>(
        &'a self,
        event: &'a FoldEvent,
        direction: Option<Direction>,
    ) -> impl Iterator<Item = &'a Call> + 'a {
        self.slots.values().filter_map(move |slot| {
            let call = slot.call.as_ref()?;
            let open = call.ended_at.is_none()
                && call.expires_at.is_some_and(|t| t >= event.at)
                && call.id < event.id
                && direction.is_none_or(|d| d == call.direction);
            open.then_some(call)
        })
    }

    /// The most recent open call of the event's number; an answer or a busy prefers one not
    /// yet answered (call waiting from the same number).
    fn open_call_of_number(
        &self,
        event: &FoldEvent,
        direction: Option<Direction>,
    ) -> Option<String> {
        self.open_calls(event, direction)
            .filter(|call| call.number == event.number)
            .max_by_key(|call| {
                let unanswered = event.kind.is_answer() || event.kind == EventKind::Busy;
                let preferred = !unanswered || call.answered_at.is_none();
                (preferred, call.started_at, call.id.clone())
            })
            .map(|call| call.id.clone())
    }

    /// The open call, when exactly one is open (MicroSIP 3.22.3 can end a call under another
    /// identity than it began with).
    fn only_open_call(
        &mut self,
        event: &FoldEvent,
        direction: Option<Direction>,
    ) -> Result<Option<String>> {
        if !self.all_open {
            // Folding a single event, the database holds the state before it: asking it for
            // two open calls is enough, however many are open.
            let open: Vec<String> = self
                .tx
                .prepare_cached(
                    "SELECT id FROM calls WHERE ended_at IS NULL AND expires_at >= ?1 \
                     AND (?2 IS NULL OR direction = ?2) AND id < ?3 LIMIT 2",
                )?
                .query_map(
                    params![event.at, direction.map(Direction::as_str), event.id],
                    |row| row.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let mut open = open.into_iter();
            return match (open.next(), open.next()) {
                (Some(id), None) => {
                    self.ensure_slot(&id)?;
                    Ok(Some(id))
                }
                _ => Ok(None),
            };
        }
        let mut open = self.open_calls(event, direction);
        Ok(match (open.next(), open.next()) {
            (Some(call), None) => Some(call.id.clone()),
            _ => None,
        })
    }

    /// Writes the changed calls back.
    fn store(&self) -> Result<()> {
        for (call_id, slot) in self.slots.iter().filter(|(_, s)| s.changed) {
            if let Some(call) = &slot.call {
                note_number(self.tx, call)?;
            }
            match (&slot.call, slot.stored) {
                (Some(call), true) => update_call(self.tx, call)?,
                (Some(call), false) => insert_call(self.tx, call)?,
                (None, true) => {
                    self.tx
                        .prepare_cached("DELETE FROM calls WHERE id = ?1")?
                        .execute([call_id])?;
                }
                (None, false) => {}
            }
        }
        Ok(())
    }
}

impl Slot {
    fn loaded(call: Call) -> Slot {
        Slot {
            call: Some(call),
            events: None,
            changed: false,
            stored: true,
        }
    }
}

/// Appends an event, already folded into the call `call_id`.
pub fn insert_event(conn: &rusqlite::Connection, event: &NewEvent, call_id: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (id, at, event, caller, caller_bytes, caller_truncated, number, \
         host, os_user, config_error, recorded_at, call_id, boot_ms, clock_shift_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        event.id,
        event.at,
        event.kind.as_str(),
        event.caller.text,
        event.caller.bytes,
        event.caller.truncated,
        event.number,
        event.host,
        event.os_user,
        event.config_error,
        crate::log::call::now_ms(),
        call_id,
        event.boot_ms,
        event.clock_shift_ms,
    ])?;
    conn.prepare_cached("INSERT INTO event_feed (event_id) VALUES (?1)")?
        .execute([&event.id])?;
    Ok(())
}

pub fn load_call(conn: &rusqlite::Connection, call_id: &str) -> Result<Option<Call>> {
    let sql = format!("SELECT {} FROM calls WHERE id = ?1", Call::COLUMNS);
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([call_id], Call::from_row)
        .optional()?)
}

/// Adds the call's number and caller text to the distinct numbers (for searches).
pub fn note_number(conn: &rusqlite::Connection, call: &Call) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO numbers (number, raw) VALUES (?1, ?2)")?
        .execute([&call.number, &call.raw])?;
    Ok(())
}

/// Inserts a new call's row.
pub fn insert_call(conn: &rusqlite::Connection, call: &Call) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO calls (id, direction, status, number, raw, started_at, ringing_at, \
         answered_at, ended_at, last_event_at, expires_at, ring_ms, talk_ms, name) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(call_params(call).as_slice())?;
    Ok(())
}

/// Rewrites what the events make of a call (its name, from the contacts, stays).
fn update_call(conn: &rusqlite::Connection, call: &Call) -> Result<()> {
    conn.prepare_cached(
        "UPDATE calls SET direction = ?2, status = ?3, number = ?4, raw = ?5, started_at = ?6, \
         ringing_at = ?7, answered_at = ?8, ended_at = ?9, last_event_at = ?10, \
         expires_at = ?11, ring_ms = ?12, talk_ms = ?13 WHERE id = ?1",
    )?
    .execute(&call_params(call)[..13])?;
    Ok(())
}

fn call_params(call: &Call) -> [&dyn rusqlite::ToSql; 14] {
    [
        &call.id,
        &call.direction,
        &call.status,
        &call.number,
        &call.raw,
        &call.started_at,
        &call.ringing_at,
        &call.answered_at,
        &call.ended_at,
        &call.last_event_at,
        &call.expires_at,
        &call.ring_ms,
        &call.talk_ms,
        &call.name,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::call::Status;
    use crate::log::caller::Caller;
    use EventKind::*;

    const WINDOW: i64 = 4 * 3600 * 1000;
    const T0: i64 = 1_795_600_800_000;

    struct Log {
        _dir: tempfile::TempDir,
        conn: rusqlite::Connection,
    }

    impl Log {
        fn new() -> Log {
            let dir = tempfile::tempdir().unwrap();
            let conn = crate::log::db::open(
                &dir.path().join("calls.db"),
                crate::log::db::ADMIN_BUSY_TIMEOUT,
            )
            .unwrap();
            Log { _dir: dir, conn }
        }

        fn record(&mut self, event: &NewEvent) -> Call {
            let tx = self.conn.transaction().unwrap();
            let call = record(&tx, event, WINDOW).unwrap();
            tx.commit().unwrap();
            call
        }

        fn calls(&self) -> Vec<Call> {
            let sql = format!("SELECT {} FROM calls ORDER BY id", Call::COLUMNS);
            let mut stmt = self.conn.prepare(&sql).unwrap();
            stmt.query_map([], Call::from_row)
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }

    /// An event `secs` seconds after T0.
    fn ev(secs: f64, kind: EventKind, number: &str) -> NewEvent {
        let at = T0 + (secs * 1000.0) as i64;
        NewEvent::new(at, kind, Caller::from_text(number), number.to_string())
    }

    fn fold(events: &[NewEvent]) -> Vec<Call> {
        let mut log = Log::new();
        for e in events {
            log.record(e);
        }
        log.calls()
    }

    fn summary(calls: &[Call]) -> Vec<(String, Direction, Status)> {
        calls
            .iter()
            .map(|c| (c.number.clone(), c.direction, c.status))
            .collect()
    }

    #[test]
    fn an_answered_incoming_call() {
        let calls = fold(&[
            ev(0.0, Incoming, "100"),
            ev(0.2, Ring, "100"),
            ev(5.2, Answer, "100"),
            ev(5.3, Start, "100"),
            ev(65.3, End, "100"),
        ]);
        assert_eq!(calls.len(), 1);
        let c = &calls[0];
        assert_eq!((c.direction, c.status), (Direction::In, Status::Answered));
        assert_eq!(c.started_at, T0);
        assert_eq!(c.ringing_at, Some(T0 + 200));
        assert_eq!(c.answered_at, Some(T0 + 5200));
        assert_eq!(c.ended_at, Some(T0 + 65_300));
        assert_eq!(c.ring_ms, Some(5000));
        assert_eq!(c.talk_ms, Some(60_100));
    }

    #[test]
    fn how_calls_end() {
        type Case = (&'static [(f64, EventKind)], Direction, Status);
        let cases: &[Case] = &[
            (
                &[(0.0, Incoming), (1.0, Ring), (9.0, End)],
                Direction::In,
                Status::Missed,
            ),
            (&[(0.0, Incoming), (1.0, Busy)], Direction::In, Status::Busy),
            (
                &[(0.0, Incoming), (1.0, Start), (2.0, End)],
                Direction::In,
                Status::Answered,
            ),
            (
                &[(0.0, Incoming), (1.0, Ring)],
                Direction::In,
                Status::InProgress,
            ),
            (
                &[(0.0, Outgoing), (3.0, Start), (9.0, End)],
                Direction::Out,
                Status::Answered,
            ),
            (
                &[(0.0, Outgoing), (9.0, End)],
                Direction::Out,
                Status::NoAnswer,
            ),
            (
                &[(0.0, Outgoing), (2.0, Busy)],
                Direction::Out,
                Status::Busy,
            ),
            // MicroSIP before 3.19.27 has no outgoing hook.
            (
                &[(0.0, Start), (9.0, End)],
                Direction::Out,
                Status::Answered,
            ),
            (&[(0.0, End)], Direction::Out, Status::NoAnswer),
            (
                &[(0.0, AnswerVideo), (9.0, End)],
                Direction::In,
                Status::Answered,
            ),
        ];
        for (events, direction, status) in cases {
            let events: Vec<_> = events.iter().map(|&(t, k)| ev(t, k, "555")).collect();
            let calls = fold(&events);
            assert_eq!(
                summary(&calls),
                [("555".into(), *direction, *status)],
                "{events:?}"
            );
        }
        let out = &fold(&[
            ev(0.0, Outgoing, "1"),
            ev(4.0, Start, "1"),
            ev(10.0, End, "1"),
        ])[0];
        assert_eq!((out.ring_ms, out.talk_ms), (Some(4000), Some(6000)));
        let missed = &fold(&[ev(0.0, Incoming, "1"), ev(7.0, End, "1")])[0];
        assert_eq!((missed.ring_ms, missed.talk_ms), (Some(7000), None));
    }

    /// Two overlapping calls from different numbers, call waiting, and a second call from a
    /// number after its first ended.
    fn busy_desk() -> Vec<NewEvent> {
        vec![
            ev(0.0, Incoming, "201"),
            ev(0.1, Ring, "201"),
            ev(2.0, Answer, "201"),
            ev(2.1, Start, "201"),
            ev(10.0, Incoming, "202"),
            ev(10.1, Ring, "202"),
            ev(15.0, Outgoing, "900"),
            ev(20.0, End, "202"),
            ev(25.0, Busy, "900"),
            ev(30.0, End, "201"),
            ev(40.0, Incoming, "201"),
            ev(40.5, Ring, "201"),
            ev(45.0, End, "201"),
        ]
    }

    #[test]
    fn overlapping_calls_stay_apart() {
        let calls = fold(&busy_desk());
        assert_eq!(
            summary(&calls),
            [
                ("201".into(), Direction::In, Status::Answered),
                ("202".into(), Direction::In, Status::Missed),
                ("900".into(), Direction::Out, Status::Busy),
                ("201".into(), Direction::In, Status::Missed),
            ]
        );
        assert_eq!(calls[0].talk_ms, Some(28_000));
    }

    #[test]
    fn commit_order_does_not_matter() {
        let events = busy_desk();
        let expected = fold(&events);
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..40 {
            let mut shuffled = events.clone();
            for i in (1..shuffled.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                shuffled.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            assert_eq!(fold(&shuffled), expected, "order {shuffled:?}");
        }
        let mut reversed = events.clone();
        reversed.reverse();
        assert_eq!(fold(&reversed), expected);
    }

    #[test]
    fn repeated_events_are_harmless() {
        let calls = fold(&[
            ev(0.0, Incoming, "7"),
            ev(0.05, Incoming, "7"),
            ev(3.0, Start, "7"),
            ev(9.0, End, "7"),
            ev(9.0, End, "7"),
            ev(9.5, End, "7"),
        ]);
        assert_eq!(
            summary(&calls),
            [("7".into(), Direction::In, Status::Answered)]
        );
        assert_eq!(calls[0].ended_at, Some(T0 + 9000));
    }

    #[test]
    fn call_waiting_from_one_number() {
        // Two calls from the same number, both answered, ending within a second of each other.
        let events = [
            ev(0.0, Incoming, "44"),
            ev(1.0, Answer, "44"),
            ev(1.1, Start, "44"),
            ev(5.0, Incoming, "44"),
            ev(6.0, Answer, "44"),
            ev(6.1, Start, "44"),
            ev(20.0, End, "44"),
            ev(20.5, End, "44"),
        ];
        let calls = fold(&events);
        assert_eq!(calls.len(), 2);
        for call in &calls {
            assert_eq!(call.status, Status::Answered, "{call:?}");
            assert!(call.ended_at.is_some(), "{call:?}");
        }
        assert_eq!(calls[0].answered_at, Some(T0 + 1000));
        assert_eq!(calls[1].answered_at, Some(T0 + 6000));
        let mut reversed = events.to_vec();
        reversed.reverse();
        assert_eq!(fold(&reversed), calls);

        // A declined second call (busy) leaves the answered first one open.
        let calls = fold(&[
            ev(0.0, Incoming, "44"),
            ev(1.0, Answer, "44"),
            ev(5.0, Incoming, "44"),
            ev(6.0, Busy, "44"),
        ]);
        assert_eq!(
            summary(&calls),
            [
                ("44".into(), Direction::In, Status::InProgress),
                ("44".into(), Direction::In, Status::Busy),
            ]
        );
    }

    #[test]
    fn a_replayed_old_end_does_not_join_a_later_call() {
        let mut log = Log::new();
        log.record(&ev(100.0, Incoming, "1"));
        // An end from before that call, of another number, stored afterwards (a replay).
        log.record(&ev(10.0, End, "2"));
        let calls = log.calls();
        assert_eq!(
            summary(&calls),
            [
                ("2".into(), Direction::Out, Status::NoAnswer),
                ("1".into(), Direction::In, Status::InProgress),
            ]
        );
    }

    #[test]
    fn another_identity_at_the_end_joins_the_only_open_call() {
        let calls = fold(&[
            ev(0.0, Incoming, "300"),
            ev(1.0, Answer, "300"),
            ev(1.1, Start, "300"),
            ev(9.0, End, "+49301234"),
        ]);
        assert_eq!(
            summary(&calls),
            [("300".into(), Direction::In, Status::Answered)]
        );

        // With two calls open the stranger cannot be placed: it gets a call of its own.
        let calls = fold(&[
            ev(0.0, Incoming, "300"),
            ev(0.5, Incoming, "301"),
            ev(9.0, End, "999"),
        ]);
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].number, "999");
    }

    #[test]
    fn the_window_closes_a_call() {
        let calls = fold(&[ev(0.0, Incoming, "5"), ev(5.0 * 3600.0, End, "5")]);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].status, Status::InProgress);
        assert_eq!(calls[0].status_at(T0 + 5 * 3600 * 1000), Status::Missed);
        assert_eq!(calls[0].status_at(T0 + 1000), Status::InProgress);
    }

    #[test]
    fn record_returns_the_call_after_the_event() {
        let mut log = Log::new();
        let first = log.record(&ev(0.0, Incoming, "8"));
        assert_eq!(first.status, Status::InProgress);
        let end = log.record(&ev(4.0, End, "8"));
        assert_eq!(
            (end.id.as_str(), end.status),
            (first.id.as_str(), Status::Missed)
        );
        // A late event earlier than the end still lands in the same call.
        let ring = log.record(&ev(1.0, Ring, "8"));
        assert_eq!(ring.id, first.id);
        assert_eq!(ring.ring_ms, Some(3000));
    }
}
