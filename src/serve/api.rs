//! The read API: the call log as `calls`, `show`, `missed` and `stats` give it, with their
//! code and their JSON fields, and the outbox.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::central::query::TeamFilter;
use crate::effects::outbox::{self, Status as DeliveryStatus};
use crate::log::call::{Call, CallJson, Direction, Status, now_ms};
use crate::log::db;
use crate::log::query::{self, Cursor, Filter};
use crate::report::call_list::Calls;
use crate::report::detail::{Detail, Lookup};
use crate::report::filter::FilterArgs;
use crate::report::stats::{self, By};
use crate::report::unreturned::{self, Unreturned};
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::lists::{csv_response, next_page};
use crate::serve::{App, team};

/// The most rows one request returns; more come by `cursor`.
pub const MAX_LIMIT: u32 = 1000;
const DEFAULT_LIMIT: u32 = 50;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

type Params = Query<HashMap<String, String>>;

/// The query parameters, checked against the names a request takes.
struct Asked<'a> {
    params: &'a HashMap<String, String>,
}

impl<'a> Asked<'a> {
    /// As [`Asked::new`]; central also takes `desk`.
    fn of(app: &App, params: &'a HashMap<String, String>, known: &[&str]) -> ApiResult<Self> {
        let mut known = known.to_vec();
        if app.central.is_some() {
            known.push("desk");
        }
        Asked::new(params, &known)
    }

    fn new(params: &'a HashMap<String, String>, known: &[&str]) -> ApiResult<Self> {
        if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!(
                    "unknown parameter `{unknown}`; this request takes {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(Asked { params })
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.params.get(name).map(String::as_str)
    }

    /// The call filter, read as `calls` reads its options.
    fn filter(&self) -> ApiResult<Filter> {
        let status = match self.get("status").filter(|s| !s.is_empty()) {
            Some(list) => list
                .split(',')
                .map(|s| {
                    Status::parse(s.trim()).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_parameter",
                            format!(
                                "status: `{s}` is none of in-progress, answered, missed, busy, \
                                 no-answer"
                            ),
                        )
                    })
                })
                .collect::<ApiResult<_>>()?,
            None => Vec::new(),
        };
        let direction = match self.get("direction").filter(|s| !s.is_empty()) {
            Some(d) => Some(Direction::parse(d).ok_or_else(|| {
                ApiError::bad_request("invalid_parameter", "direction: in or out")
            })?),
            None => None,
        };
        let args = FilterArgs {
            since: self
                .get("since")
                .filter(|s| !s.is_empty())
                .map(String::from),
            until: self
                .get("until")
                .filter(|s| !s.is_empty())
                .map(String::from),
            number: self.get("number").map(String::from),
            status,
            direction,
        };
        let mut filter = args
            .to_filter_named("")
            .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
        if let Some(cursor) = self.get("cursor").filter(|c| !c.is_empty()) {
            filter.after = Some(Cursor::parse(cursor).ok_or_else(|| {
                ApiError::bad_request("invalid_parameter", "cursor: not one this API gave")
            })?);
        }
        Ok(filter)
    }

    /// Central's filter: the call filter and the desk.
    fn team_filter(&self, filter: Filter) -> TeamFilter {
        TeamFilter {
            filter,
            desk: self.get("desk").filter(|d| !d.is_empty()).map(String::from),
        }
    }

    fn limit(&self) -> ApiResult<u32> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("limit: a number from 1 to {MAX_LIMIT}"),
                )),
            },
        }
    }

    /// `format=csv` asks for the CLI's CSV; JSON otherwise.
    fn csv(&self) -> ApiResult<bool> {
        match self.get("format") {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(_) => Err(ApiError::bad_request(
                "invalid_parameter",
                "format: json or csv",
            )),
        }
    }
}

const FILTERS: [&str; 5] = ["since", "until", "number", "status", "direction"];

fn with_filters(more: &[&'static str]) -> Vec<&'static str> {
    FILTERS.iter().chain(more).copied().collect()
}

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    schema: u32,
    calls: i64,
}

pub async fn health(State(app): State<Arc<App>>) -> ApiResult<Response> {
    if let Some(central) = &app.central {
        return team::health(central).await;
    }
    app.db(|conn| {
        Ok(Json(Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            schema: db::schema_version(conn)?,
            calls: conn.query_row("SELECT count(*) FROM calls", [], |r| r.get(0))?,
        })
        .into_response())
    })
    .await
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A page of calls, and the cursor of the next page (`null` on the last).
#[derive(Serialize)]
struct Page<'a> {
    calls: Vec<CallJson<'a>>,
    next: Option<String>,
}

#[derive(Serialize)]
struct UnreturnedPage {
    unreturned: Vec<Unreturned>,
}

#[derive(Serialize)]
struct Deliveries {
    deliveries: Vec<outbox::Delivery>,
}

pub async fn calls(State(app): State<Arc<App>>, Query(params): Params) -> ApiResult<Response> {
    let asked = Asked::of(&app, &params, &with_filters(&["limit", "cursor", "format"]))?;
    let filter = asked.filter()?;
    if let Some(central) = &app.central {
        let filter = asked.team_filter(filter);
        return team::calls(&app, central, filter, asked.limit()?, asked.csv()?).await;
    }
    list_calls(app, filter, asked.limit()?, asked.csv()?).await
}

pub async fn missed(State(app): State<Arc<App>>, Query(params): Params) -> ApiResult<Response> {
    let asked = Asked::of(
        &app,
        &params,
        &with_filters(&["limit", "cursor", "format", "unreturned"]),
    )?;
    let mut filter = asked.filter()?;
    if filter.status.iter().any(|&s| s != Status::Missed) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "status: /api/missed lists missed calls only; /api/calls lists any status",
        ));
    }
    filter.status = vec![Status::Missed];
    let limit = asked.limit()?;
    let csv = asked.csv()?;
    let unreturned = match asked.get("unreturned") {
        None | Some("false" | "0") => false,
        Some("" | "true" | "1") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                "unreturned: true or false",
            ));
        }
    };
    if unreturned && filter.after.is_some() {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "cursor: the unreturned list comes in one page (up to `limit` numbers)",
        ));
    }
    if let Some(central) = &app.central {
        let filter = asked.team_filter(filter);
        return match unreturned {
            true => team::unreturned(&app, central, filter, limit, csv).await,
            false => team::calls(&app, central, filter, limit, csv).await,
        };
    }
    if !unreturned {
        return list_calls(app, filter, limit, csv).await;
    }
    let plan = app.locations.config.numbers.clone();
    app.db(move |conn| {
        let now = now_ms();
        if csv {
            return csv_response("unreturned.csv", &unreturned::UnreturnedList, |row| {
                unreturned::each(conn, &filter, &plan, now, Some(limit), row)
            });
        }
        let mut rows: Vec<Unreturned> = Vec::new();
        unreturned::each(conn, &filter, &plan, now, Some(limit), |r| {
            rows.push(r);
            Ok(())
        })?;
        Ok(Json(UnreturnedPage { unreturned: rows }).into_response())
    })
    .await
}

async fn list_calls(app: Arc<App>, filter: Filter, limit: u32, csv: bool) -> ApiResult<Response> {
    let plan = app.locations.config.numbers.clone();
    app.db(move |conn| {
        let now = now_ms();
        if csv {
            return csv_response("calls.csv", &Calls { now }, |row| {
                query::each(conn, &filter, &plan, now, Some(limit), row)
            });
        }
        // One row more than asked says whether there is a next page.
        let mut calls: Vec<Call> = Vec::new();
        query::each(conn, &filter, &plan, now, Some(limit + 1), |call| {
            calls.push(call);
            Ok(())
        })?;
        let next = next_page(&mut calls, limit, |call| call);
        let calls = calls.iter().map(|c| c.to_json(now)).collect();
        Ok(Json(Page { calls, next }).into_response())
    })
    .await
}

pub async fn call(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Response> {
    if id.trim().is_empty() {
        return Err(ApiError::not_found("no call id given"));
    }
    if let Some(central) = &app.central {
        return team::call(central, &id).await;
    }
    app.db(move |conn| match Detail::load(conn, &id, now_ms()) {
        Ok(detail) => Ok(Json(detail.json()).into_response()),
        Err(Lookup::NotFound(_)) => Err(ApiError::not_found(format!("no call {id}"))),
        Err(e @ Lookup::Ambiguous(_)) => Err(ApiError::bad_request("ambiguous_id", e.to_string())),
        Err(e) => Err(anyhow::Error::from(e).into()),
    })
    .await
}

pub async fn stats(State(app): State<Arc<App>>, Query(params): Params) -> ApiResult<Response> {
    let asked = Asked::of(&app, &params, &with_filters(&["by"]))?;
    let filter = asked.filter()?;
    let by = match asked.get("by").filter(|b| !b.is_empty()) {
        Some(by) => Some(
            serde_json::from_value::<By>(serde_json::Value::from(by)).map_err(|_| {
                ApiError::bad_request(
                    "invalid_parameter",
                    "by: day, week, month, hour, weekday, number or desk",
                )
            })?,
        ),
        None => None,
    };
    if let Some(central) = &app.central {
        return team::stats(&app, central, asked.team_filter(filter), by).await;
    }
    let plan = app.locations.config.numbers.clone();
    app.db(move |conn| {
        let report = stats::report(conn, &filter, &plan, now_ms(), by)?;
        Ok(Json(report).into_response())
    })
    .await
}

pub async fn outbox(State(app): State<Arc<App>>, Query(params): Params) -> ApiResult<Response> {
    no_outbox(&app)?;
    let asked = Asked::new(&params, &["status", "limit"])?;
    let status = match asked.get("status").filter(|s| !s.is_empty()) {
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                "status: pending, delivered, failed, stopped or skipped",
            )
        })?),
        None => None,
    };
    let limit = asked.limit()?;
    app.db(move |conn| {
        let deliveries = outbox::list(conn, status, limit)?;
        Ok(Json(Deliveries { deliveries }).into_response())
    })
    .await
}

/// Central delivers nothing itself: the desks' deliveries to it are at `/api/desks`.
fn no_outbox(app: &App) -> ApiResult<()> {
    match app.central {
        Some(_) => Err(ApiError::not_found(
            "central has no outbox: each desk delivers its own (see /api/desks for theirs to \
             central)",
        )),
        None => Ok(()),
    }
}

/// `POST /api/outbox/{id}/retry`: as `callhook outbox retry ID`.
pub async fn retry(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Response> {
    no_outbox(&app)?;
    app.db(move |conn| {
        if outbox::existing(conn, &[id])? == 0 {
            return Err(ApiError::not_found(format!("no delivery {id}")));
        }
        let retried = db::write(conn, |tx| outbox::retry(tx, &[id], now_ms()))?;
        Ok(retried)
    })
    .await
    .and_then(|retried| {
        if retried > 0 {
            crate::effects::spawn::worker(&app.locations)?;
        }
        Ok((
            StatusCode::OK,
            Json(serde_json::json!({ "retried": retried })),
        )
            .into_response())
    })
}
