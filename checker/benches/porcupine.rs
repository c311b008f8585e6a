//! The Porcupine comparison: Jepsen's 102 published etcd histories, converted to our plain
//! register format and checked by our linearizability engine, one thread, release mode.
//!
//! Porcupine (anishathalye/porcupine, `porcupine_test.go`) checks the same files with its
//! own parser and etcd model; its expected verdicts sit in that file as
//! `checkJepsen(t, N, true|false)`, so we report how many of ours agree. The data is not
//! ours to redistribute, so nothing of it is committed: point `PORCUPINE_DIR` at a checkout
//! and run
//!
//! ```text
//! git clone https://github.com/anishathalye/porcupine /tmp/porcupine
//! PORCUPINE_DIR=/tmp/porcupine cargo bench -p faultline-checker --bench porcupine
//! ```
//!
//! The converter maps Jepsen's log lines (`INFO jepsen.util - 3 :invoke :cas [1 4]`) one
//! to one onto the format of `docs/checkers.md`: `:invoke`/`:ok`/`:fail`/`:info` become
//! the type, `nil` becomes `null`, `[from to]` becomes `[from, to]`, and an `:info` or
//! `:fail` line repeats its invoke's value (Jepsen writes `:timed-out` there). A `:fail`
//! cas is a cas whose comparison failed: Knossos drops it as "did not happen", and so do
//! we; Porcupine keeps it as a cas that returned false, a slightly stronger constraint.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faultline_checker::linearizable::{
    check, register::Register, register_history, LinearizableOptions,
};
use faultline_checker::Verdict;

/// Converts one Jepsen etcd log to the plain register format, one JSON object a line.
fn convert(log: &str) -> String {
    let mut open: BTreeMap<u64, String> = BTreeMap::new();
    let mut out = String::new();
    for line in log.lines() {
        let Some((_, event)) = line.split_once("jepsen.util - ") else {
            continue;
        };
        let mut fields = event.split_whitespace();
        let (Some(process), Some(kind), Some(f)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(process) = process.parse::<u64>() else {
            continue; // the nemesis
        };
        let rest: Vec<&str> = fields.collect();
        let kind = kind.trim_start_matches(':');
        let f = f.trim_start_matches(':');
        let value = if kind == "invoke" || kind == "ok" {
            value_json(&rest.join(" "))
        } else {
            open.get(&process).cloned().unwrap_or_else(|| "null".into())
        };
        if kind == "invoke" {
            open.insert(process, value.clone());
        } else {
            open.remove(&process);
        }
        writeln!(
            out,
            r#"{{"process":{process},"type":"{kind}","f":"{f}","value":{value}}}"#
        )
        .expect("writing to a string");
    }
    out
}

/// `nil` → `null`, `[1 4]` → `[1,4]`, `3` → `3`.
fn value_json(text: &str) -> String {
    match text.trim() {
        "nil" | "" => "null".into(),
        vector if vector.starts_with('[') => {
            vector.split_whitespace().collect::<Vec<_>>().join(",")
        }
        scalar => scalar.into(),
    }
}

/// Porcupine's expected verdict per file number, from `checkJepsen(t, N, true|false)`.
fn expected(dir: &Path) -> BTreeMap<u32, bool> {
    let test = std::fs::read_to_string(dir.join("porcupine_test.go")).unwrap_or_default();
    test.lines()
        .filter_map(|line| {
            let args = line
                .trim()
                .strip_prefix("checkJepsen(t, ")?
                .strip_suffix(')')?;
            let (number, verdict) = args.split_once(", ")?;
            Some((number.parse().ok()?, verdict == "true"))
        })
        .collect()
}

/// Nanoseconds this thread has spent on a CPU (Linux schedstat): on a shared machine,
/// wall time would also count other processes' turns.
fn thread_cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs once; on-CPU time if the kernel reports it, else wall time.
fn on_cpu<T>(run: impl FnOnce() -> T) -> (T, Duration) {
    let (cpu, start) = (thread_cpu_nanos(), Instant::now());
    let value = run();
    let wall = start.elapsed();
    let cpu = cpu
        .zip(thread_cpu_nanos())
        .map(|(before, after)| Duration::from_nanos(after.saturating_sub(before)));
    (value, cpu.unwrap_or(wall))
}

fn main() {
    let Some(dir) = std::env::var_os("PORCUPINE_DIR").map(PathBuf::from) else {
        println!("PORCUPINE_DIR is not set: clone anishathalye/porcupine and point it there");
        return;
    };
    let expected = expected(&dir);
    let options = LinearizableOptions {
        threads: 1,
        ..LinearizableOptions::default()
    };
    let mut corpus = Vec::new();
    for (&number, &linearizable) in &expected {
        let path = dir.join(format!("test_data/jepsen/etcd_{number:03}.log"));
        let log = std::fs::read_to_string(&path).expect("the etcd history exists");
        let ops = register_history::read_jsonl(convert(&log).as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let single = register_history::single_register(&ops).expect("one key");
        corpus.push((number, linearizable, single));
    }
    let (mut best, mut slowest_of_best) = (Duration::MAX, (Duration::ZERO, 0));
    let (mut agree, mut unknown, mut ops) = (0, 0, 0);
    for run in 0..3 {
        let (mut total, mut slowest) = (Duration::ZERO, (Duration::ZERO, 0));
        for (number, linearizable, history) in &corpus {
            let (report, elapsed) = on_cpu(|| check(&Register, history, &options));
            total += elapsed;
            slowest = slowest.max((elapsed, *number));
            if run == 0 {
                ops += history.len();
                unknown += usize::from(report.verdict == Verdict::Unknown);
                let ours = report.verdict == Verdict::Valid;
                if ours == *linearizable {
                    agree += 1;
                } else {
                    println!(
                        "etcd_{number:03}: Porcupine says {linearizable}, we say {:?}",
                        report.verdict
                    );
                }
            }
        }
        if total < best {
            best = total;
            slowest_of_best = slowest;
        }
    }
    println!(
        "{} histories, {ops} ops after conversion: best of 3 total {:.1} ms on CPU, slowest \
         etcd_{:03} {:.2} ms; verdicts agree with Porcupine on {agree}/{}, unknown {unknown}",
        corpus.len(),
        best.as_secs_f64() * 1e3,
        slowest_of_best.1,
        slowest_of_best.0.as_secs_f64() * 1e3,
        corpus.len()
    );
}
