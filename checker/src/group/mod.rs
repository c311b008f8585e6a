//! The consumer-group checker: what Jepsen's Kafka workload leaves out (see
//! `shared/JEPSEN-KAFKA.md`, "What Jepsen does not check").
//!
//! Over `join` ops (a [`Membership`] after JoinGroup + SyncGroup), `commit` and
//! `fetch-committed` ops (a [`GroupOffsets`]):
//! - OverlappingAssignment: within one generation each partition is assigned to at most one
//!   member (the consumer protocol's assignment is a partition of the topic-partitions).
//! - FencedCommit: an OffsetCommit from a stale generation — invoked after a newer
//!   generation had been handed out — or from a member that never joined that generation,
//!   must fail with ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID; one that got `ok` is a zombie
//!   consumer's commit accepted.
//! - LostCommit: a fetch invoked after an acknowledged commit returns at least what it
//!   committed, across coordinator failover (offsets live in the replicated
//!   `__consumer_offsets`), unless another commit may have overwritten it since.
//! - CommittedOffsetRegression: successive fetches never move backwards unless a commit of
//!   the lower offset (an explicit seek) may have happened in between.
//! - UnownedPartition ([`coverage`]): once the group is stable, its final generation's
//!   assignments cover every partition of the subscription.
//! - UnprocessedRecord ([`at_least_once`]): every record below a group's acknowledged
//!   committed offset was returned to some member of the group.

use std::collections::BTreeMap;

mod at_least_once;
mod coverage;
mod offsets;

use offsets::Event;

use super::{Anomaly, AnomalyKind, CheckReport};
use crate::history::{
    Function, GroupOffsets, History, Key, Membership, Offset, Op, OpType, OpValue,
};

/// Checks a history's consumer-group ops.
pub fn check(history: &History) -> CheckReport {
    let mut joins: Vec<(&Op, &Op, &Membership)> = Vec::new();
    let mut commits: Vec<(&Op, Option<&Op>, &GroupOffsets)> = Vec::new();
    let mut fetches: Vec<(&Op, &Op, &GroupOffsets)> = Vec::new();
    let pairs = history.pairs();
    for &(invoke, completion) in &pairs {
        match (&invoke.value, completion) {
            (OpValue::Membership(_), Some(done)) if done.kind == OpType::Ok => {
                if let OpValue::Membership(Some(membership)) = &done.value {
                    joins.push((invoke, done, membership));
                }
            }
            (OpValue::Offsets(Some(offsets)), done) if invoke.f == Function::Commit => {
                // A failed commit is not a fetch either: it must stop at this arm.
                #[allow(clippy::collapsible_match)]
                if done.is_none_or(|d| d.kind != OpType::Fail) {
                    commits.push((invoke, done, offsets));
                }
            }
            (OpValue::Offsets(_), Some(done)) if done.kind == OpType::Ok => {
                if let OpValue::Offsets(Some(offsets)) = &done.value {
                    fetches.push((invoke, done, offsets));
                }
            }
            _ => {}
        }
    }
    let mut anomalies = overlapping_assignments(&joins);
    anomalies.extend(fenced_commits(&joins, &commits));
    anomalies.extend(offset_histories(&commits, &fetches));
    let all_joins = coverage::joins(&pairs);
    anomalies.extend(coverage::find(&pairs, &all_joins));
    anomalies.extend(at_least_once::find(&pairs, &all_joins, &commits));
    let stats = BTreeMap::from([
        ("joins".to_string(), joins.len() as u64),
        ("commits".to_string(), commits.len() as u64),
        ("fetches".to_string(), fetches.len() as u64),
    ]);
    CheckReport::from_anomalies("group", anomalies, stats)
}

fn overlapping_assignments(joins: &[(&Op, &Op, &Membership)]) -> Vec<Anomaly> {
    let mut owners: BTreeMap<(&str, i32, Key), (&str, u64)> = BTreeMap::new();
    let mut anomalies = Vec::new();
    for (_, done, m) in joins {
        for &key in &m.assignment {
            let slot = (m.group.as_str(), m.generation_id, key);
            match owners.get(&slot) {
                Some(&(owner, index)) if owner != m.member_id => anomalies.push(Anomaly {
                    kind: AnomalyKind::OverlappingAssignment,
                    key: Some(key),
                    ops: vec![index, done.index],
                    description: format!(
                        "group {}: generation {} assigned partition (key) {key} to member {owner} \
                         (op {index}) and to member {} (op {})",
                        m.group, m.generation_id, m.member_id, done.index
                    ),
                }),
                Some(_) => {}
                None => {
                    owners.insert(slot, (m.member_id.as_str(), done.index));
                }
            }
        }
    }
    anomalies
}

fn fenced_commits(
    joins: &[(&Op, &Op, &Membership)],
    commits: &[(&Op, Option<&Op>, &GroupOffsets)],
) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for (invoke, done, c) in commits {
        let Some(done) = done.filter(|d| d.kind == OpType::Ok) else {
            continue;
        };
        // Generation -1 is a standalone (assign-mode) commit: no membership to fence.
        if c.generation_id < 0 {
            continue;
        }
        let group_joins = joins.iter().filter(|(_, _, m)| m.group == c.group);
        let newer = group_joins
            .clone()
            .filter(|(_, j, m)| j.time < invoke.time && m.generation_id > c.generation_id)
            .map(|(_, j, m)| (m.generation_id, j.index))
            .max();
        let known = group_joins
            .clone()
            .any(|(_, _, m)| m.generation_id == c.generation_id && m.member_id == c.member_id);
        let reason = match (newer, known, group_joins.count()) {
            (Some((generation, index)), _, _) => format!(
                "generation {generation} had already been handed out (op {index}) when it was invoked"
            ),
            (None, false, joins) if joins > 0 => format!(
                "member {} never joined generation {}",
                c.member_id, c.generation_id
            ),
            _ => continue,
        };
        anomalies.push(Anomaly {
            kind: AnomalyKind::FencedCommit,
            key: c.offsets.keys().next().copied(),
            ops: vec![invoke.index, done.index],
            description: format!(
                "group {}: op {} committed offsets {:?} as member {} of generation {} and got ok, \
                 but {reason}; it should have failed with ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID",
                c.group, done.index, c.offsets, c.member_id, c.generation_id
            ),
        });
    }
    anomalies
}

fn event(invoke: &Op, done: Option<&Op>, offset: Offset) -> Event {
    Event {
        index: done.map_or(invoke.index, |d| d.index),
        process: invoke.process,
        invoke: invoke.time,
        complete: done
            .filter(|d| d.kind == OpType::Ok)
            .map_or(u64::MAX, |d| d.time),
        offset,
        acknowledged: done.is_some_and(|d| d.kind == OpType::Ok),
    }
}

fn offset_histories(
    commits: &[(&Op, Option<&Op>, &GroupOffsets)],
    fetches: &[(&Op, &Op, &GroupOffsets)],
) -> Vec<Anomaly> {
    #[allow(clippy::type_complexity)]
    let mut by_partition: BTreeMap<(&str, Key), (Vec<Event>, Vec<Event>)> = BTreeMap::new();
    for (invoke, done, c) in commits {
        for (&key, &offset) in &c.offsets {
            let entry = by_partition.entry((c.group.as_str(), key)).or_default();
            entry.0.push(event(invoke, *done, offset));
        }
    }
    for (invoke, done, f) in fetches {
        for (&key, &offset) in &f.offsets {
            let entry = by_partition.entry((f.group.as_str(), key)).or_default();
            entry.1.push(event(invoke, Some(done), offset));
        }
    }
    let mut anomalies = Vec::new();
    for ((group, key), (commits, fetches)) in &by_partition {
        anomalies.extend(offsets::judge(group, *key, commits, fetches));
    }
    anomalies
}
