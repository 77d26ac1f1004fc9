//! The audit trail over HTTP: a page of records at a time (reminders' recipients and messages
//! redacted below admin), and the whole log as JSON Lines exactly as hashed, streamed.

use axum::body::Body;
use axum::extract::{Query as UrlQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::tokens::Role;
use super::{bad, blocking, openapi, require, ApiError, AppState, Caller};
use crate::store::StoreError;

/// The query of the audit trail.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// The first seq of the page (1 unless given); an answer's `next` is the next page's.
    #[param(minimum = 1, example = 1)]
    since: Option<u64>,
    /// Records per page (100 unless given).
    #[param(minimum = 1, maximum = 10000, example = 100)]
    limit: Option<u32>,
    /// Only the records of this stream.
    #[param(example = "meeting/mc-cop-4")]
    stream: Option<String>,
    /// Only records of this event type.
    #[serde(rename = "type")]
    #[param(rename = "type", example = "DecisionAdopted")]
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
#[utoipa::path(get, path = "/api/events", tag = "trail", params(Page),
    responses(
        (status = 200, description = "Records from `since` on, and the `since` of the next page (null at the end). Below admin, reminders' recipients and messages are redacted and the record marked `redacted`.", body = openapi::EventsPage),
        (status = 400, description = "A bad parameter, named in `field`.", body = openapi::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<UrlQuery<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100) as usize;
    if !(1..=10_000).contains(&limit) {
        return Err(bad("limit", "from 1 to 10000"));
    }
    let since = q.since.unwrap_or(1);
    let (store, role) = (state.store.clone(), caller.role);
    let page = blocking(move || -> Result<Value, StoreError> {
        let source: Box<dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>>> =
            match &q.stream {
                Some(s) => Box::new(crate::store::stream_from(&*store, s, since)),
                None => store.read_from(since),
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
            out.push(redacted(&env, role));
        }
        Ok(json!({"events": out, "next": next}))
    });
    Ok(Json(page.await?))
}

/// The JSON Lines export, streamed as it is read: every byte as hashed, so admins only (it holds
/// reminders' recipients).
#[utoipa::path(get, path = "/api/events/export", tag = "trail",
    responses(
        (status = 200, description = "Every record as JSON Lines, exactly as hashed, streamed.", content_type = "application/x-ndjson", body = String),
        (status = 403, description = "Not an admin token.", body = openapi::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
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
