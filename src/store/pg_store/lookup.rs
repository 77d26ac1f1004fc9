//! The log as the record-time rules see it inside the write transaction: ids and stream
//! positions, asked up front in one query each.

use super::reads::{find_id, get, records};
use super::runtime::answer;
use super::*;

/// The log as the rules see it, inside the write transaction (under the append lock). The
/// rules are synchronous: each question is answered from the store's runtime while they run
/// under `block_in_place`.
pub(super) struct TxLookup<'a> {
    tx: &'a deadpool_postgres::Transaction<'a>,
    shared: &'a Shared,
    /// Seqs of the ids asked about up front (`None` before `prefetch`).
    ids: Option<HashMap<String, u64>>,
    streams: HashMap<String, u64>,
}

impl<'a> TxLookup<'a> {
    pub(super) fn new(tx: &'a deadpool_postgres::Transaction<'a>, shared: &'a Shared) -> Self {
        TxLookup {
            tx,
            shared,
            ids: None,
            streams: HashMap::new(),
        }
    }
}

impl rules::Lookup for TxLookup<'_> {
    fn prefetch(&mut self, ids: &[&str], streams: &[&str]) -> Result<()> {
        let rows = answer(self.tx.query(
            "SELECT id, seq FROM events WHERE id = ANY($1)",
            &[&ids.to_vec()],
        ))
        .map_err(self.shared.err("looking up event ids"))?;
        self.ids = Some(
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                .collect(),
        );
        let rows = answer(self.tx.query(
            "SELECT stream, max(position) FROM events WHERE stream = ANY($1) GROUP BY stream",
            &[&streams.to_vec()],
        ))
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
        answer(find_id(&**self.tx, self.shared, id))
    }

    fn stream_position(&mut self, stream: &str) -> Result<u64> {
        if let Some(p) = self.streams.get(stream) {
            return Ok(*p);
        }
        let row = answer(self.tx.query_one(
            "SELECT COALESCE(max(position), 0) FROM events WHERE stream = $1",
            &[&stream],
        ))
        .map_err(self.shared.err("reading a stream position"))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn record(&mut self, seq: u64) -> Result<Option<Envelope>> {
        answer(get(&**self.tx, self.shared, seq))
    }

    fn corrections(&mut self, to: u64) -> Result<Vec<Envelope>> {
        let rows = answer(self.tx.query(
            "SELECT seq, record FROM events WHERE stream = 'corrections' AND seq <= $1 ORDER BY seq",
            &[&sql_seq(to)],
        ))
        .map_err(self.shared.err("reading corrections"))?;
        records(&rows)
    }

    fn records(&mut self, from: u64, to: u64) -> Result<Vec<Envelope>> {
        let rows = answer(self.tx.query(
            "SELECT seq, record FROM events WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
            &[&sql_seq(from), &sql_seq(to)],
        ))
        .map_err(self.shared.err("reading records"))?;
        records(&rows)
    }

    fn stored_registry(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(answer(self.tx.query_opt(
            "SELECT value FROM cache WHERE key = $1",
            &[&rules::registry::KEY],
        ))
        .map_err(self.shared.err("reading the stored registry"))?
        .map(|r| r.get(0)))
    }

    /// Within a savepoint: a write that fails is rolled back to it, leaving the append's
    /// transaction usable; a savepoint that cannot be set or rolled back to fails the append.
    fn store_registry(&mut self, bytes: &[u8]) -> Result<()> {
        let err = self.shared.err("storing the registry");
        answer(self.tx.batch_execute("SAVEPOINT registry")).map_err(&err)?;
        let written = answer(self.tx.execute(
            "INSERT INTO cache (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&rules::registry::KEY, &bytes],
        ));
        match written {
            Ok(_) => answer(self.tx.batch_execute("RELEASE SAVEPOINT registry")).map_err(err),
            Err(e) => {
                tracing::warn!("the life-cycle registry could not be stored: {e}");
                answer(self.tx.batch_execute("ROLLBACK TO SAVEPOINT registry")).map_err(err)
            }
        }
    }
}
