//! Brokers and controllers for unit tests, set up as a cluster would set them up.

use crate::broker::Broker;
use crate::config::{ClusterConfig, MessageTimestampType, TopicConfig};
use crate::controller::Controller;
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

/// A controller of the default cluster with brokers 1 to 3 registered.
pub(crate) fn controller() -> Controller {
    let mut c = Controller::start(
        ClusterConfig::default(),
        Box::new(MemoryStorage::default()),
        0,
    );
    for id in 1..=3 {
        c.register(id, 100 + id as u64, 0).unwrap();
    }
    c
}

/// The default cluster with `message.timestamp.type=LogAppendTime` for `topic` (KIP-32).
pub(crate) fn log_append_time(topic: &str) -> ClusterConfig {
    let mut config = ClusterConfig::default();
    config.topic_configs.insert(
        topic.into(),
        TopicConfig {
            message_timestamp_type: MessageTimestampType::LogAppendTime,
            ..TopicConfig::default()
        },
    );
    config
}
