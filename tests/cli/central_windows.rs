//! Team mode from a Windows desk: `callhook.exe` under wine stores calls and delivers them to
//! a central on Linux (its own PostgreSQL cluster, started by ci/windows.sh, which passes its
//! address, API token and this desk's key in `CALLHOOK_TEST_CENTRAL`).

use std::time::Duration;

use serde_json::Value;

use crate::served::client;
use crate::support::{Desk, MISSED, T0, assert_stored, toml_str, wait_until};

fn central() -> Value {
    let text = std::env::var("CALLHOOK_TEST_CENTRAL").expect(
        "CALLHOOK_TEST_CENTRAL: run the Windows tests through ci/windows.sh, which starts central",
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_windows_desk_delivers_its_calls_to_central() {
    let central = central();
    let (url, token) = (
        central["url"].as_str().unwrap(),
        central["token"].as_str().unwrap(),
    );
    let desk = Desk::new().with_config(&format!(
        "[central]\nurl = {}\ndesk = \"wine-desk\"\nkey = {}\ntoken = {}\n",
        toml_str(url),
        toml_str(central["desks"]["wine-desk"].as_str().unwrap()),
        toml_str(token)
    ));
    desk.record(T0, "+15553330001", MISSED);
    desk.record(
        T0 + 60_000,
        "\"Front & Co\" <sip:+15553330002@pbx>",
        &[(0, "incoming"), (2_000, "answer"), (30_000, "end")],
    );
    // Stored after a later event of its call: the call is re-keyed, and central follows.
    assert_stored(&desk.event_at(T0 + 120_500, "ring", "+15553330003"));
    assert_stored(&desk.event_at(T0 + 120_000, "incoming", "+15553330003"));

    let http = client();
    let calls_at_central = || -> Vec<Value> {
        let answer = http
            .get(format!("{url}/api/calls?desk=wine-desk&limit=1000"))
            .bearer_auth(token)
            .send()
            .unwrap();
        let page: Value = serde_json::from_str(&answer.text().unwrap()).unwrap();
        page["calls"].as_array().cloned().unwrap_or_default()
    };
    wait_until(Duration::from_secs(60), "the calls at central", || {
        calls_at_central().len() == 3
    });
    let mut theirs = desk.json(&["calls", "--all", "--central", "--desk", "wine-desk"]);
    for call in &mut theirs {
        assert_eq!(call["desk"], "wine-desk");
        call.as_object_mut().unwrap().remove("desk");
    }
    assert_eq!(desk.json(&["calls", "--all"]), theirs);
    // doctor names the desk as central knows it (other checks, MicroSIP's, may fail here).
    let doctor = desk.command().arg("doctor").output().unwrap();
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(said.contains("wine-desk"), "{said}");
}
