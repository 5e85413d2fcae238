//! CSV downloads: the rows as the CLI's `--format csv` writes them.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

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
