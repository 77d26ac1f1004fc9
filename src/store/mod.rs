//! The `EventStore` trait: the small contract every storage backend keeps.
//!
//! A backend appends batches atomically and durably, assigns the gapless global `seq`, the
//! per-stream `position` and the hash chain, reads back in seq order or by stream, and tells
//! waiters when new events are durable. Everything above this trait is backend-agnostic.

mod pg_store;
pub mod remote;
mod rules;
pub(crate) mod sled_store;

pub use pg_store::PgStore;
pub use rules::checks_time;
pub use sled_store::SledStore;

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, Secret};

use crate::envelope::Envelope;
use crate::input::Proposed;

/// The end of the log: its last seq and hash (`ZERO_HASH` and 0 when empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub recorded_at: Option<String>,
}

/// What became of each proposed event of an appended batch, in input order.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Recorded(Box<Envelope>),
    /// The id was already in the log (or earlier in the batch) at this seq; nothing written.
    Duplicate {
        id: String,
        seq: u64,
    },
}

/// What became of each proposed event of a batch appended in parts
/// ([`EventStore::append_parts`]): the record in brief (the whole record is not kept, and the
/// brief holds no more than its stream on the heap), or the duplicate.
#[derive(Clone, Debug, PartialEq)]
pub enum Written {
    Recorded {
        seq: u64,
        /// The record's SHA-256.
        hash: [u8; 32],
        ty: std::borrow::Cow<'static, str>,
        stream: Box<str>,
    },
    Duplicate {
        id: String,
        seq: u64,
    },
}

impl Written {
    /// The brief of a record just written.
    pub fn recorded(e: &Envelope) -> Written {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&e.hash, &mut hash).expect("a sealed record's hash is 64 hex digits");
        let ty = crate::domain::EVENT_TYPES
            .iter()
            .find(|(t, _)| *t == e.ty)
            .map_or_else(|| e.ty.clone().into(), |(t, _)| (*t).into());
        Written::Recorded {
            seq: e.seq,
            hash,
            ty,
            stream: e.stream.as_str().into(),
        }
    }
}

impl From<Outcome> for Written {
    fn from(o: Outcome) -> Written {
        match o {
            Outcome::Recorded(e) => Written::recorded(&e),
            Outcome::Duplicate { id, seq } => Written::Duplicate { id, seq },
        }
    }
}

impl StoreError {
    /// The error with the index of the event it names moved on by `by` (an error of one part
    /// of a batch, told in the whole batch's terms).
    pub fn shifted(self, by: usize) -> StoreError {
        match self {
            StoreError::Conflict {
                index,
                stream,
                expected,
                actual,
            } => StoreError::Conflict {
                index: index + by,
                stream,
                expected,
                actual,
            },
            StoreError::Rejected { index, message } => StoreError::Rejected {
                index: index + by,
                message,
            },
            StoreError::Refused {
                index,
                field,
                message,
            } => StoreError::Refused {
                index: index + by,
                field,
                message,
            },
            StoreError::IdConflict { index, id, seq } => StoreError::IdConflict {
                index: index + by,
                id,
                seq,
            },
            other => other,
        }
    }
}

/// Errors of a store. Each variant says what the caller should do.
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StoreError {
    /// The batch expected a stream position it does not have: nothing was written; re-read
    /// the stream and retry (exit 2 / HTTP 409).
    #[error("event {index}: stream `{stream}` is at position {actual}, expected {expected}")]
    Conflict {
        index: usize,
        stream: String,
        expected: u64,
        actual: u64,
    },
    /// A correction names a seq that is not in the log, or data that does not fit (exit 2).
    #[error("event {index}: {message}")]
    Rejected { index: usize, message: String },
    /// An event names something that does not exist, or a change its life cycle forbids:
    /// nothing was written; fix the event (exit 2 / HTTP 400).
    #[error("event {index}: {field}: {message}")]
    Refused {
        index: usize,
        field: String,
        message: String,
    },
    /// An id already recorded (or given earlier in the batch) comes with different content:
    /// nothing was written; use a new id, or correct the recorded event (exit 2 / HTTP 409).
    #[error("event {index}: id `{id}` is already recorded at seq {seq} with different content")]
    IdConflict { index: usize, id: String, seq: u64 },
    /// A stored record fails its checksum or chain: refuse to serve it; rescue the prefix with
    /// export and import.
    #[error("store is corrupt at {at}: {reason}")]
    Corrupt { at: String, reason: String },
    /// The batch was written but the flush failed: whether it survives a crash is unknown.
    /// Stop the process and check the log (`accord verify`, `accord log`) before retrying.
    #[error(
        "the batch was written but not confirmed durable ({0}); check the log before retrying"
    )]
    Unconfirmed(String),
    /// The storage engine failed (disk full, read-only, IO error): nothing acknowledged was lost.
    #[error("storage failed: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { at, .. } => StoreError::Corrupt {
                at: match at {
                    Some(at) => format!("sled's files ({at})"),
                    None => "sled's files".into(),
                },
                reason: "a stored page fails sled's checksum: the files are damaged".into(),
            },
            other => StoreError::Io(other.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A boxed future that can move between threads: what the store's async methods return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The end of a task of the blocking pool: its value, or its panic carried on.
pub(crate) fn finished<T>(r: std::result::Result<T, tokio::task::JoinError>) -> T {
    match r {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a task on the blocking pool did not finish: {e}"),
    }
}

/// Where a store lives: a sled directory, or a PostgreSQL database named by a URL.
#[derive(Clone, Debug, PartialEq)]
pub enum Location {
    Sled(PathBuf),
    /// A `postgres://` or `postgresql://` URL; it may carry a password, so it never prints.
    Postgres(Secret),
}

impl Location {
    /// The store the configuration names: `ACCORD_STORAGE_URL`, else `[storage] url`, else
    /// the sled directory `[storage] data` (default `data`).
    pub fn from_config(config: &Config) -> Location {
        let url = std::env::var("ACCORD_STORAGE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Secret::new)
            .or_else(|| config.storage.url.clone());
        match url {
            Some(u) => Location::Postgres(u),
            None => Location::Sled(
                config
                    .storage
                    .data
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("data")),
            ),
        }
    }

    /// A PostgreSQL URL, or else a sled directory.
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(Secret::new(s.to_string()))
        } else {
            Location::Sled(PathBuf::from(s))
        }
    }

    /// Names the store for messages, without any password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sled(dir) => dir.display().to_string(),
            Location::Postgres(url) => pg_store::describe_url(url.expose()),
        }
    }
}

/// Opens the store the configuration names (see [`Location::from_config`]).
pub fn open(config: &Config) -> Result<Arc<dyn EventStore>> {
    open_location(&Location::from_config(config))
}

/// Opens (creating if needed) the store at a location.
pub fn open_location(location: &Location) -> Result<Arc<dyn EventStore>> {
    Ok(match location {
        Location::Sled(dir) => Arc::new(SledStore::open(dir)?),
        Location::Postgres(url) => Arc::new(PgStore::open(url.expose())?),
    })
}

/// Opens a store that may be damaged, to rescue its intact prefix: sled without its checks
/// of the head (and writing nothing); PostgreSQL as [`open_location`] does.
pub fn open_damaged(location: &Location) -> Result<Arc<dyn EventStore>> {
    Ok(match location {
        Location::Sled(dir) => Arc::new(SledStore::open_damaged(dir)?),
        Location::Postgres(url) => Arc::new(PgStore::open(url.expose())?),
    })
}

/// A new value for [`EventStore::instance`], never given twice in the process whatever the
/// backend.
pub(crate) fn next_instance() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The events of one stream with seq >= `since`, in position order, read a page at a time as
/// the iterator is drawn on.
pub fn stream_from<'a>(
    store: &'a dyn EventStore,
    stream: &'a str,
    since: u64,
) -> impl Iterator<Item = Result<Envelope>> + 'a {
    const PAGE: usize = 256;
    let mut from = since;
    let mut page = std::collections::VecDeque::new();
    let mut done = false;
    std::iter::from_fn(move || loop {
        if let Some(e) = page.pop_front() {
            return Some(Ok(e));
        }
        if done {
            return None;
        }
        match store.read_stream_page(stream, from, PAGE) {
            Ok(p) => {
                done = p.len() < PAGE;
                if let Some(last) = p.last() {
                    from = last.seq + 1;
                }
                page.extend(p);
            }
            Err(e) => {
                done = true;
                return Some(Err(e));
            }
        }
    })
}

/// An append-only, hash-chained event log.
pub trait EventStore: Send + Sync + 'static {
    /// Appends a batch atomically: all events (less duplicates) or none. Returns only once the
    /// batch is durable. Expected positions are checked against the stream as it stands, and
    /// against earlier events of the same batch.
    fn append(&self, batch: Vec<Proposed>) -> Result<Vec<Outcome>>;

    /// [`EventStore::append`] for a caller on the async runtime (a request): a backend with
    /// an async driver awaits the database, holding no thread meanwhile; by default the append
    /// runs on the blocking pool. It starts at once, and runs to its end even if the future
    /// is dropped.
    fn append_async(
        self: Arc<Self>,
        batch: Vec<Proposed>,
    ) -> BoxFuture<'static, Result<Vec<Outcome>>> {
        let task = tokio::task::spawn_blocking(move || self.append(batch));
        Box::pin(async move { finished(task.await) })
    }

    /// [`EventStore::head`] for a caller on the async runtime, as [`EventStore::append_async`].
    fn head_async(self: Arc<Self>) -> BoxFuture<'static, Head> {
        let task = tokio::task::spawn_blocking(move || self.head());
        Box::pin(async move { finished(task.await) })
    }

    /// Appends one batch drawn from `parts` a part at a time, as atomically as
    /// [`EventStore::append`] (all events less duplicates, or none; errors name an event by its
    /// index in the whole batch), so that a backend that can need not hold the batch whole.
    /// `parts` may be drawn while the store's writer lock is held: it must not call the store.
    fn append_parts(&self, parts: &mut dyn Iterator<Item = Vec<Proposed>>) -> Result<Vec<Written>> {
        let batch: Vec<Proposed> = parts.flatten().collect();
        Ok(self.append(batch)?.into_iter().map(Written::from).collect())
    }

    /// Appends records exported from another store, keeping seq, recorded_at and hashes. The
    /// first must follow this store's head in seq and chain.
    fn import(&self, records: Vec<Envelope>) -> Result<()>;

    /// The last seq and hash.
    fn head(&self) -> Head;

    /// Events with seq >= `from`, in seq order.
    fn read_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<Envelope>> + '_>;

    /// As [`EventStore::read_from`], each record's data left as its JSON text: what folds
    /// read, decoding each event straight into its type.
    fn skim_from(
        &self,
        from: u64,
    ) -> Box<dyn Iterator<Item = Result<crate::envelope::Skimmed>> + '_> {
        Box::new(
            self.read_from(from)
                .map(|r| r.map(crate::envelope::Skimmed::of)),
        )
    }

    /// As [`EventStore::skim_from`] for a fold as of `day`: only the records that count by
    /// then (their `occurred` window elapsed) are needed, so a store may pass over others
    /// without reading them. Every record that counts is given, in seq order.
    fn skim_counting_from(
        &self,
        from: u64,
        day: chrono::NaiveDate,
    ) -> Box<dyn Iterator<Item = Result<crate::envelope::Skimmed>> + '_> {
        let _ = day;
        self.skim_from(from)
    }

    /// One event by seq.
    fn get(&self, seq: u64) -> Result<Option<Envelope>>;

    /// The events of one stream, in position order.
    fn read_stream(&self, stream: &str) -> Result<Vec<Envelope>>;

    /// At most `limit` events of one stream with seq >= `since`, in position order: a page of
    /// a long stream without reading the rest of it.
    fn read_stream_page(&self, stream: &str, since: u64, limit: usize) -> Result<Vec<Envelope>> {
        Ok(self
            .read_stream(stream)?
            .into_iter()
            .filter(|e| e.seq >= since)
            .take(limit)
            .collect())
    }

    /// The last event of one stream (its position is the stream's length), or `None` for a
    /// stream with no events.
    fn stream_last(&self, stream: &str) -> Result<Option<Envelope>> {
        Ok(self.read_stream(stream)?.pop())
    }

    /// [`EventStore::stream_last`] of each of these streams, in their order, in one pass where
    /// the backend can (the calendar feed asks this of every meeting and deadline).
    fn streams_last(&self, streams: &[String]) -> Result<Vec<Option<Envelope>>> {
        streams.iter().map(|s| self.stream_last(s)).collect()
    }

    /// The seq of the event with this id, if recorded.
    fn find_id(&self, id: &str) -> Result<Option<u64>>;

    /// A receiver of the last durable seq, to wait for new events.
    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64>;

    /// The last seq known durable, read without waiting on a lock or a round trip, where the
    /// store keeps one (`head` may wait for a writer); `None` where it does not.
    fn durable_seq(&self) -> Option<u64> {
        None
    }

    /// Derived data kept beside the log (projection snapshots): a key-value space that can be
    /// dropped and rebuilt at any time.
    fn cache(&self) -> &dyn Cache;

    /// Stores what this process keeps in memory to check appends (the life-cycle registry)
    /// beside the log, when it is past the stored one, and makes the derived data written so
    /// far durable: called by a server as it stops, after it wrote its current views, so that
    /// the next process starts where it ended. `true` when the registry was stored; `false`
    /// when there was nothing new, or the backend keeps none in memory.
    fn checkpoint(&self) -> Result<bool> {
        Ok(false)
    }

    /// An id for this open store, unique in the process: keys in-memory caches of derived
    /// state, so they never mix stores.
    fn instance(&self) -> u64;

    /// Whether this process holds the scheduler lease: only the holder ticks and sends
    /// reminders. A store that one process owns at a time (sled locks its directory) always
    /// holds it; a shared database grants it to one node at a time and frees it when that
    /// node's session ends, so another node takes over at its next call.
    fn hold_scheduler_lease(&self) -> Result<bool> {
        Ok(true)
    }

    /// Why this open store can no longer write, once its storage engine failed in a way it
    /// does not recover from in the process (sled after an IO error such as a full disk):
    /// a long-running process should stop, and a new one opens the store once the cause is
    /// fixed. `None` while it works, and always for a backend that recovers by itself.
    fn broken(&self) -> Option<String> {
        None
    }
}

/// Key-value space for derived data; never part of the audit trail.
pub trait Cache: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    fn remove_prefix(&self, prefix: &[u8]) -> Result<()>;
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>>;
    /// At most `limit` entries whose key starts with `prefix`, from the key `from` on (`from`
    /// itself included), in key order.
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Writes `puts` and removes `removes`, all or none.
    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()>;
}
