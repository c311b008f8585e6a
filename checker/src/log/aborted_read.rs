//! AbortedRead (Jepsen's G1a): an `ok` poll returned a value whose send definitely failed.
//!
//! Jepsen `tests/kafka.clj` `g1a-cases`: `fail` means the write did not happen, so no
//! committed read may observe it. A broker that reports an error for a produce request it
//! nonetheless appended (or a client that retries and then reports the first attempt as
//! failed) shows up here. Reads of `info` sends are fine: those may have happened.

use super::describe::op_reference;
use crate::{Anomaly, AnomalyKind};

use super::facts::Outcome;
use super::Analysis;

/// One anomaly per read of a failed send, in history order.
pub(crate) fn find(analysis: &Analysis) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    let mut anomalies = Vec::new();
    for read in &facts.reads {
        let reader = facts.op(read.op);
        if reader.outcome != Outcome::Ok {
            continue;
        }
        let Some(send) = facts.writer(read.key, read.local) else {
            continue;
        };
        let writer = facts.op(send.op);
        if writer.outcome != Outcome::Fail {
            continue;
        }
        let key = facts.keys[read.key as usize];
        let error = writer
            .error
            .as_deref()
            .map(|e| format!(" with error {e}"))
            .unwrap_or_default();
        anomalies.push(Anomaly {
            kind: AnomalyKind::AbortedRead,
            key: Some(key),
            ops: vec![writer.index(), reader.index()],
            description: format!(
                "key {key}: {} returned value {} at offset {}, but its send {} failed{error}, \
                 so it must never be visible",
                op_reference(reader),
                read.value,
                read.offset,
                op_reference(writer)
            ),
        });
    }
    anomalies
}
