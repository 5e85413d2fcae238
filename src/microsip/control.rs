//! Driving the running MicroSIP: its own command line, sent as a second `microsip.exe` sends it
//! (`WM_COPYDATA` to the window of class `MicroSIP`, `dwData = 1`), or, for a number to dial
//! when none runs, `microsip.exe NUMBER` started.
//!
//! MicroSIP reads much more than numbers in that text: `/account:N /password:X` saves a
//! password, `/hangupall` and `msip:answer` are commands, and a text with a space is an
//! instant message. So every number is checked, and normalised, before anything is sent: only
//! digits, `+*#` and plain SIP URIs get through.

use std::ffi::OsStr;
use std::io;
use std::path::PathBuf;

use serde::Deserialize;

/// The longest number or DTMF text taken, in characters.
pub const MAX_LEN: usize = 64;

/// Which calls `hangup` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hangup {
    /// `/hangupall`: the calls in progress and the outgoing ones ringing, not a ringing
    /// incoming call.
    Current,
    /// `/hangupincoming`: the ringing incoming calls (rejected).
    Incoming,
    /// `/hangupcalling`: the unanswered outgoing calls.
    Calling,
    /// Both of `Current` and `Incoming`.
    All,
}

/// A command for MicroSIP. Build the ones with a number through [`Command::dial`],
/// [`Command::transfer`] and [`Command::dtmf`], which check it; [`send`] checks it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Dial(String),
    Answer,
    Hangup(Hangup),
    Hold,
    Transfer(String),
    Dtmf(String),
}

/// Why a number (or DTMF text) is refused; nothing is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNumber {
    #[error("no number given")]
    Empty,
    #[error("longer than {MAX_LEN} characters")]
    TooLong,
    #[error("it holds a control character")]
    Control,
    #[error(
        "it has a space that is not number formatting (MicroSIP would send the text after it \
         as an instant message)"
    )]
    Space,
    #[error("it holds `/` (MicroSIP reads /account, /password, /hangupall … as commands)")]
    Slash,
    #[error("it holds `msip:` (MicroSIP reads that as a command)")]
    Msip,
    #[error("it holds `%` (MicroSIP decodes %20 and %2B in a number)")]
    Percent,
    #[error("`+` may only start a number")]
    Plus,
    #[error(
        "{} is not allowed: give digits, + * #, or a SIP URI such as sip:alice@pbx.example.com",
        shown(*.0)
    )]
    Character(char),
    #[error("it has no digits")]
    NoDigits,
    #[error(
        "not a SIP URI callhook passes on: {0} (write sip:user@host or sip:user@host:port; \
         the user of letters, digits and . _ + * -)"
    )]
    Uri(&'static str),
    #[error("{} is not a DTMF digit: give 0-9, *, # and A-D", shown(*.0))]
    Dtmf(char),
}

/// What `send` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// MicroSIP took every line (answered 0).
    Sent,
    /// No MicroSIP window: `dial` started MicroSIP with the number.
    Started,
}

impl Outcome {
    /// `sent` or `started`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Started => "started",
        }
    }
}

/// Why a command did not reach MicroSIP; the text is for users.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("not sent: {0}")]
    Invalid(#[from] InvalidNumber),
    #[error("MicroSIP is not running")]
    NotRunning,
    #[error(
        "MicroSIP ignored the command: its SIP stack is not running (no account set up, or \
         MicroSIP is still starting)"
    )]
    NotReady,
    #[error(
        "MicroSIP answered {0}, which MicroSIP never answers: is the window of class MicroSIP another program's?"
    )]
    Unexpected(isize),
    #[error("MicroSIP did not take the command within 5 seconds: it is hung or busy")]
    NotResponding,
    #[error("cannot send the command to MicroSIP: {0}")]
    Send(io::Error),
    #[error(
        "MicroSIP is not running, and no microsip.exe was found to start: set [microsip] \
         program in the config"
    )]
    NoProgram,
    #[error("MicroSIP is not running, and starting it failed: {0}")]
    Start(io::Error),
}

/// `[microsip]` in the config.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MicrosipConfig {
    /// The program `dial` starts when MicroSIP is not running, and its first arguments; the
    /// number is appended. Default: the portable or installed microsip.exe.
    pub program: Option<Vec<String>>,
}

impl MicrosipConfig {
    /// Checks `program`; the message is for the key `microsip.program`.
    pub fn validate(&self) -> Result<(), String> {
        let Some(program) = &self.program else {
            return Ok(());
        };
        let Some(exe) = program.first() else {
            return Err(
                "give the program (microsip.exe) and its first arguments, or leave it out".into(),
            );
        };
        // Windows runs batch files through cmd.exe, which would read the number as commands.
        let lower = exe.to_ascii_lowercase();
        if lower.ends_with(".bat") || lower.ends_with(".cmd") {
            return Err(format!(
                "`{exe}` is a batch file, which runs through cmd.exe: name a program (.exe)"
            ));
        }
        Ok(())
    }
}

impl Command {
    /// Dials a number or SIP URI, checked and normalised (`+49 (30) 123-45` → `+493012345`).
    pub fn dial(text: &str) -> Result<Command, InvalidNumber> {
        Ok(Command::Dial(number(text)?))
    }

    /// Transfers the current call to a number or SIP URI, checked as for `dial`.
    pub fn transfer(text: &str) -> Result<Command, InvalidNumber> {
        Ok(Command::Transfer(number(text)?))
    }

    /// Sends DTMF digits (0-9, `*`, `#`, A-D) in the current call.
    pub fn dtmf(text: &str) -> Result<Command, InvalidNumber> {
        Ok(Command::Dtmf(dtmf_digits(text)?))
    }

    /// The command lines sent to MicroSIP, in order (e.g. `["/hangupall"]`).
    pub fn lines(&self) -> Vec<String> {
        match self {
            Command::Dial(number) => vec![number.clone()],
            Command::Answer => vec!["/answer".into()],
            Command::Hangup(Hangup::Current) => vec!["/hangupall".into()],
            Command::Hangup(Hangup::Incoming) => vec!["/hangupincoming".into()],
            Command::Hangup(Hangup::Calling) => vec!["/hangupcalling".into()],
            Command::Hangup(Hangup::All) => {
                vec!["/hangupall".into(), "/hangupincoming".into()]
            }
            Command::Hold => vec!["msip:hold".into()],
            Command::Transfer(number) => vec![format!("/transfer:{number}")],
            Command::Dtmf(digits) => vec![format!("/dtmf:{digits}")],
        }
    }

    /// The same command with its number checked and normalised again: the variants are
    /// public, so a command may hold text that never went through [`Command::dial`].
    fn checked(&self) -> Result<Command, InvalidNumber> {
        match self {
            Command::Dial(text) => Command::dial(text),
            Command::Transfer(text) => Command::transfer(text),
            Command::Dtmf(text) => Command::dtmf(text),
            other => Ok(other.clone()),
        }
    }
}

/// Sends the command to the running MicroSIP of this user, line by line, stopping at the first
/// line not taken. With no MicroSIP window, `dial` starts `program` (default: the portable or
/// installed microsip.exe) with the number as its last argument; the other commands fail.
pub fn send(command: &Command, program: Option<&[String]>) -> Result<Outcome, ControlError> {
    let command = command.checked()?;
    for line in command.lines() {
        match crate::platform::send_to_microsip(&line) {
            Ok(Some(0)) => {}
            Ok(Some(1)) => return Err(ControlError::NotReady),
            Ok(Some(other)) => return Err(ControlError::Unexpected(other)),
            Ok(None) => {
                return match &command {
                    Command::Dial(number) => start(number, program),
                    _ => Err(ControlError::NotRunning),
                };
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ControlError::NotResponding);
            }
            Err(e) => return Err(ControlError::Send(e)),
        }
    }
    Ok(Outcome::Sent)
}

/// Starts MicroSIP with the number, as a shortcut or a `tel:` link would: never through a
/// shell, detached from this process.
fn start(number: &str, program: Option<&[String]>) -> Result<Outcome, ControlError> {
    let (exe, first): (PathBuf, &[String]) = match program {
        Some([exe, first @ ..]) => (PathBuf::from(exe), first),
        Some([]) => return Err(ControlError::NoProgram),
        None => (
            super::locate::program().ok_or(ControlError::NoProgram)?,
            &[],
        ),
    };
    let mut args: Vec<&OsStr> = first.iter().map(OsStr::new).collect();
    args.push(OsStr::new(number));
    crate::platform::spawn_detached(&exe, &args)
        .map_err(|e| ControlError::Start(io::Error::other(format!("{e:#}"))))?;
    Ok(Outcome::Started)
}

/// A character for a message: as itself when it is visible ASCII, else as `U+XXXX`.
fn shown(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("`{c}`")
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// What every text must pass before its characters are looked at; the text without the spaces
/// around it.
fn screened(text: &str) -> Result<&str, InvalidNumber> {
    if text.chars().count() > MAX_LEN {
        return Err(InvalidNumber::TooLong);
    }
    if text.chars().any(char::is_control) {
        return Err(InvalidNumber::Control);
    }
    let text = text.trim_matches(' ');
    if text.is_empty() {
        return Err(InvalidNumber::Empty);
    }
    if text.to_ascii_lowercase().contains("msip:") {
        return Err(InvalidNumber::Msip);
    }
    if text.contains('/') {
        return Err(InvalidNumber::Slash);
    }
    if text.contains('%') {
        return Err(InvalidNumber::Percent);
    }
    Ok(text)
}

/// Characters that only format a phone number and are dropped: space (also a non-breaking or
/// thin one), `( ) - .`, and the invisible direction marks that numbers copied from some
/// programs carry.
fn is_formatting(c: char) -> bool {
    matches!(
        c,
        '(' | ')' | '-' | '.' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    ) || (c.is_whitespace() && !c.is_control())
}

/// A number or SIP URI as MicroSIP gets it: a phone number (`tel:` allowed) as `+`, digits,
/// `*` and `#`; a `sip:`/`sips:` URI as given, its scheme in lower case.
fn number(text: &str) -> Result<String, InvalidNumber> {
    let text = screened(text)?;
    let scheme = |s: &str| {
        text.get(..s.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(s))
    };
    if scheme("sip:") || scheme("sips:") {
        return sip_uri(text);
    }
    let phone = if scheme("tel:") { &text[4..] } else { text };
    phone_number(phone)
}

fn phone_number(text: &str) -> Result<String, InvalidNumber> {
    let has_space = text.chars().any(char::is_whitespace);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '0'..='9' | '*' | '#' => out.push(c),
            '+' if out.is_empty() => out.push(c),
            '+' => return Err(InvalidNumber::Plus),
            c if is_formatting(c) => {}
            // `1 hello`: a number and a message, as MicroSIP would read it.
            _ if has_space => return Err(InvalidNumber::Space),
            c => return Err(InvalidNumber::Character(c)),
        }
    }
    if !out.chars().any(|c| c.is_ascii_digit()) {
        return Err(InvalidNumber::NoDigits);
    }
    Ok(out)
}

/// `sip:user@host[:port]` with plain characters only: no parameters, headers or escapes.
fn sip_uri(text: &str) -> Result<String, InvalidNumber> {
    use InvalidNumber::Uri;
    if text.chars().any(char::is_whitespace) {
        return Err(InvalidNumber::Space);
    }
    let (scheme, rest) = text.split_once(':').ok_or(Uri("no scheme"))?;
    let (user, host_port) = rest.split_once('@').ok_or(Uri("no user@host"))?;
    let user_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '*' | '-');
    if user.is_empty() || !user.chars().all(user_char) {
        return Err(Uri("the user part has other characters"));
    }
    let (host, port) = match host_port.strip_prefix('[') {
        // An IPv6 address: [2001:db8::1].
        Some(v6) => {
            let (address, after) = v6.split_once(']').ok_or(Uri("no `]` after the address"))?;
            let v6_char = |c: char| c.is_ascii_hexdigit() || matches!(c, ':' | '.');
            if address.is_empty() || !address.chars().all(v6_char) {
                return Err(Uri("not an IPv6 address"));
            }
            match after {
                "" => ("", None),
                _ => (
                    "",
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or(Uri("text after the address"))?,
                    ),
                ),
            }
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !host_port.starts_with('[') && !host.split('.').all(label_ok) {
        return Err(Uri("the host is not a name or address"));
    }
    if let Some(port) = port
        && !(port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)))
    {
        return Err(Uri("the port is not a number from 1 to 65535"));
    }
    Ok(format!("{}:{rest}", scheme.to_ascii_lowercase()))
}

fn dtmf_digits(text: &str) -> Result<String, InvalidNumber> {
    let text = screened(text)?;
    text.chars()
        .map(|c| match c {
            '0'..='9' | '*' | '#' | 'A'..='D' => Ok(c),
            'a'..='d' => Ok(c.to_ascii_uppercase()),
            c if c.is_whitespace() => Err(InvalidNumber::Space),
            c => Err(InvalidNumber::Dtmf(c)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(text: &str) -> Result<String, InvalidNumber> {
        Command::dial(text).map(|c| c.lines().remove(0))
    }

    #[test]
    fn numbers_are_normalised() {
        for (text, want) in [
            ("+49 (30) 123-45", "+493012345"),
            ("030 123 456", "030123456"),
            ("  100 ", "100"),
            ("*98", "*98"),
            ("#31#0301234", "#31#0301234"),
            ("+1.555.123.4567", "+15551234567"),
            ("(+49) 30 1234", "+49301234"),
            ("tel:+4930123", "+4930123"),
            ("TEL:+49 30 123", "+4930123"),
            // Copied from a web page or a desktop program.
            ("+49\u{a0}30\u{a0}123", "+4930123"),
            ("\u{202a}+49 30 123\u{202c}", "+4930123"),
        ] {
            assert_eq!(dial(text).as_deref(), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn hostile_text_is_refused() {
        use InvalidNumber::*;
        for (text, why) in [
            ("123 /account:1 /password:x", Slash),
            ("/hangupall", Slash),
            ("/answer", Slash),
            ("msip:answer", Msip),
            ("MSIP:hangupall", Msip),
            ("1 hello", Space),
            ("100 are you there?", Space),
            ("123%20hello", Percent),
            ("%2B4930", Percent),
            ("123\nhello", Control),
            ("123\u{1b}[31m", Control),
            ("\0", Control),
            ("", Empty),
            ("   ", Empty),
            ("-", NoDigits),
            ("*#", NoDigits),
            ("49+30", Plus),
            ("++49", Plus),
            ("alice", Character('a')),
            ("123;x", Character(';')),
            ("12\"34", Character('"')),
            ("callto:123", Character('c')),
            ("1\u{200b}2", Character('\u{200b}')),
            ("sip:alice@pbx /account:1", Slash),
            ("sip:alice hello@pbx", Space),
        ] {
            assert_eq!(dial(text), Err(why.clone()), "{text:?}");
            assert_eq!(Command::transfer(text), Err(why), "{text:?}");
        }
        let long = "1".repeat(MAX_LEN + 1);
        assert_eq!(dial(&long), Err(InvalidNumber::TooLong));
        assert!(dial(&"1".repeat(MAX_LEN)).is_ok());
        // Counted in characters, and before anything is trimmed.
        assert_eq!(dial(&format!("{}1", " ".repeat(MAX_LEN))), Err(TooLong));
    }

    #[test]
    fn sip_uris_are_plain() {
        for (text, want) in [
            ("sip:alice@pbx.example.com", "sip:alice@pbx.example.com"),
            ("SIP:alice@pbx.example.com", "sip:alice@pbx.example.com"),
            (
                "sips:bob.smith@pbx-1.example.com:5061",
                "sips:bob.smith@pbx-1.example.com:5061",
            ),
            ("sip:+4930123@10.0.0.1", "sip:+4930123@10.0.0.1"),
            ("sip:*98@[2001:db8::1]:5060", "sip:*98@[2001:db8::1]:5060"),
        ] {
            assert_eq!(dial(text).as_deref(), Ok(want), "{text:?}");
        }
        for text in [
            "sip:alice",
            "sip:@pbx",
            "sip:alice@",
            "sip:alice@pbx;transport=tcp",
            "sip:alice@pbx?subject=x",
            "sip:al:ice@pbx",
            "sip:alice@pbx:99999",
            "sip:alice@pbx:",
            "sip:alice@-pbx",
            "sip:alice@pbx..com",
            "sip:alice@[zz]",
            "sip:alice@[::1]x",
            "sip:al#ice@pbx",
            "sip:alice@bob@pbx",
            "sip:ali\u{e9}@pbx",
        ] {
            assert!(
                matches!(dial(text), Err(InvalidNumber::Uri(_))),
                "{text:?}: {:?}",
                dial(text)
            );
        }
    }

    #[test]
    fn dtmf_is_digits_only() {
        assert_eq!(
            Command::dtmf("12*#abcD").unwrap().lines(),
            ["/dtmf:12*#ABCD"]
        );
        for (text, why) in [
            ("1 2", InvalidNumber::Space),
            ("E", InvalidNumber::Dtmf('E')),
            ("+1", InvalidNumber::Dtmf('+')),
            ("1/account:2", InvalidNumber::Slash),
            ("", InvalidNumber::Empty),
        ] {
            assert_eq!(Command::dtmf(text), Err(why), "{text:?}");
        }
    }

    #[test]
    fn each_command_has_its_lines() {
        let lines = |c: Command| c.lines();
        assert_eq!(lines(Command::dial("+49 30 1").unwrap()), ["+49301"]);
        assert_eq!(lines(Command::Answer), ["/answer"]);
        assert_eq!(lines(Command::Hangup(Hangup::Current)), ["/hangupall"]);
        assert_eq!(
            lines(Command::Hangup(Hangup::Incoming)),
            ["/hangupincoming"]
        );
        assert_eq!(lines(Command::Hangup(Hangup::Calling)), ["/hangupcalling"]);
        assert_eq!(
            lines(Command::Hangup(Hangup::All)),
            ["/hangupall", "/hangupincoming"]
        );
        assert_eq!(lines(Command::Hold), ["msip:hold"]);
        assert_eq!(
            lines(Command::transfer("sip:bob@pbx").unwrap()),
            ["/transfer:sip:bob@pbx"]
        );
    }

    #[test]
    fn a_command_built_by_hand_is_checked_again() {
        let hostile = Command::Dial("1 /account:1 /password:x".into());
        assert!(matches!(
            send(&hostile, None),
            Err(ControlError::Invalid(InvalidNumber::Slash))
        ));
        assert_eq!(
            Command::Dial("+49 (30) 1".into()).checked(),
            Ok(Command::Dial("+49301".into()))
        );
    }

    #[test]
    fn the_program_is_checked() {
        let config = |program: &[&str]| MicrosipConfig {
            program: Some(program.iter().map(|s| s.to_string()).collect()),
        };
        assert!(MicrosipConfig::default().validate().is_ok());
        assert!(config(&[r"C:\MicroSIP\microsip.exe"]).validate().is_ok());
        assert!(config(&[]).validate().is_err());
        assert!(
            config(&[r"C:\x\dial.CMD"])
                .validate()
                .unwrap_err()
                .contains("cmd.exe")
        );
    }
}
