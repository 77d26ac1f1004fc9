//! How one event changes the plan of a meeting or of one of its segments: dates moved (a move
//! unless exact dates confirm the window announced), adjourned and resumed (a session each),
//! held, cancelled.

use super::{MeetingStatus, Move, SessionRow};
use crate::domain::{ApproxDate, DomainEvent, Mode, Slug, Text};
use crate::envelope::Envelope;

pub(super) fn text(t: &Option<Text>) -> Option<String> {
    t.as_ref().map(|t| t.0.clone())
}

/// Exact dates that open inside the approximate window first announced (February 2022 → 28
/// February–2 March 2022): the announcement made precise, not a move.
pub fn made_exact_within(from: &ApproxDate, to: &ApproxDate) -> bool {
    !from.is_exact()
        && to.is_exact()
        && to.start() >= from.start()
        && from.end().is_none_or(|end| to.start() <= end)
}

pub(super) fn status_for(dates: &ApproxDate, tentative: bool) -> MeetingStatus {
    if tentative || !dates.is_exact() {
        MeetingStatus::Tentative
    } else {
        MeetingStatus::Confirmed
    }
}

/// The part of a meeting whose plan an event changes: the meeting itself, or one segment.
pub(super) struct Plan<'a> {
    pub(super) dates: &'a mut ApproxDate,
    pub(super) venue: &'a mut Option<String>,
    pub(super) mode: &'a mut Option<Mode>,
    pub(super) status: &'a mut MeetingStatus,
    pub(super) to_be_determined: &'a mut bool,
    pub(super) sessions: &'a mut Vec<SessionRow>,
}

/// What an event does to a plan.
pub(super) enum Change<'a> {
    Dates {
        kind: &'static str,
        dates: Option<ApproxDate>,
        venue: Option<String>,
        mode: Option<Mode>,
        tentative: bool,
        postponed: bool,
        decided_by: Option<&'a Slug>,
    },
    Adjourned {
        resume: Option<ApproxDate>,
        suspended: bool,
    },
    Resumed {
        dates: ApproxDate,
        venue: Option<String>,
        mode: Option<Mode>,
    },
    Held {
        dates: ApproxDate,
        venue: Option<String>,
    },
    Cancelled,
}

impl Plan<'_> {
    /// Applies `change`; returns the move it made, if any.
    pub(super) fn apply(self, env: &Envelope, change: Change) -> Option<Move> {
        match change {
            Change::Dates {
                kind,
                dates,
                venue,
                mode,
                tentative,
                postponed,
                decided_by,
            } => {
                let from = *self.dates;
                // While adjourned, dates are those of the session to resume: not a move.
                let waiting = matches!(
                    *self.status,
                    MeetingStatus::Adjourned | MeetingStatus::Suspended
                );
                // Exact dates inside the window announced confirm it; a postponement stays one.
                let confirms =
                    |to: &ApproxDate| kind != "postponed" && made_exact_within(&from, to);
                let mv = match dates {
                    _ if waiting => None,
                    None => Some(Move {
                        seq: env.seq,
                        segment: None,
                        kind: kind.to_string(),
                        occurred: env.occurred,
                        from,
                        to: from,
                        to_be_determined: true,
                        decided_by: decided_by.map(|s| s.0.clone()),
                    }),
                    Some(to) if to != from && !confirms(&to) => Some(Move {
                        seq: env.seq,
                        segment: None,
                        kind: kind.to_string(),
                        occurred: env.occurred,
                        from,
                        to,
                        to_be_determined: false,
                        decided_by: decided_by.map(|s| s.0.clone()),
                    }),
                    Some(_) => None,
                };
                *self.to_be_determined = dates.is_none();
                if let Some(d) = dates {
                    *self.dates = d;
                }
                *self.venue = venue.or(self.venue.take());
                *self.mode = mode.or(*self.mode);
                *self.status = if waiting {
                    // It stays adjourned until it resumes.
                    *self.status
                } else if postponed {
                    MeetingStatus::Postponed
                } else {
                    status_for(self.dates, tentative)
                };
                if let Some(last) = self.sessions.last_mut() {
                    if matches!(
                        last.status,
                        MeetingStatus::Tentative
                            | MeetingStatus::Confirmed
                            | MeetingStatus::Postponed
                    ) {
                        last.dates = *self.dates;
                        last.venue = self.venue.clone();
                        last.mode = *self.mode;
                        last.status = *self.status;
                    }
                }
                mv
            }
            Change::Adjourned { resume, suspended } => {
                if self.sessions.is_empty() {
                    self.sessions.push(SessionRow {
                        dates: *self.dates,
                        venue: self.venue.clone(),
                        mode: *self.mode,
                        status: MeetingStatus::Confirmed,
                    });
                }
                let ended = if suspended {
                    MeetingStatus::Suspended
                } else {
                    MeetingStatus::Adjourned
                };
                if let Some(last) = self.sessions.last_mut() {
                    last.status = ended;
                }
                *self.status = ended;
                match resume {
                    Some(d) => {
                        *self.dates = d;
                        *self.to_be_determined = false;
                    }
                    None => *self.to_be_determined = true,
                }
                None
            }
            Change::Resumed { dates, venue, mode } => {
                *self.dates = dates;
                *self.venue = venue.or(self.venue.take());
                *self.mode = mode.or(*self.mode);
                *self.to_be_determined = false;
                *self.status = status_for(&dates, false);
                self.sessions.push(SessionRow {
                    dates,
                    venue: self.venue.clone(),
                    mode: *self.mode,
                    status: *self.status,
                });
                None
            }
            Change::Held { dates, venue } => {
                *self.status = MeetingStatus::Over;
                *self.to_be_determined = false;
                match self.sessions.last_mut() {
                    Some(last) => {
                        // The held dates are those of the session that concluded it, unless
                        // they span the whole meeting.
                        if dates.start() >= last.dates.start() {
                            last.dates = dates;
                        }
                        last.venue = venue.or(last.venue.take());
                        last.status = MeetingStatus::Over;
                        *self.venue = last.venue.clone();
                        *self.dates = span(self.sessions.iter().map(|s| s.dates)).unwrap_or(dates);
                    }
                    None => {
                        *self.dates = dates;
                        *self.venue = venue.or(self.venue.take());
                    }
                }
                None
            }
            Change::Cancelled => {
                *self.status = MeetingStatus::Cancelled;
                None
            }
        }
    }
}

/// The window from the first start to the last end of `dates` (open when one is open).
pub(super) fn span(dates: impl Iterator<Item = ApproxDate>) -> Option<ApproxDate> {
    let all: Vec<ApproxDate> = dates.collect();
    let start = all.iter().map(|d| d.start()).min()?;
    if all.len() == 1 {
        return Some(all[0]);
    }
    let end = all.iter().map(|d| d.end()).collect::<Option<Vec<_>>>();
    Some(match end.and_then(|e| e.into_iter().max()) {
        Some(end) if end == start => ApproxDate::Day(start),
        Some(end) => ApproxDate::Range(start, end),
        None => ApproxDate::Onwards(chrono::Datelike::year(&start)),
    })
}

/// The meeting (and segment) an event changes, and the change.
pub(super) fn change_of(e: &DomainEvent) -> Option<(&Slug, Option<&Slug>, Change<'_>)> {
    use DomainEvent as E;
    Some(match e {
        E::MeetingConfirmed(m) => (
            &m.meeting,
            m.segment.as_ref(),
            Change::Dates {
                kind: "confirmed",
                dates: Some(m.dates),
                venue: text(&m.venue),
                mode: m.mode,
                tentative: false,
                postponed: false,
                decided_by: m.decided_by.as_ref(),
            },
        ),
        E::MeetingPostponed(m) => (
            &m.meeting,
            m.segment.as_ref(),
            Change::Dates {
                kind: "postponed",
                dates: m.dates,
                venue: None,
                mode: None,
                tentative: m.tentative,
                postponed: true,
                decided_by: m.decided_by.as_ref(),
            },
        ),
        E::MeetingRescheduled(m) => (
            &m.meeting,
            m.segment.as_ref(),
            Change::Dates {
                kind: "rescheduled",
                dates: Some(m.dates),
                venue: text(&m.venue),
                mode: m.mode,
                tentative: m.tentative,
                postponed: false,
                decided_by: m.decided_by.as_ref(),
            },
        ),
        E::MeetingAdjourned(m) => (
            &m.meeting,
            m.segment.as_ref(),
            Change::Adjourned {
                resume: m.resume,
                suspended: m.suspended,
            },
        ),
        E::MeetingResumed(m) => (
            &m.meeting,
            m.segment.as_ref(),
            Change::Resumed {
                dates: m.dates,
                venue: text(&m.venue),
                mode: m.mode,
            },
        ),
        E::MeetingHeld(m) => (
            &m.meeting,
            m.segment.as_ref(),
            Change::Held {
                dates: m.dates,
                venue: text(&m.venue),
            },
        ),
        E::MeetingCancelled(m) => (&m.meeting, m.segment.as_ref(), Change::Cancelled),
        _ => return None,
    })
}
