//! Every planted bug's negative scenario, and every shrunk regression scenario, fails on
//! its recorded seed with the expected anomalies, and passes on the same seed with its
//! bugs switched off.

use std::path::{Path, PathBuf};

use faultline_broker::bugs::PlantedBugs;
use faultline_sim::Scenario;

fn scenarios_in(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Every anomaly kind the scenario's own checks found (the library's pipeline, so the
/// selection of checkers is the one `faultline run` makes).
fn anomaly_kinds(scenario: &Scenario, seed: u64) -> Vec<String> {
    faultline_sim::execute(scenario, seed)
        .unwrap()
        .judgement
        .checks
        .iter()
        .filter(|c| c.checker != "liveness")
        .flat_map(|c| c.anomalies.iter().map(|a| a.kind.to_string()))
        .collect()
}

fn reproduces_and_passes_without_bugs(files: &[PathBuf]) {
    for file in files {
        let name = file.display();
        let scenario = Scenario::load(file).unwrap();
        assert!(
            !scenario.bugs.enabled().is_empty(),
            "{name}: switches on no bug"
        );
        let seed = scenario
            .checks
            .seed
            .unwrap_or_else(|| panic!("{name}: no recorded seed"));
        assert!(
            !scenario.checks.expect.is_empty(),
            "{name}: no expected anomaly"
        );
        let found = anomaly_kinds(&scenario, seed);
        for expected in &scenario.checks.expect {
            assert!(
                found.contains(expected),
                "{name} seed {seed}: expected {expected}, found {found:?}"
            );
        }
        let mut clean = scenario.clone();
        clean.bugs = PlantedBugs::default();
        let found = anomaly_kinds(&clean, seed);
        assert!(
            found.is_empty(),
            "{name} seed {seed} with its bugs off: {found:?}"
        );
    }
}

#[test]
fn each_planted_bug_is_caught_on_its_recorded_seed_and_absent_without_it() {
    let files = scenarios_in("negative");
    for file in &files {
        let name = file.file_stem().unwrap().to_str().unwrap().to_string();
        let scenario = Scenario::load(file).unwrap();
        assert_eq!(
            scenario.bugs.enabled(),
            vec![name.as_str()],
            "{name}: the file switches on exactly its bug"
        );
    }
    for bug in PlantedBugs::NAMES {
        assert!(
            files
                .iter()
                .any(|f| f.file_stem().is_some_and(|s| s == *bug)),
            "planted bug {bug} has no scenarios/negative/{bug}.toml"
        );
    }
    reproduces_and_passes_without_bugs(&files);
}

/// `faultline shrink` writes scenarios/regressions/; each must keep failing as recorded.
/// A regression of a bug found in the clean broker (and fixed there) switches on no planted
/// bug and expects nothing: it must pass on its recorded seed.
#[test]
fn every_regression_scenario_reproduces_its_anomalies() {
    let files = scenarios_in("regressions");
    assert!(!files.is_empty());
    let (fixed, planted): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| Scenario::load(f).unwrap().bugs.enabled().is_empty());
    reproduces_and_passes_without_bugs(&planted);
    for file in &fixed {
        let name = file.display();
        let scenario = Scenario::load(file).unwrap();
        assert!(
            scenario.checks.expect.is_empty(),
            "{name}: fixed, expects nothing"
        );
        let seed = scenario
            .checks
            .seed
            .unwrap_or_else(|| panic!("{name}: no recorded seed"));
        let found = anomaly_kinds(&scenario, seed);
        assert!(found.is_empty(), "{name} seed {seed}: {found:?}");
    }
}

/// The seed-2096 regression passes because the admin checker knows its stale read came
/// from a deposed leader at an older epoch (KIP-320), not because the read went away: the
/// run must still make it, and the admin report must count it.
#[test]
fn the_stale_read_of_seed_2096_is_made_and_counted_not_judged() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/regressions/regression-admin-and-seek-under-failover-seed2096.toml");
    let scenario = Scenario::load(&file).unwrap();
    let outcome = faultline_sim::execute(&scenario, 2096).unwrap();
    let admin = outcome
        .judgement
        .checks
        .iter()
        .find(|c| c.checker == "admin")
        .expect("an admin check");
    assert!(admin.anomalies.is_empty(), "{:?}", admin.anomalies);
    assert_eq!(
        admin
            .stats
            .get("answers below a log start from an older leader epoch"),
        Some(&1),
        "{:?}",
        admin.stats
    );
}
