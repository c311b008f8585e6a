//! `faultline explore --guided`: coverage-guided exploration. Runs that reach coverage
//! points no earlier run reached join a corpus; later runs either try a fresh seed or take
//! a corpus entry and mutate it, keeping its seed (so the workload and network draws stay
//! put): half the time a `[[faults.trigger]]` aimed at a cluster event the entry's run
//! reached (`faultline_sim::aim`: fault at the interesting moment), else its fault
//! schedule — shift a window, add one, remove one, retime one. Fuzzers keep inputs that
//! reach new edges (AFL); Antithesis steers its fault injection the same way.
//!
//! The guidance never changes how many runs each scenario gets: runs go round robin over
//! the scenarios exactly as in uniform exploration, and only the choice *within* a scenario
//! is guided — a fresh seed, or (half the time, once the scenario has a corpus) a mutation
//! of one of its corpus entries. A fresh seed runs the configuration `--swarm` draws for it
//! (`faultline_sim::swarm`): with the scenario as written, guided's first pass over the
//! catalog was uniform's, so within a budget of a pass or two it could not differ from it.
//! Coverage is counted per scenario (a point another scenario reached is still new to this
//! one: a bug may need this scenario's workload), and an entry is picked with weight
//! Σ 1/hits over its points, so entries that reached rarely reached points get more
//! mutations (AFLFast's power schedules, Böhme et al., CCS 2016). An earlier version drew mutations from one global corpus, which the first
//! scenarios filled: bugs that need a group or idempotence scenario were found later than
//! by uniform seeds, or not at all within the budget.
//!
//! Deterministic for a given seed range and `--jobs`: each batch of `jobs` candidates is
//! chosen from the corpus as it stood before the batch, by the `guided` stream, and
//! results are merged in candidate order.

use std::collections::{BTreeMap, BTreeSet};
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
    /// The effective scenario (its schedule explicit once mutated).
    scenario: Scenario,
    /// Its seed.
    seed: u64,
    /// The coverage points it reached.
    points: BTreeSet<String>,
}

/// What guidance knows about one written scenario.
#[derive(Default)]
struct ScenarioState {
    /// Runs that reached coverage points no earlier run of this scenario reached.
    corpus: Vec<Entry>,
    /// How many runs of this scenario reached each point.
    hits: BTreeMap<String, u64>,
    /// Fresh seeds taken so far.
    fresh: u64,
}

impl ScenarioState {
    /// A corpus entry, weighted by the rarity of the points it reached (Σ 1/hits).
    fn pick(&self, rng: &mut impl Rng) -> &Entry {
        let weights: Vec<f64> = self
            .corpus
            .iter()
            .map(|entry| {
                entry
                    .points
                    .iter()
                    .map(|p| 1.0 / self.hits.get(p).copied().unwrap_or(1).max(1) as f64)
                    .sum::<f64>()
                    .max(f64::MIN_POSITIVE)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut target = rng.random::<f64>() * total;
        for (entry, weight) in self.corpus.iter().zip(&weights) {
            if target < *weight {
                return entry;
            }
            target -= weight;
        }
        self.corpus.last().expect("picked from a non-empty corpus")
    }

    /// Counts a run's points; whether any was new to this scenario.
    fn record(&mut self, points: &BTreeSet<String>) -> bool {
        let mut new = false;
        for point in points {
            let hits = self.hits.entry(point.clone()).or_insert(0);
            new |= *hits == 0;
            *hits += 1;
        }
        new
    }
}

/// One mutation of an entry, drawn from `rng`: half the time (when the entry's run reached
/// a trigger event and the scenario has a kind a trigger can carry out) a trigger aimed at
/// an event the run reached (`faultline_sim::aim`), else a change to its fault schedule.
fn mutate(rng: &mut impl Rng, entry: &Entry) -> Scenario {
    let reached = faultline_sim::coverage::trigger_events(&entry.points);
    if rng.random_ratio(1, 2) {
        if let Some(aimed) = faultline_sim::aim::aim(rng, &entry.scenario, &reached) {
            return aimed;
        }
    }
    mutate_schedule(rng, &entry.scenario, entry.seed)
}

/// One mutation of a schedule, drawn from `rng`; the schedule stays within the fault phase.
fn mutate_schedule(rng: &mut impl Rng, scenario: &Scenario, seed: u64) -> Scenario {
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
            } else if !faultline_sim::aim::may_strike_leaders(scenario) {
                vec!["follower".to_string()]
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
    let mut states: Vec<ScenarioState> =
        scenarios.iter().map(|_| ScenarioState::default()).collect();
    let mut coverage: BTreeSet<String> = BTreeSet::new();
    let mut rows = Vec::new();
    let mut runs = 0u64;
    let budget = end - start;
    'batches: while runs < budget {
        let mut batch = Vec::new();
        while batch.len() < jobs && runs + (batch.len() as u64) < budget {
            let n = runs + batch.len() as u64;
            // Round robin, as uniform exploration: guidance chooses within a scenario.
            let which = (n % scenarios.len() as u64) as usize;
            let state = &mut states[which];
            if !state.corpus.is_empty() && rng.random_ratio(1, 2) {
                let entry = state.pick(&mut rng);
                let scenario = mutate(&mut rng, entry);
                batch.push((which, scenario, entry.seed, format!("g{n}")));
            } else {
                let seed = start + state.fresh;
                state.fresh += 1;
                // A fresh seed runs the configuration the swarm draws for it, so the
                // corpus grows from varied configurations, not one (Groce et al.).
                let swarmed = faultline_sim::swarm::swarm(&scenarios[which].scenario, seed);
                batch.push((which, swarmed.scenario, seed, seed.to_string()));
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
            coverage.extend(executed.coverage.iter().cloned());
            let state = &mut states[which];
            if state.record(&executed.coverage) {
                state.corpus.push(Entry {
                    scenario,
                    seed,
                    points: executed.coverage.iter().cloned().collect(),
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
