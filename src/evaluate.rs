//! Evaluation from replayed history: indicators of what was asked, by whom, what was done and
//! when, each with its definition and the event types it counts, cited to the last event read.
//!
//! Everything is computed from the views as known at one recording instant, so an evaluation
//! made with `--known-at T` is byte-for-byte the same whatever is recorded after T.

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

/// The status mix of the mandates at the end of each year, from the first adoption year to
/// `last_year`, each folded as of that day (and as known at `known_at`).
pub fn mandate_mix(
    store: &dyn crate::store::EventStore,
    views: &Views,
    known_at: Option<chrono::DateTime<chrono::Utc>>,
    last_year: i32,
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
    for year in first..=last_year.max(first) {
        let end = NaiveDate::from_ymd_opt(year, 12, 31).expect("31 December");
        let q = crate::projections::Query {
            as_of: Some(end),
            known_at,
        };
        let v = crate::projections::views(store, &q)?.views;
        let mut mix = BTreeMap::new();
        for m in v.decisions.mandates.values() {
            *mix.entry(m.status.name().to_string()).or_default() += 1;
        }
        out.insert(year.to_string(), mix);
    }
    Ok(out)
}

/// Computes every indicator over `views`; `mix` is the mandates' status mix by year.
pub fn evaluate(
    views: &Views,
    scope: &Scope,
    last_seq: u64,
    last_hash: String,
    known_at: Option<String>,
    mix: BTreeMap<String, BTreeMap<String, u64>>,
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
            let meeting = m.report_at.as_deref().and_then(|r| views.meetings.find(r));
            let meeting_end = meeting.map(|mt| {
                let dates = mt
                    .segments
                    .iter()
                    .find(|s| Some(s.segment.as_str()) == m.report_at.as_deref())
                    .map(|s| s.dates)
                    .unwrap_or(mt.dates);
                (
                    dates.end().unwrap_or_else(|| dates.start()),
                    mt.status == MeetingStatus::Over,
                )
            });
            let outcome = match (m.status, meeting_end) {
                (MandateStatus::Superseded, _) => "superseded",
                (MandateStatus::Reported | MandateStatus::Implemented, Some((end, _))) => {
                    if m.since.start() <= end {
                        "reported on time"
                    } else {
                        "reported late"
                    }
                }
                (MandateStatus::Reported | MandateStatus::Implemented, None) => "reported",
                (_, Some((_, true))) => "not reported",
                (MandateStatus::Elapsed, _) => "not reported",
                _ => "pending",
            };
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

    // 2. Days from a decision to its first follow-up.
    let mut follow: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut follow_days = Vec::new();
    for d in &decisions {
        let names_it = |s: &str| s == d.symbol || s.starts_with(&format!("{}#", d.symbol));
        let mut firsts: Vec<(NaiveDate, String)> = Vec::new();
        for g in views.groups.0.values() {
            if g.implements.as_deref().is_some_and(names_it) {
                firsts.push((
                    g.established.start(),
                    format!("group {} established", g.group),
                ));
                for a in &g.activities {
                    if let Some(act) = views.reports.activities.get(a) {
                        firsts.push((act.on.start(), format!("activity {}", act.activity)));
                    }
                }
            }
        }
        for r in views.reports.reports.values() {
            if r.decision.as_deref().is_some_and(names_it) {
                firsts.push((r.drafted.on.start(), format!("report {} drafted", r.report)));
            }
        }
        firsts.retain(|(day, _)| *day >= d.adopted.0);
        firsts.sort();
        let first = firsts.first();
        let days = first.map(|(day, _)| (*day - d.adopted.0).num_days());
        if let Some(n) = days {
            follow_days.push(n);
        }
        follow.insert(
            d.symbol.clone(),
            serde_json::json!({"adopted": d.adopted, "first_follow_up": first.map(|f| &f.1), "on": first.map(|f| f.0), "days": days}),
        );
    }

    // 3. Report cycle.
    let mut reports = Vec::new();
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
        reports.push(serde_json::json!({"report": r.report, "title": r.title, "drafted": r.drafted.on, "endorsed": r.endorsed.as_ref().map(|e| e.on),
            "submitted": r.submitted.first().map(|s| &s.document), "days_to_endorse": endorsed, "days_to_submit": submitted, "status": r.status()}));
    }

    // 4. Meetings moved.
    let mut moves = Vec::new();
    let mut moved_meetings = 0;
    let (mut postponed, mut rescheduled, mut split) = (0u64, 0u64, 0u64);
    for m in views
        .meetings
        .0
        .values()
        .filter(|m| body_ok(Some(m.body.code().to_string())) && scope.window(&m.dates))
    {
        if !m.moves.is_empty() {
            moved_meetings += 1;
        }
        if !m.segments.is_empty() {
            split += 1;
        }
        for mv in &m.moves {
            match mv.kind.as_str() {
                "postponed" => postponed += 1,
                "rescheduled" => rescheduled += 1,
                _ => {}
            }
            moves.push(serde_json::json!({"meeting": m.meeting, "segment": mv.segment, "kind": mv.kind, "from": mv.from, "to": mv.to,
                "days": (mv.to.start() - mv.from.start()).num_days()}));
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

    // 6. Deadlines and reminders.
    let (mut met, mut missed, mut met_after_reminder) = (0u64, 0u64, 0u64);
    let mut deadlines = Vec::new();
    for d in views.work.deadlines.values().filter(|d| scope.day(d.due.0)) {
        let sent: Vec<_> = views
            .work
            .reminders
            .values()
            .filter(|r| {
                r.deadline.as_deref() == Some(d.deadline.as_str())
                    && r.status == ReminderStatus::Sent
            })
            .collect();
        match d.status {
            DeadlineStatus::Met => {
                met += 1;
                if !sent.is_empty() {
                    met_after_reminder += 1;
                }
            }
            DeadlineStatus::Missed => missed += 1,
            _ => {}
        }
        deadlines.push(serde_json::json!({"deadline": d.deadline, "due": d.due, "status": format!("{:?}", d.status).to_lowercase(), "reminders_sent": sent.len()}));
    }

    let indicators = vec![
        Indicator {
            id: "mandates",
            title: "Mandates issued and reported",
            definition: "Each paragraph of a decision adopted in the period; reported on time when it was reported by the end of the meeting it was to report at, late after it, not reported when that meeting was held without a report.",
            counts: &["DecisionAdopted", "MandateStatusChanged", "ReportSubmitted", "MeetingHeld"],
            value: serde_json::json!({"total": totals, "by_decision": by_decision, "by_addressee": by_addressee, "status_by_year_end": mix}),
        },
        Indicator {
            id: "follow_up",
            title: "Days from a decision to its first follow-up",
            definition: "Days from adoption to the first group established to implement it (or one of its activities) or the first report drafted on it.",
            counts: &["DecisionAdopted", "GroupEstablished", "ActivityReported", "ReportDrafted"],
            value: serde_json::json!({"median_days": median_json(follow_days), "by_decision": follow}),
        },
        Indicator {
            id: "report_cycle",
            title: "Report cycle: drafted, endorsed, submitted",
            definition: "Days from drafting to endorsement and from endorsement (or drafting) to the first submission, per report drafted in the period.",
            counts: &["ReportDrafted", "ReportEndorsed", "ReportSubmitted"],
            value: serde_json::json!({"median_days_to_endorse": median_json(to_endorse), "median_days_to_submit": median_json(to_submit), "reports": reports}),
        },
        Indicator {
            id: "meeting_moves",
            title: "Meetings postponed, rescheduled or split",
            definition: "Moves of the dates of meetings (and segments) in the period, and by how many days each moved.",
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
            definition: "Deadlines due in the period by status, reminders sent before each, and met deadlines that came after a reminder.",
            counts: &["DeadlineSet", "DeadlineMet", "DeadlineMissed", "ReminderSent"],
            value: serde_json::json!({"met": met, "missed": missed, "met_after_a_reminder": met_after_reminder, "deadlines": deadlines}),
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

/// Markdown: a section per indicator.
pub fn markdown(e: &Evaluation) -> String {
    let mut out = format!(
        "# Evaluation\n\nEvidence: the log up to seq {} (hash `{}`){}.\n",
        e.last_seq,
        e.last_hash,
        e.known_at
            .as_ref()
            .map(|k| format!(", as known at {k}"))
            .unwrap_or_default()
    );
    for i in &e.indicators {
        out.push_str(&format!(
            "\n## {}\n\n{}\nCounts: {}.\n\n```json\n{}\n```\n",
            i.title,
            i.definition,
            i.counts.join(", "),
            serde_json::to_string_pretty(&i.value).unwrap_or_default()
        ));
    }
    out
}

/// CSV: one row per indicator and flattened key.
pub fn csv(e: &Evaluation) -> String {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| walk(&format!("{prefix}.{k}"), v, out)),
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(&format!("{prefix}[{i}]"), v, out)),
            other => out.push((
                prefix.to_string(),
                other.to_string().trim_matches('"').to_string(),
            )),
        }
    }
    let mut s = String::from("indicator,key,value\r\n");
    for i in &e.indicators {
        let mut rows = Vec::new();
        walk("", &i.value, &mut rows);
        for (k, v) in rows {
            s.push_str(&format!(
                "{},{},{}\r\n",
                crate::render::csv_cell(i.id),
                crate::render::csv_cell(k.trim_start_matches('.')),
                crate::render::csv_cell(&v)
            ));
        }
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart as inline SVG (no external assets).
fn bars(title: &str, rows: &[(String, f64)]) -> String {
    let max = rows.iter().map(|r| r.1.abs()).fold(1.0_f64, f64::max);
    let h = 22 * rows.len() + 30;
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 10 + i * 22;
        let w = (v.abs() / max * 420.0).max(1.0);
        s.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"300\" y=\"{}\" width=\"{w:.1}\" height=\"14\" fill=\"#1d6fa5\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{v}</text>",
            y + 12,
            esc(&label.chars().take(44).collect::<String>()),
            y,
            305.0 + w,
            y + 12
        ));
    }
    s.push_str("</svg></figure>");
    s
}

/// HTML with SVG charts: activities per area and year, the mandate status mix, meeting moves.
pub fn html(e: &Evaluation) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation · Accord</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:1rem auto;padding:0 1rem}}\
         pre{{background:#f4f6f8;padding:.5rem;overflow-x:auto;max-height:24rem}}.muted{{color:#6b7686}}\
         figure{{margin:1rem 0}}figcaption{{font-weight:600}}</style></head><body><h1>Evaluation</h1>{}</body></html>",
        html_body(e)
    )
}

/// The report's body, every piece of text escaped: the evidence line, the charts, the sections.
pub fn html_body(e: &Evaluation) -> String {
    let get = |id: &str| e.indicators.iter().find(|i| i.id == id).map(|i| &i.value);
    let mut charts = String::new();
    if let Some(v) = get("activities") {
        let mut rows = Vec::new();
        if let Some(areas) = v["per_area_per_year"].as_object() {
            for (area, years) in areas {
                for (year, n) in years.as_object().into_iter().flatten() {
                    rows.push((format!("{area} ({year})"), n.as_f64().unwrap_or(0.0)));
                }
            }
        }
        charts.push_str(&bars("Cooperation activities per area and year", &rows));
    }
    if let Some(v) = get("mandates") {
        let rows: Vec<_> = v["total"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, n)| (k.clone(), n.as_f64().unwrap_or(0.0)))
            .collect();
        charts.push_str(&bars("Mandates by outcome", &rows));
        let mut over_time = Vec::new();
        for (year, statuses) in v["status_by_year_end"].as_object().into_iter().flatten() {
            for (status, n) in statuses.as_object().into_iter().flatten() {
                over_time.push((format!("{year}: {status}"), n.as_f64().unwrap_or(0.0)));
            }
        }
        charts.push_str(&bars(
            "Mandate status mix at the end of each year",
            &over_time,
        ));
    }
    if let Some(v) = get("meeting_moves") {
        let rows: Vec<_> = v["moves"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    format!(
                        "{} {} → {}",
                        m["segment"]
                            .as_str()
                            .or(m["meeting"].as_str())
                            .unwrap_or(""),
                        m["from"].as_str().unwrap_or(""),
                        m["to"].as_str().unwrap_or("")
                    ),
                    m["days"].as_f64().unwrap_or(0.0),
                )
            })
            .collect();
        charts.push_str(&bars("Meeting moves, in days", &rows));
    }
    let mut sections = String::new();
    for i in &e.indicators {
        sections.push_str(&format!(
            "<section><h2>{}</h2><p>{}</p><p class=\"muted\">Counts: {}</p><pre>{}</pre></section>",
            esc(i.title),
            esc(i.definition),
            esc(&i.counts.join(", ")),
            esc(&serde_json::to_string_pretty(&i.value).unwrap_or_default())
        ));
    }
    format!(
        "<p>Evidence: the log up to seq {} (hash <code>{}</code>){}.</p>{charts}{sections}",
        e.last_seq,
        esc(&e.last_hash),
        e.known_at
            .as_ref()
            .map(|k| format!(", as known at {}", esc(k)))
            .unwrap_or_default()
    )
}
