//! Coverage points of a run: which state transitions of the cluster it reached, computed
//! from its typed events, its faults and its history after the run. `explore --guided`
//! keeps the seeds and schedules that reach new points and mutates them (as fuzzers keep
//! inputs that reach new edges; Antithesis does the same with its fault schedules).
//!
//! Points are names, e.g. `leader-change with produce in flight`,
//! `follower truncated by epoch: 2-3 entries`, `isr shrink then expand within 500 ms`,
//! `coordinator moved during rebalance`, `during crash: isr-shrink`, and the event-kind
//! transitions of each partition (`isr-shrink → leader-change`). Points named
//! `trigger event: NAME` say which `[[faults.trigger]]` events the run reached after a
//! trigger's default `after`: guided exploration aims new triggers at them
//! ([`crate::aim`]).

use std::collections::{BTreeMap, BTreeSet};

use faultline_broker::group::OFFSETS_TOPIC;
use faultline_checker::history::{Function, History, MicroOp, OpValue};

use crate::events::{ClusterEvent, ClusterEventKind};
use crate::nemesis::apply::AppliedFault;
use crate::nemesis::trigger::{self, TriggerEvent, DEFAULT_AFTER_MS};

/// The prefix of the points that name a trigger event the run reached.
const TRIGGER_EVENT: &str = "trigger event: ";

/// How quickly an ISR expansion after a shrink counts as "within one fetch" (a few fetch
/// round trips at the simulation's latencies).
const QUICK_EXPAND_NS: u64 = 500_000_000;

/// A power-of-two bucket for counts: 1, 2-3, 4-7, 8+ (AFL's hit-count buckets).
fn bucket(n: u64) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2..=3 => "2-3",
        4..=7 => "4-7",
        _ => "8+",
    }
}

/// The coverage points a run reached.
pub fn points(
    events: &[ClusterEvent],
    faults: &[AppliedFault],
    history: &History,
) -> BTreeSet<String> {
    let mut points = BTreeSet::new();
    let mut last_kind: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut last_shrink: BTreeMap<String, u64> = BTreeMap::new();
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let in_flight = in_flight_ops(history);
    for event in events {
        let kind = event.kind.name();
        *counts.entry(kind).or_insert(0) += 1;
        if event.time_ns >= DEFAULT_AFTER_MS * 1_000_000 {
            for on in TriggerEvent::ALL {
                if trigger::subject(on, &event.kind).is_some() {
                    points.insert(format!("{TRIGGER_EVENT}{}", on.name()));
                }
            }
        }
        for fault in faults.iter().filter(|f| {
            f.start_ns <= event.time_ns && f.end_ns.is_none_or(|end| event.time_ns < end)
        }) {
            points.insert(format!("during {}: {kind}", fault.window.kind.name()));
        }
        let Some(partition) = event.kind.partition() else {
            continue;
        };
        let name = format!("{}-{}", partition.0, partition.1);
        if let Some(previous) = last_kind.insert(name.clone(), kind) {
            points.insert(format!("{previous} → {kind}"));
        }
        match &event.kind {
            ClusterEventKind::LeaderElected { .. } if partition.0 == OFFSETS_TOPIC => {
                if in_flight
                    .joins
                    .iter()
                    .any(|&(a, b)| a <= event.time_ns && event.time_ns < b)
                {
                    points.insert("coordinator moved during rebalance".into());
                }
            }
            ClusterEventKind::LeaderElected { .. } => {
                let key = partition.1 as u32;
                let sending = in_flight.sends.get(&key).is_some_and(|s| {
                    s.iter()
                        .any(|&(a, b)| a <= event.time_ns && event.time_ns < b)
                });
                if sending {
                    points.insert("leader-change with produce in flight".into());
                }
            }
            ClusterEventKind::Truncated { from, to, .. } => {
                let cut = from.saturating_sub(*to).max(0) as u64;
                points.insert(format!(
                    "follower truncated by epoch: {} entries",
                    bucket(cut)
                ));
            }
            ClusterEventKind::IsrChanged { removed, added, .. } => {
                if !removed.is_empty() {
                    last_shrink.insert(name.clone(), event.time_ns);
                }
                if let (false, Some(&at)) = (added.is_empty(), last_shrink.get(&name)) {
                    let quick = event.time_ns - at <= QUICK_EXPAND_NS;
                    points.insert(if quick {
                        "isr shrink then expand within 500 ms".into()
                    } else {
                        "isr shrink then expand".into()
                    });
                }
            }
            ClusterEventKind::PartitionOffline { .. }
            | ClusterEventKind::BecameLeader { .. }
            | ClusterEventKind::IsrProposed { .. }
            | ClusterEventKind::BrokerFenced { .. }
            | ClusterEventKind::BrokerUnfenced { .. }
            | ClusterEventKind::PowerLossDamage { .. }
            | ClusterEventKind::ClockSkewed { .. }
            | ClusterEventKind::MessagesDropped { .. }
            | ClusterEventKind::ProcessCrashed { .. }
            | ClusterEventKind::ProcessRestarted { .. }
            | ClusterEventKind::EndTxnAnswered { .. }
            | ClusterEventKind::RecordsDeleted { .. }
            | ClusterEventKind::TopicChanged { .. } => {}
        }
    }
    for (kind, n) in counts {
        points.insert(format!("{kind} ×{}", bucket(n)));
    }
    points
}

/// The trigger events a run's points say it reached, in [`TriggerEvent::ALL`] order.
pub fn trigger_events(points: &BTreeSet<String>) -> Vec<TriggerEvent> {
    TriggerEvent::ALL
        .into_iter()
        .filter(|on| points.contains(&format!("{TRIGGER_EVENT}{}", on.name())))
        .collect()
}

/// Sends in flight per partition, and joins in flight, as (invoke, completion) ns.
#[derive(Default)]
struct InFlight {
    sends: BTreeMap<u32, Vec<(u64, u64)>>,
    joins: Vec<(u64, u64)>,
}

fn in_flight_ops(history: &History) -> InFlight {
    let mut in_flight = InFlight::default();
    for (invoke, completion) in history.pairs() {
        let end = completion.map_or(u64::MAX, |c| c.time);
        match (&invoke.f, &invoke.value) {
            (Function::Send, OpValue::MicroOps(micro)) => {
                for op in micro {
                    if let MicroOp::Send { key, .. } = op {
                        in_flight
                            .sends
                            .entry(*key)
                            .or_default()
                            .push((invoke.time, end));
                    }
                }
            }
            (Function::Join, _) => in_flight.joins.push((invoke.time, end)),
            _ => {}
        }
    }
    in_flight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time_ns: u64, kind: ClusterEventKind) -> ClusterEvent {
        ClusterEvent {
            time_ns,
            node: "controller".into(),
            kind,
        }
    }

    fn isr(time_ns: u64, added: &[i32], removed: &[i32]) -> ClusterEvent {
        at(
            time_ns,
            ClusterEventKind::IsrChanged {
                partition: ("events".into(), 0),
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 1,
                isr: vec![1],
                added: added.to_vec(),
                removed: removed.to_vec(),
            },
        )
    }

    #[test]
    fn a_quick_shrink_and_expand_is_its_own_point() {
        let history = History::default();
        let quick = points(
            &[isr(0, &[], &[2]), isr(100_000_000, &[2], &[])],
            &[],
            &history,
        );
        assert!(
            quick.contains("isr shrink then expand within 500 ms"),
            "{quick:?}"
        );
        assert!(quick.contains("isr-shrink → isr-expand"));
        let slow = points(
            &[isr(0, &[], &[2]), isr(2_000_000_000, &[2], &[])],
            &[],
            &history,
        );
        assert!(slow.contains("isr shrink then expand"));
        assert!(!slow.contains("isr shrink then expand within 500 ms"));
    }

    #[test]
    fn trigger_events_are_points_only_after_the_cluster_settled() {
        let history = History::default();
        let settled = DEFAULT_AFTER_MS * 1_000_000;
        let early = points(&[isr(settled - 1, &[], &[2])], &[], &history);
        assert!(trigger_events(&early).is_empty(), "{early:?}");
        let late = points(
            &[isr(settled, &[], &[2]), isr(settled + 1, &[2], &[])],
            &[],
            &history,
        );
        assert_eq!(
            trigger_events(&late),
            vec![TriggerEvent::IsrShrink, TriggerEvent::IsrExpand]
        );
    }
}
