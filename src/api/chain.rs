//! The chain's status as the server knows it: the prefix of the log already verified (its last
//! seq and hash) is remembered, and only records appended since are checked. A long stretch
//! (a large log just opened) is checked in the background while pages say how far it got.

use std::sync::{Arc, Mutex};

use crate::store::EventStore;
use crate::verify::Verifier;

/// Records checked while a page waits; a longer stretch goes to the background.
const INLINE: u64 = 20_000;

#[derive(Clone, Debug, Default)]
struct Known {
    /// Last seq and hash of the verified prefix (0 and "" before any).
    seq: u64,
    hash: String,
    /// The first break found, which stays found.
    broken: Option<(u64, String)>,
    checking: bool,
}

/// What a page says about the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every record up to the head verifies.
    Intact { records: u64, last_hash: String },
    /// Verified up to `verified` of `head`; the rest is being checked.
    Checking { verified: u64, head: u64 },
    /// A record does not verify.
    Broken { seq: u64, reason: String },
}

#[derive(Clone, Default)]
pub struct ChainWatch(Arc<Mutex<Known>>);

impl ChainWatch {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a prefix verified elsewhere (the whole-chain check `serve` makes at start).
    pub fn seed(&self, seq: u64, hash: &str) {
        let mut k = self.known();
        if seq > k.seq {
            (k.seq, k.hash) = (seq, hash.to_string());
        }
    }

    /// The last seq of the verified prefix (0 before any).
    pub fn verified(&self) -> u64 {
        self.known().seq
    }

    /// Checks the records after the verified prefix, up to the head: inline when few, else in
    /// a background thread (one at a time), and says where the chain stands.
    pub fn status(&self, store: &Arc<dyn EventStore>) -> Status {
        let head = store.head().seq;
        let (from, checking) = {
            let k = self.known();
            if let Some((seq, reason)) = &k.broken {
                return Status::Broken {
                    seq: *seq,
                    reason: reason.clone(),
                };
            }
            (k.seq, k.checking)
        };
        if from >= head {
            return self.answer(head);
        }
        if head - from <= INLINE && !checking {
            self.advance(store.as_ref(), head);
        } else if !checking {
            self.known().checking = true;
            let (me, store) = (self.clone(), store.clone());
            std::thread::spawn(move || {
                me.advance(store.as_ref(), head);
                me.known().checking = false;
            });
        }
        self.answer(head)
    }

    fn answer(&self, head: u64) -> Status {
        let k = self.known();
        match &k.broken {
            Some((seq, reason)) => Status::Broken {
                seq: *seq,
                reason: reason.clone(),
            },
            None if k.seq >= head => Status::Intact {
                records: k.seq,
                last_hash: k.hash.clone(),
            },
            None => Status::Checking {
                verified: k.seq,
                head,
            },
        }
    }

    /// Verifies from the remembered prefix to `head`, moving the prefix forward as it goes.
    fn advance(&self, store: &dyn EventStore, head: u64) {
        let (seq, hash) = {
            let k = self.known();
            (k.seq, k.hash.clone())
        };
        let mut v = if seq == 0 {
            Verifier::default()
        } else {
            Verifier::starting_after(seq, &hash)
        };
        let mut last = (seq, hash);
        for env in store.read_from(seq + 1) {
            let env = match env {
                Ok(env) => env,
                Err(e) => {
                    v.fail(last.0 + 1, e.to_string());
                    break;
                }
            };
            if env.seq > head {
                break;
            }
            if !v.check(&env) {
                break;
            }
            last = (env.seq, env.hash.clone());
            if env.seq % 10_000 == 0 {
                let mut k = self.known();
                (k.seq, k.hash) = last.clone();
            }
        }
        let report = v.finish();
        let mut k = self.known();
        (k.seq, k.hash) = last;
        if let Some(bad) = report.first_bad {
            k.broken = Some((bad.seq, bad.reason));
        }
    }
}
