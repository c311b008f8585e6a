//! Properties of the log checker: histories generated from a correct sequential log never
//! trigger an anomaly, and one mutation of such a history always triggers the matching one.
//!
//! The generator runs a single correct partitioned log: producers append (some sends
//! fail and append nothing, some are `info` and may or may not append), assigned consumers
//! poll forward from their positions (a failed poll leaves the position alone), and the
//! history ends with final reads of every partition from the start.

use std::collections::{BTreeMap, BTreeSet};

use faultline_checker::history::{
    Function, History, Key, MicroOp, Offset, Op, OpType, OpValue, Process, Value,
};
use faultline_checker::log::LogOptions;
use faultline_checker::{check_log, AnomalyKind, Verdict};
use proptest::prelude::*;

/// One step of the generated run.
#[derive(Debug, Clone)]
enum Action {
    /// A producer sends `count` values to `key`; `outcome` 0 ok, 1 fail, 2 info applied,
    /// 3 info not applied.
    Send {
        producer: u32,
        key: Key,
        count: usize,
        outcome: u8,
    },
    /// A consumer polls up to `max` records per key, or fails.
    Poll {
        consumer: u32,
        max: usize,
        fail: bool,
    },
    /// A transaction marker takes an offset without a visible record.
    Marker { key: Key },
}

const KEYS: u32 = 3;

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..3u32, 0..KEYS, 1..3usize, prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)])
            .prop_map(|(producer, key, count, outcome)| Action::Send { producer, key, count, outcome }),
        3 => (0..2u32, 1..4usize, prop::bool::weighted(0.1))
            .prop_map(|(consumer, max, fail)| Action::Poll { consumer, max, fail }),
        1 => (0..KEYS).prop_map(|key| Action::Marker { key }),
    ]
}

/// Builds histories one event at a time; every op completes before the next begins.
#[derive(Default)]
struct Recorder {
    ops: Vec<Op>,
}

impl Recorder {
    fn event(&mut self, process: u32, kind: OpType, f: Function, value: OpValue) {
        let index = self.ops.len() as u64;
        self.ops.push(Op {
            index,
            time: index * 1_000_000,
            process: Process::Client(process),
            kind,
            f,
            value,
            error: None,
            leader_epochs: Default::default(),
        });
    }
}

fn generate(actions: &[Action]) -> History {
    let mut logs: BTreeMap<Key, Vec<(Offset, Value)>> = BTreeMap::new();
    let mut next_offset: BTreeMap<Key, Offset> = BTreeMap::new();
    let mut next_value: BTreeMap<Key, Value> = BTreeMap::new();
    let mut positions: BTreeMap<(u32, Key), usize> = BTreeMap::new();
    let mut producer_process: BTreeMap<u32, u32> = BTreeMap::new();
    let mut fresh = 1000;
    let mut h = Recorder::default();
    for consumer in 0..2 {
        let keys = OpValue::Keys((0..KEYS).collect());
        h.event(
            100 + consumer,
            OpType::Invoke,
            Function::Assign,
            keys.clone(),
        );
        h.event(100 + consumer, OpType::Ok, Function::Assign, keys);
    }
    for action in actions {
        match *action {
            Action::Marker { key } => *next_offset.entry(key).or_default() += 1,
            Action::Send {
                producer,
                key,
                count,
                outcome,
            } => {
                let process = *producer_process.entry(producer).or_insert(producer);
                let mut invoke = Vec::new();
                let mut done = Vec::new();
                for _ in 0..count {
                    let value = next_value.entry(key).or_insert(1);
                    invoke.push(MicroOp::Send {
                        key,
                        value: *value,
                        offset: None,
                    });
                    let mut offset = None;
                    if outcome == 0 || outcome == 2 {
                        let o = next_offset.entry(key).or_default();
                        logs.entry(key).or_default().push((*o, *value));
                        offset = Some(*o);
                        *o += 1;
                    }
                    done.push(MicroOp::Send {
                        key,
                        value: *value,
                        offset: offset.filter(|_| outcome == 0),
                    });
                    *value += 1;
                }
                h.event(
                    process,
                    OpType::Invoke,
                    Function::Send,
                    OpValue::MicroOps(invoke.clone()),
                );
                let kind = match outcome {
                    0 => OpType::Ok,
                    1 => OpType::Fail,
                    _ => OpType::Info,
                };
                let value = if outcome == 0 { done } else { invoke };
                h.event(process, kind, Function::Send, OpValue::MicroOps(value));
                if kind == OpType::Info {
                    // Jepsen moves on under a fresh process after an indeterminate op.
                    producer_process.insert(producer, fresh);
                    fresh += 1;
                }
            }
            Action::Poll {
                consumer,
                max,
                fail,
            } => {
                let process = 100 + consumer;
                let invoke = OpValue::MicroOps(vec![MicroOp::Poll { reads: None }]);
                h.event(process, OpType::Invoke, Function::Poll, invoke.clone());
                if fail {
                    h.event(process, OpType::Fail, Function::Poll, invoke);
                    continue;
                }
                let mut reads = BTreeMap::new();
                for (key, log) in &logs {
                    let position = positions.entry((consumer, *key)).or_default();
                    let records: Vec<_> = log.iter().skip(*position).take(max).copied().collect();
                    *position += records.len();
                    if !records.is_empty() {
                        reads.insert(*key, records);
                    }
                }
                let reads = OpValue::MicroOps(vec![MicroOp::Poll { reads: Some(reads) }]);
                h.event(process, OpType::Ok, Function::Poll, reads);
            }
        }
    }
    // Final reads: a fresh consumer reads every partition from the start.
    let keys = OpValue::Keys((0..KEYS).collect());
    h.event(999, OpType::Invoke, Function::Assign, keys.clone());
    h.event(999, OpType::Ok, Function::Assign, keys);
    h.event(
        999,
        OpType::Invoke,
        Function::Poll,
        OpValue::MicroOps(vec![MicroOp::Poll { reads: None }]),
    );
    let reads = MicroOp::Poll { reads: Some(logs) };
    h.event(
        999,
        OpType::Ok,
        Function::Poll,
        OpValue::MicroOps(vec![reads]),
    );
    History { ops: h.ops }
}

fn strict() -> LogOptions {
    LogOptions {
        final_reads: true,
        allowed: BTreeSet::new(),
        ..LogOptions::default()
    }
}

fn kinds(history: &History) -> BTreeSet<AnomalyKind> {
    check_log(history, &strict())
        .anomalies
        .iter()
        .map(|a| a.kind)
        .collect()
}

/// What one poll read: each key's records, offset and value.
type PollRead = BTreeMap<Key, Vec<(Offset, Value)>>;

/// Mutable access to every poll completion's reads, with the op's history index.
fn poll_reads(history: &mut History) -> Vec<(usize, &mut PollRead)> {
    let mut all = Vec::new();
    for (at, op) in history.ops.iter_mut().enumerate() {
        if op.kind != OpType::Ok {
            continue;
        }
        if let OpValue::MicroOps(micro_ops) = &mut op.value {
            for micro_op in micro_ops {
                if let MicroOp::Poll { reads: Some(reads) } = micro_op {
                    all.push((at, reads));
                }
            }
        }
    }
    all
}

fn acknowledged(history: &History) -> Vec<(Key, Value, Offset)> {
    let mut sends = Vec::new();
    for op in history.ops.iter().filter(|op| op.kind == OpType::Ok) {
        for micro_op in op.micro_ops() {
            if let MicroOp::Send {
                key,
                value,
                offset: Some(offset),
            } = micro_op
            {
                sends.push((*key, *value, *offset));
            }
        }
    }
    sends
}

fn run() -> impl Strategy<Value = Vec<Action>> {
    prop::collection::vec(action(), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_correct_log_is_valid(actions in run()) {
        let history = generate(&actions);
        let report = check_log(&history, &strict());
        prop_assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report);
    }

    #[test]
    fn dropping_an_acknowledged_write_from_all_reads_is_a_lost_write(actions in run(), pick in any::<prop::sample::Index>()) {
        let mut history = generate(&actions);
        // Only a write below the last record of its key has a reader that went past it.
        let logs = final_logs(&history);
        let candidates: Vec<_> = acknowledged(&history)
            .into_iter()
            .filter(|(key, _, offset)| logs[key].last().is_some_and(|(last, _)| offset < last))
            .collect();
        prop_assume!(!candidates.is_empty());
        let (key, value, _) = candidates[pick.index(candidates.len())];
        for (_, reads) in poll_reads(&mut history) {
            if let Some(records) = reads.get_mut(&key) {
                records.retain(|&(_, v)| v != value);
            }
        }
        prop_assert!(kinds(&history).contains(&AnomalyKind::LostWrite));
    }

    #[test]
    fn swapping_two_offsets_in_a_poll_is_inconsistent_offsets(actions in run(), pick in any::<prop::sample::Index>()) {
        let mut history = generate(&actions);
        let last = history.ops.len() - 1;
        let mut polls: Vec<_> = poll_reads(&mut history)
            .into_iter()
            .filter(|(at, _)| *at != last)
            .flat_map(|(_, reads)| reads.values_mut().filter(|records| records.len() >= 2))
            .collect();
        prop_assume!(!polls.is_empty());
        let count = polls.len();
        let records = &mut polls[pick.index(count)];
        let (a, b) = (records[0].0, records[1].0);
        records[0].0 = b;
        records[1].0 = a;
        prop_assert!(kinds(&history).contains(&AnomalyKind::InconsistentOffsets));
    }

    #[test]
    fn duplicating_a_record_is_a_duplicate(actions in run(), pick in any::<prop::sample::Index>()) {
        let mut history = generate(&actions);
        let sends = acknowledged(&history);
        prop_assume!(!sends.is_empty());
        let (key, value, _) = sends[pick.index(sends.len())];
        let mut polls = poll_reads(&mut history);
        let (_, final_reads) = polls.last_mut().expect("final reads");
        let records = final_reads.get_mut(&key).expect("final reads cover every key");
        let end = records.last().expect("acknowledged, so present").0;
        records.push((end + 1, value));
        prop_assert!(kinds(&history).contains(&AnomalyKind::Duplicate));
    }

    #[test]
    fn reordering_a_consumers_polls_is_a_nonmonotonic_poll(actions in run(), pick in any::<prop::sample::Index>()) {
        let mut history = generate(&actions);
        // Two successive ok polls of one consumer that both read the same key.
        let mut pairs = Vec::new();
        for consumer in [100u32, 101] {
            let mine: Vec<usize> = history.ops.iter().enumerate()
                .filter(|(_, op)| op.process == Process::Client(consumer) && op.kind == OpType::Ok && op.f == Function::Poll)
                .map(|(at, _)| at)
                .collect();
            for window in mine.windows(2) {
                let keys = |at: usize| poll_keys(&history.ops[at]);
                if !keys(window[0]).is_disjoint(&keys(window[1])) {
                    pairs.push((window[0], window[1]));
                }
            }
        }
        prop_assume!(!pairs.is_empty());
        let (first, second) = pairs[pick.index(pairs.len())];
        let value = history.ops[first].value.clone();
        history.ops[first].value = history.ops[second].value.clone();
        history.ops[second].value = value;
        prop_assert!(kinds(&history).contains(&AnomalyKind::NonmonotonicPoll));
    }
}

fn poll_keys(op: &Op) -> BTreeSet<Key> {
    op.micro_ops()
        .iter()
        .flat_map(|micro_op| match micro_op {
            MicroOp::Poll { reads: Some(reads) } => reads.keys().copied().collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn final_logs(history: &History) -> BTreeMap<Key, Vec<(Offset, Value)>> {
    match history.ops.last().map(|op| op.micro_ops()) {
        Some([MicroOp::Poll { reads: Some(reads) }]) => reads.clone(),
        _ => BTreeMap::new(),
    }
}
