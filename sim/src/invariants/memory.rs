//! The invariant checker's memory between steps, by small ids instead of names: a check
//! after every step looked up each replica's host and partition by name in ordered maps
//! (string comparisons were a third of checking a replica, issue #17). Ids are given on
//! first sight and kept for the run; the replica layout remembers each place's ids, so a
//! step names nothing. And the ledger of committed records each replica is verified
//! against, by fingerprint.

use std::collections::BTreeMap;

use faultline_broker::log::LogEntry;
use faultline_broker::storage::TopicPartition;

use super::ReplicaRef;
use crate::seed::Fnv1a;

/// A host's and a partition's id.
pub(super) type ReplicaId = (usize, usize);

/// Ids of hosts and partitions, in order of first sight.
#[derive(Debug, Default)]
pub(super) struct Ids {
    hosts: BTreeMap<String, usize>,
    partitions: BTreeMap<TopicPartition, usize>,
}

impl Ids {
    /// The ids of `host`'s replica of `partition`, given now if new.
    pub(super) fn of(&mut self, host: &str, partition: &TopicPartition) -> ReplicaId {
        (self.host(host), self.partition(partition))
    }

    fn host(&mut self, host: &str) -> usize {
        let next = self.hosts.len();
        match self.hosts.get(host) {
            Some(&id) => id,
            None => *self.hosts.entry(host.to_string()).or_insert(next),
        }
    }

    fn partition(&mut self, partition: &TopicPartition) -> usize {
        let next = self.partitions.len();
        match self.partitions.get(partition) {
            Some(&id) => id,
            None => *self.partitions.entry(partition.clone()).or_insert(next),
        }
    }

    /// The ids of `host`'s replica of `partition` if both were seen.
    pub(super) fn find(&self, host: &str, partition: &TopicPartition) -> Option<ReplicaId> {
        Some((*self.hosts.get(host)?, *self.partitions.get(partition)?))
    }

    /// `host`'s id if it was seen.
    pub(super) fn find_host(&self, host: &str) -> Option<usize> {
        self.hosts.get(host).copied()
    }
}

/// What the checker remembers of one replica.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplicaMemory {
    /// The process incarnation it belongs to; a restart starts afresh.
    pub incarnation: u64,
    /// Offsets below this were verified identical to the committed records.
    pub verified: i64,
    /// Its last leader epoch.
    pub leader_epoch: i32,
}

/// The slot at `index`, made (with every one before it) if missing.
pub(super) fn slot<T: Default>(slots: &mut Vec<T>, index: usize) -> &mut T {
    if slots.len() <= index {
        slots.resize_with(index + 1, T::default);
    }
    &mut slots[index]
}

/// Compares this replica's records below its high watermark, from where it was last
/// verified, with the committed records every other replica had there.
pub(super) fn verify_committed(
    ledger: &mut Vec<u64>,
    memory: &mut ReplicaMemory,
    replica: &ReplicaRef<'_>,
) -> Option<(&'static str, String)> {
    let (tp, p) = (replica.topic_partition, replica.partition);
    let end = p.log.end_offset();
    let upto = p.high_watermark.min(end);
    let from = memory.verified.min(end);
    memory.verified = from;
    if upto <= from {
        return None;
    }
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

/// A record's fingerprint: everything a consumer could tell apart.
fn fingerprint(entry: &LogEntry) -> u64 {
    use std::io::Write;
    let mut hash = Fnv1a::default();
    let mut put = |bytes: &[u8]| hash.write_all(bytes).expect("hashing cannot fail");
    put(&entry.leader_epoch.to_le_bytes());
    put(&entry.producer_id.to_le_bytes());
    put(&entry.sequence.to_le_bytes());
    for part in [&entry.key, &entry.value] {
        match part {
            Some(b) => {
                put(&(b.len() as u64).to_le_bytes());
                put(b);
            }
            None => put(&u64::MAX.to_le_bytes()),
        }
    }
    hash.finish()
}
