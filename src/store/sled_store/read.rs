//! Reading the log forward: records in seq order, a chunk decoded at a time.

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
