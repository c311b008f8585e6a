//! Seeded register histories for benchmarks and tests: `processes` clients run reads and
//! writes of unique values against one register that is linearizable by construction,
//! then `violations` reads are made stale on purpose.
//!
//! Each op gets an invoke, a completion and a linearization point strictly between them;
//! applying the ops in linearization-point order to a register gives every read its value,
//! so the history has a linearization by construction. A crashed write (`info`) took
//! effect at its point or not at all (a coin flip), and its process is retired for a new
//! one, as Jepsen does after an indeterminate op. A planted violation replaces a read's
//! value with one that real time has certainly overwritten: the write of it completed
//! before another write began, which completed before the read began — a stale read no
//! order can explain (Herlihy & Wing 1990).

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// Operations (invoke + completion pairs).
    pub ops: usize,
    /// Concurrent clients.
    pub processes: usize,
    /// The seed of the one `ChaCha8Rng` every choice comes from.
    pub seed: u64,
    /// Reads made stale on purpose (0: the history is linearizable).
    pub violations: usize,
    /// Share of ops that are reads. Default: 0.5.
    pub read_fraction: f64,
    /// Share of writes that crash (`info`). Default: 0.02.
    pub crash_fraction: f64,
}

impl Default for GenerateOptions {
    fn default() -> GenerateOptions {
        GenerateOptions {
            ops: 1_000,
            processes: 10,
            seed: 1,
            violations: 0,
            read_fraction: 0.5,
            crash_fraction: 0.02,
        }
    }
}

/// One generated op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedOp {
    /// The client that ran it.
    pub process: u64,
    /// Invocation time.
    pub invoke: u64,
    /// Completion time (of the `ok` or `info` event).
    pub complete: u64,
    /// Where it took effect, between the two (×4 the time unit, so points never tie).
    point: u64,
    /// A write's value, or `None` for a read.
    pub write: Option<i64>,
    /// A read's value.
    pub read: Option<i64>,
    /// Whether it crashed (`info`); crashed writes only.
    pub crashed: bool,
}

/// Generates the ops, sorted by invoke time.
pub fn generate(options: &GenerateOptions) -> Vec<GeneratedOp> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut ops = schedule(options, &mut rng);
    apply_in_point_order(&mut ops, &mut rng);
    plant_violations(&mut ops, options.violations, &mut rng);
    ops.sort_by_key(|op| (op.invoke, op.process));
    ops
}

/// Each client: a pause of 0–3, then an op of 1–10 time units, repeatedly.
fn schedule(options: &GenerateOptions, rng: &mut ChaCha8Rng) -> Vec<GeneratedOp> {
    let processes = options.processes.max(1);
    let mut clocks = vec![0u64; processes];
    let mut ids: Vec<u64> = (0..processes as u64).collect();
    let mut next_value = 1i64;
    let mut ops = Vec::with_capacity(options.ops);
    for n in 0..options.ops {
        let client = n % processes;
        let invoke = clocks[client] + rng.random_range(0..=3);
        let complete = invoke + rng.random_range(1..=10);
        clocks[client] = complete + 1;
        let point = rng.random_range(invoke * 4 + 1..complete * 4);
        let is_read = rng.random_bool(options.read_fraction);
        let crashed = !is_read && rng.random_bool(options.crash_fraction);
        let write = (!is_read).then(|| {
            next_value += 1;
            next_value - 1
        });
        ops.push(GeneratedOp {
            process: ids[client],
            invoke,
            complete,
            point,
            write,
            read: None,
            crashed,
        });
        if crashed {
            // Jepsen retires a process after an indeterminate op.
            ids[client] += processes as u64;
        }
    }
    ops
}

/// Runs the register in point order: reads see the latest write that took effect.
fn apply_in_point_order(ops: &mut [GeneratedOp], rng: &mut ChaCha8Rng) {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&at| (ops[at].point, at));
    let mut value = None;
    for at in order {
        let op = &mut ops[at];
        match op.write {
            Some(written) if !op.crashed || rng.random_bool(0.5) => value = Some(written),
            Some(_) => {}
            None => op.read = value,
        }
    }
}

/// Makes `count` reads stale; fewer if the history has too few candidates.
fn plant_violations(ops: &mut [GeneratedOp], count: usize, rng: &mut ChaCha8Rng) {
    let mut planted = 0;
    let mut attempts = 0;
    while planted < count && attempts < count * 100 + 100 {
        attempts += 1;
        let at = rng.random_range(0..ops.len());
        if ops[at].write.is_some() {
            continue;
        }
        if let Some(stale) = certainly_overwritten(ops, ops[at].invoke) {
            ops[at].read = Some(stale);
            planted += 1;
        }
    }
}

/// A value whose write completed before another write began that completed before `time`.
fn certainly_overwritten(ops: &[GeneratedOp], time: u64) -> Option<i64> {
    let completed_writes = |before: u64| {
        ops.iter()
            .filter(move |op| op.write.is_some() && !op.crashed && op.complete < before)
    };
    let overwriting = completed_writes(time).max_by_key(|op| op.complete)?;
    let overwritten = completed_writes(overwriting.invoke).max_by_key(|op| op.complete)?;
    overwritten.write
}

/// Writes the ops in the plain register format of `docs/checkers.md`, events in time
/// order (a completion before an invoke at the same instant).
pub fn write_jsonl(ops: &[GeneratedOp], mut out: impl Write) -> io::Result<()> {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (at, op) in ops.iter().enumerate() {
        events.push((op.invoke, true, at));
        events.push((op.complete, false, at));
    }
    events.sort_unstable();
    for (time, is_invoke, at) in events {
        let op = &ops[at];
        let kind = match (is_invoke, op.crashed) {
            (true, _) => "invoke",
            (false, false) => "ok",
            (false, true) => "info",
        };
        let (f, value) = match (op.write, is_invoke) {
            (Some(written), _) => ("write", written.to_string()),
            (None, true) => ("read", "null".to_string()),
            (None, false) => ("read", op.read.map_or("null".into(), |v| v.to_string())),
        };
        writeln!(
            out,
            r#"{{"process":{},"type":"{kind}","f":"{f}","value":{value},"time":{time}}}"#,
            op.process
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let options = GenerateOptions {
            ops: 500,
            violations: 2,
            ..GenerateOptions::default()
        };
        assert_eq!(generate(&options), generate(&options));
        let other = GenerateOptions { seed: 2, ..options };
        assert_ne!(generate(&options), generate(&other));
    }

    #[test]
    fn a_planted_violation_reads_an_overwritten_value() {
        let options = GenerateOptions {
            ops: 300,
            ..GenerateOptions::default()
        };
        let clean = generate(&options);
        let planted = generate(&GenerateOptions {
            violations: 1,
            ..options
        });
        let changed: Vec<_> = clean.iter().zip(&planted).filter(|(a, b)| a != b).collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0].0.write, None);
    }
}
