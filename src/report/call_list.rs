//! Calls as the query commands list them (`calls`, `missed`): their table, CSV and JSON.

use comfy_table::{Cell, CellAlignment, Table};

use crate::log::call::Call;
use crate::report::output::{self, Listing, caller_safe, csv_safe, duration, local_time};

/// Calls as `calls` and `missed` list them, with their status as of `now`.
pub struct Calls {
    pub now: i64,
}

impl Listing for Calls {
    type Row = Call;

    fn csv_header(&self) -> Vec<&'static str> {
        vec![
            "id",
            "direction",
            "status",
            "number",
            "raw",
            "name",
            "started_at",
            "ringing_at",
            "answered_at",
            "ended_at",
            "ring_seconds",
            "talk_seconds",
        ]
    }

    /// The JSON fields; text cells safe for spreadsheets.
    fn csv_record(&self, call: &Call) -> Vec<String> {
        let json = call.to_json(self.now);
        let opt = |v: Option<String>| v.unwrap_or_default();
        let secs = |v: Option<f64>| v.map(|s| s.to_string()).unwrap_or_default();
        vec![
            json.id.to_string(),
            json.direction.as_str().to_string(),
            json.status.as_str().to_string(),
            csv_safe(json.number).into_owned(),
            csv_safe(json.raw).into_owned(),
            csv_safe(json.name.unwrap_or("")).into_owned(),
            json.started_at,
            opt(json.ringing_at),
            opt(json.answered_at),
            opt(json.ended_at),
            secs(json.ring_seconds),
            secs(json.talk_seconds),
        ]
    }

    fn json<'a>(&'a self, call: &'a Call) -> impl serde::Serialize + 'a {
        call.to_json(self.now)
    }

    fn table(&self, calls: &[Call], colour: bool) -> Table {
        let mut table = output::table([
            "Started", "Dir", "Status", "Number", "Name", "Ring", "Talk", "Call ID",
        ]);
        for call in calls {
            let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
            table.add_row([
                Cell::new(local_time(call.started_at)),
                Cell::new(call.direction),
                output::status_cell(call.status_at(self.now), colour),
                Cell::new(caller_safe(&call.number)),
                Cell::new(caller_safe(call.name.as_deref().unwrap_or(""))),
                right(call.ring_ms.map(duration).unwrap_or_default()),
                right(call.talk_ms.map(duration).unwrap_or_default()),
                Cell::new(&call.id),
            ]);
        }
        table
    }
}
