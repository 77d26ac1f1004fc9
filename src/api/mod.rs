//! The HTTP API (axum): the read models on both time axes, the audit trail and its export,
//! recording with the same rules as `accord record`, verification, health and metrics.
//!
//! Every route but `/healthz` needs a bearer token (`accord token add`). The actor of an event
//! recorded over HTTP is the token's name, never a value from the request.

pub mod chain;
pub mod openapi;
pub mod paged;
pub mod pages;
pub mod tls;
pub mod tokens;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{
    DefaultBodyLimit, Path as UrlPath, Query as UrlQuery, RawQuery, Request, State,
};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::listing::{self, What};
use crate::projections::{self, Query};
use crate::store::{EventStore, Outcome, StoreError};
use tokens::{Role, Tokens};

/// Runs store reads, folds and appends off the async workers' way, so a slow request does not
/// hold up the others or the scheduler.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
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
    /// The last evaluations drawn, by head seq and query: an evaluation folds the log once per
    /// eight year-ends, so the same question at the same head is answered from here.
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

/// The router with every route, its limits and its middleware.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/events", get(events).post(record))
        .route("/api/events/export", get(export))
        .route("/api/verify", get(verify))
        .route(
            "/api/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .route("/api/deadlines", get(deadlines))
        .route("/api/reminders", get(reminders))
        .route("/api/{what}", get(list))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/calendar.ics", get(calendar))
        .merge(api)
        .merge(pages::routes(state.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(refuse_oversized))
        .layer(middleware::from_fn(harden))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Axes {
    as_of: Option<String>,
    known_at: Option<String>,
    body: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    q: Option<String>,
}

fn filter_of(q: &Axes) -> Result<listing::Filter, ApiError> {
    let day = |v: &Option<String>, field: &str| {
        v.as_deref()
            .map(crate::domain::parse_day)
            .transpose()
            .map_err(|e| bad(field, e.to_string()))
    };
    Ok(listing::Filter {
        body: q.body.clone(),
        status: q.status.clone(),
        from: day(&q.from, "from")?,
        to: day(&q.to, "to")?,
        on: None,
    })
}

fn axes(q: &Axes) -> Result<Query, ApiError> {
    Ok(Query {
        as_of: q
            .as_of
            .as_deref()
            .map(crate::domain::parse_day)
            .transpose()
            .map_err(|e| bad("as_of", e.to_string()))?,
        known_at: q
            .known_at
            .as_deref()
            .map(parse_instant)
            .transpose()
            .map_err(|e| bad("known_at", e))?,
        ..Query::default()
    })
}

pub(crate) fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    crate::domain::parse_instant(s)
}

fn what(name: &str) -> Option<What> {
    Some(match name {
        "meetings" => What::Meetings,
        "decisions" => What::Decisions,
        "mandates" => What::Mandates,
        "groups" => What::Groups,
        "reports" => What::Reports,
        "activities" => What::Activities,
        "agreements" => What::Agreements,
        "timeline" => What::Timeline,
        _ => return None,
    })
}

/// The paging fields of a listing query.
macro_rules! paging_of {
    ($q:expr) => {
        paged::Paging {
            limit: $q.limit.clone(),
            after: $q.after.clone(),
            q: $q.q.clone(),
        }
    };
}

/// A listing answer: one page of rows, with a `Link` header to the next.
type Listing = Result<(axum::http::HeaderMap, Json<Value>), ApiError>;

async fn list(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    RawQuery(raw): RawQuery,
    q: Result<UrlQuery<Axes>, axum::extract::rejection::QueryRejection>,
) -> Listing {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let Some(w) = what(&name) else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "message": format!("no listing `{name}`")}),
        ));
    };
    let query = axes(&q)?;
    let filter = filter_of(&q)?;
    let rows = if w == What::Timeline {
        let views = blocking(|| shared_views(&*state.store, &query))?;
        let mut entries = blocking(|| projections::timeline::timeline(&*state.store, &query))?;
        listing::filter_timeline(&views.views, &mut entries, &filter)
            .map_err(|e| bad("query", e))?;
        listing::timeline_rows(&entries).1
    } else {
        let views = filtered_views(&state, &query, &name, &filter)?;
        listing::rows(&views.views, w).1
    };
    let (headers, rows) = paged::page(
        rows,
        &paging_of!(q),
        &format!("/api/{name}"),
        raw.as_deref(),
    )?;
    Ok((headers, Json(Value::Array(rows))))
}

/// The views a query asks for: the shared current state when no axis is given (no copy, no
/// fold while the head stays put), else a fold.
pub(crate) fn shared_views(
    store: &dyn EventStore,
    query: &Query,
) -> Result<std::sync::Arc<projections::State>, StoreError> {
    if query.as_of.is_none() && query.known_at.is_none() {
        projections::current(store)
    } else {
        projections::views(store, query).map(std::sync::Arc::new)
    }
}

/// [`shared_views`] narrowed by a filter; copied only when the filter narrows something.
fn filtered_views(
    state: &AppState,
    query: &Query,
    what: &str,
    filter: &listing::Filter,
) -> Result<std::sync::Arc<projections::State>, ApiError> {
    let mut views = blocking(|| shared_views(&*state.store, query))?;
    let narrows = filter.body.is_some()
        || filter.status.is_some()
        || filter.from.is_some()
        || filter.to.is_some();
    if narrows {
        let owned = std::sync::Arc::make_mut(&mut views);
        listing::filter_views(&mut owned.views, what, filter).map_err(|e| bad("query", e))?;
    }
    Ok(views)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadlineQuery {
    as_of: Option<String>,
    known_at: Option<String>,
    within: Option<String>,
    body: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    q: Option<String>,
}

async fn deadlines(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    q: Result<UrlQuery<DeadlineQuery>, axum::extract::rejection::QueryRejection>,
) -> Listing {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let as_of: Option<NaiveDate> = q
        .as_of
        .as_deref()
        .map(crate::domain::parse_day)
        .transpose()
        .map_err(|e| bad("as_of", e.to_string()))?;
    let within = q
        .within
        .as_deref()
        .map(crate::workflows::definition::parse_span)
        .transpose()
        .map_err(|e| bad("within", e))?;
    let known_at = q
        .known_at
        .as_deref()
        .map(parse_instant)
        .transpose()
        .map_err(|e| bad("known_at", e))?;
    let day_of = |v: &Option<String>, field: &str| {
        v.as_deref()
            .map(crate::domain::parse_day)
            .transpose()
            .map_err(|e| bad(field, e.to_string()))
    };
    let filter = listing::Filter {
        body: q.body.clone(),
        status: q.status.clone(),
        from: day_of(&q.from, "from")?,
        to: day_of(&q.to, "to")?,
        on: as_of,
    };
    let views = filtered_views(
        &state,
        &Query {
            as_of,
            known_at,
            ..Query::default()
        },
        "deadlines",
        &filter,
    )?;
    let day = as_of.unwrap_or_else(|| Utc::now().date_naive());
    let rows = listing::deadlines(&views.views, day, within).1;
    let (headers, rows) = paged::page(rows, &paging_of!(q), "/api/deadlines", raw.as_deref())?;
    Ok((headers, Json(Value::Array(rows))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    from: Option<String>,
    to: Option<String>,
    body: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    q: Option<String>,
}

async fn reminders(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    q: Result<UrlQuery<Window>, axum::extract::rejection::QueryRejection>,
) -> Listing {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let from = q
        .from
        .as_deref()
        .map(parse_instant)
        .transpose()
        .map_err(|e| bad("from", e))?;
    let to =
        q.to.as_deref()
            .map(parse_instant)
            .transpose()
            .map_err(|e| bad("to", e))?;
    let mut views = blocking(|| projections::views(&*state.store, &Query::default()))?.views;
    let filter = listing::Filter {
        body: q.body.clone(),
        status: q.status.clone(),
        ..Default::default()
    };
    listing::filter_views(&mut views, "reminders", &filter).map_err(|e| bad("query", e))?;
    let mut rows = listing::reminders(&views, from, to, None).1;
    if caller.role < Role::Admin {
        for r in &mut rows {
            if let Some(o) = r.as_object_mut() {
                o.remove("recipient");
            }
        }
    }
    let (headers, rows) = paged::page(rows, &paging_of!(q), "/api/reminders", raw.as_deref())?;
    Ok((headers, Json(Value::Array(rows))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    since: Option<u64>,
    limit: Option<usize>,
    stream: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
}

/// Reminder data that names or addresses a person: shown to admins only.
const PERSONAL: [&str; 5] = ["recipient", "subject", "text", "html", "ics"];

/// A record as a caller below admin may see it: reminders' recipients and messages redacted,
/// and marked so (a redacted record no longer matches its hash).
pub fn redacted(env: &crate::envelope::Envelope, role: Role) -> Value {
    let mut v = serde_json::to_value(env).expect("an envelope is JSON");
    if role < Role::Admin && env.ty.starts_with("Reminder") {
        if let Some(data) = v["data"].as_object_mut() {
            let mut hit = false;
            for k in PERSONAL {
                if data.contains_key(k) {
                    data.insert(k.to_string(), Value::String("[redacted]".into()));
                    hit = true;
                }
            }
            if hit {
                v["redacted"] = true.into();
            }
        }
    }
    v
}

/// The audit trail, a page at a time: `next` is the `since` of the following page.
async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<UrlQuery<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(bad("limit", "from 1 to 10000"));
    }
    let since = q.since.unwrap_or(1);
    let source: Box<dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>>> =
        match &q.stream {
            Some(s) => Box::new(crate::store::stream_from(&*state.store, s, since)),
            None => state.store.read_from(since),
        };
    let mut out = Vec::new();
    let mut next = None;
    for env in source {
        let env = env?;
        if env.seq < since || q.ty.as_deref().is_some_and(|t| t != env.ty) {
            continue;
        }
        if out.len() == limit {
            next = Some(env.seq);
            break;
        }
        out.push(redacted(&env, caller.role));
    }
    Ok(Json(json!({"events": out, "next": next})))
}

/// The JSON Lines export, streamed as it is read: every byte as hashed, so admins only (it holds
/// reminders' recipients).
async fn export(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Response {
    if let Err(e) = require(&caller, Role::Admin) {
        return e.into_response();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(64 * 1024);
        for env in store.read_from(1) {
            match env {
                Ok(env) => {
                    chunk.extend_from_slice(env.to_canonical().as_bytes());
                    chunk.push(b'\n');
                    if chunk.len() >= 64 * 1024
                        && tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(Ok(chunk));
        }
    });
    let stream = futures_stream(rx);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

fn futures_stream(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Rx(tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Rx {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
    Rx(rx)
}

/// Records a batch of JSON Lines with the rules of `accord record`.
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
    let outcomes = match blocking(|| state.store.append(batch)) {
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

async fn verify(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
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

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let m = &state.metrics;
    let head = state.store.head().seq;
    let views = blocking(|| projections::views(&*state.store, &Query::default()))?;
    let lag = head.saturating_sub(views.seq);
    let (sent, failed) = views
        .views
        .work
        .reminders
        .values()
        .fold((0, 0), |(s, f), r| match r.status {
            projections::work::ReminderStatus::Sent => (s + 1, f),
            projections::work::ReminderStatus::Failed => (s, f + 1),
            _ => (s, f),
        });
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    metric(
        "accord_log_head_seq",
        "gauge",
        "Seq of the last recorded event.",
        head.to_string(),
    );
    metric(
        "accord_projection_lag_events",
        "gauge",
        "Events recorded but not yet folded into the projections.",
        lag.to_string(),
    );
    metric(
        "accord_events_recorded_total",
        "counter",
        "Events recorded over HTTP by this process.",
        m.events_recorded.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "accord_reminders_sent",
        "gauge",
        "Reminders recorded as sent.",
        sent.to_string(),
    );
    metric(
        "accord_reminders_failed",
        "gauge",
        "Reminders recorded as failed for good.",
        failed.to_string(),
    );
    metric(
        "accord_http_requests_total",
        "counter",
        "HTTP requests answered.",
        m.requests.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "accord_http_client_errors_total",
        "counter",
        "HTTP requests answered 4xx.",
        m.client_errors.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "accord_http_server_errors_total",
        "counter",
        "HTTP requests answered 5xx.",
        m.server_errors.load(Ordering::Relaxed).to_string(),
    );
    out.push_str("# HELP accord_http_request_duration_seconds Time to answer HTTP requests.\n# TYPE accord_http_request_duration_seconds histogram\n");
    for (i, le) in BUCKETS_MS.iter().enumerate() {
        out.push_str(&format!(
            "accord_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
            *le as f64 / 1000.0,
            m.buckets[i].load(Ordering::Relaxed)
        ));
    }
    let count = m.requests.load(Ordering::Relaxed);
    out.push_str(&format!(
        "accord_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\naccord_http_request_duration_seconds_sum {}\naccord_http_request_duration_seconds_count {count}\n",
        m.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    ));
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarQuery {
    body: Option<String>,
    /// Calendar clients that cannot send headers may pass the token here.
    token: Option<String>,
}

/// `GET /calendar.ics[?body=MC]`: public when configured, else any valid token (header or
/// `token` parameter).
async fn calendar(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    q: Result<UrlQuery<CalendarQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    if !state.public_calendar {
        let header_token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        // In the address (where calendar applications keep it, and logs may show it) only a
        // feed token, which reads nothing else; in the header, any token.
        let allowed = match (header_token, q.token.as_deref()) {
            (Some(t), _) => state.check_token(t).is_some(),
            (None, Some(t)) => state.check_token(t).is_some_and(|(_, r)| r == Role::Feed),
            (None, None) => false,
        };
        if !allowed {
            return Err(ApiError(
                StatusCode::UNAUTHORIZED,
                json!({"error": "unauthorized", "message": "a feed token (accord token add NAME --role feed) in ?token=, or any token in the Authorization header"}),
            ));
        }
    }
    let state_now = blocking(|| shared_views(&*state.store, &Query::default()))?;
    let views = &state_now.views;
    let body = q
        .body
        .as_deref()
        .map(|b| {
            crate::domain::Body::parse(b)
                .ok()
                .filter(|b| views.reporting.knows_body(b.code()))
                .ok_or_else(|| {
                    bad(
                        "body",
                        format!(
                            "expected a body the log knows: {}",
                            views.reporting.body_codes().join(", ")
                        ),
                    )
                })
        })
        .transpose()?;
    let text = blocking(|| crate::calendar::feed(&*state.store, views, body, &state.public_url))?;
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        text,
    )
        .into_response())
}
