//! The dashboard: server-rendered HTML (no JavaScript) over the same views as the API, with an
//! "as of" / "as known at" picker on every page and sign-in by token into an HttpOnly cookie.
//! Templates are minijinja with HTML auto-escaping: every piece of user text is escaped.

use std::collections::BTreeMap;

use axum::extract::{Form, Query as UrlQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::NaiveDate;
use minijinja::{context, Environment, Value};
use serde::Deserialize;

use super::tokens::Role;
use super::{blocking, AppState, Caller};
use crate::projections::{self, Query, Views};

mod detail;
mod record;

pub use detail::{decision_href, group_href, meeting_href, report_href};

const COOKIE: &str = "accord_token";

fn templates() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, text) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("login.html", include_str!("templates/login.html")),
            ("upcoming.html", include_str!("templates/upcoming.html")),
            ("table.html", include_str!("templates/table.html")),
            ("timeline.html", include_str!("templates/timeline.html")),
            ("evaluation.html", include_str!("templates/evaluation.html")),
            ("record.html", include_str!("templates/record.html")),
        ] {
            env.add_template(name, text)
                .expect("the dashboard templates parse");
        }
        env
    })
}

fn render(name: &str, ctx: Value) -> Response {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

fn cookie_token(req: &Request) -> Option<String> {
    let cookies = req.headers().get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == COOKIE).then(|| v.to_string())
    })
}

async fn signed_in(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let token = bearer.or_else(|| cookie_token(&req));
    match token
        .as_deref()
        .and_then(|t| state.check_token(t).map(|c| (t, c)))
    {
        Some((t, (name, role))) => {
            let csrf = record::Csrf::of(t);
            req.extensions_mut().insert(Caller { name, role });
            req.extensions_mut().insert(csrf);
            next.run(req).await
        }
        None => Redirect::to("/login").into_response(),
    }
}

/// The dashboard's routes.
pub fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/upcoming") }))
        .route("/upcoming", get(upcoming::upcoming))
        .route("/timeline", get(timeline::timeline))
        .route("/meetings", get(meetings))
        .route("/meetings/{id}", get(detail::meeting))
        .route("/decisions", get(decisions))
        .route("/decisions/{*symbol}", get(detail::decision))
        .route("/groups", get(groups))
        .route("/groups/{id}", get(detail::group))
        .route("/reports", get(reports))
        .route("/reports/{id}", get(detail::report))
        .route("/trail", get(trail))
        .route("/evaluation", get(evaluation))
        .route("/record", get(record::index))
        .route("/record/{ty}", get(record::form).post(record::submit))
        .layer(middleware::from_fn_with_state(state, signed_in));
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .merge(pages)
}

async fn login_form() -> Response {
    render("login.html", context! {})
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// The sign-in cookie's attributes: `Secure` when people reach the dashboard over HTTPS (the
/// public URL says so, or a TLS proxy in front sets `X-Forwarded-Proto: https`); over plain
/// HTTP a browser would drop a `Secure` cookie everywhere but on localhost, and sign-in would
/// silently fail.
fn cookie_attributes(state: &AppState, headers: &axum::http::HeaderMap) -> &'static str {
    let proxied = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if state.https || proxied {
        "Path=/; HttpOnly; Secure; SameSite=Strict"
    } else {
        "Path=/; HttpOnly; SameSite=Strict"
    }
}

async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let token = f.token.trim();
    if state.check_token(token).is_none() {
        let mut r = render(
            "login.html",
            context! { error => "That token is not valid." },
        );
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/upcoming".to_string()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={token}; {}; Max-Age=43200",
                    cookie_attributes(&state, &headers)
                ),
            ),
        ],
    )
        .into_response()
}

async fn logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}=; {}; Max-Age=0",
                    cookie_attributes(&state, &headers)
                ),
            ),
        ],
    )
        .into_response()
}

/// The query every page takes: the two time axes and page-specific filters.
#[derive(Deserialize, Default)]
struct PageQuery {
    as_of: Option<String>,
    known_at: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

struct Axes {
    query: Query,
    as_of: Option<String>,
    known_at: Option<String>,
}

/// A page that cannot be drawn: a status and a plain message.
struct PageError(StatusCode, String);

impl IntoResponse for PageError {
    /// A page of its own that says what was wrong, with the way back: the same page without
    /// the values asked for, and Upcoming.
    fn into_response(self) -> Response {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not answered · Accord</title></head>\
             <body style=\"font-family:system-ui,sans-serif;margin:2rem\"><h1>That cannot be answered</h1>\
             <p>{}</p><p><a href=\"?\">Back to this page as of today</a> · <a href=\"/upcoming\">Upcoming</a></p></body></html>",
            html_escape(&self.1)
        );
        (self.0, Html(page)).into_response()
    }
}

fn axes(q: &PageQuery) -> Result<Axes, PageError> {
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (as_of, known_at) = (nonempty(&q.as_of), nonempty(&q.known_at));
    let bad = |m: String| PageError(StatusCode::BAD_REQUEST, m);
    Ok(Axes {
        query: Query {
            as_of: as_of
                .as_deref()
                .map(crate::domain::parse_day)
                .transpose()
                .map_err(|e| bad(e.to_string()))?,
            known_at: known_at
                .as_deref()
                .map(super::parse_instant)
                .transpose()
                .map_err(bad)?,
            ..Query::default()
        },
        as_of,
        known_at,
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const NAV: [(&str, &str, &str); 8] = [
    ("upcoming", "/upcoming", "Upcoming"),
    ("timeline", "/timeline", "Timeline"),
    ("meetings", "/meetings", "Meetings"),
    ("decisions", "/decisions", "Decisions and mandates"),
    ("groups", "/groups", "Groups"),
    ("reports", "/reports", "Reports"),
    ("trail", "/trail", "Audit trail"),
    ("evaluation", "/evaluation", "Evaluation"),
];

fn page_ctx(page: &str, title: &str, caller: &Caller, a: &Axes, extra: Value) -> Value {
    let mut pairs = Vec::new();
    if let Some(d) = &a.as_of {
        pairs.push(format!("as_of={}", urlencode(d)));
    }
    if let Some(k) = &a.known_at {
        pairs.push(format!("known_at={}", urlencode(k)));
    }
    let axes_query = if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    };
    // Recorders and admins also get the forms; readers see none.
    let record = ("record", "/record", "Record");
    let nav: Vec<Value> = NAV
        .iter()
        .chain((caller.role != Role::Reader).then_some(&record))
        .map(|(name, href, label)| context! { name => *name, href => *href, label => *label })
        .collect();
    let base = context! {
        page => page,
        title => title,
        caller => format!("{} ({:?})", caller.name, caller.role).to_lowercase(),
        nav => nav,
        axes_query => axes_query,
        as_of => a.as_of.clone(),
        known_at => a.known_at.clone(),
        // The instant as the date-time field shows it (UTC, to the second).
        known_at_local => a.query.known_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
        keep => Vec::<(String, String)>::new(),
    };
    context! { ..extra, ..base }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn views_for(state: &AppState, a: &Axes) -> Result<Views, PageError> {
    blocking(|| projections::views(&*state.store, &a.query))
        .map(|s| s.views)
        .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

macro_rules! try_page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r.into_response(),
        }
    };
}

mod timeline;
mod upcoming;

/// A page drawn with the shared table template.
fn table_page(page: &str, title: &str, caller: &Caller, a: &Axes, extra: Value) -> Response {
    render("table.html", page_ctx(page, title, caller, a, extra))
}

fn section(title: &str, headers: &[&str], rows: Vec<Vec<impl Into<Value>>>) -> Value {
    let rows: Vec<Vec<Value>> = rows
        .into_iter()
        .map(|r| r.into_iter().map(Into::into).collect())
        .collect();
    context! { title => title, headers => headers, rows => rows }
}

fn moves_text(m: &crate::projections::meetings::MeetingRow) -> String {
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

async fn meetings(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let views = try_page!(views_for(&state, &a));
    let mut list: Vec<_> = views.meetings.0.values().collect();
    list.sort_by_key(|m| (m.dates.start(), m.meeting.clone()));
    let mut rows = Vec::new();
    for m in list {
        rows.push(vec![
            detail::link(&m.meeting, meeting_href(&m.meeting)),
            Value::from(m.body.code()),
            Value::from(crate::domain::describe_date(&m.dates)),
            Value::from(m.status.name()),
            Value::from(m.venue.clone().unwrap_or_default()),
            Value::from(m.title.clone()),
            Value::from(moves_text(m)),
        ]);
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
    }
    let sections = if rows.is_empty() {
        vec![]
    } else {
        vec![section(
            "",
            &[
                "Meeting", "Body", "Dates", "Status", "Venue", "Title", "Moves",
            ],
            rows,
        )]
    };
    table_page(
        "meetings",
        "Meetings",
        &caller,
        &a,
        context! { sections => sections },
    )
}

async fn decisions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let views = try_page!(views_for(&state, &a));
    let filter = |k: &str| q.rest.get(k).filter(|v| !v.is_empty()).cloned();
    let (decision, addressee, status) = (filter("decision"), filter("addressee"), filter("status"));
    let mut sections = Vec::new();
    let drows: Vec<Vec<Value>> = views
        .decisions
        .decisions
        .values()
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
    let mandates: Vec<_> = views
        .decisions
        .mandates
        .values()
        .filter(|m| decision.as_ref().is_none_or(|d| *d == m.decision))
        .filter(|m| addressee.as_ref().is_none_or(|x| *x == m.addressee))
        .filter(|m| status.as_ref().is_none_or(|s| s == m.status.name()))
        .collect();
    let mut by_decision: BTreeMap<&str, Vec<Vec<String>>> = BTreeMap::new();
    for m in &mandates {
        by_decision.entry(&m.decision).or_default().push(vec![
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
        ]);
    }
    for (d, rows) in by_decision {
        sections.push(section(
            &format!("Mandates of {d}"),
            &["¶", "Action", "Addressee", "Asks", "Report", "Status"],
            rows,
        ));
    }
    let options = |f: &dyn Fn(&crate::projections::decisions::MandateRow) -> String| {
        let mut v: Vec<String> = views.decisions.mandates.values().map(f).collect();
        v.sort();
        v.dedup();
        v
    };
    let filters = vec![
        context! { label => "Decision", name => "decision", value => decision, options => options(&|m| m.decision.clone()) },
        context! { label => "Addressee", name => "addressee", value => addressee, options => options(&|m| m.addressee.clone()) },
        context! { label => "Status", name => "status", value => status, options => options(&|m| m.status.name().to_string()) },
    ];
    table_page(
        "decisions",
        "Decisions and mandates",
        &caller,
        &a,
        context! { sections => sections, filters => filters },
    )
}

async fn groups(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let views = try_page!(views_for(&state, &a));
    let name = |v: &dyn erased_serialize::Ser| v.name();
    let rows: Vec<Vec<Value>> = views
        .groups
        .0
        .values()
        .map(|g| {
            let cells = vec![
                name(&g.scope),
                g.area.clone().unwrap_or_default(),
                g.decision_area
                    .as_ref()
                    .map(|d| name(d))
                    .unwrap_or_default(),
                g.members
                    .iter()
                    .map(|m| name(m))
                    .collect::<Vec<_>>()
                    .join(", "),
                g.co_chairs.join(", "),
                g.lead_officers
                    .iter()
                    .map(|l| format!("{}: {}", name(&l.entity), l.officer))
                    .collect::<Vec<_>>()
                    .join(", "),
                if g.dissolved.is_some() {
                    "dissolved"
                } else {
                    "active"
                }
                .to_string(),
            ];
            std::iter::once(detail::link(&g.name, group_href(&g.group)))
                .chain(cells.into_iter().map(Value::from))
                .collect()
        })
        .collect();
    let sections = if rows.is_empty() {
        vec![]
    } else {
        vec![section(
            "",
            &[
                "Group",
                "Scope",
                "Area",
                "Decision area",
                "Members",
                "Co-chairs",
                "Lead officers",
                "Status",
            ],
            rows,
        )]
    };
    table_page(
        "groups",
        "Groups",
        &caller,
        &a,
        context! { sections => sections },
    )
}

mod erased_serialize {
    //! The wire name of a serializable enum value, for display.
    pub trait Ser {
        fn name(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn name(&self) -> String {
            match serde_json::to_value(self) {
                Ok(serde_json::Value::String(s)) => s.replace('_', " "),
                _ => String::new(),
            }
        }
    }
}

async fn reports(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let views = try_page!(views_for(&state, &a));
    let rows: Vec<Vec<Value>> = views
        .reports
        .reports
        .values()
        .map(|r| {
            vec![
                detail::link(&r.title, report_href(&r.report)),
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
                Value::from(r.status()),
            ]
        })
        .collect();
    let sections = if rows.is_empty() {
        vec![]
    } else {
        vec![section(
            "",
            &["Report", "Drafted", "Endorsed", "Submitted", "Status"],
            rows,
        )]
    };
    table_page(
        "reports",
        "Reports",
        &caller,
        &a,
        context! { sections => sections },
    )
}

async fn trail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let since: u64 = q
        .rest
        .get("since")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let limit = 50;
    let last = match a.query.known_at {
        Some(t) => try_page!(projections::seq_known_at(&*state.store, t).map_err(|e| (
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string()
        )
            .into_response())),
        None => state.store.head().seq,
    };
    let mut rows = Vec::new();
    let mut next = None;
    for env in state.store.read_from(since) {
        let Ok(env) = env else { break };
        if env.seq > last
            || a.query
                .as_of
                .is_some_and(|d| !env.occurred.is_past_as_of(d))
        {
            continue;
        }
        if rows.len() == limit {
            next = Some(env.seq);
            break;
        }
        let summary = if caller.role < Role::Admin && env.ty == "ReminderScheduled" {
            "reminder scheduled (its recipient is shown to admins)".to_string()
        } else {
            projections::decode(&env)
                .map(|e| crate::domain::summary(&e))
                .unwrap_or_else(|e| e.to_string())
        };
        rows.push(vec![
            env.seq.to_string(),
            env.recorded_at
                .get(..19)
                .unwrap_or(&env.recorded_at)
                .replace('T', " "),
            env.occurred.to_string(),
            env.actor.clone(),
            env.ty.clone(),
            summary,
        ]);
    }
    let store = state.store.clone();
    let report =
        tokio::task::spawn_blocking(move || crate::verify::verify_store(&*store, &mut |_| {}))
            .await
            .ok();
    let note = match report {
        Some(r) if r.intact() => format!(
            "The chain verifies: {} records, last hash {}.",
            r.records, r.last_hash
        ),
        Some(r) => format!(
            "The chain does NOT verify: first bad seq {}: {}.",
            r.first_bad.as_ref().map(|b| b.seq).unwrap_or(0),
            r.first_bad.map(|b| b.reason).unwrap_or_default()
        ),
        None => "The chain could not be checked.".to_string(),
    };
    let next = next.map(|n| {
        let mut url = format!("/trail?since={n}");
        if let Some(d) = &a.as_of {
            url.push_str(&format!("&as_of={}", urlencode(d)));
        }
        if let Some(k) = &a.known_at {
            url.push_str(&format!("&known_at={}", urlencode(k)));
        }
        url
    });
    let sections = vec![context! {
        title => "",
        note => note,
        headers => ["Seq", "Recorded (UTC)", "Occurred", "Who", "Type", "What"],
        rows => rows,
    }];
    table_page(
        "trail",
        "Audit trail",
        &caller,
        &a,
        context! { sections => sections, next => next },
    )
}

/// The evaluation of the history as known at the picker's instant, over an optional period.
async fn evaluation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let day = |k: &str| -> Result<Option<NaiveDate>, PageError> {
        q.rest
            .get(k)
            .filter(|v| !v.is_empty())
            .map(|v| crate::domain::parse_day(v))
            .transpose()
            .map_err(|e| PageError(StatusCode::BAD_REQUEST, e.to_string()))
    };
    // The page's "as of" day evaluates what had happened by then; a body narrows it.
    let body = q.rest.get("body").filter(|b| !b.is_empty()).cloned();
    if let Some(b) = &body {
        try_page!(crate::domain::Body::parse(b).map_err(|e| PageError(StatusCode::BAD_REQUEST, e)));
    }
    let scope = crate::evaluate::Scope {
        from: try_page!(day("from")),
        to: try_page!(day("to")),
        body: body.clone(),
        as_of: a.query.as_of,
    };
    let e = try_page!(
        blocking(|| crate::evaluate::run(&*state.store, &scope, a.query.known_at))
            .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    );
    render(
        "evaluation.html",
        page_ctx(
            "evaluation",
            "Evaluation",
            &caller,
            &a,
            context! {
                report => crate::evaluate::html_body(&e),
                from => scope.from.map(|d| d.to_string()),
                to => scope.to.map(|d| d.to_string()),
                body => body,
            },
        ),
    )
}
