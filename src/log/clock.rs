//! The desk's clocks: the wall clock that times events, and the boot clock that tells how much
//! time really passed between two of them, whatever was done to the wall clock meanwhile.
//!
//! Windows time sync steps a clock that is off (by an hour, with a wrong zone setting or a
//! flat CMOS battery). A call that spans the step would fall apart: its end, timed an hour
//! before its start, would open a phantom call of its own and leave the real one open, to count
//! as missed. So the events of one call stay in that call's time base: an event whose wall
//! clock disagrees with the boot clock about the time since the call's last event (by more
//! than [`STEP_TOLERANCE_MS`]) is moved by the difference. New calls take the clock as it is.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// Differences below this are the clocks' resolution and slewing, not a step.
pub const STEP_TOLERANCE_MS: i64 = 2_000;

/// How far to move an event timed `at` by the wall clock and `boot` by the boot clock so that it
/// stays in the time base of the open call of `number` it continues: `None` when the clocks
/// agree (no step since that call's last event), or when no open call of the number has an
/// event timed by this boot within `window_ms`.
pub fn shift_into_call(
    conn: &Connection,
    number: &str,
    at: i64,
    boot: i64,
    window_ms: i64,
) -> Result<Option<i64>> {
    let last: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT e.at, e.boot_ms FROM calls c JOIN events e ON e.call_id = c.id \
             WHERE c.ended_at IS NULL AND c.number = ?1 AND c.expires_at >= ?4 \
             AND e.boot_ms BETWEEN ?2 AND ?3 ORDER BY e.boot_ms DESC LIMIT 1",
        )?
        .query_row(
            params![number, boot.saturating_sub(window_ms), boot, at],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(last.and_then(|(then_at, then_boot)| {
        // What the wall clock should read now, had nobody set it since that event.
        let expected = then_at + (boot - then_boot);
        let shift = expected - at;
        (shift.abs() > STEP_TOLERANCE_MS).then_some(shift)
    }))
}
