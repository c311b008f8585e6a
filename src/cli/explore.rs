//! `faultline explore`: many seeds of many scenarios, on all cores, within a seed range or
//! a time budget, deterministically sharded; writes a report folder per failure and a
//! summary (JSON, JUnit XML).
//!
//! One simulation never crosses threads; results are ordered by (scenario, seed), so the
//! summary is the same for any `--jobs` and, merged, for any sharding.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use faultline_checker::Verdict;
use faultline_reports::{RunSummaryRow, Summary};

use super::execute::{execute, load_scenario, write_folder, LoadedScenario};
use super::{UsageError, EXIT_ANOMALY, EXIT_INCONCLUSIVE, EXIT_OK};

/// Arguments of `explore`.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Scenario files or folders of them (default: the built-in smoke scenario).
    pub scenarios: Vec<PathBuf>,
    /// Seeds to run: `A..B` (B excluded) or `A..=B`.
    #[arg(long)]
    pub seeds: Option<String>,
    /// Run seeds 1, 2, 3, … until this much wall time has passed (e.g. `10m`, `90s`).
    #[arg(long)]
    pub time_budget: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (`K/N`, 1-based): the seeds with `seed % N == K - 1`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Keep going after the first failure (default: stop claiming new seeds).
    #[arg(long)]
    pub keep_going: bool,
    /// Where failure folders and the summary go.
    #[arg(long, default_value = "faultline-out/explore")]
    pub out: PathBuf,
    /// Swarm testing: each seed draws its own fault kinds, rates, workload mix and cluster
    /// size within each scenario's bounds (printed for failures, written to the run folder).
    #[arg(long, conflicts_with = "guided")]
    pub swarm: bool,
    /// Coverage-guided: fresh seeds run their swarm configuration; keep the runs that
    /// reached new coverage and spend runs mutating their fault schedules (shift, add,
    /// remove, retime, aim a fault at an event). Needs --seeds as the run budget.
    #[arg(long)]
    pub guided: bool,
    /// Switch on a planted bug in every scenario (e.g. to measure runs to detection);
    /// scenarios that expect anomalies (`checks.expect`) are then left out.
    #[arg(long)]
    pub bug: Vec<String>,
}

/// A shard of the seed space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index.
    pub index: u64,
    /// Shard count.
    pub count: u64,
}

impl Shard {
    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Shard, UsageError> {
        let bad = || {
            UsageError(format!(
                "--shard {text:?}: expected K/N with 1 ≤ K ≤ N, e.g. 2/8"
            ))
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// Whether this shard runs `seed`.
    pub fn owns(&self, seed: u64) -> bool {
        seed % self.count == self.index
    }
}

/// Parses `A..B` or `A..=B`.
pub fn parse_seeds(text: &str) -> Result<(u64, u64), UsageError> {
    let bad = || {
        UsageError(format!(
            "--seeds {text:?}: expected A..B or A..=B, e.g. 1..=1000"
        ))
    };
    let (start, end, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else {
        let (a, b) = text.split_once("..").ok_or_else(bad)?;
        (a, b, false)
    };
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end: u64 = end.trim().parse().map_err(|_| bad())?;
    let end = if inclusive {
        end.checked_add(1).ok_or_else(bad)?
    } else {
        end
    };
    if end <= start {
        return Err(bad());
    }
    Ok((start, end))
}

/// Expands folders into their `*.toml` files, sorted.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<Option<PathBuf>>, UsageError> {
    if paths.is_empty() {
        return Ok(vec![None]);
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| UsageError(format!("{}: {e}", path.display())))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            files.extend(found.into_iter().map(Some));
        } else {
            files.push(Some(path.clone()));
        }
    }
    Ok(files)
}

/// Runs it.
pub fn run(args: ExploreArgs) -> anyhow::Result<i32> {
    let files = scenario_files(&args.scenarios)?;
    let mut scenarios: Vec<LoadedScenario> = files
        .iter()
        .map(|f| load_scenario(f.as_deref()))
        .collect::<anyhow::Result<_>>()?;
    if !args.bug.is_empty() {
        scenarios.retain(|s| s.scenario.checks.expect.is_empty());
        for loaded in &mut scenarios {
            for bug in &args.bug {
                loaded.scenario.bugs.enable(bug).map_err(UsageError)?;
            }
        }
    }
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let seeds = args.seeds.as_deref().map(parse_seeds).transpose()?;
    let budget = args
        .time_budget
        .as_deref()
        .map(|t| faultline_sim::duration::parse(t).map_err(UsageError))
        .transpose()?;
    if seeds.is_none() && budget.is_none() {
        return Err(UsageError("give --seeds A..B, --time-budget, or both".into()).into());
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    println!(
        "exploring {} scenario(s) · seeds {} · {} job(s){}{}",
        scenarios.len(),
        match seeds {
            Some((a, b)) => format!("{a}..{b}"),
            None => "1..".into(),
        },
        jobs,
        shard
            .map(|s| format!(" · shard {}/{}", s.index + 1, s.count))
            .unwrap_or_default(),
        budget
            .map(|b| format!(" · budget {:.0}s", b.as_secs_f64()))
            .unwrap_or_default(),
    );
    let mode = if args.guided {
        Mode::Guided
    } else if args.swarm {
        Mode::Swarm
    } else {
        Mode::Uniform
    };
    let outcome = if mode == Mode::Guided {
        let (start, end) = seeds
            .ok_or_else(|| UsageError("--guided needs --seeds A..B (the run budget)".into()))?;
        super::guided::explore_guided(&scenarios, start, end, jobs, args.keep_going, &args.out)?
    } else {
        explore(
            &scenarios,
            Selection {
                seeds,
                shard,
                budget,
            },
            jobs,
            args.keep_going,
            &args.out,
            mode,
        )?
    };
    let coverage = outcome.coverage.len();
    let summary = Summary::from_rows(outcome.rows);
    std::fs::create_dir_all(&args.out)?;
    write_summary(&args.out, &summary)?;
    let totals = &summary.totals;
    println!(
        "{} runs in {:.1}s ({:.1} seeds/s): {} valid, {} invalid, {} unknown",
        totals.runs,
        outcome.wall.as_secs_f64(),
        totals.runs as f64 / outcome.wall.as_secs_f64().max(1e-9),
        totals.valid,
        totals.invalid,
        totals.unknown
    );
    for row in summary.failures() {
        println!(
            "  FAIL {} seed {}: {} → {}",
            row.scenario,
            row.seed,
            row.anomaly_kinds.join(", "),
            row.report_dir.as_deref().unwrap_or("-")
        );
        println!("       repro: {}", row.repro);
    }
    println!("coverage: {coverage} distinct points reached");
    println!("summary: {}", args.out.join("summary.json").display());
    Ok(if totals.invalid > 0 {
        EXIT_ANOMALY
    } else if totals.unknown > 0 {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_OK
    })
}

/// Writes `summary.json` and `junit.xml` atomically.
pub fn write_summary(dir: &Path, summary: &Summary) -> anyhow::Result<()> {
    let json = faultline_reports::json::summary_json(summary);
    let junit = faultline_reports::junit::summary_junit(summary);
    faultline_reports::folder::write_atomically(&dir.join("junit.xml"), |w| {
        w.write_all(junit.as_bytes())
    })?;
    faultline_reports::folder::write_atomically(&dir.join("summary.json"), |w| {
        w.write_all(json.as_bytes())
    })?;
    Ok(())
}

/// How seeds become runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each scenario as written, seed after seed.
    Uniform,
    /// Each seed draws its own configuration of the scenario.
    Swarm,
    /// Coverage-guided mutation of fault schedules.
    Guided,
}

/// What an exploration produced.
pub struct Explored {
    /// One row per run, ordered by (scenario, seed) or run order.
    pub rows: Vec<RunSummaryRow>,
    /// Wall time.
    pub wall: Duration,
    /// Every coverage point reached.
    pub coverage: std::collections::BTreeSet<String>,
}

/// Runs one scenario and seed; on failure writes its folder (with the effective
/// scenario, so it replays) and returns the folder's name.
pub fn run_one(
    loaded: &LoadedScenario,
    seed: u64,
    repro: String,
    out: &Path,
    label: &str,
) -> anyhow::Result<(super::execute::Executed, Option<String>)> {
    let executed = execute(loaded, seed, repro)?;
    let failed = executed.report.verdict != Verdict::Valid;
    let dir = failed.then(|| format!("{}/{label}", loaded.scenario.name));
    if let Some(dir) = &dir {
        write_folder(&out.join(dir), &executed, &loaded.scenario)?;
    }
    Ok((executed, dir))
}

/// The `i`-th work item: scenarios round-robin, seeds ascending.
fn item(
    i: u64,
    scenarios: usize,
    seeds: Option<(u64, u64)>,
    shard: Option<Shard>,
) -> Option<(usize, u64)> {
    let per_seed = scenarios as u64;
    let slot = i / per_seed;
    let scenario = (i % per_seed) as usize;
    let (start, end) = seeds.unwrap_or((1, u64::MAX));
    let seed = match shard {
        // The shard's seeds are start', start'+N, ...: the first seed ≥ start it owns.
        Some(s) => {
            let first = start + (s.index + s.count - start % s.count) % s.count;
            first.checked_add(slot.checked_mul(s.count)?)?
        }
        None => start.checked_add(slot)?,
    };
    (seed < end).then_some((scenario, seed))
}

/// Which seeds a run takes: a range (or all from 1), one shard of them, until a budget.
#[derive(Clone, Copy)]
struct Selection {
    seeds: Option<(u64, u64)>,
    shard: Option<Shard>,
    budget: Option<Duration>,
}

fn explore(
    scenarios: &[LoadedScenario],
    selection: Selection,
    jobs: usize,
    keep_going: bool,
    out: &Path,
    mode: Mode,
) -> anyhow::Result<Explored> {
    let Selection {
        seeds,
        shard,
        budget,
    } = selection;
    let started = Instant::now();
    let coverage = Mutex::new(std::collections::BTreeSet::new());
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let rows = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let total = seeds.map(|(a, b)| {
        let count = (a..b)
            .filter(|&s| shard.is_none_or(|sh| sh.owns(s)))
            .count() as u64;
        count * scenarios.len() as u64
    });
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} seeds · {per_sec} · ETA {eta} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("0 failures");
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) || budget.is_some_and(|b| started.elapsed() >= b) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((which, seed)) = item(i, scenarios.len(), seeds, shard) else {
                    return;
                };
                let written = &scenarios[which];
                let swarmed = (mode == Mode::Swarm)
                    .then(|| faultline_sim::swarm::swarm(&written.scenario, seed));
                let derived = swarmed
                    .as_ref()
                    .map(|s| super::execute::derived_scenario(written, s.scenario.clone()));
                let loaded = derived.as_ref().unwrap_or(written);
                let repro = match &swarmed {
                    Some(_) => format!(
                        "faultline run {}/{}/{seed}/scenario.toml --seed {seed}   (or: faultline explore {} --swarm --seeds {seed}..={seed})",
                        out.display(),
                        loaded.scenario.name,
                        written.path
                    ),
                    // `--bug` switched bugs on that the file may not name: the repro must too.
                    None => loaded.scenario.bugs.enabled().iter().fold(
                        format!("faultline run {} --seed {seed}", loaded.path),
                        |line, bug| format!("{line} --bug {bug}"),
                    ),
                };
                match run_one(loaded, seed, repro, out, &seed.to_string()) {
                    Ok((executed, dir)) => {
                        coverage.lock().unwrap().extend(executed.coverage.iter().cloned());
                        if dir.is_some() {
                            let n = failures.fetch_add(1, Ordering::Relaxed) + 1;
                            bar.set_message(format!("{n} failures"));
                            if let Some(s) = &swarmed {
                                bar.println(format!(
                                    "  swarm {} seed {seed}: {}",
                                    loaded.scenario.name, s.summary
                                ));
                            }
                            if !keep_going {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                        rows.lock()
                            .unwrap()
                            .push(RunSummaryRow::from_report(&executed.report, dir));
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap()
                        .push(format!("{} seed {seed}: {e}", loaded.scenario.name)),
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let errors = errors.into_inner().unwrap();
    if let Some(first) = errors.first() {
        anyhow::bail!("{} run(s) could not complete; first: {first}", errors.len());
    }
    Ok(Explored {
        rows: rows.into_inner().unwrap(),
        wall: started.elapsed(),
        coverage: coverage.into_inner().unwrap(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_seed_space() {
        let seeds = Some((1, 101));
        let all: Vec<(usize, u64)> = (0..).map_while(|i| item(i, 2, seeds, None)).collect();
        let mut sharded: Vec<(usize, u64)> = (1..=3)
            .flat_map(|k| {
                let shard = Shard::parse(&format!("{k}/3")).unwrap();
                (0..)
                    .map_while(move |i| item(i, 2, seeds, Some(shard)))
                    .collect::<Vec<_>>()
            })
            .collect();
        sharded.sort_by_key(|&(s, seed)| (seed, s));
        let mut expected = all.clone();
        expected.sort_by_key(|&(s, seed)| (seed, s));
        assert_eq!(sharded, expected);
        assert_eq!(all.len(), 200);
    }

    #[test]
    fn seed_ranges_and_shards_parse_or_explain() {
        assert_eq!(parse_seeds("1..=10").unwrap(), (1, 11));
        assert_eq!(parse_seeds("5..7").unwrap(), (5, 7));
        assert!(parse_seeds("7..5").is_err());
        assert!(Shard::parse("0/4").is_err());
        assert!(Shard::parse("5/4").is_err());
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 1, count: 4 });
    }
}
