//! The dashboard: server-rendered HTML (no JavaScript) over the same views as the API, with an
//! "as of" / "as known at" picker on every page and sign-in by token into an HttpOnly cookie.
//! Templates are minijinja with HTML auto-escaping: every piece of user text is escaped.

use std::collections::BTreeMap;

use axum::extract::{Form, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Environment, Value};
use serde::Deserialize;

use super::tls::Peer;
use super::tokens::Role;
use super::{AppState, Caller};
use crate::projections::{self, Query, Views};

mod detail;
mod record;

pub use detail::{decision_href, group_href, meeting_href, report_href};
pub(crate) use detail::{
    decision_sections, group_sections, meeting_sections, report_sections, Build, Detail,
};

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
        .filter(|(_, (_, role))| *role != Role::Feed)
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

/// The dashboard's icon: a seal-blue square with a white check.
async fn favicon() -> Response {
    const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#12355b"/><path d="M8 17l5 5 11-12" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round"/></svg>"##;
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

/// The dashboard's routes.
pub fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/upcoming") }))
        .route("/upcoming", get(upcoming::upcoming))
        .route("/timeline", get(timeline::timeline))
        .route("/meetings", get(listings::meetings))
        .route("/meetings/{id}", get(detail::meeting))
        .route("/decisions", get(listings::decisions))
        .route("/decisions/{*symbol}", get(detail::decision))
        .route("/groups", get(listings::groups))
        .route("/groups/{id}", get(detail::group))
        .route("/reports", get(listings::reports))
        .route("/reports/{id}", get(detail::report))
        .route("/trail", get(trail::trail))
        .route("/evaluation", get(trail::evaluation))
        .route("/evaluation.csv", get(trail::evaluation_csv))
        .route("/record", get(record::index))
        .route("/record/{ty}", get(record::form).post(record::submit))
        .layer(middleware::from_fn_with_state(state, signed_in));
    Router::new()
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
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
/// server speaks TLS, the public URL is https, or a trusted proxy in front says
/// `X-Forwarded-Proto: https`); over plain HTTP a browser would drop a `Secure` cookie
/// everywhere but on localhost, and sign-in would silently fail.
fn cookie_attributes(
    state: &AppState,
    peer: Option<Peer>,
    headers: &axum::http::HeaderMap,
) -> &'static str {
    if super::tls::over_https(state.https, &state.trusted_proxies, peer, headers) {
        "Path=/; HttpOnly; Secure; SameSite=Strict"
    } else {
        "Path=/; HttpOnly; SameSite=Strict"
    }
}

/// The connection's peer, when the server records it.
type PeerInfo = Option<axum::Extension<axum::extract::ConnectInfo<Peer>>>;

fn peer(p: PeerInfo) -> Option<Peer> {
    p.map(|axum::Extension(axum::extract::ConnectInfo(p))| p)
}

async fn login(
    State(state): State<AppState>,
    from: PeerInfo,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let token = f.token.trim();
    let refused = match state.check_token(token) {
        None => Some("That token is not valid."),
        Some((_, Role::Feed)) => Some("That token reads the calendar feed only."),
        Some(_) => None,
    };
    if let Some(error) = refused {
        let mut r = render("login.html", context! { error => error });
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
                    cookie_attributes(&state, peer(from), &headers)
                ),
            ),
        ],
    )
        .into_response()
}

async fn logout(
    State(state): State<AppState>,
    from: PeerInfo,
    headers: axum::http::HeaderMap,
) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}=; {}; Max-Age=0",
                    cookie_attributes(&state, peer(from), &headers)
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

/// The views a page reads: the shared current state when no axis is given, else a fold.
struct Shared(std::sync::Arc<projections::State>);

impl std::ops::Deref for Shared {
    type Target = Views;
    fn deref(&self) -> &Views {
        &self.0.views
    }
}

async fn views_for(state: &AppState, a: &Axes) -> Result<Shared, PageError> {
    views_of(state, a, crate::projections::Parts::ALL).await
}

/// As [`views_for`] for a page that reads only the views of `parts`: a fold to another day or
/// instant folds and copies only those.
async fn views_of(
    state: &AppState,
    a: &Axes,
    parts: crate::projections::Parts,
) -> Result<Shared, PageError> {
    let query = crate::projections::Query { parts, ..a.query };
    super::shared(&state.store, &query)
        .await
        .map(Shared)
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

mod listings;
mod paging;
mod timeline;
mod trail;
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
