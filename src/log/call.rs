//! The call record: what callhook knows about one call, and how it is shown.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Row;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    InProgress,
    Answered,
    Missed,
    Busy,
    NoAnswer,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::InProgress,
        Status::Answered,
        Status::Missed,
        Status::Busy,
        Status::NoAnswer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in-progress",
            Status::Answered => "answered",
            Status::Missed => "missed",
            Status::Busy => "busy",
            Status::NoAnswer => "no-answer",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl rusqlite::ToSql for Direction {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `calls`. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub id: String,
    pub direction: Direction,
    /// The status its events gave it; see [`Call::status_at`] for the one to show.
    pub status: Status,
    pub number: String,
    pub raw: String,
    pub name: Option<String>,
    pub started_at: i64,
    pub ringing_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub last_event_at: i64,
    /// Until then an unended call takes further events; after it, it counts as over.
    pub expires_at: Option<i64>,
    pub ring_ms: Option<i64>,
    pub talk_ms: Option<i64>,
}

impl Call {
    pub const COLUMNS: &'static str = "id, direction, status, number, raw, name, started_at, \
        ringing_at, answered_at, ended_at, last_event_at, expires_at, ring_ms, talk_ms";

    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Call> {
        let text = |i: usize| -> rusqlite::Result<String> { row.get(i) };
        let invalid = |i: usize, what: String| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Text,
                format!("unknown {what}").into(),
            )
        };
        let direction = text(1)?;
        let status = text(2)?;
        Ok(Call {
            id: text(0)?,
            direction: Direction::parse(&direction)
                .ok_or_else(|| invalid(1, format!("direction {direction}")))?,
            status: Status::parse(&status).ok_or_else(|| invalid(2, format!("status {status}")))?,
            number: text(3)?,
            raw: text(4)?,
            name: row.get(5)?,
            started_at: row.get(6)?,
            ringing_at: row.get(7)?,
            answered_at: row.get(8)?,
            ended_at: row.get(9)?,
            last_event_at: row.get(10)?,
            expires_at: row.get(11)?,
            ring_ms: row.get(12)?,
            talk_ms: row.get(13)?,
        })
    }

    /// The status as of `now`: a call left open past its window is over, missed when it was
    /// an unanswered incoming call.
    pub fn status_at(&self, now: i64) -> Status {
        let expired = self.expires_at.is_some_and(|t| t < now);
        match self.status {
            Status::InProgress if expired => match (self.answered_at, self.direction) {
                (Some(_), _) => Status::Answered,
                (None, Direction::In) => Status::Missed,
                (None, Direction::Out) => Status::NoAnswer,
            },
            status => status,
        }
    }

    /// The record as `calls --format json` and webhooks show it; the field names are stable.
    pub fn to_json(&self, now: i64) -> CallJson<'_> {
        CallJson {
            id: &self.id,
            direction: self.direction,
            status: self.status_at(now),
            number: &self.number,
            raw: &self.raw,
            name: self.name.as_deref(),
            started_at: rfc3339(self.started_at),
            ringing_at: self.ringing_at.map(rfc3339),
            answered_at: self.answered_at.map(rfc3339),
            ended_at: self.ended_at.map(rfc3339),
            ring_seconds: self.ring_ms.map(seconds),
            talk_seconds: self.talk_ms.map(seconds),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CallJson<'a> {
    pub id: &'a str,
    pub direction: Direction,
    pub status: Status,
    pub number: &'a str,
    pub raw: &'a str,
    pub name: Option<&'a str>,
    pub started_at: String,
    pub ringing_at: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub ring_seconds: Option<f64>,
    pub talk_seconds: Option<f64>,
}

/// RFC 3339 in UTC with milliseconds, the form every output uses.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
