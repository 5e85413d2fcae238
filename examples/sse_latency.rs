//! A client of `callhook serve`'s live events (`GET /api/events`), for bench/serve.sh.
//!
//! sse_latency latency URL TOKEN COUNT GAP_MS HOOK...
//!     Connects one SSE client, then runs `HOOK... event incoming -- NUMBER` COUNT times as
//!     real processes (a new caller each, GAP_MS apart), and times, for each event, the frame
//!     that names its caller against the hook process's start and end (one monotonic clock,
//!     in this process). Prints one JSON object: min, median, p90, p99 (nearest rank) and max
//!     of each delay and of the hook's own time, in ms, and every delay after the hook's end.
//! sse_latency hold URL TOKEN CLIENTS
//!     Connects CLIENTS SSE clients (each reading its stream on a thread of its own), prints
//!     `connected CLIENTS` once every one has its `200` and holds them until stdin closes.
//!
//! Plain HTTP/1.1 over std's TcpStream, so the client adds no runtime of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("latency") if args.len() >= 6 => latency(
            &args[1],
            &args[2],
            args[3].parse().expect("COUNT"),
            args[4].parse().expect("GAP_MS"),
            &args[5..],
        ),
        Some("hold") if args.len() == 4 => hold(&args[1], &args[2], args[3].parse().expect("N")),
        _ => {
            eprintln!(
                "usage: sse_latency latency URL TOKEN COUNT GAP_MS HOOK... | hold URL TOKEN CLIENTS"
            );
            std::process::exit(2);
        }
    }
}

/// An open event stream, past its response headers.
struct Stream {
    reader: BufReader<TcpStream>,
    chunked: bool,
    pending: Vec<u8>,
}

impl Stream {
    fn open(url: &str, token: &str) -> Stream {
        let host = url
            .strip_prefix("http://")
            .expect("an http:// URL")
            .trim_end_matches('/');
        let mut socket = TcpStream::connect(host).expect("the server accepts");
        socket.set_nodelay(true).ok();
        write!(
            socket,
            "GET /api/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Accept: text/event-stream\r\n\r\n"
        )
        .expect("the request is sent");
        let mut reader = BufReader::new(socket);
        let mut status = String::new();
        reader.read_line(&mut status).expect("a status line");
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "GET /api/events: {status}"
        );
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header");
            if line.trim().is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        Stream {
            reader,
            chunked,
            pending: Vec::new(),
        }
    }

    /// The next line of the event stream (without its line end); `None` at its end.
    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                return Some(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Reads the next chunk (or whatever arrives) into `pending`; false at the end.
    fn fill(&mut self) -> bool {
        if !self.chunked {
            let mut buf = [0u8; 8192];
            return match self.reader.read(&mut buf) {
                Ok(0) | Err(_) => false,
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    true
                }
            };
        }
        let mut size = String::new();
        if self.reader.read_line(&mut size).unwrap_or(0) == 0 {
            return false;
        }
        let size = size.trim();
        if size.is_empty() {
            return true;
        }
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or(""), 16) else {
            return false;
        };
        if n == 0 {
            return false;
        }
        let mut chunk = vec![0u8; n + 2];
        if self.reader.read_exact(&mut chunk).is_err() {
            return false;
        }
        chunk.truncate(n);
        self.pending.extend_from_slice(&chunk);
        true
    }
}

fn number(i: usize) -> String {
    format!("+4930555{i:05}")
}

fn latency(url: &str, token: &str, count: usize, gap_ms: u64, hook: &[String]) {
    let mut stream = Stream::open(url, token);
    let (tx, rx) = mpsc::channel::<(String, Instant)>();
    std::thread::spawn(move || {
        while let Some(line) = stream.line() {
            if let Some(data) = line.strip_prefix("data:") {
                let at = Instant::now();
                // The caller's number as stored (E.164); the frame is the webhook payload.
                if let Some(start) = data.find("+4930555") {
                    let digits = &data[start..(start + 13).min(data.len())];
                    if tx.send((digits.to_string(), at)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut runs: Vec<(Instant, Instant)> = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        let status = Command::new(&hook[0])
            .args(&hook[1..])
            .args(["event", "incoming", "--", &number(i)])
            .status()
            .expect("the hook starts");
        let end = Instant::now();
        assert!(status.success(), "the hook failed: {status}");
        runs.push((start, end));
        std::thread::sleep(Duration::from_millis(gap_ms));
    }
    // The frames of the last events, if still on their way.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut received: std::collections::HashMap<String, Instant> = Default::default();
    while received.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((n, at)) => {
                received.entry(n).or_insert(at);
            }
            Err(_) => break,
        }
    }
    let ms = |d: f64| (d * 1000.0).round() / 1000.0;
    let mut after_end = Vec::new();
    let mut after_start = Vec::new();
    let mut hook = Vec::new();
    let mut each = Vec::new();
    for (i, (start, end)) in runs.iter().enumerate() {
        hook.push(end.duration_since(*start).as_secs_f64() * 1000.0);
        if let Some(at) = received.get(&number(i)) {
            // Signed: a frame can arrive before the hook process has finished exiting.
            let signed = |from: Instant| {
                if *at >= from {
                    at.duration_since(from).as_secs_f64() * 1000.0
                } else {
                    -(from.duration_since(*at).as_secs_f64() * 1000.0)
                }
            };
            after_end.push(signed(*end));
            each.push(ms(signed(*end)));
            after_start.push(signed(*start));
        }
    }
    let summary = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            // Nearest rank.
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            ms(v[rank - 1])
        };
        serde_json::json!({
            "min": at(0.0), "median": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)
        })
    };
    let out = serde_json::json!({
        "events": count,
        "received": received.len(),
        "after_hook_end_ms": summary(after_end),
        "after_hook_start_ms": summary(after_start),
        "hook_ms": summary(hook),
        "each_after_hook_end_ms": each,
    });
    println!("{out}");
}

fn hold(url: &str, token: &str, clients: usize) {
    let streams: Vec<Stream> = (0..clients).map(|_| Stream::open(url, token)).collect();
    for mut stream in streams {
        std::thread::spawn(move || while stream.line().is_some() {});
    }
    println!("connected {clients}");
    std::io::stdout().flush().ok();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
}
