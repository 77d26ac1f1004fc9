//! The reports read model (drafted, endorsed, submitted under a document symbol, filed),
//! with the activities groups reported and the agreements signed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{ApproxDate, DomainEvent, Entity, Money};
use crate::envelope::Envelope;

/// A step of a report's life: when and by whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    pub on: ApproxDate,
    pub by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Submission {
    pub meeting: String,
    pub document: String,
    pub on: ApproxDate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportRow {
    pub report: String,
    pub title: String,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub decision: Option<String>,
    pub drafted: Step,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub endorsed: Option<Step>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub submitted: Vec<Submission>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub filed_with: Option<String>,
}

impl ReportRow {
    pub fn status(&self) -> &'static str {
        if !self.submitted.is_empty() {
            "submitted"
        } else if self.endorsed.is_some() {
            "endorsed"
        } else {
            "drafted"
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActivityRow {
    pub activity: String,
    pub group: String,
    pub title: String,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub area: Option<String>,
    pub on: ApproxDate,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub meetings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgreementRow {
    pub agreement: String,
    pub title: String,
    pub parties: Vec<Entity>,
    pub signed: ApproxDate,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub services: Vec<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub budget: Option<Money>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub for_meeting: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reports {
    pub reports: BTreeMap<String, ReportRow>,
    pub activities: BTreeMap<String, ActivityRow>,
    pub agreements: BTreeMap<String, AgreementRow>,
}

fn slugs(v: &[crate::domain::Slug]) -> Vec<String> {
    v.iter().map(|s| s.0.clone()).collect()
}

impl Reports {
    pub fn apply(&mut self, env: &Envelope, e: &DomainEvent) {
        use DomainEvent as E;
        match e {
            E::ReportDrafted(r) => {
                self.reports.insert(
                    r.report.0.clone(),
                    ReportRow {
                        report: r.report.0.clone(),
                        title: r.title.0.clone(),
                        group: r.group.as_ref().map(|s| s.0.clone()),
                        decision: r.decision.clone(),
                        drafted: Step {
                            on: env.occurred,
                            by: slugs(&r.by),
                        },
                        endorsed: None,
                        submitted: Vec::new(),
                        filed_with: None,
                    },
                );
            }
            E::ReportEndorsed(r) => {
                if let Some(row) = self.reports.get_mut(r.report.as_str()) {
                    row.endorsed = Some(Step {
                        on: env.occurred,
                        by: slugs(&r.by),
                    });
                }
            }
            E::ReportSubmitted(r) => {
                if let Some(row) = self.reports.get_mut(r.report.as_str()) {
                    row.submitted.push(Submission {
                        meeting: r.meeting.0.clone(),
                        document: r.document.clone(),
                        on: env.occurred,
                    });
                }
            }
            E::ReportFiled(r) => {
                if let Some(row) = self.reports.get_mut(r.report.as_str()) {
                    row.filed_with = Some(r.repository.0.clone());
                }
            }
            E::ActivityReported(a) => {
                self.activities.insert(
                    a.activity.0.clone(),
                    ActivityRow {
                        activity: a.activity.0.clone(),
                        group: a.group.0.clone(),
                        title: a.title.0.clone(),
                        area: a.area.as_ref().map(|t| t.0.clone()),
                        on: env.occurred,
                        meetings: slugs(&a.meetings),
                    },
                );
            }
            E::AgreementSigned(a) => {
                self.agreements.insert(
                    a.agreement.0.clone(),
                    AgreementRow {
                        agreement: a.agreement.0.clone(),
                        title: a.title.0.clone(),
                        parties: a.parties.clone(),
                        signed: env.occurred,
                        services: a.services.iter().map(|t| t.0.clone()).collect(),
                        budget: a.budget.clone(),
                        for_meeting: a.for_meeting.as_ref().map(|s| s.0.clone()),
                    },
                );
            }
            _ => {}
        }
    }
}
