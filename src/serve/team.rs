//! The read API at central: the same requests and answers as a desk's (`calls`, `show`,
//! `missed`, `stats`), over every desk's calls, each call with its `desk`; and the desks.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::central::db::Central;
use crate::central::query::TeamFilter;
use crate::central::{desks, query};
use crate::log::call::now_ms;
use crate::report::call_list::Calls;
use crate::report::output::Listing;
use crate::report::stats::By;
use crate::report::team::Desked;
use crate::report::unreturned::UnreturnedList;
use crate::serve::App;
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::ingest::unavailable;
use crate::serve::lists::{csv_response, next_page};

#[derive(Serialize)]
struct Page<T: Serialize> {
    calls: Vec<T>,
    next: Option<String>,
}

#[derive(Serialize)]
struct UnreturnedPage<T: Serialize> {
    unreturned: Vec<T>,
}

pub async fn calls(
    app: &Arc<App>,
    central: &Central,
    filter: TeamFilter,
    limit: u32,
    csv: bool,
) -> ApiResult<Response> {
    let now = now_ms();
    let plan = &app.locations.config.numbers;
    // One row more than asked says whether there is a next page.
    let mut rows = query::calls(central, &filter, plan, now, Some(limit + 1))
        .await
        .map_err(unavailable)?;
    let listing = Desked(Calls { now });
    if csv {
        rows.truncate(limit as usize);
        return csv_response("calls.csv", &listing, |each| {
            rows.into_iter().try_for_each(each)
        });
    }
    let next = next_page(&mut rows, limit, |r| &r.row);
    let calls = rows.iter().map(|r| listing.json(r)).collect::<Vec<_>>();
    Ok(Json(Page { calls, next }).into_response())
}

pub async fn unreturned(
    app: &Arc<App>,
    central: &Central,
    filter: TeamFilter,
    limit: u32,
    csv: bool,
) -> ApiResult<Response> {
    let now = now_ms();
    let plan = &app.locations.config.numbers;
    let rows = query::unreturned(central, &filter, plan, now, Some(limit))
        .await
        .map_err(unavailable)?;
    let listing = Desked(UnreturnedList);
    if csv {
        return csv_response("unreturned.csv", &listing, |each| {
            rows.into_iter().try_for_each(each)
        });
    }
    let unreturned = rows.iter().map(|r| listing.json(r)).collect::<Vec<_>>();
    Ok(Json(UnreturnedPage { unreturned }).into_response())
}

pub async fn call(central: &Central, id: &str) -> ApiResult<Response> {
    match query::detail(central, id, now_ms())
        .await
        .map_err(unavailable)?
    {
        Some(detail) => Ok(Json(detail.json()).into_response()),
        None => Err(ApiError::not_found(format!("no call {id}"))),
    }
}

pub async fn stats(
    app: &Arc<App>,
    central: &Central,
    filter: TeamFilter,
    by: Option<By>,
) -> ApiResult<Response> {
    let plan = &app.locations.config.numbers;
    let report = query::stats(central, &filter, plan, now_ms(), by)
        .await
        .map_err(unavailable)?;
    Ok(Json(report).into_response())
}

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    schema: u32,
    calls: i64,
    mode: &'static str,
}

pub async fn health(central: &Central) -> ApiResult<Response> {
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        schema: central.schema_version().await.map_err(unavailable)?,
        calls: query::count_calls(central).await.map_err(unavailable)?,
        mode: "central",
    })
    .into_response())
}

#[derive(Serialize)]
struct DeskList {
    desks: Vec<desks::DeskStatus>,
}

/// `GET /api/desks`: every desk central knows, with its last contact and backlog.
pub async fn desks(State(app): State<Arc<App>>) -> ApiResult<Response> {
    let Some(central) = &app.central else {
        return Err(ApiError::not_found(
            "this callhook is not a central server (it has no [central] database)",
        ));
    };
    let desks = desks::list(central).await.map_err(unavailable)?;
    Ok(Json(DeskList { desks }).into_response())
}
