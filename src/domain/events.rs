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

/// A short lowercase identifier chosen by the secretariat: `mc-cop-4`, `joint-task-force`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct Slug(#[schemars(regex(pattern = r"^[a-z0-9][a-z0-9._-]{0,79}$"))] pub String);

impl Slug {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = (1..=80).contains(&s.len())
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if ok {
            Ok(Slug(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{s}` is not an identifier: use 1 to 80 lowercase letters, digits, `.`, `_` or `-`"
            )))
        }
    }
}

/// Free text that must not be empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct Text(#[schemars(length(min = 1, max = 4000))] pub String);

impl Text {
    /// `s` as text, or why it cannot be.
    pub fn new(s: String) -> Result<Text, &'static str> {
        if s.trim().is_empty() {
            return Err("must not be empty");
        }
        if s.chars().count() > 4000 {
            return Err("longer than 4000 characters");
        }
        Ok(Text(s))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Text::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most characters a rendered message body kept with a send attempt may hold: a digest
/// of a long list still fits, and the record stays well inside one input line.
pub const MAX_BODY_CHARS: usize = 20_000;

/// A rendered message body (text, HTML or calendar) kept with a send attempt: not empty, at
/// most [`MAX_BODY_CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct MessageBody(#[schemars(length(min = 1, max = 20000))] pub String);

impl MessageBody {
    /// `s` as a body, or why it cannot be one.
    pub fn new(s: String) -> Result<MessageBody, String> {
        if s.trim().is_empty() {
            return Err("must not be empty".into());
        }
        let chars = s.chars().count();
        if chars > MAX_BODY_CHARS {
            return Err(format!("longer than {MAX_BODY_CHARS} characters ({chars})"));
        }
        Ok(MessageBody(s))
    }
}

impl<'de> Deserialize<'de> for MessageBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MessageBody::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An exact calendar day, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[schemars(transparent)]
pub struct Day(
    #[schemars(with = "String", regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))] pub NaiveDate,
);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        super::date::parse_day(&s)
            .map(Day)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A governing body (or the hub) by its code: `MC`, `BC`, `UNEA`, `CBD`. Bodies are data: the
/// eight codes below are known to every log, others are added with `BodyRegistered`. The code is
/// kept inline (up to 15 bytes), so a `Body` is as cheap to copy as the closed list it replaced.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Body {
    bytes: [u8; 15],
    len: u8,
}

impl Body {
    /// Minamata Convention on Mercury.
    pub const MC: Body = Body::known("MC");
    /// Basel Convention.
    pub const BC: Body = Body::known("BC");
    /// Rotterdam Convention.
    pub const RC: Body = Body::known("RC");
    /// Stockholm Convention.
    pub const SC: Body = Body::known("SC");
    /// The Basel, Rotterdam and Stockholm conventions meeting back to back as one joint meeting.
    pub const BRS: Body = Body::known("BRS");
    /// The UN Environment Assembly.
    pub const UNEA: Body = Body::known("UNEA");
    /// The International Conference on Chemicals Management and its subsidiary meetings.
    pub const ICCM: Body = Body::known("ICCM");
    /// The chemicals and waste hub in Geneva: heads of entity, task force and staff meetings.
    pub const HUB: Body = Body::known("HUB");

    const fn known(code: &str) -> Body {
        let b = code.as_bytes();
        let mut bytes = [0u8; 15];
        let mut i = 0;
        while i < b.len() {
            bytes[i] = b[i];
            i += 1;
        }
        Body {
            bytes,
            len: b.len() as u8,
        }
    }

    /// Reads a body code: 1 to 15 capital letters, digits or `-`, starting with a letter.
    pub fn parse(s: &str) -> Result<Body, String> {
        let ok = (1..=15).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Body::known(s))
        } else {
            Err(format!(
                "`{s}` is not a body code: use 1 to 15 capital letters, digits or `-` (MC, BC, UNEA, CBD)"
            ))
        }
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("a body code is ASCII")
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Body::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Body {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Body".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A body's code: MC, BC, RC, SC, BRS, UNEA, ICCM, HUB, or one added with BodyRegistered.",
            "type": "string",
            "pattern": "^[A-Z][A-Z0-9-]{0,14}$"
        })
    }
}

/// What kind of meeting of a body this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    /// A conference of the parties, or the joint BRS conferences.
    Cop,
    /// A session of UNEA or ICCM.
    Session,
    /// An open-ended working group.
    Oewg,
    /// An intersessional meeting.
    Intersessional,
    Bureau,
    HeadsOfEntities,
    TaskForce,
    Other,
}

/// How people attend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    InPerson,
    Online,
    Hybrid,
}

/// The three entities of the chemicals and waste hub, and others by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// The secretariat of the Minamata Convention.
    McSecretariat,
    /// The secretariat of the Basel, Rotterdam and Stockholm conventions.
    BrsSecretariat,
    /// The UNEP Chemicals and Health Branch.
    UnepChb,
}

/// Who a working group brings together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The secretariats of the Minamata Convention and of the BRS conventions.
    InterSecretariat,
    /// The two secretariats and the UNEP Chemicals and Health Branch.
    Tripartite,
    /// Officers from the two secretariats.
    TwoSecretariatsOfficers,
}

/// The decision area (of MC-3/11) a group serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionArea {
    Administrative,
    Programmatic,
    ScientificAndTechnical,
    TechnicalAssistance,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    TaskForce,
    WorkingGroup,
    Subgroup,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Formal,
    Informal,
    AdHoc,
}

/// The verb of a decision paragraph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MandateAction {
    Requests,
    Invites,
    Decides,
    Urges,
    Encourages,
}

/// Where a mandate stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MandateStatus {
    Active,
    InProgress,
    Reported,
    Implemented,
    Elapsed,
    Superseded,
}

impl MandateStatus {
    pub fn name(self) -> &'static str {
        match self {
            MandateStatus::Active => "active",
            MandateStatus::InProgress => "in_progress",
            MandateStatus::Reported => "reported",
            MandateStatus::Implemented => "implemented",
            MandateStatus::Elapsed => "elapsed",
            MandateStatus::Superseded => "superseded",
        }
    }
}

/// One operative paragraph of a decision and what it asks of whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mandate {
    /// The paragraph number as printed: "1", "2", "3(a)".
    pub paragraph: Text,
    pub action: MandateAction,
    /// Officer id or role addressed: `unep-executive-director`, `mc-executive-secretary`,
    /// `brs-secretariat`, `joint-task-force`, `parties`.
    pub addressee: Slug,
    /// What is asked, in the decision's words.
    pub asks: Text,
    /// The meeting at which to report back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_at: Option<Slug>,
    /// The date by which to report back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_by: Option<Day>,
}

/// A lead officer of an entity for a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadOfficer {
    pub entity: Entity,
    /// Officer id or role.
    pub officer: Slug,
}

/// A segment of a split meeting: an online first segment, a resumed in-person second one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Segment id, such as `mc-cop-4.1`.
    pub segment: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// An amount of money: a decimal string, never a float.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    #[schemars(regex(pattern = r"^-?[0-9]+(\.[0-9]+)?$"))]
    pub amount: String,
    /// ISO 4217 code, such as USD.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
}

// ---- meetings ----

/// A meeting is announced, with exact or approximate ("to be confirmed") dates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingScheduled {
    pub meeting: Slug,
    pub body: Body,
    pub kind: MeetingKind,
    /// The meeting's number in its series ("4" for COP-4, "5" for UNEA-5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<Text>,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
    /// In person, online or hybrid, when announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    pub dates: ApproxDate,
    /// Dates announced as "to be confirmed".
    #[serde(default)]
    pub tentative: bool,
    /// For a joint meeting, the bodies that meet together (`BC`, `RC`, `SC` at a BRS meeting);
    /// each decision then names its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bodies: Vec<Body>,
}

/// The dates (and optionally venue and mode) of a meeting are confirmed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingConfirmed {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Slug>,
}

/// A meeting is put off to later dates, or to dates still to be determined (schema version 2:
/// `dates` may be left out; version 1 always gave them and is upcast on read, see [`v1`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingPostponed {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    /// The new dates; left out when they are still to be determined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<ApproxDate>,
    #[serde(default)]
    pub tentative: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Slug>,
}

/// A meeting moves to other dates, venue or mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingRescheduled {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub tentative: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Slug>,
}

/// A meeting (or one of its segments) is adjourned, or suspended, to resume later: the session
/// that ends here is kept, and `MeetingResumed` opens the next one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingAdjourned {
    pub meeting: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    /// When it is expected to resume, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ApproxDate>,
    /// Suspended rather than adjourned (the session is to be continued).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspended: bool,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Slug>,
}

/// An adjourned meeting resumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingResumed {
    pub meeting: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// A meeting (or one of its segments) took place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingHeld {
    pub meeting: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
}

/// A meeting will not take place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingCancelled {
    pub meeting: Slug,
    /// The segment this applies to, for a split meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// Who decided the change (`mc-bureau`, `brs-bureaux`, `cop`), when not the secretariat
    /// that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Slug>,
    /// The body that adopted it, when a joint meeting adopts decisions of several bodies
    /// (a BC decision at a BRS meeting); otherwise the meeting's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    pub title: Text,
    pub adopted: Day,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<Day>,
    /// Decisions this one mirrors (BRS decisions mirroring MC-3/11).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amends: Vec<String>,
    /// Decisions whose mandates this one replaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_area: Option<DecisionArea>,
    pub members: Vec<Entity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_chairs: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lead_officers: Vec<LeadOfficer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    /// The decision symbol, or mandate (`MC-3/11#2`), the group implements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implements: Option<String>,
    /// The group this one works under (the task force that steers a working group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Slug>,
}

/// A group's terms of reference are adopted or finalized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsOfReferenceAdopted {
    pub group: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}

/// The task force reviews the list of working groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupsReviewed {
    /// The reviewing group.
    pub by: Slug,
    pub groups: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Text>,
    /// Meetings at which the activity took place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meetings: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Slug>,
    /// The decision the report responds to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_meeting: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meeting_kinds: Vec<MeetingKind>,
    /// For a joint body, the bodies that meet under it (`BC`, `RC`, `SC` under `BRS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate: Option<String>,
    /// For a national reporting cycle: the convention whose Parties report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// For a national reporting cycle: the kind of report it asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<NationalReportKind>,
}

/// The event that satisfies a deadline was recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineMet {
    pub deadline: Key,
    /// The seq of the event that met it, if recorded in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<MessageBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

fn decode_as<T: DeserializeOwned>(data: &Value) -> Result<T, DecodeError> {
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
