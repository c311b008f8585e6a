//! `faultline certify --target TARGET.toml [--scenario S.toml] [--duration D] [--seed N]`:
//! certify a Kafka-protocol broker over real TCP — the protocol suite, then the
//! simulation's workload and checkers under live faults — and write a certificate
//! (Markdown, JSON, HTML) with the evidence for every FAIL.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use faultline_conformance::certify::live::{LiveFault, LivePlan, LiveTrigger};
use faultline_conformance::certify::live_trigger::{LiveEvent, LiveTarget};
use faultline_conformance::certify::live_txn::LiveTxn;
use faultline_conformance::certify::model_based::{Budget, CaseFile, ModelOptions};
use faultline_conformance::certify::process::CommandContext;
use faultline_conformance::certify::session::{certify, replay_case, CertifyOptions};
use faultline_conformance::certify::suite::Suite;
use faultline_conformance::certify::target::Target;
use faultline_conformance::certify::Status;
use faultline_sim::nemesis::trigger::{draw_triggers, Trigger, TriggerAction, TriggerEvent};
use faultline_sim::nemesis::FaultKind;
use faultline_sim::txn_workload::Isolation;
use faultline_sim::Scenario;
use faultline_workload::workload::WorkloadConfig;

use super::{UsageError, EXIT_ANOMALY, EXIT_OK};

/// Arguments of `certify`.
#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// The target file: the broker's nodes and how to start, kill, pause and restart them.
    #[arg(long)]
    pub target: PathBuf,
    /// A scenario file whose workload and fault mix to use (faults are mapped to live
    /// ones: isolations → partition, loss → black-hole, latency, crash/power-loss → crash,
    /// pause; disk and clock faults have no live form and are left out).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// How long the fault workload runs (default 30s, or the scenario's duration).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The seed of the workload's and the nemesis's choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Live faults to draw from (repeatable; default: the scenario's, or all of
    /// partition, black-hole, latency, reset, pause, crash, peer-partition; also
    /// replica-partition and correlated-crash).
    #[arg(long = "fault", value_name = "KIND", value_parser = parse_fault)]
    pub faults: Vec<LiveFault>,
    /// Protocol suites to run (repeatable: api, produce-fetch, groups, idempotence,
    /// transactions, model; default all).
    #[arg(long = "suite", value_name = "NAME", value_parser = parse_suite)]
    pub suites: Vec<Suite>,
    /// Let seeded fault windows overlap: now and then a second fault starts inside the
    /// first one's window (also the scenario's `[faults] overlap = true`).
    #[arg(long)]
    pub overlap: bool,
    /// Skip the protocol suites.
    #[arg(long)]
    pub no_suites: bool,
    /// Skip the fault workload.
    #[arg(long)]
    pub no_faults: bool,
    /// Where the certificate folder goes.
    #[arg(long, default_value = "faultline-certificates")]
    pub out: PathBuf,
    /// The model-based suite: generated sequences (cases) per API family.
    #[arg(long, default_value_t = 100)]
    pub cases: u32,
    /// The model-based suite: time per API family (no new case starts after it;
    /// shrinking a failure gets as much again).
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub model_duration: Duration,
    /// Replay one model-based case file (`case-*.json` from a certificate folder) against
    /// the target, exactly, instead of certifying.
    #[arg(long, value_name = "CASE.json")]
    pub replay: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    faultline_sim::duration::parse(text)
}

fn parse_fault(text: &str) -> Result<LiveFault, String> {
    LiveFault::ALL
        .into_iter()
        .find(|f| f.name() == text)
        .ok_or_else(|| {
            format!(
                "unknown live fault {text:?}; expected one of {}",
                LiveFault::ALL.map(|f| f.name()).join(", ")
            )
        })
}

fn parse_suite(text: &str) -> Result<Suite, String> {
    Suite::ALL
        .into_iter()
        .find(|s| s.name() == text)
        .ok_or_else(|| {
            format!(
                "unknown suite {text:?}; expected one of {}",
                Suite::ALL.map(|s| s.name()).join(", ")
            )
        })
}

/// The live form of a simulated fault kind, if it has one.
fn live_fault(kind: FaultKind) -> Option<LiveFault> {
    match kind {
        FaultKind::Isolate
        | FaultKind::IsolateLeader
        | FaultKind::IsolateController
        | FaultKind::Halves
        | FaultKind::Bridge
        | FaultKind::OneWay => Some(LiveFault::Partition),
        FaultKind::Loss => Some(LiveFault::BlackHole),
        FaultKind::Latency => Some(LiveFault::Latency),
        FaultKind::Crash | FaultKind::PowerLoss => Some(LiveFault::Crash),
        FaultKind::Pause => Some(LiveFault::Pause),
        FaultKind::DiskError | FaultKind::ClockSkew => None,
    }
}

/// The default live plan: two producers with acks=all, one assigning consumer and two
/// group members, 30 s of every live fault.
fn default_plan(seed: u64) -> LivePlan {
    LivePlan {
        workload: WorkloadConfig {
            topic: String::new(),
            partitions: 0,
            acks: -1,
            send_interval: Duration::from_millis(50),
            poll_interval: Duration::from_millis(100),
            request_timeout: Duration::from_secs(2),
            final_read_timeout: Duration::from_secs(30),
            idempotent: false,
            member_crashes: false,
            replay_interval: None,
            start_offsets: Default::default(),
            log_start_moves: false,
            batch: Default::default(),
        },
        producers: 2,
        consumers: 1,
        group_consumers: 2,
        group: "faultline-certify".into(),
        duration: Duration::from_secs(30),
        recovery: Duration::from_secs(5),
        faults: LiveFault::DEFAULT.to_vec(),
        fault_interval: Duration::from_secs(4),
        fault_duration: Duration::from_secs(3),
        seed,
        overlap: false,
        triggers: Vec::new(),
        txn: None,
    }
}

fn scenario_plan(scenario: &Scenario, seed: u64) -> LivePlan {
    let w = &scenario.workload;
    let mut faults: Vec<LiveFault> = scenario
        .faults
        .kinds
        .iter()
        .chain(scenario.faults.schedule.iter().map(|window| &window.kind))
        .filter_map(|&k| live_fault(k))
        .collect();
    faults.sort();
    faults.dedup();
    // `faults.triggered = N`: N random triggers, from their own stream as in the simulation.
    let drawn = draw_triggers(
        &mut faultline_workload::seed::stream(seed, "certify/nemesis/drawn-triggers"),
        &scenario.faults.kinds,
        scenario.faults.triggered,
        scenario.faults.fault_duration.as_millis(),
    );
    LivePlan {
        workload: WorkloadConfig {
            topic: String::new(),
            partitions: 0,
            acks: w.acks.wire(),
            send_interval: w.send_interval.0,
            poll_interval: w.poll_interval.0,
            request_timeout: w.request_timeout.0,
            final_read_timeout: w.final_read_timeout.0,
            idempotent: w.idempotent,
            member_crashes: w.member_crashes,
            replay_interval: w.replay_interval.map(|i| i.0),
            start_offsets: Default::default(),
            log_start_moves: false,
            batch: faultline_workload::workload::BatchShape {
                batch_size: w.batch_size,
                compression: w.compression.wire(),
                headers: w.headers,
                max_in_flight: w.max_in_flight,
            },
        },
        producers: w.producers,
        consumers: w.consumers,
        group_consumers: w.group_consumers,
        group: w.group.clone(),
        duration: scenario.duration.0,
        recovery: scenario.recovery.0,
        faults,
        fault_interval: scenario.faults.interval.0,
        fault_duration: scenario.faults.fault_duration.0,
        seed,
        // The transactions the simulation would run from the same table.
        txn: w.txn.as_ref().map(|t| LiveTxn {
            config: t.config(&w.group),
            offsets: t.offsets,
            fencing: t.fencing,
            read_committed: t.isolation == Isolation::ReadCommitted,
        }),
        overlap: scenario.faults.overlap,
        triggers: scenario
            .faults
            .trigger
            .iter()
            .chain(&drawn)
            .map(live_trigger)
            .collect(),
    }
}

/// The live form of a scenario's `[[faults.trigger]]`: the same event, target, delay,
/// duration, count and `after` (a `restart` is a crash with its short window; a
/// power loss is a crash, which the target's storage makes one; an isolation cuts the
/// broker off from its peers and controller).
fn live_trigger(trigger: &Trigger) -> LiveTrigger {
    LiveTrigger {
        on: match trigger.on {
            TriggerEvent::LeaderElected => LiveEvent::LeaderElected,
            TriggerEvent::IsrShrink => LiveEvent::IsrShrink,
            TriggerEvent::IsrExpand => LiveEvent::IsrExpand,
            TriggerEvent::BrokerRestart => LiveEvent::BrokerRestart,
            TriggerEvent::Truncation => LiveEvent::Truncation,
            TriggerEvent::ControllerChange => LiveEvent::ControllerChange,
            TriggerEvent::TxnEnd => LiveEvent::TxnEnd,
            TriggerEvent::TxnCommit => LiveEvent::TxnCommit,
            TriggerEvent::IsrProposed => LiveEvent::IsrProposed,
            TriggerEvent::RecordsDeleted => LiveEvent::RecordsDeleted,
        },
        fault: match trigger.action {
            TriggerAction::Crash | TriggerAction::Restart | TriggerAction::PowerLoss => {
                LiveFault::Crash
            }
            TriggerAction::Pause => LiveFault::Pause,
            TriggerAction::Isolate => LiveFault::PeerPartition,
        },
        target: LiveTarget::parse(&trigger.target),
        delay_min: Duration::from_millis(trigger.delay.min.as_millis()),
        delay_max: Duration::from_millis(trigger.delay.max.as_millis()),
        duration: Duration::from_millis(trigger.duration.as_millis()),
        times: trigger.times,
        after: Duration::from_millis(trigger.after.as_millis()),
        partition: trigger
            .partition
            .as_deref()
            .and_then(|p| p.rsplit_once('-'))
            .and_then(|(_, index)| index.parse().ok()),
    }
}

/// RFC 3339 UTC for a Unix time (civil-from-days, H. Hinnant's algorithm).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

fn slug(name: &str) -> String {
    let mut slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    slug.trim_matches('-').to_string()
}

/// Runs it.
pub fn run(args: CertifyArgs) -> anyhow::Result<i32> {
    let target = Target::load(&args.target).map_err(|e| UsageError(e.to_string()))?;
    if let Some(case) = &args.replay {
        return replay(&args, &target, case);
    }
    let mut plan = match &args.scenario {
        Some(path) => {
            let scenario = Scenario::load(path).map_err(|e| UsageError(e.to_string()))?;
            scenario_plan(&scenario, args.seed)
        }
        None => default_plan(args.seed),
    };
    if let Some(duration) = args.duration {
        plan.duration = duration;
    }
    if !args.faults.is_empty() {
        plan.faults = args.faults.clone();
    }
    plan.overlap |= args.overlap;
    let suites = if args.no_suites {
        Vec::new()
    } else if args.suites.is_empty() {
        Suite::ALL.to_vec()
    } else {
        args.suites.clone()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let out = args.out.join(slug(&target.name));
    let mut rerun = format!(
        "faultline certify --target {} --seed {} --duration {}ms",
        args.target.display(),
        args.seed,
        plan.duration.as_millis()
    );
    if let Some(path) = &args.scenario {
        rerun.push_str(&format!(" --scenario {}", path.display()));
    }
    for fault in &args.faults {
        rerun.push_str(&format!(" --fault {}", fault.name()));
    }
    for suite in &args.suites {
        rerun.push_str(&format!(" --suite {}", suite.name()));
    }
    if args.overlap {
        rerun.push_str(" --overlap");
    }
    if args.no_suites {
        rerun.push_str(" --no-suites");
    }
    if args.no_faults {
        rerun.push_str(" --no-faults");
    }
    if args.cases != 100 {
        rerun.push_str(&format!(" --cases {}", args.cases));
    }
    if args.model_duration != Duration::from_secs(15) {
        rerun.push_str(&format!(
            " --model-duration {}ms",
            args.model_duration.as_millis()
        ));
    }
    let run_tag = format!("{:x}", (now.as_nanos() as u64 ^ args.seed) & 0xff_ffff);
    let mut model = ModelOptions::live(args.seed, &run_tag);
    model.budget = Budget {
        cases: args.cases,
        duration: Some(args.model_duration),
        ..Budget::default()
    };
    model.target_name = target.name.clone();
    model.replay_prefix = format!(
        "faultline certify --target {} --replay {}/",
        args.target.display(),
        out.display()
    );
    // The nodes append to their logs across restarts within one certification; a new
    // certification into the same folder starts them empty, so the logs a certificate
    // ships are of its own run only.
    let log_dir = out.join("logs");
    if log_dir.exists() {
        std::fs::remove_dir_all(&log_dir)?;
    }
    let options = CertifyOptions {
        suites,
        plan: (!args.no_faults).then_some(plan),
        context: CommandContext {
            faultline: std::env::current_exe()?,
            log_dir,
        },
        rerun,
        started_at: rfc3339(now.as_secs()),
        run_tag,
        model,
    };
    println!(
        "faultline {} · certifying {} ({} node{}) · seed {}",
        env!("CARGO_PKG_VERSION"),
        target.name,
        target.nodes.len(),
        if target.nodes.len() == 1 { "" } else { "s" },
        args.seed
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let certified = runtime.block_on(certify(&target, &options))?;
    let certificate = &certified.certificate;
    faultline_reports::certificate::write_certificate_folder(
        &out,
        certificate,
        certified.history.as_ref(),
    )?;
    // Case files of an earlier run in this folder are stale.
    if let Ok(entries) = std::fs::read_dir(&out) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("case-") && name.ends_with(".json") {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    for case in &certified.model_cases {
        let path = out.join(case.file_name());
        std::fs::write(&path, serde_json::to_string_pretty(case)?)?;
    }
    for property in &certificate.properties {
        println!(
            "  {:<14} {:<48} {}",
            property.status.label(),
            property.id,
            property.title
        );
    }
    println!(
        "certificate: {} · {} PASS · {} FAIL · {} NOT APPLICABLE · {:.1} s",
        certificate.verdict().label(),
        certificate.count(Status::Pass),
        certificate.count(Status::Fail),
        certificate.count(Status::NotApplicable),
        certificate.elapsed_ms as f64 / 1000.0
    );
    println!(
        "  written to {}/certificate.{{md,json,html}}",
        out.display()
    );
    println!("  rerun: {}", certificate.rerun);
    Ok(match certificate.verdict() {
        Status::Fail => EXIT_ANOMALY,
        _ => EXIT_OK,
    })
}

/// `--replay CASE.json`: the case's requests once against the target, every request and
/// response printed, and whether the model's violation reproduced (exit 1) or not (0).
fn replay(args: &CertifyArgs, target: &Target, case: &Path) -> anyhow::Result<i32> {
    let file = CaseFile::load(case).map_err(|e| UsageError(e.to_string()))?;
    println!(
        "faultline {} · replaying {} ({}, {} ops, seed {}) against {}",
        env!("CARGO_PKG_VERSION"),
        case.display(),
        file.property,
        file.case.ops.len(),
        file.seed,
        target.name
    );
    println!(
        "  recorded violation: {}: {}",
        file.violation.rule, file.violation.message
    );
    let out = args.out.join(slug(&target.name));
    let context = CommandContext {
        faultline: std::env::current_exe()?,
        log_dir: out.join("logs"),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let tag = format!("replay{:x}", now.as_nanos() as u64 & 0xff_ffff);
    let run_context = ModelOptions::live(file.seed, &tag).context;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let replayed = runtime
        .block_on(replay_case(target, context, &file, run_context))
        .map_err(anyhow::Error::msg)?;
    if let Some(why) = &replayed.not_applicable {
        println!("not applicable: {why}");
        return Ok(EXIT_OK);
    }
    for exchange in &replayed.exchanges {
        println!(
            "  → {} v{} {}",
            exchange.api, exchange.version, exchange.request
        );
        println!("    ← {}", exchange.response);
    }
    Ok(match &replayed.violation {
        Some(v) => {
            println!(
                "violation reproduced: {} ({}): {}",
                v.rule, v.citation, v.message
            );
            EXIT_ANOMALY
        }
        None => {
            println!("no violation: every response was one the model allows");
            EXIT_OK
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("Tansu 0.6.0 (sqlite://)"), "tansu-0-6-0-sqlite");
    }
}
