//! The broker's state: its metadata image and the replicas it hosts.
//!
//! Sans-IO: the node layer (`node.rs`) feeds it decoded requests, metadata records and
//! ticks, and carries its answers to the network. Time is passed in as `now_ms`.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::records::Record;

use faultline_wire::batch::{split_batches, Batch};

use crate::config::{ClusterConfig, FsyncPolicy, TopicConfig};
use crate::events::BrokerEventKind;
use crate::forwarding::Forwarding;
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::{entry_to_record, LogEntry, PartitionLog, StoredBatch};
use crate::metadata::{MetadataImage, MetadataRecord, PartitionRegistration};
use crate::partition::{Partition, Role};
use crate::producer_ids::{ProducerIdAllocator, PRODUCER_ID_BLOB};
use crate::replicas::Replicas;
use crate::storage::{log_start_blob, Storage, StorageError, TopicPartition};
use crate::txn::coordinator::TransactionCoordinator;
use crate::txn::TRANSACTION_STATE_TOPIC;

/// A leadership change, truncation, ISR proposal or coordinator answer of this broker, for
/// the run's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEvent {
    /// The partition.
    pub partition: TopicPartition,
    /// What happened, as data (`describe()` gives the words).
    pub kind: BrokerEventKind,
}

/// An ISR change waiting for the controller channel (Kafka's `AlterPartitionManager`
/// queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedIsrChange {
    /// The registration the change starts from (its epochs fence a stale one).
    pub registration: PartitionRegistration,
    /// The proposed ISR.
    pub isr: Vec<i32>,
    /// Whether it has never been sent: a new proposal, not a resend of an unanswered one.
    /// Its sending is the trace's `IsrProposed` event.
    pub first_send: bool,
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
    pub partitions: Replicas,
    /// Its disk.
    pub storage: Box<dyn Storage>,
    /// Logs found on disk at start, waiting for their partition's first registration.
    recovered_logs: BTreeMap<TopicPartition, Vec<StoredBatch>>,
    /// Log start offsets found on disk at start (KIP-107's checkpoint).
    recovered_log_starts: BTreeMap<TopicPartition, i64>,
    /// Messages appended since the last fsync (for `FsyncPolicy::EveryMessages`).
    unsynced_messages: u64,
    /// Events for the trace, drained by the node layer.
    pub events: Vec<BrokerEvent>,
    /// Hands out producer ids for InitProducerId (KIP-98).
    pub producer_ids: ProducerIdAllocator,
    /// The consumer groups of the `__consumer_offsets` partitions this broker leads.
    pub groups: GroupCoordinator,
    /// The transactions of the `__transaction_state` partitions this broker leads (KIP-98).
    pub transactions: TransactionCoordinator,
    /// ISR changes waiting to be sent to the controller, newest per partition. Leaders
    /// decide them on their own clock (Kafka's `isr-expiration` task), whether or not the
    /// controller is reachable.
    pub isr_outbox: BTreeMap<TopicPartition, QueuedIsrChange>,
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
        let transaction_state_partitions = config.transaction_state_partitions;
        let producer_ids = ProducerIdAllocator::recover(
            node_id,
            recovered.blobs.get(PRODUCER_ID_BLOB).map(Vec::as_slice),
        );
        Broker {
            node_id,
            config,
            image: MetadataImage::default(),
            partitions: Replicas::default(),
            storage,
            recovered_log_starts: recovered
                .logs
                .keys()
                .filter_map(|key| {
                    let blob = recovered.blobs.get(&log_start_blob(key))?;
                    let offset = i64::from_be_bytes(blob.as_slice().try_into().ok()?);
                    Some((key.clone(), offset))
                })
                .collect(),
            recovered_logs: recovered.logs,
            unsynced_messages: 0,
            events: Vec::new(),
            producer_ids,
            groups: GroupCoordinator::new(config_offsets_partitions),
            transactions: TransactionCoordinator::new(transaction_state_partitions),
            isr_outbox: BTreeMap::new(),
            coordinator_lease_until_ms: 0,
            forwarding: Forwarding::default(),
        }
    }

    /// The configuration `topic` runs with: the cluster's static config of it, with the
    /// configs it was created with on top ([`crate::topic_config`]).
    pub fn topic_config(&self, topic: &str) -> TopicConfig {
        crate::topic_config::effective(
            self.config.topic_config(topic),
            self.image.topic_configs.get(topic),
        )
    }

    /// `min.insync.replicas` of `topic`: its own, else the cluster's.
    pub fn min_insync_replicas_of(&self, topic: &str) -> i32 {
        self.topic_config(topic)
            .min_insync_replicas
            .unwrap_or(self.config.min_insync_replicas)
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
        let log_start = self.recovered_log_starts.remove(&key).unwrap_or(0);
        let storage = &mut self.storage;
        let partition = self.partitions.host(&key, || {
            let batches = recovered.remove(&key).unwrap_or_default();
            let log = PartitionLog::from_batches(batches, log_start);
            // Recovery cut a torn tail: cut it on disk too, before anything is appended
            // after it (Kafka's `LogSegment.recover` truncates the segment file).
            storage.truncate(&key, log.end_offset());
            Partition::new(node_id, registration.clone(), log)
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
                self.groups.load_transactional(key.1, &partition.log);
            } else if !partition.is_leader() {
                self.groups.unload(key.1);
            }
        }
        if key.0 == TRANSACTION_STATE_TOPIC {
            // The transaction coordinator follows the partition's leadership too.
            if became_leader {
                let epoch = partition.leader_epoch();
                self.transactions
                    .load(key.1, epoch, partition.log.entries(), now_ms);
            } else if !partition.is_leader() {
                self.transactions.unload(key.1);
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

    /// Writes appended batches to disk according to the fsync policy. On an I/O error
    /// nothing was written and the caller must undo its in-memory append.
    pub fn persist_append(
        &mut self,
        partition: &TopicPartition,
        batches: &[StoredBatch],
    ) -> Result<(), StorageError> {
        self.storage.append(partition, batches)?;
        self.unsynced_messages += batches.iter().map(|b| b.record_count() as u64).sum::<u64>();
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

    /// Appends what a follower fetched from its leader: the leader's batches byte for byte,
    /// then its high watermark and log start offset. Bytes that do not decode are dropped
    /// from the first bad batch on (the next fetch asks again); an I/O error undoes the
    /// append.
    pub fn follower_append(
        &mut self,
        key: &TopicPartition,
        records: Option<&Bytes>,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    ) -> bool {
        let wire = records
            .map(split_batches)
            .and_then(Result::ok)
            .unwrap_or_default();
        if self.storage.refuses_appends() {
            return self.follower_append_refused(
                key,
                &wire,
                leader_high_watermark,
                leader_log_start_offset,
            );
        }
        let batches = decode_fetched(&wire);
        let Some(partition) = self.partitions.get_mut(key) else {
            return true;
        };
        let before = partition.log.end_offset();
        let log_start_before = partition.log.log_start_offset();
        partition.append_as_follower(batches, leader_high_watermark, leader_log_start_offset);
        let written: Vec<StoredBatch> = partition.log.batches_from(before).to_vec();
        let log_start = partition.log.log_start_offset();
        if !written.is_empty() && self.persist_append(key, &written).is_err() {
            // An I/O error: forget the records and fetch them again later.
            if let Some(partition) = self.partitions.get_mut(key) {
                partition.undo_follower_append(before);
            }
            return false;
        }
        if log_start > log_start_before {
            self.persist_log_start(key, log_start);
        }
        true
    }

    /// [`Broker::follower_append`] on a disk that refuses every append now: the state an
    /// append and its undo would leave, without making them (a follower whose disk fails
    /// refetches its whole backlog every round until the disk recovers). `false` when
    /// something would have been written.
    ///
    /// Something is written when the first batch continues the log and decodes. The undo
    /// cuts the log back to where it ended (`Partition::undo_follower_append`), and every
    /// epoch the fetch added starts at or past that end, so the log is as it was; the high
    /// watermark ends at `min(max(hw, min(leader hw, new end)), old end)`, which is
    /// `max(hw, min(leader hw, old end))` (the high watermark never passes the log end),
    /// and the log start at the leader's, capped by that: what an append of nothing
    /// leaves. Debug builds make the append and its undo on a copy and compare.
    fn follower_append_refused(
        &mut self,
        key: &TopicPartition,
        wire: &[Batch],
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    ) -> bool {
        let Some(partition) = self.partitions.get_mut(key) else {
            return true;
        };
        #[cfg(debug_assertions)]
        let expected = {
            let mut copy = partition.clone();
            let before = copy.log.end_offset();
            copy.append_as_follower(
                decode_fetched(wire),
                leader_high_watermark,
                leader_log_start_offset,
            );
            let wrote = copy.log.end_offset() > before;
            if wrote {
                copy.undo_follower_append(before);
            }
            (copy.log, copy.high_watermark, wrote)
        };
        let writes = wire.first().is_some_and(|batch| {
            let stored = StoredBatch::from_wire(batch);
            stored.base_offset == partition.log.end_offset() && stored.decode().is_ok()
        });
        partition.append_as_follower(Vec::new(), leader_high_watermark, leader_log_start_offset);
        #[cfg(debug_assertions)]
        {
            let (log, high_watermark, wrote) = expected;
            assert_eq!(
                writes, wrote,
                "a refused append writes what an append would"
            );
            assert_eq!(
                partition.high_watermark, high_watermark,
                "high watermark as undone"
            );
            assert!(
                partition.log == log,
                "a refused append leaves the log as undone"
            );
        }
        !writes
    }

    /// Checkpoints a partition's log start offset (Kafka's `log-start-offset-checkpoint`).
    pub fn persist_log_start(&mut self, key: &TopicPartition, log_start_offset: i64) {
        self.storage.put_blob(
            &log_start_blob(key),
            log_start_offset.to_be_bytes().to_vec(),
        );
    }

    /// The partitions this broker follows `leader` in, in partition order (the replica
    /// fetcher for `leader` fetches them).
    pub fn followed_from(&self, leader: i32) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, p)| matches!(p.role, Role::Follower { leader: l, .. } if l == leader))
            .map(|(key, _)| key.clone())
            .collect()
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

    /// Queues the ISR changes this broker's partitions want now. A resend that replaces a
    /// queued change not yet sent keeps it a first send. Whether it queued any.
    pub fn tick_isr(&mut self, now_ms: u64) -> bool {
        let proposals = self.isr_proposals(now_ms);
        let proposed = !proposals.is_empty();
        for (registration, isr, fresh) in proposals {
            let key = registration.topic_partition();
            let unsent = self.isr_outbox.get(&key).is_some_and(|q| q.first_send);
            self.isr_outbox.insert(
                key,
                QueuedIsrChange {
                    registration,
                    isr,
                    first_send: fresh || unsent,
                },
            );
        }
        proposed
    }

    /// ISR proposals of every partition this broker leads, each with whether it is new
    /// (no proposal of the partition was in flight before).
    pub fn isr_proposals(&mut self, now_ms: u64) -> Vec<(PartitionRegistration, Vec<i32>, bool)> {
        let lag = self.config.replica_lag_time_max_ms;
        let act_early = self.config.bugs.isr_change_not_persisted;
        let mut proposals = Vec::new();
        for partition in self.partitions.values_mut() {
            let fresh =
                matches!(&partition.role, Role::Leader(state) if state.pending_isr.is_none());
            if let Some(isr) = partition.isr_proposal(now_ms, lag) {
                proposals.push((partition.registration.clone(), isr.clone(), fresh));
                // Planted bug `isr_change_not_persisted`: use the proposed ISR at once.
                if act_early {
                    partition.registration.isr = isr;
                    partition.advance_high_watermark();
                }
            }
        }
        proposals
    }

    /// Records that a new ISR change goes to the controller now (the trace's
    /// `IsrProposed`; KIP-497 AlterPartition).
    pub fn note_isr_proposed(&mut self, registration: &PartitionRegistration, proposed: &[i32]) {
        self.events.push(BrokerEvent {
            partition: registration.topic_partition(),
            kind: BrokerEventKind::IsrProposed {
                broker: self.node_id,
                leader_epoch: registration.leader_epoch,
                partition_epoch: registration.partition_epoch,
                isr: registration.isr.clone(),
                proposed: proposed.to_vec(),
            },
        });
    }
}

/// Encodes stored entries as record batches (the controller's metadata log).
pub fn encode_entries(entries: &[LogEntry]) -> Bytes {
    let records: Vec<Record> = entries.iter().map(entry_to_record).collect();
    faultline_wire::records::encode_records(&records)
}

/// A fetch answer's batches decoded, up to the first that does not decode (the next fetch
/// asks again from there).
fn decode_fetched(wire: &[Batch]) -> Vec<(StoredBatch, Vec<LogEntry>)> {
    let mut batches = Vec::with_capacity(wire.len());
    for batch in wire {
        let stored = StoredBatch::from_wire(batch);
        let Ok(entries) = stored.decode() else {
            break;
        };
        batches.push((stored, entries));
    }
    batches
}
