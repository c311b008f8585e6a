//! Plain text for a terminal: what the CLI prints at the end of a run (`--format text`).
//!
//! The run's identity first (seed, scenario hash, versions), then each anomaly's headline
//! and evidence, and — on every failure — the exact rerun command last, where the eye
//! lands when the output stops (TigerBeetle's VOPR does the same). No colour codes: the
//! CLI decides whether its terminal wants them.

use std::fmt::Write;

use faultline_checker::history::History;
use faultline_checker::Verdict;

use crate::evidence::Evidence;
use crate::markdown::verdict_word;
use crate::run::RunReport;
use crate::summary::Summary;
use crate::text;

/// At most this many anomalies are printed; the run folder has them all.
const ANOMALY_LIMIT: usize = 20;
/// At most this many failing runs of a summary are printed.
const RUN_LIMIT: usize = 50;

/// The end-of-run text of one run.
pub fn run_text(report: &RunReport, history: &History) -> String {
    let evidence = Evidence::gather(report, history);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "faultline: {}  {}  seed {}",
        verdict_word(report.verdict).to_uppercase(),
        report.scenario.name,
        report.seed
    );
    let checks: Vec<String> = report
        .checks
        .iter()
        .map(|check| match check.anomalies.len() {
            0 => format!("{} {}", check.checker, verdict_word(check.verdict)),
            1 => format!(
                "{} {} (1 anomaly)",
                check.checker,
                verdict_word(check.verdict)
            ),
            n => format!(
                "{} {} ({n} anomalies)",
                check.checker,
                verdict_word(check.verdict)
            ),
        })
        .collect();
    let rows = [
        (
            "scenario",
            format!("{} (hash {})", report.scenario.path, report.scenario.hash),
        ),
        ("trace hash", report.trace_hash.clone()),
        (
            "faultline",
            format!(
                "{}, Cargo.lock {}",
                report.faultline_version, report.cargo_lock_hash
            ),
        ),
        (
            "time",
            format!(
                "{} simulated, {} wall",
                text::seconds_from_ms(report.simulated_ms),
                text::seconds_from_ms(report.wall_ms)
            ),
        ),
        ("checks", checks.join(", ")),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "  {name:<10} {value}");
    }
    if !evidence.anomalies.is_empty() {
        let _ = writeln!(out, "\nanomalies ({}):", evidence.anomalies.len());
    }
    for anomaly in evidence.anomalies.iter().take(ANOMALY_LIMIT) {
        let _ = writeln!(
            out,
            "  {}. {} ({}): {}\n     {}",
            anomaly.number,
            anomaly.anomaly.kind,
            anomaly.checker,
            anomaly.headline,
            anomaly.anomaly.description
        );
    }
    if evidence.anomalies.len() > ANOMALY_LIMIT {
        let _ = writeln!(
            out,
            "  ... and {} more; see the run folder",
            evidence.anomalies.len() - ANOMALY_LIMIT
        );
    }
    if report.verdict != Verdict::Valid {
        let _ = writeln!(out, "\nrerun: {}", report.repro);
    }
    out
}

/// The end-of-run text of many runs: totals, anomaly kinds, then each failing run with
/// its rerun command.
pub fn summary_text(summary: &Summary) -> String {
    let totals = &summary.totals;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "faultline: {} runs: {} valid, {} invalid, {} unknown",
        totals.runs, totals.valid, totals.invalid, totals.unknown
    );
    for (kind, runs) in &totals.runs_by_anomaly_kind {
        let plural = if *runs == 1 { "run" } else { "runs" };
        let _ = writeln!(out, "  {kind}: {runs} {plural}");
    }
    let failures: Vec<_> = summary.failures().collect();
    if failures.is_empty() {
        return out;
    }
    out.push_str("\nfailing runs:\n");
    for row in failures.iter().take(RUN_LIMIT) {
        let mut parts = vec![
            format!("{} seed {}", row.scenario, row.seed),
            verdict_word(row.verdict).to_string(),
        ];
        if !row.anomaly_kinds.is_empty() {
            parts.push(row.anomaly_kinds.join(", "));
        }
        parts.extend(row.report_dir.clone());
        let _ = writeln!(out, "  {}\n    rerun: {}", parts.join("  "), row.repro);
    }
    if failures.len() > RUN_LIMIT {
        let _ = writeln!(out, "  ... and {} more", failures.len() - RUN_LIMIT);
    }
    out
}
