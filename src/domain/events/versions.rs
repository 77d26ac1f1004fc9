//! Earlier schema versions of event types and their upcasting: the old types as they were
//! published, one step from each version to the next, and which versions a type can read.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::*;

/// Earlier schema versions of event types, kept to read old records: a record is never
/// rewritten, so its data is decoded at the version it was written with and upcast, one version
/// at a time, to the current type.
pub mod v1 {
    use super::super::*;

    // `CoChairsAppointed` version 1: the co-chairs as bare officer ids. Its doc line is the
    // description of the published version-1 schema, kept as it was.
    /// Co-chairs are appointed to a group.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CoChairsAppointed {
        pub group: Slug,
        pub co_chairs: Vec<Slug>,
    }

    // `MeetingPostponed` version 1: new dates always given.
    /// A meeting is put off to later (possibly still unknown) dates.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct MeetingPostponed {
        pub meeting: Slug,
        /// The segment this applies to, for a split meeting.
        #[serde(default, skip_serializing_if = "crate::omit::none")]
        pub segment: Option<Slug>,
        pub dates: ApproxDate,
        #[serde(default)]
        pub tentative: bool,
        #[serde(default, skip_serializing_if = "crate::omit::none")]
        pub reason: Option<Text>,
    }

    impl From<MeetingPostponed> for super::MeetingPostponed {
        fn from(old: MeetingPostponed) -> Self {
            super::MeetingPostponed {
                meeting: old.meeting,
                segment: old.segment,
                dates: Some(old.dates),
                tentative: old.tentative,
                reason: old.reason,
                decided_by: None,
            }
        }
    }

    // `ReminderAttempted` version 1: the rendered bodies held at most 4,000 characters, as
    // free text does.
    /// A send is about to be tried: the rendered message, kept so a resend is identical.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ReminderAttempted {
        pub reminder: Key,
        pub attempt: u32,
        pub message_id: Key,
        /// The message's Date header, kept so a resend is identical.
        pub date: Instant,
        pub subject: Text,
        pub text: Text,
        #[serde(default, skip_serializing_if = "crate::omit::none")]
        pub html: Option<Text>,
        #[serde(default, skip_serializing_if = "crate::omit::none")]
        pub ics: Option<Text>,
        /// Sent after its time, after a downtime.
        #[serde(default)]
        pub late: bool,
    }

    impl From<ReminderAttempted> for super::ReminderAttempted {
        fn from(old: ReminderAttempted) -> Self {
            // Text of at most 4,000 characters, never empty: a body as it is.
            let body = |t: Text| super::MessageBody(t.0);
            super::ReminderAttempted {
                reminder: old.reminder,
                attempt: old.attempt,
                message_id: old.message_id,
                date: old.date,
                subject: old.subject,
                text: body(old.text),
                html: old.html.map(body),
                ics: old.ics.map(body),
                late: old.late,
            }
        }
    }

    impl From<CoChairsAppointed> for super::CoChairsAppointed {
        fn from(old: CoChairsAppointed) -> Self {
            super::CoChairsAppointed {
                group: old.group,
                co_chairs: old
                    .co_chairs
                    .into_iter()
                    .map(|officer| super::CoChair {
                        officer,
                        entity: None,
                    })
                    .collect(),
            }
        }
    }
}

/// One step of upcasting: decodes `data` at the older version, strictly (unknown members are
/// refused as at any version), and returns it as the data of the next version.
fn upcast_step<Old, New>(data: &Value) -> Result<Value, DecodeError>
where
    Old: DeserializeOwned + Into<New>,
    New: Serialize,
{
    let old: Old = decode_as(data)?;
    serde_json::to_value(old.into()).map_err(|e| DecodeError::Field {
        path: "data".to_string(),
        message: e.to_string(),
    })
}

/// Every upcasting step: (type, from version, step to from + 1).
type Upcast = fn(&Value) -> Result<Value, DecodeError>;
const UPCASTS: &[(&str, u32, Upcast)] = &[
    (
        "CoChairsAppointed",
        1,
        upcast_step::<v1::CoChairsAppointed, CoChairsAppointed>,
    ),
    (
        "MeetingPostponed",
        1,
        upcast_step::<v1::MeetingPostponed, MeetingPostponed>,
    ),
    (
        "ReminderAttempted",
        1,
        upcast_step::<v1::ReminderAttempted, ReminderAttempted>,
    ),
];

/// The JSON Schemas of the earlier versions still read, by type and version.
pub fn old_schemas() -> Vec<(&'static str, u32, schemars::Schema)> {
    vec![
        (
            "CoChairsAppointed",
            1,
            schemars::schema_for!(v1::CoChairsAppointed),
        ),
        (
            "MeetingPostponed",
            1,
            schemars::schema_for!(v1::MeetingPostponed),
        ),
        (
            "ReminderAttempted",
            1,
            schemars::schema_for!(v1::ReminderAttempted),
        ),
    ]
}

/// The versions of `ty` that can be read: its current one and every earlier one with an
/// upcasting path to it.
pub fn readable_versions(ty: &str) -> Vec<u32> {
    let Some(current) = EVENT_TYPES.iter().find(|(t, _)| *t == ty).map(|(_, v)| *v) else {
        return Vec::new();
    };
    let mut versions = vec![current];
    let mut v = current;
    while v > 1
        && UPCASTS
            .iter()
            .any(|(t, from, _)| *t == ty && *from == v - 1)
    {
        v -= 1;
        versions.push(v);
    }
    versions.reverse();
    versions
}

/// Brings `data` of type `ty` from `version` up to `current`, one step at a time.
pub(super) fn upcast(
    ty: &str,
    version: u32,
    current: u32,
    data: &Value,
) -> Result<Value, DecodeError> {
    let unknown = || DecodeError::UnknownVersion {
        ty: ty.to_string(),
        version,
        known: current,
    };
    if version == 0 || version > current {
        return Err(unknown());
    }
    let mut data = data.clone();
    for v in version..current {
        let step = UPCASTS
            .iter()
            .find(|(t, from, _)| *t == ty && *from == v)
            .map(|(_, _, f)| *f)
            .ok_or_else(unknown)?;
        data = step(&data)?;
    }
    Ok(data)
}
