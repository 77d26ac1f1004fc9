//! The life cycle of a meeting and of each segment of a split meeting: scheduled (tentative or
//! confirmed), moved, split, adjourned and resumed, held, or cancelled.

use super::{list, refuse, Refusal, Registry};
use crate::domain::{Body, DomainEvent, Slug};

/// Where a meeting, or a segment, stands in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    /// Scheduled, confirmed, moved or resumed: still to be held.
    Planned,
    /// Adjourned or suspended, waiting to resume.
    Adjourned,
    /// Held.
    Over,
    Cancelled,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct MeetingLife {
    pub body: Body,
    /// The bodies of a joint meeting.
    pub bodies: Vec<Body>,
    pub stage: Stage,
    /// The segments of a split meeting, in order.
    pub segments: Vec<String>,
    /// A session of it took place (adjourned after sitting, or held): its decisions and
    /// documents may still be recorded if the rest is cancelled.
    pub sat: bool,
}

/// A segment of a split meeting: its meeting and stage.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SegmentLife {
    pub meeting: String,
    pub stage: Stage,
}

/// The meeting named by `id` (a meeting id, or a segment id), with the segment when `id` is one.
pub(super) fn meeting_or_segment<'a>(
    reg: &'a Registry,
    field: &str,
    id: &str,
) -> Result<(&'a MeetingLife, Option<&'a SegmentLife>), Refusal> {
    if let Some(m) = reg.meetings.get(id) {
        return Ok((m, None));
    }
    if let Some(s) = reg.segments.get(id) {
        let m = reg
            .meetings
            .get(&s.meeting)
            .expect("a segment's meeting exists");
        return Ok((m, Some(s)));
    }
    refuse(
        field,
        format!("no meeting or segment `{id}` in the log: record MeetingScheduled (or MeetingSplit) first"),
    )
}

/// The stage of a meeting as a whole; for a split one, from its segments: cancelled when all
/// are, over when every segment is closed and one is over.
pub(crate) fn whole_stage(reg: &Registry, m: &MeetingLife) -> Stage {
    if m.segments.is_empty() {
        return m.stage;
    }
    let stages: Vec<Stage> = m
        .segments
        .iter()
        .filter_map(|s| reg.segments.get(s).map(|s| s.stage))
        .collect();
    if stages.iter().all(|s| *s == Stage::Cancelled) {
        Stage::Cancelled
    } else if stages
        .iter()
        .all(|s| matches!(s, Stage::Over | Stage::Cancelled))
    {
        Stage::Over
    } else {
        Stage::Planned
    }
}

/// The meeting (and segment) a change names, checked to exist and belong together, and the
/// stage the change meets.
fn target<'a>(
    reg: &'a Registry,
    meeting: &Slug,
    segment: &Option<Slug>,
) -> Result<(&'a MeetingLife, Option<&'a SegmentLife>, Stage), Refusal> {
    let Some(m) = reg.meetings.get(meeting.as_str()) else {
        if let Some(s) = reg.segments.get(meeting.as_str()) {
            return refuse(
                "data.meeting",
                format!(
                    "`{meeting}` is a segment of `{}`: give `\"meeting\": \"{}\", \"segment\": \"{meeting}\"`",
                    s.meeting, s.meeting
                ),
            );
        }
        return refuse(
            "data.meeting",
            format!("no meeting `{meeting}` in the log: record MeetingScheduled first"),
        );
    };
    let Some(seg) = segment else {
        let stage = if m.segments.is_empty() {
            m.stage
        } else {
            whole_stage(reg, m)
        };
        return Ok((m, None, stage));
    };
    if m.segments.is_empty() {
        return refuse(
            "data.segment",
            format!(
                "`{meeting}` was not split: it has no segment `{seg}` (record MeetingSplit first)"
            ),
        );
    }
    match reg.segments.get(seg.as_str()) {
        Some(s) if s.meeting == meeting.as_str() => Ok((m, Some(s), s.stage)),
        Some(s) => refuse(
            "data.segment",
            format!(
                "`{seg}` is a segment of `{}`, not of `{meeting}`",
                s.meeting
            ),
        ),
        None => refuse(
            "data.segment",
            format!(
                "`{meeting}` has no segment `{seg}` (its segments: {})",
                list(m.segments.iter().map(String::as_str))
            ),
        ),
    }
}

fn what(meeting: &Slug, segment: &Option<Slug>) -> String {
    match segment {
        Some(s) => format!("`{s}`"),
        None => format!("`{meeting}`"),
    }
}

/// The refusal for a change the stage does not allow.
fn closed(stage: Stage, who: impl FnOnce() -> String, adjourned_hint: &str) -> Result<(), Refusal> {
    match stage {
        Stage::Planned => Ok(()),
        Stage::Adjourned => refuse("type", format!("{} is adjourned: {adjourned_hint}", who())),
        Stage::Over => refuse(
            "type",
            format!("{} was held: that can no longer change (correct the record with EventAmended if it is wrong)", who()),
        ),
        Stage::Cancelled => refuse(
            "type",
            format!("{} was cancelled: only a correction (EventAmended or EventRetracted) can change it", who()),
        ),
    }
}

/// For changes an adjourned meeting may take as well as a planned one (its next session's
/// dates, a postponement, a cancellation).
fn waiting_is_planned(stage: Stage) -> Stage {
    if stage == Stage::Adjourned {
        Stage::Planned
    } else {
        stage
    }
}

/// A change to a split meeting as a whole that must name its segment.
fn needs_segment(m: &MeetingLife, meeting: &Slug, segment: &Option<Slug>) -> Result<(), Refusal> {
    if segment.is_none() && !m.segments.is_empty() {
        return refuse(
            "data.segment",
            format!(
                "`{meeting}` is split into {}: name the segment this applies to",
                list(m.segments.iter().map(String::as_str))
            ),
        );
    }
    Ok(())
}

/// The rules of meeting events; `None` for other events.
pub(super) fn decide(reg: &Registry, event: &DomainEvent) -> Option<Result<(), Refusal>> {
    use DomainEvent as E;
    Some(match event {
        E::MeetingScheduled(m) => scheduled(reg, m),
        // An adjourned meeting's next session may be confirmed or moved before it resumes.
        E::MeetingConfirmed(m) => target(reg, &m.meeting, &m.segment).and_then(|(mt, _, st)| {
            needs_segment(mt, &m.meeting, &m.segment)?;
            closed(waiting_is_planned(st), || what(&m.meeting, &m.segment), "")
        }),
        E::MeetingRescheduled(m) => target(reg, &m.meeting, &m.segment).and_then(|(mt, _, st)| {
            needs_segment(mt, &m.meeting, &m.segment)?;
            closed(waiting_is_planned(st), || what(&m.meeting, &m.segment), "")
        }),
        E::MeetingPostponed(m) => target(reg, &m.meeting, &m.segment).and_then(|(mt, _, st)| {
            if m.dates.is_some() {
                // Segments keep dates of their own: new dates are given segment by segment.
                needs_segment(mt, &m.meeting, &m.segment)?;
            }
            closed(waiting_is_planned(st), || what(&m.meeting, &m.segment), "")
        }),
        E::MeetingSplit(m) => split(reg, m),
        E::MeetingAdjourned(m) => target(reg, &m.meeting, &m.segment).and_then(|(mt, _, st)| {
            needs_segment(mt, &m.meeting, &m.segment)?;
            closed(
                st,
                || what(&m.meeting, &m.segment),
                "it is already adjourned (record MeetingResumed first)",
            )
        }),
        E::MeetingResumed(m) => target(reg, &m.meeting, &m.segment).and_then(|(mt, _, st)| {
            needs_segment(mt, &m.meeting, &m.segment)?;
            match st {
                Stage::Adjourned => Ok(()),
                Stage::Planned => refuse(
                    "type",
                    format!(
                        "{} is not adjourned: only an adjourned or suspended meeting resumes (to move it, record MeetingRescheduled)",
                        what(&m.meeting, &m.segment)
                    ),
                ),
                other => closed(other, || what(&m.meeting, &m.segment), ""),
            }
        }),
        E::MeetingHeld(m) => target(reg, &m.meeting, &m.segment).and_then(|(mt, _, st)| {
            if m.segment.is_none() && !mt.segments.is_empty() && st == Stage::Planned {
                let ahead: Vec<&str> = mt
                    .segments
                    .iter()
                    .filter(|s| reg.segments.get(*s).is_some_and(|s| s.stage != Stage::Over && s.stage != Stage::Cancelled))
                    .map(String::as_str)
                    .collect();
                return refuse(
                    "data.segment",
                    format!(
                        "`{}` was split: record MeetingHeld for each segment ({} not yet held)",
                        m.meeting,
                        ahead.join(", ")
                    ),
                );
            }
            closed(
                st,
                || what(&m.meeting, &m.segment),
                "record MeetingResumed for the session that concluded it first",
            )
        }),
        E::MeetingCancelled(m) => target(reg, &m.meeting, &m.segment).and_then(|(_, _, st)| {
            closed(waiting_is_planned(st), || what(&m.meeting, &m.segment), "")
        }),
        _ => return None,
    })
}

fn scheduled(reg: &Registry, m: &crate::domain::MeetingScheduled) -> Result<(), Refusal> {
    if reg.meetings.contains(m.meeting.as_str()) {
        return refuse(
            "data.meeting",
            format!(
                "`{}` is already scheduled: record MeetingRescheduled, MeetingConfirmed or MeetingPostponed to change its dates",
                m.meeting
            ),
        );
    }
    if let Some(s) = reg.segments.get(m.meeting.as_str()) {
        return refuse(
            "data.meeting",
            format!("`{}` is already a segment of `{}`", m.meeting, s.meeting),
        );
    }
    let body = reg.body("data.body", m.body)?;
    if !body.meeting_kinds.is_empty() && !body.meeting_kinds.contains(&m.kind) {
        return refuse(
            "data.kind",
            format!(
                "{} holds no meeting of this kind (its kinds: {})",
                m.body,
                body.meeting_kinds
                    .iter()
                    .map(|k| serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    for (i, b) in m.bodies.iter().enumerate() {
        reg.body(&format!("data.bodies[{i}]"), *b)?;
    }
    Ok(())
}

fn split(reg: &Registry, m: &crate::domain::MeetingSplit) -> Result<(), Refusal> {
    let (mt, _, st) = target(reg, &m.meeting, &None)?;
    if !mt.segments.is_empty() {
        return refuse(
            "data.meeting",
            format!(
                "`{}` is already split into {}: change a segment by naming it",
                m.meeting,
                list(mt.segments.iter().map(String::as_str))
            ),
        );
    }
    closed(
        st,
        || format!("`{}`", m.meeting),
        "record MeetingResumed instead",
    )?;
    let mut seen = std::collections::HashSet::new();
    for (i, s) in m.segments.iter().enumerate() {
        let field = format!("data.segments[{i}].segment");
        if !seen.insert(s.segment.as_str()) {
            return refuse(&field, format!("segment `{}` given twice", s.segment));
        }
        if reg.meetings.contains(s.segment.as_str()) || reg.segments.contains(s.segment.as_str()) {
            return refuse(
                &field,
                format!("`{}` already names a meeting or segment", s.segment),
            );
        }
    }
    Ok(())
}

/// Records a meeting event; `false` for other events.
pub(super) fn evolve(reg: &mut Registry, event: &DomainEvent) -> bool {
    use DomainEvent as E;
    let (meeting, segment, to): (&Slug, &Option<Slug>, Option<Stage>) = match event {
        E::MeetingScheduled(m) => {
            if !reg.meetings.contains(m.meeting.as_str()) {
                reg.meetings.insert(
                    m.meeting.0.clone(),
                    MeetingLife {
                        body: m.body,
                        bodies: m.bodies.clone(),
                        stage: Stage::Planned,
                        segments: Vec::new(),
                        sat: false,
                    },
                );
            }
            return true;
        }
        E::MeetingSplit(m) => {
            let ids: Vec<String> = m.segments.iter().map(|s| s.segment.0.clone()).collect();
            if reg.meetings.contains(m.meeting.as_str()) {
                for id in &ids {
                    reg.segments.insert(
                        id.clone(),
                        SegmentLife {
                            meeting: m.meeting.0.clone(),
                            stage: Stage::Planned,
                        },
                    );
                }
                reg.meetings
                    .update(m.meeting.as_str(), |mt| mt.segments = ids);
            }
            return true;
        }
        E::MeetingConfirmed(m) => (&m.meeting, &m.segment, None),
        E::MeetingRescheduled(m) => (&m.meeting, &m.segment, None),
        E::MeetingPostponed(m) => (&m.meeting, &m.segment, None),
        E::MeetingAdjourned(m) => (&m.meeting, &m.segment, Some(Stage::Adjourned)),
        E::MeetingResumed(m) => (&m.meeting, &m.segment, Some(Stage::Planned)),
        E::MeetingHeld(m) => (&m.meeting, &m.segment, Some(Stage::Over)),
        E::MeetingCancelled(m) => (&m.meeting, &m.segment, Some(Stage::Cancelled)),
        _ => return false,
    };
    let Some(to) = to else {
        return true;
    };
    match segment {
        Some(s) => {
            if reg
                .segments
                .get(s.as_str())
                .is_some_and(|l| l.meeting == meeting.as_str())
            {
                reg.segments.update(s.as_str(), |l| l.stage = to);
            }
        }
        None => {
            let segments = reg
                .meetings
                .get(meeting.as_str())
                .map(|m| m.segments.clone())
                .unwrap_or_default();
            if segments.is_empty() {
                reg.meetings.update(meeting.as_str(), |m| {
                    m.sat |= matches!(to, Stage::Adjourned | Stage::Over);
                    m.stage = to;
                });
            } else if matches!(to, Stage::Cancelled | Stage::Over) {
                // The segments still to come; the meeting's own stage follows from them.
                for s in &segments {
                    reg.segments.update(s.as_str(), |l| {
                        if l.stage != Stage::Over && l.stage != Stage::Cancelled {
                            l.stage = to;
                        }
                    });
                }
            }
        }
    }
    true
}
