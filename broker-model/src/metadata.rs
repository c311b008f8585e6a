//! The cluster metadata log: what the controller decides, as records brokers replay.
//!
//! Like KRaft's `__cluster_metadata` topic (KIP-500, KIP-631), the controller appends every
//! decision — topic creation, partition leadership and ISR changes, broker registrations —
//! to one log, and brokers fetch it with ordinary Fetch requests and apply it in order.
//! Each record value is one JSON-encoded [`MetadataRecord`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::storage::TopicPartition;

/// The topic name brokers fetch metadata from.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// A partition's registration: who holds it, who leads it, who is in sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRegistration {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Assigned replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas. Kafka keeps the last member even when it is fenced, so that
    /// only it can become leader again (no unclean election).
    pub isr: Vec<i32>,
    /// The leader, or -1 when no in-sync replica is alive (the partition is offline).
    pub leader: i32,
    /// Bumped on every leadership change (KIP-101).
    pub leader_epoch: i32,
    /// Bumped on every change of any kind; AlterPartition must name the current one
    /// (KIP-497: INVALID_UPDATE_VERSION otherwise).
    pub partition_epoch: i32,
}

impl PartitionRegistration {
    /// `(topic, partition)`.
    pub fn topic_partition(&self) -> TopicPartition {
        (self.topic.clone(), self.partition)
    }
}

/// One record of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetadataRecord {
    /// A topic exists with this many partitions.
    Topic {
        /// Name.
        name: String,
        /// Partition count.
        partitions: i32,
        /// The topic configs it was created with (KRaft's `ConfigRecord`s of the topic),
        /// checked by [`crate::topic_config::check_all`]. Left out when empty.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        configs: BTreeMap<String, String>,
    },
    /// A partition's full registration after a change.
    Partition(PartitionRegistration),
    /// A topic was deleted, with all its partitions (KRaft's `RemoveTopicRecord`).
    TopicRemoved {
        /// Name.
        name: String,
    },
    /// A broker registered (again): a new incarnation means a restarted process.
    BrokerRegistration {
        /// Node id.
        broker_id: i32,
        /// The process incarnation that registered.
        incarnation: u64,
        /// The broker epoch the controller gave it.
        broker_epoch: i64,
    },
    /// A broker was fenced (KRaft's `FenceBrokerRecord`, KIP-631): it leads nothing and
    /// joins no ISR until it is unfenced. Logged so that a restarted controller knows it.
    BrokerFenced {
        /// Node id.
        broker_id: i32,
        /// The broker epoch that was fenced.
        broker_epoch: i64,
    },
    /// A fenced broker heartbeated again (KRaft's `UnfenceBrokerRecord`, KIP-631).
    BrokerUnfenced {
        /// Node id.
        broker_id: i32,
        /// The broker epoch that was unfenced.
        broker_epoch: i64,
    },
}

impl MetadataRecord {
    /// The record as bytes for a record value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata records serialize")
    }

    /// The record as the log entry at `offset` of the metadata log.
    pub fn to_entry(&self, offset: i64) -> crate::log::LogEntry {
        crate::log::LogEntry {
            offset,
            leader_epoch: 0,
            timestamp: 0,
            key: None,
            value: Some(bytes::Bytes::from(self.encode())),
            producer_id: -1,
            producer_epoch: -1,
            sequence: -1,
        }
    }

    /// Parses a record value.
    pub fn decode(bytes: &[u8]) -> Result<MetadataRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A broker's replayed view of the metadata log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Topics and their partition counts.
    pub topics: BTreeMap<String, i32>,
    /// Topics created with configs of their own, and those configs.
    pub topic_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Every partition's latest registration.
    pub partitions: BTreeMap<TopicPartition, PartitionRegistration>,
    /// The next metadata offset to fetch.
    pub next_offset: i64,
    /// Brokers the controller fenced and has not unfenced since (KIP-631): a leader does
    /// not wait for them (Kafka's `metadataCache.hasAliveBroker`).
    pub fenced: BTreeSet<i32>,
}

impl MetadataImage {
    /// Applies one record; returns the registration if a partition changed.
    pub fn apply(&mut self, record: &MetadataRecord) -> Option<PartitionRegistration> {
        self.next_offset += 1;
        match record {
            MetadataRecord::Topic {
                name,
                partitions,
                configs,
            } => {
                self.topics.insert(name.clone(), *partitions);
                if configs.is_empty() {
                    self.topic_configs.remove(name);
                } else {
                    self.topic_configs.insert(name.clone(), configs.clone());
                }
                None
            }
            MetadataRecord::Partition(registration) => {
                self.partitions
                    .insert(registration.topic_partition(), registration.clone());
                Some(registration.clone())
            }
            MetadataRecord::TopicRemoved { name } => {
                self.topics.remove(name);
                self.topic_configs.remove(name);
                self.partitions.retain(|(topic, _), _| topic != name);
                None
            }
            MetadataRecord::BrokerFenced { broker_id, .. } => {
                self.fenced.insert(*broker_id);
                None
            }
            MetadataRecord::BrokerUnfenced { broker_id, .. } => {
                self.fenced.remove(broker_id);
                None
            }
            MetadataRecord::BrokerRegistration { .. } => None,
        }
    }
}

/// A topic's id: Kafka gives each topic a random UUID (KIP-516); ours are derived from the
/// name so that every run of a seed names them the same.
pub fn topic_id(name: &str) -> uuid::Uuid {
    // FNV-1a over the name, twice with different offsets, fills the 128 bits.
    let hash = |basis: u64| {
        name.bytes()
            .fold(basis, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
    };
    let high = hash(0xcbf2_9ce4_8422_2325);
    let low = hash(0x6c62_272e_07bb_0142);
    uuid::Uuid::from_u64_pair(high, low)
}
