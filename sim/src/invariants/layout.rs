//! Every live broker's replicas, grouped by partition: the order the invariant checker
//! reads them in after every step.
//!
//! The brokers' partition maps are ordered, so grouping them is a merge; but comparing
//! topic names to merge, every step, cost more than the rules themselves. A broker's key
//! set only changes through [`Replicas::host`] and [`Replicas::remove`], which count it
//! ([`Replicas::layout`]), so the merge is kept as positions and redone only when a
//! broker's process, incarnation or layout differs from the last step's. And a replica
//! changes only once its broker lent it out
//! ([`Partition::times_lent`](faultline_broker::partition::Partition::times_lent)), so a partition
//! none of whose replicas was lent out since the last step is known to be as it was, and a
//! step in which no broker lent out any ([`Replicas::lendings`]) changed no replica at all.

use faultline_broker::replicas::Replicas;
use faultline_broker::storage::TopicPartition;

use super::memory::{Ids, ReplicaId};
use super::{signature, ReplicaRef};

/// One live broker as the merge reads it: host, process incarnation, replicas.
pub type LiveBroker<'a> = (&'a str, u64, &'a Replicas);

/// The merge of the last step's brokers, as positions into their replicas.
#[derive(Debug, Default)]
pub struct ReplicaLayout {
    /// Each live broker's host, incarnation, layout and lendings, in the order given.
    brokers: Vec<(String, u64, u64, u64)>,
    /// For each replica of the brokers laid end to end (broker by broker, each in
    /// partition order), its place in partition order.
    place: Vec<usize>,
    /// For each place, the partition's group it belongs to.
    group_of: Vec<usize>,
    /// Where each partition's group of places ends.
    ends: Vec<usize>,
    /// Each place's lending count at the last step.
    lent: Vec<u64>,
    /// Whether a replica of each partition was lent out since the last step.
    touched: Vec<bool>,
    /// Each place's host and partition ids.
    ids: Vec<ReplicaId>,
    /// Each place's replica signature, as of its last lending.
    signatures: Vec<u64>,
}

impl ReplicaLayout {
    /// Every replica of `brokers`, grouped by partition in partition order and by broker
    /// (in the order given) within a partition ([`Self::ends`] ends the groups), and
    /// whether the grouping is the last call's (the same partitions at the same places):
    /// then [`Self::touched`] says which partitions had a replica lent out to be changed
    /// since. Each place's ids and signature are [`Self::ids`] and [`Self::signatures`].
    pub fn group<'a>(
        &mut self,
        brokers: &[LiveBroker<'a>],
        ids: &mut Ids,
    ) -> (Vec<ReplicaRef<'a>>, bool) {
        let same = self.same_layout(brokers);
        if same {
            for (known, (_, _, replicas)) in self.brokers.iter_mut().zip(brokers) {
                known.3 = replicas.lendings();
            }
        } else {
            self.merge(brokers, ids);
        }
        // Each replica straight to its place, read in the brokers' order. The first one
        // fills the vector until every place is written.
        let first = brokers.iter().find_map(|&(host, incarnation, replicas)| {
            let (topic_partition, partition) = replicas.iter().next()?;
            Some(ReplicaRef {
                host,
                incarnation,
                topic_partition,
                partition,
            })
        });
        let Some(first) = first else {
            return (Vec::new(), same);
        };
        let mut grouped = vec![first; self.place.len()];
        self.touched.fill(false);
        let mut next = 0;
        for &(host, incarnation, replicas) in brokers {
            for (topic_partition, partition) in replicas.iter() {
                let at = self.place[next];
                next += 1;
                grouped[at] = ReplicaRef {
                    host,
                    incarnation,
                    topic_partition,
                    partition,
                };
                let lent = partition.times_lent();
                if self.lent[at] != lent {
                    self.lent[at] = lent;
                    self.touched[self.group_of[at]] = true;
                    self.signatures[at] = signature(&grouped[at]);
                }
            }
        }
        debug_assert_eq!(next, grouped.len());
        (grouped, same)
    }

    /// Where each partition's group of places ends.
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// Which partitions had a replica lent out between the last two calls of [`Self::group`].
    pub fn touched(&self) -> &[bool] {
        &self.touched
    }

    /// Each place's host and partition ids.
    pub(super) fn ids(&self) -> &[ReplicaId] {
        &self.ids
    }

    /// Each place's replica signature.
    pub fn signatures(&self) -> &[u64] {
        &self.signatures
    }

    /// Whether `brokers` are the last call's, with the same partitions, and none of them
    /// lent out a replica since: every replica is as the last call saw it.
    pub fn unchanged(&self, brokers: &[LiveBroker<'_>]) -> bool {
        self.same_layout(brokers)
            && self
                .brokers
                .iter()
                .zip(brokers)
                .all(|(known, (_, _, replicas))| known.3 == replicas.lendings())
    }

    /// Whether `brokers` are the last call's processes, hosting the same partitions.
    fn same_layout(&self, brokers: &[LiveBroker<'_>]) -> bool {
        self.brokers.len() == brokers.len()
            && self
                .brokers
                .iter()
                .zip(brokers)
                .all(|(known, (host, incarnation, replicas))| {
                    known.1 == *incarnation && known.2 == replicas.layout() && known.0 == *host
                })
    }

    /// Merges the brokers' ordered replicas anew.
    fn merge(&mut self, brokers: &[LiveBroker<'_>], ids: &mut Ids) {
        self.brokers = brokers
            .iter()
            .map(|(host, incarnation, replicas)| {
                (
                    host.to_string(),
                    *incarnation,
                    replicas.layout(),
                    replicas.lendings(),
                )
            })
            .collect();
        // Every replica's key, broker by broker, and each broker's next unmerged one and
        // end in that list.
        let keys: Vec<&TopicPartition> = brokers
            .iter()
            .flat_map(|(_, _, replicas)| replicas.keys())
            .collect();
        let mut heads: Vec<(usize, usize)> = Vec::with_capacity(brokers.len());
        let mut start = 0;
        for (_, _, replicas) in brokers {
            heads.push((start, start + replicas.len()));
            start += replicas.len();
        }
        self.place = vec![0; keys.len()];
        self.group_of = Vec::with_capacity(keys.len());
        self.ends.clear();
        while let Some(next) = heads
            .iter()
            .filter(|(at, end)| at < end)
            .map(|&(at, _)| keys[at])
            .min()
        {
            for (at, end) in &mut heads {
                if *at < *end && keys[*at] == next {
                    self.place[*at] = self.group_of.len();
                    self.group_of.push(self.ends.len());
                    *at += 1;
                }
            }
            self.ends.push(self.group_of.len());
        }
        self.ids = vec![(0, 0); keys.len()];
        let hosts = brokers
            .iter()
            .flat_map(|(host, _, replicas)| std::iter::repeat_n(*host, replicas.len()));
        for ((host, key), &at) in hosts.zip(&keys).zip(&self.place) {
            self.ids[at] = ids.of(host, key);
        }
        // Nothing to compare with: every replica counts as lent out (the caller checks
        // every partition of a new layout anyway).
        self.lent = vec![u64::MAX; keys.len()];
        self.touched = vec![true; self.ends.len()];
        self.signatures = vec![0; keys.len()];
    }
}

#[cfg(test)]
mod tests {
    use faultline_broker::log::PartitionLog;
    use faultline_broker::metadata::PartitionRegistration;
    use faultline_broker::partition::Partition;

    use super::*;

    fn replica(node: i32, topic: &str, partition: i32) -> Partition {
        let registration = PartitionRegistration {
            topic: topic.into(),
            partition,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        };
        Partition::new(node, registration, PartitionLog::from_entries(Vec::new()))
    }

    fn hosting(node: i32, keys: &[(&str, i32)]) -> Replicas {
        let mut replicas = Replicas::default();
        for &(topic, partition) in keys {
            replicas.host(&(topic.to_string(), partition), || {
                replica(node, topic, partition)
            });
        }
        replicas
    }

    /// (host, topic, partition) of each replica, and the group ends; whether the layout
    /// is the last call's.
    fn grouped(
        layout: &mut ReplicaLayout,
        brokers: &[LiveBroker<'_>],
    ) -> (Vec<(String, String, i32)>, Vec<usize>, bool) {
        let (replicas, same) = layout.group(brokers, &mut Ids::default());
        let names = replicas
            .iter()
            .map(|r| {
                (
                    r.host.to_string(),
                    r.topic_partition.0.clone(),
                    r.topic_partition.1,
                )
            })
            .collect();
        (names, layout.ends().to_vec(), same)
    }

    /// Which partitions were touched since the last grouping, if it had the same layout.
    fn touched(layout: &mut ReplicaLayout, brokers: &[LiveBroker<'_>]) -> Option<Vec<bool>> {
        let (_, same) = layout.group(brokers, &mut Ids::default());
        same.then(|| layout.touched().to_vec())
    }

    fn named(rows: &[(&str, &str, i32)]) -> Vec<(String, String, i32)> {
        rows.iter()
            .map(|&(h, t, p)| (h.to_string(), t.to_string(), p))
            .collect()
    }

    #[test]
    fn groups_by_partition_and_regroups_when_a_key_set_or_process_changes() {
        let one = hosting(1, &[("a", 0), ("a", 1)]);
        let mut two = hosting(2, &[("a", 1), ("b", 0)]);
        let mut layout = ReplicaLayout::default();
        let expected = named(&[
            ("broker-1", "a", 0),
            ("broker-1", "a", 1),
            ("broker-2", "a", 1),
            ("broker-2", "b", 0),
        ]);
        let brokers = [("broker-1", 1, &one), ("broker-2", 1, &two)];
        assert_eq!(
            grouped(&mut layout, &brokers),
            (expected.clone(), vec![1, 3, 4], false)
        );
        // Nothing changed: the same grouping, known to be the same, nothing touched.
        assert_eq!(
            grouped(&mut layout, &brokers),
            (expected, vec![1, 3, 4], true)
        );
        assert_eq!(
            touched(&mut layout, &brokers),
            Some(vec![false, false, false])
        );
        // Broker 2's a-1 lent out to be changed (whether or not it was): a-1 is touched.
        let _ = two.get_mut(&("a".to_string(), 1));
        let brokers = [("broker-1", 1, &one), ("broker-2", 1, &two)];
        assert_eq!(
            touched(&mut layout, &brokers),
            Some(vec![false, true, false])
        );
        assert_eq!(
            touched(&mut layout, &brokers),
            Some(vec![false, false, false])
        );
        two.values_mut().for_each(drop);
        let brokers = [("broker-1", 1, &one), ("broker-2", 1, &two)];
        assert_eq!(
            touched(&mut layout, &brokers),
            Some(vec![false, true, true])
        );

        // Broker 2 comes to host a-0: merged again.
        two.host(&("a".to_string(), 0), || replica(2, "a", 0));
        let brokers = [("broker-1", 1, &one), ("broker-2", 1, &two)];
        let expected = named(&[
            ("broker-1", "a", 0),
            ("broker-2", "a", 0),
            ("broker-1", "a", 1),
            ("broker-2", "a", 1),
            ("broker-2", "b", 0),
        ]);
        assert_eq!(
            grouped(&mut layout, &brokers),
            (expected, vec![2, 4, 5], false)
        );

        // Broker 1's next process (same key set, new incarnation), then broker 1 down.
        let brokers = [("broker-1", 2, &one), ("broker-2", 1, &two)];
        assert!(!grouped(&mut layout, &brokers).2);
        assert!(grouped(&mut layout, &brokers).2);
        let brokers = [("broker-2", 1, &two)];
        let expected = named(&[
            ("broker-2", "a", 0),
            ("broker-2", "a", 1),
            ("broker-2", "b", 0),
        ]);
        assert_eq!(
            grouped(&mut layout, &brokers),
            (expected, vec![1, 2, 3], false)
        );

        // A removal moves the layout; removing what is not hosted does not.
        let layout_before = two.layout();
        assert!(two.remove(&("c".to_string(), 0)).is_none());
        assert_eq!(two.layout(), layout_before);
        assert!(two.remove(&("a".to_string(), 0)).is_some());
        let brokers = [("broker-2", 1, &two)];
        let expected = named(&[("broker-2", "a", 1), ("broker-2", "b", 0)]);
        assert_eq!(
            grouped(&mut layout, &brokers),
            (expected, vec![1, 2], false)
        );
    }
}
