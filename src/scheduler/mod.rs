//! Durable, event-sourced timers: the pure core that decides, and the tick that acts.
//!
//! `reconcile(views, defs, now)` compares the deadlines workflows want with those recorded and
//! returns the events that close the gap (deadlines set, moved, met, missed, cancelled;
//! reminders scheduled with their fire time computed once, or cancelled). `due(views, now)`
//! returns the sends that are due, the reminders to skip, and when to wake next. Neither reads
//! the clock. `tick` records what they decide and sends through the mailer, recording each
//! attempt before the send and its outcome after.

pub mod clock;
pub mod tick;

pub use tick::{event_id, Engine, Fault, TickReport};

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::domain::{
    Day, DeadlineCancelled, DeadlineMet, DeadlineMissed, DeadlineSet, DomainEvent, Instant, Key,
    MessageBody, ReminderAttempted, ReminderCancelled, ReminderFailed, ReminderKind,
    ReminderScheduled, ReminderSent, ReminderSkipped, Slug, Text,
};
use crate::projections::work::{DeadlineStatus, ReminderStatus};
use crate::projections::Views;
use crate::workflows::definition::On;
use crate::workflows::derive::{desired, Desired};
use crate::workflows::{Definitions, Workflow};

/// The backoff stops growing at this attempt: 1, 5, 25 minutes, then 125 minutes between tries.
pub const BACKOFF_CAP_ATTEMPT: u32 = 4;
/// A reminder sent more than this after its time is marked late.
pub const LATE_AFTER: i64 = 15;

fn key(s: impl Into<String>) -> Key {
    Key(s.into())
}

/// Text the scheduler records (a reason from a mail server, a step's description), cut to the
/// 4,000 characters text may hold, so that no reply however long makes a record it cannot keep.
fn text(s: impl Into<String>) -> Text {
    let s: String = s.into();
    if s.trim().is_empty() {
        return Text("(none given)".into());
    }
    match s.char_indices().nth(3999) {
        Some((cut, _)) => Text(format!("{}…", &s[..cut])),
        None => Text(s),
    }
}

/// The deterministic id of a reminder.
///
/// `revision` counts the times the deadline was set, so a reminder scheduled again after a
/// move (even back to a time used before) never shares an id with a cancelled one.
pub fn reminder_id(
    workflow: &str,
    instance: &str,
    step: &str,
    recipient: &str,
    fire_at: DateTime<Utc>,
    revision: u32,
) -> String {
    let h = Sha256::digest(
        format!(
            "{workflow}\n{instance}\n{step}\n{recipient}\n{}\n{revision}",
            fire_at.to_rfc3339()
        )
        .as_bytes(),
    );
    format!("rem-{}", &hex::encode(h)[..20])
}

/// The instant a deadline's day ends in the workflow's time zone: after it, it is missed.
pub fn expiry(wf: &Workflow, due: NaiveDate) -> DateTime<Utc> {
    clock::resolve_local(
        wf.timezone,
        (due + chrono::Days::new(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight"),
    )
}

fn schedule(wf: &Workflow, d: &Desired, now: DateTime<Utc>, revision: u32) -> Vec<DomainEvent> {
    if d.tentative && wf.hold_tentative {
        return Vec::new();
    }
    let expires = expiry(wf, d.due);
    let mut out = Vec::new();
    for before in &wf.remind_before {
        let day = d.due - chrono::Days::new(*before as u64);
        let fire_at = clock::resolve_local(wf.timezone, day.and_time(wf.remind_at));
        if fire_at <= now {
            continue; // its time passed before the deadline was known
        }
        for who in &d.responsible {
            out.push(DomainEvent::ReminderScheduled(ReminderScheduled {
                reminder: key(reminder_id(
                    &wf.name,
                    &d.instance,
                    &d.step,
                    who,
                    fire_at,
                    revision,
                )),
                kind: ReminderKind::Deadline,
                workflow: Slug(wf.name.clone()),
                workflow_version: wf.version,
                deadline: Some(key(d.deadline.clone())),
                recipient: Slug(who.clone()),
                fire_at: Instant(fire_at),
                expires_at: Instant(expires),
            }));
        }
    }
    out
}

fn cancel_pending(views: &Views, deadline: &str, reason: &str) -> Vec<DomainEvent> {
    views
        .work
        .pending_for(deadline)
        .filter(|r| r.status != ReminderStatus::Attempted)
        .map(|r| {
            DomainEvent::ReminderCancelled(ReminderCancelled {
                reminder: key(r.reminder.clone()),
                reason: text(reason),
            })
        })
        .collect()
}

fn set(d: &Desired) -> DomainEvent {
    DomainEvent::DeadlineSet(DeadlineSet {
        deadline: key(d.deadline.clone()),
        workflow: Slug(d.workflow.clone()),
        workflow_version: d.workflow_version,
        instance: key(d.instance.clone()),
        step: Slug(d.step.clone()),
        what: text(d.what.clone()),
        due: Day(d.due),
        tentative: d.tentative,
        responsible: d.responsible.iter().map(|s| Slug(s.clone())).collect(),
        meeting: d.meeting.clone().map(Slug),
        mandate: d.mandate.clone(),
        body: d.body,
        report: d.report,
    })
}

/// The events that bring recorded deadlines and reminders in line with the workflows at `now`.
pub fn reconcile(views: &Views, defs: &Definitions, now: DateTime<Utc>) -> Vec<DomainEvent> {
    let mut out = Vec::new();
    let today = now.date_naive();
    // The recorded deadlines still derived from the log; the rest have lost their subject.
    let mut derived: HashSet<&str> = HashSet::new();
    desired(views, defs, today, &mut |d| {
        if let Some((id, _)) = views.work.deadlines.get_key_value(&d.deadline) {
            derived.insert(id.as_str());
        }
        out.extend(reconcile_one(views, defs, now, &d));
    });
    // Deadlines whose subject has gone from the log (a retracted meeting or mandate).
    for rec in views.work.deadlines.values() {
        if rec.status != DeadlineStatus::Open || derived.contains(rec.deadline.as_str()) {
            continue;
        }
        let wf = defs.get(&rec.workflow, rec.workflow_version);
        if let Some(wf) = wf.filter(|w| w.on == On::Cycle) {
            // Out of the cycle window, but still owed: missed once its day is over.
            if now >= expiry(wf, rec.due.0) {
                out.push(DomainEvent::DeadlineMissed(DeadlineMissed {
                    deadline: key(rec.deadline.clone()),
                }));
            }
        } else {
            let reason =
                "no longer derived from the log (its meeting was split, or its subject retracted)";
            out.push(DomainEvent::DeadlineCancelled(DeadlineCancelled {
                deadline: key(rec.deadline.clone()),
                reason: text(reason),
            }));
            out.extend(cancel_pending(views, &rec.deadline, reason));
        }
    }
    out.extend(digests(views, defs, now));
    out
}

/// The events that bring one recorded deadline (or its absence) in line with what a workflow
/// derives now.
fn reconcile_one(
    views: &Views,
    defs: &Definitions,
    now: DateTime<Utc>,
    d: &Desired,
) -> Vec<DomainEvent> {
    let mut out = Vec::new();
    let Some(wf) = defs.get(&d.workflow, d.workflow_version) else {
        return out;
    };
    let expired = now >= expiry(wf, d.due);
    let held = d.tentative && wf.hold_tentative;
    match views.work.deadlines.get(&d.deadline) {
        None => {
            // Workflows look forward: a deadline first seen after its day is not set.
            if d.cancelled.is_some() || d.met.is_some() || expired {
                return out;
            }
            out.push(set(d));
            out.extend(schedule(wf, d, now, 1));
        }
        Some(rec) if rec.status == DeadlineStatus::Open => {
            if let Some(reason) = &d.cancelled {
                out.push(DomainEvent::DeadlineCancelled(DeadlineCancelled {
                    deadline: key(d.deadline.clone()),
                    reason: text(reason.clone()),
                }));
                out.extend(cancel_pending(views, &d.deadline, reason));
            } else if let Some(by_seq) = d.met {
                out.push(DomainEvent::DeadlineMet(DeadlineMet {
                    deadline: key(d.deadline.clone()),
                    by_seq,
                }));
                out.extend(cancel_pending(views, &d.deadline, "deadline met"));
            } else if rec.due.0 != d.due
                || rec.tentative != d.tentative
                || rec.responsible != d.responsible
            {
                out.push(set(d));
                out.extend(cancel_pending(views, &d.deadline, "deadline moved"));
                out.extend(schedule(wf, d, now, rec.revision + 1));
            } else if expired && !held {
                // A tentative deadline is not missed: its dates were never confirmed.
                out.push(DomainEvent::DeadlineMissed(DeadlineMissed {
                    deadline: key(d.deadline.clone()),
                }));
            }
        }
        Some(rec) => {
            // A cancelled or missed deadline comes back when its reason is gone: the
            // cancellation retracted, or the meeting moved to a day still ahead.
            let back = d.cancelled.is_none()
                && d.met.is_none()
                && !expired
                && match rec.status {
                    DeadlineStatus::Cancelled => true,
                    DeadlineStatus::Missed => rec.due.0 != d.due || rec.tentative != d.tentative,
                    _ => false,
                };
            if back {
                out.push(set(d));
                out.extend(schedule(wf, d, now, rec.revision + 1));
            }
        }
    }
    out
}

/// Digest reminders for the latest cron fire time of each digest workflow.
fn digests(views: &Views, defs: &Definitions, now: DateTime<Utc>) -> Vec<DomainEvent> {
    let mut out = Vec::new();
    for wf in defs.current().filter(|w| w.on == On::Digest) {
        let Some(cron) = &wf.cron else { continue };
        let Some(fire_at) = clock::last_fire(cron, wf.timezone, now, Duration::days(8)) else {
            continue;
        };
        let Some(expires) = clock::next_fire(cron, wf.timezone, fire_at) else {
            continue;
        };
        let day = fire_at.with_timezone(&wf.timezone).date_naive();
        let until = day + chrono::Days::new(wf.window_days as u64);
        let recipients: BTreeSet<&String> = views
            .work
            .deadlines
            .values()
            .filter(|d| d.status == DeadlineStatus::Open && d.due.0 >= day && d.due.0 <= until)
            .flat_map(|d| d.responsible.iter())
            .collect();
        for who in recipients {
            let id = reminder_id(&wf.name, "digest", "digest", who, fire_at, 0);
            if views.work.reminders.contains_key(&id) {
                continue;
            }
            out.push(DomainEvent::ReminderScheduled(ReminderScheduled {
                reminder: key(id),
                kind: ReminderKind::Digest,
                workflow: Slug(wf.name.clone()),
                workflow_version: wf.version,
                deadline: None,
                recipient: Slug(who.clone()),
                fire_at: Instant(fire_at),
                expires_at: Instant(expires),
            }));
        }
    }
    out
}

/// One send to make now.
#[derive(Clone, Debug, PartialEq)]
pub struct SendJob {
    pub reminder: String,
    pub attempt: u32,
    pub late: bool,
    /// The attempt was recorded but not its outcome: resend the identical message.
    pub resend: bool,
}

/// What is due at `now`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Due {
    pub jobs: Vec<SendJob>,
    pub skips: Vec<DomainEvent>,
    /// The next instant something becomes due, if any.
    pub next_wakeup: Option<DateTime<Utc>>,
}

/// The sends due at `now`, reminders to skip, and the next wake-up.
pub fn due(views: &Views, defs: &Definitions, now: DateTime<Utc>) -> Due {
    let mut out = Due::default();
    let wake = |t: DateTime<Utc>, out: &mut Due| {
        if t > now {
            out.next_wakeup = Some(out.next_wakeup.map_or(t, |w| w.min(t)));
        }
    };
    for r in views.work.reminders.values() {
        let at = match r.status {
            ReminderStatus::Scheduled => r.fire_at.0,
            // A retry that would come after the reminder stops being useful is due at that
            // end, to be skipped then.
            ReminderStatus::Retrying => r.retry_at.map_or(r.fire_at.0, |t| t.0).min(r.expires_at.0),
            ReminderStatus::Attempted => now,
            _ => continue,
        };
        if at > now {
            wake(at, &mut out);
            continue;
        }
        if r.status == ReminderStatus::Attempted {
            out.jobs.push(SendJob {
                reminder: r.reminder.clone(),
                attempt: r.attempts,
                late: r.rendered.as_ref().is_some_and(|m| m.late),
                resend: true,
            });
        } else if now >= r.expires_at.0 {
            let reason = match (r.status, &r.reason) {
                (ReminderStatus::Retrying, Some(last)) => format!(
                    "no longer useful: its deadline passed ({}) before the mail server took it, \
                     after {} attempts (the last: {last})",
                    r.expires_at, r.attempts
                ),
                _ => format!(
                    "its time ({}) passed, and so did its deadline, before it could be sent \
                     (Accord was not running, or the mail server was out of reach)",
                    r.fire_at
                ),
            };
            out.skips
                .push(DomainEvent::ReminderSkipped(ReminderSkipped {
                    reminder: key(r.reminder.clone()),
                    reason: text(reason),
                }));
        } else {
            out.jobs.push(SendJob {
                reminder: r.reminder.clone(),
                attempt: r.attempts + 1,
                late: now - r.fire_at.0 > Duration::minutes(LATE_AFTER),
                resend: false,
            });
        }
    }
    // Deadlines become missed at the end of their day; digests fire on their schedule.
    for d in views
        .work
        .deadlines
        .values()
        .filter(|d| d.status == DeadlineStatus::Open)
    {
        if let Some(wf) = defs.get(&d.workflow, d.workflow_version) {
            wake(expiry(wf, d.due.0), &mut out);
        }
    }
    for wf in defs.current().filter(|w| w.on == On::Digest) {
        if let Some(t) = wf
            .cron
            .as_ref()
            .and_then(|c| clock::next_fire(c, wf.timezone, now))
        {
            wake(t, &mut out);
        }
    }
    out
}

/// The next retry time after a transient failure of `attempt`: exponential backoff from one
/// minute (1, 5, 25, then 125 minutes, and 125 minutes for every later attempt), with a
/// deterministic jitter of up to a quarter, drawn from the reminder's id and the attempt.
pub fn retry_at(reminder: &str, attempt: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let base = 60i64 * 5i64.pow(attempt.clamp(1, BACKOFF_CAP_ATTEMPT) - 1);
    let h = Sha256::digest(format!("{reminder}/{attempt}").as_bytes());
    let jitter = (u16::from_be_bytes([h[0], h[1]]) as i64 * base / 4) / 65_535;
    now + Duration::seconds(base + jitter)
}

/// Records of a send's outcome.
pub fn outcome(
    reminder: &str,
    attempt: u32,
    message_id: &str,
    result: Result<(), crate::notify::SendError>,
    now: DateTime<Utc>,
) -> DomainEvent {
    match result {
        Ok(()) => DomainEvent::ReminderSent(ReminderSent {
            reminder: key(reminder),
            attempt,
            message_id: key(message_id),
        }),
        // A transient failure is retried for as long as the reminder is useful: `due` skips
        // it, with the last reason, once its deadline has passed.
        Err(e) => DomainEvent::ReminderFailed(ReminderFailed {
            reminder: key(reminder),
            attempt,
            reason: text(e.reason),
            permanent: e.permanent,
            retry_at: (!e.permanent).then(|| Instant(retry_at(reminder, attempt, now))),
        }),
    }
}

/// A rendered message as its attempt record keeps it.
pub struct Kept {
    subject: Text,
    text: MessageBody,
    html: Option<MessageBody>,
    ics: Option<MessageBody>,
}

impl Kept {
    /// `m` as its attempt record keeps it, or why it cannot be kept (a template that renders
    /// nothing, or a message too long): such a message is not sent, and its reminders fail
    /// with that reason while the tick goes on.
    pub fn new(m: &crate::notify::RenderedMessage) -> Result<Kept, String> {
        let part = |name: &str, s: &str| {
            MessageBody::new(s.to_string())
                .map_err(|e| format!("the rendered {name} cannot be kept: {e}"))
        };
        Ok(Kept {
            subject: Text::new(m.subject.clone())
                .map_err(|e| format!("the rendered subject cannot be kept: {e}"))?,
            text: part("text", &m.text)?,
            html: m.html.as_deref().map(|h| part("HTML", h)).transpose()?,
            ics: m.ics.as_deref().map(|c| part("calendar", c)).transpose()?,
        })
    }
}

/// The attempt record for a rendered message.
pub fn attempted(
    reminder: &str,
    attempt: u32,
    message_id: &str,
    date: DateTime<Utc>,
    m: &Kept,
    late: bool,
) -> DomainEvent {
    DomainEvent::ReminderAttempted(ReminderAttempted {
        reminder: key(reminder),
        attempt,
        message_id: key(message_id),
        date: Instant(date),
        subject: m.subject.clone(),
        text: m.text.clone(),
        html: m.html.clone(),
        ics: m.ics.clone(),
        late,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_bounded_jitter_then_stays_capped() {
        let now = Utc::now();
        let mut last = 0;
        for attempt in 1..=4 {
            let d = (retry_at("rem-x", attempt, now) - now).num_seconds();
            let base = 60 * 5i64.pow(attempt - 1);
            assert!(d >= base && d <= base + base / 4, "attempt {attempt}: {d}");
            assert!(d > last);
            last = d;
        }
        for attempt in [5, 6, 50, 10_000, u32::MAX] {
            let d = (retry_at("rem-x", attempt, now) - now).num_seconds();
            assert!((7500..=7500 + 1875).contains(&d), "attempt {attempt}: {d}");
        }
        assert_eq!(
            retry_at("rem-x", 2, now),
            retry_at("rem-x", 2, now),
            "deterministic"
        );
    }
}
