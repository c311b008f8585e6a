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
mod state;

use std::collections::{BTreeMap, BTreeSet};

use faultline_broker::log::LogEntry;
use faultline_broker::partition::Role;
use faultline_broker::storage::TopicPartition;
use faultline_checker::{Anomaly, AnomalyKind, CheckReport};

use crate::events::{ClusterEvent, ClusterEventKind};
use crate::seed::fnv1a;

pub use state::{describe_states, ReplicaRef};

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
    /// Who led each (partition, leader epoch); nested so a step looks up without allocating.
    leaders: BTreeMap<TopicPartition, BTreeMap<i32, i32>>,
    /// Fingerprints of the committed records of each partition, by offset.
    committed: BTreeMap<TopicPartition, Vec<u64>>,
    /// Each replica's memory, by host and partition (looked up without allocating).
    replicas: BTreeMap<String, BTreeMap<TopicPartition, ReplicaMemory>>,
    /// The controller's last (leader epoch, partition epoch) per topic and partition.
    controller_epochs: BTreeMap<String, BTreeMap<i32, (i32, i32)>>,
    /// The controller's metadata log end, highest seen.
    metadata_end: i64,
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
    /// Something this step changes what the rules read beyond the replicas' own state
    /// (a crash, a power loss, an ISR re-admission, a truncation): check every partition.
    check_all: bool,
    /// The largest ISR any leader held, per partition over time (for [`acks`]).
    pub isr_timeline: acks::IsrTimeline,
    /// The first violation; checking stops there.
    pub violation: Option<Violation>,
}

/// What the checker remembers of one replica.
#[derive(Debug, Clone, Copy)]
struct ReplicaMemory {
    /// The process incarnation it belongs to; a restart starts afresh.
    incarnation: u64,
    /// Offsets below this were verified identical to the committed records.
    verified: i64,
    /// Its last leader epoch.
    leader_epoch: i32,
}

/// A broker host's node id (`broker-3` → 3).
pub fn broker_id(host: &str) -> Option<i32> {
    host.strip_prefix("broker-")?.parse().ok()
}

/// Folds into `h` what the rules read of one replica: its broker and process, leader
/// epoch, role, ISR, high watermark, log end and, for a leader, its view of its followers
/// and its pending ISR change.
fn signature(h: u64, r: &ReplicaRef<'_>) -> u64 {
    let mix = |h: u64, x: u64| (h ^ x).wrapping_mul(0x100_0000_01b3).rotate_left(17);
    let p = r.partition;
    let mut h = mix(h, p.node_id as u64);
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

/// A record's fingerprint: everything a consumer could tell apart.
fn fingerprint(entry: &LogEntry) -> u64 {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&entry.leader_epoch.to_le_bytes());
    bytes.extend_from_slice(&entry.producer_id.to_le_bytes());
    bytes.extend_from_slice(&entry.sequence.to_le_bytes());
    for part in [&entry.key, &entry.value] {
        match part {
            Some(b) => {
                bytes.extend_from_slice(&(b.len() as u64).to_le_bytes());
                bytes.extend_from_slice(b);
            }
            None => bytes.extend_from_slice(&u64::MAX.to_le_bytes()),
        }
    }
    fnv1a(&bytes)
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
                self.replicas.remove(node);
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

    /// Checks every live replica after a step (those of partitions that changed).
    pub fn check_replicas(&mut self, time_ns: u64, replicas: &[ReplicaRef<'_>]) {
        // Replicas grouped by partition. The simulation hands them over in partition
        // order already (`Hosts::check_invariants` merges the brokers' ordered maps);
        // otherwise a stable sort groups them, keeping their order within a partition.
        let mut order: Vec<&ReplicaRef<'_>> = replicas.iter().collect();
        if !order.is_sorted_by(|a, b| a.topic_partition <= b.topic_partition) {
            order.sort_by(|a, b| a.topic_partition.cmp(b.topic_partition));
        }
        let groups: Vec<&[&ReplicaRef<'_>]> = order
            .chunk_by(|a, b| a.topic_partition == b.topic_partition)
            .collect();
        let check_all =
            std::mem::take(&mut self.check_all) || self.signatures.len() != groups.len();
        let mut changed = Vec::with_capacity(groups.len());
        for (index, group) in groups.iter().enumerate() {
            let tp = group[0].topic_partition;
            let signature = group
                .iter()
                .fold(0xcbf2_9ce4_8422_2325, |h, r| signature(h, r));
            let same = !check_all
                && self
                    .signatures
                    .get(index)
                    .is_some_and(|(known, last)| known == tp && *last == signature);
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
            changed.push((index, signature));
        }
        if check_all {
            self.signatures = groups
                .iter()
                .map(|g| (g[0].topic_partition.clone(), 0))
                .collect();
        }
        if self.violation.is_some() {
            return;
        }
        let states = || describe_states(replicas);
        for (host, partition, to) in std::mem::take(&mut self.truncations) {
            // The truncating process is the host's latest incarnation, the one remembered.
            let held = self
                .replicas
                .get(&host)
                .and_then(|m| m.get(&partition))
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
        for (index, signature) in changed {
            for replica in groups[index] {
                if let Some((rule, detail)) = self.check_replica(replica, groups[index]) {
                    self.fail(time_ns, rule, detail, &states());
                    return;
                }
            }
            let tp = groups[index][0].topic_partition;
            match &mut self.signatures[index] {
                (known, last) if known == tp => *last = signature,
                other => *other = (tp.clone(), signature),
            }
        }
    }

    fn check_replica(
        &mut self,
        replica: &ReplicaRef<'_>,
        partition_replicas: &[&ReplicaRef<'_>],
    ) -> Option<(&'static str, String)> {
        let tp = replica.topic_partition;
        let p = replica.partition;
        let name = || format!("{} {}-{}", replica.host, tp.0, tp.1);
        let epoch = p.leader_epoch();
        if !self.replicas.contains_key(replica.host) {
            self.replicas
                .insert(replica.host.to_string(), BTreeMap::new());
        }
        let memories = self.replicas.get_mut(replica.host).expect("inserted above");
        if !memories.contains_key(tp) {
            memories.insert(
                tp.clone(),
                ReplicaMemory {
                    incarnation: replica.incarnation,
                    verified: 0,
                    leader_epoch: epoch,
                },
            );
        }
        let memory = memories.get_mut(tp).expect("inserted above");
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
            if !self.leaders.contains_key(tp) {
                self.leaders.insert(tp.clone(), BTreeMap::new());
            }
            let led = self.leaders.get_mut(tp).expect("inserted above");
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
        self.verify_committed(replica)
    }

    /// Compares this replica's records below its high watermark, from where it was last
    /// verified, with the committed records every other replica had there.
    fn verify_committed(&mut self, replica: &ReplicaRef<'_>) -> Option<(&'static str, String)> {
        let (tp, p) = (replica.topic_partition, replica.partition);
        let memory = self
            .replicas
            .get_mut(replica.host)
            .and_then(|m| m.get_mut(tp))
            .expect("remembered by check_replica");
        let end = p.log.end_offset();
        let upto = p.high_watermark.min(end);
        let from = memory.verified.min(end);
        memory.verified = from;
        if upto <= from {
            return None;
        }
        if !self.committed.contains_key(tp) {
            self.committed.insert(tp.clone(), Vec::new());
        }
        let ledger = self.committed.get_mut(tp).expect("inserted above");
        for entry in p.log.read_from(from, (upto - from) as usize) {
            let print = fingerprint(entry);
            let offset = entry.offset as usize;
            match ledger.get(offset) {
                Some(&known) if known != print => {
                    return Some((
                        "committed records differ between replicas",
                        format!(
                            "{} {}-{}: offset {} (epoch {}) below its high watermark {} differs from the record committed there before",
                            replica.host, tp.0, tp.1, entry.offset, entry.leader_epoch, p.high_watermark
                        ),
                    ));
                }
                Some(_) => {}
                None if offset == ledger.len() => ledger.push(print),
                None => {
                    return Some((
                        "log offsets not dense",
                        format!(
                            "{} {}-{}: offset {} follows {}",
                            replica.host,
                            tp.0,
                            tp.1,
                            entry.offset,
                            ledger.len()
                        ),
                    ))
                }
            }
        }
        memory.verified = upto;
        None
    }

    /// Checks the controller: its registrations' epochs and its metadata log only move
    /// forward, across its restarts too (it fsyncs every record, KIP-631).
    /// `registrations` yields (topic, partition, leader epoch, partition epoch).
    pub fn check_controller<'a>(
        &mut self,
        time_ns: u64,
        registrations: impl IntoIterator<Item = (&'a str, i32, i32, i32)>,
        metadata_end: i64,
    ) {
        if self.violation.is_some() {
            return;
        }
        if metadata_end < self.metadata_end {
            let detail = format!(
                "the controller's metadata log ends at {metadata_end}, after {}",
                self.metadata_end
            );
            self.fail(time_ns, "metadata log went backwards", detail, "");
            return;
        }
        self.metadata_end = metadata_end;
        for (topic, partition, leader_epoch, partition_epoch) in registrations {
            let now = (leader_epoch, partition_epoch);
            if !self.controller_epochs.contains_key(topic) {
                self.controller_epochs
                    .insert(topic.to_string(), BTreeMap::new());
            }
            let epochs = self
                .controller_epochs
                .get_mut(topic)
                .expect("inserted above");
            if let Some(before) = epochs.insert(partition, now) {
                if now.0 < before.0 || now.1 < before.1 {
                    let detail = format!(
                        "{topic}-{partition}: controller's (leader epoch, partition epoch) {before:?} then {now:?}"
                    );
                    self.fail(time_ns, "partition epochs went backwards", detail, "");
                    return;
                }
            }
        }
    }

    /// Checks a coordinator's groups: a group's generation never goes backwards while one
    /// coordinator process holds it (KIP-62; generations fence zombies).
    pub fn check_generations(
        &mut self,
        time_ns: u64,
        host: &str,
        incarnation: u64,
        generations: &[(String, i32)],
    ) {
        if !self.generations.contains_key(host) {
            self.generations.insert(host.to_string(), BTreeMap::new());
        }
        let by_group = self
            .generations
            .get_mut(host)
            .expect("inserted above")
            .entry(incarnation)
            .or_default();
        let mut backwards = None;
        for (group, generation) in generations {
            let before = match by_group.get_mut(group) {
                Some(last) => Some(std::mem::replace(last, *generation)),
                None => {
                    by_group.insert(group.clone(), *generation);
                    None
                }
            };
            if let Some(before) = before.filter(|&before| *generation < before) {
                // Only the first violation is kept (`fail`), so the first is enough.
                backwards.get_or_insert_with(|| {
                    format!("{host}: group {group} at generation {before}, then {generation}")
                });
            }
        }
        if let Some(detail) = backwards {
            self.fail(time_ns, "group generation went backwards", detail, "");
        }
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
            self.committed.values().map(|l| l.len() as u64).sum(),
        );
        CheckReport::from_anomalies("invariants", anomalies, stats)
    }
}

#[cfg(test)]
mod tests;
