//! The one transaction of the hook: the event stored, folded into its call, its side effects
//! queued and a worker lane claimed, all or nothing, in a writer's turn of a few milliseconds.

use std::borrow::Cow;
use std::time::Instant;

use anyhow::Result;

use crate::config::locations::Locations;
use crate::effects::central::link;
use crate::effects::drain;
use crate::effects::lease::{self, Lane};
use crate::effects::outbox;
use crate::hook::watchdog;
use crate::log::clock;
use crate::log::contacts;
use crate::log::db;
use crate::log::event::EventKind;
use crate::log::fallback;
use crate::log::fold::{self, NewEvent};
use crate::log::rows;

/// Stores the event, folds it and queues its side effects in one transaction; returns whether
/// a worker should be started (this hook claimed a lane for it).
pub fn store(locations: &Locations, event: &NewEvent, deadline: Instant) -> Result<bool> {
    let config = &locations.config;
    let window_ms = config.calls.window_ms();
    let mut conn = db::open(&locations.db, db::Wait::Until(deadline))?;
    db::set_synchronous(&conn, config.database.synchronous)?;
    // Files are looked at before the writers' turn, so that a slow disk or a hung share holds
    // up this hook alone: a stat of each contact file and fallback log.
    let contacts = contacts::check(&conn, &config.contacts)?;
    let drain = drain::needed(&conn, &fallback::logs_for(Some(&locations.db)))?;
    // Hooks take turns to write (waiting asleep, see `lock`) with every other callhook writer.
    db::write_until(&mut conn, deadline, |tx| {
        let event = match clock_step(tx, event, window_ms)? {
            Some(moved) => Cow::Owned(moved),
            None => Cow::Borrowed(event),
        };
        // A changed contact file is read by the worker, which then names the calls; until
        // then names are unknown rather than stale.
        let names = contacts.any && !contacts.stale;
        let call = rows::record_event(tx, &event, window_ms, names)?;
        // A worker is started only for a lane that has work and no worker: one per burst.
        let now = crate::log::call::now_ms();
        let mut lanes = Vec::new();
        if contacts.stale {
            lanes.push(Lane::Contacts);
        }
        if drain {
            lanes.push(Lane::Fallback);
        }
        if config.has_side_effects() {
            outbox::enqueue(tx, config, &event, &call, false)?;
            for lane in [Lane::Popup, Lane::Webhook] {
                if outbox::due(tx, lane, now)? {
                    lanes.push(lane);
                }
            }
        }
        // Replication to central: one read of the link (this event's change is queued by the
        // triggers already); the worker does the rest, the hook never waits for central.
        if let Some(to) = config.central_delivery()
            && link::due_after_change(tx, to.url.as_str(), now)?
        {
            lanes.push(Lane::Central);
        }
        lease::claim(tx, &lanes, now)
    })
}

/// The event moved into the time base of the call it continues, when the clock was stepped
/// since that call's last event (see [`crate::log::clock`]); `None` when it stays as it is.
fn clock_step(
    conn: &rusqlite::Connection,
    event: &NewEvent,
    window_ms: i64,
) -> Result<Option<NewEvent>> {
    // Incoming and outgoing open new calls, which take the clock as it is now.
    let continues = !matches!(event.kind, EventKind::Incoming | EventKind::Outgoing);
    let Some(boot) = event.boot_ms.filter(|_| continues) else {
        return Ok(None);
    };
    let Some(shift) = clock::shift_into_call(conn, &event.number, event.at, boot, window_ms)?
    else {
        return Ok(None);
    };
    let mut moved = event.clone();
    moved.at = event.at + shift;
    moved.id = fold::event_id(moved.at);
    moved.clock_shift_ms = Some(shift);
    // Should the run end now, its fallback line must name the event as stored.
    watchdog::replace_entry(&moved.id, moved.at);
    Ok(Some(moved))
}
