//! The control API: MicroSIP's commands over HTTP, with the checks of `callhook dial` and the
//! others (one implementation: [`crate::microsip::control`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::microsip::control::{self, Command, ControlError, Hangup, Outcome};
use crate::serve::App;
use crate::serve::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Number {
    number: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Nothing {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Which {
    #[serde(default)]
    which: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digits {
    digits: String,
}

type Answer = ApiResult<Json<serde_json::Value>>;

fn body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(b)| b).map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(e.status(), "body_too_large", e.body_text())
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })
}

fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_number", e.to_string())
}

pub async fn dial(State(app): State<Arc<App>>, b: Result<Json<Number>, JsonRejection>) -> Answer {
    let command = Command::dial(&body(b)?.number).map_err(invalid)?;
    send(app, command).await
}

pub async fn transfer(
    State(app): State<Arc<App>>,
    b: Result<Json<Number>, JsonRejection>,
) -> Answer {
    let command = Command::transfer(&body(b)?.number).map_err(invalid)?;
    send(app, command).await
}

pub async fn dtmf(State(app): State<Arc<App>>, b: Result<Json<Digits>, JsonRejection>) -> Answer {
    let command = Command::dtmf(&body(b)?.digits).map_err(invalid)?;
    send(app, command).await
}

pub async fn answer(State(app): State<Arc<App>>, b: Option<Json<Nothing>>) -> Answer {
    let _ = b;
    send(app, Command::Answer).await
}

pub async fn hold(State(app): State<Arc<App>>, b: Option<Json<Nothing>>) -> Answer {
    let _ = b;
    send(app, Command::Hold).await
}

pub async fn hangup(State(app): State<Arc<App>>, b: Option<Json<Which>>) -> Answer {
    let which = match b.and_then(|Json(w)| w.which).as_deref() {
        None | Some("current") => Hangup::Current,
        Some("incoming") => Hangup::Incoming,
        Some("calling") => Hangup::Calling,
        Some("all") => Hangup::All,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "which: current, incoming, calling or all",
            ));
        }
    };
    send(app, Command::Hangup(which)).await
}

/// Sends off the async threads: MicroSIP may take its time to answer a window message.
async fn send(app: Arc<App>, command: Command) -> Answer {
    if app.central.is_some() {
        // Central runs on a server, not beside a MicroSIP: each desk controls its own.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "microsip_not_running",
            "central controls no MicroSIP: use the desk's own `callhook serve`",
        ));
    }
    let program = app.locations.config.microsip.program.clone();
    let lines = command.lines();
    let outcome = tokio::task::spawn_blocking(move || control::send(&command, program.as_deref()))
        .await
        .map_err(|e| ApiError::from(anyhow::anyhow!("control task: {e}")))?;
    match outcome {
        Ok(outcome) => Ok(Json(serde_json::json!({
            "result": match outcome {
                Outcome::Sent => "sent",
                Outcome::Started => "started",
            },
            "command": lines.join(" "),
        }))),
        Err(e @ ControlError::NotRunning) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "microsip_not_running",
            e.to_string(),
        )),
        Err(e @ ControlError::NotReady) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "microsip_not_ready",
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "microsip_failed",
            e.to_string(),
        )),
    }
}
