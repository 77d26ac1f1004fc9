//! The cache put in order at open: the large values an earlier build kept in the tree moved to
//! files (once, noted in `meta`), and the files no key names removed. Best effort: a store
//! whose cache cannot be put in order still opens.

use super::*;

/// The `meta` key noting that large values are in files.
const FILES_NOTE: &[u8] = b"cache.files";
/// The `meta` key of the filler that moves sled's log past a segment (see [`pass_segment`]).
const FILLER: &[u8] = b"cache.filler";

impl SledCache {
    /// Puts the cache in order; what fails is warned about, and the store opens regardless.
    pub(in crate::store::sled_store) fn tidy(&self, meta: &sled::Tree, dir: &Path) {
        if let Err(e) = self.tidy_or_fail(meta, dir) {
            tracing::warn!("{}: the cache was left as it was: {e}", dir.display());
        }
    }

    fn tidy_or_fail(&self, meta: &sled::Tree, dir: &Path) -> Result<()> {
        // A filler left by a process stopped in the middle of passing a segment.
        if meta.get(FILLER)?.is_some() {
            meta.remove(FILLER)?;
        }
        if meta.get(FILES_NOTE)?.is_none() {
            let started = std::time::Instant::now();
            let moved = self.move_large_values()?;
            meta.insert(FILES_NOTE, &b"1"[..])?;
            if moved > 0 {
                pass_segment(meta)?;
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
    fn move_large_values(&self) -> Result<usize> {
        let mut moved = 0;
        for prefix in WHOLE {
            for kv in self.tree.scan_prefix(prefix) {
                let (key, value) = kv?;
                if value.len() >= LARGE && Pointer::parse(&value).is_none() && Self::whole(&key) {
                    self.put(&key, &value)?;
                    moved += 1;
                }
            }
        }
        Ok(moved)
    }

    /// Removes the files no key names (left by a process that stopped between writing a file
    /// and naming it, or before the files of replaced values were removed), and unfinished ones.
    fn remove_unnamed_files(&self) -> Result<usize> {
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
                files::remove_path(&path);
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Writes and removes a small value until more than a segment of sled's log has gone by, so
/// that the segment that named the blobs of moved values is no longer its last: sled reads
/// every blob its last segment names each time it opens. One value at a time, far under sled's
/// blob size, so that no node of `meta` becomes a blob itself.
fn pass_segment(meta: &sled::Tree) -> Result<()> {
    let filler = vec![0u8; 64 * 1024];
    for _ in 0..10 {
        meta.insert(FILLER, &filler[..])?;
        meta.flush()?;
        if meta.get(FILLER)?.is_some() {
            meta.remove(FILLER)?;
        }
        meta.flush()?;
    }
    Ok(())
}
