//! Runs one case against a live broker: resolves each [`Op`] against the model, sends its
//! request(s) through [`Probe`]s (so every request and response is evidence), and hands the
//! answer to the model's check. Produce, Fetch, ListOffsets, Metadata and InitProducerId
//! live here; the group ops in [`super::group_driver`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProduceRequest};

use faultline_wire::records::producer_batch;
use faultline_wire::{tamper, Transport};

use super::group_model::GroupModel;
use super::log_model::{PartitionModel, ProduceSeen};
use super::ops::{Acks, MaxBytes, Op};
use super::producer_model::ProducerModel;
use super::rules::{Violation, ANSWERED};
use super::setup::CaseSetup;
use crate::certify::model::Exchange;
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
    /// The topics the case asked CreateTopics for (the `admin` family).
    pub admin: super::admin_model::AdminModel,
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

    pub(super) fn client(&mut self, slot: u8) -> Probe<T> {
        let index = slot as usize % self.clients.len();
        std::mem::replace(
            &mut self.clients[index],
            Probe::new(self.transport, self.target),
        )
    }

    pub(super) fn give_back(&mut self, slot: u8, mut probe: Probe<T>) {
        self.collect(&mut probe);
        let index = slot as usize % self.clients.len();
        self.clients[index] = probe;
    }

    /// Sends `request` to `leader` on client `slot`'s connection at the case's Fetch
    /// version; no answer is a `request.answered` violation.
    pub(super) async fn send_fetch(
        &mut self,
        slot: u8,
        leader: &str,
        request: &FetchRequest,
    ) -> Result<kafka_protocol::messages::FetchResponse, Violation> {
        let mut probe = self.client(slot);
        let answer = probe
            .send(leader, request, self.setup.versions.fetch, Duration::ZERO)
            .await;
        self.give_back(slot, probe);
        answer.map_err(|e| ANSWERED.violated(format!("Fetch got no answer: {e}")))
    }

    pub(super) fn slot(&self, partition: u8) -> usize {
        partition as usize % self.setup.partitions.len()
    }

    /// Values of a new batch written by op `index`: unique across cases and runs.
    pub(super) fn values(&self, index: usize, records: u8) -> Vec<String> {
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
                header_offset,
            } => {
                let values = self.values(index, *records);
                let target = (*client, *partition, *header_offset);
                self.produce(index, target, values, *acks).await
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
            Op::MalformedProduce {
                client,
                partition,
                records,
                malformation,
            } => {
                self.malformed_produce(index, *client, *partition, *records, *malformation)
                    .await
            }
            Op::CreateTopic {
                client,
                name,
                partitions,
                replication_factor,
            } => {
                let live = self.model.admin.live_brokers;
                let name = super::admin_model::topic_name(*name, &self.setup.tag, index);
                let partitions = super::admin_model::partitions_wire(*partitions);
                let rf = super::admin_model::replication_factor_wire(*replication_factor, live);
                self.create_topic(*client, name, partitions, rf).await
            }
            Op::CreateAgain { client, which } => match self.model.admin.attempt(*which) {
                Some(a) => {
                    let (name, partitions, rf) =
                        (a.name.clone(), a.partitions, a.replication_factor);
                    self.create_topic(*client, name, partitions, rf).await
                }
                None => Ok(()),
            },
            Op::DescribeTopic { client, which } => self.describe_topic(*client, *which).await,
            Op::DeleteRecords { client, at } => self.delete_records(*client, *at).await,
            Op::FetchPartitions {
                client,
                first,
                starts,
                max_bytes,
                partition_max_bytes,
            } => {
                let budgets = (*max_bytes, *partition_max_bytes);
                self.fetch_partitions(*client, *first, starts, budgets)
                    .await
            }
        }
    }

    pub(super) fn produce_request(&self, slot: usize, batch: Bytes, acks: Acks) -> ProduceRequest {
        ProduceRequest::default()
            .with_acks(acks.wire())
            .with_timeout_ms(self.target.request_timeout.as_millis() as i32)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(&self.setup.topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(self.setup.partitions[slot])
                    .with_records(Some(batch))])])
    }

    pub(super) fn batch(
        &self,
        values: &[String],
        timestamp_ms: i64,
        producer: Option<(i64, i16, i32)>,
    ) -> Bytes {
        let values: Vec<Bytes> = values.iter().map(|v| Bytes::from(v.clone())).collect();
        producer_batch(&values, producer, timestamp_ms)
    }

    /// Sends one Produce and reads the partition's answer (`Err`: no answer).
    pub(super) async fn send_produce(
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
        (client, partition, header_offset): (u8, u8, u32),
        values: Vec<String>,
        acks: Acks,
    ) -> Result<(), Violation> {
        let slot = self.slot(partition);
        let timestamp_ms = self.setup.timestamp_base_ms + index as i64;
        let batch = self.batch(&values, timestamp_ms, None);
        let batch = tamper::with_base_offset(&batch, i64::from(header_offset));
        let request = self.produce_request(slot, batch, acks);
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
        let response = self.send_fetch(client, &leader, &request).await?;
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
        let bytes = match &data.records {
            Some(bytes) if data.error_code == 0 => bytes.clone(),
            _ => Bytes::new(),
        };
        let seen = super::multi_fetch::seen(data.error_code, data.high_watermark, bytes)?;
        self.model.partitions[slot].check_fetch(offset, &seen)
    }
}
