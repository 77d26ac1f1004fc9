//! The log as the record-time rules see it inside the write transaction: ids and stream positions, asked up front in one query each.

use super::*;

/// The log as the rules see it, inside the write transaction (under the append lock).
pub(super) struct TxLookup<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    shared: &'a Shared,
    /// Seqs of the ids asked about up front (`None` before `prefetch`).
    ids: Option<HashMap<String, u64>>,
    streams: HashMap<String, u64>,
}

impl<'a, 'b> TxLookup<'a, 'b> {
    pub(super) fn new(tx: &'a mut Transaction<'b>, shared: &'a Shared) -> Self {
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

pub(super) fn find_id<C: GenericClient>(
    c: &mut C,
    shared: &Shared,
    id: &str,
) -> Result<Option<u64>> {
    Ok(c.query_opt("SELECT seq FROM events WHERE id = $1", &[&id])
        .map_err(shared.err("looking up an event id"))?
        .map(|r| r.get::<_, i64>(0) as u64))
}

pub(super) fn get<C: GenericClient>(
    c: &mut C,
    shared: &Shared,
    seq: u64,
) -> Result<Option<Envelope>> {
    c.query_opt(
        "SELECT seq, record FROM events WHERE seq = $1",
        &[&sql_seq(seq)],
    )
    .map_err(shared.err(&format!("reading seq {seq}")))?
    .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
    .transpose()
}
