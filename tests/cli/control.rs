//! `callhook dial`, `answer`, `hangup`, `hold`, `transfer`, `dtmf`: what reaches MicroSIP.
//! With no MicroSIP window (every platform), `dial` starts the configured program, here the
//! recorder; under Windows or wine, a stand-in MicroSIP window (`examples/microsip_window.rs`)
//! records every `WM_COPYDATA` it receives.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::support::*;

/// The texts MicroSIP must never get as a number: a password saved, a command, a command, an
/// instant message.
const HOSTILE: [&str; 4] = [
    "123 /account:1 /password:x",
    "/hangupall",
    "msip:answer",
    "1 hello",
];

/// One MicroSIP window at a time: every test here (and `api` and `openapi`, which send the
/// control commands) either makes one or needs there to be none.
pub(crate) fn one_microsip() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A desk whose `[microsip] program` is the recorder, writing to the returned file.
fn desk_with_recorder() -> (Desk, PathBuf) {
    let desk = Desk::new();
    let record = desk.path("tmp/started.jsonl");
    let desk = desk.with_config(&format!(
        "[microsip]\nprogram = [{}, {}]\n",
        toml_str(example("recorder").to_str().unwrap()),
        toml_str(record.to_str().unwrap())
    ));
    (desk, record)
}

/// Runs `callhook ARGS`; (exit code, stdout, stderr).
fn control(desk: &Desk, args: &[&str]) -> (i32, String, String) {
    let out = output(desk.command().args(args));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn hostile_numbers_are_refused_and_nothing_starts() {
    let _one = one_microsip();
    let (desk, record) = desk_with_recorder();
    let mut hostile: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    hostile.extend([
        "%2B4930".into(),
        "123\u{1b}[31m".into(),
        "1".repeat(65),
        "sip:alice@pbx;transport=tcp".into(),
    ]);
    for text in &hostile {
        for command in ["dial", "transfer"] {
            let (code, stdout, stderr) = control(&desk, &[command, text]);
            assert_eq!(code, 2, "{command} {text:?}: {stdout}{stderr}");
            assert!(stdout.is_empty(), "{command} {text:?}: {stdout}");
            assert!(
                stderr.contains("nothing was sent to MicroSIP"),
                "{command} {text:?}: {stderr}"
            );
            assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
        }
    }
    for digits in ["1/account:2", "1 2", "msip:hold", "E"] {
        let (code, _, stderr) = control(&desk, &["dtmf", digits]);
        assert_eq!(code, 2, "dtmf {digits:?}: {stderr}");
    }
    let (_, _, stderr) = control(&desk, &["dial", "1 hello"]);
    assert!(stderr.contains("instant message"), "{stderr}");
    let (_, _, stderr) = control(&desk, &["dial", "123 /account:1 /password:x"]);
    assert!(stderr.contains("/password"), "{stderr}");
    // The text is shown escaped.
    let (_, _, stderr) = control(&desk, &["dial", "123\u{1b}[31m"]);
    assert!(stderr.contains(r"123\e[31m"), "{stderr}");
    // Give a started program time to write, if one had started.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!record.exists(), "{:?}", recorded_args(&record));
}

#[test]
fn dial_without_microsip_starts_it_with_the_number() {
    let _one = one_microsip();
    let (desk, record) = desk_with_recorder();
    let (code, stdout, stderr) = control(&desk, &["dial", "+49 (30) 123-45"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "MicroSIP is not running; started it to dial +493012345.\n"
    );
    wait_until(Duration::from_secs(10), "the recorder", || record.exists());
    let (code, stdout, _) = control(&desk, &["dial", "sip:alice@pbx.example.com"]);
    assert_eq!(code, 0, "{stdout}");
    wait_until(Duration::from_secs(10), "the recorder again", || {
        recorded_args(&record).len() == 2
    });
    assert_eq!(
        recorded_args(&record),
        [["+493012345"], ["sip:alice@pbx.example.com"]]
    );
}

#[test]
fn other_commands_need_a_running_microsip() {
    let _one = one_microsip();
    let (desk, record) = desk_with_recorder();
    for args in [
        &["answer"][..],
        &["hangup"],
        &["hangup", "--all"],
        &["hold"],
        &["transfer", "200"],
        &["dtmf", "12#"],
    ] {
        let (code, stdout, stderr) = control(&desk, args);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr, "callhook: MicroSIP is not running\n", "{args:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!record.exists(), "{:?}", recorded_args(&record));
}

// Under wine another test's process may be a microsip.exe with an ini beside it, which `dial`
// would take as the portable MicroSIP.
#[cfg(not(windows))]
#[test]
fn dial_says_when_no_microsip_is_known() {
    let _one = one_microsip();
    let desk = Desk::new();
    let (code, stdout, stderr) = control(&desk, &["dial", "100"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stderr.contains("no microsip.exe was found") && stderr.contains("[microsip] program"),
        "{stderr}"
    );
}

#[test]
fn a_broken_program_setting_is_reported() {
    let _one = one_microsip();
    let desk = Desk::new().with_config("[microsip]\nprogram = []\n");
    let (code, _, stderr) = control(&desk, &["dial", "100"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("line 2") && stderr.contains("microsip.program"),
        "{stderr}"
    );
    // A wrong number is refused first, whatever the config.
    let (code, _, _) = control(&desk, &["dial", "1 hello"]);
    assert_eq!(code, 2);
    // Which calls to hang up is one choice.
    let (code, _, _) = control(&Desk::new(), &["hangup", "--all", "--incoming"]);
    assert_eq!(code, 2);
}

#[cfg(windows)]
mod windows {
    use std::process::{Child, Command};

    use serde_json::Value;

    use super::*;

    /// The stand-in MicroSIP window, closed when dropped.
    struct StandIn {
        child: Child,
        record: PathBuf,
    }

    impl StandIn {
        fn start(desk: &Desk, options: &[&str]) -> StandIn {
            let record = desk.path("tmp/microsip.jsonl");
            let ready = desk.path("tmp/microsip.jsonl.ready");
            let child = retry_start(|| {
                Command::new(example("microsip_window"))
                    .arg(&record)
                    .args(options)
                    .spawn()
            });
            let mut stand_in = StandIn { child, record };
            wait_until(Duration::from_secs(20), "the MicroSIP window", || {
                if let Ok(Some(status)) = stand_in.child.try_wait() {
                    panic!("the stand-in MicroSIP ended: {status}");
                }
                ready.exists()
            });
            stand_in
        }

        /// (dwData, text, cbData) of every command received.
        fn received(&self) -> Vec<(u64, String, u64)> {
            json_lines(&self.record)
                .iter()
                .map(|line: &Value| {
                    (
                        line["dw_data"].as_u64().unwrap(),
                        line["text"].as_str().unwrap().to_string(),
                        line["cb_data"].as_u64().unwrap(),
                    )
                })
                .collect()
        }

        fn texts(&self) -> Vec<String> {
            self.received()
                .into_iter()
                .map(|(_, text, _)| text)
                .collect()
        }
    }

    impl Drop for StandIn {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn every_command_reaches_microsip_as_its_own_command_line() {
        let _one = one_microsip();
        let (desk, started_record) = desk_with_recorder();
        let microsip = StandIn::start(&desk, &[]);
        let mut expected = Vec::new();
        for (args, lines, said) in [
            (
                &["dial", "+49 (30) 123-45"][..],
                &["+493012345"][..],
                "Dialling +493012345 in MicroSIP.",
            ),
            (
                &["dial", "sip:alice@pbx.example.com"],
                &["sip:alice@pbx.example.com"],
                "Dialling sip:alice@pbx.example.com in MicroSIP.",
            ),
            (&["answer"], &["/answer"], "answer"),
            (&["hangup"], &["/hangupall"], "hang up"),
            (&["hangup", "--incoming"], &["/hangupincoming"], "reject"),
            (&["hangup", "--calling"], &["/hangupcalling"], "outgoing"),
            (
                &["hangup", "--all"],
                &["/hangupall", "/hangupincoming"],
                "every call",
            ),
            (&["hold"], &["msip:hold"], "hold"),
            (
                &["transfer", "200"],
                &["/transfer:200"],
                "transfer the call to 200",
            ),
            (&["dtmf", "12*#a"], &["/dtmf:12*#A"], "DTMF 12*#A"),
        ] {
            let (code, stdout, stderr) = control(&desk, args);
            assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
            assert!(stdout.contains(said), "{args:?}: {stdout}");
            expected.extend(lines.iter().map(|l| l.to_string()));
            assert_eq!(microsip.texts(), expected, "{args:?}");
        }
        // As a second microsip.exe sends it: dwData 1, UTF-16 with its terminating NUL.
        for (dw_data, text, cb_data) in microsip.received() {
            assert_eq!(dw_data, 1, "{text}");
            assert_eq!(
                cb_data,
                2 * (text.encode_utf16().count() as u64 + 1),
                "{text}"
            );
        }
        // A running MicroSIP dials itself: nothing was started.
        assert!(!started_record.exists());
    }

    #[test]
    fn the_api_reaches_microsip_with_the_same_checks() {
        let _one = one_microsip();
        let (desk, started_record) = desk_with_recorder();
        let microsip = StandIn::start(&desk, &[]);
        let served = desk.serve();
        for text in HOSTILE {
            let (status, _) = served.post("/api/dial", &serde_json::json!({ "number": text }));
            assert_eq!(status, 400, "{text:?}");
        }
        let (status, body) = served.post(
            "/api/dial",
            &serde_json::json!({"number": "+49 (30) 123-45"}),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], "sent");
        let (status, _) = served.post("/api/hangup", &serde_json::json!({"which": "all"}));
        assert_eq!(status, 200);
        let (status, _) = served.post("/api/dtmf", &serde_json::json!({"digits": "12#"}));
        assert_eq!(status, 200);
        assert_eq!(
            microsip.texts(),
            ["+493012345", "/hangupall", "/hangupincoming", "/dtmf:12#"]
        );
        assert!(!started_record.exists());
    }

    #[test]
    fn hostile_numbers_never_reach_microsip() {
        let _one = one_microsip();
        let (desk, started_record) = desk_with_recorder();
        let microsip = StandIn::start(&desk, &[]);
        for text in HOSTILE {
            for command in ["dial", "transfer", "dtmf"] {
                let (code, _, stderr) = control(&desk, &[command, text]);
                assert_eq!(code, 2, "{command} {text:?}: {stderr}");
            }
        }
        // The window was there all along: a good number gets through.
        let (code, _, stderr) = control(&desk, &["dial", "100"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(microsip.texts(), ["100"]);
        assert!(!started_record.exists());
    }

    #[test]
    fn a_microsip_without_its_sip_stack_says_so() {
        let _one = one_microsip();
        let desk = Desk::new();
        let microsip = StandIn::start(&desk, &["--not-ready"]);
        for args in [&["answer"][..], &["dial", "100"], &["hangup", "--all"]] {
            let (code, stdout, stderr) = control(&desk, args);
            assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
            assert!(stderr.contains("SIP stack is not running"), "{stderr}");
        }
        // MicroSIP ignored each; `hangup --all` stopped at its first line.
        assert_eq!(microsip.texts(), ["/answer", "100", "/hangupall"]);
    }

    #[test]
    fn a_hung_microsip_cannot_hang_callhook() {
        let _one = one_microsip();
        let desk = Desk::new();
        let microsip = StandIn::start(&desk, &["--hang-ms", "20000"]);
        let started = std::time::Instant::now();
        let (code, _, stderr) = control(&desk, &["answer"]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("within 5 seconds"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(microsip.texts(), ["/answer"]);
    }

    #[test]
    fn no_window_means_microsip_is_not_running() {
        let _one = one_microsip();
        let desk = Desk::new();
        // A window that has come and gone.
        drop(StandIn::start(&desk, &[]));
        let (code, _, stderr) = control(&desk, &["answer"]);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stderr, "callhook: MicroSIP is not running\n");
    }
}
