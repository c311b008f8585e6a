//! `faultline report <run-folder> [--format html|md|json|junit|text]`: re-render a run.
//!
//! File formats are rewritten in the folder (atomically); `text` prints to stdout.

use std::path::PathBuf;

use clap::Args;

use faultline_reports::Format;

use super::{UsageError, EXIT_OK};

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder.
    pub run: PathBuf,
    /// What to render: html, md, json, junit (written into the folder) or text (printed).
    #[arg(long, default_value = "html")]
    pub format: String,
}

/// Runs it.
pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let (report, history) = faultline_reports::read_run_folder(&args.run)
        .map_err(|e| UsageError(format!("{}: {e}", args.run.display())))?;
    if args.format == "text" {
        print!(
            "{}",
            faultline_reports::terminal::run_text(&report, &history)
        );
        return Ok(EXIT_OK);
    }
    let format: Format = args.format.parse().map_err(|_| {
        UsageError(format!(
            "unknown format {:?}; use html, md, json, junit or text",
            args.format
        ))
    })?;
    let rendered = format.render(&report, &history);
    let path = args.run.join(format.file_name());
    faultline_reports::folder::write_atomically(&path, |w| w.write_all(rendered.as_bytes()))?;
    println!("wrote {}", path.display());
    Ok(EXIT_OK)
}
