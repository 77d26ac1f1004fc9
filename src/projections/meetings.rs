//! The meetings read model: each meeting's current dates, venue, mode, status, segments and
//! every move it made (postponements and reschedulings, with from and to).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{ApproxDate, Body, DomainEvent, MeetingKind, Mode, Text};
use crate::envelope::Envelope;

/// Public meeting statuses, as secretariats announce them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Move {
    pub seq: u64,
    pub kind: String,
    pub occurred: ApproxDate,
    pub from: ApproxDate,
    pub to: ApproxDate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

fn text(t: &Option<Text>) -> Option<String> {
    t.as_ref().map(|t| t.0.clone())
}

impl MeetingRow {
    fn move_to(&mut self, env: &Envelope, kind: &str, to: ApproxDate) {
        if to != self.dates {
            self.moves.push(Move {
                seq: env.seq,
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

/// All meetings by id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meetings(pub BTreeMap<String, MeetingRow>);

impl Meetings {
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
                },
            );
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
