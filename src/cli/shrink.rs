//! `faultline shrink <run-folder>`: minimizes a failing run into a regression scenario.
//!
//! The run's faults become an explicit schedule (so dropping one fault does not reshuffle
//! the others, which a seeded schedule would) and latencies are fixed where that keeps the
//! failure. Then delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating
//! Failure-Inducing Input", 2002) over the fault windows, and per-element simplification:
//! shorter faults, a shorter fault phase, fewer producers, consumers and partitions, a
//! slower send rate. A candidate is kept only if it still fails with every anomaly kind
//! of the original. The result is a standalone scenario in `scenarios/regressions/` that
//! fails on its recorded seed, with the expected anomalies inside.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;

use faultline_checker::Verdict;
use faultline_sim::duration::HumanDuration;
use faultline_sim::nemesis::FaultWindow;
use faultline_sim::world::fault_schedule;
use faultline_sim::Scenario;

use super::execute::{execute, LoadedScenario};
use super::{UsageError, EXIT_OK};

/// Arguments of `shrink`.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// The failing run's folder.
    pub run: PathBuf,
    /// Most candidate runs to try.
    #[arg(long, default_value_t = 150)]
    pub max_runs: u32,
    /// Where the regression scenario goes.
    #[arg(long, default_value = "scenarios/regressions")]
    pub out: PathBuf,
}

/// Size of a case, for the before/after table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Size {
    faults: usize,
    operations: usize,
    fault_phase_ms: u64,
    producers: u32,
    consumers: u32,
    partitions: i32,
}

struct Shrinker {
    seed: u64,
    target: BTreeSet<String>,
    runs: u32,
    max_runs: u32,
    path: String,
}

impl Shrinker {
    /// Runs a candidate; `Some(size)` if it still fails with every target anomaly.
    fn fails(&mut self, candidate: &Scenario) -> Option<Size> {
        if self.runs >= self.max_runs || candidate.validate().is_err() {
            return None;
        }
        self.runs += 1;
        let loaded = LoadedScenario {
            scenario: candidate.clone(),
            path: self.path.clone(),
            hash: 0,
        };
        let executed = execute(&loaded, self.seed, String::new()).ok()?;
        if executed.report.verdict != Verdict::Invalid {
            return None;
        }
        let kinds: BTreeSet<String> = executed
            .report
            .anomalies()
            .map(|(_, a)| a.kind.to_string())
            .collect();
        self.target
            .is_subset(&kinds)
            .then(|| size(candidate, &executed.history))
    }

    /// Delta debugging over the fault windows.
    fn ddmin(&mut self, scenario: &mut Scenario) {
        let with = |scenario: &Scenario, windows: Vec<FaultWindow>| {
            let mut candidate = scenario.clone();
            candidate.faults.schedule = windows;
            candidate
        };
        if self.fails(&with(scenario, Vec::new())).is_some() {
            scenario.faults.schedule.clear();
            return;
        }
        let mut granularity = 2;
        while scenario.faults.schedule.len() >= 2 {
            let items = scenario.faults.schedule.clone();
            let chunk = items.len().div_ceil(granularity);
            let chunks: Vec<Vec<FaultWindow>> = items.chunks(chunk).map(|c| c.to_vec()).collect();
            let mut reduced = false;
            for (i, part) in chunks.iter().enumerate() {
                if self.fails(&with(scenario, part.clone())).is_some() {
                    scenario.faults.schedule = part.clone();
                    granularity = 2;
                    reduced = true;
                    break;
                }
                let complement: Vec<FaultWindow> = chunks
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .flat_map(|(_, c)| c.clone())
                    .collect();
                if chunks.len() > 2 && self.fails(&with(scenario, complement.clone())).is_some() {
                    scenario.faults.schedule = complement;
                    granularity = (granularity - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if granularity >= items.len() || self.runs >= self.max_runs {
                    break;
                }
                granularity = (granularity * 2).min(items.len());
            }
        }
    }

    /// Tries `change`; keeps it if the case still fails.
    fn attempt(&mut self, scenario: &mut Scenario, change: impl FnOnce(&mut Scenario)) -> bool {
        let mut candidate = scenario.clone();
        change(&mut candidate);
        if candidate == *scenario {
            return false;
        }
        if self.fails(&candidate).is_some() {
            *scenario = candidate;
            true
        } else {
            false
        }
    }

    fn simplify(&mut self, scenario: &mut Scenario) {
        // Earlier faults allow a shorter run: move the whole schedule towards the start.
        if let Some(first) = scenario
            .faults
            .schedule
            .iter()
            .map(|w| w.at.as_millis())
            .min()
        {
            for lead_ms in [1_000, first / 2] {
                if first > lead_ms {
                    let shift = first - lead_ms;
                    let moved = self.attempt(scenario, |s| {
                        for w in &mut s.faults.schedule {
                            w.at = HumanDuration::from_millis(w.at.as_millis() - shift);
                        }
                    });
                    if moved {
                        break;
                    }
                }
            }
        }
        for i in 0..scenario.faults.schedule.len() {
            while scenario.faults.schedule[i].duration.as_millis() > 400 {
                let half = scenario.faults.schedule[i].duration.as_millis() / 2;
                if !self.attempt(scenario, |s| {
                    s.faults.schedule[i].duration = HumanDuration::from_millis(half)
                }) {
                    break;
                }
            }
        }
        let last_end = scenario
            .faults
            .schedule
            .iter()
            .map(|w| w.at.as_millis() + w.duration.as_millis())
            .max()
            .unwrap_or(0);
        self.attempt(scenario, |s| {
            s.duration = HumanDuration::from_millis((last_end + 2_000).min(s.duration.as_millis()))
        });
        while scenario.workload.producers > 1 {
            let fewer = scenario.workload.producers - 1;
            if !self.attempt(scenario, |s| s.workload.producers = fewer) {
                break;
            }
        }
        while scenario.workload.consumers > 0 {
            let fewer = scenario.workload.consumers - 1;
            if !self.attempt(scenario, |s| s.workload.consumers = fewer) {
                break;
            }
        }
        for partitions in 1..scenario.topics[0].partitions {
            if self.attempt(scenario, |s| s.topics[0].partitions = partitions) {
                break;
            }
        }
        for _ in 0..3 {
            let slower = scenario.workload.send_interval.as_millis() * 2;
            if !self.attempt(scenario, |s| {
                s.workload.send_interval = HumanDuration::from_millis(slower)
            }) {
                break;
            }
        }
    }
}

fn size(scenario: &Scenario, history: &faultline_checker::history::History) -> Size {
    Size {
        faults: scenario.faults.schedule.len(),
        operations: history
            .ops
            .iter()
            .filter(|op| op.kind == faultline_checker::history::OpType::Invoke)
            .count(),
        fault_phase_ms: scenario.duration.as_millis(),
        producers: scenario.workload.producers,
        consumers: scenario.workload.consumers,
        partitions: scenario.topics[0].partitions,
    }
}

/// Runs it.
pub fn run(args: ShrinkArgs) -> anyhow::Result<i32> {
    let (report, history) = faultline_reports::read_run_folder(&args.run)
        .map_err(|e| UsageError(format!("{}: {e}", args.run.display())))?;
    let scenario_path = args.run.join("scenario.toml");
    let text = std::fs::read_to_string(&scenario_path)
        .map_err(|e| UsageError(format!("{}: {e}", scenario_path.display())))?;
    let original = Scenario::parse(&text, &scenario_path).map_err(|e| UsageError(e.to_string()))?;
    let target: BTreeSet<String> = report
        .anomalies()
        .map(|(_, a)| a.kind.to_string())
        .collect();
    if target.is_empty() {
        return Err(UsageError(format!(
            "{}: the run found no anomaly; nothing to shrink",
            args.run.display()
        ))
        .into());
    }
    let mut shrinker = Shrinker {
        seed: report.seed,
        target: target.clone(),
        runs: 0,
        max_runs: args.max_runs,
        path: report.scenario.path.clone(),
    };
    let before = size(&original, &history);
    let before = Size {
        faults: fault_schedule(&original, report.seed).len(),
        ..before
    };
    let mut scenario = original.clone();
    scenario.faults.schedule = fault_schedule(&original, report.seed);
    scenario.faults.kinds.clear();
    if shrinker.fails(&scenario).is_none() {
        return Err(UsageError(
            "the run does not fail again with its faults as an explicit schedule".into(),
        )
        .into());
    }
    let mut fixed = scenario.clone();
    fixed.latency.max = fixed.latency.min;
    if shrinker.fails(&fixed).is_some() {
        scenario = fixed;
    }
    shrinker.ddmin(&mut scenario);
    shrinker.simplify(&mut scenario);
    let after = shrinker
        .fails(&scenario)
        .ok_or_else(|| anyhow::anyhow!("the shrunk case stopped failing"))?;
    scenario.name = format!(
        "regression-{}-seed{}",
        original.name.trim_start_matches("negative-"),
        report.seed
    );
    scenario.description = format!(
        "Shrunk from {} seed {}: {}.",
        report.scenario.path,
        report.seed,
        target.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    scenario.checks.expect = target.iter().cloned().collect();
    scenario.checks.seed = Some(report.seed);
    std::fs::create_dir_all(&args.out)?;
    let file = args.out.join(format!("{}.toml", scenario.name));
    let body = format!(
        "# Regression scenario written by `faultline shrink` from a run of {} (seed {}).\n# It must fail on its recorded seed with the expected anomalies, and pass with its bugs off.\n{}",
        report.scenario.path,
        report.seed,
        toml::to_string(&scenario)?
    );
    faultline_reports::folder::write_atomically(&file, |w| w.write_all(body.as_bytes()))?;
    println!("| | faults | operations | fault phase | producers | consumers | partitions |");
    println!("|---|---|---|---|---|---|---|");
    for (label, s) in [("before", before), ("after", after)] {
        println!(
            "| {label} | {} | {} | {:.1} s | {} | {} | {} |",
            s.faults,
            s.operations,
            s.fault_phase_ms as f64 / 1000.0,
            s.producers,
            s.consumers,
            s.partitions
        );
    }
    println!(
        "{} candidate runs; anomalies kept: {}",
        shrinker.runs,
        target.into_iter().collect::<Vec<_>>().join(", ")
    );
    println!("wrote {}", file.display());
    println!(
        "repro: faultline run {} --seed {}",
        file.display(),
        report.seed
    );
    Ok(EXIT_OK)
}
