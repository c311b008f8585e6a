//! Runs one case against a live broker: resolves each [`Op`] against the model, sends its
//! request(s) through [`Probe`]s (so every request and response is evidence), and hands the
//! answer to the model's check. Produce, Fetch, ListOffsets, Metadata and InitProducerId
//! live here; the group ops in [`super::group_driver`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, InitProducerIdRequest, ListOffsetsRequest, ProduceRequest,
    ProducerId,
};

use faultline_wire::records::{decode_records, producer_batch};
use faultline_wire::{ResponseError, Transport};

use super::group_model::GroupModel;
use super::log_model::{FetchSeen, PartitionModel, ProduceSeen, SeenRecord};
use super::ops::{Acks, MaxBytes, OffsetQuery, Op};
use super::producer_model::{ProducerModel, Resolved};
use super::rules::{Violation, ANSWERED, LIST_OFFSETS, METADATA};
use super::setup::CaseSetup;
use crate::certify::model::Exchange;
use crate::certify::suite::identify::metadata;
use crate::certify::suite::partition_io::topic_name;
use crate::certify::suite::probe::Probe;
use crate::certify::suite::SuiteTarget;

/// Everything the model knows during one case.
#[derive(Debug, Clone, Default)]
pub struct CaseModel {
    /// Per partition slot.
    pub partitions: Vec<PartitionModel>,
    /// Per producer slot.
    pub producers: BTreeMap<u8, ProducerModel>,
    /// Every producer id handed out in the case.
    pub producer_ids: BTreeSet<i64>,
    /// The case's group.
    pub group: GroupModel,
    /// What the broker declined as unsupported (not judged), e.g. timestamp lookups.
    pub unsupported: BTreeSet<String>,
}

/// One case in progress against one broker.
pub struct Driver<'a, T: Transport> {
    pub(super) transport: &'a T,
    pub(super) target: &'a SuiteTarget,
    pub(super) setup: &'a CaseSetup,
    /// One probe (its own connections) per client slot.
    pub(super) clients: Vec<Probe<T>>,
    /// Every exchange of the case so far, in order.
    pub exchanges: Vec<Exchange>,
    /// The model.
    pub model: CaseModel,
    /// Requests sent.
    pub requests: usize,
    /// Group members by slot, each on its own connection.
    pub(super) members: BTreeMap<u8, crate::certify::suite::group_calls::Member<T>>,
    /// The group's coordinator, once FindCoordinator answered.
    pub(super) coordinator: Option<String>,
}

impl<'a, T: Transport> Driver<'a, T> {
    /// A driver for a case with `clients` client slots over `setup`'s partitions.
    pub fn new(
        transport: &'a T,
        target: &'a SuiteTarget,
        setup: &'a CaseSetup,
        clients: u8,
    ) -> Self {
        Driver {
            transport,
            target,
            setup,
            clients: (0..clients.max(1))
                .map(|_| Probe::new(transport, target))
                .collect(),
            exchanges: Vec::new(),
            model: CaseModel {
                partitions: vec![PartitionModel::default(); setup.partitions.len()],
                ..CaseModel::default()
            },
            requests: 0,
            members: BTreeMap::new(),
            coordinator: None,
        }
    }

    /// Moves a probe's new exchanges into the case's list.
    pub(super) fn collect(&mut self, probe: &mut Probe<T>) {
        self.requests += probe.exchanges.len();
        self.exchanges.append(&mut probe.exchanges);
    }

    fn client(&mut self, slot: u8) -> Probe<T> {
        let index = slot as usize % self.clients.len();
        std::mem::replace(
            &mut self.clients[index],
            Probe::new(self.transport, self.target),
        )
    }

    fn give_back(&mut self, slot: u8, mut probe: Probe<T>) {
        self.collect(&mut probe);
        let index = slot as usize % self.clients.len();
        self.clients[index] = probe;
    }

    fn slot(&self, partition: u8) -> usize {
        partition as usize % self.setup.partitions.len()
    }

    /// Values of a new batch written by op `index`: unique across cases and runs.
    fn values(&self, index: usize, records: u8) -> Vec<String> {
        (0..records.clamp(1, 50))
            .map(|i| format!("{}/{index}/{i}", self.setup.tag))
            .collect()
    }

    /// Runs op number `index`.
    pub async fn step(&mut self, index: usize, op: &Op) -> Result<(), Violation> {
        match op {
            Op::Produce {
                client,
                partition,
                records,
                acks,
            } => {
                let values = self.values(index, *records);
                self.produce(index, *client, *partition, values, *acks)
                    .await
            }
            Op::ProduceConcurrently {
                partition,
                batches,
                acks,
            } => {
                self.produce_concurrently(index, *partition, batches, *acks)
                    .await
            }
            Op::Fetch {
                client,
                partition,
                at,
                max_bytes,
            } => {
                let slot = self.slot(*partition);
                let offset = self.model.partitions[slot].fetch_offset(*at);
                self.fetch(*client, slot, offset, *max_bytes).await
            }
            Op::ListOffsets {
                client,
                partition,
                query,
            } => {
                self.list_offsets(*client, self.slot(*partition), *query)
                    .await
            }
            Op::Metadata { client } => self.metadata(*client).await,
            Op::InitProducerId { producer, bump } => self.init_producer_id(*producer, *bump).await,
            Op::IdempotentProduce {
                producer,
                partition,
                records,
                sequence,
            } => {
                let values = self.values(index, *records);
                self.idempotent_produce(index, *producer, *partition, values, *sequence)
                    .await
            }
            Op::Join { members } => self.join(members).await,
            Op::Sync => self.sync().await,
            Op::Heartbeat { member, claim } => self.heartbeat(*member, *claim).await,
            Op::Commit {
                member,
                claim,
                partition,
                offset,
            } => {
                self.commit(index, *member, *claim, *partition, *offset)
                    .await
            }
            Op::FetchCommitted { client } => self.fetch_committed(*client).await,
            Op::Leave { member } => self.leave(*member).await,
        }
    }

    fn produce_request(&self, slot: usize, batch: Bytes, acks: Acks) -> ProduceRequest {
        ProduceRequest::default()
            .with_acks(acks.wire())
            .with_timeout_ms(self.target.request_timeout.as_millis() as i32)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(&self.setup.topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(self.setup.partitions[slot])
                    .with_records(Some(batch))])])
    }

    fn batch(
        &self,
        values: &[String],
        timestamp_ms: i64,
        producer: Option<(i64, i16, i32)>,
    ) -> Bytes {
        let values: Vec<Bytes> = values.iter().map(|v| Bytes::from(v.clone())).collect();
        producer_batch(&values, producer, timestamp_ms)
    }

    /// Sends one Produce and reads the partition's answer (`Err`: no answer).
    async fn send_produce(
        probe: &mut Probe<T>,
        address: &str,
        version: i16,
        request: &ProduceRequest,
        partition: i32,
    ) -> Result<ProduceSeen, Violation> {
        let response = probe
            .send(address, request, version, probe.timeout)
            .await
            .map_err(|e| ANSWERED.violated(format!("Produce got no answer: {e}")))?;
        response
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .map(|p| ProduceSeen {
                error_code: p.error_code,
                base_offset: p.base_offset,
            })
            .ok_or_else(|| {
                ANSWERED.violated(format!(
                    "the Produce response has no answer for partition {partition}"
                ))
            })
    }

    async fn produce(
        &mut self,
        index: usize,
        client: u8,
        partition: u8,
        values: Vec<String>,
        acks: Acks,
    ) -> Result<(), Violation> {
        let slot = self.slot(partition);
        let timestamp_ms = self.setup.timestamp_base_ms + index as i64;
        let request = self.produce_request(slot, self.batch(&values, timestamp_ms, None), acks);
        let leader = self.setup.leaders[slot].clone();
        let version = self.setup.versions.produce;
        let mut probe = self.client(client);
        let outcome = if acks == Acks::None {
            let barrier = self.metadata_request();
            let sent = super::acks_zero::send_then_barrier(
                self.transport,
                &mut probe,
                &leader,
                (&request, version),
                (&barrier, self.setup.versions.metadata),
            )
            .await;
            sent.map(|_| None).map_err(|e| {
                ANSWERED.violated(format!(
                    "the request behind an acks=0 Produce got no answer: {e}"
                ))
            })
        } else {
            Self::send_produce(
                &mut probe,
                &leader,
                version,
                &request,
                self.setup.partitions[slot],
            )
            .await
            .map(Some)
        };
        self.give_back(client, probe);
        let model = &mut self.model.partitions[slot];
        match outcome? {
            None => {
                model.append_unacknowledged(values, timestamp_ms);
                Ok(())
            }
            Some(seen) => model.check_produce(values, timestamp_ms, acks == Acks::All, seen),
        }
    }

    async fn produce_concurrently(
        &mut self,
        index: usize,
        partition: u8,
        batches: &[(u8, u8)],
        acks: Acks,
    ) -> Result<(), Violation> {
        let slot = self.slot(partition);
        let acks = if acks == Acks::None {
            Acks::Leader
        } else {
            acks
        };
        let timestamp_ms = self.setup.timestamp_base_ms + index as i64;
        let leader = self.setup.leaders[slot].clone();
        let version = self.setup.versions.produce;
        let id = self.setup.partitions[slot];
        let mut sends = Vec::new();
        for (k, (_, records)) in batches.iter().enumerate() {
            let values: Vec<String> = self
                .values(index, *records)
                .into_iter()
                .map(|v| format!("{v}/c{k}"))
                .collect();
            let request = self.produce_request(slot, self.batch(&values, timestamp_ms, None), acks);
            sends.push((Probe::new(self.transport, self.target), values, request));
        }
        let futures = sends
            .iter_mut()
            .map(|(probe, _, request)| {
                Self::send_produce_owned(probe, &leader, version, request, id)
            })
            .collect();
        let answers = crate::certify::suite::join_all(futures).await;
        let mut checked = Vec::new();
        for ((mut probe, values, _), answer) in sends.into_iter().zip(answers) {
            self.collect(&mut probe);
            checked.push((values, timestamp_ms, answer?));
        }
        self.model.partitions[slot].check_concurrent(checked, acks == Acks::All)
    }

    async fn send_produce_owned(
        probe: &mut Probe<T>,
        address: &str,
        version: i16,
        request: &ProduceRequest,
        partition: i32,
    ) -> Result<ProduceSeen, Violation> {
        Self::send_produce(probe, address, version, request, partition).await
    }

    async fn fetch(
        &mut self,
        client: u8,
        slot: usize,
        offset: i64,
        max_bytes: MaxBytes,
    ) -> Result<(), Violation> {
        let bytes = match max_bytes {
            MaxBytes::Large => 1 << 20,
            MaxBytes::Small(n) => i32::from(n.max(1)),
        };
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(bytes)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&self.setup.topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(self.setup.partitions[slot])
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(bytes)])]);
        let leader = self.setup.leaders[slot].clone();
        let mut probe = self.client(client);
        let answer = probe
            .send(&leader, &request, self.setup.versions.fetch, Duration::ZERO)
            .await;
        self.give_back(client, probe);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("Fetch got no answer: {e}")))?;
        let id = self.setup.partitions[slot];
        let data = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == id)
            .ok_or_else(|| {
                ANSWERED.violated(format!(
                    "the Fetch response has no answer for partition {id}"
                ))
            })?;
        let records = match &data.records {
            Some(bytes) if data.error_code == 0 => decode_records(bytes).map_err(|e| {
                super::rules::FETCH_CONTENTS
                    .violated(format!("the fetched records do not decode: {e}"))
            })?,
            _ => Vec::new(),
        };
        let seen = FetchSeen {
            error_code: data.error_code,
            high_watermark: data.high_watermark,
            records: records
                .into_iter()
                .map(|r| SeenRecord {
                    offset: r.offset,
                    value: r.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
                })
                .collect(),
        };
        self.model.partitions[slot].check_fetch(offset, &seen)
    }

    async fn list_offsets(
        &mut self,
        client: u8,
        slot: usize,
        query: OffsetQuery,
    ) -> Result<(), Violation> {
        let model = &self.model.partitions[slot];
        let placed = |k: u8| {
            let placed: Vec<_> = model
                .batches
                .iter()
                .filter(|b| b.base_offset.is_some())
                .collect();
            (!placed.is_empty()).then(|| placed[k as usize % placed.len()].timestamp_ms)
        };
        let version = self.setup.versions.list_offsets;
        let timestamp = match query {
            OffsetQuery::Earliest => -2,
            OffsetQuery::Latest => -1,
            // KIP-734: ListOffsets v7 and later.
            OffsetQuery::MaxTimestamp if version >= 7 => -3,
            OffsetQuery::MaxTimestamp => return Ok(()),
            OffsetQuery::TimestampOfBatch(k) => placed(k).unwrap_or(self.setup.timestamp_base_ms),
            OffsetQuery::JustAfterBatch(k) => placed(k).unwrap_or(self.setup.timestamp_base_ms) + 1,
            OffsetQuery::AfterEverything => self.setup.timestamp_base_ms + 1_000_000,
        };
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(&self.setup.topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(self.setup.partitions[slot])
                    .with_timestamp(timestamp)])]);
        let leader = self.setup.leaders[slot].clone();
        let mut probe = self.client(client);
        let answer = probe.send(&leader, &request, version, Duration::ZERO).await;
        self.give_back(client, probe);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("ListOffsets got no answer: {e}")))?;
        let id = self.setup.partitions[slot];
        let (error_code, offset) = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == id)
            .map(|p| (p.error_code, p.offset))
            .ok_or_else(|| {
                ANSWERED.violated(format!(
                    "the ListOffsets response has no answer for partition {id}"
                ))
            })?;
        let model = &mut self.model.partitions[slot];
        match ResponseError::try_from_code(error_code) {
            None => {}
            Some(e) if e.is_retriable() => return Ok(()),
            // Timestamp lookups a broker declines are recorded as not applicable (the
            // brief's latitude for brokers still adding them), never as a pass.
            Some(
                e @ (ResponseError::InvalidRequest
                | ResponseError::UnsupportedVersion
                | ResponseError::UnsupportedForMessageFormat),
            ) if timestamp >= 0 || timestamp == -3 => {
                let what = if timestamp == -3 {
                    "max-timestamp lookups"
                } else {
                    "timestamp lookups"
                };
                self.model
                    .unsupported
                    .insert(format!("ListOffsets {what} (answered {e:?})"));
                return Ok(());
            }
            Some(e) => {
                return Err(LIST_OFFSETS.violated(format!(
                    "ListOffsets with timestamp {timestamp} answered {e:?}"
                )))
            }
        }
        match timestamp {
            -2 => model.check_earliest(offset),
            -1 => model.check_latest(offset),
            -3 => model.check_max_timestamp(offset),
            t => model.check_timestamp(t, offset),
        }
    }

    fn metadata_request(&self) -> kafka_protocol::messages::MetadataRequest {
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        kafka_protocol::messages::MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(&self.setup.topic)))
            ]))
            .with_allow_auto_topic_creation(false)
    }

    async fn metadata(&mut self, client: u8) -> Result<(), Violation> {
        let address = self.target.bootstrap[client as usize % self.target.bootstrap.len()].clone();
        let mut probe = self.client(client);
        let view = metadata(
            &mut probe,
            &address,
            &self.target.advertised,
            Some(&self.setup.topic),
            false,
        )
        .await;
        self.give_back(client, probe);
        let view = view.ok_or_else(|| ANSWERED.violated("Metadata got no answer"))?;
        let Some((error_code, partitions)) = view.topics.get(&self.setup.topic) else {
            return Err(
                METADATA.violated(format!("Metadata does not list topic {}", self.setup.topic))
            );
        };
        if *error_code != 0 {
            return Err(METADATA.violated(format!(
                "Metadata answered error code {error_code} for the topic"
            )));
        }
        for id in &self.setup.partitions {
            match partitions.get(id) {
                Some((0, leader)) if view.brokers.contains_key(leader) => {}
                Some((code, _)) if ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable()) => {}
                other => {
                    return Err(METADATA.violated(format!(
                        "partition {id}: Metadata answered {other:?} (error, leader), brokers listed {:?}",
                        view.brokers.keys().collect::<Vec<_>>()
                    )))
                }
            }
        }
        Ok(())
    }

    async fn init_producer_id(&mut self, producer: u8, bump: bool) -> Result<(), Violation> {
        let Some(version) = self.setup.versions.init_producer_id else {
            return Ok(());
        };
        let state = self
            .model
            .producers
            .get(&producer)
            .cloned()
            .unwrap_or_default();
        // KIP-360: an idempotent producer may ask for its next epoch from v3.
        let (id, epoch, bump) = match state.identity {
            Some((id, epoch)) if bump && version >= 3 => (id, epoch, true),
            _ => (-1, -1, false),
        };
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch);
        let address = self.setup.leaders[0].clone();
        let mut probe = self.client(producer);
        let answer = probe
            .send(&address, &request, version, Duration::ZERO)
            .await;
        self.give_back(producer, probe);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("InitProducerId got no answer: {e}")))?;
        if response.error_code != 0 {
            return match ResponseError::try_from_code(response.error_code) {
                Some(e) if e.is_retriable() => Ok(()),
                other => Err(super::rules::PRODUCER_ID
                    .violated(format!("InitProducerId answered {other:?}"))),
            };
        }
        let mut state = state;
        state.check_init(
            bump,
            (response.producer_id.0, response.producer_epoch),
            &mut self.model.producer_ids,
        )?;
        self.model.producers.insert(producer, state);
        Ok(())
    }

    async fn idempotent_produce(
        &mut self,
        index: usize,
        producer: u8,
        partition: u8,
        values: Vec<String>,
        sequence: super::ops::SequenceChoice,
    ) -> Result<(), Violation> {
        let slot = self.slot(partition);
        let key = slot as u8;
        let Some(state) = self.model.producers.get(&producer).cloned() else {
            return Ok(());
        };
        let Some(resolved) = state.resolve(key, sequence) else {
            return Ok(());
        };
        let timestamp_ms = self.setup.timestamp_base_ms + index as i64;
        let (wire, batch_values, batch_ts) = match &resolved {
            Resolved::New { wire, .. } => (*wire, values, timestamp_ms),
            Resolved::Duplicate { wire, batch } => {
                (*wire, batch.values.clone(), batch.timestamp_ms)
            }
        };
        let request = self.produce_request(
            slot,
            self.batch(&batch_values, batch_ts, Some(wire)),
            Acks::All,
        );
        let leader = self.setup.leaders[slot].clone();
        let mut probe = self.client(producer);
        let seen = Self::send_produce(
            &mut probe,
            &leader,
            self.setup.versions.produce,
            &request,
            self.setup.partitions[slot],
        )
        .await;
        self.give_back(producer, probe);
        let seen = seen?;
        match resolved {
            Resolved::Duplicate { batch, .. } => {
                ProducerModel::check_duplicate(&batch, seen.error_code, seen.base_offset)
            }
            Resolved::New {
                refused,
                wire,
                may_append,
            } if !refused.is_empty() && !(may_append && seen.error_code == 0) => {
                ProducerModel::check_refused(&refused, wire, seen.error_code)
            }
            Resolved::New { wire, .. } => {
                let count = batch_values.len();
                self.model.partitions[slot].check_produce(
                    batch_values.clone(),
                    batch_ts,
                    true,
                    seen,
                )?;
                if seen.error_code == 0 {
                    let state = self.model.producers.entry(producer).or_default();
                    state.appended(key, wire.2, batch_values, batch_ts, seen.base_offset);
                    debug_assert_eq!(
                        count,
                        state.partitions[&key]
                            .1
                            .back()
                            .map_or(0, |b| b.values.len())
                    );
                } else {
                    self.model.producers.entry(producer).or_default().uncertain = true;
                }
                Ok(())
            }
        }
    }
}

/// The API versions a case speaks.
#[derive(Debug, Clone, Copy)]
pub struct CaseVersions {
    /// Produce.
    pub produce: i16,
    /// Fetch.
    pub fetch: i16,
    /// ListOffsets.
    pub list_offsets: i16,
    /// Metadata.
    pub metadata: i16,
    /// InitProducerId, if advertised.
    pub init_producer_id: Option<i16>,
}

/// Versions for `api` both sides speak, within what the driver builds.
pub fn version_of(target: &SuiteTarget, api: ApiKey, floor: i16, ceiling: i16) -> Option<i16> {
    crate::certify::suite::probe::choose_version(&target.advertised, api, floor, ceiling)
}
