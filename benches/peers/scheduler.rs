//! The scheduler beside a scan of every timer: a tick with nothing due, a rescheduling, the
//! start-up recovery of pending reminders and the memory a tick takes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use accord::input::{parse_value, Proposed};
use accord::projections;
use accord::store::{EventStore, SledStore};
use chrono::{DateTime, Utc};

use crate::measure::*;
use crate::serving::accord_bin;

pub(crate) fn scheduler(
    rows: &mut Vec<Row>,
    work: &Path,
    history_events: usize,
    rt: &tokio::runtime::Runtime,
) {
    use accord::projections::work::ReminderStatus;
    eprintln!(
        "== scheduler on a {} history ticked from its start",
        label(history_events)
    );
    let dir = work.join("scheduler");
    // A history still to come, recorded now, ticked live: its meetings from next year on, none
    // held yet (the rules would refuse to postpone a meeting held); tagged, so it has no
    // corrections (they would name events by seq).
    let next_year = chrono::Datelike::year(&Utc::now()) + 1;
    let mut bytes = Vec::new();
    accord::generate::generate_from(history_events, 11, "f", next_year, &mut bytes)
        .expect("generation writes to memory");
    let events: Vec<Proposed> = parse_generated(&bytes)
        .into_iter()
        .filter(|p| p.ty != "MeetingHeld")
        .collect();
    let store = SledStore::open(&dir).expect("store opens");
    for chunk in events.chunks(10_000) {
        store.append(chunk.to_vec()).expect("append");
    }
    let engine = accord::cli::work::engine(&config(), &dir).expect("engine");
    let t0 = Utc::now() + chrono::Duration::seconds(1);
    let first = Instant::now();
    rt.block_on(engine.tick(&store, t0)).expect("first tick");
    let first_ms = first.elapsed().as_secs_f64() * 1e3;
    let state = projections::current(&store).expect("views");
    let pending: Vec<DateTime<Utc>> = state
        .views
        .work
        .reminders
        .values()
        .filter(|r| r.status == ReminderStatus::Scheduled)
        .map(|r| r.fire_at.0)
        .collect();
    let k = pending.len();
    eprintln!("  {k} reminders pending; the first tick took {first_ms:.0} ms");
    // Quiet ticks: nothing due, nothing new.
    let ticks = 1_000;
    let started = Instant::now();
    for i in 1..=ticks {
        let now = t0 + chrono::Duration::milliseconds(i);
        let r = rt.block_on(engine.tick(&store, now)).expect("tick");
        assert_eq!(r.recorded + r.sent.len(), 0, "nothing is due");
    }
    let tick_ms = started.elapsed().as_secs_f64() * 1e3 / ticks as f64;
    // The peer: a scheduler that scans every pending timer on each tick.
    let started = Instant::now();
    for i in 1..=ticks {
        let now = t0 + chrono::Duration::milliseconds(i);
        let due = pending.iter().filter(|t| **t <= now).count();
        std::hint::black_box(due);
    }
    let scan_ms = started.elapsed().as_secs_f64() * 1e3 / ticks as f64;
    row(
        rows,
        format!("scheduler tick, nothing due, {k} pending reminders (ms) vs a scan of every timer"),
        tick_ms,
        scan_ms,
        "≤ 1 ms",
        tick_ms <= 1.0,
    );

    // A rescheduling that moves about 1,000 reminders: meetings postponed by 30 days.
    let mut per_meeting: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in state.views.work.reminders.values() {
        if r.status != ReminderStatus::Scheduled {
            continue;
        }
        if let Some(m) = r
            .deadline
            .as_deref()
            .and_then(|d| state.views.work.deadlines.get(d))
            .and_then(|d| d.meeting.as_deref())
        {
            *per_meeting.entry(m).or_default() += 1;
        }
    }
    let mut moves = Vec::new();
    let mut moving = 0;
    for (meeting, count) in per_meeting {
        if moving >= 1_000 {
            break;
        }
        let Some(m) = state.views.meetings.0.get(meeting) else {
            continue;
        };
        if m.dates.end().is_none() {
            continue;
        }
        let from = m.dates.start() + chrono::Duration::days(30);
        let to = m.dates.end().expect("checked") + chrono::Duration::days(30);
        let v = serde_json::json!({
            "type": "MeetingPostponed",
            "occurred": t0.date_naive().to_string(),
            "actor": "bench",
            "data": {"meeting": meeting, "dates": format!("{from}/{to}")},
        });
        if let Ok(p) = parse_value(moves.len() + 1, v) {
            moves.push(p);
            moving += count;
        }
    }
    drop(state);
    let before = projections::current(&store).expect("views");
    let started = Instant::now();
    store.append(moves).expect("postponements");
    let now = t0 + chrono::Duration::seconds(5);
    rt.block_on(engine.tick(&store, now)).expect("tick");
    let move_ms = started.elapsed().as_secs_f64() * 1e3;
    let after = projections::current(&store).expect("views");
    let moved = before
        .views
        .work
        .reminders
        .values()
        .filter(|r| r.status == ReminderStatus::Scheduled)
        .filter(|r| {
            after
                .views
                .work
                .reminders
                .get(&r.reminder)
                .is_none_or(|a| a.status != ReminderStatus::Scheduled || a.fire_at != r.fire_at)
        })
        .count();
    row(
        rows,
        format!(
            "rescheduling that moves {moved} of {k} reminders (ms) vs the first tick that made them all"
        ),
        move_ms,
        first_ms,
        "none stated (report)",
        true,
    );
    drop((before, after));
    drop(store);

    // Start-up recovery: open the store, load the projections, run the first tick.
    let started = Instant::now();
    let store = SledStore::open(&dir).expect("store opens");
    let engine = accord::cli::work::engine(&config(), &dir).expect("engine");
    rt.block_on(engine.tick(&store, now + chrono::Duration::seconds(1)))
        .expect("tick");
    let recovery_ms = started.elapsed().as_secs_f64() * 1e3;
    row(
        rows,
        format!(
            "start-up recovery with {k} pending reminders (ms) vs the first tick that made them"
        ),
        recovery_ms,
        first_ms,
        "≤ 1,000 ms",
        recovery_ms <= 1_000.0,
    );
    drop(store);
    // Memory: the peak resident size of `accord tick` on this store, in its own process.
    let export: usize = {
        let store = SledStore::open(&dir).expect("store opens");
        store
            .read_from(1)
            .map(|e| e.expect("record").to_canonical().len() + 1)
            .sum()
    };
    let mut child = Command::new(accord_bin())
        .args(["--data"])
        .arg(&dir)
        .args(["tick", "--now"])
        .arg((now + chrono::Duration::seconds(2)).to_rfc3339())
        .stdout(Stdio::null())
        .spawn()
        .expect("accord tick");
    let mut peak = 0u64;
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max(rss_kib(child.id(), "VmHWM:").unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    row(
        rows,
        format!("accord tick with {k} pending reminders (MB peak resident) vs JSON export (MB)"),
        peak as f64 / 1024.0,
        export as f64 / 1048576.0,
        "none stated (report)",
        true,
    );
}
