//! The controller: broker liveness, leader election from the ISR, and the metadata log.
//!
//! A single KRaft-style controller (KIP-500, KIP-631). Every decision is a record appended
//! (and fsynced) to its log before anyone hears of it; brokers fetch that log. On restart
//! it replays the log. Leaders come only from the ISR — never an out-of-sync replica
//! (Kafka's `unclean.leader.election.enable=false`) — and every leadership change bumps
//! the leader epoch (KIP-101). The seam for a replicated quorum is the log itself.

use std::collections::BTreeMap;

use faultline_wire::ResponseError;

use crate::config::{ClusterConfig, TopicSpec};
use crate::events::{ControllerEvent, FenceReason};
use crate::log::StoredBatch;
use crate::metadata::{MetadataRecord, PartitionRegistration, METADATA_TOPIC};
use crate::storage::{Storage, TopicPartition};

mod topics;

pub(crate) use topics::validate_topic_name;

/// What the controller knows of one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerLiveness {
    /// The registered process incarnation.
    pub incarnation: u64,
    /// The broker epoch handed out at registration; heartbeats must carry it.
    pub broker_epoch: i64,
    /// Fenced brokers lead nothing and join no ISR.
    pub fenced: bool,
    /// When it last heartbeated.
    pub last_heartbeat_ms: u64,
}

/// The controller state machine.
pub struct Controller {
    config: ClusterConfig,
    storage: Box<dyn Storage>,
    log: Vec<MetadataRecord>,
    partitions: BTreeMap<TopicPartition, PartitionRegistration>,
    /// Topics and their partition counts, as the log says.
    topics: BTreeMap<String, i32>,
    /// Topics created with configs of their own, and those configs.
    topic_configs: BTreeMap<String, BTreeMap<String, String>>,
    brokers: BTreeMap<i32, BrokerLiveness>,
    next_broker_epoch: i64,
    /// Decisions since last drained, for the run's trace.
    pub events: Vec<ControllerEvent>,
}

fn metadata_partition() -> TopicPartition {
    (METADATA_TOPIC.to_string(), 0)
}

impl Controller {
    /// The cluster's configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Starts from what `storage` holds, or bootstraps the configured topics.
    pub fn start(config: ClusterConfig, storage: Box<dyn Storage>, now_ms: u64) -> Self {
        let recovered = storage.recover();
        let mut controller = Controller {
            config,
            storage,
            log: Vec::new(),
            partitions: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_configs: BTreeMap::new(),
            brokers: BTreeMap::new(),
            next_broker_epoch: 1,
            events: Vec::new(),
        };
        let entries = recovered
            .logs
            .get(&metadata_partition())
            .cloned()
            .unwrap_or_default();
        let entries = entries
            .iter()
            .flat_map(|batch| batch.decode().expect("the controller's own log decodes"));
        for entry in entries {
            let value = entry.value.as_deref().unwrap_or_default();
            let record = MetadataRecord::decode(value).expect("the controller's own log decodes");
            controller.replay(&record, now_ms);
            controller.log.push(record);
        }
        if controller.log.is_empty() {
            controller.bootstrap();
        }
        controller
    }

    fn bootstrap(&mut self) {
        for topic in self.config.bootstrap_topics() {
            let placement: Vec<Vec<i32>> = (0..topic.partitions)
                .map(|partition| self.config.replicas_of(&topic, partition))
                .collect();
            self.append_topic(&topic, placement, BTreeMap::new());
        }
    }

    /// Appends a topic and the first registration of each of its partitions, the first
    /// replica of each leading it.
    fn append_topic(
        &mut self,
        topic: &TopicSpec,
        placement: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
    ) {
        self.append(MetadataRecord::Topic {
            name: topic.name.clone(),
            partitions: topic.partitions,
            configs,
        });
        self.append_partitions(topic, 0, placement);
    }

    /// Appends the first registration of partitions `first..` of `topic`, one per
    /// placement, the first replica of each leading it.
    fn append_partitions(&mut self, topic: &TopicSpec, first: i32, placement: Vec<Vec<i32>>) {
        for (partition, replicas) in (first..topic.partitions).zip(placement) {
            assert_eq!(replicas.len(), topic.replication_factor as usize);
            self.append(MetadataRecord::Partition(PartitionRegistration {
                topic: topic.name.clone(),
                partition,
                leader: replicas[0],
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
            }));
        }
    }

    /// Applies a record to the in-memory state (on append and on replay).
    fn replay(&mut self, record: &MetadataRecord, now_ms: u64) {
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
            }
            MetadataRecord::TopicRemoved { name } => {
                self.topics.remove(name);
                self.topic_configs.remove(name);
                self.partitions.retain(|(topic, _), _| topic != name);
            }
            MetadataRecord::Partition(registration) => {
                self.partitions
                    .insert(registration.topic_partition(), registration.clone());
            }
            MetadataRecord::BrokerRegistration {
                broker_id,
                incarnation,
                broker_epoch,
            } => {
                // A broker registers fenced and is unfenced by the record that follows
                // (KIP-631). After a controller restart every broker gets a full session of
                // grace before it can be fenced (`now_ms` is the restarted clock's zero), as
                // Kafka's new active controller starts every broker's heartbeat clock afresh.
                self.brokers.insert(
                    *broker_id,
                    BrokerLiveness {
                        incarnation: *incarnation,
                        broker_epoch: *broker_epoch,
                        fenced: true,
                        last_heartbeat_ms: now_ms,
                    },
                );
                self.next_broker_epoch = self.next_broker_epoch.max(broker_epoch + 1);
            }
            MetadataRecord::BrokerFenced {
                broker_id,
                broker_epoch,
            }
            | MetadataRecord::BrokerUnfenced {
                broker_id,
                broker_epoch,
            } => {
                let fenced = matches!(record, MetadataRecord::BrokerFenced { .. });
                if let Some(liveness) = self.brokers.get_mut(broker_id) {
                    if liveness.broker_epoch == *broker_epoch {
                        liveness.fenced = fenced;
                    }
                }
            }
        }
    }

    /// Whether a broker is registered and unfenced, i.e. eligible to lead.
    pub fn broker_alive(&self, broker_id: i32) -> bool {
        self.brokers.get(&broker_id).is_some_and(|b| !b.fenced)
    }

    /// Appends a record durably (the controller always fsyncs), then applies it.
    fn append(&mut self, record: MetadataRecord) {
        let entry = record.to_entry(self.log.len() as i64);
        // The simulation injects I/O errors into brokers only: a KRaft controller that
        // cannot write its metadata log stops (its fatal fault handler), it never carries on.
        self.storage
            .append(
                &metadata_partition(),
                &[StoredBatch::from_entries(&[entry])],
            )
            .expect("the controller's metadata log is never given I/O errors");
        self.storage.sync();
        if let MetadataRecord::Partition(registration) = &record {
            self.events.push(ControllerEvent::PartitionRegistered {
                partition: registration.topic_partition(),
                leader: registration.leader,
                leader_epoch: registration.leader_epoch,
                partition_epoch: registration.partition_epoch,
                isr: registration.isr.clone(),
            });
        }
        let now = self
            .brokers
            .values()
            .map(|b| b.last_heartbeat_ms)
            .max()
            .unwrap_or(0);
        self.replay(&record, now);
        self.log.push(record);
    }

    /// The metadata log from `offset`, at most `limit` records.
    pub fn read_log(&self, offset: i64, limit: usize) -> &[MetadataRecord] {
        let start = (offset.max(0) as usize).min(self.log.len());
        let end = start.saturating_add(limit).min(self.log.len());
        &self.log[start..end]
    }

    /// The metadata log's end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.log.len() as i64
    }

    /// The topic whose id (KIP-516) is `id`.
    pub fn topic_named_by_id(&self, id: uuid::Uuid) -> Option<&str> {
        self.topics
            .keys()
            .find(|name| crate::metadata::topic_id(name) == id)
            .map(String::as_str)
    }

    /// The current registration of a partition.
    pub fn partition(&self, partition: &TopicPartition) -> Option<&PartitionRegistration> {
        self.partitions.get(partition)
    }

    /// Every partition's current registration (read-only, for the simulation's checks).
    pub fn registrations(&self) -> impl Iterator<Item = &PartitionRegistration> {
        self.partitions.values()
    }

    /// BrokerRegistration (KIP-631). The same incarnation again is an idempotent retry; a
    /// new incarnation is a restarted process, whose old self is fenced first — it may have
    /// lost unsynced data, so it must not stay in any ISR it cannot prove it belongs to.
    pub fn register(
        &mut self,
        broker_id: i32,
        incarnation: u64,
        now_ms: u64,
    ) -> Result<i64, ResponseError> {
        if !self.config.brokers.contains_key(&broker_id) {
            return Err(ResponseError::InvalidRequest);
        }
        if let Some(known) = self.brokers.get_mut(&broker_id) {
            if known.incarnation == incarnation {
                known.last_heartbeat_ms = now_ms;
                let epoch = known.broker_epoch;
                self.unfence(broker_id, now_ms);
                return Ok(epoch);
            }
            self.fence(broker_id, FenceReason::Reregistered);
        }
        let broker_epoch = self.next_broker_epoch;
        self.append(MetadataRecord::BrokerRegistration {
            broker_id,
            incarnation,
            broker_epoch,
        });
        if let Some(liveness) = self.brokers.get_mut(&broker_id) {
            liveness.last_heartbeat_ms = now_ms;
        }
        self.unfence(broker_id, now_ms);
        Ok(broker_epoch)
    }

    /// BrokerHeartbeat: keeps the broker's session alive; returns whether it is fenced.
    pub fn heartbeat(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
        now_ms: u64,
    ) -> Result<bool, ResponseError> {
        let Some(liveness) = self.brokers.get_mut(&broker_id) else {
            return Err(ResponseError::StaleBrokerEpoch);
        };
        if liveness.broker_epoch != broker_epoch {
            return Err(ResponseError::StaleBrokerEpoch);
        }
        liveness.last_heartbeat_ms = now_ms;
        self.unfence(broker_id, now_ms);
        Ok(false)
    }

    fn unfence(&mut self, broker_id: i32, now_ms: u64) {
        let Some(liveness) = self.brokers.get_mut(&broker_id) else {
            return;
        };
        liveness.last_heartbeat_ms = liveness.last_heartbeat_ms.max(now_ms);
        if !liveness.fenced {
            return;
        }
        let broker_epoch = liveness.broker_epoch;
        self.append(MetadataRecord::BrokerUnfenced {
            broker_id,
            broker_epoch,
        });
        self.events
            .push(ControllerEvent::BrokerUnfenced { broker: broker_id });
        // Offline partitions whose last in-sync replica is back get a leader again.
        let unclean = self.config.bugs.unclean_leader_election;
        let offline: Vec<PartitionRegistration> = self
            .partitions
            .values()
            .filter(|p| {
                p.leader < 0
                    && (p.isr.contains(&broker_id) || (unclean && p.replicas.contains(&broker_id)))
            })
            .cloned()
            .collect();
        for mut registration in offline {
            if let Some(leader) = self.elect(&registration, None) {
                if !registration.isr.contains(&leader) {
                    registration.isr = vec![leader];
                }
                registration.leader = leader;
                registration.leader_epoch += 1;
                registration.partition_epoch += 1;
                self.append(MetadataRecord::Partition(registration));
            }
        }
    }

    /// Fences a broker: out of every ISR it is not the last member of, and out of every
    /// leadership, to another in-sync replica if one is alive.
    ///
    /// The fencing is a metadata record, so a restarted controller still knows the broker is
    /// fenced and elects a leader for its offline partitions only when it heartbeats again.
    fn fence(&mut self, broker_id: i32, reason: FenceReason) {
        if let Some(broker_epoch) = self.brokers.get(&broker_id).map(|b| b.broker_epoch) {
            self.append(MetadataRecord::BrokerFenced {
                broker_id,
                broker_epoch,
            });
        }
        self.events.push(ControllerEvent::BrokerFenced {
            broker: broker_id,
            reason,
        });
        let affected: Vec<PartitionRegistration> = self
            .partitions
            .values()
            .filter(|p| p.replicas.contains(&broker_id))
            .cloned()
            .collect();
        for mut registration in affected {
            let mut changed = false;
            if registration.isr.contains(&broker_id) && registration.isr.len() > 1 {
                registration.isr.retain(|&id| id != broker_id);
                changed = true;
            }
            if registration.leader == broker_id {
                registration.leader = self.elect(&registration, Some(broker_id)).unwrap_or(-1);
                registration.leader_epoch += 1;
                if registration.leader >= 0 && !registration.isr.contains(&registration.leader) {
                    registration.isr = vec![registration.leader];
                }
                changed = true;
            }
            if changed {
                registration.partition_epoch += 1;
                self.append(MetadataRecord::Partition(registration));
            }
        }
    }

    /// Picks a leader: the first in-sync replica, in assignment order, that is registered
    /// and not fenced. Never a replica outside the ISR.
    fn elect(&self, registration: &PartitionRegistration, excluding: Option<i32>) -> Option<i32> {
        let alive =
            |id: &i32| Some(*id) != excluding && self.brokers.get(id).is_some_and(|b| !b.fenced);
        let clean = registration
            .replicas
            .iter()
            .copied()
            .find(|id| registration.isr.contains(id) && alive(id));
        // Planted bug `unclean_leader_election`: fall back to any live replica.
        if clean.is_none() && self.config.bugs.unclean_leader_election {
            return registration.replicas.iter().copied().find(|id| alive(id));
        }
        clean
    }

    /// Fences brokers whose session expired.
    pub fn tick(&mut self, now_ms: u64) {
        let timeout = self.config.broker_session_timeout_ms;
        let expired: Vec<i32> = self
            .brokers
            .iter()
            .filter(|(_, b)| !b.fenced && now_ms.saturating_sub(b.last_heartbeat_ms) > timeout)
            .map(|(&id, _)| id)
            .collect();
        for broker_id in expired {
            self.fence(broker_id, FenceReason::SessionTimedOut);
        }
    }

    /// AlterPartition (KIP-497): a leader asks to change its partition's ISR.
    pub fn alter_partition(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
        partition: &TopicPartition,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: Vec<i32>,
    ) -> Result<PartitionRegistration, ResponseError> {
        match self.brokers.get(&broker_id) {
            Some(b) if b.broker_epoch == broker_epoch => {}
            _ => return Err(ResponseError::StaleBrokerEpoch),
        }
        let Some(current) = self.partitions.get(partition).cloned() else {
            return Err(ResponseError::UnknownTopicOrPartition);
        };
        if current.leader != broker_id {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if leader_epoch != current.leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
        if partition_epoch != current.partition_epoch {
            return Err(ResponseError::InvalidUpdateVersion);
        }
        if !new_isr.contains(&broker_id) || new_isr.iter().any(|id| !current.replicas.contains(id))
        {
            return Err(ResponseError::InvalidRequest);
        }
        let eligible = |id: &i32| self.brokers.get(id).is_some_and(|b| !b.fenced);
        if new_isr
            .iter()
            .any(|id| !current.isr.contains(id) && !eligible(id))
        {
            return Err(ResponseError::IneligibleReplica);
        }
        let mut next = current;
        next.isr = next
            .replicas
            .iter()
            .copied()
            .filter(|id| new_isr.contains(id))
            .collect();
        next.partition_epoch += 1;
        self.append(MetadataRecord::Partition(next.clone()));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use crate::test_support::controller;

    fn p0() -> TopicPartition {
        ("events".to_string(), 0)
    }

    /// Kafka never elects outside the ISR (unclean.leader.election.enable=false): with the
    /// leader fenced and only an out-of-sync follower alive, the partition goes offline.
    #[test]
    fn no_election_outside_the_isr() {
        let mut c = controller();
        let reg = c.partition(&p0()).unwrap().clone();
        assert_eq!(reg.leader, 1);
        c.alter_partition(1, 1, &p0(), 0, reg.partition_epoch, vec![1])
            .unwrap();
        c.tick(10_000);
        let after = c.partition(&p0()).unwrap();
        assert_eq!(after.leader, -1, "only broker 1 was in sync");
        assert_eq!(
            after.isr,
            vec![1],
            "the last in-sync replica stays in the ISR"
        );
    }

    /// KIP-101: every leadership change bumps the leader epoch.
    #[test]
    fn failover_bumps_the_leader_epoch_and_shrinks_the_isr() {
        let mut c = controller();
        c.heartbeat(2, 2, 2_000).unwrap();
        c.heartbeat(3, 3, 2_000).unwrap();
        c.tick(2_000);
        let after = c.partition(&p0()).unwrap();
        assert_eq!(after.leader, 2);
        assert_eq!(after.leader_epoch, 1);
        assert_eq!(after.isr, vec![2, 3]);
    }

    /// KIP-497: AlterPartition from a stale leader epoch is FENCED_LEADER_EPOCH, from a
    /// stale partition epoch INVALID_UPDATE_VERSION.
    #[test]
    fn alter_partition_fences_stale_requests() {
        let mut c = controller();
        let reg = c.partition(&p0()).unwrap().clone();
        assert_eq!(
            c.alter_partition(
                1,
                1,
                &p0(),
                reg.leader_epoch - 1,
                reg.partition_epoch,
                vec![1, 2]
            ),
            Err(ResponseError::FencedLeaderEpoch)
        );
        assert_eq!(
            c.alter_partition(
                1,
                1,
                &p0(),
                reg.leader_epoch,
                reg.partition_epoch + 5,
                vec![1, 2]
            ),
            Err(ResponseError::InvalidUpdateVersion)
        );
        assert_eq!(
            c.alter_partition(2, 2, &p0(), reg.leader_epoch, reg.partition_epoch, vec![2]),
            Err(ResponseError::NotLeaderOrFollower)
        );
    }

    /// A controller restarted on a copy of `c`'s metadata log.
    fn restarted(c: &Controller) -> Controller {
        let mut storage = MemoryStorage::default();
        let log: Vec<MetadataRecord> = c.read_log(0, usize::MAX).to_vec();
        for (offset, record) in log.iter().enumerate() {
            storage
                .append(
                    &metadata_partition(),
                    &[StoredBatch::from_entries(&[record.to_entry(offset as i64)])],
                )
                .unwrap();
        }
        Controller::start(ClusterConfig::default(), Box::new(storage), 0)
    }

    #[test]
    fn state_survives_a_controller_restart() {
        let mut c = Controller::start(
            ClusterConfig::default(),
            Box::new(MemoryStorage::default()),
            0,
        );
        c.register(1, 7, 0).unwrap();
        let restarted = restarted(&c);
        assert_eq!(restarted.log_end_offset(), c.log_end_offset());
        assert_eq!(restarted.partition(&p0()), c.partition(&p0()));
    }

    /// Found by the clean campaign (overlapping-faults seed 149): every broker fenced, the
    /// partitions offline with ISR [2], then the controller restarted. Fencing was not in
    /// the metadata log, so the restarted controller took every broker for unfenced, their
    /// heartbeats unfenced nobody, and no election ever ran: the partitions stayed offline
    /// for good. KIP-631 logs fencing (`FenceBrokerRecord`/`UnfenceBrokerRecord`); with it,
    /// the ISR member's first heartbeat after the restart elects it.
    #[test]
    fn kip_631_fencing_survives_a_restart_and_a_heartbeat_then_elects() {
        let mut c = controller();
        c.tick(10_000);
        let offline = c.partition(&p0()).unwrap().clone();
        assert_eq!(offline.leader, -1, "every broker's session expired");
        let last = offline.isr[0];
        let mut c = restarted(&c);
        assert!(!c.broker_alive(last), "fencing is in the metadata log");
        assert_eq!(c.partition(&p0()).unwrap().leader, -1);
        c.heartbeat(last, last as i64, 100).unwrap();
        let after = c.partition(&p0()).unwrap();
        assert_eq!(after.leader, last, "the last in-sync replica leads again");
        assert!(after.leader_epoch > offline.leader_epoch, "KIP-101");
    }
}
