//! The sled backend's bytes: its keys, chunk framing and compression, the zone of a chunk,
//! and the `log.head` mark beside sled's files.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::super::{Result, StoreError};
use crate::envelope::Envelope;

/// Records per chunk value: measured to keep sled's per-key cost off the append path.
pub const CHUNK: usize = 64;

/// Chunks written in one sled batch (4,096 records): a larger append goes in parts.
pub(super) const SUB_BATCH: usize = 64;
/// The store format written: compressed chunks, each with its zone and its index entry.
/// Formats 1 (uncompressed chunks) and 2 (a key per id and per run of a stream) are converted
/// when opened: the index entries are written, the old keys removed; chunks stay as they are.
pub(super) const FORMAT: &[u8] = b"accord-sled-3";
pub(super) const FORMAT_2: &[u8] = b"accord-sled-2";
pub(super) const FORMAT_1: &[u8] = b"accord-sled-1";
/// First byte of a compressed chunk value: the LZ4 block of the framed records follows (with
/// its uncompressed size). A format-1 chunk starts with a record length, whose first byte is 0.
pub(super) const LZ4_CHUNK: u8 = 0xC4;

/// The file, beside sled's directory, that names the last durable record.
pub(super) const MARK_FILE: &str = "log.head";

/// Opens `path` for reading and rewriting in place, creating it empty if it is not there.
pub(super) fn open_in_place(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The mark: `accord-head SEQ HASH CRC`, of fixed length so it is rewritten in place.
pub(super) fn mark_line(seq: u64, hash: &str) -> String {
    let body = format!("{seq:020} {hash}");
    format!(
        "accord-head {body} {:08x}\n",
        crc32fast::hash(body.as_bytes())
    )
}

/// A file's bytes, `None` when there is no such file.
pub(super) fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Reads the mark in `dir`: `None` when there is none (a store made before it existed).
pub(super) fn read_mark(dir: &Path) -> Result<Option<(u64, String)>> {
    let path = dir.join(MARK_FILE);
    let Some(text) = read_if_present(&path)? else {
        return Ok(None);
    };
    let bad = || StoreError::Corrupt {
        at: path.display().to_string(),
        reason: "the file is damaged (it should name the last durable seq and hash); \
                 `accord export --intact-prefix` rescues the log"
            .into(),
    };
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let mut parts = text.trim_end().split(' ');
    let (Some("accord-head"), Some(seq), Some(hash), Some(crc), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    if format!(
        "{:08x}",
        crc32fast::hash(format!("{seq} {hash}").as_bytes())
    ) != crc
    {
        return Err(bad());
    }
    Ok(Some((seq.parse().map_err(|_| bad())?, hash.to_string())))
}

pub(super) fn key_chunk(seq: u64) -> [u8; 9] {
    let mut k = [b'c'; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The keys of the chunks, zones and index entries of records after `seq` (a batch never
/// acknowledged), chunks first.
pub(super) fn keys_after(log: &sled::Tree, seq: u64) -> Result<Vec<sled::IVec>> {
    let mut keys = Vec::new();
    for key in [key_chunk, key_zone, super::index::key_index] {
        for k in log.range(key(seq + 1)..=key(u64::MAX)).keys() {
            keys.push(k?);
        }
    }
    Ok(keys)
}

/// The zone of the chunk starting at `first`: the earliest day from which one of its records
/// counts "as of" (its `occurred` window elapsed), so an as-of fold skips chunks that cannot
/// count without decoding them.
pub(super) fn key_zone(first: u64) -> [u8; 9] {
    let mut k = [b'z'; 9];
    k[1..].copy_from_slice(&first.to_be_bytes());
    k
}

pub(super) fn zone_of<'a>(records: impl IntoIterator<Item = &'a Envelope>) -> [u8; 4] {
    use chrono::Datelike;
    let min = records
        .into_iter()
        .map(|r| r.occurred.counts_from())
        .min()
        .unwrap_or(chrono::NaiveDate::MIN);
    min.num_days_from_ce().to_be_bytes()
}

pub(super) fn zone_day(v: &[u8]) -> Option<chrono::NaiveDate> {
    let days = i32::from_be_bytes(v.try_into().ok()?);
    chrono::NaiveDate::from_num_days_from_ce_opt(days)
}

pub(super) fn be_u64(v: &[u8]) -> Result<u64> {
    v.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            at: "index".into(),
            reason: format!("expected 8 bytes, found {}", v.len()),
        })
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredHead {
    pub(super) seq: u64,
    pub(super) hash: String,
    pub(super) recorded_at: Option<String>,
}

pub(super) fn frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(bytes).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A chunk value: the framed records, compressed.
pub(super) fn pack_chunk(framed: &[u8]) -> Vec<u8> {
    let mut out = vec![LZ4_CHUNK];
    out.extend_from_slice(&lz4_flex::compress_prepend_size(framed));
    out
}

/// Decodes a chunk that starts at `first`, checking each record's checksum and seq.
pub(super) fn decode_chunk(first: u64, bytes: &[u8]) -> Result<Vec<Envelope>> {
    decode_chunk_where(first, bytes, |_| true)
}

/// The records of a chunk that starts at `first` whose seq `want` accepts, each checked
/// (checksum, seq); the others are skipped unread.
pub(super) fn decode_chunk_where(
    first: u64,
    bytes: &[u8],
    want: impl Fn(u64) -> bool,
) -> Result<Vec<Envelope>> {
    frames_where(first, bytes, want, |body| {
        let env: Envelope = crate::domain::as_recorded(|| serde_json::from_slice(body))?;
        Ok((env.seq, env))
    })
}

/// A chunk's records read for a fold: each checked, its data left as text.
pub(super) fn skim_chunk(first: u64, bytes: &[u8]) -> Result<Vec<crate::envelope::Skimmed>> {
    frames_where(
        first,
        bytes,
        |_| true,
        |body| {
            let s = crate::domain::as_recorded(|| crate::envelope::Skimmed::parse(body))?;
            Ok((s.env.seq, s))
        },
    )
}

/// The records of a chunk that starts at `first` whose seq `want` accepts, each checked
/// (checksum, seq) and read by `parse`; the others are skipped unread.
pub(super) fn frames_where<T>(
    first: u64,
    bytes: &[u8],
    want: impl Fn(u64) -> bool,
    parse: impl Fn(&[u8]) -> serde_json::Result<(u64, T)>,
) -> Result<Vec<T>> {
    let unpacked;
    let bytes = match bytes.split_first() {
        Some((&LZ4_CHUNK, packed)) => {
            unpacked =
                lz4_flex::decompress_size_prepended(packed).map_err(|e| StoreError::Corrupt {
                    at: format!("seq {first}"),
                    reason: format!("chunk does not decompress: {e}"),
                })?;
            &unpacked[..]
        }
        _ => bytes,
    };
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut seq = first;
    while !rest.is_empty() {
        let corrupt = |reason: String| StoreError::Corrupt {
            at: format!("seq {seq}"),
            reason,
        };
        if rest.len() < 8 {
            return Err(corrupt("record header cut short".into()));
        }
        let len = u32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
        let body = rest
            .get(8..8 + len)
            .ok_or_else(|| corrupt("record cut short".into()))?;
        if want(seq) {
            if crc32fast::hash(body) != crc {
                return Err(corrupt("record checksum does not match".into()));
            }
            let (carried, record) =
                parse(body).map_err(|e| corrupt(format!("record is not a valid envelope: {e}")))?;
            if carried != seq {
                return Err(corrupt(format!("record carries seq {carried}")));
            }
            out.push(record);
        }
        rest = &rest[8 + len..];
        seq += 1;
    }
    Ok(out)
}

/// The records at the start of framed bytes whose checksums hold and which parse.
pub(super) fn salvage_frames(mut rest: &[u8]) -> Vec<Envelope> {
    let mut out = Vec::new();
    while rest.len() >= 8 {
        let len = u32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
        let Some(body) = rest.get(8..8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        match crate::domain::as_recorded(|| serde_json::from_slice::<Envelope>(body)) {
            Ok(env) => out.push(env),
            Err(_) => break,
        }
        rest = &rest[8 + len..];
    }
    out
}
