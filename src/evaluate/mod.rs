//! Evaluation from replayed history: indicators of what was asked, by whom, what was done and
//! when, each with its definition and the event types it counts, cited to the last event read.
//!
//! Everything is computed from the views as known at one recording instant, so an evaluation
//! made with `--known-at T` is byte-for-byte the same whatever is recorded after T.

mod charts;
mod indicators;
mod report;
mod tables;

pub use charts::{html, html_body};
pub use report::{csv, markdown};

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::ApproxDate;
use crate::projections::Views;

/// What to evaluate.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub body: Option<String>,
    /// Evaluate what had happened by this day (the dashboard's "as of"): the views are folded as
    /// of it, and it is the reference day for what was due.
    pub as_of: Option<NaiveDate>,
    /// List at most this many records in each list (the rows a page shows); the figures,
    /// medians and charts still count every record, and each indicator says what it left out.
    pub rows: Option<usize>,
}

impl Scope {
    fn day(&self, d: NaiveDate) -> bool {
        self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t)
    }

    fn window(&self, d: &ApproxDate) -> bool {
        self.from
            .is_none_or(|f| d.end().unwrap_or_else(|| d.start()) >= f)
            && self.to.is_none_or(|t| d.start() <= t)
    }
}

/// One indicator.
#[derive(Clone, Debug, Serialize)]
pub struct Indicator {
    pub id: &'static str,
    pub title: &'static str,
    pub definition: &'static str,
    pub counts: &'static [&'static str],
    pub value: serde_json::Value,
    /// The lists of `value` cut to the scope's rows, with how many records each left out.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub left_out: BTreeMap<&'static str, usize>,
}

/// The evaluation and the evidence it read.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// The last event read: its seq and hash cite the evidence.
    pub last_seq: u64,
    pub last_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub indicators: Vec<Indicator>,
}

/// How many years an open period's status mix covers.
pub const OPEN_YEARS: usize = 8;

/// The status mix of the mandates at the end of each year of `years_wanted` from the first
/// adoption year, each as of that day, replayed from the changes the views hold (so as known
/// when they were folded). As of a day (the scope's `as_of`), no later year end is known: the
/// mix stops at that day's year, taken on that day.
pub fn mandate_mix(
    views: &Views,
    years_wanted: std::ops::RangeInclusive<i32>,
    scope: &Scope,
) -> BTreeMap<String, BTreeMap<String, u64>> {
    use chrono::Datelike;
    let mut out = BTreeMap::new();
    let Some(first) = views
        .decisions
        .decisions
        .values()
        .map(|d| d.adopted.0.year())
        .min()
    else {
        return out;
    };
    let last_year = scope
        .as_of
        .map_or(*years_wanted.end(), |d| (*years_wanted.end()).min(d.year()));
    let years: Vec<i32> = (first.max(*years_wanted.start())..=last_year.max(first)).collect();
    let ends: Vec<NaiveDate> = years
        .iter()
        .map(|y| {
            let end = NaiveDate::from_ymd_opt(*y, 12, 31).expect("31 December");
            scope.as_of.map_or(end, |d| end.min(d))
        })
        .collect();
    let states =
        crate::projections::decisions::MandateStatuses::replay(&views.decisions.changes, &ends);
    let in_scope: Vec<bool> = states
        .mandates()
        .map(|id| mandate_in_scope(views, id, scope))
        .collect();
    for (day, year) in years.iter().enumerate() {
        out.insert(year.to_string(), status_mix(states.on(day), &in_scope));
    }
    out
}

/// How many mandates are in each status, of those `in_scope` (by index).
fn status_mix(
    statuses: impl Iterator<Item = (usize, crate::domain::MandateStatus)>,
    in_scope: &[bool],
) -> BTreeMap<String, u64> {
    let mut mix: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, status) in statuses {
        if in_scope[i] {
            *mix.entry(status.name()).or_default() += 1;
        }
    }
    mix.into_iter().map(|(k, n)| (k.to_string(), n)).collect()
}

/// Whether a mandate is in the scope's body (a decision's meeting and that meeting's body never
/// change, so they are read from the views as known now).
fn mandate_in_scope(views: &Views, id: &str, scope: &Scope) -> bool {
    scope.body.as_deref().is_none_or(|want| {
        let symbol = id.rsplit_once('#').map_or(id, |(s, _)| s);
        views
            .decisions
            .decisions
            .get(symbol)
            .and_then(|d| views.meetings.find(&d.meeting))
            .is_some_and(|m| m.body.code() == want)
    })
}

/// Evaluates the log as known at `known_at` (all of it when `None`). The reference day, the
/// last year of the status mix and the cited instant all come from the last event read, so the
/// answer depends on the log alone.
pub fn run(
    store: &dyn crate::store::EventStore,
    scope: &Scope,
    known_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Evaluation, crate::store::StoreError> {
    use chrono::Datelike;
    let k = match known_at {
        Some(t) => crate::projections::seq_known_at(store, t)?,
        None => store.head().seq,
    };
    let last = if k == 0 { None } else { store.get(k)? };
    let hash = last
        .as_ref()
        .map_or(crate::envelope::ZERO_HASH.to_string(), |e| e.hash.clone());
    let recorded = last.as_ref().and_then(|e| e.recorded_at_time());
    let reference = recorded.map_or(NaiveDate::MIN, |t| t.date_naive());
    let reference = scope.as_of.map_or(reference, |d| d.min(reference));
    // The whole log as it stands is the state kept in memory; other questions fold.
    let state = if known_at.is_none() && scope.as_of.is_none() {
        crate::projections::current(store)?
    } else {
        std::sync::Arc::new(crate::projections::views(
            store,
            &crate::projections::Query {
                known_at,
                as_of: scope.as_of,
                ..Default::default()
            },
        )?)
    };
    let views = &state.views;

    let last_year = scope
        .to
        .map(|t| t.year())
        .unwrap_or(reference.year())
        .max(1900);
    let last_year = scope.as_of.map_or(last_year, |d| last_year.min(d.year()));
    // The year-end mix covers the period's years, or the last eight when it is open.
    let first_year = scope
        .from
        .map(|f| f.year())
        .unwrap_or(last_year - (OPEN_YEARS as i32 - 1));
    // The status mix replays every mandate's changes: it runs beside the other indicators.
    Ok(std::thread::scope(|s| {
        let mix = s.spawn(|| mandate_mix(views, first_year..=last_year, scope));
        indicators::evaluate(
            views,
            scope,
            k,
            hash,
            last.map(|e| e.recorded_at),
            || mix.join().expect("the status mix"),
            reference,
        )
    }))
}

#[cfg(test)]
mod tests;
