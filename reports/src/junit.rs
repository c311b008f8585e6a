//! `junit.xml`: one test case per check per seed, so CI shows which property failed on
//! which seed without anyone opening the report.
//!
//! The shape is the common denominator that GitLab's unit-test reports and the usual
//! GitHub actions (mikepenz/action-junit-report, dorny/test-reporter,
//! EnricoMi/publish-unit-test-result-action) all read: `<testsuites>` → `<testsuite>` →
//! `<testcase name classname time>` holding at most one `<failure message type>` or
//! `<error>`, with the evidence as the element's text. A verdict of `unknown` (a checker
//! out of budget) is an `<error>`: it is never a pass, but it is not a found bug either.
//! No timestamps or ids are written, so equal runs give equal files. The XML itself is
//! written by quick-junit (cargo-nextest's JUnit writer), which does the escaping.

use std::fmt::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use faultline_checker::history::History;
use faultline_checker::{CheckReport, Verdict};

use crate::evidence::{AnomalyEvidence, Evidence};
use crate::run::RunReport;
use crate::summary::{RunSummaryRow, Summary};

/// At most this many anomalies are spelled out in one failure's text.
const ANOMALY_LIMIT: usize = 50;

/// How a test case ended.
enum Outcome {
    Passed,
    Failed {
        message: String,
        kind: String,
        text: String,
    },
    Errored {
        message: String,
        text: String,
    },
}

/// The JUnit XML of one run: one `<testcase>` per check.
pub fn run_junit(report: &RunReport, history: &History) -> String {
    let evidence = Evidence::gather(report, history);
    let classname = format!("faultline.{}", report.scenario.name);
    let mut cases = Vec::new();
    for (position, check) in report.checks.iter().enumerate() {
        let anomalies: Vec<&AnomalyEvidence> = evidence
            .anomalies
            .iter()
            .filter(|a| a.check == position)
            .collect();
        let name = format!("{} [seed {}]", check.checker, report.seed);
        cases.push((name, check_outcome(check, &anomalies, &report.repro)));
    }
    if report.checks.is_empty() {
        let name = format!("run [seed {}]", report.seed);
        cases.push((name, verdict_outcome(report.verdict, &[], &report.repro)));
    }
    let properties = [
        ("scenario", report.scenario.name.as_str()),
        ("scenario_path", &report.scenario.path),
        ("scenario_hash", &report.scenario.hash),
        ("seed", &report.seed.to_string()),
        ("trace_hash", &report.trace_hash),
        ("faultline_version", &report.faultline_version),
        ("cargo_lock_hash", &report.cargo_lock_hash),
        ("repro", &report.repro),
    ]
    .map(|(name, value)| (name, value.to_string()));
    let mut suite = suite(&classname, cases);
    suite.set_time(Duration::from_millis(report.wall_ms));
    suite.add_properties(properties.map(|(name, value)| Property::new(name, value)));
    suite.set_system_out(format!("Rerun: {}\n", report.repro));
    render([suite], report.wall_ms)
}

/// The JUnit XML of many runs: one `<testsuite>` per scenario, one `<testcase>` per seed.
pub fn summary_junit(summary: &Summary) -> String {
    let mut scenarios: Vec<&str> = summary.runs.iter().map(|r| r.scenario.as_str()).collect();
    scenarios.dedup();
    let classnames: Vec<String> = scenarios.iter().map(|s| format!("faultline.{s}")).collect();
    let cases: Vec<Vec<(String, Outcome)>> = scenarios
        .iter()
        .map(|scenario| {
            summary
                .runs
                .iter()
                .filter(|row| row.scenario == *scenario)
                .map(|row| (format!("seed {}", row.seed), row_outcome(row)))
                .collect()
        })
        .collect();
    render(
        classnames
            .iter()
            .zip(cases)
            .map(|(classname, cases)| suite(classname, cases)),
        0,
    )
}

fn check_outcome(check: &CheckReport, anomalies: &[&AnomalyEvidence], repro: &str) -> Outcome {
    verdict_outcome(check.verdict, anomalies, repro)
}

fn verdict_outcome(verdict: Verdict, anomalies: &[&AnomalyEvidence], repro: &str) -> Outcome {
    match verdict {
        Verdict::Valid => Outcome::Passed,
        Verdict::Unknown => Outcome::Errored {
            message: "verdict unknown: the checker ran out of budget before deciding".into(),
            text: format!("Rerun: {repro}\n"),
        },
        Verdict::Invalid => {
            let mut kinds: Vec<String> = Vec::new();
            for anomaly in anomalies {
                let kind = anomaly.anomaly.kind.to_string();
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            let message = match anomalies.first() {
                Some(first) if anomalies.len() > 1 => format!(
                    "{} anomalies; first: {}: {}",
                    anomalies.len(),
                    first.anomaly.kind,
                    first.headline
                ),
                Some(first) => format!("{}: {}", first.anomaly.kind, first.headline),
                None => "invalid".to_string(),
            };
            let mut text = String::new();
            for anomaly in anomalies.iter().take(ANOMALY_LIMIT) {
                write_anomaly_text(&mut text, anomaly);
            }
            if anomalies.len() > ANOMALY_LIMIT {
                let more = anomalies.len() - ANOMALY_LIMIT;
                let _ = writeln!(text, "... and {more} more anomalies; see report.html.\n");
            }
            let _ = writeln!(text, "Rerun: {repro}");
            Outcome::Failed {
                message,
                kind: kinds.join(", "),
                text,
            }
        }
    }
}

fn write_anomaly_text(out: &mut String, evidence: &AnomalyEvidence) {
    let anomaly = evidence.anomaly;
    let _ = writeln!(
        out,
        "{}. {}: {}",
        evidence.number, anomaly.kind, evidence.headline
    );
    let _ = writeln!(out, "   evidence: {}", anomaly.description);
    for op in &evidence.ops {
        let faults = if op.faults.is_empty() {
            String::new()
        } else {
            format!(" [faults: {}]", op.faults.join(", "))
        };
        let _ = writeln!(out, "   - {}{faults}", op.line);
    }
    let _ = writeln!(out, "   definition: {}", anomaly.kind.definition());
    out.push('\n');
}

fn row_outcome(row: &RunSummaryRow) -> Outcome {
    let folder = row
        .report_dir
        .as_deref()
        .map(|dir| format!("Report: {dir}\n"))
        .unwrap_or_default();
    let text = format!(
        "Trace hash: {}\n{folder}Rerun: {}\n",
        row.trace_hash, row.repro
    );
    match row.verdict {
        Verdict::Valid => Outcome::Passed,
        Verdict::Unknown => Outcome::Errored {
            message: "verdict unknown: a checker ran out of budget before deciding".into(),
            text,
        },
        Verdict::Invalid => Outcome::Failed {
            message: format!("anomalies: {}", row.anomaly_kinds.join(", ")),
            kind: row.anomaly_kinds.join(", "),
            text,
        },
    }
}

/// One `<testsuite>`, its cases named in `classname`.
fn suite(classname: &str, cases: Vec<(String, Outcome)>) -> TestSuite {
    let mut suite = TestSuite::new(classname);
    suite.add_test_cases(cases.into_iter().map(|(name, outcome)| {
        let mut case = TestCase::new(name, status(outcome));
        case.set_classname(classname);
        case.set_time(Duration::ZERO);
        case
    }));
    suite
}

fn status(outcome: Outcome) -> TestCaseStatus {
    match outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed {
            message,
            kind,
            text,
        } => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(message)
                .set_type(kind)
                .set_description(text);
            status
        }
        Outcome::Errored { message, text } => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(message)
                .set_type("unknown")
                .set_description(text);
            status
        }
    }
}

/// The `<testsuites>` document, named `faultline`.
fn render(suites: impl IntoIterator<Item = TestSuite>, time_ms: u64) -> String {
    let mut report = Report::new("faultline");
    report.add_test_suites(suites);
    report.set_time(Duration::from_millis(time_ms));
    report
        .to_string()
        .expect("serializing JUnit XML to memory cannot fail")
}
