//! What each listing shows, as a fitted table and as JSON rows: shared by the command line
//! and the HTTP API so both answer alike.

use serde::Serialize;
use std::collections::HashMap;

use crate::projections::timeline::Entry;
use crate::projections::Views;
use crate::render::Table;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
/// A read model that can be listed.
pub enum What {
    #[value(alias = "meeting")]
    Meetings,
    #[value(alias = "decision")]
    Decisions,
    Mandates,
    #[value(alias = "group")]
    Groups,
    #[value(alias = "report")]
    Reports,
    Activities,
    Agreements,
    Timeline,
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}

fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => String::new(),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Rows of one read model, as a table and as JSON values.
/// The listing's name in paths and filters.
pub fn path_name(what: What) -> &'static str {
    match what {
        What::Meetings => "meetings",
        What::Decisions => "decisions",
        What::Mandates => "mandates",
        What::Groups => "groups",
        What::Reports => "reports",
        What::Activities => "activities",
        What::Agreements => "agreements",
        What::Timeline => "timeline",
    }
}

/// The rows of a read model (not the timeline, which is folded on its own).
pub fn rows(views: &Views, what: What) -> (Table, Vec<serde_json::Value>) {
    let json = |x: &dyn erased::Json| x.json();
    match what {
        What::Meetings => {
            let mut t = Table::new(&["MEETING", "BODY", "DATES", "STATUS", "VENUE", "TITLE"]);
            let mut rows: Vec<_> = views.meetings.0.values().collect();
            rows.sort_by_key(|m| (m.dates.start(), m.meeting.clone()));
            let mut js = Vec::new();
            for m in rows {
                t.push(vec![
                    m.meeting.clone(),
                    m.body.code().to_string(),
                    m.dates.to_string(),
                    m.status.name().to_string(),
                    opt(&m.venue),
                    m.title.clone(),
                ]);
                for s in &m.segments {
                    t.push(vec![
                        format!("  {}", s.segment),
                        String::new(),
                        s.dates.to_string(),
                        s.status.name().to_string(),
                        opt(&s.venue),
                        opt(&s.title),
                    ]);
                }
                js.push(json(m));
            }
            (t, js)
        }
        What::Decisions => {
            let mut t = Table::new(&[
                "SYMBOL",
                "MEETING",
                "ADOPTED",
                "MANDATES",
                "RELATIONS",
                "TITLE",
            ]);
            let mut js = Vec::new();
            for d in views.decisions.decisions.values() {
                let rel = d.relations();
                t.push(vec![
                    d.symbol.clone(),
                    d.meeting.clone(),
                    d.adopted.to_string(),
                    d.mandates.len().to_string(),
                    rel,
                    d.title.clone(),
                ]);
                js.push(json(d));
            }
            (t, js)
        }
        What::Mandates => {
            let mut t = Table::new(&["MANDATE", "ACTION", "ADDRESSEE", "REPORT", "STATUS", "ASKS"]);
            let mut js = Vec::new();
            for m in views.decisions.mandates.values() {
                let report = match (&m.report_at, &m.report_by) {
                    (Some(at), _) => format!("at {at}"),
                    (None, Some(by)) => format!("by {by}"),
                    (None, None) => String::new(),
                };
                t.push(vec![
                    m.mandate.clone(),
                    name(&m.action),
                    m.addressee.clone(),
                    report,
                    m.status.name().to_string(),
                    m.asks.clone(),
                ]);
                js.push(json(m));
            }
            (t, js)
        }
        What::Groups => {
            let mut t = Table::new(&["GROUP", "SCOPE", "STATUS", "AREA", "LEAD OFFICERS"]);
            let mut js = Vec::new();
            for g in views.groups.0.values() {
                let leads: Vec<String> = g
                    .lead_officers
                    .iter()
                    .map(|l| l.officer.to_string())
                    .collect();
                let status = if g.dissolved.is_some() {
                    "dissolved"
                } else {
                    "active"
                };
                t.push(vec![
                    g.group.clone(),
                    name(&g.scope),
                    status.to_string(),
                    g.area.clone().unwrap_or_else(|| g.name.clone()),
                    leads.join(", "),
                ]);
                js.push(json(g));
            }
            (t, js)
        }
        What::Reports => {
            let mut t = Table::new(&[
                "REPORT",
                "DRAFTED",
                "ENDORSED",
                "SUBMITTED",
                "STATUS",
                "TITLE",
            ]);
            let mut js = Vec::new();
            for r in views.reports.reports.values() {
                let subs: Vec<String> = r.submitted.iter().map(|s| s.document.clone()).collect();
                t.push(vec![
                    r.report.clone(),
                    r.drafted.on.to_string(),
                    r.endorsed
                        .as_ref()
                        .map(|e| e.on.to_string())
                        .unwrap_or_default(),
                    subs.join(", "),
                    r.status().to_string(),
                    r.title.clone(),
                ]);
                let mut v = json(r);
                v["status"] = r.status().into();
                js.push(v);
            }
            (t, js)
        }
        What::Activities => {
            let mut t = Table::new(&["ACTIVITY", "GROUP", "ON", "AREA", "TITLE"]);
            let mut js = Vec::new();
            let mut rows: Vec<_> = views.reports.activities.values().collect();
            rows.sort_by_key(|a| (a.on.start(), a.activity.clone()));
            for a in rows {
                t.push(vec![
                    a.activity.clone(),
                    a.group.clone(),
                    a.on.to_string(),
                    opt(&a.area),
                    a.title.clone(),
                ]);
                js.push(json(a));
            }
            (t, js)
        }
        What::Agreements => {
            let mut t = Table::new(&["AGREEMENT", "SIGNED", "PARTIES", "BUDGET", "TITLE"]);
            let mut js = Vec::new();
            for a in views.reports.agreements.values() {
                let parties: Vec<String> = a.parties.iter().map(name).collect();
                t.push(vec![
                    a.agreement.clone(),
                    a.signed.to_string(),
                    list(&parties),
                    a.budget
                        .as_ref()
                        .map(|b| format!("{} {}", b.amount, b.currency))
                        .unwrap_or_default(),
                    a.title.clone(),
                ]);
                js.push(json(a));
            }
            (t, js)
        }
        What::Timeline => unreachable!("the timeline is not a stored view"),
    }
}

mod erased {
    //! A tiny object-safe "to JSON value" for the rows above.
    pub trait Json {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// The rows of a timeline.
pub fn timeline_rows(entries: &[Entry]) -> (Table, Vec<serde_json::Value>) {
    let mut t = Table::new(&["OCCURRED", "SEQ", "TYPE", "SUMMARY"]);
    let mut js = Vec::new();
    for e in entries {
        t.push(vec![
            e.occurred.to_string(),
            e.seq.to_string(),
            e.ty.clone(),
            e.summary.clone(),
        ]);
        js.push(serde_json::to_value(e).unwrap_or(serde_json::Value::Null));
    }
    (t, js)
}

/// A deadline's status as shown on `day`: open, tentative, met, missed or cancelled. An open
/// deadline whose day has passed shows as missed before the scheduler records it so.
pub fn deadline_status(
    d: &crate::projections::work::DeadlineRow,
    day: chrono::NaiveDate,
) -> &'static str {
    use crate::projections::work::DeadlineStatus;
    match d.status {
        DeadlineStatus::Open if d.tentative => "tentative",
        DeadlineStatus::Open if d.due.0 < day => "missed",
        DeadlineStatus::Open => "open",
        DeadlineStatus::Met => "met",
        DeadlineStatus::Missed => "missed",
        DeadlineStatus::Cancelled => "cancelled",
    }
}

/// Where a national reporting cycle's deadline stands: how many of the Parties bound to report
/// have, and how many by the day it was due. `None` for other deadlines, or when no Party of the
/// convention is recorded.
pub fn cycle_standing(
    views: &Views,
    d: &crate::projections::work::DeadlineRow,
) -> Option<crate::projections::reporting::CycleStanding> {
    let body = d.body?;
    let cycle = d.instance.strip_prefix("cycle:")?;
    views.reporting.standing(body, cycle, d.report, d.due.0)
}

/// Deadlines due within `within` days of `day` (all when `None`), by due date, with their
/// status as of `day`: open, tentative, met, missed or cancelled.
pub fn deadlines(
    views: &Views,
    day: chrono::NaiveDate,
    within: Option<i64>,
) -> (Table, Vec<serde_json::Value>) {
    let mut rows: Vec<_> = views
        .work
        .deadlines
        .values()
        .filter(|d| within.is_none_or(|w| d.due.0 >= day && (d.due.0 - day).num_days() <= w))
        .collect();
    rows.sort_by_key(|d| (d.due, d.deadline.clone()));
    let mut t = Table::new(&["DUE", "STATUS", "DEADLINE", "RESPONSIBLE", "WHAT"]);
    let mut js = Vec::new();
    for d in rows {
        let status = deadline_status(d, day);
        let cycle = cycle_standing(views, d);
        t.push(vec![
            d.due.to_string(),
            match &cycle {
                Some(c) if status == "missed" && c.on_time > 0 => {
                    format!(
                        "partly met ({} of {} Parties on time)",
                        c.on_time, c.parties
                    )
                }
                Some(c) if status != "met" => {
                    format!("{status} ({} of {} Parties)", c.submitted, c.parties)
                }
                _ => status.to_string(),
            },
            d.deadline.clone(),
            d.responsible.join(", "),
            d.what.clone(),
        ]);
        let mut v = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
        v["status"] = status.into();
        if let Some(c) = cycle {
            v["parties"] = serde_json::json!(c);
        }
        js.push(v);
    }
    (t, js)
}

/// Reminders firing in `[from, to]`, by fire time; `dry` labels scheduled ones "would send".
pub fn reminders(
    views: &Views,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    would_send: Option<&std::collections::HashSet<String>>,
) -> (Table, Vec<serde_json::Value>) {
    use crate::projections::work::ReminderStatus;
    let would = |id: &str| would_send.is_some_and(|w| w.contains(id));
    let mut rows: Vec<_> = views
        .work
        .reminders
        .values()
        .filter(|r| {
            // What a dry run would send is listed even when it was due before the window (a
            // late send the first tick makes).
            would_send.is_some_and(|w| w.contains(&r.reminder))
                || (from.is_none_or(|f| r.fire_at.0 >= f) && to.is_none_or(|t| r.fire_at.0 <= t))
        })
        .collect();
    rows.sort_by_key(|r| (r.fire_at, r.reminder.clone()));
    let mut t = Table::new(&["FIRE AT (UTC)", "STATUS", "TO", "DEADLINE", "NOTE"]);
    let mut js = Vec::new();
    for r in rows {
        let status = match r.status {
            _ if would(&r.reminder) => "would send",
            ReminderStatus::Scheduled => "scheduled",
            ReminderStatus::Attempted => "attempted",
            ReminderStatus::Sent => "sent",
            ReminderStatus::Retrying => "retrying",
            ReminderStatus::Failed => "failed",
            ReminderStatus::Cancelled => "cancelled",
            ReminderStatus::Skipped => "skipped",
        };
        let note = match (&r.rendered, &r.reason) {
            (Some(m), None) if m.late => "late".to_string(),
            (_, Some(reason)) => reason.clone(),
            _ => String::new(),
        };
        t.push(vec![
            r.fire_at.0.format("%Y-%m-%d %H:%M").to_string(),
            status.to_string(),
            r.recipient.clone(),
            r.deadline.clone().unwrap_or_else(|| "(digest)".to_string()),
            note,
        ]);
        let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
        v["status"] = status.into();
        if let Some(o) = v.as_object_mut() {
            o.remove("rendered");
            // What a dry run would send, by its subject.
            if would(&r.reminder) {
                if let Some(m) = &r.rendered {
                    o.insert("subject".into(), m.subject.clone().into());
                }
            }
        }
        js.push(v);
    }
    (t, js)
}

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

/// Keeps the rows of `what` that pass the filter. A filter that does not apply to a listing
/// (a status for decisions, a body for groups), or a value it does not know, is an error that
/// says so.
pub fn filter_views(views: &mut Views, what: &str, f: &Filter) -> Result<(), String> {
    check_values(views, what, f)?;
    let no = |name: &str| Err(format!("`{name}` does not apply to {what}"));
    let body_ok = |b: Option<String>| f.body.is_none() || b == f.body;
    match what {
        "meetings" => {
            views.meetings.0.retain(|_, m| {
                (body_ok(Some(m.body.code().to_string()))
                    || m.bodies.iter().any(|b| body_ok(Some(b.code().to_string()))))
                    && meeting_passes(f, m)
            });
        }
        "decisions" => {
            if f.status.is_some() {
                return no("status");
            }
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
            if f.body.is_some() {
                return no("body");
            }
            views.groups.0.retain(|_, g| {
                f.status_is(if g.dissolved.is_some() {
                    "dissolved"
                } else {
                    "active"
                }) && f.dates(&g.established)
            });
        }
        "reports" => {
            if f.body.is_some() {
                return no("body");
            }
            views
                .reports
                .reports
                .retain(|_, r| f.status_is(r.status()) && f.dates(&r.drafted.on));
        }
        "activities" | "agreements" => {
            if f.body.is_some() {
                return no("body");
            }
            if f.status.is_some() {
                return no("status");
            }
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
    if f.status.is_some() {
        return Err("`status` does not apply to timeline".into());
    }
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
