//! An office's desks against one central (`examples/central.rs`), for bench/central.sh.
//!
//! desks ingest CENTRAL [--prefix P] [--seconds S] [--calls N] [--changes C]
//!     Every desk of CENTRAL whose name starts with P (default `sim-`) is a thread that makes
//!     calls (2 to 5 events each: answered, missed, busy, outgoing; numbers drawn from one pool
//!     that every desk shares, so that numbers recur across desks) and sends them to
//!     `POST /api/ingest` as a desk does, signed with its key: each batch holds the desk's next
//!     C changes (default 1, one event: a desk delivering as its calls happen; more: a desk
//!     with a backlog), each call in it as it stands after them, with all its events and a
//!     revision that grows. As fast as central answers, for S seconds (default 30) or until N
//!     calls are complete. Prints one JSON object: calls and events stored per second,
//!     batches, errors, central's receipts, and the time per batch (median, p90, p99, max).
//! desks delay CENTRAL HOOK [--prefix P] [--desks K] [--seconds S] [--every-ms G] [--wait-s W]
//!     [--trace F]
//!     K real desks (default 50, the desks named P…, default `desk-`), each a temp dir with a
//!     database and a config of its own (`[central]` url, desk, key), whose hook processes
//!     (`HOOK event …`; HOOK is callhookw, which starts the worker beside it) take a call
//!     every G ms on average (default 5000) per desk, for S seconds (default 60), while one
//!     SSE client reads central's `GET /api/events`. Prints the delay from each hook
//!     process's start, and from its end, to its event's frame at central (one monotonic
//!     clock, in this process): min, median, p90, p99, max; frames still missing W seconds
//!     (default 30) after the last hook are not counted. `--trace F` writes every event's times
//!     (wall clock, ms) to F, a JSON object a line.
//! desks catchup CENTRAL HOOK [--desk NAME] [--calls N] [--offline true] [--timeout-s T]
//!     A desk (default `catchup`) stores a day of N calls (default 600) through its real hook
//!     with `--time`, before it knows central; then its `[central]` is set and `HOOK deliver`
//!     runs, and its backfill sends the day. With `--offline true` the desk has met central
//!     first, through a gate in this process, which then refuses every connection while the
//!     day is stored: the day waits in the desk's queue of changes (its workers fail and back
//!     off), until the gate opens and `HOOK outbox retry --failed` and `HOOK deliver` run. Prints the
//!     time until central holds every call and event of it (`GET /api/desks`; given up after
//!     T seconds, default 600).
//!
//! CENTRAL is a file holding examples/central's line: `{"url", "token", "database", "desks"}`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use callhook::effects::central::batch::{Batch, CallState, EventState};
use callhook::effects::central::key::{DeskKey, KEY_HEADER};
use callhook::log::event::EventKind::{self, *};
use callhook::log::fold::{self, FoldEvent};
use serde_json::{Value, json};

/// The desks' calls window (`[calls] window`'s default), for the fold.
const WINDOW_MS: i64 = 4 * 3600 * 1000;

fn main() {
    let args = Args::parse();
    let central = Central::read(Path::new(args.positional(1, "CENTRAL")));
    let out = match args.positional(0, "a subcommand") {
        "ingest" => ingest(&central, &args),
        "delay" => delay(&central, &args),
        "catchup" => catchup(&central, &args),
        other => usage(&format!("no subcommand `{other}`")),
    };
    println!("{out}");
}

fn usage(why: &str) -> ! {
    eprintln!(
        "desks: {why}\nusage: desks ingest CENTRAL [--prefix P] [--seconds S] [--calls N] \
         [--changes C]\n       desks delay CENTRAL HOOK [--prefix P] [--desks K] [--seconds S] \
         [--every-ms G] [--wait-s W] [--trace F]\n       desks catchup CENTRAL HOOK [--desk NAME] \
         [--calls N] [--timeout-s T]"
    );
    std::process::exit(2);
}

/// Positional arguments and `--name value` options.
struct Args {
    positional: Vec<String>,
    options: HashMap<String, String>,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            positional: Vec::new(),
            options: HashMap::new(),
        };
        let mut all = std::env::args().skip(1);
        while let Some(arg) = all.next() {
            match arg.strip_prefix("--") {
                Some(name) => {
                    let value = all
                        .next()
                        .unwrap_or_else(|| usage(&format!("--{name} wants a value")));
                    args.options.insert(name.to_string(), value);
                }
                None => args.positional.push(arg),
            }
        }
        args
    }

    fn positional(&self, i: usize, what: &str) -> &str {
        self.positional
            .get(i)
            .map(String::as_str)
            .unwrap_or_else(|| usage(&format!("{what} is missing")))
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.options.get(name) {
            Some(text) => text
                .parse()
                .unwrap_or_else(|_| usage(&format!("--{name} {text}: not a valid value"))),
            None => default,
        }
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.options
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
}

/// What examples/central printed.
struct Central {
    url: String,
    token: String,
    /// Desk names and their secret keys, by name.
    desks: Vec<(String, String)>,
}

impl Central {
    fn read(path: &Path) -> Central {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| usage(&format!("{}: {e}", path.display())));
        let value: Value = serde_json::from_str(text.trim()).expect("central's JSON line");
        let text = |v: &Value| v.as_str().expect("a string").to_string();
        let mut desks: Vec<(String, String)> = value["desks"]
            .as_object()
            .expect("desks")
            .iter()
            .map(|(name, key)| (name.clone(), text(key)))
            .collect();
        desks.sort();
        Central {
            url: text(&value["url"]).trim_end_matches('/').to_string(),
            token: text(&value["token"]),
            desks,
        }
    }

    fn desks_named(&self, prefix: &str) -> Vec<(String, String)> {
        self.desks
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn client() -> reqwest::blocking::Client {
    callhook::effects::webhook::send::builder()
        .no_proxy()
        // The event stream stays open for the whole run.
        .timeout(None)
        .build()
        .expect("an HTTP client")
}

/// xorshift64*: deterministic, so that two runs make the same calls.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low).max(1) as u64) as i64
    }

    /// A number in 0..n, small ones far more often (a few callers call a lot).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0) as u64
    }
}

/// A caller from the office's pool, which every desk shares: the same numbers call several
/// desks, a few of them often.
fn pool_number(rng: &mut Rng) -> String {
    format!("+4930{:07}", rng.skewed(50_000))
}

/// The events of one call (offsets from its start), as MicroSIP fires them: 40 % missed,
/// 30 % answered, 3 % busy, 27 % outgoing; `ring` and `talk` are how long it rang and talked.
fn call_events(rng: &mut Rng, ring: i64, talk: i64) -> Vec<(i64, EventKind)> {
    let mut events = Vec::with_capacity(5);
    match rng.below(100) {
        // Missed: the caller gave up while it rang, or before it rang.
        0..=39 => {
            events.push((0, Incoming));
            if rng.below(4) > 0 {
                events.push((150, Ring));
            }
            events.push((ring, End));
        }
        40..=69 => {
            events.push((0, Incoming));
            events.push((150, Ring));
            events.push((ring, Answer));
            if rng.below(2) == 0 {
                events.push((ring + 80, Start));
            }
            events.push((ring + talk, End));
        }
        70..=72 => {
            events.push((0, Incoming));
            events.push((150, Ring));
            events.push((ring / 4 + 200, Busy));
        }
        _ => {
            events.push((0, Outgoing));
            match rng.below(10) {
                0..=6 => {
                    events.push((ring, Start));
                    events.push((ring + talk, End));
                }
                7 | 8 => events.push((ring, End)),
                _ => events.push((ring / 5 + 200, Busy)),
            }
        }
    }
    events
}

/// Nearest-rank summary of durations in ms.
fn summary(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if v.is_empty() {
            return Value::Null;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        json!((v[rank - 1] * 1000.0).round() / 1000.0)
    };
    json!({
        "min": at(0.0), "median": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)
    })
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// This process's CPU time so far (user and system), in seconds: what the simulator itself
/// takes of the machine it shares with central.
fn own_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime: the 12th and 13th fields after the name, in ticks (USER_HZ, 100 on
    // Linux).
    (ticks(11) + ticks(12)) / 100.0
}

fn now_ms() -> i64 {
    callhook::log::call::now_ms()
}

fn ms_since(from: Instant, to: Instant) -> f64 {
    // Signed: a frame can arrive before the hook process has finished exiting.
    if to >= from {
        to.duration_since(from).as_secs_f64() * 1000.0
    } else {
        -(from.duration_since(to).as_secs_f64() * 1000.0)
    }
}

// ---------------------------------------------------------------------------------------
// ingest

/// A call of a simulated desk: its events as the desk stores them.
struct SimCall {
    fold: Vec<FoldEvent>,
    events: Vec<EventState>,
}

impl SimCall {
    fn new(rng: &mut Rng, desk: &str, at: i64, boot: i64) -> SimCall {
        let number = pool_number(rng);
        let ring = rng.between(2_000, 27_000);
        let talk = 10_000 + rng.skewed(900_000) as i64;
        let mut fold = Vec::new();
        let mut events = Vec::new();
        for (offset, kind) in call_events(rng, ring, talk) {
            let at = at + offset;
            let id = fold::event_id(at);
            fold.push(FoldEvent {
                id: id.clone(),
                at,
                kind,
                number: number.clone(),
                raw: number.clone(),
            });
            events.push(EventState {
                id,
                at,
                event: kind.as_str().to_string(),
                caller: number.clone(),
                caller_bytes: None,
                caller_truncated: false,
                number: number.clone(),
                host: desk.to_uppercase(),
                os_user: "reception".into(),
                config_error: None,
                recorded_at: at + 4,
                boot_ms: Some(at - boot),
                clock_shift_ms: None,
            });
        }
        SimCall { fold, events }
    }

    fn ends_at(&self) -> i64 {
        self.fold.last().expect("an event").at
    }

    /// The call as the desk has it after its first `k` events, at `revision`.
    fn state(&self, k: usize, revision: i64) -> CallState {
        let call = fold::reduce(&self.fold[..k], WINDOW_MS);
        CallState::of(call, revision, "hook".into(), self.events[..k].to_vec())
    }
}

/// One simulated desk's changes, made as they are taken.
struct SimDesk {
    name: String,
    rng: Rng,
    clock: i64,
    boot: i64,
    revision: i64,
    call: SimCall,
    /// Events of `call` taken so far.
    taken: usize,
}

/// What a batch holds, for the counts.
struct Taken {
    calls: Vec<CallState>,
    new_events: u64,
    completed: u64,
}

impl SimDesk {
    fn new(name: &str, seed: u64) -> SimDesk {
        let mut rng = Rng::new(seed);
        // Two years back: the calls of a long run lie in the past, and out of the last 30 days
        // that the query benchmarks look at.
        let clock = now_ms() - 700 * 86_400_000 + rng.between(0, 600_000);
        let boot = clock - 3_600_000;
        let call = SimCall::new(&mut rng, name, clock, boot);
        SimDesk {
            name: name.to_string(),
            rng,
            clock,
            boot,
            revision: 0,
            call,
            taken: 0,
        }
    }

    /// The next `changes` events, each call in it as it stands after them.
    fn take(&mut self, changes: usize) -> Taken {
        let mut taken = Taken {
            calls: Vec::new(),
            new_events: 0,
            completed: 0,
        };
        for i in 0..changes {
            self.taken += 1;
            // The desk's change log counts the event's row and its call's.
            self.revision += 2;
            taken.new_events += 1;
            let done = self.taken == self.call.fold.len();
            if done || i + 1 == changes {
                taken.calls.push(self.call.state(self.taken, self.revision));
            }
            if done {
                taken.completed += 1;
                self.clock = self.call.ends_at() + self.rng.between(5_000, 120_000);
                self.call = SimCall::new(&mut self.rng, &self.name, self.clock, self.boot);
                self.taken = 0;
            }
        }
        taken
    }
}

/// A signed `POST /api/ingest` of `body`: the status and the answer.
fn post(
    client: &reqwest::blocking::Client,
    url: &str,
    key: &DeskKey,
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    let id = format!("msg_{}", uuid::Uuid::new_v4());
    let timestamp = now_ms() / 1000;
    let answer = client
        .post(format!("{url}/api/ingest"))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", key.sign(&id, timestamp, &body))
        .header(KEY_HEADER, key.public_text())
        .body(body)
        .send()
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let text = answer.text().map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[derive(Default)]
struct DeskResult {
    batches: u64,
    bytes: u64,
    calls: u64,
    events: u64,
    event_rows: u64,
    latencies: Vec<f64>,
    errors: HashMap<String, u64>,
    first_error: Option<String>,
    receipts: HashMap<String, u64>,
}

fn ingest(central: &Central, args: &Args) -> Value {
    let desks = central.desks_named(&args.text("prefix", "sim-"));
    assert!(!desks.is_empty(), "central has no desks of that prefix");
    let seconds: f64 = args.get("seconds", 30.0);
    let max_calls: u64 = args.get("calls", u64::MAX);
    let changes: usize = args.get("changes", 1);
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let load_before = load();
    let cpu_before = own_cpu_s();
    let start = Instant::now();
    let threads: Vec<_> = desks
        .iter()
        .enumerate()
        .map(|(i, (name, key))| {
            let key = DeskKey::parse(key).expect("a desk key");
            let (name, url) = (name.clone(), central.url.clone());
            let (stop, completed) = (stop.clone(), completed.clone());
            std::thread::spawn(move || {
                let client = client();
                let mut desk = SimDesk::new(&name, 0x5eed_0000 + i as u64);
                let mut result = DeskResult::default();
                while !stop.load(Ordering::Relaxed) {
                    let taken = desk.take(changes);
                    let batch = Batch {
                        desk: name.clone(),
                        sent_at: now_ms(),
                        backlog: 0,
                        backfilled: true,
                        calls: taken.calls,
                        gone: Vec::new(),
                    };
                    let rows: u64 = batch.calls.iter().map(|c| c.events.len() as u64).sum();
                    let body = serde_json::to_vec(&batch).expect("JSON");
                    let size = body.len() as u64;
                    let began = Instant::now();
                    let answer = post(&client, &url, &key, body);
                    result
                        .latencies
                        .push(began.elapsed().as_secs_f64() * 1000.0);
                    let error = match answer {
                        Ok((200, receipt)) => {
                            result.batches += 1;
                            result.bytes += size;
                            result.events += taken.new_events;
                            result.event_rows += rows;
                            result.calls += taken.completed;
                            for field in ["accepted", "stale", "refused", "gone"] {
                                *result.receipts.entry(field.into()).or_default() +=
                                    receipt[field].as_u64().unwrap_or(0);
                            }
                            let all = completed.fetch_add(taken.completed, Ordering::Relaxed);
                            if all + taken.completed >= max_calls {
                                stop.store(true, Ordering::Relaxed);
                            }
                            None
                        }
                        Ok((status, answer)) => Some((status.to_string(), answer.to_string())),
                        Err(e) => Some(("transport".to_string(), e)),
                    };
                    if let Some((kind, text)) = error {
                        *result.errors.entry(kind).or_default() += 1;
                        result.first_error.get_or_insert(text);
                    }
                }
                result
            })
        })
        .collect();
    while !stop.load(Ordering::Relaxed) && start.elapsed().as_secs_f64() < seconds {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let results: Vec<DeskResult> = threads
        .into_iter()
        .map(|t| t.join().expect("a desk thread"))
        .collect();
    let took = start.elapsed().as_secs_f64();
    let sum = |f: fn(&DeskResult) -> u64| results.iter().map(f).sum::<u64>();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let mut receipts: HashMap<String, u64> = HashMap::new();
    for r in &results {
        for (k, n) in &r.errors {
            *errors.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &r.receipts {
            *receipts.entry(k.clone()).or_default() += n;
        }
    }
    let batches = sum(|r| r.batches);
    let rate = |n: u64| (n as f64 / took * 10.0).round() / 10.0;
    json!({
        "desks": desks.len(),
        "changes_per_batch": changes,
        "seconds": (took * 100.0).round() / 100.0,
        "batches": batches,
        "batches_per_s": rate(batches),
        "calls": sum(|r| r.calls),
        "calls_per_s": rate(sum(|r| r.calls)),
        "events": sum(|r| r.events),
        "events_per_s": rate(sum(|r| r.events)),
        "event_rows_sent": sum(|r| r.event_rows),
        "bytes_per_batch": sum(|r| r.bytes).checked_div(batches).unwrap_or(0),
        "errors": errors,
        "first_error": results.iter().find_map(|r| r.first_error.clone()),
        "receipts": receipts,
        "batch_ms": summary(results.into_iter().flat_map(|r| r.latencies).collect()),
        "client_cpu_s": ((own_cpu_s() - cpu_before) * 100.0).round() / 100.0,
        "load": format!("{load_before} / {}", load()),
    })
}

// ---------------------------------------------------------------------------------------
// delay and catchup: real desks

/// A desk of its own: a temp dir with its database and config.
struct RealDesk {
    dir: tempfile::TempDir,
    hook: PathBuf,
}

impl RealDesk {
    fn new(hook: &Path) -> RealDesk {
        let desk = RealDesk {
            dir: tempfile::tempdir().expect("a temp dir"),
            hook: hook.to_path_buf(),
        };
        desk.configure("");
        desk
    }

    fn configure(&self, config: &str) {
        std::fs::write(self.dir.path().join("config.toml"), config).expect("the config");
    }

    fn link(&self, url: &str, name: &str, key: &str) {
        let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
        self.configure(&format!(
            "[central]\nurl = {}\ndesk = {}\nkey = {}\n",
            quote(url),
            quote(name),
            quote(key)
        ));
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.hook);
        command
            .env("CALLHOOK_DB", self.dir.path().join("calls.db"))
            .env("CALLHOOK_CONFIG", self.dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// One hook process: its start, end and exit code.
    fn event(&self, kind: EventKind, number: &str, time: Option<i64>) -> (Instant, Instant, i32) {
        let mut command = self.command();
        command.arg("event");
        if let Some(ms) = time {
            command.args(["--time", &ms.to_string()]);
        }
        command.args([kind.as_str(), "--", number]);
        let start = Instant::now();
        let status = command.status().expect("the hook starts");
        (start, Instant::now(), status.code().unwrap_or(-1))
    }

    /// `callhook deliver` (through the hook program, which hands it to callhook).
    fn deliver(&self) -> std::process::Child {
        let mut command = self.command();
        command.arg("deliver").stderr(Stdio::inherit());
        command.spawn().expect("callhook deliver")
    }

    /// `callhook outbox retry --failed`: the central lane made due now (and a worker started).
    fn retry(&self) {
        let status = self
            .command()
            .args(["outbox", "retry", "--failed"])
            .status()
            .expect("callhook outbox retry");
        assert!(status.success(), "callhook outbox retry: {status}");
    }

    fn count(&self, table: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.dir.path().join("calls.db")).expect("the log");
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("a count")
    }
}

/// A TCP gate in front of central: open, it forwards each connection; closed, it drops them
/// as they come (a desk's POST fails as when central is down).
struct Gate {
    url: String,
    open: Arc<AtomicBool>,
}

impl Gate {
    fn open(central_url: &str) -> Gate {
        let target = central_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("the gate's port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let open = Arc::new(AtomicBool::new(true));
        let is_open = open.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !is_open.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                };
                pipe(
                    client.try_clone().expect("a socket"),
                    server.try_clone().expect("a socket"),
                );
                pipe(server, client);
            }
        });
        Gate { url, open }
    }

    fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }
}

/// A hook process of the delay run.
struct Fired {
    key: String,
    desk: usize,
    start: Instant,
    end: Instant,
    code: i32,
}

fn delay(central: &Central, args: &Args) -> Value {
    let hook = PathBuf::from(args.positional(2, "HOOK"));
    let count: usize = args.get("desks", 50);
    let seconds: f64 = args.get("seconds", 60.0);
    let every_ms: i64 = args.get("every-ms", 5_000);
    let wait_s: u64 = args.get("wait-s", 30);
    let named = central.desks_named(&args.text("prefix", "desk-"));
    assert!(
        named.len() >= count,
        "central has {} such desks",
        named.len()
    );
    let desks: Vec<(String, RealDesk)> = named[..count]
        .iter()
        .map(|(name, key)| {
            let desk = RealDesk::new(&hook);
            desk.link(&central.url, name, key);
            (name.clone(), desk)
        })
        .collect();
    // Each desk meets central once before its calls, as a desk set up with `doctor` has.
    for (name, desk) in &desks {
        let status = desk.deliver().wait().expect("deliver");
        assert!(status.success(), "{name}: callhook deliver: {status}");
    }

    // One SSE client, on the clock the hooks are timed with: (number and event) → when.
    let (tx, frames) = mpsc::channel::<(String, Instant)>();
    let answer = client()
        .get(format!("{}/api/events", central.url))
        .bearer_auth(&central.token)
        .header("accept", "text/event-stream")
        .send()
        .expect("GET /api/events");
    assert_eq!(answer.status().as_u16(), 200, "GET /api/events");
    std::thread::spawn(move || {
        for line in BufReader::new(answer).lines() {
            let Ok(line) = line else { return };
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let at = Instant::now();
            let Ok(frame) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            let kind = frame["type"].as_str().unwrap_or("");
            let number = frame["data"]["number"].as_str().unwrap_or("");
            if tx.send((format!("{number} {kind}"), at)).is_err() {
                return;
            }
        }
    });

    let load_before = load();
    let start = Instant::now();
    let epoch_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
        * 1000.0;
    let deadline = start + Duration::from_secs_f64(seconds);
    let desks = Arc::new(desks);
    let threads: Vec<_> = (0..count)
        .map(|i| {
            let desks = desks.clone();
            std::thread::spawn(move || {
                let desk = &desks[i].1;
                let mut rng = Rng::new(0xde1a_0000 + i as u64);
                let mut fired = Vec::new();
                // Desks start apart, as calls come in at random.
                std::thread::sleep(Duration::from_millis(rng.below(every_ms as u64)));
                let mut serial = 0;
                while Instant::now() < deadline {
                    let began = Instant::now();
                    // A number of its own per call, so that each frame names its event; the
                    // call's phases a few seconds long, as a front desk's short calls.
                    serial += 1;
                    let number = format!("+49301{i:02}{serial:05}");
                    let (ring, talk) = (rng.between(300, 2_500), rng.between(500, 5_000));
                    let mut last = 0;
                    for (offset, kind) in call_events(&mut rng, ring, talk) {
                        std::thread::sleep(Duration::from_millis((offset - last) as u64));
                        last = offset;
                        let (start, end, code) = desk.event(kind, &number, None);
                        fired.push(Fired {
                            key: format!("{number} call.{}", kind.as_str()),
                            desk: i,
                            start,
                            end,
                            code,
                        });
                    }
                    let gap =
                        Duration::from_millis(rng.between(every_ms / 2, every_ms * 3 / 2) as u64);
                    if let Some(rest) = gap.checked_sub(began.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
                fired
            })
        })
        .collect();
    let fired: Vec<Fired> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a desk thread"))
        .collect();
    let ran = start.elapsed().as_secs_f64();
    let load_after = load();

    let wanted: std::collections::HashSet<&str> = fired.iter().map(|f| f.key.as_str()).collect();
    let mut received: HashMap<String, Instant> = HashMap::new();
    let until = Instant::now() + Duration::from_secs(wait_s);
    while wanted.iter().any(|k| !received.contains_key(*k)) {
        let left = until.saturating_duration_since(Instant::now());
        match frames.recv_timeout(left) {
            Ok((key, at)) => {
                received.entry(key).or_insert(at);
            }
            Err(_) => break,
        }
    }
    let (mut after_start, mut after_end, mut hook) = (Vec::new(), Vec::new(), Vec::new());
    let mut trace = String::new();
    // Wall-clock times for the trace, to set beside central's own (calls.received_at).
    let wall = |at: Instant| epoch_ms + ms_since(start, at);
    for f in &fired {
        hook.push(ms_since(f.start, f.end));
        let frame = received.get(&f.key);
        if let Some(at) = frame {
            after_start.push(ms_since(f.start, *at));
            after_end.push(ms_since(f.end, *at));
        }
        trace += &format!(
            "{}\n",
            json!({"key": f.key, "desk": f.desk, "start_ms": wall(f.start), "end_ms": wall(f.end),
                   "frame_ms": frame.map(|at| wall(*at)), "code": f.code})
        );
    }
    if let Some(path) = args.options.get("trace") {
        std::fs::write(path, trace).expect("the trace");
    }
    let calls = fired
        .iter()
        .filter(|f| f.key.ends_with("call.incoming") || f.key.ends_with("call.outgoing"))
        .count();
    // Let the workers the last hooks started finish before their desks' dirs go.
    std::thread::sleep(Duration::from_secs(3));
    json!({
        "desks": count,
        "seconds": (ran * 10.0).round() / 10.0,
        "every_ms": every_ms,
        "calls": calls,
        "events": fired.len(),
        "events_per_s": (fired.len() as f64 / ran * 10.0).round() / 10.0,
        "received": after_end.len(),
        "hooks_failed": fired.iter().filter(|f| f.code != 0).count(),
        "after_hook_start_ms": summary(after_start),
        "after_hook_end_ms": summary(after_end),
        "hook_ms": summary(hook),
        "load": format!("{load_before} / {load_after}"),
    })
}

fn catchup(central: &Central, args: &Args) -> Value {
    let hook = PathBuf::from(args.positional(2, "HOOK"));
    let name = args.text("desk", "catchup");
    let calls: usize = args.get("calls", 600);
    let key = central
        .desks
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, key)| key.clone())
        .unwrap_or_else(|| usage(&format!("central has no desk `{name}`")));
    let desk = RealDesk::new(&hook);
    let offline: bool = args.get("offline", false);
    // Offline: the desk meets central through the gate, which then closes for the day.
    let gate = offline.then(|| {
        let gate = Gate::open(&central.url);
        desk.link(&gate.url, &name, &key);
        let status = desk.deliver().wait().expect("deliver");
        assert!(status.success(), "callhook deliver: {status}");
        gate.set_open(false);
        gate
    });

    // Yesterday's office hours (UTC), a call a minute on average; every event in time order,
    // as MicroSIP fires them, however calls overlap.
    let mut rng = Rng::new(0xca7c_0000);
    let day = (now_ms() / 86_400_000 - 1) * 86_400_000 + 8 * 3_600_000;
    let mut events: Vec<(i64, EventKind, String)> = Vec::new();
    for _ in 0..calls {
        let at = day + rng.between(0, 10 * 3_600_000);
        let number = pool_number(&mut rng);
        let (ring, talk) = (
            rng.between(2_000, 27_000),
            10_000 + rng.skewed(900_000) as i64,
        );
        for (offset, kind) in call_events(&mut rng, ring, talk) {
            events.push((at + offset, kind, number.clone()));
        }
    }
    events.sort_by_key(|e| e.0);
    let stored_at = Instant::now();
    let mut failed = 0;
    for (at, kind, number) in &events {
        let (_, _, code) = desk.event(*kind, number, Some(*at));
        failed += (code != 0) as usize;
    }
    let store_s = stored_at.elapsed().as_secs_f64();
    let (desk_calls, desk_events) = (desk.count("calls"), desk.count("events"));
    let queued = desk.count("central_changes");

    // Central comes back: the desk joins it (or can reach it again) and delivers.
    let start = Instant::now();
    match &gate {
        Some(gate) => {
            gate.set_open(true);
            desk.retry();
        }
        None => desk.link(&central.url, &name, &key),
    }
    let http = client();
    let status_of = || -> Value {
        let answer = http
            .get(format!("{}/api/desks", central.url))
            .bearer_auth(&central.token)
            .send()
            .and_then(|a| a.text())
            .map(|text| serde_json::from_str::<Value>(&text).unwrap_or(Value::Null));
        let Ok(answer) = answer else {
            return Value::Null;
        };
        answer["desks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["name"] == name.as_str() && d["revoked_at"].is_null())
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut deliver = desk.deliver();
    let mut exited: Option<f64> = None;
    let mut all: Option<f64> = None;
    let give_up = start + Duration::from_secs(args.get("timeout-s", 600));
    while (all.is_none() || exited.is_none()) && Instant::now() < give_up {
        if exited.is_none() && deliver.try_wait().expect("deliver").is_some() {
            exited = Some(start.elapsed().as_secs_f64());
        }
        if all.is_none() {
            let held = status_of();
            if held["calls"].as_i64() >= Some(desk_calls)
                && held["events"].as_i64() >= Some(desk_events)
            {
                all = Some(start.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // A no-op for a worker that has exited; one still running is stopped.
    let _ = deliver.kill();
    let _ = deliver.wait();
    let round = |s: Option<f64>| s.map(|s| (s * 1000.0).round() / 1000.0);
    json!({
        "desk": name,
        "calls": desk_calls,
        "events": desk_events,
        "stored_with": "callhookw event --time, one process per event",
        "offline": offline,
        "queued_changes": gate.as_ref().map(|_| queued),
        "store_s": (store_s * 10.0).round() / 10.0,
        "hooks_failed": failed,
        "central_has_everything_s": round(all),
        "events_per_s": all.map(|s| (desk_events as f64 / s).round()),
        "deliver_exited_s": round(exited),
        "central_desk": status_of(),
    })
}
