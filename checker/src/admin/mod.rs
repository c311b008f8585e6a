//! The admin checker: what DeleteRecords and ListOffsets answered, judged against what the
//! rest of the history proves (acknowledged sends, polls, earlier admin answers).
//!
//! - [`op`]: the `delete-records` / `list-offsets` op value.
//! - `log_start`: KIP-107 — a deleted prefix stays deleted ([`AnomalyKind::LogStartRegression`]).
//! - `latest`: ListOffsets latest lies between what was acknowledged and what can be read
//!   ([`AnomalyKind::LatestOffsetOutOfBounds`]).
//! - `timestamps`: MAX_TIMESTAMP (KIP-734) and by-timestamp (KIP-79) answers name the
//!   right record ([`AnomalyKind::WrongTimestampOffset`]).
//!
//! Only what the history proves is judged: a record's timestamp is known to lie between
//! its send's invoke and completion (the workload's producers stamp CreateTime, KIP-32, at
//! the invoke, one millisecond apart within a batch), and an acknowledgement proves a
//! record committed only under acks=all.

pub mod op;

mod latest;
mod log_start;
mod timestamps;

use std::collections::BTreeMap;

use crate::history::{Function, History, Key, MicroOp, Offset, OpType, OpValue};
use crate::{Anomaly, AnomalyKind, CheckReport};

pub use op::AdminOp;

/// What the admin checker may assume about the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdminOptions {
    /// Producers sent with acks=all, so an acknowledged record is committed (below the
    /// high watermark) from its acknowledgement on.
    pub acks_all: bool,
    /// The history ends with final reads to every partition's end and has no transaction
    /// markers, so every offset below a partition's high watermark was read by some poll.
    pub final_reads: bool,
}

/// One acknowledged record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Acked {
    pub key: Key,
    pub offset: Offset,
    /// Bounds on its CreateTime, in milliseconds.
    pub timestamp_min: i64,
    pub timestamp_max: i64,
    /// History index of the send's completion.
    pub done_index: u64,
}

/// One completed admin op.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    pub op: AdminOp,
    pub f: Function,
    pub invoke_index: u64,
    /// History index of its `ok` completion.
    pub done_index: u64,
}

/// One record a poll returned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Read {
    pub key: Key,
    pub offset: Offset,
    /// The leader epoch the fetch was answered at, when the history says.
    pub leader_epoch: Option<i32>,
    pub invoke_index: u64,
    pub done_index: u64,
}

/// The history as the rules see it.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub acked: Vec<Acked>,
    /// Completed (`ok`) admin ops, by completion.
    pub asked: Vec<Asked>,
    /// Every DeleteRecords invoked, `(invoke index, key, offset asked)`, ok or not: any may
    /// have taken effect.
    pub deletes_invoked: Vec<(u64, Key, i64)>,
    pub reads: Vec<Read>,
}

impl Facts {
    fn of(history: &History) -> Facts {
        let mut facts = Facts::default();
        for (invoke, done) in history.pairs() {
            if let OpValue::Admin(op) = &invoke.value {
                if invoke.f == Function::DeleteRecords {
                    facts.deletes_invoked.push((
                        invoke.index,
                        op.key,
                        op.offset.unwrap_or(i64::MAX),
                    ));
                }
            }
            let Some(done) = done.filter(|d| d.kind == OpType::Ok) else {
                continue;
            };
            match (&done.f, &done.value) {
                (Function::DeleteRecords | Function::ListOffsets, OpValue::Admin(op)) => {
                    if let (Function::DeleteRecords, Some(low_watermark)) =
                        (done.f, op.low_watermark)
                    {
                        facts
                            .deletes_invoked
                            .push((invoke.index, op.key, low_watermark));
                    }
                    facts.asked.push(Asked {
                        op: op.clone(),
                        f: done.f,
                        invoke_index: invoke.index,
                        done_index: done.index,
                    })
                }
                (Function::Send, OpValue::MicroOps(micro_ops)) => {
                    let (from_ms, to_ms) =
                        (invoke.time as i64 / 1_000_000, done.time as i64 / 1_000_000);
                    for (i, micro) in micro_ops.iter().enumerate() {
                        if let MicroOp::Send {
                            key,
                            offset: Some(offset),
                            ..
                        } = micro
                        {
                            facts.acked.push(Acked {
                                key: *key,
                                offset: *offset,
                                timestamp_min: from_ms + i as i64,
                                timestamp_max: to_ms + i as i64,
                                done_index: done.index,
                            });
                        }
                    }
                }
                (Function::Poll, OpValue::MicroOps(micro_ops)) => {
                    for micro in micro_ops {
                        let MicroOp::Poll { reads: Some(reads) } = micro else {
                            continue;
                        };
                        for (key, records) in reads {
                            let leader_epoch = done.leader_epochs.get(key).copied();
                            facts.reads.extend(records.iter().map(|(offset, _)| Read {
                                key: *key,
                                offset: *offset,
                                leader_epoch,
                                invoke_index: invoke.index,
                                done_index: done.index,
                            }));
                        }
                    }
                }
                _ => {}
            }
        }
        facts.asked.sort_by_key(|a| a.done_index);
        facts
    }

    /// The highest offset below which records of `key` may have been deleted by a
    /// DeleteRecords invoked before history index `before` (-1 asks up to the high
    /// watermark: anything may be gone).
    pub fn deleted_below(&self, key: Key, before: u64) -> i64 {
        self.deletes_invoked
            .iter()
            .filter(|(at, k, _)| *k == key && *at < before)
            .map(|(_, _, offset)| *offset)
            .max()
            .unwrap_or(0)
    }

    /// Records of `key` acknowledged before history index `before` and not deletable by
    /// then (still in the log).
    pub fn acked_before(
        &self,
        key: Key,
        before: u64,
        deleted_below: i64,
    ) -> impl Iterator<Item = &Acked> {
        self.acked
            .iter()
            .filter(move |a| a.key == key && a.done_index < before && a.offset >= deleted_below)
    }

    /// The acknowledged record at `key`/`offset`, if one is known.
    pub fn acked_at(&self, key: Key, offset: Offset) -> Option<&Acked> {
        self.acked
            .iter()
            .find(|a| a.key == key && a.offset == offset)
    }

    /// The highest offset any poll returned for `key`.
    pub fn highest_read(&self, key: Key) -> Option<Offset> {
        self.reads
            .iter()
            .filter(|r| r.key == key)
            .map(|r| r.offset)
            .max()
    }
}

/// Checks the admin ops of `history`.
pub fn check(history: &History, options: &AdminOptions) -> CheckReport {
    let facts = Facts::of(history);
    let mut anomalies: Vec<Anomaly> = Vec::new();
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();
    anomalies.extend(log_start::find(&facts, &mut stats));
    anomalies.extend(latest::find(&facts, options));
    anomalies.extend(timestamps::find(&facts, options));
    for asked in &facts.asked {
        let name = match (asked.f, asked.op.timestamp) {
            (Function::DeleteRecords, _) => "delete-records ok",
            (_, Some(-2)) => "list-offsets earliest ok",
            (_, Some(-1)) => "list-offsets latest ok",
            (_, Some(-3)) => "list-offsets max-timestamp ok",
            _ => "list-offsets by timestamp ok",
        };
        *stats.entry(name.to_string()).or_insert(0) += 1;
    }
    CheckReport::from_anomalies("admin", anomalies, stats)
}

/// An anomaly of `kind` about `key`, naming the ops involved.
pub(crate) fn anomaly(kind: AnomalyKind, key: Key, ops: Vec<u64>, description: String) -> Anomaly {
    Anomaly {
        kind,
        key: Some(key),
        ops,
        description,
    }
}

#[cfg(test)]
mod tests;
