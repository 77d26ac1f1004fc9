//! The embedded sled backend: three fixed trees, big-endian composite keys, group commit.
//!
//! Tree `log` holds the records and their indexes. A batch is written in sled batches of up to
//! 4,096 records, the head key `h` with the last one (a batch handed over in parts,
//! `parts.rs`, writes it alone after its last part; a small batch the journal holds goes one
//! key at a time, the head last, `write.rs`): records beyond the head belong to a batch that
//! is not complete, readers never see them (they read up to the seq of the last complete
//! batch), and `open` removes them if the process stopped before the head was written:
//!
//! | key | value |
//! |---|---|
//! | `c` seq | a chunk: up to 64 consecutive records, each `len u32 BE, crc32 u32 BE, bytes` |
//! | `z` seq | the chunk's zone: the earliest day one of its records counts from |
//! | `x` seq | the chunk's index entry: each record's id hash and stream |
//! | `h` | the head: last seq, hash and recorded_at |
//!
//! Ids and streams are looked up in memory (`index.rs`): the index entries are read when first
//! needed (about 40 bytes a record) and every append adds its own, so an append writes three
//! keys per chunk and one head, however many streams and ids it holds.
//!
//! Tree `cache` holds derived data (droppable): stored states, the registry, the meetings
//! index; a stored state or the registry of 32 KiB or more in a file of its own under
//! `<data>/cache/`, the tree holding its name, length and CRC (`cache.rs`). Tree `meta` holds
//! the format version.
//! An append returns only once durable (sled's background flush is off): a small one once its
//! entry in the journal beside sled's files (`log.journal`, `journal.rs`) is written and
//! synced, a large one after a `Db::flush`; appends that overlap share one `fdatasync` or
//! flush. Sled is flushed when the journal fills, when a server stops (`EventStore::checkpoint`,
//! for the derived data it wrote last) and when the store closes, and `open` writes
//! back what the journal holds past sled's head (`durable.rs`).
//!
//! Beside sled's files, `log.head` names the last record known durable (seq, hash, CRC),
//! rewritten in place each time an append is (after sled's flush or the journal's sync).
//! sled recovers a damaged log by cutting it at the first message that fails its checksum,
//! which would silently lose every later record; `open` compares sled's head with this file
//! and refuses a log that ends before it.

use std::collections::{HashMap, VecDeque};
use std::mem::ManuallyDrop;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use super::{rules, Cache, EventStore, Head, Outcome, Result, StoreError};
use crate::envelope::{Envelope, ZERO_HASH};
use crate::input::Proposed;

mod format;
mod recovery;

pub use format::CHUNK;

mod cache;
mod durable;
mod index;
mod journal;
mod lookup;
mod parts;
mod read;
mod write;

use cache::SledCache;
use format::*;
use index::{id_hash, Index};
pub(super) use lookup::SledLookup;
use recovery::*;
use write::{write_records, Writes};

struct Writer {
    seq: u64,
    hash: String,
    recorded_at: Option<String>,
}

impl Writer {
    fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash.clone(),
            recorded_at: self.recorded_at.clone(),
        }
    }
}

/// The sled event store. One process holds it at a time (sled locks the directory).
pub struct SledStore {
    instance: u64,
    // Closed in `Drop`, with a time limit (see there).
    db: ManuallyDrop<sled::Db>,
    log: ManuallyDrop<sled::Tree>,
    cache: ManuallyDrop<SledCache>,
    writer: Mutex<Writer>,
    /// The last seq of the last batch written whole (its head key included): what readers see.
    committed: std::sync::atomic::AtomicU64,
    durable: tokio::sync::watch::Sender<u64>,
    /// The last seq written by an append that becomes durable through sled's flush (set under
    /// the writer's lock): an append through the journal that follows it is acknowledged only
    /// once that flush is done too.
    flush_owed: std::sync::atomic::AtomicU64,
    /// `log.head`, open for rewriting, and the seq it names (`None`: not writable).
    mark: Mutex<Option<(std::fs::File, u64)>>,
    dir: PathBuf,
    /// The first write failure of sled's files: sled refuses every later write in this
    /// process (see [`EventStore::broken`]).
    broken: Mutex<Option<String>>,
    /// The ids and streams, once first asked (`None` until then). An append adds its records
    /// and moves `committed` under its write lock, so a reader building it sees each batch
    /// once, from the disk or from the append.
    index: RwLock<Option<Index>>,
    /// Whether the log carries index entries (an older store opened for a rescue does not:
    /// its index is built from the records).
    entries: bool,
    /// The journal that makes small appends durable (`None`: opened for a rescue).
    journal: Option<std::sync::Arc<journal::Journal>>,
}

/// How long closing the store may take. sled flushes when its last handle goes; after a write
/// of its files failed (a full disk), that flush waits forever. Every acknowledged append was
/// durable when it was acknowledged (flushed, or in the journal), so a close that does not
/// finish loses nothing.
const CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Drop for SledStore {
    fn drop(&mut self) {
        // SAFETY: the fields are taken here once, as the store goes, and never touched again.
        let (cache, log, db) = unsafe {
            (
                ManuallyDrop::take(&mut self.cache),
                ManuallyDrop::take(&mut self.log),
                ManuallyDrop::take(&mut self.db),
            )
        };
        let journal = self.journal.take();
        let (done, closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Sled takes over what the journal holds, so that the next open has none to write
            // back.
            if let Some(journal) = journal.filter(|j| j.holds_entries()) {
                if db.flush().is_ok() {
                    let _ = journal.restart();
                }
            }
            drop(cache);
            drop(log);
            drop(db);
            let _ = done.send(());
        });
        if closed.recv_timeout(CLOSE_LIMIT).is_err() {
            tracing::warn!(
                "sled did not close its files in {} within {CLOSE_LIMIT:?}; nothing acknowledged \
                 depends on it",
                self.dir.display()
            );
        }
    }
}

impl SledStore {
    /// Opens (creating if needed) the store in `dir`, and checks that the head record is intact
    /// and that the log reaches the last record known durable (`log.head`).
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, true)
    }

    /// Opens a store that may be damaged, to rescue what it still holds: no checks of the
    /// head, and nothing written by this process (not the format, not `log.head`). Reads
    /// still check every record.
    pub fn open_damaged(dir: &Path) -> Result<Self> {
        Self::open_with(dir, false)
    }

    fn open_with(dir: &Path, strict: bool) -> Result<Self> {
        if strict {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io(format!("cannot create {}: {}", dir.display(), e)))?;
        } else if !dir.join("sled").is_dir() {
            return Err(StoreError::Io(format!(
                "{} holds no store (no sled directory)",
                dir.display()
            )));
        }
        let db = match open_sled(dir) {
            // sled writes a snapshot to `snap.N.generating` and renames it when complete; a
            // write that failed (the disk full) leaves the file behind, and sled then takes
            // it for the newest snapshot and refuses to open. It is never a complete snapshot:
            // remove it and open again.
            Err(StoreError::Corrupt { .. }) if strict && remove_unfinished_snapshots(dir) > 0 => {
                open_sled(dir)?
            }
            opened => opened?,
        };
        let meta = db.open_tree("meta")?;
        let log = db.open_tree("log")?;
        let cache = SledCache {
            tree: db.open_tree("cache")?,
            files: cache::Files::new(dir.join("cache")),
        };
        let current = match meta.get("format")? {
            Some(v) if v.as_ref() == FORMAT => true,
            Some(v) if v.as_ref() == FORMAT_2 || v.as_ref() == FORMAT_1 => false,
            Some(v) => {
                return Err(StoreError::Corrupt {
                    at: "meta".into(),
                    reason: format!("unknown store format {:?}", String::from_utf8_lossy(&v)),
                })
            }
            // A new store, unless it holds records from before the format was kept.
            None => log.scan_prefix(b"c").next().is_none(),
        };
        let mut journal = None;
        let head = if strict {
            Self::roll_back_torn_batch(&log, dir)?;
            let head = Self::check_head(&log)?;
            let (opened, head) = Self::recover_journal(&db, &log, dir, head)?;
            journal = Some(std::sync::Arc::new(opened));
            Self::check_mark(&log, &head, dir)?;
            if !current {
                let started = std::time::Instant::now();
                let records = index::write_entries(&log, head.seq)?;
                meta.insert("format", FORMAT)?;
                meta.flush()?;
                tracing::info!(
                    "{}: converted {records} records to store format {} in {:.1} s",
                    dir.display(),
                    String::from_utf8_lossy(FORMAT),
                    started.elapsed().as_secs_f64()
                );
            } else if meta.get("format")?.is_none() {
                meta.insert("format", FORMAT)?;
            }
            index::remove_old_keys(&log)?;
            cache.tidy(&meta, dir);
            head
        } else {
            Head {
                seq: 0,
                hash: ZERO_HASH.into(),
                recorded_at: None,
            }
        };
        let mark = if strict { open_mark(dir, &head) } else { None };
        let (durable, _) = tokio::sync::watch::channel(head.seq);
        let visible = if strict { head.seq } else { rescue_limit(&log) };
        Ok(SledStore {
            instance: super::next_instance(),
            db: ManuallyDrop::new(db),
            log: ManuallyDrop::new(log),
            cache: ManuallyDrop::new(cache),
            committed: std::sync::atomic::AtomicU64::new(visible),
            writer: Mutex::new(Writer {
                seq: head.seq,
                hash: head.hash,
                recorded_at: head.recorded_at,
            }),
            durable,
            flush_owed: std::sync::atomic::AtomicU64::new(0),
            mark: Mutex::new(mark),
            dir: dir.to_path_buf(),
            broken: Mutex::new(None),
            index: RwLock::new(None),
            entries: strict || current,
            journal,
        })
    }

    /// The last seq readers may see: that of the last batch written whole.
    fn visible(&self) -> u64 {
        self.committed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Runs `f` on the index of ids and streams, reading it from the log first if no one
    /// has asked yet.
    fn with_index<T>(&self, f: impl FnOnce(&Index) -> T) -> Result<T> {
        if let Some(index) = self
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(f(index));
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        if index.is_none() {
            // `committed` moves under this lock: the index holds what it names, no more.
            let limit = self.visible();
            *index = Some(if self.entries {
                Index::build(&self.log, limit)?
            } else {
                Index::build_from_records(&self.log, limit)?
            });
        }
        Ok(f(index.as_ref().expect("built above")))
    }

    /// The seqs of one stream's events, in position order, from its index.
    fn stream_seqs(&self, stream: &str) -> Result<Vec<u64>> {
        let limit = self.visible();
        self.with_index(|i| i.stream(stream, limit).to_vec())
    }

    /// The seq of one stream's last event, from its index.
    fn last_seq_of(&self, stream: &str) -> Result<Option<u64>> {
        let limit = self.visible();
        self.with_index(|i| i.stream(stream, limit).last().copied())
    }

    fn stream_head(&self, stream: &str) -> Result<u64> {
        let limit = self.visible();
        self.with_index(|i| i.stream(stream, limit).len() as u64)
    }

    /// Writes records (already sealed, consecutive, chained) and their indexes, in sled
    /// batches of [`SUB_BATCH`] chunks with the head key in the last; readers see them once the
    /// last is written. `writer` must be the locked writer state; `framed` holds each chunk's
    /// framed records when they are framed already; `writes` says how sled takes them.
    fn commit(
        &self,
        writer: &mut Writer,
        records: &[Envelope],
        framed: Option<Vec<Vec<u8>>>,
        writes: Writes,
    ) -> Result<()> {
        let Some(last) = records.last() else {
            return Ok(());
        };
        write_records(&self.log, &self.dir, records, framed, Some(last), writes)?;
        self.publish(writer, last, |index| index.add_records(records));
        Ok(())
    }

    /// Shows readers the records written up to `last` (its head key written): the writer's
    /// head moves there and `file` adds them to the index, if it is read yet.
    fn publish(&self, writer: &mut Writer, last: &Envelope, file: impl FnOnce(&mut Index)) {
        writer.seq = last.seq;
        writer.hash = last.hash.clone();
        writer.recorded_at = Some(last.recorded_at.clone());
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = index.as_mut() {
            file(index);
        }
        self.committed
            .store(last.seq, std::sync::atomic::Ordering::Release);
    }

    fn flush_and_announce(&self, seq: u64, hash: &str) -> Result<()> {
        self.db
            .flush()
            .map_err(|e| StoreError::Unconfirmed(describe_sled(&self.dir, e)))?;
        self.announce(seq, hash);
        Ok(())
    }

    /// Tells readers and `log.head` that the log is durable up to `seq`.
    fn announce(&self, seq: u64, hash: &str) {
        self.write_mark(seq, hash);
        self.durable.send_if_modified(|v| {
            if *v < seq {
                *v = seq;
                true
            } else {
                false
            }
        });
    }

    /// Moves `log.head` to `seq` once it is durable. A failure only leaves the mark behind,
    /// which `open` accepts (the mark is a lower bound).
    fn write_mark(&self, seq: u64, hash: &str) {
        let mut mark = self.mark.lock().unwrap_or_else(|p| p.into_inner());
        let Some((file, at)) = mark.as_mut() else {
            return;
        };
        if *at >= seq {
            return;
        }
        match file.write_all_at(mark_line(seq, hash).as_bytes(), 0) {
            Ok(()) => *at = seq,
            Err(e) => tracing::warn!("cannot update {}: {e}", self.dir.join(MARK_FILE).display()),
        }
    }

    /// Remembers a failure of sled's files (the first one) and passes the error on.
    fn note_failure(&self, e: StoreError) -> StoreError {
        if let StoreError::Io(m) | StoreError::Unconfirmed(m) = &e {
            let mut broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
            broken.get_or_insert_with(|| m.clone());
        }
        e
    }
}

impl EventStore for SledStore {
    fn append(&self, batch: Vec<Proposed>) -> Result<Vec<Outcome>> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let head = writer.head();
        let mut lookup = SledLookup(self);
        let mut checked = rules::Rules::load(self.instance, &head, &mut lookup)?;
        let sealed = rules::seal_batch(batch, &head, &mut lookup, &mut checked)?;
        let owed = checked.kept_owing(sealed.records.last());
        let encoded = rules::written_beside(owed, || {
            self.commit_durably(writer, &sealed.records, Some(&sealed.canonical))
                .map_err(|e| self.note_failure(e))
        })?;
        if let Some(encoded) = encoded {
            let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            encoded.store(&mut lookup);
        }
        Ok(rules::outcomes(sealed.places, sealed.records))
    }

    fn append_parts(
        &self,
        parts: &mut dyn Iterator<Item = Vec<Proposed>>,
    ) -> Result<Vec<super::Written>> {
        self.append_in_parts(parts)
    }

    fn import(&self, records: Vec<Envelope>) -> Result<()> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let head = writer.head();
        rules::check_import(&records, &head, &mut SledLookup(self))?;
        self.commit_durably(writer, &records, None)
            .map_err(|e| self.note_failure(e))
    }

    fn head(&self) -> Head {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).head()
    }

    fn read_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<Envelope>> + '_> {
        self.chunks_from(from, Box::new(decode_chunk), |e: &Envelope| e.seq)
    }

    fn skim_from(
        &self,
        from: u64,
    ) -> Box<dyn Iterator<Item = Result<crate::envelope::Skimmed>> + '_> {
        self.chunks_from(from, Box::new(skim_chunk), |s| s.env.seq)
    }

    fn skim_counting_from(
        &self,
        from: u64,
        day: chrono::NaiveDate,
    ) -> Box<dyn Iterator<Item = Result<crate::envelope::Skimmed>> + '_> {
        let decode = move |first: u64, bytes: &[u8]| {
            match self.log.get(key_zone(first))?.as_deref().and_then(zone_day) {
                Some(min) if min > day => Ok(Vec::new()),
                Some(_) => skim_chunk(first, bytes),
                None => {
                    // A chunk written before zones were kept: read it, and note its zone.
                    let recs = skim_chunk(first, bytes)?;
                    let zone = zone_of(recs.iter().map(|s| &s.env));
                    let _ = self.log.insert(key_zone(first), &zone);
                    Ok(recs)
                }
            }
        };
        self.chunks_from(from, Box::new(decode), |s| s.env.seq)
    }
    fn get(&self, seq: u64) -> Result<Option<Envelope>> {
        if seq > self.visible() {
            return Ok(None);
        }
        let Some((first, raw)) = self.find_chunk_raw(seq)? else {
            return Ok(None);
        };
        Ok(decode_chunk_where(first, &raw, |s| s == seq)?.pop())
    }

    fn read_stream(&self, stream: &str) -> Result<Vec<Envelope>> {
        self.records_at(self.stream_seqs(stream)?)
    }

    fn read_stream_page(&self, stream: &str, since: u64, limit: usize) -> Result<Vec<Envelope>> {
        // Seqs rise with positions in a stream: the page starts at the first seq >= `since`.
        let visible = self.visible();
        let seqs = self.with_index(|i| {
            let seqs = i.stream(stream, visible);
            let from = seqs.partition_point(|&s| s < since);
            seqs[from..from.saturating_add(limit).min(seqs.len())].to_vec()
        })?;
        self.records_at(seqs)
    }

    fn stream_last(&self, stream: &str) -> Result<Option<Envelope>> {
        Ok(self.records_at(self.last_seq_of(stream)?)?.pop())
    }

    fn streams_last(&self, streams: &[String]) -> Result<Vec<Option<Envelope>>> {
        let lasts = streams
            .iter()
            .map(|s| self.last_seq_of(s))
            .collect::<Result<Vec<_>>>()?;
        // Each chunk decoded once, however many of the streams end in it.
        let mut wanted: Vec<u64> = lasts.iter().flatten().copied().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let records = self.records_at(wanted.iter().copied())?;
        let by_seq: HashMap<u64, Envelope> = wanted.into_iter().zip(records).collect();
        Ok(lasts
            .into_iter()
            .map(|l| l.and_then(|seq| by_seq.get(&seq).cloned()))
            .collect())
    }

    fn find_id(&self, id: &str) -> Result<Option<u64>> {
        let limit = self.visible();
        let hash = id_hash(id);
        // Two ids may share a hash: the record says whose it is.
        for seq in self.with_index(|i| i.seqs_of_hash(hash, limit))? {
            match self.get(seq)? {
                Some(e) if e.id == id => return Ok(Some(seq)),
                Some(_) => {}
                None => {
                    return Err(StoreError::Corrupt {
                        at: format!("seq {seq}"),
                        reason: "indexed but not stored".into(),
                    })
                }
            }
        }
        Ok(None)
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable.subscribe()
    }

    fn durable_seq(&self) -> Option<u64> {
        Some(*self.durable.borrow())
    }

    fn cache(&self) -> &dyn Cache {
        &*self.cache
    }

    fn instance(&self) -> u64 {
        self.instance
    }

    fn checkpoint(&self) -> Result<bool> {
        self.checkpoint_derived()
    }

    fn broken(&self) -> Option<String> {
        self.broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How far a store opened for a rescue reads: to its last batch written whole (the head key),
/// the journal's records following (see `accord export --intact-prefix`); whatever its files
/// hold when the head key does not read.
fn rescue_limit(log: &sled::Tree) -> u64 {
    log.get(b"h")
        .ok()
        .flatten()
        .and_then(|v| serde_json::from_slice::<StoredHead>(&v).ok())
        .map_or(u64::MAX, |h| h.seq)
}

thread_local! {
    /// This thread is opening a sled store: a panic here is damage, reported as such.
    static OPENING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod registry_tests;
#[cfg(test)]
pub(crate) mod tests;
