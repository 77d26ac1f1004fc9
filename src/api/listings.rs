//! The JSON listings of the API: the read models on both time axes with their filters, the
//! deadlines and the reminders, a page at a time.

use axum::extract::{Extension, Path as UrlPath, Query as UrlQuery, RawQuery, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::tokens::Role;
use super::{bad, blocking, paged, ApiError, AppState, Caller};
use crate::listing::{self, What};
use crate::projections::{self, Query};
use crate::store::{EventStore, StoreError};
use axum::http::StatusCode;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Axes {
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

/// A day parameter, if given; a bad one names its field.
fn day_param(v: &Option<String>, field: &str) -> Result<Option<NaiveDate>, ApiError> {
    v.as_deref()
        .map(crate::domain::parse_day)
        .transpose()
        .map_err(|e| bad(field, e.to_string()))
}

/// An instant parameter, if given; a bad one names its field.
fn instant_param(v: &Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.as_deref()
        .map(parse_instant)
        .transpose()
        .map_err(|e| bad(field, e))
}

fn filter_of(q: &Axes) -> Result<listing::Filter, ApiError> {
    Ok(listing::Filter {
        body: q.body.clone(),
        status: q.status.clone(),
        from: day_param(&q.from, "from")?,
        to: day_param(&q.to, "to")?,
        on: None,
    })
}

fn axes(q: &Axes) -> Result<Query, ApiError> {
    Ok(Query {
        as_of: day_param(&q.as_of, "as_of")?,
        known_at: instant_param(&q.known_at, "known_at")?,
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

pub(super) async fn list(
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
pub(super) struct DeadlineQuery {
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

pub(super) async fn deadlines(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    q: Result<UrlQuery<DeadlineQuery>, axum::extract::rejection::QueryRejection>,
) -> Listing {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let as_of = day_param(&q.as_of, "as_of")?;
    let within = q
        .within
        .as_deref()
        .map(crate::workflows::definition::parse_span)
        .transpose()
        .map_err(|e| bad("within", e))?;
    let known_at = instant_param(&q.known_at, "known_at")?;
    let filter = listing::Filter {
        body: q.body.clone(),
        status: q.status.clone(),
        from: day_param(&q.from, "from")?,
        to: day_param(&q.to, "to")?,
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
pub(super) struct Window {
    from: Option<String>,
    to: Option<String>,
    body: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    q: Option<String>,
}

pub(super) async fn reminders(
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
