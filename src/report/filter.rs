//! The call filters of `calls`, `missed` and `stats`, as options (`--since`) and as the API's
//! query parameters (`since=`): one reading of both.

use anyhow::{Result, anyhow};

use crate::log::call::{Direction, Status};
use crate::log::query::Filter;
use crate::report::when::{self, Bound};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct FilterArgs {
    /// Calls started at or after: today, yesterday, 7d, 12h, 2026-11-01, 2026-11-01 14:30, or
    /// RFC 3339 (days in the local time zone)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Calls started before; a day (today, 2026-11-01) includes that whole day
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// The number, raw caller text, or part of the number's digits
    #[arg(long)]
    pub number: Option<String>,
    /// Only these statuses (comma-separated)
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<Status>,
    #[arg(long, value_enum)]
    pub direction: Option<Direction>,
}

impl FilterArgs {
    /// The filter; errors name the option (`--since`).
    pub fn to_filter(&self) -> Result<Filter> {
        self.to_filter_named("--")
    }

    /// The filter; errors name the option with `prefix` before it.
    pub fn to_filter_named(&self, prefix: &str) -> Result<Filter> {
        let parse = |text: &Option<String>, bound, option: &str| {
            text.as_deref()
                .map(|t| when::parse_local(t, bound).map_err(|e| anyhow!("{prefix}{option}: {e}")))
                .transpose()
        };
        Ok(Filter {
            since: parse(&self.since, Bound::Start, "since")?,
            until: parse(&self.until, Bound::End, "until")?,
            number: self.number.clone().filter(|n| !n.trim().is_empty()),
            status: self.status.clone(),
            direction: self.direction,
            after: None,
        })
    }
}
