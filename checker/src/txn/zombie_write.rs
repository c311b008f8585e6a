//! ZombieWrite (ours, after KIP-98 and KIP-890): a transaction that ran under a producer
//! epoch already fenced committed, or its records became visible.
//!
//! KIP-98 ("Transactional guarantees", zombie fencing): InitProducerId for a
//! `transactional.id` bumps the epoch, and the coordinator and partition leaders must then
//! refuse every request carrying an older epoch (`PRODUCER_FENCED`,
//! `INVALID_PRODUCER_EPOCH`). KIP-890 names the case a broker got wrong: a late produce from
//! a fenced epoch accepted, leaving a "hanging transaction". From the history: a grant of a
//! newer identity for the same `transactional.id` completed before the transaction began,
//! and the grant of the transaction's own identity completed before that newer one was
//! asked for, so every request of the transaction came after the fence.

use std::collections::BTreeMap;

use super::facts::TxnFacts;
use crate::history::ProducerIdentity;
use crate::log::describe::{op_reference, seconds};
use crate::log::facts::{LogFacts, Outcome};
use crate::{Anomaly, AnomalyKind};

/// One grant of InitProducerId.
struct Grant {
    identity: ProducerIdentity,
    invoked: u64,
    completed: u64,
    op: u32,
}

/// One anomaly per fenced transaction that committed or was read, in history order.
pub(crate) fn find(log: &LogFacts, txn: &TxnFacts) -> Vec<Anomaly> {
    let mut grants: BTreeMap<&str, Vec<Grant>> = BTreeMap::new();
    for (id, op) in txn.ops.iter().enumerate() {
        let (Some((transactional_id, identity)), true) = (&op.producer, op.granted) else {
            continue;
        };
        let facts = log.op(id as u32);
        grants.entry(transactional_id).or_default().push(Grant {
            identity: *identity,
            invoked: facts.invoke_time,
            completed: facts.completion_time.unwrap_or(u64::MAX),
            op: id as u32,
        });
    }
    let mut anomalies = Vec::new();
    for (id, op) in txn.ops.iter().enumerate() {
        let Some((transactional_id, identity)) = &op.producer else {
            continue;
        };
        let facts = log.op(id as u32);
        let Some(grants) = grants.get(transactional_id.as_str()) else {
            continue;
        };
        let Some(own) = grants.iter().find(|g| g.identity == *identity) else {
            continue;
        };
        let fence = grants.iter().find(|g| {
            g.identity != *identity && g.completed < facts.invoke_time && own.completed < g.invoked
        });
        let Some(fence) = fence else { continue };
        let read = log.sends[facts.sends()]
            .iter()
            .find(|send| log.read_ok(send.key, send.local));
        let what = match (facts.outcome, read) {
            (_, Some(send)) => format!(
                "its value {} sent to key {} was polled",
                send.value, log.keys[send.key as usize]
            ),
            (Outcome::Ok, None) => "it committed".to_string(),
            _ => continue,
        };
        anomalies.push(Anomaly {
            kind: AnomalyKind::ZombieWrite,
            key: read.map(|send| log.keys[send.key as usize]),
            ops: vec![log.op(fence.op).index(), facts.index()],
            description: format!(
                "transactional id {transactional_id:?}: {} ran under producer id {} epoch {}, \
                 begun at {} after {} had granted producer id {} epoch {}, which fences it; \
                 yet {what}",
                op_reference(facts),
                identity.producer_id,
                identity.producer_epoch,
                seconds(facts.invoke_time),
                op_reference(log.op(fence.op)),
                fence.identity.producer_id,
                fence.identity.producer_epoch,
            ),
        });
    }
    anomalies
}
