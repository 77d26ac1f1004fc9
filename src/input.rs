//! Turning JSON Lines into validated, not yet recorded, events: the one gate for bad input.
//!
//! A batch is validated whole before anything is written. Every refusal names the line, the
//! field and what was expected.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::{ApproxDate, DomainEvent};
use crate::envelope::find_non_integer;

/// The longest line `accord record` accepts, in bytes.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// The most events one batch may hold.
pub const MAX_BATCH_EVENTS: usize = 1_000_000;

/// An event as a client proposes it, before the store gives it seq, position and hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposed {
    /// The line of the input it came from (1-based), for error messages.
    pub line: usize,
    pub id: Option<String>,
    pub ty: String,
    pub version: u32,
    pub stream: String,
    pub expected_position: Option<u64>,
    pub occurred: ApproxDate,
    pub actor: String,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub data: Value,
    pub event: DomainEvent,
    /// The id names a step done once (the scheduler's): a repeat is a duplicate whatever its
    /// content, instead of a conflict when it differs.
    pub once: bool,
}

/// A refused line: where and what.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {field}: {message}")]
pub struct InputError {
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(line: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            line,
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    version: Option<u32>,
    occurred: String,
    actor: String,
    data: Value,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    expected_position: Option<u64>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    causation_id: Option<String>,
}

fn id_like(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

/// Parses and validates one JSON object (line number `line`, 1-based) into a proposed event.
pub fn parse_value(line: usize, value: Value) -> Result<Proposed, InputError> {
    if !value.is_object() {
        return Err(InputError::new(line, "event", "expected a JSON object"));
    }
    if let Some(path) = find_non_integer(&value, "") {
        return Err(InputError::new(
            line,
            path,
            "numbers must be integers (write money as a decimal string or in minor units)",
        ));
    }
    let raw: Line = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        InputError::new(
            line,
            if path == "." { "event".into() } else { path },
            e.inner().to_string(),
        )
    })?;
    let occurred: ApproxDate = raw
        .occurred
        .parse()
        .map_err(|e: crate::domain::DateError| InputError::new(line, "occurred", e.to_string()))?;
    if !id_like(&raw.actor) {
        return Err(InputError::new(
            line,
            "actor",
            "expected an officer id or role: 1 to 128 letters, digits, `.`, `_`, `:`, `/`, `-`",
        ));
    }
    for (name, v) in [
        ("id", &raw.id),
        ("correlation_id", &raw.correlation_id),
        ("causation_id", &raw.causation_id),
    ] {
        if let Some(v) = v {
            if !id_like(v) {
                return Err(InputError::new(
                    line,
                    name,
                    "expected 1 to 128 letters, digits, `.`, `_`, `:`, `/`, `-`",
                ));
            }
        }
    }
    let known = crate::domain::EVENT_TYPES
        .iter()
        .find(|(t, _)| *t == raw.ty)
        .map(|(_, v)| *v);
    let version = raw.version.or(known).unwrap_or(1);
    let event = DomainEvent::decode(&raw.ty, version, &raw.data).map_err(|e| match e {
        crate::domain::DecodeError::Field { path, message } => InputError::new(line, path, message),
        crate::domain::DecodeError::UnknownType(_) => InputError::new(
            line,
            "type",
            format!("{e}; `accord schema` lists the event types"),
        ),
        other => InputError::new(line, "version", other.to_string()),
    })?;
    event.check().map_err(|e| match e {
        crate::domain::DecodeError::Field { path, message } => InputError::new(line, path, message),
        other => InputError::new(line, "data", other.to_string()),
    })?;
    let stream = event.stream();
    if let Some(given) = raw.stream {
        if given != stream {
            return Err(InputError::new(
                line,
                "stream",
                format!("this event belongs to stream `{stream}`, not `{given}`"),
            ));
        }
    }
    Ok(Proposed {
        line,
        id: raw.id,
        ty: raw.ty,
        version,
        stream,
        expected_position: raw.expected_position,
        occurred,
        actor: raw.actor,
        correlation_id: raw.correlation_id,
        causation_id: raw.causation_id,
        data: raw.data,
        event,
        once: false,
    })
}

/// Parses a whole JSON Lines batch. Blank lines are skipped; an empty batch is refused.
pub fn parse_batch(text: &str) -> Result<Vec<Proposed>, InputError> {
    let mut out = Vec::new();
    for p in proposals(text) {
        out.push(p?);
    }
    Ok(out)
}

/// Checks a whole batch as [`parse_batch`] does, keeping only the line of each event (by its
/// index in the batch): a large batch is then read again a part at a time
/// ([`proposals`]) without ever being held whole.
pub fn check_batch(text: &str) -> Result<Vec<usize>, InputError> {
    proposals(text).map(|p| p.map(|p| p.line)).collect()
}

/// The events of a batch, line by line, each checked as it is read; after the last, an error
/// if the batch is empty or too large.
pub fn proposals(text: &str) -> impl Iterator<Item = Result<Proposed, InputError>> + '_ {
    let mut lines = text.split('\n').enumerate();
    let mut count = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let failed = |e: InputError, done: &mut bool| {
            *done = true;
            Some(Err(e))
        };
        for (i, l) in lines.by_ref() {
            let n = i + 1;
            if l.len() > MAX_LINE_BYTES {
                return failed(
                    InputError::new(
                        n,
                        "line",
                        format!("{} bytes, over the limit of {MAX_LINE_BYTES}", l.len()),
                    ),
                    &mut done,
                );
            }
            let l = l.trim_end_matches('\r');
            if l.trim().is_empty() {
                continue;
            }
            let value: Value = match serde_json::from_str(l) {
                Ok(v) => v,
                Err(e) => {
                    return failed(
                        InputError::new(
                            n,
                            "json",
                            format!("malformed JSON at column {}: {e}", e.column()),
                        ),
                        &mut done,
                    )
                }
            };
            count += 1;
            if count > MAX_BATCH_EVENTS {
                return failed(
                    InputError::new(n, "batch", format!("more than {MAX_BATCH_EVENTS} events")),
                    &mut done,
                );
            }
            return match parse_value(n, value) {
                Ok(p) => Some(Ok(p)),
                Err(e) => failed(e, &mut done),
            };
        }
        done = true;
        (count == 0).then(|| Err(InputError::new(0, "batch", "no events: the batch is empty")))
    })
}

impl Proposed {
    /// The event as an input line again: what `parse_value` reads back to an equal `Proposed`.
    pub fn to_input_line(&self) -> Value {
        let mut v = serde_json::json!({
            "type": self.ty, "version": self.version, "occurred": self.occurred.to_string(),
            "actor": self.actor, "data": self.data, "stream": self.stream,
        });
        for (k, x) in [
            ("id", &self.id),
            ("correlation_id", &self.correlation_id),
            ("causation_id", &self.causation_id),
        ] {
            if let Some(x) = x {
                v[k] = x.clone().into();
            }
        }
        if let Some(e) = self.expected_position {
            v["expected_position"] = e.into();
        }
        v
    }

    /// A proposed event built by Accord itself (the scheduler), held to the same checks as
    /// input from outside: its data must decode back to the same event.
    pub fn from_event(
        event: DomainEvent,
        occurred: ApproxDate,
        actor: &str,
        id: Option<String>,
    ) -> Result<Proposed, crate::domain::DecodeError> {
        let ty = event.type_name().to_string();
        let version = crate::domain::EVENT_TYPES
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| *v)
            .unwrap_or(1);
        let data = serde_json::to_value(&event).expect("an event is JSON");
        let decoded = DomainEvent::decode(&ty, version, &data)?;
        decoded.check()?;
        Ok(Proposed {
            line: 0,
            version,
            stream: event.stream(),
            expected_position: None,
            occurred,
            actor: actor.to_string(),
            correlation_id: None,
            causation_id: None,
            data,
            ty,
            once: id.is_some(),
            id,
            event,
        })
    }
}
