//! The meetings read model: each meeting's dates, venue, mode and status, its segments (a split
//! meeting) and sessions (a meeting adjourned or suspended and resumed), the decisions and
//! documents of each, and every move it made (postponements and reschedulings, from and to).
//!
//! A split meeting's own dates and status are derived from its segments after every change,
//! never kept beside them, so the two cannot disagree. A resumption opens a session; it is not a
//! move. An approximate date made exact inside its own window is a confirmation, not a move.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{ApproxDate, Body, DomainEvent, MeetingKind, Mode, Slug};
use crate::envelope::Envelope;

pub mod index;
mod plan;

pub use plan::made_exact_within;
use plan::{change_of, span, status_for, text, Change, Plan};

/// Public meeting statuses, as secretariats announce them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    /// Dates announced as "to be confirmed".
    Tentative,
    Confirmed,
    Postponed,
    Adjourned,
    /// Suspended, to be continued.
    Suspended,
    /// Some segments of a split meeting are over, others still to come.
    PartlyHeld,
    /// Held: the meeting is over.
    Over,
    Cancelled,
}

impl MeetingStatus {
    pub fn name(self) -> &'static str {
        match self {
            MeetingStatus::Tentative => "tentative",
            MeetingStatus::Confirmed => "confirmed",
            MeetingStatus::Postponed => "postponed",
            MeetingStatus::Adjourned => "adjourned",
            MeetingStatus::Suspended => "suspended",
            MeetingStatus::PartlyHeld => "partly_held",
            MeetingStatus::Over => "over",
            MeetingStatus::Cancelled => "cancelled",
        }
    }

    /// Over or cancelled: nothing more will happen at it.
    pub fn is_closed(self) -> bool {
        matches!(self, MeetingStatus::Over | MeetingStatus::Cancelled)
    }
}

/// One sitting of a meeting that was adjourned or suspended and resumed: the first session, then
/// one per resumption, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionRow {
    pub dates: ApproxDate,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub venue: Option<String>,
    pub mode: Option<Mode>,
    pub status: MeetingStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SegmentRow {
    pub segment: String,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub title: Option<String>,
    pub dates: ApproxDate,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub venue: Option<String>,
    pub mode: Option<Mode>,
    pub status: MeetingStatus,
    /// Postponed to dates still to be determined (`dates` are the last ones known).
    #[serde(skip_serializing_if = "crate::omit::falsy", default)]
    pub to_be_determined: bool,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub sessions: Vec<SessionRow>,
    /// Decisions adopted at this segment.
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub decisions: Vec<String>,
}

/// One change of a meeting's dates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Move {
    pub seq: u64,
    /// The segment that moved, for a split meeting.
    #[serde(skip_serializing_if = "crate::omit::none", default)]
    pub segment: Option<String>,
    pub kind: String,
    pub occurred: ApproxDate,
    pub from: ApproxDate,
    /// The new dates (equal to `from` when they are to be determined).
    pub to: ApproxDate,
    /// Postponed with the new dates still to be determined: no day count can be made.
    #[serde(skip_serializing_if = "crate::omit::falsy", default)]
    pub to_be_determined: bool,
    /// Who decided it, when recorded (`mc-bureau`).
    #[serde(skip_serializing_if = "crate::omit::none", default)]
    pub decided_by: Option<String>,
}

/// A document posted or report submitted for a meeting (or one of its segments).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocumentRef {
    pub document: String,
    /// `provisional_agenda`, `pre_session`, … or `report` for a submitted report.
    pub kind: String,
    /// The meeting or segment id the document names.
    pub for_id: String,
    pub seq: u64,
    pub on: ApproxDate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MeetingRow {
    pub meeting: String,
    pub body: Body,
    /// For a joint meeting, the bodies that meet together.
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub bodies: Vec<Body>,
    pub kind: MeetingKind,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub number: Option<String>,
    pub title: String,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub venue: Option<String>,
    pub mode: Option<Mode>,
    /// The meeting's dates; for a split meeting, the span of its segments.
    pub dates: ApproxDate,
    pub tentative: bool,
    pub status: MeetingStatus,
    /// Postponed to dates still to be determined (`dates` are the last ones known).
    #[serde(skip_serializing_if = "crate::omit::falsy", default)]
    pub to_be_determined: bool,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub segments: Vec<SegmentRow>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub sessions: Vec<SessionRow>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub moves: Vec<Move>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub decisions: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub documents: Vec<DocumentRef>,
}

impl MeetingRow {
    fn plan(&mut self) -> Plan<'_> {
        Plan {
            dates: &mut self.dates,
            venue: &mut self.venue,
            mode: &mut self.mode,
            status: &mut self.status,
            to_be_determined: &mut self.to_be_determined,
            sessions: &mut self.sessions,
        }
    }

    fn segment_mut(&mut self, id: &str) -> Option<&mut SegmentRow> {
        self.segments.iter_mut().find(|s| s.segment == id)
    }

    /// A split meeting's dates and status, from its segments.
    fn derive_from_segments(&mut self) {
        if self.segments.is_empty() {
            return;
        }
        let live: Vec<&SegmentRow> = self
            .segments
            .iter()
            .filter(|s| s.status != MeetingStatus::Cancelled)
            .collect();
        let counted: Vec<&SegmentRow> = if live.is_empty() {
            self.segments.iter().collect()
        } else {
            live.clone()
        };
        if let Some(d) = span(counted.iter().map(|s| s.dates)) {
            self.dates = d;
        }
        let any = |st: MeetingStatus| live.iter().any(|s| s.status == st);
        self.status = if live.is_empty() {
            MeetingStatus::Cancelled
        } else if live.iter().all(|s| s.status == MeetingStatus::Over) {
            MeetingStatus::Over
        } else if any(MeetingStatus::Over) {
            MeetingStatus::PartlyHeld
        } else if any(MeetingStatus::Suspended) {
            MeetingStatus::Suspended
        } else if any(MeetingStatus::Adjourned) {
            MeetingStatus::Adjourned
        } else if any(MeetingStatus::Postponed) {
            MeetingStatus::Postponed
        } else if live.iter().all(|s| s.status == MeetingStatus::Confirmed) {
            MeetingStatus::Confirmed
        } else {
            MeetingStatus::Tentative
        };
        let ahead = || live.iter().filter(|s| !s.status.is_closed());
        self.to_be_determined = ahead().any(|s| s.to_be_determined);
        self.tentative = ahead().any(|s| {
            s.to_be_determined
                || !s.dates.is_exact()
                || matches!(
                    s.status,
                    MeetingStatus::Tentative | MeetingStatus::Postponed
                )
        });
    }
}

/// The ids an event names (see [`Meetings::named`]).
#[derive(Debug, Default)]
pub struct Named<'a> {
    /// Meeting ids, taken as they are.
    pub meetings: Vec<&'a str>,
    /// Ids of a meeting, or else of a segment of one.
    pub either: Vec<&'a str>,
}

impl Named<'_> {
    pub fn is_empty(&self) -> bool {
        self.meetings.is_empty() && self.either.is_empty()
    }
}

/// All meetings by id, and the meeting of each segment id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Meetings(
    pub BTreeMap<String, MeetingRow>,
    #[serde(default)] pub BTreeMap<String, String>,
);

impl Meetings {
    /// The meeting with this id, or the meeting one of whose segments has it.
    pub fn find(&self, id: &str) -> Option<&MeetingRow> {
        self.0
            .get(id)
            .or_else(|| self.1.get(id).and_then(|m| self.0.get(m)))
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut MeetingRow> {
        let key = if self.0.contains_key(id) {
            id.to_string()
        } else {
            self.1.get(id)?.clone()
        };
        self.0.get_mut(&key)
    }

    pub fn apply(&mut self, env: &Envelope, e: &DomainEvent) {
        use DomainEvent as E;
        match e {
            E::MeetingScheduled(m) => {
                let tentative = m.tentative || !m.dates.is_exact();
                self.0.insert(
                    m.meeting.0.clone(),
                    MeetingRow {
                        meeting: m.meeting.0.clone(),
                        body: m.body,
                        bodies: m.bodies.clone(),
                        kind: m.kind,
                        number: text(&m.number),
                        title: m.title.0.clone(),
                        venue: text(&m.venue),
                        mode: m.mode,
                        dates: m.dates,
                        tentative,
                        status: status_for(&m.dates, tentative),
                        to_be_determined: false,
                        segments: Vec::new(),
                        sessions: Vec::new(),
                        moves: Vec::new(),
                        decisions: Vec::new(),
                        documents: Vec::new(),
                    },
                );
            }
            E::DocumentPosted(d) => {
                let kind = serde_json::to_value(d.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.document(env, d.meeting.as_str(), &d.document, kind);
            }
            E::ReportSubmitted(r) => {
                self.document(env, r.meeting.as_str(), &r.document, "report".into())
            }
            E::DecisionAdopted(d) => {
                let segment = d.segment.as_ref().map(|s| s.0.clone()).or_else(|| {
                    self.1
                        .contains_key(d.meeting.as_str())
                        .then(|| d.meeting.0.clone())
                });
                if let Some(row) = self.find_mut(d.meeting.as_str()) {
                    row.decisions.push(d.symbol.clone());
                    if let Some(s) = segment.and_then(|s| row.segment_mut(&s)) {
                        s.decisions.push(d.symbol.clone());
                    }
                }
            }
            E::MeetingSplit(m) => self.split(env, m),
            _ => {
                if let Some((meeting, segment, change)) = change_of(e) {
                    self.change(env, meeting, segment, change);
                }
            }
        }
    }

    /// What an event names, as `apply` reads it: meeting ids it takes as they are, and ids
    /// it looks up as a meeting or else a segment of one (`find_mut`). Every event `apply`
    /// folds into a row names the row's meeting or one of its segments here, which is what
    /// lets [`index`] fold one meeting from its own events.
    pub fn named(e: &DomainEvent) -> Named<'_> {
        use DomainEvent as E;
        let mut n = Named::default();
        match e {
            E::MeetingScheduled(m) => n.meetings.push(m.meeting.as_str()),
            E::MeetingSplit(m) => n.meetings.push(m.meeting.as_str()),
            E::DocumentPosted(d) => n.either.push(d.meeting.as_str()),
            E::ReportSubmitted(r) => n.either.push(r.meeting.as_str()),
            E::DecisionAdopted(d) => {
                n.either.push(d.meeting.as_str());
                n.either.extend(d.segment.as_ref().map(|s| s.as_str()));
            }
            _ => {
                if let Some((meeting, segment, _)) = change_of(e) {
                    n.meetings.push(meeting.as_str());
                    n.either.extend(segment.map(|s| s.as_str()));
                }
            }
        }
        n
    }

    fn document(&mut self, env: &Envelope, id: &str, document: &str, kind: String) {
        if let Some(row) = self.find_mut(id) {
            row.documents.push(DocumentRef {
                document: document.to_string(),
                kind,
                for_id: id.to_string(),
                seq: env.seq,
                on: env.occurred,
            });
        }
    }

    fn split(&mut self, env: &Envelope, m: &crate::domain::MeetingSplit) {
        let Some(row) = self.0.get_mut(m.meeting.as_str()) else {
            return;
        };
        let status = row.status;
        let before = row.dates;
        row.segments = m
            .segments
            .iter()
            .map(|s| SegmentRow {
                segment: s.segment.0.clone(),
                title: text(&s.title),
                dates: s.dates,
                venue: text(&s.venue),
                mode: s.mode,
                status: status_for(&s.dates, status == MeetingStatus::Tentative),
                to_be_determined: false,
                sessions: Vec::new(),
                decisions: Vec::new(),
            })
            .collect();
        row.derive_from_segments();
        // Exact segments that end (or begin) elsewhere than the meeting's dates move it.
        let to = row.dates;
        if m.segments.iter().all(|s| s.dates.is_exact())
            && to != before
            && !made_exact_within(&before, &to)
        {
            row.moves.push(Move {
                seq: env.seq,
                segment: None,
                kind: "split".to_string(),
                occurred: env.occurred,
                from: before,
                to,
                to_be_determined: false,
                decided_by: m.decided_by.as_ref().map(|s| s.0.clone()),
            });
        }
        for s in &m.segments {
            self.1.insert(s.segment.0.clone(), m.meeting.0.clone());
        }
    }

    fn change(&mut self, env: &Envelope, meeting: &Slug, segment: Option<&Slug>, change: Change) {
        let Some(row) = self.0.get_mut(meeting.as_str()) else {
            return;
        };
        if let Some(seg) = segment {
            let Some(s) = row.segment_mut(seg.as_str()) else {
                return;
            };
            let plan = Plan {
                dates: &mut s.dates,
                venue: &mut s.venue,
                mode: &mut s.mode,
                status: &mut s.status,
                to_be_determined: &mut s.to_be_determined,
                sessions: &mut s.sessions,
            };
            if let Some(mut mv) = plan.apply(env, change) {
                mv.segment = Some(seg.0.clone());
                row.moves.push(mv);
            }
        } else if row.segments.is_empty() {
            let tentative = matches!(
                change,
                Change::Dates {
                    tentative: true,
                    ..
                }
            );
            let closing = matches!(change, Change::Held { .. });
            if let Some(mv) = row.plan().apply(env, change) {
                row.moves.push(mv);
            }
            row.tentative = !closing
                && !row.status.is_closed()
                && (tentative
                    || row.to_be_determined
                    || !row.dates.is_exact()
                    || row.status == MeetingStatus::Tentative);
        } else {
            // A change to a split meeting as a whole reaches every segment still to come: a
            // postponement marks them postponed (to be determined when no dates are given),
            // a cancellation cancels them, and a record of the whole as held (written before
            // the rules asked for the segment) closes them.
            for s in row.segments.iter_mut().filter(|s| !s.status.is_closed()) {
                match &change {
                    Change::Dates {
                        postponed: true,
                        dates,
                        ..
                    } => {
                        s.status = MeetingStatus::Postponed;
                        s.to_be_determined = dates.is_none();
                    }
                    Change::Cancelled => s.status = MeetingStatus::Cancelled,
                    Change::Held { .. } => s.status = MeetingStatus::Over,
                    _ => {}
                }
            }
            if let Change::Dates {
                kind,
                dates,
                decided_by,
                ..
            } = change
            {
                let from = row.dates;
                row.moves.push(Move {
                    seq: env.seq,
                    segment: None,
                    kind: kind.to_string(),
                    occurred: env.occurred,
                    from,
                    to: dates.unwrap_or(from),
                    to_be_determined: dates.is_none(),
                    decided_by: decided_by.map(|s| s.0.clone()),
                });
            }
        }
        row.derive_from_segments();
    }
}
