//! Anomalies joined with the history and the fault schedule, so a report can say not only
//! what a checker found but when it happened and under which fault.
//!
//! A checker cites ops by history index; [`Evidence`] resolves each index to the whole
//! operation (invoke to completion), the faults active while it ran, and a one-line
//! headline. For a lost write the headline names the lost record, its acknowledgement
//! (offset, time, op) and the fault active then — the four things a reader needs first.

mod resolve;

use std::collections::BTreeMap;

use faultline_checker::history::{History, Op, OpType};
use faultline_checker::Anomaly;

use crate::run::{FaultWindow, RunReport};
use resolve::{read_ok, Resolver};

/// One client operation: its invoke and, if the run saw one, its completion.
#[derive(Debug, Clone, Copy)]
pub struct OpSpan<'h> {
    /// The invoke event.
    pub invoke: &'h Op,
    /// The `ok`, `fail` or `info` event; `None` if the run ended first.
    pub completion: Option<&'h Op>,
}

impl OpSpan<'_> {
    /// The history index the op is known by: its completion's, as checkers cite it.
    pub fn id(&self) -> u64 {
        self.completion.unwrap_or(self.invoke).index
    }

    /// How it ended; an op that never completed is indeterminate (`info`).
    pub fn outcome(&self) -> OpType {
        self.completion.map_or(OpType::Info, |op| op.kind)
    }

    /// When it completed, or `end_ns` if it never did.
    pub fn end_ns(&self, end_ns: u64) -> u64 {
        self.completion.map_or(end_ns, |op| op.time)
    }
}

/// One op an anomaly cites.
#[derive(Debug, Clone)]
pub struct CitedOp {
    /// The history index the checker cited.
    pub index: u64,
    /// The operation it belongs to (position in [`Evidence::spans`]), if it is a client op.
    pub span: Option<usize>,
    /// The op in one line (see [`crate::text::op_line`]).
    pub line: String,
    /// Labels of the faults active at any moment while the op ran.
    pub faults: Vec<String>,
}

/// One anomaly, resolved against the history.
#[derive(Debug, Clone)]
pub struct AnomalyEvidence<'r> {
    /// 1-based position among all anomalies of the run (anchors link to it).
    pub number: usize,
    /// Position of the check that found it in [`RunReport::checks`].
    pub check: usize,
    /// The checker that found it.
    pub checker: &'r str,
    /// The anomaly as the checker reported it.
    pub anomaly: &'r Anomaly,
    /// The anomaly in one line, with its time and the fault active then.
    pub headline: String,
    /// When it happened: the completion of the first cited op.
    pub time_ns: Option<u64>,
    /// The ops it cites, in the checker's order.
    pub ops: Vec<CitedOp>,
}

/// A run's operations, faults and anomalies, cross-referenced.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    /// Every client operation, in invoke order.
    pub spans: Vec<OpSpan<'a>>,
    /// The fault windows: the report's, or the history's nemesis ops if it has none.
    pub faults: Vec<FaultWindow>,
    /// Every anomaly of every check, in report order.
    pub anomalies: Vec<AnomalyEvidence<'a>>,
    /// The end of the run in nanoseconds (see [`RunReport::end_ns`]).
    pub end_ns: u64,
}

impl<'a> Evidence<'a> {
    /// Cross-references a report with its history.
    pub fn gather(report: &'a RunReport, history: &'a History) -> Evidence<'a> {
        let spans: Vec<OpSpan<'a>> = history
            .pairs()
            .into_iter()
            .map(|(invoke, completion)| OpSpan { invoke, completion })
            .collect();
        let mut span_by_index = BTreeMap::new();
        for (position, span) in spans.iter().enumerate() {
            span_by_index.insert(span.invoke.index, position);
            if let Some(done) = span.completion {
                span_by_index.insert(done.index, position);
            }
        }
        let faults = if report.faults.is_empty() {
            FaultWindow::from_history(history)
        } else {
            report.faults.clone()
        };
        let mut evidence = Evidence {
            spans,
            faults,
            anomalies: Vec::new(),
            end_ns: report.end_ns(history),
        };
        let resolver = Resolver {
            evidence: &evidence,
            span_by_index: &span_by_index,
            read_ok: read_ok(history),
        };
        let anomalies = report
            .checks
            .iter()
            .enumerate()
            .flat_map(|(check, report)| report.anomalies.iter().map(move |a| (check, report, a)))
            .enumerate()
            .map(|(i, (check, report, anomaly))| {
                resolver.resolve(i + 1, (check, &report.checker), anomaly)
            })
            .collect();
        evidence.anomalies = anomalies;
        evidence
    }

    /// Labels of the faults active at `time_ns`.
    pub fn faults_at(&self, time_ns: u64) -> Vec<String> {
        self.faults
            .iter()
            .filter(|fault| fault.active_at(time_ns))
            .map(FaultWindow::label)
            .collect()
    }
}
