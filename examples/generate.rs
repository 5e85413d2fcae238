//! Fills a call log with realistic calls, for benchmarks.
//!
//! cargo run --release --example generate -- --db calls.db --calls 1000000 [--days 730]
//!     [--through-hook-path]
//!
//! By default calls are written in bulk: each call's events are made up, folded by the same
//! reducer the hook uses, and inserted with it. `--through-hook-path` instead records every
//! event through the hook's own fold (slower, the same result).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use callhook::log::caller::{Caller, NumberPlan};
use callhook::log::event::EventKind::{self, *};
use callhook::log::fold::{self, FoldEvent, NewEvent};
use callhook::log::rows;

const WINDOW_MS: i64 = 4 * 3600 * 1000;

struct Options {
    db: PathBuf,
    calls: u64,
    days: u64,
    through_hook_path: bool,
}

fn options() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        db: PathBuf::new(),
        calls: 0,
        days: 730,
        through_hook_path: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().context("a value is missing");
        match arg.as_str() {
            "--db" => options.db = value()?.into(),
            "--calls" => options.calls = value()?.parse()?,
            "--days" => options.days = value()?.parse()?,
            "--through-hook-path" => options.through_hook_path = true,
            other => bail!("unknown option {other}"),
        }
    }
    if options.db.as_os_str().is_empty() || options.calls == 0 {
        bail!("usage: generate --db PATH --calls N [--days D] [--through-hook-path]");
    }
    Ok(options)
}

/// xorshift64*: deterministic, so that two runs make the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in 0..n, small ones far more often (a few callers call a lot).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0) as u64
    }
}

fn main() -> Result<()> {
    let options = options()?;
    let conn = callhook::log::db::open(&options.db, callhook::log::db::ADMIN_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -262_144)?;
    let plan = NumberPlan::default();
    let mut rng = Rng(0x5eed_ca11_4008_2026);
    let now = chrono::Utc::now().timestamp_millis();
    let days = options.days as i64;
    // Today's calls so far, too: the log ends now.
    let first_day = (now / 86_400_000 - days + 1) * 86_400_000;
    let per_day = (options.calls as i64 / days).max(1);
    let started = Instant::now();
    let mut events_written = 0u64;
    let mut tx = conn.unchecked_transaction()?;
    for i in 0..options.calls {
        // The calls of a day, at office hours mostly; none in the future.
        let day = first_day + (i as i64 / per_day).min(days - 1) * 86_400_000;
        let at = (day + office_time(&mut rng)).min(now - 3_600_000);
        let number = match rng.below(10) {
            0 => format!("{}", 100 + rng.below(200)),
            _ => format!("+4930{:07}", rng.skewed(200_000)),
        };
        let events = call_events(&mut rng, at, &number);
        events_written += events.len() as u64;
        let new_events: Vec<NewEvent> = events
            .iter()
            .map(|&(at, kind)| {
                let mut e =
                    NewEvent::new(at, kind, Caller::from_text(&number), plan.number(&number));
                e.host = "desk-1".into();
                e.os_user = "reception".into();
                e
            })
            .collect();
        if options.through_hook_path {
            for e in &new_events {
                rows::record(&tx, e, WINDOW_MS)?;
            }
        } else {
            let folded: Vec<FoldEvent> = new_events
                .iter()
                .map(|e| FoldEvent {
                    id: e.id.clone(),
                    at: e.at,
                    kind: e.kind,
                    number: e.number.clone(),
                    raw: e.caller.text.clone(),
                })
                .collect();
            let call = fold::reduce(&folded, WINDOW_MS);
            for e in &new_events {
                rows::insert_event(&tx, e, &call.id)?;
            }
            rows::insert_call(&tx, &call)?;
            rows::note_number(&tx, &call)?;
        }
        if (i + 1) % 50_000 == 0 {
            tx.commit()?;
            tx = conn.unchecked_transaction()?;
            eprintln!("{} calls, {:.0?}", i + 1, started.elapsed());
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    println!(
        "{} calls, {events_written} events in {:.1?}",
        options.calls,
        started.elapsed()
    );
    Ok(())
}

/// A time of day (ms), weighted towards office hours.
fn office_time(rng: &mut Rng) -> i64 {
    const WEIGHTS: [u64; 24] = [
        0, 0, 0, 0, 0, 0, 1, 3, 8, 10, 10, 9, 7, 9, 10, 9, 8, 6, 3, 1, 1, 1, 0, 0,
    ];
    let mut pick = rng.below(WEIGHTS.iter().sum());
    let hour = WEIGHTS.iter().position(|&w| {
        if pick < w {
            return true;
        }
        pick -= w;
        false
    });
    hour.unwrap_or(12) as i64 * 3_600_000 + rng.below(3_600_000) as i64
}

/// The events of one call, by the patterns MicroSIP produces.
fn call_events(rng: &mut Rng, at: i64, _number: &str) -> Vec<(i64, EventKind)> {
    let ring = 2_000 + rng.below(25_000) as i64;
    let talk = 10_000 + rng.skewed(900_000) as i64;
    let mut t = at;
    let mut events = Vec::new();
    let mut push = |events: &mut Vec<_>, dt: i64, kind| {
        t += dt;
        events.push((t, kind));
    };
    if rng.below(10) < 6 {
        push(&mut events, 0, Incoming);
        push(&mut events, 150, Ring);
        match rng.below(10) {
            0..=6 => {
                push(&mut events, ring, Answer);
                push(&mut events, 80, Start);
                push(&mut events, talk, End);
            }
            7 | 8 => push(&mut events, ring, End),
            _ => push(&mut events, ring / 4, Busy),
        }
    } else {
        push(&mut events, 0, Outgoing);
        match rng.below(20) {
            0..=14 => {
                push(&mut events, ring, Start);
                push(&mut events, talk, End);
            }
            15..=17 => push(&mut events, ring, End),
            _ => push(&mut events, ring / 5, Busy),
        }
    }
    events
}
