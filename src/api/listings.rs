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
use std::sync::Arc;

/// The query of a read-model listing: both time axes, filters and paging.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Axes {
    /// What had happened by this domain date.
    #[param(value_type = Option<String>, format = Date, example = "2021-03-31")]
    as_of: Option<String>,
    /// What the log held at this recording instant (RFC 3339; a day is its start, UTC).
    #[param(value_type = Option<String>, format = DateTime, example = "2021-04-01T00:00:00Z")]
    known_at: Option<String>,
    /// Only rows of this governing body (one the log knows).
    #[param(example = "MC")]
    body: Option<String>,
    /// Only rows with this status.
    status: Option<String>,
    /// Only rows whose date ends on or after this day.
    #[param(value_type = Option<String>, format = Date, example = "2021-01-01")]
    from: Option<String>,
    /// Only rows whose date starts on or before this day.
    #[param(value_type = Option<String>, format = Date, example = "2021-12-31")]
    to: Option<String>,
    /// Rows per page (1000 unless given).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000, example = 100)]
    limit: Option<String>,
    /// The id of the last row of the previous page; the `Link` header (rel="next") gives the
    /// next page's address.
    #[param(example = "mc-cop-4")]
    after: Option<String>,
    /// Only rows whose id or title holds every word (any case).
    #[param(example = "cop")]
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

/// The answer to an address under `/api/` that names no listing.
pub(super) async fn unknown(UrlPath(name): UrlPath<String>) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        json!({"error": "not_found", "message": format!("no listing `{name}`")}),
    )
}

/// One listing handler per read model, each documented with the rows it answers.
macro_rules! listings {
    ($($handler:ident $path:literal $name:literal $what:ident $row:ident;)*) => {$(
        #[doc = concat!("`GET ", $path, "`: one page of the listing.")]
        #[utoipa::path(get, path = $path, tag = "listings", params(Axes),
            responses(
                (status = 200, description = "One page of rows in the listing's order; a `Link: <…>; rel=\"next\"` header names the next page when there is one.", body = Vec<super::openapi::$row>),
                (status = 400, description = "A bad parameter, named in `field`; valid values listed in `message`.", body = super::openapi::ErrorBody),
            ),
            security(("bearer" = [])))]
        pub(super) async fn $handler(
            State(state): State<AppState>,
            RawQuery(raw): RawQuery,
            q: Result<UrlQuery<Axes>, axum::extract::rejection::QueryRejection>,
        ) -> Listing {
            list(state, $name, What::$what, raw, q).await
        }
    )*};
}

listings! {
    meetings "/api/meetings" "meetings" Meetings MeetingRow;
    decisions "/api/decisions" "decisions" Decisions DecisionRow;
    mandates "/api/mandates" "mandates" Mandates MandateRow;
    groups "/api/groups" "groups" Groups GroupRow;
    reports "/api/reports" "reports" Reports ReportListing;
    activities "/api/activities" "activities" Activities ActivityRow;
    agreements "/api/agreements" "agreements" Agreements AgreementRow;
    timeline "/api/timeline" "timeline" Timeline Entry;
}

async fn list(
    state: AppState,
    name: &'static str,
    w: What,
    raw: Option<String>,
    q: Result<UrlQuery<Axes>, axum::extract::rejection::QueryRejection>,
) -> Listing {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let query = axes(&q)?;
    let filter = filter_of(&q)?;
    let path = format!("/api/{name}");
    if w == What::Timeline {
        let views = shared(&state.store, &query).await?;
        let store = state.store.clone();
        let mut entries =
            blocking(move || projections::timeline::timeline(&*store, &query)).await?;
        listing::filter_timeline(&views.views, &mut entries, &filter)
            .map_err(|e| bad("query", e))?;
        let rows = listing::timeline_rows(&entries).1;
        let (headers, rows) = paged::page_json(rows, "seq", &paging_of!(q), &path, raw.as_deref())?;
        return Ok((headers, Json(Value::Array(rows))));
    }
    if w == What::Meetings && (query.as_of.is_some() || query.known_at.is_some()) {
        let paging = paging_of!(q);
        let rows = meetings_at(&state, &query, &filter, &paging).await?;
        let items: Vec<listing::Item> = rows.iter().map(listing::Item::Meeting).collect();
        let (headers, items) = paged::page(items, &paging, &path, raw.as_deref())?;
        return Ok((
            headers,
            Json(Value::Array(items.iter().map(|i| i.json()).collect())),
        ));
    }
    let views = filtered_views(&state, &query, name, &filter).await?;
    // Only the rows of the page are drawn.
    let items = listing::items(&views.views, w);
    let (headers, items) = paged::page(items, &paging_of!(q), &path, raw.as_deref())?;
    Ok((
        headers,
        Json(Value::Array(items.iter().map(|i| i.json()).collect())),
    ))
}

/// The meetings of a page as of a date or as known at an instant, from the meetings index:
/// the meeting `after` names, then one more than the page's rows, each folded from its own
/// events. The filter's values are checked against the current views.
async fn meetings_at(
    state: &AppState,
    query: &Query,
    filter: &listing::Filter,
    paging: &paged::Paging,
) -> Result<Vec<projections::meetings::MeetingRow>, ApiError> {
    let limit = paged::limit_of(paging)?;
    let current = shared(&state.store, &Query::default()).await?;
    listing::check_filter(&current.views, "meetings", filter).map_err(|e| bad("query", e))?;
    let (store, query, filter, paging) =
        (state.store.clone(), *query, filter.clone(), paging.clone());
    Ok(blocking(move || {
        let kept = listing::meeting_kept(&filter);
        let text = paged::text_matches(&paging);
        let keep = |m: &projections::meetings::MeetingRow| kept(m) && text(&m.meeting, &m.title);
        projections::meetings::index::Reader::new(&*store, &query)?.first(
            &keep,
            paging.after.as_deref(),
            limit + 1,
        )
    })
    .await?)
}

/// The views a query asks for: the shared current state when no axis is given (no copy, no
/// fold while the head stays put), else a fold.
pub(crate) fn shared_views(
    store: &dyn EventStore,
    query: &Query,
) -> Result<std::sync::Arc<projections::State>, StoreError> {
    if query.as_of.is_none() && query.known_at.is_none() {
        projections::current_parts(store, query.parts)
    } else {
        projections::views(store, query).map(std::sync::Arc::new)
    }
}

/// [`shared_views`] for a request. The current views standing at the last durable record are
/// taken as they are, on the request's own task: at once where the store tells its last
/// durable seq without waiting, else once the head is read (awaited, not waited for); any
/// other question folds on the blocking pool.
pub(crate) async fn shared(
    store: &Arc<dyn EventStore>,
    query: &Query,
) -> Result<Arc<projections::State>, StoreError> {
    if query.as_of.is_none() && query.known_at.is_none() {
        if let Some(live) = projections::current_without_waiting(&**store) {
            return Ok(live);
        }
        if store.durable_seq().is_none() {
            let head = store.clone().head_async().await;
            if let Some(live) = projections::current_at(&**store, head.seq) {
                return Ok(live);
            }
        }
    }
    let (store, query) = (store.clone(), *query);
    blocking(move || shared_views(&*store, &query)).await
}

/// [`shared_views`] narrowed by a filter; copied only when the filter narrows something.
async fn filtered_views(
    state: &AppState,
    query: &Query,
    what: &str,
    filter: &listing::Filter,
) -> Result<Arc<projections::State>, ApiError> {
    let mut views = shared(&state.store, query).await?;
    let narrows = filter.body.is_some()
        || filter.status.is_some()
        || filter.from.is_some()
        || filter.to.is_some();
    if narrows {
        let owned = Arc::make_mut(&mut views);
        listing::filter_views(&mut owned.views, what, filter).map_err(|e| bad("query", e))?;
    }
    Ok(views)
}

/// The query of the deadline listing.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct DeadlineQuery {
    /// The day to judge from (today unless given).
    #[param(value_type = Option<String>, format = Date, example = "2021-09-20")]
    as_of: Option<String>,
    /// What the log held at this recording instant (RFC 3339; a day is its start, UTC).
    #[param(value_type = Option<String>, format = DateTime, example = "2021-04-01T00:00:00Z")]
    known_at: Option<String>,
    /// Only deadlines due within this span of the day (days `d` or weeks `w`).
    #[param(pattern = "^[0-9]+(d|w)$", example = "90d")]
    within: Option<String>,
    /// Only deadlines of this governing body (one the log knows).
    #[param(example = "MC")]
    body: Option<String>,
    /// Only deadlines with this status.
    status: Option<String>,
    /// Only deadlines due on or after this day.
    #[param(value_type = Option<String>, format = Date, example = "2021-01-01")]
    from: Option<String>,
    /// Only deadlines due on or before this day.
    #[param(value_type = Option<String>, format = Date, example = "2021-12-31")]
    to: Option<String>,
    /// Rows per page (1000 unless given).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000, example = 100)]
    limit: Option<String>,
    /// The id of the last row of the previous page.
    after: Option<String>,
    /// Only deadlines whose id or step holds every word (any case).
    q: Option<String>,
}

/// `GET /api/deadlines`: deadlines with their status as of a day.
#[utoipa::path(get, path = "/api/deadlines", tag = "listings", params(DeadlineQuery),
    responses(
        (status = 200, description = "One page of deadlines, soonest first; a `Link` header (rel=\"next\") names the next page.", body = Vec<super::openapi::DeadlineListing>),
        (status = 400, description = "A bad parameter, named in `field`.", body = super::openapi::ErrorBody),
    ),
    security(("bearer" = [])))]
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
    let narrows = filter.body.is_some() || filter.status.is_some();
    let views = filtered_views(
        &state,
        &Query {
            as_of,
            known_at,
            parts: listing::deadline_parts(narrows),
            ..Query::default()
        },
        "deadlines",
        &filter,
    )
    .await?;
    let day = as_of.unwrap_or_else(|| Utc::now().date_naive());
    let rows = listing::deadlines(&views.views, day, within).1;
    let (headers, rows) = paged::page_json(
        rows,
        "deadline",
        &paging_of!(q),
        "/api/deadlines",
        raw.as_deref(),
    )?;
    Ok((headers, Json(Value::Array(rows))))
}

/// The query of the reminder listing.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Window {
    /// Reminders firing at or after this instant (RFC 3339; a day is its start, UTC).
    #[param(value_type = Option<String>, format = DateTime, example = "2021-12-01T00:00:00Z")]
    from: Option<String>,
    /// Reminders firing at or before this instant.
    #[param(value_type = Option<String>, format = DateTime, example = "2021-12-31T00:00:00Z")]
    to: Option<String>,
    /// Only reminders about this governing body's deadlines.
    #[param(example = "MC")]
    body: Option<String>,
    /// Only reminders with this status.
    status: Option<String>,
    /// Rows per page (1000 unless given).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000, example = 100)]
    limit: Option<String>,
    /// The id of the last row of the previous page.
    after: Option<String>,
    /// Only reminders whose id holds every word (any case).
    q: Option<String>,
}

/// `GET /api/reminders`: reminders by fire time; recipients for admins only.
#[utoipa::path(get, path = "/api/reminders", tag = "listings", params(Window),
    responses(
        (status = 200, description = "One page of reminders by fire time; `recipient` only for admin tokens.", body = Vec<super::openapi::ReminderListing>),
        (status = 400, description = "A bad parameter, named in `field`.", body = super::openapi::ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn reminders(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    q: Result<UrlQuery<Window>, axum::extract::rejection::QueryRejection>,
) -> Listing {
    let UrlQuery(q) = q.map_err(|e| bad("query", e.body_text()))?;
    let from = instant_param(&q.from, "from")?;
    let to = instant_param(&q.to, "to")?;
    let filter = listing::Filter {
        body: q.body.clone(),
        status: q.status.clone(),
        ..Default::default()
    };
    let views = filtered_views(&state, &Query::default(), "reminders", &filter).await?;
    let mut rows = listing::reminders(&views.views, from, to, None).1;
    if caller.role < Role::Admin {
        for r in &mut rows {
            if let Some(o) = r.as_object_mut() {
                o.remove("recipient");
            }
        }
    }
    let (headers, rows) = paged::page_json(
        rows,
        "reminder",
        &paging_of!(q),
        "/api/reminders",
        raw.as_deref(),
    )?;
    Ok((headers, Json(Value::Array(rows))))
}
