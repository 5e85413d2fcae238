//! The dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! against `callhook serve` run as a separate process with a desk's config and database, and
//! as central on a throw-away PostgreSQL with desks delivering to it. Each page's screenshot
//! is left in `target/dashboard/` for people to look at.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::*;
use crate::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(20);

const IMG: &str = "<img src=x onerror=window.__pwned=1>";
const SCRIPT: &str = "</script><script>window.__pwned=1</script>";
const RTL: &str = "\u{202E}evil 5551230003";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn screenshot(browser: &Browser, page: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard");
    browser.screenshot(&dir.join(format!("{page}.png")));
}

/// Shows a page and waits until its data is rendered.
fn open(browser: &Browser, page: &str) {
    browser.exec("location.hash = arguments[0]", &[json!(page)]);
    wait_ready(browser, page);
}

fn wait_ready(browser: &Browser, page: &str) {
    let css = format!("[data-page={page}]:not([hidden])[data-state=ready]");
    browser.wait_for(&css, WAIT);
}

/// The rows of a list whose `data-number` is `number` (hostile numbers are no CSS).
fn rows(browser: &Browser, list: &str, number: &str) -> u64 {
    browser
        .exec(
            "return [...document.querySelectorAll(arguments[0] + ' [data-number]')]\
             .filter(e => e.dataset.number === arguments[1]).length",
            &[json!(list), json!(number)],
        )
        .as_u64()
        .unwrap()
}

/// The page's text as the DOM holds it (literal caller text included).
fn page_text(browser: &Browser, page: &str) -> String {
    let v = browser.exec(
        "return document.querySelector(`[data-page=${arguments[0]}]`).textContent",
        &[json!(page)],
    );
    v.as_str().unwrap().to_string()
}

#[test]
fn dashboard_in_a_real_browser() {
    let desk = Desk::new();
    let record: PathBuf = desk.path("tmp/microsip.jsonl");
    let desk = desk.with_config(&format!(
        "[microsip]\nprogram = [{}, {}]\n",
        toml_str(example("recorder").to_str().unwrap()),
        toml_str(record.to_str().unwrap())
    ));
    // Hostile callers, missed an hour ago, and one whose text is as long as a hook keeps.
    let hour_ago = now_ms() - 3_600_000;
    let long = format!("+1555123{}", "9".repeat(2000));
    for (i, caller) in [IMG, SCRIPT, RTL, long.as_str()].iter().enumerate() {
        desk.record(hour_ago + i as i64 * 60_000, caller, MISSED);
    }
    let server = desk.serve();
    let login = desk.run(&["dashboard", "--print"]).trim().to_string();
    assert!(
        login.starts_with(&format!("{}/login?code=", server.url)),
        "{login}"
    );

    let browser = Browser::start();
    let mut console = Vec::new();
    browser.goto(&login);
    // The link logged the browser in and led to the dashboard.
    wait_ready(&browser, "now");
    assert_eq!(browser.url(), format!("{}/", server.url));
    browser.wait_until("the live stream", WAIT, |b| {
        b.find("#live[data-live=on]").is_some()
    });

    // (a) A call rings: it appears on Now by itself, its time running.
    assert_stored(&desk.event("incoming", "+15551230001"));
    let ringing = "#now-list [data-number='+15551230001'][data-state=ringing]";
    let row = browser.wait_for(ringing, WAIT);
    assert!(
        browser
            .find(&format!("{ringing} [data-action=answer]"))
            .is_some()
    );
    let first = browser.text(&browser.find(&format!("{ringing} .dur")).unwrap());
    browser.wait_until("the ring time to tick", Duration::from_secs(5), |b| {
        b.text(&b.find(&format!("{ringing} .dur")).unwrap()) != first
    });
    assert!(browser.text(&row).contains("+15551230001"));
    screenshot(&browser, "now");
    console.extend(browser.console());

    // (b) A missed call appears on Missed; "Call back" has MicroSIP's stand-in dial it; once
    // a call to the number is answered, the row leaves the list by itself.
    open(&browser, "missed");
    let number = "+15551230002";
    assert_eq!(rows(&browser, "#missed-list", number), 0);
    for (_, event) in MISSED {
        assert_stored(&desk.event(event, number));
    }
    browser.wait_until("the missed call on Missed", WAIT, |b| {
        rows(b, "#missed-list", number) == 1
    });
    let missed_row = "#missed-list [data-number='+15551230002']";
    assert!(
        browser
            .text(&browser.find(missed_row).unwrap())
            .contains("1 missed")
    );
    browser.click(
        &browser
            .find(&format!("{missed_row} [data-action=call-back]"))
            .unwrap(),
    );
    wait_until(WAIT, "the dial to reach MicroSIP", || {
        recorded_args(&record)
            .iter()
            .any(|args| args.last().map(String::as_str) == Some(number))
    });
    browser.wait_until("the dial's result on the row", WAIT, |b| {
        b.find(&format!("{missed_row} .msg.ok")).is_some()
    });
    screenshot(&browser, "missed");
    for event in ["outgoing", "start", "end"] {
        assert_stored(&desk.event(event, number));
    }
    browser.wait_until("the called-back row to leave Missed", WAIT, |b| {
        rows(b, "#missed-list", number) == 0
    });

    // (e) Hostile callers are text, never markup, and stay isolated and cut.
    let text = page_text(&browser, "missed");
    for caller in [IMG, RTL] {
        assert!(
            text.contains(caller),
            "{caller:?} is not literal in {text:?}"
        );
    }
    let safe = browser.exec(
        "return {pwned: typeof window.__pwned, imgs: document.querySelectorAll('main img').length, \
         scripts: document.scripts.length, \
         wide: document.documentElement.scrollWidth > window.innerWidth, \
         bidi: getComputedStyle(document.querySelector('#missed-list .t')).unicodeBidi}",
        &[],
    );
    assert_eq!(
        safe,
        json!({"pwned": "undefined", "imgs": 0, "scripts": 1, "wide": false, "bidi": "isolate"}),
        "the hostile callers changed the page"
    );

    // (c) The log filtered by a number, with its CSV export and a call's detail.
    open(&browser, "calls");
    let input = browser.find("#calls-filter input[name=number]").unwrap();
    browser.type_text(&input, "1230001");
    browser.click(&browser.find("#calls-filter button[type=submit]").unwrap());
    browser.wait_until("the calls of +15551230001 only", WAIT, |b| {
        let numbers = b.exec(
            "return [...document.querySelectorAll('#calls-body tr')].map(r => r.dataset.number)",
            &[],
        );
        numbers == json!(["+15551230001"])
    });
    let csv = browser
        .attr(&browser.find("#calls-csv").unwrap(), "href")
        .unwrap();
    assert!(
        csv.contains("number=1230001") && csv.contains("format=csv"),
        "{csv}"
    );
    // The export gives the same calls, through the browser's session.
    let exported = browser.exec_async(
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text())\
         .then(arguments[arguments.length - 1])",
        &[json!(csv)],
    );
    let exported = exported.as_str().unwrap();
    assert!(exported.contains("+15551230001"), "{exported}");
    assert!(!exported.contains("+15551230002"), "{exported}");
    browser.click(&browser.find("#calls-body [data-action=detail]").unwrap());
    browser.wait_until("the call's detail", WAIT, |b| {
        b.find("#call-detail:not([hidden]) #detail-body table")
            .is_some()
    });
    assert!(
        browser
            .text(&browser.find("#call-detail").unwrap())
            .contains("incoming")
    );
    screenshot(&browser, "calls");
    let text = page_text(&browser, "calls");
    assert!(!text.contains(IMG), "the filter let other calls through");
    // Every hostile caller, literal, in the unfiltered log.
    browser.click(&browser.find("#detail-close").unwrap());
    browser.clear(&input);
    browser.click(&browser.find("#calls-filter button[type=submit]").unwrap());
    browser.wait_until("the whole log", WAIT, |b| {
        page_text(b, "calls").contains(SCRIPT)
    });
    let text = page_text(&browser, "calls");
    for caller in [IMG, RTL] {
        assert!(
            text.contains(caller),
            "{caller:?} is not literal in the log"
        );
    }

    // (d) Statistics: totals and both charts drawn by uPlot.
    open(&browser, "stats");
    browser.wait_for("#chart-day canvas", WAIT);
    browser.wait_for("#chart-hour canvas", WAIT);
    let calls_tile = browser.text(&browser.find("#stats-totals dd").unwrap());
    assert!(calls_tile.parse::<u32>().unwrap() >= 6, "{calls_tile}");
    screenshot(&browser, "stats");

    open(&browser, "deliveries");
    screenshot(&browser, "deliveries");
    assert_eq!(
        browser.exec("return typeof window.__pwned", &[]),
        json!("undefined")
    );

    // (f) No script error and no Content-Security-Policy violation on any page.
    console.extend(browser.console());
    let bad: Vec<_> = console
        .iter()
        .filter(|l| l.level == "SEVERE" || l.message.contains("Content Security Policy"))
        .collect();
    assert!(bad.is_empty(), "browser console: {bad:#?}");

    // (g) The login link works once; the API wants a session or the token.
    let http = crate::served::client();
    let again = http.get(&login).send().unwrap();
    assert!(again.status().is_client_error(), "{}", again.status());
    assert!(again.headers().get("set-cookie").is_none());
    for path in ["/api/calls", "/api/missed?unreturned", "/api/events"] {
        let answer = http.get(format!("{}{path}", server.url)).send().unwrap();
        assert_eq!(answer.status().as_u16(), 401, "{path}");
        let body: Value = serde_json::from_str(&answer.text().unwrap()).unwrap();
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    let dialed = recorded_args(&record).len();
    let answer = http
        .post(format!("{}/api/dial", server.url))
        .header("Content-Type", "application/json")
        .body(r#"{"number": "+15551230009"}"#)
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        recorded_args(&record).len(),
        dialed,
        "a dial without a session ran"
    );
}

/// The first load of the dashboard on the Missed page, cold (a new browser each run), with a
/// generated call log: bytes transferred, DOM interactive, load end and the Missed list
/// rendered. Run by `bench/dashboard.sh` (CALLS, RUNS).
#[test]
#[ignore = "a benchmark: bench/dashboard.sh"]
fn dashboard_first_load() {
    let calls: u32 = std::env::var("CALLS").map_or(100_000, |v| v.parse().unwrap());
    let runs: usize = std::env::var("RUNS").map_or(5, |v| v.parse().unwrap());
    let desk = Desk::new().with_config("");
    let out = output(
        desk.command_for(example("generate"))
            .args(["--db", desk.db.to_str().unwrap()])
            .args(["--calls", &calls.to_string(), "--days", "365"]),
    );
    assert_success(&out, "generate");
    let _server = desk.serve();
    let mut figures: Vec<Value> = Vec::new();
    for _ in 0..runs {
        let login = desk.run(&["dashboard", "--print"]).trim().to_string();
        let browser = Browser::start();
        // The fragment survives the login's redirect to `/`.
        browser.goto(&format!("{login}#missed"));
        wait_ready(&browser, "missed");
        // loadEventEnd is set once the load event's handlers have returned.
        browser.wait_until("the load event's end", WAIT, |b| {
            b.exec(
                "return performance.getEntriesByType('navigation')[0].loadEventEnd > 0",
                &[],
            ) == json!(true)
        });
        figures.push(browser.exec(
            "const nav = performance.getEntriesByType('navigation')[0];\
             const res = performance.getEntriesByType('resource');\
             return {\
               bytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),\
               body_bytes: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),\
               requests: 1 + res.length,\
               dom_interactive: nav.domInteractive,\
               load_end: nav.loadEventEnd,\
               missed_rendered: performance.getEntriesByName('missed-rendered')[0].startTime,\
               rows: document.querySelectorAll('#missed-list > li').length}",
            &[],
        ));
    }
    let median = |key: &str| {
        let mut v: Vec<f64> = figures.iter().map(|f| f[key].as_f64().unwrap()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("dashboard first load, {calls} calls, median of {runs} cold runs:");
    println!(
        "  transferred: {:.1} KB in {} requests ({:.1} KB decoded)",
        median("bytes") / 1024.0,
        median("requests"),
        median("body_bytes") / 1024.0
    );
    println!("  DOM interactive: {:.0} ms", median("dom_interactive"));
    println!("  load event end: {:.0} ms", median("load_end"));
    println!(
        "  Missed list rendered: {:.0} ms ({} rows)",
        median("missed_rendered"),
        median("rows")
    );
}

/// Central's dashboard: `callhook serve` on a throw-away PostgreSQL, two desks that store
/// calls with their real hooks and deliver them with their real workers, and the team's log
/// in Chromium: each call's desk, the desk filter, the figures by desk, the desks, a call
/// coming in live at one desk, and no MicroSIP controls (central runs beside no MicroSIP).
/// Screenshots: `target/dashboard/central-*.png`.
#[test]
fn central_dashboard_in_a_real_browser() {
    let cluster = callhook::central::cluster::Cluster::start().unwrap();
    let database = cluster.create_database("team").unwrap();
    let central =
        Desk::new().with_config(&format!("[central]\ndatabase = {}\n", toml_str(&database)));
    let server = central.serve();
    assert_eq!(server.ok("/api/health")["mode"], "central");
    let front = team_desk(&central, &server, "front");
    let back = team_desk(&central, &server, "back");
    // A desk named as a hostile caller, added and never heard of since.
    team_desk(&central, &server, IMG);

    // Hostile callers missed at the front desk, one at the back office; an answered call at
    // each, and one made from the back office.
    let hour_ago = now_ms() - 3_600_000;
    let answered: &[(i64, &str)] = &[
        (0, "incoming"),
        (1_000, "ring"),
        (4_000, "answer"),
        (60_000, "end"),
    ];
    front.record(hour_ago, IMG, MISSED);
    front.record(hour_ago + 60_000, SCRIPT, MISSED);
    front.record(hour_ago + 120_000, "+15551230011", answered);
    back.record(hour_ago + 180_000, RTL, MISSED);
    back.record(hour_ago + 240_000, "+15551230021", answered);
    back.record(
        hour_ago + 300_000,
        "+15551230022",
        &[(0, "outgoing"), (2_000, "start"), (30_000, "end")],
    );
    caught_up(&server, &front, "front");
    caught_up(&server, &back, "back");
    let (at_front, at_back) = (front.calls().len(), back.calls().len());
    let all = at_front + at_back;
    // Each desk's first batch said that its backfill is done.
    wait_until(WAIT, "both desks backfilled", || {
        let desks = server.ok("/api/desks");
        desks["desks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["name"] != IMG)
            .all(|d| d["backfilled"] == true)
    });

    let login = central.run(&["dashboard", "--print"]).trim().to_string();
    assert!(
        login.starts_with(&format!("{}/login?code=", server.url)),
        "{login}"
    );
    let browser = Browser::start();
    let mut console = Vec::new();
    browser.goto(&login);
    wait_ready(&browser, "now");
    browser.wait_for("#mode:not([hidden])", WAIT);
    browser.wait_until("the live stream", WAIT, |b| {
        b.find("#live[data-live=on]").is_some()
    });
    // Desks instead of Deliveries; Deliveries lead to Desks.
    let nav = browser.exec(
        "return [...document.querySelectorAll('[data-nav]')].filter(a => !a.hidden)\
         .map(a => a.dataset.nav)",
        &[],
    );
    assert_eq!(nav, json!(["now", "missed", "calls", "stats", "desks"]));

    // (a) The log: every call with its desk, in a Desk column.
    open(&browser, "calls");
    browser.wait_until("every desk's calls", WAIT, |b| calls_desks(b).len() == all);
    let head = browser.text(&browser.find("#calls-table thead th:nth-child(2)").unwrap());
    assert_eq!(head, "Desk");
    let desks: Vec<String> = calls_desks(&browser);
    for name in ["front", "back"] {
        assert!(desks.iter().any(|d| d == name), "{name} not in {desks:?}");
    }
    let cells = browser.exec(
        "return [...document.querySelectorAll('#calls-body tr')]\
         .every(r => r.cells[1].textContent === r.dataset.desk)",
        &[],
    );
    assert_eq!(cells, json!(true), "the Desk column");
    let text = page_text(&browser, "calls");
    for caller in [IMG, SCRIPT, RTL] {
        assert!(
            text.contains(caller),
            "{caller:?} is not literal in the log"
        );
    }
    // A call's detail names its desk.
    browser.click(
        &browser
            .find("#calls-body tr[data-desk=back] [data-action=detail]")
            .unwrap(),
    );
    browser.wait_until("the call's detail", WAIT, |b| {
        b.find("#call-detail:not([hidden]) #detail-body table")
            .is_some()
    });
    let detail = browser.text(&browser.find("#detail-body .facts").unwrap());
    assert!(
        detail.contains("Desk") && detail.contains("back"),
        "{detail}"
    );
    browser.click(&browser.find("#detail-close").unwrap());

    // The desk filter narrows the log (and its CSV export) to one desk.
    choose(&browser, "#calls-filter", "back");
    browser.click(&browser.find("#calls-filter button[type=submit]").unwrap());
    browser.wait_until("back's calls only", WAIT, |b| {
        calls_desks(b) == vec!["back".to_string(); at_back]
    });
    let csv = browser
        .attr(&browser.find("#calls-csv").unwrap(), "href")
        .unwrap();
    assert!(csv.contains("desk=back"), "{csv}");
    let log = browser.exec(
        "return document.getElementById('calls-body').textContent",
        &[],
    );
    assert!(
        !log.as_str().unwrap().contains(IMG),
        "front's call in back's log"
    );
    screenshot(&browser, "central-calls");

    // (b) Missed: the numbers to call back, each with its desk, and no Call back here.
    open(&browser, "missed");
    browser.wait_until("the missed numbers of both desks", WAIT, |b| {
        let desks = list_desks(b, "#missed-list");
        desks.contains(&"front".to_string()) && desks.contains(&"back".to_string())
    });
    assert!(browser.find("#missed-list [data-action]").is_none());
    let text = page_text(&browser, "missed");
    for caller in [IMG, RTL] {
        assert!(
            text.contains(caller),
            "{caller:?} is not literal in {text:?}"
        );
    }
    let safe = browser.exec(
        "return {pwned: typeof window.__pwned, imgs: document.querySelectorAll('main img').length, \
         scripts: document.scripts.length, \
         wide: document.documentElement.scrollWidth > window.innerWidth, \
         bidi: getComputedStyle(document.querySelector('#missed-list .t')).unicodeBidi}",
        &[],
    );
    assert_eq!(
        safe,
        json!({"pwned": "undefined", "imgs": 0, "scripts": 1, "wide": false, "bidi": "isolate"}),
        "the hostile callers changed the page"
    );
    choose(&browser, "#missed-filter", "front");
    browser.wait_until("front's missed numbers only", WAIT, |b| {
        let desks = list_desks(b, "#missed-list");
        !desks.is_empty() && desks.iter().all(|d| d == "front")
    });
    screenshot(&browser, "central-missed");

    // (c) Statistics: the charts, and the figures by desk.
    open(&browser, "stats");
    browser.wait_for("#chart-day canvas", WAIT);
    browser.wait_until("the figures by desk", WAIT, |b| {
        b.exec(
            "return Object.fromEntries([...document.querySelectorAll('#stats-desks tr')]\
             .map(r => [r.dataset.desk, Number(r.cells[1].textContent)]))",
            &[],
        ) == json!({"front": at_front, "back": at_back})
    });
    // Read at once: the tiles are replaced as the figures come.
    let tile = |b: &Browser| {
        let calls = b.exec(
            "const e = document.querySelector('#stats-totals dd'); return e ? e.textContent : ''",
            &[],
        );
        calls.as_str().unwrap().to_string()
    };
    assert_eq!(tile(&browser), all.to_string());
    screenshot(&browser, "central-stats");
    choose(&browser, "#stats-period", "front");
    browser.wait_until("front's figures", WAIT, |b| tile(b) == at_front.to_string());

    // (d) The desks: their keys, last contact, backlog, backfill and calls.
    open(&browser, "desks");
    browser.wait_until("the three desks", WAIT, |b| {
        list_desks(b, "#desks-body").len() == 3
    });
    for (name, calls) in [("front", at_front), ("back", at_back), (IMG, 0)] {
        let row = browser.exec(
            "const r = [...document.querySelectorAll('#desks-body tr')]\
                 .find(r => r.dataset.desk === arguments[0]);\
                 return {key: r.dataset.keyState, cells: [...r.cells].map(c => c.textContent)}",
            &[json!(name)],
        );
        assert_eq!(row["key"], "active", "{row}");
        let cells = row["cells"].as_array().unwrap();
        assert_eq!(cells[0], name, "{row}");
        // The hostile desk never delivered: its name is text, like the others.
        let heard = name != IMG;
        assert_eq!(cells[2] != "never", heard, "{row}");
        assert_eq!(cells[4] == "done", heard, "{row}");
        assert_eq!(cells[5], calls.to_string(), "{row}");
    }
    screenshot(&browser, "central-desks");
    // A desk's page of deliveries leads here.
    browser.exec("location.hash = '#deliveries'", &[]);
    browser.wait_until("Deliveries to lead to Desks", WAIT, |b| {
        b.url().ends_with("#desks")
    });

    // (e) A call rings at the back office: it appears live on Now with its desk, without
    // Answer or Hang up.
    open(&browser, "now");
    let number = "+15551230031";
    assert_stored(&back.event("incoming", number));
    let ringing = format!("#now-list [data-number='{number}'][data-desk=back][data-state=ringing]");
    let row = browser.wait_for(&ringing, WAIT);
    assert!(
        browser.text(&row).contains("back"),
        "{}",
        browser.text(&row)
    );
    assert!(browser.find("#now-list [data-action]").is_none());
    screenshot(&browser, "central-now");
    assert_stored(&back.event("end", number));
    browser.wait_for(
        &format!("#now-list [data-number='{number}'][data-desk=back][data-state=ended]"),
        WAIT,
    );
    assert!(browser.find("#now-list [data-action]").is_none());
    assert_eq!(
        browser.exec("return typeof window.__pwned", &[]),
        json!("undefined")
    );

    // (f) No script error and no Content-Security-Policy violation on any page.
    console.extend(browser.console());
    let bad: Vec<_> = console
        .iter()
        .filter(|l| l.level == "SEVERE" || l.message.contains("Content Security Policy"))
        .collect();
    assert!(bad.is_empty(), "browser console: {bad:#?}");
}

/// A desk added to central with `callhook central add-desk`, configured with the block it
/// printed.
fn team_desk(central: &Desk, server: &crate::served::Served, name: &str) -> Desk {
    let out = central.run(&["central", "add-desk", name, "--url", &server.url]);
    let block = &out[out.find("[central]").expect("a config block")..];
    Desk::new().with_config(block)
}

/// Waits until central's log of `name` is the desk's own, each call with its desk.
fn caught_up(server: &crate::served::Served, desk: &Desk, name: &str) {
    let mine = desk.json(&["calls", "--all"]);
    wait_until(
        Duration::from_secs(60),
        &format!("{name}'s calls at central"),
        || {
            let page = server.ok(&format!("/api/calls?limit=1000&desk={name}"));
            let theirs: Vec<Value> = page["calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    assert_eq!(c["desk"], name);
                    c.as_object_mut().unwrap().remove("desk");
                    c
                })
                .collect();
            theirs == mine
        },
    );
}

/// Picks `desk` in the desk filter of `form`, once the desks are known.
fn choose(browser: &Browser, form: &str, desk: &str) {
    let option = format!("{form} select[name=desk] option[value='{desk}']");
    browser.click(&browser.wait_for(&option, WAIT));
}

/// The desk of each row of the log, in order.
fn calls_desks(browser: &Browser) -> Vec<String> {
    list_desks(browser, "#calls-body")
}

/// The `data-desk` of each row of a list.
fn list_desks(browser: &Browser, list: &str) -> Vec<String> {
    let v = browser.exec(
        "return [...document.querySelectorAll(arguments[0] + ' > [data-desk]')]\
         .map(e => e.dataset.desk)",
        &[json!(list)],
    );
    serde_json::from_value(v).unwrap()
}
