//! Large cached values in files of their own: `<data>/cache/<key in hex>.<unique>`, each
//! written whole under a temporary name and renamed, named in the tree by a pointer that
//! carries its length and CRC-32, so that a file cut short or damaged reads as absent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StoreError;

/// The first bytes of a pointer. No value the cache held before files starts with them (its
/// values are JSON, MessagePack, postcard and the stored states' own first bytes).
const MAGIC: &[u8; 12] = b"\0accord-file";
/// Keys longer than this stay in the tree (a file name holds the key in hex).
const KEY_LIMIT: usize = 100;
const TEMPORARY: &str = ".tmp";

/// Where a value's file is, its length and its CRC-32.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::store::sled_store) struct Pointer {
    name: String,
    len: u64,
    crc: u32,
}

impl Pointer {
    /// The pointer a value held in the tree is, if it is one.
    pub(super) fn parse(held: &[u8]) -> Option<Pointer> {
        let rest = held.strip_prefix(MAGIC)?;
        let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let crc = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?);
        let name = std::str::from_utf8(rest.get(12..)?).ok()?;
        // A name of this store's own making: no path in it.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
            return None;
        }
        Some(Pointer {
            name: name.to_string(),
            len,
            crc,
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + 12 + self.name.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out
    }
}

/// A file of the directory and the key its name holds.
pub(super) type Listed = (PathBuf, Option<Vec<u8>>);

/// The directory of the cache's files.
pub(in crate::store::sled_store) struct Files {
    dir: PathBuf,
}

impl Files {
    pub(in crate::store::sled_store) fn new(dir: PathBuf) -> Files {
        Files { dir }
    }

    pub(in crate::store::sled_store) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a value under `key` may go to a file.
    pub(super) fn names(key: &[u8]) -> bool {
        key.len() <= KEY_LIMIT
    }

    pub(super) fn path(&self, p: &Pointer) -> PathBuf {
        self.dir.join(&p.name)
    }

    /// Writes `value` to a new file for `key`; returns the pointer the tree keeps.
    pub(super) fn write(&self, key: &[u8], value: &[u8]) -> Result<Vec<u8>, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let io = |what: &str, path: &Path, e: std::io::Error| {
            StoreError::Io(format!(
                "cannot {what} a cached value: {}",
                super::super::recovery::io_text(path, &e)
            ))
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| io("create", &self.dir, e))?;
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "{}.{:x}{:x}{:x}",
            hex::encode(key),
            std::process::id(),
            at,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}{TEMPORARY}"));
        std::fs::write(&tmp, value).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("write", &tmp, e)
        })?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("rename", &tmp, e)
        })?;
        Ok(Pointer {
            name,
            len: value.len() as u64,
            crc: crc32fast::hash(value),
        }
        .to_bytes())
    }

    /// The content of the file `p` names, `None` when it is gone, of another length or CRC.
    pub(super) fn read(&self, key: &[u8], p: &Pointer) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(p);
        let Some(bytes) = super::super::format::read_if_present(&path)? else {
            return Ok(None);
        };
        if bytes.len() as u64 != p.len || crc32fast::hash(&bytes) != p.crc {
            tracing::warn!(
                key = %String::from_utf8_lossy(key),
                "{}: damaged (length {} of {}, or its checksum); taken as absent",
                path.display(),
                bytes.len(),
                p.len
            );
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Removes the files that the tree's values `held` name (those that are pointers).
    pub(super) fn remove_all(&self, held: &[Vec<u8>]) {
        for p in held.iter().filter_map(|h| Pointer::parse(h)) {
            self.remove(&p);
        }
    }

    /// Removes the file `p` names (already gone is fine).
    pub(super) fn remove(&self, p: &Pointer) {
        remove_path(&self.path(p));
    }

    /// Every file of the directory with the key its name holds (`None`: unfinished, or not
    /// a name of this store's making).
    pub(super) fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(StoreError::Io(format!(
                    "cannot read {}: {e}",
                    self.dir.display()
                )))
            }
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let key = match name.split_once('.') {
                Some((hex_key, rest)) if !rest.ends_with(TEMPORARY) => hex::decode(hex_key).ok(),
                _ => None,
            };
            out.push((e.path(), key));
        }
        Ok(out)
    }
}

/// Removes a file (already gone is fine).
pub(super) fn remove_path(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_reads_back_and_no_plain_value_reads_as_one() {
        let p = Pointer {
            name: "70726f6a2f6c697665.1a2b".into(),
            len: 123_456,
            crc: 0xdead_beef,
        };
        assert_eq!(Pointer::parse(&p.to_bytes()), Some(p));
        for plain in [&b"{\"seq\":1}"[..], &[0xC7, 7, 0], b"", b"\0accord-fil"] {
            assert_eq!(Pointer::parse(plain), None);
        }
        // A name with a path in it is not of this store's making.
        let mut bad = Pointer {
            name: "x".into(),
            len: 1,
            crc: 1,
        }
        .to_bytes();
        bad.extend_from_slice(b"/../../etc");
        assert_eq!(Pointer::parse(&bad), None);
    }

    #[test]
    fn a_file_cut_short_or_changed_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path().join("cache"));
        let value = vec![7u8; 100_000];
        let held = files.write(b"proj/live", &value).unwrap();
        let p = Pointer::parse(&held).unwrap();
        assert_eq!(files.read(b"proj/live", &p).unwrap(), Some(value.clone()));
        let path = files.path(&p);
        std::fs::write(&path, &value[..50_000]).unwrap();
        assert_eq!(files.read(b"proj/live", &p).unwrap(), None);
        let mut changed = value.clone();
        changed[99_999] = 8;
        std::fs::write(&path, &changed).unwrap();
        assert_eq!(files.read(b"proj/live", &p).unwrap(), None);
        files.remove(&p);
        assert_eq!(files.read(b"proj/live", &p).unwrap(), None);
    }
}
