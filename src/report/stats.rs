//! The statistics of `callhook stats` and `GET /api/stats`: counts per status, answer rate,
//! talk and ring times, busiest hours; overall or per day, week, month, hour, weekday, number or
//! desk.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Datelike, Local, Timelike};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::log::call::{Direction, Status, rfc3339};
use crate::log::caller::NumberPlan;
use crate::log::query::{self, Filter};

/// How `stats` groups the calls (days, weeks, months and hours in the local time zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Day,
    Week,
    Month,
    Hour,
    Weekday,
    Number,
    /// The desk that took the call: team mode's central log has one group per desk; a desk's
    /// own log has one, this computer's name.
    Desk,
}

impl By {
    /// Whether the groups go by a label of the calls (their number or desk) rather than by
    /// their time.
    pub fn is_labelled(self) -> bool {
        matches!(self, By::Number | By::Desk)
    }
}

/// The figures of a set of calls.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Figures {
    pub calls: u64,
    pub answered: u64,
    pub missed: u64,
    pub busy: u64,
    pub no_answer: u64,
    pub in_progress: u64,
    /// Answered incoming calls among the incoming calls that are over.
    pub answer_rate: Option<f64>,
    pub talk_seconds_total: f64,
    pub talk_seconds_average: Option<f64>,
    /// From ringing to answer, over the answered incoming calls.
    pub ring_seconds_average: Option<f64>,
    /// Summed exactly, in milliseconds; the seconds above are derived from it.
    #[serde(skip)]
    pub talk_ms: i64,
    #[serde(skip)]
    pub incoming_over: u64,
    #[serde(skip)]
    pub incoming_answered: u64,
    #[serde(skip)]
    pub talked: u64,
    #[serde(skip)]
    pub ring_ms: i64,
    #[serde(skip)]
    pub rang: u64,
}

impl Figures {
    /// Adds calls of one direction and status, counted and summed together: one call, or a
    /// group of them that the database summed (central's `stats`).
    pub fn add_rows(&mut self, rows: &Rows) {
        self.calls += rows.calls;
        let count = match rows.status {
            Status::Answered => &mut self.answered,
            Status::Missed => &mut self.missed,
            Status::Busy => &mut self.busy,
            Status::NoAnswer => &mut self.no_answer,
            Status::InProgress => &mut self.in_progress,
        };
        *count += rows.calls;
        if rows.direction == Direction::In && rows.status != Status::InProgress {
            self.incoming_over += rows.calls;
            if rows.status == Status::Answered {
                self.incoming_answered += rows.calls;
                self.ring_ms += rows.ring_ms;
                self.rang += rows.rang;
            }
        }
        self.talk_ms += rows.talk_ms;
        self.talked += rows.talked;
    }

    fn finish(mut self) -> Self {
        let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
        self.answer_rate = ratio(self.incoming_answered as f64, self.incoming_over);
        // Seconds from whole milliseconds: one division each, no sum of fractions.
        self.talk_seconds_total = self.talk_ms as f64 / 1000.0;
        self.talk_seconds_average = ratio(self.talk_ms as f64, self.talked).map(|ms| ms / 1000.0);
        self.ring_seconds_average = ratio(self.ring_ms as f64, self.rang).map(|ms| ms / 1000.0);
        self
    }
}

pub struct Row {
    pub started_at: i64,
    pub direction: Direction,
    pub status: Status,
    pub ring_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub number: String,
}

/// Calls of one direction and status (as of now), with the sums of their ring and talk times
/// over those that have one.
#[derive(Clone, Debug)]
pub struct Rows {
    pub direction: Direction,
    pub status: Status,
    pub calls: u64,
    pub ring_ms: i64,
    /// The calls with a ring time.
    pub rang: u64,
    pub talk_ms: i64,
    /// The calls with a talk time.
    pub talked: u64,
}

impl Rows {
    /// One call.
    pub fn of(row: &Row) -> Rows {
        Rows {
            direction: row.direction,
            status: row.status,
            calls: 1,
            ring_ms: row.ring_ms.unwrap_or(0),
            rang: row.ring_ms.is_some() as u64,
            talk_ms: row.talk_ms.unwrap_or(0),
            talked: row.talk_ms.is_some() as u64,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct Group {
    pub group: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Serialize, Deserialize)]
pub struct BusyHour {
    pub hour: u32,
    pub calls: u64,
}

#[derive(Serialize, Deserialize)]
pub struct Report {
    pub since: Option<String>,
    pub until: Option<String>,
    pub by: Option<String>,
    pub total: Figures,
    pub groups: Vec<Group>,
    pub busiest_hours: Vec<BusyHour>,
}

/// The figures of the calls `filter` matches, overall and grouped `by`.
pub fn report(
    conn: &Connection,
    filter: &Filter,
    plan: &NumberPlan,
    now: i64,
    by: Option<By>,
) -> Result<Report> {
    let mut tally = Tally::new(by);
    let desk = if by == Some(By::Desk) {
        crate::platform::host_name()
    } else {
        String::new()
    };
    query::run(conn, &query::stats_sql(), filter, plan, now, |r| {
        let direction: String = r.get(1)?;
        let status: String = r.get(2)?;
        let row = Row {
            started_at: r.get(0)?,
            direction: Direction::parse(&direction).unwrap_or(Direction::In),
            status: Status::parse(&status).unwrap_or(Status::InProgress),
            ring_ms: r.get(3)?,
            talk_ms: r.get(4)?,
            number: r.get(5)?,
        };
        let local = DateTime::from_timestamp_millis(row.started_at)
            .unwrap_or_default()
            .with_timezone(&Local);
        let label = if by == Some(By::Desk) {
            &desk
        } else {
            &row.number
        };
        tally.add(&local, label, &Rows::of(&row));
        Ok(())
    })?;
    Ok(tally.report(filter))
}

/// The figures as they are gathered: overall, per group, and the calls per hour of the day.
pub struct Tally {
    by: Option<By>,
    total: Figures,
    groups: BTreeMap<(i64, String), Figures>,
    hours: [u64; 24],
}

impl Tally {
    pub fn new(by: Option<By>) -> Tally {
        Tally {
            by,
            total: Figures::default(),
            groups: BTreeMap::new(),
            hours: [0; 24],
        }
    }

    /// Adds calls that started at local time `local` (to the hour: days, weeks, months, hours
    /// and weekdays go by it); `label` is their number, or their desk with [`By::Desk`].
    pub fn add(&mut self, local: &DateTime<Local>, label: &str, rows: &Rows) {
        self.add_timed(local, rows);
        self.add_labelled(label, rows);
    }

    /// Adds calls that started at local time `local` to the total, the busiest hours, and
    /// their group when groups go by time; their number or desk is for [`Tally::add_labelled`].
    pub fn add_timed(&mut self, local: &DateTime<Local>, rows: &Rows) {
        self.hours[local.hour() as usize] += rows.calls;
        self.total.add_rows(rows);
        if let Some(key) = self.by.and_then(|by| time_group(by, local)) {
            self.groups.entry(key).or_default().add_rows(rows);
        }
    }

    /// Adds calls to the group of `label`, their number or desk, when the groups go by that
    /// (they count in the total through [`Tally::add_timed`]).
    pub fn add_labelled(&mut self, label: &str, rows: &Rows) {
        if self.by.is_some_and(By::is_labelled) {
            self.groups
                .entry((0, label.to_string()))
                .or_default()
                .add_rows(rows);
        }
    }

    /// The report of what was added, for the calls `filter` matched.
    pub fn report(self, filter: &Filter) -> Report {
        let by = self.by;
        let mut groups: Vec<Group> = self
            .groups
            .into_iter()
            .map(|((_, group), figures)| Group {
                group,
                figures: figures.finish(),
            })
            .collect();
        if by.is_some_and(By::is_labelled) {
            groups.sort_by(|a, b| {
                b.figures
                    .calls
                    .cmp(&a.figures.calls)
                    .then(a.group.cmp(&b.group))
            });
        }
        let hours = self.hours;
        let mut busiest: Vec<BusyHour> = (0..24u32)
            .filter(|&h| hours[h as usize] > 0)
            .map(|hour| BusyHour {
                hour,
                calls: hours[hour as usize],
            })
            .collect();
        busiest.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.hour.cmp(&b.hour)));
        busiest.truncate(3);
        Report {
            since: filter.since.map(rfc3339),
            until: filter.until.map(rfc3339),
            by: by.map(|b| format!("{b:?}").to_lowercase()),
            total: self.total.finish(),
            groups,
            busiest_hours: busiest,
        }
    }
}

/// The group of calls that started at `local` when groups go by time, with a key that sorts
/// the groups in their natural order.
fn time_group(by: By, local: &DateTime<Local>) -> Option<(i64, String)> {
    Some(match by {
        By::Day => (
            local.num_days_from_ce() as i64,
            local.format("%Y-%m-%d").to_string(),
        ),
        By::Week => {
            let week = local.iso_week();
            let key = week.year() as i64 * 100 + week.week() as i64;
            (key, format!("{}-W{:02}", week.year(), week.week()))
        }
        By::Month => (
            local.year() as i64 * 100 + local.month() as i64,
            local.format("%Y-%m").to_string(),
        ),
        By::Hour => (local.hour() as i64, hour_label(local.hour())),
        By::Weekday => (
            local.weekday().num_days_from_monday() as i64,
            local.format("%a").to_string(),
        ),
        By::Number | By::Desk => return None,
    })
}

/// An hour of the day as groups and the busiest hours show it: `09:00`.
pub fn hour_label(hour: u32) -> String {
    format!("{hour:02}:00")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(ms: i64) -> Row {
        Row {
            started_at: 0,
            direction: Direction::Out,
            status: Status::Answered,
            ring_ms: Some(1_000),
            talk_ms: Some(ms),
            number: "100".into(),
        }
    }

    #[test]
    fn talk_time_is_summed_in_whole_milliseconds() {
        let mut f = Figures::default();
        f.add_rows(&Rows::of(&talk(100)));
        f.add_rows(&Rows::of(&talk(200)));
        let f = f.finish();
        assert_eq!(f.talk_ms, 300);
        assert_eq!(f.talk_seconds_total, 0.3);
        // Float seconds would give 0.30000000000000004 / 2.
        assert_eq!(f.talk_seconds_average, Some(0.15));

        // A long log: a million calls of 0.1 s each is exactly 100000 s.
        let mut f = Figures::default();
        for _ in 0..1_000_000 {
            f.add_rows(&Rows::of(&talk(100)));
        }
        let f = f.finish();
        assert_eq!(f.talk_seconds_total, 100_000.0);
        assert_eq!(f.talk_seconds_average, Some(0.1));
    }
}
