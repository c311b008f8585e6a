//! Resolving one anomaly: each cited history index to its whole operation and the faults
//! active while it ran, and a one-line headline — for a lost write, the lost record, its
//! acknowledgement and the fault active then.

use std::collections::{BTreeMap, BTreeSet};

use faultline_checker::history::{Function, History, Key, MicroOp, OpType, Value};
use faultline_checker::{Anomaly, AnomalyKind};

use super::{AnomalyEvidence, CitedOp, Evidence, OpSpan};
use crate::run::FaultWindow;
use crate::text;

/// Every (key, value) some `ok` poll returned.
pub(super) fn read_ok(history: &History) -> BTreeSet<(Key, Value)> {
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
pub(super) struct Resolver<'e, 'a> {
    pub(super) evidence: &'e Evidence<'a>,
    pub(super) span_by_index: &'e BTreeMap<u64, usize>,
    pub(super) read_ok: BTreeSet<(Key, Value)>,
}

impl<'a> Resolver<'_, 'a> {
    pub(super) fn resolve(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::RunReport;
    use faultline_checker::history::{Op, OpValue, Process};
    use faultline_checker::{CheckReport, Verdict};
    use std::collections::BTreeMap;

    const S: u64 = 1_000_000_000;

    fn op(index: u64, time: u64, kind: OpType, f: Function, micro_op: MicroOp) -> Op {
        Op {
            index,
            time,
            process: Process::Client(index as u32 / 2),
            kind,
            f,
            value: OpValue::MicroOps(vec![micro_op]),
            error: None,
            leader_epochs: Default::default(),
        }
    }

    fn send(key: Key, value: Value, offset: Option<i64>) -> MicroOp {
        MicroOp::Send { key, value, offset }
    }

    /// Two values sent in calm, one of them later read; a crash follows.
    fn run(kind: AnomalyKind, ops: Vec<u64>, description: &str) -> (RunReport, History) {
        let reads = BTreeMap::from([(0, vec![(1, 8)])]);
        let history = History {
            ops: vec![
                op(0, S, OpType::Invoke, Function::Send, send(0, 7, None)),
                op(1, 2 * S, OpType::Ok, Function::Send, send(0, 7, Some(0))),
                op(2, 3 * S, OpType::Invoke, Function::Send, send(0, 8, None)),
                op(3, 4 * S, OpType::Ok, Function::Send, send(0, 8, Some(1))),
                op(
                    4,
                    6 * S,
                    OpType::Invoke,
                    Function::Poll,
                    MicroOp::Poll { reads: None },
                ),
                op(
                    5,
                    7 * S,
                    OpType::Ok,
                    Function::Poll,
                    MicroOp::Poll { reads: Some(reads) },
                ),
            ],
        };
        let anomaly = Anomaly {
            kind,
            key: Some(0),
            ops,
            description: description.into(),
        };
        let report = RunReport {
            schema_version: 1,
            faultline_version: "0.1.0".into(),
            scenario: crate::run::ScenarioInfo {
                name: "t".into(),
                path: "t.toml".into(),
                hash: "00".into(),
            },
            seed: 1,
            trace_hash: "00".into(),
            cargo_lock_hash: "00".into(),
            verdict: Verdict::Invalid,
            checks: vec![CheckReport::from_anomalies(
                "log",
                vec![anomaly],
                BTreeMap::new(),
            )],
            simulated_ms: 8_000,
            wall_ms: 1,
            stats: BTreeMap::new(),
            faults: vec![FaultWindow {
                kind: "crash".into(),
                targets: vec!["broker-1".into()],
                start_ns: 5 * S,
                end_ns: None,
                detail: String::new(),
            }],
            events: vec![],
            repro: "faultline run t.toml --seed 1".into(),
        };
        (report, history)
    }

    #[test]
    fn a_write_lost_in_calm_names_the_next_fault() {
        let (report, history) = run(AnomalyKind::LostWrite, vec![1, 5], "value 7 lost");
        let evidence = Evidence::gather(&report, &history);
        assert_eq!(
            evidence.anomalies[0].headline,
            "value 7 on key 0, acknowledged at offset 0 at t=2.000s by op #1 (process 0) \
             with no fault active; next fault: crash(broker-1) at t=5.000s"
        );
        let cited = &evidence.anomalies[0].ops;
        assert_eq!(cited[0].span, Some(0));
        assert!(cited[0].faults.is_empty());
        assert_eq!(cited[1].faults, ["crash(broker-1)"]);
    }

    #[test]
    fn other_kinds_get_time_op_and_fault() {
        let (report, history) = run(AnomalyKind::Duplicate, vec![5, 99], "twice");
        let evidence = Evidence::gather(&report, &history);
        let anomaly = &evidence.anomalies[0];
        assert_eq!(
            anomaly.headline,
            "duplicate on key 0 at t=7.000s (op #5) during crash(broker-1)"
        );
        assert_eq!(anomaly.time_ns, Some(7 * S));
        assert_eq!(anomaly.ops[1].span, None, "index 99 is not in the history");
    }

    #[test]
    fn a_lost_write_whose_value_was_read_falls_back_to_the_generic_headline() {
        let (report, history) = run(AnomalyKind::LostWrite, vec![3], "value 8");
        let evidence = Evidence::gather(&report, &history);
        assert!(evidence.anomalies[0]
            .headline
            .starts_with("lost-write on key 0 at t=4.000s"));
    }
}
