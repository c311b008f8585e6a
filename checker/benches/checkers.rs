//! Checker throughput: the log checker at 10k, 100k and 1M operations, and the
//! linearizability engine on etcd-sized register histories (Porcupine's anchor: 102 Jepsen
//! etcd histories, ~100 ops each, many crashed, one key). Plain `std::time` timing, best
//! of three; run with `cargo bench -p faultline-checker --bench checkers`.
//!
//! "Per core" is measured on the thread's own CPU clock (`/proc/thread-self/schedstat`,
//! Linux), beside wall time: on a shared machine wall time also counts the time other
//! processes held the core.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use faultline_checker::history::{
    Function, History, Key, MicroOp, Offset, Op, OpType, OpValue, Process, Value,
};
use faultline_checker::linearizable::register::{Register, RegisterInput, RegisterOutput};
use faultline_checker::linearizable::{check, queue_history, LinearizableOptions, Operation};
use faultline_checker::log::LogOptions;
use faultline_checker::{check_log, Verdict};
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
            leader_epochs: Default::default(),
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

/// Nanoseconds this thread has spent on a CPU, if the kernel says (Linux schedstat).
fn thread_cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Wall and on-CPU time of one run.
fn timed<T>(run: impl FnOnce() -> T) -> (T, Duration, Option<Duration>) {
    let cpu = thread_cpu_nanos();
    let start = Instant::now();
    let value = run();
    let wall = start.elapsed();
    let cpu = cpu
        .zip(thread_cpu_nanos())
        .map(|(before, after)| Duration::from_nanos(after.saturating_sub(before)));
    (value, wall, cpu)
}

/// Like [`timed`], averaged over `runs` back-to-back runs: the kernel accounts CPU time
/// in scheduler ticks (4 ms here), too coarse for one run of a small history.
fn timed_runs<T>(runs: u32, mut run: impl FnMut() -> T) -> (T, Duration, Option<Duration>) {
    let (value, wall, cpu) = timed(|| {
        let mut last = run();
        for _ in 1..runs {
            last = run();
        }
        last
    });
    (value, wall / runs, cpu.map(|cpu| cpu / runs))
}

/// Runs per sample so each sample holds about a million ops.
fn runs_for(operations: usize) -> u32 {
    (1_000_000 / operations).max(1) as u32
}

fn main() {
    println!("| checker | history | ops | events | wall (best of 3) | CPU (best of 3) | ops/s per core |");
    // Small histories are timed over back-to-back runs (about a million ops per sample).
    println!("|---|---|---:|---:|---:|---:|---:|");
    let options = LogOptions {
        final_reads: true,
        ..LogOptions::default()
    };
    for operations in [10_000usize, 100_000, 1_000_000] {
        let history = queue_history(operations, 7);
        let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            let (report, elapsed, on_cpu) =
                timed_runs(runs_for(operations), || check_log(&history, &options));
            assert_eq!(
                report.verdict,
                Verdict::Valid,
                "{:?}",
                report.anomalies.first()
            );
            wall = wall.min(elapsed);
            cpu = cpu.min(on_cpu.unwrap_or(elapsed));
        }
        println!(
            "| log | generated queue, {KEYS} keys, final reads | {operations} | {} | {:.1} ms | {:.1} ms | {:.0} |",
            history.ops.len(),
            wall.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            operations as f64 / cpu.as_secs_f64()
        );
    }
    for operations in [100_000usize, 1_000_000] {
        // The same generated queue, as partition-log ops per key: decided by the offset
        // fast path (a sort and a pass), so it should scale like the log checker.
        let history = queue_history(operations, 7);
        let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
        let single = LinearizableOptions {
            threads: 1,
            ..LinearizableOptions::default()
        };
        for _ in 0..3 {
            let (report, elapsed, on_cpu) = timed_runs(runs_for(operations), || {
                queue_history::check(&history, &single)
            });
            assert_eq!(
                report.verdict,
                Verdict::Valid,
                "{:?}",
                report.anomalies.first()
            );
            wall = wall.min(elapsed);
            cpu = cpu.min(on_cpu.unwrap_or(elapsed));
        }
        println!(
            "| linearizable (partition log) | generated queue, {KEYS} keys, converted per key | {operations} | {} | {:.1} ms | {:.1} ms | {:.0} |",
            history.ops.len(),
            wall.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            operations as f64 / cpu.as_secs_f64()
        );
    }
    for (histories, operations) in [(102usize, 100usize), (102, 300), (10, 1_000)] {
        let corpus: Vec<_> = (0..histories)
            .map(|seed| register_history(operations, seed as u64))
            .collect();
        let (mut wall, mut cpu, mut slowest) = (Duration::MAX, Duration::MAX, Duration::ZERO);
        for _ in 0..3 {
            let (run_slowest, elapsed, on_cpu) = timed_runs(10, || {
                let mut run_slowest = Duration::ZERO;
                for ops in &corpus {
                    let (report, one, _) = timed(|| {
                        check(
                            &Register,
                            ops,
                            &LinearizableOptions {
                                threads: 1,
                                ..LinearizableOptions::default()
                            },
                        )
                    });
                    run_slowest = run_slowest.max(one);
                    assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
                }
                run_slowest
            });
            if elapsed < wall {
                slowest = run_slowest;
            }
            wall = wall.min(elapsed);
            cpu = cpu.min(on_cpu.unwrap_or(elapsed));
        }
        println!(
            "| linearizable (register) | {histories} histories, 5 processes, 25% of writes/cas crashed | {operations} each | {} each | {:.1} ms, slowest {:.2} ms | {:.1} ms | {:.0} |",
            operations * 2,
            wall.as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            (histories * operations) as f64 / cpu.as_secs_f64()
        );
    }
}
