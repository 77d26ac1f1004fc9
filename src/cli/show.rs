//! `accord show`: the read models as tables, JSON or CSV, on both time axes.

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::projections::{self, Query, Views};
use crate::render::{Format, Table};
use crate::store::EventStore;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    Meetings,
    Decisions,
    Mandates,
    Groups,
    Reports,
    Activities,
    Agreements,
    Timeline,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[arg(value_enum)]
    pub what: What,
    /// What had happened by this domain date (YYYY-MM-DD), by each event's `occurred`.
    /// An approximate date counts once its whole window has passed.
    #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
    pub as_of: Option<NaiveDate>,
    /// What the log held at this recording instant (RFC 3339, such as 2021-04-01T00:00:00Z).
    #[arg(long, value_name = "INSTANT", value_parser = parse_known_at)]
    pub known_at: Option<DateTime<Utc>>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn parse_as_of(s: &str) -> Result<NaiveDate, String> {
    crate::domain::parse_day(s).map_err(|e| e.to_string())
}

/// Parses an RFC 3339 instant, in any offset, to UTC.
pub fn parse_known_at(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant such as 2021-04-01T00:00:00Z: {e}"))
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
fn rows(views: &Views, what: What) -> (Table, Vec<serde_json::Value>) {
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
                let mut rel = Vec::new();
                rel.extend(d.mirrors.iter().map(|s| format!("mirrors {s}")));
                rel.extend(d.amends.iter().map(|s| format!("amends {s}")));
                rel.extend(d.supersedes.iter().map(|s| format!("supersedes {s}")));
                rel.extend(d.superseded_by.iter().map(|s| format!("superseded by {s}")));
                t.push(vec![
                    d.symbol.clone(),
                    d.meeting.clone(),
                    d.adopted.to_string(),
                    d.mandates.len().to_string(),
                    rel.join("; "),
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

pub fn run(store: &dyn EventStore, args: &ShowArgs) -> Result<u8> {
    let q = Query {
        as_of: args.as_of,
        known_at: args.known_at,
    };
    let (table, values) = if args.what == What::Timeline {
        let entries = projections::timeline::timeline(store, &q)?;
        let mut t = Table::new(&["OCCURRED", "SEQ", "TYPE", "SUMMARY"]);
        let mut js = Vec::new();
        for e in entries {
            t.push(vec![
                e.occurred.to_string(),
                e.seq.to_string(),
                e.ty.clone(),
                e.summary.clone(),
            ]);
            js.push(serde_json::to_value(&e)?);
        }
        (t, js)
    } else {
        let state = projections::views(store, &q)?;
        rows(&state.views, args.what)
    };
    super::emit(table, values, args.format)
}
