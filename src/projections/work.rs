//! The workflow read model: deadlines derived by workflows and the life of each reminder
//! (scheduled, attempted, sent, failed, cancelled, skipped), folded from their events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Day, DomainEvent, Instant, ReminderKind};
use crate::envelope::Envelope;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineStatus {
    Open,
    Met,
    Missed,
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadlineRow {
    pub deadline: String,
    pub workflow: String,
    pub workflow_version: u32,
    pub instance: String,
    pub step: String,
    pub what: String,
    pub due: Day,
    pub tentative: bool,
    pub responsible: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub meeting: Option<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub mandate: Option<String>,
    pub status: DeadlineStatus,
    /// Earlier due dates, oldest first, when the deadline moved.
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub moved_from: Vec<Day>,
    /// How many times the deadline was set (1 when first derived).
    pub revision: u32,
    /// The seq of the event that recorded it met.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub met_seq: Option<u64>,
    /// For a national reporting cycle: the convention whose Parties report.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub body: Option<crate::domain::Body>,
    /// For a national reporting cycle: the kind of report.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub report: Option<crate::domain::NationalReportKind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReminderStatus {
    Scheduled,
    /// A send was recorded as attempted and its outcome is not recorded yet.
    Attempted,
    Sent,
    /// A transient failure: retried at `retry_at`.
    Retrying,
    Failed,
    Cancelled,
    Skipped,
}

impl ReminderStatus {
    /// Nothing more will happen to the reminder.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReminderStatus::Sent
                | ReminderStatus::Failed
                | ReminderStatus::Cancelled
                | ReminderStatus::Skipped
        )
    }
}

/// The rendered message of the last attempt, kept for an identical resend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rendered {
    pub message_id: String,
    pub date: Instant,
    pub subject: String,
    pub text: String,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub html: Option<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub ics: Option<String>,
    pub late: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReminderRow {
    pub reminder: String,
    pub kind: ReminderKind,
    pub workflow: String,
    pub workflow_version: u32,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub deadline: Option<String>,
    pub recipient: String,
    pub fire_at: Instant,
    pub expires_at: Instant,
    pub status: ReminderStatus,
    pub attempts: u32,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub retry_at: Option<Instant>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub rendered: Option<Rendered>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub sent_seq: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Work {
    pub deadlines: BTreeMap<String, DeadlineRow>,
    pub reminders: BTreeMap<String, ReminderRow>,
}

impl Work {
    pub fn apply(&mut self, env: &Envelope, e: &DomainEvent) {
        use DomainEvent as E;
        match e {
            E::DeadlineSet(d) => {
                let revision = self
                    .deadlines
                    .get(&d.deadline.0)
                    .map_or(1, |old| old.revision + 1);
                let moved_from = match self.deadlines.get(&d.deadline.0) {
                    Some(old) if old.due != d.due => {
                        let mut m = old.moved_from.clone();
                        m.push(old.due);
                        m
                    }
                    Some(old) => old.moved_from.clone(),
                    None => Vec::new(),
                };
                self.deadlines.insert(
                    d.deadline.0.clone(),
                    DeadlineRow {
                        deadline: d.deadline.0.clone(),
                        workflow: d.workflow.0.clone(),
                        workflow_version: d.workflow_version,
                        instance: d.instance.0.clone(),
                        step: d.step.0.clone(),
                        what: d.what.0.clone(),
                        due: d.due,
                        tentative: d.tentative,
                        responsible: d.responsible.iter().map(|s| s.0.clone()).collect(),
                        meeting: d.meeting.as_ref().map(|s| s.0.clone()),
                        mandate: d.mandate.clone(),
                        status: DeadlineStatus::Open,
                        moved_from,
                        revision,
                        met_seq: None,
                        body: d.body,
                        report: d.report,
                    },
                );
            }
            E::DeadlineMet(d) => {
                self.set_deadline(&d.deadline.0, DeadlineStatus::Met);
                if let Some(row) = self.deadlines.get_mut(&d.deadline.0) {
                    row.met_seq = Some(env.seq);
                }
            }
            E::DeadlineMissed(d) => self.set_deadline(&d.deadline.0, DeadlineStatus::Missed),
            E::DeadlineCancelled(d) => self.set_deadline(&d.deadline.0, DeadlineStatus::Cancelled),
            E::ReminderScheduled(r) => {
                self.reminders.insert(
                    r.reminder.0.clone(),
                    ReminderRow {
                        reminder: r.reminder.0.clone(),
                        kind: r.kind,
                        workflow: r.workflow.0.clone(),
                        workflow_version: r.workflow_version,
                        deadline: r.deadline.as_ref().map(|k| k.0.clone()),
                        recipient: r.recipient.0.clone(),
                        fire_at: r.fire_at,
                        expires_at: r.expires_at,
                        status: ReminderStatus::Scheduled,
                        attempts: 0,
                        retry_at: None,
                        reason: None,
                        rendered: None,
                        sent_seq: None,
                    },
                );
            }
            E::ReminderAttempted(a) => {
                if let Some(r) = self.reminders.get_mut(&a.reminder.0) {
                    r.status = ReminderStatus::Attempted;
                    r.attempts = r.attempts.max(a.attempt);
                    r.rendered = Some(Rendered {
                        message_id: a.message_id.0.clone(),
                        date: a.date,
                        subject: a.subject.0.clone(),
                        text: a.text.0.clone(),
                        html: a.html.as_ref().map(|t| t.0.clone()),
                        ics: a.ics.as_ref().map(|t| t.0.clone()),
                        late: a.late,
                    });
                }
            }
            E::ReminderSent(s) => {
                if let Some(r) = self.reminders.get_mut(&s.reminder.0) {
                    r.status = ReminderStatus::Sent;
                    r.sent_seq = Some(env.seq);
                    r.retry_at = None;
                    // A failure before a success is history, not the reminder's state.
                    r.reason = None;
                }
            }
            E::ReminderFailed(f) => {
                if let Some(r) = self.reminders.get_mut(&f.reminder.0) {
                    r.status = if f.permanent {
                        ReminderStatus::Failed
                    } else {
                        ReminderStatus::Retrying
                    };
                    r.retry_at = f.retry_at;
                    r.reason = Some(f.reason.0.clone());
                    r.attempts = r.attempts.max(f.attempt);
                }
            }
            E::ReminderCancelled(c) => {
                self.end_reminder(&c.reminder.0, ReminderStatus::Cancelled, &c.reason.0)
            }
            E::ReminderSkipped(c) => {
                self.end_reminder(&c.reminder.0, ReminderStatus::Skipped, &c.reason.0)
            }
            _ => {}
        }
    }

    fn set_deadline(&mut self, id: &str, status: DeadlineStatus) {
        if let Some(d) = self.deadlines.get_mut(id) {
            d.status = status;
        }
    }

    fn end_reminder(&mut self, id: &str, status: ReminderStatus, reason: &str) {
        if let Some(r) = self.reminders.get_mut(id) {
            if !r.status.is_final() {
                r.status = status;
                r.reason = Some(reason.to_string());
            }
        }
    }

    /// The unsent reminders of a deadline.
    pub fn pending_for<'a>(
        &'a self,
        deadline: &'a str,
    ) -> impl Iterator<Item = &'a ReminderRow> + 'a {
        self.reminders
            .values()
            .filter(move |r| r.deadline.as_deref() == Some(deadline) && !r.status.is_final())
    }
}
