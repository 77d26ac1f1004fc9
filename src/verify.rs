//! Chain verification: every record's hash, every link to its predecessor, a gapless seq.
//!
//! The same check runs over the store and over an export file; it stops at the first bad
//! record and names its seq and the reason.

use std::io::BufRead;

use serde::Serialize;

use crate::envelope::{Envelope, ZERO_HASH};
use crate::store::{EventStore, StoreError};

/// The result of a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records that verified.
    pub records: u64,
    pub last_seq: u64,
    pub last_hash: String,
    /// The first bad record, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<Bad>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bad {
    pub seq: u64,
    pub reason: String,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Walks records in order, checking each against the chain so far.
#[derive(Debug)]
pub struct Verifier {
    report: Report,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::starting_after(0, ZERO_HASH)
    }
}

impl Verifier {
    /// A verifier for a log that continues after `seq` with hash `hash`.
    pub fn starting_after(seq: u64, hash: &str) -> Self {
        Verifier {
            report: Report {
                records: 0,
                last_seq: seq,
                last_hash: hash.to_string(),
                first_bad: None,
            },
        }
    }

    /// Checks the next record; returns false (and remembers why) once a record is bad.
    pub fn check(&mut self, env: &Envelope) -> bool {
        if self.report.first_bad.is_some() {
            return false;
        }
        let expected = self.report.last_seq + 1;
        let reason = if env.seq != expected {
            Some(format!("expected seq {expected}, found seq {}", env.seq))
        } else if env.prev_hash != self.report.last_hash {
            Some(format!(
                "prev_hash {} does not match the previous record's hash {}",
                env.prev_hash, self.report.last_hash
            ))
        } else if env.compute_hash() != env.hash {
            Some("hash does not match the record's content (altered)".to_string())
        } else {
            None
        };
        match reason {
            Some(reason) => {
                self.fail(expected, reason);
                false
            }
            None => {
                self.report.records += 1;
                self.report.last_seq = env.seq;
                self.report.last_hash = env.hash.clone();
                true
            }
        }
    }

    /// Records a failure at `seq` that was found outside `check` (unreadable record).
    pub fn fail(&mut self, seq: u64, reason: String) {
        if self.report.first_bad.is_none() {
            self.report.first_bad = Some(Bad { seq, reason });
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.report.last_seq + 1
    }

    pub fn finish(self) -> Report {
        self.report
    }
}

/// Verifies the whole chain held by a store, and that its head matches the last record.
pub fn verify_store(store: &dyn EventStore, progress: &mut dyn FnMut(u64)) -> Report {
    let head = store.head();
    let mut v = Verifier::default();
    for env in store.read_from(1) {
        match env {
            Ok(env) => {
                if !v.check(&env) {
                    break;
                }
                if env.seq % 4096 == 0 {
                    progress(env.seq);
                }
            }
            Err(StoreError::Corrupt { reason, .. }) => {
                let seq = v.next_seq();
                v.fail(seq, reason);
                break;
            }
            Err(e) => {
                let seq = v.next_seq();
                v.fail(seq, e.to_string());
                break;
            }
        }
    }
    let mut r = v.finish();
    if r.first_bad.is_none() && (r.last_seq != head.seq || r.last_hash != head.hash) {
        r.first_bad = Some(Bad {
            seq: r.last_seq + 1,
            reason: format!(
                "the store's head is seq {} hash {}, the records end at seq {}",
                head.seq, head.hash, r.last_seq
            ),
        });
    }
    r
}

/// Parses one export line as a record.
pub fn parse_record(line: &str) -> Result<Envelope, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    if let Some(path) = crate::envelope::find_non_integer(&value, "") {
        return Err(format!("{path}: numbers in records are integers"));
    }
    serde_json::from_value(value).map_err(|e| format!("not a record: {e}"))
}

/// Verifies an export (JSON Lines of records). Returns the report and the records that
/// verified, in order, when `keep` is set.
pub fn verify_export(reader: impl BufRead, keep: bool) -> std::io::Result<(Report, Vec<Envelope>)> {
    let mut v = Verifier::default();
    let mut kept = Vec::new();
    let mut first = true;
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_record(&line) {
            Ok(env) => {
                if first && env.seq > 1 {
                    // An export made with --since starts mid-chain.
                    v = Verifier::starting_after(env.seq - 1, &env.prev_hash);
                }
                first = false;
                if !v.check(&env) {
                    break;
                }
                if keep {
                    kept.push(env);
                }
            }
            Err(reason) => {
                let seq = v.next_seq();
                v.fail(seq, reason);
                break;
            }
        }
    }
    Ok((v.finish(), kept))
}
