//! The call events MicroSIP reports, one per hook key.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Incoming,
    Ring,
    Outgoing,
    Answer,
    AnswerVideo,
    Start,
    Busy,
    End,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Incoming,
        EventKind::Ring,
        EventKind::Outgoing,
        EventKind::Answer,
        EventKind::AnswerVideo,
        EventKind::Start,
        EventKind::Busy,
        EventKind::End,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Incoming => "incoming",
            EventKind::Ring => "ring",
            EventKind::Outgoing => "outgoing",
            EventKind::Answer => "answer",
            EventKind::AnswerVideo => "answer-video",
            EventKind::Start => "start",
            EventKind::Busy => "busy",
            EventKind::End => "end",
        }
    }

    /// The `microsip.ini` key that runs the hook for this event.
    pub fn ini_key(self) -> &'static str {
        match self {
            EventKind::Incoming => "cmdIncomingCall",
            EventKind::Ring => "cmdCallRing",
            EventKind::Outgoing => "cmdOutgoingCall",
            EventKind::Answer => "cmdCallAnswer",
            EventKind::AnswerVideo => "cmdCallAnswerVideo",
            EventKind::Start => "cmdCallStart",
            EventKind::Busy => "cmdCallBusy",
            EventKind::End => "cmdCallEnd",
        }
    }

    pub fn is_answer(self) -> bool {
        matches!(self, EventKind::Answer | EventKind::AnswerVideo)
    }

    /// The phase of a call this event belongs to: 0 setting up (incoming, ring, outgoing),
    /// 1 connected (answer, start), 2 over (busy, end).
    pub fn phase(self) -> u8 {
        match self {
            EventKind::Incoming | EventKind::Ring | EventKind::Outgoing => 0,
            EventKind::Answer | EventKind::AnswerVideo | EventKind::Start => 1,
            EventKind::Busy | EventKind::End => 2,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, EventKind::Busy | EventKind::End)
    }

    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event times callhook takes from `--time` and the fallback log: 2000-01-01 to
/// 2100-01-01 (UTC). Anything else is a typo or garbage (and past 2^48 ms an event id's time
/// would wrap).
pub const EARLIEST_MS: i64 = 946_684_800_000;
pub const LATEST_MS: i64 = 4_102_444_800_000;

/// Checks an event time given from outside (not the hook's own clock).
pub fn check_time(ms: i64) -> Result<i64, String> {
    if (EARLIEST_MS..LATEST_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "the time {ms} (Unix ms) is not between 2000-01-01 and 2100-01-01"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown event `{0}`: expected one of {names}", names = EventKind::names())]
pub struct UnknownEvent(pub String);

impl FromStr for EventKind {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownEvent(s.to_string()))
    }
}

impl<'de> serde::Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
            assert_eq!(
                kind.as_str().to_uppercase().parse::<EventKind>().unwrap(),
                kind
            );
        }
        let err = "ended".parse::<EventKind>().unwrap_err();
        assert!(err.to_string().contains("unknown event `ended`"));
        assert!(err.to_string().contains("answer-video"));
    }
}
