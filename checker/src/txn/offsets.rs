//! NonAtomicOffsetCommit (ours, after KIP-98 and KIP-447): a transaction's consumed
//! offsets and its sends were not committed together.
//!
//! KIP-98 ("atomic read-process-write"): offsets sent to a transaction (AddOffsetsToTxn +
//! TxnOffsetCommit) are committed for the group exactly when the transaction commits, with
//! its records. Two ways the history proves otherwise:
//! - the transaction aborted (`fail`), yet a fetch of the group's committed offsets returned
//!   an offset only that transaction ever sent for that partition;
//! - the transaction committed (`ok`, or `info` with one of its records polled), yet a fetch
//!   begun after that was known returned an offset that only ops finished before the
//!   transaction began had committed (or none at all). OffsetFetch with `require_stable`
//!   waits for pending transactional offsets (KIP-447), so a stale answer is a lost commit.

use std::collections::BTreeMap;

use super::facts::TxnFacts;
use crate::history::{Function, Key, Offset};
use crate::log::describe::op_reference;
use crate::log::facts::{LogFacts, Outcome};
use crate::{Anomaly, AnomalyKind};

/// The ops that may have committed one (group, partition, offset).
type Committers<'a> = BTreeMap<(&'a str, Key, Offset), Vec<u32>>;

/// One anomaly per (transaction, fetch) pair that disagree, in history order.
pub(crate) fn find(log: &LogFacts, txn: &TxnFacts) -> Vec<Anomaly> {
    let mut committers: Committers = BTreeMap::new();
    for (id, op) in txn.ops.iter().enumerate() {
        let facts = log.op(id as u32);
        if facts.outcome == Outcome::Fail {
            continue;
        }
        if let (Function::Commit, Some(offsets)) = (facts.f, &op.group_offsets) {
            for (key, offset) in &offsets.offsets {
                let at = (offsets.group.as_str(), *key, *offset);
                committers.entry(at).or_default().push(id as u32);
            }
        }
        for (group, offsets) in &op.sent_offsets {
            for (key, offset) in offsets {
                let at = (group.as_str(), *key, *offset);
                committers.entry(at).or_default().push(id as u32);
            }
        }
    }
    let fetches: Vec<u32> = (0..log.ops.len() as u32)
        .filter(|&id| log.op(id).f == Function::FetchCommitted && log.op(id).outcome == Outcome::Ok)
        .filter(|&id| txn.ops[id as usize].group_offsets.is_some())
        .collect();
    let first_read = first_read_at(log);
    let mut anomalies = Vec::new();
    for (id, op) in txn.ops.iter().enumerate() {
        let id = id as u32;
        if op.sent_offsets.is_empty() {
            continue;
        }
        let known_committed = match log.op(id).outcome {
            Outcome::Ok => log.op(id).completion_time,
            Outcome::Fail => None,
            Outcome::Info => first_read[id as usize],
        };
        for &fetch in &fetches {
            let Some(fetched) = &txn.ops[fetch as usize].group_offsets else {
                continue;
            };
            for (group, offsets) in &op.sent_offsets {
                if *group != fetched.group {
                    continue;
                }
                for (key, offset) in offsets {
                    let Some(&seen) = fetched.offsets.get(key) else {
                        continue;
                    };
                    let at = (group.as_str(), *key, seen);
                    let others = committers.get(&at).map(Vec::as_slice).unwrap_or(&[]);
                    let finding = if log.op(id).outcome == Outcome::Fail {
                        (seen == *offset && others.is_empty()).then(|| {
                            format!(
                                "aborted, yet {} returned its offset {seen}",
                                reference(log, fetch)
                            )
                        })
                    } else {
                        let began = log.op(id).invoke_time;
                        let stale = others
                            .iter()
                            .all(|&c| log.op(c).completion_time.is_some_and(|t| t < began));
                        let after = known_committed.is_some_and(|t| log.op(fetch).invoke_time > t);
                        (after && seen != *offset && stale).then(|| {
                            format!(
                                "committed, yet {} begun after that returned offset {seen} \
                                 instead of its {offset}, {}",
                                reference(log, fetch),
                                if others.is_empty() {
                                    "which no op committed".to_string()
                                } else {
                                    "which only ops finished before it began had committed"
                                        .to_string()
                                }
                            )
                        })
                    };
                    if let Some(finding) = finding {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::NonAtomicOffsetCommit,
                            key: Some(*key),
                            ops: vec![log.op(id).index(), log.op(fetch).index()],
                            description: format!(
                                "group {group:?}, key {key}: transaction {} sent offset \
                                 {offset} with its records and was {finding}",
                                op_reference(log.op(id))
                            ),
                        });
                    }
                }
            }
        }
    }
    anomalies
}

fn reference(log: &LogFacts, op: u32) -> String {
    op_reference(log.op(op))
}

/// Per op, when an `ok` poll first returned one of its records (its completion time): an
/// `info` transaction is known to have committed from then on.
fn first_read_at(log: &LogFacts) -> Vec<Option<u64>> {
    let mut first = vec![None; log.ops.len()];
    for read in &log.reads {
        let reader = log.op(read.op);
        let (Outcome::Ok, Some(time)) = (reader.outcome, reader.completion_time) else {
            continue;
        };
        if let Some(send) = log.writer(read.key, read.local) {
            let slot: &mut Option<u64> = &mut first[send.op as usize];
            *slot = Some(slot.map_or(time, |t: u64| t.min(time)));
        }
    }
    first
}
