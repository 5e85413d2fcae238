//! Reading the call log: the filters of `calls`, `missed` and `stats`, turned into SQL that the
//! indexes serve.

use anyhow::Result;
use rusqlite::Connection;
use rusqlite::types::Value;

use crate::call::{Call, Direction, Status};
use crate::caller::{NumberPlan, digits};

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
        if let Some(number) = &self.number {
            let (clause, value) = number_match(number, plan);
            clauses.push(clause.to_string());
            params.push((":number".into(), value.into()));
        }
        let sql = if clauses.is_empty() {
            "1".to_string()
        } else {
            clauses.join(" AND ")
        };
        (sql, params)
    }
}

/// How `--number` matches, and the value it binds to `:number`:
/// - a complete international number (`+` and 7 digits or more, after normalizing with the
///   number plan, so `030 1234567` finds `+49301234567`): that number, by index;
/// - other digits (an extension, part of a number): those digits anywhere in the number;
/// - text (`anonymous`, `alice`): anywhere in the number or the caller text, any case.
///
/// Partial matches look through the distinct numbers, which are far fewer than the calls.
fn number_match(query: &str, plan: &NumberPlan) -> (&'static str, String) {
    let query = query.trim();
    let normalized = plan.number(query);
    let digits = digits(query);
    let dialable = normalized.starts_with('+') || normalized.chars().all(|c| c.is_ascii_digit());
    if normalized.starts_with('+') && digits.len() >= 7 {
        ("number = :number", normalized)
    } else if dialable && !digits.is_empty() {
        (
            "number IN (SELECT number FROM numbers WHERE instr(number, :number))",
            digits,
        )
    } else {
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        (
            "number IN (SELECT number FROM numbers WHERE number LIKE :number ESCAPE '\\' \
             OR raw LIKE :number ESCAPE '\\')",
            format!("%{escaped}%"),
        )
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
    let tail = match limit {
        Some(n) => format!("ORDER BY started_at DESC, id DESC LIMIT {n}"),
        None => "ORDER BY started_at DESC, id DESC".to_string(),
    };
    let sql = select(Call::COLUMNS, &tail);
    run(conn, &sql, filter, plan, now, |row| f(Call::from_row(row)?))
}

/// The callers still waiting, one row per number: `number, raw, name, missed, first and last
/// missed (ms), last call id`. The filter should ask for missed calls. A missed call is
/// returned by any later call of the same number that was answered, whichever way it went;
/// identities without digits cannot be called back. The missed calls are found first (by the
/// time index), then grouped, so that a range of days never scans the whole log.
pub fn unreturned_sql(limit: Option<u32>) -> String {
    format!(
        "WITH waiting AS MATERIALIZED (SELECT number, raw, name, started_at, id FROM calls \
         WHERE {{filter}} AND number GLOB '*[0-9]*' AND NOT EXISTS (SELECT 1 FROM calls later \
         WHERE later.number = calls.number AND later.started_at > calls.started_at \
         AND later.answered_at IS NOT NULL)) \
         SELECT number, max(raw), max(name), count(*), min(started_at), max(started_at), max(id) \
         FROM waiting GROUP BY number ORDER BY max(started_at) DESC {}",
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

    #[test]
    fn how_numbers_match() {
        let de = NumberPlan {
            country_code: Some("49".into()),
            ..NumberPlan::default()
        };
        assert_eq!(
            number_match("030 1234567", &de),
            ("number = :number", "+49301234567".into())
        );
        assert_eq!(number_match("+1 555 0100 200", &de).1, "+15550100200");
        assert!(number_match("4567", &de).0.contains("instr"));
        assert_eq!(number_match("(0)12-3", &NumberPlan::default()).1, "0123");
        let (clause, value) = number_match("Ali%ce_", &de);
        assert!(clause.contains("LIKE"));
        assert_eq!(value, "%Ali\\%ce\\_%");
    }

    fn plan_of(filter: &Filter, sql: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            crate::db::open(&dir.path().join("calls.db"), crate::db::ADMIN_BUSY_TIMEOUT).unwrap();
        explain(&conn, sql, filter, &NumberPlan::default(), 0)
            .unwrap()
            .join("\n")
    }

    #[test]
    fn the_indexes_serve_the_queries() {
        let newest = "ORDER BY started_at DESC, id DESC LIMIT 50";
        let since = Filter {
            since: Some(1),
            ..Filter::default()
        };
        let p = plan_of(&since, &select("id", newest));
        assert!(p.contains("INDEX calls_by_start (started_at>?)"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "no sort: {p}");

        let number = Filter {
            number: Some("+49 30 1234567".into()),
            ..Filter::default()
        };
        let p = plan_of(&number, &select("id", newest));
        assert!(p.contains("INDEX calls_by_number (number=?)"), "{p}");
        assert!(!p.contains("SCAN"), "{p}");
        let partial = Filter {
            number: Some("4567".into()),
            ..Filter::default()
        };
        let p = plan_of(&partial, &select("id", newest));
        assert!(p.contains("INDEX calls_by_number (number=?)"), "{p}");
        assert!(p.contains("SCAN numbers"), "{p}");

        let missed = Filter {
            since: Some(1),
            status: vec![Status::Missed],
            ..Filter::default()
        };
        let p = plan_of(&missed, &unreturned_sql(None));
        assert!(p.contains("INDEX calls_by_start (started_at>?)"), "{p}");
        assert!(
            p.contains("SEARCH later USING INDEX calls_by_number (number=? AND started_at>?)"),
            "{p}"
        );

        let p = plan_of(&since, &select("started_at, status", ""));
        assert!(p.contains("calls_by_start"), "{p}");
    }
}
