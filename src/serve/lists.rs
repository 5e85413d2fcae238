//! How lists are answered, at a desk and at central: a page of calls with the cursor of the
//! next, or a CSV download as the CLI's `--format csv` writes it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::log::call::Call;
use crate::log::query::Cursor;
use crate::report::output::{self, Format};
use crate::serve::error::ApiResult;

/// The rows as the CLI's `--format csv` writes them, as a download.
pub fn csv_response<L: output::Listing>(
    name: &str,
    listing: &L,
    each: impl FnOnce(&mut dyn FnMut(L::Row) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> ApiResult<Response> {
    let mut body = Vec::new();
    output::write_list(&mut body, listing, Format::Csv, "", each)?;
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Cuts `rows` (asked with one row more than `limit`) to a page; returns the cursor of the
/// next page, `None` on the last.
pub fn next_page<T>(rows: &mut Vec<T>, limit: u32, call: impl Fn(&T) -> &Call) -> Option<String> {
    if rows.len() <= limit as usize {
        return None;
    }
    rows.truncate(limit as usize);
    let last = call(rows.last().expect("a full page"));
    Some(
        Cursor {
            started_at: last.started_at,
            id: last.id.clone(),
        }
        .to_text(),
    )
}
