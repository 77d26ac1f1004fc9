//! The PostgreSQL schema: its numbered migrations, applied under a lock, and the check of the head row against the last record at open.

use super::*;

/// The schema, one step per entry; each runs once, in order, in the transaction that
/// records it in `schema_version`.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[(
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

/// Applies the migrations this schema lacks, one process at a time; refuses a schema that a
/// newer accord has migrated further than this one knows.
pub(super) async fn migrate(
    c: &mut tokio_postgres::Client,
    key: i64,
) -> std::result::Result<(), String> {
    let e = |e: tokio_postgres::Error| explain(&e);
    let tx = c.transaction().await.map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
        .await
        .map_err(e)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(e)?
        .get(0);
    if !exists {
        tx.batch_execute(
            "CREATE TABLE schema_version (
                 version    INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(e)?;
    }
    let current: i32 = tx
        .query_one("SELECT COALESCE(max(version), 0) FROM schema_version", &[])
        .await
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
            .await
            .map_err(|err| format!("migration {version}: {}", explain(&err)))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(e)?;
    }
    tx.commit().await.map_err(e)
}

/// Reads the head and checks it against the last record, as the sled store does on open.
/// One statement, so one snapshot: another process appending meanwhile cannot make them
/// disagree.
pub(super) async fn check_head(c: &tokio_postgres::Client, at: &str) -> Result<Head> {
    let row = c
        .query_one(
            "SELECT h.seq, h.hash, h.recorded_at, (SELECT max(seq) FROM events), e.record \
             FROM head h LEFT JOIN events e ON e.seq = h.seq",
            &[],
        )
        .await
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
