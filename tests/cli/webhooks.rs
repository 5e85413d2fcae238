//! Webhooks, delivered by the detached worker to a real HTTP server on 127.0.0.1.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::server::{Reply, Server, closed_port};
use crate::support::*;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const WAIT: Duration = Duration::from_secs(30);

/// A desk whose config sends webhooks to `url`; `extra` goes into the `[[webhook]]` table.
fn desk_with_webhook(url: &str, extra: &str) -> Desk {
    Desk::new().with_config(&format!(
        "[outbox]\nretries = [\"200ms\", \"200ms\", \"200ms\"]\nstay = \"20s\"\n\n\
         [[webhook]]\nname = \"crm\"\nurl = {}\nsecret = {}\n{extra}\n",
        toml_str(url),
        toml_str(SECRET)
    ))
}

#[test]
fn webhooks_are_signed_and_carry_the_call() {
    let server = Server::ok();
    let desk = desk_with_webhook(
        &server.url("/hooks/calls"),
        "headers = { Authorization = \"Bearer t0k\" }",
    );
    assert_stored(&desk.event("incoming", "+15551230001"));
    assert_stored(&desk.event("end", "+15551230001"));
    let got = server.wait_for(2, WAIT);
    let call = &desk.calls()[0];
    for (request, event) in got.iter().zip(["incoming", "end"]) {
        assert_eq!(request.path, "/hooks/calls");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some("Bearer t0k"));
        assert!(request.signature_is_valid(SECRET), "{request:?}");
        let body = request.json();
        assert_eq!(body["type"], format!("call.{event}"));
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        let data = &body["data"];
        assert_eq!(data["id"], call["id"]);
        assert_eq!(data["event"], event);
        assert_eq!(data["number"], "+15551230001");
        assert_eq!(data["direction"], "in");
        assert!(data["host"].as_str().is_some_and(|h| !h.is_empty()));
        assert!(data.get("user").is_some());
        for key in [
            "raw",
            "name",
            "started_at",
            "ringing_at",
            "answered_at",
            "ended_at",
            "ring_seconds",
            "talk_seconds",
        ] {
            assert!(data.get(key).is_some(), "{key} missing from {data}");
        }
    }
    assert_eq!(got[0].json()["data"]["status"], "in-progress");
    assert_eq!(got[1].json()["data"]["status"], "missed");
    assert_ne!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    let outbox = desk.outbox();
    assert!(
        outbox
            .iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1),
        "{outbox:?}"
    );
}

#[test]
fn only_the_chosen_events_are_sent() {
    let server = Server::ok();
    let desk = desk_with_webhook(&server.url("/"), "events = [\"end\", \"busy\"]");
    for event in ["incoming", "ring", "answer", "start", "end"] {
        assert_stored(&desk.event(event, "42"));
    }
    let got = server.wait_for(1, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.received().len(), 1);
    assert_eq!(got[0].json()["type"], "call.end");
    assert_eq!(got[0].json()["data"]["status"], "answered");
}

#[test]
fn each_endpoint_gets_events_in_order_across_overlapping_calls() {
    // Every fourth request fails the first time: retries must not reorder anything.
    let server = Server::start(|n, _| Reply::status(if n % 4 == 1 { 503 } else { 200 }));
    let desk = desk_with_webhook(&server.url("/"), "");
    // 100 calls at once from 10 lines: each line takes 10 calls and runs their events in
    // turn (as MicroSIP waits for each of its hooks), so every call overlaps dozens of others.
    let lines: Vec<_> = (0..10)
        .map(|line| {
            let db = desk.db.clone();
            let config = desk.config.clone();
            let home = desk.path("home");
            std::thread::spawn(move || {
                for event in ["incoming", "ring", "end"] {
                    for call in 0..10 {
                        let out = std::process::Command::new(BIN)
                            .env("CALLHOOK_DB", &db)
                            .env("CALLHOOK_CONFIG", &config)
                            .env("HOME", &home)
                            .args(["event", event, "--", &format!("+1555{line}{call:03}")])
                            .output()
                            .unwrap();
                        assert_success(&out, "hook");
                    }
                }
            })
        })
        .collect();
    for line in lines {
        line.join().unwrap();
    }
    wait_until(Duration::from_secs(60), "all deliveries", || {
        desk.outbox().iter().all(|d| d["status"] == "delivered")
    });
    let got = server.received();
    // Each message was accepted once (the 503s were tried again), in event order: counted
    // by the accepted requests, so that a retry sent after later events would show.
    let accepted: Vec<_> = got
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 4 != 1)
        .map(|(_, request)| request)
        .collect();
    let ids: HashSet<_> = accepted
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!((accepted.len(), ids.len()), (300, 300));
    let mut per_call: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for body in accepted.iter().map(|r| r.json()) {
        per_call
            .entry(body["data"]["id"].as_str().unwrap().to_string())
            .or_default()
            .push(body["type"].as_str().unwrap().to_string());
    }
    assert_eq!(per_call.len(), 100);
    for types in per_call.values() {
        assert_eq!(types, &["call.incoming", "call.ring", "call.end"]);
    }
}

#[test]
fn failures_are_retried_with_the_same_id_and_body() {
    // 500, then no answer in time, then 200.
    let server = Server::start(|n, _| match n {
        0 => Reply::status(500),
        1 => Reply::status(200).after(Duration::from_secs(3)),
        _ => Reply::status(200),
    });
    let desk = desk_with_webhook(&server.url("/"), "timeout = \"1s\"");
    assert_stored(&desk.event("incoming", "777"));
    let got = server.wait_for(3, WAIT);
    wait_until(WAIT, "delivery", || {
        desk.outbox()[0]["status"] == "delivered"
    });
    let ids: HashSet<_> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    let bodies: HashSet<_> = got.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(
        (ids.len(), bodies.len()),
        (1, 1),
        "retries are byte-identical"
    );
    assert!(got.iter().all(|r| r.signature_is_valid(SECRET)));
    let row = &desk.outbox()[0];
    assert_eq!(row["attempts"], 3);
    assert_eq!(row["last_status"], 200);
}

#[test]
fn an_unreachable_endpoint_fails_after_the_schedule_and_can_be_retried() {
    let port = closed_port();
    let desk = desk_with_webhook(&format!("http://127.0.0.1:{port}/hook"), "");
    assert_stored(&desk.event("incoming", "888"));
    wait_until(WAIT, "the delivery to fail", || {
        desk.outbox()[0]["status"] == "failed"
    });
    let row = &desk.outbox()[0];
    assert_eq!(
        row["attempts"], 4,
        "once, then the 3 retries of the schedule"
    );
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{row}"
    );
    let failed = desk.run(&["outbox", "--status", "failed"]);
    assert!(
        failed.contains("failed") && failed.contains("crm"),
        "{failed}"
    );

    // The endpoint comes up; the admin queues the failed delivery again.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = vec![0; 65536];
        let n = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request[..n]).into_owned()
    });
    let report = desk.run(&["outbox", "retry", "--failed"]);
    assert!(report.contains("Queued 1"), "{report}");
    let request = server.join().unwrap();
    assert!(request.contains("webhook-id: msg_"), "{request}");
    wait_until(WAIT, "the retried delivery", || {
        desk.outbox()[0]["status"] == "delivered"
    });
}

#[test]
fn gone_stops_the_endpoint() {
    let server = Server::start(|_, _| Reply::status(410));
    let desk = desk_with_webhook(&server.url("/"), "");
    assert_stored(&desk.event("incoming", "1"));
    server.wait_for(1, WAIT);
    wait_until(WAIT, "the endpoint to be stopped", || {
        desk.outbox().iter().all(|d| d["status"] == "stopped")
    });
    let rows = desk.outbox();
    assert!(
        rows[0]["last_error"].as_str().unwrap().contains("410"),
        "{rows:?}"
    );
    // Later events for it are kept, stopped too, until the admin retries them.
    assert_stored(&desk.event("end", "1"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.received().len(), 1);
    let rows = desk.outbox();
    assert_eq!(
        (rows.len(), rows[1]["status"].as_str()),
        (2, Some("stopped"))
    );
}

#[test]
fn gone_stops_the_queue_and_a_retry_resumes_the_endpoint() {
    // The first request gets 410 after a moment, while the call's later events queue up.
    let server = Server::start(|n, _| match n {
        0 => Reply::status(410).after(Duration::from_millis(700)),
        _ => Reply::status(200),
    });
    let desk = desk_with_webhook(&server.url("/"), "");
    for event in ["incoming", "ring", "end"] {
        assert_stored(&desk.event(event, "9"));
    }
    wait_until(WAIT, "the endpoint to be stopped", || {
        desk.outbox().iter().all(|d| d["status"] == "stopped")
    });
    assert_eq!(server.received().len(), 1, "nothing more after the 410");
    let rows = desk.outbox();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["attempts"], 0, "queued ones were never sent");

    // Retrying one of them resumes the whole endpoint, in order.
    let middle = rows[1]["id"].to_string();
    let report = desk.run(&["outbox", "retry", &middle]);
    assert!(report.contains("Queued 3"), "{report}");
    wait_until(WAIT, "the retried deliveries", || {
        desk.outbox().iter().all(|d| d["status"] == "delivered")
    });
    let types: Vec<_> = server.received()[1..]
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["call.incoming", "call.ring", "call.end"]);
    assert_stored(&desk.event("incoming", "10"));
    wait_until(WAIT, "a new event to be sent", || {
        server.received().len() == 5
    });
}

#[test]
fn redirects_are_not_followed() {
    let server = Server::start(|n, _| match n {
        0 => Reply::status(302).header("Location", "/elsewhere"),
        _ => Reply::status(204),
    });
    let desk = desk_with_webhook(&server.url("/hook"), "");
    assert_stored(&desk.event("incoming", "302"));
    wait_until(WAIT, "the delivery", || {
        desk.outbox()[0]["status"] == "delivered"
    });
    let got = server.received();
    assert!(got.iter().all(|r| r.path == "/hook"), "{got:?}");
    let row = &desk.outbox()[0];
    assert_eq!(row["attempts"], 2, "the redirect counted as a failure");
    let show = desk.run(&["outbox", "--format", "json"]);
    assert!(show.contains("\"last_status\": 204"), "{show}");
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::start(|n, _| match n {
        0 => Reply::status(429).header("Retry-After", "2"),
        _ => Reply::status(200),
    });
    let desk = desk_with_webhook(&server.url("/"), "");
    assert_stored(&desk.event("incoming", "5"));
    let got = server.wait_for(2, WAIT);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}, not 2 s"
    );
}

#[cfg(unix)]
fn kill(pid: u32) {
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
}

#[cfg(windows)]
fn kill(pid: u32) {
    std::process::Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .output()
        .unwrap();
}

#[test]
fn a_worker_killed_mid_delivery_loses_nothing() {
    let server = Server::start(|n, _| match n {
        0 => Reply::status(200).after(Duration::from_secs(60)),
        _ => Reply::status(200),
    });
    let desk = desk_with_webhook(&server.url("/"), "timeout = \"2s\"");
    assert_stored(&desk.event("incoming", "31337"));
    let first = server.wait_for(1, WAIT);
    let holder: String = desk
        .conn()
        .query_row(
            "SELECT holder FROM worker_leases WHERE lane = 'webhook'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    kill(holder.split('@').next().unwrap().parse().unwrap());
    assert_eq!(desk.outbox()[0]["status"], "pending");
    // Once the dead worker's lease lapses (its request's timeout and a margin), the next
    // worker delivers it again.
    wait_until(WAIT, "the lease to lapse", || {
        desk.run(&["deliver"]);
        server.received().len() >= 2
    });
    let got = server.received();
    assert_eq!(got[1].header("webhook-id"), first[0].header("webhook-id"));
    assert_eq!(got[1].body, first[0].body);
    wait_until(WAIT, "delivery", || {
        desk.outbox()[0]["status"] == "delivered"
    });
}

#[test]
fn two_workers_racing_deliver_each_message_once() {
    let server = Server::ok();
    let desk = desk_with_webhook(&server.url("/"), "");
    assert_stored(&desk.event("incoming", "0"));
    server.wait_for(1, WAIT);
    wait_until(WAIT, "the first worker to finish", || {
        desk.count("SELECT count(*) FROM worker_leases") == 0
    });
    desk.hold_leases();
    for i in 1..=20 {
        assert_stored(&desk.event("incoming", &i.to_string()));
    }
    assert_eq!(server.received().len(), 1, "held leases keep workers away");
    desk.release_leases();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            desk.command()
                .arg("deliver")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for worker in workers {
        assert_success(&worker.wait_with_output().unwrap(), "deliver");
    }
    let got = server.wait_for(21, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let ids: HashSet<_> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(
        (server.received().len(), ids.len()),
        (21, 21),
        "each message exactly once"
    );
}

#[test]
fn the_hook_does_not_wait_for_a_hanging_endpoint() {
    let server = Server::start(|_, _| Reply::status(200).after(Duration::from_secs(20)));
    let desk = desk_with_webhook(&server.url("/"), "timeout = \"30s\"");
    for event in ["incoming", "ring", "answer", "start", "end"] {
        let started = Instant::now();
        assert_stored(&desk.event(event, "+4930111"));
        // Far below the endpoint's 20 s: the hook never waits for it (its real latency is
        // measured by bench/effects.sh).
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{event} took {took:?}");
        if event == "incoming" {
            server.wait_for(1, WAIT);
        }
    }
    assert_eq!(server.answered(), 0, "the endpoint is still hanging");
    assert_eq!(desk.calls()[0]["status"], "answered");
}

#[test]
fn popups_do_not_wait_behind_a_hanging_webhook() {
    let server = Server::start(|_, _| Reply::status(200).after(Duration::from_secs(20)));
    let desk = desk_with_webhook(&server.url("/"), "timeout = \"30s\"");
    let record = desk.path("tmp/popups.jsonl");
    let config = std::fs::read_to_string(&desk.config).unwrap();
    std::fs::write(
        &desk.config,
        format!(
            "[popup]\nurl = \"https://crm.example.com/?n={{number}}\"\nopener = [{}, {}]\n\n{config}",
            toml_str(example("recorder").to_str().unwrap()),
            toml_str(record.to_str().unwrap())
        ),
    )
    .unwrap();
    assert_stored(&desk.event("incoming", "1001"));
    server.wait_for(1, WAIT);
    // The worker is now stuck in the webhook's request; a second call rings meanwhile.
    assert_stored(&desk.event("incoming", "1002"));
    wait_until(Duration::from_secs(10), "the second popup", || {
        json_lines(&record).len() == 2
    });
    assert_eq!(server.answered(), 0, "the webhook is still hanging");
}

#[test]
fn webhook_test_sends_a_signed_sample() {
    let server = Server::ok();
    let desk = desk_with_webhook(&server.url("/t"), "");
    let report = desk.run(&["webhook", "test"]);
    assert!(
        report.contains("crm") && report.contains("delivered (HTTP 204"),
        "{report}"
    );
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].signature_is_valid(SECRET));
    assert_eq!(got[0].json()["type"], "call.test");
    let out = desk
        .command()
        .args(["webhook", "test", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no webhook `nope`"));
}

#[test]
fn webhook_config_errors_name_the_key() {
    let desk = Desk::new().with_config(
        "[[webhook]]\nurl = \"https://a.example.com/\"\n\n[[webhook]]\nurl = \"https://b.example.com/\"\nsecret = \"whsec_%%%\"\n",
    );
    let out = desk.command().arg("outbox").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 6") && err.contains("webhook[1].secret"),
        "{err}"
    );
}

/// An endpoint that answers with a gigabyte, or with a body that never ends, must not take the
/// worker's memory or time: on Linux the worker runs under an address-space limit, as a small
/// machine would have it (its peak memory is measured by bench/effects.sh).
#[test]
fn a_hostile_endpoint_cannot_exhaust_the_worker() {
    use crate::server::Body;
    let server = Server::start(|n, _| match n {
        0 => Reply::status(200).body(Body::Huge(1 << 30)),
        _ => Reply::status(500).body(Body::Endless),
    });
    let desk = desk_with_webhook(&server.url("/"), "timeout = \"20s\"");
    desk.hold_leases();
    assert_stored(&desk.event("incoming", "+4930111"));
    assert_stored(&desk.event("end", "+4930111"));
    desk.release_leases();
    let mut deliver = desk.command();
    deliver.arg("deliver").env("MALLOC_ARENA_MAX", "2");
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit only changes the limits of the child, between fork and exec.
        unsafe {
            deliver.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 512 << 20,
                    rlim_max: 512 << 20,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let started = Instant::now();
    let out = output(&mut deliver);
    assert_success(&out, "deliver under a 512 MiB limit");
    // Far below the 20 s timeout: each answer is read only so far.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let rows = desk.outbox();
    assert_eq!(rows[0]["status"], "delivered", "{rows:?}");
    assert_eq!(rows[1]["status"], "failed", "{rows:?}");
    assert_eq!(rows[1]["attempts"], 4);
    let error = rows[1]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("HTTP 500") && error.len() < 1000,
        "{error}"
    );
}

#[test]
fn an_attempt_that_kills_the_worker_still_counts() {
    // Each request ends its worker (as running out of memory would), and is never answered.
    let desk = desk_with_webhook("http://127.0.0.1:1/", "timeout = \"30s\"");
    let db = desk.db.clone();
    let server = Server::start(move |_, _| {
        let holder: String = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT holder FROM worker_leases WHERE lane = 'webhook'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        kill(holder.split('@').next().unwrap().parse().unwrap());
        Reply::status(200).after(Duration::from_secs(120))
    });
    let config = std::fs::read_to_string(&desk.config)
        .unwrap()
        .replace("http://127.0.0.1:1/", &server.url("/"));
    std::fs::write(&desk.config, config).unwrap();
    desk.hold_leases();
    assert_stored(&desk.event("incoming", "+4930111"));
    let mut rounds = 0;
    loop {
        // As if the dead worker's lease had lapsed.
        desk.release_leases();
        let _ = output(desk.command().arg("deliver"));
        let row = desk.outbox().remove(0);
        if row["status"] != "pending" {
            assert_eq!(row["status"], "failed", "{row}");
            assert_eq!(row["attempts"], 4, "once, then the 3 retries: {row}");
            assert!(
                row["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("the worker stopped during the last attempt"),
                "{row}"
            );
            break;
        }
        assert_eq!(
            row["attempts"],
            rounds + 1,
            "counted before it was made: {row}"
        );
        assert!(
            row["last_error"]
                .as_str()
                .unwrap()
                .contains("recorded no outcome"),
            "{row}"
        );
        rounds += 1;
        assert!(rounds <= 4, "tried again and again: {row}");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(server.received().len(), 4);
}

#[test]
fn webhook_test_shows_the_answer_inert() {
    use crate::server::Body;
    let hostile = "\x1b[2J\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07 \u{202e}gnp.exe";
    let server = Server::start(move |_, _| Reply::status(500).body(Body::Text(hostile.into())));
    let desk = desk_with_webhook(&server.url("/t"), "");
    let out = desk.command().args(["webhook", "test"]).output().unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("HTTP 500"), "{stdout}");
    assert!(
        !stdout.contains(['\x1b', '\x07', '\u{202e}']),
        "an escape reached the terminal: {stdout:?}"
    );
    assert!(stdout.contains("\\e[2J"), "{stdout}");
}

#[test]
fn a_broken_config_still_delivers_what_the_hook_queued() {
    // The hook stores with the config's sound keys (exit 3), and its worker delivers.
    let server = Server::ok();
    let desk = desk_with_webhook(&server.url("/"), "");
    let config = std::fs::read_to_string(&desk.config).unwrap();
    std::fs::write(&desk.config, format!("[calls]\nwindo = \"4h\"\n\n{config}")).unwrap();
    let out = desk.event("incoming", "+4930111");
    assert_eq!(out.status.code(), Some(callhook::EXIT_CONFIG as i32));
    let got = server.wait_for(1, WAIT);
    assert_eq!(got[0].json()["type"], "call.incoming");
}
