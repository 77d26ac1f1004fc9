//! The sled backend's id and stream indexes: on disk one `x` entry per chunk (each record's
//! id hash and stream, in seq order), in memory the seqs of each id hash and of each stream,
//! built from those entries when first asked and extended by every append; and the
//! conversion of a store of an earlier format, whose indexes were a key per id and per run.

use super::super::{Result, StoreError};
use super::format::{be_u64, decode_chunk, key_chunk};
use crate::envelope::Envelope;

/// First byte of an index entry (the layout below).
const ENTRY: u8 = 1;

/// The index entry of the chunk starting at `first`.
pub(super) fn key_index(first: u64) -> [u8; 9] {
    let mut k = [b'x'; 9];
    k[1..].copy_from_slice(&first.to_be_bytes());
    k
}

/// The hash an id is filed under: FNV-1a, 64 bits (stable across builds and machines, as it
/// is stored). Two ids may share one; a lookup reads the record to confirm.
pub(super) fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The index entry of a chunk's records: a version byte, then per record its id hash
/// (u64 BE), its stream's length (u32 BE) and the stream.
pub(super) fn entry<'a>(records: impl IntoIterator<Item = &'a Envelope>) -> Vec<u8> {
    let mut out = vec![ENTRY];
    for r in records {
        out.extend_from_slice(&id_hash(&r.id).to_be_bytes());
        out.extend_from_slice(&(r.stream.len() as u32).to_be_bytes());
        out.extend_from_slice(r.stream.as_bytes());
    }
    out
}

/// The records an entry lists, as (id hash, stream), in seq order from the chunk's first.
fn read_entry(first: u64, v: &[u8]) -> Result<Vec<(u64, &str)>> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        at: format!("index entry of the chunk at seq {first}"),
        reason: reason.into(),
    };
    let Some((&ENTRY, mut rest)) = v.split_first() else {
        return Err(corrupt("unknown layout"));
    };
    let mut out = Vec::with_capacity(64);
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err(corrupt("cut short"));
        }
        let hash = be_u64(&rest[..8])?;
        let len = u32::from_be_bytes(rest[8..12].try_into().expect("4 bytes")) as usize;
        let stream = rest
            .get(12..12 + len)
            .and_then(|s| std::str::from_utf8(s).ok())
            .ok_or_else(|| corrupt("a stream is cut short or not UTF-8"))?;
        out.push((hash, stream));
        rest = &rest[12 + len..];
    }
    Ok(out)
}

/// The ids and streams of the log, in memory: about 40 bytes per record.
#[derive(Default)]
pub(super) struct Index {
    /// The seq of each id hash; a hash that more than one record carries keeps the later
    /// seqs in `clashes`.
    ids: foldhash::HashMap<u64, u64>,
    clashes: foldhash::HashMap<u64, Vec<u64>>,
    /// The seqs of each stream's events, in position order (seqs rise with positions).
    streams: foldhash::HashMap<Box<str>, Vec<u64>>,
}

impl Index {
    /// Files one record.
    pub(super) fn add(&mut self, seq: u64, hash: u64, stream: &str) {
        if let Some(&at) = self.ids.get(&hash) {
            if at != seq {
                self.clashes.entry(hash).or_default().push(seq);
            }
        } else {
            self.ids.insert(hash, seq);
        }
        match self.streams.get_mut(stream) {
            Some(seqs) => seqs.push(seq),
            None => {
                self.streams.insert(stream.into(), vec![seq]);
            }
        }
    }

    /// Files the records of a batch just written.
    pub(super) fn add_records(&mut self, records: &[Envelope]) {
        for r in records {
            self.add(r.seq, id_hash(&r.id), &r.stream);
        }
    }

    /// The seqs of the records whose id has this hash (one, unless ids clash), up to `limit`.
    pub(super) fn seqs_of_hash(&self, hash: u64, limit: u64) -> Vec<u64> {
        self.ids
            .get(&hash)
            .into_iter()
            .chain(self.clashes.get(&hash).into_iter().flatten())
            .copied()
            .filter(|&s| s <= limit)
            .collect()
    }

    /// The seqs of one stream's events up to `limit`, in position order.
    pub(super) fn stream(&self, stream: &str, limit: u64) -> &[u64] {
        let seqs = self.streams.get(stream).map_or(&[][..], |s| &s[..]);
        &seqs[..seqs.partition_point(|&s| s <= limit)]
    }

    /// Files every record of the log up to `limit` from the index entries.
    pub(super) fn build(log: &sled::Tree, limit: u64) -> Result<Index> {
        let started = std::time::Instant::now();
        // Room for every record at once: the maps are not grown (and refilled) step by step.
        // A store opened for a rescue has no limit to size them by.
        let records = match limit {
            u64::MAX => 0,
            n => usize::try_from(n).unwrap_or(0),
        };
        let mut index = Index {
            ids: foldhash::HashMap::with_capacity_and_hasher(records, Default::default()),
            clashes: Default::default(),
            streams: foldhash::HashMap::with_capacity_and_hasher(records / 2, Default::default()),
        };
        // The entries follow on from seq 1 to the limit: a gap would misplace positions.
        let mut next = 1;
        let gap = |at: u64| StoreError::Corrupt {
            at: format!("index entries at seq {at}"),
            reason: "the chunks' index entries do not follow on; `accord export` and \
                     `accord import` into an empty directory rebuild them"
                .into(),
        };
        for kv in log.range(key_index(0)..=key_index(limit)) {
            let (k, v) = kv?;
            let first = be_u64(&k[1..])?;
            if first != next {
                return Err(gap(next));
            }
            for (hash, stream) in read_entry(first, &v)? {
                if next > limit {
                    break;
                }
                index.add(next, hash, stream);
                next += 1;
            }
        }
        // A store opened for a rescue has no limit to reach.
        if limit != u64::MAX && next != limit + 1 {
            return Err(gap(next));
        }
        tracing::debug!(
            streams = index.streams.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "id and stream index read"
        );
        Ok(index)
    }

    /// Files every record of the log up to `limit` from the records themselves (a store of
    /// an earlier format, opened for a rescue and so not converted).
    pub(super) fn build_from_records(log: &sled::Tree, limit: u64) -> Result<Index> {
        let mut index = Index::default();
        for kv in log.range(key_chunk(0)..=key_chunk(limit)) {
            let (k, v) = kv?;
            for r in decode_chunk(be_u64(&k[1..])?, &v)? {
                if r.seq <= limit {
                    index.add(r.seq, id_hash(&r.id), &r.stream);
                }
            }
        }
        Ok(index)
    }
}

/// Keys of the indexes earlier formats kept: a key per id (`i`), per run of a stream (`s`)
/// and per stream head (`p`).
const OLD_PREFIXES: [&[u8]; 3] = [b"i", b"s", b"p"];

/// Converts a log of an earlier format, up to its head `to`: writes the index entry of every
/// chunk, then (once they are flushed) the caller marks the format. Safe to stop anywhere: a
/// store still marked with its old format converts again at its next open.
pub(super) fn write_entries(log: &sled::Tree, to: u64) -> Result<u64> {
    let mut batch = sled::Batch::default();
    let mut pending = 0;
    let mut records = 0u64;
    for kv in log.range(key_chunk(0)..=key_chunk(to)) {
        let (k, v) = kv?;
        let first = be_u64(&k[1..])?;
        let recs = decode_chunk(first, &v)?;
        records += recs.len() as u64;
        batch.insert(&key_index(first), entry(&recs));
        pending += 1;
        if pending == 1024 {
            log.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    log.apply_batch(batch)?;
    log.flush()?;
    Ok(records)
}

/// Removes the indexes of an earlier format, once the store is marked converted (left over
/// if a conversion stopped after that). Cheap when there are none.
pub(super) fn remove_old_keys(log: &sled::Tree) -> Result<()> {
    let mut removed = false;
    for prefix in OLD_PREFIXES {
        loop {
            let keys: Vec<sled::IVec> = log
                .scan_prefix(prefix)
                .keys()
                .take(16_384)
                .collect::<std::result::Result<_, _>>()?;
            if keys.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            for k in keys {
                batch.remove(k);
            }
            log.apply_batch(batch)?;
            removed = true;
        }
    }
    if removed {
        log.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_hash_is_fnv_1a() {
        // Published FNV-1a 64 values: the hash is stored, so it may never change.
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(id_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(id_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn clashing_ids_keep_every_seq_and_streams_their_order() {
        let mut index = Index::default();
        index.add(1, 7, "a");
        index.add(2, 7, "b");
        index.add(3, 9, "a");
        index.add(4, 7, "a");
        assert_eq!(index.seqs_of_hash(7, 10), vec![1, 2, 4]);
        assert_eq!(index.seqs_of_hash(7, 3), vec![1, 2]);
        assert_eq!(index.stream("a", 10), &[1, 3, 4]);
        assert_eq!(index.stream("a", 3), &[1, 3]);
        assert!(index.stream("c", 10).is_empty());
    }

    #[test]
    fn an_entry_reads_back_and_a_cut_one_is_refused() {
        let env = |seq: u64, id: &str, stream: &str| Envelope {
            seq,
            id: id.into(),
            recorded_at: "2024-01-01T00:00:00.000000Z".into(),
            ty: "MeetingHeld".into(),
            version: 1,
            stream: stream.into(),
            position: 1,
            occurred: serde_json::from_value(serde_json::json!("2024")).expect("a date"),
            actor: "t".into(),
            correlation_id: None,
            causation_id: None,
            data: serde_json::json!({}),
            prev_hash: String::new(),
            hash: String::new(),
        };
        let recs = [env(5, "x-1", "meeting:é"), env(6, "x-2", "")];
        let bytes = entry(&recs);
        assert_eq!(
            read_entry(5, &bytes).unwrap(),
            vec![(id_hash("x-1"), "meeting:é"), (id_hash("x-2"), "")]
        );
        assert!(read_entry(5, &bytes[..bytes.len() - 3]).is_err());
        assert!(read_entry(5, &bytes[..15]).is_err());
        assert!(read_entry(5, &[2, 0]).is_err());
    }
}
