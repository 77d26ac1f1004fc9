//! `accord record`: input files read and checked whole, then appended a part at a time, each
//! part's text kept compressed until its turn.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::*;
use crate::store::{EventStore, StoreError, Written};

/// A batch read and checked whole: its name, the text of its events a part of [`PART`] events
/// at a time, LZ4-compressed until the part is recorded, and the line of each event.
pub(super) struct Batch {
    name: String,
    parts: Vec<Vec<u8>>,
    lines: Vec<usize>,
}

/// Events handed to the store at a time when a batch is recorded: the batch is read again a
/// part at a time, so a large one is never held whole as events, nor as plain text once
/// checked.
const PART: usize = 4096;

impl Batch {
    /// The batch of a checked text: its parts compressed, the text let go.
    fn of(name: String, text: String, lines: Vec<usize>) -> Batch {
        let starts = line_starts(&text, &lines);
        let parts = starts
            .chunks(PART)
            .enumerate()
            .map(|(i, part)| {
                let to = starts.get((i + 1) * PART).copied().unwrap_or(text.len());
                lz4_flex::compress_prepend_size(&text.as_bytes()[part[0]..to])
            })
            .collect();
        Batch { name, parts, lines }
    }
}

pub(super) fn read_batches(files: &[PathBuf]) -> Result<Vec<Batch>> {
    let stdin_only = files.is_empty() || files.iter().all(|f| f.as_os_str() == "-");
    let sources: Vec<PathBuf> = if stdin_only {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut out = Vec::new();
    for f in sources {
        let (name, bytes) = if f.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("failed to read standard input")?;
            ("<stdin>".to_string(), b)
        } else {
            let b = std::fs::read(&f)
                .map_err(|e| BadInput(format!("{}: cannot read: {e}", f.display())))?;
            (f.display().to_string(), b)
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            BadInput(format!("{name}: line {line}: not UTF-8 (byte {at})"))
        })?;
        let lines =
            crate::input::check_batch(&text).map_err(|e| BadInput(format!("{name}: {e}")))?;
        out.push(Batch::of(name, text, lines));
    }
    Ok(out)
}

pub(super) fn record(store: &dyn EventStore, batches: Vec<Batch>) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for Batch { name, parts, lines } in batches {
        let line = |index: usize| lines.get(index).copied().unwrap_or(0);
        // Checked whole above: read again a part at a time, the text gives the same events,
        // and each part's text is let go once read.
        let mut next = 0;
        let mut parts = parts.into_iter().map(|packed| {
            let text = lz4_flex::decompress_size_prepended(&packed)
                .ok()
                .and_then(|t| String::from_utf8(t).ok())
                .expect("a part packed in memory unpacks to the text it was");
            drop(packed);
            let end = (next + PART).min(lines.len());
            let part: Vec<_> = crate::input::proposals(&text)
                .zip(&lines[next..end])
                .map(|(p, &line)| {
                    let mut p =
                        p.expect("the text was checked whole above and reads the same again");
                    // Its line in the whole file, not in the part.
                    p.line = line;
                    p
                })
                .collect();
            assert_eq!(
                part.len(),
                end - next,
                "a part reads as many events as checked"
            );
            next = end;
            part
        });
        let outcomes = store.append_parts(&mut parts).map_err(|e| match e {
            StoreError::Conflict {
                index,
                stream,
                expected,
                actual,
            } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: expected_position: stream `{stream}` is at position {actual}, \
                 expected {expected}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::Rejected { index, message } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: {message}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::Refused {
                index,
                field,
                message,
            } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: {field}: {message}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::IdConflict { index, id, seq } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: id: `{id}` is already recorded at seq {seq} with other content \
                 (give a new id, or correct seq {seq} with EventAmended); nothing recorded \
                 from this file",
                line(index)
            ))),
            other => anyhow::Error::new(other).context(format!("{name}: failed to record")),
        })?;
        let (mut recorded, mut dups) = (0, 0);
        for o in outcomes {
            match o {
                Written::Recorded {
                    seq,
                    hash,
                    ty,
                    stream,
                } => {
                    recorded += 1;
                    writeln!(out, "{seq} {} {ty} {stream}", hex::encode(hash))?;
                }
                Written::Duplicate { id, seq } => {
                    dups += 1;
                    writeln!(
                        out,
                        "duplicate id {id} already recorded at seq {seq}: not recorded again"
                    )?;
                }
            }
        }
        out.flush()?;
        eprintln!("{name}: {recorded} recorded, {dups} duplicates");
    }
    Ok(0)
}

/// The byte at which each of `lines` (rising, 1-based) starts in `text`.
fn line_starts(text: &str, lines: &[usize]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(lines.len());
    let mut want = lines.iter().peekable();
    let line_begins = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1));
    for (n, at) in line_begins.enumerate() {
        while want.next_if(|&&l| l == n + 1).is_some() {
            starts.push(at);
        }
        if want.peek().is_none() {
            break;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_starts_find_each_event_line() {
        let text = "{\"a\":1}\r\n\n\n{\"b\":2}\n{\"c\":3}";
        let starts = super::line_starts(text, &[1, 4, 5]);
        assert_eq!(starts, vec![0, 11, 19]);
        assert!(text[starts[1]..].starts_with("{\"b\""));
        assert!(text[starts[2]..].starts_with("{\"c\""));
    }
}
