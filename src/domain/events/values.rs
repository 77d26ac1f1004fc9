//! The values events are made of: identifiers, free text and message bodies, days, bodies,
//! the enumerations of kinds and statuses, mandates, segments and money.

use super::*;

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
        crate::domain::date::parse_day(&s)
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
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub report_at: Option<Slug>,
    /// The date by which to report back.
    #[serde(default, skip_serializing_if = "crate::omit::none")]
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
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub title: Option<Text>,
    pub dates: ApproxDate,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
    pub venue: Option<Text>,
    #[serde(default, skip_serializing_if = "crate::omit::none")]
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
