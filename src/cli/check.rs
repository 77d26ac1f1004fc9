//! `accord check`: the records of a log, read in order, against the rules new records are held
//! to (`domain::lifecycle`). A log recorded before those rules may hold records they would now
//! refuse (a meeting held that was never scheduled, a second `MeetingScheduled` of one
//! meeting): each is reported as a warning, with its seq; nothing is rewritten.

use anyhow::{Context, Result};

use crate::domain::lifecycle::Registry;
use crate::domain::DomainEvent;
use crate::projections::Corrections;
use crate::store::EventStore;

/// One record the rules would refuse today.
pub struct Warning {
    pub seq: u64,
    pub ty: String,
    pub stream: String,
    pub message: String,
}

/// Every record of the log (as corrected) that the rules would refuse, and the mandates that
/// report at a meeting the log never scheduled.
pub fn warnings(store: &dyn EventStore) -> Result<Vec<Warning>> {
    let head = store.head().seq;
    let corrections = Corrections::load(store, head).context("failed to read the corrections")?;
    let mut registry = Registry::default();
    let mut out = Vec::new();
    let mut report_at: Vec<(u64, String, String)> = Vec::new();
    for env in store.read_from(1) {
        let env = env.context("failed to read the log")?;
        if env.seq > head {
            break;
        }
        let event = match corrections.effective(&env) {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            Err(e) => {
                out.push(Warning {
                    seq: env.seq,
                    ty: env.ty.clone(),
                    stream: env.stream.clone(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        if let Err(r) = registry.decide(&event) {
            out.push(Warning {
                seq: env.seq,
                ty: env.ty.clone(),
                stream: env.stream.clone(),
                message: r.to_string(),
            });
        }
        if let DomainEvent::DecisionAdopted(d) = &event {
            for m in &d.mandates {
                if let Some(at) = &m.report_at {
                    report_at.push((
                        env.seq,
                        format!("{}#{}", d.symbol, m.paragraph),
                        at.0.clone(),
                    ));
                }
            }
        }
        registry.evolve(env.seq, &event);
        registry.commit();
    }
    for (seq, mandate, at) in report_at {
        if !registry.meetings.contains(at.as_str()) && !registry.segments.contains(at.as_str()) {
            out.push(Warning {
                seq,
                ty: "DecisionAdopted".into(),
                stream: String::new(),
                message: format!(
                    "mandate {mandate} reports at `{at}`, a meeting the log never scheduled"
                ),
            });
        }
    }
    out.sort_by_key(|w| w.seq);
    Ok(out)
}

/// `accord check`: prints each warning; exit 1 when there are any.
pub fn run(store: &dyn EventStore) -> Result<u8> {
    let found = warnings(store)?;
    for w in &found {
        let at = if w.stream.is_empty() {
            String::new()
        } else {
            format!(" in {}", w.stream)
        };
        println!(
            "warning: seq {} ({}{at}): {}",
            w.seq,
            w.ty,
            crate::render::printable(&w.message)
        );
    }
    let head = store.head().seq;
    if found.is_empty() {
        println!("{head} records keep the rules; nothing to report");
        Ok(0)
    } else {
        println!(
            "{} of {head} records break the rules new records are held to; nothing was rewritten",
            found.len()
        );
        Ok(1)
    }
}
