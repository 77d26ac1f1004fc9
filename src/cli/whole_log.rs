//! The commands on the log as a whole: log, export (with the rescue of an intact prefix),
//! verify, replay, import and migrate.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::*;
use crate::store::{EventStore, Location, StoreError};

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
/// those of the journal that follow (acknowledged, not yet flushed by sled), or (once sled
/// fails, or if it could not open its files) what [`crate::store::SledStore::salvage`] finds
/// in the files themselves.
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
                None => {
                    // Sled's records end: the journal may hold acknowledged ones after them.
                    self.sled = None;
                    let mut journaled = crate::store::SledStore::journaled(self.dir);
                    if !journaled.contains_key(&self.next) {
                        return None;
                    }
                    self.found = Some(journaled.split_off(&self.next));
                }
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
    // The process ends here: freeing every row of the views one by one would only delay it.
    std::mem::forget(state);
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
