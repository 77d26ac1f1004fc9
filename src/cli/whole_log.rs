//! The commands on the log as a whole: record, log, export (with the rescue of an intact
//! prefix), verify, replay, import and migrate.

use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use super::*;
use crate::store::{EventStore, Location, StoreError, Written};

/// A batch read and checked whole: its name, the text of its events a part of [`PART`] events
/// at a time, LZ4-compressed until the part is recorded, and the line of each event.
pub(super) struct Batch {
    name: String,
    parts: Vec<Vec<u8>>,
    lines: Vec<usize>,
}

/// Events handed to the store at a time when a batch is recorded: the batch is read again a
/// part at a time, so a large one is never held whole as events, nor as plain text once
/// checked.
const PART: usize = 4096;

impl Batch {
    /// The batch of a checked text: its parts compressed, the text let go.
    fn of(name: String, text: String, lines: Vec<usize>) -> Batch {
        let starts = line_starts(&text, &lines);
        let parts = starts
            .chunks(PART)
            .enumerate()
            .map(|(i, part)| {
                let to = starts.get((i + 1) * PART).copied().unwrap_or(text.len());
                lz4_flex::compress_prepend_size(&text.as_bytes()[part[0]..to])
            })
            .collect();
        Batch { name, parts, lines }
    }
}

pub(super) fn read_batches(files: &[PathBuf]) -> Result<Vec<Batch>> {
    let stdin_only = files.is_empty() || files.iter().all(|f| f.as_os_str() == "-");
    let sources: Vec<PathBuf> = if stdin_only {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut out = Vec::new();
    for f in sources {
        let (name, bytes) = if f.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("failed to read standard input")?;
            ("<stdin>".to_string(), b)
        } else {
            let b = std::fs::read(&f)
                .map_err(|e| BadInput(format!("{}: cannot read: {e}", f.display())))?;
            (f.display().to_string(), b)
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            BadInput(format!("{name}: line {line}: not UTF-8 (byte {at})"))
        })?;
        let lines =
            crate::input::check_batch(&text).map_err(|e| BadInput(format!("{name}: {e}")))?;
        out.push(Batch::of(name, text, lines));
    }
    Ok(out)
}

pub(super) fn record(store: &dyn EventStore, batches: Vec<Batch>) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for Batch { name, parts, lines } in batches {
        let line = |index: usize| lines.get(index).copied().unwrap_or(0);
        // Checked whole above: read again a part at a time, the text gives the same events,
        // and each part's text is let go once read.
        let mut next = 0;
        let mut parts = parts.into_iter().map(|packed| {
            let text = lz4_flex::decompress_size_prepended(&packed)
                .ok()
                .and_then(|t| String::from_utf8(t).ok())
                .expect("a part packed in memory unpacks to the text it was");
            drop(packed);
            let end = (next + PART).min(lines.len());
            let part: Vec<_> = crate::input::proposals(&text)
                .zip(&lines[next..end])
                .map(|(p, &line)| {
                    let mut p =
                        p.expect("the text was checked whole above and reads the same again");
                    // Its line in the whole file, not in the part.
                    p.line = line;
                    p
                })
                .collect();
            assert_eq!(
                part.len(),
                end - next,
                "a part reads as many events as checked"
            );
            next = end;
            part
        });
        let outcomes = store.append_parts(&mut parts).map_err(|e| match e {
            StoreError::Conflict {
                index,
                stream,
                expected,
                actual,
            } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: expected_position: stream `{stream}` is at position {actual}, \
                 expected {expected}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::Rejected { index, message } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: {message}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::Refused {
                index,
                field,
                message,
            } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: {field}: {message}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::IdConflict { index, id, seq } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: id: `{id}` is already recorded at seq {seq} with other content \
                 (give a new id, or correct seq {seq} with EventAmended); nothing recorded \
                 from this file",
                line(index)
            ))),
            other => anyhow::Error::new(other).context(format!("{name}: failed to record")),
        })?;
        let (mut recorded, mut dups) = (0, 0);
        for o in outcomes {
            match o {
                Written::Recorded {
                    seq,
                    hash,
                    ty,
                    stream,
                } => {
                    recorded += 1;
                    writeln!(out, "{seq} {} {ty} {stream}", hex::encode(hash))?;
                }
                Written::Duplicate { id, seq } => {
                    dups += 1;
                    writeln!(
                        out,
                        "duplicate id {id} already recorded at seq {seq}: not recorded again"
                    )?;
                }
            }
        }
        out.flush()?;
        eprintln!("{name}: {recorded} recorded, {dups} duplicates");
    }
    Ok(0)
}

/// The byte at which each of `lines` (rising, 1-based) starts in `text`.
fn line_starts(text: &str, lines: &[usize]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(lines.len());
    let mut want = lines.iter().peekable();
    let line_begins = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1));
    for (n, at) in line_begins.enumerate() {
        while want.next_if(|&&l| l == n + 1).is_some() {
            starts.push(at);
        }
        if want.peek().is_none() {
            break;
        }
    }
    starts
}

pub(super) fn log(
    store: &dyn EventStore,
    stream: Option<&str>,
    ty: Option<&str>,
    since: u64,
    format: Format,
) -> Result<u8> {
    let events: Box<dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>>> =
        match stream {
            Some(s) => Box::new(crate::store::stream_from(store, s, since)),
            None => store.read_from(since),
        };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut table = Table::new(&["SEQ", "RECORDED", "OCCURRED", "ACTOR", "TYPE", "SUMMARY"]);
    let mut n = 0;
    for env in events {
        let env = env?;
        if env.seq < since || ty.is_some_and(|t| t != env.ty) {
            continue;
        }
        n += 1;
        match format {
            Format::Json => writeln!(out, "{}", env.to_canonical())?,
            Format::Table | Format::Csv => {
                let summary = crate::projections::decode(&env)
                    .map(|e| crate::domain::summary(&e))
                    .unwrap_or_else(|e| e.to_string());
                table.push(vec![
                    env.seq.to_string(),
                    env.recorded_at
                        .get(..19)
                        .unwrap_or(&env.recorded_at)
                        .to_string(),
                    env.occurred.to_string(),
                    env.actor.clone(),
                    env.ty.clone(),
                    summary,
                ]);
            }
        }
    }
    match format {
        Format::Table => write!(out, "{}", table.to_text(crate::render::width()))?,
        Format::Csv => write!(out, "{}", table.to_csv())?,
        Format::Json => {}
    }
    out.flush()?;
    if n == 0 {
        return Err(CheckFailed("no events match".into()).into());
    }
    Ok(0)
}

/// Where `export` writes: the named file, created afresh, or standard output.
pub(super) fn output_sink(output: Option<&Path>) -> Result<BufWriter<Box<dyn Write>>> {
    let sink: Box<dyn Write> = match output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .with_context(|| format!("failed to create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    Ok(BufWriter::new(sink))
}

pub(super) fn export(store: &dyn EventStore, since: u64, output: Option<&Path>) -> Result<u8> {
    let mut out = output_sink(output)?;
    let mut n = 0u64;
    for env in store.read_from(since) {
        let env = env.context("failed to read the log")?;
        out.write_all(env.to_canonical().as_bytes())?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    if output.is_some() {
        eprintln!("exported {n} records");
    }
    Ok(0)
}

/// The records of a damaged sled store in seq order: through sled while it reads them, then
/// (once sled fails, or if it could not open its files) from what
/// [`crate::store::SledStore::salvage`] finds in the files themselves.
pub(super) struct Rescue<'a> {
    pub(super) sled:
        Option<Box<dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>> + 'a>>,
    pub(super) dir: &'a Path,
    pub(super) found: Option<std::collections::BTreeMap<u64, crate::envelope::Envelope>>,
    pub(super) next: u64,
    /// What sled said when it failed, if it did.
    pub(super) failed: Option<String>,
}

impl Iterator for Rescue<'_> {
    type Item = Result<crate::envelope::Envelope, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(sled) = &mut self.sled {
            match sled.next() {
                Some(Ok(env)) => {
                    self.next = env.seq + 1;
                    return Some(Ok(env));
                }
                None => return None,
                Some(Err(e)) => {
                    eprintln!(
                        "accord: sled cannot read seq {} ({e}); reading the records from the \
                         files themselves",
                        self.next
                    );
                    self.failed = Some(e.to_string());
                    self.sled = None;
                }
            }
        }
        let found = match &mut self.found {
            Some(found) => found,
            None => match crate::store::SledStore::salvage(self.dir) {
                Ok(found) => self.found.insert(found),
                Err(e) => return Some(Err(e)),
            },
        };
        let seq = self.next;
        if let Some(env) = found.remove(&seq) {
            self.next += 1;
            return Some(Ok(env));
        }
        let more = self.failed.is_some()
            || found.keys().next_back().is_some_and(|last| *last > seq)
            || crate::store::SledStore::missing_after(self.dir, seq - 1).is_some();
        self.next = u64::MAX;
        (more && seq != u64::MAX).then(|| {
            Err(StoreError::Corrupt {
                at: format!("seq {seq}"),
                reason: match &self.failed {
                    Some(e) => {
                        format!("{e}; not found in the readable parts of sled's files either")
                    }
                    None => "not found in the readable parts of sled's files".into(),
                },
            })
        })
    }
}

/// `accord export --intact-prefix`: the records that read and chain from seq 1, up to the
/// first that does not, then a line on standard error saying where and why it stopped.
pub(super) fn export_intact_prefix(
    records: &mut dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>>,
    location: &Location,
    output: Option<&Path>,
) -> Result<u8> {
    let mut out = output_sink(output)?;
    let mut v = crate::verify::Verifier::default();
    for env in records {
        match env {
            Ok(env) => {
                if !v.check(&env) {
                    break;
                }
                out.write_all(env.to_canonical().as_bytes())?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                let seq = v.next_seq();
                v.fail(seq, e.to_string());
                break;
            }
        }
    }
    out.flush()?;
    let mut r = v.finish();
    if r.first_bad.is_none() {
        // The records read end here; does the store say there were more?
        if let Location::Sled(dir) = location {
            if let Some(missing) = crate::store::SledStore::missing_after(dir, r.last_seq) {
                r.first_bad = Some(crate::verify::Bad {
                    seq: r.last_seq + 1,
                    reason: missing,
                });
            }
        }
    }
    match &r.first_bad {
        None => {
            eprintln!(
                "exported {} records, seq 1 to {}: the whole log reads and chains",
                r.records, r.last_seq
            );
            Ok(0)
        }
        Some(bad) => {
            eprintln!(
                "exported the intact prefix: {} records, seq 1 to {} (last hash {}); stopped at seq {}: {}",
                r.records, r.last_seq, r.last_hash, bad.seq, bad.reason
            );
            Ok(1)
        }
    }
}

pub(super) fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} events ({rate}, eta {eta})",
        )
        .expect("valid template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

pub(super) fn print_report(r: &crate::verify::Report, what: &str) -> Result<u8> {
    match &r.first_bad {
        None => {
            println!(
                "{what} verifies: {} records, last seq {}, last hash {}",
                r.records, r.last_seq, r.last_hash
            );
            Ok(0)
        }
        Some(bad) => Err(CheckFailed(format!(
            "{what} does not verify: first bad seq {}: {} ({} records before it verify)",
            bad.seq, bad.reason, r.records
        ))
        .into()),
    }
}

pub(super) fn verify_store(store: &dyn EventStore) -> Result<u8> {
    let bar = progress_bar(store.head().seq, "verifying");
    let r = crate::verify::verify_store(store, &mut |seq| bar.set_position(seq));
    bar.finish_and_clear();
    print_report(&r, "the store")
}

pub(super) fn verify_file(path: &Path, partial: bool) -> Result<u8> {
    let f = std::fs::File::open(path)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let after = (!partial).then_some((0, crate::envelope::ZERO_HASH));
    let (r, _) = crate::verify::verify_export(std::io::BufReader::new(f), false, after)
        .with_context(|| format!("failed to read {}", path.display()))?;
    print_report(&r, &path.display().to_string())
}

pub(super) fn replay(store: &dyn EventStore) -> Result<u8> {
    let started = Instant::now();
    crate::projections::drop_states(store)?;
    let total = store.head().seq;
    let bar = progress_bar(total, "replaying");
    let state =
        crate::projections::views_with_progress(store, &Default::default(), &mut |done, _| {
            bar.set_position(done)
        })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "replayed {} events in {:.3} s ({:.0} events/s): {} meetings, {} decisions, {} mandates, {} groups, {} reports",
        state.seq,
        secs,
        state.seq as f64 / secs.max(1e-9),
        state.views.meetings.0.len(),
        state.views.decisions.decisions.len(),
        state.views.decisions.mandates.len(),
        state.views.groups.0.len(),
        state.views.reports.reports.len(),
    );
    Ok(0)
}

pub(super) fn import(
    store: &dyn EventStore,
    path: &Path,
    intact_prefix: bool,
    accept_future: bool,
) -> Result<u8> {
    let f = std::fs::File::open(path)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let head = store.head();
    let (r, records) = crate::verify::verify_export(
        std::io::BufReader::new(f),
        true,
        Some((head.seq, &head.hash)),
    )
    .with_context(|| format!("failed to read {}", path.display()))?;
    if let Some(bad) = &r.first_bad {
        if !intact_prefix {
            return Err(CheckFailed(format!(
                "{}: refused: the chain does not verify at seq {}: {} (--intact-prefix imports the {} records before it)",
                path.display(),
                bad.seq,
                bad.reason,
                r.records
            ))
            .into());
        }
    }
    let ahead = chrono::Utc::now() + chrono::Duration::minutes(5);
    for env in &records {
        crate::projections::decode(env)
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        if !accept_future && env.recorded_at_time().is_some_and(|t| t > ahead) {
            return Err(BadInput(format!(
                "{}: seq {}: recorded_at {} is ahead of this machine's clock; \
                 --accept-future imports it (an export from a store whose clock ran ahead)",
                path.display(),
                env.seq,
                env.recorded_at
            ))
            .into());
        }
    }
    let n = records.len();
    store.import(records).map_err(|e| match e {
        StoreError::Rejected { .. } => {
            anyhow::Error::new(BadInput(format!("{}: {e}", path.display())))
        }
        other => anyhow::Error::new(other),
    })?;
    println!(
        "imported {n} records; head is seq {} hash {}",
        store.head().seq,
        store.head().hash
    );
    Ok(if r.first_bad.is_some() { 1 } else { 0 })
}

/// Records copied per import transaction by `accord migrate`.
const MIGRATE_BATCH: usize = 10_000;

pub(super) fn migrate(source: &dyn EventStore, from: &Location, to: &Location) -> Result<u8> {
    if from == to {
        return Err(BadInput(format!("{} is the store itself", to.describe())).into());
    }
    let target = crate::store::open_location(to)
        .with_context(|| format!("failed to open the target store in {}", to.describe()))?;
    let head = source.head();
    let start = target.head();
    if start.seq > head.seq {
        return Err(BadInput(format!(
            "{} holds {} records, more than this store's {}: it is not a copy of it",
            to.describe(),
            start.seq,
            head.seq
        ))
        .into());
    }
    if start.seq > 0 {
        let ours = source
            .get(start.seq)
            .context("failed to read the log")?
            .map(|e| e.hash);
        if ours.as_deref() != Some(start.hash.as_str()) {
            return Err(BadInput(format!(
                "{} is not a copy of this store: its seq {} has hash {}, ours differs",
                to.describe(),
                start.seq,
                start.hash
            ))
            .into());
        }
    }
    let bar = progress_bar(head.seq - start.seq, "migrating");
    let mut batch = Vec::with_capacity(MIGRATE_BATCH);
    let mut copied = 0u64;
    let mut flush = |batch: &mut Vec<crate::envelope::Envelope>| -> Result<()> {
        let n = batch.len() as u64;
        let first = batch.first().map(|e| e.seq).unwrap_or(0);
        target
            .import(std::mem::take(batch))
            .with_context(|| format!("failed to write seq {first} on into {}", to.describe()))?;
        copied += n;
        bar.inc(n);
        Ok(())
    };
    for env in source.read_from(start.seq + 1) {
        let env = env.context("failed to read the log")?;
        if env.seq > head.seq {
            break;
        }
        batch.push(env);
        if batch.len() == MIGRATE_BATCH {
            flush(&mut batch)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch)?;
    }
    bar.finish_and_clear();
    let end = target.head();
    println!(
        "migrated {copied} records to {} (it held {} before); its head is seq {} hash {}",
        to.describe(),
        start.seq,
        end.seq,
        end.hash
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_starts_find_each_event_line() {
        let text = "{\"a\":1}\r\n\n\n{\"b\":2}\n{\"c\":3}";
        let starts = super::line_starts(text, &[1, 4, 5]);
        assert_eq!(starts, vec![0, 11, 19]);
        assert!(text[starts[1]..].starts_with("{\"b\""));
        assert!(text[starts[2]..].starts_with("{\"c\""));
    }
}
