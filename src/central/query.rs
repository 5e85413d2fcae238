//! The team's queries over central's log: `calls`, `show`, `missed --unreturned`, `stats` and
//! the live events, with the desk's semantics and JSON (see [`crate::log::query`] and
//! [`crate::report`]), and the desk of each call beside it.

use anyhow::{Context, Result};
use chrono::{DateTime, Local, TimeZone, Timelike};
use deadpool_postgres::Object;
use serde::Serialize;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::central::db::Central;
use crate::effects::webhook::{Payload, PayloadData};
use crate::log::call::{Call, CallJson, Direction, Status, rfc3339};
use crate::log::caller::{NumberPlan, digits};
use crate::log::query::{Filter, REDACTED_HEX_DIGITS, REDACTED_PREFIX};
use crate::report::detail::EventJson;
use crate::report::stats::{By, Report, Rows, Tally};
use crate::report::team::DeskRow;
use crate::report::unreturned::Unreturned;

/// Which calls a team query looks at: the desk's filter, and one desk (by name) or all.
#[derive(Clone, Debug, Default)]
pub struct TeamFilter {
    pub filter: Filter,
    pub desk: Option<String>,
}

/// A call and the desk that took it: a row of central's lists ([`Desked`] lays them out).
pub type TeamCall = DeskRow<Call>;

/// A call with its events, as `show` gives it, and its desk.
pub struct TeamDetail {
    pub desk: String,
    pub call: Call,
    pub events: Vec<EventJson>,
    pub now: i64,
}

/// The JSON of a [`TeamDetail`]: `show --format json`'s fields (central delivers nothing, so
/// `deliveries` is empty), then `desk`.
#[derive(Serialize)]
pub struct TeamDetailJson<'a> {
    pub call: CallJson<'a>,
    pub events: &'a [EventJson],
    pub deliveries: [(); 0],
    pub desk: &'a str,
}

impl TeamDetail {
    pub fn json(&self) -> TeamDetailJson<'_> {
        TeamDetailJson {
            call: self.call.to_json(self.now),
            events: &self.events,
            deliveries: [],
            desk: &self.desk,
        }
    }
}

/// A number still to call back, across the team, and the desk of its latest missed call.
pub type TeamUnreturned = DeskRow<Unreturned>;

/// One event for central's live events: its place in the feed, its id, and the webhook
/// payload (the call as it stands, with the event) with `desk` in its `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    pub seq: i64,
    pub id: String,
    pub data: String,
}

/// The webhook payload with the desk in `data`.
#[derive(Serialize)]
struct TeamPayload<'a> {
    #[serde(rename = "type")]
    kind: String,
    timestamp: String,
    data: TeamPayloadData<'a>,
}

#[derive(Serialize)]
struct TeamPayloadData<'a> {
    #[serde(flatten)]
    data: PayloadData<'a>,
    desk: &'a str,
}

/// The status as of `now` (bound as `now`), as [`crate::log::query::STATUS_NOW`] has it.
fn status_now(now: &str) -> String {
    format!(
        "CASE WHEN c.status = 'in-progress' AND c.expires_at < {now} THEN \
         CASE WHEN c.answered_at IS NOT NULL THEN 'answered' WHEN c.direction = 'in' \
         THEN 'missed' ELSE 'no-answer' END ELSE c.status END"
    )
}

/// SQL that holds when `column` is not a redacted value
/// ([`crate::log::query::is_redacted`]).
fn not_redacted(column: &str) -> String {
    format!("{column} !~ '^{REDACTED_PREFIX}[0-9a-f]{{{REDACTED_HEX_DIGITS}}}$'")
}

/// The columns of a [`Call`] over `calls c`, then the desk's name (`desks d`).
const CALL_COLUMNS: &str = "c.id, c.direction, c.status, c.number, c.raw, c.name, c.started_at, \
    c.ringing_at, c.answered_at, c.ended_at, c.last_event_at, c.expires_at, c.ring_ms, \
    c.talk_ms, d.name";
const CALL_COLUMN_COUNT: usize = 15;

/// A query's SQL and the values it binds (`$1`, `$2`, …).
#[derive(Default)]
struct Query {
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Query {
    /// Binds `value`; returns its placeholder.
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// The WHERE clause (over `calls c`) of `f`, as [`Filter::sql`] makes the desk's, with its
    /// number and desk as [`found`] found them.
    fn filter(&mut self, f: &TeamFilter, found: &Found, now: i64) -> String {
        self.filter_numbers(f, found, now, Numbers::Found)
    }

    /// [`Query::filter`], with the number as `numbers` says.
    fn filter_numbers(
        &mut self,
        f: &TeamFilter,
        found: &Found,
        now: i64,
        numbers: Numbers,
    ) -> String {
        let filter = &f.filter;
        let mut clauses = Vec::new();
        if let Some(since) = filter.since {
            clauses.push(format!("c.started_at >= {}", self.bind(since)));
        }
        if let Some(until) = filter.until {
            clauses.push(format!("c.started_at < {}", self.bind(until)));
        }
        if let Some(direction) = filter.direction {
            clauses.push(format!(
                "c.direction = {}",
                self.bind(direction.as_str().to_string())
            ));
        }
        if !filter.status.is_empty() {
            let now = self.bind(now);
            let statuses: Vec<String> = filter
                .status
                .iter()
                .map(|s| s.as_str().to_string())
                .collect();
            clauses.push(format!(
                "({}) = ANY({}::text[])",
                status_now(&now),
                self.bind(statuses)
            ));
        }
        if let Some(after) = &filter.after {
            // The desk compares ids as text: the same order for the UUIDs both write, and the
            // same answer for any other cursor. The time bound alone is the index's.
            let at = self.bind(after.started_at);
            let id = self.bind(after.id.clone());
            clauses.push(format!(
                "c.started_at <= {at} AND (c.started_at < {at} OR c.id::text COLLATE \"C\" < {id})"
            ));
        }
        match (numbers, &found.numbers) {
            (Numbers::Found, Some(numbers)) => clauses.push(format!(
                "c.number = ANY({}::text[])",
                self.bind(numbers.clone())
            )),
            (Numbers::Found, None) => {}
            (Numbers::Each(column), _) => clauses.push(format!("c.number = {column}")),
        }
        if let Some(desks) = &found.desks {
            clauses.push(format!(
                "c.desk_id = ANY({}::int4[])",
                self.bind(desks.clone())
            ));
        }
        if clauses.is_empty() {
            "true".to_string()
        } else {
            clauses.join(" AND ")
        }
    }
}

/// How a filter's number is matched.
#[derive(Clone, Copy)]
enum Numbers {
    /// By the numbers [`found`] found.
    Found,
    /// Number by number: the calls' number is this column's (of a list of numbers the query
    /// goes through, each already matching the filter).
    Each(&'static str),
}

/// At most this many numbers are looked up number by number for the newest calls.
const FEW_NUMBERS: usize = 100;

/// The numbers and desks a filter asks for, found before its calls are: PostgreSQL then plans
/// the calls' query with the numbers themselves before it (its statistics tell how many calls
/// each has; a subquery would hide them), and nothing is asked when nothing matches.
struct Found {
    /// The numbers that `--number` matches (none asked: `None`).
    numbers: Option<Vec<String>>,
    /// The desks of that name (none asked: `None`).
    desks: Option<Vec<i32>>,
}

impl Found {
    /// The numbers asked for, when they are few.
    fn few_numbers(&self) -> Option<&[String]> {
        self.numbers.as_deref().filter(|n| n.len() <= FEW_NUMBERS)
    }
}

/// The newest `limit` calls (`calls c`, with their desks `desks d`) that `f` and `condition`
/// (more SQL over `c`, `AND …`) match, newest first: `SELECT {columns} …`. With few numbers
/// asked for, each number's newest calls are read from the number index and merged: PostgreSQL
/// knows how many calls a number has only on average, and could look for a rare number's calls
/// by reading the whole log backwards in time.
fn newest(
    q: &mut Query,
    columns: &str,
    f: &TeamFilter,
    found: &Found,
    now: i64,
    condition: &str,
    limit: usize,
) -> String {
    let order = "ORDER BY c.started_at DESC, c.id DESC";
    match found.few_numbers() {
        Some(numbers) => {
            let numbers = q.bind(numbers.to_vec());
            let filter = q.filter_numbers(f, found, now, Numbers::Each("wanted.number"));
            format!(
                "SELECT {columns} FROM unnest({numbers}::text[]) AS wanted(number) \
                 CROSS JOIN LATERAL (SELECT c.* FROM calls c WHERE {filter} {condition} \
                 {order} LIMIT {limit}) c JOIN desks d ON d.id = c.desk_id {order} LIMIT {limit}"
            )
        }
        None => {
            let filter = q.filter(f, found, now);
            format!(
                "SELECT {columns} FROM calls c JOIN desks d ON d.id = c.desk_id \
                 WHERE {filter} {condition} {order} LIMIT {limit}"
            )
        }
    }
}

/// What `f` asks for by number and desk; none when nothing can match.
async fn found(client: &Object, f: &TeamFilter, plan: &NumberPlan) -> Result<Option<Found>> {
    let numbers = match &f.filter.number {
        Some(query) => {
            let mut q = Query::default();
            let sql = number_match(&mut q, query, plan);
            let rows = client.query(&sql, &q.params()).await?;
            let numbers: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            if numbers.is_empty() {
                return Ok(None);
            }
            Some(numbers)
        }
        None => None,
    };
    let desks = match &f.desk {
        Some(name) => {
            let rows = client
                .query("SELECT id FROM desks WHERE name = $1", &[&name.trim()])
                .await?;
            let desks: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
            if desks.is_empty() {
                return Ok(None);
            }
            Some(desks)
        }
        None => None,
    };
    Ok(Some(Found { numbers, desks }))
}

/// The distinct numbers that `--number` matches, exactly as on the desk
/// (`crate::log::query`'s `number_match`): a query that dials matches its digits anywhere in the
/// number, normalized with the number plan and as typed; text matches the number it stands
/// for, or anywhere in the number or caller text, any case. Partial matches never match
/// redacted values. The distinct numbers are searched through their trigram index.
fn number_match(q: &mut Query, query: &str, plan: &NumberPlan) -> String {
    let query = query.trim();
    let normalized = plan.number(query);
    let typed = digits(query);
    let dialable = !typed.is_empty()
        && (normalized.starts_with('+') || normalized.chars().all(|c| c.is_ascii_digit()));
    if dialable {
        // A number that holds the longer of two nested needles holds the shorter: one test.
        let digits = digits(&normalized);
        let needles = if digits.contains(&typed) {
            vec![typed]
        } else if typed.contains(&digits) {
            vec![digits]
        } else {
            vec![digits, typed]
        };
        let tests: Vec<String> = needles
            .into_iter()
            .map(|needle| format!("number LIKE {}", q.bind(format!("%{needle}%"))))
            .collect();
        format!(
            "SELECT DISTINCT number FROM numbers WHERE ({}) AND {}",
            tests.join(" OR "),
            not_redacted("number")
        )
    } else {
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let number = q.bind(normalized);
        let like = q.bind(format!("%{escaped}%"));
        format!(
            "SELECT DISTINCT number FROM numbers WHERE number = {number} \
             OR ((number ILIKE {like} OR raw ILIKE {like}) AND {})",
            not_redacted("number")
        )
    }
}

/// A [`Call`] and its desk from a row that starts with [`CALL_COLUMNS`].
fn team_call(row: &Row) -> Result<TeamCall> {
    let id: Uuid = row.try_get(0)?;
    let direction: String = row.try_get(1)?;
    let status: String = row.try_get(2)?;
    Ok(TeamCall {
        row: Call {
            id: id.to_string(),
            direction: Direction::parse(&direction)
                .with_context(|| format!("call {id}: unknown direction {direction}"))?,
            status: Status::parse(&status)
                .with_context(|| format!("call {id}: unknown status {status}"))?,
            number: row.try_get(3)?,
            raw: row.try_get(4)?,
            name: row.try_get(5)?,
            started_at: row.try_get(6)?,
            ringing_at: row.try_get(7)?,
            answered_at: row.try_get(8)?,
            ended_at: row.try_get(9)?,
            last_event_at: row.try_get(10)?,
            expires_at: row.try_get(11)?,
            ring_ms: row.try_get(12)?,
            talk_ms: row.try_get(13)?,
        },
        desk: row.try_get(14)?,
    })
}

/// The calls `f` matches, newest first (the next page after `f.filter.after`), with their
/// desks.
pub async fn calls(
    c: &Central,
    f: &TeamFilter,
    plan: &NumberPlan,
    now: i64,
    limit: Option<u32>,
) -> Result<Vec<TeamCall>> {
    let client = c.client().await?;
    let Some(found) = found(&client, f, plan).await? else {
        return Ok(Vec::new());
    };
    let mut q = Query::default();
    let sql = match limit {
        Some(limit) => newest(&mut q, CALL_COLUMNS, f, &found, now, "", limit as usize),
        None => format!(
            "SELECT {CALL_COLUMNS} FROM calls c JOIN desks d ON d.id = c.desk_id WHERE {} \
             ORDER BY c.started_at DESC, c.id DESC",
            q.filter(f, &found, now)
        ),
    };
    let rows = client.query(&sql, &q.params()).await?;
    rows.iter().map(team_call).collect()
}

/// The call with this id and its events, as of `now`; none when central has no such call (or
/// `id` is no call id).
pub async fn detail(c: &Central, id: &str, now: i64) -> Result<Option<TeamDetail>> {
    let Ok(id) = Uuid::try_parse(id.trim()) else {
        return Ok(None);
    };
    let client = c.client().await?;
    let Some(row) = client
        .query_opt(
            &format!(
                "SELECT {CALL_COLUMNS} FROM calls c JOIN desks d ON d.id = c.desk_id \
                 WHERE c.id = $1"
            ),
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let TeamCall { desk, row: call } = team_call(&row)?;
    let rows = client
        .query(
            "SELECT id, at, event, caller, caller_truncated, caller_bytes IS NOT NULL, number, \
             host, os_user, config_error FROM events WHERE call_id = $1 ORDER BY id",
            &[&id],
        )
        .await?;
    let events = rows
        .iter()
        .map(|r| {
            let id: Uuid = r.try_get(0)?;
            let at_ms: i64 = r.try_get(1)?;
            Ok(EventJson {
                id: id.to_string(),
                at_ms,
                at: rfc3339(at_ms),
                event: r.try_get(2)?,
                caller: r.try_get(3)?,
                caller_truncated: r.try_get(4)?,
                caller_lossy: r.try_get(5)?,
                number: r.try_get(6)?,
                host: r.try_get(7)?,
                user: r.try_get(8)?,
                config_error: r.try_get(9)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Some(TeamDetail {
        desk,
        call,
        events,
        now,
    }))
}

/// The numbers still to call back among the missed calls `f` matches (its statuses are
/// replaced by `missed`), newest first, as the desk's `missed --unreturned` has them, across
/// the team: a missed call is returned when any desk later had an answered call with the
/// number (either way), and `callbacks` counts the calls made to the number from any desk since
/// its last missed call. `desk` is the desk of that latest missed call.
pub async fn unreturned(
    c: &Central,
    f: &TeamFilter,
    plan: &NumberPlan,
    now: i64,
    limit: Option<u32>,
) -> Result<Vec<TeamUnreturned>> {
    let f = TeamFilter {
        filter: Filter {
            status: vec![Status::Missed],
            ..f.filter.clone()
        },
        desk: f.desk.clone(),
    };
    let client = c.client().await?;
    let Some(found) = found(&client, &f, plan).await? else {
        return Ok(Vec::new());
    };
    match limit {
        Some(limit) => newest_unreturned(&client, &f, &found, now, limit as usize).await,
        None => all_unreturned(&client, &f, &found, now).await,
    }
}

/// What makes a missed call (over `calls c`, `AND …`) one still waiting: no later call of its
/// number was answered, on any desk. Identities without digits and redacted numbers cannot be
/// called back. (A missed call is an unanswered incoming one: said again, so that PostgreSQL
/// knows.)
fn waiting() -> String {
    format!(
        "AND c.direction = 'in' AND c.answered_at IS NULL AND c.number ~ '[0-9]' AND {} \
         AND NOT EXISTS (SELECT 1 FROM calls later WHERE later.number = c.number \
         AND later.started_at > c.started_at AND later.answered_at IS NOT NULL)",
        not_redacted("c.number")
    )
}

/// The first `limit` numbers still to call back. The waiting calls are read newest first, a
/// few at a time, until `limit` numbers are found: a number's first waiting call is its latest
/// missed call (an answer after any missed call is after the earlier ones too), so each
/// number's place is known at once, and a month of calls is never read whole to show the
/// latest fifty. Then their counts, first calls and calls back, by number.
async fn newest_unreturned(
    client: &Object,
    f: &TeamFilter,
    found: &Found,
    now: i64,
    limit: usize,
) -> Result<Vec<TeamUnreturned>> {
    struct Latest {
        number: String,
        raw: String,
        name: Option<String>,
        started_at: i64,
        id: Uuid,
        desk: String,
    }
    let mut latest: Vec<Latest> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut after: Option<(i64, Uuid)> = None;
    // Tests read one call in the first round, so that they go through several.
    let mut chunk = if cfg!(test) { 1 } else { (limit * 4).max(200) };
    while latest.len() < limit {
        let mut q = Query::default();
        let mut condition = waiting();
        if let Some((at, id)) = after {
            condition += &format!(
                " AND (c.started_at, c.id) < ({}, {})",
                q.bind(at),
                q.bind(id)
            );
        }
        let columns = "c.number, c.raw, c.name, c.started_at, c.id, d.name";
        let sql = newest(&mut q, columns, f, found, now, &condition, chunk);
        let rows = client.query(&sql, &q.params()).await?;
        for row in &rows {
            let call = Latest {
                number: row.try_get(0)?,
                raw: row.try_get(1)?,
                name: row.try_get(2)?,
                started_at: row.try_get(3)?,
                id: row.try_get(4)?,
                desk: row.try_get(5)?,
            };
            after = Some((call.started_at, call.id));
            if latest.len() < limit && seen.insert(call.number.clone()) {
                latest.push(call);
            }
        }
        if rows.len() < chunk {
            break;
        }
        chunk *= 2;
    }
    if latest.is_empty() {
        return Ok(Vec::new());
    }

    // Each number's waiting calls are those since its last answered call.
    let numbers: Vec<String> = latest.iter().map(|l| l.number.clone()).collect();
    let lasts: Vec<i64> = latest.iter().map(|l| l.started_at).collect();
    let mut q = Query::default();
    let (numbers, lasts) = (q.bind(numbers), q.bind(lasts));
    let filter = q.filter_numbers(f, found, now, Numbers::Each("p.number"));
    let sql = format!(
        "SELECT w.missed, w.first, (SELECT count(*) FROM calls tries \
         WHERE tries.number = p.number AND tries.started_at > p.last \
         AND tries.direction = 'out') \
         FROM unnest({numbers}::text[], {lasts}::int8[]) WITH ORDINALITY AS p(number, last, nth) \
         LEFT JOIN LATERAL (SELECT a.started_at FROM calls a WHERE a.number = p.number \
         AND a.answered_at IS NOT NULL ORDER BY a.started_at DESC LIMIT 1) answered ON true \
         CROSS JOIN LATERAL (SELECT count(*) AS missed, min(c.started_at) AS first \
         FROM calls c WHERE {filter} AND c.started_at >= coalesce(answered.started_at, {}) \
         AND c.direction = 'in' AND c.answered_at IS NULL) w \
         ORDER BY p.nth",
        i64::MIN
    );
    let rows = client.query(&sql, &q.params()).await?;
    latest
        .into_iter()
        .zip(rows)
        .map(|(l, row)| {
            Ok(TeamUnreturned {
                row: Unreturned {
                    number: l.number,
                    raw: l.raw,
                    name: l.name,
                    missed: row.try_get(0)?,
                    callbacks: row.try_get(2)?,
                    first_missed_at: rfc3339(row.try_get(1)?),
                    last_missed_at: rfc3339(l.started_at),
                    last_call_id: l.id.to_string(),
                    last_ms: l.started_at,
                },
                desk: l.desk,
            })
        })
        .collect()
}

/// Every number still to call back: the waiting calls are found (by the time index, each checked
/// by the number index), then grouped by number.
async fn all_unreturned(
    client: &Object,
    f: &TeamFilter,
    found: &Found,
    now: i64,
) -> Result<Vec<TeamUnreturned>> {
    let mut q = Query::default();
    let sql = format!(
        "WITH waiting AS MATERIALIZED (SELECT c.number, c.raw, c.name, c.started_at, c.id, \
         c.desk_id FROM calls c WHERE {} {}), \
         ranked AS (SELECT w.*, count(*) OVER latest AS missed, \
         min(w.started_at) OVER latest AS first, row_number() OVER latest AS nth FROM waiting w \
         WINDOW latest AS (PARTITION BY w.number ORDER BY w.started_at DESC, w.id DESC \
         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) \
         SELECT r.number, r.raw, r.name, r.missed, r.first, r.started_at, r.id, \
         (SELECT count(*) FROM calls tries WHERE tries.number = r.number \
         AND tries.started_at > r.started_at AND tries.direction = 'out'), d.name \
         FROM ranked r JOIN desks d ON d.id = r.desk_id WHERE r.nth = 1 \
         ORDER BY r.started_at DESC, r.id DESC",
        q.filter(f, found, now),
        waiting()
    );
    let rows = client.query(&sql, &q.params()).await?;
    rows.iter()
        .map(|r| {
            let last_ms: i64 = r.try_get(5)?;
            let id: Uuid = r.try_get(6)?;
            Ok(TeamUnreturned {
                row: Unreturned {
                    number: r.try_get(0)?,
                    raw: r.try_get(1)?,
                    name: r.try_get(2)?,
                    missed: r.try_get(3)?,
                    first_missed_at: rfc3339(r.try_get(4)?),
                    last_missed_at: rfc3339(last_ms),
                    last_call_id: id.to_string(),
                    callbacks: r.try_get(7)?,
                    last_ms,
                },
                desk: r.try_get(8)?,
            })
        })
        .collect()
}

/// The figures of the calls `f` matches, overall and grouped `by`, as the desk's `stats` gives
/// them. PostgreSQL counts and sums the calls per local hour (the hours' starts computed here,
/// daylight saving time included), direction and status as of now, and for groups by number or
/// desk per number or desk too; those sums are folded into the figures as the desk folds its
/// calls.
pub async fn stats(
    c: &Central,
    f: &TeamFilter,
    plan: &NumberPlan,
    now: i64,
    by: Option<By>,
) -> Result<Report> {
    let mut client = c.client().await?;
    let mut tally = Tally::new(by);
    let Some(found) = found(&client, f, plan).await? else {
        return Ok(tally.report(&f.filter));
    };

    // The hours the calls fall in: from the first call to the last (within the filter's range).
    let mut q = Query::default();
    let filter = q.filter(f, &found, now);
    let range = client
        .query_one(
            &format!("SELECT min(c.started_at), max(c.started_at) FROM calls c WHERE {filter}"),
            &q.params(),
        )
        .await?;
    let (Some(first), Some(last)) = (
        range.try_get::<_, Option<i64>>(0)?,
        range.try_get::<_, Option<i64>>(1)?,
    ) else {
        return Ok(tally.report(&f.filter));
    };
    let starts = hour_starts(&Local, first, last);

    // PostgreSQL takes the hourly buckets for as many groups as calls (it cannot see that
    // `width_bucket` has few values), plans a sort of them all and, at millions of calls,
    // sorts on disk: a hash of the few real groups is what it should do.
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL enable_sort = off").await?;
    let mut q = Query::default();
    let filter = q.filter(f, &found, now);
    let status = status_now(&q.bind(now));
    let boundaries = q.bind(starts.clone());
    let hourly = format!(
        "SELECT width_bucket(c.started_at, {boundaries}::int8[]), c.direction, {status}, {SUMS} \
         FROM calls c WHERE {filter} GROUP BY 1, 2, 3"
    );
    for row in tx.query(&hourly, &q.params()).await? {
        let bucket: i32 = row.try_get(0)?;
        let start = starts
            .get((bucket - 1).max(0) as usize)
            .copied()
            .context("a call outside its hours")?;
        let local = DateTime::from_timestamp_millis(start)
            .unwrap_or_default()
            .with_timezone(&Local);
        tally.add_timed(&local, &rows(&row)?);
    }

    if let Some(by) = by.filter(|by| by.is_labelled()) {
        let mut q = Query::default();
        let filter = q.filter(f, &found, now);
        let status = status_now(&q.bind(now));
        // By desk id, named afterwards: no join per call, and desks of one name (a removed
        // desk's and the one that took its name) make one group.
        let label = match by {
            By::Desk => "c.desk_id",
            _ => "c.number",
        };
        let labelled = format!(
            "SELECT {label}, c.direction, {status}, {SUMS} FROM calls c WHERE {filter} \
             GROUP BY 1, 2, 3"
        );
        let desks: std::collections::HashMap<i32, String> = if by == By::Desk {
            let rows = tx.query("SELECT id, name FROM desks", &[]).await?;
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        } else {
            Default::default()
        };
        for row in tx.query(&labelled, &q.params()).await? {
            let label = if by == By::Desk {
                let id: i32 = row.try_get(0)?;
                desks.get(&id).cloned().unwrap_or_default()
            } else {
                row.try_get(0)?
            };
            tally.add_labelled(&label, &rows(&row)?);
        }
    }
    tx.commit().await?;
    Ok(tally.report(&f.filter))
}

/// What [`stats`] sums per group, after the group's label, direction and status.
const SUMS: &str = "count(*), coalesce(sum(c.ring_ms), 0)::int8, count(c.ring_ms), \
    coalesce(sum(c.talk_ms), 0)::int8, count(c.talk_ms)";

/// A group of [`stats`]: direction and status in columns 1 and 2, then [`SUMS`].
fn rows(row: &Row) -> Result<Rows> {
    let direction: String = row.try_get(1)?;
    let status: String = row.try_get(2)?;
    let count = |i: usize| -> Result<u64> { Ok(row.try_get::<_, i64>(i)? as u64) };
    Ok(Rows {
        direction: Direction::parse(&direction).unwrap_or(Direction::In),
        status: Status::parse(&status).unwrap_or(Status::InProgress),
        calls: count(3)?,
        ring_ms: row.try_get(4)?,
        rang: count(5)?,
        talk_ms: row.try_get(6)?,
        talked: count(7)?,
    })
}

/// The starts of the local hours (in `tz`) from the one holding `first` to the one after
/// `last` (Unix ms): each local hour, and each change of the clock within one, begins a
/// bucket, so that every call of a bucket has the same local day, hour, weekday and month.
pub fn hour_starts<Tz: TimeZone>(tz: &Tz, first: i64, last: i64) -> Vec<i64> {
    const HOUR: i64 = 3_600_000;
    let offset = |t: i64| -> i64 {
        let utc = DateTime::from_timestamp_millis(t).unwrap_or_default();
        let local = utc.with_timezone(tz).naive_local();
        (local - utc.naive_utc()).num_milliseconds()
    };
    let into_hour = |t: i64| -> i64 {
        let local = DateTime::from_timestamp_millis(t)
            .unwrap_or_default()
            .with_timezone(tz);
        (local.minute() as i64 * 60 + local.second() as i64) * 1000
            + local.timestamp_subsec_millis() as i64
    };
    let mut starts = vec![first - into_hour(first)];
    loop {
        let at = *starts.last().expect("one start");
        if at > last {
            return starts;
        }
        // The next local hour, unless the clock changes before it: then the change.
        let next = at - into_hour(at) + HOUR;
        let from = offset(at);
        let next = if offset(next - 1) == from {
            next
        } else {
            let (mut same, mut changed) = (at, next - 1);
            while changed - same > 1 {
                let mid = same + (changed - same) / 2;
                if offset(mid) == from {
                    same = mid;
                } else {
                    changed = mid;
                }
            }
            changed
        };
        starts.push(next);
    }
}

/// The events stored or changed after feed position `after_seq`, oldest first (at most
/// `limit`), each with its call as it stands, as of `now`: central's live events, as the
/// desk's `GET /api/events` sends them, with the desk in `data`.
pub async fn frames_after(
    c: &Central,
    after_seq: i64,
    limit: u32,
    now: i64,
) -> Result<Vec<FeedItem>> {
    let client = c.client().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {CALL_COLUMNS}, e.seq, e.id, e.at, e.event, e.host, e.os_user, \
                 e.boot_ms IS NULL FROM events e JOIN calls c ON c.id = e.call_id \
                 JOIN desks d ON d.id = c.desk_id WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"
            ),
            &[&after_seq, &(limit as i64)],
        )
        .await?;
    let n = CALL_COLUMN_COUNT;
    rows.iter()
        .map(|r| {
            let TeamCall { desk, row: call } = team_call(r)?;
            let id: Uuid = r.try_get(n + 1)?;
            let (event, host, user): (String, String, String) =
                (r.try_get(n + 3)?, r.try_get(n + 4)?, r.try_get(n + 5)?);
            let payload = Payload::new(
                &event,
                r.try_get(n + 2)?,
                call.to_json(now),
                &host,
                &user,
                r.try_get(n + 6)?,
            );
            let payload = TeamPayload {
                kind: payload.kind,
                timestamp: payload.timestamp,
                data: TeamPayloadData {
                    data: payload.data,
                    desk: &desk,
                },
            };
            Ok(FeedItem {
                seq: r.try_get(n)?,
                id: id.to_string(),
                data: serde_json::to_string(&payload)?,
            })
        })
        .collect()
}

/// The feed position of the last event stored or changed (0 when there is none).
pub async fn last_seq(c: &Central) -> Result<i64> {
    let client = c.client().await?;
    Ok(client
        .query_one("SELECT coalesce(max(seq), 0) FROM events", &[])
        .await?
        .try_get(0)?)
}

/// The calls central holds, from every desk (kept by ingest per desk: no count of the log).
pub async fn count_calls(c: &Central) -> Result<i64> {
    let client = c.client().await?;
    Ok(client
        .query_one("SELECT coalesce(sum(calls_held), 0)::int8 FROM desks", &[])
        .await?
        .try_get(0)?)
}

/// The feed position of event `id` (a live events client's `Last-Event-ID`), if central has
/// it; an id that is not a UUID is none.
pub async fn position_of(c: &Central, id: &str) -> Result<Option<i64>> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let client = c.client().await?;
    Ok(client
        .query_opt("SELECT seq FROM events WHERE id = $1", &[&id])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, LocalResult, NaiveDate, NaiveDateTime};

    /// Every instant (by the minute) where the local day or hour changes, brute force.
    fn changes<Tz: TimeZone>(tz: &Tz, first: i64, last: i64) -> Vec<i64> {
        let label = |t: i64| {
            DateTime::from_timestamp_millis(t)
                .unwrap()
                .with_timezone(tz)
                .naive_local()
                .format("%Y-%m-%d %H")
                .to_string()
        };
        let mut out = Vec::new();
        let mut t = first - first.rem_euclid(60_000);
        while t <= last + 3_600_000 {
            if label(t) != label(t - 60_000) {
                out.push(t);
            }
            t += 60_000;
        }
        out
    }

    /// Each bucket holds one local day and hour, and every change of them starts a bucket.
    fn check<Tz: TimeZone>(tz: &Tz, first: i64, last: i64) {
        let starts = hour_starts(tz, first, last);
        assert!(starts[0] <= first && *starts.last().unwrap() > last);
        assert!(starts.windows(2).all(|w| w[0] < w[1]));
        for change in changes(tz, first, last) {
            if change > starts[0] && change < *starts.last().unwrap() {
                assert!(
                    starts.contains(&change),
                    "{change} is not a start: {starts:?}"
                );
            }
        }
    }

    /// +10:30, and +11:00 from a moment on: clocks go from 02:00 to 02:30, a half-hour step as
    /// Lord Howe Island has.
    #[derive(Clone, Copy, Debug)]
    struct HalfHourStep;

    const STEP_AT: i64 = 1_791_387_000_000; // 2026-10-07T15:30:00Z, 02:00 local (+10:30)

    impl TimeZone for HalfHourStep {
        type Offset = FixedOffset;

        fn from_offset(_: &FixedOffset) -> Self {
            HalfHourStep
        }

        fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<FixedOffset> {
            self.offset_from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap())
        }

        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
            let fits: Vec<FixedOffset> = [37_800, 39_600]
                .map(|s| FixedOffset::east_opt(s).unwrap())
                .into_iter()
                .filter(|o| {
                    let at = (local.and_utc().timestamp() - o.local_minus_utc() as i64) * 1000;
                    self.offset_from_utc_datetime(
                        &DateTime::from_timestamp_millis(at).unwrap().naive_utc(),
                    ) == *o
                })
                .collect();
            match fits[..] {
                [] => LocalResult::None,
                [one] => LocalResult::Single(one),
                [a, b] => LocalResult::Ambiguous(a, b),
                _ => unreachable!(),
            }
        }

        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            self.offset_from_utc_datetime(&utc.and_hms_opt(0, 0, 0).unwrap())
        }

        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            let seconds = if utc.and_utc().timestamp_millis() < STEP_AT {
                37_800
            } else {
                39_600
            };
            FixedOffset::east_opt(seconds).unwrap()
        }
    }

    #[test]
    fn local_hours_hold_one_day_and_hour_each() {
        let day = 86_400_000;
        let t = 1_795_601_012_345; // 2026-11-25T10:03:32.345Z
        check(&chrono::Utc, t, t + 3 * day);
        check(
            &FixedOffset::east_opt(5 * 3600 + 45 * 60).unwrap(),
            t,
            t + 2 * day,
        );
        check(&HalfHourStep, STEP_AT - day, STEP_AT + day);
        // The step: 01:00 (+10:30), then the step itself, then 03:00 (+11:00), half an hour on.
        let starts = hour_starts(&HalfHourStep, STEP_AT - 1, STEP_AT + 1);
        assert_eq!(
            starts,
            [STEP_AT - 3_600_000, STEP_AT, STEP_AT + 1_800_000],
            "{starts:?}"
        );
        check(&Local, t, t + 40 * day);
        // A single moment: its hour, and the next.
        assert_eq!(
            hour_starts(&chrono::Utc, 3_600_000, 3_600_000),
            [3_600_000, 7_200_000]
        );
    }

    #[test]
    fn status_and_redaction_read_as_on_the_desk() {
        assert!(status_now("$1").contains("c.expires_at < $1"));
        assert_eq!(
            not_redacted("number"),
            "number !~ '^redacted:[0-9a-f]{20}$'"
        );
    }
}

#[cfg(all(test, unix))]
mod cluster_tests {
    use super::*;
    use crate::central::db::block_on;
    use crate::central::ingest;
    use crate::central::testing::{self, DeskLog, batch};
    use crate::log::caller::Caller;
    use crate::log::event::EventKind::*;
    use crate::log::query::{self, Cursor};
    use crate::report::call_list::Calls;
    use crate::report::detail::Detail;
    use crate::report::output::Listing;
    use crate::report::team::Desked;
    use crate::report::unreturned::UnreturnedList;
    use crate::report::{stats, unreturned};

    const T0: i64 = 1_795_600_800_000; // 2026-11-25T10:00:00Z
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    const NOW: i64 = T0 + 7 * DAY;

    /// A week of a desk's calls: answered, missed, busy, unanswered, open (left open past its
    /// window, and still ringing now), anonymous, names, extensions, a redacted number, two
    /// calls started in the same millisecond, and text that is not Unicode.
    fn week(log: &mut DeskLog, t0: i64) {
        log.incoming(t0, "+49 30 1234567", Some(60_000));
        log.incoming(t0 + HOUR, "030 1234567", None);
        log.outgoing(t0 + 2 * HOUR, "030 1234567", None);
        log.incoming(t0 + DAY, "0171 5551234", None);
        log.incoming(t0 + DAY + 5 * HOUR, "anonymous", None);
        log.incoming(
            t0 + 2 * DAY,
            "\"Alice\" <sip:alice@example.com>",
            Some(30_000),
        );
        log.outgoing(t0 + 2 * DAY + HOUR, "100", Some(5_000));
        log.event(t0 + 3 * DAY, Incoming, "+1 555 0100 200");
        log.event(t0 + 3 * DAY + 2_000, Busy, "+1 555 0100 200");
        log.incoming(t0 + 3 * DAY + HOUR, "redacted:0123456789abcdef0123", None);
        log.event(t0 + 4 * DAY, Incoming, "+49 89 111222");
        log.incoming(t0 + 5 * DAY, "+49 30 5550001", None);
        log.incoming(t0 + 5 * DAY, "+49 30 5550002", None);
        log.incoming(t0 + 5 * DAY + 2 * HOUR, "+49 30 5550001", None);
        log.incoming(t0 + 6 * DAY, "0171 5551234", Some(10_000));
        log.outgoing(t0 + 6 * DAY + 3 * HOUR, "+49 30 5550002", None);
        use std::os::unix::ffi::OsStrExt;
        let lossy = Caller::from_os(std::ffi::OsStr::from_bytes(b"+49 30 777\xff"));
        log.record(t0 + 6 * DAY + 4 * HOUR, Incoming, lossy.clone());
        log.record(t0 + 6 * DAY + 4 * HOUR + 9_000, End, lossy);
        log.event(NOW - 60_000, Incoming, "+49 40 999888");
    }

    async fn replicate(c: &Central, name: &str, log: &DeskLog) {
        let desk = testing::desk(c, name).await;
        let r = ingest::apply(c, &desk, &batch(log.states(1)), NOW)
            .await
            .unwrap();
        assert_eq!(r.accepted as usize, log.states(1).len());
    }

    fn desk_calls(log: &DeskLog, filter: &Filter, limit: Option<u32>) -> Vec<Call> {
        let mut calls = Vec::new();
        query::each(&log.conn, filter, &log.plan, NOW, limit, |call| {
            calls.push(call);
            Ok(())
        })
        .unwrap();
        calls
    }

    fn team(filter: &Filter) -> TeamFilter {
        TeamFilter {
            filter: filter.clone(),
            desk: None,
        }
    }

    fn filters() -> Vec<Filter> {
        let number = |n: &str| Filter {
            number: Some(n.into()),
            ..Filter::default()
        };
        let mut filters = vec![
            Filter::default(),
            Filter {
                since: Some(T0 + DAY),
                until: Some(T0 + 5 * DAY),
                ..Filter::default()
            },
            Filter {
                status: vec![Status::Missed],
                ..Filter::default()
            },
            Filter {
                status: vec![Status::InProgress],
                ..Filter::default()
            },
            Filter {
                status: vec![Status::Answered, Status::Busy, Status::NoAnswer],
                direction: Some(Direction::In),
                ..Filter::default()
            },
            Filter {
                direction: Some(Direction::Out),
                ..Filter::default()
            },
        ];
        for n in [
            "030 1234567",
            "+49 30 1234567",
            "1234567",
            "4567",
            "45",
            "5",
            "+49 30",
            "0171 555",
            "anonymous",
            "ANONYMOUS",
            "alice",
            "sip:",
            "%",
            "_",
            "redacted:0123456789abcdef0123",
            "0123",
            "abcdef",
            "777",
            "\u{fffd}",
            "nobody",
        ] {
            filters.push(number(n));
        }
        filters
    }

    #[test]
    fn team_calls_are_the_desks_calls() {
        let db = testing::database();
        let mut log = DeskLog::new("desk-1");
        week(&mut log, T0);
        block_on(async {
            let c = db.connect().await;
            replicate(&c, "front", &log).await;
            for (filter, limit) in filters()
                .into_iter()
                .flat_map(|f| [(f.clone(), None), (f.clone(), Some(1)), (f, Some(3))])
            {
                let desk = desk_calls(&log, &filter, limit);
                let central = calls(&c, &team(&filter), &log.plan, NOW, limit)
                    .await
                    .unwrap();
                let central_calls: Vec<Call> = central.iter().map(|t| t.row.clone()).collect();
                assert_eq!(central_calls, desk, "{filter:?}, limit {limit:?}");
                assert!(central.iter().all(|t| t.desk == "front"));
                for (team_call, call) in central.iter().zip(&desk) {
                    let mut expected = serde_json::to_value(call.to_json(NOW)).unwrap();
                    expected["desk"] = "front".into();
                    assert_eq!(
                        serde_json::to_value(Desked(Calls { now: NOW }).json(team_call)).unwrap(),
                        expected
                    );
                }
            }
            // The JSON's fields in the desk's order, then the desk.
            let one = calls(&c, &TeamFilter::default(), &log.plan, NOW, Some(1))
                .await
                .unwrap();
            let text = serde_json::to_string(&Desked(Calls { now: NOW }).json(&one[0])).unwrap();
            assert!(text.starts_with("{\"id\":"), "{text}");
            assert!(text.ends_with(",\"desk\":\"front\"}"), "{text}");
            let fields = [
                "\"direction\"",
                "\"status\"",
                "\"number\"",
                "\"raw\"",
                "\"name\"",
                "\"started_at\"",
                "\"ringing_at\"",
                "\"answered_at\"",
                "\"ended_at\"",
                "\"ring_seconds\"",
                "\"talk_seconds\"",
                "\"desk\"",
            ];
            let at: Vec<usize> = fields.iter().map(|f| text.find(f).unwrap()).collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        });
    }

    #[test]
    fn pages_follow_the_cursor_as_on_the_desk() {
        let db = testing::database();
        let mut log = DeskLog::new("desk-1");
        week(&mut log, T0);
        block_on(async {
            let c = db.connect().await;
            replicate(&c, "front", &log).await;
            let all = desk_calls(&log, &Filter::default(), None);
            let mut filter = Filter::default();
            let mut paged = Vec::new();
            loop {
                let page = calls(&c, &team(&filter), &log.plan, NOW, Some(2))
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                assert_eq!(
                    page.iter().map(|t| t.row.clone()).collect::<Vec<_>>(),
                    desk_calls(&log, &filter, Some(2)),
                    "the desk's page"
                );
                filter.after = Some(Cursor {
                    started_at: last.row.started_at,
                    id: last.row.id.clone(),
                });
                paged.extend(page.into_iter().map(|t| t.row));
            }
            assert_eq!(paged, all);
            // Any text as cursor id reads as the desk reads it.
            for id in ["0", "ffffffff", "019ab3c4-5e7a"] {
                let filter = Filter {
                    after: Some(Cursor {
                        started_at: T0 + 5 * DAY,
                        id: id.into(),
                    }),
                    ..Filter::default()
                };
                let central: Vec<Call> = calls(&c, &team(&filter), &log.plan, NOW, None)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| t.row)
                    .collect();
                assert_eq!(central, desk_calls(&log, &filter, None), "{id}");
            }
        });
    }

    #[test]
    fn each_desk_and_all_together() {
        let db = testing::database();
        let mut a = DeskLog::new("desk-a");
        week(&mut a, T0);
        let mut b = DeskLog::new("desk-b");
        b.incoming(T0 + 30 * 60_000, "+49 30 1234567", None);
        b.outgoing(T0 + 3 * DAY, "0171 5551234", Some(1_000));
        block_on(async {
            let c = db.connect().await;
            replicate(&c, "a", &a).await;
            replicate(&c, "b", &b).await;
            let of = |desk: Option<&str>| TeamFilter {
                filter: Filter::default(),
                desk: desk.map(str::to_string),
            };
            let all = calls(&c, &of(None), &a.plan, NOW, None).await.unwrap();
            assert_eq!(all.len(), a.states(1).len() + 2);
            let only_b = calls(&c, &of(Some("b")), &a.plan, NOW, None).await.unwrap();
            let ids: Vec<&str> = only_b.iter().map(|t| t.row.id.as_str()).collect();
            let expected: Vec<Call> = desk_calls(&b, &Filter::default(), None);
            let expected: Vec<&str> = expected.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, expected);
            assert!(only_b.iter().all(|t| t.desk == "b"));
            assert!(
                calls(&c, &of(Some("nobody")), &a.plan, NOW, None)
                    .await
                    .unwrap()
                    .is_empty()
            );
            // Newest first across the desks.
            assert!(
                all.windows(2)
                    .all(|w| w[0].row.started_at >= w[1].row.started_at)
            );
            assert_eq!(count_calls(&c).await.unwrap(), all.len() as i64);
        });
    }

    fn desk_unreturned(
        log: &DeskLog,
        filter: &Filter,
        limit: Option<u32>,
    ) -> Vec<serde_json::Value> {
        let mut rows = Vec::new();
        unreturned::each(&log.conn, filter, &log.plan, NOW, limit, |u| {
            rows.push(serde_json::to_value(&u).unwrap());
            Ok(())
        })
        .unwrap();
        rows
    }

    #[test]
    fn unreturned_calls_across_the_team() {
        let db = testing::database();
        let mut a = DeskLog::new("desk-a");
        week(&mut a, T0);
        block_on(async {
            let c = db.connect().await;
            replicate(&c, "a", &a).await;
            // One desk: as the desk has them.
            for filter in [
                Filter::default(),
                Filter {
                    since: Some(T0 + DAY),
                    ..Filter::default()
                },
                Filter {
                    number: Some("030".into()),
                    ..Filter::default()
                },
            ] {
                for limit in [None, Some(1), Some(2), Some(3), Some(50)] {
                    let central: Vec<serde_json::Value> =
                        unreturned(&c, &team(&filter), &a.plan, NOW, limit)
                            .await
                            .unwrap()
                            .iter()
                            .map(|u| {
                                let mut v =
                                    serde_json::to_value(Desked(UnreturnedList).json(u)).unwrap();
                                assert_eq!(v["desk"], "a");
                                v.as_object_mut().unwrap().remove("desk");
                                v
                            })
                            .collect();
                    let desk = desk_unreturned(&a, &filter, limit);
                    assert!(!desk.is_empty());
                    assert_eq!(central, desk, "{filter:?}, limit {limit:?}");
                }
            }
            let waiting: Vec<String> = unreturned(&c, &TeamFilter::default(), &a.plan, NOW, None)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.row.number)
                .collect();
            assert!(waiting.contains(&"+49301234567".to_string()), "{waiting:?}");

            // Desk b calls +49 30 1234567 back and gets through: returned for the team. It
            // tries +49 30 5550001 without an answer: still waiting, one more try.
            let mut b = DeskLog::new("desk-b");
            b.outgoing(T0 + 6 * DAY, "030 1234567", Some(20_000));
            b.outgoing(T0 + 6 * DAY + HOUR, "030 5550001", None);
            replicate(&c, "b", &b).await;
            let rows = unreturned(&c, &TeamFilter::default(), &a.plan, NOW, None)
                .await
                .unwrap();
            let numbers: Vec<&str> = rows.iter().map(|u| u.row.number.as_str()).collect();
            assert!(!numbers.contains(&"+49301234567"), "{numbers:?}");
            let tried = rows
                .iter()
                .find(|u| u.row.number == "+49305550001")
                .unwrap();
            assert_eq!(tried.row.callbacks, 1);
            assert_eq!(tried.desk, "a", "the desk of the missed call");
            // Only desk b's missed calls: it has none.
            let of_b = TeamFilter {
                filter: Filter::default(),
                desk: Some("b".into()),
            };
            assert!(
                unreturned(&c, &of_b, &a.plan, NOW, None)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let text = serde_json::to_string(&Desked(UnreturnedList).json(&rows[0])).unwrap();
            assert!(text.starts_with("{\"number\":"), "{text}");
            assert!(text.contains("\"last_call_id\""), "{text}");
            assert!(!text.contains("last_ms"), "{text}");
            assert!(text.ends_with(",\"desk\":\"a\"}"), "{text}");
        });
    }

    #[test]
    fn team_stats_are_the_desks_stats() {
        let db = testing::database();
        let mut log = DeskLog::new("desk-1");
        week(&mut log, T0);
        // More calls over a month, at all hours, so that days, weeks and months differ.
        for i in 0..60 {
            let at = T0 - 40 * DAY + i * (17 * HOUR + 7 * 60_000);
            match i % 4 {
                0 => log.incoming(at, &format!("+49 30 {}", 1000 + i % 7), Some(i * 1_001)),
                1 => log.incoming(at, &format!("+49 30 {}", 1000 + i % 5), None),
                2 => log.outgoing(at, &format!("030 {}", 1000 + i % 3), Some(333)),
                _ => log.outgoing(at, "100", None),
            };
        }
        block_on(async {
            let c = db.connect().await;
            replicate(&c, "front", &log).await;
            let mut filters = filters();
            filters.push(Filter {
                since: Some(T0 - 20 * DAY),
                ..Filter::default()
            });
            for filter in &filters {
                for by in [
                    None,
                    Some(By::Day),
                    Some(By::Week),
                    Some(By::Month),
                    Some(By::Hour),
                    Some(By::Weekday),
                    Some(By::Number),
                ] {
                    let desk = stats::report(&log.conn, filter, &log.plan, NOW, by).unwrap();
                    let central = stats(&c, &team(filter), &log.plan, NOW, by).await.unwrap();
                    assert_eq!(
                        serde_json::to_value(&central).unwrap(),
                        serde_json::to_value(&desk).unwrap(),
                        "{filter:?} by {by:?}"
                    );
                }
            }
        });
    }

    #[test]
    fn team_stats_by_desk() {
        let db = testing::database();
        let mut a = DeskLog::new("desk-a");
        week(&mut a, T0);
        let mut b = DeskLog::new("desk-b");
        b.incoming(T0, "+49 30 1234567", Some(5_000));
        b.outgoing(T0 + DAY, "100", None);
        block_on(async {
            let c = db.connect().await;
            replicate(&c, "zeta", &b).await;
            replicate(&c, "alpha", &a).await;
            let report = stats(&c, &TeamFilter::default(), &a.plan, NOW, Some(By::Desk))
                .await
                .unwrap();
            let json = serde_json::to_value(&report).unwrap();
            assert_eq!(json["by"], "desk");
            let groups: Vec<&str> = report.groups.iter().map(|g| g.group.as_str()).collect();
            assert_eq!(groups, ["alpha", "zeta"], "busiest first");
            let total = |log: &DeskLog| {
                let r = stats::report(&log.conn, &Filter::default(), &log.plan, NOW, None).unwrap();
                serde_json::to_value(r.total).unwrap()
            };
            assert_eq!(
                serde_json::to_value(&report.groups[0].figures).unwrap(),
                total(&a)
            );
            assert_eq!(
                serde_json::to_value(&report.groups[1].figures).unwrap(),
                total(&b)
            );
            assert_eq!(
                report.total.calls,
                report.groups[0].figures.calls + report.groups[1].figures.calls
            );
            // A desk's own log: one group, this computer.
            let own =
                stats::report(&a.conn, &Filter::default(), &a.plan, NOW, Some(By::Desk)).unwrap();
            assert_eq!(own.groups.len(), 1);
            assert_eq!(own.groups[0].group, crate::platform::host_name());
            // Nothing matched: no figures, as on the desk.
            let none = TeamFilter {
                filter: Filter::default(),
                desk: Some("nobody".into()),
            };
            let empty = stats(&c, &none, &a.plan, NOW, Some(By::Day)).await.unwrap();
            assert_eq!(empty.total.calls, 0);
            assert!(empty.groups.is_empty() && empty.busiest_hours.is_empty());
        });
    }

    #[test]
    fn a_call_with_its_events_as_show_has_it() {
        let db = testing::database();
        let mut log = DeskLog::new("desk-1");
        week(&mut log, T0);
        block_on(async {
            let c = db.connect().await;
            replicate(&c, "front", &log).await;
            for call in desk_calls(&log, &Filter::default(), None) {
                let desk = Detail::load(&log.conn, &call.id, NOW).unwrap();
                let mut expected = serde_json::to_value(desk.json()).unwrap();
                expected["desk"] = "front".into();
                let team = detail(&c, &call.id, NOW).await.unwrap().unwrap();
                assert_eq!(serde_json::to_value(team.json()).unwrap(), expected);
            }
            let lossy = detail(
                &c,
                &desk_calls(
                    &log,
                    &Filter {
                        number: Some("777".into()),
                        ..Filter::default()
                    },
                    None,
                )[0]
                .id,
                NOW,
            )
            .await
            .unwrap()
            .unwrap();
            assert!(lossy.events[0].caller_lossy);
            let text = serde_json::to_string(&lossy.json()).unwrap();
            assert!(text.starts_with("{\"call\":{\"id\""), "{text}");
            assert!(
                text.ends_with(",\"deliveries\":[],\"desk\":\"front\"}"),
                "{text}"
            );
            assert!(
                detail(&c, "019ab3c4-5e7a-7c1d-9f3e-2b8a6c0d4e11", NOW)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(detail(&c, "019ab3c4", NOW).await.unwrap().is_none());
            assert!(detail(&c, "", NOW).await.unwrap().is_none());
        });
    }

    #[test]
    fn live_events_miss_nothing_while_desks_send_at_once() {
        let db = testing::database();
        // Eight desks, each sending its calls one batch per call, all at once; a reader follows
        // the feed meanwhile and must see every event once.
        let logs: Vec<DeskLog> = (0..8)
            .map(|i| {
                let mut log = DeskLog::new(&format!("desk-{i}"));
                for j in 0..4 {
                    log.incoming(T0 + j * HOUR + i, &format!("+49 30 {i}{j}000"), Some(1_000));
                }
                log
            })
            .collect();
        let all: std::collections::HashSet<String> = logs
            .iter()
            .flat_map(|log| log.states(1))
            .flat_map(|call| call.events.into_iter().map(|e| e.id))
            .collect();
        block_on(async {
            let c = db.connect().await;
            let mut desks = Vec::new();
            for i in 0..logs.len() {
                desks.push(testing::desk(&c, &format!("desk-{i}")).await);
            }
            let done = std::cell::Cell::new(0);
            let send = |desk, log: &DeskLog| {
                let c = c.clone();
                let done = &done;
                let states = log.states(1);
                async move {
                    for state in states {
                        ingest::apply(&c, desk, &batch(vec![state]), NOW)
                            .await
                            .unwrap();
                    }
                    done.set(done.get() + 1);
                }
            };
            let senders = futures_util::future::join_all(
                desks.iter().zip(&logs).map(|(desk, log)| send(desk, log)),
            );
            let read = async {
                let mut seen = std::collections::HashSet::new();
                let mut last = 0;
                loop {
                    let finished = done.get() == logs.len();
                    let frames = frames_after(&c, last, 5, NOW).await.unwrap();
                    for frame in &frames {
                        assert!(frame.seq > last);
                        assert!(seen.insert(frame.id.clone()), "{} twice", frame.id);
                        last = frame.seq;
                    }
                    if frames.is_empty() {
                        if finished {
                            return seen;
                        }
                        tokio::task::yield_now().await;
                    }
                }
            };
            let ((), seen) = tokio::join!(
                async {
                    senders.await;
                },
                read
            );
            let missed: Vec<&String> = all.difference(&seen).collect();
            assert!(missed.is_empty(), "the reader missed {missed:?}");
            assert_eq!(seen.len(), all.len());
        });
    }

    #[test]
    fn live_events_in_the_order_central_stored_them() {
        let db = testing::database();
        let mut log = DeskLog::new("desk-1");
        log.incoming(T0, "+49 30 1234567", Some(60_000));
        block_on(async {
            let c = db.connect().await;
            assert_eq!(last_seq(&c).await.unwrap(), 0);
            assert!(frames_after(&c, 0, 10, NOW).await.unwrap().is_empty());
            replicate(&c, "front", &log).await;
            let frames = frames_after(&c, 0, 10, NOW).await.unwrap();
            let kinds: Vec<String> = frames
                .iter()
                .map(|f| {
                    let v: serde_json::Value = serde_json::from_str(&f.data).unwrap();
                    assert_eq!(v["data"]["desk"], "front");
                    assert_eq!(v["data"]["number"], "+49301234567");
                    assert_eq!(v["data"]["host"], "desk-1");
                    assert_eq!(v["data"]["delayed"], false);
                    v["type"].as_str().unwrap().to_string()
                })
                .collect();
            assert_eq!(
                kinds,
                ["call.incoming", "call.ring", "call.answer", "call.end"]
            );
            assert!(frames.windows(2).all(|w| w[0].seq < w[1].seq));
            assert_eq!(last_seq(&c).await.unwrap(), frames[3].seq);
            let first = &frames[0];
            let state = &log.states(1)[0];
            assert_eq!(first.id, state.events[0].id);
            // The payload is the desk's webhook payload, with the desk in `data`.
            let call = desk_calls(&log, &Filter::default(), None).remove(0);
            let payload = Payload::new(
                "incoming",
                T0,
                call.to_json(NOW),
                "desk-1",
                "reception",
                false,
            );
            let mut expected = serde_json::to_value(&payload).unwrap();
            expected["data"]["desk"] = "front".into();
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&first.data).unwrap(),
                expected
            );
            let text = &first.data;
            assert!(
                text.starts_with("{\"type\":\"call.incoming\",\"timestamp\""),
                "{text}"
            );
            assert!(
                text.ends_with(",\"delayed\":false,\"desk\":\"front\"}}"),
                "{text}"
            );
            // Paged by position.
            let rest = frames_after(&c, frames[1].seq, 1, NOW).await.unwrap();
            assert_eq!(rest, frames[2..3]);
        });
    }
}
