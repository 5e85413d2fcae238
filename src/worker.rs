//! The detached worker (`callhook deliver`): delivers what the outbox holds, popups first,
//! webhooks in event order per endpoint, one worker per lane at a time.

use std::ffi::OsStr;
use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::call::now_ms;
use crate::config::Config;
use crate::contacts;
use crate::db;
use crate::fold::load_call;
use crate::outbox::{self, Delivery, Lane};
use crate::paths::Locations;
use crate::webhook::{self, Outcome};

/// How long a popup worker's lease lasts between renewals.
const POPUP_LEASE_MS: i64 = 30_000;
/// A webhook worker's lease covers the request's timeout and this much more: enough to
/// record the result even when it has to wait for the database's busy timeout.
const LEASE_MARGIN_MS: i64 = db::ADMIN_BUSY_TIMEOUT.as_millis() as i64 + 5_000;
/// While waiting for a retry, the worker renews its lease this often.
const IDLE_TICK: Duration = Duration::from_millis(1_000);

/// What a run delivered.
#[derive(Debug, Default)]
pub struct Summary {
    /// No lane was free: another worker is delivering.
    pub busy: bool,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Starts `callhook deliver` for these locations as a detached process and returns at once.
pub fn spawn(locations: &Locations) -> Result<()> {
    let exe = crate::paths::full_program()?;
    let args: [&OsStr; 5] = [
        OsStr::new("--db"),
        locations.db.as_os_str(),
        OsStr::new("--config"),
        locations.config_path.as_os_str(),
        OsStr::new("deliver"),
    ];
    spawn_detached(&exe, &args)
}

#[cfg(windows)]
fn spawn_detached(exe: &std::path::Path, args: &[&OsStr]) -> Result<()> {
    crate::windows::spawn_detached(exe, args)
}

#[cfg(unix)]
fn spawn_detached(exe: &std::path::Path, args: &[&OsStr]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; between fork and exec it only detaches the child
    // into a session of its own, away from the hook's terminal and process group.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    Ok(())
}

struct Worker<'a> {
    conn: Connection,
    config: &'a Config,
    holder: String,
    lanes: Vec<Lane>,
    client: Option<reqwest::blocking::Client>,
    summary: Summary,
}

/// Delivers until nothing is due and no retry is due within `outbox.stay`.
pub fn deliver(locations: &Locations) -> Result<Summary> {
    let mut conn = db::open(&locations.db, db::ADMIN_BUSY_TIMEOUT)?;
    // A contact file changed: read it here, away from the hook, before any popup needs a
    // name. A file that cannot be read is recorded as such (`callhook doctor` shows it).
    let _ = reload_contacts(&mut conn, &locations.config);
    let holder = format!(
        "{}@{} {}",
        std::process::id(),
        crate::hook::host_name(),
        crate::fold::event_id(now_ms())
    );
    let mut lanes = Vec::new();
    for lane in Lane::ALL {
        let until = now_ms() + lease_ms(&locations.config, lane);
        if outbox::acquire(&mut conn, lane, &holder, until)? {
            lanes.push(lane);
        }
    }
    if lanes.is_empty() {
        return Ok(Summary {
            busy: true,
            ..Summary::default()
        });
    }
    let mut worker = Worker {
        conn,
        config: &locations.config,
        holder,
        lanes,
        client: None,
        summary: Summary::default(),
    };
    worker.run()?;
    Ok(worker.summary)
}

/// Reads the changed contact files again and names the calls that had no name.
fn reload_contacts(conn: &mut Connection, config: &Config) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Checked again inside the transaction: of workers started at once, one reads.
    if contacts::check(&tx, &config.contacts)?.stale {
        contacts::refresh(&tx, &config.contacts, &config.numbers)?;
        contacts::fill_names(&tx)?;
    }
    tx.commit()?;
    Ok(())
}

fn lease_ms(config: &Config, lane: Lane) -> i64 {
    match lane {
        Lane::Popup => POPUP_LEASE_MS,
        Lane::Webhook => {
            let longest = config.webhooks.iter().map(|w| w.timeout).max();
            longest.unwrap_or_default().as_millis() as i64 + LEASE_MARGIN_MS
        }
    }
}

impl Worker<'_> {
    fn holds(&self, lane: Lane) -> bool {
        self.lanes.contains(&lane)
    }

    fn run(&mut self) -> Result<()> {
        while !self.lanes.is_empty() {
            // Popups first: somebody is waiting for the phone to ring into their CRM.
            if self.holds(Lane::Popup) {
                self.popups()?;
            }
            if self.holds(Lane::Webhook) {
                // A webhook can take its whole timeout: give the popup lane up first, so that
                // a popup queued meanwhile gets a worker of its own instead of waiting.
                if self.holds(Lane::Popup) {
                    if !outbox::release_if_idle(&mut self.conn, Lane::Popup, &self.holder)? {
                        continue;
                    }
                    self.lanes.retain(|&l| l != Lane::Popup);
                }
                if self.webhook()? {
                    continue;
                }
            }
            self.idle()?;
        }
        Ok(())
    }

    /// Renews a lane's lease; a worker whose lease lapsed and was taken stops that lane.
    fn renew(&mut self, lane: Lane) -> Result<bool> {
        let until = now_ms() + lease_ms(self.config, lane);
        if outbox::renew(&self.conn, lane, &self.holder, until)? {
            return Ok(true);
        }
        self.lanes.retain(|&l| l != lane);
        Ok(false)
    }

    fn popups(&mut self) -> Result<()> {
        let now = now_ms();
        let sql = format!(
            "SELECT {} FROM outbox WHERE status = 'pending' AND kind = 'popup' AND next_at <= ?1 \
             ORDER BY id",
            Delivery::COLUMNS
        );
        let due: Vec<Delivery> = self
            .conn
            .prepare(&sql)?
            .query_map([now], Delivery::from_row)?
            .collect::<rusqlite::Result<_>>()?;
        for delivery in due {
            if !self.renew(Lane::Popup)? {
                return Ok(());
            }
            let call = load_call(&self.conn, &delivery.call_id)?;
            // A popup for a call that is over would only disturb.
            if call.as_ref().is_none_or(|c| c.ended_at.is_some()) {
                self.finish(
                    &delivery,
                    "skipped",
                    None,
                    Some("the call ended before the popup"),
                )?;
                self.summary.skipped += 1;
                continue;
            }
            let result = match (&self.config.popup, &call) {
                (Some(popup), Some(call)) => {
                    // The call may have a name by now (contacts read since it was queued).
                    let event: String = self.conn.query_row(
                        "SELECT event FROM events WHERE id = ?1",
                        [&delivery.event_id],
                        |row| row.get(0),
                    )?;
                    let url = outbox::popup_url(popup, call, &event);
                    if url != delivery.url {
                        self.conn.execute(
                            "UPDATE outbox SET url = ?2 WHERE id = ?1",
                            params![delivery.id, url],
                        )?;
                    }
                    popup.open(&url)
                }
                _ => Err(anyhow::anyhow!("[popup] is no longer in the config")),
            };
            match result {
                Ok(()) => {
                    self.finish(&delivery, "delivered", None, None)?;
                    self.summary.delivered += 1;
                }
                Err(e) => {
                    // A popup that cannot open now is of no use later: no retries.
                    self.finish(&delivery, "failed", None, Some(&format!("{e:#}")))?;
                    self.summary.failed += 1;
                }
            }
        }
        Ok(())
    }

    /// Attempts the oldest due webhook delivery among the endpoints' queues; false when none
    /// is due.
    fn webhook(&mut self) -> Result<bool> {
        let now = now_ms();
        let sql = format!(
            "SELECT {} FROM outbox o WHERE status = 'pending' AND kind = 'webhook' \
             AND next_at <= ?1 AND {} ORDER BY event_id, id LIMIT 1",
            Delivery::COLUMNS,
            outbox::SENDABLE
        );
        let Some(delivery) = self
            .conn
            .prepare_cached(&sql)?
            .query_row([now], Delivery::from_row)
            .optional()?
        else {
            return Ok(false);
        };
        let Some(webhook) = self
            .config
            .webhooks
            .iter()
            .find(|w| w.key() == delivery.target)
        else {
            let error = format!("webhook `{}` is no longer in the config", delivery.target);
            self.finish(&delivery, "failed", None, Some(&error))?;
            self.summary.failed += 1;
            return Ok(true);
        };
        if !self.renew(Lane::Webhook)? {
            return Ok(false);
        }
        if self.client.is_none() {
            self.client = Some(webhook::client().context("cannot set up HTTP")?);
        }
        let client = self.client.as_ref().unwrap();
        let response = webhook::post(
            client,
            webhook,
            &delivery.url,
            delivery.message_id.as_deref().unwrap_or_default(),
            delivery.body.as_deref().unwrap_or_default(),
        );
        let attempts = delivery.attempts + 1;
        let now = now_ms();
        match response.outcome {
            Outcome::Delivered { status } => {
                self.conn.execute(
                    "UPDATE outbox SET status = 'delivered', attempts = ?2, delivered_at = ?3, \
                     last_status = ?4, last_error = NULL WHERE id = ?1",
                    params![delivery.id, attempts, now, status],
                )?;
                self.queue_from(&delivery.target, now)?;
                self.summary.delivered += 1;
            }
            Outcome::Gone => {
                let error = outbox::GONE;
                self.conn.execute(
                    "UPDATE outbox SET status = 'stopped', last_status = 410, last_error = ?2, \
                     attempts = attempts + (id = ?3) \
                     WHERE status = 'pending' AND kind = 'webhook' AND target = ?1",
                    params![delivery.target, error, delivery.id],
                )?;
                self.summary.failed += 1;
            }
            Outcome::Failed {
                status,
                error,
                retry_after,
            } => {
                let seed = now as u64 ^ (delivery.id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                match outbox::next_attempt(&self.config.outbox, attempts, now, seed) {
                    Some(next) => {
                        let asked = retry_after.map_or(0, |d| d.as_millis() as i64);
                        let next = next.max(now.saturating_add(asked));
                        self.conn.execute(
                            "UPDATE outbox SET attempts = ?2, next_at = ?3, last_status = ?4, \
                             last_error = ?5 WHERE id = ?1",
                            params![delivery.id, attempts, next, status, error],
                        )?;
                        // The rest of the endpoint's queue waits behind it, in order.
                        self.conn.execute(
                            "UPDATE outbox SET next_at = max(next_at, ?2) \
                             WHERE status = 'pending' AND kind = 'webhook' AND target = ?1",
                            params![delivery.target, next],
                        )?;
                        self.summary.retrying += 1;
                    }
                    None => {
                        self.conn.execute(
                            "UPDATE outbox SET status = 'failed', attempts = ?2, \
                             last_status = ?3, last_error = ?4 WHERE id = ?1",
                            params![delivery.id, attempts, status, error],
                        )?;
                        self.queue_from(&delivery.target, now)?;
                        self.summary.failed += 1;
                    }
                }
            }
        }
        Ok(true)
    }

    /// The endpoint's queue has no head waiting any more: the next may go from `at` on.
    fn queue_from(&self, target: &str, at: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET next_at = min(next_at, ?2) \
             WHERE status = 'pending' AND kind = 'webhook' AND target = ?1",
            params![target, at],
        )?;
        Ok(())
    }

    fn finish(
        &self,
        delivery: &Delivery,
        status: &str,
        http_status: Option<u16>,
        error: Option<&str>,
    ) -> Result<()> {
        let delivered_at = (status == "delivered").then(now_ms);
        self.conn.execute(
            "UPDATE outbox SET status = ?2, attempts = attempts + 1, delivered_at = ?3, \
             last_status = ?4, last_error = ?5 WHERE id = ?1",
            params![delivery.id, status, delivered_at, http_status, error],
        )?;
        Ok(())
    }

    /// Nothing is due: give up the lanes with nothing coming soon, wait for the rest.
    fn idle(&mut self) -> Result<()> {
        let now = now_ms();
        let stay = self.config.outbox.stay.as_millis() as i64;
        for lane in self.lanes.clone() {
            let next = outbox::next_due(&self.conn, lane)?;
            let soon = lane == Lane::Webhook && next.is_some_and(|t| t - now <= stay);
            if !soon && outbox::release_if_idle(&mut self.conn, lane, &self.holder)? {
                self.lanes.retain(|&l| l != lane);
            }
        }
        if self.holds(Lane::Webhook) {
            // Until the next retry is due, renewing the lease meanwhile.
            let next = outbox::next_due(&self.conn, Lane::Webhook)?;
            let wait = next.map_or(IDLE_TICK.as_millis() as i64, |t| t - now_ms());
            sleep(Duration::from_millis(
                wait.clamp(10, IDLE_TICK.as_millis() as i64) as u64,
            ));
            self.renew(Lane::Webhook)?;
        }
        Ok(())
    }
}
