//! The rows of each read model's listing as typed items, in the listing's order: their id and
//! title (what paging and text search read) come without drawing anything; a row becomes table
//! cells or a JSON value only when it is shown.

use serde_json::Value;

use super::{list, name, opt, What};
use crate::projections::decisions::{DecisionRow, MandateRow};
use crate::projections::groups::GroupRow;
use crate::projections::meetings::MeetingRow;
use crate::projections::reports::{ActivityRow, AgreementRow, ReportRow};
use crate::projections::Views;

/// One row of a read model's listing.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    Meeting(&'a MeetingRow),
    Decision(&'a DecisionRow),
    Mandate(&'a MandateRow),
    Group(&'a GroupRow),
    Report(&'a ReportRow),
    Activity(&'a ActivityRow),
    Agreement(&'a AgreementRow),
}

/// The items of a read model (not the timeline, which is folded on its own), in order.
pub fn items(views: &Views, what: What) -> Vec<Item<'_>> {
    match what {
        What::Meetings => {
            // Each row's start worked out once, not at every comparison; ids are unique, so
            // an unstable sort gives the one order.
            let mut rows: Vec<_> = views
                .meetings
                .0
                .values()
                .map(|m| (m.dates.start(), m.meeting.as_str(), m))
                .collect();
            rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            rows.into_iter().map(|(_, _, m)| Item::Meeting(m)).collect()
        }
        What::Decisions => views
            .decisions
            .decisions
            .values()
            .map(Item::Decision)
            .collect(),
        What::Mandates => views
            .decisions
            .mandates
            .values()
            .map(Item::Mandate)
            .collect(),
        What::Groups => views.groups.0.values().map(Item::Group).collect(),
        What::Reports => views.reports.reports.values().map(Item::Report).collect(),
        What::Activities => {
            let mut rows: Vec<_> = views.reports.activities.values().collect();
            rows.sort_by(|a, b| (a.on.start(), &a.activity).cmp(&(b.on.start(), &b.activity)));
            rows.into_iter().map(Item::Activity).collect()
        }
        What::Agreements => views
            .reports
            .agreements
            .values()
            .map(Item::Agreement)
            .collect(),
        What::Timeline => unreachable!("the timeline is not a stored view"),
    }
}

/// The table's column headers of a listing.
pub(super) fn headers(what: What) -> &'static [&'static str] {
    match what {
        What::Meetings => &["MEETING", "BODY", "DATES", "STATUS", "VENUE", "TITLE"],
        What::Decisions => &[
            "SYMBOL",
            "MEETING",
            "ADOPTED",
            "MANDATES",
            "RELATIONS",
            "TITLE",
        ],
        What::Mandates => &["MANDATE", "ACTION", "ADDRESSEE", "REPORT", "STATUS", "ASKS"],
        What::Groups => &["GROUP", "SCOPE", "STATUS", "AREA", "LEAD OFFICERS"],
        What::Reports => &[
            "REPORT",
            "DRAFTED",
            "ENDORSED",
            "SUBMITTED",
            "STATUS",
            "TITLE",
        ],
        What::Activities => &["ACTIVITY", "GROUP", "ON", "AREA", "TITLE"],
        What::Agreements => &["AGREEMENT", "SIGNED", "PARTIES", "BUDGET", "TITLE"],
        What::Timeline => &["OCCURRED", "SEQ", "TYPE", "SUMMARY"],
    }
}

fn json<T: serde::Serialize>(row: &T) -> Value {
    serde_json::to_value(row).unwrap_or(Value::Null)
}

impl<'a> Item<'a> {
    /// What names the row: the `after` of the next page.
    pub fn id(&self) -> &'a str {
        match self {
            Item::Meeting(m) => &m.meeting,
            Item::Decision(d) => &d.symbol,
            Item::Mandate(m) => &m.mandate,
            Item::Group(g) => &g.group,
            Item::Report(r) => &r.report,
            Item::Activity(a) => &a.activity,
            Item::Agreement(a) => &a.agreement,
        }
    }

    /// Its title, where it has one (text search reads it with the id).
    pub fn title(&self) -> &'a str {
        match self {
            Item::Meeting(m) => &m.title,
            Item::Decision(d) => &d.title,
            Item::Report(r) => &r.title,
            Item::Activity(a) => &a.title,
            Item::Agreement(a) => &a.title,
            Item::Mandate(_) | Item::Group(_) => "",
        }
    }

    /// The row as the API answers it.
    pub fn json(&self) -> Value {
        match self {
            Item::Meeting(m) => json(m),
            Item::Decision(d) => json(d),
            Item::Mandate(m) => json(m),
            Item::Group(g) => json(g),
            Item::Report(r) => {
                let mut v = json(r);
                v["status"] = r.status().into();
                v
            }
            Item::Activity(a) => json(a),
            Item::Agreement(a) => json(a),
        }
    }

    /// The row as table lines: one, or a meeting's and then one per segment.
    pub fn cells(&self) -> Vec<Vec<String>> {
        match self {
            Item::Meeting(m) => {
                let mut out = vec![vec![
                    m.meeting.clone(),
                    m.body.code().to_string(),
                    m.dates.to_string(),
                    m.status.name().to_string(),
                    opt(&m.venue),
                    m.title.clone(),
                ]];
                out.extend(m.segments.iter().map(|s| {
                    vec![
                        format!("  {}", s.segment),
                        String::new(),
                        s.dates.to_string(),
                        s.status.name().to_string(),
                        opt(&s.venue),
                        opt(&s.title),
                    ]
                }));
                out
            }
            Item::Decision(d) => vec![vec![
                d.symbol.clone(),
                d.meeting.clone(),
                d.adopted.to_string(),
                d.mandates.len().to_string(),
                d.relations(),
                d.title.clone(),
            ]],
            Item::Mandate(m) => {
                let report = match (&m.report_at, &m.report_by) {
                    (Some(at), _) => format!("at {at}"),
                    (None, Some(by)) => format!("by {by}"),
                    (None, None) => String::new(),
                };
                vec![vec![
                    m.mandate.clone(),
                    name(&m.action),
                    m.addressee.clone(),
                    report,
                    m.status.name().to_string(),
                    m.asks.clone(),
                ]]
            }
            Item::Group(g) => {
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
                vec![vec![
                    g.group.clone(),
                    name(&g.scope),
                    status.to_string(),
                    g.area.clone().unwrap_or_else(|| g.name.clone()),
                    leads.join(", "),
                ]]
            }
            Item::Report(r) => {
                let subs: Vec<String> = r.submitted.iter().map(|s| s.document.clone()).collect();
                vec![vec![
                    r.report.clone(),
                    r.drafted.on.to_string(),
                    r.endorsed
                        .as_ref()
                        .map(|e| e.on.to_string())
                        .unwrap_or_default(),
                    subs.join(", "),
                    r.status().to_string(),
                    r.title.clone(),
                ]]
            }
            Item::Activity(a) => vec![vec![
                a.activity.clone(),
                a.group.clone(),
                a.on.to_string(),
                opt(&a.area),
                a.title.clone(),
            ]],
            Item::Agreement(a) => {
                let parties: Vec<String> = a.parties.iter().map(name).collect();
                vec![vec![
                    a.agreement.clone(),
                    a.signed.to_string(),
                    list(&parties),
                    a.budget
                        .as_ref()
                        .map(|b| format!("{} {}", b.amount, b.currency))
                        .unwrap_or_default(),
                    a.title.clone(),
                ]]
            }
        }
    }
}
