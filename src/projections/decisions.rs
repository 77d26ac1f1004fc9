//! The decisions and mandates read models: what each decision asked, of whom, by when, and
//! where each mandate stands (active, in progress, reported, implemented, elapsed, superseded).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use chrono::NaiveDate;

use crate::domain::{ApproxDate, Day, DomainEvent, MandateAction, MandateStatus};
use crate::envelope::Envelope;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionRow {
    pub symbol: String,
    pub meeting: String,
    /// The segment or session of a split meeting at which it was adopted.
    #[serde(skip_serializing_if = "crate::omit::none", default)]
    pub segment: Option<String>,
    /// The body that adopted it, when it says so (a BC decision at a joint BRS meeting);
    /// otherwise its meeting's body.
    #[serde(skip_serializing_if = "crate::omit::none", default)]
    pub body: Option<crate::domain::Body>,
    pub title: String,
    pub adopted: Day,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub issued: Option<Day>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub mirrors: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub mirrored_by: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub amends: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub amended_by: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub supersedes: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
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
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub report_at: Option<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub report_by: Option<Day>,
    pub status: MandateStatus,
    /// When the status last changed (the `occurred` of that event).
    pub since: ApproxDate,
    /// When it was first reported on (a report submitted, or the status set to reported or
    /// implemented), whatever happened after.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
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
    /// Every change to mandates' statuses in the order folded, each with the day from which it
    /// counts: the statuses as of any day, read from the view (see [`MandateStatuses::replay`]).
    #[serde(default)]
    #[schemars(skip)]
    pub changes: Vec<MandateChange>,
}

/// A change to mandates' statuses, with the first day it counts "as of".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MandateChange {
    pub counts_from: NaiveDate,
    pub change: Change,
}

/// What changed mandates' statuses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// A decision adopted with these mandates, superseding the mandates of those decisions.
    Adopted {
        decision: String,
        mandates: Vec<String>,
        supersedes: Vec<String>,
    },
    /// A mandate's status set.
    Status { mandate: String, to: MandateStatus },
    /// A report submitted on these mandates.
    Reported { mandates: Vec<String> },
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

/// What an event changes of mandates' statuses, if anything.
fn change_of(e: &DomainEvent) -> Option<Change> {
    Some(match e {
        DomainEvent::DecisionAdopted(d) => Change::Adopted {
            decision: d.symbol.clone(),
            mandates: d
                .mandates
                .iter()
                .map(|m| mandate_id(&d.symbol, &m.paragraph.0))
                .collect(),
            supersedes: d.supersedes.clone(),
        },
        DomainEvent::MandateStatusChanged(m) => Change::Status {
            mandate: mandate_id(&m.decision, &m.paragraph.0),
            to: m.status,
        },
        DomainEvent::ReportSubmitted(r) if !r.reports_on.is_empty() => Change::Reported {
            mandates: r.reports_on.clone(),
        },
        _ => return None,
    })
}

/// Whether a report submitted on a mandate in this status makes it reported.
fn report_moves(current: MandateStatus) -> bool {
    current < MandateStatus::Reported || current == MandateStatus::Elapsed
}

/// Each mandate's status on each of a list of days, with each decision's mandates: what a
/// status count needs, for many days in one pass over the view's changes. It follows the same
/// rules as [`Decisions::apply`], a change applying to every day from the first by which it
/// counts.
#[derive(Clone, Debug, Default)]
pub struct MandateStatuses<'a> {
    days: usize,
    index: foldhash::HashMap<&'a str, usize>,
    ids: Vec<&'a str>,
    /// Per mandate, its status on each day (`days` to a mandate): none before its decision
    /// counts.
    status: Vec<Option<MandateStatus>>,
    /// Per decision, its mandates as each adoption (from its first day) gave them.
    mandates_of: foldhash::HashMap<&'a str, Vec<(usize, Vec<usize>)>>,
}

impl<'a> MandateStatuses<'a> {
    /// Statuses on `days` days, none known yet.
    pub fn new(days: usize) -> MandateStatuses<'a> {
        MandateStatuses {
            days,
            ..MandateStatuses::default()
        }
    }

    fn intern(&mut self, id: &'a str) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len();
        self.index.insert(id, i);
        self.ids.push(id);
        self.status.resize(self.status.len() + self.days, None);
        i
    }

    /// The statuses on each of `days` (ascending) after `changes`, each applied from the first
    /// day by which it counts.
    pub fn replay(changes: &'a [MandateChange], days: &[NaiveDate]) -> MandateStatuses<'a> {
        debug_assert!(days.windows(2).all(|w| w[0] <= w[1]), "days in order");
        let mut out = MandateStatuses::new(days.len());
        let adopted = changes
            .iter()
            .filter(|c| matches!(c.change, Change::Adopted { .. }))
            .count();
        out.index.reserve(adopted * 2);
        out.mandates_of.reserve(adopted);
        for c in changes {
            let first = days.partition_point(|d| *d < c.counts_from);
            if first < days.len() {
                out.apply(&c.change, first);
            }
        }
        out
    }

    /// Applies a change that counts from day `first` (an index into the days) on.
    fn apply(&mut self, change: &'a Change, first: usize) {
        match change {
            Change::Adopted {
                decision,
                mandates,
                supersedes,
            } => {
                let ids: Vec<usize> = mandates.iter().map(|m| self.intern(m.as_str())).collect();
                for &i in &ids {
                    for s in &mut self.status[i * self.days..][first..self.days] {
                        *s = Some(MandateStatus::Active);
                    }
                }
                for other in supersedes {
                    let Some(adoptions) = self.mandates_of.get(other.as_str()) else {
                        continue;
                    };
                    for day in first..self.days {
                        // The mandates of the last adoption of `other` that counts by then.
                        let Some((_, of)) = adoptions.iter().rev().find(|(f, _)| *f <= day) else {
                            continue;
                        };
                        for &i in of {
                            if let Some(s) = &mut self.status[i * self.days + day] {
                                *s = MandateStatus::Superseded;
                            }
                        }
                    }
                }
                self.mandates_of
                    .entry(decision.as_str())
                    .or_default()
                    .push((first, ids));
            }
            Change::Status { mandate, to } => {
                if let Some(&i) = self.index.get(mandate.as_str()) {
                    for s in self.status[i * self.days..][first..self.days]
                        .iter_mut()
                        .flatten()
                    {
                        *s = changed(*s, *to);
                    }
                }
            }
            Change::Reported { mandates } => {
                for id in mandates {
                    if let Some(&i) = self.index.get(id.as_str()) {
                        for s in self.status[i * self.days..][first..self.days]
                            .iter_mut()
                            .flatten()
                        {
                            if report_moves(*s) {
                                *s = changed(*s, MandateStatus::Reported);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The mandates, by index.
    pub fn mandates(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().copied()
    }

    /// Each mandate known on day `day` (an index into the days), by index, with its status then.
    pub fn on(&self, day: usize) -> impl Iterator<Item = (usize, MandateStatus)> + '_ {
        self.status
            .chunks(self.days.max(1))
            .enumerate()
            .filter_map(move |(i, s)| s.get(day).copied().flatten().map(|s| (i, s)))
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
        if let Some(change) = change_of(e) {
            self.changes.push(MandateChange {
                counts_from: env.occurred.counts_from(),
                change,
            });
        }
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
