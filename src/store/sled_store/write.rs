//! Writing records into sled: each chunk with its index entry and zone, the head key last, in
//! sled batches or one key at a time.

use std::path::Path;

use super::super::{Result, StoreError};
use super::format::*;
use super::index::{self, key_index};
use super::journal;
use super::recovery::describe_sled;
use crate::envelope::Envelope;

/// How [`write_records`] hands its keys to sled.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Writes {
    /// In sled batches, each recovered whole. Each costs sled a write of its buffer and a wait
    /// on the disk (`sync_file_range`), flush or no flush.
    Batched,
    /// One key at a time, the head last, for a batch the journal holds: sled recovers a prefix
    /// of its writes, so a stop leaves records past the head at worst, which `open` removes
    /// before the journal writes them back.
    Loose,
}

/// Writes records (sealed, consecutive, chained) with their zones and index entries, in sled
/// batches of [`SUB_BATCH`] chunks (or one key at a time, see [`Writes`]); the head key naming
/// `head` goes with the last. Records past the head are read by no one, and removed at open if
/// the process stops. `framed` holds each chunk's framed records when they are framed already.
pub(super) fn write_records(
    log: &sled::Tree,
    dir: &Path,
    records: &[Envelope],
    framed: Option<Vec<Vec<u8>>>,
    head: Option<&Envelope>,
    writes: Writes,
) -> Result<()> {
    let mut sink = Sink {
        log,
        dir,
        writes,
        batch: sled::Batch::default(),
    };
    let chunks = records.len().div_ceil(CHUNK);
    let mut framed = framed.map(Vec::into_iter);
    for (n, chunk) in records.chunks(CHUNK).enumerate() {
        let bytes = match framed.as_mut().and_then(Iterator::next) {
            Some(bytes) => bytes,
            None => journal::frame_chunk(chunk),
        };
        sink.put(&key_index(chunk[0].seq), &index::entry(chunk))?;
        sink.put(&key_chunk(chunk[0].seq), &pack_chunk(&bytes))?;
        sink.put(&key_zone(chunk[0].seq), &zone_of(chunk))?;
        // A large batch goes in parts: sled holds a whole part in memory while writing it.
        if (n + 1) % SUB_BATCH == 0 && n + 1 < chunks {
            sink.apply()?;
            #[cfg(test)]
            if super::tests::STOP_AFTER_PARTS.with(|s| s.get()) == (n + 1) / SUB_BATCH {
                return Err(StoreError::Io("stopped between parts".into()));
            }
        }
    }
    if let Some(last) = head {
        let head = StoredHead {
            seq: last.seq,
            hash: last.hash.clone(),
            recorded_at: Some(last.recorded_at.clone()),
        };
        sink.put(b"h", &serde_json::to_vec(&head).expect("head is JSON"))?;
    }
    sink.apply()
}

/// Where [`write_records`] puts its keys.
struct Sink<'a> {
    log: &'a sled::Tree,
    dir: &'a Path,
    writes: Writes,
    batch: sled::Batch,
}

impl Sink<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        match self.writes {
            Writes::Batched => self.batch.insert(key, value),
            Writes::Loose => {
                self.log
                    .insert(key, value)
                    .map_err(|e| StoreError::Io(describe_sled(self.dir, e)))?;
            }
        }
        Ok(())
    }

    /// Applies the keys put since the last call, as one sled batch (or none: loose keys are
    /// in already).
    fn apply(&mut self) -> Result<()> {
        match self.writes {
            Writes::Batched => self
                .log
                .apply_batch(std::mem::take(&mut self.batch))
                .map_err(|e| StoreError::Io(describe_sled(self.dir, e))),
            Writes::Loose => Ok(()),
        }
    }
}
