//! The indicators: each computed over the views in one pass over what it counts, its lists
//! cut to the scope's `rows` when the caller shows only the first rows (the figures, medians
//! and charts still count every record).

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};

use super::{Evaluation, Indicator, Scope};
use crate::domain::{ApproxDate, MandateStatus};
use crate::projections::meetings::MeetingStatus;
use crate::projections::work::{DeadlineStatus, ReminderStatus};
use crate::projections::Views;

/// Computes every indicator over `views`; `mix` gives the mandates' status mix by year;
/// `reference` is the day of the last event read (days before it have passed).
pub(super) fn evaluate(
    views: &Views,
    scope: &Scope,
    last_seq: u64,
    last_hash: String,
    known_at: Option<String>,
    mix: impl FnOnce() -> BTreeMap<String, BTreeMap<String, u64>>,
    reference: NaiveDate,
) -> Evaluation {
    let meeting_body = |id: &str| views.meetings.find(id).map(|m| m.body.code());
    let body_ok = |b: Option<&str>| scope.body.as_deref().is_none_or(|want| b == Some(want));
    let decisions: Vec<_> = views
        .decisions
        .decisions
        .values()
        .filter(|d| scope.day(d.adopted.0) && body_ok(meeting_body(&d.meeting)))
        .collect();
    let cut = Cut(scope.rows);

    // 1. Mandates and whether they were reported at the meeting they were due.
    let mut by_decision: BTreeMap<&str, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut by_addressee: BTreeMap<&str, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    let count = |map: &mut BTreeMap<&'static str, u64>, outcome| {
        *map.entry("issued").or_default() += 1;
        *map.entry(outcome).or_default() += 1;
    };
    let mut decisions_cut = 0;
    for d in &decisions {
        // Decisions come in symbol order: the first `rows` are the rows shown.
        let keep = cut.keeps(by_decision.len());
        let mut counted = false;
        for id in &d.mandates {
            let Some(m) = views.decisions.mandates.get(id) else {
                continue;
            };
            let outcome = mandate_outcome(views, m, reference);
            if keep {
                count(by_decision.entry(d.symbol.as_str()).or_default(), outcome);
            }
            count(
                by_addressee.entry(m.addressee.as_str()).or_default(),
                outcome,
            );
            count(&mut totals, outcome);
            counted = true;
        }
        if counted && !keep {
            decisions_cut += 1;
        }
    }

    // 2. Days from a decision to its first follow-up. Groups and reports are found through
    // the decision they name (`MC-3/11` or one of its paragraphs, `MC-3/11#2`).
    let mut groups_of: HashMap<&str, Vec<_>> = Default::default();
    for g in views.groups.0.values() {
        if let Some(i) = g.implements.as_deref() {
            groups_of.entry(symbol_of(i)).or_default().push(g);
        }
    }
    let mut reports_of: HashMap<&str, Vec<_>> = Default::default();
    for r in views.reports.reports.values() {
        if let Some(d) = r.decision.as_deref() {
            reports_of.entry(symbol_of(d)).or_default().push(r);
        }
    }
    let mut follow: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    // Whether a day count came from an approximate date ("2020"): then it reads "about N".
    let mut follow_approximate = false;
    let mut follow_days = Vec::new();
    let mut firsts: Vec<FollowUp> = Vec::new();
    for d in &decisions {
        firsts.clear();
        for g in groups_of.get(d.symbol.as_str()).into_iter().flatten() {
            firsts.push(FollowUp::of(&g.established, Kind::Group, &g.group));
            for a in &g.activities {
                if let Some(act) = views.reports.activities.get(a) {
                    firsts.push(FollowUp::of(&act.on, Kind::Activity, &act.activity));
                }
            }
        }
        for r in reports_of.get(d.symbol.as_str()).into_iter().flatten() {
            firsts.push(FollowUp::of(&r.drafted.on, Kind::Report, &r.report));
        }
        // An approximate date counts when its window ends on or after the adoption; its days
        // are the fewest it can be, and the answer says it is approximate.
        let first = firsts.iter().filter(|f| f.end >= d.adopted.0).min();
        let days = first.map(|f| (f.start - d.adopted.0).num_days().max(0));
        if let Some(n) = days {
            follow_days.push(n);
            follow_approximate |= first.is_some_and(|f| f.approximate);
        }
        if cut.keeps(follow.len()) {
            follow.insert(
                d.symbol.as_str(),
                serde_json::json!({"adopted": d.adopted, "first_follow_up": first.map(FollowUp::what),
                    "on": first.map(|f| f.start), "days": days, "approximate": first.map(|f| f.approximate)}),
            );
        }
    }
    let follow_spans: Vec<_> = spans(&follow_days)
        .into_iter()
        .map(|(span, n)| serde_json::json!({"span": span, "decisions": n}))
        .collect();
    let follow_cut = decisions.len() - follow.len();

    // 3. Report cycle.
    let mut reports = Vec::new();
    let mut reports_in_period = 0;
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
        reports_in_period += 1;
        if !cut.keeps(reports.len()) {
            continue;
        }
        reports.push(serde_json::json!({"report": r.report, "title": r.title, "drafted": r.drafted.on, "endorsed": r.endorsed.as_ref().map(|e| e.on),
            "submitted": r.submitted.first().map(|s| &s.document), "days_to_endorse": endorsed, "days_to_submit": submitted, "status": r.status(),
            "approximate": approximate}));
    }

    // 4. Meetings moved: each move of the period (by when it was recorded as happening). A
    // confirmation inside the window first announced is not a move.
    let mut moves = Vec::new();
    let mut all_moves = 0;
    let mut moved_meetings = 0;
    let (mut postponed, mut rescheduled, mut split) = (0u64, 0u64, 0u64);
    for m in views
        .meetings
        .0
        .values()
        .filter(|m| body_ok(Some(m.body.code())))
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
            all_moves += 1;
            if !cut.keeps(moves.len()) {
                continue;
            }
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
    let mut per_scope: BTreeMap<&str, u64> = BTreeMap::new();
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
            .entry(format!("{:04}", a.on.start().year()))
            .or_default() += 1;
        *per_scope
            .entry(group.map_or("(no group)", |g| scope_name(g.scope)))
            .or_default() += 1;
    }

    // 6. Deadlines and reminders: reminders sent before each deadline was met (or at all).
    let (mut met, mut missed, mut met_after_reminder) = (0u64, 0u64, 0u64);
    let mut deadlines = Vec::new();
    let mut due_in_period = 0;
    let mut sent_for: HashMap<&str, Vec<_>> = Default::default();
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
        due_in_period += 1;
        if !cut.keeps(deadlines.len()) {
            continue;
        }
        deadlines.push(serde_json::json!({"deadline": d.deadline, "due": d.due, "status": format!("{:?}", d.status).to_lowercase(), "reminders_sent_before": sent}));
    }

    // 7. National reporting: per cycle and convention, the Parties bound to report (joined by
    // the due day), how many submitted and how many on time.
    let mut cycles = Vec::new();
    for d in views.work.deadlines.values().filter(|d| {
        scope.day(d.due.0) && d.due.0 <= reference && body_ok(d.body.as_ref().map(|b| b.code()))
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
            definition: "Each paragraph of a decision adopted in the period; reported on time when first reported by the end of the meeting (or of its last segment) it was to report at, or by its report-by day; late after it; timing uncertain when an approximate date straddles it; not reported when that occasion passed without a report. The status mix is taken at the end of each year of the period (the last eight years when the period is open); as of a day, it stops at that day.",
            counts: &["DecisionAdopted", "MandateStatusChanged", "ReportSubmitted", "MeetingHeld"],
            value: serde_json::json!({"total": totals, "by_decision": by_decision, "by_addressee": by_addressee, "status_by_year_end": mix()}),
            left_out: left_out([("by_decision", decisions_cut)]),
        },
        Indicator {
            id: "follow_up",
            title: "Days from a decision to its first follow-up",
            definition: "Days from adoption to the first group established to implement it (or one of its activities) or the first report drafted on it.",
            counts: &["DecisionAdopted", "GroupEstablished", "ActivityReported", "ReportDrafted"],
            value: serde_json::json!({"median_days": median_json(follow_days), "approximate": follow_approximate, "by_span": follow_spans, "by_decision": follow}),
            left_out: left_out([("by_decision", follow_cut)]),
        },
        Indicator {
            id: "report_cycle",
            title: "Report cycle: drafted, endorsed, submitted",
            definition: "Days from drafting to endorsement and from endorsement (or drafting) to the first submission, per report drafted in the period.",
            counts: &["ReportDrafted", "ReportEndorsed", "ReportSubmitted"],
            value: serde_json::json!({"median_days_to_endorse": median_json(to_endorse), "median_days_to_submit": median_json(to_submit), "approximate": reports_approximate, "reports": reports}),
            left_out: left_out([("reports", reports_in_period - reports.len())]),
        },
        Indicator {
            id: "meeting_moves",
            title: "Meetings postponed, rescheduled or split",
            definition: "Moves of the dates of meetings (and segments) recorded as happening in the period, and by how many days each moved; a confirmation inside the dates first announced is not a move.",
            counts: &["MeetingPostponed", "MeetingRescheduled", "MeetingSplit", "MeetingConfirmed"],
            value: serde_json::json!({"meetings_moved": moved_meetings, "postponements": postponed, "reschedulings": rescheduled, "split": split, "moves": moves}),
            left_out: left_out([("moves", all_moves - moves.len())]),
        },
        Indicator {
            id: "activities",
            title: "Cooperation activities per area and year, and per scope",
            definition: "Activities reported by groups in the period, by area of cooperation and year, and by the scope of the reporting group.",
            counts: &["ActivityReported", "GroupEstablished"],
            value: serde_json::json!({"per_area_per_year": per_area, "per_scope": per_scope}),
            left_out: BTreeMap::new(),
        },
        Indicator {
            id: "deadlines",
            title: "Deadlines met and missed, and reminders",
            definition: "Deadlines due in the period by status, reminders sent before each was met, and met deadlines that came after a reminder.",
            counts: &["DeadlineSet", "DeadlineMet", "DeadlineMissed", "ReminderSent"],
            value: serde_json::json!({"met": met, "missed": missed, "met_after_a_reminder": met_after_reminder, "deadlines": deadlines}),
            left_out: left_out([("deadlines", due_in_period - deadlines.len())]),
        },
        Indicator {
            id: "national_reporting",
            title: "National reports submitted, and on time, per cycle",
            definition: "For each reporting cycle due in the period: the Parties bound to report (those that had joined by the due day), how many submitted a report of the cycle's kind, and how many by the due day.",
            counts: &["PartyJoined", "NationalReportReceived", "DeadlineSet"],
            value: serde_json::json!({"cycles": cycles}),
            left_out: BTreeMap::new(),
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

/// The first rows of each list, when the caller shows only those (`None`: every row).
struct Cut(Option<usize>);

impl Cut {
    /// Whether a list holding `len` records takes one more.
    fn keeps(&self, len: usize) -> bool {
        self.0.is_none_or(|n| len < n)
    }
}

/// The lists that left records out, and how many.
fn left_out<const N: usize>(lists: [(&'static str, usize); N]) -> BTreeMap<&'static str, usize> {
    lists.into_iter().filter(|(_, n)| *n > 0).collect()
}

/// The day counts bucketed into the spans people talk of, in order.
fn spans(days: &[i64]) -> [(&'static str, u64); 5] {
    let mut out = [
        ("within 30 days", 0),
        ("31 to 90 days", 0),
        ("91 to 180 days", 0),
        ("181 to 365 days", 0),
        ("over a year", 0),
    ];
    const UP_TO: [i64; 4] = [30, 90, 180, 365];
    for d in days {
        let i = UP_TO.iter().position(|up| d <= up).unwrap_or(4);
        out[i].1 += 1;
    }
    out
}

/// What a candidate first follow-up of a decision is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Activity,
    Group,
    Report,
}

/// A candidate first follow-up of a decision, ordered by its window, then as its description
/// reads ("activity …", "group … established", "report … drafted").
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FollowUp<'a> {
    start: NaiveDate,
    end: NaiveDate,
    kind: Kind,
    id: &'a str,
    approximate: bool,
}

impl<'a> FollowUp<'a> {
    fn of(on: &ApproxDate, kind: Kind, id: &'a str) -> FollowUp<'a> {
        FollowUp {
            start: on.start(),
            end: on.end().unwrap_or_else(|| on.start()),
            kind,
            id,
            approximate: !on.is_exact(),
        }
    }

    fn what(&self) -> String {
        match self.kind {
            Kind::Activity => format!("activity {}", self.id),
            Kind::Group => format!("group {} established", self.id),
            Kind::Report => format!("report {} drafted", self.id),
        }
    }
}

/// A group scope's name as it is written.
fn scope_name(s: crate::domain::Scope) -> &'static str {
    use crate::domain::Scope as S;
    match s {
        S::InterSecretariat => "inter_secretariat",
        S::Tripartite => "tripartite",
        S::TwoSecretariatsOfficers => "two_secretariats_officers",
    }
}

/// The decision a reference names: `MC-3/11` of `MC-3/11#2`.
fn symbol_of(s: &str) -> &str {
    s.split('#').next().unwrap_or(s)
}
