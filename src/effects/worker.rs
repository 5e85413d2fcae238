//! The detached worker (`callhook deliver`): reads changed contact files, stores the events of
//! the fallback logs, opens popups, delivers webhooks (in event order per endpoint) and
//! replicates the call log to central, one worker per lane at a time. Every write it makes is a
//! short turn of the writers' lock: it never reads a file or the network, nor waits for a
//! program, while holding it.

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::config::Config;
use crate::config::locations::Locations;
use crate::effects::central::link::{self, Delivered};
use crate::effects::central::replicate::{self, Limits};
use crate::effects::central::send::{self as central_send, Answer};
use crate::effects::drain::{self, Drain};
use crate::effects::lease::{self, Lane};
use crate::effects::outbox::{self, Delivery, Status};
use crate::effects::webhook::WebhookConfig;
use crate::effects::webhook::send::{self, Outcome};
use crate::log::call::now_ms;
use crate::log::contacts;
use crate::log::db;
use crate::log::fallback;
use crate::log::rows::load_call;

/// How long a popup worker's lease lasts between renewals.
const POPUP_LEASE_MS: i64 = 30_000;
/// A webhook worker's lease covers the request's timeout and this much more: enough to
/// record the result even when it has to wait for its turn to write.
const LEASE_MARGIN_MS: i64 = db::ADMIN_BUSY_TIMEOUT.as_millis() as i64 + 5_000;
/// Leases of the lanes whose work is quick (contacts, the fallback logs), renewed per step.
const SHORT_LEASE_MS: i64 = 60_000;
/// With nothing to do, a worker stays this long for more before it lets its lanes go: a burst
/// of calls is served by one worker, not one per gap between hooks.
const LINGER: Duration = Duration::from_millis(1_500);
/// How often a lingering worker looks for new work.
const POLL: Duration = Duration::from_millis(10);
/// While waiting for a retry, the worker renews its lease this often.
const IDLE_TICK: Duration = Duration::from_millis(1_000);
/// How long a popup waits for another worker that is reading a changed contact file.
const NAMES_WAIT: Duration = Duration::from_secs(2);
/// Drain passes per run that claim logs (each claims what hooks wrote since the last), and the
/// pause after one that came to nothing.
const MAX_DRAIN_PASSES: usize = 10;
const DRAIN_RETRY: Duration = Duration::from_millis(500);
/// A contact file that keeps changing is read at most this often per run.
const MAX_RELOADS: usize = 3;
/// The worker stays for a retry of central only when it is due this soon; later ones are made
/// by the worker of the next event, or a scheduled `callhook deliver`.
const CENTRAL_STAY_MS: i64 = 60_000;
/// Failed attempts at central per run: a short `[outbox] retries` schedule keeps no worker
/// trying for ever while central is away (it never gives the changes up).
const MAX_CENTRAL_FAILURES: usize = 3;
/// Queued changes forgotten per write turn once `[central]` left the config.
const FORGET_PER_TURN: usize = 10_000;

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// No lane was free: another worker is at work.
    pub busy: bool,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Events stored from the fallback logs.
    pub drained: usize,
    /// Lines of the fallback logs that cannot be stored (kept in `.rejected` files).
    pub rejected: usize,
    /// Batches central took, and the calls in them.
    pub central_batches: usize,
    pub central_calls: usize,
    /// The last attempt at central failed so.
    pub central_error: Option<String>,
}

struct Worker<'a> {
    conn: Connection,
    locations: &'a Locations,
    config: &'a Config,
    holder: String,
    lanes: Vec<Lane>,
    client: Option<reqwest::blocking::Client>,
    drain: Drain<'a>,
    /// When the fallback logs are to be looked at again (files claimed, not yet finished).
    drain_again: Option<Instant>,
    drain_passes: usize,
    reloads: usize,
    /// Failed attempts at central in this run.
    central_failures: usize,
    /// When the config file was last changed, as this worker read it.
    config_stamp: Option<std::time::SystemTime>,
    linger: Duration,
    summary: Summary,
}

/// Works until nothing is due and no retry is due within `outbox.stay`; `linger`: and nothing
/// came for a moment ([`LINGER`]), as a worker a hook started waits for the rest of a burst.
pub fn deliver(locations: &Locations, linger: bool) -> Result<Summary> {
    let conn = locations.open_db()?;
    let holder = format!(
        "{}@{} {}",
        std::process::id(),
        crate::platform::host_name(),
        crate::log::fold::event_id(now_ms())
    );
    let config = &locations.config;
    let mut worker = Worker {
        conn,
        locations,
        config,
        drain: Drain::new(&locations.db, config, &holder),
        holder,
        lanes: Vec::new(),
        client: None,
        drain_again: None,
        drain_passes: 0,
        reloads: 0,
        central_failures: 0,
        config_stamp: config_stamp(locations),
        linger: if linger { LINGER } else { Duration::ZERO },
        summary: Summary::default(),
    };
    let mut lanes = Lane::ALL.to_vec();
    if !central_wanted(&worker.conn, locations)? {
        lanes.retain(|&lane| lane != Lane::Central);
    }
    worker.take(&lanes, false)?;
    if worker.lanes.is_empty() {
        return Ok(Summary {
            busy: true,
            ..Summary::default()
        });
    }
    let result = worker.run();
    if result.is_err() {
        // Stopped by an error: the next hook starts another worker at once, not after the
        // leases lapse.
        for lane in worker.lanes.clone() {
            let _ = worker.give_up(lane);
        }
    }
    result.map(|()| worker.summary)
}

fn lease_ms(config: &Config, lane: Lane) -> i64 {
    match lane {
        Lane::Popup => POPUP_LEASE_MS,
        Lane::Webhook => {
            let longest = config.webhooks.iter().map(|w| w.timeout).max();
            longest.unwrap_or_default().as_millis() as i64 + LEASE_MARGIN_MS
        }
        Lane::Fallback | Lane::Contacts => SHORT_LEASE_MS,
        Lane::Central => central_send::TIMEOUT.as_millis() as i64 + LEASE_MARGIN_MS,
    }
}

/// When the config file was last changed (`None` without one).
fn config_stamp(locations: &Locations) -> Option<std::time::SystemTime> {
    std::fs::metadata(&locations.config_path)
        .and_then(|m| m.modified())
        .ok()
}

/// Whether the central lane has anything for this worker: a desk that delivers, or a link (or
/// changes) left from a `[central]` that has since left the config. A config with errors may
/// have lost `[central]` to a typo: nothing of the link is undone then.
fn central_wanted(conn: &Connection, locations: &Locations) -> Result<bool> {
    if locations.config.central_delivery().is_some() {
        return Ok(true);
    }
    if locations.config_error.is_some() {
        return Ok(false);
    }
    Ok(link::get(conn)?.is_some() || link::orphan_changes(conn)?)
}

/// Whether a delivery lane has work due now (checked before it is let go). The central lane is
/// not due to a worker that gave up on it for this run.
fn due(conn: &Connection, config: &Config, lane: Lane, central_failures: usize) -> Result<bool> {
    let now = now_ms();
    match lane {
        Lane::Popup | Lane::Webhook => outbox::due(conn, lane, now),
        Lane::Central => match config.central_delivery() {
            Some(to) if central_failures < MAX_CENTRAL_FAILURES => {
                link::due(conn, to.url.as_str(), now)
            }
            _ => Ok(false),
        },
        Lane::Fallback | Lane::Contacts => Ok(false),
    }
}

impl Worker<'_> {
    fn holds(&self, lane: Lane) -> bool {
        self.lanes.contains(&lane)
    }

    fn run(&mut self) -> Result<()> {
        let mut last_work = Instant::now();
        while !self.lanes.is_empty() {
            // Names first, so that popups and payloads get them.
            if self.holds(Lane::Contacts) {
                self.contacts()?;
            }
            let mut worked = false;
            if self.holds(Lane::Fallback) {
                worked |= self.fallback()?;
            }
            // Popups before webhooks: somebody is waiting for the phone to ring into their CRM.
            if self.holds(Lane::Popup) {
                worked |= self.popups()?;
            }
            if self.holds(Lane::Webhook) {
                worked |= self.webhook()?;
            }
            if self.holds(Lane::Central) {
                worked |= self.central()?;
            }
            if worked {
                last_work = Instant::now();
                continue;
            }
            self.idle(last_work)?;
        }
        Ok(())
    }

    /// Runs a short write turn.
    fn write<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        db::write(&mut self.conn, work)
    }

    /// Takes the lanes of `lanes` that are free, lapsed, claimed for a starting worker, or ours
    /// already; with `due_only`, only delivery lanes that have deliveries due (a drain queued
    /// some after their worker let them go).
    fn take(&mut self, lanes: &[Lane], due_only: bool) -> Result<()> {
        let (holder, config) = (self.holder.clone(), self.config);
        let failures = self.central_failures;
        let taken = self.write(|tx| {
            let now = now_ms();
            let mut taken = Vec::new();
            for &lane in lanes {
                if (!due_only || due(tx, config, lane, failures)?)
                    && lease::acquire(tx, lane, &holder, now + lease_ms(config, lane), now)?
                {
                    taken.push(lane);
                }
            }
            Ok(taken)
        })?;
        for lane in taken {
            if !self.holds(lane) {
                self.lanes.push(lane);
            }
        }
        Ok(())
    }

    /// Gives a lane up, unless work came meanwhile: deliveries due on a delivery lane, or a
    /// hook that wanted the lane (checked in the same turn as the release, so that a hook
    /// either sees the lease or is seen). False when the lane is kept, to look once more.
    fn release(&mut self, lane: Lane) -> Result<bool> {
        let (holder, config) = (self.holder.clone(), self.config);
        let failures = self.central_failures;
        let released = self.write(|tx| {
            if due(tx, config, lane, failures)? {
                return Ok(false);
            }
            lease::release(tx, lane, &holder)
        })?;
        if released {
            self.lanes.retain(|&l| l != lane);
        }
        Ok(released)
    }

    /// Gives a lane up, whatever was wanted.
    fn give_up(&mut self, lane: Lane) -> Result<()> {
        let holder = self.holder.clone();
        self.write(|tx| lease::give_up(tx, lane, &holder))?;
        self.lanes.retain(|&l| l != lane);
        Ok(())
    }

    /// Renews a lane's lease; a worker whose lease lapsed and was taken stops that lane.
    fn renew(&mut self, lane: Lane) -> Result<bool> {
        let until = now_ms() + lease_ms(self.config, lane);
        let holder = self.holder.clone();
        if self.write(|tx| lease::renew(tx, lane, &holder, until))? {
            return Ok(true);
        }
        self.lanes.retain(|&l| l != lane);
        Ok(false)
    }

    /// Reads the changed contact files, then lets the lane go unless a file changed again.
    fn contacts(&mut self) -> Result<()> {
        // A file that cannot be read is recorded as such (`callhook doctor` shows it).
        let _ = contacts::reload(&mut self.conn, &self.config.contacts, &self.config.numbers);
        self.reloads += 1;
        if self.reloads >= MAX_RELOADS {
            // A file that keeps changing: the next hook after it settles starts another worker.
            return self.give_up(Lane::Contacts);
        }
        if !contacts::check(&self.conn, &self.config.contacts)?.stale {
            self.release(Lane::Contacts)?;
        }
        Ok(())
    }

    /// A popup shows the caller's name: when a contact file changed, it is read first (by this
    /// worker, or by the one reading it now, waited for a moment).
    fn fresh_names(&mut self) -> Result<()> {
        let until = Instant::now() + NAMES_WAIT;
        while contacts::check(&self.conn, &self.config.contacts)?.stale {
            self.take(&[Lane::Contacts], false)?;
            if self.holds(Lane::Contacts) {
                return self.contacts();
            }
            if Instant::now() >= until {
                break;
            }
            sleep(POLL);
        }
        Ok(())
    }

    /// Stores the events of the fallback logs; lets the lane go when nothing is left.
    fn fallback(&mut self) -> Result<bool> {
        if self.drain_again.is_some_and(|at| Instant::now() < at) {
            return Ok(false);
        }
        // A drain can take a while: a popup queued meanwhile gets a worker of its own.
        if self.holds(Lane::Popup) && !self.release(Lane::Popup)? {
            return Ok(false);
        }
        let logs = fallback::logs_for(Some(&self.locations.db));
        // Each pass claims what hooks wrote since the last; after a few, only the files
        // claimed are finished (hooks that keep failing do not keep one worker busy).
        let claim = self.drain_passes < MAX_DRAIN_PASSES;
        self.drain_passes += 1;
        let pass = self.drain.pass(&mut self.conn, &logs, claim)?;
        self.summary.drained += pass.stored;
        self.summary.rejected += pass.rejected;
        if pass.stored > 0 {
            // Their deliveries need a worker; their lanes may have been let go meanwhile.
            self.take(&[Lane::Popup, Lane::Webhook, Lane::Central], true)?;
        }
        self.drain_again = pass.again_in.map(|wait| Instant::now() + wait);
        if pass.again_in.is_none() {
            if !claim {
                self.give_up(Lane::Fallback)?;
            } else if drain::needed(&self.conn, &logs)? {
                // Something to drain, and nothing came of this pass: not again at once.
                if pass.stored == 0 {
                    self.drain_again = Some(Instant::now() + DRAIN_RETRY);
                }
            } else {
                // A hook that fails after this looks changed to the next hook, which starts
                // a worker for it (or, if it saw this lane held, asks for one more pass).
                self.release(Lane::Fallback)?;
            }
        }
        Ok(pass.stored > 0)
    }

    fn popups(&mut self) -> Result<bool> {
        let due = outbox::due_popups(&self.conn, now_ms())?;
        let worked = !due.is_empty();
        if worked {
            self.fresh_names()?;
        }
        for delivery in due {
            if !self.renew(Lane::Popup)? {
                return Ok(worked);
            }
            self.popup(&delivery)?;
        }
        Ok(worked)
    }

    fn popup(&mut self, delivery: &Delivery) -> Result<()> {
        let now = now_ms();
        let finish = |worker: &mut Self, status: Status, error: String| {
            worker.write(|tx| outbox::finished(tx, delivery, status, None, Some(&error), now))
        };
        if delivery.attempts > 0 {
            // A popup is of no use later: one attempt only, even one that never ended.
            self.summary.failed += 1;
            return finish(
                self,
                Status::Failed,
                "the worker stopped while opening it".into(),
            );
        }
        let call = load_call(&self.conn, &delivery.call_id)?;
        // A popup for a call that is over would only disturb.
        let Some(call) = call.filter(|c| c.ended_at.is_none()) else {
            self.summary.skipped += 1;
            return finish(
                self,
                Status::Skipped,
                "the call ended before the popup".into(),
            );
        };
        let Some(popup) = &self.config.popup else {
            self.summary.failed += 1;
            return finish(
                self,
                Status::Failed,
                "[popup] is no longer in the config".into(),
            );
        };
        // The call may have a name by now (contacts read since it was queued).
        let event: String = self.conn.query_row(
            "SELECT event FROM events WHERE id = ?1",
            [&delivery.event_id],
            |row| row.get(0),
        )?;
        let url = outbox::popup_url(popup, &call, &event);
        self.write(|tx| {
            outbox::begin_attempt(tx, delivery, now)?;
            tx.execute(
                "UPDATE outbox SET url = ?2 WHERE id = ?1 AND url <> ?2",
                rusqlite::params![delivery.id, url],
            )?;
            Ok(())
        })?;
        match popup.open(&url) {
            Ok(()) => {
                self.write(|tx| {
                    outbox::finished(tx, delivery, Status::Delivered, None, None, now_ms())
                })?;
                self.summary.delivered += 1;
            }
            Err(e) => {
                // A popup that cannot open now is of no use later: no retries.
                finish(self, Status::Failed, format!("{e:#}"))?;
                self.summary.failed += 1;
            }
        }
        Ok(())
    }

    /// Attempts the oldest due webhook delivery among the endpoints' queues; false when none
    /// is due.
    fn webhook(&mut self) -> Result<bool> {
        let now = now_ms();
        let Some(delivery) = outbox::next_webhook(&self.conn, now)? else {
            return Ok(false);
        };
        let retries = self.config.outbox.retries.len() as i64;
        if delivery.attempts > retries {
            // Its last attempt counted but never recorded an end: the worker died during it.
            let error = "the worker stopped during the last attempt";
            return self.failed(&delivery, None, error, now).map(|()| true);
        }
        let config = self.config;
        let Some(webhook) = config.webhooks.iter().find(|w| w.key() == delivery.target) else {
            let error = format!("webhook `{}` is no longer in the config", delivery.target);
            return self.failed(&delivery, None, &error, now).map(|()| true);
        };
        // A webhook can take its whole timeout: give the popup lane up first, so that a popup
        // queued meanwhile gets a worker of its own instead of waiting.
        if self.holds(Lane::Popup) && !self.release(Lane::Popup)? {
            return Ok(true);
        }
        if !self.renew(Lane::Webhook)? {
            return Ok(false);
        }
        self.attempt(&delivery, webhook, now)?;
        Ok(true)
    }

    /// One attempt of a webhook delivery, and its outcome recorded.
    fn attempt(&mut self, delivery: &Delivery, webhook: &WebhookConfig, now: i64) -> Result<()> {
        // Counted before it is made: an attempt that kills the worker still uses up the
        // schedule. Should it never record an end, it is due again as if it had failed (the
        // last one at once: the next worker, once this one's lease lapsed, marks it failed).
        let attempts = delivery.attempts + 1;
        let seed = now as u64 ^ (delivery.id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let next = crate::effects::retry::next_attempt(&self.config.outbox, attempts, now, seed);
        self.write(|tx| outbox::begin_attempt(tx, delivery, next.unwrap_or(now)))?;
        if self.client.is_none() {
            self.client = Some(send::client().context("cannot set up HTTP")?);
        }
        let client = self.client.as_ref().unwrap();
        let response = send::post(
            client,
            webhook,
            &delivery.url,
            delivery.message_id.as_deref().unwrap_or_default(),
            delivery.body.as_deref().unwrap_or_default(),
        );
        let now = now_ms();
        match response.outcome {
            Outcome::Delivered { status } => {
                let status = Some(status);
                self.write(|tx| {
                    outbox::finished(tx, delivery, Status::Delivered, status, None, now)
                })?;
                self.summary.delivered += 1;
            }
            Outcome::Gone => {
                self.write(|tx| outbox::stop_endpoint(tx, delivery))?;
                self.summary.failed += 1;
            }
            Outcome::Failed {
                status,
                error,
                retry_after,
            } => match next {
                Some(next) => {
                    let asked = retry_after.map_or(0, |d| d.as_millis() as i64);
                    let next = next.max(now.saturating_add(asked));
                    self.write(|tx| outbox::retry_at(tx, delivery, next, status, &error))?;
                    self.summary.retrying += 1;
                }
                None => self.failed(delivery, status, &error, now)?,
            },
        }
        Ok(())
    }

    /// The webhook delivery has failed for good.
    fn failed(
        &mut self,
        delivery: &Delivery,
        http_status: Option<u16>,
        error: &str,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            outbox::finished(tx, delivery, Status::Failed, http_status, Some(error), now)
        })?;
        self.summary.failed += 1;
        Ok(())
    }

    /// Sends central the next batch when one is due: the link made first if the config names
    /// a new central, undone if `[central]` left the config. False when nothing was due.
    fn central(&mut self) -> Result<bool> {
        let config = self.config;
        let Some(to) = config.central_delivery() else {
            return self.unlink();
        };
        if config_stamp(self.locations) != self.config_stamp {
            // A new key or central (an admin fixing a refused key, say): a new worker reads
            // the config and takes the lane over at once, instead of this one trying on with
            // what it read, or giving up after its failures.
            self.give_up(Lane::Central)?;
            let _ = crate::effects::spawn::worker(self.locations);
            return Ok(false);
        }
        if self.central_failures >= MAX_CENTRAL_FAILURES {
            // Central is away: the lane goes (the next event's worker or a scheduled deliver
            // tries again), unless `outbox retry` counted its attempts afresh meanwhile. In
            // one turn with the retry's: the worker it starts finds the lane free, or this
            // one goes on.
            let holder = self.holder.clone();
            let retried = self.write(|tx| {
                let retried = link::get(tx)?.is_some_and(|l| l.attempts == 0);
                if !retried {
                    lease::give_up(tx, Lane::Central, &holder)?;
                }
                Ok(retried)
            })?;
            if !retried {
                self.lanes.retain(|&l| l != Lane::Central);
                return Ok(false);
            }
            self.central_failures = 0;
        }
        let desk = config.central.desk_name();
        let url = to.url.as_str();
        let now = now_ms();
        let mut current = link::get(&self.conn)?;
        if link::needs_linking(current.as_ref(), url, &desk) {
            self.write(|tx| link::link(tx, url, &desk, now))?;
            current = link::get(&self.conn)?;
        }
        let Some(current) = current.filter(|l| l.next_at <= now) else {
            return Ok(false);
        };
        let limits = Limits::of(&current);
        let Some(built) = replicate::build(&mut self.conn, &desk, limits, now)? else {
            return Ok(false);
        };
        let mut done = Delivered {
            linked_at: built.linked_at,
            upto: built.upto,
            cursor: built.cursor.as_deref(),
            backfill_done: built.backfill_done,
            status: None,
        };
        if built.is_empty() {
            // Pruned calls only (central keeps them), or the end of the backfill.
            self.write(|tx| link::delivered(tx, &done, now_ms()))?;
            return Ok(true);
        }
        // A request can take its whole timeout: a popup queued meanwhile gets a worker of its
        // own instead of waiting.
        if self.holds(Lane::Popup) && !self.release(Lane::Popup)? {
            return Ok(true);
        }
        if !self.renew(Lane::Central)? {
            return Ok(false);
        }
        let body = serde_json::to_vec(&built.batch)?;
        if self.client.is_none() {
            self.client = Some(central_send::client().context("cannot set up HTTP")?);
        }
        let client = self.client.as_ref().unwrap();
        let answer = central_send::post(client, to.url, to.key(), &body);
        let now = now_ms();
        match answer {
            Answer::Accepted { status, .. } => {
                done.status = Some(status);
                self.write(|tx| link::delivered(tx, &done, now))?;
                self.summary.central_batches += 1;
                self.summary.central_calls += built.batch.calls.len();
                self.summary.central_error = None;
            }
            Answer::Refused { status, ref error } => {
                let attempts = current.attempts + 1;
                let seed = now as u64 ^ (attempts as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut next = link::next_try(&config.outbox, attempts, now, seed);
                let items = built.batch.calls.len() + built.batch.gone.len();
                let smaller = answer.too_large().then(|| limits.halved(body.len()));
                if smaller.is_some() && items > 1 {
                    // Too large, and it can be made smaller: again at once, halved.
                    next = now;
                } else {
                    self.central_failures += 1;
                }
                self.write(|tx| link::failed(tx, built.linked_at, status, error, next, smaller))?;
                self.summary.central_error = Some(error.clone());
            }
        }
        Ok(true)
    }

    /// `[central]` left the config: the link goes, so that nothing more is queued, and the
    /// queued changes after it, in short turns.
    fn unlink(&mut self) -> Result<bool> {
        if self.locations.config_error.is_some() {
            // A typo may have taken `[central]` out: the link stays until the config is sound.
            self.give_up(Lane::Central)?;
            return Ok(false);
        }
        let forgotten = self.write(|tx| {
            link::unlink(tx)?;
            link::forget_changes(tx, FORGET_PER_TURN)
        })?;
        if forgotten == FORGET_PER_TURN {
            return Ok(true);
        }
        self.release(Lane::Central)?;
        Ok(false)
    }

    /// Nothing to do: after [`LINGER`], give up the lanes with nothing coming soon; wait for
    /// the rest.
    fn idle(&mut self, last_work: Instant) -> Result<()> {
        let lingering = last_work.elapsed() < self.linger;
        let now = now_ms();
        let stay = self.config.outbox.stay.as_millis() as i64;
        // A lane kept because a hook wanted it has work just queued: look again at once.
        let mut kept = false;
        if !lingering {
            for lane in self.lanes.clone() {
                match lane {
                    Lane::Popup => {
                        kept |= !self.release(lane)?;
                    }
                    Lane::Webhook => {
                        let next = outbox::next_due(&self.conn, lane)?;
                        if next.is_none_or(|t| t - now > stay) {
                            kept |= !self.release(lane)?;
                        }
                    }
                    Lane::Central => {
                        let next = link::next_due(&self.conn)?;
                        if next.is_none_or(|t| t - now > CENTRAL_STAY_MS) {
                            kept |= !self.release(lane)?;
                        }
                    }
                    // Let go in their own steps once done.
                    Lane::Fallback | Lane::Contacts => {}
                }
            }
        }
        if self.lanes.is_empty() {
            return Ok(());
        }
        let mut wait = if lingering || kept || self.holds(Lane::Popup) {
            POLL.as_millis() as i64
        } else {
            IDLE_TICK.as_millis() as i64
        };
        if self.holds(Lane::Webhook) {
            // Until the next retry is due, renewing the lease meanwhile.
            if let Some(next) = outbox::next_due(&self.conn, Lane::Webhook)? {
                wait = wait.min(next - now);
            }
            if !lingering {
                self.renew(Lane::Webhook)?;
            }
        }
        if self.holds(Lane::Central) {
            if self.central_failures < MAX_CENTRAL_FAILURES
                && let Some(next) = link::next_due(&self.conn)?
            {
                wait = wait.min(next - now);
            }
            if !lingering {
                self.renew(Lane::Central)?;
            }
        }
        if let Some(at) = self.drain_again.filter(|_| self.holds(Lane::Fallback)) {
            wait = wait.min(at.saturating_duration_since(Instant::now()).as_millis() as i64);
        }
        sleep(Duration::from_millis(
            wait.clamp(1, IDLE_TICK.as_millis() as i64) as u64,
        ));
        Ok(())
    }
}
