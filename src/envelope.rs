//! The recorded envelope and its tamper-evident hash chain: the public contract of the log.
//!
//! `hash` is the lowercase hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the record with
//! its `hash` member removed; `prev_hash` is the previous record's `hash` (64 zeros for seq 1).
//! Records hold integers only, so JCS reduces to sorted keys, no whitespace and JSON string
//! escaping as `JSON.stringify` does it; any language's standard JSON library reproduces it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::ApproxDate;

/// `prev_hash` of the first record.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One recorded event, exactly as exported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub seq: u64,
    pub id: String,
    /// RFC 3339 UTC with microseconds, never decreasing along the log.
    pub recorded_at: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub version: u32,
    pub stream: String,
    pub position: u64,
    pub occurred: ApproxDate,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl Envelope {
    /// The hash this record should carry, computed from its other members.
    pub fn compute_hash(&self) -> String {
        let mut v = serde_json::to_value(self).expect("an envelope is always JSON");
        v.as_object_mut()
            .expect("an envelope is an object")
            .remove("hash");
        sha256_hex(canonical(&v).as_bytes())
    }

    /// Sets `hash` from the other members.
    pub fn seal(&mut self) {
        self.hash = self.compute_hash();
    }

    /// The canonical JSON of the whole record: the bytes stored and exported.
    pub fn to_canonical(&self) -> String {
        canonical(&serde_json::to_value(self).expect("an envelope is always JSON"))
    }

    pub fn recorded_at_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.recorded_at)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Formats a recording instant the one way the log writes it.
pub fn format_instant(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// RFC 8785 canonical JSON of a value holding integers only.
///
/// Object members are sorted by their UTF-16 code units, as the RFC requires.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => write_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // serde_json writes strings as JCS does: short escapes for \b \t \n \f \r \" \\,
        // lowercase \u00xx for other control characters, everything else verbatim.
        other => out.push_str(&serde_json::to_string(other).expect("a scalar is always JSON")),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).expect("a key is always JSON"));
        out.push(':');
        write_canonical(&map[k], out);
    }
    out.push('}');
}

/// The first place a value holds a number that is not an integer, as a path (`data.budget`).
pub fn find_non_integer(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Some(path.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| find_non_integer(x, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            find_non_integer(x, &p)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_and_escapes_like_jcs() {
        let v = json!({"b": [1, {"z": "é\u{1}\n", "a": -3}], "a": "\"/\\", "€": 0, "\u{10000}": 1, "\u{e000}": 2});
        assert_eq!(
            canonical(&v),
            "{\"a\":\"\\\"/\\\\\",\"b\":[1,{\"a\":-3,\"z\":\"é\\u0001\\n\"}],\"€\":0,\"\u{10000}\":1,\"\u{e000}\":2}"
        );
    }

    #[test]
    fn finds_floats() {
        let v = json!({"a": 1, "b": {"c": [1, 2.5]}});
        assert_eq!(find_non_integer(&v, "data").as_deref(), Some("data.b.c[1]"));
        assert_eq!(find_non_integer(&json!({"a": u64::MAX}), ""), None);
    }
}
