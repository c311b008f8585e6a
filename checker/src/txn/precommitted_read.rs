//! PrecommittedRead (Jepsen): a transaction polled a value it sent itself.
//!
//! jepsen-io/jepsen `tests/kafka.clj` `precommitted-read-cases`: "This is legal in most
//! DBs, but in Kafka's model, sent values are supposed to be invisible to *all* pollers
//! until their producing txn commits." A read_committed consumer stops at the last stable
//! offset, below every open transaction's first record (KIP-98), so a transaction that sees
//! its own write saw uncommitted data.

use crate::history::Function;
use crate::log::describe::op_reference;
use crate::log::facts::{LogFacts, Outcome};
use crate::{Anomaly, AnomalyKind};

/// One anomaly per transaction that read its own writes, naming the first such value.
pub(crate) fn find(log: &LogFacts) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for (id, op) in log.ops.iter().enumerate() {
        if op.f != Function::Txn || op.outcome == Outcome::Fail {
            continue;
        }
        let own = log.reads[op.reads()].iter().find(|read| {
            log.writer(read.key, read.local)
                .is_some_and(|send| send.op == id as u32)
        });
        if let Some(read) = own {
            let key = log.keys[read.key as usize];
            anomalies.push(Anomaly {
                kind: AnomalyKind::PrecommittedRead,
                key: Some(key),
                ops: vec![op.index()],
                description: format!(
                    "key {key}: transaction {} polled value {} at offset {}, which it sent \
                     itself before committing; a read_committed poll must not see an open \
                     transaction's records",
                    op_reference(op),
                    read.value,
                    read.offset
                ),
            });
        }
    }
    anomalies
}
