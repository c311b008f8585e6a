//! A Jepsen-shaped Kafka history (sends and polls) as partition-log operations, one list
//! per partition, and its linearizability check.
//!
//! Each partition is an independent linearizable log, so the history splits by key
//! (P-compositionality, Horn & Kroening 2015) and each piece goes to
//! [`partition_log::check`], whose offset fast path decides the common case with a sort
//! and a pass. The mapping follows the op semantics of jepsen-io/jepsen `tests/kafka.clj`
//! and Knossos' history rules (jepsen-io/knossos `history.clj`):
//! - a `send` micro-op is an append of its value; `ok` with an offset returns it, `fail`
//!   did not happen and is dropped, `info` (or no completion) crashed: it may take effect
//!   at any point after its invoke, or never;
//! - an `ok` `poll` returns, per key, reads from an offset; records at consecutive
//!   offsets form one read, so a gap (a transaction marker, or a skip the log checker
//!   names `int-poll-skip`) starts a new read rather than claiming the offsets in between;
//!   a `fail` or crashed poll constrains nothing and is dropped;
//! - the micro-ops of one op share its invoke and completion times.

use std::collections::BTreeMap;

use super::partition_log::{self, LogInput, LogOutput};
use super::{LinearizableOptions, Operation};
use crate::history::{History, Key, MicroOp, Op, OpType, Process};
use crate::{CheckReport, Verdict};

/// One partition's operations.
pub type LogOperations = Vec<Operation<LogInput, LogOutput>>;

/// Converts a queue history into partition-log operations per key, in invoke order.
pub fn partition_log_operations(history: &History) -> BTreeMap<Key, LogOperations> {
    let mut by_key: BTreeMap<Key, LogOperations> = BTreeMap::new();
    for (invoke, completion) in history.pairs() {
        let kind = completion.map_or(OpType::Info, |op| op.kind);
        if kind == OpType::Fail {
            continue;
        }
        let complete = completion.filter(|_| kind == OpType::Ok);
        // A completion repeats the micro-ops with their results; without one (or with an
        // empty one) the invoke's say what was attempted.
        let micro_ops = match complete.map(Op::micro_ops) {
            Some(ops) if !ops.is_empty() => ops,
            _ => invoke.micro_ops(),
        };
        for micro_op in micro_ops {
            push_micro_op(&mut by_key, invoke, complete, micro_op);
        }
    }
    by_key
}

fn push_micro_op(
    by_key: &mut BTreeMap<Key, LogOperations>,
    invoke: &Op,
    complete: Option<&Op>,
    micro_op: &MicroOp,
) {
    let operation = |input: LogInput, output: Option<LogOutput>| Operation {
        process: match invoke.process {
            Process::Client(process) => u64::from(process),
            Process::Nemesis => u64::MAX,
        },
        invoke: invoke.time,
        complete: complete.map(|op| op.time),
        input,
        output: output.filter(|_| complete.is_some()),
        index: complete.map_or(invoke.index, |op| op.index),
    };
    match micro_op {
        MicroOp::Send { key, value, offset } => {
            let output = offset
                .and_then(|offset| u64::try_from(offset).ok())
                .map(LogOutput::Appended);
            by_key
                .entry(*key)
                .or_default()
                .push(operation(LogInput::Append(*value), output));
        }
        MicroOp::Poll { reads: Some(reads) } if complete.is_some() => {
            for (key, records) in reads {
                for (from, values) in consecutive_runs(records) {
                    by_key.entry(*key).or_default().push(operation(
                        LogInput::Read { from },
                        Some(LogOutput::Records(values)),
                    ));
                }
            }
        }
        MicroOp::Poll { .. } => {}
        // A transaction's producer identity and offsets are not partition-log operations.
        MicroOp::Init { .. } | MicroOp::Producer { .. } | MicroOp::SendOffsets { .. } => {}
    }
}

/// Splits records into runs at consecutive offsets: (first offset, values).
fn consecutive_runs(records: &[(i64, u64)]) -> Vec<(u64, Vec<u64>)> {
    let mut runs: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut next: Option<i64> = None;
    for &(offset, value) in records {
        let Ok(from) = u64::try_from(offset) else {
            continue;
        };
        match runs.last_mut() {
            Some((_, values)) if next == Some(offset) => values.push(value),
            _ => runs.push((from, vec![value])),
        }
        next = Some(offset + 1);
    }
    runs
}

/// Checks every partition of a queue history for linearizability; the verdict is the
/// worst of the partitions', anomalies name their key, statistics add up.
pub fn check(history: &History, options: &LinearizableOptions) -> CheckReport {
    let mut anomalies = Vec::new();
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();
    let mut verdict = Verdict::Valid;
    let partitions = partition_log_operations(history);
    for (key, ops) in &partitions {
        let report = partition_log::check(ops, options);
        verdict = verdict.max(report.verdict);
        for (name, value) in report.stats {
            *stats.entry(name).or_default() += value;
        }
        anomalies.extend(report.anomalies.into_iter().map(|mut anomaly| {
            anomaly.key = Some(*key);
            anomaly.description = format!("key {key}: {}", anomaly.description);
            anomaly
        }));
    }
    stats.insert("partitions".to_string(), partitions.len() as u64);
    let mut report = CheckReport::from_anomalies("linearizable", anomalies, stats);
    report.verdict = report.verdict.max(verdict);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = r#"
{"index":0,"time":10,"process":0,"type":"invoke","f":"send","value":[["send",0,1],["send",1,7]]}
{"index":1,"time":20,"process":0,"type":"ok","f":"send","value":[["send",0,[0,1]],["send",1,[0,7]]]}
{"index":2,"time":30,"process":1,"type":"invoke","f":"send","value":[["send",0,2]]}
{"index":3,"time":40,"process":2,"type":"invoke","f":"poll","value":[["poll"]]}
{"index":4,"time":50,"process":2,"type":"ok","f":"poll","value":[["poll",{"0":[[0,1],[1,2]],"1":[[0,7]]}]]}
{"index":5,"time":60,"process":1,"type":"info","f":"send","value":[["send",0,2]]}
{"index":6,"time":70,"process":3,"type":"invoke","f":"send","value":[["send",0,3]]}
{"index":7,"time":80,"process":3,"type":"fail","f":"send","value":[["send",0,3]]}
"#;

    fn history(text: &str) -> History {
        History::read_jsonl(text.trim().as_bytes()).expect("test history parses")
    }

    #[test]
    fn sends_and_polls_become_appends_and_reads_per_key() {
        let partitions = partition_log_operations(&history(HISTORY));
        assert_eq!(partitions.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
        let key0 = &partitions[&0];
        // The failed send of 3 is gone; the crashed send of 2 has no completion.
        assert_eq!(key0.len(), 3);
        assert_eq!(key0[0].input, LogInput::Append(1));
        assert_eq!(key0[0].output, Some(LogOutput::Appended(0)));
        assert_eq!((key0[0].invoke, key0[0].complete), (10, Some(20)));
        assert_eq!(key0[1].input, LogInput::Append(2));
        assert_eq!((key0[1].complete, key0[1].output.clone()), (None, None));
        assert_eq!(key0[2].input, LogInput::Read { from: 0 });
        assert_eq!(key0[2].output, Some(LogOutput::Records(vec![1, 2])));
        assert_eq!(partitions[&1].len(), 2);
    }

    #[test]
    fn a_gap_in_a_poll_starts_a_new_read() {
        assert_eq!(
            consecutive_runs(&[(3, 30), (4, 40), (7, 70)]),
            vec![(3, vec![30, 40]), (7, vec![70])]
        );
    }

    #[test]
    fn a_consistent_history_is_linearizable_and_a_reordered_read_is_not() {
        let report = check(&history(HISTORY), &LinearizableOptions::default());
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.stats["partitions"], 2);
        // The poll returns 2 before 1: no order of the appends explains it.
        let swapped = HISTORY.replace("[[0,1],[1,2]]", "[[0,2],[1,1]]");
        let report = check(&history(&swapped), &LinearizableOptions::default());
        assert_eq!(report.verdict, Verdict::Invalid, "{report:#?}");
        assert_eq!(report.anomalies[0].key, Some(0));
        assert!(report.anomalies[0].description.starts_with("key 0: "));
    }
}
