//! The dashboard: plain files from `assets/dashboard/`, embedded in the program at build time
//! (it works offline, and building callhook needs no Node.js).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::serve::App;

/// The files, by the name under `/assets/`, with their content types.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard/app.css"),
    ),
    (
        "uplot.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard/vendor/uPlot.iife.min.js"),
    ),
    (
        "uplot.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard/vendor/uPlot.min.css"),
    ),
];

const INDEX: &str = include_str!("../../assets/dashboard/index.html");

/// `/`: the dashboard for a logged-in browser, else how to log in.
pub async fn index(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if app.auth.has_session(&headers) {
        Html(INDEX).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            page("Open the dashboard with `callhook dashboard` (it logs this browser in)."),
        )
            .into_response()
    }
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// A page with one message, for the browser.
pub fn page(message: &str) -> Html<String> {
    let text: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>callhook</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body><main class=\"message\">\
         <h1>callhook</h1><p>{text}</p></main></body></html>"
    ))
}
