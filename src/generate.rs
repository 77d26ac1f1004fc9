//! A deterministic synthetic history of any size, for benchmarks and load: bodies meeting over
//! decades (with "to be confirmed" dates, postponements and split sessions), decisions with
//! mandates that report at later meetings, groups and their activities, reports drafted,
//! endorsed and submitted, and a few corrections.
//!
//! The same `--events` and `--seed` always give the same bytes. Corrections name earlier events
//! by seq, counting from 1 at the first line: record the output into an empty store.

use std::io::Write;

use serde_json::{json, Value};

/// SplitMix64: a small, well-studied generator whose output is fixed by its seed forever. Also
/// the seeded source of the test harnesses and benchmarks, so a run is repeated by its seed.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[0, 1)`.
    pub fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const BODIES: [(&str, &str, &str); 7] = [
    (
        "MC",
        "cop",
        "Conference of the Parties to the Minamata Convention",
    ),
    (
        "BC",
        "cop",
        "Conference of the Parties to the Basel Convention",
    ),
    (
        "RC",
        "cop",
        "Conference of the Parties to the Rotterdam Convention",
    ),
    (
        "SC",
        "cop",
        "Conference of the Parties to the Stockholm Convention",
    ),
    ("UNEA", "session", "United Nations Environment Assembly"),
    (
        "ICCM",
        "session",
        "International Conference on Chemicals Management",
    ),
    (
        "HUB",
        "heads_of_entities",
        "Heads of entities of the chemicals and waste hub",
    ),
];

const ADDRESSEES: [&str; 6] = [
    "unep-executive-director",
    "mc-executive-secretary",
    "brs-executive-secretary",
    "joint-task-force",
    "parties",
    "secretariat-mc",
];

const AREAS: [&str; 8] = [
    "Mercury wastes",
    "Financial resources",
    "Outreach and communication",
    "Implementation and compliance",
    "Training",
    "Knowledge and information management",
    "Gender",
    "Effectiveness evaluation",
];

struct Out<'a, W: Write> {
    w: &'a mut W,
    left: usize,
    written: usize,
    seed: u64,
    tag: String,
    /// Lines a retraction may name: activities and mandate status changes, which nothing
    /// later refers to, so the history keeps to the rules of `domain::lifecycle` after them.
    retractable: Vec<usize>,
}

impl<W: Write> Out<'_, W> {
    fn emit(&mut self, ty: &str, occurred: String, data: Value) -> std::io::Result<bool> {
        if self.left == 0 {
            return Ok(false);
        }
        self.written += 1;
        self.left -= 1;
        if matches!(ty, "ActivityReported" | "MandateStatusChanged") {
            self.retractable.push(self.written);
        }
        let line = json!({
            "id": format!("gen-{}{}-{}", self.tag, self.seed, self.written),
            "type": ty,
            "occurred": occurred,
            "actor": "generator",
            "data": data,
        });
        serde_json::to_writer(&mut *self.w, &line)?;
        self.w.write_all(b"\n")?;
        Ok(self.left > 0)
    }
}

fn day(year: i32, day_of_year: u64) -> chrono::NaiveDate {
    chrono::NaiveDate::from_yo_opt(year, (day_of_year % 360) as u32 + 1).expect("a day of the year")
}

/// The statuses a mandate may move to next, in order (never back).
const STATUSES: [&str; 4] = ["active", "in_progress", "reported", "implemented"];

/// Writes `events` events of a history drawn from `seed`. The history keeps the rules of
/// `domain::lifecycle`: a report is submitted to a body's next meeting once that meeting is
/// scheduled, a split meeting is held segment by segment, and mandates move forward only.
pub fn generate(events: usize, seed: u64, w: &mut impl Write) -> std::io::Result<()> {
    generate_tagged(events, seed, "", w)
}

/// A generated history of `n` events, parsed as `accord record` parses it.
#[cfg(test)]
pub(crate) fn parsed(n: usize, seed: u64) -> Vec<crate::input::Proposed> {
    let mut text = Vec::new();
    generate(n, seed, &mut text).unwrap();
    crate::input::parse_batch(std::str::from_utf8(&text).unwrap()).unwrap()
}

/// As [`generate`], with every id it makes (meetings, decisions, groups, activities, reports,
/// documents, events) starting with `tag`, so that the history records onto a log that holds
/// another. A tagged history has no corrections (they name events by seq from an empty log).
pub fn generate_tagged(
    events: usize,
    seed: u64,
    tag: &str,
    w: &mut impl Write,
) -> std::io::Result<()> {
    generate_from(events, seed, tag, 1965, w)
}

/// As [`generate_tagged`], the meetings spread over the sixty years from `first_year`.
pub fn generate_from(
    events: usize,
    seed: u64,
    tag: &str,
    first_year: i32,
    w: &mut impl Write,
) -> std::io::Result<()> {
    let upper = tag.to_uppercase();
    let mut rng = Rng(seed);
    let mut out = Out {
        w,
        left: events,
        written: 0,
        seed,
        tag: tag.to_string(),
        retractable: Vec::new(),
    };
    let mut number = [0u32; BODIES.len()];
    let mut groups: Vec<String> = Vec::new();
    let mut mandates: Vec<(String, String, usize)> = Vec::new();
    // Reports waiting for the next meeting of a body: (body, number, report, document).
    let mut to_submit: Vec<(usize, u32, String, String)> = Vec::new();
    let mut meeting_index = 0u64;
    'history: loop {
        let b = rng.below(BODIES.len() as u64) as usize;
        let (body, kind, series) = BODIES[b];
        number[b] += 1;
        let n = number[b];
        let id = format!(
            "{tag}{}-{}-{n}",
            body.to_lowercase(),
            if kind == "session" { "s" } else { kind }
        );
        // About one meeting in ten events: spread them over sixty years at any size.
        let per_year = (events as u64 / 600).max(6);
        let year = first_year + (meeting_index / per_year).min(60) as i32;
        meeting_index += 1;
        let start = day(year, rng.below(330));
        let end = start + chrono::Days::new(rng.below(5) + 1);
        let exact = format!("{start}/{end}");
        let tentative = rng.chance(30);
        let announced = if tentative {
            format!("{}-{:02}", start.format("%Y"), start.format("%m"))
        } else {
            exact.clone()
        };
        let title = format!("Meeting {n} of the {series}");
        let before = (start - chrono::Days::new(300 + rng.below(60))).to_string();
        let mut data = json!({"meeting": id, "body": body, "kind": kind, "number": n.to_string(),
            "title": title, "venue": rng.pick(&["Geneva", "Nairobi", "Bali", "Montevideo", "Bonn"]).to_string(),
            "mode": rng.pick(&["in_person", "online", "hybrid"]).to_string(), "dates": announced});
        if tentative {
            data["tentative"] = true.into();
        }
        if !out.emit("MeetingScheduled", before.clone(), data)? {
            break;
        }
        let mut waiting = Vec::new();
        for (body_at, number_at, report, doc) in std::mem::take(&mut to_submit) {
            if body_at == b && number_at == n {
                waiting.push((report, doc));
            } else {
                to_submit.push((body_at, number_at, report, doc));
            }
        }
        for (report, doc) in waiting {
            if !out.emit(
                "ReportSubmitted",
                before.clone(),
                json!({"report": report, "meeting": id, "document": doc}),
            )? {
                break 'history;
            }
        }
        let mut held_dates = exact.clone();
        let mut segments_held = Vec::new();
        if rng.chance(10) {
            let later = start + chrono::Days::new(90 + rng.below(180));
            held_dates = format!("{later}/{}", later + chrono::Days::new(4));
            let reason = "Postponed by the bureau";
            if !out.emit("MeetingPostponed", (start - chrono::Days::new(60)).to_string(),
                json!({"meeting": id, "dates": format!("{}-{:02}", later.format("%Y"), later.format("%m")), "tentative": true, "reason": reason}))? {
                break;
            }
        }
        if rng.chance(12) {
            let second = start + chrono::Days::new(120 + rng.below(90));
            let second = format!("{second}/{}", second + chrono::Days::new(3));
            segments_held = vec![
                (format!("{id}.1"), exact.clone()),
                (format!("{id}.2"), second.clone()),
            ];
            let segments = json!([
                {"segment": format!("{id}.1"), "title": "Online segment", "dates": exact, "mode": "online"},
                {"segment": format!("{id}.2"), "title": "Resumed session", "dates": second, "mode": "in_person"}]);
            if !out.emit(
                "MeetingSplit",
                (start - chrono::Days::new(90)).to_string(),
                json!({"meeting": id, "segments": segments}),
            )? {
                break;
            }
        } else if tentative
            && !out.emit(
                "MeetingConfirmed",
                (start - chrono::Days::new(120)).to_string(),
                json!({"meeting": id, "dates": held_dates}),
            )?
        {
            break;
        }
        if segments_held.is_empty() {
            segments_held.push((String::new(), held_dates.clone()));
        }
        for (segment, dates) in segments_held {
            let mut data = json!({"meeting": id, "dates": dates});
            if !segment.is_empty() {
                data["segment"] = segment.into();
            }
            if !out.emit("MeetingHeld", dates, data)? {
                break 'history;
            }
        }
        // Decisions and their mandates, reporting at the body's next meeting.
        let next = format!(
            "{tag}{}-{}-{}",
            body.to_lowercase(),
            if kind == "session" { "s" } else { kind },
            n + 1
        );
        for k in 1..=(1 + rng.below(6)) {
            let symbol = format!("{upper}{body}-{n}/{k}");
            let count = 1 + rng.below(3);
            let ms: Vec<Value> = (1..=count)
                .map(|p| {
                    mandates.push((symbol.clone(), p.to_string(), 0));
                    json!({"paragraph": p.to_string(), "action": rng.pick(&["requests", "invites", "decides", "urges"]).to_string(),
                        "addressee": rng.pick(&ADDRESSEES).to_string(),
                        "asks": format!("To take forward the work under paragraph {p} of decision {symbol} and to report on progress"),
                        "report_at": next})
                })
                .collect();
            let mut d = json!({"symbol": symbol, "meeting": id, "title": format!("Decision {k} of meeting {n} on {}", rng.pick(&AREAS)),
                "adopted": end.to_string(), "mandates": ms});
            if k > 1 && rng.chance(10) {
                d["mirrors"] = json!([format!("{upper}{body}-{n}/1")]);
            }
            if !out.emit("DecisionAdopted", end.to_string(), d)? {
                break 'history;
            }
        }
        // Progress on an earlier mandate.
        if mandates.len() > 10 && rng.chance(60) {
            let at = rng.below(mandates.len() as u64) as usize;
            let (symbol, p, now) = mandates[at].clone();
            let last = STATUSES.len() - 1;
            let next = rng.range(now as u64 + 1, last as u64) as usize;
            let status = STATUSES[next].to_string();
            if next == last {
                mandates.swap_remove(at);
            } else {
                mandates[at].2 = next;
            }
            if !out.emit(
                "MandateStatusChanged",
                end.to_string(),
                json!({"decision": symbol, "paragraph": p, "status": status}),
            )? {
                break;
            }
        }
        // Groups, activities and reports between meetings.
        if meeting_index % 4 == 1 || groups.is_empty() {
            let g = format!("{tag}group-{}", groups.len() + 1);
            let scope = rng
                .pick(&[
                    "inter_secretariat",
                    "tripartite",
                    "two_secretariats_officers",
                ])
                .to_string();
            let members = if scope == "tripartite" {
                json!(["mc_secretariat", "brs_secretariat", "unep_chb"])
            } else {
                json!(["mc_secretariat", "brs_secretariat"])
            };
            let data = json!({"group": g, "name": format!("Working group {}", groups.len() + 1), "kind": "working_group",
                "scope": scope, "area": rng.pick(&AREAS).to_string(), "members": members,
                "lead_officers": [{"entity": "mc_secretariat", "officer": format!("mc-lead-{}", groups.len() + 1)}]});
            if !out.emit("GroupEstablished", end.to_string(), data)? {
                break;
            }
            groups.push(g);
        }
        for a in 0..rng.below(4) {
            let g = rng.pick(&groups).clone();
            let data = json!({"activity": format!("{tag}act-{meeting_index}-{a}"), "group": g,
                "title": format!("Joint activity {a} after meeting {n}"), "area": rng.pick(&AREAS).to_string()});
            if !out.emit("ActivityReported", format!("{year}"), data)? {
                break 'history;
            }
        }
        if rng.chance(50) {
            let r = format!("{tag}report-{meeting_index}");
            let g = rng.pick(&groups).clone();
            let drafted = (end + chrono::Days::new(30)).to_string();
            if !out.emit("ReportDrafted", drafted.clone(), json!({"report": r, "title": format!("Report on cooperation {meeting_index}"), "by": ["tf-co-chair-mc"], "group": g}))? {
                break;
            }
            if rng.chance(80)
                && !out.emit(
                    "ReportEndorsed",
                    (end + chrono::Days::new(90)).to_string(),
                    json!({"report": r, "by": ["mc-executive-secretary"]}),
                )?
            {
                break;
            }
            if rng.chance(70) {
                let doc = format!(
                    "{upper}UNEP/{body}/COP.{}/INF/{}.{meeting_index}",
                    n + 1,
                    rng.below(40) + 1
                );
                to_submit.push((b, n + 1, r, doc));
            }
        }
        // About one event in a hundred is a retraction of an earlier one.
        if rng.chance(8) && !out.retractable.is_empty() && tag.is_empty() {
            let target = out.retractable[rng.below(out.retractable.len() as u64) as usize];
            out.retractable.retain(|s| *s != target);
            if !out.emit(
                "EventRetracted",
                end.to_string(),
                json!({"seq": target, "reason": "Recorded in error"}),
            )? {
                break;
            }
        }
    }
    Ok(())
}
