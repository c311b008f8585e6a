//! Global invariants, checked after every simulation step against every live process's
//! state (TigerBeetle's cluster state checker, FoundationDB's consistency checks): the
//! simulation holds every broker in memory, so it need not wait for a bug to become a
//! client-visible anomaly.
//!
//! What is checked, and where the rule comes from:
//! - at most one leader per (partition, leader epoch) (KIP-101: an epoch names one
//!   leadership);
//! - on a leader's view, the high watermark ≤ its log end and ≤ every in-sync follower's
//!   known log end (Kafka `Partition.maybeIncrementLeaderHW`; KIP-497 maximal ISR);
//! - every in-sync replica holds every offset below its leader's high watermark, and
//!   committed (below-HW) records are identical on every replica that has them (the
//!   high watermark's contract, Kafka protocol guide "Fetch"; Jepsen's
//!   inconsistent-offsets seen from inside);
//! - leader epochs, partition epochs (the ISR version, KIP-497), the controller's
//!   metadata log and group generations never go backwards (KIP-101, KIP-631, KIP-62);
//! - a truncation never removes a record the replica held as committed (KIP-101/KIP-279);
//! - acks=all is acknowledged only while the leader's ISR has ≥ min.insync.replicas
//!   ([`acks`], Kafka protocol guide, Produce `acks`).
//!
//! Incremental: each replica's committed prefix is fingerprinted once, as its high
//! watermark passes it; nothing scans a whole log per step. A partition none of whose
//! replicas changed what a rule reads (a signature of leader epoch, role, ISR, high
//! watermark, log end, the leader's view of its followers and the process incarnation)
//! since its last check is not checked again: every rule is a function of that state and
//! of the checker's memory, which an unchanged partition leaves as it was. Steps with a
//! crash, power-loss damage, an ISR change or a truncation check every partition.
//!
//! Under `fsync = never` a host that loses power forgets what it acknowledged (Kafka
//! without KIP-966 does too). Such a broker is exempt from "holds what the ISR holds" until
//! the controller re-admits it to an ISR; a committed record that is then lost or replaced
//! is still reported, and scenarios that document such loss expect `invariant`.

pub mod acks;
mod control;
mod layout;
mod memory;
mod state;

use std::collections::{BTreeMap, BTreeSet};

use faultline_broker::partition::Role;
use faultline_broker::storage::TopicPartition;
use faultline_checker::{Anomaly, AnomalyKind, CheckReport};

use crate::events::{ClusterEvent, ClusterEventKind};

pub use layout::LiveBroker;
pub use state::{describe_states, ReplicaRef};

use memory::{slot, verify_committed, Ids, ReplicaId, ReplicaMemory};

/// The first invariant broken in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Simulated ns when it was seen.
    pub time_ns: u64,
    /// Which rule, in a few words.
    pub rule: &'static str,
    /// The evidence.
    pub detail: String,
    /// Every live replica's state at that moment (leader epoch, ISR, HW, log end).
    pub states: String,
}

/// The checker's memory between steps.
#[derive(Debug, Default)]
pub struct InvariantChecker {
    /// Ids of the hosts and partitions seen, which the memories below are indexed by.
    ids: Ids,
    /// Who led each (partition, leader epoch), by partition id.
    leaders: Vec<BTreeMap<i32, i32>>,
    /// Fingerprints of the committed records of each partition, by partition id, then
    /// offset.
    committed: Vec<Vec<u64>>,
    /// Each replica's memory, by host id, then partition id.
    replicas: Vec<Vec<Option<ReplicaMemory>>>,
    /// The controller's last (leader epoch, partition epoch) per topic and partition.
    controller_epochs: BTreeMap<String, BTreeMap<i32, (i32, i32)>>,
    /// The controller's registrations at the last check, in its order: (topic,
    /// partition, leader epoch, partition epoch).
    controller_last: Vec<(String, i32, i32, i32)>,
    /// The controller's metadata log end, highest seen.
    metadata_end: i64,
    /// The controller process and metadata log end of the last check of its registrations.
    controller_seen: Option<(u64, i64)>,
    /// Each coordinator's last generation per group, by host, then incarnation, then group.
    generations: BTreeMap<String, BTreeMap<u64, BTreeMap<String, i32>>>,
    /// Hosts whose process is down (crashed, powered off) until their next incarnation.
    down: BTreeMap<String, u64>,
    /// Brokers that lost unsynced entries to a power loss and were not re-admitted to an
    /// ISR since.
    amnesiac: BTreeSet<i32>,
    /// Truncations seen this step, checked against what the replica had verified.
    truncations: Vec<(String, TopicPartition, i64)>,
    /// Each partition's signature at its last check, in partition order.
    signatures: Vec<(TopicPartition, u64)>,
    /// The last step's brokers merged by partition.
    layout: layout::ReplicaLayout,
    /// Something this step changes what the rules read beyond the replicas' own state
    /// (a crash, a power loss, an ISR re-admission, a truncation): check every partition.
    check_all: bool,
    /// The largest ISR any leader held, per partition over time (for [`acks`]).
    pub isr_timeline: acks::IsrTimeline,
    /// The first violation; checking stops there.
    pub violation: Option<Violation>,
}

/// A broker host's node id (`broker-3` → 3).
pub fn broker_id(host: &str) -> Option<i32> {
    host.strip_prefix("broker-")?.parse().ok()
}

/// Where a signature's folding starts (FNV-1a's offset basis).
const SIGNATURE_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x100_0000_01b3).rotate_left(17)
}

/// A partition's signature: its replicas' [`signature`]s folded in order.
fn group_signature(signatures: &[u64]) -> u64 {
    signatures.iter().fold(SIGNATURE_BASIS, |h, &s| mix(h, s))
}

/// What the rules read of one replica, folded: its broker and process, leader epoch,
/// role, ISR, high watermark, log end and, for a leader, its view of its followers and its
/// pending ISR change.
fn signature(r: &ReplicaRef<'_>) -> u64 {
    let p = r.partition;
    let mut h = mix(SIGNATURE_BASIS, p.node_id as u64);
    h = mix(h, r.incarnation);
    h = mix(h, p.leader_epoch() as u64);
    h = mix(h, p.high_watermark as u64);
    h = mix(h, p.log.end_offset() as u64);
    h = mix(h, p.isr().len() as u64);
    for &member in p.isr() {
        h = mix(h, member as u64);
    }
    match &p.role {
        Role::Leader(state) => {
            h = mix(h, 1);
            for (id, progress) in &state.followers {
                h = mix(mix(h, *id as u64), progress.log_end_offset as u64);
            }
            if let Some(pending) = &state.pending_isr {
                h = mix(h, pending.base_partition_epoch as u64);
                for &member in &pending.isr {
                    h = mix(h, member as u64);
                }
            }
        }
        Role::Follower { leader, truncated } => {
            h = mix(mix(h, 2), *leader as u64);
            h = mix(h, *truncated as u64);
        }
        Role::Offline => h = mix(h, 3),
    }
    h
}

impl InvariantChecker {
    /// Takes note of what the cluster did this step: crashes, restarts, truncations, ISR
    /// re-admissions, power-loss damage.
    pub fn observe(&mut self, event: &ClusterEvent) {
        if matches!(
            event.kind,
            ClusterEventKind::ProcessCrashed { .. }
                | ClusterEventKind::PowerLossDamage { .. }
                | ClusterEventKind::IsrChanged { .. }
                | ClusterEventKind::Truncated { .. }
        ) {
            self.check_all = true;
        }
        match &event.kind {
            ClusterEventKind::ProcessCrashed { node, .. } => {
                self.down.insert(node.clone(), u64::MAX);
                // Its next process starts from its disk: nothing it verified carries over.
                if let Some(memories) = self
                    .ids
                    .find_host(node)
                    .and_then(|host| self.replicas.get_mut(host))
                {
                    memories.clear();
                }
            }
            ClusterEventKind::PowerLossDamage { node, lost } => {
                if *lost > 0 {
                    self.amnesiac.extend(broker_id(node));
                }
            }
            ClusterEventKind::IsrChanged { added, .. } => {
                for broker in added {
                    self.amnesiac.remove(broker);
                }
            }
            ClusterEventKind::Truncated {
                partition,
                broker,
                to,
                ..
            } => self
                .truncations
                .push((format!("broker-{broker}"), partition.clone(), *to)),
            // Scenarios create no topics at run time (auto-creation is off unless asked);
            // a deleted and re-created topic would restart its epochs and needs its own rule.
            ClusterEventKind::LeaderElected { .. }
            | ClusterEventKind::PartitionOffline { .. }
            | ClusterEventKind::BecameLeader { .. }
            | ClusterEventKind::IsrProposed { .. }
            | ClusterEventKind::BrokerFenced { .. }
            | ClusterEventKind::BrokerUnfenced { .. }
            | ClusterEventKind::ClockSkewed { .. }
            | ClusterEventKind::MessagesDropped { .. }
            | ClusterEventKind::ProcessRestarted { .. }
            | ClusterEventKind::EndTxnAnswered { .. }
            | ClusterEventKind::RecordsDeleted { .. }
            | ClusterEventKind::TopicChanged { .. } => {}
        }
    }

    /// Whether `host` at `incarnation` is a running process (a crashed host's last
    /// process stays in the registry until it restarts as a new incarnation).
    pub fn is_up(&mut self, host: &str, incarnation: u64) -> bool {
        match self.down.get(host) {
            Some(&u64::MAX) => {
                self.down.insert(host.to_string(), incarnation);
                false
            }
            Some(&dead) if dead == incarnation => false,
            _ => true,
        }
    }

    fn fail(&mut self, time_ns: u64, rule: &'static str, detail: String, states: &str) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                time_ns,
                rule,
                detail,
                states: states.to_string(),
            });
        }
    }

    /// Checks every live replica after a step (those of partitions that changed), in any
    /// order: a stable sort groups them by partition, keeping their order within one.
    pub fn check_replicas(&mut self, time_ns: u64, replicas: &[ReplicaRef<'_>]) {
        let mut order = replicas.to_vec();
        if !order.is_sorted_by(|a, b| a.topic_partition <= b.topic_partition) {
            order.sort_by(|a, b| a.topic_partition.cmp(b.topic_partition));
        }
        let mut ends = Vec::new();
        let mut end = 0;
        for group in order.chunk_by(|a, b| a.topic_partition == b.topic_partition) {
            end += group.len();
            ends.push(end);
        }
        // The same partitions in the same places as the last check's? Then any of them may
        // have changed (nothing here counts lendings).
        let same_layout = self.signatures.len() == ends.len()
            && ends
                .iter()
                .zip(&self.signatures)
                .all(|(&end, (known, _))| order[end - 1].topic_partition == known);
        let touched = vec![true; ends.len()];
        let ids: Vec<ReplicaId> = order
            .iter()
            .map(|r| self.ids.of(r.host, r.topic_partition))
            .collect();
        let signatures: Vec<u64> = order.iter().map(signature).collect();
        let grouped = Grouped {
            replicas: &order,
            ids: &ids,
            signatures: &signatures,
            ends: &ends,
        };
        self.check_partitions(time_ns, grouped, same_layout.then_some(&touched[..]));
    }

    /// Checks every live broker's replicas after a step: `brokers` in a fixed order (the
    /// hosts' registry order), each broker's replicas grouped with the other brokers'
    /// replicas of the same partition ([`layout`]).
    pub fn check_brokers(&mut self, time_ns: u64, brokers: &[LiveBroker<'_>]) {
        // No replica lent out, none to check: every rule would read what it read last step.
        if !self.check_all && self.truncations.is_empty() && self.layout.unchanged(brokers) {
            return;
        }
        let mut layout = std::mem::take(&mut self.layout);
        let (replicas, same) = layout.group(brokers, &mut self.ids);
        let touched = same.then(|| layout.touched());
        let grouped = Grouped {
            replicas: &replicas,
            ids: layout.ids(),
            signatures: layout.signatures(),
            ends: layout.ends(),
        };
        self.check_partitions(time_ns, grouped, touched);
        self.layout = layout;
    }

    /// Checks every live replica after a step, grouped by partition in partition order
    /// (`Hosts::check_invariants` merges the brokers' ordered maps into this). Only
    /// partitions whose signature changed are checked again. `touched` is given when the
    /// partitions are the last check's, in the same places, and says which may have
    /// changed since: only those have their signature compared with their place's, without
    /// comparing names.
    fn check_partitions(
        &mut self,
        time_ns: u64,
        grouped: Grouped<'_, '_>,
        touched: Option<&[bool]>,
    ) {
        let Grouped {
            replicas,
            ids,
            signatures,
            ends,
        } = grouped;
        let groups = ends.iter().scan(0, |start, &end| {
            let range = std::mem::replace(start, end)..end;
            Some((
                &replicas[range.clone()],
                &ids[range.clone()],
                &signatures[range],
            ))
        });
        let check_all = std::mem::take(&mut self.check_all)
            || touched.is_none()
            || self.signatures.len() != ends.len();
        let mut changed = Vec::with_capacity(ends.len());
        // On a check of everything, every partition's key with a signature no check matches.
        let mut fresh = Vec::with_capacity(if check_all { ends.len() } else { 0 });
        for (index, (group, group_ids, group_signatures)) in groups.enumerate() {
            let tp = group[0].topic_partition;
            if check_all {
                fresh.push((tp.clone(), 0));
            }
            if !check_all && touched.is_some_and(|touched| !touched[index]) {
                // (After a violation the signatures are no longer kept up to date.)
                debug_assert!(
                    self.violation.is_some()
                        || self.signatures[index].1
                            == group_signature(&group.iter().map(signature).collect::<Vec<_>>()),
                    "{tp:?} changed, though no replica of it was lent out"
                );
                continue;
            }
            let signature = group_signature(group_signatures);
            // `check_all` is off only for the last check's layout: the same partition.
            let same = !check_all && self.signatures[index].1 == signature;
            if same {
                continue;
            }
            let largest = group
                .iter()
                .filter(|r| r.partition.is_leader())
                .map(|r| r.partition.isr().len())
                .max()
                .unwrap_or(0);
            acks::sample(&mut self.isr_timeline, tp, time_ns, largest);
            changed.push((index, group, group_ids, signature));
        }
        if check_all {
            self.signatures = fresh;
        }
        if self.violation.is_some() {
            return;
        }
        let states = || describe_states(replicas);
        for (host, partition, to) in std::mem::take(&mut self.truncations) {
            // The truncating process is the host's latest incarnation, the one remembered.
            let held = self
                .ids
                .find(&host, &partition)
                .and_then(|(host, part)| self.replicas.get(host)?.get(part).copied().flatten())
                .map_or(0, |m| m.verified);
            if to < held {
                let detail = format!(
                    "{host} truncated {}-{} to {to}, below offset {held} up to which it held committed records",
                    partition.0, partition.1
                );
                self.fail(
                    time_ns,
                    "truncation below the high watermark",
                    detail,
                    &states(),
                );
            }
        }
        for (index, group, group_ids, signature) in changed {
            for (replica, &id) in group.iter().zip(group_ids) {
                if let Some((rule, detail)) = self.check_replica(replica, id, group) {
                    self.fail(time_ns, rule, detail, &states());
                    return;
                }
            }
            // Either this layout's keys were put in place above, or it is the last one's.
            let (known, last) = &mut self.signatures[index];
            debug_assert!(known == group[0].topic_partition);
            *last = signature;
        }
    }

    fn check_replica(
        &mut self,
        replica: &ReplicaRef<'_>,
        (host, part): ReplicaId,
        partition_replicas: &[ReplicaRef<'_>],
    ) -> Option<(&'static str, String)> {
        let tp = replica.topic_partition;
        let p = replica.partition;
        let name = || format!("{} {}-{}", replica.host, tp.0, tp.1);
        let epoch = p.leader_epoch();
        let memory = slot(slot(&mut self.replicas, host), part).get_or_insert(ReplicaMemory {
            incarnation: replica.incarnation,
            verified: 0,
            leader_epoch: epoch,
        });
        if memory.incarnation != replica.incarnation {
            *memory = ReplicaMemory {
                incarnation: replica.incarnation,
                verified: 0,
                leader_epoch: epoch,
            };
        }
        if epoch < memory.leader_epoch {
            return Some((
                "leader epoch went backwards",
                format!(
                    "{}: leader epoch {} then {epoch}",
                    name(),
                    memory.leader_epoch
                ),
            ));
        }
        memory.leader_epoch = epoch;
        if let Role::Leader(state) = &p.role {
            let led = slot(&mut self.leaders, part);
            let leader = *led.entry(epoch).or_insert(p.node_id);
            if leader != p.node_id {
                return Some((
                    "two leaders in one epoch",
                    format!(
                        "{}-{} epoch {epoch} is led by broker {leader} and broker {}",
                        tp.0, tp.1, p.node_id
                    ),
                ));
            }
            let hw = p.high_watermark;
            if hw > p.log.end_offset() {
                return Some((
                    "high watermark above the leader's log end",
                    format!(
                        "{}: high watermark {hw}, log end {}",
                        name(),
                        p.log.end_offset()
                    ),
                ));
            }
            for &member in p.isr() {
                if member == p.node_id || self.amnesiac.contains(&member) {
                    continue;
                }
                let known = state.followers.get(&member).map(|f| f.log_end_offset);
                if let Some(end) = known.filter(|&e| e >= 0 && e < hw) {
                    return Some((
                        "high watermark above an in-sync follower",
                        format!("{}: high watermark {hw}, in-sync broker {member} at {end} (leader's view)", name()),
                    ));
                }
                let held = partition_replicas
                    .iter()
                    .find(|r| r.partition.node_id == member)
                    .map(|r| r.partition.log.end_offset());
                if let Some(end) = held.filter(|&e| e < hw) {
                    return Some((
                        "in-sync replica missing committed records",
                        format!(
                            "{}: high watermark {hw}, in-sync broker {member}'s log ends at {end}",
                            name()
                        ),
                    ));
                }
            }
        }
        verify_committed(slot(&mut self.committed, part), memory, replica)
    }

    /// The `invariants` check report.
    pub fn report(&self, checked_steps: u64) -> CheckReport {
        let anomalies = self
            .violation
            .iter()
            .map(|v| Anomaly {
                kind: AnomalyKind::Invariant,
                key: None,
                ops: Vec::new(),
                description: format!(
                    "{} at {:.3} s: {}{}",
                    v.rule,
                    v.time_ns as f64 / 1e9,
                    v.detail,
                    if v.states.is_empty() {
                        String::new()
                    } else {
                        format!(". Replicas then: {}", v.states)
                    }
                ),
            })
            .collect();
        let mut stats = BTreeMap::new();
        stats.insert("steps checked".to_string(), checked_steps);
        stats.insert(
            "committed offsets verified".to_string(),
            self.committed.iter().map(|l| l.len() as u64).sum(),
        );
        CheckReport::from_anomalies("invariants", anomalies, stats)
    }
}

/// Every live replica grouped by partition in partition order, with what the checker
/// keeps of each: partition `i` is `replicas[ends[i - 1]..ends[i]]`, and `ids` and
/// `signatures` run parallel to `replicas`.
struct Grouped<'g, 'a> {
    replicas: &'g [ReplicaRef<'a>],
    ids: &'g [ReplicaId],
    signatures: &'g [u64],
    ends: &'g [usize],
}

#[cfg(test)]
mod tests;
