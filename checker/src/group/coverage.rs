//! UnownedPartition: once a group is stable, every partition of its subscription is owned.
//!
//! The consumer protocol's assignor (KIP-429's `ConsumerPartitionAssignor`, Kafka's range
//! and sticky assignors) hands *every* partition of the subscribed topics to some member of
//! the generation; a generation whose assignments leave a partition out silently stops
//! consuming it — a liveness bug no Jepsen queue check names (kafka.clj only sees the
//! polls, and `unseen` needs final reads that bypass the group).
//!
//! "Stable" is judged conservatively, so a history that ends mid-rebalance is never
//! blamed: the group's final generation (the highest `generation_id` any member joined,
//! so no later rebalance is recorded), and no join by one of the group's processes that
//! did not end `ok` was invoked after that generation's first join completed (a member
//! still rejoining means another generation may be on its way), and no join of theirs
//! whose answer was lost (`info`) overlapped that generation's forming: the coordinator
//! may have counted it a member, and the leader handed it partitions it never learned of
//! (its next join starts another rebalance, which the history may end before). The partitions of the
//! subscription are the keys of the `subscribe` ops of the group's processes; without any,
//! the check has nothing to compare with and stays silent.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Function, Key, Membership, Op, OpType, OpValue, Process};
use crate::{Anomaly, AnomalyKind};

/// One join round as the group checker collected it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Join<'a> {
    /// The JoinGroup invoke.
    pub invoke: &'a Op,
    /// The completion, if the round ended.
    pub done: Option<&'a Op>,
    /// What the member learned, on `ok`.
    pub membership: Option<&'a Membership>,
}

/// Every join op of the history, `ok` or not, in invoke order.
pub(super) fn joins<'a>(pairs: &[(&'a Op, Option<&'a Op>)]) -> Vec<Join<'a>> {
    pairs
        .iter()
        .filter(|(invoke, _)| invoke.f == Function::Join)
        .map(|&(invoke, done)| Join {
            invoke,
            done,
            membership: match done.map(|d| (d.kind, &d.value)) {
                Some((OpType::Ok, OpValue::Membership(Some(m)))) => Some(m),
                _ => None,
            },
        })
        .collect()
}

/// One anomaly per stable group whose final generation leaves partitions unowned.
pub(super) fn find(pairs: &[(&Op, Option<&Op>)], joins: &[Join]) -> Vec<Anomaly> {
    let mut by_group: BTreeMap<&str, Vec<(&Op, &Membership)>> = BTreeMap::new();
    for join in joins {
        if let (Some(done), Some(m)) = (join.done, join.membership) {
            by_group
                .entry(m.group.as_str())
                .or_default()
                .push((done, m));
        }
    }
    let mut anomalies = Vec::new();
    for (group, members) in &by_group {
        let processes: BTreeSet<Process> = joins
            .iter()
            .filter(|j| j.membership.is_some_and(|m| m.group == *group))
            .map(|j| j.invoke.process)
            .collect();
        let subscribed = subscription(pairs, &processes);
        if subscribed.is_empty() {
            continue;
        }
        let generation = members
            .iter()
            .map(|(_, m)| m.generation_id)
            .max()
            .expect("a group in the map has a join");
        let last: Vec<&(&Op, &Membership)> = members
            .iter()
            .filter(|(_, m)| m.generation_id == generation)
            .collect();
        let first_done = last.iter().map(|(d, _)| d.time).min().expect("non-empty");
        let rejoining = joins.iter().any(|j| {
            processes.contains(&j.invoke.process)
                && j.membership.is_none()
                && j.invoke.time > first_done
        });
        // The last generation formed after its members' joins were sent: an unanswered
        // join still open then may have been counted in.
        let forming_from = joins
            .iter()
            .filter(|j| {
                j.membership
                    .is_some_and(|m| m.group == *group && m.generation_id == generation)
            })
            .map(|j| j.invoke.time)
            .min()
            .expect("the last generation has a join");
        let maybe_member = joins.iter().any(|j| {
            processes.contains(&j.invoke.process)
                && j.invoke.time <= first_done
                && j.done
                    .is_some_and(|d| d.kind == OpType::Info && d.time >= forming_from)
        });
        if rejoining || maybe_member {
            continue;
        }
        let owned: BTreeSet<Key> = last
            .iter()
            .flat_map(|(_, m)| m.assignment.iter().copied())
            .collect();
        let unowned: Vec<Key> = subscribed.difference(&owned).copied().collect();
        if unowned.is_empty() {
            continue;
        }
        let ops: Vec<u64> = last.iter().map(|(d, _)| d.index).collect();
        let members_text: Vec<String> = last
            .iter()
            .map(|(d, m)| format!("{} {:?} (op {})", m.member_id, m.assignment, d.index))
            .collect();
        anomalies.push(Anomaly {
            kind: AnomalyKind::UnownedPartition,
            key: unowned.first().copied(),
            ops,
            description: format!(
                "group {group}: generation {generation} is the last (no rebalance after it), \
                 yet its members' assignments [{}] leave partition(s) (keys) {unowned:?} of \
                 the subscription {:?} with no owner, so nobody consumes them",
                members_text.join(", "),
                subscribed
            ),
        });
    }
    anomalies
}

/// The keys the group's processes subscribed to (completed `subscribe` ops, not `fail`).
fn subscription(pairs: &[(&Op, Option<&Op>)], processes: &BTreeSet<Process>) -> BTreeSet<Key> {
    pairs
        .iter()
        .filter(|(invoke, done)| {
            invoke.f == Function::Subscribe
                && processes.contains(&invoke.process)
                && done.is_none_or(|d| d.kind != OpType::Fail)
        })
        .flat_map(|(invoke, _)| match &invoke.value {
            OpValue::Keys(keys) => keys.clone(),
            _ => Vec::new(),
        })
        .collect()
}
