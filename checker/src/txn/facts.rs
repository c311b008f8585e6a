//! What the transaction checker reads beyond the log checker's flattened history: each
//! op's producer identity, the epochs InitProducerId granted, the offsets a transaction
//! sent to the group coordinator, and the runs of sends a transaction made in one Produce
//! request.
//!
//! Indexed like [`LogFacts::ops`]: both walk [`History::pairs`] in order, so op `i` here
//! is op `i` there.

use std::collections::BTreeMap;

use crate::history::{
    Function, GroupOffsets, History, Key, MicroOp, Offset, Op, OpType, OpValue, ProducerIdentity,
    Value,
};
use crate::log::facts::{LogFacts, Outcome};

/// The transactional parts of one client op.
#[derive(Debug, Default, Clone)]
pub(crate) struct TxnOp {
    /// The `transactional.id` and identity its requests carried (an `init` or `producer`
    /// micro-op), if it was transactional.
    pub producer: Option<(String, ProducerIdentity)>,
    /// It called InitProducerId and was answered.
    pub granted: bool,
    /// Offsets sent to the transaction, per group (AddOffsetsToTxn + TxnOffsetCommit).
    pub sent_offsets: Vec<(String, BTreeMap<Key, Offset>)>,
    /// Runs of values sent to one key with no poll between: faultline's client sends each
    /// run in one Produce request, one record batch per partition.
    pub runs: Vec<(Key, Vec<Value>)>,
    /// Offsets a `commit` op committed or a `fetch-committed` op returned.
    pub group_offsets: Option<GroupOffsets>,
    /// For each poll micro-op of a completion, the last record it returned of each key:
    /// (key, offset, value).
    pub poll_ends: Vec<(Key, Offset, Value)>,
}

/// The transactional facts of a whole history.
#[derive(Debug, Default)]
pub(crate) struct TxnFacts {
    /// Per op, in [`LogFacts::ops`] order.
    pub ops: Vec<TxnOp>,
}

impl TxnFacts {
    /// Reads the transactional micro-ops of every op; `log` must come from the same history.
    pub fn from_history(history: &History, log: &LogFacts) -> TxnFacts {
        let ops: Vec<TxnOp> = history
            .pairs()
            .into_iter()
            .map(|(invoke, completion)| txn_op(invoke, completion))
            .collect();
        assert_eq!(
            ops.len(),
            log.ops.len(),
            "both fact tables walk History::pairs"
        );
        TxnFacts { ops }
    }
}

fn txn_op(invoke: &Op, completion: Option<&Op>) -> TxnOp {
    let mut op = TxnOp::default();
    if matches!(invoke.f, Function::Commit | Function::FetchCommitted) {
        let done = completion.filter(|c| c.kind == OpType::Ok);
        op.group_offsets = match done.map(|c| &c.value) {
            Some(OpValue::Offsets(Some(offsets))) => Some(offsets.clone()),
            _ => match (&invoke.value, invoke.f) {
                (OpValue::Offsets(Some(offsets)), Function::Commit) => Some(offsets.clone()),
                _ => None,
            },
        };
        return op;
    }
    // A completion repeats the micro-ops with their results, as in the log checker.
    let micro_ops = match completion.map(Op::micro_ops) {
        Some(ops) if !ops.is_empty() => ops,
        _ => invoke.micro_ops(),
    };
    let mut run: Option<(Key, Vec<Value>)> = None;
    for micro_op in micro_ops {
        match micro_op {
            MicroOp::Init {
                transactional_id,
                granted,
            } => {
                if let Some(identity) = granted {
                    op.producer = Some((transactional_id.clone(), *identity));
                    op.granted = completion.is_some_and(|c| c.kind == OpType::Ok);
                }
            }
            MicroOp::Producer {
                transactional_id,
                identity,
            } => op.producer = Some((transactional_id.clone(), *identity)),
            MicroOp::SendOffsets { group, offsets } => {
                op.sent_offsets.push((group.clone(), offsets.clone()))
            }
            MicroOp::Send { key, value, .. } => match &mut run {
                Some((run_key, values)) if run_key == key => values.push(*value),
                _ => {
                    op.runs.extend(run.take());
                    run = Some((*key, vec![*value]));
                }
            },
            MicroOp::Poll { reads } => {
                op.runs.extend(run.take());
                let returned = reads.iter().flatten();
                op.poll_ends.extend(returned.filter_map(|(key, records)| {
                    records.last().map(|&(offset, value)| (*key, offset, value))
                }));
            }
        }
    }
    op.runs.extend(run);
    op
}

/// Whether an op is a transaction that certainly did not commit. A transaction the
/// workload aborted is recorded `fail` even if EndTxn's answer was lost: only an
/// EndTxn(commit) can commit it (KIP-98), and none was sent.
pub(crate) fn aborted(log: &LogFacts, op: u32) -> bool {
    log.op(op).outcome == Outcome::Fail
}
