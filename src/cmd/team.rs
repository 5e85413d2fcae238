//! `--central` on the query commands: the team's calls, asked of central's API with its token
//! (`[central] url` and `token`), printed as the desk's own are, with a desk column.

use anyhow::{Context, Result, anyhow, bail};
use serde::de::DeserializeOwned;

use crate::cmd::filter::ListArgs;
use crate::config::locations::Locations;
use crate::log::call::{now_ms, rfc3339};
use crate::log::query::Filter;
use crate::report::call_list::Calls;
use crate::report::output;
use crate::report::team::{CallRecord, DeskRow, Desked, central_time};
use crate::report::unreturned::{Unreturned, UnreturnedList};
use crate::serve::api::MAX_LIMIT;

/// The options that send a query to central.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TeamArgs {
    /// Ask central ([central] url and token) about the whole team's calls
    #[arg(long)]
    pub central: bool,
    /// With --central: only this desk's calls
    #[arg(long, requires = "central", value_name = "NAME")]
    pub desk: Option<String>,
}

/// Central's API, as the admin token sees it.
pub struct Team {
    base: url::Url,
    token: String,
    client: reqwest::blocking::Client,
}

/// The longest a team query waits for central.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Team {
    pub fn new(locations: &Locations) -> Result<Team> {
        let config = &locations.config.central;
        let file = locations.config_path.display();
        let base = config
            .url
            .clone()
            .ok_or_else(|| anyhow!("{file}: --central needs [central] url, central's address"))?;
        let token = config.token.clone().ok_or_else(|| {
            anyhow!(
                "{file}: --central needs [central] token: the API token of central's `callhook \
                 serve` (its file serve-token)"
            )
        })?;
        let client = crate::effects::webhook::send::builder()
            .timeout(TIMEOUT)
            .build()
            .context("cannot set up HTTP")?;
        Ok(Team {
            base,
            token,
            client,
        })
    }

    /// GETs `path` with `query`, and reads the JSON answer.
    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let text = self.get_text(path, query)?;
        serde_json::from_str(&text).with_context(|| format!("central's answer to {path}"))
    }

    pub fn get_text(&self, path: &str, query: &[(&str, String)]) -> Result<String> {
        // Beside whatever path central's URL has (a reverse proxy's prefix).
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .client
            .get(url.clone())
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("cannot reach central at {}", self.base))?;
        let status = response.status();
        let text = response.text().context("central's answer")?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(String::from))
                .unwrap_or_else(|| text.chars().take(200).collect());
            let message = crate::report::output::terminal_safe(&message).into_owned();
            if status.as_u16() == 401 {
                bail!("central refused the token ([central] token): {message}");
            }
            bail!("central answered {status}: {message}");
        }
        Ok(text)
    }
}

/// The filter as query parameters: times as instants, read here (days in this computer's
/// time zone, as `--since` always is).
pub fn filter_query(filter: &Filter, desk: &Option<String>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(since) = filter.since {
        query.push(("since", rfc3339(since)));
    }
    if let Some(until) = filter.until {
        query.push(("until", rfc3339(until)));
    }
    if let Some(number) = &filter.number {
        query.push(("number", number.clone()));
    }
    if !filter.status.is_empty() {
        let list: Vec<&str> = filter.status.iter().map(|s| s.as_str()).collect();
        query.push(("status", list.join(",")));
    }
    if let Some(direction) = filter.direction {
        query.push(("direction", direction.as_str().to_string()));
    }
    if let Some(desk) = desk {
        query.push(("desk", desk.clone()));
    }
    query
}

#[derive(serde::Deserialize)]
struct Page {
    calls: Vec<CallRecord>,
    next: Option<String>,
}

/// Prints the team's calls from `path` (`/api/calls`, `/api/missed`), page after page, as
/// `calls` prints a desk's.
pub fn print_calls(
    locations: &Locations,
    path: &str,
    filter: &Filter,
    team: &TeamArgs,
    list: &ListArgs,
    none: &str,
) -> Result<()> {
    let central = Team::new(locations)?;
    let listing = Desked(Calls { now: now_ms() });
    output::print_list(&listing, list.format, none, |row| {
        let mut left = list.limit();
        let mut cursor: Option<String> = None;
        while left != Some(0) {
            let mut query = filter_query(filter, &team.desk);
            let size = left.map_or(MAX_LIMIT, |n| n.min(MAX_LIMIT));
            query.push(("limit", size.to_string()));
            if let Some(cursor) = cursor.take() {
                query.push(("cursor", cursor));
            }
            let page: Page = central.get(path, &query)?;
            let got = page.calls.len() as u32;
            for call in page.calls {
                row(call.into_row()?)?;
            }
            left = left.map(|n| n.saturating_sub(got));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(())
    })
}

#[derive(serde::Deserialize)]
struct UnreturnedRecord {
    desk: String,
    #[serde(flatten)]
    row: Unreturned,
}

#[derive(serde::Deserialize)]
struct UnreturnedPage {
    unreturned: Vec<UnreturnedRecord>,
}

/// Prints the team's callers still waiting for a call back (one page of up to 1000).
pub fn print_unreturned(
    locations: &Locations,
    filter: &Filter,
    team: &TeamArgs,
    list: &ListArgs,
    none: &str,
) -> Result<()> {
    let central = Team::new(locations)?;
    let mut query = filter_query(filter, &team.desk);
    query.retain(|(name, _)| *name != "status");
    query.push(("unreturned", "true".into()));
    let limit = list.limit().unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    query.push(("limit", limit.to_string()));
    let page: UnreturnedPage = central.get("/api/missed", &query)?;
    output::print_list(&Desked(UnreturnedList), list.format, none, |row| {
        for record in page.unreturned {
            let mut unreturned = record.row;
            unreturned.last_ms = central_time(&unreturned.last_missed_at)?;
            row(DeskRow {
                desk: record.desk,
                row: unreturned,
            })?;
        }
        Ok(())
    })
}
