//! `faultline run [SCENARIO] [--seed N]`: one seeded, simulated, checked run.

use std::path::PathBuf;

use clap::Args;

use super::execute::{default_folder, execute, load_scenario, verdict_word, write_folder};
use super::{UsageError, EXIT_ANOMALY, EXIT_INCONCLUSIVE, EXIT_OK};
use faultline_checker::Verdict;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (default: the built-in scenarios/smoke.toml).
    pub scenario: Option<PathBuf>,
    /// The seed; a random one is drawn and printed when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Switch a planted bug on (repeatable), e.g. `--bug ack-before-replication`.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Where run folders go.
    #[arg(long, default_value = "faultline-out")]
    pub out: PathBuf,
    /// How to print the result: text for people, json (the report.json) for programs.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Text,
    /// JSON for programs.
    Json,
}

/// Runs it.
pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    let mut loaded = load_scenario(args.scenario.as_deref())?;
    for bug in &args.bugs {
        loaded.scenario.bugs.enable(bug).map_err(UsageError)?;
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut repro = format!("faultline run {} --seed {seed}", loaded.path);
    for bug in &args.bugs {
        repro.push_str(&format!(" --bug {bug}"));
    }
    let scenario = &loaded.scenario;
    let config = scenario.cluster_config();
    let text = args.format == OutputFormat::Text;
    if text {
        println!(
            "faultline {} · scenario {} ({}, hash {:016x}) · seed {seed}",
            env!("CARGO_PKG_VERSION"),
            scenario.name,
            loaded.path,
            loaded.hash
        );
        println!(
        "  cluster: {} brokers, min.insync.replicas {}, fsync {:?} · faults: {} · tick {} ms · fault phase {} s · bugs: {}",
        config.brokers.len(),
        config.min_insync_replicas,
        config.fsync,
        if scenario.faults.schedule.is_empty() {
            scenario.faults.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        } else {
            format!("{} scheduled", scenario.faults.schedule.len())
        },
        scenario.tick.as_millis(),
        scenario.duration.0.as_secs_f64(),
        if config.bugs.enabled().is_empty() { "none".to_string() } else { config.bugs.enabled().join(", ") },
    );
    }
    let executed = execute(&loaded, seed, repro.clone())?;
    let report = &executed.report;
    let folder = default_folder(&args.out, &scenario.name, seed);
    write_folder(&folder, &executed, scenario)?;
    let exit = match report.verdict {
        Verdict::Valid => EXIT_OK,
        Verdict::Invalid => EXIT_ANOMALY,
        Verdict::Unknown => EXIT_INCONCLUSIVE,
    };
    if !text {
        println!("{}", faultline_reports::json::report_json(report));
        return Ok(exit);
    }
    let speed = report.simulated_ms as f64 / report.wall_ms.max(1) as f64;
    println!(
        "verdict: {} · {} ops · simulated {:.1} s in {:.2} s wall ({:.0}× real time)",
        verdict_word(report.verdict),
        executed.history.ops.len(),
        report.simulated_ms as f64 / 1000.0,
        report.wall_ms as f64 / 1000.0,
        speed
    );
    for check in &report.checks {
        println!(
            "  {}: {}",
            check.checker,
            verdict_word(check.verdict).to_lowercase()
        );
        for anomaly in check.anomalies.iter().take(5) {
            println!("    {} — {}", anomaly.kind, anomaly.description);
        }
        if check.anomalies.len() > 5 {
            println!(
                "    … and {} more (see the report)",
                check.anomalies.len() - 5
            );
        }
    }
    println!("trace hash: {}", report.trace_hash);
    println!("report: {}/", folder.display());
    println!("repro: {repro}");
    Ok(exit)
}
