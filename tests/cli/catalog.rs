//! The scenario catalog: every scenario file under `scenarios/` parses and validates (and
//! every certification target file under `scenarios/targets/`), the catalog
//! covers ordering, durability and replay, and (ignored by default, it takes minutes) a
//! table of `faultline run` over every catalog scenario for a seed range:
//!
//! ```text
//! FAULTLINE_SEEDS=1..=100 cargo test --release --test cli catalog -- --ignored --nocapture
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use faultline_sim::Scenario;

fn scenario_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Certification target files are not scenarios: see the test below.
                if !path.ends_with("targets") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The catalog proper: `scenarios/*.toml`, not `scenarios/regressions/` or
/// `scenarios/negative/` (planted bugs, which must fail).
fn catalog() -> Vec<PathBuf> {
    scenario_files()
        .into_iter()
        .filter(|p| {
            !p.components()
                .any(|c| c.as_os_str() == "regressions" || c.as_os_str() == "negative")
        })
        .collect()
}

#[test]
fn every_scenario_file_parses_and_validates() {
    let files = scenario_files();
    assert!(!files.is_empty());
    for path in files {
        if let Err(error) = Scenario::load(&path) {
            panic!("{error}");
        }
    }
}

#[test]
fn every_certification_target_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/targets");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if let Err(error) = faultline_conformance::certify::target::Target::load(&path) {
            panic!("{error}");
        }
        count += 1;
    }
    assert!(count >= 3);
}

#[test]
fn the_catalog_covers_ordering_durability_and_replay() {
    let names: Vec<String> = catalog()
        .iter()
        .map(|p| Scenario::load(p).unwrap().name)
        .collect();
    assert!(names.len() >= 12, "{names:?}");
    for concern in ["ordering", "durability", "replay"] {
        assert!(
            names.iter().filter(|n| n.starts_with(concern)).count() >= 2,
            "{concern}: {names:?}"
        );
    }
    for path in catalog() {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            Scenario::load(&path).unwrap().name,
            stem,
            "name = file name"
        );
    }
}

/// Whether the reference broker advertises the transaction APIs (KIP-98): transactional
/// scenarios (`[workload.txn]`) run only then. It flips by itself once the broker's
/// support table lists EndTxn.
fn broker_serves_transactions() -> bool {
    use kafka_protocol::messages::ApiKey;
    [
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::TxnOffsetCommit,
        ApiKey::EndTxn,
    ]
    .into_iter()
    .all(|api| faultline_broker::handlers::broker_versions(api).is_some())
}

/// Parses `A..=B` (or a single seed) from `FAULTLINE_SEEDS`.
fn seeds() -> Vec<u64> {
    let text = std::env::var("FAULTLINE_SEEDS").unwrap_or_else(|_| "1..=100".into());
    match text.split_once("..=") {
        Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect(),
        None => vec![text.parse().unwrap()],
    }
}

/// `faultline run` over every catalog scenario and seed, two at a time; prints a Markdown
/// table (scenario, seeds, passes, wall seconds) and fails if any run did not pass.
#[test]
#[ignore = "minutes of runs; the done-when table of issue 4"]
fn catalog_passes_every_seed() {
    let seeds = seeds();
    let out = std::env::temp_dir().join(format!("faultline-catalog-{}", std::process::id()));
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for path in catalog() {
        let scenario = Scenario::load(&path).unwrap();
        let name = scenario.name.clone();
        if scenario.workload.txn.is_some() && !broker_serves_transactions() {
            println!("skipped {name}: the reference broker does not advertise EndTxn yet");
            continue;
        }
        let expects_anomalies = !scenario.checks.expect.is_empty();
        let queue = Arc::new(Mutex::new(seeds.clone()));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (queue, failed, path, out) =
                    (queue.clone(), failed.clone(), path.clone(), out.clone());
                std::thread::spawn(move || loop {
                    let Some(seed) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let status = Command::new(env!("CARGO_BIN_EXE_faultline"))
                        .arg("run")
                        .arg(&path)
                        .args(["--seed", &seed.to_string(), "--out"])
                        .arg(&out)
                        .current_dir(env!("CARGO_MANIFEST_DIR"))
                        .output()
                        .expect("faultline runs");
                    // A scenario that expects anomalies passes when it fails with them.
                    let stdout = String::from_utf8_lossy(&status.stdout);
                    let passed = if expects_anomalies {
                        status.status.code() == Some(1) && stdout.contains("expected: valid")
                    } else {
                        status.status.success()
                    };
                    if !passed {
                        failed.lock().unwrap().push(seed);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let mut failed = failed.lock().unwrap().clone();
        failed.sort_unstable();
        rows.push(format!(
            "| {name} | {}..={} | {}/{} | {:.1} |",
            seeds[0],
            seeds[seeds.len() - 1],
            seeds.len() - failed.len(),
            seeds.len(),
            started.elapsed().as_secs_f64()
        ));
        failures.extend(failed.into_iter().map(|seed| format!("{name} seed {seed}")));
    }
    let _ = std::fs::remove_dir_all(&out);
    println!("| scenario | seeds | passes | wall seconds |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}
