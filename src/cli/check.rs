//! `faultline check HISTORY.jsonl`: check a history from any source.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use faultline_conformance::checker::linearizable::{
    self, register::Register, register_history, LinearizableOptions,
};
use faultline_conformance::checker::{check_log, group, log::LogOptions, CheckReport, Verdict};
use faultline_conformance::history::History;

use super::execute::verdict_word;
use super::{UsageError, EXIT_ANOMALY, EXIT_INCONCLUSIVE, EXIT_OK};

/// Which checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Checker {
    /// Jepsen's Kafka queue anomalies over a Jepsen-shaped history.
    Log,
    /// Consumer-group semantics.
    Group,
    /// Linearizability of a plain register history (docs/checkers.md).
    Linearizable,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The history (JSON Lines).
    pub history: PathBuf,
    /// Checkers to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "log")]
    pub checker: Vec<Checker>,
    /// The history ends with final reads, so an acknowledged write never read is an error.
    #[arg(long)]
    pub final_reads: bool,
    /// Consumers used a group (subscribe): positions may move between polls.
    #[arg(long)]
    pub subscribe: bool,
}

/// Runs it.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let open = || {
        File::open(&args.history)
            .map_err(|e| UsageError(format!("{}: {e}", args.history.display())))
    };
    let mut reports: Vec<CheckReport> = Vec::new();
    let needs_history = args.checker.iter().any(|c| *c != Checker::Linearizable);
    let history = if needs_history {
        Some(
            History::read_jsonl(BufReader::new(open()?))
                .map_err(|e| UsageError(format!("{}: {e}", args.history.display())))?,
        )
    } else {
        None
    };
    for checker in &args.checker {
        let report = match checker {
            Checker::Log => check_log(
                history.as_ref().expect("read above"),
                &LogOptions {
                    final_reads: args.final_reads,
                    subscribe: args.subscribe,
                    ..Default::default()
                },
            ),
            Checker::Group => group::check(history.as_ref().expect("read above")),
            Checker::Linearizable => {
                let ops = register_history::read_jsonl(BufReader::new(open()?))
                    .map_err(|e| UsageError(format!("{}: {e}", args.history.display())))?;
                match register_history::single_register(&ops) {
                    Some(single) => {
                        linearizable::check(&Register, &single, &LinearizableOptions::default())
                    }
                    None => linearizable::check(
                        &linearizable::kv::KeyValue,
                        &ops,
                        &LinearizableOptions::default(),
                    ),
                }
            }
        };
        reports.push(report);
    }
    let mut worst = Verdict::Valid;
    for report in &reports {
        println!(
            "{}: {}",
            report.checker,
            verdict_word(report.verdict).to_lowercase()
        );
        for anomaly in &report.anomalies {
            println!("  {} — {}", anomaly.kind, anomaly.description);
            println!("    ops {:?} · {}", anomaly.ops, anomaly.kind.definition());
        }
        for (name, value) in &report.stats {
            println!("  {name}: {value}");
        }
        worst = worst.max(report.verdict);
    }
    Ok(match worst {
        Verdict::Valid => EXIT_OK,
        Verdict::Invalid => EXIT_ANOMALY,
        Verdict::Unknown => EXIT_INCONCLUSIVE,
    })
}
