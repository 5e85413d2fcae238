//! Storing a desk's batch: the whole batch is checked first, then applied in one transaction
//! with the contract's rules (a call is its desk's alone, a state replaces only an older one,
//! re-keyed calls leave a tombstone), a few statements per batch whatever its size.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use uuid::Uuid;

use crate::central::db::{Central, FEED_LOCK};
use crate::central::desks::Desk;
use crate::effects::central::batch::{Batch, CallState, Receipt};
use crate::log::call::{Direction, Status};
use crate::log::event::EventKind;

/// The longest number or caller text of a call central stores. Desks keep at most 1 KiB of
/// caller text (and the number comes from it); the indexes that hold both (`calls_by_number`,
/// `numbers`) take at most about 2.7 KB per entry.
pub const MAX_NUMBER_BYTES: usize = 1200;
/// The longest of any other text (a caller name, a computer, a config error).
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// The longest name a desk may give itself.
pub const MAX_DESK_NAME_BYTES: usize = 256;

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The batch is wrong (the message names what); nothing of it was stored.
    #[error("{0}")]
    Invalid(String),
    /// The database failed; nothing of the batch was stored.
    #[error(transparent)]
    Database(#[from] anyhow::Error),
}

impl From<tokio_postgres::Error> for IngestError {
    fn from(e: tokio_postgres::Error) -> Self {
        IngestError::Database(e.into())
    }
}

/// A call of the batch, checked: its id and its events' ids and exact caller bytes.
struct CheckedCall<'a> {
    id: Uuid,
    state: &'a CallState,
    events: Vec<(Uuid, Option<Vec<u8>>)>,
}

/// The batch, checked; calls and gone calls sorted by id, so that concurrent batches touch
/// rows in one order.
struct Checked<'a> {
    calls: Vec<CheckedCall<'a>>,
    gone: Vec<(Uuid, i64)>,
    events: usize,
}

/// Stores `batch` from `desk`, received at `now` (Unix ms), and notes the desk's contact.
pub async fn apply(
    c: &Central,
    desk: &Desk,
    batch: &Batch,
    now: i64,
) -> Result<Receipt, IngestError> {
    let checked = check(batch).map_err(IngestError::Invalid)?;
    let mut client = c.client().await?;
    let tx = client.transaction().await?;

    // One batch of a desk at a time: what is decided below from the rows read stays true.
    let active: Option<bool> = tx
        .query_opt(
            "SELECT revoked_at IS NULL FROM desks WHERE id = $1 FOR UPDATE",
            &[&desk.id],
        )
        .await?
        .map(|r| r.get(0));
    if active != Some(true) {
        return Err(IngestError::Invalid(format!(
            "the desk {} was removed",
            desk.name
        )));
    }

    // Central's copies and tombstones of the batch's calls.
    let ids: Vec<Uuid> = checked
        .calls
        .iter()
        .map(|call| call.id)
        .chain(checked.gone.iter().map(|(id, _)| *id))
        .collect();
    let mut copies: HashMap<Uuid, (i32, i64)> = HashMap::new();
    let mut tombstones: HashMap<Uuid, (i32, i64)> = HashMap::new();
    if !ids.is_empty() {
        let known = tx
            .query(
                "SELECT id, desk_id, revision, false FROM calls WHERE id = ANY($1) \
                 UNION ALL SELECT id, desk_id, revision, true FROM gone_calls WHERE id = ANY($1)",
                &[&ids],
            )
            .await?;
        for row in known {
            let entry = (row.get(1), row.get(2));
            if row.get(3) {
                tombstones.insert(row.get(0), entry);
            } else {
                copies.insert(row.get(0), entry);
            }
        }
    }

    let mut receipt = Receipt {
        desk: desk.name.clone(),
        ..Receipt::default()
    };
    let mut store = Vec::new();
    for call in &checked.calls {
        match decide(
            copies.get(&call.id).or(tombstones.get(&call.id)),
            desk.id,
            call.state.revision,
        ) {
            Decision::Take => store.push(call),
            Decision::Stale => receipt.stale += 1,
            Decision::Refuse => receipt.refused += 1,
        }
    }
    let mut removals = Vec::new();
    for &(id, revision) in &checked.gone {
        match decide(copies.get(&id).or(tombstones.get(&id)), desk.id, revision) {
            Decision::Take => removals.push((id, revision)),
            Decision::Stale => receipt.stale += 1,
            Decision::Refuse => receipt.refused += 1,
        }
    }

    let stored = store_calls(&tx, desk.id, &store, now).await?;
    receipt.accepted = stored.len() as u64;
    // Taken by another desk since they were read (only a desk sending ids not its own races).
    receipt.refused += (store.len() - stored.len()) as u64;
    let new_calls = stored.iter().filter(|id| !copies.contains_key(id)).count() as i64;
    let stored: HashSet<Uuid> = stored.into_iter().collect();
    let store: Vec<&CheckedCall> = store
        .into_iter()
        .filter(|call| stored.contains(&call.id))
        .collect();
    let untombed: Vec<Uuid> = store
        .iter()
        .map(|call| call.id)
        .filter(|id| tombstones.contains_key(id))
        .collect();
    if !untombed.is_empty() {
        tx.execute(
            "DELETE FROM gone_calls WHERE id = ANY($1) AND desk_id = $2",
            &[&untombed, &desk.id],
        )
        .await?;
    }
    note_numbers(&tx, &store).await?;

    // From here to the commit, the live feed's numbers are taken one transaction at a time, so
    // that they become visible in their order (a reader never passes one still to come).
    if store.iter().any(|call| !call.events.is_empty()) {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FEED_LOCK])
            .await?;
    }
    let new_events = store_events(&tx, desk.id, &store).await?;
    let (gone_calls, gone_events) = remove_calls(&tx, desk.id, &removals).await?;
    receipt.gone = removals.len() as u64;

    tx.execute(
        "UPDATE desks SET last_contact_at = $2, last_backlog = $3, backfilled = $4, \
         reported_name = $5, clock_skew_ms = $6, batches = batches + 1, \
         calls_received = calls_received + $7, events_received = events_received + $8, \
         calls_held = calls_held + $9, events_held = events_held + $10 WHERE id = $1",
        &[
            &desk.id,
            &now,
            &(batch.backlog.min(i64::MAX as u64) as i64),
            &batch.backfilled,
            &batch.desk,
            &now.saturating_sub(batch.sent_at),
            &(checked.calls.len() as i64),
            &(checked.events as i64),
            &(new_calls - gone_calls),
            &(new_events - gone_events),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(receipt)
}

enum Decision {
    Take,
    Stale,
    Refuse,
}

/// What to do with a state (or a removal) of `revision` from desk `desk`, given central's copy
/// or tombstone of the call (its desk and revision): a call is its desk's alone, and only a
/// newer revision replaces what central has (so revision 0 only a call central never saw).
fn decide(known: Option<&(i32, i64)>, desk: i32, revision: i64) -> Decision {
    match known {
        None => Decision::Take,
        Some(&(owner, _)) if owner != desk => Decision::Refuse,
        Some(&(_, had)) if had < revision => Decision::Take,
        Some(_) => Decision::Stale,
    }
}

/// Inserts or replaces the calls (the same desk's, with a lower revision: checked again, in
/// case another desk raced for an id); returns the ids stored.
async fn store_calls(
    tx: &deadpool_postgres::Transaction<'_>,
    desk: i32,
    calls: &[&CheckedCall<'_>],
    now: i64,
) -> Result<Vec<Uuid>, IngestError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let col = |f: fn(&CallState) -> i64| -> Vec<i64> { calls.iter().map(|c| f(c.state)).collect() };
    let opt = |f: fn(&CallState) -> Option<i64>| -> Vec<Option<i64>> {
        calls.iter().map(|c| f(c.state)).collect()
    };
    let text =
        |f: fn(&CallState) -> &str| -> Vec<&str> { calls.iter().map(|c| f(c.state)).collect() };
    let ids: Vec<Uuid> = calls.iter().map(|c| c.id).collect();
    let names: Vec<Option<&str>> = calls.iter().map(|c| c.state.name.as_deref()).collect();
    let statement = tx
        .prepare_cached(
            "INSERT INTO calls (id, started_at, last_event_at, revision, received_at, ringing_at, \
             answered_at, ended_at, expires_at, ring_ms, talk_ms, desk_id, direction, status, \
             number, raw, name, source) \
             SELECT t.id, t.started_at, t.last_event_at, t.revision, $17, t.ringing_at, \
             t.answered_at, t.ended_at, t.expires_at, t.ring_ms, t.talk_ms, $18, t.direction, \
             t.status, t.number, t.raw, t.name, t.source \
             FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], \
             $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::text[], $12::text[], \
             $13::text[], $14::text[], $15::text[], $16::text[]) AS t(id, started_at, \
             last_event_at, revision, ringing_at, answered_at, ended_at, expires_at, ring_ms, \
             talk_ms, direction, status, number, raw, name, source) \
             ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, \
             last_event_at = excluded.last_event_at, revision = excluded.revision, \
             received_at = excluded.received_at, ringing_at = excluded.ringing_at, \
             answered_at = excluded.answered_at, ended_at = excluded.ended_at, \
             expires_at = excluded.expires_at, ring_ms = excluded.ring_ms, \
             talk_ms = excluded.talk_ms, direction = excluded.direction, \
             status = excluded.status, number = excluded.number, raw = excluded.raw, \
             name = excluded.name, source = excluded.source \
             WHERE calls.desk_id = excluded.desk_id AND calls.revision < excluded.revision \
             RETURNING id",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[
                &ids,
                &col(|s| s.started_at),
                &col(|s| s.last_event_at),
                &col(|s| s.revision),
                &opt(|s| s.ringing_at),
                &opt(|s| s.answered_at),
                &opt(|s| s.ended_at),
                &opt(|s| s.expires_at),
                &opt(|s| s.ring_ms),
                &opt(|s| s.talk_ms),
                &text(|s| &s.direction),
                &text(|s| &s.status),
                &text(|s| &s.number),
                &text(|s| &s.raw),
                &names,
                &text(|s| &s.source),
                &now,
                &desk,
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Adds the calls' (number, caller text) pairs that central did not have, for the searches.
async fn note_numbers(
    tx: &deadpool_postgres::Transaction<'_>,
    calls: &[&CheckedCall<'_>],
) -> Result<(), IngestError> {
    if calls.is_empty() {
        return Ok(());
    }
    let numbers: Vec<&str> = calls.iter().map(|c| c.state.number.as_str()).collect();
    let raws: Vec<&str> = calls.iter().map(|c| c.state.raw.as_str()).collect();
    // Sorted, so that two batches adding the same new pairs never wait for each other in a
    // circle.
    let statement = tx
        .prepare_cached(
            "INSERT INTO numbers (number, raw) SELECT DISTINCT number, raw \
             FROM unnest($1::text[], $2::text[]) AS t(number, raw) ORDER BY number, raw \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&statement, &[&numbers, &raws]).await?;
    Ok(())
}

/// Inserts or replaces the events of the stored calls (an event is its desk's alone, and a state
/// older than the one that last wrote it does not change it), each with a new feed number when
/// anything of it changed; returns how many were new.
async fn store_events(
    tx: &deadpool_postgres::Transaction<'_>,
    desk: i32,
    calls: &[&CheckedCall<'_>],
) -> Result<i64, IngestError> {
    let mut ids = Vec::new();
    let mut call_ids = Vec::new();
    let mut at = Vec::new();
    let mut recorded_at = Vec::new();
    let mut revision = Vec::new();
    let mut boot_ms = Vec::new();
    let mut clock_shift_ms = Vec::new();
    let mut truncated = Vec::new();
    let mut kind = Vec::new();
    let mut caller = Vec::new();
    let mut caller_bytes = Vec::new();
    let mut number = Vec::new();
    let mut host = Vec::new();
    let mut os_user = Vec::new();
    let mut config_error = Vec::new();
    for call in calls {
        for (event, (id, bytes)) in call.state.events.iter().zip(&call.events) {
            ids.push(*id);
            call_ids.push(call.id);
            at.push(event.at);
            recorded_at.push(event.recorded_at);
            revision.push(call.state.revision);
            boot_ms.push(event.boot_ms);
            clock_shift_ms.push(event.clock_shift_ms);
            truncated.push(event.caller_truncated);
            kind.push(event.event.as_str());
            caller.push(event.caller.as_str());
            caller_bytes.push(bytes.as_deref());
            number.push(event.number.as_str());
            host.push(event.host.as_str());
            os_user.push(event.os_user.as_str());
            config_error.push(event.config_error.as_deref());
        }
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO events (id, call_id, at, recorded_at, revision, boot_ms, clock_shift_ms, \
             desk_id, caller_truncated, event, caller, caller_bytes, number, host, os_user, \
             config_error) \
             SELECT t.id, t.call_id, t.at, t.recorded_at, t.revision, t.boot_ms, \
             t.clock_shift_ms, $16, t.caller_truncated, t.event, t.caller, t.caller_bytes, \
             t.number, t.host, t.os_user, t.config_error \
             FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::int8[], $5::int8[], \
             $6::int8[], $7::int8[], $8::bool[], $9::text[], $10::text[], $11::bytea[], \
             $12::text[], $13::text[], $14::text[], $15::text[]) AS t(id, call_id, at, \
             recorded_at, revision, boot_ms, clock_shift_ms, caller_truncated, event, caller, \
             caller_bytes, number, host, os_user, config_error) \
             ORDER BY t.id \
             ON CONFLICT (id) DO UPDATE SET call_id = excluded.call_id, at = excluded.at, \
             recorded_at = excluded.recorded_at, revision = excluded.revision, \
             boot_ms = excluded.boot_ms, clock_shift_ms = excluded.clock_shift_ms, \
             caller_truncated = excluded.caller_truncated, event = excluded.event, \
             caller = excluded.caller, caller_bytes = excluded.caller_bytes, \
             number = excluded.number, host = excluded.host, os_user = excluded.os_user, \
             config_error = excluded.config_error, seq = nextval('events_seq') \
             WHERE events.desk_id = excluded.desk_id AND events.revision <= excluded.revision \
             AND (events.call_id, events.at, events.recorded_at, events.boot_ms, \
             events.clock_shift_ms, events.caller_truncated, events.event, events.caller, \
             events.caller_bytes, events.number, events.host, events.os_user, \
             events.config_error) IS DISTINCT FROM (excluded.call_id, excluded.at, \
             excluded.recorded_at, excluded.boot_ms, excluded.clock_shift_ms, \
             excluded.caller_truncated, excluded.event, excluded.caller, excluded.caller_bytes, \
             excluded.number, excluded.host, excluded.os_user, excluded.config_error) \
             RETURNING xmax = 0",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[
                &ids,
                &call_ids,
                &at,
                &recorded_at,
                &revision,
                &boot_ms,
                &clock_shift_ms,
                &truncated,
                &kind,
                &caller,
                &caller_bytes,
                &number,
                &host,
                &os_user,
                &config_error,
                &desk,
            ],
        )
        .await?;
    // `xmax = 0`: the row was inserted, not updated.
    Ok(rows.iter().filter(|r| r.get::<_, bool>(0)).count() as i64)
}

/// Removes the re-keyed calls (the desk's, older than the removal) and their events that no
/// newer state moved to another call, and remembers each removal; returns how many calls and
/// events were removed.
async fn remove_calls(
    tx: &deadpool_postgres::Transaction<'_>,
    desk: i32,
    removals: &[(Uuid, i64)],
) -> Result<(i64, i64), IngestError> {
    if removals.is_empty() {
        return Ok((0, 0));
    }
    let ids: Vec<Uuid> = removals.iter().map(|(id, _)| *id).collect();
    let revisions: Vec<i64> = removals.iter().map(|(_, r)| *r).collect();
    let calls = tx
        .execute(
            "DELETE FROM calls c USING unnest($1::uuid[], $2::int8[]) AS g(id, revision) \
             WHERE c.id = g.id AND c.desk_id = $3 AND c.revision < g.revision",
            &[&ids, &revisions, &desk],
        )
        .await?;
    let events = tx
        .execute(
            "DELETE FROM events e USING unnest($1::uuid[], $2::int8[]) AS g(id, revision) \
             WHERE e.call_id = g.id AND e.desk_id = $3 AND e.revision < g.revision",
            &[&ids, &revisions, &desk],
        )
        .await?;
    tx.execute(
        "INSERT INTO gone_calls (id, revision, desk_id) \
         SELECT id, revision, $3 FROM unnest($1::uuid[], $2::int8[]) AS g(id, revision) \
         ON CONFLICT (id) DO UPDATE SET revision = excluded.revision \
         WHERE gone_calls.desk_id = excluded.desk_id AND gone_calls.revision < excluded.revision",
        &[&ids, &revisions, &desk],
    )
    .await?;
    Ok((calls as i64, events as i64))
}

/// Checks the whole batch before anything is stored: ids are UUIDs (lowercase, with hyphens,
/// as desks write them) and none comes twice, values are those the desk's own schema allows,
/// texts fit. The error names the call, event or field.
fn check(batch: &Batch) -> Result<Checked<'_>, String> {
    text("desk", &batch.desk, MAX_DESK_NAME_BYTES)?;
    let mut seen_calls = HashSet::new();
    let mut seen_events = HashSet::new();
    let mut calls = Vec::with_capacity(batch.calls.len());
    let mut events = 0;
    for (i, state) in batch.calls.iter().enumerate() {
        let id = uuid(&state.id).map_err(|e| format!("calls[{i}].id: {e}"))?;
        let at = |e: String| format!("call {id}: {e}");
        if !seen_calls.insert(id) {
            return Err(at("the call comes twice".into()));
        }
        if state.revision < 0 {
            return Err(at(format!("revision {} is negative", state.revision)));
        }
        if Direction::parse(&state.direction).is_none() {
            return Err(at(format!(
                "direction `{}` is neither in nor out",
                shown(&state.direction)
            )));
        }
        if Status::parse(&state.status).is_none() {
            return Err(at(format!(
                "status `{}` is none of in-progress, answered, missed, busy, no-answer",
                shown(&state.status)
            )));
        }
        text("number", &state.number, MAX_NUMBER_BYTES).map_err(at)?;
        text("raw", &state.raw, MAX_NUMBER_BYTES).map_err(at)?;
        text("name", state.name.as_deref().unwrap_or(""), MAX_TEXT_BYTES).map_err(at)?;
        text("source", &state.source, 64).map_err(at)?;
        let mut checked_events = Vec::with_capacity(state.events.len());
        for (j, event) in state.events.iter().enumerate() {
            let event_id = uuid(&event.id).map_err(|e| at(format!("events[{j}].id: {e}")))?;
            let at = |e: String| format!("call {id}: event {event_id}: {e}");
            if !seen_events.insert(event_id) {
                return Err(at("the event comes twice (an event has one call)".into()));
            }
            if !EventKind::ALL.iter().any(|k| k.as_str() == event.event) {
                return Err(at(format!(
                    "`{}` is none of {}",
                    shown(&event.event),
                    EventKind::names()
                )));
            }
            for (field, value) in [
                ("caller", event.caller.as_str()),
                ("number", &event.number),
                ("host", &event.host),
                ("os_user", &event.os_user),
                ("config_error", event.config_error.as_deref().unwrap_or("")),
            ] {
                text(field, value, MAX_TEXT_BYTES).map_err(at)?;
            }
            let bytes = match &event.caller_bytes {
                Some(b64) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| at("caller_bytes is not base64".into()))?,
                ),
                None => None,
            };
            checked_events.push((event_id, bytes));
        }
        events += checked_events.len();
        calls.push(CheckedCall {
            id,
            state,
            events: checked_events,
        });
    }
    let mut gone = Vec::with_capacity(batch.gone.len());
    let mut seen_gone = HashSet::new();
    for (i, g) in batch.gone.iter().enumerate() {
        let id = uuid(&g.id).map_err(|e| format!("gone[{i}].id: {e}"))?;
        uuid(&g.into).map_err(|e| format!("gone call {id}: into: {e}"))?;
        if seen_calls.contains(&id) {
            return Err(format!("call {id} is both sent and gone"));
        }
        if !seen_gone.insert(id) {
            return Err(format!("gone call {id} comes twice"));
        }
        if g.revision < 0 {
            return Err(format!(
                "gone call {id}: revision {} is negative",
                g.revision
            ));
        }
        gone.push((id, g.revision));
    }
    calls.sort_by_key(|call| call.id);
    gone.sort();
    Ok(Checked {
        calls,
        gone,
        events,
    })
}

/// A UUID as desks write them: lowercase, with hyphens.
fn uuid(text: &str) -> Result<Uuid, String> {
    Uuid::try_parse(text)
        .ok()
        .filter(|id| id.hyphenated().to_string() == text)
        .ok_or_else(|| format!("`{}` is not a UUID", shown(text)))
}

/// The start of a value a batch got wrong, for the answer: a batch may be megabytes.
fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

/// Text PostgreSQL can store (no NUL character), of at most `max` bytes.
fn text(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!("{field} holds a NUL character"));
    }
    if value.len() > max {
        return Err(format!(
            "{field} is {} bytes long, more than {max}",
            value.len()
        ));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::central::db::block_on;
    use crate::central::testing::{self, DeskLog, batch};
    use crate::effects::central::batch::{EventState, Gone};

    const T0: i64 = 1_795_600_800_000;

    fn event(id: &str, at: i64, kind: &str) -> EventState {
        EventState {
            id: id.into(),
            at,
            event: kind.into(),
            caller: "+15551230001".into(),
            caller_bytes: None,
            caller_truncated: false,
            number: "+15551230001".into(),
            host: "desk-1".into(),
            os_user: "reception".into(),
            config_error: None,
            recorded_at: at + 5,
            boot_ms: Some(1_000),
            clock_shift_ms: None,
        }
    }

    /// Call `id` as a desk sends it: ringing with `events`, or over when one of them ends it.
    fn state(id: &str, revision: i64, events: Vec<EventState>) -> CallState {
        let ended = events.iter().find(|e| e.event == "end").map(|e| e.at);
        CallState {
            id: id.into(),
            revision,
            direction: "in".into(),
            status: if ended.is_some() {
                "missed"
            } else {
                "in-progress"
            }
            .into(),
            number: "+15551230001".into(),
            raw: "+15551230001".into(),
            name: None,
            started_at: T0,
            ringing_at: Some(T0),
            answered_at: None,
            ended_at: ended,
            last_event_at: events.iter().map(|e| e.at).max().unwrap_or(T0),
            expires_at: ended.is_none().then_some(T0 + 3_600_000),
            ring_ms: ended.map(|end| end - T0),
            talk_ms: None,
            source: "hook".into(),
            events,
        }
    }

    const C1: &str = "019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e11";
    const C2: &str = "019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e22";
    const E1: &str = C1;
    const E2: &str = "019ab3c4-6000-7c1d-9f3e-2b8a6c0d4e12";
    const E3: &str = "019ab3c4-7000-7c1d-9f3e-2b8a6c0d4e13";

    fn receipt(desk: &str, accepted: u64, stale: u64, refused: u64, gone: u64) -> Receipt {
        Receipt {
            desk: desk.into(),
            accepted,
            stale,
            refused,
            gone,
        }
    }

    async fn one(c: &Central, sql: &str) -> i64 {
        let client = c.client().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// Each desk's counters are what central holds of it.
    async fn counters_hold(c: &Central) {
        let wrong = one(
            c,
            "SELECT count(*) FROM desks d WHERE calls_held <> (SELECT count(*) FROM calls \
             WHERE desk_id = d.id) OR events_held <> (SELECT count(*) FROM events \
             WHERE desk_id = d.id)",
        )
        .await;
        assert_eq!(wrong, 0, "the desks' counters are off");
    }

    #[test]
    fn a_batch_is_stored_once_however_often_it_comes() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            let desk = testing::desk(&c, "front").await;
            let mut log = DeskLog::new("desk-1");
            log.incoming(T0, "+49 30 1234567", Some(60_000));
            log.outgoing(T0 + 600_000, "030 7654321", None);
            let mut b = batch(log.states(5));
            b.desk = "FRONT-PC".into();
            b.sent_at = T0 + 900_000;
            b.backlog = 12;
            b.backfilled = false;

            let now = T0 + 1_000_000;
            let r = apply(&c, &desk, &b, now).await.unwrap();
            assert_eq!(r, receipt("front", 2, 0, 0, 0));
            let seq = one(&c, "SELECT max(seq) FROM events").await;
            let again = apply(&c, &desk, &b, now + 1).await.unwrap();
            assert_eq!(again, receipt("front", 0, 2, 0, 0));
            assert_eq!(one(&c, "SELECT count(*) FROM calls").await, 2);
            assert_eq!(one(&c, "SELECT count(*) FROM events").await, 6);
            assert_eq!(
                one(&c, "SELECT max(seq) FROM events").await,
                seq,
                "nothing changed, so no event is live again"
            );
            assert_eq!(one(&c, "SELECT count(*) FROM numbers").await, 2);

            let status = &crate::central::desks::list(&c).await.unwrap()[0];
            assert_eq!((status.calls, status.events), (2, 6));
            assert_eq!(status.last_contact_ms, Some(now + 1));
            assert_eq!(status.last_backlog, Some(12));
            assert!(!status.backfilled);
            assert_eq!(status.reported_name.as_deref(), Some("FRONT-PC"));
            assert_eq!(status.clock_skew_ms, Some(100_001));
            assert_eq!(one(&c, "SELECT batches FROM desks").await, 2);
            assert_eq!(one(&c, "SELECT events_received FROM desks").await, 12);

            // An empty batch checks the key, and counts as contact.
            let r = apply(&c, &desk, &batch(vec![]), now + 2).await.unwrap();
            assert_eq!(r, receipt("front", 0, 0, 0, 0));
            assert_eq!(one(&c, "SELECT last_contact_at FROM desks").await, now + 2);
            counters_hold(&c).await;
        });
    }

    #[test]
    fn an_older_state_never_replaces_a_newer_one() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            let desk = testing::desk(&c, "front").await;
            let ringing = state(C1, 5, vec![event(E1, T0, "incoming")]);
            let over = state(
                C1,
                9,
                vec![event(E1, T0, "incoming"), event(E2, T0 + 20_000, "end")],
            );
            // Reordered: the newer state first.
            let r = apply(&c, &desk, &batch(vec![over.clone()]), T0)
                .await
                .unwrap();
            assert_eq!(r.accepted, 1);
            let r = apply(&c, &desk, &batch(vec![ringing.clone()]), T0)
                .await
                .unwrap();
            assert_eq!(r, receipt("front", 0, 1, 0, 0));
            let backfill = state(C1, 0, vec![event(E1, T0, "incoming")]);
            let r = apply(&c, &desk, &batch(vec![backfill]), T0).await.unwrap();
            assert_eq!(r.stale, 1, "revision 0 only for a call central never saw");
            let client = c.client().await.unwrap();
            let row = client
                .query_one("SELECT revision, status, ended_at FROM calls", &[])
                .await
                .unwrap();
            assert_eq!(row.get::<_, i64>(0), 9);
            assert_eq!(row.get::<_, String>(1), "missed");
            assert_eq!(row.get::<_, Option<i64>>(2), Some(T0 + 20_000));
            assert_eq!(one(&c, "SELECT count(*) FROM events").await, 2);

            // A newer one replaces it, and a changed event is live again.
            let seq = one(&c, "SELECT max(seq) FROM events").await;
            let mut later = over.clone();
            later.revision = 12;
            later.name = Some("Alice".into());
            later.events[1].host = "desk-2".into();
            let r = apply(&c, &desk, &batch(vec![later]), T0).await.unwrap();
            assert_eq!(r.accepted, 1);
            let changed = client
                .query("SELECT id FROM events WHERE seq > $1", &[&seq])
                .await
                .unwrap();
            assert_eq!(changed.len(), 1);
            assert_eq!(changed[0].get::<_, Uuid>(0).to_string(), E2);
            let name: Option<String> = client
                .query_one("SELECT name FROM calls", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(name.as_deref(), Some("Alice"));
            counters_hold(&c).await;
        });
    }

    #[test]
    fn a_desk_changes_only_its_own_calls() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            let a = testing::desk(&c, "a").await;
            let b = testing::desk(&c, "b").await;
            let mine = state(C1, 5, vec![event(E1, T0, "incoming")]);
            apply(&c, &a, &batch(vec![mine.clone()]), T0).await.unwrap();

            // B sends A's call, newer; removes it; and claims A's event for a call of its own.
            let mut theirs = mine.clone();
            theirs.revision = 50;
            theirs.number = "+15550000000".into();
            theirs.events.clear();
            let mut claim = state(C2, 50, vec![event(E1, T0, "end")]);
            claim.number = "+15550000000".into();
            let mut attack = batch(vec![theirs, claim]);
            attack.gone.push(Gone {
                id: C1.into(),
                revision: 60,
                into: C2.into(),
            });
            // (A call sent and gone in one batch is refused: sent here as two batches.)
            let gone = std::mem::take(&mut attack.gone);
            let r = apply(&c, &b, &attack, T0).await.unwrap();
            assert_eq!(r, receipt("b", 1, 0, 1, 0));
            let mut removal = batch(vec![]);
            removal.gone = gone;
            let r = apply(&c, &b, &removal, T0).await.unwrap();
            assert_eq!(r, receipt("b", 0, 0, 1, 0));

            let client = c.client().await.unwrap();
            let row = client
                .query_one(
                    "SELECT c.number, c.revision, e.call_id, e.event, e.desk_id FROM calls c \
                     JOIN events e ON e.call_id = c.id WHERE c.id = $1",
                    &[&Uuid::parse_str(C1).unwrap()],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, String>(0), "+15551230001");
            assert_eq!(row.get::<_, i64>(1), 5);
            assert_eq!(row.get::<_, String>(3), "incoming", "A's event is A's");
            assert_eq!(row.get::<_, i32>(4), a.id);
            assert_eq!(one(&c, "SELECT count(*) FROM gone_calls").await, 0);
            counters_hold(&c).await;
        });
    }

    #[test]
    fn a_rekeyed_call_goes_and_stays_gone() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            let desk = testing::desk(&c, "front").await;
            // C1 had the `end`; then the desk got the `incoming` late, before it, and re-keyed
            // the call to C2 (the earlier event's id), with both events.
            let early = state(C1, 3, vec![event(E3, T0 + 20_000, "end")]);
            let mut rekeyed = state(
                C2,
                7,
                vec![event(E2, T0, "incoming"), event(E3, T0 + 20_000, "end")],
            );
            rekeyed.started_at = T0;
            let gone = Gone {
                id: C1.into(),
                revision: 7,
                into: C2.into(),
            };

            apply(&c, &desk, &batch(vec![early.clone()]), T0)
                .await
                .unwrap();
            let mut b = batch(vec![rekeyed.clone()]);
            b.gone.push(gone.clone());
            let r = apply(&c, &desk, &b, T0).await.unwrap();
            assert_eq!(r, receipt("front", 1, 0, 0, 1));
            let client = c.client().await.unwrap();
            let calls: Vec<String> = client
                .query("SELECT id::text FROM calls", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(calls, [C2]);
            assert_eq!(
                one(&c, "SELECT count(*) FROM events WHERE call_id::text = '019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e22'").await,
                2,
                "the `end` went with its call"
            );

            // The old state again (a retried batch): not stored, the tombstone holds.
            let r = apply(&c, &desk, &batch(vec![early.clone()]), T0)
                .await
                .unwrap();
            assert_eq!(r, receipt("front", 0, 1, 0, 0));
            let mut again = batch(vec![]);
            again.gone.push(gone.clone());
            let r = apply(&c, &desk, &again, T0).await.unwrap();
            assert_eq!(r, receipt("front", 0, 1, 0, 0));
            assert_eq!(one(&c, "SELECT count(*) FROM calls").await, 1);
            assert_eq!(
                one(&c, "SELECT count(*) FROM events WHERE call_id = '019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e22'").await,
                2,
                "an old state of C1 does not take the event back"
            );

            // A newer state of C1 (the id came back) is stored, and clears the tombstone.
            let back = state(C1, 9, vec![event(E1, T0 + 90_000, "incoming")]);
            let r = apply(&c, &desk, &batch(vec![back]), T0).await.unwrap();
            assert_eq!(r.accepted, 1);
            assert_eq!(one(&c, "SELECT count(*) FROM calls").await, 2);
            assert_eq!(one(&c, "SELECT count(*) FROM gone_calls").await, 0);
            counters_hold(&c).await;
        });
    }

    #[test]
    fn an_old_state_arriving_late_does_not_take_events_back() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            let desk = testing::desk(&c, "front").await;
            let early = state(C1, 3, vec![event(E3, T0 + 20_000, "end")]);
            let rekeyed = state(
                C2,
                7,
                vec![event(E2, T0, "incoming"), event(E3, T0 + 20_000, "end")],
            );
            // The re-keyed call first, then C1's old state (its batch was delayed), then the
            // removal.
            apply(&c, &desk, &batch(vec![rekeyed]), T0).await.unwrap();
            let r = apply(&c, &desk, &batch(vec![early]), T0).await.unwrap();
            assert_eq!(r.accepted, 1, "central had no copy of C1");
            let mut b = batch(vec![]);
            b.gone.push(Gone {
                id: C1.into(),
                revision: 7,
                into: C2.into(),
            });
            let r = apply(&c, &desk, &b, T0).await.unwrap();
            assert_eq!(r.gone, 1);
            assert_eq!(one(&c, "SELECT count(*) FROM calls").await, 1);
            assert_eq!(
                one(&c, "SELECT count(*) FROM events WHERE call_id = '019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e22'").await,
                2
            );
            // A removal of a call central never had is remembered too.
            let mut b = batch(vec![]);
            b.gone.push(Gone {
                id: "019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e99".into(),
                revision: 8,
                into: C2.into(),
            });
            assert_eq!(apply(&c, &desk, &b, T0).await.unwrap().gone, 1);
            let late = state("019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e99", 4, vec![]);
            assert_eq!(
                apply(&c, &desk, &batch(vec![late]), T0)
                    .await
                    .unwrap()
                    .stale,
                1
            );
            counters_hold(&c).await;
        });
    }

    #[test]
    fn a_wrong_batch_stores_nothing_and_says_what_is_wrong() {
        let db = testing::database();
        block_on(async {
            let c = db.connect().await;
            let desk = testing::desk(&c, "front").await;
            let good = state(C1, 5, vec![event(E1, T0, "incoming")]);
            let with = |f: &dyn Fn(&mut CallState)| {
                let mut bad = state(C2, 5, vec![event(E2, T0, "incoming")]);
                f(&mut bad);
                batch(vec![good.clone(), bad])
            };
            let cases: Vec<(Batch, &str)> = vec![
                (
                    with(&|s| s.id = "not-a-uuid".into()),
                    "calls[1].id: `not-a-uuid` is not a UUID",
                ),
                (with(&|s| s.id = s.id.to_uppercase()), "is not a UUID"),
                (with(&|s| s.id = C1.into()), "the call comes twice"),
                (
                    with(&|s| s.direction = "sideways".into()),
                    "direction `sideways`",
                ),
                (with(&|s| s.status = "lost".into()), "status `lost`"),
                (with(&|s| s.revision = -1), "revision -1 is negative"),
                (
                    with(&|s| s.number = "1\u{0}2".into()),
                    "number holds a NUL character",
                ),
                (
                    with(&|s| s.raw = "9".repeat(2000)),
                    "raw is 2000 bytes long",
                ),
                (
                    with(&|s| s.events[0].event = "hold".into()),
                    "`hold` is none of",
                ),
                (
                    with(&|s| s.events[0].id = E1.into()),
                    "the event comes twice",
                ),
                (
                    with(&|s| s.events[0].id = "x".into()),
                    "events[0].id: `x` is not a UUID",
                ),
                (
                    with(&|s| s.events[0].caller_bytes = Some("!!".into())),
                    "caller_bytes is not base64",
                ),
                (
                    with(&|s| s.events[0].host = "\u{0}".into()),
                    "host holds a NUL",
                ),
            ];
            for (b, message) in cases {
                match apply(&c, &desk, &b, T0).await {
                    Err(IngestError::Invalid(m)) => assert!(m.contains(message), "{m}"),
                    other => panic!("{message}: {other:?}"),
                }
            }
            let mut both = batch(vec![good.clone()]);
            both.gone.push(Gone {
                id: C1.into(),
                revision: 9,
                into: C2.into(),
            });
            let Err(IngestError::Invalid(m)) = apply(&c, &desk, &both, T0).await else {
                panic!("sent and gone");
            };
            assert!(m.contains("both sent and gone"), "{m}");
            let mut bad_into = batch(vec![]);
            bad_into.gone.push(Gone {
                id: C1.into(),
                revision: 9,
                into: "nowhere".into(),
            });
            assert!(matches!(
                apply(&c, &desk, &bad_into, T0).await,
                Err(IngestError::Invalid(_))
            ));
            for table in ["calls", "events", "numbers", "gone_calls"] {
                assert_eq!(
                    one(&c, &format!("SELECT count(*) FROM {table}")).await,
                    0,
                    "{table}"
                );
            }
            assert_eq!(one(&c, "SELECT batches FROM desks").await, 0);

            // A removed desk's batch is refused, even one already under way.
            crate::central::desks::remove(&c, "front").await.unwrap();
            assert!(matches!(
                apply(&c, &desk, &batch(vec![good]), T0).await,
                Err(IngestError::Invalid(_))
            ));
            assert_eq!(one(&c, "SELECT count(*) FROM calls").await, 0);
        });
    }
}
