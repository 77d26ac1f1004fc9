//! The write transaction every append and import runs: the append lock, the head, the
//! life-cycle rules, the rows, the new head and its notification, one commit; and the one a
//! stopping node stores its life-cycle registry in.

use super::*;

impl Inner {
    /// A write transaction holding the append lock, and the head as it stands in it.
    async fn locked<'c>(
        &self,
        c: &'c mut Conn,
    ) -> Result<(deadpool_postgres::Transaction<'c>, Head)> {
        let err = |what| self.shared.err(what);
        let tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(err("starting a write transaction"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self.append_lock])
            .await
            .map_err(err("taking the append lock"))?;
        let head = read_head(&*tx).await.map_err(err("reading the head"))?;
        Ok((tx, head))
    }

    /// One write transaction: lock, read the head, let `plan` say what to write (under
    /// `block_in_place`: the rules are synchronous, and ask the transaction their questions
    /// through [`TxLookup`]), write it, move the head, notify, commit; returns the plan's
    /// answer and the records written. Nothing is written if `plan` fails. The plan gives each
    /// record's canonical JSON when it has written it already.
    pub(super) async fn write<T>(
        &self,
        plan: impl FnOnce(&mut TxLookup<'_>, &Head) -> Result<(T, Vec<Envelope>, Option<Vec<String>>)>,
    ) -> Result<(T, Vec<Envelope>)> {
        let err = |what| self.shared.err(what);
        let mut c = self.conn().await?;
        let (tx, head) = self.locked(&mut c).await?;
        let (out, records, rows) = tokio::task::block_in_place(|| {
            let mut lookup = TxLookup::new(&tx, &self.shared);
            let (out, records, canonical) = plan(&mut lookup, &head)?;
            let rows: Vec<Vec<u8>> = match canonical {
                Some(c) => c.into_iter().map(String::into_bytes).collect(),
                None => records
                    .iter()
                    .map(|r| r.to_canonical().into_bytes())
                    .collect(),
            };
            Ok::<_, StoreError>((out, records, rows))
        })?;
        let Some(last) = records.last() else {
            return Ok((out, records));
        };
        for (part, bytes) in records.chunks(INSERT_ROWS).zip(rows.chunks(INSERT_ROWS)) {
            let seqs: Vec<i64> = part.iter().map(|r| sql_seq(r.seq)).collect();
            let ids: Vec<&str> = part.iter().map(|r| r.id.as_str()).collect();
            let streams: Vec<&str> = part.iter().map(|r| r.stream.as_str()).collect();
            let positions: Vec<i64> = part.iter().map(|r| r.position as i64).collect();
            tx.execute(
                "INSERT INTO events (seq, id, stream, position, record) \
                 SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::bytea[])",
                &[&seqs, &ids, &streams, &positions, &bytes],
            )
            .await
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
        .await
        .map_err(err("moving the head"))?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&self.channel, &new_head.seq.to_string()],
        )
        .await
        .map_err(err("notifying listeners"))?;
        tx.commit().await.map_err(|e| {
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

    pub(super) async fn append(self: Arc<Self>, batch: Vec<Proposed>) -> Result<Vec<Outcome>> {
        let (places, records) = self
            .write(|lookup, head| {
                let mut checked = rules::Rules::load(self.instance, head, lookup)?;
                let sealed = rules::seal_batch(batch, head, lookup, &mut checked)?;
                checked.kept(sealed.records.last(), lookup)?;
                Ok((sealed.places, sealed.records, Some(sealed.canonical)))
            })
            .await?;
        Ok(rules::outcomes(places, records))
    }

    /// Stores the registry this node keeps when it stands at the head and past the one stored
    /// (a run of small batches), under the append lock, so that the next process does not
    /// catch up with them (see `rules::registry::checkpoint`); `false` when there was nothing
    /// to store.
    pub(super) async fn checkpoint(self: Arc<Self>) -> Result<bool> {
        let mut c = self.conn().await?;
        let (tx, head) = self.locked(&mut c).await?;
        let stored = tokio::task::block_in_place(|| {
            let mut lookup = TxLookup::new(&tx, &self.shared);
            rules::registry::checkpoint(self.instance, &head, &mut lookup)
        })?;
        if stored {
            tx.commit()
                .await
                .map_err(self.shared.err("committing the checkpoint"))?;
        }
        Ok(stored)
    }

    pub(super) async fn import(self: Arc<Self>, records: Vec<Envelope>) -> Result<()> {
        self.write(move |lookup, head| {
            rules::check_import(&records, head, lookup)?;
            Ok(((), records, None))
        })
        .await
        .map(|_| ())
    }
}
