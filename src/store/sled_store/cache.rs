//! The `cache` tree: derived data by key, read and written by prefix and in batches. A value
//! of `LARGE` bytes or more (a stored state, the life-cycle registry) is kept in a file of its
//! own under `<data>/cache/`, the tree holding only where it is (`files.rs`).

use super::*;

mod files;

pub(super) use files::Files;
use files::Pointer;

/// Values of this many bytes or more go to files. sled writes a tree node past about 128 KiB
/// (a quarter of its segment) as a blob file, rewrites the node's every value whenever the node
/// changes, and reads every blob of its log's last segment again each time it opens.
pub(super) const LARGE: usize = 32 * 1024;
/// The `meta` key noting that large values are in files.
const FILES_NOTE: &[u8] = b"cache.files";

pub(super) struct SledCache {
    pub(super) tree: sled::Tree,
    pub(super) files: Files,
}

impl SledCache {
    /// What the tree keeps for `value` under `key`: the value itself, or where its file is
    /// (written here).
    fn stored(&self, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        if value.len() < LARGE || !Files::names(key) {
            return Ok(value.to_vec());
        }
        self.files.write(key, value)
    }

    /// The value the tree keeps under `key` as `held`: itself, or its file's content (`None`
    /// when the file is gone or damaged: derived data, the caller rebuilds it).
    fn resolve(&self, key: &[u8], held: &[u8]) -> Result<Option<Vec<u8>>> {
        match Pointer::parse(held) {
            None => Ok(Some(held.to_vec())),
            Some(p) => self.files.read(key, &p),
        }
    }

    /// Removes the file a value no longer held named, if it was one.
    fn release(&self, old: Option<sled::IVec>) {
        if let Some(p) = old.as_deref().and_then(Pointer::parse) {
            self.files.remove(&p);
        }
    }

    /// At open: the large values an earlier build kept in the tree moved to files (once, noted
    /// in `meta`), and the files no key names removed.
    pub(super) fn tidy(&self, meta: &sled::Tree, dir: &Path) -> Result<()> {
        if meta.get(FILES_NOTE)?.is_none() {
            let started = std::time::Instant::now();
            let moved = self.move_large_values()?;
            meta.insert(FILES_NOTE, &b"1"[..])?;
            if moved > 0 {
                pass_blob_segment(meta)?;
                tracing::info!(
                    "{}: moved {moved} large cached values to {} in {:.1} s",
                    dir.display(),
                    self.files.dir().display(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        let removed = self.remove_unnamed_files()?;
        if removed > 0 {
            tracing::debug!(removed, "cache files no key names");
        }
        Ok(())
    }

    /// Moves the values of `LARGE` bytes or more that the tree holds itself (written before
    /// values went to files) into files; returns how many.
    pub(super) fn move_large_values(&self) -> Result<usize> {
        let mut moved = 0;
        for kv in self.tree.iter() {
            let (key, value) = kv?;
            if value.len() >= LARGE && Pointer::parse(&value).is_none() && Files::names(&key) {
                let stored = self.files.write(&key, &value)?;
                self.tree.insert(&key, stored)?;
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// Removes the files no key names (left by a process that stopped between writing a file
    /// and naming it), and unfinished ones.
    pub(super) fn remove_unnamed_files(&self) -> Result<usize> {
        let mut removed = 0;
        for (path, key) in self.files.list()? {
            let named = match key {
                Some(key) => self
                    .tree
                    .get(&key)?
                    .as_deref()
                    .and_then(Pointer::parse)
                    .is_some_and(|p| self.files.path(&p) == path),
                None => false,
            };
            if !named {
                self.files.remove_path(&path);
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Writes and removes a segment's worth of small values, so that the segment of sled's log
/// that named the blobs of moved values is no longer its last: sled reads every blob its last
/// segment names each time it opens.
fn pass_blob_segment(meta: &sled::Tree) -> Result<()> {
    const FILLER: &[u8] = b"cache.filler";
    let filler = vec![0u8; 64 * 1024];
    for i in 0u8..10 {
        meta.insert([FILLER, &[i]].concat(), &filler[..])?;
        meta.flush()?;
    }
    for i in 0u8..10 {
        meta.remove([FILLER, &[i]].concat())?;
    }
    meta.flush()?;
    Ok(())
}

impl Cache for SledCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // A file replaced by another writer between reading where it was and reading it: the
        // second look finds the new one.
        for _ in 0..2 {
            let Some(held) = self.tree.get(key)? else {
                return Ok(None);
            };
            match self.resolve(key, &held)? {
                Some(v) => return Ok(Some(v)),
                None if self.tree.get(key)?.as_deref() == Some(&held[..]) => return Ok(None),
                None => continue,
            }
        }
        Ok(None)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let stored = self.stored(key, value)?;
        let old = self.tree.insert(key, stored)?;
        self.release(old);
        Ok(())
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        for k in self.keys_with_prefix(prefix)? {
            let old = self.tree.remove(k)?;
            self.release(old);
        }
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
            // A value whose file is gone is not there.
            if let Some(v) = self.resolve(&k, &held)? {
                out.push((k.to_vec(), v));
            }
        }
        Ok(out)
    }

    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut old = Vec::new();
        for k in removes.iter().chain(puts.iter().map(|(k, _)| k)) {
            old.push(self.tree.get(k)?);
        }
        for k in removes {
            batch.remove(k.as_slice());
        }
        for (k, v) in puts {
            batch.insert(k.as_slice(), self.stored(k, v)?);
        }
        self.tree.apply_batch(batch)?;
        for o in old {
            self.release(o);
        }
        Ok(())
    }
}
