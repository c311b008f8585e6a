//! The broker's state: its metadata image and the replicas it hosts.
//!
//! Sans-IO: the node layer (`node.rs`) feeds it decoded requests, metadata records and
//! ticks, and carries its answers to the network. Time is passed in as `now_ms`.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::records::{Record, TimestampType};

use crate::config::{ClusterConfig, FsyncPolicy};
use crate::events::BrokerEventKind;
use crate::forwarding::Forwarding;
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::{LogEntry, PartitionLog};
use crate::metadata::{MetadataImage, MetadataRecord, PartitionRegistration};
use crate::partition::{Partition, Role};
use crate::producer_ids::{ProducerIdAllocator, PRODUCER_ID_BLOB};
use crate::storage::{Storage, StorageError, TopicPartition};

/// A leadership or ISR change this broker observed, for the run's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEvent {
    /// The partition.
    pub partition: TopicPartition,
    /// What happened, as data (`describe()` gives the words).
    pub kind: BrokerEventKind,
}

/// One broker.
pub struct Broker {
    /// Its node id.
    pub node_id: i32,
    /// The cluster it belongs to.
    pub config: ClusterConfig,
    /// Replayed controller metadata.
    pub image: MetadataImage,
    /// The replicas it hosts.
    pub partitions: BTreeMap<TopicPartition, Partition>,
    /// Its disk.
    pub storage: Box<dyn Storage>,
    /// Logs found on disk at start, waiting for their partition's first registration.
    recovered_logs: BTreeMap<TopicPartition, Vec<LogEntry>>,
    /// Messages appended since the last fsync (for `FsyncPolicy::EveryMessages`).
    unsynced_messages: u64,
    /// Events for the trace, drained by the node layer.
    pub events: Vec<BrokerEvent>,
    /// Hands out producer ids for InitProducerId (KIP-98).
    pub producer_ids: ProducerIdAllocator,
    /// The consumer groups of the `__consumer_offsets` partitions this broker leads.
    pub groups: GroupCoordinator,
    /// ISR changes waiting to be sent to the controller, newest per partition. Leaders
    /// decide them on their own clock (Kafka's `isr-expiration` task), whether or not the
    /// controller is reachable.
    pub isr_outbox: BTreeMap<TopicPartition, (PartitionRegistration, Vec<i32>)>,
    /// Until when (this broker's clock) its metadata is fresh enough to act as a group
    /// coordinator: renewed by every completed controller round.
    pub coordinator_lease_until_ms: u64,
    /// CreateTopics/DeleteTopics and auto-creations waiting to go to the controller
    /// (KIP-590).
    pub forwarding: Forwarding,
}

impl Broker {
    /// A broker starting (or restarting) on `storage`.
    pub fn new(node_id: i32, config: ClusterConfig, storage: Box<dyn Storage>) -> Self {
        let recovered = storage.recover();
        let config_offsets_partitions = config.offsets_topic_partitions;
        let producer_ids = ProducerIdAllocator::recover(
            node_id,
            recovered.blobs.get(PRODUCER_ID_BLOB).map(Vec::as_slice),
        );
        Broker {
            node_id,
            config,
            image: MetadataImage::default(),
            partitions: BTreeMap::new(),
            storage,
            recovered_logs: recovered.logs,
            unsynced_messages: 0,
            events: Vec::new(),
            producer_ids,
            groups: GroupCoordinator::new(config_offsets_partitions),
            isr_outbox: BTreeMap::new(),
            coordinator_lease_until_ms: 0,
            forwarding: Forwarding::default(),
        }
    }

    /// Applies metadata records fetched from the controller, in order.
    /// Only each partition's newest registration in the batch is acted on, so a restarted
    /// broker replaying the log from the start never passes through stale roles.
    pub fn apply_metadata(&mut self, records: &[MetadataRecord], now_ms: u64) {
        let mut latest: BTreeMap<TopicPartition, PartitionRegistration> = BTreeMap::new();
        for record in records {
            if let MetadataRecord::TopicRemoved { name } = record {
                latest.retain(|(topic, _), _| topic != name);
                self.remove_topic(name);
            }
            if let Some(registration) = self.image.apply(record) {
                latest.insert(registration.topic_partition(), registration);
            }
        }
        for registration in latest.into_values() {
            self.apply_registration(registration, now_ms);
        }
    }

    /// Drops every replica of a deleted topic, in memory and on disk, so that a topic
    /// created again under the name starts empty.
    fn remove_topic(&mut self, name: &str) {
        let doomed: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|(topic, _)| topic == name)
            .cloned()
            .collect();
        for key in doomed {
            self.partitions.remove(&key);
            self.isr_outbox.remove(&key);
            self.storage.truncate(&key, 0);
        }
        self.recovered_logs.retain(|(topic, _), _| topic != name);
    }

    fn apply_registration(&mut self, registration: PartitionRegistration, now_ms: u64) {
        if !registration.replicas.contains(&self.node_id) {
            return;
        }
        let key = registration.topic_partition();
        let node_id = self.node_id;
        let recovered = &mut self.recovered_logs;
        let partition = self.partitions.entry(key.clone()).or_insert_with(|| {
            let entries = recovered.remove(&key).unwrap_or_default();
            Partition::new(
                node_id,
                registration.clone(),
                PartitionLog::from_entries(entries),
            )
        });
        let was_leader = partition.is_leader();
        let old_epoch = partition.leader_epoch();
        partition.apply_registration(registration.clone(), now_ms);
        let became_leader =
            partition.is_leader() && (!was_leader || old_epoch != partition.leader_epoch());
        if key.0 == OFFSETS_TOPIC {
            // The group coordinator follows the offsets partition's leadership.
            if became_leader {
                self.groups
                    .load(key.1, partition.leader_epoch(), partition.log.entries());
            } else if !partition.is_leader() {
                self.groups.unload(key.1);
            }
        }
        if became_leader {
            self.events.push(BrokerEvent {
                partition: key,
                kind: BrokerEventKind::BecameLeader {
                    broker: node_id,
                    leader_epoch: partition.leader_epoch(),
                    log_end_offset: partition.log.end_offset(),
                    isr: partition.isr().to_vec(),
                },
            });
        }
    }

    /// Writes appended entries to disk according to the fsync policy. On an I/O error
    /// nothing was written and the caller must undo its in-memory append.
    pub fn persist_append(
        &mut self,
        partition: &TopicPartition,
        entries: &[LogEntry],
    ) -> Result<(), StorageError> {
        self.storage.append(partition, entries)?;
        self.unsynced_messages += entries.len() as u64;
        let sync = match self.config.fsync {
            FsyncPolicy::Never => false,
            FsyncPolicy::Always => true,
            FsyncPolicy::EveryMessages(n) => self.unsynced_messages >= n.max(1),
        };
        // Planted bug `fsync_lies`: claim the sync happened.
        if sync && !self.config.bugs.fsync_lies {
            self.storage.sync();
            self.unsynced_messages = 0;
        }
        Ok(())
    }

    /// A fresh producer id, synced to disk before it is returned.
    pub fn allocate_producer_id(&mut self) -> i64 {
        self.producer_ids.allocate(self.storage.as_mut())
    }

    /// Truncates a follower's log on disk and in memory.
    pub fn truncate(&mut self, partition: &TopicPartition, offset: i64) {
        if let Some(replica) = self.partitions.get_mut(partition) {
            let before = replica.log.end_offset();
            replica.truncate_as_follower(offset);
            let after = replica.log.end_offset();
            self.storage.truncate(partition, after);
            if after < before {
                self.events.push(BrokerEvent {
                    partition: partition.clone(),
                    kind: BrokerEventKind::Truncated {
                        broker: self.node_id,
                        from: before,
                        to: after,
                        leader_epoch: replica.leader_epoch(),
                    },
                });
            }
        }
    }

    /// The leader each followed partition is fetched from, grouped by leader.
    pub fn fetch_targets(&self) -> BTreeMap<i32, Vec<TopicPartition>> {
        let mut targets: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for (key, partition) in &self.partitions {
            if let Role::Follower { leader, .. } = partition.role {
                targets.entry(leader).or_default().push(key.clone());
            }
        }
        targets
    }

    /// Extends the coordinator lease after a controller round whose heartbeat was sent at
    /// `heartbeat_sent_ms`: half a session timeout, so that it ends well before the
    /// controller could fence this broker and hand its offsets partitions to another.
    pub fn renew_coordinator_lease(&mut self, heartbeat_sent_ms: u64) {
        let until = heartbeat_sent_ms + self.config.broker_session_timeout_ms / 2;
        self.coordinator_lease_until_ms = self.coordinator_lease_until_ms.max(until);
    }

    /// Whether this broker may act as a group coordinator now.
    pub fn coordinator_lease_valid(&self, now_ms: u64) -> bool {
        now_ms < self.coordinator_lease_until_ms
    }

    /// Queues the ISR changes this broker's partitions want now.
    pub fn tick_isr(&mut self, now_ms: u64) {
        for (registration, isr) in self.isr_proposals(now_ms) {
            self.isr_outbox
                .insert(registration.topic_partition(), (registration, isr));
        }
    }

    /// ISR proposals of every partition this broker leads.
    pub fn isr_proposals(&mut self, now_ms: u64) -> Vec<(PartitionRegistration, Vec<i32>)> {
        let lag = self.config.replica_lag_time_max_ms;
        let act_early = self.config.bugs.isr_change_not_persisted;
        let mut proposals = Vec::new();
        for partition in self.partitions.values_mut() {
            if let Some(isr) = partition.isr_proposal(now_ms, lag) {
                proposals.push((partition.registration.clone(), isr.clone()));
                // Planted bug `isr_change_not_persisted`: use the proposed ISR at once.
                if act_early {
                    partition.registration.isr = isr;
                    partition.advance_high_watermark();
                }
            }
        }
        proposals
    }
}

/// Converts a stored entry to a wire record.
pub fn entry_to_record(entry: &LogEntry) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: entry.leader_epoch,
        producer_id: entry.producer_id,
        producer_epoch: entry.producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: entry.offset,
        sequence: entry.sequence,
        timestamp: entry.timestamp,
        key: entry.key.clone(),
        value: entry.value.clone(),
        headers: Default::default(),
    }
}

/// Converts a wire record to a stored entry (offset and epoch as the record says).
pub fn record_to_entry(record: &Record) -> LogEntry {
    LogEntry {
        offset: record.offset,
        leader_epoch: record.partition_leader_epoch,
        timestamp: record.timestamp,
        key: record.key.clone(),
        value: record.value.clone(),
        producer_id: record.producer_id,
        producer_epoch: record.producer_epoch,
        sequence: record.sequence,
    }
}

/// Encodes stored entries as record batches.
pub fn encode_entries(entries: &[LogEntry]) -> Bytes {
    let records: Vec<Record> = entries.iter().map(entry_to_record).collect();
    faultline_wire::records::encode_records(&records)
}
