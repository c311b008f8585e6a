//! One run, composed: scenario + seed → simulation → checkers → report. Shared by `run`
//! and `replay` (and, later, `explore` and `hunt`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use faultline_checker::history::{History, OpType, Process};
use faultline_checker::judge::Judgement;
use faultline_checker::Verdict;
use faultline_reports::{
    ClusterEvent, FaultWindow, PartitionState, RunReport, ScenarioInfo, SCHEMA_VERSION,
};
use faultline_sim::seed::fnv1a;
use faultline_sim::world::ClusterEventKind;
use faultline_sim::{JudgedRun, Scenario, ScenarioError};

use super::UsageError;

/// The scenario `faultline run` uses when none is given.
pub const BUILTIN_SMOKE: &str = include_str!("../../scenarios/smoke.toml");
/// Its conventional path.
pub const BUILTIN_SMOKE_PATH: &str = "scenarios/smoke.toml";
/// The lockfile this binary was built with: a dependency upgrade may change what a seed does.
const CARGO_LOCK: &[u8] = include_bytes!("../../Cargo.lock");

/// A scenario with where it came from.
pub struct LoadedScenario {
    /// The parsed scenario (with any `--bug` switches applied).
    pub scenario: Scenario,
    /// The path given (or the built-in one).
    pub path: String,
    /// Hash of the file's bytes.
    pub hash: u64,
}

/// A scenario built in memory (a swarm draw, a guided mutation), named after `base`.
pub fn derived_scenario(
    base: &LoadedScenario,
    scenario: faultline_sim::Scenario,
) -> LoadedScenario {
    let text = toml::to_string(&scenario).unwrap_or_default();
    LoadedScenario {
        scenario,
        path: base.path.clone(),
        hash: fnv1a(text.as_bytes()),
    }
}

/// Loads a scenario file, or the built-in smoke scenario when `path` is `None` and no
/// `scenarios/smoke.toml` is at hand.
pub fn load_scenario(path: Option<&Path>) -> anyhow::Result<LoadedScenario> {
    let (text, shown) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| UsageError(format!("{}: {e}", p.display())))?,
            p.display().to_string(),
        ),
        None => match std::fs::read_to_string(BUILTIN_SMOKE_PATH) {
            Ok(text) => (text, BUILTIN_SMOKE_PATH.to_string()),
            Err(_) => (BUILTIN_SMOKE.to_string(), BUILTIN_SMOKE_PATH.to_string()),
        },
    };
    let scenario = Scenario::parse(&text, Path::new(&shown))
        .map_err(|e: ScenarioError| UsageError(e.to_string()))?;
    Ok(LoadedScenario {
        scenario,
        path: shown,
        hash: fnv1a(text.as_bytes()),
    })
}

/// What one executed run gives back.
pub struct Executed {
    /// The report.
    pub report: RunReport,
    /// The history.
    pub history: History,
    /// The coverage points the run reached.
    pub coverage: std::collections::BTreeSet<String>,
}

/// Runs and checks one seed (the library's pipeline), and assembles its report.
pub fn execute(loaded: &LoadedScenario, seed: u64, repro: String) -> anyhow::Result<Executed> {
    let started = Instant::now();
    let JudgedRun { outcome, judgement } = faultline_sim::execute(&loaded.scenario, seed)?;
    let wall_ms = started.elapsed().as_millis() as u64;
    let Judgement { verdict, checks } = judgement;
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: ScenarioInfo {
            name: loaded.scenario.name.clone(),
            path: loaded.path.clone(),
            hash: format!("{:016x}", loaded.hash),
        },
        seed,
        trace_hash: format!("{:016x}", outcome.trace_hash),
        cargo_lock_hash: format!("{:016x}", fnv1a(CARGO_LOCK)),
        verdict,
        checks,
        simulated_ms: outcome.simulated_ms,
        wall_ms,
        stats: stats(&outcome.history),
        faults: outcome
            .faults
            .iter()
            .map(|f| FaultWindow {
                kind: f.window.kind.name(),
                targets: f.targets.clone(),
                start_ns: f.start_ns,
                end_ns: f.end_ns,
                detail: if f.detail.is_empty() {
                    format!("{} ms", f.window.duration.as_millis())
                } else {
                    format!("{} ms; {}", f.window.duration.as_millis(), f.detail)
                },
            })
            .collect(),
        events: outcome
            .events
            .iter()
            .map(|e| ClusterEvent {
                time_ns: e.time_ns,
                node: e.node.clone(),
                kind: e.kind.name().to_string(),
                description: e.description(),
                partition_state: partition_state(&e.kind),
            })
            .collect(),
        repro,
    };
    Ok(Executed {
        report,
        history: outcome.history,
        coverage: outcome.coverage,
    })
}

/// The state a controller decision left its partition in, for the timeline's lanes.
fn partition_state(kind: &ClusterEventKind) -> Option<PartitionState> {
    let (partition, leader, leader_epoch, isr) = match kind {
        ClusterEventKind::LeaderElected {
            partition,
            leader,
            leader_epoch,
            isr,
            ..
        }
        | ClusterEventKind::IsrChanged {
            partition,
            leader,
            leader_epoch,
            isr,
            ..
        } => (partition, *leader, *leader_epoch, isr),
        ClusterEventKind::PartitionOffline {
            partition,
            leader_epoch,
            isr,
            ..
        } => (partition, -1, *leader_epoch, isr),
        ClusterEventKind::BecameLeader { .. }
        | ClusterEventKind::Truncated { .. }
        | ClusterEventKind::IsrProposed { .. }
        | ClusterEventKind::BrokerFenced { .. }
        | ClusterEventKind::BrokerUnfenced { .. }
        | ClusterEventKind::PowerLossDamage { .. }
        | ClusterEventKind::ClockSkewed { .. }
        | ClusterEventKind::MessagesDropped { .. }
        | ClusterEventKind::ProcessCrashed { .. }
        | ClusterEventKind::ProcessRestarted { .. }
        | ClusterEventKind::EndTxnAnswered { .. }
        | ClusterEventKind::RecordsDeleted { .. }
        | ClusterEventKind::TopicChanged { .. } => return None,
    };
    Some(PartitionState {
        partition: format!("{}-{}", partition.0, partition.1),
        leader,
        leader_epoch,
        isr: isr.clone(),
    })
}

fn stats(history: &History) -> BTreeMap<String, u64> {
    // Counted by kind first, then named: one map entry per kind seen, as when every op
    // formatted and looked up its own key (that was ~1% of a simulated run's work).
    let mut faults = None;
    let mut ops = [0u64; 4];
    for op in &history.ops {
        if op.process == Process::Nemesis {
            *faults.get_or_insert(0) +=
                u64::from(op.f == faultline_checker::history::Function::StartFault);
            continue;
        }
        ops[match op.kind {
            OpType::Invoke => 0,
            OpType::Ok => 1,
            OpType::Fail => 2,
            OpType::Info => 3,
        }] += 1;
    }
    let mut stats: BTreeMap<String, u64> = ["invoked", "ok", "fail", "info"]
        .into_iter()
        .zip(ops)
        .filter(|&(_, count)| count > 0)
        .map(|(kind, count)| (format!("ops {kind}"), count))
        .collect();
    if let Some(faults) = faults {
        stats.insert("faults".to_string(), faults);
    }
    stats
}

/// The default report folder of a run.
pub fn default_folder(out: &Path, scenario: &str, seed: u64) -> PathBuf {
    out.join(scenario).join(seed.to_string())
}

/// Writes the run folder plus the effective scenario, so `replay` needs nothing else.
pub fn write_folder(dir: &Path, executed: &Executed, scenario: &Scenario) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    faultline_reports::write_run_folder(dir, &executed.report, &executed.history)?;
    let effective = toml::to_string(scenario)?;
    faultline_reports::folder::write_atomically(&dir.join("scenario.toml"), |w| {
        w.write_all(effective.as_bytes())
    })?;
    Ok(())
}

/// The verdict's name, for people.
pub fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "VALID",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    }
}
