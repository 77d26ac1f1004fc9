//! The journal's tests: small appends that sled had not flushed written back at open, a torn
//! entry passed over, and a journal that cannot follow the log refused.

use super::journal::JOURNAL_FILE;
use super::tests::reopen;
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
