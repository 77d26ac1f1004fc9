//! The event catalogue: every fact a secretariat records, named in the past tense, versioned.
//!
//! Each event type is a struct that refuses unknown fields, so a misspelt field is an error
//! rather than silently dropped data. `DomainEvent::decode` is the one way in: it picks the
//! struct by type name, checks the schema version and reports the path of a bad field. The
//! JSON Schemas in `events/schema/` are generated from these types (see `schema_files`).

use std::fmt;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::date::ApproxDate;

mod catalogue;
mod values;
mod work;
pub use catalogue::*;
pub use values::*;
pub use work::*;

// ---- meetings ----

/// A meeting is announced, with exact or approximate ("to be confirmed") dates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingScheduled {
    pub meeting: Slug,
    pub body: Body,
    pub kind: MeetingKind,
    /// The meeting's number in its series ("4" for COP-4, "5" for UNEA-5).
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub number: Option<Text>,
    pub title: Text,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub venue: Option<Text>,
    /// In person, online or hybrid, when announced.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub mode: Option<Mode>,
    pub dates: ApproxDate,
    /// Dates announced as "to be confirmed".
    #[serde(default)]
    pub tentative: bool,
    /// For a joint meeting, the bodies that meet together (`BC`, `RC`, `SC` at a BRS meeting);
    /// each decision then names its own.
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub bodies: Vec<Body>,
}

/// The dates (and optionally venue and mode) of a meeting are confirmed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingConfirmed {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub mode: Option<Mode>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decided_by: Option<Slug>,
}

/// A meeting is put off to later dates, or to dates still to be determined (schema version 2:
/// `dates` may be left out; version 1 always gave them and is upcast on read, see [`v1`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingPostponed {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    /// The new dates; left out when they are still to be determined.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub dates: Option<ApproxDate>,
    #[serde(default)]
    pub tentative: bool,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub reason: Option<Text>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decided_by: Option<Slug>,
}

/// A meeting moves to other dates, venue or mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingRescheduled {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub tentative: bool,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub reason: Option<Text>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decided_by: Option<Slug>,
}

/// A meeting is split into segments, each with its own dates, venue and mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingSplit {
    pub meeting: Slug,
    #[schemars(length(min = 2))]
    pub segments: Vec<Segment>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decided_by: Option<Slug>,
}

/// A meeting (or one of its segments) is adjourned, or suspended, to resume later: the session
/// that ends here is kept, and `MeetingResumed` opens the next one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingAdjourned {
    pub meeting: Slug,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    /// When it is expected to resume, if known.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub resume: Option<ApproxDate>,
    /// Suspended rather than adjourned (the session is to be continued).
    #[serde(default, skip_serializing_if = "crate::omit::falsy")]
    pub suspended: bool,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decided_by: Option<Slug>,
}

/// An adjourned meeting resumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingResumed {
    pub meeting: Slug,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub mode: Option<Mode>,
}

/// A meeting (or one of its segments) took place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingHeld {
    pub meeting: Slug,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub venue: Option<Text>,
}

/// A meeting will not take place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingCancelled {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub reason: Option<Text>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decided_by: Option<Slug>,
}

// ---- decisions and mandates ----

/// A decision (or resolution) is adopted at a meeting, with the mandates it carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionAdopted {
    /// The decision's symbol: MC-3/11, BC-15/17, UNEP/EA.5/Res.14.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9./-]{0,63}$"))]
    pub symbol: String,
    pub meeting: Slug,
    /// The segment or session of a split meeting at which it was adopted.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub segment: Option<Slug>,
    /// The body that adopted it, when a joint meeting adopts decisions of several bodies
    /// (a BC decision at a BRS meeting); otherwise the meeting's body.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub body: Option<Body>,
    pub title: Text,
    pub adopted: Day,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub issued: Option<Day>,
    /// Decisions this one mirrors (BRS decisions mirroring MC-3/11).
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub mirrors: Vec<String>,
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub amends: Vec<String>,
    /// Decisions whose mandates this one replaces.
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub supersedes: Vec<String>,
    #[serde(default)]
    pub mandates: Vec<Mandate>,
}

/// A mandate moves to another status (in progress, reported, implemented, elapsed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MandateStatusChanged {
    pub decision: String,
    pub paragraph: Text,
    pub status: MandateStatus,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub note: Option<Text>,
}

// ---- groups ----

/// A task force or working group is set up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupEstablished {
    pub group: Slug,
    pub name: Text,
    pub kind: GroupKind,
    pub scope: Scope,
    /// The area of cooperation ("Mercury wastes").
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub area: Option<Text>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decision_area: Option<DecisionArea>,
    pub members: Vec<Entity>,
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub co_chairs: Vec<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub lead_officers: Vec<LeadOfficer>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub modality: Option<Modality>,
    /// The decision symbol, or mandate (`MC-3/11#2`), the group implements.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub implements: Option<String>,
    /// The group this one works under (the task force that steers a working group).
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub parent: Option<Slug>,
}

/// A group's terms of reference are adopted or finalized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsOfReferenceAdopted {
    pub group: Slug,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub by: Option<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub summary: Option<Text>,
}

/// Co-chairs are appointed to a group (schema version 2: each co-chair with the entity they
/// come from; version 1 named officers only and is upcast on read, see [`v1`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoChairsAppointed {
    pub group: Slug,
    pub co_chairs: Vec<CoChair>,
}

/// One co-chair of a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoChair {
    /// Officer id or role.
    pub officer: Slug,
    /// The entity the co-chair comes from, when known.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub entity: Option<Entity>,
}

mod versions;
use versions::upcast;
pub use versions::{old_schemas, readable_versions, v1};

/// An inter-secretariat group is extended (to the UNEP Chemicals and Health Branch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupScopeExtended {
    pub group: Slug,
    pub scope: Scope,
    pub added_members: Vec<Entity>,
}

/// An entity names a (new) lead officer for a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadOfficerChanged {
    pub group: Slug,
    pub entity: Entity,
    pub officer: Slug,
}

/// A group ends its work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupDissolved {
    pub group: Slug,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub reason: Option<Text>,
}

/// The task force reviews the list of working groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupsReviewed {
    /// The reviewing group.
    pub by: Slug,
    pub groups: Vec<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub outcome: Option<Text>,
}

// ---- activities, reports, agreements ----

/// A group reports an activity (a campaign, a study, a meeting, a joint contribution).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityReported {
    pub activity: Slug,
    pub group: Slug,
    pub title: Text,
    /// The area of cooperation.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub area: Option<Text>,
    /// Meetings at which the activity took place.
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub meetings: Vec<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub summary: Option<Text>,
}

/// A report is drafted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportDrafted {
    pub report: Slug,
    pub title: Text,
    /// Officer ids or roles of the drafters.
    pub by: Vec<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub group: Option<Slug>,
    /// The decision the report responds to.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub decision: Option<String>,
}

/// A report is endorsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportEndorsed {
    pub report: Slug,
    pub by: Vec<Slug>,
}

/// A report is submitted to a meeting as a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSubmitted {
    pub report: Slug,
    pub meeting: Slug,
    /// Document symbol, such as UNEP/MC/COP.4/INF/17.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9./()-]{0,119}$"))]
    pub document: String,
    /// Mandates (`MC-3/11#3`) this submission reports on.
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub reports_on: Vec<String>,
}

/// What kind of meeting document was posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    ProvisionalAgenda,
    NoticeOfDates,
    PreSession,
    Information,
    ConferenceRoomPaper,
    MeetingReport,
}

/// A meeting document is posted (distributed) under its symbol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentPosted {
    /// Document symbol, such as UNEP/MC/COP.4/1.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9./()-]{0,119}$"))]
    pub document: String,
    /// The meeting, or segment, it is for.
    pub meeting: Slug,
    pub kind: DocumentKind,
    pub title: Text,
}

/// A report is filed in a repository (the task force serves as the repository for reports).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportFiled {
    pub report: Slug,
    pub repository: Slug,
}

/// An agreement between entities is signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementSigned {
    pub agreement: Slug,
    pub title: Text,
    pub parties: Vec<Entity>,
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub services: Vec<Text>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub budget: Option<Money>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub for_meeting: Option<Slug>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub implements: Option<String>,
}

// ---- bodies, Parties and national reports ----

/// A governing body is added to those Accord knows (the eight shipped ones need no record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodyRegistered {
    pub body: Body,
    /// Its name: "Conference of the Parties to the Convention on Biological Diversity".
    pub name: Text,
    /// The kinds of meeting it holds.
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub meeting_kinds: Vec<MeetingKind>,
    /// For a joint body, the bodies that meet under it (`BC`, `RC`, `SC` under `BRS`).
    #[serde(default, skip_serializing_if = "crate::omit::empty")]
    pub members: Vec<Body>,
}

/// A State (or organization) becomes a Party to a convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyJoined {
    /// The convention's body: `MC`, `BC`.
    pub body: Body,
    /// The Party's code: ISO 3166-1 alpha-3 in lower case (`che`), or `eu`.
    pub party: Slug,
    pub name: Text,
    /// The day it became a Party (entry into force for it).
    pub joined: Day,
}

/// The kind of national report a reporting cycle asks for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NationalReportKind {
    /// A full report (Minamata: every four years).
    Full,
    /// A short report (Minamata: every four years, two years after a full one).
    Short,
    /// A yearly report (Basel).
    Annual,
}

impl NationalReportKind {
    pub fn name(self) -> &'static str {
        match self {
            NationalReportKind::Full => "full",
            NationalReportKind::Short => "short",
            NationalReportKind::Annual => "annual",
        }
    }
}

/// A Party's national report for a reporting cycle reached the secretariat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NationalReportReceived {
    pub body: Body,
    pub party: Slug,
    /// The cycle, by the year its reports are due: `2021`.
    pub cycle: Slug,
    pub kind: NationalReportKind,
    pub received: Day,
}

// ---- corrections ----

/// An earlier event (by seq) is withdrawn: projections act as if it had not been recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRetracted {
    #[schemars(range(min = 1))]
    pub seq: u64,
    pub reason: Text,
}

/// An earlier event (by seq) is replaced by corrected data of the same type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventAmended {
    #[schemars(range(min = 1))]
    pub seq: u64,
    pub reason: Text,
    /// The whole corrected `data` of the amended event.
    pub data: serde_json::Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_co_chairs_upcast_to_version_2() {
        assert_eq!(readable_versions("CoChairsAppointed"), vec![1, 2]);
        assert_eq!(readable_versions("MeetingScheduled"), vec![1]);
        assert!(readable_versions("NoSuchType").is_empty());
        let v1 = serde_json::json!({"group": "tf", "co_chairs": ["a", "b"]});
        let DomainEvent::CoChairsAppointed(e) =
            DomainEvent::decode("CoChairsAppointed", 1, &v1).expect("version 1 decodes")
        else {
            panic!("wrong type");
        };
        assert_eq!(
            e.co_chairs
                .iter()
                .map(|c| (c.officer.as_str(), c.entity.is_none()))
                .collect::<Vec<_>>(),
            vec![("a", true), ("b", true)]
        );
        // Each version is decoded strictly at its own shape.
        assert!(DomainEvent::decode("CoChairsAppointed", 2, &v1).is_err());
        let v2 = serde_json::json!({"group": "tf", "co_chairs": [{"officer": "a"}]});
        assert!(DomainEvent::decode("CoChairsAppointed", 1, &v2).is_err());
        assert!(DomainEvent::decode("CoChairsAppointed", 2, &v2).is_ok());
        let mut extra = v1.clone();
        extra["unexpected"] = 1.into();
        assert!(matches!(
            DomainEvent::decode("CoChairsAppointed", 1, &extra),
            Err(DecodeError::Field { .. })
        ));
        for v in [0, 3] {
            assert!(matches!(
                DomainEvent::decode("CoChairsAppointed", v, &v1),
                Err(DecodeError::UnknownVersion { known: 2, .. })
            ));
        }
    }
}
