//! IntermediateRead (Adya's G1b): a poll returned part of what a committed transaction
//! wrote to a partition in one Produce request, and stopped inside it.
//!
//! Adya (1999) §4.2.1, G1b: a transaction reads a version another transaction wrote that
//! was not that transaction's final modification of the object. In a Kafka log any prefix
//! of committed records is a legal read, so the state Kafka rules out is narrower: the
//! middle of one record batch. A transaction's run of sends to one partition (no poll
//! between them) goes out in one Produce request as one batch (faultline's client does so),
//! and a Fetch returns whole batches only — a batch cut by `max_bytes` is dropped by the
//! client (Kafka protocol guide, "Fetch API": "the broker may return a partial message at
//! the end"; KIP-74 returns an oversized first batch whole). A read_committed fetch also
//! cannot stop inside an open transaction's batch: the last stable offset is the first
//! offset of the earliest open transaction (KIP-98). So a poll whose records of a partition
//! end on a value its writer sent before another in the same run saw a state that never
//! existed, unless that poll jumped over the rest (then it is `int-poll-skip`, the log
//! checker's). Histories from clients that split batches (Java's `max.poll.records`) should
//! allow this kind.

use std::collections::BTreeMap;

use super::facts::TxnFacts;
use crate::history::{Function, Key, Value};
use crate::log::describe::op_reference;
use crate::log::facts::LogFacts;
use crate::{Anomaly, AnomalyKind};

/// One anomaly per poll micro-op that ended inside a batch, in history order.
pub(crate) fn find(log: &LogFacts, txn: &TxnFacts) -> Vec<Anomaly> {
    // (key, value) → (writer op, the values its run sent after it).
    let mut later_in_run: BTreeMap<(Key, Value), (u32, &[Value])> = BTreeMap::new();
    for (id, op) in txn.ops.iter().enumerate() {
        let id = id as u32;
        if log.op(id).f != Function::Txn || !log.committed(id) {
            continue;
        }
        for (key, values) in &op.runs {
            for (i, value) in values.iter().enumerate() {
                later_in_run.insert((*key, *value), (id, &values[i + 1..]));
            }
        }
    }
    let mut anomalies = Vec::new();
    for (id, op) in txn.ops.iter().enumerate() {
        let reader = log.op(id as u32);
        if reader.outcome != crate::log::facts::Outcome::Ok {
            continue;
        }
        for &(key, offset, value) in &op.poll_ends {
            let Some(&(writer, later)) = later_in_run.get(&(key, value)) else {
                continue;
            };
            if later.is_empty() || writer == id as u32 {
                continue;
            }
            let writer = log.op(writer);
            anomalies.push(Anomaly {
                kind: AnomalyKind::IntermediateRead,
                key: Some(key),
                ops: vec![writer.index(), reader.index()],
                description: format!(
                    "key {key}: {} returned records of the partition up to value {value} at \
                     offset {offset} and stopped, but the committed transaction {} sent {} \
                     after {value} in the same Produce request; a fetch returns whole \
                     batches, so this state never existed",
                    op_reference(reader),
                    op_reference(writer),
                    crate::log::describe::list(later, 5),
                ),
            });
        }
    }
    anomalies
}
