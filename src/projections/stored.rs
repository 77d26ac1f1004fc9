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

/// Writes states in sections, reusing its buffers from one state to the next: the saves of a
/// long fold write into memory already in hand rather than into fresh pages each time.
#[derive(Default)]
pub(super) struct Writer {
    plain: Vec<u8>,
    out: Vec<u8>,
}

impl Writer {
    /// Appends one section: its part, its length, then `value` as MessagePack compressed with
    /// LZ4 behind its plain size (as `lz4_flex::compress_prepend_size` writes it).
    fn section<T: Serialize>(&mut self, part: u8, value: &T) {
        self.plain.clear();
        rmp_serde::encode::write_named(&mut self.plain, value).expect("a view is MessagePack");
        self.out.push(part);
        let len_at = self.out.len();
        let start = len_at + 4;
        let bound = 4 + lz4_flex::block::get_maximum_output_size(self.plain.len());
        self.out.resize(start + bound, 0);
        let plain_len = u32::try_from(self.plain.len()).expect("a view under 4 GiB");
        self.out[start..start + 4].copy_from_slice(&plain_len.to_le_bytes());
        let n = lz4_flex::block::compress_into(&self.plain, &mut self.out[start + 4..])
            .expect("the output holds the bound");
        self.out.truncate(start + 4 + n);
        let packed = u32::try_from(4 + n).expect("a section under 4 GiB");
        self.out[len_at..start].copy_from_slice(&packed.to_be_bytes());
    }

    /// Writes a state in sections.
    pub(super) fn save(
        &mut self,
        store: &dyn EventStore,
        key: &[u8],
        s: &State,
    ) -> Result<(), StoreError> {
        let v = &s.views;
        self.out.clear();
        self.out.extend_from_slice(&[SECTIONS, 7]);
        let head = Head {
            version: s.version,
            seq: s.seq,
            max_counts_from: s.max_counts_from,
            corrected_at: s.corrected_at,
        };
        self.section(HEAD, &head);
        self.section(Parts::MEETINGS.0, &v.meetings);
        self.section(Parts::DECISIONS.0, &v.decisions);
        self.section(Parts::GROUPS.0, &v.groups);
        self.section(Parts::REPORTS.0, &v.reports);
        self.section(Parts::WORK.0, &v.work);
        self.section(Parts::REPORTING.0, &v.reporting);
        store.cache().put(key, &self.out)
    }
}

fn read<T: DeserializeOwned>(packed: &[u8]) -> Option<T> {
    rmp_serde::from_slice(&lz4_flex::decompress_size_prepended(packed).ok()?).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    /// One writer saves a larger state, then a smaller one, into its same buffers: each reads
    /// back whole, every view as folded.
    #[test]
    fn a_writer_reused_for_smaller_states_writes_each_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut text = Vec::new();
        crate::generate::generate(3_000, 5, &mut text).unwrap();
        let batch = crate::input::parse_batch(std::str::from_utf8(&text).unwrap()).unwrap();
        let mut rest = batch.into_iter();
        store.append(rest.by_ref().take(500).collect()).unwrap();
        let small = super::super::views(&store, &Default::default()).unwrap();
        store.append(rest.collect()).unwrap();
        let large = super::super::views(&store, &Default::default()).unwrap();
        assert!(large.views.decisions.mandates.len() > small.views.decisions.mandates.len());
        let mut writer = Writer::default();
        writer.save(&store, b"test-large", &large).unwrap();
        writer.save(&store, b"test-small", &small).unwrap();
        for (key, want) in [(&b"test-large"[..], &large), (&b"test-small"[..], &small)] {
            let got = load(&store, key, Parts::ALL).expect("the state reads back");
            assert_eq!(got.seq, want.seq);
            assert_eq!(got.max_counts_from, want.max_counts_from);
            assert_eq!(got.views, want.views);
        }
        // Byte for byte what `compress_prepend_size` makes of each section, so any build that
        // reads sections reads these.
        let mut want = vec![SECTIONS, 7];
        let head = Head {
            version: small.version,
            seq: small.seq,
            max_counts_from: small.max_counts_from,
            corrected_at: small.corrected_at,
        };
        let mut put = |part: u8, plain: Vec<u8>| {
            let packed = lz4_flex::compress_prepend_size(&plain);
            want.push(part);
            want.extend_from_slice(&(packed.len() as u32).to_be_bytes());
            want.extend_from_slice(&packed);
        };
        let v = &small.views;
        put(HEAD, rmp_serde::to_vec_named(&head).unwrap());
        put(
            Parts::MEETINGS.0,
            rmp_serde::to_vec_named(&v.meetings).unwrap(),
        );
        put(
            Parts::DECISIONS.0,
            rmp_serde::to_vec_named(&v.decisions).unwrap(),
        );
        put(Parts::GROUPS.0, rmp_serde::to_vec_named(&v.groups).unwrap());
        put(
            Parts::REPORTS.0,
            rmp_serde::to_vec_named(&v.reports).unwrap(),
        );
        put(Parts::WORK.0, rmp_serde::to_vec_named(&v.work).unwrap());
        put(
            Parts::REPORTING.0,
            rmp_serde::to_vec_named(&v.reporting).unwrap(),
        );
        let got = store.cache().get(b"test-small").unwrap().unwrap();
        assert!(got == want, "the sections differ from the format's");
    }
}
