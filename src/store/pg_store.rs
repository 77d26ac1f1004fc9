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
//! appends and by a task that `LISTEN`s on the schema's channel (and reconnects after a
//! restart of the server, then re-reads the head); `read_from` catches up.
//!
//! **The client is asynchronous**: `tokio-postgres` behind a `deadpool-postgres` pool of
//! eight connections that checks each before handing it out, so a restarted server costs one
//! failed check, not an error. The connections live on a small runtime of the store's own
//! ([`runtime::StoreRuntime`]). An async caller awaits the database ([`EventStore::append_async`],
//! [`EventStore::head_async`]): it holds no thread while the database answers or while it
//! waits for a free connection. A synchronous caller waits for the same work. The life-cycle
//! rules are synchronous (one `decide` for both backends): within a write transaction they run
//! under `block_in_place` on the store's runtime, never on the caller's.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::GenericClient;
use tokio_postgres::{IsolationLevel, NoTls};

use super::{rules, BoxFuture, Cache, EventStore, Head, Outcome, Result, StoreError};
use crate::envelope::{sha256_hex, Envelope};
use crate::input::Proposed;

type Pool = deadpool_postgres::Pool;
type Conn = deadpool_postgres::Object;

mod cache;
mod listen;
mod lookup;
mod reads;
mod runtime;
mod schema;
mod write;

use cache::PgCache;
use listen::listen_forever;
use lookup::TxLookup;
use runtime::{Runner, StoreRuntime, Work};
use schema::{check_head, migrate};

/// Events fetched per query by `read_from`.
const PAGE: i64 = 1000;
/// Events written per `INSERT`.
const INSERT_ROWS: usize = 2000;
/// Connections in the pool.
const POOL_SIZE: usize = 8;

/// Names a database for messages: database, host and port, never the password.
pub(crate) fn describe_url(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(c) => describe(&c),
        Err(_) => "PostgreSQL (an unreadable URL)".to_string(),
    }
}

fn describe(c: &tokio_postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let db = c.get_dbname().or(c.get_user()).unwrap_or("?");
    format!("PostgreSQL database `{db}` on {host}:{port}")
}

/// A database error as one line: the server's message and SQLSTATE when it sent one, else
/// the error and its causes (such as the refused connection).
fn explain(e: &tokio_postgres::Error) -> String {
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

/// What the store, its tasks and its cache share.
struct Shared {
    /// Where the store is, for messages.
    at: String,
    /// The last head read or written, served if the database cannot be asked.
    head: Mutex<Head>,
    durable: tokio::sync::watch::Sender<u64>,
    stop: AtomicBool,
}

impl Shared {
    fn err(&self, what: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
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

    /// The last head this store saw, for when the database cannot be asked.
    fn last_head(&self) -> Head {
        self.head.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the store's tasks work with.
struct Inner {
    instance: u64,
    pool: Pool,
    shared: Arc<Shared>,
    /// The advisory lock that serializes writers of this schema.
    append_lock: i64,
    /// The `LISTEN`/`NOTIFY` channel of this schema.
    channel: String,
    config: tokio_postgres::Config,
    /// The session advisory lock that makes one node of this schema the scheduler.
    scheduler_lock: i64,
    /// The session holding `scheduler_lock`, while this store holds it.
    lease: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

/// The PostgreSQL event store. Any number of processes may open the same schema.
pub struct PgStore {
    inner: Arc<Inner>,
    cache: PgCache,
    runner: Runner,
    /// Last, so that the connections end after everything that uses them.
    _runtime: StoreRuntime,
}

async fn read_head<C: GenericClient>(c: &C) -> std::result::Result<Head, tokio_postgres::Error> {
    let row = c
        .query_one("SELECT seq, hash, recorded_at FROM head", &[])
        .await?;
    Ok(Head {
        seq: row.get::<_, i64>(0) as u64,
        hash: row.get(1),
        recorded_at: row.get(2),
    })
}

/// Connects once, outside the pool, with the store's settings; the connection is driven by a
/// task of the current runtime.
async fn connect(config: &tokio_postgres::Config, at: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Io(format!("{at}: cannot connect: {}", explain(&e))))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl PgStore {
    /// Opens the database named by `url` (creating or upgrading the schema in its
    /// `search_path`), and checks that the head matches the last record.
    pub fn open(url: &str) -> Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Io(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("accord");
        }
        let at = describe(&config);
        let (runtime, runner) = StoreRuntime::new()?;
        let (schema, head) = runner.wait(Work::Read, {
            let (config, at) = (config.clone(), at.clone());
            async move {
                // One direct connection first: its error says why the server cannot be reached.
                let c = connect(&config, &at).await?;
                let err = |what: &'static str| {
                    let at = at.clone();
                    move |e: tokio_postgres::Error| {
                        StoreError::Io(format!("{at}: {what}: {}", explain(&e)))
                    }
                };
                let schema: Option<String> = c
                    .query_one("SELECT current_schema()", &[])
                    .await
                    .map_err(err("reading the current schema"))?
                    .get(0);
                let schema = schema.ok_or_else(|| {
                    StoreError::Io(format!(
                        "{at}: the search_path names no existing schema to keep the log in"
                    ))
                })?;
                let mut c = c;
                migrate(&mut c, lock_key(&schema, "migrate"))
                    .await
                    .map_err(|e| {
                        StoreError::Io(format!(
                            "{at}: applying the schema migrations in `{schema}`: {e}"
                        ))
                    })?;
                let head = check_head(&c, &at).await?;
                Ok((schema, head))
            }
        })?;
        let manager = deadpool_postgres::Manager::from_config(
            config.clone(),
            NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Io(format!("{at}: cannot make the connection pool: {e}")))?;
        let (durable, _) = tokio::sync::watch::channel(head.seq);
        let shared = Arc::new(Shared {
            at: at.clone(),
            head: Mutex::new(head),
            durable,
            stop: AtomicBool::new(false),
        });
        let channel = format!("accord_{}", &sha256_hex(schema.as_bytes())[..16]);
        runner.detach(listen_forever(
            config.clone(),
            channel.clone(),
            shared.clone(),
        ));
        let inner = Arc::new(Inner {
            instance: super::next_instance(),
            pool: pool.clone(),
            shared: shared.clone(),
            append_lock: lock_key(&schema, "append"),
            channel,
            config,
            scheduler_lock: lock_key(&schema, "scheduler"),
            lease: tokio::sync::Mutex::new(None),
        });
        Ok(PgStore {
            cache: PgCache {
                pool,
                shared,
                runner: runner.clone(),
            },
            inner,
            runner,
            _runtime: runtime,
        })
    }

    /// Runs `work` on the store's runtime with its shared parts, and waits for it.
    fn wait<T: Send + 'static, F>(
        &self,
        what: Work,
        work: impl FnOnce(Arc<Inner>) -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        self.runner.wait(what, work(self.inner.clone()))
    }

    fn page(&self, from: u64) -> Result<Vec<Envelope>> {
        self.wait(Work::Read, |inner| async move { inner.page(from).await })
    }
}

impl Inner {
    async fn conn(&self) -> Result<Conn> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Io(format!("{}: no connection: {e}", self.shared.at)))
    }

    /// The head as the database has it now; if the database cannot be reached, the last
    /// head this store saw (and a warning in the log).
    async fn head(self: Arc<Self>) -> Result<Head> {
        let read = async {
            read_head(&**self.conn().await?)
                .await
                .map_err(self.shared.err("reading the head"))
        };
        Ok(match read.await {
            Ok(h) => {
                self.shared.announce(&h);
                h
            }
            Err(e) => {
                tracing::warn!("{e}; using the last head seen");
                self.shared.last_head()
            }
        })
    }

    /// The lease is a session-level advisory lock on a connection of its own, outside the
    /// pool: it lasts while that session lives, and PostgreSQL frees it when the holder's
    /// process dies or its connection drops.
    async fn hold_scheduler_lease(self: Arc<Self>) -> Result<bool> {
        let mut lease = self.lease.lock().await;
        if let Some(client) = lease.as_ref() {
            let alive = tokio::time::timeout(Duration::from_secs(5), client.simple_query("")).await;
            if matches!(alive, Ok(Ok(_))) {
                return Ok(true);
            }
            tracing::warn!(at = %self.shared.at, "the scheduler lease's session was lost");
            *lease = None;
        }
        let client = connect(&self.config, &self.shared.at).await?;
        let held: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.scheduler_lock])
            .await
            .map_err(self.shared.err("asking for the scheduler lease"))?
            .get(0);
        if held {
            *lease = Some(client);
        }
        Ok(held)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.inner.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl EventStore for PgStore {
    fn append(&self, batch: Vec<Proposed>) -> Result<Vec<Outcome>> {
        self.wait(Work::Write, |inner| inner.append(batch))
    }

    fn append_async(
        self: Arc<Self>,
        batch: Vec<Proposed>,
    ) -> BoxFuture<'static, Result<Vec<Outcome>>> {
        let task = self
            .runner
            .spawn(Work::Write, self.inner.clone().append(batch));
        // The store (and its runtime) lives until the append is answered.
        Box::pin(async move {
            let _store = self;
            task.await
        })
    }

    fn hold_scheduler_lease(&self) -> Result<bool> {
        self.wait(Work::Read, Inner::hold_scheduler_lease)
    }

    fn import(&self, records: Vec<Envelope>) -> Result<()> {
        self.wait(Work::Write, |inner| inner.import(records))
    }

    fn head(&self) -> Head {
        self.wait(Work::Read, Inner::head)
            .unwrap_or_else(|_| self.inner.shared.last_head())
    }

    fn head_async(self: Arc<Self>) -> BoxFuture<'static, Head> {
        let read = self.runner.spawn(Work::Read, self.inner.clone().head());
        Box::pin(async move {
            let out = read.await;
            out.unwrap_or_else(|_| self.inner.shared.last_head())
        })
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
        self.wait(Work::Read, |inner| async move { inner.get(seq).await })
    }

    fn read_stream(&self, stream: &str) -> Result<Vec<Envelope>> {
        let stream = stream.to_string();
        self.wait(Work::Read, |inner| async move {
            inner.read_stream_page(&stream, 0, None).await
        })
    }

    fn read_stream_page(&self, stream: &str, since: u64, limit: usize) -> Result<Vec<Envelope>> {
        let stream = stream.to_string();
        self.wait(Work::Read, |inner| async move {
            inner.read_stream_page(&stream, since, Some(limit)).await
        })
    }

    fn stream_last(&self, stream: &str) -> Result<Option<Envelope>> {
        let stream = stream.to_string();
        self.wait(Work::Read, |inner| async move {
            inner.stream_last(&stream).await
        })
    }

    fn streams_last(&self, streams: &[String]) -> Result<Vec<Option<Envelope>>> {
        let streams = streams.to_vec();
        self.wait(Work::Read, |inner| async move {
            inner.streams_last(&streams).await
        })
    }

    fn find_id(&self, id: &str) -> Result<Option<u64>> {
        let id = id.to_string();
        self.wait(Work::Read, |inner| async move { inner.find_id(&id).await })
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.shared.durable.subscribe()
    }

    fn cache(&self) -> &dyn Cache {
        &self.cache
    }

    fn checkpoint(&self) -> Result<bool> {
        self.wait(Work::Write, Inner::checkpoint)
    }

    fn instance(&self) -> u64 {
        self.inner.instance
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
