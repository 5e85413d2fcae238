//! What a desk sends central (`POST /api/ingest`): its calls as it folded them, each with a
//! revision and its events, and the calls it re-keyed away. Times are Unix milliseconds, as
//! the desk stores them, so that central shows every call exactly as its desk does.

use serde::{Deserialize, Serialize};

use crate::log::call::Call;

/// One delivery of a desk's changes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The desk's own name for itself (`[central] desk`); central names a desk by its key and
    /// only shows this one beside it.
    pub desk: String,
    /// The desk's clock when the batch was made (Unix ms): central notes the desk's skew.
    pub sent_at: i64,
    /// Changes still waiting on the desk after this batch, and whether its backfill of the
    /// log from before it joined is done.
    pub backlog: u64,
    pub backfilled: bool,
    pub calls: Vec<CallState>,
    pub gone: Vec<Gone>,
}

/// A call as it stands on the desk, with every event of it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallState {
    pub id: String,
    /// Grows with every change of the call on the desk: central keeps the highest it saw and
    /// never goes back to an older state. 0: sent by the backfill, before any change was
    /// counted (taken only when central has no copy).
    pub revision: i64,
    pub direction: String,
    pub status: String,
    pub number: String,
    pub raw: String,
    pub name: Option<String>,
    pub started_at: i64,
    pub ringing_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub last_event_at: i64,
    pub expires_at: Option<i64>,
    pub ring_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub source: String,
    pub events: Vec<EventState>,
}

impl CallState {
    /// `call` as the batch carries it: with its revision, its `source` column and its events.
    pub fn of(call: Call, revision: i64, source: String, events: Vec<EventState>) -> CallState {
        CallState {
            id: call.id,
            revision,
            direction: call.direction.as_str().into(),
            status: call.status.as_str().into(),
            number: call.number,
            raw: call.raw,
            name: call.name,
            started_at: call.started_at,
            ringing_at: call.ringing_at,
            answered_at: call.answered_at,
            ended_at: call.ended_at,
            last_event_at: call.last_event_at,
            expires_at: call.expires_at,
            ring_ms: call.ring_ms,
            talk_ms: call.talk_ms,
            source,
            events,
        }
    }
}

/// One event, as stored on the desk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventState {
    pub id: String,
    pub at: i64,
    pub event: String,
    pub caller: String,
    /// The exact input, base64, when it was not valid Unicode.
    pub caller_bytes: Option<String>,
    pub caller_truncated: bool,
    pub number: String,
    pub host: String,
    pub os_user: String,
    pub config_error: Option<String>,
    pub recorded_at: i64,
    pub boot_ms: Option<i64>,
    pub clock_shift_ms: Option<i64>,
}

/// A call that no longer exists on the desk because its events went to another call
/// (re-keyed: see "How events become calls"): central removes its copy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Gone {
    pub id: String,
    pub revision: i64,
    /// The call its first event belongs to now.
    pub into: String,
}

/// Central's answer to a batch.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    /// The desk's name at central.
    pub desk: String,
    /// Calls stored or updated.
    pub accepted: u64,
    /// Calls central already had in this state or a newer one.
    pub stale: u64,
    /// Calls another desk owns: not touched.
    pub refused: u64,
    /// Re-keyed calls removed.
    pub gone: u64,
}

/// The largest batch body central reads; a desk makes its batches well under it.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
