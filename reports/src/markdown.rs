//! `summary.md`: the run in Markdown, written to the run folder and fit to paste into a
//! GitHub step summary (`$GITHUB_STEP_SUMMARY`) or a merge request comment.
//!
//! Verdict, seed, scenario and trace hash first, then the rerun command, then each
//! anomaly with its evidence, then checks, faults and cluster events. Long lists are cut
//! (GitHub caps a step summary at 1 MiB); `report.html` has everything. Every string from
//! the run is escaped: a description may hold `|`, `*` or `<` from a broker under test.

use std::fmt::Write;

use faultline_checker::history::History;
use faultline_checker::Verdict;

use crate::evidence::{AnomalyEvidence, Evidence};
use crate::run::RunReport;
use crate::summary::Summary;
use crate::text;

/// At most this many anomalies are written out in full.
const ANOMALY_LIMIT: usize = 50;
/// At most this many rows of faults, events or runs.
const ROW_LIMIT: usize = 100;

/// The `summary.md` of one run.
pub fn run_markdown(report: &RunReport, history: &History) -> String {
    let evidence = Evidence::gather(report, history);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} faultline: {} — {} seed {}\n",
        verdict_mark(report.verdict),
        verdict_word(report.verdict),
        code(&report.scenario.name),
        report.seed
    );
    write_identity(&mut out, report);
    let _ = writeln!(out, "**Rerun:**\n\n{}", fenced("sh", &report.repro));
    write_anomalies(&mut out, &evidence.anomalies);
    write_checks(&mut out, report);
    write_faults(&mut out, &evidence);
    write_events(&mut out, report);
    write_stats(&mut out, report);
    out
}

/// The Markdown of many runs: totals, then every run that did not pass.
pub fn summary_markdown(summary: &Summary) -> String {
    let totals = &summary.totals;
    let mut out = String::new();
    let worst = if totals.invalid > 0 {
        Verdict::Invalid
    } else if totals.unknown > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let _ = writeln!(
        out,
        "## {} faultline: {} runs, {} valid, {} invalid, {} unknown\n",
        verdict_mark(worst),
        totals.runs,
        totals.valid,
        totals.invalid,
        totals.unknown
    );
    if !totals.runs_by_anomaly_kind.is_empty() {
        out.push_str("| Anomaly | Runs |\n|---|---:|\n");
        for (kind, runs) in &totals.runs_by_anomaly_kind {
            let _ = writeln!(out, "| {} | {runs} |", cell(kind));
        }
        out.push('\n');
    }
    let failures: Vec<_> = summary.failures().collect();
    if failures.is_empty() {
        return out;
    }
    out.push_str(
        "| Scenario | Seed | Verdict | Anomalies | Report | Rerun |\n|---|---:|---|---|---|---|\n",
    );
    for row in failures.iter().take(ROW_LIMIT) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&row.scenario),
            row.seed,
            verdict_word(row.verdict),
            cell(&row.anomaly_kinds.join(", ")),
            row.report_dir.as_deref().map(code).unwrap_or_default(),
            code(&row.repro)
        );
    }
    out.push('\n');
    cut_note(&mut out, failures.len(), ROW_LIMIT, "failing runs");
    out
}

fn write_identity(out: &mut String, report: &RunReport) {
    let scenario = &report.scenario;
    let rows = [
        ("Verdict", format!("**{}**", verdict_word(report.verdict))),
        (
            "Scenario",
            format!("{} ({})", code(&scenario.name), code(&scenario.path)),
        ),
        ("Scenario hash", code(&scenario.hash)),
        ("Seed", code(&report.seed.to_string())),
        ("Trace hash", code(&report.trace_hash)),
        (
            "faultline",
            format!(
                "{}, Cargo.lock {}",
                code(&report.faultline_version),
                code(&report.cargo_lock_hash)
            ),
        ),
        (
            "Time",
            format!(
                "{} simulated, {} wall",
                text::seconds_from_ms(report.simulated_ms),
                text::seconds_from_ms(report.wall_ms)
            ),
        ),
    ];
    out.push_str("| | |\n|---|---|\n");
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out.push('\n');
}

fn write_anomalies(out: &mut String, anomalies: &[AnomalyEvidence]) {
    if anomalies.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Anomalies ({})\n", anomalies.len());
    for evidence in anomalies.iter().take(ANOMALY_LIMIT) {
        let anomaly = evidence.anomaly;
        let key = anomaly
            .key
            .map(|k| format!(", key {k}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "#### {}. {} ({}){key}\n\n**{}**\n\nEvidence: {}\n",
            evidence.number,
            escape(&anomaly.kind.to_string()),
            escape(evidence.checker),
            escape(&evidence.headline),
            escape(&anomaly.description)
        );
        for op in &evidence.ops {
            let faults = if op.faults.is_empty() {
                String::new()
            } else {
                format!(" — faults: {}", escape(&op.faults.join(", ")))
            };
            let _ = writeln!(out, "- {}{faults}", escape(&op.line));
        }
        let _ = writeln!(
            out,
            "\n_Definition: {}_\n",
            escape(anomaly.kind.definition())
        );
    }
    cut_note(out, anomalies.len(), ANOMALY_LIMIT, "anomalies");
}

fn write_checks(out: &mut String, report: &RunReport) {
    if report.checks.is_empty() {
        return;
    }
    out.push_str("### Checks\n\n| Checker | Verdict | Anomalies | Stats |\n|---|---|---:|---|\n");
    for check in &report.checks {
        let stats: Vec<String> = check
            .stats
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&check.checker),
            verdict_word(check.verdict),
            check.anomalies.len(),
            cell(&stats.join(", "))
        );
    }
    out.push('\n');
}

fn write_faults(out: &mut String, evidence: &Evidence) {
    if evidence.faults.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Faults ({})\n\n| Fault | Start | End | Detail |\n|---|---:|---:|---|",
        evidence.faults.len()
    );
    for fault in evidence.faults.iter().take(ROW_LIMIT) {
        let end = fault
            .end_ns
            .map(text::seconds)
            .unwrap_or_else(|| "never healed".to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {end} | {} |",
            cell(&fault.label()),
            text::seconds(fault.start_ns),
            cell(&fault.detail)
        );
    }
    out.push('\n');
    cut_note(out, evidence.faults.len(), ROW_LIMIT, "faults");
}

fn write_events(out: &mut String, report: &RunReport) {
    if report.events.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Cluster events ({})\n\n| Time | Node | Event | Description |\n|---:|---|---|---|",
        report.events.len()
    );
    for event in report.events.iter().take(ROW_LIMIT) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            text::seconds(event.time_ns),
            cell(&event.node),
            cell(&event.kind),
            cell(&event.description)
        );
    }
    out.push('\n');
    cut_note(out, report.events.len(), ROW_LIMIT, "events");
}

fn write_stats(out: &mut String, report: &RunReport) {
    if report.stats.is_empty() {
        return;
    }
    out.push_str("### Stats\n\n| Stat | Value |\n|---|---:|\n");
    for (name, value) in &report.stats {
        let _ = writeln!(out, "| {} | {value} |", cell(name));
    }
    out.push('\n');
}

/// Ends a table or list, saying how many rows were left out.
fn cut_note(out: &mut String, total: usize, limit: usize, what: &str) {
    if total > limit {
        let _ = writeln!(
            out,
            "\n_… and {} more {what}; see report.html._",
            total - limit
        );
    }
    out.push('\n');
}

fn verdict_mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "✅",
        Verdict::Invalid => "❌",
        Verdict::Unknown => "❔",
    }
}

/// The verdict as `report.json` spells it.
pub(crate) fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "valid",
        Verdict::Invalid => "invalid",
        Verdict::Unknown => "unknown",
    }
}

/// Escapes Markdown punctuation (CommonMark lets any ASCII punctuation be escaped with a
/// backslash) and folds newlines, so run data never becomes markup. `#` and `!` are left
/// alone: escaped text never starts a line, and `!` only matters before an escaped `[`.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text for a table cell.
pub(crate) fn cell(text: &str) -> String {
    escape(text)
}

/// An inline code span that holds `text` verbatim, whatever backticks it contains.
pub(crate) fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    let fence = "`".repeat(longest_backtick_run(&text) + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// A fenced code block that holds `text` verbatim.
pub(crate) fn fenced(language: &str, text: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(text) + 1).max(3));
    format!("{fence}{language}\n{text}\n{fence}\n")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_data_never_becomes_markup() {
        assert_eq!(escape("a|b *c* <x>\nd"), "a\\|b \\*c\\* \\<x\\> d");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(fenced("sh", "a ``` b"), "````sh\na ``` b\n````\n");
    }
}
