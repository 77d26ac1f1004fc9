//! The groups read model: task forces and working groups with their scope, area, members,
//! co-chairs, lead officers per entity, terms of reference, reviews and activities.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{
    ApproxDate, DecisionArea, DomainEvent, Entity, GroupKind, LeadOfficer, Modality, Scope,
};
use crate::envelope::Envelope;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupRow {
    pub group: String,
    pub name: String,
    pub kind: GroupKind,
    pub scope: Scope,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub area: Option<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub decision_area: Option<DecisionArea>,
    pub members: Vec<Entity>,
    pub co_chairs: Vec<String>,
    pub lead_officers: Vec<LeadOfficer>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub modality: Option<Modality>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub implements: Option<String>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub parent: Option<String>,
    pub established: ApproxDate,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub terms_of_reference: Option<ApproxDate>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub last_reviewed: Option<ApproxDate>,
    #[serde(skip_serializing_if = "crate::omit::none")]
    pub dissolved: Option<ApproxDate>,
    #[serde(skip_serializing_if = "crate::omit::empty", default)]
    pub activities: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Groups(pub BTreeMap<String, GroupRow>);

impl Groups {
    pub fn apply(&mut self, env: &Envelope, e: &DomainEvent) {
        use DomainEvent as E;
        if let E::GroupEstablished(g) = e {
            self.0.insert(
                g.group.0.clone(),
                GroupRow {
                    group: g.group.0.clone(),
                    name: g.name.0.clone(),
                    kind: g.kind,
                    scope: g.scope,
                    area: g.area.as_ref().map(|t| t.0.clone()),
                    decision_area: g.decision_area,
                    members: g.members.clone(),
                    co_chairs: g.co_chairs.iter().map(|s| s.0.clone()).collect(),
                    lead_officers: g.lead_officers.clone(),
                    modality: g.modality,
                    implements: g.implements.clone(),
                    parent: g.parent.as_ref().map(|s| s.0.clone()),
                    established: env.occurred,
                    terms_of_reference: None,
                    last_reviewed: None,
                    dissolved: None,
                    activities: Vec::new(),
                },
            );
            return;
        }
        if let E::GroupsReviewed(r) = e {
            for id in &r.groups {
                if let Some(g) = self.0.get_mut(id.as_str()) {
                    g.last_reviewed = Some(env.occurred);
                }
            }
            return;
        }
        let id = match e {
            E::TermsOfReferenceAdopted(g) => &g.group,
            E::CoChairsAppointed(g) => &g.group,
            E::GroupScopeExtended(g) => &g.group,
            E::LeadOfficerChanged(g) => &g.group,
            E::GroupDissolved(g) => &g.group,
            E::ActivityReported(a) => &a.group,
            _ => return,
        };
        let Some(row) = self.0.get_mut(id.as_str()) else {
            return;
        };
        match e {
            E::TermsOfReferenceAdopted(_) => row.terms_of_reference = Some(env.occurred),
            E::CoChairsAppointed(c) => {
                row.co_chairs = c.co_chairs.iter().map(|c| c.officer.0.clone()).collect()
            }
            E::GroupScopeExtended(x) => {
                row.scope = x.scope;
                for m in &x.added_members {
                    if !row.members.contains(m) {
                        row.members.push(m.clone());
                    }
                }
            }
            E::LeadOfficerChanged(l) => {
                row.lead_officers.retain(|o| o.entity != l.entity);
                row.lead_officers.push(LeadOfficer {
                    entity: l.entity.clone(),
                    officer: l.officer.clone(),
                });
                row.lead_officers.sort_by(|a, b| a.entity.cmp(&b.entity));
            }
            E::GroupDissolved(_) => row.dissolved = Some(env.occurred),
            E::ActivityReported(a) => row.activities.push(a.activity.0.clone()),
            _ => {}
        }
    }
}
