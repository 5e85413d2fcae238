//! `callhook doctor`: what is wrong with the hooks, the config and the database, and how to fix
//! it. Installs here pass --force, as in `install`.

use std::path::Path;

use crate::ini::*;
use crate::support::*;

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
