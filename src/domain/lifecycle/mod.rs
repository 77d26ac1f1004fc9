//! The rules a new event must keep, given the log as it stands: every id it names exists (or is
//! created earlier in the same batch), and it fits the life cycle of the entity it changes.
//!
//! `decide(registry, event)` says yes or why not; `Registry::evolve` records what an accepted
//! event changes and never fails. Both backends call them under their writer's lock (through
//! `store::rules`), so the CLI, the API and the dashboard are held to one set of rules. The
//! registry keeps only what the rules need (ids, states, segments, paragraphs), not the read
//! models. A batch evolves the registry as it goes and, if refused, is rolled back from a
//! journal of what it changed. The life cycles are tabled in ARCHITECTURE.md.

mod meetings;
mod others;

use std::hash::Hash;

use super::{Body, DomainEvent, MandateStatus};

pub use meetings::{MeetingLife, SegmentLife, Stage};

/// Why an event was refused: the field at fault and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refusal {
    /// The path of the field, as in decoding errors: `data.meeting`, `data.segments[1].segment`.
    pub field: String,
    pub message: String,
}

pub(crate) fn refuse<T>(field: &str, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        field: field.to_string(),
        message: message.into(),
    })
}

/// A map that journals each change, so that a batch refused half way can be rolled back.
/// Hashed with foldhash (seeded per process): the record-time checks look an entity up for
/// every event appended.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(bound(
    serialize = "K: serde::Serialize, V: serde::Serialize",
    deserialize = "K: serde::Deserialize<'de>, V: serde::Deserialize<'de>"
))]
pub struct Table<K: Eq + Hash + Clone, V: Clone> {
    map: foldhash::HashMap<K, V>,
    /// Changes since the last commit; a stored registry is a committed one.
    #[serde(skip)]
    undo: Vec<(K, Option<V>)>,
}

impl<K: Eq + Hash + Clone, V: Clone> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            map: foldhash::HashMap::default(),
            undo: Vec::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Table<K, V> {
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map.get(k)
    }

    pub fn contains<Q>(&self, k: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map.contains_key(k)
    }

    pub fn insert(&mut self, k: K, v: V) {
        let old = self.map.insert(k.clone(), v);
        self.undo.push((k, old));
    }

    pub fn remove<Q>(&mut self, k: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(old) = self.map.remove(k) {
            self.undo.push((k.to_owned(), Some(old)));
        }
    }

    /// Changes the value under `k`, if there is one.
    pub fn update<Q>(&mut self, k: &Q, f: impl FnOnce(&mut V))
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(v) = self.map.get_mut(k) {
            self.undo.push((k.to_owned(), Some(v.clone())));
            f(v);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    fn rollback(&mut self) {
        while let Some((k, old)) = self.undo.pop() {
            match old {
                Some(v) => self.map.insert(k, v),
                None => self.map.remove(&k),
            };
        }
    }

    fn commit(&mut self) {
        self.undo.clear();
    }
}

/// A decision and the paragraphs of its mandates with their statuses, and each change of a
/// status with the seq that made it (so that a retracted change is undone exactly).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DecisionLife {
    pub meeting: String,
    pub body: Body,
    pub paragraphs: Vec<(String, MandateStatus)>,
    pub changes: Vec<(String, u64, StatusChange)>,
}

/// What an event did to a mandate's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StatusChange {
    /// `MandateStatusChanged`.
    Set(MandateStatus),
    /// Reported on (`ReportSubmitted.reports_on`): reported unless already further on.
    Reported,
    /// Its decision superseded.
    Superseded,
}

impl DecisionLife {
    /// Records a change of paragraph `p` at `seq` and recomputes its status.
    fn change(&mut self, p: &str, seq: u64, c: StatusChange) {
        self.changes.push((p.to_string(), seq, c));
        self.recompute(p);
    }

    fn recompute(&mut self, p: &str) {
        let mut changes: Vec<(u64, StatusChange)> = self
            .changes
            .iter()
            .filter(|(q, _, _)| q == p)
            .map(|(_, s, c)| (*s, *c))
            .collect();
        changes.sort_by_key(|(s, _)| *s);
        let status = changes
            .iter()
            .fold(MandateStatus::Active, |st, (_, c)| match c {
                StatusChange::Set(s) => *s,
                StatusChange::Superseded => MandateStatus::Superseded,
                StatusChange::Reported
                    if st < MandateStatus::Reported || st == MandateStatus::Elapsed =>
                {
                    MandateStatus::Reported
                }
                StatusChange::Reported => st,
            });
        if let Some(entry) = self.paragraphs.iter_mut().find(|(q, _)| q == p) {
            entry.1 = status;
        }
    }
}

/// Where a report stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReportStage {
    Drafted,
    Endorsed,
    Submitted,
}

/// A body: its joint members (BC, RC and SC under BRS), and the kinds of meeting it holds
/// (any, when none are recorded).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct BodyLife {
    pub members: Vec<Body>,
    pub meeting_kinds: Vec<super::MeetingKind>,
}

/// What the rules know of the log: every entity by id, with the state its life cycle needs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Registry {
    pub meetings: Table<String, MeetingLife>,
    /// Segment id → the meeting it belongs to and its stage.
    pub segments: Table<String, SegmentLife>,
    pub decisions: Table<String, DecisionLife>,
    /// Group id → dissolved.
    pub groups: Table<String, bool>,
    pub activities: Table<String, ()>,
    pub reports: Table<String, ReportStage>,
    pub documents: Table<String, ()>,
    pub agreements: Table<String, ()>,
    pub bodies: Table<Body, BodyLife>,
    /// (body, party) → the day it joined.
    pub parties: Table<(Body, String), chrono::NaiveDate>,
    /// (body, cycle, kind, party) of each national report received.
    pub national_reports: Table<(Body, String, super::NationalReportKind, String), ()>,
    /// Seqs of events already undone for a correction.
    pub corrected: Table<u64, ()>,
}

impl Default for Registry {
    /// The registry of an empty log: the eight shipped bodies, nothing else.
    fn default() -> Self {
        let mut r = Registry {
            meetings: Table::default(),
            segments: Table::default(),
            decisions: Table::default(),
            groups: Table::default(),
            activities: Table::default(),
            reports: Table::default(),
            documents: Table::default(),
            agreements: Table::default(),
            bodies: Table::default(),
            parties: Table::default(),
            national_reports: Table::default(),
            corrected: Table::default(),
        };
        for b in [
            Body::MC,
            Body::BC,
            Body::RC,
            Body::SC,
            Body::UNEA,
            Body::ICCM,
            Body::HUB,
        ] {
            r.bodies.insert(b, BodyLife::default());
        }
        r.bodies.insert(
            Body::BRS,
            BodyLife {
                members: vec![Body::BC, Body::RC, Body::SC],
                meeting_kinds: Vec::new(),
            },
        );
        r.commit();
        r
    }
}

impl Registry {
    /// Checks `event` against the log as this registry knows it.
    pub fn decide(&self, event: &DomainEvent) -> Result<(), Refusal> {
        if let Some(r) = meetings::decide(self, event) {
            return r;
        }
        others::decide(self, event)
    }

    /// Records what an accepted event (at `seq`) changes. Never fails: an event the rules would
    /// refuse (in a log written before them) changes what it can and is otherwise passed over.
    pub fn evolve(&mut self, seq: u64, event: &DomainEvent) {
        if !meetings::evolve(self, event) {
            others::evolve(self, seq, event);
        }
    }

    /// Takes back what the event at `seq` did, for a correction of it (a retraction; an
    /// amendment then evolves its corrected data at the same seq). `false` when this cannot be
    /// done exactly here (the registry must then be folded again from the log): only an
    /// activity report and a mandate's status change, never corrected before, are undone here.
    pub fn undo(&mut self, seq: u64, event: &DomainEvent) -> bool {
        if self.corrected.contains(&seq) {
            return false;
        }
        let done = match event {
            DomainEvent::ActivityReported(a) => {
                self.activities.remove(a.activity.as_str());
                true
            }
            DomainEvent::MandateStatusChanged(m) => {
                self.decisions.update(m.decision.as_str(), |d| {
                    d.changes.retain(|(_, s, _)| *s != seq);
                    d.recompute(&m.paragraph.0);
                });
                true
            }
            _ => false,
        };
        if done {
            self.corrected.insert(seq, ());
        }
        done
    }

    /// Forgets every change since the last commit.
    pub fn rollback(&mut self) {
        self.meetings.rollback();
        self.segments.rollback();
        self.decisions.rollback();
        self.groups.rollback();
        self.activities.rollback();
        self.reports.rollback();
        self.documents.rollback();
        self.agreements.rollback();
        self.bodies.rollback();
        self.parties.rollback();
        self.national_reports.rollback();
        self.corrected.rollback();
    }

    /// Keeps every change since the last commit.
    pub fn commit(&mut self) {
        self.meetings.commit();
        self.segments.commit();
        self.decisions.commit();
        self.groups.commit();
        self.activities.commit();
        self.reports.commit();
        self.documents.commit();
        self.agreements.commit();
        self.bodies.commit();
        self.parties.commit();
        self.national_reports.commit();
        self.corrected.commit();
    }

    /// A body that exists, or the refusal naming `field`.
    fn body(&self, field: &str, body: Body) -> Result<&BodyLife, Refusal> {
        match self.bodies.get(&body) {
            Some(b) => Ok(b),
            None => refuse(
                field,
                format!("no body `{body}`: record BodyRegistered first (the shipped bodies are MC, BC, RC, SC, BRS, UNEA, ICCM, HUB)"),
            ),
        }
    }
}

/// Splits `SYMBOL#paragraph` (a mandate reference) or returns the symbol alone.
fn mandate_ref(s: &str) -> (&str, Option<&str>) {
    match s.split_once('#') {
        Some((d, p)) => (d, Some(p)),
        None => (s, None),
    }
}

/// A decision by its symbol alone (`MC-3/11`), recorded.
fn decision(reg: &Registry, field: &str, s: &str) -> Result<(), Refusal> {
    if s.contains('#') {
        return refuse(
            field,
            format!("`{s}` names a mandate: give the decision's symbol"),
        );
    }
    decision_or_mandate(reg, field, s)
}

/// A mandate (`MC-3/11#2`), recorded.
fn mandate(reg: &Registry, field: &str, s: &str) -> Result<(), Refusal> {
    if !s.contains('#') {
        return refuse(
            field,
            format!("`{s}` names a decision: give a mandate as SYMBOL#paragraph (`{s}#1`)"),
        );
    }
    decision_or_mandate(reg, field, s)
}

/// A decision (`MC-3/11`) or one of its mandates (`MC-3/11#2`) that exists.
fn decision_or_mandate(reg: &Registry, field: &str, s: &str) -> Result<(), Refusal> {
    let (symbol, paragraph) = mandate_ref(s);
    let Some(d) = reg.decisions.get(symbol) else {
        return refuse(field, format!("no decision `{symbol}` in the log"));
    };
    if let Some(p) = paragraph {
        if !d.paragraphs.iter().any(|(q, _)| q == p) {
            return refuse(
                field,
                format!(
                    "decision `{symbol}` has no paragraph `{p}` (it has {})",
                    list(d.paragraphs.iter().map(|(q, _)| q.as_str()))
                ),
            );
        }
    }
    Ok(())
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
