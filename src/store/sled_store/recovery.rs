//! Opening a sled store safely: the head checked against the mark beside sled's files, an
//! unfinished batch rolled back, damaged files refused with the place of the damage, what can
//! be read rescued without sled, and sled's panics and I/O errors turned into errors that say
//! where.

use std::path::Path;

use super::super::{Head, Result, StoreError};
use super::*;
use crate::envelope::{Envelope, ZERO_HASH};

#[cfg(test)]
thread_local! {
    /// The records the last roll-back on this thread removed, and how many of them the journal
    /// held (acknowledged, written back after it).
    pub(super) static ROLLED_BACK: std::cell::Cell<(usize, usize)> =
        const { std::cell::Cell::new((0, 0)) };
}

impl SledStore {
    /// Every record that can still be read from sled's files in `dir` without sled, and from
    /// the journal, by seq: for a rescue when sled cannot open them. Chunk values are found by
    /// their marker byte, decompressed, and kept only where each record's checksum holds and
    /// its envelope parses; the caller keeps the prefix that chains. Records past the last seq
    /// that `log.head` names are left out (they may belong to a batch never acknowledged).
    pub fn salvage(dir: &Path) -> Result<std::collections::BTreeMap<u64, Envelope>> {
        let sled_dir = dir.join("sled");
        let mut files = vec![sled_dir.join("db")];
        if let Ok(blobs) = std::fs::read_dir(sled_dir.join("blobs")) {
            files.extend(blobs.filter_map(|e| e.ok().map(|e| e.path())));
        }
        let limit = read_mark(dir).ok().flatten().map(|(seq, _)| seq);
        let mut found = std::collections::BTreeMap::new();
        let mut framed = Vec::new();
        for file in files {
            let bytes = std::fs::read(&file)
                .map_err(|e| StoreError::Io(format!("cannot read {}: {e}", file.display())))?;
            for i in 0..bytes.len().saturating_sub(5) {
                if bytes[i] != LZ4_CHUNK {
                    continue;
                }
                let size = u32::from_le_bytes(bytes[i + 1..i + 5].try_into().expect("4 bytes"));
                let size = size as usize;
                // LZ4 expands at most 255-fold: a larger size cannot be a block that fits here.
                let room = (bytes.len() - i - 5).saturating_mul(255);
                if !(9..=1 << 24).contains(&size) || size > room {
                    continue;
                }
                let end = bytes.len().min(i + 5 + size + size / 255 + 16);
                framed.clear();
                framed.resize(size, 0);
                // Trailing bytes past the block end in an error once the output is full; the
                // records are checked one by one below in any case.
                let _ = lz4_flex::block::decompress_into(&bytes[i + 5..end], &mut framed);
                for env in salvage_frames(&framed) {
                    if limit.is_none_or(|l| env.seq <= l) {
                        found.entry(env.seq).or_insert(env);
                    }
                }
            }
        }
        for (seq, env) in super::journal::records(dir) {
            if limit.is_none_or(|l| seq <= l) {
                found.entry(seq).or_insert(env);
            }
        }
        Ok(found)
    }

    /// The records the journal in `dir` holds, by seq: those acknowledged that sled may not
    /// have flushed when the process stopped (for a rescue, which writes nothing back).
    pub fn journaled(dir: &Path) -> std::collections::BTreeMap<u64, Envelope> {
        super::journal::records(dir)
    }

    /// Why the log in `dir` should hold records after `seq`, if its head or `log.head` says
    /// so (for a rescue that read every record up to `seq`).
    pub fn missing_after(dir: &Path, seq: u64) -> Option<String> {
        let said = match read_mark(dir) {
            Err(e) => return Some(format!("cannot tell whether more records follow: {e}")),
            Ok(mark) => mark.map(|(s, _)| s).unwrap_or(0),
        };
        (said > seq).then(|| {
            format!(
                "missing: {} says seq {said} was recorded; sled's files in {} are damaged or cut short",
                dir.join(MARK_FILE).display(),
                dir.join("sled").display()
            )
        })
    }

    /// Refuses a log that ends before the last record `log.head` says was durable, or whose
    /// record there has another hash: sled's files were damaged or cut short.
    ///
    /// `log.head` is rewritten in place after each flush without a flush of its own (it is a
    /// lower bound, so an older value is harmless): a power cut can leave it torn. A mark that
    /// does not read is then no evidence against the log, and is passed over with a warning;
    /// the log itself is checked as always.
    pub(super) fn check_mark(log: &sled::Tree, head: &Head, dir: &Path) -> Result<()> {
        let mark = match read_mark(dir) {
            Err(StoreError::Corrupt { at, reason }) => {
                tracing::warn!("{at}: {reason}; passed over, the log is checked on its own");
                None
            }
            other => other?,
        };
        let Some((seq, hash)) = mark else {
            return Ok(());
        };
        let file = dir.join(MARK_FILE);
        if seq > head.seq {
            return Err(StoreError::Corrupt {
                at: format!("seq {}", head.seq + 1),
                reason: format!(
                    "{} says seq {seq} was recorded, but the log in {} ends at seq {}: sled's \
                     files are damaged or cut short; `accord export --intact-prefix` rescues \
                     the records before the damage",
                    file.display(),
                    dir.join("sled").display(),
                    head.seq
                ),
            });
        }
        if seq == 0 {
            return Ok(());
        }
        let found = match log
            .range(key_chunk(0)..=key_chunk(seq))
            .next_back()
            .transpose()?
        {
            Some((k, v)) => {
                let first = be_u64(&k[1..])?;
                decode_chunk(first, &v)?
                    .into_iter()
                    .nth((seq - first) as usize)
            }
            None => None,
        };
        match found {
            Some(env) if env.hash == hash => Ok(()),
            _ => Err(StoreError::Corrupt {
                at: format!("seq {seq}"),
                reason: format!(
                    "{} says seq {seq} has hash {hash}; the log in {} does not hold that record",
                    file.display(),
                    dir.join("sled").display()
                ),
            }),
        }
    }

    /// Removes what a batch left beyond the head: its head key is written with or after its
    /// last records, so records after the head belong to a batch that never completed and was
    /// never acknowledged (sled 0.34 can keep part of a batch when the disk fills in the
    /// middle of writing it). Their chunks go with their zones and index entries. (A store of
    /// an earlier format then converts, its old indexes removed whole.)
    pub(super) fn roll_back_torn_batch(log: &sled::Tree, dir: &Path) -> Result<()> {
        let mut head = match log.get(b"h")? {
            Some(stored) => match serde_json::from_slice::<StoredHead>(&stored) {
                Ok(head) => head,
                Err(_) => return Ok(()),
            },
            // No batch completed, if `log.head` is there to say none did, or the journal holds
            // every record up to the one it names and sled none past the journal's last (sled
            // took none of them whole); a mark that names a record otherwise, or does not read,
            // leaves the log to the head's check, which refuses it without writing anything.
            None => match read_mark(dir) {
                Ok(None) | Ok(Some((0, _))) => StoredHead {
                    seq: 0,
                    hash: ZERO_HASH.into(),
                    recorded_at: None,
                },
                Ok(Some((m, _))) if journal_holds_all(log, dir, m)? => StoredHead {
                    seq: 0,
                    hash: ZERO_HASH.into(),
                    recorded_at: None,
                },
                _ => return Ok(()),
            },
        };
        let record = |seq: u64| -> Option<Envelope> {
            let (k, v) = log.range(key_chunk(0)..=key_chunk(seq)).next_back()?.ok()?;
            decode_chunk(be_u64(&k[1..]).ok()?, &v)
                .ok()?
                .into_iter()
                .find(|e| e.seq == seq)
        };
        let mut batch = sled::Batch::default();
        let mut rewound = false;
        // The head key itself may have landed without all of its batch's records: then the
        // batch goes back to the last record known durable (`log.head`), if that one holds.
        if head.seq > 0 && record(head.seq).is_none_or(|e| e.hash != head.hash) {
            let Some((m, hash)) = read_mark(dir).ok().flatten() else {
                return Ok(());
            };
            let Some(at) = record(m).filter(|e| e.hash == hash && m < head.seq) else {
                return Ok(());
            };
            head = StoredHead {
                seq: at.seq,
                hash: at.hash.clone(),
                recorded_at: Some(at.recorded_at.clone()),
            };
            batch.insert(b"h", serde_json::to_vec(&head).expect("head is JSON"));
            rewound = true;
        }
        // Chunks past the head, and zones and index entries whether or not their chunks
        // landed.
        let past = keys_after(log, head.seq)?;
        if past.is_empty() && !rewound {
            return Ok(());
        }
        let mut chunks = Vec::new();
        for k in past {
            if k.starts_with(b"c") {
                if let Some(v) = log.get(&k)? {
                    chunks.push((be_u64(&k[1..])?, v));
                }
            }
            batch.remove(k);
        }
        log.apply_batch(batch)?;
        log.flush()?;
        report_rolled_back(dir, head.seq, &chunks);
        Ok(())
    }

    pub(super) fn check_head(log: &sled::Tree) -> Result<Head> {
        let stored: Option<StoredHead> = log
            .get(b"h")?
            .map(|v| serde_json::from_slice(&v))
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                at: "head".into(),
                reason: e.to_string(),
            })?;
        let last_chunk = log
            .range(key_chunk(0)..=key_chunk(u64::MAX))
            .next_back()
            .transpose()?;
        match (stored, last_chunk) {
            (None, None) => Ok(Head {
                seq: 0,
                hash: ZERO_HASH.into(),
                recorded_at: None,
            }),
            (Some(h), Some((k, v))) => {
                let records = decode_chunk(be_u64(&k[1..])?, &v)?;
                let last = records.last().ok_or_else(|| StoreError::Corrupt {
                    at: "head".into(),
                    reason: "last chunk is empty".into(),
                })?;
                if last.seq != h.seq || last.hash != h.hash || last.compute_hash() != last.hash {
                    return Err(StoreError::Corrupt {
                        at: format!("seq {}", last.seq),
                        reason: format!(
                            "the head says seq {} hash {}, the last record does not match",
                            h.seq, h.hash
                        ),
                    });
                }
                Ok(Head {
                    seq: h.seq,
                    hash: h.hash,
                    recorded_at: h.recorded_at,
                })
            }
            _ => Err(StoreError::Corrupt {
                at: "head".into(),
                reason: "head and records disagree on whether the log is empty".into(),
            }),
        }
    }
}

/// Says what a roll-back removed: records the journal holds come back from it (it writes them
/// back next), the others belonged to a batch never acknowledged.
fn report_rolled_back(dir: &Path, head: u64, chunks: &[(u64, sled::IVec)]) {
    let journaled = super::journal::records(dir);
    let (mut removed, mut held) = (0usize, 0usize);
    for (first, v) in chunks {
        for r in decode_chunk(*first, v).unwrap_or_default() {
            removed += 1;
            held += usize::from(journaled.get(&r.seq).is_some_and(|j| j.hash == r.hash));
        }
    }
    #[cfg(test)]
    ROLLED_BACK.with(|r| r.set((removed, held)));
    if removed > held {
        tracing::warn!(
            "{}: removed {} records of an unfinished batch after seq {head} (never acknowledged)",
            dir.display(),
            removed - held
        );
    }
    if held > 0 {
        tracing::debug!(
            "{}: {held} records sled had taken in part come back whole from the journal",
            dir.display()
        );
    }
}

/// Whether the journal in `dir` holds every record from the first up to `mark`, and sled's
/// log no chunk starting past the journal's last record.
fn journal_holds_all(log: &sled::Tree, dir: &Path, mark: u64) -> Result<bool> {
    let records = super::journal::records(dir);
    let Some(&last) = records.keys().next_back() else {
        return Ok(false);
    };
    let gapless = (1..=mark.max(last)).all(|s| records.contains_key(&s));
    let beyond = log
        .range(key_chunk(last + 1)..=key_chunk(u64::MAX))
        .next()
        .is_some();
    Ok(gapless && !beyond)
}

/// Installs, once per process, a panic hook that stays silent for a thread opening a sled store
/// and passes every other panic to the hook that was there before. (Swapping the process-wide
/// hook around each open would race between threads opening stores at once.)
pub(super) fn quiet_panics_while_opening() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !OPENING.with(|o| o.get()) {
                previous(info);
            }
        }));
    });
}

/// Opens sled's files in `dir/sled`, turning its errors and panics into `StoreError`s.
pub(super) fn open_sled(dir: &Path) -> Result<sled::Db> {
    // sled panics on some damage it finds while recovering; that is damage, not a bug, and it
    // is reported as such below (without the panic's own message and backtrace).
    quiet_panics_while_opening();
    OPENING.with(|o| o.set(true));
    let opened = std::panic::catch_unwind(|| {
        sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(None)
            .open()
    });
    OPENING.with(|o| o.set(false));
    let opened = opened.map_err(|p| StoreError::Corrupt {
        at: dir.join("sled").display().to_string(),
        reason: format!("sled failed while recovering its files: {}", panic_text(&p)),
    })?;
    opened.map_err(|e| match e {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock") =>
        {
            StoreError::Io(format!(
                "{} is in use by another accord process",
                dir.display()
            ))
        }
        sled::Error::Io(io) => io_error(dir, &io),
        sled::Error::Corruption { at, .. } => StoreError::Corrupt {
            at: dir.join("sled").display().to_string(),
            reason: match at {
                Some(at) => format!("sled cannot recover its files: a page at {at} is damaged"),
                None => "sled cannot recover its files (its log or snapshot is damaged)".into(),
            },
        },
        other => other.into(),
    })
}

/// Removes the snapshot files sled left unfinished (`snap.N.generating`); returns how many.
pub(super) fn remove_unfinished_snapshots(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join("sled")) else {
        return 0;
    };
    let mut removed = 0;
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::warn!(
                        "removed {}: a snapshot sled never finished writing",
                        path.display()
                    );
                    removed += 1;
                }
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }
    removed
}

/// Opens `log.head` for rewriting and sets it to `head`; `None` (with a warning) when the
/// directory cannot be written.
pub(super) fn open_mark(dir: &Path, head: &Head) -> Option<(std::fs::File, u64)> {
    let path = dir.join(MARK_FILE);
    let file = open_in_place(&path).and_then(|f| {
        f.write_all_at(mark_line(head.seq, &head.hash).as_bytes(), 0)?;
        Ok(f)
    });
    match file {
        Ok(f) => Some((f, head.seq)),
        Err(e) => {
            tracing::warn!("cannot write {}: {e}", path.display());
            None
        }
    }
}

/// The text of a caught panic.
pub(super) fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// An IO error of sled's files, naming the directory and, for the usual causes, what is wrong.
pub(super) fn io_error(dir: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Io(io_text(dir, e))
}

pub(super) fn io_text(dir: &Path, e: &std::io::Error) -> String {
    // sled wraps some OS errors in errors of its own: the kind survives, the code may not.
    let code = e.raw_os_error().or(match e.kind() {
        std::io::ErrorKind::StorageFull => Some(28),
        std::io::ErrorKind::ReadOnlyFilesystem => Some(30),
        _ => None,
    });
    match code {
        Some(28) => format!(
            "no space left on the device holding {}: {e}; free space and retry",
            dir.display()
        ),
        Some(30) => format!(
            "{} is on a read-only file system: {e}; sled cannot open its files without \
             writing (copy the directory to a writable place to read it)",
            dir.display()
        ),
        Some(13) | Some(1) => format!("{} cannot be written: {e}", dir.display()),
        _ => format!("{}: {e}", dir.display()),
    }
}

/// A sled error as one line that names the directory.
pub(super) fn describe_sled(dir: &Path, e: sled::Error) -> String {
    match e {
        sled::Error::Io(io) => io_text(dir, &io),
        other => format!("{}: {other}", dir.display()),
    }
}
