//! The replicas a broker hosts, by partition: an ordered map whose key set can change only
//! through [`Replicas::host`] and [`Replicas::remove`], which count the changes, and whose
//! replicas can change only once lent out by [`Replicas::get_mut`], [`Replicas::values_mut`]
//! or [`Replicas::host`], which count that on the replica ([`Partition::times_lent`]).
//!
//! Reading goes through `Deref` to the map. So [`Replicas::layout`] names the key set (the
//! same value means the same partitions in the same order) and a replica's lending count
//! names its state. The simulation's invariant checker merges every broker's replicas by
//! partition after every step and keeps that merge while no broker's layout moves; it
//! reads again only the partitions a replica of which was lent out since, and none at all
//! while no broker's [`Replicas::lendings`] moved.

use std::collections::BTreeMap;
use std::ops::Deref;

use crate::partition::Partition;
use crate::storage::TopicPartition;

/// A broker's replicas, by partition.
#[derive(Debug, Default)]
pub struct Replicas {
    map: BTreeMap<TopicPartition, Partition>,
    /// Changes of the key set so far.
    layout: u64,
    /// Lendings of any replica so far (`values_mut` counts once).
    lendings: u64,
}

impl Deref for Replicas {
    type Target = BTreeMap<TopicPartition, Partition>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl Replicas {
    /// How many times a partition was added or removed: equal values mean equal key sets.
    pub fn layout(&self) -> u64 {
        self.layout
    }

    /// How many times a replica was lent out to be changed: while this stays the same, so
    /// does every replica (a broker-wide [`Partition::times_lent`]).
    pub fn lendings(&self) -> u64 {
        self.lendings
    }

    /// The replica of `key`, to change.
    pub fn get_mut(&mut self, key: &TopicPartition) -> Option<&mut Partition> {
        self.lendings += 1;
        self.map.get_mut(key).map(lend)
    }

    /// Every replica, in partition order, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Partition> {
        self.lendings += 1;
        self.map.values_mut().map(lend)
    }

    /// The replica of `key`, made by `make` if this broker does not host it yet.
    pub fn host(
        &mut self,
        key: &TopicPartition,
        make: impl FnOnce() -> Partition,
    ) -> &mut Partition {
        if !self.map.contains_key(key) {
            self.layout += 1;
            self.map.insert(key.clone(), make());
        }
        self.lendings += 1;
        lend(self.map.get_mut(key).expect("hosted just above"))
    }

    /// Stops hosting `key`.
    pub fn remove(&mut self, key: &TopicPartition) -> Option<Partition> {
        let removed = self.map.remove(key);
        self.layout += u64::from(removed.is_some());
        removed
    }
}

/// Counts a lending of `partition` to be changed.
fn lend(partition: &mut Partition) -> &mut Partition {
    partition.lent += 1;
    partition
}
