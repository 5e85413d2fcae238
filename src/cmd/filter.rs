//! The call filters that `calls`, `missed` and `stats` share, and the list options of `calls`
//! and `missed`.

use anyhow::{Result, anyhow};

use crate::cmd::output::Format;
use crate::cmd::when::{self, Bound};
use crate::log::call::{Direction, Status};
use crate::log::query::Filter;

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
    pub fn to_filter(&self) -> Result<Filter> {
        let parse = |text: &Option<String>, bound, option: &str| {
            text.as_deref()
                .map(|t| when::parse_local(t, bound).map_err(|e| anyhow!("--{option}: {e}")))
                .transpose()
        };
        Ok(Filter {
            since: parse(&self.since, Bound::Start, "since")?,
            until: parse(&self.until, Bound::End, "until")?,
            number: self.number.clone().filter(|n| !n.trim().is_empty()),
            status: self.status.clone(),
            direction: self.direction,
        })
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct ListArgs {
    /// How many rows to show, newest first
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Every row (no limit)
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl ListArgs {
    /// The most rows to print; `None`: all.
    pub fn limit(&self) -> Option<u32> {
        (!self.all).then_some(self.limit)
    }
}
