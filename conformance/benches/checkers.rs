//! Checker throughput: the log checker at 10k, 100k and 1M operations, and the
//! linearizability engine on etcd-sized register histories (Porcupine's anchor: 102 Jepsen
//! etcd histories, ~100 ops each, many crashed, one key). Plain `std::time` timing, best
//! of three; run with `cargo bench -p faultline-conformance --bench checkers`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use faultline_conformance::checker::linearizable::register::{
    Register, RegisterInput, RegisterOutput,
};
use faultline_conformance::checker::linearizable::{check, LinearizableOptions, Operation};
use faultline_conformance::checker::log::LogOptions;
use faultline_conformance::checker::{check_log, Verdict};
use faultline_conformance::history::{
    Function, History, Key, MicroOp, Offset, Op, OpType, OpValue, Process, Value,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const KEYS: u32 = 8;

/// A correct queue history of `operations` ops: 4 producers, 4 assigned consumers,
/// ~60% sends, polls of up to 8 records per key, then final reads.
fn queue_history(operations: usize, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut logs: BTreeMap<Key, Vec<(Offset, Value)>> = BTreeMap::new();
    let mut positions: BTreeMap<(u32, Key), usize> = BTreeMap::new();
    let mut ops = Vec::with_capacity(operations * 2 + 4);
    let mut push = |process: u32, kind: OpType, f: Function, value: OpValue| {
        let index = ops.len() as u64;
        ops.push(Op {
            index,
            time: index * 1_000,
            process: Process::Client(process),
            kind,
            f,
            value,
            error: None,
        });
    };
    for consumer in 0..4 {
        let keys = OpValue::Keys((0..KEYS).collect());
        push(
            10 + consumer,
            OpType::Invoke,
            Function::Assign,
            keys.clone(),
        );
        push(10 + consumer, OpType::Ok, Function::Assign, keys);
    }
    for _ in 0..operations {
        if rng.random_bool(0.6) {
            let key = rng.random_range(0..KEYS);
            let log = logs.entry(key).or_default();
            let (offset, value) = (log.len() as Offset, log.len() as Value + 1);
            log.push((offset, value));
            let process = rng.random_range(0..4);
            push(
                process,
                OpType::Invoke,
                Function::Send,
                OpValue::MicroOps(vec![MicroOp::Send {
                    key,
                    value,
                    offset: None,
                }]),
            );
            push(
                process,
                OpType::Ok,
                Function::Send,
                OpValue::MicroOps(vec![MicroOp::Send {
                    key,
                    value,
                    offset: Some(offset),
                }]),
            );
        } else {
            let consumer = rng.random_range(0..4);
            let mut reads = BTreeMap::new();
            for (key, log) in &logs {
                let position = positions.entry((consumer, *key)).or_default();
                let records: Vec<_> = log.iter().skip(*position).take(8).copied().collect();
                *position += records.len();
                if !records.is_empty() {
                    reads.insert(*key, records);
                }
            }
            push(
                10 + consumer,
                OpType::Invoke,
                Function::Poll,
                OpValue::MicroOps(vec![MicroOp::Poll { reads: None }]),
            );
            push(
                10 + consumer,
                OpType::Ok,
                Function::Poll,
                OpValue::MicroOps(vec![MicroOp::Poll { reads: Some(reads) }]),
            );
        }
    }
    push(
        99,
        OpType::Invoke,
        Function::Poll,
        OpValue::MicroOps(vec![MicroOp::Poll { reads: None }]),
    );
    push(
        99,
        OpType::Ok,
        Function::Poll,
        OpValue::MicroOps(vec![MicroOp::Poll { reads: Some(logs) }]),
    );
    History { ops }
}

/// A linearizable register history like Jepsen's etcd: 5 processes, reads, writes and
/// cas over values 0..5, each op linearized at a random point inside its interval; a
/// crashed op takes effect or not at random, and its process is replaced.
fn register_history(operations: usize, seed: u64) -> Vec<Operation<RegisterInput, RegisterOutput>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut free_at = [0u64; 5];
    let mut planned = Vec::new();
    for index in 0..operations as u64 {
        let process = rng.random_range(0..5);
        let invoke = free_at[process] + rng.random_range(1..20);
        let complete = invoke + rng.random_range(1..60);
        free_at[process] = complete;
        let point = rng.random_range(invoke..complete);
        let input = match rng.random_range(0..3) {
            0 => RegisterInput::Read,
            1 => RegisterInput::Write(rng.random_range(0..5)),
            _ => RegisterInput::Cas {
                from: rng.random_range(0..5),
                to: rng.random_range(0..5),
            },
        };
        let crashed = input != RegisterInput::Read && rng.random_bool(0.25);
        let applies = !crashed || rng.random_bool(0.5);
        planned.push((
            point,
            index,
            process as u64,
            invoke,
            complete,
            input,
            crashed,
            applies,
        ));
    }
    planned.sort_by_key(|p| p.0);
    let mut state: Option<i64> = None;
    let mut ops = Vec::new();
    for (_, index, process, invoke, complete, input, crashed, applies) in planned {
        let output = match input {
            RegisterInput::Read => Some(RegisterOutput::Read(state)),
            RegisterInput::Write(v) => {
                if applies {
                    state = Some(v);
                }
                Some(RegisterOutput::Done)
            }
            RegisterInput::Cas { from, to } => {
                if state != Some(from) {
                    continue; // a failed cas is recorded as `fail` and dropped
                }
                if applies {
                    state = Some(to);
                }
                Some(RegisterOutput::Done)
            }
        };
        ops.push(Operation {
            process,
            invoke,
            complete: (!crashed).then_some(complete),
            input,
            output: output.filter(|_| !crashed),
            index,
        });
    }
    ops.sort_by_key(|op| op.index);
    ops
}

fn best_of_three(mut run: impl FnMut() -> Duration) -> Duration {
    (0..3).map(|_| run()).min().expect("three runs")
}

fn main() {
    println!("| checker | history | ops | events | time (best of 3) | ops/s |");
    println!("|---|---|---:|---:|---:|---:|");
    let options = LogOptions {
        final_reads: true,
        ..LogOptions::default()
    };
    for operations in [10_000usize, 100_000, 1_000_000] {
        let history = queue_history(operations, 7);
        let elapsed = best_of_three(|| {
            let start = Instant::now();
            let report = check_log(&history, &options);
            let elapsed = start.elapsed();
            assert_eq!(
                report.verdict,
                Verdict::Valid,
                "{:?}",
                report.anomalies.first()
            );
            elapsed
        });
        println!(
            "| log | generated queue, {KEYS} keys | {operations} | {} | {:.1} ms | {:.0} |",
            history.ops.len(),
            elapsed.as_secs_f64() * 1e3,
            operations as f64 / elapsed.as_secs_f64()
        );
    }
    for (histories, operations) in [(102usize, 100usize), (102, 300), (10, 1_000)] {
        let corpus: Vec<_> = (0..histories)
            .map(|seed| register_history(operations, seed as u64))
            .collect();
        let mut slowest = Duration::ZERO;
        let total = best_of_three(|| {
            let start = Instant::now();
            for ops in &corpus {
                let one = Instant::now();
                let report = check(
                    &Register,
                    ops,
                    &LinearizableOptions {
                        threads: 1,
                        ..LinearizableOptions::default()
                    },
                );
                slowest = slowest.max(one.elapsed());
                assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
            }
            start.elapsed()
        });
        println!(
            "| linearizable (register) | {histories} histories, 5 processes, 25% of writes crashed | {operations} each | {} | {:.1} ms total, slowest {:.2} ms | {:.0} |",
            operations * 2,
            total.as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3,
            (histories * operations) as f64 / total.as_secs_f64()
        );
    }
}
