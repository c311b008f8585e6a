//! `junit.xml`: one test case per check per seed, so CI shows which property failed on
//! which seed without anyone opening the report.
//!
//! The shape is the common denominator that GitLab's unit-test reports and the usual
//! GitHub actions (mikepenz/action-junit-report, dorny/test-reporter,
//! EnricoMi/publish-unit-test-result-action) all read: `<testsuites>` → `<testsuite>` →
//! `<testcase name classname time>` holding at most one `<failure message type>` or
//! `<error>`, with the evidence as the element's text. A verdict of `unknown` (a checker
//! out of budget) is an `<error>`: it is never a pass, but it is not a found bug either.
//! No timestamps are written, so equal runs give equal files.

use std::fmt::Write;

use faultline_checker::history::History;
use faultline_checker::{CheckReport, Verdict};

use crate::escape::markup;
use crate::evidence::{AnomalyEvidence, Evidence};
use crate::run::RunReport;
use crate::summary::{RunSummaryRow, Summary};

/// At most this many anomalies are spelled out in one failure's text.
const ANOMALY_LIMIT: usize = 50;

const HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

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
    let mut out = String::from(HEADER);
    let suite = Suite {
        name: &classname,
        classname: &classname,
        time_ms: report.wall_ms,
        properties: &properties,
        cases: &cases,
        system_out: &format!("Rerun: {}\n", report.repro),
    };
    write_testsuites(&mut out, &[suite]);
    out
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
    let suites: Vec<Suite> = classnames
        .iter()
        .zip(&cases)
        .map(|(classname, cases)| Suite {
            name: classname,
            classname,
            time_ms: 0,
            properties: &[],
            cases,
            system_out: "",
        })
        .collect();
    let mut out = String::from(HEADER);
    write_testsuites(&mut out, &suites);
    out
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

/// One `<testsuite>` to write.
struct Suite<'a> {
    name: &'a str,
    classname: &'a str,
    time_ms: u64,
    properties: &'a [(&'a str, String)],
    cases: &'a [(String, Outcome)],
    system_out: &'a str,
}

impl Suite<'_> {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|(_, outcome)| f(outcome)).count()
    }
    fn failures(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed { .. }))
    }
    fn errors(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Errored { .. }))
    }
}

fn write_testsuites(out: &mut String, suites: &[Suite]) {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let errors: usize = suites.iter().map(Suite::errors).sum();
    let time_ms: u64 = suites.iter().map(|s| s.time_ms).sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"{errors}\" skipped=\"0\" time=\"{}\">",
        seconds(time_ms)
    );
    for suite in suites {
        write_testsuite(out, suite);
    }
    out.push_str("</testsuites>\n");
}

fn write_testsuite(out: &mut String, suite: &Suite) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" \
         time=\"{}\">",
        markup(suite.name),
        suite.cases.len(),
        suite.failures(),
        suite.errors(),
        seconds(suite.time_ms)
    );
    if !suite.properties.is_empty() {
        out.push_str("    <properties>\n");
        for (name, value) in suite.properties {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                markup(name),
                markup(value)
            );
        }
        out.push_str("    </properties>\n");
    }
    for (name, outcome) in suite.cases {
        write_testcase(out, suite.classname, name, outcome);
    }
    if !suite.system_out.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            markup(suite.system_out)
        );
    }
    out.push_str("  </testsuite>\n");
}

fn write_testcase(out: &mut String, classname: &str, name: &str, outcome: &Outcome) {
    let open = format!(
        "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
        markup(name),
        markup(classname)
    );
    match outcome {
        Outcome::Passed => {
            let _ = writeln!(out, "{open}/>");
        }
        Outcome::Failed {
            message,
            kind,
            text,
        } => {
            let _ = writeln!(
                out,
                "{open}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                markup(message),
                markup(kind),
                markup(text)
            );
        }
        Outcome::Errored { message, text } => {
            let _ = writeln!(
                out,
                "{open}>\n      <error message=\"{}\" type=\"unknown\">{}</error>\n    </testcase>",
                markup(message),
                markup(text)
            );
        }
    }
}

/// Milliseconds as JUnit's decimal seconds, e.g. `0.812`.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}
