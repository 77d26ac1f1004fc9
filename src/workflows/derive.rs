//! From the read models to the deadlines each workflow wants: a pure function of the views,
//! the definitions and the current day.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use super::definition::{Anchor, Definitions, MetBy, On, Role, Workflow};
use crate::domain::{ApproxDate, Body, MandateStatus};
use crate::projections::meetings::{MeetingRow, MeetingStatus};
use crate::projections::Views;

/// A deadline as a workflow derives it now.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub deadline: String,
    pub workflow: String,
    pub workflow_version: u32,
    pub instance: String,
    pub step: String,
    pub what: String,
    pub due: NaiveDate,
    pub tentative: bool,
    pub responsible: Vec<String>,
    pub meeting: Option<String>,
    pub mandate: Option<String>,
    /// For a national reporting cycle: the convention and the kind of report.
    pub body: Option<Body>,
    pub report: Option<crate::domain::NationalReportKind>,
    /// Set when the event that meets it is recorded (its seq when known).
    pub met: Option<Option<u64>>,
    /// Set when the subject no longer needs it.
    pub cancelled: Option<String>,
}

/// The contact id of a body's secretariat: one for the three BRS conventions, otherwise
/// `secretariat-` and the body's code in lower case (`secretariat-cbd`).
pub fn secretariat_of(body: Body) -> String {
    match body {
        Body::BC | Body::RC | Body::SC | Body::BRS => "secretariat-brs".to_string(),
        other => format!("secretariat-{}", other.code().to_ascii_lowercase()),
    }
}

fn resolve(
    roles: &[Role],
    views: &Views,
    body: Option<Body>,
    addressee: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    for r in roles {
        match r {
            Role::Secretariat => out.extend(body.map(secretariat_of)),
            Role::Addressee => out.extend(addressee.map(str::to_string)),
            Role::CoChairs(g) => out.extend(
                views
                    .groups
                    .0
                    .get(g)
                    .into_iter()
                    .flat_map(|g| g.co_chairs.iter().cloned()),
            ),
            Role::LeadOfficers(g) => out.extend(
                views
                    .groups
                    .0
                    .get(g)
                    .into_iter()
                    .flat_map(|g| g.lead_officers.iter().map(|l| l.officer.0.clone())),
            ),
            Role::Contact(c) => out.push(c.clone()),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A session: a meeting, or one segment of a split meeting, with its own dates.
struct Session<'a> {
    id: &'a str,
    meeting: &'a MeetingRow,
    dates: ApproxDate,
    status: MeetingStatus,
    /// Postponed to dates still to be determined: no deadline can be derived from them.
    to_be_determined: bool,
}

impl Session<'_> {
    /// Why its deadlines no longer apply, if they do not.
    fn cancelled(&self) -> Option<String> {
        if self.status == MeetingStatus::Cancelled {
            Some(format!("{} was cancelled", self.id))
        } else if self.to_be_determined {
            Some(format!(
                "{} was postponed, new dates to be determined",
                self.id
            ))
        } else {
            None
        }
    }
}

fn sessions(m: &MeetingRow) -> Vec<Session<'_>> {
    if m.segments.is_empty() {
        return vec![Session {
            id: &m.meeting,
            meeting: m,
            dates: m.dates,
            status: m.status,
            to_be_determined: m.to_be_determined,
        }];
    }
    m.segments
        .iter()
        .map(|s| Session {
            id: &s.segment,
            meeting: m,
            dates: s.dates,
            status: if m.status == MeetingStatus::Cancelled {
                MeetingStatus::Cancelled
            } else {
                s.status
            },
            to_be_determined: s.to_be_determined,
        })
        .collect()
}

/// Dates to be confirmed, or a postponement to dates not yet confirmed.
fn is_tentative(s: &Session) -> bool {
    !s.dates.is_exact()
        || matches!(
            s.status,
            MeetingStatus::Tentative | MeetingStatus::Postponed
        )
}

fn document_met(m: &MeetingRow, session: &str, met_by: &[MetBy]) -> Option<Option<u64>> {
    m.documents
        .iter()
        // A split meeting's documents are per segment; a document for the whole meeting counts
        // only when it has no segments.
        .filter(|d| d.for_id == session)
        .find(|d| {
            met_by.iter().any(|w| match w {
                MetBy::ReportSubmitted => d.kind == "report",
                MetBy::Document(k) => {
                    serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(|s| s == d.kind))
                        == Some(true)
                }
                MetBy::MandateReported => false,
            })
        })
        .map(|d| Some(d.seq))
}

fn anchored(dates: ApproxDate, anchor: Anchor) -> NaiveDate {
    match anchor {
        Anchor::Start => dates.start(),
        Anchor::End => dates.end().unwrap_or_else(|| dates.start()),
    }
}

/// Every deadline the current workflows want, given the views and today, handed to `each` one
/// at a time: on a large log they are many, and the caller keeps only what it acts on.
pub fn desired(views: &Views, defs: &Definitions, today: NaiveDate, each: &mut dyn FnMut(Desired)) {
    // The version each running instance started with.
    let started: HashMap<(&str, &str), u32> = views
        .work
        .deadlines
        .values()
        .map(|d| {
            (
                (d.workflow.as_str(), d.instance.as_str()),
                d.workflow_version,
            )
        })
        .collect();
    for wf in defs.current() {
        // Instances that started under an earlier version keep it.
        let version_of = |instance: &str| -> &Workflow {
            started
                .get(&(wf.name.as_str(), instance))
                .and_then(|v| defs.get(&wf.name, *v))
                .unwrap_or(wf)
        };
        match wf.on {
            On::Session => {
                for m in views.meetings.0.values() {
                    if (!wf.bodies.is_empty() && !wf.bodies.contains(&m.body))
                        || (!wf.kinds.is_empty() && !wf.kinds.contains(&m.kind))
                    {
                        continue;
                    }
                    for s in sessions(m) {
                        let instance = format!("meeting:{}", s.id);
                        let w = version_of(&instance);
                        let tentative = is_tentative(&s);
                        for d in &w.deadlines {
                            each(Desired {
                                deadline: format!("{}/{}/{}", w.name, s.id, d.step),
                                workflow: w.name.clone(),
                                workflow_version: w.version,
                                instance: instance.clone(),
                                step: d.step.clone(),
                                what: d.what.clone(),
                                due: d.offset.apply(anchored(s.dates, d.anchor)),
                                tentative,
                                responsible: resolve(&d.responsible, views, Some(m.body), None),
                                meeting: Some(s.id.to_string()),
                                mandate: None,
                                body: None,
                                report: None,
                                met: document_met(s.meeting, s.id, &d.met_by),
                                cancelled: s.cancelled(),
                            });
                        }
                    }
                }
            }
            On::Mandate => {
                for m in views.decisions.mandates.values() {
                    let Some(at) = &m.report_at else { continue };
                    let Some(meeting) = views.meetings.find(at) else {
                        continue;
                    };
                    // Report at the first session of that meeting still to come.
                    let ss = sessions(meeting);
                    let s = ss
                        .iter()
                        .find(|s| s.id == at.as_str())
                        .or_else(|| ss.iter().find(|s| s.status != MeetingStatus::Over))
                        .or_else(|| ss.last());
                    let Some(s) = s else { continue };
                    let instance = format!("mandate:{}", m.mandate);
                    let w = version_of(&instance);
                    let met = matches!(
                        m.status,
                        MandateStatus::Reported | MandateStatus::Implemented
                    );
                    for d in &w.deadlines {
                        each(Desired {
                            deadline: format!("{}/{}/{}", w.name, m.mandate, d.step),
                            workflow: w.name.clone(),
                            workflow_version: w.version,
                            instance: instance.clone(),
                            step: d.step.clone(),
                            what: format!("{} ({}): report at {}", d.what, m.mandate, s.id),
                            due: d.offset.apply(anchored(s.dates, d.anchor)),
                            tentative: is_tentative(s),
                            responsible: resolve(
                                &d.responsible,
                                views,
                                Some(meeting.body),
                                Some(&m.addressee),
                            ),
                            meeting: Some(s.id.to_string()),
                            mandate: Some(m.mandate.clone()),
                            body: None,
                            report: None,
                            met: (met && d.met_by.contains(&MetBy::MandateReported))
                                .then_some(None),
                            cancelled: match (m.status, s.status) {
                                (MandateStatus::Superseded, _) => {
                                    Some(format!("{} was superseded", m.mandate))
                                }
                                (MandateStatus::Elapsed, _) => {
                                    Some(format!("{} elapsed", m.mandate))
                                }
                                _ => s.cancelled(),
                            },
                        });
                    }
                }
            }
            On::Cycle => {
                let Some(c) = &wf.cycle else { continue };
                // The cycles due from a year ago to two years ahead.
                for year in (today.year() - 1)..=(today.year() + 2) {
                    if year < c.first || (year - c.first) % c.every_years != 0 {
                        continue;
                    }
                    let Some(due_day) = NaiveDate::from_ymd_opt(year, c.month, c.day) else {
                        continue;
                    };
                    let instance = format!("cycle:{year}");
                    let w = version_of(&instance);
                    // Met once every Party bound to report (joined by the due day) has, on time;
                    // otherwise missed at its end, partly met when some reported.
                    let standing =
                        views
                            .reporting
                            .standing(c.body, &year.to_string(), c.report, due_day);
                    let all_in = standing.is_some_and(|s| s.on_time == s.parties);
                    for d in &w.deadlines {
                        each(Desired {
                            deadline: format!("{}/{year}/{}", w.name, d.step),
                            workflow: w.name.clone(),
                            workflow_version: w.version,
                            instance: instance.clone(),
                            step: d.step.clone(),
                            what: format!("{} ({year})", d.what),
                            due: d.offset.apply(due_day),
                            tentative: false,
                            responsible: resolve(&d.responsible, views, Some(c.body), None),
                            meeting: None,
                            mandate: None,
                            body: Some(c.body),
                            report: c.report,
                            met: all_in.then_some(None),
                            cancelled: None,
                        });
                    }
                }
            }
            On::Digest => {}
        }
    }
}
