//! The domain of convention secretariats: dates, the event catalogue and how events read.
//!
//! Nothing here knows of storage, tokio or the command line: it is pure data and rules.

mod date;
mod events;
pub mod lifecycle;

pub use date::{
    as_recorded, describe as describe_date, parse_day, parse_instant, ApproxDate, DateError, Third,
};
pub use events::*;

/// What a meeting event concerns: the segment when it names one (its id carries the
/// meeting's, `mc-cop-4.2`), else the meeting.
fn which(meeting: &Slug, segment: &Option<Slug>) -> String {
    segment.as_ref().unwrap_or(meeting).to_string()
}

/// `, decided by X` when the record says who decided.
fn by(decided_by: &Option<Slug>) -> String {
    decided_by
        .as_ref()
        .map(|d| format!(", decided by {d}"))
        .unwrap_or_default()
}

/// A one-line, human summary of an event, for the trail and the timeline.
pub fn summary(e: &DomainEvent) -> String {
    use DomainEvent as E;
    match e {
        E::MeetingScheduled(m) => format!(
            "{} scheduled for {}{}",
            m.title,
            m.dates,
            if m.tentative {
                " (to be confirmed)"
            } else {
                ""
            }
        ),
        E::MeetingConfirmed(m) => format!(
            "{} confirmed for {}{}",
            which(&m.meeting, &m.segment),
            m.dates,
            by(&m.decided_by)
        ),
        E::MeetingPostponed(m) => match &m.dates {
            Some(d) => format!(
                "{} postponed to {d}{}",
                which(&m.meeting, &m.segment),
                by(&m.decided_by)
            ),
            None => format!(
                "{} postponed, new dates to be determined{}",
                which(&m.meeting, &m.segment),
                by(&m.decided_by)
            ),
        },
        E::MeetingRescheduled(m) => format!(
            "{} rescheduled to {}{}",
            which(&m.meeting, &m.segment),
            m.dates,
            by(&m.decided_by)
        ),
        E::MeetingSplit(m) => format!(
            "{} split into {}{}",
            m.meeting,
            m.segments
                .iter()
                .map(|s| format!("{} ({})", s.segment, s.dates))
                .collect::<Vec<_>>()
                .join(", "),
            by(&m.decided_by)
        ),
        E::MeetingAdjourned(m) => format!(
            "{} {}{}{}",
            which(&m.meeting, &m.segment),
            if m.suspended {
                "suspended"
            } else {
                "adjourned"
            },
            m.resume
                .map(|d| format!(", to resume {d}"))
                .unwrap_or_default(),
            by(&m.decided_by)
        ),
        E::MeetingResumed(m) => format!(
            "{} resumed {}{}",
            which(&m.meeting, &m.segment),
            m.dates,
            m.venue
                .as_ref()
                .map(|v| format!(" in {v}"))
                .unwrap_or_default()
        ),
        E::MeetingHeld(m) => format!("{} held {}", which(&m.meeting, &m.segment), m.dates),
        E::MeetingCancelled(m) => format!(
            "{} cancelled{}",
            which(&m.meeting, &m.segment),
            by(&m.decided_by)
        ),
        E::DecisionAdopted(d) => format!(
            "{} adopted at {}: {} ({} mandates)",
            d.symbol,
            which(&d.meeting, &d.segment),
            d.title,
            d.mandates.len()
        ),
        E::MandateStatusChanged(m) => {
            format!("{}#{} is now {}", m.decision, m.paragraph, m.status.name())
        }
        E::GroupEstablished(g) => format!("{} established", g.name),
        E::TermsOfReferenceAdopted(g) => format!("terms of reference of {} adopted", g.group),
        E::CoChairsAppointed(g) => format!(
            "co-chairs of {} appointed: {}",
            g.group,
            g.co_chairs
                .iter()
                .map(|c| c.officer.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        E::GroupScopeExtended(g) => format!("{} extended", g.group),
        E::LeadOfficerChanged(g) => format!(
            "{} lead officer for {:?} is {}",
            g.group, g.entity, g.officer
        ),
        E::GroupDissolved(g) => format!("{} dissolved", g.group),
        E::GroupsReviewed(g) => format!("{} reviewed {} groups", g.by, g.groups.len()),
        E::ActivityReported(a) => format!("{}: {}", a.group, a.title),
        E::ReportDrafted(r) => format!("{} drafted", r.title),
        E::ReportEndorsed(r) => format!("{} endorsed", r.report),
        E::ReportSubmitted(r) => {
            format!("{} submitted to {} as {}", r.report, r.meeting, r.document)
        }
        E::DocumentPosted(d) => format!("{} posted for {}: {}", d.document, d.meeting, d.title),
        E::ReportFiled(r) => format!("{} filed with {}", r.report, r.repository),
        E::AgreementSigned(a) => format!("{} signed", a.title),
        E::DeadlineSet(d) => format!(
            "deadline {} due {}{}",
            d.deadline,
            d.due,
            if d.tentative { " (tentative)" } else { "" }
        ),
        E::DeadlineMet(d) => format!("deadline {} met", d.deadline),
        E::DeadlineMissed(d) => format!("deadline {} missed", d.deadline),
        E::DeadlineCancelled(d) => format!("deadline {} cancelled: {}", d.deadline, d.reason),
        E::ReminderScheduled(r) => format!("reminder to {} at {}", r.recipient, r.fire_at),
        E::ReminderAttempted(r) => format!(
            "reminder {} attempt {}{}",
            r.reminder,
            r.attempt,
            if r.late { " (late)" } else { "" }
        ),
        E::ReminderSent(r) => format!("reminder {} sent", r.reminder),
        E::ReminderFailed(r) => format!("reminder {} failed: {}", r.reminder, r.reason),
        E::ReminderCancelled(r) => format!("reminder {} cancelled: {}", r.reminder, r.reason),
        E::ReminderSkipped(r) => format!("reminder {} skipped: {}", r.reminder, r.reason),
        E::BodyRegistered(b) => format!("{} registered: {}", b.body, b.name),
        E::PartyJoined(p) => format!("{} became a Party to {} on {}", p.name, p.body, p.joined),
        E::NationalReportReceived(r) => format!(
            "{} {} report of {} for {} received {}",
            r.body,
            r.kind.name(),
            r.party,
            r.cycle,
            r.received
        ),
        E::EventRetracted(c) => format!("seq {} retracted: {}", c.seq, c.reason),
        E::EventAmended(c) => format!("seq {} amended: {}", c.seq, c.reason),
    }
}
