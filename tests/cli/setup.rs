//! Living with MicroSIP: install and uninstall in microsip.ini, doctor, history import and
//! caller names. Installs here pass --force: under Windows other tests run programs named
//! microsip.exe meanwhile (`microsip::install_waits_for_microsip_to_exit` checks the refusal).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/microsip");
const EVENTS: [(&str, &str); 8] = [
    ("cmdIncomingCall", "incoming"),
    ("cmdCallRing", "ring"),
    ("cmdOutgoingCall", "outgoing"),
    ("cmdCallAnswer", "answer"),
    ("cmdCallAnswerVideo", "answer-video"),
    ("cmdCallStart", "start"),
    ("cmdCallBusy", "busy"),
    ("cmdCallEnd", "end"),
];

/// The hook program install points MicroSIP at: callhookw beside callhook.
fn hook_program() -> PathBuf {
    std::path::absolute(
        Path::new(BIN).with_file_name(format!("callhookw{}", std::env::consts::EXE_SUFFIX)),
    )
    .unwrap()
}

/// The text of an ini in whatever encoding it has (for assertions).
fn text(bytes: &[u8]) -> String {
    match bytes {
        [0xff, 0xfe, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16(&units).unwrap()
        }
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8(rest.to_vec()).unwrap(),
        _ => bytes.iter().map(|&b| b as char).collect(),
    }
}

fn value_of(ini: &str, key: &str) -> Option<String> {
    ini.lines().find_map(|l| {
        l.strip_prefix(&format!("{key}="))
            .map(|v| v.trim_end_matches('\r').to_string())
    })
}

/// callhook and callhookw, copied into `dir` as an admin installs them.
fn install_programs(dir: &Path) {
    let exe = std::env::consts::EXE_SUFFIX;
    for name in ["callhook", "callhookw"] {
        let file = format!("{name}{exe}");
        std::fs::copy(Path::new(BIN).with_file_name(&file), dir.join(&file)).unwrap();
    }
}

fn copy_fixture(desk: &Desk, name: &str) -> PathBuf {
    let ini = desk.path("MicroSIP/microsip.ini");
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join(name), &ini).unwrap();
    ini
}

fn backups(ini: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(ini.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("callhook-backup"))
        .collect()
}

#[test]
fn install_then_uninstall_leaves_every_encoding_byte_identical() {
    for fixture in [
        "microsip-utf16le.ini",
        "microsip-ansi.ini",
        "microsip-utf8bom.ini",
        "microsip-no-settings-utf16le.ini",
        "microsip-with-hooks-utf16le.ini",
    ] {
        let desk = Desk::new();
        let ini = copy_fixture(&desk, fixture);
        let original = std::fs::read(&ini).unwrap();
        let report = desk.run(&["install", "--force", "--ini", ini.to_str().unwrap()]);
        let installed = std::fs::read(&ini).unwrap();
        assert_eq!(
            installed[..2],
            original[..2],
            "{fixture}: the encoding stays"
        );
        let after = text(&installed);
        for (key, event) in EVENTS {
            let want = format!("\"\"{}\" event {event} --\"", hook_program().display());
            assert_eq!(
                value_of(&after, key),
                Some(want),
                "{fixture} {key}: {report}"
            );
        }
        assert_eq!(
            after.matches("\r\n").count(),
            after.matches('\n').count(),
            "{fixture}: CRLF kept"
        );
        // Every other line is as it was.
        let before = text(&original);
        let others = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !EVENTS.iter().any(|(k, _)| l.starts_with(&format!("{k}="))))
                .map(String::from)
                .collect()
        };
        let mut kept = others(&before);
        if !before.contains("[Settings]") {
            kept.push("[Settings]".into());
        }
        assert_eq!(others(&after).len(), kept.len(), "{fixture}");
        assert_eq!(backups(&ini).len(), 1, "{fixture}");
        assert_eq!(
            std::fs::read(&backups(&ini)[0]).unwrap(),
            original,
            "{fixture}: the backup"
        );

        let again = desk.run(&["install", "--force", "--ini", ini.to_str().unwrap()]);
        assert!(again.contains("already installed"), "{fixture}: {again}");
        assert_eq!(
            std::fs::read(&ini).unwrap(),
            installed,
            "{fixture}: idempotent"
        );

        desk.run(&["uninstall", "--force", "--ini", ini.to_str().unwrap()]);
        if fixture == "microsip-with-hooks-utf16le.ini" {
            // Its earlier keys already ran callhook: there is nothing else to put back.
            let back = text(&std::fs::read(&ini).unwrap());
            assert!(
                EVENTS
                    .iter()
                    .all(|(k, _)| value_of(&back, k).is_none_or(|v| v.is_empty())),
                "{back}"
            );
        } else {
            assert_eq!(
                std::fs::read(&ini).unwrap(),
                original,
                "{fixture}: byte-identical after uninstall"
            );
        }
    }
}

#[test]
fn earlier_hooks_of_other_programs_come_back_on_uninstall() {
    let desk = Desk::new();
    let ini = desk.path("microsip.ini");
    let original = "[Settings]\r\nlanguage=de\r\ncmdCallEnd=C:\\crm\\notify.exe\r\ncmdIncomingCall = \"C:\\crm\\pop.exe\" --in\r\n\r\n[Calls]\r\n";
    std::fs::write(&ini, original).unwrap();
    let report = desk.run(&[
        "install",
        "--force",
        "--ini",
        ini.to_str().unwrap(),
        "--events",
        "incoming,end",
    ]);
    assert!(report.contains("C:\\crm\\notify.exe  ->"), "{report}");
    let after = std::fs::read_to_string(&ini).unwrap();
    assert!(
        after.contains("cmdIncomingCall = \"\""),
        "the key keeps its spelling and spacing: {after}"
    );
    assert!(
        !after.contains("cmdCallRing"),
        "only the chosen events: {after}"
    );
    desk.run(&["uninstall", "--force", "--ini", ini.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&ini).unwrap(), original);
}

#[test]
fn dry_run_changes_nothing_and_the_installed_layout_is_found() {
    let desk = Desk::new();
    let ini = desk.path("home/AppData/Roaming/MicroSIP/microsip.ini");
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join("microsip-utf16le.ini"), &ini).unwrap();
    let original = std::fs::read(&ini).unwrap();
    let out = desk
        .command()
        .args(["install", "--dry-run"])
        .env("APPDATA", desk.path("home/AppData/Roaming"))
        .output()
        .unwrap();
    assert_success(&out, "install --dry-run");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("installed MicroSIP") && report.contains("Dry run"),
        "{report}"
    );
    assert!(report.contains("cmdCallAnswerVideo"), "{report}");
    assert_eq!(std::fs::read(&ini).unwrap(), original);
    assert!(backups(&ini).is_empty());
    // Nothing to find: a clear message.
    let out = desk
        .command()
        .arg("install")
        .env("APPDATA", desk.path("nowhere"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot find microsip.ini"));
}

#[test]
fn legacy_installs_write_one_program_per_event() {
    let desk = Desk::new();
    // A folder of its own, as the copies go beside the programs.
    let dir = desk.path("Program Files/callhook");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::consts::EXE_SUFFIX;
    install_programs(&dir);
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let original = std::fs::read(&ini).unwrap();
    let out = run_copied(desk.command_for(dir.join(format!("callhook{exe}"))).args([
        "install",
        "--force",
        "--legacy",
        "--ini",
        ini.to_str().unwrap(),
    ]));
    assert_success(&out, "install --legacy");
    let after = text(&std::fs::read(&ini).unwrap());
    let end = dir.join(format!("callhook-end{exe}"));
    assert!(end.is_file());
    assert_eq!(
        value_of(&after, "cmdCallEnd"),
        Some(format!(
            "\"{}\"",
            std::path::absolute(&end).unwrap().display()
        ))
    );
    // The copy is a working hook: its name is the event.
    let mut run = desk.command_for(&end);
    caller_arg(&mut run, "+4930 777");
    assert_stored(&run_copied(&mut run));
    assert_eq!(desk.events()[0].0, "end");
    let out = run_copied(desk.command_for(dir.join(format!("callhook{exe}"))).args([
        "uninstall",
        "--force",
        "--ini",
        ini.to_str().unwrap(),
    ]));
    assert_success(&out, "uninstall");
    assert!(
        std::fs::read(&ini).unwrap() == original,
        "{}",
        text(&std::fs::read(&ini).unwrap())
    );
    assert!(!end.exists(), "the copies are removed");
}

#[test]
fn a_path_too_long_for_microsip_is_refused_with_advice() {
    let desk = Desk::new();
    // A folder whose programs' paths are 240 characters: short enough for Windows, too long
    // for a hook value MicroSIP reads in full.
    let exe = std::env::consts::EXE_SUFFIX;
    let base = std::path::absolute(desk.path("")).unwrap();
    let room = 240 - base.as_os_str().len() - format!("/callhookw{exe}").len();
    let mut deep = base.clone();
    let mut left = room;
    while left > 0 {
        let part = left.min(100);
        let name = "x".repeat(if left > part { part - 1 } else { part });
        left -= name.len() + usize::from(left > name.len());
        deep = deep.join(name);
    }
    std::fs::create_dir_all(&deep).unwrap();
    install_programs(&deep);
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let out = run_copied(desk.command_for(deep.join(format!("callhook{exe}"))).args([
        "install",
        "--force",
        "--ini",
        ini.to_str().unwrap(),
    ]));
    if out.status.success() {
        // Windows gave a short 8.3 path that fits.
        let after = text(&std::fs::read(&ini).unwrap());
        let value = value_of(&after, "cmdCallAnswerVideo").unwrap();
        assert!(value.len() - 2 <= 255, "{value}");
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("MicroSIP reads only 255") && err.contains("shorter folder"),
            "{err}"
        );
    }
}

/// An ini whose `[Calls]` holds MicroSIP's own history.
fn history_ini(desk: &Desk, calls: &[(&str, &str)]) -> PathBuf {
    let ini = desk.path("MicroSIP/microsip.ini");
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    let mut text = String::from("[Settings]\r\ncallsLastKey=9\r\n[Calls]\r\n");
    for (key, value) in calls {
        text.push_str(&format!("{key}={value}\r\n"));
    }
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&ini, bytes).unwrap();
    ini
}

#[test]
fn microsips_history_is_imported_once() {
    let desk = Desk::new().with_config("[numbers]\ncountry_code = \"49\"\n");
    // A call the hook saw is also in MicroSIP's history.
    let seen_at = 1_790_000_000;
    assert_stored(&desk.event_at(seen_at * 1000 + 400, "incoming", "0301234"));
    let ini = history_ini(
        &desk,
        &[
            ("0", "0301234;Front desk;1;1790000000;35;"),
            ("1", "+4930999;Müller; Hans;2;1790001000;0;"),
            ("2", "200;;0;1790002000;61;"),
            ("3", "201;;0;1790003000;0;"),
            ("4", "300;Ann;3;1790004000;20;"),
            ("5", "null"),
            ("6", "broken line"),
            ("7", "400;x;9;1790005000;0;"),
        ],
    );
    let report = desk.run(&["import", "--ini", ini.to_str().unwrap()]);
    assert!(
        report.contains(
            "Imported 4 calls; 0 were imported before; 1 are calls the hook recorded; 2 lines"
        ),
        "{report}"
    );
    let calls = desk.calls();
    let imported: Vec<(String, String, String, Value)> = calls
        .iter()
        .filter(|c| c["number"] != "+49301234")
        .map(|c| {
            (
                str_field(c, "number").into(),
                str_field(c, "direction").into(),
                str_field(c, "status").into(),
                c["name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        imported,
        [
            (
                "+4930999".to_string(),
                "in".to_string(),
                "missed".to_string(),
                Value::from("Müller; Hans")
            ),
            ("200".into(), "out".into(), "answered".into(), Value::Null),
            ("201".into(), "out".into(), "no-answer".into(), Value::Null),
            (
                "300".into(),
                "in".into(),
                "answered".into(),
                Value::from("Ann")
            ),
        ]
    );
    let talk: Vec<Value> = calls
        .iter()
        .filter(|c| c["number"] == "200")
        .map(|c| c["talk_seconds"].clone())
        .collect();
    assert_eq!(talk, [Value::from(61.0)]);
    let again = desk.run(&["import", "--ini", ini.to_str().unwrap()]);
    assert!(
        again.contains("Imported 0 calls; 4 were imported before"),
        "{again}"
    );
    assert_eq!(desk.calls().len(), 5);
}

#[test]
fn caller_names_come_from_the_contacts() {
    let desk = Desk::new();
    let xml = desk.path("MicroSIP/Contacts.xml");
    std::fs::create_dir_all(xml.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join("contacts-3.22.3.xml"), &xml).unwrap();
    let csv = desk.path("names.csv");
    std::fs::write(&csv, "number,name\r\n+4930222,Zoë from the CSV\r\n").unwrap();
    let record = desk.path("tmp/popups.jsonl");
    let desk = desk.with_config(&format!(
        "[contacts]\nxml = {}\ncsv = {}\n\n[popup]\nurl = \"https://crm.example.com/?who={{name}}\"\nopener = [{}, {}]\n",
        toml_str(xml.to_str().unwrap()),
        toml_str(csv.to_str().unwrap()),
        toml_str(example("recorder").to_str().unwrap()),
        toml_str(record.to_str().unwrap()),
    ));
    for caller in [
        "100",
        "+4930111",
        "+4930222",
        "+81312345678",
        "+15550001",
        "555",
    ] {
        assert_stored(&desk.event("incoming", caller));
    }
    let names: Vec<Value> = desk.calls().iter().map(|c| c["name"].clone()).collect();
    assert_eq!(
        names,
        [
            Value::from("Alice Example"),
            Value::from("Alice Example"),
            Value::from("Zoë from the CSV"),
            Value::from("佐藤 花子"),
            Value::from("Grace Hopper"),
            Value::Null,
        ]
    );
    wait_until(std::time::Duration::from_secs(30), "the popups", || {
        desk.recorded(&record).len() == 6
    });
    let urls: Vec<String> = desk
        .recorded(&record)
        .iter()
        .map(|r| r["args"][0].as_str().unwrap().to_string())
        .collect();
    assert!(
        urls.contains(&"https://crm.example.com/?who=Alice%20Example".to_string()),
        "{urls:?}"
    );
    // A changed file is read again at the next event.
    std::fs::write(&csv, "+4930222,Zoe (new)\n555,Five Five\n").unwrap();
    assert_stored(&desk.event("incoming", "555"));
    assert_eq!(desk.calls().last().unwrap()["name"], "Five Five");
}

#[test]
fn doctor_says_what_is_wrong_and_how_to_fix_it() {
    let desk = Desk::new();
    let out = desk
        .command()
        .args([
            "doctor",
            "--ini",
            desk.path("nowhere.ini").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("microsip.ini") && report.contains("FAIL"),
        "{report}"
    );

    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let ini_arg = ini.to_str().unwrap();
    let out = desk
        .command()
        .args(["doctor", "--ini", ini_arg])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("no event runs callhook") && report.contains("callhook install"),
        "{report}"
    );
    assert!(!out.status.success());

    desk.run(&["install", "--force", "--ini", ini_arg]);
    assert_stored(&desk.event("incoming", "1"));
    let out = desk
        .command()
        .args(["doctor", "--ini", ini_arg])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("every event runs callhook") && report.contains("Everything needed works"),
        "{report}"
    );

    // A webhook nobody answers and an opener that does not exist.
    let port = crate::server::closed_port();
    let desk = desk.with_config(&format!(
        "[[webhook]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{port}/\"\n\n[popup]\nurl = \"https://x.example.com/{{number}}\"\nopener = [\"/no/such/browser\"]\n"
    ));
    let out = desk
        .command()
        .args(["doctor", "--ini", ini_arg])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        report.contains("webhook crm") && report.contains("/no/such/browser"),
        "{report}"
    );
}

#[test]
fn a_portable_microsip_wins_over_the_installed_one() {
    let desk = Desk::new();
    // Both exist: the installed one in %APPDATA%, and a portable copy with its ini beside it.
    let installed = desk.path("home/AppData/Roaming/MicroSIP/microsip.ini");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join("microsip-utf16le.ini"), &installed).unwrap();
    let portable_dir = desk.path("home/AppData/Local/MicroSIP");
    std::fs::create_dir_all(&portable_dir).unwrap();
    std::fs::write(portable_dir.join("microsip.exe"), b"MZ").unwrap();
    let portable = portable_dir.join("microsip.ini");
    std::fs::copy(Path::new(FIXTURES).join("microsip-ansi.ini"), &portable).unwrap();
    let untouched = std::fs::read(&installed).unwrap();
    let report = desk.run(&["install", "--force"]);
    assert!(report.contains("portable MicroSIP"), "{report}");
    assert!(text(&std::fs::read(&portable).unwrap()).contains("event incoming --"));
    assert_eq!(std::fs::read(&installed).unwrap(), untouched);
    let report = desk.run(&["uninstall", "--force"]);
    assert!(report.contains("portable MicroSIP"), "{report}");
}
