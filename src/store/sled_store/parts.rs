//! A large batch appended a part at a time: each part sealed and written past the head as it
//! comes, the head key written once the last is, so that the batch is never held whole and is
//! still recorded all or none.
//!
//! Every part is sealed at the batch's one recording instant, following the part before; the
//! rules see the parts already written (their ids, stream positions and records) through
//! [`Pending`]. A refused part removes what the parts before it wrote; a process stopped
//! before the head key is written leaves records that `open` removes, as for any batch.

use super::super::{rules, EventStore, Head, Result, StoreError, Written};
use super::format::*;
use super::index::id_hash;
use super::journal::frame_canonical;
use super::write::{write_records, Writes};
use super::{SledLookup, SledStore};
use crate::envelope::Envelope;
use crate::input::Proposed;

/// The log as the rules see it while a batch is written in parts: the records written, the
/// parts of the batch already written past the head.
struct Pending<'a> {
    store: &'a SledStore,
    /// The seq of each id hash written by the batch; a hash written again keeps its later
    /// seqs in `clashes`. A hit is confirmed by reading the record.
    ids: foldhash::HashMap<u64, u64>,
    clashes: Vec<(u64, u64)>,
    positions: foldhash::HashMap<String, u64>,
}

impl Pending<'_> {
    fn file_id(&mut self, id: &str, seq: u64) {
        let hash = id_hash(id);
        match self.ids.entry(hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(seq);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.clashes.push((hash, seq)),
        }
    }
}

impl rules::Lookup for Pending<'_> {
    fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>> {
        let hash = id_hash(id);
        let candidates: Vec<u64> = self
            .ids
            .get(&hash)
            .copied()
            .into_iter()
            .chain(self.clashes.iter().filter(|c| c.0 == hash).map(|c| c.1))
            .collect();
        for seq in candidates {
            let Some(r) = self.record(seq)? else {
                return Err(StoreError::Corrupt {
                    at: format!("seq {seq}"),
                    reason: "a record of this batch, written a part before, cannot be read back"
                        .into(),
                });
            };
            if r.id == id {
                return Ok(Some(seq));
            }
        }
        self.store.find_id(id)
    }

    fn stream_position(&mut self, stream: &str) -> Result<u64> {
        match self.positions.get(stream) {
            Some(&p) => Ok(p),
            None => self.store.stream_head(stream),
        }
    }

    fn record(&mut self, seq: u64) -> Result<Option<Envelope>> {
        if seq <= self.store.visible() {
            return self.store.get(seq);
        }
        let Some((first, raw)) = self.store.find_chunk_raw(seq)? else {
            return Ok(None);
        };
        Ok(decode_chunk_where(first, &raw, |s| s == seq)?.pop())
    }

    fn records(&mut self, from: u64, to: u64) -> Result<Vec<Envelope>> {
        SledLookup(self.store).records(from, to)
    }

    fn corrections(&mut self, to: u64) -> Result<Vec<Envelope>> {
        SledLookup(self.store).corrections(to)
    }
}

impl SledStore {
    /// See [`super::super::EventStore::append_parts`].
    pub(super) fn append_in_parts(
        &self,
        parts: &mut dyn Iterator<Item = Vec<Proposed>>,
    ) -> Result<Vec<Written>> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let head = writer.head();
        let mut checked = rules::Rules::load(self.instance, &head, &mut SledLookup(self))?;
        let recorded_at = rules::next_recorded_at(head.recorded_at.as_deref());
        let mut pending = Pending {
            store: self,
            ids: Default::default(),
            clashes: Vec::new(),
            positions: Default::default(),
        };
        let mut at = head.clone();
        let mut last: Option<Envelope> = None;
        let mut written = Vec::new();
        // The id hash of each record written, in seq order; its stream is in `written`.
        let mut filed: Vec<u64> = Vec::new();
        let mut offset = 0;
        let each_part = || -> Result<()> {
            for part in parts {
                let n = part.len();
                let rules::Sealed {
                    places,
                    records,
                    canonical,
                } = rules::seal_batch_at(part, &at, &recorded_at, &mut pending, &mut checked)
                    .map_err(|e| e.shifted(offset))?;
                offset += n;
                let Some(end) = records.last() else {
                    written.extend(places.into_iter().flatten().map(Written::from));
                    continue;
                };
                let framed = canonical.chunks(CHUNK).map(frame_canonical).collect();
                write_records(
                    &self.log,
                    &self.dir,
                    &records,
                    Some(framed),
                    None,
                    Writes::Batched,
                )?;
                at = Head {
                    seq: end.seq,
                    hash: end.hash.clone(),
                    recorded_at: Some(end.recorded_at.clone()),
                };
                last = Some(end.clone());
                for r in &records {
                    pending.file_id(&r.id, r.seq);
                    pending.positions.insert(r.stream.clone(), r.position);
                    filed.push(id_hash(&r.id));
                }
                written.extend(
                    rules::outcomes(places, records)
                        .into_iter()
                        .map(Written::from),
                );
            }
            Ok(())
        };
        let stored = each_part().and_then(|()| match &last {
            Some(last) => {
                checked.kept(Some(last), &mut SledLookup(self))?;
                write_records(&self.log, &self.dir, &[], None, Some(last), Writes::Batched)
            }
            None => Ok(()),
        });
        if let Err(e) = stored {
            // Whatever a part wrote past the head goes, also after a failure of sled's files.
            self.remove_unpublished(head.seq);
            return Err(self.note_failure(e));
        }
        let (seq, hash) = match &last {
            Some(last) => {
                self.publish(&mut writer, last, |index| {
                    let records = written.iter().filter_map(|w| match w {
                        Written::Recorded { seq, stream, .. } => Some((*seq, stream)),
                        Written::Duplicate { .. } => None,
                    });
                    for ((seq, stream), hash) in records.zip(&filed) {
                        index.add(seq, *hash, stream);
                    }
                });
                (last.seq, last.hash.clone())
            }
            // Only duplicates: they are reported once what they duplicate is durable.
            None => (head.seq, head.hash.clone()),
        };
        // An append through the journal that follows waits for this flush too.
        self.flush_owed
            .store(seq, std::sync::atomic::Ordering::Release);
        drop(writer);
        self.flush_and_announce(seq, &hash)
            .map_err(|e| self.note_failure(e))?;
        Ok(written)
    }

    /// Removes what a batch refused part-way wrote past the head `head` (its chunks, zones and
    /// index entries). Were that to fail, `open` removes them.
    pub(super) fn remove_unpublished(&self, head: u64) {
        let keys = match keys_after(&self.log, head) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!("cannot read back a refused batch's records: {e}");
                return;
            }
        };
        let mut batch = sled::Batch::default();
        let any = !keys.is_empty();
        for k in keys {
            batch.remove(k);
        }
        if any {
            if let Err(e) = self.log.apply_batch(batch) {
                tracing::warn!("cannot remove a refused batch's records: {e}");
            }
        }
    }
}
