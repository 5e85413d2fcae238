//! `callhook dial`, `answer`, `hangup`, `hold`, `transfer` and `dtmf`: MicroSIP's own command
//! line, sent to the running MicroSIP (see `microsip::control`).

use std::process::ExitCode;

use crate::config::locations::Locations;
use crate::microsip::control::{self, Command, ControlError, Hangup, InvalidNumber, Outcome};
use crate::report::output::{caller_safe, terminal_safe};

/// MicroSIP is not running (for a command other than `dial`), ignored the command (its SIP
/// stack is not running) or did not take it in time.
pub const EXIT_NOT_TAKEN: u8 = 1;
/// The number or digits are refused, or the command line is wrong: nothing was sent.
pub const EXIT_INVALID: u8 = 2;
/// Anything else: a broken config, no MicroSIP to start or starting it failed, an error of
/// the system.
pub const EXIT_FAILED: u8 = 3;

#[derive(clap::Args)]
pub struct NumberArgs {
    /// A phone number (digits, + * #; spaces, dashes, dots and parentheses between digits are
    /// dropped) or a SIP URI (sip:alice@pbx.example.com)
    #[arg(allow_hyphen_values = true)]
    number: String,
}

#[derive(clap::Args)]
pub struct HangupArgs {
    /// Reject the ringing incoming calls (instead of the calls in progress)
    #[arg(long, group = "which")]
    incoming: bool,
    /// Only the outgoing calls not answered yet
    #[arg(long, group = "which")]
    calling: bool,
    /// Every call: those in progress and the ringing incoming ones
    #[arg(long, group = "which")]
    all: bool,
}

#[derive(clap::Args)]
pub struct DtmfArgs {
    /// The digits: 0-9, *, # and A-D
    #[arg(allow_hyphen_values = true)]
    digits: String,
}

#[derive(clap::Args)]
pub struct NoArgs {}

pub fn dial(locations: &Locations, args: NumberArgs) -> ExitCode {
    let command = Command::dial(&args.number);
    run(locations, "dial", &args.number, command)
}

pub fn answer(locations: &Locations, _args: NoArgs) -> ExitCode {
    run(locations, "answer", "", Ok(Command::Answer))
}

pub fn hangup(locations: &Locations, args: HangupArgs) -> ExitCode {
    let which = if args.all {
        Hangup::All
    } else if args.incoming {
        Hangup::Incoming
    } else if args.calling {
        Hangup::Calling
    } else {
        Hangup::Current
    };
    run(locations, "hang up", "", Ok(Command::Hangup(which)))
}

pub fn hold(locations: &Locations, _args: NoArgs) -> ExitCode {
    run(locations, "hold", "", Ok(Command::Hold))
}

pub fn transfer(locations: &Locations, args: NumberArgs) -> ExitCode {
    let command = Command::transfer(&args.number);
    run(locations, "transfer to", &args.number, command)
}

pub fn dtmf(locations: &Locations, args: DtmfArgs) -> ExitCode {
    let command = Command::dtmf(&args.digits);
    run(locations, "send DTMF", &args.digits, command)
}

/// Checks, sends and reports one command. `verb` and `given` (the text as typed) make the
/// message when the text is refused.
fn run(
    locations: &Locations,
    verb: &str,
    given: &str,
    command: Result<Command, InvalidNumber>,
) -> ExitCode {
    let command = match command {
        Ok(command) => command,
        Err(e) => return refused(verb, given, &e),
    };
    if let Err(e) = locations.require_config() {
        return failed(&format!("{e:#}"), EXIT_FAILED);
    }
    let program = locations.config.microsip.program.as_deref();
    match control::send(&command, program) {
        Ok(outcome) => {
            println!("{}", done(&command, outcome));
            ExitCode::SUCCESS
        }
        Err(ControlError::Invalid(e)) => refused(verb, given, &e),
        Err(
            e @ (ControlError::NotRunning
            | ControlError::NotReady
            | ControlError::NotResponding
            | ControlError::Unexpected(_)),
        ) => failed(&e.to_string(), EXIT_NOT_TAKEN),
        Err(e) => failed(&e.to_string(), EXIT_FAILED),
    }
}

fn refused(verb: &str, given: &str, why: &InvalidNumber) -> ExitCode {
    // The text is shown as typed, escaped: it may hold anything.
    failed(
        &format!(
            "cannot {verb} \"{}\": {why}; nothing was sent to MicroSIP",
            caller_safe(given)
        ),
        EXIT_INVALID,
    )
}

fn failed(message: &str, code: u8) -> ExitCode {
    eprintln!("callhook: {}", terminal_safe(message));
    ExitCode::from(code)
}

/// What happened, for people. MicroSIP tells nothing back, so "sent" is all that is known.
fn done(command: &Command, outcome: Outcome) -> String {
    let shown = |text: &str| terminal_safe(text).into_owned();
    match (command, outcome) {
        (Command::Dial(number), Outcome::Started) => {
            format!(
                "MicroSIP is not running; started it to dial {}.",
                shown(number)
            )
        }
        (Command::Dial(number), Outcome::Sent) => {
            format!("Dialling {} in MicroSIP.", shown(number))
        }
        (Command::Answer, _) => "Sent to MicroSIP: answer the ringing call.".into(),
        (Command::Hangup(Hangup::Current), _) => {
            "Sent to MicroSIP: hang up the current calls.".into()
        }
        (Command::Hangup(Hangup::Incoming), _) => {
            "Sent to MicroSIP: reject the ringing incoming calls.".into()
        }
        (Command::Hangup(Hangup::Calling), _) => {
            "Sent to MicroSIP: hang up the outgoing calls not answered yet.".into()
        }
        (Command::Hangup(Hangup::All), _) => {
            "Sent to MicroSIP: hang up every call, ringing incoming ones too.".into()
        }
        (Command::Hold, _) => "Sent to MicroSIP: hold (or resume) the current call.".into(),
        (Command::Transfer(number), _) => {
            format!("Sent to MicroSIP: transfer the call to {}.", shown(number))
        }
        (Command::Dtmf(digits), _) => format!("Sent to MicroSIP: DTMF {}.", shown(digits)),
    }
}
