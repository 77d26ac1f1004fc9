//! One page per meeting, decision, group and report: everything the log holds about it in one
//! place (a meeting's sessions and segments, decisions, documents, deadlines, reminders and
//! trail; a decision's mandates with their statuses and report-backs; a group's members, leads,
//! activities and reports; a report's steps and submissions). Listings, emails and calendar
//! entries link here.

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use minijinja::{context, Value};

use super::{axes, page_ctx, render, views_for, Axes, PageError, PageQuery};
use crate::api::tokens::Role;
use crate::api::{blocking, AppState, Caller};
use crate::domain::describe_date;
use crate::projections::Views;
use crate::store::{EventStore, StoreError};

mod work;
pub(super) use work::{group, report};
pub(crate) use work::{group_sections, report_sections};

/// A table cell that links: `{text, href}`; the template draws it as a link.
pub(super) fn link(text: &str, href: String) -> Value {
    context! { text => text, href => href }
}

/// The address of a meeting's page.
pub fn meeting_href(id: &str) -> String {
    format!("/meetings/{}", super::urlencode(id))
}

/// The address of a decision's page (symbols hold `/`: `MC-3/11`).
pub fn decision_href(symbol: &str) -> String {
    format!("/decisions/{}", symbol)
}

fn cells(row: Vec<String>) -> Vec<Value> {
    row.into_iter().map(Value::from).collect()
}

fn table(title: &str, headers: &[&str], rows: Vec<Vec<Value>>) -> Option<Value> {
    (!rows.is_empty()).then(|| context! { title => title, headers => headers, rows => rows })
}

/// The trail of one stream as a table, newest first.
fn trail_table(store: &dyn EventStore, stream: &str) -> Result<Option<Value>, StoreError> {
    Ok(table(
        "Trail",
        &["Seq", "Occurred", "Recorded", "Type", "Actor", "Summary"],
        trail(store, stream)?,
    ))
}

/// The trail of one stream, newest first, as rows.
fn trail(store: &dyn EventStore, stream: &str) -> Result<Vec<Vec<Value>>, StoreError> {
    let records = store.read_stream(stream)?;
    Ok(records
        .iter()
        .rev()
        .map(|env| {
            let summary = crate::projections::decode(env)
                .map(|e| crate::domain::summary(&e))
                .unwrap_or_default();
            cells(vec![
                env.seq.to_string(),
                env.occurred.to_string(),
                env.recorded_at.chars().take(19).collect(),
                env.ty.clone(),
                env.actor.clone(),
                summary,
            ])
        })
        .collect())
}

fn deadlines_and_reminders(
    views: &Views,
    role: Role,
    belongs: impl Fn(&crate::projections::work::DeadlineRow) -> bool,
) -> (Vec<Vec<Value>>, Vec<Vec<Value>>) {
    let today = chrono::Utc::now().date_naive();
    let mut ds: Vec<_> = views
        .work
        .deadlines
        .values()
        .filter(|d| belongs(d))
        .collect();
    ds.sort_by_key(|d| (d.due, d.deadline.clone()));
    let deadlines = ds
        .iter()
        .map(|d| {
            cells(vec![
                d.due.to_string(),
                crate::listing::deadline_status(d, today).to_string(),
                d.what.clone(),
                d.responsible.join(", "),
            ])
        })
        .collect();
    let mut rs: Vec<_> = views
        .work
        .reminders
        .values()
        .filter(|r| {
            r.deadline
                .as_deref()
                .is_some_and(|id| ds.iter().any(|d| d.deadline == id))
        })
        .collect();
    rs.sort_by_key(|r| r.fire_at);
    let reminders = rs
        .iter()
        .map(|r| {
            cells(vec![
                r.fire_at.0.format("%Y-%m-%d %H:%M").to_string(),
                format!("{:?}", r.status).to_lowercase(),
                if role == Role::Admin {
                    r.recipient.clone()
                } else {
                    "(admins see recipients)".into()
                },
                r.deadline.clone().unwrap_or_default(),
            ])
        })
        .collect();
    (deadlines, reminders)
}

/// The page's time axes and the views they ask for.
async fn axes_and_views(
    state: &AppState,
    q: &PageQuery,
) -> Result<(Axes, super::Shared), PageError> {
    let a = axes(q)?;
    let views = views_for(state, &a).await?;
    Ok((a, views))
}

fn not_found(what: &str, id: &str) -> Response {
    PageError(
        StatusCode::NOT_FOUND,
        format!("no {what} `{id}` in the log"),
    )
    .into_response()
}

/// A detail page's title and its tables (`None` where a table would be empty).
pub(crate) type Detail = (String, Vec<Option<Value>>);

/// What builds one item's page: from the store, the views, the reader's role and the item's id.
pub(crate) type Build =
    fn(&dyn EventStore, &Views, Role, &str) -> Result<Option<Detail>, StoreError>;

/// The page an item's sections make, or "not found", or the store's failure.
async fn show(
    state: &AppState,
    caller: &Caller,
    q: &PageQuery,
    what: &str,
    id: &str,
    build: Build,
) -> Response {
    let (a, views) = match axes_and_views(state, q).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let (store, role, id_owned) = (state.store.clone(), caller.role, id.to_string());
    let built = blocking(move || build(&*store, &views, role, &id_owned)).await;
    match built {
        Ok(Some((title, tables))) => page(&title, caller, &a, tables),
        Ok(None) => not_found(what, id),
        Err(e) => PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn page(title: &str, caller: &Caller, a: &Axes, tables: Vec<Option<Value>>) -> Response {
    let sections: Vec<Value> = tables.into_iter().flatten().collect();
    render(
        "table.html",
        page_ctx(
            "detail",
            title,
            caller,
            a,
            context! { sections => sections },
        ),
    )
}

/// `/meetings/{id}`.
/// The page of one meeting.
pub(super) async fn meeting(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    show(&state, &caller, &q, "meeting", &id, meeting_sections).await
}

/// `meeting` page sections: its title and tables, or `None` when the log has no such meeting.
pub(crate) fn meeting_sections(
    store: &dyn EventStore,
    views: &Views,
    role: Role,
    id: &str,
) -> Result<Option<Detail>, StoreError> {
    let id = id.to_string();
    let Some(m) = views.meetings.0.get(&id) else {
        return Ok(None);
    };
    let mut bodies = vec![m.body.code().to_string()];
    bodies.extend(m.bodies.iter().map(|b| b.code().to_string()));
    let facts = vec![
        cells(vec!["Body".into(), bodies.join(", ")]),
        cells(vec![
            "Dates".into(),
            if m.to_be_determined {
                format!(
                    "{} (postponed, new dates to be determined)",
                    describe_date(&m.dates)
                )
            } else {
                describe_date(&m.dates)
            },
        ]),
        cells(vec!["Status".into(), m.status.name().into()]),
        cells(vec!["Venue".into(), m.venue.clone().unwrap_or_default()]),
        cells(vec![
            "Mode".into(),
            m.mode
                .map(|x| format!("{x:?}").to_lowercase())
                .unwrap_or_default(),
        ]),
    ];
    let segments = m
        .segments
        .iter()
        .map(|s| {
            cells(vec![
                s.segment.clone(),
                describe_date(&s.dates),
                s.status.name().into(),
                s.venue.clone().unwrap_or_default(),
                s.mode
                    .map(|x| format!("{x:?}").to_lowercase())
                    .unwrap_or_default(),
                s.decisions.join(", "),
            ])
        })
        .collect();
    let sessions = m
        .sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            cells(vec![
                (i + 1).to_string(),
                describe_date(&s.dates),
                s.status.name().into(),
                s.venue.clone().unwrap_or_default(),
                s.mode
                    .map(|x| format!("{x:?}").to_lowercase())
                    .unwrap_or_default(),
            ])
        })
        .collect();
    let moves = m
        .moves
        .iter()
        .map(|mv| {
            cells(vec![
                mv.occurred.to_string(),
                mv.segment.clone().unwrap_or_default(),
                mv.kind.clone(),
                mv.from.to_string(),
                if mv.to_be_determined {
                    "to be determined".into()
                } else {
                    mv.to.to_string()
                },
                mv.decided_by.clone().unwrap_or_default(),
            ])
        })
        .collect();
    let decisions = m
        .decisions
        .iter()
        .filter_map(|s| views.decisions.decisions.get(s))
        .map(|d| {
            vec![
                link(&d.symbol, decision_href(&d.symbol)),
                Value::from(d.segment.clone().unwrap_or_default()),
                Value::from(d.adopted.to_string()),
                Value::from(d.title.clone()),
            ]
        })
        .collect();
    let documents = m
        .documents
        .iter()
        .map(|d| {
            cells(vec![
                d.document.clone(),
                d.kind.replace('_', " "),
                d.for_id.clone(),
                d.on.to_string(),
            ])
        })
        .collect();
    let ids: Vec<&str> = std::iter::once(m.meeting.as_str())
        .chain(m.segments.iter().map(|s| s.segment.as_str()))
        .collect();
    let (deadlines, reminders) = deadlines_and_reminders(views, role, |d| {
        d.meeting.as_deref().is_some_and(|x| ids.contains(&x))
    });
    let trail = trail_table(store, &format!("meeting/{id}"))?;
    Ok(Some((
        format!("{} ({id})", m.title),
        vec![
            table("", &["", ""], facts),
            table(
                "Segments",
                &["Segment", "Dates", "Status", "Venue", "Mode", "Decisions"],
                segments,
            ),
            table(
                "Sessions",
                &["Session", "Dates", "Status", "Venue", "Mode"],
                sessions,
            ),
            table(
                "Moves",
                &[
                    "Recorded as of",
                    "Segment",
                    "Kind",
                    "From",
                    "To",
                    "Decided by",
                ],
                moves,
            ),
            table(
                "Decisions",
                &["Symbol", "Segment", "Adopted", "Title"],
                decisions,
            ),
            table("Documents", &["Document", "Kind", "For", "On"], documents),
            table(
                "Deadlines",
                &["Due", "Status", "What", "Responsible"],
                deadlines,
            ),
            table(
                "Reminders",
                &["Fires", "Status", "To", "Deadline"],
                reminders,
            ),
            trail,
        ],
    )))
}

/// `/decisions/{symbol}` (the symbol may hold `/`).
/// The page of one decision.
pub(super) async fn decision(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(symbol): Path<String>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    show(&state, &caller, &q, "decision", &symbol, decision_sections).await
}

/// `decision` page sections: its title and tables, or `None` when the log has no such decision.
pub(crate) fn decision_sections(
    store: &dyn EventStore,
    views: &Views,
    role: Role,
    symbol: &str,
) -> Result<Option<Detail>, StoreError> {
    let symbol = symbol.to_string();
    let Some(d) = views.decisions.decisions.get(&symbol) else {
        return Ok(None);
    };
    let body = d
        .body
        .map(|b| b.code().to_string())
        .or_else(|| {
            views
                .meetings
                .find(&d.meeting)
                .map(|m| m.body.code().to_string())
        })
        .unwrap_or_default();
    let facts = vec![
        vec![
            Value::from("Meeting"),
            link(&d.meeting, meeting_href(&d.meeting)),
        ],
        cells(vec![
            "Segment".into(),
            d.segment.clone().unwrap_or_default(),
        ]),
        cells(vec!["Body".into(), body]),
        cells(vec!["Adopted".into(), d.adopted.to_string()]),
        cells(vec!["Title".into(), d.title.clone()]),
        cells(vec!["Relations".into(), d.relations()]),
    ];
    let mandates = d
        .mandates
        .iter()
        .filter_map(|id| views.decisions.mandates.get(id))
        .map(|m| {
            cells(vec![
                m.paragraph.clone(),
                format!("{:?}", m.action).to_lowercase(),
                m.addressee.clone(),
                m.asks.clone(),
                match (&m.report_at, &m.report_by) {
                    (Some(at), _) => format!("at {at}"),
                    (None, Some(by)) => format!("by {by}"),
                    _ => String::new(),
                },
                m.status.name().into(),
                m.since.to_string(),
            ])
        })
        .collect();
    let (deadlines, reminders) = deadlines_and_reminders(views, role, |x| {
        x.mandate
            .as_deref()
            .is_some_and(|m| m.split_once('#').is_some_and(|(s, _)| s == symbol))
    });
    let trail = trail_table(store, &format!("decision/{symbol}"))?;
    Ok(Some((
        format!("{symbol}: {}", d.title),
        vec![
            table("", &["", ""], facts),
            table(
                "Mandates",
                &[
                    "Paragraph",
                    "Action",
                    "Addressee",
                    "Asks",
                    "Report",
                    "Status",
                    "Since",
                ],
                mandates,
            ),
            table(
                "Report-back deadlines",
                &["Due", "Status", "What", "Responsible"],
                deadlines,
            ),
            table(
                "Reminders",
                &["Fires", "Status", "To", "Deadline"],
                reminders,
            ),
            trail,
        ],
    )))
}

/// The address of a group's page.
pub fn group_href(id: &str) -> String {
    format!("/groups/{}", super::urlencode(id))
}

/// The address of a report's page.
pub fn report_href(id: &str) -> String {
    format!("/reports/{}", super::urlencode(id))
}

/// A link to a decision, or to the decision of a mandate (`MC-3/11#2`).
fn decision_link(reference: &str) -> Value {
    let symbol = reference.split('#').next().unwrap_or(reference);
    link(reference, decision_href(symbol))
}
