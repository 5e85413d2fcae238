//! Folding events into calls.
//!
//! MicroSIP passes no call id, so the events of one call are matched by number, direction and
//! time. A call is a pure function of its events ([`reduce`]), and each event's call depends
//! only on the events before it in event time. An event that arrives after later ones (hook
//! processes commit out of order) rewinds those later events and folds them again after it, so
//! the calls never depend on the order of commits.

use uuid::{Builder, Timestamp, Uuid};

use crate::log::call::{Call, Direction, Status};
use crate::log::caller::Caller;
use crate::log::event::EventKind;

/// The same event with the same caller text this soon after a first one is a repeat of it.
pub const REPEAT_WINDOW_MS: i64 = 2_000;

/// How far a call has got: 0 set up (ringing or dialling), 1 connected, 2 over; an event
/// repeats only in a call that has not gone past its own phase ([`EventKind::phase`]).
pub(crate) fn phase(call: &Call) -> u8 {
    if call.ended_at.is_some() {
        2
    } else if call.answered_at.is_some() {
        1
    } else {
        0
    }
}

/// An event as it is stored.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: String,
    pub at: i64,
    pub kind: EventKind,
    pub caller: Caller,
    pub number: String,
    pub host: String,
    pub os_user: String,
    pub config_error: Option<String>,
    /// The boot clock when the hook timed the event itself ([`crate::log::clock`]).
    pub boot_ms: Option<i64>,
    /// How far `at` was moved off the wall clock to keep its call in one time base.
    pub clock_shift_ms: Option<i64>,
}

impl NewEvent {
    pub fn new(at: i64, kind: EventKind, caller: Caller, number: String) -> NewEvent {
        NewEvent::with_id(event_id(at), at, kind, caller, number)
    }

    /// An event whose id was made already (the hook's, for its fallback line; a logged one's).
    pub fn with_id(
        id: String,
        at: i64,
        kind: EventKind,
        caller: Caller,
        number: String,
    ) -> NewEvent {
        NewEvent {
            id,
            at,
            kind,
            caller,
            number,
            host: String::new(),
            os_user: String::new(),
            config_error: None,
            boot_ms: None,
            clock_shift_ms: None,
        }
    }
}

/// An event as the fold sees it.
#[derive(Clone, Debug)]
pub struct FoldEvent {
    pub id: String,
    pub at: i64,
    pub kind: EventKind,
    pub number: String,
    pub raw: String,
}

/// A UUIDv7 made from the event time: ids sort in event-time order.
pub fn event_id(at: i64) -> String {
    let ms = at.max(0) as u64;
    Uuid::new_v7(Timestamp::from_unix_time(
        ms / 1000,
        (ms % 1000) as u32 * 1_000_000,
        0,
        0,
    ))
    .to_string()
}

/// The smallest event id of millisecond `at`, for range scans by time over the id index.
pub(crate) fn id_floor(at: i64) -> String {
    Builder::from_unix_timestamp_millis(at.max(0) as u64, &[0; 10])
        .into_uuid()
        .to_string()
}

/// The call that a set of events makes; `events` is sorted by id and not empty.
pub fn reduce(events: &[FoldEvent], window_ms: i64) -> Call {
    use EventKind::*;
    let first = &events[0];
    let earliest = |wanted: &dyn Fn(EventKind) -> bool| {
        events.iter().filter(|e| wanted(e.kind)).map(|e| e.at).min()
    };
    let direction = events
        .iter()
        .find_map(|e| match e.kind {
            Incoming | Ring | Answer | AnswerVideo => Some(Direction::In),
            Outgoing => Some(Direction::Out),
            _ => None,
        })
        // Without an opening event (MicroSIP before 3.19.27 has no outgoing hook) a call
        // that only connected or ended was an outgoing one.
        .unwrap_or(Direction::Out);
    let (ringing_at, answered_at) = match direction {
        Direction::In => (
            earliest(&|k| k == Ring).or(earliest(&|k| k == Incoming)),
            earliest(&EventKind::is_answer).or(earliest(&|k| k == Start)),
        ),
        Direction::Out => (earliest(&|k| k == Outgoing), earliest(&|k| k == Start)),
    };
    let last = events.iter().find(|e| e.kind.is_final());
    let ended_at = last.map(|e| e.at);
    let status = match (last.map(|e| e.kind), answered_at, direction) {
        (None, _, _) => Status::InProgress,
        (Some(_), Some(_), _) => Status::Answered,
        (Some(Busy), None, _) => Status::Busy,
        (Some(_), None, Direction::In) => Status::Missed,
        (Some(_), None, Direction::Out) => Status::NoAnswer,
    };
    let last_event_at = events.iter().map(|e| e.at).max().unwrap_or(first.at);
    Call {
        id: first.id.clone(),
        direction,
        status,
        number: first.number.clone(),
        raw: first.raw.clone(),
        name: None,
        started_at: first.at,
        ringing_at,
        answered_at,
        ended_at,
        last_event_at,
        expires_at: Some(last_event_at.saturating_add(window_ms)),
        ring_ms: ringing_at
            .zip(answered_at.or(ended_at))
            .map(|(from, to)| (to - from).max(0)),
        talk_ms: answered_at
            .zip(ended_at)
            .map(|(from, to)| (to - from).max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_600_800_000;

    #[test]
    fn event_ids_sort_by_time() {
        let a = event_id(T0);
        let b = event_id(T0 + 1);
        assert!(a < b);
        assert!(id_floor(T0) <= a && id_floor(T0 + 1) > a);
    }
}
