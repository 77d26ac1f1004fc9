//! The filters of the listings: body, status and a date range, checked against what the log
//! knows (an unknown body or status is an error naming the valid ones), applied to the views
//! and to the timeline.

use std::collections::HashMap;

use super::deadline_status;
use crate::projections::timeline::Entry;
use crate::projections::Views;

/// The filters every listing takes besides the two time axes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// A governing body (MC, BC, RC, SC, BRS, UNEA, ICCM, HUB).
    pub body: Option<String>,
    /// A status as the listing shows it.
    pub status: Option<String>,
    /// The row's date (a meeting's dates, a decision's adoption, a deadline's due day, …) on or
    /// after this day.
    pub from: Option<chrono::NaiveDate>,
    /// … and on or before this one.
    pub to: Option<chrono::NaiveDate>,
    /// The day statuses are judged on (deadlines) [default: today].
    pub on: Option<chrono::NaiveDate>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    fn dates(&self, d: &crate::domain::ApproxDate) -> bool {
        let end = d.end().unwrap_or_else(|| d.start());
        self.from.is_none_or(|f| end >= f) && self.to.is_none_or(|t| d.start() <= t)
    }

    fn day(&self, d: chrono::NaiveDate) -> bool {
        self.dates(&crate::domain::ApproxDate::Day(d))
    }

    fn status_is(&self, s: &str) -> bool {
        self.status.as_deref().is_none_or(|x| x == s)
    }
}

fn body_of_meeting(views: &Views, id: &str) -> Option<String> {
    views.meetings.find(id).map(|m| m.body.code().to_string())
}

/// A decision's own body when it names one (a BC decision at a joint BRS meeting), else its
/// meeting's.
fn body_of_decision(
    views: &Views,
    d: &crate::projections::decisions::DecisionRow,
) -> Option<String> {
    d.body
        .map(|b| b.code().to_string())
        .or_else(|| body_of_meeting(views, &d.meeting))
}

/// A meeting passes a date or status filter when it, or one of its segments or sessions, does:
/// COP-4.2 in March 2022 finds COP-4, whose first segment was in November 2021.
fn meeting_passes(f: &Filter, m: &crate::projections::meetings::MeetingRow) -> bool {
    let own = f.status_is(m.status.name());
    let dated = if !m.segments.is_empty() {
        m.segments.iter().any(|s| f.dates(&s.dates))
    } else if !m.sessions.is_empty() {
        // The sessions held, and the next one while it waits to resume.
        m.sessions.iter().any(|s| f.dates(&s.dates)) || (!m.status.is_closed() && f.dates(&m.dates))
    } else {
        f.dates(&m.dates)
    };
    let parts = m
        .segments
        .iter()
        .any(|s| f.status_is(s.status.name()) && f.dates(&s.dates));
    (own && dated) || (f.status.is_some() && parts)
}

/// Whether a filter field applies to a listing: `status` where rows have one, `body` where rows
/// belong to a body.
pub fn applies(what: &str, field: &str) -> bool {
    match field {
        "status" => !matches!(what, "decisions" | "activities" | "agreements" | "timeline"),
        "body" => !matches!(what, "groups" | "reports" | "activities" | "agreements"),
        _ => true,
    }
}

/// A filter given to a listing it does not apply to.
fn check_applies(what: &str, f: &Filter) -> Result<(), String> {
    for (field, given) in [("status", f.status.is_some()), ("body", f.body.is_some())] {
        if given && !applies(what, field) {
            return Err(format!("`{field}` does not apply to {what}"));
        }
    }
    Ok(())
}

/// The statuses each listing shows, as a status filter takes them.
pub fn statuses(what: &str) -> &'static [&'static str] {
    match what {
        "meetings" => &[
            "tentative",
            "confirmed",
            "postponed",
            "adjourned",
            "suspended",
            "partly_held",
            "over",
            "cancelled",
        ],
        "mandates" => &[
            "active",
            "in_progress",
            "reported",
            "implemented",
            "elapsed",
            "superseded",
        ],
        "groups" => &["active", "dissolved"],
        "reports" => &["drafted", "endorsed", "submitted"],
        "deadlines" => &["open", "tentative", "met", "missed", "cancelled"],
        "reminders" => &[
            "scheduled",
            "attempted",
            "sent",
            "retrying",
            "failed",
            "cancelled",
            "skipped",
        ],
        _ => &[],
    }
}

/// The bodies a log knows: the shipped ones, those registered, those its meetings name.
pub fn known_bodies(views: &Views) -> Vec<String> {
    let mut v: Vec<String> = crate::projections::reporting::SHIPPED_BODIES
        .iter()
        .map(|b| b.to_string())
        .chain(views.reporting.bodies.keys().cloned())
        .chain(views.meetings.0.values().map(|m| m.body.code().to_string()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Refuses a body or status value the listing does not know, naming the ones it does: a
/// mistyped value is an error, not an empty answer.
fn check_values(views: &Views, what: &str, f: &Filter) -> Result<(), String> {
    if let Some(b) = &f.body {
        let known = known_bodies(views);
        if !known.contains(b) {
            return Err(format!(
                "body `{b}` is not a body of this log; the bodies are {}",
                known.join(", ")
            ));
        }
    }
    if let Some(s) = &f.status {
        let known = statuses(what);
        if !known.is_empty() && !known.contains(&s.as_str()) {
            return Err(format!(
                "status `{s}` is not a status of {what}; they are {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Refuses a filter that does not apply to `what`, or names a value `views` do not know.
pub fn check_filter(views: &Views, what: &str, f: &Filter) -> Result<(), String> {
    check_applies(what, f)?;
    check_values(views, what, f)
}

/// Whether a meeting passes the filter (its body or one of a joint meeting's, its status and
/// dates, or a segment's).
pub fn meeting_kept(f: &Filter) -> impl Fn(&crate::projections::meetings::MeetingRow) -> bool + '_ {
    move |m| {
        let body_ok = |b: &str| f.body.as_deref().is_none_or(|x| x == b);
        (body_ok(m.body.code()) || m.bodies.iter().any(|b| body_ok(b.code())))
            && meeting_passes(f, m)
    }
}

/// Keeps the rows of `what` that pass the filter. A filter that does not apply to a listing
/// (a status for decisions, a body for groups), or a value it does not know, is an error that
/// says so.
pub fn filter_views(views: &mut Views, what: &str, f: &Filter) -> Result<(), String> {
    check_filter(views, what, f)?;
    let body_ok = |b: Option<String>| f.body.is_none() || b == f.body;
    match what {
        "meetings" => {
            let kept = meeting_kept(f);
            views.meetings.0.retain(|_, m| kept(m));
        }
        "decisions" => {
            let bodies: HashMap<String, Option<String>> = views
                .decisions
                .decisions
                .values()
                .map(|d| (d.symbol.clone(), body_of_decision(views, d)))
                .collect();
            views.decisions.decisions.retain(|k, d| {
                let b = bodies.get(k).cloned().flatten();
                body_ok(b) && f.day(d.adopted.0)
            });
        }
        "mandates" => {
            let body_of = |m: &crate::projections::decisions::MandateRow| {
                views
                    .decisions
                    .decisions
                    .get(&m.decision)
                    .and_then(|d| body_of_decision(views, d))
            };
            let keep: std::collections::HashSet<String> = views
                .decisions
                .mandates
                .values()
                .filter(|m| {
                    body_ok(body_of(m)) && f.status_is(m.status.name()) && f.dates(&m.since)
                })
                .map(|m| m.mandate.clone())
                .collect();
            views
                .decisions
                .mandates
                .retain(|k, _| keep.contains(k.as_str()));
        }
        "groups" => {
            views.groups.0.retain(|_, g| {
                f.status_is(if g.dissolved.is_some() {
                    "dissolved"
                } else {
                    "active"
                }) && f.dates(&g.established)
            });
        }
        "reports" => {
            views
                .reports
                .reports
                .retain(|_, r| f.status_is(r.status()) && f.dates(&r.drafted.on));
        }
        "activities" | "agreements" => {
            views.reports.activities.retain(|_, a| f.dates(&a.on));
            views.reports.agreements.retain(|_, a| f.dates(&a.signed));
        }
        "deadlines" => {
            let keep: std::collections::HashSet<String> = views
                .work
                .deadlines
                .values()
                .filter(|d| {
                    let b = d.meeting.as_deref().and_then(|m| body_of_meeting(views, m));
                    let shown =
                        deadline_status(d, f.on.unwrap_or_else(|| chrono::Utc::now().date_naive()));
                    body_ok(b) && f.status_is(shown) && f.day(d.due.0)
                })
                .map(|d| d.deadline.clone())
                .collect();
            views
                .work
                .deadlines
                .retain(|k, _| keep.contains(k.as_str()));
        }
        "reminders" => {
            let keep: std::collections::HashSet<String> = views
                .work
                .reminders
                .values()
                .filter(|r| {
                    let b = r
                        .deadline
                        .as_deref()
                        .and_then(|d| views.work.deadlines.get(d))
                        .and_then(|d| d.meeting.as_deref())
                        .and_then(|m| body_of_meeting(views, m));
                    let status = format!("{:?}", r.status).to_lowercase();
                    body_ok(b) && f.status_is(&status) && f.day(r.fire_at.0.date_naive())
                })
                .map(|r| r.reminder.clone())
                .collect();
            views
                .work
                .reminders
                .retain(|k, _| keep.contains(k.as_str()));
        }
        other => return Err(format!("no listing `{other}`")),
    }
    Ok(())
}

/// Keeps the timeline entries that pass the filter: the body through each entry's meeting or
/// decision; status does not apply.
pub fn filter_timeline(views: &Views, entries: &mut Vec<Entry>, f: &Filter) -> Result<(), String> {
    check_applies("timeline", f)?;
    check_values(views, "timeline", f)?;
    entries.retain(|e| {
        let body = if let Some(m) = e.stream.strip_prefix("meeting/") {
            body_of_meeting(views, m)
        } else if let Some(d) = e.stream.strip_prefix("decision/") {
            views
                .decisions
                .decisions
                .get(d)
                .and_then(|d| body_of_meeting(views, &d.meeting))
        } else {
            None
        };
        (f.body.is_none() || body == f.body) && f.dates(&e.occurred)
    });
    Ok(())
}
