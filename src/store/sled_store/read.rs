//! Reading the log: forward in seq order a chunk decoded at a time, the chunk holding a seq,
//! and the records at given seqs.

use super::*;

/// Records in seq order from `from`, a chunk decoded at a time by `decode` (which may pass
/// over a chunk whose records are not wanted).
pub(super) struct LogIter<'a, T> {
    pub(super) inner: sled::Iter,
    pub(super) pending: VecDeque<T>,
    pub(super) from: u64,
    pub(super) failed: bool,
    pub(super) decode: ChunkReader<'a, T>,
    pub(super) seq_of: fn(&T) -> u64,
}

impl<T> Iterator for LogIter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(e) = self.pending.pop_front() {
                if (self.seq_of)(&e) >= self.from {
                    return Some(Ok(e));
                }
                continue;
            }
            let step = self
                .inner
                .next()?
                .map_err(StoreError::from)
                .and_then(|(k, v)| {
                    let first = be_u64(&k[1..])?;
                    (self.decode)(first, &v)
                });
            match step {
                Ok(recs) => self.pending.extend(recs),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Reads the records of a chunk (its first seq, its stored bytes), or passes over it.
pub(super) type ChunkReader<'a, T> = Box<dyn FnMut(u64, &[u8]) -> Result<Vec<T>> + 'a>;

impl SledStore {
    /// The records at `seqs`, which rise strictly, each chunk decoded once for a run of seqs
    /// in it.
    pub(super) fn records_at(&self, seqs: impl IntoIterator<Item = u64>) -> Result<Vec<Envelope>> {
        let limit = self.visible();
        let seqs: Vec<u64> = seqs.into_iter().take_while(|&s| s <= limit).collect();
        debug_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs rise");
        let mut out = Vec::with_capacity(seqs.len());
        let mut i = 0;
        while i < seqs.len() {
            let seq = seqs[i];
            let missing = || StoreError::Corrupt {
                at: format!("seq {seq}"),
                reason: "indexed but not stored".into(),
            };
            let (first, raw) = self.find_chunk_raw(seq)?.ok_or_else(missing)?;
            // The asked seqs this chunk may hold (seqs rise; a chunk holds at most CHUNK
            // records from `first`), each decoded alone; those it held are a prefix of them.
            let end = first + CHUNK as u64;
            let run = seqs[i..]
                .iter()
                .take_while(|&&s| s >= first && s < end)
                .count();
            let wanted = &seqs[i..i + run];
            let recs = decode_chunk_where(first, &raw, |s| wanted.binary_search(&s).is_ok())?;
            if recs.first().map(|e| e.seq) != Some(seq) {
                return Err(missing());
            }
            i += recs.len();
            out.extend(recs);
        }
        Ok(out)
    }

    /// The records from `from` on, each chunk read by `decode`.
    pub(super) fn chunks_from<'a, T: 'a>(
        &'a self,
        from: u64,
        decode: ChunkReader<'a, T>,
        seq_of: fn(&T) -> u64,
    ) -> Box<dyn Iterator<Item = Result<T>> + 'a> {
        let from = from.max(1);
        let limit = self.visible();
        let start = match self.log.range(key_chunk(0)..=key_chunk(from)).next_back() {
            Some(Ok((k, _))) => k.to_vec(),
            Some(Err(e)) => return Box::new(std::iter::once(Err(e.into()))),
            None => key_chunk(0).to_vec(),
        };
        let records = LogIter {
            inner: self.log.range(start..=key_chunk(limit).to_vec()),
            pending: VecDeque::new(),
            from,
            failed: false,
            decode,
            seq_of,
        };
        // Records of a batch being written are not read.
        Box::new(records.take_while(move |r| r.as_ref().map_or(true, |t| seq_of(t) <= limit)))
    }

    /// The chunk holding `seq`: its first seq and its stored bytes.
    pub(super) fn find_chunk_raw(&self, seq: u64) -> Result<Option<(u64, sled::IVec)>> {
        let Some((k, v)) = self
            .log
            .range(key_chunk(0)..=key_chunk(seq))
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        Ok(Some((be_u64(&k[1..])?, v)))
    }
}
