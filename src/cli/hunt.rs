//! `faultline hunt`: how fast does faultline find each planted bug, and does the clean
//! broker stay clean? For each bug, the seeds and wall seconds until its negative scenario
//! (`scenarios/negative/<bug>.toml`) first fails, from several seed offsets; then a
//! false-positive run of the clean broker over the catalog.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use faultline_broker::bugs::PlantedBugs;
use faultline_checker::Verdict;

use super::execute::{execute, load_scenario, LoadedScenario};
use super::explore::scenario_files;
use super::{UsageError, EXIT_ANOMALY, EXIT_INCONCLUSIVE, EXIT_OK};

/// Arguments of `hunt`.
#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Hunt one bug by name (default: all with a negative scenario).
    #[arg(long)]
    pub bug: Option<String>,
    /// Hunt every planted bug.
    #[arg(long)]
    pub all: bool,
    /// Give up on a bug after this many seeds per offset.
    #[arg(long, default_value_t = 200)]
    pub max_seeds: u64,
    /// Seed offsets to start from (1, 1001, 2001, …), for a median.
    #[arg(long, default_value_t = 5)]
    pub offsets: u64,
    /// Clean-broker seeds per catalog scenario for the false-positive run (0 skips it).
    #[arg(long, default_value_t = 20)]
    pub clean_seeds: u64,
    /// Worker threads.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Folder of the negative scenarios.
    #[arg(long, default_value = "scenarios/negative")]
    pub negative: PathBuf,
    /// Folder of the catalog for the false-positive run.
    #[arg(long, default_value = "scenarios")]
    pub catalog: PathBuf,
    /// Where hunt.json goes.
    #[arg(long, default_value = "faultline-out/hunt")]
    pub out: PathBuf,
}

/// One hunt from one seed offset.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// The first seed tried.
    pub first_seed: u64,
    /// The failing seed, if found.
    pub found_seed: Option<u64>,
    /// Seeds run until found (or the limit).
    pub seeds_run: u64,
    /// Wall seconds spent.
    pub wall_seconds: f64,
    /// Anomaly kinds the failing seed showed.
    pub anomalies: Vec<String>,
}

/// The hunt for one bug.
#[derive(Debug, Clone, Serialize)]
pub struct BugHunt {
    /// The bug.
    pub bug: String,
    /// Its negative scenario.
    pub scenario: String,
    /// One attempt per offset.
    pub attempts: Vec<Attempt>,
    /// Median seeds to detection over the offsets (a miss counts as the limit).
    pub median_seeds: u64,
    /// Median wall seconds to detection.
    pub median_wall_seconds: f64,
    /// How many offsets found it.
    pub found: u64,
    /// The command that reproduces the first detection.
    pub repro: Option<String>,
}

/// The whole result, as hunt.json.
#[derive(Debug, Clone, Serialize)]
pub struct HuntReport {
    /// Per bug.
    pub bugs: Vec<BugHunt>,
    /// Clean-broker runs over the catalog.
    pub clean_runs: u64,
    /// Clean runs with any anomaly (false positives).
    pub clean_failures: Vec<String>,
    /// Wall seconds of the clean run.
    pub clean_wall_seconds: f64,
}

fn median_u64(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn hunt_one(loaded: &LoadedScenario, first_seed: u64, max_seeds: u64) -> anyhow::Result<Attempt> {
    let started = Instant::now();
    for seed in first_seed..first_seed + max_seeds {
        let executed = execute(loaded, seed, String::new())?;
        if executed.report.verdict == Verdict::Invalid {
            let mut anomalies: Vec<String> = executed
                .report
                .anomalies()
                .map(|(_, a)| a.kind.to_string())
                .collect();
            anomalies.sort();
            anomalies.dedup();
            return Ok(Attempt {
                first_seed,
                found_seed: Some(seed),
                seeds_run: seed - first_seed + 1,
                wall_seconds: started.elapsed().as_secs_f64(),
                anomalies,
            });
        }
    }
    Ok(Attempt {
        first_seed,
        found_seed: None,
        seeds_run: max_seeds,
        wall_seconds: started.elapsed().as_secs_f64(),
        anomalies: Vec::new(),
    })
}

/// Runs it.
pub fn run(args: HuntArgs) -> anyhow::Result<i32> {
    let names: Vec<String> = match (&args.bug, args.all) {
        (Some(bug), _) => vec![bug.clone()],
        (None, _) => PlantedBugs::NAMES.iter().map(|s| s.to_string()).collect(),
    };
    let mut targets = Vec::new();
    for name in &names {
        PlantedBugs::default().enable(name).map_err(UsageError)?;
        let path = args.negative.join(format!("{name}.toml"));
        if !path.is_file() {
            if args.bug.is_some() {
                return Err(UsageError(format!(
                    "no negative scenario for {name}: {} is missing",
                    path.display()
                ))
                .into());
            }
            println!(
                "skipping {name}: no negative scenario at {}",
                path.display()
            );
            continue;
        }
        targets.push((name.clone(), path.clone(), load_scenario(Some(&path))?));
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let tasks: Vec<(usize, u64)> = (0..targets.len())
        .flat_map(|b| (0..args.offsets).map(move |o| (b, o)))
        .collect();
    let bar = ProgressBar::new(tasks.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} hunts · {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Attempt)>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(b, o)) = tasks.get(i) else { return };
                bar.set_message(targets[b].0.clone());
                match hunt_one(&targets[b].2, 1 + o * 1000, args.max_seeds) {
                    Ok(attempt) => results.lock().unwrap().push((b, attempt)),
                    Err(e) => errors
                        .lock()
                        .unwrap()
                        .push(format!("{}: {e}", targets[b].0)),
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = errors.lock().unwrap().first() {
        anyhow::bail!("a hunt could not complete: {e}");
    }
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(b, a)| (*b, a.first_seed));
    let bugs: Vec<BugHunt> = targets
        .iter()
        .enumerate()
        .map(|(b, (name, path, _))| {
            let attempts: Vec<Attempt> = results
                .iter()
                .filter(|(x, _)| *x == b)
                .map(|(_, a)| a.clone())
                .collect();
            let found = attempts.iter().filter(|a| a.found_seed.is_some()).count() as u64;
            let repro = attempts
                .iter()
                .find_map(|a| a.found_seed)
                .map(|seed| format!("faultline run {} --seed {seed}", path.display()));
            BugHunt {
                bug: name.clone(),
                scenario: path.display().to_string(),
                median_seeds: median_u64(attempts.iter().map(|a| a.seeds_run).collect()),
                median_wall_seconds: median_f64(attempts.iter().map(|a| a.wall_seconds).collect()),
                found,
                attempts,
                repro,
            }
        })
        .collect();
    println!("| bug | found | median seeds to detection | seeds per offset | median wall s | anomalies | repro |");
    println!("|---|---|---|---|---|---|---|");
    for hunt in &bugs {
        let per: Vec<String> = hunt
            .attempts
            .iter()
            .map(|a| {
                a.found_seed
                    .map_or(format!(">{}", a.seeds_run), |_| a.seeds_run.to_string())
            })
            .collect();
        let kinds: Vec<String> = hunt
            .attempts
            .iter()
            .flat_map(|a| a.anomalies.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        println!(
            "| {} | {}/{} | {} | {} | {:.2} | {} | `{}` |",
            hunt.bug,
            hunt.found,
            hunt.attempts.len(),
            hunt.median_seeds,
            per.join(" "),
            hunt.median_wall_seconds,
            kinds.join(", "),
            hunt.repro.as_deref().unwrap_or("-")
        );
    }
    let (clean_runs, clean_failures, clean_wall) = clean_run(&args, jobs)?;
    println!("clean broker: {clean_runs} runs over the catalog and negative scenarios with bugs off, {} with anomalies, {clean_wall:.1} s", clean_failures.len());
    for failure in &clean_failures {
        println!("  FALSE POSITIVE: {failure}");
    }
    let report = HuntReport {
        bugs,
        clean_runs,
        clean_failures,
        clean_wall_seconds: clean_wall,
    };
    std::fs::create_dir_all(&args.out)?;
    let json = serde_json::to_string_pretty(&report)?;
    faultline_reports::folder::write_atomically(&args.out.join("hunt.json"), |w| {
        w.write_all(json.as_bytes())
    })?;
    println!("hunt.json: {}", args.out.join("hunt.json").display());
    let missed = report.bugs.iter().any(|b| b.found == 0);
    Ok(if !report.clean_failures.is_empty() {
        EXIT_ANOMALY
    } else if missed {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_OK
    })
}

/// The clean broker over the catalog, plus every negative scenario with its bugs off.
fn clean_run(args: &HuntArgs, jobs: usize) -> anyhow::Result<(u64, Vec<String>, f64)> {
    if args.clean_seeds == 0 {
        return Ok((0, Vec::new(), 0.0));
    }
    let mut scenarios = Vec::new();
    // The catalog, except scenarios that document an expected loss (e.g. power loss with
    // fsync never): those are meant to fail on the clean broker.
    for file in scenario_files(std::slice::from_ref(&args.catalog))?
        .into_iter()
        .flatten()
    {
        let loaded = load_scenario(Some(Path::new(&file)))?;
        if loaded.scenario.checks.expect.is_empty() && loaded.scenario.bugs.enabled().is_empty() {
            scenarios.push(loaded);
        }
    }
    // With its bug off, a negative scenario is one more clean scenario.
    for file in scenario_files(std::slice::from_ref(&args.negative))?
        .into_iter()
        .flatten()
    {
        let mut loaded = load_scenario(Some(Path::new(&file)))?;
        loaded.scenario.bugs = PlantedBugs::default();
        loaded.scenario.checks.expect.clear();
        scenarios.push(loaded);
    }
    let started = Instant::now();
    let tasks: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|s| (1..=args.clean_seeds).map(move |seed| (s, seed)))
        .collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(s, seed)) = tasks.get(i) else {
                    return;
                };
                match execute(&scenarios[s], seed, String::new()) {
                    Ok(executed) if executed.report.verdict != Verdict::Valid => {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{} seed {seed}", scenarios[s].path));
                    }
                    Ok(_) => {}
                    Err(e) => errors
                        .lock()
                        .unwrap()
                        .push(format!("{} seed {seed}: {e}", scenarios[s].path)),
                }
            });
        }
    });
    if let Some(e) = errors.lock().unwrap().first() {
        anyhow::bail!("a clean run could not complete: {e}");
    }
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    Ok((
        tasks.len() as u64,
        failures,
        started.elapsed().as_secs_f64(),
    ))
}
