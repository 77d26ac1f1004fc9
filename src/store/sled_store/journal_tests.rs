//! The journal's tests: small appends that sled had not flushed written back at open, a torn
//! entry passed over, and a journal that cannot follow the log refused.

use super::journal::{self, JOURNAL_FILE};
use super::tests::reopen;
use super::write::{self, Writes};
use super::*;

fn line(i: usize) -> String {
    format!(
        r#"{{"id":"j-{i}","type":"MeetingScheduled","occurred":"2021-03","actor":"t","data":{{"meeting":"m-{i}","body":"MC","kind":"cop","title":"Meeting {i}","dates":"2021-11"}}}}"#
    )
}

fn append(store: &SledStore, from: usize, to: usize) {
    let text = (from..to).map(line).collect::<Vec<_>>().join("\n");
    store
        .append(crate::input::parse_batch(&text).unwrap())
        .unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Three single appends to a new store: its records, and its journal and `log.head` as the
/// last append left them.
fn three_single_appends() -> (Vec<Envelope>, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for i in 0..3 {
        append(&store, i, i + 1);
    }
    let journal = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let mark = std::fs::read(dir.path().join(MARK_FILE)).unwrap();
    (all(&store), journal, mark)
}

fn all(store: &SledStore) -> Vec<Envelope> {
    store.read_from(1).map(|r| r.unwrap()).collect()
}

/// A store whose sled files hold 3 records (flushed), then 5 single appends made durable by
/// the journal alone; returns the records, and the journal and `log.head` as they stood when
/// the last append returned, and puts sled's files back as they were before the five.
fn sled_behind_the_journal(dir: &Path) -> (Vec<Envelope>, Vec<u8>, Vec<u8>) {
    let store = SledStore::open(dir).unwrap();
    append(&store, 0, 3);
    drop(store);
    copy_dir(&dir.join("sled"), &dir.join("sled-before"));
    let store = reopen(dir);
    for i in 3..8 {
        append(&store, i, i + 1);
    }
    assert!(store.journal.as_ref().unwrap().holds_entries());
    let journal = std::fs::read(dir.join(JOURNAL_FILE)).unwrap();
    let mark = std::fs::read(dir.join(MARK_FILE)).unwrap();
    let records = all(&store);
    drop(store);
    std::fs::remove_dir_all(dir.join("sled")).unwrap();
    std::fs::rename(dir.join("sled-before"), dir.join("sled")).unwrap();
    (records, journal, mark)
}

/// Acknowledged small appends that sled had not flushed (as when the process is killed) are
/// written back from the journal when the store opens: the same records, the same chain.
#[test]
fn the_journal_writes_back_appends_sled_had_not_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let (records, journal, mark) = sled_behind_the_journal(dir.path());
    assert_eq!(records.len(), 8);
    std::fs::write(dir.path().join(JOURNAL_FILE), &journal).unwrap();
    std::fs::write(dir.path().join(MARK_FILE), &mark).unwrap();
    let store = reopen(dir.path());
    assert_eq!(store.head().seq, 8);
    assert_eq!(all(&store), records);
    assert!(!store.journal.as_ref().unwrap().holds_entries());
    assert_eq!(store.find_id("j-6").unwrap(), Some(7));
    append(&store, 8, 9);
    assert_eq!(store.head().seq, 9);
    drop(store);
    // Written back once: the next open finds nothing more to do, and the log as it was.
    let store = reopen(dir.path());
    assert_eq!(all(&store)[..8], records[..]);
    assert_eq!(store.head().seq, 9);
}

/// An entry torn by a stop (its bytes cut short, or not matching its CRC) was never
/// acknowledged: it is passed over, with what follows it.
#[test]
fn a_torn_entry_at_the_journals_end_is_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let (records, journal, _) = sled_behind_the_journal(dir.path());
    // The last entry's last byte damaged: the store opens at seq 7, without the mark's 8.
    let end = journal
        .iter()
        .rposition(|&b| b != 0)
        .expect("the journal holds entries");
    let mut torn = journal.clone();
    torn[end] ^= 0xFF;
    std::fs::write(dir.path().join(JOURNAL_FILE), &torn).unwrap();
    std::fs::remove_file(dir.path().join(MARK_FILE)).unwrap();
    let store = reopen(dir.path());
    assert_eq!(store.head().seq, 7);
    assert_eq!(all(&store), records[..7]);
}

/// A journal that continues past a gap in the log (sled lost records it had flushed) is
/// refused, with the seq where the log ends; so is one whose records do not chain on.
#[test]
fn a_journal_that_cannot_follow_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, journal, _) = sled_behind_the_journal(dir.path());
    let head = Head {
        seq: 3,
        hash: ZERO_HASH.into(),
        recorded_at: None,
    };
    let (_, entries, _) = journal::read_entries(&journal).unwrap();
    let skipped: Vec<_> = entries.into_iter().skip(1).collect();
    let err = journal::batches_after(skipped, &head, dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the journal continues at seq 5 but the log ends at seq 3"),
        "{err}"
    );
    let (_, entries, _) = journal::read_entries(&journal).unwrap();
    let err = journal::batches_after(entries, &head, dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the journal's seq 4 does not chain on from the log"),
        "{err}"
    );
}

/// A journal whose header does not read is kept aside, not cut, and its entries still read:
/// the store is refused while they hold records the log lacks (whatever `log.head` says), a
/// rescue reads them, and once the kept file is put away the store opens.
#[test]
fn a_journal_whose_header_does_not_read_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (records, mut journal, _) = sled_behind_the_journal(dir.path());
    journal[20] ^= 0xFF;
    std::fs::write(dir.path().join(JOURNAL_FILE), &journal).unwrap();
    std::fs::remove_file(dir.path().join(MARK_FILE)).unwrap();
    let err = SledStore::open(dir.path())
        .err()
        .expect("records are missing");
    assert!(
        err.to_string().contains("holds records up to seq 8"),
        "{err}"
    );
    let again = SledStore::open(dir.path())
        .err()
        .expect("refused at every open");
    assert!(
        again.to_string().contains("holds records up to seq 8"),
        "{again}"
    );
    let rescued = SledStore::journaled(dir.path());
    assert_eq!(rescued.into_values().collect::<Vec<_>>(), records[3..]);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("log.journal.damaged-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), journal);
    std::fs::rename(&kept[0], dir.path().join("put-away")).unwrap();
    let store = reopen(dir.path());
    assert_eq!(store.head().seq, 3);
}

/// An entry torn before a later one landed (no order without a sync) leaves bytes past the
/// last entry read: the journal starts a new generation at open, so they are never read as
/// entries after the next appends.
#[test]
fn bytes_past_a_torn_entry_are_never_read_later() {
    let dir = tempfile::tempdir().unwrap();
    let (records, mut journal, _) = sled_behind_the_journal(dir.path());
    let (generation, entries, _) = journal::read_entries(&journal).unwrap();
    assert_eq!(entries.len(), 5);
    // The first entry's payload damaged: none reads, the four after it are still there.
    journal[32 + 16 + 8] ^= 0xFF;
    std::fs::write(dir.path().join(JOURNAL_FILE), &journal).unwrap();
    std::fs::remove_file(dir.path().join(MARK_FILE)).unwrap();
    let store = reopen(dir.path());
    assert_eq!(store.head().seq, 3);
    let after = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let (moved, none, _) = journal::read_entries(&after).unwrap();
    assert!(
        moved > generation && none.is_empty(),
        "{moved} {generation}"
    );
    // The same appends again write entries of the same sizes where the old ones lie.
    for i in 3..5 {
        append(&store, i, i + 1);
    }
    let now = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let (_, entries, _) = journal::read_entries(&now).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(all(&store)[..3], records[..3]);
}

/// The first batch's records landed in sled without its head key (sled keeps a prefix of its
/// writes), and the journal holds the batch: they are rolled back and written back whole.
#[test]
fn a_first_batch_without_its_head_key_comes_back_from_the_journal() {
    let (records, journal, mark) = three_single_appends();
    let torn = tempfile::tempdir().unwrap();
    let store = SledStore::open(torn.path()).unwrap();
    write::write_records(
        &store.log,
        torn.path(),
        &records[..1],
        None,
        None,
        Writes::Loose,
    )
    .unwrap();
    drop(store);
    std::fs::write(torn.path().join(JOURNAL_FILE), &journal).unwrap();
    std::fs::write(torn.path().join(MARK_FILE), &mark).unwrap();
    let store = reopen(torn.path());
    assert_eq!(all(&store), records);
    // Acknowledged (the journal held it): not reported as a batch never acknowledged.
    assert_eq!(super::recovery::ROLLED_BACK.with(|r| r.get()), (1, 1));
}

/// Records sled took past its head that the journal does not hold are a batch never
/// acknowledged, and said to be.
#[test]
fn records_past_the_head_the_journal_lacks_are_reported_unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    append(&store, 0, 2);
    let head = store.head().seq;
    let (more, _, _) = three_single_appends();
    let mut past = more[..1].to_vec();
    past[0].seq = head + 1;
    write::write_records(&store.log, dir.path(), &past, None, None, Writes::Loose).unwrap();
    drop(store);
    std::fs::remove_file(dir.path().join(JOURNAL_FILE)).unwrap();
    let store = reopen(dir.path());
    assert_eq!(store.head().seq, head);
    assert_eq!(super::recovery::ROLLED_BACK.with(|r| r.get()), (1, 0));
}

/// A voided entry's place is written over by the next: an `fdatasync` that covered it no
/// longer counts for what is written there.
#[test]
fn a_voided_entry_is_synced_again_when_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = journal::Journal::open(dir.path()).unwrap();
    journal.restart().unwrap();
    let a = journal.write(&[1u8; 40]).unwrap().unwrap();
    let b = journal.write(&[2u8; 80]).unwrap().unwrap();
    journal.sync(a).unwrap();
    assert!(
        journal.synced_past(b),
        "one sync covers what was written before it"
    );
    journal.void(b).unwrap();
    let c = journal.write(&[3u8; 40]).unwrap().unwrap();
    assert!(
        !journal.synced_past(c),
        "the entry written over the voided one counts as synced"
    );
    journal.sync(c).unwrap();
    assert!(journal.synced_past(c));
    let bytes = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let (_, entries, _) = journal::read_entries(&bytes).unwrap();
    assert_eq!(entries.len(), 2);
}

/// A rescue reads sled's records up to its head key, not those of a batch torn past it (never
/// acknowledged, unless the journal holds them, which the rescue reads next).
#[test]
fn a_rescue_reads_no_record_past_the_head_key() {
    let (records, _, _) = three_single_appends();
    let torn = tempfile::tempdir().unwrap();
    let store = SledStore::open(torn.path()).unwrap();
    let (log, at) = (&store.log, torn.path());
    write::write_records(
        log,
        at,
        &records[..1],
        None,
        Some(&records[0]),
        Writes::Batched,
    )
    .unwrap();
    write::write_records(log, at, &records[1..], None, None, Writes::Loose).unwrap();
    drop(store);
    let rescue = SledStore::open_damaged(torn.path()).unwrap();
    let read: Vec<Envelope> = rescue.read_from(1).map(|r| r.unwrap()).collect();
    assert_eq!(read, records[..1]);
}

/// An append through the journal that follows records left to sled's flush (a large batch
/// whose flush another thread still waits on) is acknowledged only once they are durable too:
/// it flushes sled itself when they are not yet.
#[test]
fn an_append_after_one_left_to_sleds_flush_waits_for_it() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let flushes = || super::durable::OWED_FLUSHES.with(|n| n.get());
    append(&store, 0, 2000);
    assert_eq!(
        store.flush_owed.load(Ordering::Acquire),
        2000,
        "a large batch"
    );
    append(&store, 2000, 2001);
    assert_eq!(flushes(), 0, "its flush was done when it returned");
    // As while that flush is under way: its records are written, not yet durable.
    store.flush_owed.store(2001, Ordering::Release);
    store.durable.send_replace(2000);
    append(&store, 2001, 2002);
    assert_eq!(flushes(), 1);
    assert_eq!(store.durable_seq(), Some(2002));
}

/// Sled's records without any head key, and a journal that holds only some of them (sled lost
/// its head key to damage, not a stop): nothing is rolled back or written, and the store is
/// refused, its records still there for a rescue.
#[test]
fn records_the_journal_does_not_hold_are_never_rolled_back() {
    let (records, journal, mark) = three_single_appends();
    // The journal cut after its first entry: it holds seq 1 alone.
    let (_, entries, _) = journal::read_entries(&journal).unwrap();
    let first = 32 + 16 + 8 + entries[0].framed.len();
    let mut cut = journal[..first].to_vec();
    cut.resize(journal.len(), 0);
    let torn = tempfile::tempdir().unwrap();
    let store = SledStore::open(torn.path()).unwrap();
    write::write_records(&store.log, torn.path(), &records, None, None, Writes::Loose).unwrap();
    drop(store);
    std::fs::write(torn.path().join(JOURNAL_FILE), &cut).unwrap();
    std::fs::write(torn.path().join(MARK_FILE), &mark).unwrap();
    let err = SledStore::open(torn.path()).err().expect("refused");
    assert!(err.to_string().contains("disagree"), "{err}");
    let rescue = SledStore::open_damaged(torn.path()).unwrap();
    assert_eq!(rescue.read_from(1).count(), 3);
}
