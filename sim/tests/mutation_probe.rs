//! The mutation probe: the simulation as the test of a mutant of the broker model
//! (issue #14 item 6, `docs/mutation.md`).
//!
//! A fixed list of (scenario, seed) runs over the clean catalog (`scenarios/*.toml`):
//! replication, elections, ISR, idempotence, groups, power loss, overlapping and
//! triggered faults, transactions, each with the cluster invariant checker on and
//! judged exactly as `faultline run` judges it (`faultline_sim::execute`; a scenario
//! that documents a loss passes with exactly its `checks.expect` kinds). Each run must
//! also show that its workload got something done (`faultline_sim::progress::missing`, which
//! the liveness check now applies to every run): the sample's
//! survivors included a broker whose groups never found a coordinator and one whose
//! groups stalled for good, and every check passed both. The test fails at the first run
//! that is not as expected, so a killed mutant costs less than a surviving one.
//!
//! Beside the catalog, the model-based certification suite (docs/certify.md) runs its
//! generated request sequences over turmoil against the mutant, every family: the
//! catalog's workloads are well-behaved clients, the model's sequences are not (stale
//! generations, sequence gaps, reads below the log start, tiny `max_bytes`), so together
//! they see more of the broker than either alone.
//!
//! It is `#[ignore]`d so `cargo test --workspace` stays fast; cargo-mutants runs it with
//! `-- --ignored` (`.cargo/mutants.toml`), and by hand:
//!
//! ```sh
//! cargo test -p faultline-sim --test mutation_probe -- --ignored --nocapture
//! ```

use std::path::{Path, PathBuf};

use faultline_broker::bugs::PlantedBugs;
use faultline_conformance::certify::model_based::{Budget, Family};
use faultline_conformance::certify::Status;
use faultline_sim::Scenario;

mod support {
    pub mod model_suite;
}

/// Seeds run for every catalog scenario. Seeds 1 and 2 are valid on the clean broker for
/// every scenario (docs/campaigns: seeds 1..=100 of the non-transactional catalog; the
/// transactional scenarios' open findings are on seeds 92 and 190).
const SEEDS: &[u64] = &[1, 2];

/// The catalog proper, sorted: not `negative/` (planted bugs), `regressions/` or
/// `targets/` (certification).
fn catalog() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
#[ignore = "the mutation benchmark's test (docs/mutation.md); about 15 s"]
fn the_clean_catalog_is_as_expected_on_the_probe_seeds() {
    let files = catalog();
    assert!(
        files.len() >= 20,
        "the catalog has {} scenarios",
        files.len()
    );
    let mut runs = 0;
    for &seed in SEEDS {
        for file in &files {
            let scenario = Scenario::load(file).unwrap();
            assert!(
                scenario.checks.invariants,
                "{}: the probe needs the invariant checker on",
                file.display()
            );
            let judged = faultline_sim::execute(&scenario, seed)
                .unwrap_or_else(|e| panic!("{} seed {seed}: {e}", file.display()));
            assert!(
                judged.judgement.as_expected(),
                "{} seed {seed}: expected {:?}, found {:?}",
                file.display(),
                scenario.checks.expect,
                judged.judgement.anomaly_kinds()
            );
            let missing = faultline_sim::progress::missing(&scenario, &judged.outcome.history);
            assert!(
                missing.is_empty(),
                "{} seed {seed}: the workload never completed {}",
                file.display(),
                missing.join(", ")
            );
            runs += 1;
        }
    }
    println!("{runs} runs as expected");
}

/// Cases per model-based family: about 3 s of simulation each on the clean broker.
const MODEL_CASES: u32 = 500;

#[test]
#[ignore = "the mutation benchmark's test (docs/mutation.md); about 20 s"]
fn the_model_based_suite_holds_on_the_probe_seed() {
    let budget = Budget {
        cases: MODEL_CASES,
        duration: None,
        // A killed mutant needs no minimal case: stop at the first failure.
        shrink_runs_max: 0,
    };
    let report = support::model_suite::run(PlantedBugs::default(), &Family::ALL, budget, 1);
    let summary = support::model_suite::summary(&report);
    assert_eq!(report.properties.len(), Family::ALL.len(), "{summary}");
    for property in &report.properties {
        assert_eq!(property.status, Status::Pass, "{summary}");
    }
    let requests: usize = report.counts.iter().map(|&(_, _, requests)| requests).sum();
    println!("model-based suite: {requests} requests, every family kept the model");
}
