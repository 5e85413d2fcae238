//! Reading the call log: the filters of `calls`, `missed` and `stats`, turned into SQL that the
//! indexes serve.

use anyhow::Result;
use rusqlite::Connection;
use rusqlite::types::Value;

use crate::log::call::{Call, Direction, Status};
use crate::log::caller::{NumberPlan, digits};

/// The status as of `:now` (a call left open past its window is over), in SQL.
pub const STATUS_NOW: &str = "CASE WHEN status = 'in-progress' AND expires_at < :now THEN \
    CASE WHEN answered_at IS NOT NULL THEN 'answered' WHEN direction = 'in' THEN 'missed' \
    ELSE 'no-answer' END ELSE status END";

/// Which calls a command looks at.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Started at or after (Unix ms).
    pub since: Option<i64>,
    /// Started before (Unix ms).
    pub until: Option<i64>,
    /// Matches the normalized number, the raw text, or (digits) anywhere in the number.
    pub number: Option<String>,
    pub status: Vec<Status>,
    pub direction: Option<Direction>,
    /// Only calls after this one in the newest-first order: the next page.
    pub after: Option<Cursor>,
}

/// A place in the newest-first order of calls: the last call of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub started_at: i64,
    pub id: String,
}

impl Cursor {
    /// As the API hands it out: `<started_at>_<id>`.
    pub fn to_text(&self) -> String {
        format!("{}_{}", self.started_at, self.id)
    }

    pub fn parse(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('_')?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !id_ok {
            return None;
        }
        Some(Cursor {
            started_at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

impl Filter {
    /// The WHERE clause (over `calls`) and its named parameters; `:now` is always bound.
    pub fn sql(&self, plan: &NumberPlan, now: i64) -> (String, Vec<(String, Value)>) {
        let mut clauses = Vec::new();
        let mut params: Vec<(String, Value)> = vec![(":now".into(), now.into())];
        if let Some(since) = self.since {
            clauses.push("started_at >= :since".to_string());
            params.push((":since".into(), since.into()));
        }
        if let Some(until) = self.until {
            clauses.push("started_at < :until".to_string());
            params.push((":until".into(), until.into()));
        }
        if let Some(direction) = self.direction {
            clauses.push("direction = :direction".to_string());
            params.push((":direction".into(), direction.as_str().to_string().into()));
        }
        if !self.status.is_empty() {
            let names: Vec<String> = (0..self.status.len())
                .map(|i| format!(":status{i}"))
                .collect();
            clauses.push(format!("({STATUS_NOW}) IN ({})", names.join(", ")));
            for (name, status) in names.into_iter().zip(&self.status) {
                params.push((name, status.as_str().to_string().into()));
            }
        }
        if let Some(after) = &self.after {
            clauses.push(
                "(started_at < :after_at OR (started_at = :after_at AND id < :after_id))"
                    .to_string(),
            );
            params.push((":after_at".into(), after.started_at.into()));
            params.push((":after_id".into(), after.id.clone().into()));
        }
        if let Some(number) = &self.number {
            let (clause, values) = number_match(number, plan);
            clauses.push(clause);
            params.extend(values);
        }
        let sql = if clauses.is_empty() {
            "1".to_string()
        } else {
            clauses.join(" AND ")
        };
        (sql, params)
    }
}

/// What a redacted value looks like (`callhook redact`): this prefix and 20 lowercase hex
/// digits of a keyed hash. Only values of exactly that form count as redacted: a caller can
/// send any text, `redacted:+15551234567` included.
pub const REDACTED_PREFIX: &str = "redacted:";

/// The hex digits of a redacted value.
pub const REDACTED_HEX_DIGITS: usize = 20;

/// Whether `text` is a redacted value (the prefix and exactly 20 lowercase hex digits).
pub fn is_redacted(text: &str) -> bool {
    text.strip_prefix(REDACTED_PREFIX).is_some_and(|hex| {
        hex.len() == REDACTED_HEX_DIGITS
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// SQL that holds when `column` is not a redacted value ([`is_redacted`] in SQL: GLOB is case
/// sensitive and matches the whole text).
pub fn not_redacted(column: &str) -> String {
    format!(
        "{column} NOT GLOB '{REDACTED_PREFIX}{}'",
        "[0-9a-f]".repeat(REDACTED_HEX_DIGITS)
    )
}

/// How `--number` matches, as a clause over `calls` and the values it binds:
/// - a query that dials (digits, with separators or a leading `+`): its digits anywhere in the
///   number, both as normalized with the number plan (`0171 555` with `country_code = "49"`:
///   `49171555`) and as typed (`0171555`). So the whole number in any writing (`030 1234567`
///   finds `+49301234567`), its start (`+49 30 11111`), or any part of it (an extension)
///   finds the calls;
/// - text (`anonymous`, `alice`, a redacted value): the number it stands for, or the text
///   anywhere in the number or the caller text, any case.
///
/// Partial matches never match redacted values (their hex digits are not a number); the whole
/// redacted value finds its calls. They look through the distinct numbers (three digits or
/// more through their trigram index), which are far fewer than the calls, then find the calls
/// by index.
fn number_match(query: &str, plan: &NumberPlan) -> (String, Vec<(String, Value)>) {
    let query = query.trim();
    let normalized = plan.number(query);
    let typed = digits(query);
    let dialable = !typed.is_empty()
        && (normalized.starts_with('+') || normalized.chars().all(|c| c.is_ascii_digit()));
    let not_redacted = not_redacted("number");
    if dialable {
        // A number that holds the longer of two nested needles holds the shorter: one test.
        let digits = digits(&normalized);
        let needles = if digits.contains(&typed) {
            vec![(":typed", typed)]
        } else if typed.contains(&digits) {
            vec![(":digits", digits)]
        } else {
            vec![(":digits", digits), (":typed", typed)]
        };
        let tests: Vec<String> = needles
            .iter()
            .map(|(name, _)| format!("instr(number, {name})"))
            .collect();
        let tests = tests.join(" OR ");
        let mut params: Vec<(String, Value)> = needles
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone().into()))
            .collect();
        if needles.iter().all(|(_, needle)| needle.len() >= 3) {
            // The trigram index finds the numbers that hold the last digits of each needle
            // (the ones that tell numbers apart: their first digits, a country or area code,
            // many numbers share), then each candidate is checked for the whole needle.
            let search = needles
                .iter()
                .map(|(_, needle)| format!("\"{}\"", &needle[needle.len().saturating_sub(4)..]))
                .collect::<Vec<_>>()
                .join(" OR ");
            params.push((":search".to_string(), search.into()));
            let clause = format!(
                "number IN (SELECT number FROM number_search WHERE number_search MATCH :search \
                 AND ({tests})) AND {not_redacted}"
            );
            return (clause, params);
        }
        // One or two digits are too few for the index: the distinct numbers are read.
        let clause =
            format!("number IN (SELECT number FROM numbers WHERE ({tests}) AND {not_redacted})");
        (clause, params)
    } else {
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let clause = format!(
            "number IN (SELECT number FROM numbers WHERE number = :number \
             OR ((number LIKE :like ESCAPE '\\' OR raw LIKE :like ESCAPE '\\') AND {not_redacted}))"
        );
        let params = vec![
            (":number".to_string(), normalized.into()),
            (":like".to_string(), format!("%{escaped}%").into()),
        ];
        (clause, params)
    }
}

/// Runs `sql` (whose `WHERE` holds `filter`'s clause in place of `{filter}`) and hands each
/// row to `f`.
pub fn run(
    conn: &Connection,
    sql: &str,
    filter: &Filter,
    plan: &NumberPlan,
    now: i64,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<()> {
    let (sql, params) = bind(sql, filter, plan, now);
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_of(&sql, &params).as_slice())?;
    while let Some(row) = rows.next()? {
        f(row)?;
    }
    Ok(())
}

fn bind(sql: &str, filter: &Filter, plan: &NumberPlan, now: i64) -> (String, Vec<(String, Value)>) {
    let (clause, params) = filter.sql(plan, now);
    (sql.replace("{filter}", &clause), params)
}

/// The parameters `sql` uses.
fn params_of<'a>(
    sql: &str,
    params: &'a [(String, Value)],
) -> Vec<(&'a str, &'a dyn rusqlite::ToSql)> {
    params
        .iter()
        .filter(|(name, _)| sql.contains(name.as_str()))
        .map(|(name, value)| (name.as_str(), value as &dyn rusqlite::ToSql))
        .collect()
}

/// `SELECT <columns> FROM calls WHERE <filter> <tail>` for [`run`].
pub fn select(columns: &str, tail: &str) -> String {
    format!("SELECT {columns} FROM calls WHERE {{filter}} {tail}")
}

/// The calls matching `filter`, newest first, one at a time.
pub fn each(
    conn: &Connection,
    filter: &Filter,
    plan: &NumberPlan,
    now: i64,
    limit: Option<u32>,
    mut f: impl FnMut(Call) -> Result<()>,
) -> Result<()> {
    run(conn, &calls_sql(limit), filter, plan, now, |row| {
        f(Call::from_row(row)?)
    })
}

/// The query of [`each`]: the calls, newest first.
pub fn calls_sql(limit: Option<u32>) -> String {
    let tail = match limit {
        Some(n) => format!("ORDER BY started_at DESC, id DESC LIMIT {n}"),
        None => "ORDER BY started_at DESC, id DESC".to_string(),
    };
    select(Call::COLUMNS, &tail)
}

/// The query of `stats`: `started_at, direction, status (as of now), ring_ms, talk_ms, number`
/// of each call.
pub fn stats_sql() -> String {
    select(
        &format!("started_at, direction, {STATUS_NOW}, ring_ms, talk_ms, number"),
        "",
    )
}

/// The callers still waiting, one row per number: `number, raw, name, missed, first and last
/// missed (ms), last call id, calls made to the number since (tries to call back)`, the raw text, name and id those of the number's latest missed
/// call. The filter should ask for missed calls. A missed call is returned by any later call
/// of the same number that was answered, whichever way it went; identities without digits
/// and redacted numbers cannot be called back. The missed calls are found first (by the time
/// index), then grouped, so that a range of days never scans the whole log.
pub fn unreturned_sql(limit: Option<u32>) -> String {
    format!(
        "WITH waiting AS MATERIALIZED (SELECT number, raw, name, started_at, id FROM calls \
         WHERE {{filter}} AND number GLOB '*[0-9]*' AND {} AND NOT EXISTS (SELECT 1 FROM calls \
         later WHERE later.number = calls.number AND later.started_at > calls.started_at \
         AND later.answered_at IS NOT NULL)), \
         ranked AS (SELECT number, raw, name, started_at, id, count(*) OVER latest AS missed, \
         min(started_at) OVER latest AS first, row_number() OVER latest AS nth FROM waiting \
         WINDOW latest AS (PARTITION BY number ORDER BY started_at DESC, id DESC \
         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) \
         SELECT number, raw, name, missed, first, started_at, id, (SELECT count(*) FROM calls \
         tries WHERE tries.number = ranked.number AND tries.started_at > ranked.started_at \
         AND tries.direction = 'out') FROM ranked WHERE nth = 1 \
         ORDER BY started_at DESC, id DESC {}",
        not_redacted("number"),
        limit.map(|n| format!("LIMIT {n}")).unwrap_or_default()
    )
}

/// The query plan of `sql` (as for [`run`]), one line per step.
pub fn explain(
    conn: &Connection,
    sql: &str,
    filter: &Filter,
    plan: &NumberPlan,
    now: i64,
) -> Result<Vec<String>> {
    let (sql, params) = bind(&format!("EXPLAIN QUERY PLAN {sql}"), filter, plan, now);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_of(&sql, &params).as_slice(), |row| {
        row.get::<_, String>(3)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(query: &str, plan: &NumberPlan) -> Vec<(String, String)> {
        number_match(query, plan)
            .1
            .into_iter()
            .map(|(name, value)| match value {
                Value::Text(text) => (name, text),
                other => panic!("{name} is {other:?}"),
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn how_numbers_match() {
        let de = NumberPlan {
            country_code: Some("49".into()),
            ..NumberPlan::default()
        };
        // Part of a national number: its digits normalized, or as typed; found through the
        // index by their last four digits.
        assert_eq!(
            values("0171 555", &de),
            pairs(&[
                (":digits", "49171555"),
                (":typed", "0171555"),
                (":search", r#""1555" OR "1555""#)
            ])
        );
        let (clause, _) = number_match("0171 555", &de);
        assert!(clause.contains("number_search MATCH :search"), "{clause}");
        assert!(
            clause.contains("(instr(number, :digits) OR instr(number, :typed))"),
            "{clause}"
        );
        assert!(clause.contains(&not_redacted("number")), "{clause}");
        // The whole number in another writing: its normalized digits, or as typed.
        assert_eq!(
            values("030 1234567", &de)[..2],
            pairs(&[(":digits", "49301234567"), (":typed", "0301234567")])
        );
        // Nested needles: one test, with the shorter.
        assert_eq!(
            values("0049 30 1234567", &de),
            pairs(&[(":digits", "49301234567"), (":search", r#""4567""#)])
        );
        // An international number, whole or its start; an extension: the digits as typed.
        assert_eq!(
            values("+49 30 11111", &de)[0],
            pairs(&[(":typed", "493011111")])[0]
        );
        assert_eq!(
            values("+1 555 0100 200", &de)[0],
            pairs(&[(":typed", "15550100200")])[0]
        );
        assert_eq!(
            values("4567", &de),
            pairs(&[(":typed", "4567"), (":search", r#""4567""#)])
        );
        assert_eq!(
            values("123", &de),
            pairs(&[(":typed", "123"), (":search", r#""123""#)])
        );
        // Two digits are too few for trigrams: the distinct numbers are read.
        assert_eq!(values("45", &de), pairs(&[(":typed", "45")]));
        let (clause, _) = number_match("45", &de);
        assert!(
            clause.contains("FROM numbers WHERE (instr(number, :typed))"),
            "{clause}"
        );
        assert!(clause.contains(&not_redacted("number")), "{clause}");
        // Text: the number it stands for (a redacted value, whole), or anywhere.
        let (clause, _) = number_match("Ali%ce_", &de);
        assert!(clause.contains("LIKE"));
        assert!(clause.contains(&not_redacted("number")), "{clause}");
        assert_eq!(
            values("Ali%ce_", &de),
            pairs(&[(":number", "Ali%ce_"), (":like", "%Ali\\%ce\\_%")])
        );
        let hash = "redacted:0123456789abcdef0123";
        assert_eq!(
            values(hash, &de)[0],
            (":number".to_string(), hash.to_string())
        );
    }

    #[test]
    fn redacted_values_are_recognised_exactly() {
        let hex = "0123456789abcdef0123";
        let conn = Connection::open_in_memory().unwrap();
        for (text, redacted) in [
            (format!("redacted:{hex}"), true),
            ("redacted:+15551234567".to_string(), false),
            (format!("redacted:{hex}0"), false),
            (format!("redacted:{}", &hex[1..]), false),
            (format!("redacted:{}", hex.to_uppercase()), false),
            (format!("Redacted:{hex}"), false),
            (format!(" redacted:{hex}"), false),
            ("+15551234567".to_string(), false),
            (String::new(), false),
        ] {
            assert_eq!(is_redacted(&text), redacted, "{text:?}");
            let sql = format!("SELECT {}", not_redacted("?1"));
            let not: bool = conn.query_row(&sql, [&text], |r| r.get(0)).unwrap();
            assert_eq!(not, !redacted, "SQL: {text:?}");
        }
    }

    fn plan_of(filter: &Filter, sql: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::log::db::open(
            &dir.path().join("calls.db"),
            crate::log::db::ADMIN_BUSY_TIMEOUT,
        )
        .unwrap();
        explain(&conn, sql, filter, &NumberPlan::default(), 0)
            .unwrap()
            .join("\n")
    }

    #[test]
    fn the_indexes_serve_the_queries() {
        let since = Filter {
            since: Some(1),
            ..Filter::default()
        };
        let newest = calls_sql(Some(50));
        let p = plan_of(&since, &newest);
        assert!(
            p.contains("SEARCH calls USING INDEX calls_by_start (started_at>?)"),
            "{p}"
        );
        assert!(!p.contains("TEMP B-TREE"), "no sort: {p}");

        // --number, whole or partial: the numbers that hold the digits are found in the
        // trigram index (text, and one or two digits, read the small table of distinct
        // numbers), the calls by index, never scanned.
        for (query, numbers) in [
            ("+49 30 1234567", "SCAN number_search VIRTUAL TABLE INDEX"),
            ("4567", "SCAN number_search VIRTUAL TABLE INDEX"),
            ("45", "SCAN numbers"),
            ("anonymous", "SCAN numbers"),
        ] {
            let number = Filter {
                number: Some(query.into()),
                ..Filter::default()
            };
            let p = plan_of(&number, &newest);
            assert!(
                p.contains("SEARCH calls USING INDEX calls_by_number (number=?)"),
                "{query}: {p}"
            );
            assert!(p.contains(numbers), "{query}: {p}");
            assert!(!p.contains("SCAN calls"), "{query}: {p}");
        }

        let missed = Filter {
            since: Some(1),
            status: vec![Status::Missed],
            ..Filter::default()
        };
        let p = plan_of(&missed, &unreturned_sql(None));
        assert!(
            p.contains("SEARCH calls USING INDEX calls_by_start (started_at>?)"),
            "{p}"
        );
        assert!(
            p.contains("SEARCH later USING INDEX calls_by_number (number=? AND started_at>?)"),
            "{p}"
        );
        assert!(!p.contains("SCAN calls"), "{p}");

        // The real stats query, over a range of days: by the time index, not a full scan.
        let p = plan_of(&since, &stats_sql());
        assert!(
            p.contains("SEARCH calls USING INDEX calls_by_start (started_at>?)"),
            "{p}"
        );
        assert!(!p.contains("SCAN calls"), "{p}");
        let range = Filter {
            since: Some(1),
            until: Some(2),
            ..Filter::default()
        };
        let p = plan_of(&range, &stats_sql());
        assert!(
            p.contains("SEARCH calls USING INDEX calls_by_start (started_at>? AND started_at<?)"),
            "{p}"
        );
    }
}
