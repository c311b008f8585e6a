//! `faultline replay <run-folder | report.json>`: rerun a recorded run and confirm the
//! trace hash is the same.

use std::path::PathBuf;

use clap::Args;

use super::execute::{execute, verdict_word, LoadedScenario};
use super::{UsageError, EXIT_ANOMALY, EXIT_OK};
use faultline_sim::seed::fnv1a;
use faultline_sim::Scenario;

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A run folder, or its report.json.
    pub run: PathBuf,
}

/// Runs it. Exit 0 when the trace hash matches, 1 when it differs.
pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let folder = if args.run.is_dir() {
        args.run.clone()
    } else {
        args.run.parent().map(PathBuf::from).unwrap_or_default()
    };
    let (recorded, _) = faultline_reports::read_run_folder(&folder)
        .map_err(|e| UsageError(format!("{}: {e}", folder.display())))?;
    let scenario_path = folder.join("scenario.toml");
    let text = std::fs::read_to_string(&scenario_path)
        .map_err(|e| UsageError(format!("{}: {e}", scenario_path.display())))?;
    let scenario = Scenario::parse(&text, &scenario_path).map_err(|e| UsageError(e.to_string()))?;
    let loaded = LoadedScenario {
        scenario,
        path: recorded.scenario.path.clone(),
        hash: fnv1a(text.as_bytes()),
    };
    println!(
        "replaying {} seed {} (recorded trace hash {})",
        recorded.scenario.name, recorded.seed, recorded.trace_hash
    );
    let executed = execute(&loaded, recorded.seed, recorded.repro.clone())?;
    let same = executed.report.trace_hash == recorded.trace_hash;
    println!(
        "verdict: {} (recorded {}) · trace hash {} — {}",
        verdict_word(executed.report.verdict),
        verdict_word(recorded.verdict),
        executed.report.trace_hash,
        if same {
            "identical"
        } else {
            "DIFFERENT: the run did not reproduce"
        }
    );
    Ok(if same { EXIT_OK } else { EXIT_ANOMALY })
}
