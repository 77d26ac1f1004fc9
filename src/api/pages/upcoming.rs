//! The Upcoming page: what is overdue and missed first, then what is due this week, then the
//! rest of the 90 days by meeting, each deadline with its reminders.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query as UrlQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{NaiveDate, Utc};
use minijinja::{context, Value};

use super::paging::Paging;
use super::{axes, page_ctx, render, views_for, PageQuery};
use crate::api::tokens::Role;
use crate::api::{AppState, Caller};
use crate::projections::work::DeadlineStatus;

pub(super) async fn upcoming(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let p = try_page!(Paging::of(&q.rest));
    let views = try_page!(views_for(&state, &a).await);
    let day = a.query.as_of.unwrap_or_else(|| Utc::now().date_naive());
    let until = day + chrono::Days::new(90);
    let week = day + chrono::Days::new(7);
    // What is late comes first (missed, or open past its day, newest first, a page at a time),
    // then what is due this week, then the rest of the 90 days by meeting.
    let mut late: Vec<Value> = Vec::new();
    let mut this_week: Vec<Value> = Vec::new();
    let mut by_meeting: BTreeMap<(NaiveDate, String), Vec<Value>> = BTreeMap::new();
    let (mut past, mut coming): (Vec<_>, Vec<_>) = views
        .work
        .deadlines
        .values()
        .filter(|d| {
            let past =
                d.due.0 < day && matches!(d.status, DeadlineStatus::Open | DeadlineStatus::Missed);
            past || (d.due.0 >= day && d.due.0 <= until && d.status != DeadlineStatus::Cancelled)
        })
        .partition(|d| d.due.0 < day);
    past.sort_by(|x, y| (y.due, &y.deadline).cmp(&(x.due, &x.deadline)));
    coming.sort_by_key(|d| (d.due, d.deadline.clone()));
    let late_page = p.window(
        past.into_iter()
            .map(|d| (format!("{}\u{1f}{}", d.due, d.deadline), d))
            .collect(),
        true,
    );
    let mut by_deadline: HashMap<&str, Vec<_>> = HashMap::new();
    for r in views.work.reminders.values() {
        if let Some(d) = r.deadline.as_deref() {
            by_deadline.entry(d).or_default().push(r);
        }
    }
    for d in late_page.items.iter().chain(coming.iter()) {
        let status = crate::listing::deadline_status(d, day);
        let mut mine = by_deadline.remove(d.deadline.as_str()).unwrap_or_default();
        mine.sort_by_key(|r| r.fire_at);
        let reminders: Vec<Value> = mine
            .into_iter()
            .map(|r| {
                context! {
                    fire_at => r.fire_at.0.format("%Y-%m-%d").to_string(),
                    status => format!("{:?}", r.status).to_lowercase(),
                    recipient => (caller.role == Role::Admin).then(|| r.recipient.clone()),
                }
            })
            .collect();
        let meeting = d.meeting.as_deref().and_then(|id| views.meetings.find(id));
        let of = match meeting {
            Some(m) => format!("{} ({})", m.title, d.meeting.clone().unwrap_or_default()),
            None => String::new(),
        };
        let row = |what: String| {
            context! {
                due => d.due.to_string(),
                status => status,
                what => what,
                responsible => d.responsible.clone(),
                reminders => reminders.clone(),
            }
        };
        if d.due.0 < day {
            let what = if of.is_empty() {
                d.what.clone()
            } else {
                format!("{} — {of}", d.what)
            };
            late.push(row(what));
        } else if d.due.0 < week {
            let what = if of.is_empty() {
                d.what.clone()
            } else {
                format!("{} — {of}", d.what)
            };
            this_week.push(row(what));
        } else {
            let key = match meeting {
                Some(m) => (m.dates.start(), of.clone()),
                None => (NaiveDate::MAX, "Other deadlines".to_string()),
            };
            by_meeting.entry(key).or_default().push(row(d.what.clone()));
        }
    }
    let mut groups: Vec<Value> = Vec::new();
    if !late.is_empty() {
        groups.push(context! { title => "Overdue and missed", late => true, deadlines => late });
    }
    if !this_week.is_empty() {
        groups.push(context! { title => "Due this week", deadlines => this_week });
    }
    groups.extend(
        by_meeting
            .into_iter()
            .map(|((_, title), deadlines)| context! { title => title, deadlines => deadlines }),
    );
    render(
        "upcoming.html",
        page_ctx(
            "upcoming",
            "Upcoming",
            &caller,
            &a,
            context! { groups => groups, day => day.to_string(), paging => p.nav("/upcoming", &late_page) },
        ),
    )
}
