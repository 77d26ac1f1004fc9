//! The life-cycle registry of each open store: kept in memory between appends, caught up with
//! what other writers recorded, folded from the log when it cannot be, and stored beside the
//! log (where the backend keeps one) so that a new process catches up from there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{correct, Lookup};
use crate::domain::lifecycle::Registry;
use crate::domain::DomainEvent;
use crate::envelope::Envelope;
use crate::store::{Head, Result};

/// Nanoseconds this process has spent on the life-cycle rules: loading, catching up or
/// rebuilding registries, and deciding and evolving events.
static CHECKS_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The time this process has spent on the life-cycle rules so far (for the benchmarks: an
/// append's time without them is its time less the growth of this).
pub fn checks_time() -> std::time::Duration {
    std::time::Duration::from_nanos(CHECKS_NANOS.load(std::sync::atomic::Ordering::Relaxed))
}

pub(super) fn count_time<T>(f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    CHECKS_NANOS.fetch_add(
        started.elapsed().as_nanos() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    out
}

/// A registry kept in memory: its store instance, the seq and hash of the last record it
/// folded, and the seq of the one stored beside the log as far as this process knows.
struct Kept {
    instance: u64,
    seq: u64,
    hash: String,
    /// Shared with an [`Owed`] store while it is encoded; an append that takes it meanwhile
    /// takes a copy.
    registry: Arc<Registry>,
    stored: u64,
}

/// The registries of the open stores, by store instance.
static REGISTRIES: Mutex<Vec<Kept>> = Mutex::new(Vec::new());
/// How many stores' registries are kept (a process rarely has more than two open; the tests
/// of one binary open many at once).
const KEPT_REGISTRIES: usize = if cfg!(test) { 64 } else { 4 };

fn put_back(kept: Kept) {
    let mut all = REGISTRIES.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|k| k.instance != kept.instance);
    if all.len() >= KEPT_REGISTRIES {
        all.remove(0);
    }
    all.push(kept);
}

/// The life-cycle registry of one store during one append, taken from memory: given back
/// committed by [`Rules::kept`], or rolled back when dropped (the batch was refused).
pub(crate) struct Rules {
    instance: u64,
    seq: u64,
    hash: String,
    registry: Option<Registry>,
    /// The seq of the registry stored beside the log, as far as this process knows.
    stored: u64,
    /// The batch held a correction: the registry must be folded again from the log.
    pub(super) stale: bool,
}

/// Records read at a time when the registry catches up.
const READ_CHUNK: u64 = 4096;

impl Rules {
    /// The registry of the log up to `head`, under the writer's lock.
    pub(crate) fn load(instance: u64, head: &Head, lookup: &mut dyn Lookup) -> Result<Rules> {
        count_time(|| Rules::load_timed(instance, head, lookup))
    }

    /// The registry kept in memory, caught up; else the one stored beside the log, caught up
    /// (and stored again once a 64th of the log past it); else one folded from the log (and
    /// stored).
    fn load_timed(instance: u64, head: &Head, lookup: &mut dyn Lookup) -> Result<Rules> {
        let cached = {
            let mut all = REGISTRIES.lock().unwrap_or_else(|p| p.into_inner());
            all.iter()
                .position(|k| k.instance == instance)
                .map(|at| all.remove(at))
        };
        // The head names a record the log holds: a registry kept at the head needs no read.
        let still_there = |seq: u64, hash: &str, lookup: &mut dyn Lookup| -> Result<bool> {
            Ok(seq == 0
                || (seq == head.seq && hash == head.hash)
                || lookup.record(seq)?.is_some_and(|r| r.hash == hash))
        };
        // Where it starts: the registry in memory, else the one stored (`true`: to be stored
        // again once caught up far enough), else none.
        let from = match cached {
            Some(k) if k.seq <= head.seq && still_there(k.seq, &k.hash, lookup)? => {
                let registry =
                    Arc::try_unwrap(k.registry).unwrap_or_else(|shared| (*shared).clone());
                Some((k.seq, registry, k.stored, false))
            }
            _ => match stored(head, lookup)? {
                Some((seq, hash, reg)) if still_there(seq, &hash, lookup)? => {
                    Some((seq, reg, seq, true))
                }
                _ => None,
            },
        };
        // A correction on the way (or none to start from): folded from the start.
        let caught_up = match from {
            Some((seq, mut reg, stored, read)) => {
                catch_up(&mut reg, seq, head.seq, lookup)?.then_some((reg, stored, read))
            }
            None => None,
        };
        let (registry, stored) = match caught_up {
            Some((reg, stored, true)) if worth_storing(stored, head.seq) => {
                store(head, &reg, lookup)?;
                (reg, head.seq)
            }
            Some((reg, stored, _)) => (reg, stored),
            None => (folded(head, lookup)?, head.seq),
        };
        Ok(Rules {
            instance,
            seq: head.seq,
            hash: head.hash.clone(),
            registry: Some(registry),
            stored,
            stale: false,
        })
    }

    pub(super) fn registry(&mut self) -> &mut Registry {
        self.registry.as_mut().expect("held until kept or dropped")
    }

    /// The batch is sealed, its last record `last`: keep what it changed, and store it beside
    /// the log after a batch of a quarter of the log or more (as a first large `record`), so
    /// that the next process does not fold that batch again. Registries brought forward by
    /// smaller batches are stored when a process next loads one (see [`worth_storing`]): an
    /// encoding of the whole registry after each batch would cost more than the checks.
    /// Called under the writer's lock, so the next append finds it; were the batch then not
    /// written, the next append (of this process or another) finds the log without `last` and
    /// sets it aside.
    pub(crate) fn kept(self, last: Option<&Envelope>, lookup: &mut dyn Lookup) -> Result<()> {
        match self.kept_owing(last) {
            Some(owed) => {
                let bytes = count_time(|| owed.encode());
                owed.store(&bytes, lookup)
            }
            None => Ok(()),
        }
    }

    /// As [`Rules::kept`], the store left to the caller: the [`Owed`] one, when one is due,
    /// to encode while the batch is written ([`written_beside`]).
    pub(crate) fn kept_owing(mut self, last: Option<&Envelope>) -> Option<Owed> {
        // Nothing recorded: dropped, it goes back as it was.
        let last = last?;
        let mut reg = self.registry.take()?;
        if self.stale {
            return None;
        }
        reg.commit();
        let registry = Arc::new(reg);
        put_back(Kept {
            instance: self.instance,
            seq: last.seq,
            hash: last.hash.clone(),
            registry: Arc::clone(&registry),
            stored: self.stored,
        });
        (last.seq - self.seq >= (last.seq / 4).max(1)).then(|| Owed {
            instance: self.instance,
            head: Head {
                seq: last.seq,
                hash: last.hash.clone(),
                recorded_at: None,
            },
            registry,
        })
    }
}

/// A registry due to be stored beside the log once the batch that brought it to `head` is
/// written.
pub(crate) struct Owed {
    instance: u64,
    head: Head,
    registry: Arc<Registry>,
}

impl Owed {
    fn encode(&self) -> Vec<u8> {
        encode(&self.head, &self.registry)
    }

    /// Stores the encoded registry, and notes it stored for the registry kept at its head.
    fn store(self, bytes: &[u8], lookup: &mut dyn Lookup) -> Result<()> {
        count_time(|| lookup.store_registry(bytes))?;
        let mut all = REGISTRIES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = all
            .iter_mut()
            .find(|k| k.instance == self.instance && k.seq == self.head.seq)
        {
            k.stored = k.stored.max(self.head.seq);
        }
        Ok(())
    }
}

/// A registry encoded beside its batch's write, to store once the batch is written.
pub(crate) struct Encoded {
    owed: Owed,
    bytes: Vec<u8>,
}

impl Encoded {
    /// Stores it, under the writer's lock as every store of the registry is, unless a later
    /// one was stored meanwhile (by an append that came after the batch's write). The batch
    /// is written: a registry that cannot be stored costs a later process a fold, and the
    /// append stands.
    pub(crate) fn store(self, lookup: &mut dyn Lookup) {
        let newer = REGISTRIES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|k| k.instance == self.owed.instance && k.stored > self.owed.head.seq);
        if newer {
            return;
        }
        if let Err(e) = self.owed.store(&self.bytes, lookup) {
            tracing::warn!("the life-cycle registry could not be stored: {e}");
        }
    }
}

/// Writes a batch with `write` while the registry `owed` (if any) is encoded on a thread
/// beside it; the encoding comes back only if the batch is written, for the caller to store
/// under the writer's lock ([`Encoded::store`]). (A batch not written stores none: the next
/// append sets aside the registry kept at a record the log does not hold.) The encoding
/// overlaps the batch's write and flush, so the checks' time counts only the wait for it
/// past them.
pub(crate) fn written_beside(
    owed: Option<Owed>,
    write: impl FnOnce() -> Result<()>,
) -> Result<Option<Encoded>> {
    let Some(owed) = owed else {
        return write().map(|()| None);
    };
    let (written, bytes) = std::thread::scope(|s| {
        let encoding = std::thread::Builder::new()
            .name("accord-registry".into())
            .spawn_scoped(s, || owed.encode());
        let written = write();
        let bytes = match encoding {
            // An encoding that panicked stores nothing; the batch stands.
            Ok(handle) => count_time(|| handle.join()).ok(),
            // No thread to be had: encoded here, after the write.
            Err(_) => Some(count_time(|| owed.encode())),
        };
        (written, bytes)
    });
    written?;
    Ok(bytes.map(|bytes| Encoded { owed, bytes }))
}

impl Drop for Rules {
    fn drop(&mut self) {
        if let Some(mut reg) = self.registry.take() {
            reg.rollback();
            put_back(Kept {
                instance: self.instance,
                seq: self.seq,
                hash: std::mem::take(&mut self.hash),
                registry: Arc::new(reg),
                stored: self.stored,
            });
        }
    }
}

/// Stores the registry this process keeps for the store `instance` when it stands at `head`
/// and past the one stored beside the log (a server stopping after a run of small batches),
/// so that the next process does not catch up with them. Called under the writer's lock (so
/// no append takes it meanwhile); `false` when there was nothing to store.
pub(crate) fn checkpoint(instance: u64, head: &Head, lookup: &mut dyn Lookup) -> Result<bool> {
    let taken = {
        let mut all = REGISTRIES.lock().unwrap_or_else(|p| p.into_inner());
        let behind = |k: &Kept| {
            k.instance == instance && k.seq == head.seq && k.hash == head.hash && k.stored < k.seq
        };
        all.iter().position(behind).map(|at| all.remove(at))
    };
    let Some(mut kept) = taken else {
        return Ok(false);
    };
    let stored = count_time(|| store(head, &kept.registry, lookup));
    if stored.is_ok() {
        kept.stored = kept.seq;
    }
    put_back(kept);
    stored.map(|()| true)
}

/// Folds the records after `from` up to `to` into `reg`; `false` when one of them is a
/// correction (the registry must then be folded from the start).
fn catch_up(reg: &mut Registry, from: u64, to: u64, lookup: &mut dyn Lookup) -> Result<bool> {
    let mut at = from;
    while at < to {
        let end = (at + READ_CHUNK).min(to);
        for env in lookup.records(at + 1, end)? {
            if env.stream.starts_with("deadline/") || env.stream.starts_with("reminder/") {
                continue;
            }
            let Ok(e) =
                crate::domain::as_recorded(|| DomainEvent::decode(&env.ty, env.version, &env.data))
            else {
                continue;
            };
            if let Some(t) = e.corrects() {
                let corrected = lookup
                    .record(t)?
                    .is_some_and(|target| correct(reg, &e, &target));
                if !corrected {
                    return Ok(false);
                }
            }
            reg.evolve(env.seq, &e);
        }
        at = end;
    }
    reg.commit();
    Ok(true)
}

/// The registry of the log up to `to`, folded from the start with its corrections applied (a
/// retracted event counts as never recorded, an amended one with its corrected data).
pub(crate) fn fold_log(to: u64, lookup: &mut dyn Lookup) -> Result<Registry> {
    let mut effect: HashMap<u64, Option<serde_json::Value>> = HashMap::new();
    for env in lookup.corrections(to)? {
        match crate::domain::as_recorded(|| DomainEvent::decode(&env.ty, env.version, &env.data)) {
            Ok(DomainEvent::EventRetracted(r)) => {
                effect.insert(r.seq, None);
            }
            Ok(DomainEvent::EventAmended(a)) if !matches!(effect.get(&a.seq), Some(None)) => {
                effect.insert(a.seq, Some(serde_json::Value::Object(a.data)));
            }
            _ => {}
        }
    }
    let mut reg = Registry::default();
    // Corrected once already: a further correction of these folds the registry again.
    for seq in effect.keys() {
        reg.corrected.insert(*seq, ());
    }
    let mut at = 0;
    while at < to {
        let end = (at + READ_CHUNK).min(to);
        for env in lookup.records(at + 1, end)? {
            // The scheduler's records name nothing the rules keep.
            if env.stream.starts_with("deadline/") || env.stream.starts_with("reminder/") {
                continue;
            }
            let data = match effect.get(&env.seq) {
                Some(None) => continue,
                Some(Some(amended)) => amended,
                None => &env.data,
            };
            if let Ok(e) =
                crate::domain::as_recorded(|| DomainEvent::decode(&env.ty, env.version, data))
            {
                reg.evolve(env.seq, &e);
            }
        }
        at = end;
    }
    reg.commit();
    Ok(reg)
}

/// The cache key of the registry stored beside the log.
pub(crate) const KEY: &[u8] = b"rules/registry";

/// Bump when what `Registry::evolve` keeps changes: a registry stored by another version is
/// folded again from the log.
const REGISTRY_VERSION: u32 = 1;
/// First byte of a stored registry: then its encoding, compressed with LZ4 behind its size.
const STORED_REGISTRY: u8 = 0xD1;

/// A registry as stored beside the log: its version, and the seq and hash of the last record
/// it folded.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored<R> {
    version: u32,
    seq: u64,
    hash: String,
    registry: R,
}

/// The stored bytes of a registry folded up to `head`.
pub(crate) fn encode(head: &Head, registry: &Registry) -> Vec<u8> {
    let stored = Stored {
        version: REGISTRY_VERSION,
        seq: head.seq,
        hash: head.hash.clone(),
        registry,
    };
    let plain = postcard::to_stdvec(&stored).expect("a registry encodes");
    let mut out = vec![STORED_REGISTRY];
    out.extend_from_slice(&lz4_flex::compress_prepend_size(&plain));
    out
}

/// A stored registry of this version, with the seq and hash of its last record.
pub(crate) fn decode(bytes: &[u8]) -> Option<(u64, String, Registry)> {
    let (&STORED_REGISTRY, packed) = bytes.split_first()? else {
        return None;
    };
    let plain = lz4_flex::decompress_size_prepended(packed).ok()?;
    let s: Stored<Registry> = postcard::from_bytes(&plain).ok()?;
    (s.version == REGISTRY_VERSION).then_some((s.seq, s.hash, s.registry))
}

/// The registry stored beside the log, if one of this version reads and is not past `head`.
fn stored(head: &Head, lookup: &mut dyn Lookup) -> Result<Option<(u64, String, Registry)>> {
    let started = std::time::Instant::now();
    let found = lookup
        .stored_registry()?
        .and_then(|b| decode(&b))
        .filter(|(seq, _, _)| *seq <= head.seq);
    tracing::debug!(
        at = ?found.as_ref().map(|(seq, _, _)| seq),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "stored registry read"
    );
    Ok(found)
}

/// Whether a registry a process loaded and caught up to `to` is worth storing in place of the
/// one stored at `stored`: a 64th of the log past it (any record on a short log). A process
/// that starts after another appended in small batches for long catches up with all they
/// appended, once, and stores it.
fn worth_storing(stored: u64, to: u64) -> bool {
    stored > to || to - stored >= (to / 64).max(1)
}

/// Stores the registry at `head` beside the log. It is derived from the log: a write that
/// fails costs only a fold in a later process, and the backend says so and goes on; an error
/// here is one the append cannot go on after.
fn store(head: &Head, registry: &Registry, lookup: &mut dyn Lookup) -> Result<()> {
    lookup.store_registry(&encode(head, registry))
}

/// The registry folded from the whole log up to `head`, and stored.
fn folded(head: &Head, lookup: &mut dyn Lookup) -> Result<Registry> {
    let registry = fold_log(head.seq, lookup)?;
    store(head, &registry, lookup)?;
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry encoded beside an earlier batch is not stored over one stored since (by an
    /// append that came after that batch's write); one past it is.
    #[test]
    fn an_encoding_stores_nothing_over_a_registry_stored_since() {
        struct Stores(Vec<Vec<u8>>);
        impl Lookup for Stores {
            fn seq_of_id(&mut self, _: &str) -> Result<Option<u64>> {
                unreachable!("a store reads nothing")
            }
            fn stream_position(&mut self, _: &str) -> Result<u64> {
                unreachable!("a store reads nothing")
            }
            fn record(&mut self, _: u64) -> Result<Option<Envelope>> {
                unreachable!("a store reads nothing")
            }
            fn records(&mut self, _: u64, _: u64) -> Result<Vec<Envelope>> {
                unreachable!("a store reads nothing")
            }
            fn corrections(&mut self, _: u64) -> Result<Vec<Envelope>> {
                unreachable!("a store reads nothing")
            }
            fn store_registry(&mut self, bytes: &[u8]) -> Result<()> {
                self.0.push(bytes.to_vec());
                Ok(())
            }
        }
        let instance = u64::MAX - 17;
        let head = |seq: u64| Head {
            seq,
            hash: format!("{seq:064}"),
            recorded_at: None,
        };
        let encoded = |seq: u64| {
            let owed = Owed {
                instance,
                head: head(seq),
                registry: Arc::new(Registry::default()),
            };
            Encoded {
                bytes: owed.encode(),
                owed,
            }
        };
        put_back(Kept {
            instance,
            seq: 20,
            hash: head(20).hash,
            registry: Arc::new(Registry::default()),
            stored: 20,
        });
        let mut lookup = Stores(Vec::new());
        encoded(10).store(&mut lookup);
        assert!(lookup.0.is_empty(), "stored over a later one");
        encoded(30).store(&mut lookup);
        assert_eq!(lookup.0.len(), 1);
        assert_eq!(decode(&lookup.0[0]).map(|(seq, _, _)| seq), Some(30));
    }

    /// A digest of a registry that does not depend on its tables' order: each entry encoded
    /// as stored, the entries of each table sorted.
    fn digest(reg: &Registry) -> String {
        use sha2::Digest;
        fn table<K, V>(h: &mut sha2::Sha256, t: &crate::domain::lifecycle::Table<K, V>)
        where
            K: Eq + std::hash::Hash + Clone + serde::Serialize,
            V: Clone + serde::Serialize,
        {
            let mut rows: Vec<Vec<u8>> = t
                .iter()
                .map(|e| postcard::to_stdvec(&e).expect("an entry encodes"))
                .collect();
            rows.sort();
            h.update(rows.len().to_le_bytes());
            for r in rows {
                h.update(r);
            }
        }
        let mut h = sha2::Sha256::new();
        table(&mut h, &reg.meetings);
        table(&mut h, &reg.segments);
        table(&mut h, &reg.decisions);
        table(&mut h, &reg.groups);
        table(&mut h, &reg.activities);
        table(&mut h, &reg.reports);
        table(&mut h, &reg.documents);
        table(&mut h, &reg.agreements);
        table(&mut h, &reg.bodies);
        table(&mut h, &reg.parties);
        table(&mut h, &reg.national_reports);
        table(&mut h, &reg.corrected);
        format!("{:x}", h.finalize())
    }

    /// The registry a generated history folds to, encoded as stored, pinned to
    /// `REGISTRY_VERSION`: a change to what `Registry::evolve` keeps, or to how it is encoded,
    /// fails here until the version is bumped (so registries stored by the version before are
    /// folded again) and the pin renewed.
    #[test]
    fn the_stored_registry_is_pinned_to_its_version() {
        const PINNED: (u32, &str) = (
            1,
            "be98ff7f1570ddebcdab706944eb6fff9444f9c2a41406be8b8a9ee87f044ce0",
        );
        let mut reg = Registry::default();
        for (i, p) in crate::generate::parsed(3000, 11).iter().enumerate() {
            reg.evolve(i as u64 + 1, &p.event);
        }
        reg.commit();
        assert!(reg.decisions.len() > 100 && reg.meetings.len() > 100);
        // It reads back as it was written.
        let head = Head {
            seq: 3000,
            hash: "a".repeat(64),
            recorded_at: None,
        };
        let (seq, hash, back) = decode(&encode(&head, &reg)).expect("reads back");
        assert_eq!((seq, hash.as_str()), (3000, head.hash.as_str()));
        assert!(back == reg);
        assert_eq!((REGISTRY_VERSION, digest(&reg).as_str()), PINNED);
    }
}
