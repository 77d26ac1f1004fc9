//! How an append becomes durable: a small batch through the journal (one write and one
//! `fdatasync`), a large one through sled's flush; and, at open, the journal's batches that
//! sled had not flushed written back into the log; and the flush that makes a stopping
//! server's derived data durable.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use super::super::{Head, Result, StoreError};
use super::journal::{self, Journal};
use super::recovery::{describe_sled, io_text};
use super::write::{write_records, Writes};
use super::{rules, SledLookup, SledStore, Writer, CHUNK, CLOSE_LIMIT};
use crate::envelope::Envelope;

#[cfg(test)]
thread_local! {
    /// Flushes made on this thread for records an earlier append left to sled's flush.
    pub(super) static OWED_FLUSHES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

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
            self.flush_owed.store(seq, Ordering::Release);
            drop(writer);
            return self.flush_and_announce(seq, &hash);
        };
        let path = self.dir.join(journal::JOURNAL_FILE);
        let io = |e: std::io::Error| StoreError::Io(io_text(&path, &e));
        // Records written before these through sled's flush: durable once that flush is done.
        let mut owed = self.flush_owed.load(Ordering::Acquire);
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
                        self.flush_owed.store(0, Ordering::Release);
                        owed = 0;
                        journal
                            .write(&payload)
                            .map_err(io)?
                            .expect("a payload journaled fits an empty journal")
                    }
                };
                if let Err(e) = self.commit(&mut writer, records, framed, Writes::Loose) {
                    // What sled took of them goes; the entry, which would bring them back at
                    // the next open, goes too.
                    self.remove_unpublished(writer.seq);
                    return Err(match journal.void(ticket) {
                        Ok(()) => e,
                        Err(v) => StoreError::Unconfirmed(format!(
                            "{e}; the journal's entry for the batch could not be voided ({}), \
                             so the next open may record it: check the log before retrying",
                            io_text(&path, &v)
                        )),
                    });
                }
                ticket
            }
        };
        let (seq, hash) = (writer.seq, writer.hash.clone());
        drop(writer);
        journal
            .sync(ticket)
            .map_err(|e| StoreError::Unconfirmed(io_text(&path, &e)))?;
        if owed > *self.durable.borrow() {
            #[cfg(test)]
            OWED_FLUSHES.with(|n| n.set(n.get() + 1));
            self.db
                .flush()
                .map_err(|e| StoreError::Unconfirmed(describe_sled(&self.dir, e)))?;
        }
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
        let path = dir.join(journal::JOURNAL_FILE);
        let lost = journal::kept_records(dir)
            .into_keys()
            .next_back()
            .filter(|&seq| seq > head.seq);
        if let Some(last) = lost {
            return Err(StoreError::Corrupt {
                at: format!("seq {}", head.seq + 1),
                reason: format!(
                    "the header of {} does not read (the file is kept beside it as \
                     {}.damaged-*), and it holds records up to seq {last} that the log, ending \
                     at seq {}, lacks; `accord export --intact-prefix` rescues them",
                    path.display(),
                    journal::JOURNAL_FILE,
                    head.seq
                ),
            });
        }
        if entries.is_empty() {
            // A new generation all the same: bytes of this one past the last entry read
            // (an entry torn before another landed) are never read as entries later.
            journal
                .restart()
                .map_err(|e| StoreError::Io(io_text(&path, &e)))?;
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
            .map_err(|e| StoreError::Io(io_text(&path, &e)))?;
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

impl SledStore {
    /// `EventStore::checkpoint`: the registry kept in memory stored under the writer's lock,
    /// then sled flushed (the cache is not flushed with each write; what a server wrote last
    /// is what the next process starts from), within [`CLOSE_LIMIT`].
    pub(super) fn checkpoint_derived(&self) -> Result<bool> {
        let stored = {
            let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let head = writer.head();
            rules::registry::checkpoint(self.instance, &head, &mut SledLookup(self))?
        };
        self.flush_within(CLOSE_LIMIT)?;
        Ok(stored)
    }

    /// Flushes sled, giving up after `limit`: after a failed write of sled's files (a full
    /// disk) a flush waits forever.
    fn flush_within(&self, limit: std::time::Duration) -> Result<()> {
        let db = (*self.db).clone();
        let (done, flushed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(db.flush().map(|_| ()));
        });
        match flushed.recv_timeout(limit) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.note_failure(StoreError::Io(describe_sled(&self.dir, e)))),
            Err(_) => Err(StoreError::Io(format!(
                "{}: sled did not flush within {limit:?}",
                self.dir.display()
            ))),
        }
    }
}
