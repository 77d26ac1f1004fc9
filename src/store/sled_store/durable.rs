//! How an append becomes durable: a small batch through the journal (one write and one
//! `fdatasync`), a large one through sled's flush; and, at open, the journal's batches that
//! sled had not flushed written back into the log.

use std::path::Path;
use std::sync::MutexGuard;

use super::super::{Head, Result, StoreError};
use super::journal::{self, Journal};
use super::recovery::{describe_sled, io_text};
use super::write::{write_records, Writes};
use super::{SledStore, Writer, CHUNK};
use crate::envelope::Envelope;

/// Batches of at most this many records are framed before they are written (to see whether
/// they fit in the journal) when their canonical JSON is not written already.
const JOURNALED: usize = 1024;

impl SledStore {
    /// Writes sealed records (or none, for a batch of duplicates) and returns once they, and
    /// everything before them, are durable: readers see them once written, before that.
    /// Takes the writer's lock and lets it go before waiting on the disk, so that appends
    /// arriving meanwhile share the wait.
    /// `canonical` holds each record's canonical JSON when it is written already.
    pub(super) fn commit_durably(
        &self,
        mut writer: MutexGuard<'_, Writer>,
        records: &[Envelope],
        canonical: Option<&[String]>,
    ) -> Result<()> {
        let framed: Option<Vec<Vec<u8>>> = match canonical {
            Some(c) => Some(c.chunks(CHUNK).map(journal::frame_canonical).collect()),
            None => (records.len() <= JOURNALED)
                .then(|| records.chunks(CHUNK).map(journal::frame_chunk).collect()),
        };
        let fits = framed
            .as_ref()
            .is_some_and(|f| f.iter().map(Vec::len).sum::<usize>() <= journal::MOST);
        let Some(journal) = self.journal.as_deref().filter(|_| fits) else {
            self.commit(&mut writer, records, framed, Writes::Batched)?;
            let (seq, hash) = (writer.seq, writer.hash.clone());
            drop(writer);
            self.db
                .flush()
                .map_err(|e| StoreError::Unconfirmed(describe_sled(&self.dir, e)))?;
            self.announce(seq, &hash);
            return Ok(());
        };
        let io = |e: std::io::Error| StoreError::Io(io_text(&self.dir, &e));
        let ticket = match records.first() {
            None => journal.current(),
            Some(first) => {
                let payload = journal::payload(first.seq, framed.as_deref().unwrap_or(&[]));
                let ticket = match journal.write(&payload).map_err(io)? {
                    Some(ticket) => ticket,
                    None => {
                        // The journal is full: sled takes over what it holds.
                        self.db
                            .flush()
                            .map_err(|e| StoreError::Io(describe_sled(&self.dir, e)))?;
                        journal.restart().map_err(io)?;
                        journal
                            .write(&payload)
                            .map_err(io)?
                            .expect("a payload journaled fits an empty journal")
                    }
                };
                if let Err(e) = self.commit(&mut writer, records, framed, Writes::Loose) {
                    journal.void(ticket);
                    return Err(e);
                }
                ticket
            }
        };
        let (seq, hash) = (writer.seq, writer.hash.clone());
        drop(writer);
        journal
            .sync(ticket)
            .map_err(|e| StoreError::Unconfirmed(io_text(&self.dir, &e)))?;
        self.announce(seq, &hash);
        Ok(())
    }

    /// Opens the journal in `dir` and writes back into the log the batches it holds after
    /// `head` (those sled had not flushed when the process stopped); sled is then flushed and
    /// the journal starts again. Returns the journal and the head after them.
    pub(super) fn recover_journal(
        db: &sled::Db,
        log: &sled::Tree,
        dir: &Path,
        mut head: Head,
    ) -> Result<(Journal, Head)> {
        let (journal, entries) = Journal::open(dir)?;
        if entries.is_empty() {
            return Ok((journal, head));
        }
        let batches = journal::batches_after(entries, &head, dir)?;
        let mut records = 0;
        for batch in &batches {
            let last = batch.last().expect("a batch holds records");
            write_records(log, dir, batch, None, Some(last), Writes::Batched)?;
            records += batch.len();
            head = Head {
                seq: last.seq,
                hash: last.hash.clone(),
                recorded_at: Some(last.recorded_at.clone()),
            };
        }
        db.flush()
            .map_err(|e| StoreError::Io(describe_sled(dir, e)))?;
        journal
            .restart()
            .map_err(|e| StoreError::Io(io_text(dir, &e)))?;
        if records > 0 {
            tracing::info!(
                "{}: wrote back {records} records from the journal, up to seq {}",
                dir.display(),
                head.seq
            );
        }
        Ok((journal, head))
    }
}
