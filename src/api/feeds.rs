//! What other programs read: the Prometheus metrics and the calendar feed.

use std::sync::atomic::Ordering;

use axum::extract::{Query as UrlQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::listings::shared;
use super::tokens::Role;
use super::{bad, blocking, ApiError, AppState, BUCKETS_MS};
use crate::projections::{self, Query};

/// `GET /metrics`: Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.", content_type = "text/plain; version=0.0.4", body = String)),
    security(("bearer" = [])))]
pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let m = &state.metrics;
    let head = state.store.clone().head_async().await.seq;
    let views = shared(&state.store, &Query::default()).await?;
    let lag = head.saturating_sub(views.seq);
    let store = state.store.clone();
    let indexed = blocking(move || projections::meetings::index::indexed_seq(&*store)).await?;
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
        "accord_chain_verified_seq",
        "gauge",
        "Seq of the last record of the chain's verified prefix (the whole chain once the check made at start is done).",
        state.chain.verified().to_string(),
    );
    metric(
        "accord_meetings_index_seq",
        "gauge",
        "Seq of the last record the meetings index holds (it answers meetings as of a date; built by the first such question and caught up by each later one).",
        indexed.to_string(),
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

/// The query of the calendar feed.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CalendarQuery {
    /// Only this governing body's meetings and deadlines (one the log knows).
    #[param(example = "MC")]
    body: Option<String>,
    /// A feed token (`accord token add NAME --role feed`), for calendar applications that
    /// cannot send headers.
    token: Option<String>,
}

/// `GET /calendar.ics[?body=MC]`: public when configured, else any valid token in the header
/// or a feed token in the `token` parameter.
#[utoipa::path(get, path = "/calendar.ics", tag = "feeds", params(CalendarQuery),
    responses(
        (status = 200, description = "Meetings, segments and deadlines, RFC 5545.", content_type = "text/calendar", body = String),
        (status = 400, description = "A body the log does not know, named in `field`.", body = super::openapi::ErrorBody),
        (status = 401, description = "No token, or a token other than a feed token in the address (unless the feed is public).", body = super::openapi::ErrorBody),
    ),
    security((), ("bearer" = []), ("feed_token" = [])))]
pub(super) async fn calendar(
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
    let state_now = shared(&state.store, &Query::default()).await?;
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
    let (store, public_url) = (state.store.clone(), state.public_url.clone());
    let text =
        blocking(move || crate::calendar::feed(&*store, &state_now.views, body, &public_url))
            .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        text,
    )
        .into_response())
}
