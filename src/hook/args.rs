//! Telling a hook invocation from an admin command, before any other start-up work.
//!
//! MicroSIP runs `callhook [--config P] [--db P] event [--time T] <EVENT> [--] <caller…>`.
//! Everything after the event (and one optional `--`) is the caller's text, which a caller
//! controls: it is never parsed, so `--help` or `--db x` in it are just text. This is done by
//! hand rather than by clap so that no caller text can ever reach an option parser.

use std::ffi::{OsStr, OsString};

use crate::log::caller::Caller;
use crate::log::event::EventKind;

pub enum Invocation {
    Hook(HookArgs),
    Admin,
}

#[derive(Debug, PartialEq)]
pub struct HookArgs {
    /// The event, or why there is none (an unknown or missing event, a bad `--time`).
    pub event: Result<EventKind, String>,
    /// The event token as given, for the fallback log when it is not a known event.
    pub event_text: String,
    pub caller: Caller,
    pub config: Option<OsString>,
    pub db: Option<OsString>,
    /// `--time`: the event time to record instead of now, in Unix milliseconds.
    pub time: Option<i64>,
}

/// Classifies the process's arguments; `raw_rest` gives the raw command-line text after a
/// number of arguments (Windows), or `None` where the OS has no such thing.
pub fn classify(args: &[OsString], raw_rest: impl Fn(usize) -> Option<Caller>) -> Invocation {
    let caller_from = |skip: usize| {
        raw_rest(skip).unwrap_or_else(|| Caller::from_args(args.get(skip..).unwrap_or(&[])))
    };
    // MicroSIP 3.19.2 and earlier cannot pass arguments: `callhook-end.exe <caller>`.
    if let Some(kind) = args.first().and_then(|a| legacy_event(a)) {
        return Invocation::Hook(HookArgs {
            event: Ok(kind),
            event_text: kind.as_str().to_string(),
            caller: caller_from(1),
            config: None,
            db: None,
            time: None,
        });
    }

    let mut config = None;
    let mut db = None;
    let mut i = 1;
    loop {
        let arg = args.get(i).and_then(|a| a.to_str());
        if arg == Some("event") {
            break;
        }
        let slot = match arg.and_then(option_name) {
            Some("--config") => &mut config,
            Some("--db") => &mut db,
            _ => return misused(args, i),
        };
        match option_value(args, &mut i) {
            Some(value) => *slot = Some(value),
            None => return misused(args, i),
        }
    }
    i += 1;

    let mut time = None;
    let mut bad_time = None;
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        match option_name(arg) {
            Some("--help" | "-h") => return Invocation::Admin,
            Some("--time") => match option_value(args, &mut i) {
                Some(value) => match parse_time(&value) {
                    Ok(t) => time = Some(t),
                    Err(e) => bad_time = Some(e),
                },
                None => {
                    bad_time = Some("--time needs a value".into());
                    i += 1;
                }
            },
            _ => break,
        }
    }

    let event_text = args.get(i).map(|a| a.to_string_lossy().into_owned());
    let event = match (&event_text, bad_time) {
        (_, Some(e)) => Err(e),
        (None, None) => Err(format!(
            "missing event: expected one of {}",
            EventKind::names()
        )),
        (Some(text), None) => text
            .parse()
            .map_err(|e: crate::log::event::UnknownEvent| e.to_string()),
    };
    i += 1;
    if args.get(i).is_some_and(|a| a == "--") {
        i += 1;
    }
    Invocation::Hook(HookArgs {
        event,
        event_text: event_text.unwrap_or_default(),
        caller: caller_from(i),
        config,
        db,
        time,
    })
}

/// A command line that the global options cannot be read from: an admin's typo, for clap to
/// explain, unless it is a hook's (it has `event` further on), which must reach the fallback
/// log like any other hook that cannot store its event.
fn misused(args: &[OsString], at: usize) -> Invocation {
    let Some(event) = args.iter().skip(at).position(|a| a == "event") else {
        return Invocation::Admin;
    };
    let bad = args
        .get(at)
        .map_or_else(String::new, |a| a.to_string_lossy().into_owned());
    let rest = at + event + 1;
    let event_text = args.get(rest).map(|a| a.to_string_lossy().into_owned());
    let mut caller_at = rest + 1;
    if args.get(caller_at).is_some_and(|a| a == "--") {
        caller_at += 1;
    }
    Invocation::Hook(HookArgs {
        event: Err(format!(
            "cannot read `{bad}` before `event`: only --config PATH and --db PATH go there"
        )),
        event_text: event_text.unwrap_or_default(),
        caller: Caller::from_args(args.get(caller_at..).unwrap_or(&[])),
        config: None,
        db: None,
        time: None,
    })
}

/// `callhook-end.exe` (any case, any extension) is the hook for `end`.
fn legacy_event(program: &OsStr) -> Option<EventKind> {
    let program = program.to_str()?;
    // Either separator, whatever the OS: argv[0] may come from a Windows launcher.
    let name = program.rsplit(['/', '\\']).next()?;
    let stem = name.split_once('.').map_or(name, |(stem, _)| stem);
    let (prefix, event) = stem.split_at_checked("callhook-".len())?;
    if !prefix.eq_ignore_ascii_case("callhook-") {
        return None;
    }
    event.parse().ok()
}

/// `--name` of `--name` or `--name=value`.
fn option_name(arg: &str) -> Option<&str> {
    if !arg.starts_with('-') {
        return None;
    }
    Some(arg.split_once('=').map_or(arg, |(name, _)| name))
}

/// The value of the option at `args[*i]` (inline after `=` or the next argument); moves `i`
/// past it.
fn option_value(args: &[OsString], i: &mut usize) -> Option<OsString> {
    let arg = args[*i].to_str()?;
    if let Some((_, value)) = arg.split_once('=') {
        *i += 1;
        return Some(value.into());
    }
    let value = args.get(*i + 1)?.clone();
    *i += 2;
    Some(value)
}

/// `--time`: RFC 3339, or Unix milliseconds.
pub fn parse_time(value: &OsStr) -> Result<i64, String> {
    let text = value.to_string_lossy();
    let ms = match text.parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("--time `{text}` is not RFC 3339 or Unix milliseconds: {e}"))?,
    };
    crate::log::event::check_time(ms).map_err(|e| format!("--time `{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(args: &[&str]) -> HookArgs {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match classify(&args, |_| None) {
            Invocation::Hook(h) => h,
            Invocation::Admin => panic!("{args:?} is not a hook invocation"),
        }
    }

    fn is_admin(args: &[&str]) -> bool {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        matches!(classify(&args, |_| None), Invocation::Admin)
    }

    #[test]
    fn the_caller_is_everything_after_the_event() {
        let h = hook(&[
            "callhook", "event", "end", "--", "1", "&", "x", "--event", "end",
        ]);
        assert_eq!(h.event, Ok(EventKind::End));
        assert_eq!(h.caller.text, "1 & x --event end");
        assert_eq!(
            hook(&["callhook", "event", "ring", "--help"]).caller.text,
            "--help"
        );
        assert_eq!(
            hook(&["callhook", "event", "ring", "--", "--"]).caller.text,
            "--"
        );
        let h = hook(&["callhook", "event", "ring", "--db", "x"]);
        assert_eq!((h.caller.text.as_str(), h.db), ("--db x", None));
        assert_eq!(hook(&["callhook", "event", "start"]).caller.text, "");
    }

    #[test]
    fn global_options_come_before_event() {
        let h = hook(&[
            "callhook",
            "--db",
            "a.db",
            "--config=c.toml",
            "event",
            "busy",
            "--",
            "7",
        ]);
        assert_eq!(h.db, Some("a.db".into()));
        assert_eq!(h.config, Some("c.toml".into()));
        assert_eq!(h.caller.text, "7");
        let h = hook(&[
            "callhook",
            "event",
            "--time",
            "1795600800000",
            "end",
            "--",
            "7",
        ]);
        assert_eq!(h.time, Some(1_795_600_800_000));
        let h = hook(&["callhook", "event", "--time=2026-11-25T10:00:00Z", "end"]);
        assert_eq!(h.time, Some(1_795_600_800_000));
    }

    #[test]
    fn unknown_and_missing_events_are_hook_errors() {
        let h = hook(&["callhook", "event", "hangup", "--", "5"]);
        assert!(h.event.unwrap_err().contains("unknown event `hangup`"));
        assert_eq!(h.event_text, "hangup");
        assert_eq!(h.caller.text, "5");
        assert!(hook(&["callhook", "event"]).event.is_err());
        assert!(
            hook(&["callhook", "event", "--time", "soon", "end"])
                .event
                .is_err()
        );
        // Out of range: 2^48 ms would wrap an event id's time.
        for time in ["281474976710656", "-1", "1000", "2200-01-01T00:00:00Z"] {
            let h = hook(&["callhook", "event", "--time", time, "end"]);
            assert!(
                h.event.as_ref().unwrap_err().contains("between 2000-01-01"),
                "{time}: {:?}",
                h.event
            );
        }
    }

    #[test]
    fn legacy_names_carry_the_event() {
        let h = hook(&["C:\\MicroSIP\\Callhook-End.exe", "--db", "x"]);
        assert_eq!(h.event, Ok(EventKind::End));
        assert_eq!(h.caller.text, "--db x");
        assert!(is_admin(&["callhook-nothing", "calls"]));
    }

    #[test]
    fn everything_else_is_an_admin_command() {
        assert!(is_admin(&["callhook"]));
        assert!(is_admin(&["callhook", "calls"]));
        assert!(is_admin(&["callhook", "--help"]));
        assert!(is_admin(&["callhook", "event", "--help"]));
        assert!(is_admin(&["callhook", "--db"]));
        assert!(is_admin(&["callhook", "--verbose", "calls"]));
    }

    #[test]
    fn a_misread_hook_line_is_still_a_hook() {
        let h = hook(&["callhook", "--verbose", "event", "end", "--", "1", "&", "2"]);
        assert!(h.event.unwrap_err().contains("`--verbose`"));
        assert_eq!(
            (h.event_text.as_str(), h.caller.text.as_str()),
            ("end", "1 & 2")
        );
        let h = hook(&["callhook", "event", "--time"]);
        assert!(h.event.unwrap_err().contains("--time"));
        let h = hook(&["callhook", "--db", "x", "--cfg", "y", "event", "ring", "7"]);
        assert!(h.event.is_err());
        assert_eq!(h.caller.text, "7");
    }

    #[test]
    fn raw_text_wins_when_the_os_has_it() {
        let args: Vec<OsString> = ["callhook", "event", "end", "--", "a", "b"]
            .iter()
            .map(OsString::from)
            .collect();
        let Invocation::Hook(h) = classify(&args, |skip| {
            assert_eq!(skip, 4);
            Some(Caller::from_text("\"a\"  b"))
        }) else {
            panic!()
        };
        assert_eq!(h.caller.text, "\"a\"  b");
    }
}
