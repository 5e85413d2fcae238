//! `callhook stats`: counts per status, answer rate, talk and ring times, busiest hours;
//! overall or per day, week, month, hour, weekday or number.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, bail};
use chrono::{DateTime, Datelike, Local, Timelike};
use comfy_table::{Cell, CellAlignment};
use serde::Serialize;

use crate::cmd::filter::FilterArgs;
use crate::cmd::output::{self, Format, caller_safe, csv_safe, duration, plural};
use crate::config::locations::Locations;
use crate::log::call::{Direction, Status, now_ms, rfc3339};
use crate::log::query;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    filter: FilterArgs,
    /// Group the figures (days, weeks, months and hours in the local time zone)
    #[arg(long, value_enum)]
    by: Option<By>,
    /// table, csv or json
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum By {
    Day,
    Week,
    Month,
    Hour,
    Weekday,
    Number,
}

/// The figures of a set of calls.
#[derive(Clone, Debug, Default, Serialize)]
struct Figures {
    calls: u64,
    answered: u64,
    missed: u64,
    busy: u64,
    no_answer: u64,
    in_progress: u64,
    /// Answered incoming calls among the incoming calls that are over.
    answer_rate: Option<f64>,
    talk_seconds_total: f64,
    talk_seconds_average: Option<f64>,
    /// From ringing to answer, over the answered incoming calls.
    ring_seconds_average: Option<f64>,
    /// Summed exactly, in milliseconds; the seconds above are derived from it.
    #[serde(skip)]
    talk_ms: i64,
    #[serde(skip)]
    incoming_over: u64,
    #[serde(skip)]
    incoming_answered: u64,
    #[serde(skip)]
    talked: u64,
    #[serde(skip)]
    ring_ms: i64,
    #[serde(skip)]
    rang: u64,
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

struct Row {
    started_at: i64,
    direction: Direction,
    status: Status,
    ring_ms: Option<i64>,
    talk_ms: Option<i64>,
    number: String,
}

#[derive(Serialize)]
struct Group {
    group: String,
    #[serde(flatten)]
    figures: Figures,
}

#[derive(Serialize)]
struct BusyHour {
    hour: u32,
    calls: u64,
}

#[derive(Serialize)]
struct Report {
    since: Option<String>,
    until: Option<String>,
    by: Option<String>,
    total: Figures,
    groups: Vec<Group>,
    busiest_hours: Vec<BusyHour>,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    if args.format == Format::Ndjson {
        bail!("stats comes as table, csv or json");
    }
    let filter = args.filter.to_filter()?;
    let now = now_ms();
    let mut total = Figures::default();
    let mut groups: BTreeMap<(i64, String), Figures> = BTreeMap::new();
    let mut hours = [0u64; 24];
    {
        let conn = locations.existing_db()?;
        let plan = &locations.config.numbers;
        query::run(&conn, &query::stats_sql(), &filter, plan, now, |r| {
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
            if let Some(by) = args.by {
                groups
                    .entry(group_key(by, &local, &row))
                    .or_default()
                    .add(&row);
            }
            Ok(())
        })?;
    }
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|((_, group), figures)| Group {
            group,
            figures: figures.finish(),
        })
        .collect();
    if args.by == Some(By::Number) {
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
    let report = Report {
        since: filter.since.map(rfc3339),
        until: filter.until.map(rfc3339),
        by: args.by.map(|b| format!("{b:?}").to_lowercase()),
        total: total.finish(),
        groups,
        busiest_hours: busiest,
    };
    print(&report, args.format)
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

/// The CSV columns: the kind of row (the `--by` of a group, `total`, `busiest_hour`), the
/// group, and the figures; a busiest hour has its calls and nothing more.
const CSV_HEADER: [&str; 12] = [
    "kind",
    "group",
    "calls",
    "answered",
    "missed",
    "busy",
    "no_answer",
    "in_progress",
    "answer_rate",
    "talk_seconds_total",
    "talk_seconds_average",
    "ring_seconds_average",
];

/// An hour of the day as groups and the busiest hours show it: `09:00`.
fn hour_label(hour: u32) -> String {
    format!("{hour:02}:00")
}

fn print(report: &Report, format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json | Format::Ndjson => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        Format::Csv => print_csv(report, &mut out)?,
        Format::Table => print_table(report, &mut out)?,
    }
    Ok(())
}

/// One kind of row per line, named in the first column: the groups (by their `--by`), the
/// total, and the busiest hours; so no group, a number written `total` included, can pass for
/// another kind of row.
fn print_csv(report: &Report, out: &mut impl Write) -> Result<()> {
    let mut csv = output::csv_writer(out)?;
    csv.write_record(CSV_HEADER)?;
    let kind = report.by.as_deref().unwrap_or("group");
    let rows = report
        .groups
        .iter()
        .map(|g| (kind, g.group.as_str(), &g.figures));
    for (kind, group, f) in rows.chain([("total", "", &report.total)]) {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
        csv.write_record([
            kind.to_string(),
            csv_safe(group).into_owned(),
            f.calls.to_string(),
            f.answered.to_string(),
            f.missed.to_string(),
            f.busy.to_string(),
            f.no_answer.to_string(),
            f.in_progress.to_string(),
            opt(f.answer_rate),
            format!("{:.3}", f.talk_seconds_total),
            opt(f.talk_seconds_average),
            opt(f.ring_seconds_average),
        ])?;
    }
    for h in &report.busiest_hours {
        let mut record = vec![
            "busiest_hour".to_string(),
            hour_label(h.hour),
            h.calls.to_string(),
        ];
        record.resize(CSV_HEADER.len(), String::new());
        csv.write_record(record)?;
    }
    csv.flush()?;
    Ok(())
}

fn print_table(report: &Report, out: &mut impl Write) -> Result<()> {
    let first = match report.by.as_deref() {
        Some(by) => by[..1].to_uppercase() + &by[1..],
        None => String::new(),
    };
    let mut table = output::table([
        first.as_str(),
        "Calls",
        "Answered",
        "Missed",
        "Busy",
        "No answer",
        "In progress",
        "Answer rate",
        "Talk",
        "Avg talk",
        "Avg ring",
    ]);
    let rows = report.groups.iter().map(|g| (g.group.as_str(), &g.figures));
    for (group, f) in rows.chain([("Total", &report.total)]) {
        let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
        let secs = |s: Option<f64>| {
            s.map(|s| duration((s * 1000.0).round() as i64))
                .unwrap_or_default()
        };
        table.add_row([
            Cell::new(caller_safe(group)),
            right(f.calls.to_string()),
            right(f.answered.to_string()),
            right(f.missed.to_string()),
            right(f.busy.to_string()),
            right(f.no_answer.to_string()),
            right(f.in_progress.to_string()),
            right(
                f.answer_rate
                    .map(|r| format!("{:.0}%", r * 100.0))
                    .unwrap_or_default(),
            ),
            right(duration(f.talk_ms)),
            right(secs(f.talk_seconds_average)),
            right(secs(f.ring_seconds_average)),
        ]);
    }
    writeln!(out, "{table}")?;
    if !report.busiest_hours.is_empty() {
        let hours: Vec<String> = report
            .busiest_hours
            .iter()
            .map(|h| {
                let calls = plural(h.calls as usize, "call", "calls");
                format!("{} ({calls})", hour_label(h.hour))
            })
            .collect();
        writeln!(out, "Busiest hours: {}", hours.join(", "))?;
    }
    Ok(())
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
