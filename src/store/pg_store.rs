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

/// The schema, one step per entry; each runs once, in order, in the transaction that
/// records it in `schema_version`.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE events (
         seq      BIGINT PRIMARY KEY CHECK (seq > 0),
         id       TEXT NOT NULL UNIQUE,
         stream   TEXT NOT NULL,
         position BIGINT NOT NULL CHECK (position > 0),
         record   BYTEA NOT NULL,
         UNIQUE (stream, position)
     );
     CREATE TABLE head (
         singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
         seq         BIGINT NOT NULL,
         hash        TEXT NOT NULL,
         recorded_at TEXT
     );
     INSERT INTO head (seq, hash, recorded_at)
         VALUES (0, '0000000000000000000000000000000000000000000000000000000000000000', NULL);
     CREATE TABLE cache (
         key   BYTEA PRIMARY KEY,
         value BYTEA NOT NULL
     );",
)];

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

/// Applies the migrations this schema lacks, one process at a time; refuses a schema that a
/// newer accord has migrated further than this one knows.
fn migrate(c: &mut postgres::Client, key: i64) -> std::result::Result<(), String> {
    let e = |e: postgres::Error| explain(&e);
    let mut tx = c.transaction().map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
        .map_err(e)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(e)?
        .get(0);
    if !exists {
        tx.batch_execute(
            "CREATE TABLE schema_version (
                 version    INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .map_err(e)?;
    }
    let current: i32 = tx
        .query_one("SELECT COALESCE(max(version), 0) FROM schema_version", &[])
        .map_err(e)?
        .get(0);
    let latest = MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0);
    if current > latest {
        return Err(format!(
            "the schema is at version {current}, newer than this accord knows ({latest}); \
             run a newer accord"
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)
            .map_err(|err| format!("migration {version}: {}", explain(&err)))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .map_err(e)?;
    }
    tx.commit().map_err(e)
}

/// Reads the head and checks it against the last record, as the sled store does on open.
/// One statement, so one snapshot: another process appending meanwhile cannot make them
/// disagree.
fn check_head(c: &mut postgres::Client, at: &str) -> Result<Head> {
    let row = c
        .query_one(
            "SELECT h.seq, h.hash, h.recorded_at, (SELECT max(seq) FROM events), e.record \
             FROM head h LEFT JOIN events e ON e.seq = h.seq",
            &[],
        )
        .map_err(|e| StoreError::Io(format!("{at}: reading the head: {}", explain(&e))))?;
    let head = Head {
        seq: row.get::<_, i64>(0) as u64,
        hash: row.get(1),
        recorded_at: row.get(2),
    };
    let last_seq: Option<i64> = row.get(3);
    let corrupt = |at: String, reason: String| StoreError::Corrupt { at, reason };
    match (last_seq, row.get::<_, Option<&[u8]>>(4)) {
        (None, _) if head.seq == 0 => Ok(head),
        (Some(last), Some(bytes)) if last as u64 == head.seq => {
            let last = decode(last, bytes)?;
            if last.hash != head.hash || last.compute_hash() != last.hash {
                return Err(corrupt(
                    format!("seq {}", last.seq),
                    format!(
                        "the head says hash {}, the last record does not match",
                        head.hash
                    ),
                ));
            }
            Ok(head)
        }
        (last, _) => Err(corrupt(
            "head".into(),
            format!(
                "the head says seq {}, the last record is {}",
                head.seq,
                last.map_or("absent (the log is empty)".to_string(), |s| format!(
                    "seq {s}"
                ))
            ),
        )),
    }
}

/// Starts the thread that turns other processes' `NOTIFY`s into watch updates. It stops
/// soon after the store is dropped.
fn spawn_listener(config: postgres::Config, channel: String, shared: Arc<Shared>) -> Result<()> {
    std::thread::Builder::new()
        .name("accord-pg-listen".into())
        .spawn(move || {
            let mut delay = Duration::from_millis(100);
            let mut failing = false;
            while !shared.stop.load(Ordering::Relaxed) {
                match listen(&config, &channel, &shared, &mut failing) {
                    Ok(()) => return,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(
                                "{}: listening for new events failed ({e}); reconnecting",
                                shared.at
                            );
                            failing = true;
                        } else {
                            delay = (delay * 2).min(Duration::from_secs(2));
                        }
                        let until = Instant::now() + delay;
                        while Instant::now() < until && !shared.stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| StoreError::Io(format!("cannot start the listener thread: {e}")))
}

/// One connection's worth of listening: returns `Ok` when told to stop, `Err` when the
/// connection fails.
fn listen(
    config: &postgres::Config,
    channel: &str,
    shared: &Shared,
    failing: &mut bool,
) -> std::result::Result<(), String> {
    let mut client = config.connect(NoTls).map_err(|e| explain(&e))?;
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .map_err(|e| explain(&e))?;
    // Whatever was committed while this thread was not listening.
    let head = read_head(&mut client).map_err(|e| explain(&e))?;
    shared.announce(&head);
    if *failing {
        tracing::info!("{}: listening for new events again", shared.at);
        *failing = false;
    }
    let mut polled = Instant::now();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        {
            let mut notes = client.notifications();
            let mut it = notes.timeout_iter(Duration::from_millis(250));
            while let Some(n) = it.next().map_err(|e| explain(&e))? {
                if let Ok(seq) = n.payload().parse::<u64>() {
                    shared.announce_seq(seq);
                }
            }
        }
        if client.is_closed() {
            return Err("the connection closed".into());
        }
        // A cheap poll now and then finds a connection that died silently.
        if polled.elapsed() > Duration::from_secs(5) {
            let head = read_head(&mut client).map_err(|e| explain(&e))?;
            shared.announce(&head);
            polled = Instant::now();
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// The log as the rules see it, inside the write transaction (under the append lock).
struct TxLookup<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    shared: &'a Shared,
    /// Seqs of the ids asked about up front (`None` before `prefetch`).
    ids: Option<HashMap<String, u64>>,
    streams: HashMap<String, u64>,
}

impl<'a, 'b> TxLookup<'a, 'b> {
    fn new(tx: &'a mut Transaction<'b>, shared: &'a Shared) -> Self {
        TxLookup {
            tx,
            shared,
            ids: None,
            streams: HashMap::new(),
        }
    }
}

impl rules::Lookup for TxLookup<'_, '_> {
    fn prefetch(&mut self, ids: &[&str], streams: &[&str]) -> Result<()> {
        let rows = self
            .tx
            .query(
                "SELECT id, seq FROM events WHERE id = ANY($1)",
                &[&ids.to_vec()],
            )
            .map_err(self.shared.err("looking up event ids"))?;
        self.ids = Some(
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                .collect(),
        );
        let rows = self
            .tx
            .query(
                "SELECT stream, max(position) FROM events WHERE stream = ANY($1) GROUP BY stream",
                &[&streams.to_vec()],
            )
            .map_err(self.shared.err("looking up stream positions"))?;
        self.streams = streams.iter().map(|s| (s.to_string(), 0)).collect();
        for r in rows {
            self.streams
                .insert(r.get::<_, String>(0), r.get::<_, i64>(1) as u64);
        }
        Ok(())
    }

    fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>> {
        if let Some(ids) = &self.ids {
            return Ok(ids.get(id).copied());
        }
        find_id(&mut *self.tx, self.shared, id)
    }

    fn stream_position(&mut self, stream: &str) -> Result<u64> {
        if let Some(p) = self.streams.get(stream) {
            return Ok(*p);
        }
        let row = self
            .tx
            .query_one(
                "SELECT COALESCE(max(position), 0) FROM events WHERE stream = $1",
                &[&stream],
            )
            .map_err(self.shared.err("reading a stream position"))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn record(&mut self, seq: u64) -> Result<Option<Envelope>> {
        get(&mut *self.tx, self.shared, seq)
    }

    fn corrections(&mut self, to: u64) -> Result<Vec<Envelope>> {
        self.tx
            .query(
                "SELECT seq, record FROM events WHERE stream = 'corrections' AND seq <= $1 ORDER BY seq",
                &[&sql_seq(to)],
            )
            .map_err(self.shared.err("reading corrections"))?
            .iter()
            .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
            .collect()
    }

    fn records(&mut self, from: u64, to: u64) -> Result<Vec<Envelope>> {
        self.tx
            .query(
                "SELECT seq, record FROM events WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
                &[&sql_seq(from), &sql_seq(to)],
            )
            .map_err(self.shared.err("reading records"))?
            .iter()
            .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
            .collect()
    }
}

fn find_id<C: GenericClient>(c: &mut C, shared: &Shared, id: &str) -> Result<Option<u64>> {
    Ok(c.query_opt("SELECT seq FROM events WHERE id = $1", &[&id])
        .map_err(shared.err("looking up an event id"))?
        .map(|r| r.get::<_, i64>(0) as u64))
}

fn get<C: GenericClient>(c: &mut C, shared: &Shared, seq: u64) -> Result<Option<Envelope>> {
    c.query_opt(
        "SELECT seq, record FROM events WHERE seq = $1",
        &[&sql_seq(seq)],
    )
    .map_err(shared.err(&format!("reading seq {seq}")))?
    .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
    .transpose()
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

/// The `cache` table.
struct PgCache {
    pool: Pool,
    shared: Arc<Shared>,
}

/// The smallest key above every key that starts with `prefix` (`None`: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Cache for PgCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        offload(|| {
            Ok(conn(&self.pool, &self.shared)?
                .query_opt("SELECT value FROM cache WHERE key = $1", &[&key])
                .map_err(self.shared.err("reading the cache"))?
                .map(|r| r.get(0)))
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        offload(|| {
            conn(&self.pool, &self.shared)?
                .execute(
                    "INSERT INTO cache (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&key, &value],
                )
                .map_err(self.shared.err("writing the cache"))
                .map(|_| ())
        })
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        offload(|| {
            conn(&self.pool, &self.shared)?
                .execute(
                    "DELETE FROM cache WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2)",
                    &[&prefix, &prefix_end(prefix)],
                )
                .map_err(self.shared.err("clearing the cache"))
                .map(|_| ())
        })
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        offload(|| {
            Ok(conn(&self.pool, &self.shared)?
                .query(
                    "SELECT key FROM cache WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) \
                     ORDER BY key",
                    &[&prefix, &prefix_end(prefix)],
                )
                .map_err(self.shared.err("listing the cache"))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let from = from.max(prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        offload(|| {
            Ok(conn(&self.pool, &self.shared)?
                .query(
                    "SELECT key, value FROM cache WHERE key >= $1 \
                     AND ($2::bytea IS NULL OR key < $2) ORDER BY key LIMIT $3",
                    &[&from, &prefix_end(prefix), &limit],
                )
                .map_err(self.shared.err("reading the cache"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()> {
        offload(|| {
            let mut c = conn(&self.pool, &self.shared)?;
            let err = self.shared.err("writing the cache");
            let mut tx = c.transaction().map_err(&err)?;
            if !removes.is_empty() {
                tx.execute("DELETE FROM cache WHERE key = ANY($1)", &[&removes])
                    .map_err(&err)?;
            }
            // One statement per thousand entries, each key once (the last value wins).
            let mut last: std::collections::HashMap<&[u8], &[u8]> = Default::default();
            for (k, v) in puts {
                last.insert(k, v);
            }
            let entries: Vec<(&[u8], &[u8])> = last.into_iter().collect();
            for part in entries.chunks(1000) {
                let keys: Vec<&[u8]> = part.iter().map(|(k, _)| *k).collect();
                let values: Vec<&[u8]> = part.iter().map(|(_, v)| *v).collect();
                tx.execute(
                    "INSERT INTO cache (key, value) SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&keys, &values],
                )
                .map_err(&err)?;
            }
            tx.commit().map_err(&err)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn describes_without_password() {
        let d = describe_url("postgres://u:hunter2@db.example:5433/accord");
        assert_eq!(d, "PostgreSQL database `accord` on db.example:5433");
    }
}
