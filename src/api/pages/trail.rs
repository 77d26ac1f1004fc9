//! The audit trail page, newest first, narrowed by stream, type and actor, with the chain's
//! status from the incremental verification; and the evaluation page.

use std::sync::{Arc, OnceLock};

use axum::extract::{Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::NaiveDate;
use minijinja::{context, Value};

use super::paging::Paging;
use super::{axes, page_ctx, render, table_page, PageError, PageQuery};
use crate::api::chain::Status;
use crate::api::tokens::Role;
use crate::api::KeptEvaluation;
use crate::api::{blocking, AppState, Caller};
use crate::envelope::Envelope;
use crate::projections;

/// Records looked at for one page when a type or actor filter is rare; the page then offers
/// to search further back.
const SCAN: u64 = 20_000;
/// Records read at a time while walking back.
const CHUNK: u64 = 500;

fn event_types() -> &'static [&'static str] {
    static TYPES: OnceLock<Vec<&'static str>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut v: Vec<&'static str> = crate::domain::schemas()
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        v.sort();
        v
    })
}

fn chain_note(status: Status) -> String {
    match status {
        Status::Intact { records, last_hash } => {
            format!("The chain verifies: {records} records, last hash {last_hash}.")
        }
        Status::Checking { verified, head } => format!(
            "The chain verifies up to seq {verified} of {head}; the rest is being checked (reload to see)."
        ),
        Status::Broken { seq, reason } => {
            format!("The chain does NOT verify: first bad seq {seq}: {reason}.")
        }
    }
}

/// The rows of one trail page, newest first from `start` down, and where the search stopped
/// when it looked at [`SCAN`] records without filling the page.
struct Found {
    rows: Vec<(String, Envelope)>,
    stopped_at: Option<u64>,
}

fn find(
    store: &dyn crate::store::EventStore,
    start: u64,
    stream: Option<&str>,
    keep: &dyn Fn(&Envelope) -> bool,
    want: usize,
) -> Result<Found, PageError> {
    let fail =
        |e: crate::store::StoreError| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let key = |seq: u64| seq.to_string();
    let mut rows = Vec::new();
    if let Some(stream) = stream {
        let mut all = store.read_stream(stream).map_err(fail)?;
        all.retain(|e| e.seq <= start && keep(e));
        all.reverse();
        rows = all
            .into_iter()
            .take(want)
            .map(|e| (key(e.seq), e))
            .collect();
        return Ok(Found {
            rows,
            stopped_at: None,
        });
    }
    // Read forward in chunks, walking back from `start`: sequential reads are cheap.
    let mut hi = start;
    let floor = start.saturating_sub(SCAN);
    while hi >= 1 && rows.len() < want {
        if hi <= floor {
            return Ok(Found {
                rows,
                stopped_at: Some(hi),
            });
        }
        let lo = hi.saturating_sub(CHUNK - 1).max(floor + 1).max(1);
        let mut chunk = Vec::new();
        for env in store.read_from(lo).take((hi - lo + 1) as usize) {
            let env = env.map_err(fail)?;
            if keep(&env) {
                chunk.push(env);
            }
        }
        for env in chunk.into_iter().rev() {
            if rows.len() < want {
                rows.push((key(env.seq), env));
            }
        }
        hi = lo - 1;
    }
    Ok(Found {
        rows,
        stopped_at: None,
    })
}

pub(super) async fn trail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let p = try_page!(Paging::of(&q.rest));
    let field = |k: &str| {
        q.rest
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (stream, ty, actor) = (field("stream"), field("type"), field("actor"));
    if let Some(t) = &ty {
        if !event_types().contains(&t.as_str()) {
            return PageError(
                StatusCode::BAD_REQUEST,
                format!(
                    "type: `{t}` is not an event type; the types are {}",
                    event_types().join(", ")
                ),
            )
            .into_response();
        }
    }
    let last = match a.query.known_at {
        Some(t) => {
            let store = state.store.clone();
            try_page!(blocking(move || projections::seq_known_at(&*store, t))
                .await
                .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
        }
        None => state.store.clone().head_async().await.seq,
    };
    // The cursor is the seq of the last record shown; the next page starts below it.
    let start = match p.after.as_deref().map(str::parse::<u64>) {
        None => last,
        Some(Ok(c)) => last.min(c.saturating_sub(1)),
        Some(Err(_)) => {
            return PageError(StatusCode::BAD_REQUEST, "after: not a seq".into()).into_response()
        }
    };
    let as_of = a.query.as_of;
    let (store, want) = (state.store.clone(), p.limit + 1);
    let (looked_for, ty_of, actor_of) = (stream.clone(), ty.clone(), actor.clone());
    let found = try_page!(
        blocking(move || {
            let keep = |env: &Envelope| {
                ty_of.as_ref().is_none_or(|t| *t == env.ty)
                    && actor_of
                        .as_ref()
                        .is_none_or(|x| env.actor.eq_ignore_ascii_case(x))
                    && as_of.is_none_or(|d| env.occurred.is_past_as_of(d))
            };
            find(&*store, start, looked_for.as_deref(), &keep, want)
        })
        .await
    );
    let stopped_at = found.stopped_at;
    let w = p.take(found.rows);
    let rows: Vec<Vec<Value>> = w
        .items
        .iter()
        .map(|env| {
            let summary = if caller.role < Role::Admin && env.ty == "ReminderScheduled" {
                "reminder scheduled (its recipient is shown to admins)".to_string()
            } else {
                projections::decode(env)
                    .map(|e| crate::domain::summary(&e))
                    .unwrap_or_else(|e| e.to_string())
            };
            vec![
                Value::from(env.seq),
                Value::from(
                    env.recorded_at
                        .get(..19)
                        .unwrap_or(&env.recorded_at)
                        .replace('T', " "),
                ),
                Value::from(env.occurred.to_string()),
                Value::from(env.actor.clone()),
                Value::from(env.ty.clone()),
                Value::from(summary),
                Value::from(env.stream.clone()),
            ]
        })
        .collect();
    // A short stretch of new records is verified here, off the async workers.
    let (chain, store) = (state.chain.clone(), state.store.clone());
    let note = chain_note(blocking(move || chain.status(&store)).await);
    // How many records match in all is not counted: the page only walks back far enough.
    let mut nav = context! { matched => (), ..p.nav("/trail", &w) };
    if let (Some(at), None) = (stopped_at, w.next.as_ref()) {
        // A rare filter: this page searched SCAN records; the next one goes on from there.
        let further = p.link("/trail", &[("after", &(at + 1).to_string())]);
        nav = context! { next => further, searched_to => at + 1, ..nav };
    }
    let sections = vec![context! {
        title => "",
        note => note,
        headers => ["Seq", "Recorded (UTC)", "Occurred", "Who", "Type", "What", "Stream"],
        rows => rows,
    }];
    let filters = vec![
        context! { kind => "text", label => "Stream", name => "stream", value => stream },
        context! { kind => "select", label => "Type", name => "type", value => ty, options => event_types() },
        context! { kind => "text", label => "Who", name => "actor", value => actor },
    ];
    table_page(
        "trail",
        "Audit trail",
        &caller,
        &a,
        context! { sections, filters, paging => nav },
    )
}

/// The evaluation a page's query asks for: as known at its instant, what had happened by its
/// "as of" day, over an optional period and body, its lists cut to `rows` when given.
async fn evaluate(
    state: &AppState,
    q: &PageQuery,
    rows: Option<usize>,
) -> Result<(super::Axes, crate::evaluate::Scope, Arc<KeptEvaluation>), PageError> {
    let a = axes(q)?;
    let day = |k: &str| -> Result<Option<NaiveDate>, PageError> {
        q.rest
            .get(k)
            .filter(|v| !v.is_empty())
            .map(|v| crate::domain::parse_day(v))
            .transpose()
            .map_err(|e| PageError(StatusCode::BAD_REQUEST, format!("{k}: {e}")))
    };
    let body = q.rest.get("body").filter(|b| !b.is_empty()).cloned();
    if let Some(b) = &body {
        crate::domain::Body::parse(b)
            .map_err(|e| PageError(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    }
    let scope = crate::evaluate::Scope {
        from: day("from")?,
        to: day("to")?,
        body,
        as_of: a.query.as_of,
        rows,
    };
    let head = state.store.clone().head_async().await.seq;
    let key = format!("{scope:?} {:?}", a.query);
    let cache = || state.evaluations.lock().unwrap_or_else(|p| p.into_inner());
    let found = cache()
        .iter()
        .find(|k| k.head == head && k.key == key)
        .cloned();
    if let Some(e) = found {
        return Ok((a, scope, e));
    }
    let (store, asked, known_at) = (state.store.clone(), scope.clone(), a.query.known_at);
    let evaluation = blocking(move || crate::evaluate::run(&*store, &asked, known_at))
        .await
        .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let e = Arc::new(KeptEvaluation {
        head,
        key,
        evaluation,
        page: OnceLock::new(),
    });
    let mut kept = cache();
    kept.retain(|k| k.head == head);
    kept.truncate(EVALUATIONS_KEPT - 1);
    kept.insert(0, e.clone());
    Ok((a, scope, e))
}

/// Evaluations kept for the current head.
const EVALUATIONS_KEPT: usize = 8;

/// Rows an evaluation table shows on the page; the CSV has them all.
const EVALUATION_ROWS: usize = 50;

/// The evaluation page: per indicator a chart and tables, long tables cut with a link to the
/// CSV of the same query.
pub(super) async fn evaluation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let (a, scope, e) = try_page!(evaluate(&state, &q, Some(EVALUATION_ROWS)).await);
    // The CSV of the same question.
    let asked = [
        ("as_of", a.as_of.clone()),
        ("known_at", a.known_at.clone()),
        ("from", scope.from.map(|d| d.to_string())),
        ("to", scope.to.map(|d| d.to_string())),
        ("body", scope.body.clone()),
    ];
    let query: Vec<String> = asked
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", super::urlencode(v))))
        .collect();
    let csv = if query.is_empty() {
        "/evaluation.csv".to_string()
    } else {
        format!("/evaluation.csv?{}", query.join("&"))
    };
    let report = e
        .page
        .get_or_init(|| crate::evaluate::html_body(&e.evaluation, Some((EVALUATION_ROWS, &csv))));
    render(
        "evaluation.html",
        page_ctx(
            "evaluation",
            "Evaluation",
            &caller,
            &a,
            context! {
                report => report,
                from => scope.from.map(|d| d.to_string()),
                to => scope.to.map(|d| d.to_string()),
                body => scope.body,
                csv => csv,
            },
        ),
    )
}

/// The same evaluation as CSV, one table per indicator, for a spreadsheet.
pub(super) async fn evaluation_csv(
    State(state): State<AppState>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let (_, _, e) = try_page!(evaluate(&state, &q, None).await);
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"evaluation.csv\"",
            ),
        ],
        crate::evaluate::csv(&e.evaluation),
    )
        .into_response()
}
