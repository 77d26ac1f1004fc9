//! Stored states: the views after a fold, kept in the store's cache as sections, one per
//! view, each a positional encoding (postcard) compressed with LZ4, so that a query that reads
//! some views decodes only those.

use serde::de::DeserializeOwned;

use super::{Parts, State, Views, PROJECTION_VERSION};
use crate::store::{EventStore, StoreError};

/// First byte of a state as one JSON document compressed with LZ4 (with its size), as earlier
/// versions wrote them; plain JSON starts with `{`.
const LZ4_STATE: u8 = 0xC4;
/// First byte of a state in sections as earlier versions wrote them: a count, then per section
/// its part, its length and its LZ4-compressed MessagePack, fields by name.
const NAMED_SECTIONS: u8 = 0xC6;
/// First byte of a state in sections: a count, then per section its part, its length and its
/// LZ4-compressed postcard, every field written in its place.
const SECTIONS: u8 = 0xC7;
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

/// A state's sections encoded, each with its part, not yet compressed.
#[derive(Default)]
pub(super) struct Encoded(Vec<(u8, Vec<u8>)>);

/// The size of each section when last encoded: the next encoding of a growing state takes
/// room for a quarter more at once, rather than growing its buffer (and copying it) as it goes.
pub(super) type Sizes = [usize; 7];

impl Encoded {
    /// Encodes the state's sections into this value's buffers, reusing those with room for a
    /// quarter more than the section's last size: a long fold's saves of a state that no
    /// longer grows write into memory already in hand, and a growing one is never copied as
    /// its buffer grows.
    fn encode(&mut self, s: &State, sizes: &mut Sizes) {
        let v = &s.views;
        let head = Head {
            version: s.version,
            seq: s.seq,
            max_counts_from: s.max_counts_from,
            corrected_at: s.corrected_at,
        };
        self.0.resize_with(7, Default::default);
        let values: [(u8, &(dyn erased::Positional + Sync)); 7] = [
            (HEAD, &head),
            (Parts::MEETINGS.0, &v.meetings),
            (Parts::DECISIONS.0, &v.decisions),
            (Parts::GROUPS.0, &v.groups),
            (Parts::REPORTS.0, &v.reports),
            (Parts::WORK.0, &v.work),
            (Parts::REPORTING.0, &v.reporting),
        ];
        let mut sections: Vec<_> = values
            .into_iter()
            .zip(self.0.iter_mut().zip(sizes.iter_mut()))
            .collect();
        // The decisions (with the mandates, about half of a state) on a thread beside the rest.
        let largest = sections.remove(2);
        std::thread::scope(|scope| {
            scope.spawn(move || put(largest));
            sections.into_iter().for_each(put);
        });
        #[cfg(debug_assertions)]
        self.check(s);
    }

    /// Every section reads back as the view it was encoded from: a field the positional
    /// encoding would misplace shows here, in any debug build's tests, rather than as a
    /// stored state that silently never reads.
    #[cfg(debug_assertions)]
    fn check(&self, s: &State) {
        fn back<T: DeserializeOwned + PartialEq + std::fmt::Debug>(plain: &[u8], want: &T) {
            let got: T = postcard::from_bytes(plain).expect("a section reads back");
            assert!(&got == want, "a section reads back different: {got:?}");
        }
        let v = &s.views;
        for (part, plain) in &self.0 {
            match Parts(*part) {
                Parts::MEETINGS => back(plain, &v.meetings),
                Parts::DECISIONS => back(plain, &v.decisions),
                Parts::GROUPS => back(plain, &v.groups),
                Parts::REPORTS => back(plain, &v.reports),
                Parts::WORK => back(plain, &v.work),
                Parts::REPORTING => back(plain, &v.reporting),
                _ => {}
            }
        }
    }
}

/// A section to encode: its part and value, and its buffer and last size.
type Section<'a> = (
    (u8, &'a (dyn erased::Positional + Sync)),
    (&'a mut (u8, Vec<u8>), &'a mut usize),
);

/// Encodes one section into its buffer, reused when it has room for a quarter more than the
/// section's last size.
fn put(((part, value), ((p, plain), size)): Section<'_>) {
    *p = part;
    let room = *size + *size / 4;
    if plain.capacity() < room {
        // Not grown in place: growing would copy what the buffer held before.
        *plain = Vec::with_capacity(room);
    }
    plain.clear();
    value.write(plain);
    *size = plain.len();
}

/// Encoding a value positionally, every field in its place, behind a trait object.
mod erased {
    pub(super) trait Positional {
        fn write(&self, out: &mut Vec<u8>);
    }

    impl<T: serde::Serialize> Positional for T {
        fn write(&self, out: &mut Vec<u8>) {
            crate::omit::with_every_field(|| postcard::to_io(self, out).map(drop))
                .expect("a view encodes");
        }
    }
}

/// Writes states in sections, reusing its buffers from one state to the next.
#[derive(Default)]
pub(super) struct Writer {
    plain: Encoded,
    sizes: Sizes,
    out: Vec<u8>,
    /// The largest section, compressed beside the others.
    side: Vec<u8>,
}

/// Appends a section to `out`: its part, its length, and its encoding compressed with LZ4
/// behind its plain size (as `lz4_flex::compress_prepend_size` writes it).
fn compress_section(out: &mut Vec<u8>, part: u8, plain: &[u8]) {
    out.push(part);
    let len_at = out.len();
    let start = len_at + 4;
    let bound = 4 + lz4_flex::block::get_maximum_output_size(plain.len());
    out.resize(start + bound, 0);
    let plain_len = u32::try_from(plain.len()).expect("a view under 4 GiB");
    out[start..start + 4].copy_from_slice(&plain_len.to_le_bytes());
    let n = lz4_flex::block::compress_into(plain, &mut out[start + 4..])
        .expect("the output holds the bound");
    out.truncate(start + 4 + n);
    let packed = u32::try_from(4 + n).expect("a section under 4 GiB");
    out[len_at..start].copy_from_slice(&packed.to_be_bytes());
}

impl Writer {
    /// The stored bytes of encoded sections: a count, then per section its part, its length,
    /// and its encoding compressed with LZ4 behind its plain size (as
    /// `lz4_flex::compress_prepend_size` writes it).
    fn pack(&mut self, e: &Encoded) -> &[u8] {
        self.out.clear();
        self.out.extend_from_slice(&[SECTIONS, e.0.len() as u8]);
        self.side.clear();
        // The largest section compressed on a thread beside the rest, then put in its place.
        let largest = e.0.iter().enumerate().max_by_key(|(_, (_, b))| b.len());
        let largest_at = largest.map(|(i, _)| i);
        let mut its_place = self.out.len();
        std::thread::scope(|scope| {
            let side = &mut self.side;
            if let Some((_, (part, plain))) = largest {
                scope.spawn(move || compress_section(side, *part, plain));
            }
            for (i, (part, plain)) in e.0.iter().enumerate() {
                if Some(i) == largest_at {
                    its_place = self.out.len();
                } else {
                    compress_section(&mut self.out, *part, plain);
                }
            }
        });
        self.out
            .splice(its_place..its_place, self.side.iter().copied());
        &self.out
    }

    /// Writes a state in sections.
    pub(super) fn save(
        &mut self,
        store: &dyn EventStore,
        key: &[u8],
        s: &State,
    ) -> Result<(), StoreError> {
        let mut plain = std::mem::take(&mut self.plain);
        plain.encode(s, &mut self.sizes);
        let saved = store.cache().put(key, self.pack(&plain));
        self.plain = plain;
        saved
    }
}

/// A key and value written once a state is.
pub(super) type Then = (Vec<u8>, Vec<u8>);

/// A state handed to the saver's thread: its key, its sections, what to write after it.
type ToSave = (Vec<u8>, Encoded, Option<Then>);

/// Saves states beside a long fold: the fold encodes each state (it alone may read it), a
/// thread of the saver's own compresses it and writes it to the store, and hands the buffers
/// back for the next.
pub(super) struct Saver<'scope> {
    send: Option<std::sync::mpsc::SyncSender<ToSave>>,
    spare: std::sync::mpsc::Receiver<Encoded>,
    sizes: Sizes,
    thread: std::thread::ScopedJoinHandle<'scope, Result<Writer, StoreError>>,
}

impl<'scope> Saver<'scope> {
    pub(super) fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        store: &'env dyn EventStore,
    ) -> Self {
        let (send, states) = std::sync::mpsc::sync_channel::<ToSave>(1);
        let (back, spare) = std::sync::mpsc::channel();
        let thread = scope.spawn(move || {
            let mut writer = Writer::default();
            for (key, plain, then) in states {
                store.cache().put(&key, writer.pack(&plain))?;
                if let Some((key, value)) = then {
                    store.cache().put(&key, &value)?;
                }
                let _ = back.send(plain);
            }
            Ok(writer)
        });
        Saver {
            send: Some(send),
            spare,
            sizes: Sizes::default(),
            thread,
        }
    }

    /// Encodes `s` and hands it to the saver's thread, to be written under `key`, then `then`.
    pub(super) fn save(&mut self, key: Vec<u8>, s: &State, then: Option<Then>) {
        let mut plain = self.spare.try_recv().unwrap_or_default();
        plain.encode(s, &mut self.sizes);
        let Some(send) = &self.send else {
            return;
        };
        if send.send((key, plain, then)).is_err() {
            // The thread stopped on an error: `finish` says which.
            self.send = None;
        }
    }

    /// Waits until every state handed over is written; the first error, if one failed. The
    /// writer it returns holds the saver's buffers, for a state saved after the fold.
    pub(super) fn finish(mut self) -> Result<Writer, StoreError> {
        self.send = None;
        let mut writer = self
            .thread
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        let roomiest = |e: &Encoded| e.0.iter().map(|(_, b)| b.capacity()).sum::<usize>();
        if let Some(spare) = self.spare.try_iter().max_by_key(roomiest) {
            writer.plain = spare;
        }
        writer.sizes = self.sizes;
        Ok(writer)
    }
}

/// How a state's sections were encoded.
#[derive(Clone, Copy)]
enum Encoding {
    /// MessagePack, fields by name (earlier versions).
    Named,
    Positional,
}

fn read<T: DeserializeOwned>(packed: &[u8], encoding: Encoding) -> Option<T> {
    let plain = lz4_flex::decompress_size_prepended(packed).ok()?;
    match encoding {
        Encoding::Named => rmp_serde::from_slice(&plain).ok(),
        Encoding::Positional => postcard::from_bytes(&plain).ok(),
    }
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
        Some((&SECTIONS, rest)) => load_sections(rest, parts, Encoding::Positional)?,
        Some((&NAMED_SECTIONS, rest)) => load_sections(rest, parts, Encoding::Named)?,
        Some((&LZ4_STATE, packed)) => {
            serde_json::from_slice(&lz4_flex::decompress_size_prepended(packed).ok()?).ok()?
        }
        _ => serde_json::from_slice(&bytes).ok()?,
    };
    (s.version == PROJECTION_VERSION).then_some(s)
}

fn load_sections(bytes: &[u8], parts: Parts, encoding: Encoding) -> Option<State> {
    let (&count, mut rest) = bytes.split_first()?;
    let mut sections = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (&part, tail) = rest.split_first()?;
        let len = u32::from_be_bytes(tail.get(..4)?.try_into().ok()?) as usize;
        let packed = tail.get(4..4 + len)?;
        rest = &tail[4 + len..];
        if part == HEAD || parts.has(Parts(part)) {
            sections.push((part, packed));
        }
    }
    // The largest view decoded on a thread beside the rest.
    let largest = (0..sections.len())
        .filter(|&i| sections[i].0 != HEAD)
        .max_by_key(|&i| sections[i].1.len());
    let largest = largest.map(|i| sections.swap_remove(i));
    let mut head: Option<Head> = None;
    let mut views = Views::default();
    let mut beside = Views::default();
    let (ok, ok_beside) = std::thread::scope(|scope| {
        let other = largest.map(|(part, packed)| {
            let beside = &mut beside;
            scope.spawn(move || read_section(part, packed, encoding, &mut None, beside))
        });
        let ok = sections
            .iter()
            .all(|&(part, packed)| read_section(part, packed, encoding, &mut head, &mut views));
        let ok_beside =
            other.is_none_or(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (ok, ok_beside)
    });
    if !ok || !ok_beside {
        return None;
    }
    if let Some((part, _)) = largest {
        let v = &mut views;
        match Parts(part) {
            Parts::MEETINGS => v.meetings = beside.meetings,
            Parts::DECISIONS => v.decisions = beside.decisions,
            Parts::GROUPS => v.groups = beside.groups,
            Parts::REPORTS => v.reports = beside.reports,
            Parts::WORK => v.work = beside.work,
            Parts::REPORTING => v.reporting = beside.reporting,
            _ => return None,
        }
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

/// Decodes one section into `head` or its view of `views`; `false` when it does not read.
fn read_section(
    part: u8,
    packed: &[u8],
    encoding: Encoding,
    head: &mut Option<Head>,
    views: &mut Views,
) -> bool {
    let started = std::time::Instant::now();
    let read_ok = match Parts(part) {
        _ if part == HEAD => read(packed, encoding).map(|h| *head = Some(h)),
        Parts::MEETINGS => read(packed, encoding).map(|v| views.meetings = v),
        Parts::DECISIONS => read(packed, encoding).map(|v| views.decisions = v),
        Parts::GROUPS => read(packed, encoding).map(|v| views.groups = v),
        Parts::REPORTS => read(packed, encoding).map(|v| views.reports = v),
        Parts::WORK => read(packed, encoding).map(|v| views.work = v),
        Parts::REPORTING => read(packed, encoding).map(|v| views.reporting = v),
        _ => None,
    };
    tracing::debug!(
        part,
        bytes = packed.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "stored view decoded"
    );
    read_ok.is_some()
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
        let batch = crate::generate::parsed(3_000, 5);
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
        let want = by_hand(false, &small);
        let got = store.cache().get(b"test-small").unwrap().unwrap();
        assert!(got == want, "the sections differ from the format's");
    }

    /// A state in sections written by hand: each section by field name (MessagePack, as
    /// earlier versions wrote them) or in place (postcard), compressed as
    /// `compress_prepend_size` does.
    fn by_hand(named: bool, s: &State) -> Vec<u8> {
        fn plain<T: serde::Serialize>(v: &T, named: bool) -> Vec<u8> {
            if named {
                rmp_serde::to_vec_named(v).unwrap()
            } else {
                crate::omit::with_every_field(|| postcard::to_stdvec(v).unwrap())
            }
        }
        let head = Head {
            version: s.version,
            seq: s.seq,
            max_counts_from: s.max_counts_from,
            corrected_at: s.corrected_at,
        };
        let v = &s.views;
        let sections = [
            (HEAD, plain(&head, named)),
            (Parts::MEETINGS.0, plain(&v.meetings, named)),
            (Parts::DECISIONS.0, plain(&v.decisions, named)),
            (Parts::GROUPS.0, plain(&v.groups, named)),
            (Parts::REPORTS.0, plain(&v.reports, named)),
            (Parts::WORK.0, plain(&v.work, named)),
            (Parts::REPORTING.0, plain(&v.reporting, named)),
        ];
        let mut want = vec![if named { NAMED_SECTIONS } else { SECTIONS }, 7];
        for (part, plain) in sections {
            let packed = lz4_flex::compress_prepend_size(&plain);
            want.push(part);
            want.extend_from_slice(&(packed.len() as u32).to_be_bytes());
            want.extend_from_slice(&packed);
        }
        want
    }

    /// A state that earlier versions wrote (MessagePack by field name) still reads, whole.
    #[test]
    fn a_state_written_by_name_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let batch = crate::generate::parsed(2_000, 5);
        store.append(batch).unwrap();
        let state = super::super::views(&store, &Default::default()).unwrap();
        let named = by_hand(true, &state);
        store.cache().put(b"test-named", &named).unwrap();
        let got = load(&store, b"test-named", Parts::ALL).expect("the state reads back");
        assert_eq!(got.seq, state.seq);
        assert_eq!(got.views, state.views);
    }
}

/// The positional encoding reads each field by its place: a view whose fields change (or a
/// fold that folds differently) must come with a new `PROJECTION_VERSION`, or states stored
/// before would read into the wrong fields. This pins the bytes of a state that has rows of
/// every view, for the version they were made with.
#[cfg(test)]
mod layout {
    use super::*;
    use crate::store::SledStore;

    /// `PROJECTION_VERSION` and the SHA-256 of its states' sections for the sample below.
    const PINNED: (u32, &str) = (
        7,
        "83d7b7934e2fa63dbc7033f2fc9f3fc741eecb59e9d8c48196cca1350301794b",
    );

    /// A generated history, then what the shipped workflows make of it at a fixed instant
    /// (deadlines and reminders), folded and encoded.
    fn sample_sections() -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let batch = crate::generate::parsed(3_000, 11);
        store.append(batch).unwrap();
        let views = super::super::views(&store, &Default::default()).unwrap();
        let workflows = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
        let defs = crate::workflows::Definitions::load(&workflows).unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2024-03-01T09:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let day = crate::domain::ApproxDate::Day(now.date_naive());
        let work: Vec<_> = crate::scheduler::reconcile(&views.views, &defs, now)
            .into_iter()
            .map(|e| crate::input::Proposed::from_event(e, day, "scheduler", None).unwrap())
            .collect();
        assert!(!work.is_empty(), "the workflows derive deadlines");
        store.append(work).unwrap();
        let state = super::super::views(&store, &Default::default()).unwrap();
        let v = &state.views;
        assert!(!v.work.deadlines.is_empty() && !v.work.reminders.is_empty());
        assert!(!v.reports.reports.is_empty() && !v.reports.activities.is_empty());
        assert!(!v.groups.0.is_empty() && !v.meetings.0.is_empty());
        let mut e = Encoded::default();
        e.encode(&state, &mut Sizes::default());
        e.0.into_iter()
            .filter(|(part, _)| *part != HEAD)
            .flat_map(|(part, plain)| std::iter::once(part).chain(plain))
            .collect()
    }

    #[test]
    fn the_stored_layout_is_pinned_to_its_version() {
        use sha2::Digest;
        let first = sample_sections();
        assert_eq!(first, sample_sections(), "the sample is not deterministic");
        let got = hex::encode(sha2::Sha256::digest(&first));
        assert!(
            PINNED == (PROJECTION_VERSION, got.as_str()),
            "the stored states' bytes changed (now {got}, pinned {PINNED:?}): a view's fields \
             or a fold changed, so bump PROJECTION_VERSION and pin ({PROJECTION_VERSION} + 1, \
             the new digest) in projections/stored.rs"
        );
    }
}
