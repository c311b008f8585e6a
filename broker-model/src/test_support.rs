//! Brokers for unit tests, set up by replaying metadata records as a broker would.

use crate::broker::Broker;
use crate::config::ClusterConfig;
use crate::metadata::{MetadataRecord, PartitionRegistration};
use crate::storage::MemoryStorage;

/// Broker 1 as the only replica and leader of every partition of `topics` (name,
/// partition count): appends are committed at once when `min.insync.replicas` is 1.
pub(crate) fn sole_leader_of(topics: &[(&str, i32)], config: ClusterConfig) -> Broker {
    let mut broker = Broker::new(1, config, Box::new(MemoryStorage::default()));
    let mut records = Vec::new();
    for &(topic, partitions) in topics {
        records.push(MetadataRecord::Topic {
            name: topic.into(),
            partitions,
            configs: Default::default(),
        });
        for partition in 0..partitions {
            records.push(MetadataRecord::Partition(PartitionRegistration {
                topic: topic.into(),
                partition,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            }));
        }
    }
    broker.apply_metadata(&records, 0);
    broker
}
