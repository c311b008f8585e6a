//! End-to-end runs of the simulated world: determinism, the clean broker, and the first
//! planted bug.

use std::path::Path;
use std::time::Duration;

use faultline_conformance::checker::{check_log, log::LogOptions, AnomalyKind};
use faultline_sim::{run, Scenario};

fn smoke() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml")).unwrap()
}

#[test]
fn one_run() {
    let scenario = smoke();
    let t = std::time::Instant::now();
    let outcome = run(&scenario, 1).unwrap();
    let report = check_log(
        &outcome.history,
        &LogOptions {
            final_reads: true,
            ..Default::default()
        },
    );
    eprintln!(
        "{} ops, {:?}, {:?}, sim {} ms, wall {:?}",
        outcome.history.ops.len(),
        report.verdict,
        report
            .anomalies
            .iter()
            .map(|a| a.kind)
            .collect::<Vec<AnomalyKind>>(),
        outcome.simulated_ms,
        t.elapsed()
    );
    for e in outcome.events.iter().take(40) {
        eprintln!("{} {} {}", e.time_ns / 1_000_000, e.node, e.description);
    }
    let _ = Duration::ZERO;
}

#[test]
fn bug_hunt() {
    let mut scenario = smoke();
    scenario.bugs.ack_before_replication = true;
    let t = std::time::Instant::now();
    for seed in 1..=30u64 {
        let outcome = run(&scenario, seed).unwrap();
        let report = check_log(
            &outcome.history,
            &LogOptions {
                final_reads: true,
                ..Default::default()
            },
        );
        eprintln!(
            "seed {seed}: {:?} {:?}",
            report.verdict,
            report
                .anomalies
                .iter()
                .map(|a| a.kind)
                .collect::<Vec<AnomalyKind>>()
        );
    }
    eprintln!("wall {:?}", t.elapsed());
}

#[test]
fn clean_many() {
    let scenario = smoke();
    let t = std::time::Instant::now();
    for seed in 1..=30u64 {
        let outcome = run(&scenario, seed).unwrap();
        let report = check_log(
            &outcome.history,
            &LogOptions {
                final_reads: true,
                ..Default::default()
            },
        );
        if !report.anomalies.is_empty() {
            eprintln!(
                "seed {seed}: {:?} {:#?}",
                report.verdict,
                report.anomalies.iter().take(3).collect::<Vec<_>>()
            );
        }
    }
    eprintln!("wall {:?}", t.elapsed());
}
