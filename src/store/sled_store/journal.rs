//! The journal beside sled's files (`log.journal`): a small append made durable by one write
//! and one `fdatasync`, sled's own flush (several waits on the disk) left until the journal
//! fills.
//!
//! The file opens with a header naming its generation, then holds entries, one per append:
//!
//! | bytes | |
//! |---|---|
//! | header | `accord-journal`, two zero bytes, generation `u64 BE`, CRC-32 of those `u32 BE`, 4 zero bytes |
//! | entry | generation `u64 BE`, length `u32 BE`, CRC-32 of the generation, length and payload `u32 BE`, payload |
//! | payload | the first seq `u64 BE`, then the batch's records framed as in a chunk |
//!
//! Entries end at the first one of another generation, cut short, or whose CRC fails: a write
//! torn by a stop was never acknowledged. Once sled has flushed every record the journal holds,
//! the header moves to the next generation (one small write and one `fdatasync`), which voids
//! every entry at once; the file is not cut, and the space written before is written over.
//! The file is zeroed ahead of the entries in steps, so that an `fdatasync` seldom has to
//! record a new file size.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use super::super::{Head, Result, StoreError};
use super::format::{decode_chunk, frame, open_in_place};
use super::recovery::io_text;
use crate::envelope::Envelope;

pub(super) const JOURNAL_FILE: &str = "log.journal";
const MAGIC: &[u8; 16] = b"accord-journal\0\0";
const HEADER: u64 = 32;
const ENTRY_HEAD: u64 = 16;
/// Once the entries would pass this, sled is flushed and the journal starts again.
const LIMIT: u64 = 4 << 20;
/// The file is zeroed ahead of the entries this much at a time.
const STEP: u64 = 256 << 10;
/// The most framed record bytes journaled in one entry: a larger batch is made durable by
/// sled's flush itself, whose cost is spread over its records.
pub(super) const MOST: usize = 256 << 10;

/// Where an entry ends, in which generation: it is durable once the journal is synced past
/// it, or once the journal has moved to a later generation (sled flushed it).
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    generation: u64,
    start: u64,
    end: u64,
}

struct At {
    generation: u64,
    end: u64,
    zeroed: u64,
    /// A new generation could not be started: the header may name one these fields do not,
    /// so nothing more is written.
    poisoned: bool,
}

pub(super) struct Journal {
    file: std::fs::File,
    at: Mutex<At>,
    /// The generation and end of the journal at its last `fdatasync`.
    synced: Mutex<(u64, u64)>,
}

/// A batch found in the journal: its first seq and framed records.
pub(super) struct Entry {
    pub(super) first: u64,
    pub(super) framed: Vec<u8>,
}

fn header(generation: u64) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..16].copy_from_slice(MAGIC);
    h[16..24].copy_from_slice(&generation.to_be_bytes());
    let crc = crc32fast::hash(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_be_bytes());
    h
}

fn entry_crc(head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&head[..12]);
    h.update(payload);
    h.finalize()
}

/// The payload of a journal entry: the first seq, then the framed chunks in order.
pub(super) fn payload(first: u64, framed: &[Vec<u8>]) -> Vec<u8> {
    let len = 8 + framed.iter().map(Vec::len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&first.to_be_bytes());
    for f in framed {
        out.extend_from_slice(f);
    }
    out
}

/// The records of `chunk`, framed (length, CRC, canonical bytes) as a chunk holds them.
pub(super) fn frame_chunk(chunk: &[Envelope]) -> Vec<u8> {
    frame_all(chunk.iter().map(Envelope::to_canonical))
}

/// [`frame_chunk`] of records whose canonical JSON is written already.
pub(super) fn frame_canonical(chunk: &[String]) -> Vec<u8> {
    frame_all(chunk.iter())
}

fn frame_all<B: AsRef<[u8]>>(records: impl ExactSizeIterator<Item = B>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(records.len() * 512);
    for r in records {
        frame(&mut bytes, r.as_ref());
    }
    bytes
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` and reads the entries of its current
    /// generation. A header that does not read (a torn write) is passed over with a warning:
    /// the journal then starts again empty, and the log is checked against `log.head` as
    /// always, which refuses it if acknowledged records are missing.
    pub(super) fn open(dir: &Path) -> Result<(Journal, Vec<Entry>)> {
        let path = dir.join(JOURNAL_FILE);
        let io = |e: std::io::Error| StoreError::Io(io_text(&path, &e));
        let file = open_in_place(&path).map_err(io)?;
        let bytes = std::fs::read(&path).map_err(io)?;
        let read = read_entries(&bytes);
        let file = if read.is_none() && bytes.iter().any(|&b| b != 0) {
            // Kept for a rescue: it may hold acknowledged records behind a damaged header.
            let kept = dir.join(format!(
                "{JOURNAL_FILE}.damaged-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ")
            ));
            std::fs::rename(&path, &kept).map_err(io)?;
            tracing::warn!(
                "{}: the header does not read; kept as {}, the journal starts again and the \
                 log is checked against {} on its own",
                path.display(),
                kept.display(),
                super::format::MARK_FILE
            );
            open_in_place(&path).map_err(io)?
        } else {
            file
        };
        // A file never given its header (zeros, or nothing) starts again as a new one.
        let (generation, entries, end) = read.unwrap_or((0, Vec::new(), HEADER));
        let journal = Journal {
            file,
            at: Mutex::new(At {
                generation,
                end,
                zeroed: if generation > 0 {
                    bytes.len() as u64
                } else {
                    0
                },
                poisoned: false,
            }),
            synced: Mutex::new((0, 0)),
        };
        if generation == 0 {
            if let Ok(parent) = std::fs::File::open(dir) {
                let _ = parent.sync_all();
            }
        }
        Ok((journal, entries))
    }

    /// Writes an entry holding `payload` after the last one; `Ok(None)` when it does not fit
    /// (flush sled and [`Journal::restart`] first). The entry is durable once
    /// [`Journal::sync`] of its ticket returns.
    pub(super) fn write(&self, payload: &[u8]) -> std::io::Result<Option<Ticket>> {
        let mut at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        if at.poisoned {
            return Err(std::io::Error::other(
                "the journal could not start a new generation; the store must be opened again",
            ));
        }
        let start = at.end;
        let end = start + ENTRY_HEAD + payload.len() as u64;
        if end > LIMIT {
            return Ok(None);
        }
        if end > at.zeroed {
            let upto = (end + STEP).min(LIMIT);
            let zeros = vec![0u8; (upto - at.zeroed) as usize];
            self.file.write_all_at(&zeros, at.zeroed)?;
            at.zeroed = upto;
        }
        let mut bytes = Vec::with_capacity(ENTRY_HEAD as usize + payload.len());
        bytes.extend_from_slice(&at.generation.to_be_bytes());
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        let crc = entry_crc(&bytes, payload);
        bytes.extend_from_slice(&crc.to_be_bytes());
        bytes.extend_from_slice(payload);
        self.file.write_all_at(&bytes, start)?;
        at.end = end;
        Ok(Some(Ticket {
            generation: at.generation,
            start,
            end,
        }))
    }

    /// Makes the entry of `ticket` durable, with every entry written before it: one
    /// `fdatasync` shared by appends that wait together.
    pub(super) fn sync(&self, ticket: Ticket) -> std::io::Result<()> {
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if (synced.0, synced.1) >= (ticket.generation, ticket.end) {
            return Ok(());
        }
        let now = {
            let at = self.at.lock().unwrap_or_else(|p| p.into_inner());
            (at.generation, at.end)
        };
        // A later generation: sled was flushed with this entry's records before it began.
        if now.0 > ticket.generation {
            return Ok(());
        }
        self.file.sync_data()?;
        *synced = now;
        Ok(())
    }

    /// The ticket of everything written so far (for an append that wrote nothing but must
    /// wait until what it found is durable).
    pub(super) fn current(&self) -> Ticket {
        let at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        Ticket {
            generation: at.generation,
            start: at.end,
            end: at.end,
        }
    }

    /// Voids the last entry, written for a batch sled then refused: its head is zeroed, so it
    /// is never read back as a batch, and the next entry is written in its place.
    pub(super) fn void(&self, ticket: Ticket) -> std::io::Result<()> {
        // In the order `sync` takes them.
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        let mut at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        if at.generation != ticket.generation || at.end != ticket.end {
            return Ok(());
        }
        let zeroed = self
            .file
            .write_all_at(&[0u8; ENTRY_HEAD as usize], ticket.start)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = zeroed {
            // The entry may still be there: nothing more is written after it.
            at.poisoned = true;
            return Err(e);
        }
        at.end = ticket.start;
        // What an `fdatasync` covered past this point is written over by the next entry.
        if synced.0 == ticket.generation {
            synced.1 = synced.1.min(ticket.start);
        }
        Ok(())
    }

    /// Starts the next generation, voiding every entry: call it only once sled has flushed
    /// every record the journal holds.
    pub(super) fn restart(&self) -> std::io::Result<()> {
        let mut at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        let generation = at.generation + 1;
        let started = self
            .file
            .write_all_at(&header(generation), 0)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = started {
            at.poisoned = true;
            return Err(e);
        }
        at.generation = generation;
        at.end = HEADER;
        at.zeroed = at.zeroed.max(HEADER);
        Ok(())
    }

    /// Whether the last `fdatasync` covered the entry of `ticket`.
    #[cfg(test)]
    pub(super) fn synced_past(&self, ticket: Ticket) -> bool {
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) >= (ticket.generation, ticket.end)
    }

    /// Whether entries of this generation are written.
    pub(super) fn holds_entries(&self) -> bool {
        self.at.lock().unwrap_or_else(|p| p.into_inner()).end > HEADER
    }
}

/// The generation of the journal `bytes`, the entries of that generation and where they end;
/// `None` when the header does not read.
pub(super) fn read_entries(bytes: &[u8]) -> Option<(u64, Vec<Entry>, u64)> {
    let h = bytes.get(..HEADER as usize)?;
    let generation = be(&h[16..24]);
    if h[..16] != MAGIC[..] || generation == 0 || h != header(generation) {
        return None;
    }
    let (entries, end) = entries_of(bytes, generation);
    Some((generation, entries, end))
}

/// The entries of a journal whose header does not read, taking the generation of the first
/// entry for the journal's.
pub(super) fn read_damaged(bytes: &[u8]) -> Vec<Entry> {
    match bytes.get(HEADER as usize..HEADER as usize + 8).map(be) {
        Some(generation) if generation > 0 => entries_of(bytes, generation).0,
        _ => Vec::new(),
    }
}

/// The entries of `generation` from the first, up to the first torn one, and where they end.
fn entries_of(bytes: &[u8], generation: u64) -> (Vec<Entry>, u64) {
    let mut entries = Vec::new();
    let mut at = HEADER as usize;
    while let Some(head) = bytes.get(at..at + ENTRY_HEAD as usize) {
        let len = u32::from_be_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(head[12..16].try_into().expect("4 bytes"));
        let start = at + ENTRY_HEAD as usize;
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if be(&head[..8]) != generation || len < 8 || entry_crc(head, payload) != crc {
            break;
        }
        entries.push(Entry {
            first: be(&payload[..8]),
            framed: payload[8..].to_vec(),
        });
        at = start + len;
    }
    (entries, at as u64)
}

/// The records of the journal in `dir` that read and check, by seq (for a rescue: nothing
/// is written).
/// Journals kept aside with a damaged header are read too.
pub(super) fn records(dir: &Path) -> std::collections::BTreeMap<u64, Envelope> {
    let bytes = std::fs::read(dir.join(JOURNAL_FILE)).unwrap_or_default();
    let (_, entries, _) = read_entries(&bytes).unwrap_or_default();
    let mut out = kept_records(dir);
    for e in entries {
        for r in decode_chunk(e.first, &e.framed).unwrap_or_default() {
            out.insert(r.seq, r);
        }
    }
    out
}

/// The records of the journals kept aside in `dir` (`log.journal.damaged-*`), by seq.
pub(super) fn kept_records(dir: &Path) -> std::collections::BTreeMap<u64, Envelope> {
    let mut out = std::collections::BTreeMap::new();
    let files = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for file in files.filter(|f| {
        f.file_name()
            .to_string_lossy()
            .starts_with(&format!("{JOURNAL_FILE}.damaged-"))
    }) {
        for e in read_damaged(&std::fs::read(file.path()).unwrap_or_default()) {
            for r in decode_chunk(e.first, &e.framed).unwrap_or_default() {
                out.entry(r.seq).or_insert(r);
            }
        }
    }
    out
}

fn be(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().expect("8 bytes"))
}

/// The records of the journal's entries that follow `head`, each batch checked to chain on
/// from the one before (seq, `prev_hash`, hash), in order. Entries the log already holds are
/// passed over; an entry that would leave a gap means sled lost records it had flushed.
pub(super) fn batches_after(
    entries: Vec<Entry>,
    head: &Head,
    dir: &Path,
) -> Result<Vec<Vec<Envelope>>> {
    let mut seq = head.seq;
    let mut hash = head.hash.clone();
    let mut out = Vec::new();
    for entry in entries {
        let records = decode_chunk(entry.first, &entry.framed).map_err(|e| match e {
            StoreError::Corrupt { at, reason } => StoreError::Corrupt {
                at: format!("{} ({at})", dir.join(JOURNAL_FILE).display()),
                reason,
            },
            other => other,
        })?;
        let Some(last) = records.last() else {
            continue;
        };
        if last.seq <= seq {
            continue;
        }
        let broken = |reason: String| StoreError::Corrupt {
            at: format!("seq {}", seq + 1),
            reason: format!(
                "{reason}: sled's files in {} or {} are damaged; `accord export \
                 --intact-prefix` rescues the records before the damage",
                dir.join("sled").display(),
                dir.join(JOURNAL_FILE).display()
            ),
        };
        if entry.first != seq + 1 {
            return Err(broken(format!(
                "the journal continues at seq {} but the log ends at seq {seq}",
                entry.first
            )));
        }
        for r in &records {
            if r.prev_hash != hash || r.compute_hash() != r.hash {
                return Err(broken(format!(
                    "the journal's seq {} does not chain on from the log",
                    r.seq
                )));
            }
            hash = r.hash.clone();
        }
        seq = last.seq;
        out.push(records);
    }
    Ok(out)
}
