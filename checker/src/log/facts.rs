//! The history flattened for the log checker: one record per operation, and flat arrays
//! of every send and every read, so each check is a pass over plain slices.
//!
//! Flattening follows jepsen-io/jepsen `tests/kafka.clj` (`op-writes`, `op-reads`,
//! `writer-of`, `must-have-committed?`): a send's offset comes from its completion, an op
//! without a completion counts as `info`, and reads are taken from completions of any type.

use super::value_ids::ValueIds;
use crate::fast_hash::FastMap;
use std::ops::Range;

use crate::history::{Function, History, Key, MicroOp, Offset, Op, OpType, Process, Value};

/// How an operation ended, with "never completed" folded into `Info` as Jepsen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It happened.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// It may or may not have happened (an `info` completion, or none at all).
    Info,
}

/// One client operation: its invoke and its completion, if any.
#[derive(Debug, Clone)]
pub(crate) struct OpFacts {
    /// History index of the invoke.
    pub invoke: u64,
    /// History index of the completion; `None` if the run ended first.
    pub completion: Option<u64>,
    /// Who ran it.
    pub process: Process,
    /// What it did.
    pub f: Function,
    /// How it ended.
    pub outcome: Outcome,
    /// Time of the invoke, in nanoseconds.
    pub invoke_time: u64,
    /// Time of the completion, in nanoseconds.
    pub completion_time: Option<u64>,
    /// Its sends, as a range of [`LogFacts::sends`] (u32 bounds keep this record small:
    /// a million of them are walked by every pass).
    sends: (u32, u32),
    /// Its reads, as a range of [`LogFacts::reads`], in returned order.
    reads: (u32, u32),
    /// The keys of an `assign` or `subscribe` op; empty otherwise.
    pub assignment: Box<[Key]>,
    /// Why a `fail` or `info` completion ended so, as the client recorded it.
    pub error: Option<Box<str>>,
}

impl OpFacts {
    /// The history index anomalies cite: the completion, or the invoke if none.
    pub fn index(&self) -> u64 {
        self.completion.unwrap_or(self.invoke)
    }

    /// Its sends, as a range of [`LogFacts::sends`].
    pub fn sends(&self) -> Range<usize> {
        self.sends.0 as usize..self.sends.1 as usize
    }

    /// Its reads, as a range of [`LogFacts::reads`], in returned order.
    pub fn reads(&self) -> Range<usize> {
        self.reads.0 as usize..self.reads.1 as usize
    }
}

/// One send micro-op.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendFact {
    /// Dense key id (see [`LogFacts::keys`]).
    pub key: u32,
    /// Dense id of the value within its key (see [`ValueIds`]).
    pub local: u32,
    /// The value sent.
    pub value: Value,
    /// The offset the broker acknowledged, if the send completed `ok` with one.
    pub offset: Option<Offset>,
    /// The op that sent it, as an index into [`LogFacts::ops`].
    pub op: u32,
}

/// One record returned by a poll.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadFact {
    /// Dense key id (see [`LogFacts::keys`]).
    pub key: u32,
    /// Dense id of the value within its key (see [`ValueIds`]).
    pub local: u32,
    /// The offset the record was read at.
    pub offset: Offset,
    /// The value read.
    pub value: Value,
    /// The op that read it, as an index into [`LogFacts::ops`].
    pub op: u32,
}

/// What is known of each value of one key, indexed by the value's dense id: arrays
/// rather than hash tables, so the passes that consult them stay in cache.
#[derive(Debug, Default)]
pub(crate) struct KeyValues {
    /// Value → dense id.
    pub ids: ValueIds,
    /// The first send of each value: its writer (Jepsen `writer-of`); `u32::MAX` if none.
    writer: Vec<u32>,
    /// Whether an `ok` poll returned the value (Jepsen `reads-by-type` `:ok`).
    ok_read: Vec<bool>,
}

impl KeyValues {
    fn intern(&mut self, value: Value) -> u32 {
        let local = self.ids.intern(value);
        if local as usize == self.writer.len() {
            self.writer.push(u32::MAX);
            self.ok_read.push(false);
        }
        local
    }
}

/// The whole history, flattened.
#[derive(Debug, Default)]
pub(crate) struct LogFacts {
    /// Client operations in invoke order.
    pub ops: Vec<OpFacts>,
    /// Every send micro-op, grouped by op.
    pub sends: Vec<SendFact>,
    /// Every record read, grouped by op.
    pub reads: Vec<ReadFact>,
    /// The Jepsen key of each dense key id, in first-seen order.
    pub keys: Vec<Key>,
    /// The dense id of each key, for lookups only.
    key_ids: FastMap<Key, u32>,
    /// Per key id: its values' dense ids, and per value id the facts below.
    pub values: Vec<KeyValues>,
    /// Per op: it happened for certain, or it is `info` and one of its values was read by
    /// an `ok` poll (Jepsen `must-have-committed?`).
    committed: Vec<bool>,
}

/// How many sends and records read the flattened history will hold (an upper bound:
/// the micro-ops of every completion, or of the invoke when it has none).
fn micro_op_counts(pairs: &[(&Op, Option<&Op>)]) -> (usize, usize) {
    let (mut sends, mut reads) = (0, 0);
    for (invoke, completion) in pairs {
        let completed = completion.map(|op| op.micro_ops()).unwrap_or_default();
        let micro_ops = if completed.is_empty() {
            invoke.micro_ops()
        } else {
            completed
        };
        for micro_op in micro_ops {
            match micro_op {
                MicroOp::Send { .. } => sends += 1,
                MicroOp::Poll {
                    reads: Some(by_key),
                } => {
                    reads += by_key.values().map(Vec::len).sum::<usize>();
                }
                MicroOp::Poll { reads: None }
                | MicroOp::Init { .. }
                | MicroOp::Producer { .. }
                | MicroOp::SendOffsets { .. } => {}
            }
        }
    }
    (sends, reads)
}

impl LogFacts {
    /// Flattens a history.
    pub fn from_history(history: &History) -> LogFacts {
        let mut facts = LogFacts::default();
        let pairs = history.pairs();
        // Sized up front: growing these by doubling copied and faulted in twice the
        // memory, a fifth of the checker's time at a million ops.
        let (sends, reads) = micro_op_counts(&pairs);
        facts.ops.reserve_exact(pairs.len());
        facts.sends.reserve_exact(sends);
        facts.reads.reserve_exact(reads);
        for (invoke, completion) in pairs {
            facts.push_op(invoke, completion);
        }
        facts.committed = facts.ops.iter().map(|op| facts.must_commit(op)).collect();
        facts
    }

    fn push_op(&mut self, invoke: &Op, completion: Option<&Op>) {
        let outcome = match completion.map(|op| op.kind) {
            Some(OpType::Ok) => Outcome::Ok,
            Some(OpType::Fail) => Outcome::Fail,
            _ => Outcome::Info,
        };
        let id = self.ops.len() as u32;
        // A completion repeats the micro-ops with their results; a fail or info completion
        // may carry none, and then the invoke's tell what was attempted.
        let micro_ops = match completion.map(Op::micro_ops) {
            Some(ops) if !ops.is_empty() => ops,
            _ => invoke.micro_ops(),
        };
        let sends_start = self.sends.len();
        let reads_start = self.reads.len();
        for micro_op in micro_ops {
            match micro_op {
                MicroOp::Send { key, value, offset } => {
                    let key = self.key_id(*key);
                    let offset = offset.filter(|_| outcome != Outcome::Fail);
                    let send = self.sends.len() as u32;
                    let values = &mut self.values[key as usize];
                    let local = values.intern(*value);
                    if values.writer[local as usize] == u32::MAX {
                        values.writer[local as usize] = send;
                    }
                    self.sends.push(SendFact {
                        key,
                        local,
                        value: *value,
                        offset,
                        op: id,
                    });
                }
                MicroOp::Poll { reads: Some(reads) } => {
                    for (key, records) in reads {
                        let key = self.key_id(*key);
                        let values = &mut self.values[key as usize];
                        for &(offset, value) in records {
                            let local = values.intern(value);
                            if outcome == Outcome::Ok {
                                values.ok_read[local as usize] = true;
                            }
                            self.reads.push(ReadFact {
                                key,
                                local,
                                offset,
                                value,
                                op: id,
                            });
                        }
                    }
                }
                // The transaction checker reads producer identities and offsets.
                MicroOp::Poll { reads: None }
                | MicroOp::Init { .. }
                | MicroOp::Producer { .. }
                | MicroOp::SendOffsets { .. } => {}
            }
        }
        let assignment = match (&invoke.f, &invoke.value) {
            (Function::Assign | Function::Subscribe, crate::history::OpValue::Keys(keys)) => {
                keys.clone().into_boxed_slice()
            }
            _ => Box::default(),
        };
        self.ops.push(OpFacts {
            invoke: invoke.index,
            completion: completion.map(|op| op.index),
            process: invoke.process,
            f: invoke.f,
            outcome,
            invoke_time: invoke.time,
            completion_time: completion.map(|op| op.time),
            sends: (sends_start as u32, self.sends.len() as u32),
            reads: (reads_start as u32, self.reads.len() as u32),
            assignment,
            error: completion.and_then(|op| op.error.as_deref().map(Box::from)),
        });
    }

    fn key_id(&mut self, key: Key) -> u32 {
        let next = self.keys.len() as u32;
        let id = *self.key_ids.entry(key).or_insert(next);
        if id == next {
            self.keys.push(key);
            self.values.push(KeyValues::default());
        }
        id
    }

    fn must_commit(&self, op: &OpFacts) -> bool {
        match op.outcome {
            Outcome::Ok => true,
            Outcome::Fail => false,
            Outcome::Info => self.sends[op.sends()]
                .iter()
                .any(|send| self.read_ok(send.key, send.local)),
        }
    }

    /// The send that wrote the value with dense id `local` to `key`, if any op sent it.
    #[inline]
    pub fn writer(&self, key: u32, local: u32) -> Option<&SendFact> {
        let send = self.values[key as usize].writer[local as usize];
        (send != u32::MAX).then(|| &self.sends[send as usize])
    }

    /// Whether an `ok` poll returned the value with dense id `local` from `key`.
    #[inline]
    pub fn read_ok(&self, key: u32, local: u32) -> bool {
        self.values[key as usize].ok_read[local as usize]
    }

    /// Whether the op certainly took effect (Jepsen `must-have-committed?`).
    pub fn committed(&self, op: u32) -> bool {
        self.committed[op as usize]
    }

    /// The op with this dense id.
    pub fn op(&self, op: u32) -> &OpFacts {
        &self.ops[op as usize]
    }

    /// Dense key ids ordered by their Jepsen key, so reports list keys in order.
    pub fn keys_in_order(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.keys.len() as u32).collect();
        ids.sort_unstable_by_key(|&id| self.keys[id as usize]);
        ids
    }
}
