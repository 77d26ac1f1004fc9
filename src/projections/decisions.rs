//! The decisions and mandates read models: what each decision asked, of whom, by when, and
//! where each mandate stands (active, in progress, reported, implemented, elapsed, superseded).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{ApproxDate, Day, DomainEvent, MandateAction, MandateStatus};
use crate::envelope::Envelope;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionRow {
    pub symbol: String,
    pub meeting: String,
    /// The segment or session of a split meeting at which it was adopted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub segment: Option<String>,
    /// The body that adopted it, when it says so (a BC decision at a joint BRS meeting);
    /// otherwise its meeting's body.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<crate::domain::Body>,
    pub title: String,
    pub adopted: Day,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued: Option<Day>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mirrors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mirrored_by: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub amends: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub amended_by: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub supersedes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    pub mandates: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MandateRow {
    /// `symbol#paragraph`, such as `MC-3/11#2`.
    pub mandate: String,
    pub decision: String,
    pub paragraph: String,
    pub action: MandateAction,
    pub addressee: String,
    pub asks: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_by: Option<Day>,
    pub status: MandateStatus,
    /// When the status last changed (the `occurred` of that event).
    pub since: ApproxDate,
    /// When it was first reported on (a report submitted, or the status set to reported or
    /// implemented), whatever happened after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_on: Option<ApproxDate>,
}

impl DecisionRow {
    /// Its relations to other decisions, for people: "mirrors MC-3/11; superseded by X".
    pub fn relations(&self) -> String {
        let mut rel = Vec::new();
        rel.extend(self.mirrors.iter().map(|s| format!("mirrors {s}")));
        rel.extend(self.amends.iter().map(|s| format!("amends {s}")));
        rel.extend(self.supersedes.iter().map(|s| format!("supersedes {s}")));
        rel.extend(
            self.superseded_by
                .iter()
                .map(|s| format!("superseded by {s}")),
        );
        rel.join("; ")
    }
}

/// The id of a mandate: its decision's symbol and paragraph.
pub fn mandate_id(symbol: &str, paragraph: &str) -> String {
    format!("{symbol}#{paragraph}")
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decisions {
    pub decisions: BTreeMap<String, DecisionRow>,
    pub mandates: BTreeMap<String, MandateRow>,
}

/// A mandate's status after a change to `to`: a superseded mandate stays superseded, unless
/// the change itself supersedes.
fn changed(current: MandateStatus, to: MandateStatus) -> MandateStatus {
    if to == MandateStatus::Superseded || current != MandateStatus::Superseded {
        to
    } else {
        current
    }
}

/// Whether a report submitted on a mandate in this status makes it reported.
fn report_moves(current: MandateStatus) -> bool {
    current < MandateStatus::Reported || current == MandateStatus::Elapsed
}

/// Each mandate's status on each of a list of days, with each decision's mandates: what a
/// status count needs, for many days in one pass. It follows the same rules as
/// [`Decisions::apply`], an event applying to every day from the first by which it counts.
#[derive(Clone, Debug, Default)]
pub struct MandateStatuses {
    days: usize,
    index: std::collections::HashMap<String, usize>,
    ids: Vec<String>,
    /// Per mandate, its status on each day: none before its decision counts.
    status: Vec<Vec<Option<MandateStatus>>>,
    /// Per decision, its mandates as each adoption (from its first day) gave them.
    mandates_of: std::collections::HashMap<String, Vec<(usize, Vec<usize>)>>,
}

impl MandateStatuses {
    /// Statuses on `days` days, none known yet.
    pub fn new(days: usize) -> MandateStatuses {
        MandateStatuses {
            days,
            ..MandateStatuses::default()
        }
    }

    fn intern(&mut self, id: String) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.ids.len();
        self.index.insert(id.clone(), i);
        self.ids.push(id);
        self.status.push(vec![None; self.days]);
        i
    }

    /// Applies an event that counts from day `first` (an index into the days) on.
    pub fn apply(&mut self, e: &DomainEvent, first: usize) {
        match e {
            DomainEvent::DecisionAdopted(d) => {
                let ids: Vec<usize> = d
                    .mandates
                    .iter()
                    .map(|m| self.intern(mandate_id(&d.symbol, &m.paragraph.0)))
                    .collect();
                for &i in &ids {
                    for s in &mut self.status[i][first..] {
                        *s = Some(MandateStatus::Active);
                    }
                }
                for other in &d.supersedes {
                    let Some(adoptions) = self.mandates_of.get(other) else {
                        continue;
                    };
                    for day in first..self.days {
                        // The mandates of the last adoption of `other` that counts by then.
                        let Some((_, of)) = adoptions.iter().rev().find(|(f, _)| *f <= day) else {
                            continue;
                        };
                        for &i in of {
                            if let Some(s) = &mut self.status[i][day] {
                                *s = MandateStatus::Superseded;
                            }
                        }
                    }
                }
                self.mandates_of
                    .entry(d.symbol.clone())
                    .or_default()
                    .push((first, ids));
            }
            DomainEvent::MandateStatusChanged(m) => {
                let id = mandate_id(&m.decision, &m.paragraph.0);
                if let Some(&i) = self.index.get(&id) {
                    for s in self.status[i][first..].iter_mut().flatten() {
                        *s = changed(*s, m.status);
                    }
                }
            }
            DomainEvent::ReportSubmitted(r) => {
                for id in &r.reports_on {
                    if let Some(&i) = self.index.get(id) {
                        for s in self.status[i][first..].iter_mut().flatten() {
                            if report_moves(*s) {
                                *s = changed(*s, MandateStatus::Reported);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Each mandate known on day `day` (an index into the days), with its status then.
    pub fn on(&self, day: usize) -> impl Iterator<Item = (&str, MandateStatus)> + '_ {
        self.ids
            .iter()
            .zip(&self.status)
            .filter_map(move |(id, s)| s.get(day).copied().flatten().map(|s| (id.as_str(), s)))
    }
}

impl Decisions {
    fn set_status(&mut self, id: &str, status: MandateStatus, since: ApproxDate) {
        if let Some(m) = self.mandates.get_mut(id) {
            if matches!(status, MandateStatus::Reported | MandateStatus::Implemented)
                && m.reported_on.is_none()
            {
                m.reported_on = Some(since);
            }
            // The rule of `changed`, and the day of the change with it.
            if status == MandateStatus::Superseded || m.status != MandateStatus::Superseded {
                m.status = changed(m.status, status);
                m.since = since;
            }
        }
    }

    pub fn apply(&mut self, env: &Envelope, e: &DomainEvent) {
        match e {
            DomainEvent::DecisionAdopted(d) => {
                let mut ids = Vec::new();
                for m in &d.mandates {
                    let id = mandate_id(&d.symbol, &m.paragraph.0);
                    self.mandates.insert(
                        id.clone(),
                        MandateRow {
                            mandate: id.clone(),
                            decision: d.symbol.clone(),
                            paragraph: m.paragraph.0.clone(),
                            action: m.action,
                            addressee: m.addressee.0.clone(),
                            asks: m.asks.0.clone(),
                            report_at: m.report_at.as_ref().map(|s| s.0.clone()),
                            report_by: m.report_by,
                            status: MandateStatus::Active,
                            since: env.occurred,
                            reported_on: None,
                        },
                    );
                    ids.push(id);
                }
                for other in &d.mirrors {
                    if let Some(o) = self.decisions.get_mut(other) {
                        o.mirrored_by.push(d.symbol.clone());
                    }
                }
                for other in &d.amends {
                    if let Some(o) = self.decisions.get_mut(other) {
                        o.amended_by.push(d.symbol.clone());
                    }
                }
                for other in &d.supersedes {
                    if let Some(o) = self.decisions.get_mut(other) {
                        o.superseded_by = Some(d.symbol.clone());
                        for id in o.mandates.clone() {
                            if let Some(m) = self.mandates.get_mut(&id) {
                                m.status = MandateStatus::Superseded;
                                m.since = env.occurred;
                            }
                        }
                    }
                }
                self.decisions.insert(
                    d.symbol.clone(),
                    DecisionRow {
                        symbol: d.symbol.clone(),
                        meeting: d.meeting.0.clone(),
                        segment: d.segment.as_ref().map(|s| s.0.clone()),
                        body: d.body,
                        title: d.title.0.clone(),
                        adopted: d.adopted,
                        issued: d.issued,
                        mirrors: d.mirrors.clone(),
                        mirrored_by: Vec::new(),
                        amends: d.amends.clone(),
                        amended_by: Vec::new(),
                        supersedes: d.supersedes.clone(),
                        superseded_by: None,
                        mandates: ids,
                    },
                );
            }
            DomainEvent::MandateStatusChanged(m) => {
                let id = mandate_id(&m.decision, &m.paragraph.0);
                self.set_status(&id, m.status, env.occurred);
            }
            DomainEvent::ReportSubmitted(r) => {
                for id in &r.reports_on {
                    let open = self
                        .mandates
                        .get(id)
                        .is_some_and(|m| report_moves(m.status));
                    if open {
                        self.set_status(id, MandateStatus::Reported, env.occurred);
                    }
                }
            }
            _ => {}
        }
    }
}
