//! Many runs at a glance: one row per (scenario, seed), for `explore`, `hunt` and `merge`.
//!
//! A [`Summary`] keeps only what is needed to find the interesting runs again — verdict,
//! trace hash, anomaly kinds and where the full run folder was written — so that shards
//! of thousands of seeds merge into one small file.

use std::collections::BTreeMap;

use faultline_checker::Verdict;
use serde::{Deserialize, Serialize};

use crate::run::RunReport;

/// The result of many runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// One row per run, in the order they were added (sort before merging for a stable
    /// file: [`Summary::from_rows`] does).
    pub runs: Vec<RunSummaryRow>,
    /// Counts over `runs`.
    pub totals: Totals,
}

/// One run, reduced to what finds it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummaryRow {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The run's verdict.
    pub verdict: Verdict,
    /// Hex hash of the run's event log, to check a rerun replays the same run.
    pub trace_hash: String,
    /// The distinct anomaly kinds found, sorted (e.g. `lost-write`).
    pub anomaly_kinds: Vec<String>,
    /// Where the run's folder was written, if it was (usually only failing runs keep one).
    pub report_dir: Option<String>,
    /// The exact command that reruns this run.
    #[serde(default)]
    pub repro: String,
}

/// Counts over the rows of a [`Summary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Rows.
    pub runs: u64,
    /// Rows whose verdict is `valid`.
    pub valid: u64,
    /// Rows whose verdict is `invalid`.
    pub invalid: u64,
    /// Rows whose verdict is `unknown`.
    pub unknown: u64,
    /// How many runs found each anomaly kind (a run counts once per kind).
    pub runs_by_anomaly_kind: BTreeMap<String, u64>,
}

impl RunSummaryRow {
    /// The row of one run; `report_dir` is where its folder was written, if anywhere.
    pub fn from_report(report: &RunReport, report_dir: Option<String>) -> RunSummaryRow {
        let mut anomaly_kinds: Vec<String> = report
            .anomalies()
            .map(|(_, anomaly)| anomaly.kind.to_string())
            .collect();
        anomaly_kinds.sort();
        anomaly_kinds.dedup();
        RunSummaryRow {
            scenario: report.scenario.name.clone(),
            seed: report.seed,
            verdict: report.verdict,
            trace_hash: report.trace_hash.clone(),
            anomaly_kinds,
            report_dir,
            repro: report.repro.clone(),
        }
    }
}

impl Summary {
    /// A summary of `rows`, sorted by scenario then seed so that merged shards give the
    /// same file whatever order they finished in.
    pub fn from_rows(mut rows: Vec<RunSummaryRow>) -> Summary {
        rows.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
        let totals = Totals::of(&rows);
        Summary { runs: rows, totals }
    }

    /// Joins summaries (e.g. the shards of `explore --shard K/N`) into one.
    pub fn merge(summaries: impl IntoIterator<Item = Summary>) -> Summary {
        Summary::from_rows(summaries.into_iter().flat_map(|s| s.runs).collect())
    }

    /// The rows that did not pass (invalid or unknown).
    pub fn failures(&self) -> impl Iterator<Item = &RunSummaryRow> {
        self.runs.iter().filter(|row| row.verdict != Verdict::Valid)
    }
}

impl Totals {
    /// Counts over `rows`.
    pub fn of(rows: &[RunSummaryRow]) -> Totals {
        let mut totals = Totals::default();
        for row in rows {
            totals.runs += 1;
            match row.verdict {
                Verdict::Valid => totals.valid += 1,
                Verdict::Invalid => totals.invalid += 1,
                Verdict::Unknown => totals.unknown += 1,
            }
            for kind in &row.anomaly_kinds {
                *totals.runs_by_anomaly_kind.entry(kind.clone()).or_default() += 1;
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, seed: u64, verdict: Verdict, kinds: &[&str]) -> RunSummaryRow {
        RunSummaryRow {
            scenario: scenario.into(),
            seed,
            verdict,
            trace_hash: format!("{seed:016x}"),
            anomaly_kinds: kinds.iter().map(|k| k.to_string()).collect(),
            report_dir: None,
            repro: format!("faultline run scenarios/{scenario}.toml --seed {seed}"),
        }
    }

    #[test]
    fn merged_shards_are_sorted_and_counted() {
        let a = Summary::from_rows(vec![
            row("smoke", 3, Verdict::Invalid, &["lost-write", "unseen"]),
            row("smoke", 1, Verdict::Valid, &[]),
        ]);
        let b = Summary::from_rows(vec![
            row("smoke", 2, Verdict::Invalid, &["lost-write"]),
            row("acks", 9, Verdict::Unknown, &[]),
        ]);
        let merged = Summary::merge([b, a]);
        let order: Vec<_> = merged
            .runs
            .iter()
            .map(|r| (r.scenario.as_str(), r.seed))
            .collect();
        assert_eq!(
            order,
            [("acks", 9), ("smoke", 1), ("smoke", 2), ("smoke", 3)]
        );
        assert_eq!(
            (
                merged.totals.runs,
                merged.totals.valid,
                merged.totals.invalid
            ),
            (4, 1, 2)
        );
        assert_eq!(merged.totals.unknown, 1);
        assert_eq!(merged.totals.runs_by_anomaly_kind["lost-write"], 2);
        assert_eq!(merged.failures().count(), 3);
    }
}
