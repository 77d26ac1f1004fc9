//! `accord simulate --from D1 --to D2 [--every 1w]`: the scheduler run over a past period on a
//! scratch copy of the log, sending nothing, to see which reminders would have gone out when
//! and which deadlines were met in time — replay for evaluation.
//!
//! The copy keeps seq, `recorded_at` and hashes (an import, as `migrate` does); ticks run at
//! every step of the grid and at every wake-up the scheduler asks for in between, each seeing
//! what had occurred by its instant. Messages are rendered into a scratch outbox that is
//! removed afterwards; the store itself is never written.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::work::{engine, runtime};
use super::BadInput;
use crate::config::Config;
use crate::notify::Mailer;
use crate::projections::work::DeadlineStatus;
use crate::projections::{self, Query};
use crate::render::{Format, Table};
use crate::store::{EventStore, SledStore};

/// Records copied into the scratch store per import.
const COPY_BATCH: usize = 10_000;

/// One reminder the simulated scheduler sent.
struct Sent {
    at: DateTime<Utc>,
    reminder: String,
}

pub fn simulate(
    store: &dyn EventStore,
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
    every_days: i64,
    format: Format,
) -> Result<u8> {
    if to < from {
        return Err(BadInput(format!("--to {to} is before --from {from}")).into());
    }
    if every_days < 1 {
        return Err(BadInput("--every must be at least 1d".into()).into());
    }
    let Scratch {
        _dir,
        store: scratch,
        rt,
        mut engine,
    } = Scratch::of(store, config)?;
    let _inside = rt.enter();
    // The scheduler's records copied from the store count by their date, like any event: the
    // simulation decides afresh what would have been sent.
    engine.own_after = store.head().seq;
    let start = from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let end = to
        .and_hms_opt(23, 59, 59)
        .expect("a second to midnight")
        .and_utc();
    let step = chrono::Duration::days(every_days);
    let mut sent = Vec::new();
    let mut ticks = 0u64;
    let mut t = start;
    while t <= end {
        let report = rt.block_on(engine.tick(&scratch, t))?;
        ticks += 1;
        sent.extend(
            report
                .sent
                .into_iter()
                .map(|reminder| Sent { at: t, reminder }),
        );
        let grid = start + step * ((t - start).num_days() / every_days + 1) as i32;
        t = match report.next_wakeup {
            Some(w) if w > t && w < grid => w,
            _ => grid,
        };
    }
    let views = projections::views(&scratch, &Query::occurred_by(end))?.views;
    print(&scratch, &views, &sent, ticks, from, to, format)
}

/// A dry run of the window from `at` to `to`: the scheduler ticks on a scratch copy of the log
/// at `at` and at every wake-up it asks for up to `to`, as `serve` would, rendering into a
/// scratch outbox. Returns the views after it and the reminders it sent.
pub fn dry_run(
    store: &dyn EventStore,
    config: &Config,
    at: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(projections::Views, std::collections::HashSet<String>)> {
    let Scratch {
        _dir,
        store: scratch,
        rt,
        engine,
    } = Scratch::of(store, config)?;
    let _inside = rt.enter();
    let mut sent = std::collections::HashSet::new();
    let mut t = at;
    loop {
        let report = rt.block_on(engine.tick(&scratch, t))?;
        sent.extend(report.sent);
        match report.next_wakeup {
            Some(w) if w > t && w <= to => t = w,
            _ => break,
        }
    }
    let views = projections::views(&scratch, &Query::default())?.views;
    Ok((views, sent))
}

/// A scratch copy of the log with a scheduler over it that renders into a scratch outbox; all
/// of it goes when dropped.
struct Scratch {
    engine: crate::scheduler::Engine,
    store: SledStore,
    rt: tokio::runtime::Runtime,
    /// Last, so the store is closed before its directory goes.
    _dir: tempfile::TempDir,
}

impl Scratch {
    fn of(store: &dyn EventStore, config: &Config) -> Result<Scratch> {
        let dir = tempfile::tempdir().context("failed to make a scratch directory")?;
        let scratch = SledStore::open(&dir.path().join("sled"))
            .context("failed to open the scratch store")?;
        copy(store, &scratch)?;
        let rt = runtime()?;
        // The configured mailer is made, and dropped for the scratch outbox, in the runtime.
        let engine = {
            let _inside = rt.enter();
            let mut engine = engine(config, dir.path())?;
            engine.mailer = Mailer::Outbox(dir.path().join("outbox"));
            engine
        };
        Ok(Scratch {
            engine,
            store: scratch,
            rt,
            _dir: dir,
        })
    }
}

fn copy(store: &dyn EventStore, scratch: &dyn EventStore) -> Result<()> {
    let head = store.head().seq;
    let mut batch = Vec::with_capacity(COPY_BATCH);
    for env in store.read_from(1) {
        let env = env.context("failed to read the log")?;
        if env.seq > head {
            break;
        }
        batch.push(env);
        if batch.len() == COPY_BATCH {
            scratch.import(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        scratch.import(batch)?;
    }
    Ok(())
}

fn print(
    scratch: &dyn EventStore,
    views: &projections::Views,
    sent: &[Sent],
    ticks: u64,
    from: NaiveDate,
    to: NaiveDate,
    format: Format,
) -> Result<u8> {
    let mut reminders = Table::new(&["SENT", "FIRE AT", "LATE", "TO", "SUBJECT"]);
    let mut reminder_values = Vec::new();
    for s in sent {
        let Some(r) = views.work.reminders.get(&s.reminder) else {
            continue;
        };
        let subject = r
            .rendered
            .as_ref()
            .map(|m| m.subject.clone())
            .unwrap_or_default();
        let late = r.rendered.as_ref().is_some_and(|m| m.late);
        reminders.push(vec![
            s.at.format("%Y-%m-%d %H:%M").to_string(),
            r.fire_at.0.format("%Y-%m-%d %H:%M").to_string(),
            if late { "late" } else { "" }.to_string(),
            r.recipient.clone(),
            subject.clone(),
        ]);
        reminder_values.push(json!({"sent_at": s.at.to_rfc3339(), "reminder": r.reminder,
            "fire_at": r.fire_at, "late": late, "recipient": r.recipient, "subject": subject}));
    }
    let mut deadlines = Table::new(&["DUE", "OUTCOME", "DEADLINE", "WHAT"]);
    let mut deadline_values = Vec::new();
    let (mut in_time, mut late, mut missed) = (0, 0, 0);
    for d in views
        .work
        .deadlines
        .values()
        .filter(|d| (from..=to).contains(&d.due.0))
    {
        let met_on = match d.met_seq {
            Some(seq) => scratch.get(seq)?.map(|e| e.occurred.counts_from()),
            None => None,
        };
        let outcome = match (met_on, d.status) {
            (Some(on), _) if on <= d.due.0 => {
                in_time += 1;
                format!("met {on}")
            }
            (Some(on), _) => {
                late += 1;
                format!("met late {on}")
            }
            (None, DeadlineStatus::Missed) => {
                missed += 1;
                "missed".to_string()
            }
            (None, DeadlineStatus::Cancelled) => "cancelled".to_string(),
            (None, _) => "open".to_string(),
        };
        deadlines.push(vec![
            d.due.to_string(),
            outcome.clone(),
            d.deadline.clone(),
            d.what.clone(),
        ]);
        deadline_values.push(
            json!({"deadline": d.deadline, "due": d.due, "outcome": outcome,
            "what": d.what, "responsible": d.responsible}),
        );
    }
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"from": from, "to": to, "ticks": ticks,
                "reminders_sent": reminder_values, "deadlines": deadline_values,
                "met_in_time": in_time, "met_late": late, "missed": missed}))?
        ),
        Format::Csv => {
            return Err(BadInput("simulate writes a table or JSON (--format json)".into()).into())
        }
        Format::Table => {
            println!(
                "simulated {ticks} ticks from {from} to {to}; nothing was sent, the store was not written"
            );
            println!("\nreminders that would have gone out ({}):", sent.len());
            print!("{}", reminders.to_text(crate::render::width()));
            println!(
                "\ndeadlines due in the period: {in_time} met in time, {late} met late, {missed} missed"
            );
            print!("{}", deadlines.to_text(crate::render::width()));
        }
    }
    Ok(0)
}
