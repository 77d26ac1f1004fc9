//! The PostgreSQL backend: the event log, its head and the cache in one schema, shared by
//! any number of processes, with appends serialized in the database.
//!
//! Tables (created by the numbered migrations below, applied on open):
//!
//! | table | holds |
//! |---|---|
//! | `events(seq, id, stream, position, record)` | one row per event; `record` is the canonical JSON, byte for byte as hashed and exported |
//! | `head(seq, hash, recorded_at)` | one row: the end of the log (seq 0 and `ZERO_HASH` when empty) |
//! | `cache(key, value)` | projection snapshots: derived, droppable |
//! | `schema_version(version)` | the migrations applied |
//!
//! **Gapless order across processes.** Every append (and import) runs one READ COMMITTED
//! transaction that first takes a transaction-scoped advisory lock (one key per schema), then
//! reads the head row, assigns seq = head + 1, …, inserts, updates the head, sends
//! `NOTIFY` with the new head seq, and commits; the lock is released only after the commit
//! is visible. So writers follow one another: a transaction that sees head `n` runs after the
//! one that wrote `n` committed, and an event with seq `k` commits only after every event
//! with a smaller seq. A reader by seq therefore never sees seq `k` without every seq below
//! it, and never skips an event that commits late. The isolation level is set explicitly:
//! under REPEATABLE READ the snapshot would be taken before the lock is granted.
//!
//! **Durability.** The `COMMIT` (with `synchronous_commit` as the server sets it, on by
//! default) is the acknowledgement. A failed `COMMIT` is reported as `Unconfirmed`.
//!
//! **Waiting.** `subscribe` is a watch of the last durable seq, moved by this store's own
//! appends and by a background thread that `LISTEN`s on the schema's channel (and reconnects
//! after a restart of the server, then re-reads the head); `read_from` catches up.
//!
//! The client is the synchronous `postgres` crate behind an r2d2 pool that checks each
//! connection before handing it out, so a restarted server costs one failed check, not an
//! error. The crate drives its own small runtime; calls from inside a tokio runtime are moved
//! off it (see [`offload`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{GenericClient, IsolationLevel, NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use super::{rules, Cache, EventStore, Head, Outcome, Result, StoreError};
use crate::envelope::{sha256_hex, Envelope};
use crate::input::Proposed;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

mod cache;
mod listen;
mod lookup;
mod schema;

use cache::PgCache;
use listen::spawn_listener;
use lookup::{find_id, get, TxLookup};
use schema::{check_head, migrate};

/// Events fetched per query by `read_from`.
const PAGE: i64 = 1000;
/// Events written per `INSERT`.
const INSERT_ROWS: usize = 2000;

/// Runs blocking database work where blocking is allowed. The `postgres` crate blocks on a
/// runtime of its own, which tokio forbids on a thread that is running a runtime: on a
/// multi-threaded runtime the work runs under `block_in_place`, on a current-thread runtime
/// on a scoped thread; outside any runtime it runs here.
fn offload<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(h) => match h.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
            _ => std::thread::scope(|s| {
                s.spawn(f)
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }),
        },
    }
}

/// Names a database for messages: database, host and port, never the password.
pub(crate) fn describe_url(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(c) => describe(&c),
        Err(_) => "PostgreSQL (an unreadable URL)".to_string(),
    }
}

fn describe(c: &postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let db = c.get_dbname().or(c.get_user()).unwrap_or("?");
    format!("PostgreSQL database `{db}` on {host}:{port}")
}

/// A database error as one line: the server's message and SQLSTATE when it sent one, else
/// the error and its causes (such as the refused connection).
fn explain(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// A key for `pg_advisory_xact_lock`, distinct per schema and purpose.
fn lock_key(schema: &str, purpose: &str) -> i64 {
    let h = sha256_hex(format!("accord {purpose} {schema}").as_bytes());
    i64::from_str_radix(&h[..15], 16).expect("15 hex digits fit an i64")
}

/// A seq as PostgreSQL's BIGINT (seqs past `i64::MAX` do not exist).
fn sql_seq(seq: u64) -> i64 {
    seq.min(i64::MAX as u64) as i64
}

fn decode(seq: i64, bytes: &[u8]) -> Result<Envelope> {
    let corrupt = |reason: String| StoreError::Corrupt {
        at: format!("seq {seq}"),
        reason,
    };
    let env: Envelope = crate::domain::as_recorded(|| serde_json::from_slice(bytes))
        .map_err(|e| corrupt(format!("record is not a valid envelope: {e}")))?;
    if env.seq as i64 != seq {
        return Err(corrupt(format!("record carries seq {}", env.seq)));
    }
    Ok(env)
}

/// What the store and its listener thread share.
struct Shared {
    /// Where the store is, for messages.
    at: String,
    /// The last head read or written, served if the database cannot be asked.
    head: Mutex<Head>,
    durable: tokio::sync::watch::Sender<u64>,
    stop: AtomicBool,
}

impl Shared {
    fn err(&self, what: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
        let what = what.to_string();
        move |e| StoreError::Io(format!("{}: {what}: {}", self.at, explain(&e)))
    }

    fn announce_seq(&self, seq: u64) {
        self.durable.send_if_modified(|v| {
            if *v < seq {
                *v = seq;
                true
            } else {
                false
            }
        });
    }

    fn announce(&self, head: &Head) {
        {
            let mut h = self.head.lock().unwrap_or_else(|p| p.into_inner());
            if head.seq >= h.seq {
                *h = head.clone();
            }
        }
        self.announce_seq(head.seq);
    }
}

/// The PostgreSQL event store. Any number of processes may open the same schema.
pub struct PgStore {
    instance: u64,
    pool: Pool,
    shared: Arc<Shared>,
    /// The advisory lock that serializes writers of this schema.
    append_lock: i64,
    /// The `LISTEN`/`NOTIFY` channel of this schema.
    channel: String,
    cache: PgCache,
    config: postgres::Config,
    /// The session advisory lock that makes one node of this schema the scheduler.
    scheduler_lock: i64,
    /// The session holding `scheduler_lock`, while this store holds it.
    lease: Mutex<Option<postgres::Client>>,
}

fn read_head<C: GenericClient>(c: &mut C) -> std::result::Result<Head, postgres::Error> {
    let row = c.query_one("SELECT seq, hash, recorded_at FROM head", &[])?;
    Ok(Head {
        seq: row.get::<_, i64>(0) as u64,
        hash: row.get(1),
        recorded_at: row.get(2),
    })
}

impl PgStore {
    /// Opens the database named by `url` (creating or upgrading the schema in its
    /// `search_path`), and checks that the head matches the last record.
    pub fn open(url: &str) -> Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Io(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("accord");
        }
        let at = describe(&config);
        let (schema, head) = offload(|| -> Result<(String, Head)> {
            // One direct connection first: its error says why the server cannot be reached.
            let mut c = config
                .connect(NoTls)
                .map_err(|e| StoreError::Io(format!("{at}: cannot connect: {}", explain(&e))))?;
            let err = |what: &'static str| {
                let at = at.clone();
                move |e: postgres::Error| StoreError::Io(format!("{at}: {what}: {}", explain(&e)))
            };
            let schema: Option<String> = c
                .query_one("SELECT current_schema()", &[])
                .map_err(err("reading the current schema"))?
                .get(0);
            let schema = schema.ok_or_else(|| {
                StoreError::Io(format!(
                    "{at}: the search_path names no existing schema to keep the log in"
                ))
            })?;
            migrate(&mut c, lock_key(&schema, "migrate")).map_err(|e| {
                StoreError::Io(format!(
                    "{at}: applying the schema migrations in `{schema}`: {e}"
                ))
            })?;
            let head = check_head(&mut c, &at)?;
            Ok((schema, head))
        })?;
        let pool = offload(|| {
            r2d2::Pool::builder()
                .max_size(8)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(10))
                .test_on_check_out(true)
                .error_handler(Box::new(PoolErrors(at.clone())))
                .build(PostgresConnectionManager::new(config.clone(), NoTls))
        })
        .map_err(|e| StoreError::Io(format!("{at}: cannot connect: {e}")))?;
        let (durable, _) = tokio::sync::watch::channel(head.seq);
        let shared = Arc::new(Shared {
            at: at.clone(),
            head: Mutex::new(head),
            durable,
            stop: AtomicBool::new(false),
        });
        let channel = format!("accord_{}", &sha256_hex(schema.as_bytes())[..16]);
        spawn_listener(config.clone(), channel.clone(), shared.clone())?;
        Ok(PgStore {
            instance: super::next_instance(),
            cache: PgCache {
                pool: pool.clone(),
                shared: shared.clone(),
            },
            pool,
            shared,
            append_lock: lock_key(&schema, "append"),
            channel,
            config,
            scheduler_lock: lock_key(&schema, "scheduler"),
            lease: Mutex::new(None),
        })
    }

    fn conn(&self) -> Result<Conn> {
        conn(&self.pool, &self.shared)
    }

    /// One write transaction: lock, read the head, let `plan` say what to write, write it,
    /// move the head, notify, commit; returns the plan's answer and the records written.
    /// Nothing is written if `plan` fails.
    fn write<T>(
        &self,
        plan: impl FnOnce(&mut Transaction<'_>, &Head) -> Result<(T, Vec<Envelope>)>,
    ) -> Result<(T, Vec<Envelope>)> {
        let err = |what| self.shared.err(what);
        let mut c = self.conn()?;
        let mut tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(err("starting a write transaction"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self.append_lock])
            .map_err(err("taking the append lock"))?;
        let head = read_head(&mut tx).map_err(err("reading the head"))?;
        let (out, records) = plan(&mut tx, &head)?;
        let Some(last) = records.last() else {
            return Ok((out, records));
        };
        for rows in records.chunks(INSERT_ROWS) {
            let seqs: Vec<i64> = rows.iter().map(|r| sql_seq(r.seq)).collect();
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            let streams: Vec<&str> = rows.iter().map(|r| r.stream.as_str()).collect();
            let positions: Vec<i64> = rows.iter().map(|r| r.position as i64).collect();
            let bytes: Vec<Vec<u8>> = rows.iter().map(|r| r.to_canonical().into_bytes()).collect();
            tx.execute(
                "INSERT INTO events (seq, id, stream, position, record) \
                 SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::bytea[])",
                &[&seqs, &ids, &streams, &positions, &bytes],
            )
            .map_err(err("inserting events"))?;
        }
        let new_head = Head {
            seq: last.seq,
            hash: last.hash.clone(),
            recorded_at: Some(last.recorded_at.clone()),
        };
        tx.execute(
            "UPDATE head SET seq = $1, hash = $2, recorded_at = $3",
            &[
                &sql_seq(new_head.seq),
                &new_head.hash,
                &new_head.recorded_at,
            ],
        )
        .map_err(err("moving the head"))?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&self.channel, &new_head.seq.to_string()],
        )
        .map_err(err("notifying listeners"))?;
        tx.commit().map_err(|e| {
            StoreError::Unconfirmed(format!(
                "{}: COMMIT of seq {}..={} failed: {}",
                self.shared.at,
                records[0].seq,
                new_head.seq,
                explain(&e)
            ))
        })?;
        self.shared.announce(&new_head);
        Ok((out, records))
    }

    fn page(&self, from: u64) -> Result<Vec<Envelope>> {
        offload(|| {
            let rows = self
                .conn()?
                .query(
                    "SELECT seq, record FROM events WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    &[&sql_seq(from), &PAGE],
                )
                .map_err(self.shared.err(&format!("reading events from seq {from}")))?;
            rows.iter()
                .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
                .collect()
        })
    }
}

/// Reports connections the pool found broken (as after a server restart) and replaces.
#[derive(Debug)]
struct PoolErrors(String);

impl r2d2::HandleError<postgres::Error> for PoolErrors {
    fn handle_error(&self, e: postgres::Error) {
        tracing::warn!("{}: a pooled connection failed: {}", self.0, explain(&e));
    }
}

fn conn(pool: &Pool, shared: &Shared) -> Result<Conn> {
    pool.get()
        .map_err(|e| StoreError::Io(format!("{}: no connection: {e}", shared.at)))
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl EventStore for PgStore {
    fn append(&self, batch: Vec<Proposed>) -> Result<Vec<Outcome>> {
        offload(|| {
            let (places, records) = self.write(|tx, head| {
                let mut lookup = TxLookup::new(tx, &self.shared);
                let mut checked = rules::Rules::load(self.instance, head, &mut lookup)?;
                let (places, records) = rules::seal_batch(batch, head, &mut lookup, &mut checked)?;
                checked.kept(records.last());
                Ok((places, records))
            })?;
            Ok(rules::outcomes(places, records))
        })
    }

    /// The lease is a session-level advisory lock on a connection of its own, outside the pool:
    /// it lasts while that session lives, and PostgreSQL frees it when the holder's process
    /// dies or its connection drops.
    fn hold_scheduler_lease(&self) -> Result<bool> {
        offload(|| {
            let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(client) = lease.as_mut() {
                if client.is_valid(Duration::from_secs(5)).is_ok() {
                    return Ok(true);
                }
                tracing::warn!(at = %self.shared.at, "the scheduler lease's session was lost");
                *lease = None;
            }
            let mut client = self.config.connect(NoTls).map_err(|e| {
                StoreError::Io(format!(
                    "{}: cannot connect: {}",
                    self.shared.at,
                    explain(&e)
                ))
            })?;
            let held: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&self.scheduler_lock])
                .map_err(self.shared.err("asking for the scheduler lease"))?
                .get(0);
            if held {
                *lease = Some(client);
            }
            Ok(held)
        })
    }

    fn import(&self, records: Vec<Envelope>) -> Result<()> {
        offload(|| {
            self.write(move |tx, head| {
                rules::check_import(&records, head, &mut TxLookup::new(tx, &self.shared))?;
                Ok(((), records))
            })
            .map(|_| ())
        })
    }

    /// The head as the database has it now; if the database cannot be reached, the last
    /// head this store saw (and a warning in the log).
    fn head(&self) -> Head {
        let read =
            offload(|| read_head(&mut *self.conn()?).map_err(self.shared.err("reading the head")));
        match read {
            Ok(h) => {
                self.shared.announce(&h);
                h
            }
            Err(e) => {
                tracing::warn!("{e}; using the last head seen");
                self.shared
                    .head
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            }
        }
    }

    fn read_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<Envelope>> + '_> {
        Box::new(PgIter {
            store: self,
            next: from.max(1),
            pending: VecDeque::new(),
            done: false,
        })
    }

    fn get(&self, seq: u64) -> Result<Option<Envelope>> {
        offload(|| get(&mut *self.conn()?, &self.shared, seq))
    }

    fn read_stream(&self, stream: &str) -> Result<Vec<Envelope>> {
        offload(|| {
            let rows = self
                .conn()?
                .query(
                    "SELECT seq, record FROM events WHERE stream = $1 ORDER BY position",
                    &[&stream],
                )
                .map_err(self.shared.err(&format!("reading stream `{stream}`")))?;
            rows.iter()
                .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
                .collect()
        })
    }

    fn read_stream_page(&self, stream: &str, since: u64, limit: usize) -> Result<Vec<Envelope>> {
        let since = sql_seq(since);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        offload(|| {
            let rows = self
                .conn()?
                .query(
                    "SELECT seq, record FROM events WHERE stream = $1 AND seq >= $2
                     ORDER BY position LIMIT $3",
                    &[&stream, &since, &limit],
                )
                .map_err(self.shared.err(&format!("reading stream `{stream}`")))?;
            rows.iter()
                .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
                .collect()
        })
    }

    fn stream_last(&self, stream: &str) -> Result<Option<Envelope>> {
        offload(|| {
            let row = self
                .conn()?
                .query_opt(
                    "SELECT seq, record FROM events WHERE stream = $1
                     ORDER BY position DESC LIMIT 1",
                    &[&stream],
                )
                .map_err(self.shared.err(&format!("reading stream `{stream}`")))?;
            row.map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
                .transpose()
        })
    }

    fn streams_last(&self, streams: &[String]) -> Result<Vec<Option<Envelope>>> {
        offload(|| {
            let rows = self
                .conn()?
                .query(
                    "SELECT DISTINCT ON (stream) stream, seq, record FROM events
                     WHERE stream = ANY($1) ORDER BY stream, position DESC",
                    &[&streams],
                )
                .map_err(self.shared.err("reading the last event of streams"))?;
            let mut last = HashMap::with_capacity(rows.len());
            for r in &rows {
                last.insert(
                    r.get::<_, String>(0),
                    decode(r.get(1), r.get::<_, &[u8]>(2))?,
                );
            }
            Ok(streams.iter().map(|s| last.get(s).cloned()).collect())
        })
    }

    fn find_id(&self, id: &str) -> Result<Option<u64>> {
        offload(|| find_id(&mut *self.conn()?, &self.shared, id))
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.durable.subscribe()
    }

    fn cache(&self) -> &dyn Cache {
        &self.cache
    }

    fn instance(&self) -> u64 {
        self.instance
    }
}

/// Reads the log a page at a time, checking that seqs follow one another without a gap.
struct PgIter<'a> {
    store: &'a PgStore,
    next: u64,
    pending: VecDeque<Envelope>,
    done: bool,
}

impl Iterator for PgIter<'_> {
    type Item = Result<Envelope>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pending.is_empty() {
            if self.done {
                return None;
            }
            match self.store.page(self.next) {
                Ok(page) => {
                    self.done = (page.len() as i64) < PAGE;
                    self.pending.extend(page);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let env = self.pending.pop_front()?;
        if env.seq != self.next {
            self.done = true;
            self.pending.clear();
            return Some(Err(StoreError::Corrupt {
                at: format!("seq {}", self.next),
                reason: format!("missing: the next record is seq {}", env.seq),
            }));
        }
        self.next += 1;
        Some(Ok(env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_without_password() {
        let d = describe_url("postgres://u:hunter2@db.example:5433/accord");
        assert_eq!(d, "PostgreSQL database `accord` on db.example:5433");
    }
}
