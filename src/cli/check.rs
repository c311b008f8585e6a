//! `faultline check HISTORY.jsonl`: check a history from any source.
//!
//! Two input formats (docs/history-format.md, docs/checkers.md): a Jepsen-shaped queue
//! history, which `faultline run` writes and the log, group and `--model log`
//! linearizability checkers read; and the plain register history, which
//! `--model register|kv` reads so published histories (Jepsen's etcd, Porcupine's
//! corpus) can be converted and checked. Exit codes: 0 valid, 1 anomaly, 2 bad usage or
//! input (a malformed line is named by number), 3 inconclusive.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use faultline_checker::history::History;
use faultline_checker::linearizable::{
    self, kv::KeyValue, queue_history, register::Register, register_history, LinearizableOptions,
};
use faultline_checker::{check_log, group, log::LogOptions, CheckReport, Verdict};

use super::execute::verdict_word;
use super::{UsageError, EXIT_ANOMALY, EXIT_INCONCLUSIVE, EXIT_OK};

/// Which checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Checker {
    /// Jepsen's Kafka queue anomalies over a Jepsen-shaped history.
    Log,
    /// Consumer-group semantics.
    Group,
    /// Linearizability against the model `--model` names.
    Linearizable,
    /// Kafka transactions (KIP-98): G0/G1b/G1c cycles, precommitted reads, zombie writes,
    /// offsets committed apart from their transaction's records.
    Txn,
    /// DeleteRecords and ListOffsets answers (KIP-107, KIP-79, KIP-734), assuming acks=all
    /// producers and, with `--final-reads`, reads to every partition's end.
    Admin,
}

/// The sequential model of `--checker linearizable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// Each partition of a queue history is a log (append → offset; read from an offset).
    Log,
    /// A plain register history with one key (read / write / cas).
    Register,
    /// A plain register history with several keys: a register per key.
    Kv,
}

/// How to print the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Verdicts, anomalies and statistics for a person.
    Text,
    /// The check reports as a JSON array, for tools.
    Json,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The history (JSON Lines).
    pub history: PathBuf,
    /// Checkers to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "log")]
    pub checker: Vec<Checker>,
    /// The linearizability model: `log` reads a queue history; `register` and `kv` read a
    /// plain register history. Default: `register` if it has one key, else `kv`.
    #[arg(long)]
    pub model: Option<Model>,
    /// The history ends with final reads, so an acknowledged write never read is an error.
    #[arg(long)]
    pub final_reads: bool,
    /// Consumers used a group (subscribe): positions may move between polls.
    #[arg(long)]
    pub subscribe: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The linearizability search's memory budget (cache, stacks; the history itself not
    /// counted), e.g. `512MiB`, `2GiB`, `1000000`; past it the verdict is unknown (exit 3).
    #[arg(long, value_parser = parse_bytes, default_value = "4GiB")]
    pub memory_budget: u64,
    /// The linearizability search's step limit per piece (call entries tried); past it
    /// the verdict is unknown (exit 3). Deterministic, unlike a time limit.
    #[arg(long, default_value_t = LinearizableOptions::default().max_steps)]
    pub max_steps: u64,
    /// Always search, even where a model can decide without (unique register writes).
    #[arg(long)]
    pub no_fast_path: bool,
}

/// `2GiB`, `512MiB`, `64KiB`, `1GB`, or a plain number of bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number of bytes, e.g. 2GiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "{other:?}: unit is B, KiB, MiB, GiB, TiB, kB, MB or GB"
            ))
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?}: too large"))
}

impl CheckArgs {
    /// Whether any checker reads the queue (Jepsen-shaped) format.
    fn reads_queue_history(&self) -> bool {
        self.checker
            .iter()
            .any(|c| *c != Checker::Linearizable || self.model == Some(Model::Log))
    }

    fn usage(&self, error: impl std::fmt::Display) -> UsageError {
        UsageError(format!("{}: {error}", self.history.display()))
    }

    fn open(&self) -> Result<BufReader<File>, UsageError> {
        File::open(&self.history)
            .map(BufReader::new)
            .map_err(|e| self.usage(e))
    }
}

/// Runs it.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let history = if args.reads_queue_history() {
        Some(History::read_jsonl(args.open()?).map_err(|e| args.usage(e))?)
    } else {
        None
    };
    let mut reports: Vec<CheckReport> = Vec::new();
    for checker in &args.checker {
        let report = match (checker, history.as_ref()) {
            (Checker::Log, Some(history)) => check_log(
                history,
                &LogOptions {
                    final_reads: args.final_reads,
                    subscribe: args.subscribe,
                    ..Default::default()
                },
            ),
            (Checker::Group, Some(history)) => group::check(history),
            (Checker::Txn, Some(history)) => {
                faultline_checker::txn::check(history, &Default::default())
            }
            (Checker::Admin, Some(history)) => faultline_checker::admin::check(
                history,
                &faultline_checker::admin::AdminOptions {
                    acks_all: true,
                    final_reads: args.final_reads,
                },
            ),
            (Checker::Linearizable, history) => linearizability(&args, history)?,
            (_, None) => unreachable!("queue checkers read the history above"),
        };
        reports.push(report);
    }
    match args.format {
        Format::Text => print_text(&reports),
        Format::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
    }
    let worst = reports
        .iter()
        .map(|r| r.verdict)
        .max()
        .unwrap_or(Verdict::Valid);
    Ok(match worst {
        Verdict::Valid => EXIT_OK,
        Verdict::Invalid => EXIT_ANOMALY,
        Verdict::Unknown => EXIT_INCONCLUSIVE,
    })
}

fn linearizability(args: &CheckArgs, history: Option<&History>) -> anyhow::Result<CheckReport> {
    let options = LinearizableOptions {
        memory_budget_bytes: args.memory_budget,
        max_steps: args.max_steps,
        fast_path: !args.no_fast_path,
        ..LinearizableOptions::default()
    };
    if args.model == Some(Model::Log) {
        let history = history.expect("--model log reads the queue history");
        return Ok(queue_history::check(history, &options));
    }
    let ops = register_history::read_jsonl(args.open()?).map_err(|e| args.usage(e))?;
    let single = register_history::single_register(&ops);
    Ok(match (args.model, single) {
        (Some(Model::Kv), _) | (None, None) => linearizable::check(&KeyValue, &ops, &options),
        (_, Some(single)) => linearizable::check(&Register, &single, &options),
        (Some(Model::Register), None) => {
            return Err(args
                .usage("the history has several keys; use --model kv")
                .into())
        }
        (Some(Model::Log), _) => unreachable!("handled above"),
    })
}

fn print_text(reports: &[CheckReport]) {
    for report in reports {
        println!(
            "{}: {}",
            report.checker,
            verdict_word(report.verdict).to_lowercase()
        );
        for anomaly in &report.anomalies {
            println!("  {} — {}", anomaly.kind, anomaly.description);
            println!("    ops {:?} · {}", anomaly.ops, anomaly.kind.definition());
        }
        if report.verdict == Verdict::Unknown {
            for reason in unknown_reasons(report) {
                println!("  unknown because {reason}");
            }
        }
        for (name, value) in &report.stats {
            println!("  {name}: {value}");
        }
    }
}

/// Why a linearizability report is `unknown`, in words, from its statistics.
fn unknown_reasons(report: &CheckReport) -> Vec<String> {
    let stat = |name: &str| report.stats.get(name).copied().unwrap_or(0);
    let mut reasons = Vec::new();
    if stat(linearizable::STAT_OUT_OF_MEMORY) > 0 {
        reasons.push(format!(
            "{} piece(s) would have grown the search past the memory budget of {} bytes \
             (--memory-budget)",
            stat(linearizable::STAT_OUT_OF_MEMORY),
            stat("memory budget bytes")
        ));
    }
    if stat(linearizable::STAT_OUT_OF_STEPS) > 0 {
        reasons.push(format!(
            "{} piece(s) reached the search's step limit",
            stat(linearizable::STAT_OUT_OF_STEPS)
        ));
    }
    if stat(linearizable::STAT_OUT_OF_TIME) > 0 {
        reasons.push(format!(
            "{} piece(s) reached the time limit",
            stat(linearizable::STAT_OUT_OF_TIME)
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("3GB"), Ok(3_000_000_000));
        assert!(parse_bytes("2 GiBs").is_err());
        assert!(parse_bytes("GiB").is_err());
        assert!(parse_bytes("99999999999TiB").is_err());
    }
}
