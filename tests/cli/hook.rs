//! `callhook event`: what reaches the database, exactly.

use crate::support::*;

/// Caller texts a caller can send (MicroSIP copies them from SIP headers unescaped).
const HOSTILE: &[&str] = &[
    "1 & x --event end",
    "\"; DROP TABLE calls;--",
    "%20",
    "a%00b",
    "--help",
    "--db /tmp/elsewhere.db",
    "a  b   c",
    "| whoami > out.txt ^ %PATH% <in",
    "\"Bob\" \\\"x\\\" C:\\path\\ \\\\server\\share\\\"",
    "esc\x1b[31mred\x07 bell\ttab",
    "\u{202e}txt.exe \u{5e9}\u{5dc}\u{5d5}\u{5dd} \u{1f600}",
    "",
];

#[test]
fn hostile_callers_are_stored_verbatim() {
    let desk = Desk::new();
    for caller in HOSTILE {
        assert_stored(&desk.event("incoming", caller));
    }
    let stored: Vec<String> = desk.events().into_iter().map(|e| e.1).collect();
    assert_eq!(stored, HOSTILE);
    let calls = desk.calls();
    let raws: Vec<&str> = calls.iter().map(|c| str_field(c, "raw")).collect();
    assert_eq!(raws, HOSTILE);
    // The database is whole: the SQL-looking caller was only text.
    assert_eq!(
        desk.count("SELECT count(*) FROM calls"),
        HOSTILE.len() as i64
    );
}

#[test]
fn hostile_callers_never_reach_the_terminal_raw() {
    let desk = Desk::new();
    for caller in HOSTILE {
        assert_stored(&desk.event("incoming", caller));
    }
    let table = desk.run(&["calls"]);
    assert!(!table.contains('\x1b'), "{table}");
    assert!(!table.contains('\x07'), "{table}");
    assert!(!table.contains('\u{202e}'), "{table}");
    assert!(table.contains("esc\\e[31mred\\u{7} bell\\ttab"), "{table}");
    assert!(table.contains("\\u{202e}txt.exe"), "{table}");
}

#[test]
fn long_callers_are_cut_at_one_kibibyte() {
    let desk = Desk::new();
    let long = "9".repeat(10 * 1024);
    assert_stored(&desk.event("incoming", &long));
    let events = desk.events();
    assert_eq!(events[0].1, long[..1024]);
    assert!(events[0].3, "truncated flag");
    assert_stored(&desk.event("incoming", "short"));
    assert!(!desk.events()[1].3);
}

#[test]
fn long_callers_are_cut_between_characters() {
    let desk = Desk::new();
    let long = format!("x{}", "😀\u{202e}".repeat(2000));
    assert_stored(&desk.event("incoming", &long));
    let (_, text, _, truncated) = desk.events().remove(0);
    assert!(truncated);
    assert!(text.len() <= 1024 && text.len() > 1016, "{}", text.len());
    assert!(long.starts_with(&text));
}

#[test]
fn numbers_are_normalized_with_the_configured_plan() {
    let desk = Desk::new().with_config("[numbers]\ncountry_code = \"49\"\n");
    for caller in [
        "030 1234567",
        "sip:+49301234567@pbx.example.com",
        "0049-30-1234567",
    ] {
        assert_stored(&desk.event("incoming", caller));
    }
    assert_stored(&desk.event("incoming", "\"Front desk\" <sip:anonymous@pbx>"));
    let numbers: Vec<String> = desk.events().into_iter().map(|e| e.2).collect();
    assert_eq!(
        numbers,
        ["+49301234567", "+49301234567", "+49301234567", "anonymous"]
    );
}

#[test]
fn the_event_may_come_without_a_double_dash() {
    let desk = Desk::new();
    let out = desk
        .command()
        .args(["event", "incoming", "555"])
        .output()
        .unwrap();
    assert_stored(&out);
    let out = desk
        .command()
        .args(["event", "--time", &T0.to_string(), "start", "--", "555"])
        .output()
        .unwrap();
    assert_stored(&out);
    let events = desk.events();
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("start", "555")
    );
    assert_eq!(
        (events[1].0.as_str(), events[1].1.as_str()),
        ("incoming", "555")
    );
}

#[cfg(unix)]
#[test]
fn several_arguments_are_joined_by_single_spaces() {
    let desk = Desk::new();
    let out = desk
        .command()
        .args(["event", "ring", "--", "1", "&", "x", "--event", "end"])
        .output()
        .unwrap();
    assert_stored(&out);
    assert_eq!(desk.events()[0].1, "1 & x --event end");
}

#[cfg(unix)]
#[test]
fn invalid_utf8_is_kept_exactly() {
    use std::os::unix::ffi::OsStrExt;
    let desk = Desk::new();
    let raw = b"\xff\xfe+4930\xc3";
    let out = desk
        .command()
        .args(["event", "incoming", "--"])
        .arg(std::ffi::OsStr::from_bytes(raw))
        .output()
        .unwrap();
    assert_stored(&out);
    let (text, bytes): (String, Vec<u8>) = desk
        .conn()
        .query_row("SELECT caller, caller_bytes FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(bytes, raw);
    assert_eq!(text, "\u{fffd}\u{fffd}+4930\u{fffd}");
}

#[test]
fn legacy_hook_names_carry_the_event() {
    let desk = Desk::new();
    let name = format!("callhook-end{}", std::env::consts::EXE_SUFFIX);
    let legacy = desk.path(&name);
    std::fs::copy(BIN, &legacy).unwrap();
    let mut cmd = std::process::Command::new(&legacy);
    cmd.env("CALLHOOK_DB", &desk.db)
        .env("CALLHOOK_CONFIG", &desk.config);
    caller_arg(&mut cmd, "--db x 555");
    assert_stored(&output(&mut cmd));
    let events = desk.events();
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("end", "--db x 555")
    );
}

#[test]
fn the_working_directory_does_not_matter() {
    let desk = Desk::new();
    let elsewhere = desk.path("tmp");
    let out = desk
        .event_command(&[], "incoming", "42")
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert_stored(&out);
    assert_eq!(desk.calls().len(), 1);
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn events_record_host_and_user() {
    let desk = Desk::new();
    let out = desk
        .event_command(&[], "incoming", "42")
        .env("USER", "reception")
        .env("USERNAME", "reception")
        .output()
        .unwrap();
    assert_stored(&out);
    let (host, user, call_id): (String, String, String) = desk
        .conn()
        .query_row("SELECT host, os_user, call_id FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(!host.is_empty());
    assert_eq!(user, "reception");
    assert_eq!(call_id, str_field(&desk.calls()[0], "id"));
}

#[test]
fn the_hook_program_hands_other_commands_to_callhook() {
    let desk = Desk::new();
    let hook = env!("CARGO_BIN_EXE_callhookw");
    let out = desk
        .command_for(hook)
        .args(["event", "incoming", "--", "55"])
        .output()
        .unwrap();
    assert_stored(&out);
    let out = desk
        .command_for(hook)
        .args(["calls", "--format", "json"])
        .output()
        .unwrap();
    assert_success(&out, "callhookw calls");
    let calls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(calls[0]["number"], "55");
    // Alone, it says what is missing instead of looping.
    let lonely = desk.path(&format!("bin/callhook{}", std::env::consts::EXE_SUFFIX));
    std::fs::create_dir_all(lonely.parent().unwrap()).unwrap();
    std::fs::copy(hook, &lonely).unwrap();
    let out = output(desk.command_for(&lonely).arg("calls"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only runs hooks"));
}
