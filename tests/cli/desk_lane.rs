//! Team mode, the desk's side: the real hook and worker replicate the call log to a stand-in
//! central, a real HTTP server on 127.0.0.1 that checks every batch's signature with the
//! desk's public key and keeps the calls as central does (the highest revision wins, gone calls
//! removed).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callhook::effects::central::batch::{Batch, CallState, Receipt};
use callhook::effects::central::key::{self, DeskKey};

use crate::server::closed_port;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);
const DESK: &str = "front-1";

/// How the stand-in central answers a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Accept,
    /// 401 unknown_key: the desk's key was revoked, or never added.
    UnknownKey,
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    /// Batches are taken while fewer than this were; later ones get 503 (central's database
    /// away).
    accept_at_most: Option<usize>,
    /// Larger bodies get 413 (a proxy in front of central that reads less).
    max_body: Option<usize>,
    /// The size of each batch taken.
    sizes: Vec<usize>,
    /// Central's clock, this far from the machine's (its `Date` header).
    clock_offset: Option<chrono::Duration>,
    /// The batches taken, in order.
    taken: Vec<Batch>,
    /// Requests not taken, by status.
    refused: Vec<u16>,
    /// Requests whose signature, key or body was wrong: none, ever.
    bad: Vec<String>,
    /// The calls as central keeps them.
    calls: BTreeMap<String, CallState>,
    /// Gone calls, with the revision they went at.
    tombstones: BTreeMap<String, i64>,
}

struct Central {
    port: u16,
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Central {
    /// Central for the desk whose key is `desk_key`, on a port of its own.
    fn start(desk_key: &DeskKey) -> Central {
        Central::start_on(0, desk_key)
    }

    fn start_on(port: u16, desk_key: &DeskKey) -> Central {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            mode: Some(Mode::Accept),
            ..State::default()
        }));
        let public = key::parse_public(&desk_key.public_text()).unwrap();
        let (requests, shared) = (server.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            for mut request in requests.incoming_requests() {
                let mut body = Vec::new();
                std::io::Read::read_to_end(request.as_reader(), &mut body).unwrap();
                let header = |name: &str| {
                    request
                        .headers()
                        .iter()
                        .find(|h| h.field.to_string().eq_ignore_ascii_case(name))
                        .map(|h| h.value.to_string())
                        .unwrap_or_default()
                };
                let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
                let signed = key::verify(
                    &public,
                    &id,
                    timestamp.parse().unwrap_or(0),
                    &body,
                    &header("webhook-signature"),
                );
                let mut state = shared.lock().unwrap();
                let (status, answer) = state.answer(
                    request.url(),
                    signed
                        && id.starts_with("msg_")
                        && header(key::KEY_HEADER).starts_with("whpk_"),
                    &body,
                );
                let mut response = tiny_http::Response::from_string(answer)
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("content-type", "application/json").unwrap(),
                    );
                if let Some(offset) = state.clock_offset {
                    let at = chrono::Utc::now() + offset;
                    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                    response.add_header(tiny_http::Header::from_bytes("Date", date).unwrap());
                }
                drop(state);
                let _ = request.respond(response);
            }
        });
        Central {
            port,
            state,
            server,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn set(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    fn accept_at_most(&self, n: Option<usize>) {
        self.state.lock().unwrap().accept_at_most = n;
    }

    fn max_body(&self, n: Option<usize>) {
        self.state.lock().unwrap().max_body = n;
    }

    fn clock_offset(&self, offset: chrono::Duration) {
        self.state.lock().unwrap().clock_offset = Some(offset);
    }

    fn sizes(&self) -> Vec<usize> {
        self.state.lock().unwrap().sizes.clone()
    }

    fn taken(&self) -> Vec<Batch> {
        self.state.lock().unwrap().taken.clone()
    }

    fn refused(&self) -> Vec<u16> {
        self.state.lock().unwrap().refused.clone()
    }

    fn calls(&self) -> BTreeMap<String, CallState> {
        self.state.lock().unwrap().calls.clone()
    }

    fn call(&self, id: &str) -> Option<CallState> {
        self.state.lock().unwrap().calls.get(id).cloned()
    }

    fn stop(mut self) {
        self.server.unblock();
        self.thread.take().unwrap().join().unwrap();
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        self.server.unblock();
        let bad = &self.state.lock().unwrap().bad;
        if !std::thread::panicking() {
            assert!(bad.is_empty(), "central got bad requests: {bad:?}");
        }
    }
}

impl State {
    fn answer(&mut self, path: &str, signed: bool, body: &[u8]) -> (u16, String) {
        let error = |code: &str| format!(r#"{{"error":{{"code":"{code}","message":"{code}"}}}}"#);
        if path != "/api/ingest" || !signed {
            self.bad.push(format!("{path}: signed {signed}"));
            return (401, error("bad_signature"));
        }
        let batch: Batch = match serde_json::from_slice(body) {
            Ok(batch) => batch,
            Err(e) => {
                self.bad.push(format!("not a batch: {e}"));
                return (400, error("invalid_batch"));
            }
        };
        if self.mode == Some(Mode::UnknownKey) {
            self.refused.push(401);
            return (401, error("unknown_key"));
        }
        if self.max_body.is_some_and(|n| body.len() > n) {
            self.refused.push(413);
            return (413, error("payload_too_large"));
        }
        if self.accept_at_most.is_some_and(|n| self.taken.len() >= n) {
            self.refused.push(503);
            return (503, error("database_unavailable"));
        }
        let mut receipt = Receipt {
            desk: format!("{} at central", batch.desk),
            ..Receipt::default()
        };
        for call in &batch.calls {
            let newer = match self.calls.get(&call.id) {
                None => self
                    .tombstones
                    .get(&call.id)
                    .is_none_or(|&r| call.revision > r),
                Some(copy) => copy.revision < call.revision,
            };
            if newer {
                self.tombstones.remove(&call.id);
                self.calls.insert(call.id.clone(), call.clone());
                receipt.accepted += 1;
            } else {
                receipt.stale += 1;
            }
        }
        for gone in &batch.gone {
            if self
                .calls
                .get(&gone.id)
                .is_none_or(|c| c.revision < gone.revision)
            {
                self.calls.remove(&gone.id);
                self.tombstones.insert(gone.id.clone(), gone.revision);
                receipt.gone += 1;
            }
        }
        self.taken.push(batch);
        self.sizes.push(body.len());
        (200, serde_json::to_string(&receipt).unwrap())
    }
}

/// A desk that delivers to `url` with `key`, retrying quickly.
fn desk_for(url: &str, key: &DeskKey) -> Desk {
    Desk::new().with_config(&central_config(url, key))
}

fn central_config(url: &str, key: &DeskKey) -> String {
    format!(
        "[outbox]\nretries = [\"200ms\", \"200ms\", \"200ms\"]\nstay = \"20s\"\n\n\
         [central]\nurl = {}\nkey = {}\ndesk = \"{DESK}\"\n",
        toml_str(url),
        toml_str(key.secret_text())
    )
}

/// (call id, status, its events' kinds) of every call of the desk, by id.
fn desk_log(desk: &Desk) -> Vec<(String, String, Vec<String>)> {
    let conn = desk.conn();
    let mut calls = conn
        .prepare("SELECT id, status FROM calls ORDER BY id")
        .unwrap();
    let calls: Vec<(String, String)> = calls
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    calls
        .into_iter()
        .map(|(id, status)| {
            let mut events = conn
                .prepare("SELECT event FROM events WHERE call_id = ?1 ORDER BY id")
                .unwrap();
            let kinds = events
                .query_map([&id], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (id, status, kinds)
        })
        .collect()
}

/// The same of central's copies.
fn central_log(central: &Central) -> Vec<(String, String, Vec<String>)> {
    central
        .calls()
        .into_values()
        .map(|c| {
            let kinds = c.events.iter().map(|e| e.event.clone()).collect();
            (c.id, c.status, kinds)
        })
        .collect()
}

/// A desk without `[central]` yet, whose log holds `n` missed calls.
fn desk_with_calls(n: i64) -> Desk {
    use callhook::log::caller::Caller;
    use callhook::log::event::EventKind;
    use callhook::log::fold::NewEvent;
    let desk = Desk::new();
    let mut conn =
        callhook::log::db::open(&desk.db, callhook::log::db::ADMIN_BUSY_TIMEOUT).unwrap();
    let tx = conn.transaction().unwrap();
    for i in 0..n {
        let number = format!("+1555{i:07}");
        for (ms, kind) in [(0, EventKind::Incoming), (4_000, EventKind::End)] {
            let at = T0 + i * 60_000 + ms;
            let event = NewEvent::new(at, kind, Caller::from_text(&number), number.clone());
            callhook::log::rows::record(&tx, &event, 4 * 3_600_000).unwrap();
        }
    }
    tx.commit().unwrap();
    desk
}

/// The changes waiting on the desk.
fn waiting(desk: &Desk) -> i64 {
    desk.count("SELECT count(*) FROM central_changes")
}

/// The link's failed attempts, and the status of the last one.
fn attempts(desk: &Desk) -> (i64, Option<i64>) {
    desk.conn()
        .query_row("SELECT attempts, last_status FROM central_link", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap_or((0, None))
}

/// The first line of `callhook outbox`: the central lane.
fn lane(desk: &Desk) -> String {
    desk.run(&["outbox"]).lines().next().unwrap().to_string()
}

#[test]
fn calls_and_their_events_reach_central_as_the_desk_stored_them() {
    let key = DeskKey::generate().unwrap();
    let central = Central::start(&key);
    let desk = desk_for(&central.url(), &key);
    for event in ["incoming", "ring", "answer", "end"] {
        assert_stored(&desk.event(event, "+15551230001"));
    }
    assert_stored(&desk.event("outgoing", "+15559870002"));
    wait_until(WAIT, "central to have the desk's log", || {
        central_log(&central) == desk_log(&desk)
    });
    let log = desk_log(&desk);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].1, "answered");
    assert_eq!(log[0].2, ["incoming", "ring", "answer", "end"]);

    let copy = central.call(&log[0].0).unwrap();
    let shown = &desk.calls()[0];
    assert_eq!(copy.number, "+15551230001");
    assert_eq!(copy.direction, "in");
    assert_eq!(copy.source, "hook");
    assert_eq!(Some(copy.started_at), parse_ms(&shown["started_at"]));
    assert_eq!(copy.answered_at, parse_ms(&shown["answered_at"]));
    assert!(copy.talk_ms.is_some() && copy.ring_ms.is_some());
    let event = &copy.events[0];
    assert_eq!(event.caller, "+15551230001");
    assert_eq!(event.os_user, "reception");
    assert!(!event.host.is_empty() && event.recorded_at >= event.at);

    // Each batch names the desk; the call's revision grew with each one that carried it.
    let taken = central.taken();
    assert!(taken.iter().all(|b| b.desk == DESK));
    let revisions: Vec<i64> = taken
        .iter()
        .flat_map(|b| &b.calls)
        .filter(|c| c.id == log[0].0)
        .map(|c| c.revision)
        .collect();
    assert!(revisions.len() >= 2, "{revisions:?}");
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    wait_until(WAIT, "the desk's queue to empty", || waiting(&desk) == 0);
    let last = central.taken().pop().unwrap();
    assert!(last.backfilled);
    assert_eq!(last.backlog, 0);

    let line = lane(&desk);
    assert!(
        line.contains(&central.url()) && line.contains("0 changes waiting"),
        "{line}"
    );
    assert!(
        line.contains("backfill done") && line.contains("last success"),
        "{line}"
    );
    assert!(!line.contains("failure"), "{line}");

    let report = doctor(&desk);
    assert!(
        report.contains("accepts this desk's key: central knows this desk as front-1 at central"),
        "{report}"
    );
}

fn parse_ms(value: &serde_json::Value) -> Option<i64> {
    let text = value.as_str()?;
    Some(
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis(),
    )
}

fn doctor(desk: &Desk) -> String {
    let out = output(desk.command().args([
        "doctor",
        "--ini",
        desk.path("nowhere.ini").to_str().unwrap(),
    ]));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_rekeyed_call_is_gone_at_central_and_a_pruned_one_stays() {
    let key = DeskKey::generate().unwrap();
    let central = Central::start(&key);
    let desk = desk_for(&central.url(), &key);
    // Linked first, so that every later change is queued.
    desk.record(T0 - 86_400_000, "100", &[(0, "incoming")]);
    wait_until(WAIT, "the link", || central.calls().len() == 1);

    // The end of a call stored before its start: the call is re-keyed to the start's id.
    desk.record(T0, "200", &[(5_000, "end"), (0, "incoming")]);
    wait_until(WAIT, "central to have the desk's log", || {
        central_log(&central) == desk_log(&desk)
    });
    let log = desk_log(&desk);
    let rekeyed = &log[1];
    assert_eq!(rekeyed.2, ["incoming", "end"]);
    let gone: Vec<_> = central.taken().into_iter().flat_map(|b| b.gone).collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].into, rekeyed.0);
    assert_ne!(gone[0].id, rekeyed.0);
    assert!(gone[0].revision > 0);

    // Pruned on the desk: central keeps its copies, and is sent nothing.
    wait_until(WAIT, "the desk's queue to empty", || waiting(&desk) == 0);
    let batches = central.taken().len();
    let report = desk.run(&["prune", "--before", "2026-11-26"]);
    assert!(report.contains("Deleted 2 calls"), "{report}");
    // Its changes are looked at, and come to nothing.
    wait_until(WAIT, "the prune's changes to be done with", || {
        desk.run(&["deliver"]);
        waiting(&desk) == 0
    });
    assert_eq!(central.taken().len(), batches);
    assert_eq!(central.calls().len(), 2);
}

#[test]
fn the_log_from_before_central_is_backfilled_and_a_backfill_cut_short_goes_on() {
    let key = DeskKey::generate().unwrap();
    let central = Central::start(&key);
    // 1,200 calls stored before the desk had [central]: three pages of at most 500.
    let desk = desk_with_calls(1200);
    let desk = desk.with_config(&central_config(&central.url(), &key));

    // Central takes the first page, then its database goes away.
    central.accept_at_most(Some(1));
    let report = desk.run(&["deliver"]);
    assert!(
        report.contains("central cannot store it now (503"),
        "{report}"
    );
    let taken = central.taken();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].calls.len(), 500);
    assert!(!taken[0].backfilled);
    assert!(
        taken[0]
            .calls
            .iter()
            .all(|c| c.revision == taken[0].calls[0].revision && c.events.len() == 2)
    );
    let line = lane(&desk);
    assert!(
        line.contains("backfill 500 of 1200 calls") && line.contains("HTTP 503"),
        "{line}"
    );

    // Back: the backfill goes on from where it stopped.
    central.accept_at_most(None);
    let report = desk.run(&["deliver"]);
    assert!(
        report.contains("Central took 700 calls in 2 batches"),
        "{report}"
    );
    assert_eq!(central_log(&central), desk_log(&desk));
    let sent: Vec<String> = central
        .taken()
        .iter()
        .flat_map(|b| b.calls.iter().map(|c| c.id.clone()))
        .collect();
    assert_eq!(sent.len(), 1200, "no call was sent twice");
    assert!(central.taken().last().unwrap().backfilled);
    let line = lane(&desk);
    assert!(line.contains("backfill done"), "{line}");
    assert!(!line.contains("failure"), "{line}");
}

#[test]
fn batches_too_large_for_central_are_made_smaller() {
    let key = DeskKey::generate().unwrap();
    let central = Central::start(&key);
    central.max_body(Some(64 * 1024));
    let desk = desk_with_calls(300).with_config(&central_config(&central.url(), &key));
    let report = desk.run(&["deliver"]);
    assert!(report.contains("Central took 300 calls"), "{report}");
    assert!(central.refused().iter().all(|&s| s == 413) && !central.refused().is_empty());
    assert!(
        central.sizes().iter().all(|&n| n <= 64 * 1024),
        "{:?}",
        central.sizes()
    );
    assert_eq!(central_log(&central), desk_log(&desk));
    // The later batches stay small.
    let refused = central.refused().len();
    assert_stored(&desk.event("incoming", "+15550004444"));
    wait_until(WAIT, "the new call", || central.calls().len() == 301);
    assert_eq!(central.refused().len(), refused);
}

#[test]
fn while_central_is_down_the_desk_keeps_its_changes_and_sends_them_later() {
    let key = DeskKey::generate().unwrap();
    let port = closed_port();
    let desk = desk_for(&format!("http://127.0.0.1:{port}/"), &key);
    // The hook stores and returns as ever.
    assert_stored(&desk.event("incoming", "+15550001111"));
    wait_until(WAIT, "an attempt", || attempts(&desk).0 > 0);
    assert_stored(&desk.event("end", "+15550001111"));
    assert!(waiting(&desk) > 0);
    let line = lane(&desk);
    assert!(
        line.contains("last failure") && line.contains("central is unreachable"),
        "{line}"
    );
    assert!(
        line.contains("no success yet") && line.contains("next try"),
        "{line}"
    );
    let report = doctor(&desk);
    assert!(report.contains("central is unreachable"), "{report}");

    // Central is back; the next worker sends everything.
    let central = Central::start_on(port, &key);
    wait_until(WAIT, "central to have the desk's log", || {
        desk.run(&["deliver"]);
        central_log(&central) == desk_log(&desk) && waiting(&desk) == 0
    });
    assert_eq!(central_log(&central)[0].2, ["incoming", "end"]);
    let line = lane(&desk);
    assert!(
        line.contains("last success") && !line.contains("failure"),
        "{line}"
    );
    central.stop();
}

/// A desk whose key central does not know, after a missed call from `number`.
fn refused_desk(number: &str) -> (Central, Desk) {
    let key = DeskKey::generate().unwrap();
    let central = Central::start(&key);
    central.set(Mode::UnknownKey);
    let desk = desk_for(&central.url(), &key);
    desk.record(T0, number, MISSED);
    (central, desk)
}

#[test]
fn a_refused_key_shows_in_outbox_and_doctor_and_loses_nothing() {
    let (central, desk) = refused_desk("+15550002222");
    wait_until(WAIT, "a refusal", || attempts(&desk).1 == Some(401));
    let line = lane(&desk);
    assert!(
        line.contains("central refused the desk key (401 unknown_key)"),
        "{line}"
    );
    let report = doctor(&desk);
    assert!(
        report.contains("the desk key was refused (revoked or wrong)")
            && report.contains("nothing is lost"),
        "{report}"
    );
    assert!(central.taken().is_empty() && central.refused().contains(&401));

    // The key is added at central: a retry sends everything the desk kept.
    central.set(Mode::Accept);
    let report = desk.run(&["outbox", "retry", "--failed"]);
    assert!(report.contains("Central is tried again now"), "{report}");
    wait_until(WAIT, "central to have the desk's log", || {
        central_log(&central) == desk_log(&desk)
    });
    assert_eq!(central_log(&central)[0].2, ["incoming", "ring", "end"]);
}

#[test]
fn a_retry_just_after_the_worker_gave_up_on_central_goes_at_once() {
    let (central, desk) = refused_desk("+15550002223");
    // The hook's worker fails as often as it tries in one run, and lingers a moment.
    wait_until(WAIT, "three refusals", || attempts(&desk).0 == 3);
    central.set(Mode::Accept);
    let report = desk.run(&["outbox", "retry", "--failed"]);
    assert!(report.contains("Central is tried again now"), "{report}");
    // Whichever worker holds the lane sends: nothing waits for the next call.
    wait_until(WAIT, "central to have the desk's log", || {
        central_log(&central) == desk_log(&desk)
    });
}

#[test]
fn doctor_warns_of_a_clock_off_centrals() {
    let key = DeskKey::generate().unwrap();
    let central = Central::start(&key);
    let desk = desk_for(&central.url(), &key);
    let report = doctor(&desk);
    assert!(!report.contains("central clock"), "{report}");
    central.clock_offset(chrono::Duration::seconds(-90));
    let report = doctor(&desk);
    assert!(
        report.contains("this computer's clock is at least")
            && report.contains("s ahead of central's"),
        "{report}"
    );
}

#[test]
fn removing_central_from_the_config_unlinks_the_desk() {
    let key = DeskKey::generate().unwrap();
    let central = Central::start(&key);
    let desk = desk_for(&central.url(), &key);
    assert_stored(&desk.event("incoming", "+15550003333"));
    wait_until(WAIT, "the link", || central.calls().len() == 1);
    let desk = desk.with_config("");
    // The next worker unlinks (once the one at work, with the config it started with, is done).
    wait_until(WAIT, "the link to go", || {
        desk.run(&["deliver"]);
        desk.count("SELECT count(*) FROM central_link") == 0
    });
    assert_stored(&desk.event("end", "+15550003333"));
    assert_eq!(waiting(&desk), 0, "nothing is queued without a link");
    assert!(!desk.run(&["outbox"]).contains("Central"));
}
