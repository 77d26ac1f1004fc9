//! Evaluation from replayed history: indicators of what was asked, by whom, what was done and
//! when, each with its definition and the event types it counts, cited to the last event read.
//!
//! Everything is computed from the views as known at one recording instant, so an evaluation
//! made with `--known-at T` is byte-for-byte the same whatever is recorded after T.

mod charts;
mod report;
mod tables;

pub use charts::{html, html_body};
pub use report::{csv, markdown};

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::{ApproxDate, MandateStatus};
use crate::projections::meetings::MeetingStatus;
use crate::projections::work::{DeadlineStatus, ReminderStatus};
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

fn median(mut v: Vec<i64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    })
}

fn median_json(v: Vec<i64>) -> serde_json::Value {
    median(v).map_or(serde_json::Value::Null, |m| serde_json::json!(m))
}

/// How many year-end states [`mandate_mix`] folds in one pass over the log.
pub const YEARS_PER_PASS: usize = 8;

/// The status mix of the mandates at the end of each year of `years_wanted` from the first
/// adoption year, each as of that day (and as known at `known_at`): one pass over the log for
/// every [`YEARS_PER_PASS`] years, not one per year.
pub fn mandate_mix(
    store: &dyn crate::store::EventStore,
    views: &Views,
    known_at: Option<chrono::DateTime<chrono::Utc>>,
    years_wanted: std::ops::RangeInclusive<i32>,
    scope: &Scope,
) -> Result<BTreeMap<String, BTreeMap<String, u64>>, crate::store::StoreError> {
    use chrono::Datelike;
    let mut out = BTreeMap::new();
    let Some(first) = views
        .decisions
        .decisions
        .values()
        .map(|d| d.adopted.0.year())
        .min()
    else {
        return Ok(out);
    };
    let last_year = *years_wanted.end();
    let years: Vec<i32> = (first.max(*years_wanted.start())..=last_year.max(first)).collect();
    let ends: Vec<NaiveDate> = years
        .iter()
        .map(|y| NaiveDate::from_ymd_opt(*y, 12, 31).expect("31 December"))
        .collect();
    // Eight years to a pass: a state per year held at once, a pass per eight years.
    for (years, ends) in years
        .chunks(YEARS_PER_PASS)
        .zip(ends.chunks(YEARS_PER_PASS))
    {
        let states = crate::projections::mandate_statuses_as_of_each(store, known_at, ends)?;
        for (day, year) in years.iter().enumerate() {
            out.insert(year.to_string(), status_mix(views, states.on(day), scope));
        }
    }
    Ok(out)
}

/// How many mandates are in each status, in the scope's body (a decision's meeting and that
/// meeting's body never change, so they are read from the views as known now).
fn status_mix<'a>(
    views: &Views,
    statuses: impl Iterator<Item = (&'a str, crate::domain::MandateStatus)>,
    scope: &Scope,
) -> BTreeMap<String, u64> {
    let mut mix = BTreeMap::new();
    for (id, status) in statuses {
        let in_scope = scope.body.is_none() || {
            let symbol = id.rsplit_once('#').map_or(id, |(s, _)| s);
            let body = views
                .decisions
                .decisions
                .get(symbol)
                .and_then(|d| views.meetings.find(&d.meeting))
                .map(|m| m.body.code().to_string());
            body == scope.body
        };
        if in_scope {
            *mix.entry(status.name().to_string()).or_default() += 1;
        }
    }
    mix
}

/// When a mandate was due (the end of the meeting, or of every segment of it, it reports at,
/// or its `report_by` day, whichever is earlier) and whether that occasion has passed.
fn mandate_due(
    views: &Views,
    m: &crate::projections::decisions::MandateRow,
    reference: NaiveDate,
) -> Option<(NaiveDate, bool)> {
    let end = |d: &ApproxDate| d.end().unwrap_or_else(|| d.start());
    let mut due = m.report_at.as_deref().and_then(|r| {
        let mt = views.meetings.find(r)?;
        Some(
            if let Some(seg) = mt.segments.iter().find(|s| s.segment == r) {
                (end(&seg.dates), seg.status == MeetingStatus::Over)
            } else if !mt.segments.is_empty() {
                let last = mt
                    .segments
                    .iter()
                    .map(|s| end(&s.dates))
                    .max()
                    .unwrap_or_else(|| end(&mt.dates));
                let held = mt.status == MeetingStatus::Over
                    || mt.segments.iter().all(|s| s.status == MeetingStatus::Over);
                (last, held)
            } else {
                (end(&mt.dates), mt.status == MeetingStatus::Over)
            },
        )
    });
    if let Some(by) = m.report_by {
        let by_due = (by.0, by.0 < reference);
        due = Some(match due {
            Some(d) if d.0 <= by_due.0 => d,
            _ => by_due,
        });
    }
    due
}

/// What became of a mandate, by the indicator's definition.
fn mandate_outcome(
    views: &Views,
    m: &crate::projections::decisions::MandateRow,
    reference: NaiveDate,
) -> &'static str {
    let due = mandate_due(views, m, reference);
    if let Some(on) = m.reported_on {
        let (start, end) = (on.start(), on.end().unwrap_or_else(|| on.start()));
        return match due {
            Some((d, _)) if end <= d => "reported on time",
            Some((d, _)) if start > d => "reported late",
            Some(_) => "reported, timing uncertain",
            None => "reported",
        };
    }
    match (m.status, due) {
        (MandateStatus::Superseded, _) => "superseded",
        (_, Some((_, true))) | (MandateStatus::Elapsed, _) => "not reported",
        _ => "pending",
    }
}

/// Computes every indicator over `views`; `mix` is the mandates' status mix by year;
/// `reference` is the day of the last event read (days before it have passed).
pub fn evaluate(
    views: &Views,
    scope: &Scope,
    last_seq: u64,
    last_hash: String,
    known_at: Option<String>,
    mix: BTreeMap<String, BTreeMap<String, u64>>,
    reference: NaiveDate,
) -> Evaluation {
    let meeting_body = |id: &str| views.meetings.find(id).map(|m| m.body.code().to_string());
    let body_ok = |b: Option<String>| scope.body.is_none() || b == scope.body;
    let decisions: Vec<_> = views
        .decisions
        .decisions
        .values()
        .filter(|d| scope.day(d.adopted.0) && body_ok(meeting_body(&d.meeting)))
        .collect();

    // 1. Mandates and whether they were reported at the meeting they were due.
    let mut by_decision: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut by_addressee: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for d in &decisions {
        for id in &d.mandates {
            let Some(m) = views.decisions.mandates.get(id) else {
                continue;
            };
            let outcome = mandate_outcome(views, m, reference);
            for map in [
                by_decision.entry(d.symbol.clone()).or_default(),
                by_addressee.entry(m.addressee.clone()).or_default(),
                &mut totals,
            ] {
                *map.entry("issued").or_default() += 1;
                *map.entry(outcome).or_default() += 1;
            }
        }
    }

    // 2. Days from a decision to its first follow-up. Groups and reports are found through
    // the decision they name (`MC-3/11` or one of its paragraphs, `MC-3/11#2`).
    let symbol_of = |s: &str| s.split('#').next().unwrap_or(s).to_string();
    let mut groups_of: std::collections::HashMap<String, Vec<_>> = Default::default();
    for g in views.groups.0.values() {
        if let Some(i) = g.implements.as_deref() {
            groups_of.entry(symbol_of(i)).or_default().push(g);
        }
    }
    let mut reports_of: std::collections::HashMap<String, Vec<_>> = Default::default();
    for r in views.reports.reports.values() {
        if let Some(d) = r.decision.as_deref() {
            reports_of.entry(symbol_of(d)).or_default().push(r);
        }
    }
    let mut follow: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    // Whether a day count came from an approximate date ("2020"): then it reads "about N".
    let mut follow_approximate = false;
    let mut follow_days = Vec::new();
    for d in &decisions {
        let window = |d: &ApproxDate, what: String| {
            (
                d.start(),
                d.end().unwrap_or_else(|| d.start()),
                what,
                !d.is_exact(),
            )
        };
        let mut firsts: Vec<(NaiveDate, NaiveDate, String, bool)> = Vec::new();
        for g in groups_of.get(&d.symbol).into_iter().flatten() {
            firsts.push(window(
                &g.established,
                format!("group {} established", g.group),
            ));
            for a in &g.activities {
                if let Some(act) = views.reports.activities.get(a) {
                    firsts.push(window(&act.on, format!("activity {}", act.activity)));
                }
            }
        }
        for r in reports_of.get(&d.symbol).into_iter().flatten() {
            firsts.push(window(
                &r.drafted.on,
                format!("report {} drafted", r.report),
            ));
        }
        // An approximate date counts when its window ends on or after the adoption; its days
        // are the fewest it can be, and the answer says it is approximate.
        firsts.retain(|(_, end, _, _)| *end >= d.adopted.0);
        firsts.sort();
        let first = firsts.first();
        let days = first.map(|(start, ..)| (*start - d.adopted.0).num_days().max(0));
        if let Some(n) = days {
            follow_days.push(n);
            follow_approximate |= first.is_some_and(|f| f.3);
        }
        follow.insert(
            d.symbol.clone(),
            serde_json::json!({"adopted": d.adopted, "first_follow_up": first.map(|f| &f.2),
                "on": first.map(|f| f.0), "days": days, "approximate": first.map(|f| f.3)}),
        );
    }

    // 3. Report cycle.
    let mut reports = Vec::new();
    let mut reports_approximate = false;
    let (mut to_endorse, mut to_submit) = (Vec::new(), Vec::new());
    for r in views
        .reports
        .reports
        .values()
        .filter(|r| scope.window(&r.drafted.on))
    {
        let endorsed = r
            .endorsed
            .as_ref()
            .map(|e| (e.on.start() - r.drafted.on.start()).num_days());
        let submitted = r.submitted.first().map(|s| {
            let from = r.endorsed.as_ref().map_or(r.drafted.on, |e| e.on);
            (s.on.start() - from.start()).num_days()
        });
        to_endorse.extend(endorsed);
        to_submit.extend(submitted);
        let approximate = !r.drafted.on.is_exact()
            || r.endorsed.as_ref().is_some_and(|e| !e.on.is_exact())
            || r.submitted.first().is_some_and(|s| !s.on.is_exact());
        reports_approximate |= approximate && (endorsed.is_some() || submitted.is_some());
        reports.push(serde_json::json!({"report": r.report, "title": r.title, "drafted": r.drafted.on, "endorsed": r.endorsed.as_ref().map(|e| e.on),
            "submitted": r.submitted.first().map(|s| &s.document), "days_to_endorse": endorsed, "days_to_submit": submitted, "status": r.status(),
            "approximate": approximate}));
    }

    // 4. Meetings moved: each move of the period (by when it was recorded as happening). A
    // confirmation inside the window first announced is not a move.
    let mut moves = Vec::new();
    let mut moved_meetings = 0;
    let (mut postponed, mut rescheduled, mut split) = (0u64, 0u64, 0u64);
    for m in views
        .meetings
        .0
        .values()
        .filter(|m| body_ok(Some(m.body.code().to_string())))
    {
        let mut moved = false;
        if !m.segments.is_empty() && scope.window(&m.dates) {
            split += 1;
        }
        for mv in m.moves.iter().filter(|mv| scope.window(&mv.occurred)) {
            let within = mv.to.start() >= mv.from.start()
                && mv.to.end().unwrap_or_else(|| mv.to.start())
                    <= mv.from.end().unwrap_or(NaiveDate::MAX);
            if mv.kind == "confirmed" && within {
                continue;
            }
            match mv.kind.as_str() {
                "postponed" => postponed += 1,
                "rescheduled" => rescheduled += 1,
                _ => {}
            }
            moved = true;
            // No day count is made up for a postponement whose new dates are to be determined.
            let days = (!mv.to_be_determined).then(|| (mv.to.start() - mv.from.start()).num_days());
            let approximate = !mv.from.is_exact() || !mv.to.is_exact();
            moves.push(serde_json::json!({"meeting": m.meeting, "segment": mv.segment, "kind": mv.kind, "from": mv.from,
                "to": if mv.to_be_determined { serde_json::Value::from("to be determined") } else { serde_json::json!(mv.to) },
                "occurred": mv.occurred, "days": days, "approximate": approximate, "decided_by": mv.decided_by}));
        }
        if moved {
            moved_meetings += 1;
        }
    }

    // 5. Cooperation activities per area and year, and per scope.
    let mut per_area: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut per_scope: BTreeMap<String, u64> = BTreeMap::new();
    for a in views
        .reports
        .activities
        .values()
        .filter(|a| scope.window(&a.on))
    {
        let group = views.groups.0.get(&a.group);
        let area = a
            .area
            .clone()
            .or_else(|| group.and_then(|g| g.area.clone()))
            .unwrap_or_else(|| "(no area)".into());
        *per_area
            .entry(area)
            .or_default()
            .entry(a.on.start().format("%Y").to_string())
            .or_default() += 1;
        let scope_name = group
            .map(|g| {
                serde_json::to_value(g.scope)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "(no group)".into());
        *per_scope.entry(scope_name).or_default() += 1;
    }

    // 6. Deadlines and reminders: reminders sent before each deadline was met (or at all).
    let (mut met, mut missed, mut met_after_reminder) = (0u64, 0u64, 0u64);
    let mut deadlines = Vec::new();
    let mut sent_for: std::collections::HashMap<&str, Vec<_>> = Default::default();
    for r in views.work.reminders.values() {
        if let (Some(d), ReminderStatus::Sent) = (r.deadline.as_deref(), r.status) {
            sent_for.entry(d).or_default().push(r);
        }
    }
    for d in views
        .work
        .deadlines
        .values()
        .filter(|d| scope.day(d.due.0) && body_ok(d.meeting.as_deref().and_then(&meeting_body)))
    {
        let before = |r: &&crate::projections::work::ReminderRow| match (r.sent_seq, d.met_seq) {
            (Some(sent), Some(met)) => sent < met,
            (Some(_), None) => true,
            _ => false,
        };
        let sent = sent_for
            .get(d.deadline.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(before)
            .count();
        match d.status {
            DeadlineStatus::Met => {
                met += 1;
                if sent > 0 {
                    met_after_reminder += 1;
                }
            }
            DeadlineStatus::Missed => missed += 1,
            _ => {}
        }
        deadlines.push(serde_json::json!({"deadline": d.deadline, "due": d.due, "status": format!("{:?}", d.status).to_lowercase(), "reminders_sent_before": sent}));
    }

    // 7. National reporting: per cycle and convention, the Parties bound to report (joined by
    // the due day), how many submitted and how many on time.
    let mut cycles = Vec::new();
    for d in views.work.deadlines.values().filter(|d| {
        scope.day(d.due.0) && d.due.0 <= reference && body_ok(d.body.map(|b| b.code().to_string()))
    }) {
        let (Some(body), Some(c)) = (d.body, crate::listing::cycle_standing(views, d)) else {
            continue;
        };
        let cycle = d.instance.trim_start_matches("cycle:");
        let kind = d.report.map_or("national", |k| k.name());
        let rate = |n: usize| (n as f64 * 1000.0 / c.parties as f64).round() / 10.0;
        cycles.push(serde_json::json!({"body": body, "cycle": cycle, "kind": kind, "due": d.due,
            "parties": c.parties, "submitted": c.submitted, "on_time": c.on_time,
            "submission_rate_percent": rate(c.submitted), "on_time_rate_percent": rate(c.on_time),
            "summary": format!("{} of {} Parties to {body} submitted their {kind} report for {cycle} by {}; {} in all",
                c.on_time, c.parties, d.due, c.submitted)}));
    }

    let indicators = vec![
        Indicator {
            id: "mandates",
            title: "Mandates issued and reported",
            definition: "Each paragraph of a decision adopted in the period; reported on time when first reported by the end of the meeting (or of its last segment) it was to report at, or by its report-by day; late after it; timing uncertain when an approximate date straddles it; not reported when that occasion passed without a report. The status mix is taken at the end of each year of the period (the last eight years when the period is open).",
            counts: &["DecisionAdopted", "MandateStatusChanged", "ReportSubmitted", "MeetingHeld"],
            value: serde_json::json!({"total": totals, "by_decision": by_decision, "by_addressee": by_addressee, "status_by_year_end": mix}),
        },
        Indicator {
            id: "follow_up",
            title: "Days from a decision to its first follow-up",
            definition: "Days from adoption to the first group established to implement it (or one of its activities) or the first report drafted on it.",
            counts: &["DecisionAdopted", "GroupEstablished", "ActivityReported", "ReportDrafted"],
            value: serde_json::json!({"median_days": median_json(follow_days), "approximate": follow_approximate, "by_decision": follow}),
        },
        Indicator {
            id: "report_cycle",
            title: "Report cycle: drafted, endorsed, submitted",
            definition: "Days from drafting to endorsement and from endorsement (or drafting) to the first submission, per report drafted in the period.",
            counts: &["ReportDrafted", "ReportEndorsed", "ReportSubmitted"],
            value: serde_json::json!({"median_days_to_endorse": median_json(to_endorse), "median_days_to_submit": median_json(to_submit), "approximate": reports_approximate, "reports": reports}),
        },
        Indicator {
            id: "meeting_moves",
            title: "Meetings postponed, rescheduled or split",
            definition: "Moves of the dates of meetings (and segments) recorded as happening in the period, and by how many days each moved; a confirmation inside the dates first announced is not a move.",
            counts: &["MeetingPostponed", "MeetingRescheduled", "MeetingSplit", "MeetingConfirmed"],
            value: serde_json::json!({"meetings_moved": moved_meetings, "postponements": postponed, "reschedulings": rescheduled, "split": split, "moves": moves}),
        },
        Indicator {
            id: "activities",
            title: "Cooperation activities per area and year, and per scope",
            definition: "Activities reported by groups in the period, by area of cooperation and year, and by the scope of the reporting group.",
            counts: &["ActivityReported", "GroupEstablished"],
            value: serde_json::json!({"per_area_per_year": per_area, "per_scope": per_scope}),
        },
        Indicator {
            id: "deadlines",
            title: "Deadlines met and missed, and reminders",
            definition: "Deadlines due in the period by status, reminders sent before each was met, and met deadlines that came after a reminder.",
            counts: &["DeadlineSet", "DeadlineMet", "DeadlineMissed", "ReminderSent"],
            value: serde_json::json!({"met": met, "missed": missed, "met_after_a_reminder": met_after_reminder, "deadlines": deadlines}),
        },
        Indicator {
            id: "national_reporting",
            title: "National reports submitted, and on time, per cycle",
            definition: "For each reporting cycle due in the period: the Parties bound to report (those that had joined by the due day), how many submitted a report of the cycle's kind, and how many by the due day.",
            counts: &["PartyJoined", "NationalReportReceived", "DeadlineSet"],
            value: serde_json::json!({"cycles": cycles}),
        },
    ];
    Evaluation {
        last_seq,
        last_hash,
        known_at,
        from: scope.from,
        to: scope.to,
        body: scope.body.clone(),
        indicators,
    }
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
    // The year-end mix covers the period's years, or the last eight when it is open.
    let first_year = scope
        .from
        .map(|f| f.year())
        .unwrap_or(last_year - (YEARS_PER_PASS as i32 - 1));
    let mix = mandate_mix(store, views, known_at, first_year..=last_year, scope)?;
    Ok(evaluate(
        views,
        scope,
        k,
        hash,
        last.map(|e| e.recorded_at),
        mix,
        reference,
    ))
}

#[cfg(test)]
mod tests;
