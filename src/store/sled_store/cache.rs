//! The `cache` tree: derived data by key, read and written by prefix and in batches. A stored
//! state or the life-cycle registry of `LARGE` bytes or more is kept in a file of its own under
//! `<data>/cache/`, the tree holding only where it is (`files.rs`); `tidy.rs` puts a store
//! written before in order at open.

use super::*;

mod files;
mod tidy;

pub(super) use files::Files;
use files::Pointer;

/// Values of this many bytes or more go to files. sled writes a tree node past about 128 KiB
/// (a quarter of its segment) as a blob file, rewrites the node's every value whenever the node
/// changes, and reads every blob of its log's last segment again each time it opens.
pub(super) const LARGE: usize = 32 * 1024;

/// The keys whose values may go to files: each read whole on its own, checked when decoded, and
/// absent costs only a fold. (The meetings index's entries stay in the tree: a set read by
/// prefix, where one entry lost would be a wrong answer, not a missing one.)
const WHOLE: [&[u8]; 3] = [b"proj/live", b"proj/snap/", b"rules/registry"];

/// How many times a read looks again for a value replaced while it was read.
const LOOKS: usize = 8;

pub(super) struct SledCache {
    pub(super) tree: sled::Tree,
    pub(super) files: Files,
}

impl SledCache {
    /// Whether a value under `key` may go to a file.
    fn whole(key: &[u8]) -> bool {
        WHOLE.iter().any(|p| key.starts_with(p)) && Files::names(key)
    }

    /// What the tree keeps for `value` under `key`: the value itself, or where its file is
    /// (written here).
    fn stored(&self, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        if value.len() < LARGE || !Self::whole(key) {
            return Ok(value.to_vec());
        }
        self.files.write(key, value)
    }

    /// The value held under `key` now, its file read: `None` when there is none, or its file
    /// is gone or damaged (derived data: the caller rebuilds it). A file replaced by another
    /// writer between reading where it was and reading it is looked for again.
    fn read(&self, key: &[u8], mut held: sled::IVec) -> Result<Option<Vec<u8>>> {
        for _ in 0..LOOKS {
            let Some(p) = Pointer::parse(&held) else {
                return Ok(Some(held.to_vec()));
            };
            if let Some(v) = self.files.read(key, &p)? {
                return Ok(Some(v));
            }
            match self.tree.get(key)? {
                Some(now) if now == held => {
                    // Gone or damaged for good: the key goes with its file.
                    if self
                        .tree
                        .compare_and_swap(key, Some(&held), None::<&[u8]>)?
                        .is_ok()
                    {
                        self.files.remove(&p);
                    }
                    return Ok(None);
                }
                Some(now) => held = now,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Removes the files of the values `old` that the tree no longer holds, once that change
    /// is durable: until sled flushes, a process killed would find the old values named again.
    /// The flush runs on a thread of its own (after a failed write of sled's files a flush never
    /// returns), waited for up to [`CLOSE_LIMIT`] when `wait` (a bulk removal, whose caller
    /// goes on to heavy work) and not at all otherwise (a value replaced, as an append storing
    /// its registry does); files it does not remove are removed at the next open.
    fn release(&self, old: Vec<Option<sled::IVec>>, wait: bool) {
        let gone: Vec<PathBuf> = old
            .iter()
            .filter_map(|o| o.as_deref().and_then(Pointer::parse))
            .map(|p| self.files.path(&p))
            .collect();
        if gone.is_empty() {
            return;
        }
        let tree = self.tree.clone();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            match tree.flush() {
                Ok(_) => gone.iter().for_each(|p| files::remove_path(p)),
                Err(e) => tracing::warn!("cache files kept until the next open: {e}"),
            }
            let _ = done.send(());
        });
        if wait && finished.recv_timeout(CLOSE_LIMIT).is_err() {
            tracing::warn!("sled did not flush within {CLOSE_LIMIT:?}: removed cache files kept");
        }
    }
}

impl Cache for SledCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.tree.get(key)? {
            Some(held) => self.read(key, held),
            None => Ok(None),
        }
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let stored = self.stored(key, value)?;
        let old = match self.tree.insert(key, stored.as_slice()) {
            Ok(old) => old,
            Err(e) => {
                // Nothing names the file just written.
                self.files.remove_all(std::slice::from_ref(&stored));
                return Err(e.into());
            }
        };
        self.release(vec![old], false);
        Ok(())
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        let mut old = Vec::new();
        for k in self.keys_with_prefix(prefix)? {
            old.push(self.tree.remove(k)?);
        }
        self.release(old, true);
        Ok(())
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.tree
            .scan_prefix(prefix)
            .keys()
            .map(|k| k.map(|k| k.to_vec()).map_err(StoreError::from))
            .collect()
    }

    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for kv in self
            .tree
            .range(from.max(prefix)..)
            .take_while(|kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
        {
            if out.len() == limit {
                break;
            }
            let (k, held) = kv?;
            if let Some(v) = self.read(&k, held)? {
                out.push((k.to_vec(), v));
            }
        }
        Ok(out)
    }

    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()> {
        let mut old = Vec::new();
        for k in removes.iter().chain(puts.iter().map(|(k, _)| k)) {
            old.push(self.tree.get(k)?);
        }
        let mut batch = sled::Batch::default();
        for k in removes {
            batch.remove(k.as_slice());
        }
        let mut written = Vec::new();
        let applied = (|| {
            for (k, v) in puts {
                let stored = self.stored(k, v)?;
                batch.insert(k.as_slice(), stored.as_slice());
                written.push(stored);
            }
            self.tree.apply_batch(batch).map_err(StoreError::from)
        })();
        if let Err(e) = applied {
            // Nothing names the files this batch wrote.
            self.files.remove_all(&written);
            return Err(e);
        }
        self.release(old, false);
        Ok(())
    }
}
