//! cqrs-es peer: appends and replays benchmark events through the sqlite-es and postgres-es repositories.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{PersistedEventRepository, QueryReplay, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent, EventEnvelope, Query};
use postgres_es::PostgresEventRepository;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, PgConnection, PgPool, Row, SqlitePool};

/// One event as the benchmark has it: aggregate (stream) id, event type name, and JSON payload.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerEvent {
    pub stream: String,
    pub event_type: String,
    pub payload: Value,
}

/// How the events of one batch are handed to `persist`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// One `persist` call (one transaction) per aggregate present in the batch, in order of first
    /// appearance: the trait's contract, where a commit covers a single aggregate instance. A
    /// batch spanning n streams costs n transactions.
    PerAggregate,
    /// One `persist` call (one transaction) for the whole batch. sqlite-es and postgres-es 0.5
    /// insert each event under its own `aggregate_id` inside one transaction, so events of several
    /// aggregates commit together; `CqrsFramework` itself never issues such a call.
    PerBatch,
}

/// The read model rebuilt by the fold: events per event type and the last payload per stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadModel {
    pub counts: HashMap<String, usize>,
    pub last: HashMap<String, Value>,
}

impl ReadModel {
    /// Number of events folded into the model.
    pub fn folded(&self) -> usize {
        self.counts.values().sum()
    }
}

/// SQLite settings read back from a pool connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlitePragmas {
    /// `journal_mode` under `sqlite_es::default_sqlite_pool`.
    pub default_journal_mode: String,
    /// `synchronous` under `sqlite_es::default_sqlite_pool`.
    pub default_synchronous: String,
    /// `journal_mode` of the pool used by [`sqlite_append`] and [`sqlite_fold`].
    pub journal_mode: String,
    /// `synchronous` of the pool used by [`sqlite_append`] and [`sqlite_fold`].
    pub synchronous: String,
}

/// PostgreSQL server settings that decide when a commit is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresDurability {
    pub fsync: String,
    pub synchronous_commit: String,
    pub wal_sync_method: String,
}

/// The domain event stored by the peer. It serializes as `{"<event_type>": <payload>}`, the
/// externally tagged form a `#[derive(Serialize)]` event enum takes in cqrs-es.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerDomainEvent {
    pub event_type: String,
    pub payload: Value,
}

impl Serialize for PeerDomainEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.event_type, &self.payload)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for PeerDomainEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TaggedVisitor;

        impl<'de> Visitor<'de> for TaggedVisitor {
            type Value = PeerDomainEvent;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map with exactly one entry {event_type: payload}")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let (event_type, payload) = map
                    .next_entry::<String, Value>()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(2, &self));
                }
                Ok(PeerDomainEvent {
                    event_type,
                    payload,
                })
            }
        }

        deserializer.deserialize_map(TaggedVisitor)
    }
}

impl DomainEvent for PeerDomainEvent {
    fn event_type(&self) -> String {
        self.event_type.clone()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

/// The aggregate type all peer events belong to (`aggregate_type = 'peer'`). A command is the
/// event it emits; applying an event leaves the aggregate unchanged.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PeerAggregate;

impl Aggregate for PeerAggregate {
    const TYPE: &'static str = "peer";
    type Command = PeerDomainEvent;
    type Event = PeerDomainEvent;
    type Error = Infallible;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _service: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        sink.write(command, self).await;
        Ok(())
    }

    fn apply(&mut self, _event: Self::Event) {}
}

/// The `Query` that folds replayed events into a [`ReadModel`].
struct FoldQuery {
    model: Arc<Mutex<ReadModel>>,
}

#[async_trait::async_trait]
impl Query<PeerAggregate> for FoldQuery {
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<PeerAggregate>]) {
        let mut model = self.model.lock().unwrap_or_else(|e| e.into_inner());
        for event in events {
            *model
                .counts
                .entry(event.payload.event_type.clone())
                .or_default() += 1;
            model
                .last
                .insert(aggregate_id.to_string(), event.payload.payload.clone());
        }
    }
}

/// The `events` and `snapshots` tables of sqlite-es (its `migrations/20221114171845_init.sql`).
const SQLITE_DDL: &str = "
CREATE TABLE IF NOT EXISTS events
(
  aggregate_type text                          NOT NULL,
  aggregate_id   text                          NOT NULL,
  sequence       integer CHECK (sequence >= 0) NOT NULL,
  event_type     text                          NOT NULL,
  event_version  text                          NOT NULL,
  payload        text                          NOT NULL,
  metadata       text                          NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;
CREATE TABLE IF NOT EXISTS snapshots
(
  aggregate_type   text                                  NOT NULL,
  aggregate_id     text                                  NOT NULL,
  last_sequence    integer CHECK (last_sequence >= 0)    NOT NULL,
  current_snapshot integer CHECK (current_snapshot >= 0) NOT NULL,
  payload          text                                  NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
) STRICT;
";

/// The `events` and `snapshots` tables of postgres-es (its `db/init.sql`).
const POSTGRES_DDL: &str = "
CREATE TABLE IF NOT EXISTS events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE TABLE IF NOT EXISTS snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
";

/// Last stored sequence per aggregate of type `peer`.
const LAST_SEQUENCES: &str =
    "SELECT aggregate_id, MAX(sequence) FROM events WHERE aggregate_type = $1 GROUP BY aggregate_id";

const POOL_CONNECTIONS: u32 = 10;

/// Durable append of `events` into the SQLite file at `path` (created with the sqlite-es schema
/// if missing) through `SqliteEventRepository::persist`, `batch` events per batch, committed as
/// `commit` says. Each event goes the way `PersistedEventStore::commit` sends it: an
/// `EventEnvelope` serialized with `SerializedEvent::try_from`, persisted with no snapshot.
/// Sequence numbers continue from what the file already holds. Returns events per second, timed
/// from the first envelope to the last commit.
///
/// Durability: `sqlite_es::default_sqlite_pool` opens WAL with `synchronous = NORMAL` (read back
/// as `journal_mode = wal`, `synchronous = 1`), which does not fsync at commit. This pool keeps
/// its other options (WAL, foreign keys on, 10 connections) and sets `synchronous = FULL` (read
/// back as `wal` / `2`), so each transaction's WAL frames are fsynced before `persist` returns.
/// [`sqlite_pragmas`] reads both settings back.
pub async fn sqlite_append(
    path: &Path,
    events: &[PeerEvent],
    batch: usize,
    commit: Commit,
) -> anyhow::Result<f64> {
    let pool = open_sqlite(path).await?;
    let last = last_sequences_sqlite(&pool).await?;
    let repo = SqliteEventRepository::new(pool.clone());
    let rate = append_with(&repo, events, batch, commit, last).await;
    pool.close().await;
    rate
}

/// Durable append of `events` into the PostgreSQL schema `schema` (created with the postgres-es
/// tables if missing, selected through the connections' `search_path`) at `url` through
/// `PostgresEventRepository::persist`, `batch` events per batch, committed as `commit` says, in
/// the same envelope-serialize-persist steps as [`sqlite_append`]. Sequence numbers continue from
/// what the schema already holds. Returns events per second, timed from the first envelope to
/// the last commit. Durability is the server's; [`postgres_durability`] reports it.
pub async fn postgres_append(
    url: &str,
    schema: &str,
    events: &[PeerEvent],
    batch: usize,
    commit: Commit,
) -> anyhow::Result<f64> {
    let pool = open_postgres(url, schema).await?;
    let last = last_sequences_postgres(&pool).await?;
    let repo = PostgresEventRepository::new(pool.clone());
    let rate = append_with(&repo, events, batch, commit, last).await;
    pool.close().await;
    rate
}

/// Replays every stored event of the SQLite file at `path` through
/// `QueryReplay::replay_all` (which reads `stream_all_events`, ordered by sequence, and
/// deserializes each row into an `EventEnvelope`) into a [`ReadModel`]. Returns events per second and the number of
/// events folded.
pub async fn sqlite_fold(path: &Path) -> anyhow::Result<(f64, usize)> {
    let (rate, model) = sqlite_fold_model(path).await?;
    Ok((rate, model.folded()))
}

/// Replays every stored event of the PostgreSQL schema `schema` at `url` through
/// `QueryReplay::replay_all` into a [`ReadModel`]. Returns events per second and the number of
/// events folded.
pub async fn postgres_fold(url: &str, schema: &str) -> anyhow::Result<(f64, usize)> {
    let (rate, model) = postgres_fold_model(url, schema).await?;
    Ok((rate, model.folded()))
}

/// As [`sqlite_fold`], returning the read model itself.
pub async fn sqlite_fold_model(path: &Path) -> anyhow::Result<(f64, ReadModel)> {
    let pool = open_sqlite(path).await?;
    let folded = fold_with(SqliteEventRepository::new(pool.clone())).await;
    pool.close().await;
    folded
}

/// As [`postgres_fold`], returning the read model itself.
pub async fn postgres_fold_model(url: &str, schema: &str) -> anyhow::Result<(f64, ReadModel)> {
    let pool = open_postgres(url, schema).await?;
    let folded = fold_with(PostgresEventRepository::new(pool.clone())).await;
    pool.close().await;
    folded
}

/// `journal_mode` and `synchronous` of the SQLite file at `path`, both as
/// `sqlite_es::default_sqlite_pool` leaves them and as the pool of this module sets them.
pub async fn sqlite_pragmas(path: &Path) -> anyhow::Result<SqlitePragmas> {
    let default_pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlite_default_options(path))
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let (default_journal_mode, default_synchronous) = read_pragmas(&default_pool).await?;
    default_pool.close().await;
    let pool = open_sqlite(path).await?;
    let (journal_mode, synchronous) = read_pragmas(&pool).await?;
    pool.close().await;
    Ok(SqlitePragmas {
        default_journal_mode,
        default_synchronous,
        journal_mode,
        synchronous,
    })
}

/// `fsync`, `synchronous_commit` and `wal_sync_method` of the server at `url`; with `fsync = on`
/// and `synchronous_commit = on` a commit is acknowledged after its WAL is flushed.
pub async fn postgres_durability(url: &str) -> anyhow::Result<PostgresDurability> {
    let mut conn = PgConnection::connect_with(&PgConnectOptions::from_str(url)?).await?;
    let durability = PostgresDurability {
        fsync: show_setting(&mut conn, "fsync").await?,
        synchronous_commit: show_setting(&mut conn, "synchronous_commit").await?,
        wal_sync_method: show_setting(&mut conn, "wal_sync_method").await?,
    };
    conn.close().await?;
    Ok(durability)
}

async fn show_setting(conn: &mut PgConnection, name: &str) -> anyhow::Result<String> {
    let value: String = sqlx::query_scalar(&format!("SHOW {name}"))
        .fetch_one(conn)
        .await?;
    Ok(value)
}

/// The connect options of `sqlite_es::default_sqlite_pool` for the file at `path`.
fn sqlite_default_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
}

/// Opens the SQLite pool used for appends and folds and creates the tables if missing.
async fn open_sqlite(path: &Path) -> anyhow::Result<SqlitePool> {
    let options = sqlite_default_options(path).synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    sqlx::raw_sql(SQLITE_DDL).execute(&pool).await?;
    Ok(pool)
}

async fn read_pragmas(pool: &SqlitePool) -> anyhow::Result<(String, String)> {
    let mut conn = pool.acquire().await?;
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await?;
    let synchronous = match synchronous {
        0 => "OFF".to_string(),
        1 => "NORMAL".to_string(),
        2 => "FULL".to_string(),
        3 => "EXTRA".to_string(),
        other => other.to_string(),
    };
    Ok((journal_mode, synchronous))
}

/// Opens a pool whose connections use `schema` as their only `search_path`, creating the schema
/// and the tables if missing. `schema` must be a lowercase SQL identifier.
async fn open_postgres(url: &str, schema: &str) -> anyhow::Result<PgPool> {
    ensure!(
        !schema.is_empty()
            && !schema.starts_with(|c: char| c.is_ascii_digit())
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "schema name {schema:?} must match [a-z_][a-z0-9_]*"
    );
    let options = PgConnectOptions::from_str(url).with_context(|| format!("parsing {url}"))?;
    let mut conn = PgConnection::connect_with(&options).await?;
    sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .connect_with(options.options([("search_path", schema)]))
        .await?;
    sqlx::raw_sql(POSTGRES_DDL).execute(&pool).await?;
    Ok(pool)
}

async fn last_sequences_sqlite(pool: &SqlitePool) -> anyhow::Result<HashMap<String, usize>> {
    let rows = sqlx::query(LAST_SEQUENCES)
        .bind(PeerAggregate::TYPE)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, usize::try_from(row.try_get::<i64, _>(1)?)?)))
        .collect()
}

async fn last_sequences_postgres(pool: &PgPool) -> anyhow::Result<HashMap<String, usize>> {
    let rows = sqlx::query(LAST_SEQUENCES)
        .bind(PeerAggregate::TYPE)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, usize::try_from(row.try_get::<i64, _>(1)?)?)))
        .collect()
}

/// Appends `events` in batches of `batch` through `repo.persist`, numbering each aggregate's
/// events from its entry in `last` on, and returns events per second.
async fn append_with<R: PersistedEventRepository>(
    repo: &R,
    events: &[PeerEvent],
    batch: usize,
    commit: Commit,
    mut last: HashMap<String, usize>,
) -> anyhow::Result<f64> {
    ensure!(batch > 0, "batch must be at least 1");
    let start = Instant::now();
    for chunk in events.chunks(batch) {
        let mut serialized = Vec::with_capacity(chunk.len());
        for event in chunk {
            let sequence = last.entry(event.stream.clone()).or_default();
            *sequence += 1;
            let envelope = EventEnvelope::<PeerAggregate> {
                aggregate_id: event.stream.clone(),
                sequence: *sequence,
                payload: PeerDomainEvent {
                    event_type: event.event_type.clone(),
                    payload: event.payload.clone(),
                },
                metadata: HashMap::new(),
            };
            serialized.push(SerializedEvent::try_from(&envelope)?);
        }
        match commit {
            Commit::PerBatch => repo.persist::<PeerAggregate>(&serialized, None).await?,
            Commit::PerAggregate => {
                for group in group_by_aggregate(serialized) {
                    repo.persist::<PeerAggregate>(&group, None).await?;
                }
            }
        }
    }
    Ok(rate(events.len(), start))
}

/// Splits `events` into one vector per aggregate, in order of first appearance, keeping the
/// order of events within each aggregate.
fn group_by_aggregate(events: Vec<SerializedEvent>) -> Vec<Vec<SerializedEvent>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<SerializedEvent>> = Vec::new();
    for event in events {
        let next = groups.len();
        let slot = *index.entry(event.aggregate_id.clone()).or_insert(next);
        if slot == next {
            groups.push(Vec::new());
        }
        groups[slot].push(event);
    }
    groups
}

/// Replays all `peer` events of `repo` into a fresh [`ReadModel`] and returns events per second
/// with the model. Any event that fails to load or deserialize is an error.
async fn fold_with<R: PersistedEventRepository>(repo: R) -> anyhow::Result<(f64, ReadModel)> {
    let model = Arc::new(Mutex::new(ReadModel::default()));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let start = Instant::now();
    let mut replay = QueryReplay::new(
        repo,
        FoldQuery {
            model: Arc::clone(&model),
        },
    );
    let sink = Arc::clone(&errors);
    replay.use_error_handler(Box::new(move |error| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(error.to_string());
    }));
    replay.replay_all().await?;
    drop(replay);
    let elapsed = start.elapsed();
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(first) = errors.first() {
        bail!("{} events failed to replay, first: {first}", errors.len());
    }
    let model = std::mem::take(&mut *model.lock().unwrap_or_else(|e| e.into_inner()));
    let folded = model.folded();
    Ok((folded as f64 / elapsed.as_secs_f64().max(1e-9), model))
}

fn rate(count: usize, start: Instant) -> f64 {
    count as f64 / start.elapsed().as_secs_f64().max(1e-9)
}
