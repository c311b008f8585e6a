//! UnprocessedRecord: at-least-once delivery — every record below a group's committed
//! offset was processed by some member of that group.
//!
//! A Kafka consumer commits offset `n` for a partition to say "everything before `n` is
//! done" (OffsetCommit's offset is the *next* record to consume, per the Kafka protocol
//! guide and `KafkaConsumer#commitSync`). If a record below an acknowledged commit was
//! never returned to any member, the group skipped it for good: after a restart or
//! rebalance consumption resumes at `n`. Jepsen's kafka.clj catches skips within one
//! consumer's polls (`poll-skip`) but allows them under `subscribe`, exactly where groups
//! hand partitions around; this check closes that gap across the whole group.
//!
//! The records of a partition are the (offset, value) pairs acknowledged sends and polls
//! vouched for, as in kafka.clj `version-orders`. The group's members are the processes
//! that joined it or committed for it; "processed" means returned by an `ok` poll of one
//! of them. The bound is the highest acknowledged commit per partition, since that commit
//! claimed everything below it.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{
    Function, GroupOffsets, Key, MicroOp, Offset, Op, OpType, OpValue, Process, Value,
};
use crate::{Anomaly, AnomalyKind};

use super::coverage::Join;

/// Records of each partition: offset → (value, history index of the op that vouched).
type Records = BTreeMap<Key, BTreeMap<Offset, (Value, u64)>>;

/// One anomaly per (group, partition) with records below the commit no member read.
pub(super) fn find(
    pairs: &[(&Op, Option<&Op>)],
    joins: &[Join],
    commits: &[(&Op, Option<&Op>, &GroupOffsets)],
) -> Vec<Anomaly> {
    let records = records(pairs);
    let mut bounds: BTreeMap<(&str, Key), (Offset, u64)> = BTreeMap::new();
    let mut members: BTreeMap<&str, BTreeSet<Process>> = BTreeMap::new();
    for (invoke, done, c) in commits {
        members
            .entry(c.group.as_str())
            .or_default()
            .insert(invoke.process);
        let Some(done) = done.filter(|d| d.kind == OpType::Ok) else {
            continue;
        };
        for (&key, &offset) in &c.offsets {
            let bound = bounds
                .entry((c.group.as_str(), key))
                .or_insert((offset, done.index));
            if offset > bound.0 {
                *bound = (offset, done.index);
            }
        }
    }
    for join in joins {
        if let Some(m) = join.membership {
            members
                .entry(m.group.as_str())
                .or_default()
                .insert(join.invoke.process);
        }
    }
    let processed: BTreeMap<&str, BTreeSet<(Key, Value)>> = members
        .iter()
        .map(|(&group, processes)| (group, processed_by(pairs, processes)))
        .collect();
    let mut anomalies = Vec::new();
    for (&(group, key), &(committed, commit_index)) in &bounds {
        let processed = &processed[group];
        let Some(log) = records.get(&key) else {
            continue;
        };
        let missing: Vec<(Offset, Value, u64)> = log
            .range(..committed)
            .filter(|(_, (value, _))| !processed.contains(&(key, *value)))
            .map(|(&offset, &(value, index))| (offset, value, index))
            .collect();
        if missing.is_empty() {
            continue;
        }
        anomalies.push(unprocessed(group, key, committed, commit_index, &missing));
    }
    anomalies
}

fn unprocessed(
    group: &str,
    key: Key,
    committed: Offset,
    commit_index: u64,
    missing: &[(Offset, Value, u64)],
) -> Anomaly {
    let shown: Vec<String> = missing
        .iter()
        .take(8)
        .map(|(offset, value, index)| format!("value {value} at offset {offset} (op {index})"))
        .collect();
    let more = missing.len().saturating_sub(8);
    let mut ops = vec![commit_index];
    ops.extend(missing.iter().take(8).map(|&(_, _, index)| index));
    Anomaly {
        kind: AnomalyKind::UnprocessedRecord,
        key: Some(key),
        ops,
        description: format!(
            "group {group}, key {key}: op {commit_index} committed offset {committed} and got \
             ok, claiming every record below it was processed, yet {} record(s) below it were \
             never returned to any member of the group: {}{}",
            missing.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    }
}

/// Every (offset, value) an acknowledged send or any poll vouched for, per partition.
fn records(pairs: &[(&Op, Option<&Op>)]) -> Records {
    let mut records = Records::new();
    for (_, done) in pairs {
        let Some(done) = done else { continue };
        let OpValue::MicroOps(micro_ops) = &done.value else {
            continue;
        };
        for micro_op in micro_ops {
            match micro_op {
                MicroOp::Send {
                    key,
                    value,
                    offset: Some(offset),
                } if done.kind == OpType::Ok => {
                    let log = records.entry(*key).or_default();
                    log.entry(*offset).or_insert((*value, done.index));
                }
                MicroOp::Poll { reads: Some(reads) } => {
                    for (key, pairs) in reads {
                        let log = records.entry(*key).or_default();
                        for &(offset, value) in pairs {
                            log.entry(offset).or_insert((value, done.index));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    records
}

/// (key, value) pairs returned by an `ok` poll of one of `processes`.
fn processed_by(
    pairs: &[(&Op, Option<&Op>)],
    processes: &BTreeSet<Process>,
) -> BTreeSet<(Key, Value)> {
    let mut processed = BTreeSet::new();
    for (invoke, done) in pairs {
        let Some(done) = done.filter(|d| d.kind == OpType::Ok) else {
            continue;
        };
        if !matches!(invoke.f, Function::Poll | Function::Txn)
            || !processes.contains(&invoke.process)
        {
            continue;
        }
        let OpValue::MicroOps(micro_ops) = &done.value else {
            continue;
        };
        for micro_op in micro_ops {
            if let MicroOp::Poll { reads: Some(reads) } = micro_op {
                for (key, records) in reads {
                    processed.extend(records.iter().map(|&(_, value)| (*key, value)));
                }
            }
        }
    }
    processed
}
