//! Stands in for a browser in tests and benchmarks: appends one JSON line to the file named by
//! its first argument, with the time it started and the rest of its arguments.
//!
//! recorder FILE ARGS...   ->   {"at": <Unix ms>, "args": ["https://…"]}

use std::io::Write;

fn main() {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut args = std::env::args_os().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: recorder FILE ARGS...");
        std::process::exit(2);
    };
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let mut line = serde_json::json!({ "at": at, "args": args }).to_string();
    line.push('\n');
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("the record file opens");
    out.write_all(line.as_bytes())
        .expect("the record is written");
}
