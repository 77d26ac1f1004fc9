//! Stored states: the views after a fold, kept in the store's cache as sections, one per
//! view, each MessagePack compressed with LZ4, so that a query that reads some views decodes
//! only those.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Parts, State, Views, PROJECTION_VERSION};
use crate::store::{EventStore, StoreError};

/// First byte of a state as one JSON document compressed with LZ4 (with its size), as earlier
/// versions wrote them; plain JSON starts with `{`.
const LZ4_STATE: u8 = 0xC4;
/// First byte of a state in sections: a count, then per section its part, its length and its
/// LZ4-compressed MessagePack.
const SECTIONS: u8 = 0xC6;
/// The section of the state's own fields (version, seq, max_counts_from, corrected_at).
const HEAD: u8 = 0;

/// The state's own fields, its views left out.
#[derive(serde::Serialize, serde::Deserialize)]
struct Head {
    version: u32,
    seq: u64,
    max_counts_from: Option<chrono::NaiveDate>,
    #[serde(default)]
    corrected_at: Option<u64>,
}

fn section<T: Serialize>(out: &mut Vec<u8>, part: u8, value: &T) {
    let bytes = rmp_serde::to_vec_named(value).expect("a view is MessagePack");
    let packed = lz4_flex::compress_prepend_size(&bytes);
    out.push(part);
    out.extend_from_slice(&(packed.len() as u32).to_be_bytes());
    out.extend_from_slice(&packed);
}

fn read<T: DeserializeOwned>(packed: &[u8]) -> Option<T> {
    rmp_serde::from_slice(&lz4_flex::decompress_size_prepended(packed).ok()?).ok()
}

/// Writes a state in sections.
pub(super) fn save(store: &dyn EventStore, key: &[u8], s: &State) -> Result<(), StoreError> {
    let v = &s.views;
    let mut out = vec![SECTIONS, 7];
    let head = Head {
        version: s.version,
        seq: s.seq,
        max_counts_from: s.max_counts_from,
        corrected_at: s.corrected_at,
    };
    section(&mut out, HEAD, &head);
    section(&mut out, Parts::MEETINGS.0, &v.meetings);
    section(&mut out, Parts::DECISIONS.0, &v.decisions);
    section(&mut out, Parts::GROUPS.0, &v.groups);
    section(&mut out, Parts::REPORTS.0, &v.reports);
    section(&mut out, Parts::WORK.0, &v.work);
    section(&mut out, Parts::REPORTING.0, &v.reporting);
    store.cache().put(key, &out)
}

/// Reads the `parts` of a stored state (the others left empty), if it is of this version.
pub(super) fn load(store: &dyn EventStore, key: &[u8], parts: Parts) -> Option<State> {
    let started = std::time::Instant::now();
    let bytes = store.cache().get(key).ok()??;
    tracing::debug!(
        bytes = bytes.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "stored state read"
    );
    let s = match bytes.split_first() {
        Some((&SECTIONS, rest)) => load_sections(rest, parts)?,
        Some((&LZ4_STATE, packed)) => {
            serde_json::from_slice(&lz4_flex::decompress_size_prepended(packed).ok()?).ok()?
        }
        _ => serde_json::from_slice(&bytes).ok()?,
    };
    (s.version == PROJECTION_VERSION).then_some(s)
}

fn load_sections(bytes: &[u8], parts: Parts) -> Option<State> {
    let (&count, mut rest) = bytes.split_first()?;
    let mut head: Option<Head> = None;
    let mut views = Views::default();
    for _ in 0..count {
        let (&part, tail) = rest.split_first()?;
        let len = u32::from_be_bytes(tail.get(..4)?.try_into().ok()?) as usize;
        let packed = tail.get(4..4 + len)?;
        rest = &tail[4 + len..];
        if part != HEAD && !parts.has(Parts(part)) {
            continue;
        }
        let started = std::time::Instant::now();
        match Parts(part) {
            _ if part == HEAD => head = Some(read(packed)?),
            Parts::MEETINGS => views.meetings = read(packed)?,
            Parts::DECISIONS => views.decisions = read(packed)?,
            Parts::GROUPS => views.groups = read(packed)?,
            Parts::REPORTS => views.reports = read(packed)?,
            Parts::WORK => views.work = read(packed)?,
            Parts::REPORTING => views.reporting = read(packed)?,
            _ => return None,
        }
        tracing::debug!(
            part,
            bytes = len,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "stored view decoded"
        );
    }
    let head = head?;
    Some(State {
        version: head.version,
        seq: head.seq,
        max_counts_from: head.max_counts_from,
        corrected_at: head.corrected_at,
        views,
    })
}
