//! The partition log model (append → offset; read from an offset → records) and its
//! fast path: where acknowledged offsets pin the order, a sort and a pass decide.
//!
//! A Kafka partition is a linearizable log: an acknowledged append took the next offset at
//! some instant inside its call, and a read returned a prefix of what followed its start
//! offset at some instant inside its call (a fetch may return fewer records than exist).
//! Offsets are witnesses of the append order, so instead of searching we place appends in
//! offset order at the earliest instant each allows (the greedy schedule: a running
//! maximum of invoke times) and check every op completes after its point. Only when
//! offsets leave the order open — an acknowledged append without an offset, or a hole
//! that a crashed append might fill — do we fall back to the general search.

use std::collections::BTreeMap;

use super::{check as search_check, LinearizableOptions, Operation, SequentialModel};
use crate::fast_hash::FastMap;
use crate::{Anomaly, AnomalyKind, CheckReport};

/// A record's value; unique per partition, as in the queue workload.
pub type Record = u64;

/// What a log op asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogInput {
    /// Append one record.
    Append(Record),
    /// Read records starting at an offset.
    Read {
        /// The first offset asked for.
        from: u64,
    },
}

/// What a log op returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogOutput {
    /// The offset an append was given.
    Appended(u64),
    /// The records a read returned, from its start offset on, consecutively.
    Records(Vec<Record>),
}

/// The partition log model.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartitionLog;

impl SequentialModel for PartitionLog {
    type State = Vec<Record>;
    type Input = LogInput;
    type Output = LogOutput;

    fn init(&self) -> Vec<Record> {
        Vec::new()
    }

    fn step(
        &self,
        log: &Vec<Record>,
        input: &LogInput,
        output: Option<&LogOutput>,
    ) -> Option<Vec<Record>> {
        match (input, output) {
            (LogInput::Append(record), Some(LogOutput::Appended(offset)))
                if *offset != log.len() as u64 =>
            {
                let _ = record;
                None
            }
            (LogInput::Append(record), _) => {
                let mut log = log.clone();
                log.push(*record);
                Some(log)
            }
            (LogInput::Read { from }, Some(LogOutput::Records(records))) => {
                let from = *from as usize;
                let end = from + records.len();
                (end <= log.len() && log[from.min(end)..end] == records[..]).then(|| log.clone())
            }
            (LogInput::Read { .. }, _) => Some(log.clone()),
        }
    }
}

/// Checks a partition log history: the offset fast path, else the search.
pub fn check(ops: &[Operation<LogInput, LogOutput>], options: &LinearizableOptions) -> CheckReport {
    match witnessed(ops) {
        Some(Ok(())) => report(ops.len(), Vec::new(), "offsets"),
        Some(Err(anomaly)) => report(ops.len(), vec![anomaly], "offsets"),
        None => search_check(&PartitionLog, ops, options),
    }
}

fn report(ops: usize, anomalies: Vec<Anomaly>, path: &str) -> CheckReport {
    let stats = BTreeMap::from([
        ("ops".to_string(), ops as u64),
        (format!("decided by {path}"), 1),
    ]);
    CheckReport::from_anomalies("linearizable", anomalies, stats)
}

fn violation(ops: Vec<u64>, description: String) -> Anomaly {
    Anomaly {
        kind: AnomalyKind::Nonlinearizable,
        key: None,
        ops,
        description,
    }
}

/// Which append holds each offset. The fast path needs offsets `0..n` with no hole, and
/// `n` cannot exceed the number of appends, so offsets below that are a plain array (one
/// probe, no tree); any offset beyond it goes to `beyond`, which means a hole and the search.
struct Holders {
    /// The append (position in `ops`) at each offset below the number of appends.
    dense: Vec<usize>,
    /// Holders of larger offsets, kept so a duplicate among them is still seen.
    beyond: BTreeMap<u64, usize>,
}

const FREE: usize = usize::MAX;

impl Holders {
    fn get(&self, offset: u64) -> Option<usize> {
        match usize::try_from(offset)
            .ok()
            .and_then(|at| self.dense.get(at))
        {
            Some(&FREE) => None,
            Some(&holder) => Some(holder),
            None => self.beyond.get(&offset).copied(),
        }
    }

    fn insert(&mut self, offset: u64, holder: usize) {
        match usize::try_from(offset)
            .ok()
            .and_then(|at| self.dense.get_mut(at))
        {
            Some(slot) => *slot = holder,
            None => {
                self.beyond.insert(offset, holder);
            }
        }
    }

    /// The holders of offsets `0..n`, if they are exactly the offsets held.
    fn gapless(&self) -> Option<&[usize]> {
        let held = self.dense.iter().take_while(|&&h| h != FREE).count();
        (self.beyond.is_empty() && self.dense[held..].iter().all(|&h| h == FREE))
            .then(|| &self.dense[..held])
    }
}

/// The fast path: `None` if offsets do not pin the order, else the verdict.
fn witnessed(ops: &[Operation<LogInput, LogOutput>]) -> Option<Result<(), Anomaly>> {
    let appends = ops
        .iter()
        .filter(|op| matches!(op.input, LogInput::Append(_)))
        .count();
    // Offset → the append (position in `ops`) that holds it.
    let mut at_offset = Holders {
        dense: vec![FREE; appends],
        beyond: BTreeMap::new(),
    };
    let mut append_of: FastMap<Record, usize> =
        FastMap::with_capacity_and_hasher(appends, Default::default());
    for (at, op) in ops.iter().enumerate() {
        if let LogInput::Append(record) = op.input {
            append_of.insert(record, at);
            match &op.output {
                Some(LogOutput::Appended(offset)) => {
                    if let Some(other) = at_offset.get(*offset) {
                        let text = format!(
                            "ops {} and {} were both acknowledged at offset {offset}",
                            ops[other].index, op.index
                        );
                        return Some(Err(violation(vec![ops[other].index, op.index], text)));
                    }
                    at_offset.insert(*offset, at);
                }
                Some(LogOutput::Records(_)) => return None,
                // Acknowledged without an offset: it holds one, but which is open.
                None if op.complete.is_some() => return None,
                None => {}
            }
        }
    }
    // Reads place crashed appends and must agree with acknowledged ones.
    for op in ops {
        let (LogInput::Read { from }, Some(LogOutput::Records(records))) = (&op.input, &op.output)
        else {
            continue;
        };
        for (i, record) in records.iter().enumerate() {
            let offset = from + i as u64;
            let Some(&writer) = append_of.get(record) else {
                let text = format!(
                    "op {} read record {record} at offset {offset}, which no op appended",
                    op.index
                );
                return Some(Err(violation(vec![op.index], text)));
            };
            match at_offset.get(offset) {
                Some(holder) if holder != writer => {
                    let text = format!("op {} read record {record} at offset {offset}, but op {} holds that offset", op.index, ops[holder].index);
                    return Some(Err(violation(vec![ops[holder].index, op.index], text)));
                }
                Some(_) => {}
                None if ops[writer].complete.is_none() => {
                    at_offset.insert(offset, writer);
                }
                None => return None,
            }
        }
    }
    // A hole might be a crashed append no one read: the order is open, search instead.
    let holders = at_offset.gapless()?;
    Some(schedule(ops, holders))
}

/// The greedy schedule: append `i` takes effect at the latest invoke among offsets `≤ i`.
fn schedule(ops: &[Operation<LogInput, LogOutput>], at_offset: &[usize]) -> Result<(), Anomaly> {
    let mut points: Vec<(u64, usize)> = Vec::with_capacity(at_offset.len());
    for (offset, &at) in at_offset.iter().enumerate() {
        let latest = points
            .last()
            .copied()
            .filter(|&(t, _)| t > ops[at].invoke)
            .unwrap_or((ops[at].invoke, at));
        if let Some(complete) = ops[at].complete {
            if latest.0 > complete {
                let text = format!(
                    "op {} appended at offset {offset} and completed at {complete}, before op {} (at an earlier offset) was invoked at {}",
                    ops[at].index, ops[latest.1].index, latest.0
                );
                return Err(violation(vec![ops[at].index, ops[latest.1].index], text));
            }
        }
        points.push(latest);
    }
    for op in ops {
        let (LogInput::Read { from }, Some(LogOutput::Records(records)), Some(complete)) =
            (&op.input, &op.output, op.complete)
        else {
            continue;
        };
        if records.is_empty() {
            continue;
        }
        let last = (from + records.len() as u64 - 1) as usize;
        let (point, writer) = points[last];
        if point > complete {
            let text = format!(
                "op {} read up to offset {last} and completed at {complete}, before op {} it depends on was invoked at {point}",
                op.index, ops[writer].index
            );
            return Err(violation(vec![ops[writer].index, op.index], text));
        }
    }
    Ok(())
}
