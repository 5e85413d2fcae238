//! `callhook serve`'s API against the real server process: the same answers as the CLI, paging,
//! who may ask, live events that survive a restart, many clients, and MicroSIP control.

use std::time::Duration;

use serde_json::{Value, json};

use crate::served::client;
use crate::support::{Desk, MISSED, T0, json_lines, toml_str};

const ANSWERED: &[(i64, &str)] = &[(0, "incoming"), (2_000, "answer"), (60_000, "end")];
const CALLED: &[(i64, &str)] = &[(0, "outgoing"), (20_000, "end")];
const HOUR: i64 = 3_600_000;

/// A day of traffic: two missed callers (one called back in vain), an answered call, a
/// hostile caller.
fn busy_desk() -> Desk {
    let desk = Desk::new();
    desk.record(T0, "+15551230001", MISSED)
        .record(T0 + HOUR, "+15551230002", ANSWERED)
        .record(T0 + 2 * HOUR, "<img src=x onerror=alert(1)>", MISSED)
        .record(T0 + 3 * HOUR, "+15551230003", MISSED)
        .record(T0 + 4 * HOUR, "+15551230003", CALLED);
    desk
}

#[test]
fn the_api_answers_what_the_cli_prints() {
    let desk = busy_desk();
    let served = desk.serve();

    let calls = served.ok("/api/calls?limit=1000");
    assert_eq!(calls["calls"], json!(desk.json(&["calls", "--all"])));
    assert_eq!(calls["next"], Value::Null);

    let filtered = served.ok("/api/calls?status=missed&direction=in&number=5551230003");
    let cli = desk.json(&[
        "calls",
        "--status",
        "missed",
        "--direction",
        "in",
        "--number",
        "5551230003",
    ]);
    assert_eq!(cli.len(), 1);
    assert_eq!(filtered["calls"], json!(cli));

    let id = calls["calls"][0]["id"].as_str().unwrap();
    let show: Value = serde_json::from_str(&desk.run(&["show", id, "--format", "json"])).unwrap();
    assert_eq!(served.ok(&format!("/api/calls/{id}")), show);

    assert_eq!(
        served.ok("/api/missed?limit=1000")["calls"],
        json!(desk.json(&["missed", "--all"]))
    );
    let unreturned = served.ok("/api/missed?unreturned");
    assert_eq!(
        unreturned["unreturned"],
        json!(desk.json(&["missed", "--unreturned"]))
    );
    // The caller called back in vain counts one try.
    let rows = unreturned["unreturned"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{unreturned}");
    assert_eq!(rows[0]["number"], "+15551230003");
    assert_eq!(rows[0]["callbacks"], 1);
    assert_eq!(rows[2]["number"], "+15551230001");
    assert_eq!(rows[2]["callbacks"], 0);

    let stats: Value =
        serde_json::from_str(&desk.run(&["stats", "--by", "hour", "--format", "json"])).unwrap();
    assert_eq!(served.ok("/api/stats?by=hour"), stats);
    assert_eq!(
        served.ok("/api/outbox")["deliveries"],
        json!(desk.json(&["outbox"]))
    );

    let csv = served
        .http
        .get(format!("{}/api/calls?format=csv&limit=1000", served.url))
        .bearer_auth(&served.token)
        .send()
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.text().unwrap(),
        desk.run(&["calls", "--all", "--format", "csv"])
    );
}

#[test]
fn pages_visit_every_call_once_in_order() {
    let desk = Desk::new();
    for i in 0..7 {
        // Two calls start in the same millisecond: the cursor must keep them apart.
        let at = T0 + (i / 2) * HOUR;
        desk.record(at, &format!("+1555000000{i}"), MISSED);
    }
    let served = desk.serve();
    let mut seen = Vec::new();
    let mut path = "/api/calls?limit=3&direction=in".to_string();
    let mut pages = 0;
    loop {
        let page = served.ok(&path);
        pages += 1;
        seen.extend(page["calls"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => path = format!("/api/calls?limit=3&direction=in&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(json!(seen), json!(desk.json(&["calls", "--all"])));
    let (status, body) = served.get("/api/calls?cursor=nonsense");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
}

#[test]
fn nobody_without_the_token_or_a_session_gets_in() {
    let desk = busy_desk();
    let served = desk.serve();
    let http = client();
    let url = |path: &str| format!("{}{path}", served.url);

    let none = http.get(url("/api/calls")).send().unwrap();
    assert_eq!(none.status().as_u16(), 401);
    let body: Value = serde_json::from_str(&none.text().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let wrong = http
        .get(url("/api/calls"))
        .bearer_auth("chk_guess")
        .send()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    // DNS rebinding: a page of evil.example whose name points at 127.0.0.1.
    let port = served.url.rsplit(':').next().unwrap();
    let rebound = http
        .get(url("/api/calls"))
        .bearer_auth(&served.token)
        .header("Host", format!("evil.example:{port}"))
        .send()
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 421);
    // localhost is this server too.
    let local = http
        .get(url("/api/health"))
        .bearer_auth(&served.token)
        .header("Host", format!("localhost:{port}"))
        .send()
        .unwrap();
    assert_eq!(local.status().as_u16(), 200);

    // A cross-site POST is refused, token or not.
    let cross = http
        .post(url("/api/dial"))
        .bearer_auth(&served.token)
        .header("Origin", "http://evil.example")
        .header("Content-Type", "application/json")
        .body(serde_json::to_string(&json!({"number": "123"})).unwrap())
        .send()
        .unwrap();
    assert_eq!(cross.status().as_u16(), 403);

    // The dashboard's login link works once; its session may read, and may post only from
    // the dashboard's own origin.
    let link = desk.run(&["dashboard", "--print"]).trim().to_string();
    assert!(
        link.starts_with(&format!("{}/login?code=", served.url)),
        "{link}"
    );
    let login = http.get(&link).send().unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    assert_eq!(http.get(&link).send().unwrap().status().as_u16(), 401);
    let read = http
        .get(url("/api/missed?unreturned"))
        .header("Cookie", &session)
        .send()
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    let forged = http
        .post(url("/api/outbox/1/retry"))
        .header("Cookie", &session)
        .send()
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let own = http
        .post(url("/api/hangup"))
        .header("Cookie", &session)
        .header("Origin", &served.url)
        .header("Content-Type", "application/json")
        .body(serde_json::to_string(&json!({})).unwrap())
        .send()
        .unwrap();
    assert_ne!(own.status().as_u16(), 403);
    // A session cannot mint login links: that takes the token.
    let mint = http
        .post(url("/api/login-links"))
        .header("Cookie", &session)
        .header("Origin", &served.url)
        .send()
        .unwrap();
    assert_eq!(mint.status().as_u16(), 403);

    // Guessing is cut short.
    for _ in 0..10 {
        http.get(url("/login?code=guess")).send().unwrap();
    }
    let limited = http
        .get(url("/api/health"))
        .bearer_auth(&served.token)
        .send()
        .unwrap();
    assert_eq!(limited.status().as_u16(), 429);
}

#[test]
fn requests_are_checked_and_bounded() {
    let desk = busy_desk();
    let served = desk.serve();
    for (path, code) in [
        ("/api/calls?colour=red", "unknown_parameter"),
        ("/api/calls?since=someday", "invalid_parameter"),
        ("/api/calls?limit=0", "invalid_parameter"),
        ("/api/calls?status=lost", "invalid_parameter"),
        ("/api/missed?status=answered", "invalid_parameter"),
        ("/api/stats?by=year", "invalid_parameter"),
    ] {
        let (status, body) = served.get(path);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{path}"
        );
    }
    let (status, body) = served.get("/api/calls/01a00000-0000-7000-8000-000000000000");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = served.get("/api/nothing");
    assert_eq!(status, 404);
    // axum's own refusals come as the API's JSON errors too.
    let (status, body) = served.post("/api/outbox/abc/retry", &json!({}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = served.get("/api/dial");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, body) = served.post("/api/hangup", &json!({"which": 5}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let huge = json!({"number": "1".repeat(100_000)});
    let (status, _) = served.post("/api/dial", &huge);
    assert_eq!(status, 413);
}

#[test]
fn live_events_resume_after_a_restart_without_loss_or_repeats() {
    let desk = Desk::new();
    let served = desk.serve();
    let live = served.events(None);
    desk.event("incoming", "+15551230001");
    desk.event("end", "+15551230001");
    let first = live.take(2);
    assert_eq!(first[0].1["type"], "call.incoming");
    assert_eq!(first[1].1["type"], "call.end");
    assert_eq!(first[0].1["data"]["number"], "+15551230001");
    assert_eq!(first[1].1["data"]["status"], "missed");
    let last_seen = first[1].0.clone();
    served.stop();

    // Calls go on while the server is down.
    desk.event("incoming", "+15551230002");
    desk.event("answer", "+15551230002");
    desk.event("end", "+15551230002");
    let served = desk.serve();
    let resumed = served.events(Some(&last_seen));
    let missed = resumed.take(3);
    let types: Vec<&str> = missed
        .iter()
        .map(|(_, p)| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["call.incoming", "call.answer", "call.end"]);
    assert!(
        missed
            .iter()
            .all(|(_, p)| p["data"]["number"] == "+15551230002")
    );
    assert_eq!(resumed.more_within(Duration::from_millis(500)), None);
    // Then live again, once each.
    desk.event("outgoing", "+15551230003");
    let next = resumed.take(1);
    assert_eq!(next[0].1["type"], "call.outgoing");
    assert_eq!(resumed.more_within(Duration::from_millis(500)), None);
    // Each id is the stored event's.
    let ids: Vec<String> = desk
        .conn()
        .prepare("SELECT id FROM events WHERE number = '+15551230002' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let sent: Vec<String> = missed.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(sent, ids);
}

#[test]
fn a_hundred_clients_each_get_every_event() {
    let desk = Desk::new();
    let served = desk.serve();
    let clients: Vec<_> = (0..100).map(|_| served.events(None)).collect();
    desk.event("incoming", "+15551230001");
    desk.event("answer", "+15551230001");
    desk.event("end", "+15551230001");
    for client in &clients {
        let got: Vec<String> = client
            .take(3)
            .iter()
            .map(|(_, p)| p["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, ["call.incoming", "call.answer", "call.end"]);
    }
}

#[test]
fn control_sends_only_dialable_numbers() {
    let _one = crate::control::one_microsip();
    let desk = Desk::new();
    let record = desk.path("tmp/dialled.jsonl");
    let recorder = crate::support::example("recorder");
    let desk = desk.with_config(&format!(
        "[microsip]\nprogram = [{}, {}]\n",
        toml_str(recorder.to_str().unwrap()),
        toml_str(record.to_str().unwrap())
    ));
    let served = desk.serve();
    for hostile in [
        "123 /account:1 /password:x",
        "/hangupall",
        "msip:answer",
        "1 hello",
        "%2B49",
        "12\n34",
    ] {
        let (status, body) = served.post("/api/dial", &json!({"number": hostile}));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_number")),
            "{hostile:?}"
        );
        let (status, _) = served.post("/api/transfer", &json!({"number": hostile}));
        assert_eq!(status, 400, "{hostile:?}");
    }
    let (status, _) = served.post("/api/dtmf", &json!({"digits": "1/hangupall"}));
    assert_eq!(status, 400);
    assert!(json_lines(&record).is_empty());

    // No MicroSIP window here: dialling starts MicroSIP (the recorder) with the number.
    let (status, body) = served.post("/api/dial", &json!({"number": "+49 (30) 123-45"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "started");
    crate::support::wait_until(Duration::from_secs(10), "the dial", || {
        !json_lines(&record).is_empty()
    });
    assert_eq!(json_lines(&record)[0]["args"], json!(["+493012345"]));
    // The others need a running MicroSIP.
    let (status, body) = served.post("/api/answer", &json!({}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("microsip_not_running"))
    );
}

#[test]
fn other_addresses_need_tls() {
    let desk = Desk::new();
    let err = desk.fails(&["serve", "--listen", "0.0.0.0:0"]);
    assert!(
        err.contains("[serve] listen") && err.contains("tls_cert"),
        "{err}"
    );
    let half = Desk::new().with_config("[serve]\ntls_cert = \"cert.pem\"\n");
    let err = half.fails(&["serve"]);
    assert!(err.contains("tls_key"), "{err}");

    let open = Desk::new().with_config("[serve]\nlisten = \"0.0.0.0:8765\"\n");
    let doctor = crate::support::output(open.command().arg("doctor"));
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success());
    assert!(
        text.lines()
            .any(|l| l.contains("serve") && l.contains("FAIL") && l.contains("tls_cert")),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn the_token_is_its_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let desk = Desk::new();
    desk.serve().stop();
    let token = desk.path("config/serve-token");
    let mode = std::fs::metadata(&token).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let doctor = crate::support::output(desk.command().arg("doctor"));
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("can be read by other users"), "{text}");
}

/// Beyond loopback the server speaks HTTPS with the configured certificate (paths beside the
/// config), and nothing in clear.
#[cfg(unix)]
#[test]
fn beyond_loopback_it_speaks_tls() {
    let desk = Desk::new();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/CN=callhook.test",
            "-addext",
            "subjectAltName=DNS:callhook.test,IP:127.0.0.1",
            // An end-entity certificate that the test client trusts as it is.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .current_dir(desk.path("config"))
        .output()
        .expect("openssl runs (ci/test.sh installs it)");
    assert!(made.status.success(), "{made:?}");
    let desk = desk.with_config(
        "[serve]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\nhosts = [\"callhook.test\"]\n",
    );
    let served = desk.serve_on("0.0.0.0:0");
    assert!(
        served.url.starts_with("https://127.0.0.1:"),
        "{}",
        served.url
    );
    let pem = std::fs::read(desk.path("config/cert.pem")).unwrap();
    let trusting = crate::served::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let health = trusting
        .get(format!("{}/api/health", served.url))
        .bearer_auth(&served.token)
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // The dashboard's cookie is for HTTPS only.
    let minted = trusting
        .post(format!("{}/api/login-links", served.url))
        .bearer_auth(&served.token)
        .send()
        .unwrap();
    let link: Value = serde_json::from_str(&minted.text().unwrap()).unwrap();
    let login = trusting.get(link["url"].as_str().unwrap()).send().unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    // Nothing is answered in clear.
    let plain = served.url.replace("https://", "http://");
    assert!(client().get(format!("{plain}/api/health")).send().is_err());
}
