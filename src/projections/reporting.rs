//! The national reporting read model: each convention's Parties (with the day each joined) and
//! the national reports received for each reporting cycle, from which a cycle's submission and
//! on-time rates follow ("12 of 140 Parties submitted their full report by 31 December 2021").

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{Body, DomainEvent, NationalReportKind};

/// A Party to a convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PartyRow {
    pub party: String,
    pub name: String,
    #[schemars(with = "String")]
    pub joined: NaiveDate,
}

/// One national report received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReceivedRow {
    pub party: String,
    pub kind: NationalReportKind,
    #[schemars(with = "String")]
    pub received: NaiveDate,
}

/// Where a cycle stands on a day: of the Parties bound to report (those that had joined by the
/// due day), how many submitted at all, and how many by the due day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CycleStanding {
    pub parties: usize,
    pub submitted: usize,
    pub on_time: usize,
}

/// Bodies recorded beyond the shipped ones, Parties by body, and reports by `BODY/cycle`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reporting {
    #[serde(default)]
    pub bodies: BTreeMap<String, String>,
    pub parties: BTreeMap<String, BTreeMap<String, PartyRow>>,
    pub reports: BTreeMap<String, Vec<ReceivedRow>>,
}

/// The bodies every log knows.
pub const SHIPPED_BODIES: [&str; 8] = ["MC", "BC", "RC", "SC", "BRS", "UNEA", "ICCM", "HUB"];

fn cycle_key(body: Body, cycle: &str) -> String {
    format!("{body}/{cycle}")
}

impl Reporting {
    /// Whether `code` names a body the log knows (a shipped one or one recorded).
    pub fn knows_body(&self, code: &str) -> bool {
        SHIPPED_BODIES.contains(&code) || self.bodies.contains_key(code)
    }

    /// Every body the log knows, by code.
    pub fn body_codes(&self) -> Vec<String> {
        let mut v: Vec<String> = SHIPPED_BODIES.iter().map(|s| s.to_string()).collect();
        v.extend(self.bodies.keys().cloned());
        v
    }

    pub fn apply(&mut self, e: &DomainEvent) {
        match e {
            DomainEvent::BodyRegistered(b) => {
                self.bodies
                    .entry(b.body.code().to_string())
                    .or_insert_with(|| b.name.0.clone());
            }
            DomainEvent::PartyJoined(p) => {
                self.parties
                    .entry(p.body.code().to_string())
                    .or_default()
                    .insert(
                        p.party.0.clone(),
                        PartyRow {
                            party: p.party.0.clone(),
                            name: p.name.0.clone(),
                            joined: p.joined.0,
                        },
                    );
            }
            DomainEvent::NationalReportReceived(r) => {
                self.reports
                    .entry(cycle_key(r.body, &r.cycle.0))
                    .or_default()
                    .push(ReceivedRow {
                        party: r.party.0.clone(),
                        kind: r.kind,
                        received: r.received.0,
                    });
            }
            _ => {}
        }
    }

    /// The standing of `body`'s cycle `cycle` (reports of `kind`, or any kind) due on `due`.
    /// `None` when no Party of the body is recorded: nothing to count against.
    pub fn standing(
        &self,
        body: Body,
        cycle: &str,
        kind: Option<NationalReportKind>,
        due: NaiveDate,
    ) -> Option<CycleStanding> {
        let parties = self.parties.get(body.code())?;
        let bound: Vec<&String> = parties
            .values()
            .filter(|p| p.joined <= due)
            .map(|p| &p.party)
            .collect();
        if bound.is_empty() {
            return None;
        }
        let reports: Vec<&ReceivedRow> = self
            .reports
            .get(&cycle_key(body, cycle))
            .map(|v| {
                v.iter()
                    .filter(|r| kind.is_none_or(|k| r.kind == k))
                    .collect()
            })
            .unwrap_or_default();
        let first = |party: &str| {
            reports
                .iter()
                .filter(|r| r.party == party)
                .map(|r| r.received)
                .min()
        };
        let submitted: Vec<NaiveDate> = bound.iter().filter_map(|p| first(p)).collect();
        Some(CycleStanding {
            parties: bound.len(),
            submitted: submitted.len(),
            on_time: submitted.iter().filter(|d| **d <= due).count(),
        })
    }
}
