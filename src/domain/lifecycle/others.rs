//! The life cycles of decisions and their mandates, groups and their activities, reports,
//! documents, agreements, bodies, Parties and national reports.

use super::meetings::{meeting_or_segment, whole_stage, Stage};
use super::{
    decision, decision_or_mandate, list, mandate, refuse, BodyLife, DecisionLife, Refusal,
    Registry, ReportStage, StatusChange,
};
use crate::domain::{Body, DomainEvent, MandateStatus};

/// A group that exists and is not dissolved.
fn live_group(reg: &Registry, field: &str, group: &str) -> Result<(), Refusal> {
    match reg.groups.get(group) {
        None => refuse(
            field,
            format!("no group `{group}` in the log: record GroupEstablished first"),
        ),
        Some(true) => refuse(
            field,
            format!("group `{group}` was dissolved: only a correction can change it"),
        ),
        Some(false) => Ok(()),
    }
}

fn report(reg: &Registry, report: &str) -> Result<ReportStage, Refusal> {
    reg.reports.get(report).copied().ok_or_else(|| Refusal {
        field: "data.report".into(),
        message: format!("no report `{report}` in the log: record ReportDrafted first"),
    })
}

/// A meeting or segment that exists and is not cancelled before it sat (a meeting whose
/// first session was held, then its resumption cancelled, still takes its decisions and
/// documents).
fn open_meeting(reg: &Registry, field: &str, id: &str) -> Result<(), Refusal> {
    let (m, seg) = meeting_or_segment(reg, field, id)?;
    let stage = match seg {
        Some(s) => s.stage,
        None => whole_stage(reg, m),
    };
    if stage == Stage::Cancelled && !(seg.is_none() && m.sat) {
        return refuse(field, format!("`{id}` was cancelled"));
    }
    Ok(())
}

fn new_id(exists: bool, field: &str, what: &str, id: &str, hint: &str) -> Result<(), Refusal> {
    if exists {
        return refuse(field, format!("{what} `{id}` is already recorded{hint}"));
    }
    Ok(())
}

const AMEND: &str = ": to change it, correct that record with EventAmended";

pub(super) fn decide(reg: &Registry, event: &DomainEvent) -> Result<(), Refusal> {
    use DomainEvent as E;
    match event {
        E::DecisionAdopted(d) => adopted(reg, d),
        E::MandateStatusChanged(m) => {
            let Some(d) = reg.decisions.get(&m.decision) else {
                return refuse(
                    "data.decision",
                    format!(
                        "no decision `{}` in the log: record DecisionAdopted first",
                        m.decision
                    ),
                );
            };
            let Some((_, now)) = d.paragraphs.iter().find(|(p, _)| *p == m.paragraph.0) else {
                return refuse(
                    "data.paragraph",
                    format!(
                        "decision `{}` has no paragraph `{}` (it has {})",
                        m.decision,
                        m.paragraph,
                        list(d.paragraphs.iter().map(|(p, _)| p.as_str()))
                    ),
                );
            };
            if *now == m.status {
                return refuse(
                    "data.status",
                    format!("{}#{} is already {}", m.decision, m.paragraph, now.name()),
                );
            }
            if matches!(
                now,
                MandateStatus::Implemented | MandateStatus::Elapsed | MandateStatus::Superseded
            ) {
                return refuse(
                    "data.status",
                    format!(
                        "{}#{} is {}, which closes it: only a correction can change it",
                        m.decision,
                        m.paragraph,
                        now.name()
                    ),
                );
            }
            Ok(())
        }
        E::GroupEstablished(g) => {
            new_id(
                reg.groups.contains(g.group.as_str()),
                "data.group",
                "group",
                g.group.as_str(),
                AMEND,
            )?;
            if let Some(p) = &g.parent {
                live_group(reg, "data.parent", p.as_str())?;
            }
            if let Some(i) = &g.implements {
                decision_or_mandate(reg, "data.implements", i)?;
            }
            Ok(())
        }
        E::TermsOfReferenceAdopted(g) => live_group(reg, "data.group", g.group.as_str()),
        E::CoChairsAppointed(g) => live_group(reg, "data.group", g.group.as_str()),
        E::GroupScopeExtended(g) => live_group(reg, "data.group", g.group.as_str()),
        E::LeadOfficerChanged(g) => live_group(reg, "data.group", g.group.as_str()),
        E::GroupDissolved(g) => live_group(reg, "data.group", g.group.as_str()),
        E::GroupsReviewed(g) => {
            live_group(reg, "data.by", g.by.as_str())?;
            for (i, x) in g.groups.iter().enumerate() {
                if !reg.groups.contains(x.as_str()) {
                    return refuse(
                        &format!("data.groups[{i}]"),
                        format!("no group `{x}` in the log"),
                    );
                }
            }
            Ok(())
        }
        E::ActivityReported(a) => {
            new_id(
                reg.activities.contains(a.activity.as_str()),
                "data.activity",
                "activity",
                a.activity.as_str(),
                AMEND,
            )?;
            live_group(reg, "data.group", a.group.as_str())?;
            for (i, m) in a.meetings.iter().enumerate() {
                meeting_or_segment(reg, &format!("data.meetings[{i}]"), m.as_str())?;
            }
            Ok(())
        }
        E::ReportDrafted(r) => {
            new_id(
                reg.reports.contains(r.report.as_str()),
                "data.report",
                "report",
                r.report.as_str(),
                AMEND,
            )?;
            if let Some(g) = &r.group {
                if !reg.groups.contains(g.as_str()) {
                    return refuse("data.group", format!("no group `{g}` in the log"));
                }
            }
            if let Some(d) = &r.decision {
                decision_or_mandate(reg, "data.decision", d)?;
            }
            Ok(())
        }
        E::ReportEndorsed(r) => match report(reg, r.report.as_str())? {
            ReportStage::Submitted => refuse(
                "type",
                format!(
                    "report `{}` was already submitted: endorsements come before",
                    r.report
                ),
            ),
            _ => Ok(()),
        },
        E::ReportSubmitted(r) => {
            report(reg, r.report.as_str())?;
            open_meeting(reg, "data.meeting", r.meeting.as_str())?;
            for (i, m) in r.reports_on.iter().enumerate() {
                mandate(reg, &format!("data.reports_on[{i}]"), m)?;
            }
            Ok(())
        }
        E::ReportFiled(r) => report(reg, r.report.as_str()).map(|_| ()),
        E::DocumentPosted(d) => {
            new_id(
                reg.documents.contains(&d.document),
                "data.document",
                "document",
                &d.document,
                AMEND,
            )?;
            open_meeting(reg, "data.meeting", d.meeting.as_str())
        }
        E::AgreementSigned(a) => {
            new_id(
                reg.agreements.contains(a.agreement.as_str()),
                "data.agreement",
                "agreement",
                a.agreement.as_str(),
                AMEND,
            )?;
            if let Some(m) = &a.for_meeting {
                meeting_or_segment(reg, "data.for_meeting", m.as_str())?;
            }
            if let Some(i) = &a.implements {
                decision_or_mandate(reg, "data.implements", i)?;
            }
            Ok(())
        }
        E::BodyRegistered(b) => {
            new_id(
                reg.bodies.contains(&b.body),
                "data.body",
                "body",
                b.body.code(),
                "",
            )?;
            for (i, m) in b.members.iter().enumerate() {
                reg.body(&format!("data.members[{i}]"), *m)?;
            }
            Ok(())
        }
        E::PartyJoined(p) => {
            reg.body("data.body", p.body)?;
            if reg.parties.contains(&(p.body, p.party.0.clone())) {
                return refuse(
                    "data.party",
                    format!("`{}` is already a Party to {}", p.party, p.body),
                );
            }
            Ok(())
        }
        E::NationalReportReceived(r) => {
            reg.body("data.body", r.body)?;
            let Some(joined) = reg.parties.get(&(r.body, r.party.0.clone())) else {
                return refuse(
                    "data.party",
                    format!(
                        "`{}` is not a Party to {}: record PartyJoined first",
                        r.party, r.body
                    ),
                );
            };
            if r.received.0 < *joined {
                return refuse(
                    "data.received",
                    format!(
                        "`{}` became a Party on {joined}, after {}",
                        r.party, r.received
                    ),
                );
            }
            if reg.national_reports.contains(&(
                r.body,
                r.cycle.0.clone(),
                r.kind,
                r.party.0.clone(),
            )) {
                return refuse(
                    "data.party",
                    format!(
                        "the {} report of `{}` for {} cycle {} is already recorded{AMEND}",
                        r.kind.name(),
                        r.party,
                        r.body,
                        r.cycle
                    ),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn adopted(reg: &Registry, d: &crate::domain::DecisionAdopted) -> Result<(), Refusal> {
    new_id(
        reg.decisions.contains(&d.symbol),
        "data.symbol",
        "decision",
        &d.symbol,
        AMEND,
    )?;
    let (m, seg) = meeting_or_segment(reg, "data.meeting", d.meeting.as_str())?;
    let mut stage = match seg {
        Some(s) => s.stage,
        None if m.sat => Stage::Over,
        None => whole_stage(reg, m),
    };
    if let Some(s) = &d.segment {
        if seg.is_some() {
            return refuse(
                "data.segment",
                format!(
                    "`{}` is already a segment: give its meeting as `meeting`",
                    d.meeting
                ),
            );
        }
        match reg.segments.get(s.as_str()) {
            Some(l) if l.meeting == d.meeting.as_str() => stage = l.stage,
            _ => {
                return refuse(
                    "data.segment",
                    format!(
                        "`{}` has no segment `{s}` (its segments: {})",
                        d.meeting,
                        list(m.segments.iter().map(String::as_str))
                    ),
                )
            }
        }
    }
    if stage == Stage::Cancelled {
        return refuse("data.meeting", format!("`{}` was cancelled", d.meeting));
    }
    if let Some(b) = d.body {
        reg.body("data.body", b)?;
        let members = |x: Body| {
            reg.bodies
                .get(&x)
                .map_or(&[][..], |l: &BodyLife| &l.members[..])
        };
        let allowed: Vec<Body> = std::iter::once(m.body)
            .chain(m.bodies.iter().copied())
            .flat_map(|b| std::iter::once(b).chain(members(b).iter().copied()))
            .collect();
        if !allowed.contains(&b) {
            return refuse(
                "data.body",
                format!(
                    "{b} does not meet at `{}` (its bodies: {})",
                    d.meeting,
                    allowed
                        .iter()
                        .map(Body::code)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    for (name, symbols) in [
        ("mirrors", &d.mirrors),
        ("amends", &d.amends),
        ("supersedes", &d.supersedes),
    ] {
        for (i, s) in symbols.iter().enumerate() {
            decision(reg, &format!("data.{name}[{i}]"), s)?;
        }
    }
    Ok(())
}

pub(super) fn evolve(reg: &mut Registry, seq: u64, event: &DomainEvent) {
    use DomainEvent as E;
    match event {
        E::DecisionAdopted(d) => {
            if reg.decisions.contains(&d.symbol) {
                return;
            }
            let body = d.body.or_else(|| {
                reg.meetings
                    .get(d.meeting.as_str())
                    .or_else(|| {
                        reg.segments
                            .get(d.meeting.as_str())
                            .and_then(|s| reg.meetings.get(&s.meeting))
                    })
                    .map(|m| m.body)
            });
            // A decision superseded closes its mandates, as the read model shows them.
            for old in &d.supersedes {
                reg.decisions.update(old.as_str(), |o| {
                    let ps: Vec<String> = o.paragraphs.iter().map(|(p, _)| p.clone()).collect();
                    for p in ps {
                        o.change(&p, seq, StatusChange::Superseded);
                    }
                });
            }
            reg.decisions.insert(
                d.symbol.clone(),
                DecisionLife {
                    meeting: d.meeting.0.clone(),
                    body: body.unwrap_or(Body::HUB),
                    paragraphs: d
                        .mandates
                        .iter()
                        .map(|m| (m.paragraph.0.clone(), MandateStatus::Active))
                        .collect(),
                    changes: Vec::new(),
                },
            );
        }
        E::MandateStatusChanged(m) => reg.decisions.update(m.decision.as_str(), |d| {
            d.change(&m.paragraph.0, seq, StatusChange::Set(m.status));
        }),
        E::GroupEstablished(g) if !reg.groups.contains(g.group.as_str()) => {
            reg.groups.insert(g.group.0.clone(), false);
        }
        E::GroupDissolved(g) => reg.groups.update(g.group.as_str(), |d| *d = true),
        E::ActivityReported(a) => reg.activities.insert(a.activity.0.clone(), ()),
        E::ReportDrafted(r) if !reg.reports.contains(r.report.as_str()) => {
            reg.reports.insert(r.report.0.clone(), ReportStage::Drafted);
        }
        E::ReportEndorsed(r) => reg.reports.update(r.report.as_str(), |s| {
            if *s == ReportStage::Drafted {
                *s = ReportStage::Endorsed;
            }
        }),
        E::ReportSubmitted(r) => {
            reg.reports
                .update(r.report.as_str(), |s| *s = ReportStage::Submitted);
            // Reporting on a mandate marks it reported (an elapsed one too), as the read model.
            for m in &r.reports_on {
                let Some((symbol, paragraph)) = m.split_once('#') else {
                    continue;
                };
                reg.decisions.update(symbol, |d| {
                    d.change(paragraph, seq, StatusChange::Reported);
                });
            }
        }
        E::DocumentPosted(d) => reg.documents.insert(d.document.clone(), ()),
        E::AgreementSigned(a) => reg.agreements.insert(a.agreement.0.clone(), ()),
        E::BodyRegistered(b) if !reg.bodies.contains(&b.body) => {
            reg.bodies.insert(
                b.body,
                BodyLife {
                    members: b.members.clone(),
                    meeting_kinds: b.meeting_kinds.clone(),
                },
            );
        }
        E::PartyJoined(p) if !reg.parties.contains(&(p.body, p.party.0.clone())) => {
            reg.parties.insert((p.body, p.party.0.clone()), p.joined.0);
        }
        E::NationalReportReceived(r) => reg
            .national_reports
            .insert((r.body, r.cycle.0.clone(), r.kind, r.party.0.clone()), ()),
        _ => {}
    }
}
