//! The store's reads, as tasks of its runtime: pages of the log, one record, streams and
//! their last events, ids.

use super::*;

/// Decodes rows whose first column is the seq and whose second is the record.
pub(super) fn records(rows: &[tokio_postgres::Row]) -> Result<Vec<Envelope>> {
    rows.iter()
        .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
        .collect()
}

impl Inner {
    /// At most [`PAGE`] records from seq `from` on, in seq order.
    pub(super) async fn page(&self, from: u64) -> Result<Vec<Envelope>> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT seq, record FROM events WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&sql_seq(from), &PAGE],
            )
            .await
            .map_err(self.shared.err(&format!("reading events from seq {from}")))?;
        records(&rows)
    }

    pub(super) async fn get(&self, seq: u64) -> Result<Option<Envelope>> {
        get(&**self.conn().await?, &self.shared, seq).await
    }

    pub(super) async fn find_id(&self, id: &str) -> Result<Option<u64>> {
        find_id(&**self.conn().await?, &self.shared, id).await
    }

    /// The events of a stream with seq >= `since`, in position order; at most `limit`.
    pub(super) async fn read_stream_page(
        &self,
        stream: &str,
        since: u64,
        limit: Option<usize>,
    ) -> Result<Vec<Envelope>> {
        let limit = limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT seq, record FROM events WHERE stream = $1 AND seq >= $2
                 ORDER BY position LIMIT $3",
                &[&stream, &sql_seq(since), &limit],
            )
            .await
            .map_err(self.shared.err(&format!("reading stream `{stream}`")))?;
        records(&rows)
    }

    pub(super) async fn stream_last(&self, stream: &str) -> Result<Option<Envelope>> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT seq, record FROM events WHERE stream = $1
                 ORDER BY position DESC LIMIT 1",
                &[&stream],
            )
            .await
            .map_err(self.shared.err(&format!("reading stream `{stream}`")))?;
        row.map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
            .transpose()
    }

    pub(super) async fn streams_last(&self, streams: &[String]) -> Result<Vec<Option<Envelope>>> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT DISTINCT ON (stream) stream, seq, record FROM events
                 WHERE stream = ANY($1) ORDER BY stream, position DESC",
                &[&streams],
            )
            .await
            .map_err(self.shared.err("reading the last event of streams"))?;
        let mut last = HashMap::with_capacity(rows.len());
        for r in &rows {
            last.insert(
                r.get::<_, String>(0),
                decode(r.get(1), r.get::<_, &[u8]>(2))?,
            );
        }
        Ok(streams.iter().map(|s| last.get(s).cloned()).collect())
    }
}

pub(super) async fn find_id<C: GenericClient>(
    c: &C,
    shared: &Shared,
    id: &str,
) -> Result<Option<u64>> {
    Ok(c.query_opt("SELECT seq FROM events WHERE id = $1", &[&id])
        .await
        .map_err(shared.err("looking up an event id"))?
        .map(|r| r.get::<_, i64>(0) as u64))
}

pub(super) async fn get<C: GenericClient>(
    c: &C,
    shared: &Shared,
    seq: u64,
) -> Result<Option<Envelope>> {
    c.query_opt(
        "SELECT seq, record FROM events WHERE seq = $1",
        &[&sql_seq(seq)],
    )
    .await
    .map_err(shared.err(&format!("reading seq {seq}")))?
    .map(|r| decode(r.get(0), r.get::<_, &[u8]>(1)))
    .transpose()
}
