//! `faultline explore --guided`: coverage-guided exploration. Runs that reach coverage
//! points no earlier run reached join a corpus; later runs either try a fresh seed or take
//! a corpus entry and mutate its fault schedule — shift a window, add one, remove one,
//! retime one — keeping its seed (so the workload and network draws stay put). Fuzzers
//! keep inputs that reach new edges (AFL); Antithesis steers its fault injection the same
//! way.
//!
//! Deterministic for a given seed range and `--jobs`: each batch of `jobs` candidates is
//! chosen from the corpus as it stood before the batch, by the `guided` stream, and
//! results are merged in candidate order.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use rand::Rng;

use faultline_checker::Verdict;
use faultline_reports::RunSummaryRow;
use faultline_sim::duration::HumanDuration;
use faultline_sim::nemesis::{FaultKind, FaultWindow};
use faultline_sim::Scenario;

use super::execute::{derived_scenario, Executed, LoadedScenario};
use super::explore::{run_one, Explored};

/// A run worth mutating: the scenario it ran and its seed.
struct Entry {
    /// Index of the written scenario.
    which: usize,
    /// The effective scenario (its schedule explicit once mutated).
    scenario: Scenario,
    /// Its seed.
    seed: u64,
}

/// One mutation of a schedule, drawn from `rng`; the schedule stays within the fault phase.
fn mutate(rng: &mut impl Rng, scenario: &Scenario, seed: u64) -> Scenario {
    let mut schedule = if scenario.faults.schedule.is_empty() {
        faultline_sim::world::fault_schedule(scenario, seed)
    } else {
        scenario.faults.schedule.clone()
    };
    let original = schedule.clone();
    let phase_ms = scenario.duration.as_millis();
    let mut kinds: Vec<FaultKind> = scenario.faults.kinds.clone();
    kinds.extend(schedule.iter().map(|w| w.kind));
    let nodes = scenario.node_names();
    let choice = if schedule.is_empty() {
        1
    } else {
        rng.random_range(0..4)
    };
    match choice {
        0 => {
            let i = rng.random_range(0..schedule.len());
            let shift = rng.random_range(0..=4_000) as i64 - 2_000;
            let at = (schedule[i].at.as_millis() as i64 + shift).max(0) as u64;
            schedule[i].at = HumanDuration::from_millis(at);
        }
        1 if !kinds.is_empty() => {
            let kind = kinds[rng.random_range(0..kinds.len())];
            // Targets as the scenario's own windows of that kind have them (a power loss
            // of one node stays one node), else one node or a partition's leader.
            let same: Vec<&FaultWindow> = schedule.iter().filter(|w| w.kind == kind).collect();
            let targets = if !same.is_empty() {
                same[rng.random_range(0..same.len())].targets.clone()
            } else {
                match kind {
                    FaultKind::IsolateLeader | FaultKind::IsolateController => Vec::new(),
                    FaultKind::DiskError => {
                        vec![format!("broker-{}", rng.random_range(1..nodes.len()))]
                    }
                    FaultKind::Isolate
                    | FaultKind::Halves
                    | FaultKind::Bridge
                    | FaultKind::OneWay
                    | FaultKind::Loss
                    | FaultKind::Latency
                    | FaultKind::Crash
                    | FaultKind::Pause
                    | FaultKind::PowerLoss
                    | FaultKind::ClockSkew => {
                        let pick = rng.random_range(0..nodes.len() + 1);
                        vec![nodes.get(pick).cloned().unwrap_or_else(|| "leader".into())]
                    }
                }
            };
            let duration = rng.random_range(200..=4_000);
            let at = rng.random_range(1_000..phase_ms.saturating_sub(duration + 1).max(1_001));
            schedule.push(FaultWindow {
                at: HumanDuration::from_millis(at),
                duration: HumanDuration::from_millis(duration),
                kind,
                targets,
            });
        }
        1 => {}
        2 => {
            schedule.remove(rng.random_range(0..schedule.len()));
        }
        _ => {
            let i = rng.random_range(0..schedule.len());
            let permille = rng.random_range(250..=2_000);
            let length = (schedule[i].duration.as_millis() * permille / 1_000).max(50);
            schedule[i].duration = HumanDuration::from_millis(length);
        }
    }
    for window in &mut schedule {
        let end = window.at.as_millis() + window.duration.as_millis();
        if end >= phase_ms {
            let length = window.duration.as_millis().min(phase_ms / 4);
            window.duration = HumanDuration::from_millis(length);
            window.at = HumanDuration::from_millis(phase_ms - length - 1);
        }
    }
    schedule.sort_by_key(|w| w.at);
    // Within the scenario's bounds: a scenario whose faults never overlap (a power loss of
    // one node at a time) must not be turned into one whose faults do.
    if !scenario.faults.overlap && !overlaps(&original) && overlaps(&schedule) {
        schedule = original;
    }
    let mut mutated = scenario.clone();
    mutated.faults.schedule = schedule;
    mutated
}

/// Whether any two windows of a sorted schedule are open at once.
fn overlaps(schedule: &[FaultWindow]) -> bool {
    let mut sorted: Vec<&FaultWindow> = schedule.iter().collect();
    sorted.sort_by_key(|w| w.at);
    sorted
        .windows(2)
        .any(|pair| pair[0].at.as_millis() + pair[0].duration.as_millis() >= pair[1].at.as_millis())
}

/// Explores `start..end` as the run budget: run `i` either takes fresh seed `start + k` or
/// mutates a corpus entry.
pub fn explore_guided(
    scenarios: &[LoadedScenario],
    start: u64,
    end: u64,
    jobs: usize,
    keep_going: bool,
    out: &Path,
) -> anyhow::Result<Explored> {
    let started = Instant::now();
    let mut rng = faultline_sim::seed::stream(start, "guided");
    let mut corpus: Vec<Entry> = Vec::new();
    let mut coverage: BTreeSet<String> = BTreeSet::new();
    let mut rows = Vec::new();
    let mut fresh = 0u64;
    let mut runs = 0u64;
    let budget = end - start;
    'batches: while runs < budget {
        let mut batch = Vec::new();
        while batch.len() < jobs && runs + (batch.len() as u64) < budget {
            let n = runs + batch.len() as u64;
            let mutate_one = !corpus.is_empty() && rng.random_ratio(2, 3);
            if mutate_one {
                let entry = &corpus[rng.random_range(0..corpus.len())];
                let scenario = mutate(&mut rng, &entry.scenario, entry.seed);
                batch.push((entry.which, scenario, entry.seed, format!("g{n}")));
            } else {
                let which = (fresh as usize) % scenarios.len();
                let seed = fresh / scenarios.len() as u64 + start;
                fresh += 1;
                batch.push((
                    which,
                    scenarios[which].scenario.clone(),
                    seed,
                    seed.to_string(),
                ));
            }
        }
        let results: Vec<anyhow::Result<(Executed, Option<String>)>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|(which, scenario, seed, label)| {
                        let loaded = derived_scenario(&scenarios[*which], scenario.clone());
                        scope.spawn(move || {
                            let repro = format!(
                                "faultline run {}/{}/{label}/scenario.toml --seed {seed}",
                                out.display(),
                                loaded.scenario.name
                            );
                            run_one(&loaded, *seed, repro, out, label)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("run thread"))
                    .collect()
            });
        for ((which, scenario, seed, _), result) in batch.into_iter().zip(results) {
            let (executed, dir) = result?;
            runs += 1;
            let new = executed.coverage.iter().any(|p| !coverage.contains(p));
            if new {
                coverage.extend(executed.coverage.iter().cloned());
                corpus.push(Entry {
                    which,
                    scenario,
                    seed,
                });
            }
            let failed = executed.report.verdict != Verdict::Valid;
            rows.push(RunSummaryRow::from_report(&executed.report, dir));
            if failed && !keep_going {
                break 'batches;
            }
        }
    }
    Ok(Explored {
        rows,
        wall: started.elapsed(),
        coverage,
    })
}
