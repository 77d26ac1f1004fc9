//! The listing pages (meetings, decisions and mandates, groups, reports): one page of rows at a
//! time, soonest or newest first, with text, body, status and date filters.

use axum::extract::{Query as UrlQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use minijinja::{context, Value};

use super::detail::{self, decision_href, group_href, meeting_href, report_href};
use super::paging::Paging;
use super::{axes, erased_serialize, section, table_page, views_for, views_of, PageQuery};
use crate::api::{AppState, Caller};
use crate::projections::decisions::MandateRow;
use crate::projections::meetings::MeetingRow;
use crate::projections::Parts;

/// The statuses each listing filters by, as `accord show --status` takes them.
fn statuses(what: &str) -> &'static [&'static str] {
    crate::listing::statuses(what)
}

/// The one untitled table of a listing, or none when it has no rows.
fn one_table(headers: &[&str], rows: Vec<Vec<Value>>) -> Vec<Value> {
    if rows.is_empty() {
        vec![]
    } else {
        vec![section("", headers, rows)]
    }
}

/// A sort key that orders by day, then by id (ISO days sort as text).
fn key(day: impl std::fmt::Display, id: &str) -> String {
    format!("{day}\u{1f}{id}")
}

fn moves_text(m: &MeetingRow) -> String {
    m.moves
        .iter()
        .map(|mv| {
            format!(
                "{}{} → {} ({}, {})",
                mv.segment
                    .as_deref()
                    .map(|s| format!("{s}: "))
                    .unwrap_or_default(),
                mv.from,
                mv.to,
                mv.kind,
                mv.occurred
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The bodies a listing's rows name, for its picker.
fn bodies<'a>(codes: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = codes.map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

fn meeting_rows(m: &MeetingRow) -> Vec<Vec<Value>> {
    let mut rows = vec![vec![
        detail::link(&m.meeting, meeting_href(&m.meeting)),
        Value::from(m.body.code()),
        Value::from(crate::domain::describe_date(&m.dates)),
        Value::from(m.status.name()),
        Value::from(m.venue.clone().unwrap_or_default()),
        Value::from(m.title.clone()),
        Value::from(moves_text(m)),
    ]];
    for s in &m.segments {
        rows.push(
            [
                format!("↳ {}", s.segment),
                String::new(),
                crate::domain::describe_date(&s.dates),
                s.status.name().to_string(),
                s.venue.clone().unwrap_or_default(),
                s.title.clone().unwrap_or_default(),
                String::new(),
            ]
            .into_iter()
            .map(Value::from)
            .collect(),
        );
    }
    rows
}

pub(super) async fn meetings(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let p = try_page!(Paging::of(&q.rest));
    try_page!(p.check_status(statuses("meetings")));
    let views = try_page!(views_of(&state, &a, Parts::MEETINGS).await);
    let all = &views.meetings.0;
    let status_of = |m: &MeetingRow| {
        p.has_status(m.status.name()) || m.segments.iter().any(|s| p.has_status(s.status.name()))
    };
    let spans = |m: &MeetingRow| {
        p.overlaps(
            m.dates.start(),
            m.dates.end().unwrap_or(chrono::NaiveDate::MAX),
        ) || m.segments.iter().any(|s| {
            p.overlaps(
                s.dates.start(),
                s.dates.end().unwrap_or(chrono::NaiveDate::MAX),
            )
        })
    };
    let mut list: Vec<(String, &MeetingRow)> = all
        .values()
        .filter(|m| {
            (p.has_body(m.body.code()) || m.bodies.iter().any(|b| p.has_body(b.code())))
                && status_of(m)
                && spans(m)
                && p.has_text(&[&m.meeting, &m.title])
        })
        .map(|m| (key(m.dates.start(), &m.meeting), m))
        .collect();
    list.sort_by(|x, y| x.0.cmp(&y.0));
    let w = p.window(list, false);
    let rows: Vec<Vec<Value>> = w.items.iter().flat_map(|m| meeting_rows(m)).collect();
    let sections = one_table(
        &[
            "Meeting", "Body", "Dates", "Status", "Venue", "Title", "Moves",
        ],
        rows,
    );
    let filters = p.fields(
        bodies(all.values().map(|m| m.body.code())),
        statuses("meetings"),
        true,
    );
    table_page(
        "meetings",
        "Meetings",
        &caller,
        &a,
        context! { sections, filters, paging => p.nav("/meetings", &w) },
    )
}

fn mandate_cells(m: &MandateRow) -> Vec<String> {
    vec![
        m.paragraph.clone(),
        format!("{:?}", m.action).to_lowercase(),
        m.addressee.clone(),
        m.asks.clone(),
        m.report_at
            .clone()
            .map(|r| format!("at {r}"))
            .or(m.report_by.map(|d| format!("by {d}")))
            .unwrap_or_default(),
        m.status.name().to_string(),
    ]
}

pub(super) async fn decisions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let p = try_page!(Paging::of(&q.rest));
    try_page!(p.check_status(statuses("mandates")));
    let views = try_page!(views_for(&state, &a).await);
    let v: &crate::projections::Views = &views;
    let addressee = q
        .rest
        .get("addressee")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let wanted = |m: &MandateRow| {
        p.has_status(m.status.name())
            && addressee
                .as_ref()
                .is_none_or(|x| m.addressee.to_lowercase().contains(x.as_str()))
    };
    let by_mandate = p.status.is_some() || addressee.is_some();
    let mandates_of = |symbol: &str| {
        let prefix = format!("{symbol}#");
        v.decisions
            .mandates
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, m)| m)
            .filter(|m| wanted(m))
            .collect::<Vec<_>>()
    };
    let body_of = |d: &crate::projections::decisions::DecisionRow| {
        d.body
            .or_else(|| v.meetings.0.get(&d.meeting).map(|m| m.body))
            .map(|b| b.code().to_string())
            .unwrap_or_default()
    };
    let mut list: Vec<_> = v
        .decisions
        .decisions
        .values()
        .filter(|d| {
            p.has_body(&body_of(d))
                && p.overlaps(d.adopted.0, d.adopted.0)
                && p.has_text(&[&d.symbol, &d.title, &d.meeting])
                && (!by_mandate || !mandates_of(&d.symbol).is_empty())
        })
        .map(|d| (key(d.adopted, &d.symbol), d))
        .collect();
    list.sort_by(|x, y| y.0.cmp(&x.0));
    let w = p.window(list, true);
    let mut sections = Vec::new();
    let drows: Vec<Vec<Value>> = w
        .items
        .iter()
        .map(|d| {
            vec![
                detail::link(&d.symbol, decision_href(&d.symbol)),
                detail::link(&d.meeting, meeting_href(&d.meeting)),
                Value::from(d.adopted.to_string()),
                Value::from(d.title.clone()),
                Value::from(d.relations()),
            ]
        })
        .collect();
    if !drows.is_empty() {
        sections.push(section(
            "Decisions",
            &["Symbol", "Meeting", "Adopted", "Title", "Relations"],
            drows,
        ));
    }
    for d in &w.items {
        let rows: Vec<Vec<String>> = mandates_of(&d.symbol)
            .into_iter()
            .map(mandate_cells)
            .collect();
        if !rows.is_empty() {
            sections.push(section(
                &format!("Mandates of {}", d.symbol),
                &["¶", "Action", "Addressee", "Asks", "Report", "Status"],
                rows,
            ));
        }
    }
    let mut filters = p.fields(
        bodies(v.meetings.0.values().map(|m| m.body.code())),
        statuses("mandates"),
        true,
    );
    filters.insert(
        1,
        context! { kind => "text", label => "Addressee", name => "addressee", value => addressee },
    );
    table_page(
        "decisions",
        "Decisions and mandates",
        &caller,
        &a,
        context! { sections, filters, paging => p.nav("/decisions", &w) },
    )
}

pub(super) async fn groups(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let p = try_page!(Paging::of(&q.rest));
    try_page!(p.check_status(statuses("groups")));
    let views = try_page!(views_for(&state, &a).await);
    let name = |v: &dyn erased_serialize::Ser| v.name();
    let status = |g: &crate::projections::groups::GroupRow| {
        if g.dissolved.is_some() {
            "dissolved"
        } else {
            "active"
        }
    };
    let mut list: Vec<_> = views
        .groups
        .0
        .values()
        .filter(|g| {
            p.has_status(status(g))
                && p.overlaps(
                    g.established.start(),
                    g.dissolved
                        .as_ref()
                        .and_then(|d| d.end())
                        .unwrap_or(chrono::NaiveDate::MAX),
                )
                && p.has_text(&[&g.group, &g.name, g.area.as_deref().unwrap_or("")])
        })
        .map(|g| (format!("{}\u{1f}{}", g.name.to_lowercase(), g.group), g))
        .collect();
    list.sort_by(|x, y| x.0.cmp(&y.0));
    let w = p.window(list, false);
    let rows: Vec<Vec<Value>> = w
        .items
        .iter()
        .map(|g| {
            let lead = g
                .lead_officers
                .iter()
                .map(|l| format!("{}: {}", name(&l.entity), l.officer))
                .chain(g.co_chairs.iter().map(|c| format!("co-chair: {c}")))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                detail::link(&g.name, group_href(&g.group)),
                Value::from(status(g)),
                Value::from(name(&g.scope)),
                Value::from(g.area.clone().unwrap_or_default()),
                Value::from(lead),
                Value::from(
                    g.members
                        .iter()
                        .map(|m| name(m))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ]
        })
        .collect();
    let sections = one_table(
        &["Group", "Status", "Scope", "Area", "Leads", "Members"],
        rows,
    );
    let filters = p.fields(vec![], statuses("groups"), true);
    table_page(
        "groups",
        "Groups",
        &caller,
        &a,
        context! { sections, filters, paging => p.nav("/groups", &w) },
    )
}

pub(super) async fn reports(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let p = try_page!(Paging::of(&q.rest));
    try_page!(p.check_status(statuses("reports")));
    let views = try_page!(views_for(&state, &a).await);
    let mut list: Vec<_> = views
        .reports
        .reports
        .values()
        .filter(|r| {
            p.has_status(r.status())
                && p.overlaps(r.drafted.on.start(), r.drafted.on.start())
                && p.has_text(&[&r.report, &r.title])
        })
        .map(|r| (key(r.drafted.on.start(), &r.report), r))
        .collect();
    list.sort_by(|x, y| y.0.cmp(&x.0));
    let w = p.window(list, true);
    let rows: Vec<Vec<Value>> = w
        .items
        .iter()
        .map(|r| {
            vec![
                detail::link(&r.title, report_href(&r.report)),
                Value::from(r.status()),
                Value::from(format!("{} by {}", r.drafted.on, r.drafted.by.join(", "))),
                Value::from(
                    r.endorsed
                        .as_ref()
                        .map(|e| format!("{} by {}", e.on, e.by.join(", ")))
                        .unwrap_or_default(),
                ),
                Value::from(
                    r.submitted
                        .iter()
                        .map(|s| format!("{} to {} ({})", s.document, s.meeting, s.on))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ]
        })
        .collect();
    let sections = one_table(
        &["Report", "Status", "Drafted", "Endorsed", "Submitted"],
        rows,
    );
    let filters = p.fields(vec![], statuses("reports"), true);
    table_page(
        "reports",
        "Reports",
        &caller,
        &a,
        context! { sections, filters, paging => p.nav("/reports", &w) },
    )
}
