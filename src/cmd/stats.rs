//! `callhook stats`: counts per status, answer rate, talk and ring times, busiest hours;
//! overall or per day, week, month, hour, weekday or number.

use std::io::Write;

use anyhow::{Result, bail};
use comfy_table::{Cell, CellAlignment};

use crate::cmd::team::{self, TeamArgs};
use crate::config::locations::Locations;
use crate::log::call::now_ms;
use crate::report::filter::FilterArgs;
use crate::report::output::{self, Format, caller_safe, csv_safe, duration, plural};
use crate::report::stats::{self, By, Report, hour_label};

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
    #[command(flatten)]
    team: TeamArgs,
}

pub fn run(locations: &Locations, args: Args) -> Result<()> {
    locations.require_config()?;
    if args.format == Format::Ndjson {
        bail!("stats comes as table, csv or json");
    }
    let filter = args.filter.to_filter()?;
    if args.team.central {
        let mut query = team::filter_query(&filter, &args.team.desk);
        if let Some(by) = args.by {
            let by = clap::ValueEnum::to_possible_value(&by).expect("every --by has a name");
            query.push(("by", by.get_name().to_string()));
        }
        let report: Report = team::Team::new(locations)?.get("/api/stats", &query)?;
        return print(&report, args.format);
    }
    let conn = locations.existing_db()?;
    let report = stats::report(&conn, &filter, &locations.config.numbers, now_ms(), args.by)?;
    print(&report, args.format)
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
