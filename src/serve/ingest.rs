//! `POST /api/ingest` (central only): desks deliver their calls here. A desk is known by the
//! key its batch is signed with, never by what the batch says; the signature is checked before
//! the body is read as JSON or the database is asked, and nothing of a refused batch is stored.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};

use crate::central::desks::{self, KeyLookup};
use crate::central::ingest::{self, IngestError};
use crate::effects::central::batch::{Batch, MAX_BODY, Receipt};
use crate::effects::central::key::{self, KEY_HEADER};
use crate::log::call::now_ms;
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::{App, Client};

pub async fn ingest(
    State(app): State<Arc<App>>,
    ConnectInfo(Client(client)): ConnectInfo<Client>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Receipt>> {
    let Some(central) = app.central.clone() else {
        return Err(ApiError::not_found(
            "this callhook is not a central server (it has no [central] database)",
        ));
    };
    let client = client.ip();
    app.auth.check_failures(client)?;
    // Batches are larger than any other request: read up to their own limit, no further.
    let body: Bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a batch has at most {MAX_BODY} bytes"),
        )
    })?;
    // Desks are programs; a browser page must not be able to deliver in a desk's name.
    if headers.contains_key(header::ORIGIN) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "desk deliveries do not come from web pages",
        ));
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 1024)
    };
    let refuse = |code: &'static str, message: String| {
        app.auth.failed(client);
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    };
    let public = text(KEY_HEADER)
        .and_then(key::parse_public)
        .ok_or_else(|| {
            refuse(
                "unknown_key",
                format!("no desk key: send `{KEY_HEADER}: whpk_…` with the batch"),
            )
        })?;
    let (id, timestamp, signature) = match (
        text("webhook-id"),
        text("webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
        text("webhook-signature"),
    ) {
        (Some(id), Some(timestamp), Some(signature)) => (id, timestamp, signature),
        _ => {
            return Err(refuse(
                "bad_signature",
                "a batch carries webhook-id, webhook-timestamp and webhook-signature".into(),
            ));
        }
    };
    if !key::verify(&public, id, timestamp, &body, signature) {
        return Err(refuse(
            "bad_signature",
            "the signature does not match the desk key and the body".into(),
        ));
    }
    let desk = match desks::by_key(&central, &public)
        .await
        .map_err(unavailable)?
    {
        KeyLookup::Active(desk) => desk,
        KeyLookup::Revoked(name) => {
            return Err(refuse(
                "revoked_key",
                format!(
                    "the key of desk `{name}` was revoked (`callhook central remove-desk`): \
                     ask for a new one"
                ),
            ));
        }
        KeyLookup::Unknown => {
            return Err(refuse(
                "unknown_key",
                "central knows no desk with this key: add the desk with `callhook central \
                 add-desk`"
                    .into(),
            ));
        }
    };
    let mut reader = serde_json::Deserializer::from_slice(&body);
    let batch: Batch = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        ApiError::bad_request("invalid_batch", format!("the batch is not valid: {e}"))
    })?;
    match ingest::apply(&central, &desk, &batch, now_ms()).await {
        Ok(receipt) => {
            app.feed.wake();
            Ok(Json(receipt))
        }
        Err(IngestError::Invalid(why)) => Err(ApiError::bad_request("invalid_batch", why)),
        Err(IngestError::Database(e)) => Err(unavailable(e)),
    }
}

/// PostgreSQL could not be asked: the desk keeps the batch and tries again later.
pub fn unavailable(e: anyhow::Error) -> ApiError {
    eprintln!("callhook serve: the central database: {e:#}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "central cannot reach its database now; try again later",
    )
}
