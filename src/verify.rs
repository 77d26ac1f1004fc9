//! Chain verification: every record's hash, every link to its predecessor, a gapless seq.
//!
//! The same check runs over the store and over an export file; it stops at the first bad
//! record and names its seq and the reason.

use std::io::BufRead;

use serde::Serialize;

use crate::envelope::{Envelope, ZERO_HASH};
use crate::store::{EventStore, StoreError};

/// The result of a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// Records that verified.
    pub records: u64,
    pub last_seq: u64,
    pub last_hash: String,
    /// The first bad record, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<Bad>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    last_at: Option<chrono::DateTime<chrono::Utc>>,
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
            last_at: None,
        }
    }

    /// Checks the next record; returns false (and remembers why) once a record is bad.
    pub fn check(&mut self, env: &Envelope) -> bool {
        if self.report.first_bad.is_some() {
            return false;
        }
        let expected = self.report.last_seq + 1;
        let at = env.recorded_at_time();
        let reason = if env.seq != expected {
            Some(format!("expected seq {expected}, found seq {}", env.seq))
        } else if env.prev_hash != self.report.last_hash {
            Some(format!(
                "prev_hash {} does not match the previous record's hash {}",
                env.prev_hash, self.report.last_hash
            ))
        } else if env.compute_hash() != env.hash {
            Some("hash does not match the record's content (altered)".to_string())
        } else if at.is_none()
            || env.recorded_at != crate::envelope::format_instant(at.expect("checked"))
        {
            Some(format!(
                "recorded_at `{}` is not an RFC 3339 UTC instant with microseconds",
                env.recorded_at
            ))
        } else if self.last_at.is_some_and(|last| Some(last) > at) {
            Some(format!(
                "recorded_at {} is earlier than the previous record's",
                env.recorded_at
            ))
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
                self.last_at = at;
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

/// Verifies the whole chain held by a store up to its head as found at the start, and that
/// the head matches the record at its seq. Records appended meanwhile (by this process, another
/// node, or a transaction the database finishes after its client died) are left for the next
/// verification, not taken for a break.
pub fn verify_store(store: &dyn EventStore, progress: &mut dyn FnMut(u64)) -> Report {
    let head = store.head();
    let mut v = Verifier::default();
    for env in store.read_from(1) {
        match env {
            Ok(env) if env.seq > head.seq && env.seq == v.next_seq() => break,
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
    crate::domain::as_recorded(|| serde_json::from_value(value))
        .map_err(|e| format!("not a record: {e}"))
}

/// Verifies an export (JSON Lines of records) that must continue the chain after `after`
/// (seq and hash; `(0, ZERO_HASH)` for a whole export), or, with `None`, wherever its first
/// record says it starts (a partial export made with `--since`). Returns the report and, when
/// `keep` is set, the records that verified, in order.
pub fn verify_export(
    reader: impl BufRead,
    keep: bool,
    after: Option<(u64, &str)>,
) -> std::io::Result<(Report, Vec<Envelope>)> {
    let mut v = match after {
        Some((seq, hash)) => Verifier::starting_after(seq, hash),
        None => Verifier::default(),
    };
    let mut kept = Vec::new();
    let mut first = true;
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_record(&line) {
            Ok(env) => {
                if first && after.is_none() && env.seq > 1 {
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
                v.fail(seq, format!("line {}: {reason}", i + 1));
                break;
            }
        }
    }
    Ok((v.finish(), kept))
}
