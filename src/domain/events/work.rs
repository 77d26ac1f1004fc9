//! The events the scheduler records: deadlines set, met, missed or cancelled, and reminders
//! scheduled, attempted, sent, failed, cancelled or skipped, with the instants and keys they use.

use super::*;

// ---- workflows: deadlines and reminders ----

/// A UTC instant, RFC 3339 with microseconds: `2021-09-20T07:00:00.000000Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(transparent)]
pub struct Instant(#[schemars(with = "String")] pub chrono::DateTime<chrono::Utc>);

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| Instant(t.with_timezone(&chrono::Utc)))
            .map_err(|e| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 instant: {e}")))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

/// An identifier built by Accord from other identifiers: `pre-session-documents/mc-cop-4.1/distribution`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct Key(#[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._:/#@-]{0,199}$"))] pub String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = (1..=200).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:/#@-".contains(&b));
        if ok {
            Ok(Key(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{s}` is not a key: 1 to 200 letters, digits, `.`, `_`, `:`, `/`, `#`, `@`, `-`"
            )))
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workflow derives a deadline, or moves one it derived earlier (same `deadline`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSet {
    /// `workflow/instance/step`.
    pub deadline: Key,
    pub workflow: Slug,
    pub workflow_version: u32,
    /// What the instance follows: `meeting:mc-cop-4.1`, `mandate:MC-3/11#1`, `cycle:2025`.
    pub instance: Key,
    pub step: Slug,
    pub what: Text,
    pub due: Day,
    /// Derived from approximate ("to be confirmed") dates.
    #[serde(default)]
    pub tentative: bool,
    /// Officer ids or roles, looked up in the contacts directory.
    pub responsible: Vec<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub meeting: Option<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub mandate: Option<String>,
    /// For a national reporting cycle: the convention whose Parties report.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub body: Option<Body>,
    /// For a national reporting cycle: the kind of report it asks for.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub report: Option<NationalReportKind>,
}

/// The event that satisfies a deadline was recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineMet {
    pub deadline: Key,
    /// The seq of the event that met it, if recorded in the log.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub by_seq: Option<u64>,
}

/// A deadline passed without the event that satisfies it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineMissed {
    pub deadline: Key,
}

/// A deadline no longer applies (its meeting was cancelled, its mandate superseded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineCancelled {
    pub deadline: Key,
    pub reason: Text,
}

/// Whether a reminder is about one deadline or a digest of several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    Deadline,
    Digest,
}

/// A reminder will fire at `fire_at`, computed once and stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderScheduled {
    /// Deterministic: from workflow, instance, step, recipient and fire time.
    pub reminder: Key,
    pub kind: ReminderKind,
    pub workflow: Slug,
    pub workflow_version: u32,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub deadline: Option<Key>,
    pub recipient: Slug,
    pub fire_at: Instant,
    /// After this instant the reminder is pointless and is skipped (the deadline, or the
    /// next digest).
    pub expires_at: Instant,
}

/// A send is about to be tried: the rendered message, kept so a resend is identical (each body
/// up to 20,000 characters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderAttempted {
    pub reminder: Key,
    pub attempt: u32,
    pub message_id: Key,
    /// The message's Date header, kept so a resend is identical.
    pub date: Instant,
    pub subject: Text,
    pub text: MessageBody,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub html: Option<MessageBody>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub ics: Option<MessageBody>,
    /// Sent after its time, after a downtime.
    #[serde(default)]
    pub late: bool,
}

/// The mail server accepted the reminder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderSent {
    pub reminder: Key,
    pub attempt: u32,
    pub message_id: Key,
}

/// A send failed; a transient failure is retried at `retry_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderFailed {
    pub reminder: Key,
    pub attempt: u32,
    pub reason: Text,
    pub permanent: bool,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub retry_at: Option<Instant>,
}

/// An unsent reminder no longer applies (its deadline moved, was met or cancelled).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderCancelled {
    pub reminder: Key,
    pub reason: Text,
}

/// A reminder whose time passed while Accord was down, and whose deadline has passed too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderSkipped {
    pub reminder: Key,
    pub reason: Text,
}
