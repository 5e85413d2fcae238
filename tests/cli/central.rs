//! Team mode with real parts: a throw-away PostgreSQL cluster, central as a real `callhook
//! serve` process on it, and desks whose real hook processes store calls and whose workers
//! deliver them over HTTP, through a proxy the test controls (to cut a desk off, and to keep
//! every batch for delivering again, twice and in reverse order).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callhook::central::cluster::Cluster;
use callhook::effects::central::key::DeskKey;
use serde_json::{Value, json};

use crate::served::{Served, client};
use crate::support::{Desk, MISSED, T0, assert_stored, toml_str, wait_until};

/// A batch as a desk sent it: its headers and body.
type Sent = (Vec<(String, String)>, Vec<u8>);

/// An HTTP proxy in front of central: it forwards every request, keeps every batch, and can
/// refuse the batches of some desks (by their key) as if they were offline.
struct Proxy {
    url: String,
    target: Arc<Mutex<String>>,
    offline: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl Proxy {
    fn start(target: &str) -> Proxy {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let proxy = Proxy {
            url,
            target: Arc::new(Mutex::new(target.to_string())),
            offline: Arc::default(),
            sent: Arc::default(),
        };
        let (target, offline, sent) = (
            proxy.target.clone(),
            proxy.offline.clone(),
            proxy.sent.clone(),
        );
        std::thread::spawn(move || {
            let http = client();
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                request.as_reader().read_to_end(&mut body).unwrap();
                let headers: Vec<(String, String)> = request
                    .headers()
                    .iter()
                    .map(|h| (h.field.to_string(), h.value.to_string()))
                    .collect();
                let key = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("callhook-desk-key"))
                    .map(|(_, value)| value.clone());
                if key.is_some_and(|k| offline.lock().unwrap().contains(&k)) {
                    let _ = request.respond(tiny_http::Response::empty(503));
                    continue;
                }
                let ingest = request.url() == "/api/ingest";
                let method = request.method().as_str().to_string();
                let url = format!("{}{}", target.lock().unwrap(), request.url());
                let mut forward = http.request(method.parse().unwrap(), url);
                for (name, value) in &headers {
                    if !["host", "content-length", "connection"]
                        .contains(&name.to_ascii_lowercase().as_str())
                    {
                        forward = forward.header(name, value);
                    }
                }
                match forward.body(body.clone()).send() {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        if ingest && status == 200 {
                            sent.lock().unwrap().push((headers, body));
                        }
                        let text = answer.bytes().unwrap_or_default().to_vec();
                        let _ = request
                            .respond(tiny_http::Response::from_data(text).with_status_code(status));
                    }
                    // Central is down.
                    Err(_) => {
                        let _ = request.respond(tiny_http::Response::empty(502));
                    }
                }
            }
        });
        proxy
    }
}

/// A team: PostgreSQL, central serving on it, and the proxy the desks deliver through.
struct Team {
    cluster: Cluster,
    central: Desk,
    served: Option<Served>,
    proxy: Proxy,
}

impl Team {
    fn start() -> Team {
        let cluster = Cluster::start().unwrap();
        let database = cluster.create_database("team").unwrap();
        let central =
            Desk::new().with_config(&format!("[central]\ndatabase = {}\n", toml_str(&database)));
        let served = central.serve();
        let proxy = Proxy::start(&served.url);
        Team {
            cluster,
            central,
            served: Some(served),
            proxy,
        }
    }

    fn served(&self) -> &Served {
        self.served.as_ref().expect("central is running")
    }

    /// `callhook central add-desk NAME`: the config block it prints (with the desk's key).
    fn add_desk(&self, name: &str) -> String {
        let out = self
            .central
            .run(&["central", "add-desk", name, "--url", &self.proxy.url]);
        let block = &out[out.find("[central]").expect("a config block")..];
        assert!(
            block.contains(&format!("desk = {}", toml_str(name))),
            "{out}"
        );
        block.to_string()
    }

    /// A desk added to central, configured with the block `add-desk` printed (and central's
    /// API token, for `--central` queries).
    fn desk(&self, name: &str) -> Desk {
        let block = self.add_desk(name);
        Desk::new().with_config(&format!(
            "{block}token = {}\n",
            toml_str(&self.served().token)
        ))
    }

    fn stop_central(&mut self) {
        if let Some(served) = self.served.take() {
            served.stop();
        }
    }

    fn start_central(&mut self) {
        let served = self.central.serve();
        *self.proxy.target.lock().unwrap() = served.url.clone();
        self.served = Some(served);
    }

    /// Central's calls (of one desk), newest first, every page.
    fn calls(&self, desk: Option<&str>) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut path = "/api/calls?limit=1000".to_string();
            if let Some(desk) = desk {
                path.push_str(&format!("&desk={desk}"));
            }
            if !cursor.is_empty() {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.served().ok(&path);
            all.extend(page["calls"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => return all,
            }
        }
    }

    /// Central's calls of desk `name`, without their desk field (which must be `name`).
    fn calls_of(&self, name: &str) -> Vec<Value> {
        self.calls(Some(name))
            .into_iter()
            .map(|mut call| {
                assert_eq!(call["desk"], name);
                call.as_object_mut().unwrap().remove("desk");
                call
            })
            .collect()
    }

    /// Waits until central has the desk's calls as the desk has them.
    fn caught_up(&self, desk: &Desk, name: &str) {
        wait_until(
            Duration::from_secs(60),
            &format!("{name} at central"),
            || desk.json(&["calls", "--all"]) == self.calls_of(name),
        );
    }
}

/// Every call of a desk, at central: the same JSON, plus its desk.
fn assert_same_log(team: &Team, desk: &Desk, name: &str) {
    let mine = desk.json(&["calls", "--all"]);
    assert_eq!(
        mine,
        team.calls_of(name),
        "{name}: the desk's log and central's"
    );
}

/// Has the desk deliver now whatever waits for central (after an outage: no waiting for the
/// next retry).
fn deliver_now(desk: &Desk) {
    desk.run(&["outbox", "retry", "--failed"]);
    desk.run(&["deliver"]);
}

/// Posts a batch signed with `key` to central.
fn post_batch(team: &Team, key: &DeskKey, body: &[u8]) -> (u16, Value) {
    let id = format!("msg_test{}", body.len());
    let timestamp = 1_790_000_000;
    let answer = client()
        .post(format!("{}/api/ingest", team.served().url))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", key.sign(&id, timestamp, body))
        .header("callhook-desk-key", key.public_text())
        .body(body.to_vec())
        .send()
        .unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn key_of(block: &str) -> DeskKey {
    let line = block.lines().find(|l| l.starts_with("key = ")).unwrap();
    DeskKey::parse(line.trim_start_matches("key = ").trim_matches('"')).unwrap()
}

/// Calls of every kind on a desk, from `at` on: answered, missed, busy, outgoing, a repeated
/// event, and a call whose first event was stored after a later one (re-keyed).
fn traffic(desk: &Desk, at: i64, number: &str) {
    desk.record(
        at,
        number,
        &[
            (0, "incoming"),
            (1_000, "ring"),
            (3_000, "answer"),
            (60_000, "end"),
        ],
    );
    desk.record(at + 120_000, "+15550000999", MISSED);
    desk.record(at + 200_000, number, &[(0, "outgoing"), (2_000, "busy")]);
    desk.record(
        at + 300_000,
        "Alice <sip:alice@example.com>",
        &[(0, "incoming")],
    );
    desk.record(
        at + 300_000,
        "Alice <sip:alice@example.com>",
        &[(500, "incoming")],
    );
    // A `ring` stored before the `incoming` of its call: the call is re-keyed to the
    // incoming's id when it comes.
    assert_stored(&desk.event_at(at + 400_500, "ring", number));
    assert_stored(&desk.event_at(at + 400_000, "incoming", number));
    assert_stored(&desk.event_at(at + 405_000, "end", number));
}

#[test]
fn central_holds_the_union_of_the_desks_logs_through_outages_and_replays() {
    let mut team = Team::start();
    let names = ["desk-1", "desk-2", "desk-3", "desk-4", "desk-5"];
    let desks: Vec<Desk> = names.iter().map(|n| team.desk(n)).collect();
    let keys: Vec<String> = desks
        .iter()
        .map(|d| {
            let config = std::fs::read_to_string(&d.config).unwrap();
            key_of(&config).public_text()
        })
        .collect();

    // A log from before the desk joined central: the backfill sends it.
    let early = Desk::new();
    traffic(&early, T0 - 86_400_000, "+15550001000");
    let block = team.add_desk("desk-6");
    std::fs::write(
        &early.config,
        format!("{block}token = {}\n", toml_str(&team.served().token)),
    )
    .unwrap();
    early.run(&["deliver"]);

    for (i, desk) in desks.iter().enumerate() {
        traffic(desk, T0 + i as i64 * 1_000_000, &format!("+1555000{i}001"));
    }
    // Central goes away while the desks take calls, and desk-3 is cut off for longer.
    team.stop_central();
    team.proxy.offline.lock().unwrap().push(keys[2].clone());
    for (i, desk) in desks.iter().enumerate() {
        traffic(desk, T0 + 3_600_000 + i as i64 * 1_000_000, "+15550002002");
    }
    team.start_central();
    // PostgreSQL restarts under a running central; meanwhile central's doctor says so.
    team.cluster.stop().unwrap();
    let doctor = team.central.command().arg("doctor").output().unwrap();
    let said = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(!doctor.status.success(), "{said}");
    assert!(
        said.contains("central database") && said.contains("FAIL"),
        "{said}"
    );
    for (i, desk) in desks.iter().enumerate() {
        traffic(desk, T0 + 7_200_000 + i as i64 * 1_000_000, "+15550003003");
    }
    team.cluster.start_server().unwrap();
    for desk in &desks {
        deliver_now(desk);
    }
    team.proxy.offline.lock().unwrap().clear();
    deliver_now(&desks[2]);
    for (desk, name) in desks.iter().zip(names) {
        team.caught_up(desk, name);
    }
    team.caught_up(&early, "desk-6");

    // Every batch central took, delivered again: in reverse order, then once more.
    let sent = team.proxy.sent.lock().unwrap().clone();
    assert!(sent.len() >= names.len(), "{} batches", sent.len());
    for (headers, body) in sent.iter().rev().chain(sent.iter()) {
        let mut request = client().post(format!("{}/api/ingest", team.served().url));
        for (name, value) in headers {
            if name.starts_with("webhook-") || name.eq_ignore_ascii_case("callhook-desk-key") {
                request = request.header(name, value);
            }
        }
        let answer = request
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{}", answer.text().unwrap());
    }

    for (desk, name) in desks.iter().zip(names).chain([(&early, "desk-6")]) {
        assert_same_log(&team, desk, name);
        // The same through the desk's own `--central` query, and one call in full.
        let mut theirs = desk.json(&["calls", "--all", "--central", "--desk", name]);
        for call in &mut theirs {
            call.as_object_mut().unwrap().remove("desk");
        }
        assert_eq!(
            desk.json(&["calls", "--all"]),
            theirs,
            "{name} through --central"
        );
        let id = desk.json(&["calls", "--limit", "1"])[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mine = desk.json(&["show", &id]);
        let mut central = desk.json(&["show", &id, "--central"]);
        assert_eq!(central[0]["desk"], name);
        central[0].as_object_mut().unwrap().remove("desk");
        assert_eq!(mine, central, "{name}: call {id}");
    }
    // The re-keyed calls left no stale copy: central has exactly the desks' calls.
    let total: usize = desks
        .iter()
        .chain([&early])
        .map(|d| d.count("SELECT count(*) FROM calls") as usize)
        .sum();
    assert_eq!(team.calls(None).len(), total);
}

#[test]
fn a_desk_is_known_by_its_key_and_can_only_add_its_own_calls() {
    let team = Team::start();
    let front = team.desk("front");
    let back = team.desk("back");
    let front_key = key_of(&std::fs::read_to_string(&front.config).unwrap());
    let back_key = key_of(&std::fs::read_to_string(&back.config).unwrap());
    front.record(T0, "+15551110000", MISSED);
    team.caught_up(&front, "front");
    let call = team.calls(Some("front"))[0].clone();
    let id = call["id"].as_str().unwrap();

    // A batch that says it is from `front`, signed by `back`, changing front's call: the
    // call is refused, and nothing of it changes.
    let forged = json!({
        "desk": "front", "sent_at": T0, "backlog": 0, "backfilled": true,
        "calls": [{
            "id": id, "revision": 1_000_000, "direction": "in", "status": "answered",
            "number": "+15551110000", "raw": "+15551110000", "name": "forged",
            "started_at": T0, "ringing_at": null, "answered_at": T0, "ended_at": T0 + 1,
            "last_event_at": T0 + 1, "expires_at": null, "ring_ms": null, "talk_ms": 1,
            "source": "hook", "events": []
        }],
        "gone": []
    });
    let body = serde_json::to_vec(&forged).unwrap();
    let (status, receipt) = post_batch(&team, &back_key, &body);
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["desk"], "back");
    assert_eq!(receipt["refused"], 1);
    assert_eq!(receipt["accepted"], 0);
    assert_eq!(team.calls(Some("front")), vec![call.clone()]);
    assert!(team.calls(Some("back")).is_empty());
    // Nor can it remove the call as re-keyed.
    let gone = json!({
        "desk": "back", "sent_at": T0, "backlog": 0, "backfilled": true, "calls": [],
        "gone": [{"id": id, "revision": 1_000_000, "into": "01a21225-d900-7807-a687-000000000000"}]
    });
    let (status, receipt) = post_batch(&team, &back_key, &serde_json::to_vec(&gone).unwrap());
    assert_eq!(
        (status, receipt["gone"].as_u64()),
        (200, Some(0)),
        "{receipt}"
    );
    assert_eq!(team.calls(Some("front")), vec![call.clone()]);

    // Refused before anything is stored: a wrong signature, no key, an unknown key, a body
    // that is not a batch, one that is too large.
    let other = DeskKey::generate().unwrap();
    let (status, answer) = post_batch(&team, &other, b"{}");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("unknown_key"))
    );
    let answer = client()
        .post(format!("{}/api/ingest", team.served().url))
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", "1")
        .header(
            "webhook-signature",
            front_key.sign("msg_1", 1, b"{\"x\":1}"),
        )
        .header("callhook-desk-key", front_key.public_text())
        .body("{\"x\":2}")
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let (status, answer) = post_batch(&team, &front_key, b"{\"calls\": 7}");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_batch"))
    );
    let huge = vec![b' '; 5 * 1024 * 1024];
    let (status, _) = post_batch(&team, &front_key, &huge);
    assert_eq!(status, 413);
    // A desk's key opens nothing else: the API wants the admin token.
    let answer = client()
        .get(format!("{}/api/calls", team.served().url))
        .bearer_auth(front_key.secret_text())
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    assert_eq!(team.calls(None), vec![call]);

    // A revoked key: the desk keeps its calls and says why; a new key delivers them.
    team.central.run(&["central", "remove-desk", "front"]);
    front.record(T0 + 60_000, "+15551110001", MISSED);
    // The worker the hook started may hold the lane: whichever worker tries, it is refused.
    front.run(&["deliver"]);
    wait_until(
        Duration::from_secs(30),
        "central's 401 in the outbox",
        || front.run(&["outbox"]).contains("401"),
    );
    let doctor = front.command().arg("doctor").output().unwrap();
    let said = String::from_utf8_lossy(&doctor.stdout).to_string()
        + &String::from_utf8_lossy(&doctor.stderr);
    assert!(!doctor.status.success(), "{said}");
    assert!(said.contains("revoked"), "{said}");
    assert_eq!(front.count("SELECT count(*) FROM calls"), 2);
    let block = team.add_desk("front");
    std::fs::write(&front.config, &block).unwrap();
    deliver_now(&front);
    // A new key for the same desk: the call from before is still its own.
    wait_until(Duration::from_secs(30), "front's calls", || {
        team.calls(Some("front")).len() == 2
    });

    let desks = team.served().ok("/api/desks");
    let names: Vec<&str> = desks["desks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"back"), "{desks}");
}

#[test]
fn team_queries_span_every_desk() {
    let team = Team::start();
    let front = team.desk("front");
    let back = team.desk("back");
    // Missed at the front desk, called back (answered) from the back office: returned.
    front.record(T0, "+15552220001", MISSED);
    back.record(
        T0 + 600_000,
        "+15552220001",
        &[(0, "outgoing"), (1_000, "start"), (20_000, "end")],
    );
    // Missed at the back office, tried from the front desk without an answer: waiting.
    back.record(T0 + 60_000, "+15552220002", MISSED);
    front.record(
        T0 + 700_000,
        "+15552220002",
        &[(0, "outgoing"), (3_000, "end")],
    );
    // Answered at the front desk.
    front.record(
        T0 + 800_000,
        "+15552220003",
        &[(0, "incoming"), (2_000, "answer"), (30_000, "end")],
    );
    team.caught_up(&front, "front");
    team.caught_up(&back, "back");

    let waiting = front.json(&["missed", "--unreturned", "--central"]);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["number"], "+15552220002");
    assert_eq!(waiting[0]["desk"], "back");
    assert_eq!(waiting[0]["callbacks"], 1);
    // A desk alone does not know the call back from the other desk.
    assert_eq!(front.json(&["missed", "--unreturned"]).len(), 1);
    assert_eq!(
        front.json(&["missed", "--unreturned"])[0]["number"],
        "+15552220001"
    );

    let missed = front.json(&["missed", "--central"]);
    assert_eq!(missed.len(), 2);
    let numbers = front.json(&["calls", "--central", "--number", "2220001"]);
    assert_eq!(numbers.len(), 2, "{numbers:#?}");
    assert_eq!(
        front.json(&["calls", "--central", "--desk", "back"]).len(),
        2
    );

    let stats = front.json(&["stats", "--central", "--by", "desk"]);
    let groups = stats[0]["groups"].as_array().unwrap();
    let by_desk: Vec<(&str, u64)> = groups
        .iter()
        .map(|g| (g["group"].as_str().unwrap(), g["calls"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_desk, vec![("front", 3), ("back", 2)]);
    assert_eq!(stats[0]["total"]["calls"], 5);
    // One desk's figures at central are the desk's own.
    let mut theirs = front.json(&["stats", "--central", "--desk", "front", "--by", "day"]);
    let mine = front.json(&["stats", "--by", "day"]);
    theirs[0].as_object_mut().unwrap().remove("desk");
    assert_eq!(mine, theirs);

    // Central's doctor: PostgreSQL, and each desk's last contact.
    let doctor = team.central.command().arg("doctor").output().unwrap();
    let said = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(said.contains("PostgreSQL answers"), "{said}");
    for desk in ["desk front", "desk back"] {
        let line = said
            .lines()
            .find(|l| l.contains(desk))
            .unwrap_or_else(|| panic!("{said}"));
        assert!(line.contains("up to date"), "{said}");
    }

    let table = front.run(&["calls", "--central"]);
    assert!(table.contains("Desk") && table.contains("back"), "{table}");
    let csv = front.run(&["calls", "--central", "--format", "csv"]);
    assert!(csv.lines().next().unwrap().ends_with(",desk"), "{csv}");
    // Without the token, central answers nothing.
    let bare = Desk::new().with_config(&format!(
        "[central]\nurl = {}\ntoken = \"wrong\"\n",
        toml_str(&team.served().url)
    ));
    let refused = bare.fails(&["calls", "--central"]);
    assert!(refused.contains("refused the token"), "{refused}");
}
