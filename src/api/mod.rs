//! The HTTP API (axum): the read models on both time axes, the audit trail and its export,
//! recording with the same rules as `accord record`, verification, health and metrics.
//!
//! Every route but `/healthz` needs a bearer token (`accord token add`). The actor of an event
//! recorded over HTTP is the token's name, never a value from the request.

pub mod chain;
mod feeds;
mod listings;
pub(crate) use listings::{parse_instant, shared};
pub mod openapi;
pub mod paged;
pub mod pages;
pub mod tls;
pub mod tokens;
mod trail;
pub use trail::redacted;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use crate::store::{EventStore, Outcome, StoreError};
use tokens::{Role, Tokens};

/// Runs store reads and folds on the blocking pool, so that no request holds a worker of the
/// runtime while it reads or folds: the others and the scheduler go on.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    crate::store::finished(tokio::task::spawn_blocking(f).await)
}

/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// An evaluation drawn at a head seq for a query.
pub(crate) struct KeptEvaluation {
    pub head: u64,
    pub key: String,
    pub evaluation: crate::evaluate::Evaluation,
    /// The dashboard's drawing of it, made once.
    pub page: std::sync::OnceLock<String>,
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
    pub data: PathBuf,
    /// `/calendar.ics` answers without a token.
    pub public_calendar: bool,
    /// People reach the dashboard over HTTPS (`[server] public_url` is `https://…`): the
    /// sign-in cookie is `Secure` on every answer, not only behind a proxy that says so.
    pub https: bool,
    /// Proxies whose `X-Forwarded-Proto` is believed (`[server] trusted_proxies`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The dashboard's address as people reach it (`[server] public_url`), for links.
    pub public_url: String,
    tokens: Arc<Mutex<(Option<FileStamp>, Tokens)>>,
    pub metrics: Arc<Metrics>,
    /// The verified prefix of the chain, for the trail's status line.
    pub chain: chain::ChainWatch,
    /// The last evaluations drawn, by head seq and query: an evaluation reads every decision and
    /// mandate, so the same question at the same head is answered from here.
    pub(crate) evaluations: Arc<Mutex<Vec<Arc<KeptEvaluation>>>>,
}

impl AppState {
    pub fn new(store: Arc<dyn EventStore>, data: PathBuf) -> AppState {
        AppState {
            store,
            data,
            public_calendar: false,
            https: false,
            trusted_proxies: Vec::new(),
            public_url: "http://127.0.0.1:8080".to_string(),
            tokens: Arc::new(Mutex::new((None, Tokens::default()))),
            metrics: Arc::new(Metrics::default()),
            chain: chain::ChainWatch::default(),
            evaluations: Arc::default(),
        }
    }

    /// The token file, reloaded when it changed (tokens are added and revoked while serving).
    pub(crate) fn check_token(&self, token: &str) -> Option<(String, Role)> {
        let path = Tokens::path_in(&self.data);
        let stamp = std::fs::metadata(&path).ok().map(|m| FileStamp::of(&m));
        let mut cached = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 != stamp || stamp.is_none() {
            if let Ok(t) = Tokens::load(&self.data) {
                *cached = (stamp, t);
            }
        }
        cached.1.check(token).map(|e| (e.name.clone(), e.role))
    }
}

/// What tells one version of a file from another: the token file is replaced by a rename on
/// every change, so its inode changes even when its modification time (one-second on some file
/// systems) and its length do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(m: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            inode: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        }
    }
}

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Request counters and a latency histogram, printed in the Prometheus text format.
#[derive(Default)]
pub struct Metrics {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    events_recorded: AtomicU64,
    latency_sum_micros: AtomicU64,
    buckets: [AtomicU64; 8],
}

const BUCKETS_MS: [u64; 8] = [1, 5, 10, 25, 50, 100, 500, 1000];

impl Metrics {
    fn observe(&self, status: StatusCode, micros: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status.is_client_error() {
            self.client_errors.fetch_add(1, Ordering::Relaxed);
        } else if status.is_server_error() {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        for (i, le) in BUCKETS_MS.iter().enumerate() {
            if micros <= le * 1000 {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An error answer: a status and a JSON body that says what and where.
#[derive(Debug)]
pub struct ApiError(StatusCode, Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        json!({"error": "bad_request", "field": field, "message": message.into()}),
    )
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        // The storage is unavailable (disk full, read-only, database down): try again later.
        let status = match e {
            StoreError::Io(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(
            status,
            json!({"error": "storage", "message": e.to_string()}),
        )
    }
}

async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .observe(response.status(), started.elapsed().as_micros() as u64);
    response
}

/// Refuses a body announced over the limit before reading any of it (chunked bodies are cut
/// at the limit by `DefaultBodyLimit` as they are read).
async fn refuse_oversized(req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > MAX_BODY) {
        return ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "too_large", "message": format!("the body is over {MAX_BODY} bytes; nothing recorded")}),
        )
        .into_response();
    }
    next.run(req).await
}

/// What a browser may do with any answer: no scripts, no resources from elsewhere, no framing,
/// no guessing of content types, no referrer (a calendar URL may carry a token). The dashboard
/// needs only its inline styles; user text is escaped as well, this is a second line.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn harden(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string);
    match token.and_then(|t| state.check_token(&t)) {
        Some((_, Role::Feed)) => ApiError(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "message": "a feed token reads /calendar.ics and nothing else"}),
        )
        .into_response(),
        Some((name, role)) => {
            req.extensions_mut().insert(Caller { name, role });
            next.run(req).await
        }
        None => ApiError(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthorized", "message": "a valid bearer token is required (accord token add)"}),
        )
        .into_response(),
    }
}

fn require(caller: &Caller, role: Role) -> Result<(), ApiError> {
    if caller.role >= role {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "message": format!("this needs a {role:?} token; `{}` is a {:?}", caller.name, caller.role).to_lowercase()}),
        ))
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process answers.", content_type = "text/plain", body = String)),
    security(()))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// The router with every route, its limits and its middleware.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/events", get(trail::events).post(record))
        .route("/api/events/export", get(trail::export))
        .route("/api/verify", get(verify))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/deadlines", get(listings::deadlines))
        .route("/api/reminders", get(listings::reminders))
        .route("/api/meetings", get(listings::meetings))
        .route("/api/decisions", get(listings::decisions))
        .route("/api/mandates", get(listings::mandates))
        .route("/api/groups", get(listings::groups))
        .route("/api/reports", get(listings::reports))
        .route("/api/activities", get(listings::activities))
        .route("/api/agreements", get(listings::agreements))
        .route("/api/timeline", get(listings::timeline))
        .route("/api/{what}", get(listings::unknown))
        .route("/metrics", get(feeds::metrics))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/calendar.ics", get(feeds::calendar))
        .merge(api)
        .merge(pages::routes(state.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(refuse_oversized))
        .layer(middleware::from_fn(harden))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The ids that make a POST retried under one `Idempotency-Key` record its events once: each
/// event without an id gets one from the key, the caller and its line, so the retry's events are
/// duplicates of the first's (across restarts and nodes, as ids are in the log). The same key
/// with other content is a conflict.
fn idempotent_ids(
    headers: &axum::http::HeaderMap,
    caller: &Caller,
    batch: &mut [crate::input::Proposed],
) -> Result<(), ApiError> {
    let Some(key) = headers.get("idempotency-key") else {
        return Ok(());
    };
    let key = key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=200).contains(&k.len()))
        .ok_or_else(|| bad("Idempotency-Key", "1 to 200 visible ASCII characters"))?;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{}\n{key}", caller.name).as_bytes());
    let prefix = hex::encode(&digest[..12]);
    for p in batch.iter_mut().filter(|p| p.id.is_none()) {
        p.id = Some(format!("idem-{prefix}-{}", p.line));
    }
    Ok(())
}

/// Records a batch of JSON Lines with the rules of `accord record`.
#[utoipa::path(post, path = "/api/events", tag = "trail",
    params(("Idempotency-Key" = Option<String>, Header, description = "A key for this request: a retry under the same key records its events once (events without an id get ids from it); the same key with other content is a 409.")),
    request_body(content = String, content_type = "application/x-ndjson", description = "One event per line, as `accord record` takes them."),
    responses(
        (status = 200, description = "Recorded events, and duplicates of events already recorded.", body = openapi::Recorded),
        (status = 400, description = "Bad input: `line` and `field` say where. Nothing written.", body = openapi::ErrorBody),
        (status = 403, description = "The token may not record (a reader).", body = openapi::ErrorBody),
        (status = 409, description = "An expected position does not hold, or an id is recorded with other content. Nothing written.", body = openapi::ErrorBody),
        (status = 413, description = "The body is over 16 MiB. Nothing written.", body = openapi::ErrorBody),
    ),
    security(("bearer" = [])))]
async fn record(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    require(&caller, Role::Recorder)?;
    let body = body.map_err(|e| {
        let status = e.status();
        ApiError(
            status,
            json!({"error": if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_input" },
                   "message": format!("{}; nothing recorded", e.body_text())}),
        )
    })?;
    let body = String::from_utf8(body.to_vec()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        ApiError(
            StatusCode::BAD_REQUEST,
            json!({"error": "bad_input", "line": line, "field": "line", "message": format!("not UTF-8 (byte {at})")}),
        )
    })?;
    let mut batch = crate::input::parse_batch(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            json!({"error": "bad_input", "line": e.line, "field": e.field, "message": e.message}),
        )
    })?;
    for p in &mut batch {
        p.actor = caller.name.clone();
    }
    idempotent_ids(&headers, &caller, &mut batch)?;
    let lines: Vec<usize> = batch.iter().map(|p| p.line).collect();
    let line = |i: usize| lines.get(i).copied().unwrap_or(0);
    let outcomes = match state.store.clone().append_async(batch).await {
        Ok(o) => o,
        Err(StoreError::Conflict {
            index,
            stream,
            expected,
            actual,
        }) => {
            return Err(ApiError(
                StatusCode::CONFLICT,
                json!({"error": "conflict", "line": line(index), "field": "expected_position", "stream": stream, "expected": expected, "actual": actual,
                       "message": format!("stream `{stream}` is at position {actual}, expected {expected}; nothing recorded")}),
            ))
        }
        Err(StoreError::Rejected { index, message }) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                json!({"error": "bad_input", "line": line(index), "message": message}),
            ))
        }
        Err(StoreError::Refused {
            index,
            field,
            message,
        }) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                json!({"error": "bad_input", "line": line(index), "field": field,
                       "message": format!("{message}; nothing recorded")}),
            ))
        }
        Err(StoreError::IdConflict { index, id, seq }) => {
            return Err(ApiError(
                StatusCode::CONFLICT,
                json!({"error": "conflict", "line": line(index), "field": "id", "id": id, "seq": seq,
                       "message": format!("`{id}` is already recorded at seq {seq} with other content (give a new id, or correct seq {seq} with EventAmended); nothing recorded")}),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let mut recorded = Vec::new();
    let mut duplicates = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Recorded(env) => recorded.push(json!({"seq": env.seq, "hash": env.hash, "id": env.id, "type": env.ty, "stream": env.stream, "position": env.position})),
            Outcome::Duplicate { id, seq } => duplicates.push(json!({"id": id, "seq": seq})),
        }
    }
    state
        .metrics
        .events_recorded
        .fetch_add(recorded.len() as u64, Ordering::Relaxed);
    Ok(Json(
        json!({"recorded": recorded, "duplicates": duplicates}),
    ))
}

/// The chain's status: every record's hash and link checked.
#[utoipa::path(get, path = "/api/verify", tag = "trail",
    responses(
        (status = 200, description = "The verification report.", body = openapi::Verified),
    ),
    security(("bearer" = [])))]
async fn verify(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    // A verification that fails by a panic (a damaged record it cannot read) answers 500.
    let report =
        tokio::task::spawn_blocking(move || crate::verify::verify_store(&*store, &mut |_| {}))
            .await
            .map_err(|e| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": e.to_string()}),
                )
            })?;
    let mut v = serde_json::to_value(&report).expect("a report is JSON");
    v["intact"] = report.intact().into();
    Ok(Json(v))
}
