//! Subcommands, one file each, and the dispatch between them.

/// `print!` and `println!` for every subcommand: std's panic when stdout is gone, and
/// `faultline explore … | head` must not lose the run's reports for it. Output to a
/// closed pipe is dropped and the command goes on; its exit code still says the verdict.
macro_rules! print {
    ($($arg:tt)*) => { $crate::cli::write_stdout(format_args!($($arg)*)) };
}

/// See [`print!`].
macro_rules! println {
    () => { print!("\n") };
    ($($arg:tt)*) => { print!("{}\n", format_args!($($arg)*)) };
}

mod certify;
mod check;
mod cluster;
mod execute;
mod explore;
mod guided;
mod hunt;
mod merge;
mod replay;
mod report;
mod run;
mod serve;
mod shrink;

use clap::{Parser, Subcommand};

/// Deterministic simulation and conformance harness for Kafka-protocol brokers.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario with one seed, check it, and write a report folder.
    Run(run::RunArgs),
    /// Rerun a recorded run and confirm it reproduces the same trace hash.
    Replay(replay::ReplayArgs),
    /// Check a history from any source.
    Check(check::CheckArgs),
    /// Re-render a run folder's report.
    Report(report::ReportArgs),
    /// Run many seeds of many scenarios on all cores, in a seed range or a time budget.
    Explore(explore::ExploreArgs),
    /// Join shard summaries into one.
    Merge(merge::MergeArgs),
    /// Measure how fast each planted bug is found, and check the clean broker stays clean.
    Hunt(hunt::HuntArgs),
    /// Minimize a failing run into a regression scenario.
    Shrink(shrink::ShrinkArgs),
    /// Serve the reference broker on real TCP.
    Serve(serve::ServeArgs),
    /// The reference cluster as real processes (a controller and one per broker) with
    /// file-backed storage.
    Cluster(cluster::ClusterArgs),
    /// Certify a Kafka-protocol broker over real TCP: protocol suite, live faults,
    /// certificate.
    Certify(certify::CertifyArgs),
}

/// Exit code: every check held.
pub const EXIT_OK: i32 = 0;
/// Exit code: an anomaly was found.
pub const EXIT_ANOMALY: i32 = 1;
/// Exit code: bad usage or input.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: inconclusive.
pub const EXIT_INCONCLUSIVE: i32 = 3;

/// Writes to stdout; a reader that went away (EPIPE) silences the rest of the output, any
/// other failure is said once on stderr.
fn write_stdout(text: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static GONE: AtomicBool = AtomicBool::new(false);
    if GONE.load(Ordering::Relaxed) {
        return;
    }
    if let Err(error) = std::io::stdout().lock().write_fmt(text) {
        GONE.store(true, Ordering::Relaxed);
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("faultline: standard output failed ({error}); the rest is not printed");
        }
    }
}

/// Parses the command line and runs the subcommand; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Check(args) => check::run(args),
        Command::Report(args) => report::run(args),
        Command::Explore(args) => explore::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Hunt(args) => hunt::run(args),
        Command::Shrink(args) => shrink::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Certify(args) => certify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            e.downcast_ref::<UsageError>()
                .map_or(EXIT_INCONCLUSIVE, |_| EXIT_USAGE)
        }
    }
}

/// An error in what the user gave us: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
