//! The catalogue itself: every event type with its version and stream, `DomainEvent` built
//! from that list, and decoding a record's data by type and version.

use super::*;

/// Why an event's type, version or data was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("`{ty}` has no schema version {version} (this build knows version {known})")]
    UnknownVersion {
        ty: String,
        version: u32,
        known: u32,
    },
    #[error("field `{path}`: {message}")]
    Field { path: String, message: String },
}

pub(super) fn decode_as<T: DeserializeOwned>(data: &Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(data).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        DecodeError::Field {
            path: if path == "." {
                "data".to_string()
            } else {
                format!("data.{path}")
            },
            message,
        }
    })
}

macro_rules! catalogue {
    ($($name:ident ($ver:literal) => |$e:ident| $stream:expr;)*) => {
        /// Every event type Accord records, with its data.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum DomainEvent {
            $($name($name),)*
        }

        /// Each event type with its current schema version.
        pub const EVENT_TYPES: &[(&str, u32)] = &[$((stringify!($name), $ver),)*];

        impl DomainEvent {
            /// The event's type name, as recorded in the envelope.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(DomainEvent::$name(_) => stringify!($name),)*
                }
            }

            /// Decodes `data` as an event of type `ty` at schema version `version`; data of an
            /// earlier version is upcast to the current one (the record itself is unchanged).
            pub fn decode(ty: &str, version: u32, data: &Value) -> Result<Self, DecodeError> {
                match ty {
                    $(stringify!($name) => {
                        if version != $ver {
                            let data = upcast(ty, version, $ver, data)?;
                            return decode_as::<$name>(&data).map(DomainEvent::$name);
                        }
                        decode_as::<$name>(data).map(DomainEvent::$name)
                    })*
                    other => Err(DecodeError::UnknownType(other.to_string())),
                }
            }

            /// As [`DomainEvent::decode`], from the data's JSON text: data of the current
            /// version decodes straight into its type; anything else (an earlier version to
            /// upcast, data that does not decode) goes the way of `decode`, with its errors.
            pub fn decode_text(
                ty: &str,
                version: u32,
                text: &serde_json::value::RawValue,
            ) -> Result<Self, DecodeError> {
                match ty {
                    $(stringify!($name) if version == $ver => {
                        if let Ok(e) = serde_json::from_str::<$name>(text.get()) {
                            return Ok(DomainEvent::$name(e));
                        }
                    })*
                    _ => {}
                }
                let data: Value = serde_json::from_str(text.get()).map_err(|e| DecodeError::Field {
                    path: "data".to_string(),
                    message: e.to_string(),
                })?;
                Self::decode(ty, version, &data)
            }

            /// The stream the event belongs to: one stream per meeting, decision, group,
            /// report and agreement.
            pub fn stream(&self) -> String {
                match self {
                    $(DomainEvent::$name($e) => $stream,)*
                }
            }
        }

        /// The JSON Schema (2020-12) of each event type's `data`, named by type.
        pub fn schemas() -> Vec<(&'static str, u32, schemars::Schema)> {
            vec![$((stringify!($name), $ver, schemars::schema_for!($name)),)*]
        }
    };
}

catalogue! {
    MeetingScheduled (1) => |e| format!("meeting/{}", e.meeting);
    MeetingConfirmed (1) => |e| format!("meeting/{}", e.meeting);
    MeetingPostponed (2) => |e| format!("meeting/{}", e.meeting);
    MeetingRescheduled (1) => |e| format!("meeting/{}", e.meeting);
    MeetingSplit (1) => |e| format!("meeting/{}", e.meeting);
    MeetingAdjourned (1) => |e| format!("meeting/{}", e.meeting);
    MeetingResumed (1) => |e| format!("meeting/{}", e.meeting);
    MeetingHeld (1) => |e| format!("meeting/{}", e.meeting);
    MeetingCancelled (1) => |e| format!("meeting/{}", e.meeting);
    DecisionAdopted (1) => |e| format!("decision/{}", e.symbol);
    MandateStatusChanged (1) => |e| format!("decision/{}", e.decision);
    GroupEstablished (1) => |e| format!("group/{}", e.group);
    TermsOfReferenceAdopted (1) => |e| format!("group/{}", e.group);
    CoChairsAppointed (2) => |e| format!("group/{}", e.group);
    GroupScopeExtended (1) => |e| format!("group/{}", e.group);
    LeadOfficerChanged (1) => |e| format!("group/{}", e.group);
    GroupDissolved (1) => |e| format!("group/{}", e.group);
    GroupsReviewed (1) => |e| format!("group/{}", e.by);
    ActivityReported (1) => |e| format!("group/{}", e.group);
    ReportDrafted (1) => |e| format!("report/{}", e.report);
    ReportEndorsed (1) => |e| format!("report/{}", e.report);
    ReportSubmitted (1) => |e| format!("report/{}", e.report);
    ReportFiled (1) => |e| format!("report/{}", e.report);
    DocumentPosted (1) => |e| format!("document/{}", e.document);
    AgreementSigned (1) => |e| format!("agreement/{}", e.agreement);
    BodyRegistered (1) => |e| format!("body/{}", e.body);
    PartyJoined (1) => |e| format!("party/{}/{}", e.body, e.party);
    NationalReportReceived (1) => |e| format!("reporting/{}/{}", e.body, e.cycle);
    DeadlineSet (1) => |e| format!("deadline/{}", e.deadline);
    DeadlineMet (1) => |e| format!("deadline/{}", e.deadline);
    DeadlineMissed (1) => |e| format!("deadline/{}", e.deadline);
    DeadlineCancelled (1) => |e| format!("deadline/{}", e.deadline);
    ReminderScheduled (1) => |e| format!("reminder/{}", e.reminder);
    ReminderAttempted (2) => |e| format!("reminder/{}", e.reminder);
    ReminderSent (1) => |e| format!("reminder/{}", e.reminder);
    ReminderFailed (1) => |e| format!("reminder/{}", e.reminder);
    ReminderCancelled (1) => |e| format!("reminder/{}", e.reminder);
    ReminderSkipped (1) => |e| format!("reminder/{}", e.reminder);
    EventRetracted (1) => |_e| "corrections".to_string();
    EventAmended (1) => |_e| "corrections".to_string();
}

impl DomainEvent {
    /// Checks that cannot be said in a schema: symbols well formed, lists not empty,
    /// mandates unique per decision.
    pub fn check(&self) -> Result<(), DecodeError> {
        let field = |path: &str, message: &str| DecodeError::Field {
            path: path.to_string(),
            message: message.to_string(),
        };
        let symbol_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"./-".contains(&b))
        };
        match self {
            DomainEvent::DecisionAdopted(d) => {
                if !symbol_ok(&d.symbol) {
                    return Err(field(
                        "data.symbol",
                        "expected a decision symbol such as MC-3/11",
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                for (i, m) in d.mandates.iter().enumerate() {
                    if !seen.insert(m.paragraph.0.clone()) {
                        return Err(field(
                            &format!("data.mandates[{i}].paragraph"),
                            "paragraph given twice in one decision",
                        ));
                    }
                }
                for (name, list) in [
                    ("mirrors", &d.mirrors),
                    ("amends", &d.amends),
                    ("supersedes", &d.supersedes),
                ] {
                    if let Some(i) = list.iter().position(|s| !symbol_ok(s)) {
                        return Err(field(
                            &format!("data.{name}[{i}]"),
                            "expected a decision symbol",
                        ));
                    }
                }
            }
            DomainEvent::MandateStatusChanged(m) if !symbol_ok(&m.decision) => {
                return Err(field(
                    "data.decision",
                    "expected a decision symbol such as MC-3/11",
                ));
            }
            DomainEvent::MeetingSplit(s) if s.segments.len() < 2 => {
                return Err(field(
                    "data.segments",
                    "a split needs at least two segments",
                ));
            }
            DomainEvent::GroupEstablished(g) if g.members.is_empty() => {
                return Err(field(
                    "data.members",
                    "a group needs at least one member entity",
                ));
            }
            DomainEvent::ReportSubmitted(r)
                if r.document.is_empty()
                    || r.document.len() > 120
                    || !r
                        .document
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"./()-".contains(&b)) =>
            {
                return Err(field(
                    "data.document",
                    "expected a document symbol such as UNEP/MC/COP.4/INF/17",
                ));
            }
            DomainEvent::DocumentPosted(d)
                if d.document.is_empty()
                    || d.document.len() > 120
                    || !d
                        .document
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"./()-".contains(&b)) =>
            {
                return Err(field(
                    "data.document",
                    "expected a document symbol such as UNEP/MC/COP.4/1",
                ));
            }
            DomainEvent::ReportDrafted(r) if r.by.is_empty() => {
                return Err(field("data.by", "name at least one drafter"));
            }
            DomainEvent::EventRetracted(EventRetracted { seq: 0, .. })
            | DomainEvent::EventAmended(EventAmended { seq: 0, .. }) => {
                return Err(field("data.seq", "seq starts at 1"));
            }
            _ => {}
        }
        Ok(())
    }

    /// For corrections, the seq they correct.
    pub fn corrects(&self) -> Option<u64> {
        match self {
            DomainEvent::EventRetracted(e) => Some(e.seq),
            DomainEvent::EventAmended(e) => Some(e.seq),
            _ => None,
        }
    }
}
