//! The meetings read model: each meeting's current dates, venue, mode, status, segments and
//! every move it made (postponements and reschedulings, with from and to).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{ApproxDate, Body, DomainEvent, MeetingKind, Mode, Text};
use crate::envelope::Envelope;

/// Public meeting statuses, as secretariats announce them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    /// Dates announced as "to be confirmed".
    Tentative,
    Confirmed,
    Postponed,
    Adjourned,
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
            MeetingStatus::Over => "over",
            MeetingStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SegmentRow {
    pub segment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub dates: ApproxDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    pub mode: Option<Mode>,
    pub status: MeetingStatus,
}

/// One change of a meeting's dates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Move {
    pub seq: u64,
    /// The segment that moved, for a split meeting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub segment: Option<String>,
    pub kind: String,
    pub occurred: ApproxDate,
    pub from: ApproxDate,
    pub to: ApproxDate,
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
    pub kind: MeetingKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    pub mode: Option<Mode>,
    pub dates: ApproxDate,
    pub tentative: bool,
    pub status: MeetingStatus,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub segments: Vec<SegmentRow>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub moves: Vec<Move>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub decisions: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub documents: Vec<DocumentRef>,
}

fn text(t: &Option<Text>) -> Option<String> {
    t.as_ref().map(|t| t.0.clone())
}

impl MeetingRow {
    fn move_to(&mut self, env: &Envelope, kind: &str, to: ApproxDate) {
        if to != self.dates {
            self.moves.push(Move {
                seq: env.seq,
                segment: None,
                kind: kind.to_string(),
                occurred: env.occurred,
                from: self.dates,
                to,
            });
        }
        self.dates = to;
    }

    fn segment_mut(&mut self, id: &Option<crate::domain::Slug>) -> Option<&mut SegmentRow> {
        let id = id.as_ref()?;
        self.segments.iter_mut().find(|s| s.segment == id.0)
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
        if let E::MeetingScheduled(m) = e {
            self.0.insert(
                m.meeting.0.clone(),
                MeetingRow {
                    meeting: m.meeting.0.clone(),
                    body: m.body,
                    kind: m.kind,
                    number: text(&m.number),
                    title: m.title.0.clone(),
                    venue: text(&m.venue),
                    mode: m.mode,
                    dates: m.dates,
                    tentative: m.tentative || !m.dates.is_exact(),
                    status: if m.tentative || !m.dates.is_exact() {
                        MeetingStatus::Tentative
                    } else {
                        MeetingStatus::Confirmed
                    },
                    segments: Vec::new(),
                    moves: Vec::new(),
                    decisions: Vec::new(),
                    documents: Vec::new(),
                },
            );
            return;
        }
        let posted = match e {
            E::DocumentPosted(d) => {
                let kind = serde_json::to_value(d.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                Some((d.meeting.as_str(), d.document.as_str(), kind))
            }
            E::ReportSubmitted(r) => Some((
                r.meeting.as_str(),
                r.document.as_str(),
                "report".to_string(),
            )),
            _ => None,
        };
        if let Some((id, document, kind)) = posted {
            if let Some(row) = self.find_mut(id) {
                row.documents.push(DocumentRef {
                    document: document.to_string(),
                    kind,
                    for_id: id.to_string(),
                    seq: env.seq,
                    on: env.occurred,
                });
            }
            return;
        }
        if let E::DecisionAdopted(d) = e {
            if let Some(row) = self.0.get_mut(d.meeting.as_str()) {
                row.decisions.push(d.symbol.clone());
            }
            return;
        }
        let id = match e {
            E::MeetingConfirmed(m) => &m.meeting,
            E::MeetingPostponed(m) => &m.meeting,
            E::MeetingRescheduled(m) => &m.meeting,
            E::MeetingSplit(m) => &m.meeting,
            E::MeetingAdjourned(m) => &m.meeting,
            E::MeetingResumed(m) => &m.meeting,
            E::MeetingHeld(m) => &m.meeting,
            E::MeetingCancelled(m) => &m.meeting,
            _ => return,
        };
        let Some(row) = self.0.get_mut(id.as_str()) else {
            return;
        };
        // A change to one segment of a split meeting.
        let seg_change = match e {
            E::MeetingConfirmed(m) => m
                .segment
                .as_ref()
                .map(|s| (s, Some(m.dates), text(&m.venue), m.mode, false, false)),
            E::MeetingPostponed(m) => m
                .segment
                .as_ref()
                .map(|s| (s, Some(m.dates), None, None, m.tentative, false)),
            E::MeetingRescheduled(m) => m
                .segment
                .as_ref()
                .map(|s| (s, Some(m.dates), text(&m.venue), m.mode, m.tentative, false)),
            E::MeetingCancelled(m) => m
                .segment
                .as_ref()
                .map(|s| (s, None, None, None, false, true)),
            _ => None,
        };
        if let Some((seg, dates, venue, mode, tentative, cancelled)) = seg_change {
            let kind = e.type_name().trim_start_matches("Meeting").to_lowercase();
            let before = row.segment_mut(&Some(seg.clone())).map(|s| s.dates);
            if let (Some(from), Some(to)) = (before, dates) {
                if from != to {
                    row.moves.push(Move {
                        seq: env.seq,
                        segment: Some(seg.0.clone()),
                        kind,
                        occurred: env.occurred,
                        from,
                        to,
                    });
                }
            }
            if let Some(s) = row.segment_mut(&Some(seg.clone())) {
                if cancelled {
                    s.status = MeetingStatus::Cancelled;
                } else if let Some(d) = dates {
                    s.dates = d;
                    s.venue = venue.or(s.venue.take());
                    s.mode = mode.or(s.mode);
                    s.status = if tentative || !d.is_exact() {
                        MeetingStatus::Tentative
                    } else {
                        MeetingStatus::Confirmed
                    };
                }
            }
            return;
        }
        match e {
            E::MeetingConfirmed(m) => {
                row.move_to(env, "confirmed", m.dates);
                row.venue = text(&m.venue).or(row.venue.take());
                row.mode = m.mode.or(row.mode);
                row.tentative = !m.dates.is_exact();
                row.status = if row.tentative {
                    MeetingStatus::Tentative
                } else {
                    MeetingStatus::Confirmed
                };
            }
            E::MeetingPostponed(m) => {
                row.move_to(env, "postponed", m.dates);
                row.tentative = m.tentative || !m.dates.is_exact();
                row.status = MeetingStatus::Postponed;
                // Postponing a split meeting as a whole postpones every segment still to come.
                for s in &mut row.segments {
                    if s.status != MeetingStatus::Over && s.status != MeetingStatus::Cancelled {
                        s.status = MeetingStatus::Postponed;
                    }
                }
            }
            E::MeetingRescheduled(m) => {
                row.move_to(env, "rescheduled", m.dates);
                row.venue = text(&m.venue).or(row.venue.take());
                row.mode = m.mode.or(row.mode);
                row.tentative = m.tentative || !m.dates.is_exact();
                row.status = if row.tentative {
                    MeetingStatus::Tentative
                } else {
                    MeetingStatus::Confirmed
                };
            }
            E::MeetingSplit(m) => {
                let status = row.status;
                for s in &m.segments {
                    self.1.insert(s.segment.0.clone(), m.meeting.0.clone());
                }
                let row = self.0.get_mut(id.as_str()).expect("looked up above");
                row.segments = m
                    .segments
                    .iter()
                    .map(|s| SegmentRow {
                        segment: s.segment.0.clone(),
                        title: text(&s.title),
                        dates: s.dates,
                        venue: text(&s.venue),
                        mode: s.mode,
                        status: if s.dates.is_exact() && status != MeetingStatus::Tentative {
                            MeetingStatus::Confirmed
                        } else {
                            MeetingStatus::Tentative
                        },
                    })
                    .collect();
                let first = m.segments.iter().map(|s| s.dates.start()).min();
                let last = m.segments.iter().filter_map(|s| s.dates.end()).max();
                if let (Some(a), Some(b)) = (first, last) {
                    let span = if a == b {
                        ApproxDate::Day(a)
                    } else {
                        ApproxDate::Range(a, b)
                    };
                    if m.segments.iter().all(|s| s.dates.is_exact()) {
                        row.move_to(env, "split", span);
                    }
                }
            }
            E::MeetingAdjourned(m) => match row.segment_mut(&m.segment) {
                Some(s) => s.status = MeetingStatus::Adjourned,
                None => row.status = MeetingStatus::Adjourned,
            },
            E::MeetingResumed(m) => {
                let venue = text(&m.venue);
                match row.segment_mut(&m.segment) {
                    Some(s) => {
                        s.dates = m.dates;
                        s.venue = venue.or(s.venue.take());
                        s.mode = m.mode.or(s.mode);
                        s.status = MeetingStatus::Confirmed;
                    }
                    None => {
                        row.move_to(env, "resumed", m.dates);
                        row.venue = venue.or(row.venue.take());
                        row.status = MeetingStatus::Confirmed;
                    }
                }
            }
            E::MeetingHeld(m) => {
                let venue = text(&m.venue);
                match row.segment_mut(&m.segment) {
                    Some(s) => {
                        s.dates = m.dates;
                        s.status = MeetingStatus::Over;
                        s.venue = venue.or(s.venue.take());
                    }
                    None => {
                        row.dates = m.dates;
                        row.venue = venue.or(row.venue.take());
                    }
                }
                let all_over = row.segments.iter().all(|s| s.status == MeetingStatus::Over);
                if m.segment.is_none() || all_over {
                    row.status = MeetingStatus::Over;
                    row.tentative = false;
                }
            }
            E::MeetingCancelled(_) => {
                row.status = MeetingStatus::Cancelled;
                for s in &mut row.segments {
                    if s.status != MeetingStatus::Over {
                        s.status = MeetingStatus::Cancelled;
                    }
                }
            }
            _ => {}
        }
    }
}
