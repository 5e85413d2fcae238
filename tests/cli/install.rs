//! `callhook install` and `uninstall`: the hook keys in microsip.ini, written and taken back
//! byte for byte. Installs here pass --force: under Windows other tests run programs named
//! microsip.exe meanwhile (`microsip::install_waits_for_microsip_to_exit` checks the refusal).

use std::path::Path;

use crate::ini::*;
use crate::support::*;

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
        let out = output(desk.command_for(&callhook).args([
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
    assert_stored(&output(&mut run));
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
    std::fs::write(&ini, utf16(&unquoted)).unwrap();
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

    let out = output(desk.command_for(&callhook).args([
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
    let out = output(desk.command_for(&callhook).args([
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
        let out = output(
            desk.command_for(&callhook)
                .args(["doctor", "--ini"])
                .arg(&ini),
        );
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(report.contains("every event runs callhook"), "{report}");
        let out = output(desk.command_for(&callhook).args([
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
fn install_refuses_to_hook_the_console_program() {
    // `cargo run -- install` builds callhook alone: no callhookw beside it.
    let desk = Desk::new();
    let bin = desk.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let program = bin.join(format!("callhook{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(BIN, &program).unwrap();
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    let original = std::fs::read(&ini).unwrap();
    let out = output(
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
    let out = output(
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
    let out = output(
        desk.command_for(&program)
            .args(["install", "--ini"])
            .arg(&ini),
    );
    assert_success(&out, "install");
    let (_, report) = doctor_of(&desk, &program, &ini);
    assert!(!report.contains("console program"), "{report}");
}
