//! `callhook serve`: the local API, the live events, the dashboard and MicroSIP's remote
//! control, over HTTP on 127.0.0.1 (or HTTPS elsewhere). It reads the same call log as the
//! commands, with their code ([`crate::report`]); the hook never waits for it and never knows
//! it runs: live events come from watching the database ([`events`]).

pub mod api;
pub mod auth;
pub mod control;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod ingest;
pub mod lists;
pub mod settings;
pub mod team;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::central::db::{self as central_db, Central};
use crate::config::locations::Locations;
use crate::serve::auth::{Auth, Who};
use crate::serve::error::{ApiError, ApiResult};

/// The largest request body taken (control commands are a few bytes).
const BODY_LIMIT: usize = 16 * 1024;
/// Database connections kept open between requests.
const POOL: usize = 4;

/// The running server, shared by every request.
pub struct App {
    pub locations: Locations,
    pub auth: Auth,
    pub feed: events::Feed,
    /// `http://127.0.0.1:PORT`: where the dashboard is.
    pub base: String,
    /// Team mode: the team's call log in PostgreSQL, which this server then serves instead of
    /// the desk's own (`[central] database`).
    pub central: Option<Central>,
    pool: Mutex<Vec<Connection>>,
}

impl App {
    /// Runs `work` on a pooled database connection, off the async threads.
    pub async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = app.pool.lock().expect("pool").pop();
            let mut conn = match conn {
                Some(conn) => conn,
                None => app.locations.open_db()?,
            };
            let result = work(&mut conn);
            let mut pool = app.pool.lock().expect("pool");
            if pool.len() < POOL {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| ApiError::from(anyhow::anyhow!("request task: {e}")))?
    }
}

/// The address of a request's client (the connection's far end), for both listeners.
#[derive(Clone, Copy, Debug)]
pub struct Client(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Client
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Client(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::Listener>>
    for Client
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::Listener>) -> Self {
        Client(*stream.remote_addr())
    }
}

/// Where a running server can be found: `serve.json` beside the config.
#[derive(Serialize, Deserialize)]
pub struct Running {
    pub url: String,
    pub pid: u32,
}

pub fn running_path(locations: &Locations) -> PathBuf {
    auth::token_path(&locations.config_path).with_file_name("serve.json")
}

/// Serves until Ctrl+C. `listen` overrides `[serve] listen`; `open` opens the dashboard.
pub fn run(locations: Locations, listen: Option<SocketAddr>, open: bool) -> Result<()> {
    locations.require_config()?;
    let settings = locations.config.serve.clone();
    let listen = listen.unwrap_or(settings.listen);
    if let Some((key, why)) = settings.problem(listen) {
        bail!("{}: [serve] {key}: {why}", locations.config_path.display());
    }
    let tls = settings
        .tls()
        .map(|(cert, key)| {
            let dir = locations
                .config_path
                .parent()
                .unwrap_or(std::path::Path::new("."));
            tls::config(&dir.join(cert), &dir.join(key))
        })
        .transpose()?;
    let token = auth::load_or_create_token(&auth::token_path(&locations.config_path))?;
    let team = locations.config.central.database.clone();
    // Creates and migrates the desk's database before the first request; central watches
    // its own.
    let watch = match team {
        Some(_) => None,
        None => Some(locations.open_db()?),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(32)
        .enable_all()
        .build()
        .context("cannot start the server's threads")?;
    runtime.block_on(async move {
        let central = match &team {
            Some(url) => Some(
                central_db::connect(url)
                    .await
                    .with_context(|| format!("{}: [central] database", locations.config_path.display()))?,
            ),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shown = match (addr.ip(), settings.hosts.first()) {
            (ip, _) if ip.is_loopback() || ip.is_unspecified() => {
                IpAddr::from([127, 0, 0, 1]).to_string()
            }
            (_, Some(name)) => name.clone(),
            (IpAddr::V6(v6), None) => format!("[{v6}]"),
            (ip, None) => ip.to_string(),
        };
        let base = format!("{scheme}://{shown}:{}", addr.port());
        let hosts = Auth::hosts_for(addr.port(), addr.ip(), &settings.hosts);
        let app = Arc::new(App {
            auth: Auth::new(&token, hosts, tls.is_some()),
            feed: events::Feed::new(),
            base: base.clone(),
            central,
            pool: Mutex::new(Vec::new()),
            locations,
        });
        match watch {
            Some(conn) => events::watch(app.clone(), conn)?,
            None => events::watch_central(app.clone()).await?,
        }
        let state = running_path(&app.locations);
        let running = Running {
            url: base.clone(),
            pid: std::process::id(),
        };
        std::fs::write(&state, serde_json::to_vec(&running)?)
            .with_context(|| format!("cannot write {}", state.display()))?;
        println!("callhook serve: {base}");
        use std::io::Write as _;
        std::io::stdout().flush()?;
        if open {
            let link = format!("{base}/login?code={}", app.auth.login_code()?);
            if let Err(e) = crate::platform::open_url(&link) {
                eprintln!("callhook serve: cannot open the dashboard: {e:#}; open {base}/ with `callhook dashboard`");
            }
        }
        let router = router(app.clone());
        let service = router.into_make_service_with_connect_info::<Client>();
        // Ctrl+C: requests under way finish; live event streams never do, so they get
        // a moment and are then cut.
        let stopping = Arc::new(tokio::sync::Notify::new());
        let signal = stopping.clone();
        let stop = async move {
            let _ = tokio::signal::ctrl_c().await;
            signal.notify_one();
        };
        let cut = async move {
            stopping.notified().await;
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        };
        let served = match tls {
            Some(tls) => {
                let server = axum::serve(tls::Listener::new(listener, tls)?, service)
                    .with_graceful_shutdown(stop);
                tokio::select! { r = server => r, () = cut => Ok(()) }
            }
            None => {
                let server = axum::serve(listener, service).with_graceful_shutdown(stop);
                tokio::select! { r = server => r, () = cut => Ok(()) }
            }
        };
        let _ = std::fs::remove_file(&state);
        served.context("the server stopped")
    })
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/{file}", get(dashboard::asset))
        .route("/login", get(login))
        .route("/logout", post(logout))
        .route("/api/health", get(api::health))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/calls", get(api::calls))
        .route("/api/calls/{id}", get(api::call))
        .route("/api/missed", get(api::missed))
        .route("/api/stats", get(api::stats))
        .route("/api/outbox", get(api::outbox))
        .route("/api/outbox/{id}/retry", post(api::retry))
        .route("/api/events", get(events::stream))
        .route("/api/login-links", post(login_link))
        .route("/api/dial", post(control::dial))
        .route("/api/answer", post(control::answer))
        .route("/api/hangup", post(control::hangup))
        .route("/api/hold", post(control::hold))
        .route("/api/transfer", post(control::transfer))
        .route("/api/dtmf", post(control::dtmf))
        .route("/api/desks", get(team::desks))
        .route("/api/ingest", post(ingest::ingest))
        .fallback(|| async { ApiError::not_found("no such page") })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(middleware::from_fn(headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// Every request: the `Host` check; under `/api/` the credentials too (`Who` is then in the
/// request's extensions).
async fn guard(
    State(app): State<Arc<App>>,
    ConnectInfo(Client(client)): ConnectInfo<Client>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    // Desks sign their deliveries: the ingest endpoint checks that itself.
    if path == "/api/ingest" {
        return next.run(request).await;
    }
    let checked = if path.starts_with("/api/") && path != "/api/openapi.json" {
        app.auth
            .check(request.method(), request.headers(), client.ip())
            .map(Some)
    } else {
        app.auth.check_host(request.headers()).map(|()| None)
    };
    match checked {
        Ok(who) => {
            if let Some(who) = who {
                request.extensions_mut().insert::<Who>(who);
            }
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// The security headers of every answer: no framing, no sniffing, scripts and styles from this
/// server only, nothing cached from the API.
async fn headers(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if api && is_plain_error(&response) {
        response = json_error(response).await;
    }
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An error answer of the API that is not JSON: one of axum's own (a path that does not parse,
/// a wrong method, a body that is not JSON).
fn is_plain_error(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|t| t.as_bytes() != b"application/json")
}

/// The same error as the API's JSON.
async fn json_error(response: Response) -> Response {
    // A body of the wrong shape is a bad request like any other.
    let status = match response.status() {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        status => status,
    };
    let text = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, error::code_of(status), message).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    code: String,
}

/// The one-time login link: sets the session cookie and goes to the dashboard.
async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(Client(client)): ConnectInfo<Client>,
    Query(query): Query<LoginQuery>,
) -> Response {
    match app.auth.log_in(&query.code, client.ip()) {
        Ok(session) => {
            let mut response = Redirect::to("/").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&app.auth.session_cookie(&session)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => (e.status, dashboard::page(&e.message)).into_response(),
    }
}

async fn logout(State(app): State<Arc<App>>, request: Request) -> Response {
    app.auth.log_out(request.headers());
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("callhook_session=; Max-Age=0; Path=/"),
    );
    response
}

/// `POST /api/login-links`: a one-time dashboard link, for `callhook dashboard`. Only with
/// the token: a session cannot mint more sessions.
async fn login_link(
    State(app): State<Arc<App>>,
    axum::Extension(who): axum::Extension<Who>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    if who != Who::Token {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "token_required",
            "login links are made with the API token",
        ));
    }
    let code = app.auth.login_code()?;
    Ok(axum::Json(
        serde_json::json!({"url": format!("{}/login?code={code}", app.base)}),
    ))
}
