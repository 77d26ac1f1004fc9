//! One tick of the scheduler at a given instant: record what `reconcile` and `due` decide,
//! then send each due reminder, recording the attempt before the send and the outcome after.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{attempted, due, outcome, reconcile, Kept, SendJob};
use crate::domain::{ApproxDate, DomainEvent, ReminderFailed, ReminderKind};
use crate::input::Proposed;
use crate::notify::{render_reminder, Contacts, Mailer, Outgoing, Renderer, Sender};
use crate::projections::work::ReminderRow;
use crate::projections::{self, Views};
use crate::store::{EventStore, Outcome, StoreError};
use crate::workflows::Definitions;

/// The actor of events the scheduler records.
pub const ACTOR: &str = "accord-scheduler";

/// A point at which a test can make the process die, to check what a crash there leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// When a reminder is due, before its attempt is recorded.
    BeforeAttempt,
    /// After the attempt is recorded, before the send.
    AfterAttempt,
    /// After the server accepted the message, before `ReminderSent` is recorded.
    AfterSend,
}

impl Fault {
    /// Reads `ACCORD_TEST_FAULT` (`before-attempt`, `after-attempt` or `after-send`).
    pub fn from_env() -> Option<Fault> {
        match std::env::var("ACCORD_TEST_FAULT").ok()?.as_str() {
            "before-attempt" => Some(Fault::BeforeAttempt),
            "after-attempt" => Some(Fault::AfterAttempt),
            "after-send" => Some(Fault::AfterSend),
            _ => None,
        }
    }
}

fn crash_if(fault: Option<Fault>, at: Fault) {
    if fault == Some(at) {
        eprintln!("accord: ACCORD_TEST_FAULT: dying at {at:?}");
        std::process::abort();
    }
}

/// Everything a tick needs besides the store and the time.
pub struct Engine {
    /// Set only by tests, to die at a chosen step.
    pub fault: Option<Fault>,
    pub defs: Definitions,
    pub renderer: Renderer,
    pub contacts: Contacts,
    pub mailer: Mailer,
    pub sender: Sender,
    pub dashboard_url: String,
    /// The last tick that found nothing to do, and until when that answer holds.
    pub quiet: std::sync::Mutex<Option<Quiet>>,
    /// The scheduler's records up to this seq are taken by their date like any other event
    /// (a simulation on a copy of a log its scheduler already ran on); 0 otherwise.
    pub own_after: u64,
}

/// A tick that found nothing to do holds for later ticks while the log stays at the same head
/// and time stays in `[since, until)`: `until` is the next wake-up (a reminder, a retry, a
/// deadline's end, a digest), capped at the next UTC midnight.
#[derive(Clone, Debug)]
pub struct Quiet {
    instance: u64,
    head: u64,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    next_wakeup: Option<DateTime<Utc>>,
}

/// What a tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub recorded: usize,
    pub sent: Vec<String>,
    pub failed: Vec<String>,
    pub skipped: usize,
    /// Due sends left untried because the mail server could not be reached in this tick.
    pub deferred: usize,
    pub next_wakeup: Option<DateTime<Utc>>,
}

fn short(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..10])
}

/// A deterministic id for scheduler events that must be recorded once, so that two ticks at
/// the same instant record nothing twice. `DeadlineSet` may repeat (a deadline moved back),
/// so it gets none.
pub fn event_id(views: &Views, e: &DomainEvent) -> Option<String> {
    use DomainEvent as E;
    // A deadline can end, come back and end again: its revision tells the ends apart.
    let rev = |k: &crate::domain::Key| views.work.deadlines.get(&k.0).map_or(0, |d| d.revision);
    Some(match e {
        E::DeadlineMet(d) => format!("met/{}/{}", short(&d.deadline.0), rev(&d.deadline)),
        E::DeadlineMissed(d) => format!("missed/{}/{}", short(&d.deadline.0), rev(&d.deadline)),
        E::DeadlineCancelled(d) => {
            format!("dl-cancelled/{}/{}", short(&d.deadline.0), rev(&d.deadline))
        }
        E::ReminderScheduled(r) => format!("scheduled/{}", r.reminder),
        E::ReminderAttempted(r) => format!("attempted/{}/{}", r.reminder, r.attempt),
        E::ReminderSent(r) => format!("sent/{}", r.reminder),
        E::ReminderFailed(r) => format!("failed/{}/{}", r.reminder, r.attempt),
        E::ReminderCancelled(r) => format!("cancelled/{}", r.reminder),
        E::ReminderSkipped(r) => format!("skipped/{}", r.reminder),
        _ => return None,
    })
}

fn record(
    store: &dyn EventStore,
    views: &Views,
    events: Vec<DomainEvent>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let day = ApproxDate::Day(now.date_naive());
    let batch: Vec<Proposed> = events
        .into_iter()
        .map(|e| {
            let id = event_id(views, &e);
            Proposed::from_event(e, day, ACTOR, id).map_err(|e| StoreError::Rejected {
                index: 0,
                message: format!("the scheduler built an invalid event: {e}"),
            })
        })
        .collect::<Result<_, _>>()?;
    let outcomes = store.append(batch)?;
    Ok(outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Recorded(_)))
        .count())
}

/// The views the scheduler decides from at `now`: what had occurred by then. Live, that is the
/// whole log, shared; ticking through a history recorded after the fact, it is the events
/// recorded by `now` and those recorded later whose `occurred` window had elapsed by `now`'s
/// day, with the scheduler's own records.
fn view_at(
    store: &dyn EventStore,
    now: DateTime<Utc>,
    live: bool,
    own_after: u64,
) -> Result<std::sync::Arc<projections::State>, StoreError> {
    if live {
        projections::current(store)
    } else {
        let q = projections::Query::occurred_by_after(now, own_after);
        projections::views(store, &q).map(std::sync::Arc::new)
    }
}

/// How far behind the clock a tick may run and still be live (a tick's own duration, a clock
/// stepped back a little): beyond it, the tick runs at a past instant.
const LIVE_SLACK: chrono::Duration = chrono::Duration::minutes(10);

/// Whether a tick at `now` runs at the present (`serve`, `tick` without `--now`) rather than at
/// a past instant (`tick --now` in the past, `simulate`). Live, everything recorded counts,
/// whatever approximate window it gives and whatever instants clocks stamped on it.
fn is_live(now: DateTime<Utc>, own_after: u64) -> bool {
    own_after == 0 && now >= Utc::now() - LIVE_SLACK
}

impl Engine {
    /// Runs everything due at `now` and returns what it did.
    pub async fn tick(
        &self,
        store: &dyn EventStore,
        now: DateTime<Utc>,
    ) -> Result<TickReport, StoreError> {
        let head = store.head().seq;
        if let Some(q) = self
            .quiet
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if q.instance == store.instance() && q.head == head && q.since <= now && now < q.until {
                return Ok(TickReport {
                    next_wakeup: q.next_wakeup,
                    ..Default::default()
                });
            }
        }
        let report = self.tick_fully(store, now).await?;
        let quiet = (report.recorded == 0 && report.sent.is_empty() && report.failed.is_empty())
            .then(|| {
                let midnight = (now.date_naive() + chrono::Duration::days(1))
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight exists")
                    .and_utc();
                Quiet {
                    instance: store.instance(),
                    head,
                    since: now,
                    until: report.next_wakeup.map_or(midnight, |w| w.min(midnight)),
                    next_wakeup: report.next_wakeup,
                }
            });
        *self.quiet.lock().unwrap_or_else(|p| p.into_inner()) = quiet;
        Ok(report)
    }

    async fn tick_fully(
        &self,
        store: &dyn EventStore,
        now: DateTime<Utc>,
    ) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        let live = is_live(now, self.own_after);
        let current = |store: &dyn EventStore| view_at(store, now, live, self.own_after);
        // Reconcile until nothing changes: digests list the deadlines set in the round before.
        let mut state = current(store)?;
        for _ in 0..3 {
            let n = record(
                store,
                &state.views,
                reconcile(&state.views, &self.defs, now),
                now,
            )?;
            drop(state);
            state = current(store)?;
            report.recorded += n;
            if n == 0 {
                break;
            }
        }
        let plan = due(&state.views, &self.defs, now);
        report.skipped = plan.skips.len();
        report.recorded += record(store, &state.views, plan.skips, now)?;
        report.next_wakeup = plan.next_wakeup;
        // Once the server could not be reached, the other sends of this tick wait, untried and
        // unrecorded: they stay due, and a later tick tries them (one at a time while the
        // server stays out of reach), so an outage costs a tick one timeout, not one a message.
        let mut unreachable = false;
        // First tries go before retries (the plan's order is kept within each): a message that
        // keeps failing on its own (one the server drops) never holds the others back.
        let mut jobs = plan.jobs;
        jobs.sort_by_key(|j| {
            state
                .views
                .work
                .reminders
                .get(&j.reminder)
                .is_some_and(|r| r.attempts > 0)
        });
        for batch in batches(&state.views, jobs) {
            if unreachable {
                report.deferred += batch.len();
                continue;
            }
            unreachable = self
                .send_batch(store, &state.views, &batch, now, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Sends one message for a batch of due reminders (one reminder, or steps going together)
    /// and records each reminder's attempt before the send and its outcome after, each set in
    /// one append. Returns whether the mail server could not be reached.
    async fn send_batch(
        &self,
        store: &dyn EventStore,
        views: &Views,
        batch: &[SendJob],
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<bool, StoreError> {
        let rows: Vec<&ReminderRow> = batch
            .iter()
            .filter_map(|j| views.work.reminders.get(&j.reminder))
            .collect();
        let Some(lead) = rows.first() else {
            return Ok(false);
        };
        let ids = || batch.iter().map(|j| j.reminder.clone());
        // The Message-ID of the first attempt stays the message's, whatever the domain
        // configured since.
        let message_id = lead.rendered.as_ref().map_or_else(
            || {
                format!(
                    "{}.{}@{}",
                    lead.reminder,
                    lead.fire_at.0.timestamp(),
                    self.sender.message_id_domain
                )
            },
            |m| m.message_id.clone(),
        );
        let failed = |reason: String| {
            batch
                .iter()
                .map(|j| {
                    let e = crate::notify::SendError {
                        permanent: true,
                        unreachable: false,
                        reason: reason.clone(),
                    };
                    outcome(&j.reminder, j.attempt, &message_id, Err(e), now)
                })
                .collect::<Vec<_>>()
        };
        let Some(contact) = self.contacts.0.get(&lead.recipient).cloned() else {
            let events = failed(format!(
                "no contact `{}` in the contacts directory (config/contacts.toml)",
                lead.recipient
            ));
            report.failed.extend(ids());
            report.recorded += record(store, views, events, now)?;
            return Ok(false);
        };
        // A resend after a crash, or a retry after a transient failure, sends the message
        // recorded at the first attempt: same content, same Date, same Message-ID.
        let (message, date) = match &lead.rendered {
            Some(m) => (
                crate::notify::RenderedMessage {
                    subject: m.subject.clone(),
                    text: m.text.clone(),
                    html: m.html.clone(),
                    ics: m.ics.clone(),
                },
                m.date.0,
            ),
            None => match render_reminder(
                &self.renderer,
                views,
                &self.defs,
                &rows,
                &contact.name,
                &self.dashboard_url,
                now,
            ) {
                Ok(m) => (m, now),
                Err(reason) => {
                    report.failed.extend(ids());
                    report.recorded += record(store, views, failed(reason), now)?;
                    return Ok(false);
                }
            },
        };
        let kept = match Kept::new(&message) {
            Ok(k) => k,
            Err(reason) => {
                report.failed.extend(ids());
                report.recorded += record(store, views, failed(reason), now)?;
                return Ok(false);
            }
        };
        crash_if(self.fault, Fault::BeforeAttempt);
        let attempts: Vec<DomainEvent> = batch
            .iter()
            .filter(|j| !j.resend)
            .map(|j| attempted(&j.reminder, j.attempt, &message_id, date, &kept, j.late))
            .collect();
        report.recorded += record(store, views, attempts, now)?;
        let out = Outgoing {
            to: contact,
            message_id: message_id.clone(),
            date,
            subject: message.subject,
            text: message.text,
            html: message.html,
            ics: message.ics,
        };
        crash_if(self.fault, Fault::AfterAttempt);
        let result = self.mailer.send(&self.sender, &out).await;
        let mut unreachable = false;
        match &result {
            Ok(()) => {
                crash_if(self.fault, Fault::AfterSend);
                report.sent.extend(ids());
            }
            Err(e) => {
                unreachable = e.unreachable;
                tracing::warn!(reminder = %lead.reminder, steps = batch.len(), reason = %e.reason, permanent = e.permanent, "send failed");
                report.failed.extend(ids());
            }
        }
        // The steps of one message are retried together, when the first of them is.
        let lead_outcome = outcome(
            &lead.reminder,
            batch[0].attempt,
            &message_id,
            result.clone(),
            now,
        );
        let retry = match &lead_outcome {
            DomainEvent::ReminderFailed(ReminderFailed { retry_at, .. }) => *retry_at,
            _ => None,
        };
        if let Some(t) = retry {
            // The retry is due before anything the plan knew of, perhaps: wake for it.
            let t = t.0.min(lead.expires_at.0);
            report.next_wakeup = Some(report.next_wakeup.map_or(t, |w| w.min(t)));
        }
        let outcomes = batch
            .iter()
            .map(|j| {
                let mut e = outcome(&j.reminder, j.attempt, &message_id, result.clone(), now);
                if let DomainEvent::ReminderFailed(f) = &mut e {
                    f.retry_at = f.retry_at.and(retry);
                }
                e
            })
            .collect();
        report.recorded += record(store, views, outcomes, now)?;
        Ok(unreachable)
    }
}

/// Due sends grouped into messages, in the order of each message's first job. A message
/// already rendered (a resend, a retry) goes again as it was, once, for all whose attempt
/// recorded it. First tries of deadline reminders to one recipient, of one workflow, for one
/// meeting, due the same day and firing at the same instant go as one message: the notice
/// and the provisional agenda of a meeting, say.
fn batches(views: &Views, jobs: Vec<SendJob>) -> Vec<Vec<SendJob>> {
    #[derive(PartialEq, Eq, Hash)]
    enum Key {
        Rendered(String),
        Steps(String, String, u32, String, i64, chrono::NaiveDate),
        Alone(String),
    }
    let mut out: Vec<Vec<SendJob>> = Vec::new();
    let mut index: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for job in jobs {
        let Some(r) = views.work.reminders.get(&job.reminder) else {
            continue;
        };
        let deadline = r
            .deadline
            .as_deref()
            .and_then(|d| views.work.deadlines.get(d));
        let key = match (&r.rendered, r.kind, deadline) {
            (Some(m), _, _) => Key::Rendered(m.message_id.clone()),
            (None, ReminderKind::Deadline, Some(d)) if d.meeting.is_some() => Key::Steps(
                r.recipient.clone(),
                r.workflow.clone(),
                r.workflow_version,
                d.meeting.clone().unwrap_or_default(),
                r.fire_at.0.timestamp(),
                d.due.0,
            ),
            _ => Key::Alone(job.reminder.clone()),
        };
        match index.get(&key) {
            Some(&i) => out[i].push(job),
            None => {
                index.insert(key, out.len());
                out.push(vec![job]);
            }
        }
    }
    out
}
