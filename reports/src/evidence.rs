//! Anomalies joined with the history and the fault schedule, so a report can say not only
//! what a checker found but when it happened and under which fault.
//!
//! A checker cites ops by history index; [`Evidence`] resolves each index to the whole
//! operation (invoke to completion), the faults active while it ran, and a one-line
//! headline. For a lost write the headline names the lost record, its acknowledgement
//! (offset, time, op) and the fault active then — the four things a reader needs first.

use std::collections::{BTreeMap, BTreeSet};

use faultline_conformance::checker::{Anomaly, AnomalyKind};
use faultline_conformance::history::{Function, History, Key, MicroOp, Op, OpType, Value};

use crate::run::{FaultWindow, RunReport};
use crate::text;

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
    /// The op in one line (see [`text::op_line`]).
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

/// Every (key, value) some `ok` poll returned.
fn read_ok(history: &History) -> BTreeSet<(Key, Value)> {
    let mut read = BTreeSet::new();
    for op in history.ops.iter().filter(|op| op.kind == OpType::Ok) {
        for micro_op in op.micro_ops() {
            if let MicroOp::Poll { reads: Some(reads) } = micro_op {
                for (key, records) in reads {
                    read.extend(records.iter().map(|(_, value)| (*key, *value)));
                }
            }
        }
    }
    read
}

/// Resolves anomalies against a finished [`Evidence`] (spans and faults).
struct Resolver<'e, 'a> {
    evidence: &'e Evidence<'a>,
    span_by_index: &'e BTreeMap<u64, usize>,
    read_ok: BTreeSet<(Key, Value)>,
}

impl<'a> Resolver<'_, 'a> {
    fn resolve(
        &self,
        number: usize,
        (check, checker): (usize, &'a str),
        anomaly: &'a Anomaly,
    ) -> AnomalyEvidence<'a> {
        let ops: Vec<CitedOp> = anomaly.ops.iter().map(|&i| self.cite(i)).collect();
        let first = ops.iter().find_map(|cited| cited.span);
        let time_ns = first.map(|s| self.evidence.spans[s].end_ns(self.evidence.end_ns));
        let headline = if anomaly.kind == AnomalyKind::LostWrite {
            self.lost_write_headline(anomaly)
        } else {
            None
        }
        .unwrap_or_else(|| self.generic_headline(anomaly, first));
        AnomalyEvidence {
            number,
            check,
            checker,
            anomaly,
            headline,
            time_ns,
            ops,
        }
    }

    fn cite(&self, index: u64) -> CitedOp {
        let Some(&position) = self.span_by_index.get(&index) else {
            return CitedOp {
                index,
                span: None,
                line: format!("op #{index} (not a client operation of this history)"),
                faults: Vec::new(),
            };
        };
        let span = self.evidence.spans[position];
        let (from, to) = (span.invoke.time, span.end_ns(self.evidence.end_ns));
        CitedOp {
            index,
            span: Some(position),
            line: text::op_line(span.invoke, span.completion),
            faults: self
                .evidence
                .faults
                .iter()
                .filter(|fault| fault.overlaps(from, to))
                .map(FaultWindow::label)
                .collect(),
        }
    }

    /// `lost-write on key 0 at t=12.300s (op #40) during partition(broker-1)`.
    fn generic_headline(&self, anomaly: &Anomaly, first: Option<usize>) -> String {
        let key = anomaly
            .key
            .map(|k| format!(" on key {k}"))
            .unwrap_or_default();
        let Some(position) = first else {
            return format!("{}{key}", anomaly.kind);
        };
        let span = self.evidence.spans[position];
        let time = span.end_ns(self.evidence.end_ns);
        format!(
            "{}{key} at t={} (op #{}) {}",
            anomaly.kind,
            text::seconds(time),
            span.id(),
            self.fault_phrase(time)
        )
    }

    /// `value 17 on key 0, acknowledged at offset 5 at t=12.300s by op #40 (process 3)
    /// during partition(broker-1)`; `None` if the cited ops do not show the lost send.
    fn lost_write_headline(&self, anomaly: &Anomaly) -> Option<String> {
        let key = anomaly.key?;
        let mut candidates: Vec<(OpSpan<'a>, Value, Option<i64>)> = Vec::new();
        for index in &anomaly.ops {
            let Some(&position) = self.span_by_index.get(index) else {
                continue;
            };
            let span = self.evidence.spans[position];
            if !matches!(span.invoke.f, Function::Send | Function::Txn) {
                continue;
            }
            let op = span.completion.unwrap_or(span.invoke);
            for micro_op in op.micro_ops() {
                if let MicroOp::Send {
                    key: k,
                    value,
                    offset,
                } = micro_op
                {
                    if *k == key && !self.read_ok.contains(&(key, *value)) {
                        candidates.push((span, *value, *offset));
                    }
                }
            }
        }
        // An op may have sent several unread values to the key; the checker names its own.
        let named = candidates
            .iter()
            .position(|(_, value, _)| anomaly.description.contains(&format!("value {value} ")));
        let (span, value, offset) = candidates[named.unwrap_or(0)..].first().copied()?;
        let who = text::process(span.invoke.process);
        let done = span.completion?;
        let acknowledged = match (done.kind, offset) {
            (OpType::Ok, Some(offset)) => format!("acknowledged at offset {offset}"),
            (OpType::Ok, None) => "acknowledged".to_string(),
            (kind, _) => format!("sent (completion {})", text::outcome(kind)),
        };
        Some(format!(
            "value {value} on key {key}, {acknowledged} at t={} by op #{} ({who}) {}",
            text::seconds(done.time),
            done.index,
            self.fault_phrase(done.time)
        ))
    }

    /// `during partition(broker-1)`, or `with no fault active`; then the next fault to
    /// start, since a write acknowledged in calm is usually lost by the fault after it.
    fn fault_phrase(&self, time_ns: u64) -> String {
        let active = self.evidence.faults_at(time_ns);
        let now = if active.is_empty() {
            "with no fault active".to_string()
        } else {
            format!("during {}", active.join(" + "))
        };
        let next = self
            .evidence
            .faults
            .iter()
            .filter(|fault| fault.start_ns > time_ns)
            .min_by_key(|fault| fault.start_ns);
        match next {
            Some(fault) => format!(
                "{now}; next fault: {} at t={}",
                fault.label(),
                text::seconds(fault.start_ns)
            ),
            None => now,
        }
    }
}
