//! A small deterministic run: two producers, a consumer, a partition of broker-1 during
//! which an acknowledged write (value 3 on key 0) is later lost, a failed send, an
//! indeterminate send, two leader changes.

use std::collections::BTreeMap;

use faultline_checker::history::{Fault, Function, History, MicroOp, Op, OpType, OpValue, Process};
use faultline_checker::{Anomaly, AnomalyKind, CheckReport, Verdict};
use faultline_reports::{ClusterEvent, FaultWindow, RunReport, ScenarioInfo, SCHEMA_VERSION};

const MS: u64 = 1_000_000;

/// Builds a history op by op, numbering them.
struct Builder {
    ops: Vec<Op>,
}

impl Builder {
    fn push(&mut self, time_ms: u64, process: Process, kind: OpType, f: Function, value: OpValue) {
        self.push_error(time_ms, process, kind, f, value, None);
    }

    fn push_error(
        &mut self,
        time_ms: u64,
        process: Process,
        kind: OpType,
        f: Function,
        value: OpValue,
        error: Option<&str>,
    ) {
        self.ops.push(Op {
            index: self.ops.len() as u64,
            time: time_ms * MS,
            process,
            kind,
            f,
            value,
            error: error.map(str::to_string),
            leader_epochs: Default::default(),
        });
    }

    fn send(&mut self, process: u32, from_ms: u64, to_ms: u64, key: u32, value: u64, end: End) {
        let p = Process::Client(process);
        let invoke = vec![MicroOp::Send {
            key,
            value,
            offset: None,
        }];
        self.push(
            from_ms,
            p,
            OpType::Invoke,
            Function::Send,
            OpValue::MicroOps(invoke.clone()),
        );
        let (kind, micro_ops, error) = match end {
            End::Ok(offset) => (
                OpType::Ok,
                vec![MicroOp::Send {
                    key,
                    value,
                    offset: Some(offset),
                }],
                None,
            ),
            End::Fail(error) => (OpType::Fail, invoke, Some(error)),
            End::Info(error) => (OpType::Info, invoke, Some(error)),
        };
        self.push_error(
            to_ms,
            p,
            kind,
            Function::Send,
            OpValue::MicroOps(micro_ops),
            error,
        );
    }

    fn poll(&mut self, process: u32, from_ms: u64, to_ms: u64, reads: &[(u32, &[(i64, u64)])]) {
        let p = Process::Client(process);
        let invoke = vec![MicroOp::Poll { reads: None }];
        self.push(
            from_ms,
            p,
            OpType::Invoke,
            Function::Poll,
            OpValue::MicroOps(invoke),
        );
        let reads: BTreeMap<u32, Vec<(i64, u64)>> = reads
            .iter()
            .map(|(key, records)| (*key, records.to_vec()))
            .collect();
        let done = vec![MicroOp::Poll { reads: Some(reads) }];
        self.push(
            to_ms,
            p,
            OpType::Ok,
            Function::Poll,
            OpValue::MicroOps(done),
        );
    }

    fn fault(&mut self, time_ms: u64, f: Function) {
        let fault = Fault {
            kind: "partition".into(),
            targets: vec!["broker-1".into()],
            detail: "broker-1 isolated from broker-2, broker-3".into(),
        };
        self.push(
            time_ms,
            Process::Nemesis,
            OpType::Info,
            f,
            OpValue::Fault(fault),
        );
    }
}

/// How a send ends.
enum End {
    Ok(i64),
    Fail(&'static str),
    Info(&'static str),
}

/// The fixture's history.
pub fn history() -> History {
    let mut b = Builder { ops: Vec::new() };
    b.send(0, 1_000, 1_050, 0, 1, End::Ok(0)); // ops 0, 1
    b.send(0, 1_500, 1_540, 0, 2, End::Ok(1)); // ops 2, 3
    b.poll(3, 2_000, 2_020, &[(0, &[(0, 1), (1, 2)])]); // ops 4, 5
    b.fault(3_000, Function::StartFault); // op 6
    b.send(0, 3_200, 3_400, 0, 3, End::Ok(2)); // ops 7, 8: acknowledged, then lost
    b.send(1, 3_300, 3_500, 1, 10, End::Fail("NOT_LEADER_OR_FOLLOWER")); // ops 9, 10
    b.send(2, 3_600, 5_600, 0, 4, End::Info("timeout")); // ops 11, 12
    b.fault(6_000, Function::StopFault); // op 13
    b.send(0, 6_400, 6_450, 0, 5, End::Ok(3)); // ops 14, 15
    b.poll(3, 7_000, 7_100, &[(0, &[(3, 5)]), (1, &[])]); // ops 16, 17
    b.send(4, 7_200, 7_260, 1, 11, End::Ok(0)); // ops 18, 19
    History { ops: b.ops }
}

/// The fixture's report: the log check finds value 3 lost; the group check passes.
pub fn report() -> RunReport {
    let lost = Anomaly {
        kind: AnomalyKind::LostWrite,
        key: Some(0),
        ops: vec![8, 17],
        description: "key 0: value 3 was sent by op 8 (process 0, send ok at 3.400s) and \
                      belongs at offset 2, but no poll ever returned it, although op 17 \
                      (process 3, poll ok at 7.100s) read past it up to offset 3 (value 5)"
            .into(),
    };
    let log_stats = BTreeMap::from([
        ("values acknowledged".to_string(), 5),
        ("values read".to_string(), 3),
    ]);
    RunReport {
        schema_version: SCHEMA_VERSION,
        faultline_version: "0.1.0".into(),
        scenario: ScenarioInfo {
            name: "smoke".into(),
            path: "scenarios/smoke.toml".into(),
            hash: "5f3a9c0e".into(),
        },
        seed: 7,
        trace_hash: "9c1d2e3f4a5b6c7d".into(),
        cargo_lock_hash: "0a1b2c3d".into(),
        verdict: Verdict::Invalid,
        checks: vec![
            CheckReport::from_anomalies("log", vec![lost], log_stats),
            CheckReport::from_anomalies("group", vec![], BTreeMap::new()),
        ],
        simulated_ms: 8_000,
        wall_ms: 812,
        stats: BTreeMap::from([
            ("ops fail".to_string(), 1),
            ("ops info".to_string(), 1),
            ("ops invoked".to_string(), 9),
            ("ops ok".to_string(), 7),
            ("records read".to_string(), 3),
        ]),
        faults: vec![FaultWindow {
            kind: "partition".into(),
            targets: vec!["broker-1".into()],
            start_ns: 3_000 * MS,
            end_ns: Some(6_000 * MS),
            detail: "broker-1 isolated from broker-2, broker-3".into(),
        }],
        events: vec![
            ClusterEvent {
                time_ns: 3_100 * MS,
                node: "controller".into(),
                kind: "leader-change".into(),
                description: "partition 0: leader broker-2, epoch 2".into(),
                partition_state: None,
            },
            ClusterEvent {
                time_ns: 6_200 * MS,
                node: "broker-1".into(),
                kind: "restart".into(),
                description: "broker-1 truncated its log to offset 2 (leader epoch 2)".into(),
                partition_state: None,
            },
        ],
        repro: "faultline run scenarios/smoke.toml --seed 7".into(),
    }
}
