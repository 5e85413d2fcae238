//! Central's lists: the rows of a desk's lists, each with the desk it came from (`desk`, last
//! in CSV and JSON, first in a table), whether central prints them or a desk reads them back
//! from central's API (`--central`).

use comfy_table::{Cell, Table};
use serde::{Deserialize, Serialize};

use crate::log::call::{Call, Direction, Status};
use crate::report::output::{Listing, caller_safe};

/// A row of a desk's list, and its desk.
#[derive(Clone, Debug)]
pub struct DeskRow<R> {
    pub desk: String,
    pub row: R,
}

/// A desk's listing `L`, with a desk column.
pub struct Desked<L>(pub L);

#[derive(Serialize)]
struct DeskJson<T: Serialize> {
    #[serde(flatten)]
    row: T,
    desk: String,
}

impl<L: Listing> Listing for Desked<L> {
    type Row = DeskRow<L::Row>;

    fn csv_header(&self) -> Vec<&'static str> {
        let mut header = self.0.csv_header();
        header.push("desk");
        header
    }

    fn csv_record(&self, row: &Self::Row) -> Vec<String> {
        let mut record = self.0.csv_record(&row.row);
        record.push(crate::report::output::csv_safe(&row.desk).into_owned());
        record
    }

    fn json<'a>(&'a self, row: &'a Self::Row) -> impl Serialize + 'a {
        DeskJson {
            row: self.0.json(&row.row),
            desk: row.desk.clone(),
        }
    }

    fn table(&self, rows: &[Self::Row], colour: bool) -> Table {
        let mut table = crate::report::output::table(Vec::<String>::new());
        for (i, row) in rows.iter().enumerate() {
            // The desk's own table of this one row, with the desk before it.
            let one = self.0.table(std::slice::from_ref(&row.row), colour);
            if i == 0
                && let Some(header) = one.header()
            {
                let mut cells = vec![Cell::new("Desk")];
                cells.extend(header.cell_iter().cloned());
                table.set_header(cells);
            }
            let mut cells = vec![Cell::new(caller_safe(&row.desk))];
            if let Some(first) = one.row_iter().next() {
                cells.extend(first.cell_iter().cloned());
            }
            table.add_row(cells);
        }
        table
    }
}

/// A call as central's API gives it (`calls --format json` and `desk`), read back into the
/// call record, with its status as of the server's now.
#[derive(Deserialize)]
pub struct CallRecord {
    /// In a list, each call's; in `show`, beside the call.
    #[serde(default)]
    pub desk: String,
    pub id: String,
    pub direction: String,
    pub status: String,
    pub number: String,
    pub raw: String,
    pub name: Option<String>,
    pub started_at: String,
    pub ringing_at: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub ring_seconds: Option<f64>,
    pub talk_seconds: Option<f64>,
}

impl CallRecord {
    pub fn into_row(self) -> anyhow::Result<DeskRow<Call>> {
        let ms = central_time;
        let opt = |text: &Option<String>| text.as_deref().map(ms).transpose();
        let millis = |secs: Option<f64>| secs.map(|s| (s * 1000.0).round() as i64);
        let started_at = ms(&self.started_at)?;
        let ended_at = opt(&self.ended_at)?;
        let call = Call {
            direction: Direction::parse(&self.direction)
                .ok_or_else(|| anyhow::anyhow!("central sent a direction `{}`", self.direction))?,
            status: Status::parse(&self.status)
                .ok_or_else(|| anyhow::anyhow!("central sent a status `{}`", self.status))?,
            id: self.id,
            number: self.number,
            raw: self.raw,
            name: self.name,
            started_at,
            ringing_at: opt(&self.ringing_at)?,
            answered_at: opt(&self.answered_at)?,
            ended_at,
            last_event_at: ended_at.unwrap_or(started_at),
            // Central gave the status as of its now.
            expires_at: None,
            ring_ms: millis(self.ring_seconds),
            talk_ms: millis(self.talk_seconds),
        };
        Ok(DeskRow {
            desk: self.desk,
            row: call,
        })
    }
}

/// A time as central's JSON gives it (RFC 3339), in Unix milliseconds.
pub fn central_time(text: &str) -> anyhow::Result<i64> {
    Ok(chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| anyhow::anyhow!("central sent a time `{text}`: {e}"))?
        .timestamp_millis())
}
