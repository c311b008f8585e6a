//! The data of one run, as the CLI hands it over: what ran, what was found, under which
//! faults, and how to run it again.
//!
//! [`RunReport`] is serialized as `report.json` (schema in `docs/report-format.md`); every
//! other file of a run folder is rendered from it plus the run's [`History`]. Fields are
//! plain data so that a report read back from disk renders exactly like a fresh one.

use std::collections::BTreeMap;

use faultline_checker::history::{Function, History, OpValue, Process};
use faultline_checker::{Anomaly, CheckReport, Verdict};
use serde::{Deserialize, Serialize};

/// The `report.json` schema version this crate writes. Bump it on any change a reader of
/// the JSON could notice (a renamed or removed field, a changed meaning); adding an
/// optional field does not need a bump.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything known about one run of one scenario with one seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// The `report.json` schema version, [`SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// The faultline version that ran (a seed's meaning may change between versions).
    pub faultline_version: String,
    /// The scenario file that ran.
    pub scenario: ScenarioInfo,
    /// The seed: with the scenario and the faultline version it determines the run.
    pub seed: u64,
    /// Hex hash of the ordered event log; equal inputs must give an equal trace hash.
    pub trace_hash: String,
    /// Hex hash of `Cargo.lock`, since a dependency upgrade may change what a seed does.
    pub cargo_lock_hash: String,
    /// The run's overall verdict: `invalid` if any check is, else `unknown` if any is.
    pub verdict: Verdict,
    /// One report per checker that ran, in the order they ran.
    pub checks: Vec<CheckReport>,
    /// Simulated (or, when certifying, wall) time the run covered, in milliseconds.
    pub simulated_ms: u64,
    /// Wall-clock time the run took, in milliseconds (the only non-deterministic field).
    pub wall_ms: u64,
    /// Counts worth showing: ops invoked, ok, fail, info, records read, ...
    pub stats: BTreeMap<String, u64>,
    /// The faults injected, in start order.
    pub faults: Vec<FaultWindow>,
    /// What the cluster did on its own: leader changes, crashes, restarts, ...
    pub events: Vec<ClusterEvent>,
    /// The exact command that reruns this run, e.g.
    /// `faultline run scenarios/smoke.toml --seed 7`.
    pub repro: String,
}

/// The scenario a run came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// The scenario's name, e.g. `smoke`.
    pub name: String,
    /// The scenario file, as given on the command line.
    pub path: String,
    /// Hex hash of the scenario file's bytes, so an edited file is told from the original.
    pub hash: String,
}

/// One fault, from the moment it was injected until it healed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The fault kind, e.g. `partition`, `crash`, `pause`, `power-loss`.
    pub kind: String,
    /// The nodes it hits, by name.
    pub targets: Vec<String>,
    /// When it began, in nanoseconds since the run began.
    pub start_ns: u64,
    /// When it healed; `None` if it was still active when the run ended.
    pub end_ns: Option<u64>,
    /// A human-readable description (e.g. which halves a partition cut).
    pub detail: String,
}

/// Something the cluster did that explains a history: a leader change, a crash, a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// When it happened, in nanoseconds since the run began.
    pub time_ns: u64,
    /// The node it happened on (or the controller that decided it).
    pub node: String,
    /// What kind of event: `leader-change`, `crash`, `restart`, `isr-shrink`, ...
    pub kind: String,
    /// The event in words, e.g. `partition 0: leader broker-2, epoch 3`.
    pub description: String,
    /// For the controller's leadership and ISR decisions: the state it left the partition
    /// in, drawn as the partition's lane in the report's timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_state: Option<PartitionState>,
}

/// A partition's leader, leader epoch and ISR as the controller registered them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// `TOPIC-P`.
    pub partition: String,
    /// The leader's broker id, -1 for none (offline).
    pub leader: i32,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
}

impl RunReport {
    /// Every anomaly of every check, with the name of the checker that found it, in
    /// check order.
    pub fn anomalies(&self) -> impl Iterator<Item = (&str, &Anomaly)> {
        self.checks.iter().flat_map(|check| {
            check
                .anomalies
                .iter()
                .map(move |anomaly| (check.checker.as_str(), anomaly))
        })
    }

    /// The overall verdict of a set of checks: any `invalid` wins, then any `unknown`
    /// (an unknown is never a pass), else `valid`.
    pub fn combined_verdict(checks: &[CheckReport]) -> Verdict {
        faultline_checker::judge::combined_verdict(checks)
    }

    /// The time the report covers, in nanoseconds: the simulated duration, stretched to
    /// cover every op, fault and event (a history may run past the nominal duration).
    pub fn end_ns(&self, history: &History) -> u64 {
        let ops = history.ops.iter().map(|op| op.time);
        let faults = self
            .faults
            .iter()
            .map(|fault| fault.end_ns.unwrap_or(fault.start_ns));
        let events = self.events.iter().map(|event| event.time_ns);
        ops.chain(faults)
            .chain(events)
            .chain([self.simulated_ms.saturating_mul(1_000_000)])
            .max()
            .unwrap_or(0)
    }
}

impl FaultWindow {
    /// The fault in a few words, e.g. `partition(broker-1, broker-2)`.
    pub fn label(&self) -> String {
        format!("{}({})", self.kind, self.targets.join(", "))
    }

    /// Whether the fault was active at `time_ns`: from its start, up to but excluding its
    /// end.
    pub fn active_at(&self, time_ns: u64) -> bool {
        self.start_ns <= time_ns && self.end_ns.is_none_or(|end| time_ns < end)
    }

    /// Whether the fault was active at any moment of `[from_ns, to_ns]`.
    pub fn overlaps(&self, from_ns: u64, to_ns: u64) -> bool {
        self.start_ns <= to_ns && self.end_ns.is_none_or(|end| from_ns < end)
    }

    /// The fault windows a history's nemesis recorded: each `start-fault` is closed by the
    /// next `stop-fault` with the same kind and targets. For histories whose report has no
    /// fault list (e.g. a history checked with `faultline check`).
    pub fn from_history(history: &History) -> Vec<FaultWindow> {
        let mut windows: Vec<FaultWindow> = Vec::new();
        for op in &history.ops {
            let (Process::Nemesis, OpValue::Fault(fault)) = (op.process, &op.value) else {
                continue;
            };
            match op.f {
                Function::StartFault => windows.push(FaultWindow {
                    kind: fault.kind.clone(),
                    targets: fault.targets.clone(),
                    start_ns: op.time,
                    end_ns: None,
                    detail: fault.detail.clone(),
                }),
                Function::StopFault => {
                    let open = windows.iter_mut().find(|window| {
                        window.end_ns.is_none()
                            && window.kind == fault.kind
                            && window.targets == fault.targets
                    });
                    if let Some(window) = open {
                        window.end_ns = Some(op.time);
                    }
                }
                _ => {}
            }
        }
        windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checker::history::{Fault, Op, OpType};

    fn nemesis(index: u64, time: u64, f: Function, kind: &str, target: &str) -> Op {
        Op {
            index,
            time,
            process: Process::Nemesis,
            kind: OpType::Info,
            f,
            value: OpValue::Fault(Fault {
                kind: kind.to_string(),
                targets: vec![target.to_string()],
                detail: String::new(),
            }),
            error: None,
            leader_epochs: Default::default(),
        }
    }

    #[test]
    fn windows_pair_starts_with_stops_by_kind_and_targets() {
        let history = History {
            ops: vec![
                nemesis(0, 10, Function::StartFault, "partition", "broker-1"),
                nemesis(1, 20, Function::StartFault, "crash", "broker-2"),
                nemesis(2, 30, Function::StopFault, "partition", "broker-1"),
            ],
        };
        let windows = FaultWindow::from_history(&history);
        assert_eq!(windows.len(), 2);
        assert_eq!((windows[0].start_ns, windows[0].end_ns), (10, Some(30)));
        assert_eq!((windows[1].start_ns, windows[1].end_ns), (20, None));
        assert_eq!(windows[0].label(), "partition(broker-1)");
    }

    #[test]
    fn a_window_excludes_its_end() {
        let window = FaultWindow {
            kind: "pause".into(),
            targets: vec![],
            start_ns: 10,
            end_ns: Some(20),
            detail: String::new(),
        };
        assert!(!window.active_at(9));
        assert!(window.active_at(10));
        assert!(!window.active_at(20));
        assert!(window.overlaps(0, 10));
        assert!(!window.overlaps(20, 30));
    }

    #[test]
    fn invalid_beats_unknown_beats_valid() {
        let check = |verdict| CheckReport {
            checker: "log".into(),
            verdict,
            anomalies: vec![],
            stats: BTreeMap::new(),
        };
        let combined = |verdicts: &[Verdict]| {
            RunReport::combined_verdict(&verdicts.iter().map(|v| check(*v)).collect::<Vec<_>>())
        };
        assert_eq!(combined(&[]), Verdict::Valid);
        assert_eq!(
            combined(&[Verdict::Valid, Verdict::Unknown]),
            Verdict::Unknown
        );
        assert_eq!(
            combined(&[Verdict::Unknown, Verdict::Invalid]),
            Verdict::Invalid
        );
    }
}
