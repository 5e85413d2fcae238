//! The statistics of `callhook stats` and `GET /api/stats`: counts per status, answer rate,
//! talk and ring times, busiest hours; overall or per day, week, month, hour, weekday or number.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Datelike, Local, Timelike};
use rusqlite::Connection;
use serde::Serialize;

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
}

/// The figures of a set of calls.
#[derive(Clone, Debug, Default, Serialize)]
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
    fn add(&mut self, row: &Row) {
        self.calls += 1;
        match row.status {
            Status::Answered => self.answered += 1,
            Status::Missed => self.missed += 1,
            Status::Busy => self.busy += 1,
            Status::NoAnswer => self.no_answer += 1,
            Status::InProgress => self.in_progress += 1,
        }
        if row.direction == Direction::In && row.status != Status::InProgress {
            self.incoming_over += 1;
            if row.status == Status::Answered {
                self.incoming_answered += 1;
                if let Some(ring) = row.ring_ms {
                    self.ring_ms += ring;
                    self.rang += 1;
                }
            }
        }
        if let Some(talk) = row.talk_ms {
            self.talk_ms += talk;
            self.talked += 1;
        }
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

#[derive(Serialize)]
pub struct Group {
    pub group: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Serialize)]
pub struct BusyHour {
    pub hour: u32,
    pub calls: u64,
}

#[derive(Serialize)]
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
    let mut total = Figures::default();
    let mut groups: BTreeMap<(i64, String), Figures> = BTreeMap::new();
    let mut hours = [0u64; 24];
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
        hours[local.hour() as usize] += 1;
        total.add(&row);
        if let Some(by) = by {
            groups
                .entry(group_key(by, &local, &row))
                .or_default()
                .add(&row);
        }
        Ok(())
    })?;
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|((_, group), figures)| Group {
            group,
            figures: figures.finish(),
        })
        .collect();
    if by == Some(By::Number) {
        groups.sort_by(|a, b| {
            b.figures
                .calls
                .cmp(&a.figures.calls)
                .then(a.group.cmp(&b.group))
        });
    }
    let mut busiest: Vec<BusyHour> = (0..24u32)
        .filter(|&h| hours[h as usize] > 0)
        .map(|hour| BusyHour {
            hour,
            calls: hours[hour as usize],
        })
        .collect();
    busiest.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.hour.cmp(&b.hour)));
    busiest.truncate(3);
    Ok(Report {
        since: filter.since.map(rfc3339),
        until: filter.until.map(rfc3339),
        by: by.map(|b| format!("{b:?}").to_lowercase()),
        total: total.finish(),
        groups,
        busiest_hours: busiest,
    })
}

/// The group of a call, with a key that sorts the groups in their natural order.
fn group_key(by: By, local: &DateTime<Local>, row: &Row) -> (i64, String) {
    match by {
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
        By::Number => (0, row.number.clone()),
    }
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
        f.add(&talk(100));
        f.add(&talk(200));
        let f = f.finish();
        assert_eq!(f.talk_ms, 300);
        assert_eq!(f.talk_seconds_total, 0.3);
        // Float seconds would give 0.30000000000000004 / 2.
        assert_eq!(f.talk_seconds_average, Some(0.15));

        // A long log: a million calls of 0.1 s each is exactly 100000 s.
        let mut f = Figures::default();
        for _ in 0..1_000_000 {
            f.add(&talk(100));
        }
        let f = f.finish();
        assert_eq!(f.talk_seconds_total, 100_000.0);
        assert_eq!(f.talk_seconds_average, Some(0.1));
    }
}
