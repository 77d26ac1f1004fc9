//! The recorded envelope and its tamper-evident hash chain: the public contract of the log.
//!
//! `hash` is the lowercase hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the record with
//! its `hash` member removed; `prev_hash` is the previous record's `hash` (64 zeros for seq 1).
//! Records hold integers only, so JCS reduces to sorted keys, no whitespace and JSON string
//! escaping as `JSON.stringify` does it; any language's standard JSON library reproduces it.

use std::fmt::Write;

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

/// A record as a fold reads it: the envelope with `data` left null, and the data as the JSON
/// text it was recorded as, so the event decodes straight into its type without an
/// intermediate JSON value.
#[derive(Debug)]
pub struct Skimmed {
    pub env: Envelope,
    pub data: Box<serde_json::value::RawValue>,
}

/// The members of a record, the data borrowed as text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkimRecord<'a> {
    seq: u64,
    id: String,
    recorded_at: String,
    #[serde(rename = "type")]
    ty: String,
    version: u32,
    stream: String,
    position: u64,
    occurred: ApproxDate,
    actor: String,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    causation_id: Option<String>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
    prev_hash: String,
    hash: String,
}

impl Skimmed {
    /// Reads a record's JSON text.
    pub fn parse(bytes: &[u8]) -> serde_json::Result<Skimmed> {
        let r: SkimRecord = serde_json::from_slice(bytes)?;
        Ok(Skimmed {
            data: r.data.to_owned(),
            env: Envelope {
                seq: r.seq,
                id: r.id,
                recorded_at: r.recorded_at,
                ty: r.ty,
                version: r.version,
                stream: r.stream,
                position: r.position,
                occurred: r.occurred,
                actor: r.actor,
                correlation_id: r.correlation_id,
                causation_id: r.causation_id,
                data: Value::Null,
                prev_hash: r.prev_hash,
                hash: r.hash,
            },
        })
    }

    /// A record already read whole.
    pub fn of(mut env: Envelope) -> Skimmed {
        let text = serde_json::to_string(&env.data).expect("data is JSON");
        env.data = Value::Null;
        Skimmed {
            data: serde_json::value::RawValue::from_string(text).expect("data is JSON"),
            env,
        }
    }
}

impl Envelope {
    /// The hash this record should carry, computed from its other members.
    pub fn compute_hash(&self) -> String {
        let mut out = String::with_capacity(512);
        self.write_canonical(false, &mut out);
        sha256_hex(out.as_bytes())
    }

    /// Sets `hash` from the other members.
    pub fn seal(&mut self) {
        self.hash = self.compute_hash();
    }

    /// Sets `hash` from the other members and returns the canonical JSON of the whole record
    /// (as [`Envelope::to_canonical`]), writing the members once: the hash member goes in
    /// after `data`, where it sorts.
    pub fn seal_canonical(&mut self) -> String {
        let mut out = String::with_capacity(512);
        let at = self.write_canonical(false, &mut out);
        self.hash = sha256_hex(out.as_bytes());
        let mut member = String::with_capacity(80);
        member.push_str(",\"hash\":");
        push_str(&mut member, &self.hash);
        out.insert_str(at, &member);
        out
    }

    /// The canonical JSON of the whole record: the bytes stored and exported.
    pub fn to_canonical(&self) -> String {
        let mut out = String::with_capacity(512);
        self.write_canonical(true, &mut out);
        out
    }

    /// Writes the canonical JSON of the record, with or without its `hash` member, member by
    /// member in JCS order (all member names are ASCII, so byte order is UTF-16 order).
    /// Returns where the `hash` member starts (or would).
    fn write_canonical(&self, with_hash: bool, out: &mut String) -> usize {
        let member = |out: &mut String, name: &str, first: bool| {
            if !first {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
        };
        out.push('{');
        member(out, "actor", true);
        push_str(out, &self.actor);
        if let Some(c) = &self.causation_id {
            member(out, "causation_id", false);
            push_str(out, c);
        }
        if let Some(c) = &self.correlation_id {
            member(out, "correlation_id", false);
            push_str(out, c);
        }
        member(out, "data", false);
        write_canonical(&self.data, out);
        let hash_at = out.len();
        if with_hash {
            member(out, "hash", false);
            push_str(out, &self.hash);
        }
        member(out, "id", false);
        push_str(out, &self.id);
        member(out, "occurred", false);
        // A date serializes as its text, written in place and escaped only if it needs it.
        let at = out.len();
        write!(out, "{}", self.occurred).expect("a String takes any text");
        if needs_escaping(&out.as_bytes()[at..]) {
            let text = out.split_off(at);
            push_str(out, &text);
        } else {
            out.insert(at, '"');
            out.push('"');
        }
        member(out, "position", false);
        write!(out, "{}", self.position).expect("a String takes any text");
        member(out, "prev_hash", false);
        push_str(out, &self.prev_hash);
        member(out, "recorded_at", false);
        push_str(out, &self.recorded_at);
        member(out, "seq", false);
        write!(out, "{}", self.seq).expect("a String takes any text");
        member(out, "stream", false);
        push_str(out, &self.stream);
        member(out, "type", false);
        push_str(out, &self.ty);
        member(out, "version", false);
        write!(out, "{}", self.version).expect("a String takes any text");
        out.push('}');
        hash_at
    }

    pub fn recorded_at_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.recorded_at)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(2 * digest.len());
    for b in digest {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
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
        Value::String(s) => push_str(out, s),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            write!(out, "{n}").expect("a String takes any text")
        }
        other => out.push_str(&serde_json::to_string(other).expect("a scalar is always JSON")),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    // Byte order equals UTF-16 order unless a key holds a character from U+E000 up (UTF-8
    // lead bytes 0xEE and above); the map usually iterates in byte order already, and is then
    // written as it iterates.
    let byte_order_is_utf16 = map.keys().all(|k| k.bytes().all(|b| b < 0xEE));
    let sorted = map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b);
    out.push('{');
    let member = |i: usize, k: &String, v: &Value, out: &mut String| {
        if i > 0 {
            out.push(',');
        }
        push_str(out, k);
        out.push(':');
        write_canonical(v, out);
    };
    if byte_order_is_utf16 && sorted {
        for (i, (k, v)) in map.iter().enumerate() {
            member(i, k, v, out);
        }
    } else {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        for (i, k) in keys.into_iter().enumerate() {
            member(i, k, &map[k], out);
        }
    }
    out.push('}');
}

/// Appends a JSON string literal escaped as JCS (and serde_json) does: short escapes for
/// `\b \t \n \f \r \" \\`, lowercase `\u00xx` for other control characters, the rest verbatim.
fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    if !needs_escaping(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            write!(out, "\\u{b:04x}").expect("a String takes any text");
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Whether a string holds a byte JSON escapes (a quote, a backslash, a control character),
/// tested 16 bytes at a time without an early exit inside, which the compiler vectorizes: most
/// strings of a record have none, and are copied whole.
fn needs_escaping(bytes: &[u8]) -> bool {
    let escaped = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |any, &b| any | escaped(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| escaped(b))
}

/// The first place a value holds a number that is not an integer, as a path (`data.budget`).
pub fn find_non_integer(v: &Value, path: &str) -> Option<String> {
    // One path grown and cut back as the walk goes, written out only when found.
    fn walk(v: &Value, path: &mut String) -> bool {
        match v {
            Value::Number(n) => !(n.is_i64() || n.is_u64()),
            Value::Array(items) => items.iter().enumerate().any(|(i, x)| {
                let len = path.len();
                write!(path, "[{i}]").expect("a String takes any text");
                let found = walk(x, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(k, x)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                let found = walk(x, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut at = path.to_string();
    walk(v, &mut at).then_some(at)
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
    fn direct_writer_matches_canonical_of_the_value() {
        let mut env = Envelope {
            seq: 7,
            id: "a\"b".into(),
            recorded_at: "2026-01-01T00:00:00.000000Z".into(),
            ty: "MeetingScheduled".into(),
            version: 1,
            stream: "meeting/x".into(),
            position: 2,
            occurred: serde_json::from_value(json!("2021-05")).unwrap(),
            actor: "é\u{1}".into(),
            correlation_id: Some("c".into()),
            causation_id: None,
            data: json!({"\u{e000}": 1, "\u{10000}": [2, {"b": "\n", "a": null}], "z": true}),
            prev_hash: ZERO_HASH.into(),
            hash: String::new(),
        };
        env.seal();
        let mut v = serde_json::to_value(&env).unwrap();
        assert_eq!(env.to_canonical(), canonical(&v));
        v.as_object_mut().unwrap().remove("hash");
        assert_eq!(env.hash, sha256_hex(canonical(&v).as_bytes()));
        // Sealed and written at once, with and without the optional members around `data`.
        for causation in [None, Some("d".to_string())] {
            let mut once = Envelope {
                causation_id: causation,
                hash: String::new(),
                ..env.clone()
            };
            let written = once.seal_canonical();
            let mut twice = once.clone();
            twice.seal();
            assert_eq!(once.hash, twice.hash);
            assert_eq!(written, twice.to_canonical());
        }
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let mut out = String::new();
        push_str(&mut out, &every_ascii);
        assert_eq!(out, serde_json::to_string(&every_ascii).unwrap());
    }

    proptest::proptest! {
        /// Any string is written as serde_json writes it (the escapes JCS asks for), whether it
        /// takes the copy-whole path or the byte-by-byte one, in objects whose keys sort by
        /// byte order or not.
        #[test]
        fn strings_and_objects_are_written_as_jcs_asks(
            s in "(\\PC|[\"\\\\\\x00-\\x1f\u{e000}\u{10000}]){0,40}",
            k in "[a-z\u{e000}\u{10000}]{0,3}",
            late_key in proptest::bool::ANY,
        ) {
            let mut out = String::new();
            push_str(&mut out, &s);
            proptest::prop_assert_eq!(&out, &serde_json::to_string(&s).unwrap());
            let mut v = json!({ "m": s.clone(), k.clone(): [s.clone(), 1] });
            let mut keys = vec!["m".to_string(), k.clone()];
            if late_key {
                // A key whose byte order is not its UTF-16 order: the members are sorted.
                v["\u{e000}"] = json!(0);
                keys.push("\u{e000}".to_string());
            }
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            keys.dedup();
            let members: Vec<String> = keys
                .iter()
                .map(|key| format!("{}:{}", serde_json::to_string(key).unwrap(), serde_json::to_string(&v[key]).unwrap()))
                .collect();
            proptest::prop_assert_eq!(canonical(&v), format!("{{{}}}", members.join(",")));
        }
    }

    #[test]
    fn finds_floats() {
        let v = json!({"a": 1, "b": {"c": [1, 2.5]}});
        assert_eq!(find_non_integer(&v, "data").as_deref(), Some("data.b.c[1]"));
        assert_eq!(find_non_integer(&json!({"a": u64::MAX}), ""), None);
    }
}
