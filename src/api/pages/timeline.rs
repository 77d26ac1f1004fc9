//! The Timeline page: an SVG of meetings, their segments and sessions, where they stood before
//! they moved, their deadlines (missed ones in red) and today's line.

use axum::extract::{Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{Datelike, NaiveDate, Utc};
use minijinja::{context, Value};

use super::{axes, page_ctx, render, views_for, PageError, PageQuery};
use crate::api::{AppState, Caller};
use crate::domain::ApproxDate;
use crate::projections::work::DeadlineStatus;

/// A coordinate rounded to a tenth of a pixel.
fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

const BODY_COLORS: [(&str, &str); 8] = [
    ("MC", "#1d6fa5"),
    ("BC", "#7a4ea3"),
    ("RC", "#2f8f5b"),
    ("SC", "#b5651d"),
    ("BRS", "#5b4b8a"),
    ("UNEA", "#0f7b7b"),
    ("ICCM", "#9c2f4f"),
    ("HUB", "#6b7686"),
];

/// Meetings drawn at most on one chart.
const MAX_ROWS: usize = 150;

pub(super) async fn timeline(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let a = try_page!(axes(&q));
    let views = try_page!(views_for(&state, &a).await);
    let body = q.rest.get("body").filter(|b| !b.is_empty()).cloned();
    let year: Option<i32> = match q.rest.get("year").filter(|y| !y.is_empty()) {
        None => None,
        Some(y) => match y.parse::<i32>() {
            Ok(y) if (1900..=2200).contains(&y) => Some(y),
            _ => {
                return PageError(
                    StatusCode::BAD_REQUEST,
                    format!("year `{y}`: expected a year from 1900 to 2200"),
                )
                .into_response()
            }
        },
    };
    let window = |d: &ApproxDate| {
        (
            d.start(),
            d.end()
                .unwrap_or_else(|| d.start() + chrono::Days::new(180)),
        )
    };
    let today = a.query.as_of.unwrap_or_else(|| Utc::now().date_naive());
    let in_year = |m: &&crate::projections::meetings::MeetingRow, y: i32| {
        let spans = std::iter::once(m.dates).chain(m.segments.iter().map(|s| s.dates));
        spans
            .map(|d| window(&d))
            .any(|(s, e)| s.year() <= y && e.year() >= y)
    };
    let of_body: Vec<_> = views
        .meetings
        .0
        .values()
        .filter(|m| body.as_ref().is_none_or(|b| b == m.body.code()))
        .collect();
    // A long history opens on the current year rather than drawing every meeting at once.
    let mut note = None;
    let year = match year {
        None if of_body.len() > MAX_ROWS => {
            note = Some(format!(
                "{} meetings in all: showing those of {}; pick a year or a body.",
                of_body.len(),
                today.year()
            ));
            Some(today.year())
        }
        y => y,
    };
    let mut meetings: Vec<_> = of_body
        .into_iter()
        .filter(|m| year.is_none_or(|y| in_year(m, y)))
        .collect();
    if meetings.len() > MAX_ROWS {
        note = Some(format!(
            "{} meetings match: showing the first {MAX_ROWS}; narrow by body.",
            meetings.len()
        ));
        meetings.sort_by_key(|m| (m.dates.start(), m.meeting.clone()));
        meetings.truncate(MAX_ROWS);
    }
    let (start, end) = match year {
        Some(y) => (
            NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or(NaiveDate::MIN),
            NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap_or(NaiveDate::MAX),
        ),
        None => {
            let all = meetings.iter().flat_map(|m| {
                std::iter::once(m.dates)
                    .chain(m.segments.iter().map(|s| s.dates))
                    .map(|d| window(&d))
            });
            let s = all.clone().map(|w| w.0).min();
            let e = all.map(|w| w.1).max();
            match (s, e) {
                (Some(s), Some(e)) => (
                    NaiveDate::from_ymd_opt(s.year(), 1, 1).unwrap_or(s),
                    NaiveDate::from_ymd_opt(e.year() + 1, 1, 1).unwrap_or(e),
                ),
                _ => {
                    let today = Utc::now().date_naive();
                    (today, today + chrono::Days::new(365))
                }
            }
        }
    };
    let (label_w, chart_w, row_h) = (270.0_f64, 900.0_f64, 22.0_f64);
    let span = (end - start).num_days().max(1) as f64;
    let x = |d: NaiveDate| {
        label_w + ((d - start).num_days() as f64 / span * chart_w).clamp(0.0, chart_w)
    };
    let color = |b: &str| {
        BODY_COLORS
            .iter()
            .find(|(k, _)| *k == b)
            .map(|(_, c)| *c)
            .unwrap_or("#12355b")
    };
    let mut sorted = meetings.clone();
    sorted.sort_by_key(|m| (m.dates.start(), m.meeting.clone()));
    let mut rows = Vec::new();
    for (i, m) in sorted.iter().enumerate() {
        let y = 24.0 + i as f64 * row_h;
        // A bar per segment, or per session of a meeting adjourned and resumed, or the meeting;
        // held ones are drawn solid even when only their month is recorded.
        use crate::projections::meetings::MeetingStatus;
        let held = |st: MeetingStatus| st == MeetingStatus::Over;
        let spans: Vec<(Option<&str>, ApproxDate, bool)> = if !m.segments.is_empty() {
            m.segments
                .iter()
                .map(|s| (Some(s.segment.as_str()), s.dates, held(s.status)))
                .collect()
        } else if !m.sessions.is_empty() {
            m.sessions
                .iter()
                .map(|s| (None, s.dates, held(s.status) || s.dates.is_exact()))
                .collect()
        } else {
            vec![(None, m.dates, held(m.status))]
        };
        let bars: Vec<Value> = spans
            .iter()
            .map(|(seg, d, over)| {
                let (s, e) = window(d);
                let x0 = x(s);
                context! {
                    x => r1(x0),
                    w => r1((x(e + chrono::Days::new(1)) - x0).max(3.0)),
                    kind => if d.is_exact() || *over { "confirmed" } else { "tentative" },
                    color => color(m.body.code()),
                    title => format!("{}{}: {}", m.title, seg.map(|s| format!(" ({s})")).unwrap_or_default(), crate::domain::describe_date(d)),
                }
            })
            .collect();
        let ghosts: Vec<Value> = m
            .moves
            .iter()
            .map(|mv| {
                let (s, e) = window(&mv.from);
                let x0 = x(s);
                context! {
                    x => r1(x0),
                    w => r1((x(e + chrono::Days::new(1)) - x0).max(3.0)),
                    to => r1(x(mv.to.start())),
                    title => format!("{} from {} to {} ({})", mv.kind, mv.from, mv.to, mv.occurred),
                }
            })
            .collect();
        let deadlines: Vec<Value> = views
            .work
            .deadlines
            .values()
            .filter(|d| {
                d.meeting
                    .as_deref()
                    .is_some_and(|id| id == m.meeting || m.segments.iter().any(|s| s.segment == id))
                    && d.due.0 >= start
                    && d.due.0 < end
            })
            .map(|d| {
                context! {
                    x => r1(x(d.due.0)),
                    // Missed, or open past its day: drawn in red.
                    late => d.status == DeadlineStatus::Missed
                        || (d.status == DeadlineStatus::Open && !d.tentative && d.due.0 < today),
                    title => format!("{}: due {} ({:?})", d.what, d.due, d.status).to_lowercase(),
                }
            })
            .collect();
        // Rows are labelled with the meeting's title, cut to fit; the id is in the tooltip.
        let mut label = m.title.clone();
        if label.chars().count() > 40 {
            label = label
                .chars()
                .take(39)
                .collect::<String>()
                .trim_end()
                .to_string()
                + "…";
        }
        rows.push(context! {
            y => y,
            label => label,
            title => format!("{} ({})", m.title, m.meeting),
            bars => bars,
            ghosts => ghosts,
            deadlines => deadlines,
        });
    }
    let mut ticks = Vec::new();
    for yr in start.year()..=end.year() {
        if let Some(d) = NaiveDate::from_ymd_opt(yr, 1, 1).filter(|d| *d >= start && *d < end) {
            ticks.push(context! { x => r1(x(d)), label => yr.to_string() });
        }
    }
    let bodies: Vec<&str> = BODY_COLORS.iter().map(|(b, _)| *b).collect();
    // Today (or the page's "as of" day), when it falls on the chart.
    let today_x = (today >= start && today < end).then(|| r1(x(today)));
    let legend: Vec<Value> = BODY_COLORS
        .iter()
        .map(|(b, c)| context! { body => *b, color => *c })
        .collect();
    render(
        "timeline.html",
        page_ctx(
            "timeline",
            "Timeline",
            &caller,
            &a,
            context! {
                rows => rows,
                ticks => ticks,
                width => (label_w + chart_w + 10.0) as i64,
                height => (30.0 + sorted.len() as f64 * row_h) as i64,
                bodies => bodies,
                body => body,
                year => year,
                today_x => today_x,
                today => today.to_string(),
                legend => legend,
                note => note,
            },
        ),
    )
}
