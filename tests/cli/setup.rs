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
            String::from_utf16_lossy(&units)
        }
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8(rest.to_vec()).unwrap(),
        _ => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// The value of the first line of `key` (spacing around `=` and the value ignored).
fn value_of(ini: &str, key: &str) -> Option<String> {
    ini.lines().find_map(|l| {
        let (name, value) = l.split_once('=')?;
        (name.trim() == key).then(|| value.trim().to_string())
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

/// The hook key of an ini line, if it is one (any case, any spacing).
fn hook_key(line: &str) -> Option<&'static str> {
    let (key, _) = line.split_once('=').unwrap_or((line, ""));
    let key = key.trim_matches([' ', '\t', '\r', '\n']);
    EVENTS
        .iter()
        .map(|(k, _)| *k)
        .find(|k| k.eq_ignore_ascii_case(key))
}

/// The lines of an ini's text with their endings, the value of each hook key masked (its
/// spelling, spacing and line ending kept): what install and uninstall must not change.
fn masked(text: &str) -> Vec<String> {
    text.split_inclusive('\n')
        .map(|line| {
            if hook_key(line).is_none() {
                return line.to_string();
            }
            let body = line.trim_end_matches(['\r', '\n']);
            let ending = &line[body.len()..];
            let Some((key, value)) = body.split_once('=') else {
                return format!("{body}=<value>{ending}");
            };
            let lead = value.len() - value.trim_start().len();
            let trail = value.len() - value.trim_end().len();
            format!(
                "{key}={}<value>{}{ending}",
                &value[..lead],
                &value[value.len() - trail..]
            )
        })
        .collect()
}

/// Every byte outside the hook keys' values is as it was: the same lines in the same order,
/// plus only the keys (and the `[Settings]` header) that were not there before.
fn assert_only_hook_values_changed(before: &str, after: &str, what: &str) {
    let had: Vec<&str> = before.split_inclusive('\n').filter_map(hook_key).collect();
    let had_settings = before.contains("[Settings]");
    let kept: Vec<String> = masked(after)
        .into_iter()
        .filter(|line| hook_key(line).is_none_or(|k| had.contains(&k)))
        .filter(|line| had_settings || line.trim_end() != "[Settings]")
        .collect();
    assert_eq!(
        kept,
        masked(before),
        "{what}: lines outside the hook values changed"
    );
}

#[test]
fn install_then_uninstall_leaves_every_encoding_byte_identical() {
    for fixture in [
        "microsip-utf16le.ini",
        "microsip-ansi.ini",
        "microsip-utf8bom-comment-first.ini",
        "microsip-no-settings-utf16le.ini",
        "microsip-with-hooks-utf16le.ini",
        "microsip-ansi-earlier-hooks.ini",
        "microsip-utf16le-earlier-hooks.ini",
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
        assert_only_hook_values_changed(&text(&original), &after, fixture);
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

        // In the same second as the install, as a script would: its backup stays.
        let report = desk.run(&["uninstall", "--force", "--ini", ini.to_str().unwrap()]);
        let saved: Vec<Vec<u8>> = backups(&ini)
            .iter()
            .map(|b| std::fs::read(b).unwrap())
            .collect();
        assert_eq!(saved.len(), 2, "{fixture}: one backup per write");
        assert!(
            saved.contains(&original),
            "{fixture}: the backup of the original was overwritten"
        );
        assert!(saved.contains(&installed), "{fixture}");
        if fixture == "microsip-with-hooks-utf16le.ini" {
            // Its earlier keys already ran callhook: there is nothing else to put back.
            let back = text(&std::fs::read(&ini).unwrap());
            assert!(
                EVENTS
                    .iter()
                    .all(|(k, _)| value_of(&back, k).is_none_or(|v| v.is_empty())),
                "{back}"
            );
            // The original is what is left plus the earlier hook keys.
            assert_only_hook_values_changed(&back, &text(&original), fixture);
        } else {
            assert_eq!(
                std::fs::read(&ini).unwrap(),
                original,
                "{fixture}: byte-identical after uninstall: {report}"
            );
        }
    }
}

#[test]
fn the_comparison_outside_the_hook_values_sees_changes() {
    let before = "[Settings]\r\na=1\r\ncmdCallEnd = x \r\n";
    assert_only_hook_values_changed(before, "[Settings]\r\na=1\r\ncmdCallEnd = y \r\n", "ok");
    assert_only_hook_values_changed(
        before,
        "[Settings]\r\na=1\r\ncmdCallEnd = y \r\ncmdCallRing=z\r\n",
        "ok",
    );
    for after in [
        "[Settings]\r\na=2\r\ncmdCallEnd = y \r\n",
        "[Settings]\r\na=1\ncmdCallEnd = y \r\n",
        "[Settings]\r\na=1\r\ncmdCallEnd= y \r\n",
        "[Settings]\r\ncmdCallEnd = y \r\na=1\r\n",
        "[Settings]\r\na=1\r\ncmdCallEnd = y \r\nb=1\r\n",
    ] {
        let caught = std::panic::catch_unwind(|| {
            assert_only_hook_values_changed(before, after, "changed");
        });
        assert!(caught.is_err(), "{after:?} passed");
    }
}

#[test]
fn a_utf8_mark_before_settings_is_refused_with_advice() {
    let desk = Desk::new();
    let ini = copy_fixture(&desk, "microsip-utf8bom.ini");
    let original = std::fs::read(&ini).unwrap();
    let out = desk
        .command()
        .args(["install", "--force", "--ini", ini.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("UTF-8 byte-order mark") && err.contains("UTF-16 LE"),
        "{err}"
    );
    assert_eq!(std::fs::read(&ini).unwrap(), original);
    assert!(backups(&ini).is_empty());
    let out = desk
        .command()
        .args(["doctor", "--ini", ini.to_str().unwrap()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("UTF-8 byte-order"), "{report}");

    // A mark before another first line only garbles that line: installed, with a warning.
    let ini = copy_fixture(&desk, "microsip-utf8bom-comment-first.ini");
    let report = desk.run(&["install", "--force", "--ini", ini.to_str().unwrap()]);
    assert!(
        report.contains("Warning") && report.contains("UTF-8"),
        "{report}"
    );
    let out = desk
        .command()
        .args(["doctor", "--ini", ini.to_str().unwrap()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("UTF-8 byte-order mark"), "{report}");
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

/// `callhook doctor --ini <ini>` run by `program`: (success, report).
fn doctor_of(desk: &Desk, program: &Path, ini: &Path) -> (bool, String) {
    let out = run_copied(desk.command_for(program).args(["doctor", "--ini"]).arg(ini));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn legacy_installs_write_one_program_per_event() {
    let desk = Desk::new();
    // A folder of its own, as the copies go beside the programs; with a space, as in
    // C:\Users\John Smith.
    let dir = desk.path("Program Files/callhook");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::consts::EXE_SUFFIX;
    let callhook = dir.join(format!("callhook{exe}"));
    install_programs(&dir);
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let original = std::fs::read(&ini).unwrap();
    let install = || {
        let out = run_copied(desk.command_for(&callhook).args([
            "install",
            "--force",
            "--legacy",
            "--ini",
            ini.to_str().unwrap(),
        ]));
        assert_success(&out, "install --legacy");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    install();
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

    // doctor reads each value as one path, spaces and all.
    let (ok, report) = doctor_of(&desk, &callhook, &ini);
    assert!(ok, "{report}");
    assert!(report.contains("every event runs callhook"), "{report}");
    // As MicroSIP 3.19.2 saves it back: without the quotes.
    let bare = std::fs::read(&ini).unwrap();
    let end_path = std::path::absolute(&end).unwrap().display().to_string();
    let unquoted = text(&bare).replace(&format!("\"{end_path}\""), &end_path);
    assert_ne!(unquoted, text(&bare));
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(unquoted.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&ini, &bytes).unwrap();
    let (ok, report) = doctor_of(&desk, &callhook, &ini);
    assert!(ok, "{report}");
    std::fs::write(&ini, &bare).unwrap();

    // An upgrade: the programs change, the copies are out of date until install runs again;
    // a deleted copy is written again.
    let ring = dir.join(format!("callhook-ring{exe}"));
    std::fs::write(&ring, b"an older callhook").unwrap();
    std::fs::remove_file(&end).unwrap();
    let (ok, report) = doctor_of(&desk, &callhook, &ini);
    assert!(!ok, "{report}");
    assert!(
        report.contains("older callhook") && report.contains("does not exist"),
        "{report}"
    );
    let report = install();
    assert!(
        report.contains("update") && report.contains("write"),
        "{report}"
    );
    assert_eq!(
        std::fs::read(&ring).unwrap(),
        std::fs::read(dir.join(format!("callhookw{exe}"))).unwrap()
    );
    assert!(end.is_file());
    assert!(!dir.join(format!("callhook-ring{exe}.old")).exists());
    assert_eq!(
        std::fs::read(&ini).unwrap(),
        bare,
        "the keys were right already"
    );
    let (ok, report) = doctor_of(&desk, &callhook, &ini);
    assert!(ok, "{report}");
    assert!(install().contains("already installed"));

    let out = run_copied(desk.command_for(&callhook).args([
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
    assert!(!end.exists() && !ring.exists(), "the copies are removed");
}

#[test]
fn a_path_too_long_for_microsip_takes_the_short_folder_or_is_refused() {
    let desk = Desk::new();
    // A folder whose programs' paths are 245 characters: short enough for Windows (260), too
    // long for any hook value MicroSIP reads in full (255), even `… event end --`.
    let exe = std::env::consts::EXE_SUFFIX;
    let base = std::path::absolute(desk.path("")).unwrap();
    let room = 245 - base.as_os_str().len() - format!("/callhookw{exe}").len();
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
    let original = std::fs::read(&ini).unwrap();
    let callhook = deep.join(format!("callhook{exe}"));
    let out = run_copied(desk.command_for(&callhook).args([
        "install",
        "--force",
        "--ini",
        ini.to_str().unwrap(),
    ]));
    if cfg!(windows) {
        // Windows (and wine) gives the folder a short 8.3 path; the file name stays, so that
        // the value is still recognised as callhook's.
        assert_success(&out, "install into a deep folder");
        let after = text(&std::fs::read(&ini).unwrap());
        for (key, event) in EVENTS {
            let value = value_of(&after, key).unwrap();
            assert!(value.len() - 2 <= 255, "{value}");
            let suffix = format!("\\callhookw.exe\" event {event} --\"");
            assert!(value.ends_with(&suffix), "{value}");
            assert!(value.contains('~'), "a short folder: {value}");
        }
        let out = run_copied(
            desk.command_for(&callhook)
                .args(["doctor", "--ini"])
                .arg(&ini),
        );
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(report.contains("every event runs callhook"), "{report}");
        let out = run_copied(desk.command_for(&callhook).args([
            "uninstall",
            "--force",
            "--ini",
            ini.to_str().unwrap(),
        ]));
        assert_success(&out, "uninstall");
        assert_eq!(
            std::fs::read(&ini).unwrap(),
            original,
            "uninstall removed them"
        );
    } else {
        // No short names here: refused with advice, and nothing written.
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("MicroSIP reads only 255") && err.contains("shorter folder"),
            "{err}"
        );
        assert_eq!(std::fs::read(&ini).unwrap(), original);
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
    let dry = desk.run(&["import", "--dry-run", "--ini", ini.to_str().unwrap()]);
    assert!(dry.contains("Would import 4 calls"), "{dry}");
    assert_eq!(desk.calls().len(), 1, "a dry run imports nothing");
    let report = desk.run(&["import", "--ini", ini.to_str().unwrap()]);
    for said in [
        "Imported 4 calls from MicroSIP's history.",
        "1 call was one callhook recorded itself (the same number within a minute), and not again.",
        "2 entries of [Calls] cannot be read, and were skipped:",
    ] {
        assert!(report.contains(said), "{said}\n{report}");
    }
    assert!(!report.contains("imported before"), "{report}");
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
        again.contains("Imported 0 calls from MicroSIP's history.\n4 calls were imported before"),
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
    // The files are read by the worker the first hook started (not by the hook, which
    // MicroSIP waits for); it names the calls stored meanwhile.
    let want = [
        Value::from("Alice Example"),
        Value::from("Alice Example"),
        Value::from("Zoë from the CSV"),
        Value::from("佐藤 花子"),
        Value::from("Grace Hopper"),
        Value::Null,
    ];
    let names = || -> Vec<Value> { desk.calls().iter().map(|c| c["name"].clone()).collect() };
    wait_until(std::time::Duration::from_secs(30), "the names", || {
        names() == want
    });
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
    // A changed file is read again after the next event, and the new name reaches the popup.
    std::fs::write(&csv, "+4930222,Zoe (new)\n555,Five Five\n").unwrap();
    // A new call from 555, seconds later (not a repeat of its first).
    let now = chrono::Utc::now().timestamp_millis();
    assert_stored(&desk.event_at(now + 5_000, "end", "555"));
    assert_stored(&desk.event_at(now + 6_000, "incoming", "555"));
    wait_until(std::time::Duration::from_secs(30), "the new name", || {
        desk.calls().last().unwrap()["name"] == "Five Five"
    });
    wait_until(std::time::Duration::from_secs(30), "the popup", || {
        desk.recorded(&record).len() == 7
    });
    let last = desk.recorded(&record).last().unwrap()["args"][0].clone();
    assert_eq!(last, "https://crm.example.com/?who=Five%20Five");
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

#[test]
fn doctor_counts_only_the_hooks_that_run_this_callhook() {
    let desk = Desk::new();
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let ini_arg = ini.to_str().unwrap();
    let doctor = || doctor_of(&desk, Path::new(BIN), &ini);

    // Some events only: a failure that names the missing ones.
    desk.run(&[
        "install",
        "--force",
        "--ini",
        ini_arg,
        "--events",
        "incoming,end",
    ]);
    let (ok, report) = doctor();
    assert!(!ok, "{report}");
    assert!(
        report.contains("2 of 8 events run callhook") && report.contains("cmdCallRing"),
        "{report}"
    );
    desk.run(&["uninstall", "--force", "--ini", ini_arg]);

    // Every key runs another program: none runs callhook.
    let other: Vec<String> = std::iter::once("[Settings]".to_string())
        .chain(
            EVENTS
                .iter()
                .map(|(k, _)| format!("{k}=C:\\crm\\notify.exe")),
        )
        .collect();
    write_utf16(&ini, &other);
    let (ok, report) = doctor();
    assert!(!ok, "{report}");
    assert!(!report.contains("every event runs callhook"), "{report}");
    assert!(report.contains("0 of 8 events run callhook"), "{report}");
    assert!(report.contains("runs another program"), "{report}");

    // An older install elsewhere, and a key that records the wrong event.
    let old = desk.path("old place");
    std::fs::create_dir_all(&old).unwrap();
    install_programs(&old);
    let exe = std::env::consts::EXE_SUFFIX;
    let old_hook = std::path::absolute(old.join(format!("callhookw{exe}"))).unwrap();
    let mut lines = vec!["[Settings]".to_string()];
    for (key, event) in EVENTS {
        let (program, event) = match key {
            "cmdCallEnd" => (hook_program(), "ring"),
            "cmdCallBusy" => (old_hook.clone(), event),
            _ => (hook_program(), event),
        };
        lines.push(format!(
            "{key}=\"\"{}\" event {event} --\"",
            program.display()
        ));
    }
    write_utf16(&ini, &lines);
    let (ok, report) = doctor();
    assert!(!ok, "{report}");
    assert!(report.contains("6 of 8 events run callhook"), "{report}");
    assert!(
        report.contains("records the event ring, not end"),
        "{report}"
    );
    assert!(
        report.contains("not this callhook") && report.contains("old place"),
        "{report}"
    );
    // The old program's own doctor sees the others as not its own.
    let (ok, report) = doctor_of(&desk, &old.join(format!("callhook{exe}")), &ini);
    assert!(!ok && report.contains("1 of 8 events"), "{report}");
}

/// An ini as MicroSIP writes it: UTF-16LE with a BOM, CRLF.
fn write_utf16(path: &Path, lines: &[String]) {
    let text = lines.join("\r\n") + "\r\n";
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn doctor_reads_the_database_without_migrating_it() {
    let desk = Desk::new();
    assert_stored(&desk.event("incoming", "1"));
    let current: u32 = desk
        .conn()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    desk.conn()
        .pragma_update(None, "user_version", current - 1)
        .unwrap();
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let (_, report) = doctor_of(&desk, Path::new(BIN), &ini);
    assert!(
        report.contains(&format!(
            "schema {}, older than this callhook's ({current})",
            current - 1
        )),
        "{report}"
    );
    let after: u32 = desk
        .conn()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(after, current - 1, "doctor migrated the database");
    desk.conn()
        .pragma_update(None, "user_version", current)
        .unwrap();
    let (_, report) = doctor_of(&desk, Path::new(BIN), &ini);
    assert!(
        report.contains(&format!("schema {current} (current)")),
        "{report}"
    );
}

#[test]
fn the_ini_is_the_same_however_its_path_is_spelled() {
    let desk = Desk::new();
    let ini = copy_fixture(&desk, "microsip-ansi-earlier-hooks.ini");
    let original = std::fs::read(&ini).unwrap();
    desk.run(&["install", "--force", "--ini", ini.to_str().unwrap()]);
    // Another spelling of the same file: through `..` (and on Windows, in capitals).
    let dir = ini.parent().unwrap();
    let other = dir
        .join("..")
        .join(dir.file_name().unwrap())
        .join(if cfg!(windows) {
            "MICROSIP.INI"
        } else {
            "microsip.ini"
        });
    let report = desk.run(&["uninstall", "--force", "--ini", other.to_str().unwrap()]);
    assert!(report.contains("as before callhook"), "{report}");
    assert_eq!(
        std::fs::read(&ini).unwrap(),
        original,
        "the earlier hooks came back: {report}"
    );
}

#[test]
fn caller_names_come_from_the_contacts_next_to_the_hooked_ini() {
    let desk = Desk::new();
    // A portable MicroSIP, away from %APPDATA%: its Contacts.xml is beside its ini.
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    std::fs::copy(
        Path::new(FIXTURES).join("contacts-3.19.xml"),
        ini.with_file_name("Contacts.xml"),
    )
    .unwrap();
    // The installed MicroSIP's, which is not the one in use.
    let appdata = desk.path("home/AppData/Roaming/MicroSIP");
    std::fs::create_dir_all(&appdata).unwrap();
    std::fs::write(
        appdata.join("Contacts.xml"),
        r#"<contacts><contact name="Installed one" number="777" phone="888" mobile="999"/></contacts>"#,
    )
    .unwrap();
    // Each number once: events of a number close together fold into one call.
    let name_of = |desk: &Desk, number: &str| {
        assert_stored(&desk.event("incoming", number));
        assert_stored(&desk.event("end", number));
        // A changed file is read by the worker the hook started (then it lets the contacts
        // lane go), or by this one, and the call named.
        wait_until(std::time::Duration::from_secs(30), "the contacts", || {
            desk.conn()
                .query_row(
                    "SELECT count(*) FROM worker_leases WHERE lane = 'contacts'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap()
                == 0
        });
        desk.run(&["deliver"]);
        desk.calls()
            .iter()
            .rev()
            .find(|c| c["number"] == number)
            .unwrap()["name"]
            .clone()
    };
    assert_eq!(
        name_of(&desk, "777"),
        "Installed one",
        "before install: %APPDATA%"
    );

    let report = desk.run(&["install", "--force", "--ini", ini.to_str().unwrap()]);
    assert!(report.contains("Caller names: from"), "{report}");
    assert_eq!(name_of(&desk, "100"), "Alice Example", "{report}");
    assert_eq!(
        name_of(&desk, "999"),
        Value::Null,
        "the other file's names are gone"
    );
    let (_, doctor) = doctor_of(&desk, Path::new(BIN), &ini);
    assert!(doctor.contains("next to the microsip.ini"), "{doctor}");

    // The config's file still wins.
    let configured = desk.path("other.xml");
    std::fs::write(
        &configured,
        r#"<contacts><contact name="From the config" number="555"/></contacts>"#,
    )
    .unwrap();
    let desk = desk.with_config(&format!(
        "[contacts]\nxml = {}\n",
        toml_str(configured.to_str().unwrap())
    ));
    assert_eq!(name_of(&desk, "555"), "From the config");
    assert_eq!(name_of(&desk, "+4930123456"), Value::Null);
    std::fs::remove_file(&desk.config).unwrap();

    // Uninstalled: back to %APPDATA%.
    desk.run(&["uninstall", "--force", "--ini", ini.to_str().unwrap()]);
    assert_eq!(name_of(&desk, "888"), "Installed one");
}

#[test]
fn install_refuses_to_hook_the_console_program() {
    // `cargo run -- install` builds callhook alone: no callhookw beside it.
    let desk = Desk::new();
    let bin = desk.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let program = bin.join(format!("callhook{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(BIN, &program).unwrap();
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let original = std::fs::read(&ini).unwrap();
    let out = run_copied(
        desk.command_for(&program)
            .args(["install", "--ini"])
            .arg(&ini),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("callhookw") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&ini).unwrap(), original, "nothing written");
    // Forced, it installs and says what that means; doctor warns about it.
    let out = run_copied(
        desk.command_for(&program)
            .args(["install", "--force", "--ini"])
            .arg(&ini),
    );
    assert_success(&out, "install --force");
    assert!(String::from_utf8_lossy(&out.stderr).contains("console"));
    let (_, report) = doctor_of(&desk, &program, &ini);
    assert!(
        report.contains("8 events run the console program callhook"),
        "{report}"
    );
    // With callhookw beside it, doctor is content again after an install.
    install_programs(&bin);
    let hookw = bin.join(format!("callhookw{}", std::env::consts::EXE_SUFFIX));
    assert!(hookw.exists());
    let out = run_copied(
        desk.command_for(&program)
            .args(["install", "--ini"])
            .arg(&ini),
    );
    assert_success(&out, "install");
    let (_, report) = doctor_of(&desk, &program, &ini);
    assert!(!report.contains("console program"), "{report}");
}

#[test]
fn a_contacts_file_that_goes_away_takes_its_names_with_it() {
    let desk = Desk::new();
    let appdata = desk.path("home/AppData/Roaming/MicroSIP");
    std::fs::create_dir_all(&appdata).unwrap();
    let xml = appdata.join("Contacts.xml");
    std::fs::write(
        &xml,
        r#"<contacts><contact name="Ann" number="777"/></contacts>"#,
    )
    .unwrap();
    let sources = || -> i64 {
        desk.conn()
            .query_row("SELECT count(*) FROM contact_sources", [], |r| r.get(0))
            .unwrap()
    };
    assert_stored(&desk.event("incoming", "1"));
    wait_until(std::time::Duration::from_secs(30), "the names", || {
        sources() == 1
    });
    std::fs::remove_file(&xml).unwrap();
    assert_stored(&desk.event("incoming", "2"));
    wait_until(
        std::time::Duration::from_secs(30),
        "the names to go",
        || sources() == 0,
    );
    let names: i64 = desk
        .conn()
        .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(names, 0);
}
