//! `faultline merge SUMMARY.json... --out DIR`: joins shard summaries into one, identical
//! to what one unsharded `explore` would have written.

use std::path::PathBuf;

use clap::Args;

use faultline_reports::Summary;

use super::explore::write_summary;
use super::{UsageError, EXIT_ANOMALY, EXIT_INCONCLUSIVE, EXIT_OK};

/// Arguments of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard summaries (`summary.json` files or the folders holding them).
    #[arg(required = true)]
    pub summaries: Vec<PathBuf>,
    /// Where the merged summary.json and junit.xml go.
    #[arg(long, default_value = "faultline-out/merged")]
    pub out: PathBuf,
}

/// Runs it.
pub fn run(args: MergeArgs) -> anyhow::Result<i32> {
    let mut parts = Vec::new();
    for path in &args.summaries {
        let file = if path.is_dir() {
            path.join("summary.json")
        } else {
            path.clone()
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| UsageError(format!("{}: {e}", file.display())))?;
        let summary = faultline_reports::json::parse_summary(&text, &file.display().to_string())
            .map_err(|e| UsageError(e.to_string()))?;
        parts.push(summary);
    }
    let merged = Summary::merge(parts);
    std::fs::create_dir_all(&args.out)?;
    write_summary(&args.out, &merged)?;
    let t = &merged.totals;
    println!(
        "merged {} summaries: {} runs, {} valid, {} invalid, {} unknown → {}",
        args.summaries.len(),
        t.runs,
        t.valid,
        t.invalid,
        t.unknown,
        args.out.join("summary.json").display()
    );
    Ok(if t.invalid > 0 {
        EXIT_ANOMALY
    } else if t.unknown > 0 {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_OK
    })
}
