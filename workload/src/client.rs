//! A small Kafka client over any [`Transport`], built for recording histories: it never
//! retries behind the history's back. Every call is one attempt with a timeout, and its
//! outcome says whether the operation definitely failed or may have happened.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, InitProducerIdRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, ProducerId, TopicName,
};

use faultline_wire::connection::{connect, Connection};
use faultline_wire::records::{decode_records, encode_batch, BatchRecord};
use faultline_wire::{ResponseError, Transport};
use kafka_protocol::records::Compression;

pub mod admin;
pub mod group;
pub mod pipelined;
pub mod txn;

pub use group::{GroupError, Joined};

/// Versions this client speaks (all within what Kafka 2.x+ and our broker serve).
const METADATA_VERSION: i16 = 9;
pub const PRODUCE_VERSION: i16 = 8;
pub const FETCH_VERSION: i16 = 11;
const LIST_OFFSETS_VERSION: i16 = 5;
const INIT_PRODUCER_ID_VERSION: i16 = 2;

/// The record header a workload producer repeats its value in (KIP-82 headers), so a
/// consumer can tell a record whose headers were lost or altered.
pub const VALUE_HEADER: &str = "faultline-value";

/// How a produce attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProduceOutcome {
    /// Acknowledged at this base offset.
    Ok(i64),
    /// Definitely not written (the broker refused before appending).
    Fail(String),
    /// May or may not have been written: a timeout, a lost connection, or an error the
    /// broker can return after appending.
    Info(String),
}

/// A fetched partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// `(offset, value)` in log order.
    pub records: Vec<(i64, Bytes)>,
    /// Each record's [`VALUE_HEADER`], if it has one, in the same order.
    pub value_headers: Vec<Option<Bytes>>,
    /// The leader's high watermark.
    pub high_watermark: i64,
    /// Where the next fetch of the partition starts: past every record decoded, shown or
    /// not (markers and aborted records take offsets too), or the offset asked for.
    pub next_offset: i64,
    /// The `current_leader_epoch` the fetch carried and the leader accepted (KIP-320);
    /// `None` when the metadata named none.
    pub leader_epoch: Option<i32>,
}

/// A leader epoch from metadata: -1 means the broker named none (KIP-320), and a request
/// carrying it is not fenced.
pub(crate) fn known_epoch(epoch: i32) -> Option<i32> {
    (epoch >= 0).then_some(epoch)
}

/// Produce errors the broker returns before appending anything (Kafka's
/// `Partition.appendRecordsToLeader` and request validation). Anything else — notably
/// NOT_LEADER_OR_FOLLOWER and REQUEST_TIMED_OUT, which Kafka's `DelayedProduce` returns
/// after the append — is indeterminate.
fn definitely_not_written(error: ResponseError) -> bool {
    matches!(
        error,
        ResponseError::NotEnoughReplicas
            | ResponseError::UnknownTopicOrPartition
            | ResponseError::InvalidRecord
            | ResponseError::CorruptMessage
            | ResponseError::InvalidRequiredAcks
            | ResponseError::MessageTooLarge
            | ResponseError::RecordListTooLarge
            | ResponseError::InvalidTopicException
            // KIP-98: sequence and epoch checks run before the append.
            | ResponseError::OutOfOrderSequenceNumber
            | ResponseError::InvalidProducerEpoch
            | ResponseError::UnknownProducerId
    )
}

/// A client of one cluster.
pub struct KafkaClient<T: Transport> {
    transport: T,
    bootstrap: Vec<String>,
    client_id: String,
    /// Per-request timeout.
    pub request_timeout: Duration,
    brokers: BTreeMap<i32, String>,
    leaders: BTreeMap<(String, i32), (i32, i32)>,
    connections: BTreeMap<String, Connection<T::Stream>>,
    next_bootstrap: usize,
    /// Fetch's `isolation_level`: 0 read_uncommitted (the default), 1 read_committed,
    /// which stops at the last stable offset and drops aborted transactions (KIP-98).
    pub isolation_level: i8,
}

impl<T: Transport> KafkaClient<T> {
    /// A client that knows the cluster by its bootstrap addresses.
    pub fn new(
        transport: T,
        bootstrap: Vec<String>,
        client_id: impl Into<String>,
        request_timeout: Duration,
    ) -> Self {
        KafkaClient {
            transport,
            bootstrap,
            client_id: client_id.into(),
            request_timeout,
            brokers: BTreeMap::new(),
            leaders: BTreeMap::new(),
            connections: BTreeMap::new(),
            next_bootstrap: 0,
            isolation_level: 0,
        }
    }

    async fn connection(&mut self, address: &str) -> Result<&mut Connection<T::Stream>, String> {
        if !self.connections.contains_key(address) {
            let connection = connect(
                &self.transport,
                address,
                &self.client_id,
                self.request_timeout,
            )
            .await
            .map_err(|e| e.to_string())?;
            self.connections.insert(address.to_string(), connection);
        }
        Ok(self.connections.get_mut(address).expect("inserted above"))
    }

    fn drop_connection(&mut self, address: &str) {
        self.connections.remove(address);
    }

    /// One request to `address`; any failure drops the connection (a stream cut by a
    /// partition never recovers in turmoil, and may not on real TCP either).
    async fn send_to<R: kafka_protocol::protocol::Request>(
        &mut self,
        address: &str,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, faultline_wire::RequestError> {
        let connection = match self.connection(address).await {
            Ok(c) => c,
            Err(e) => {
                return Err(faultline_wire::RequestError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    e,
                )))
            }
        };
        let result = connection.send(request, version, timeout).await;
        if result.is_err() {
            self.drop_connection(address);
        }
        result
    }

    /// Refreshes brokers and leaders for `topic` from the next bootstrap broker.
    pub async fn refresh_metadata(&mut self, topic: &str) -> Result<(), String> {
        let mut last_error = String::from("no bootstrap brokers");
        for _ in 0..self.bootstrap.len() {
            let address = self.bootstrap[self.next_bootstrap % self.bootstrap.len()].clone();
            self.next_bootstrap += 1;
            let request = MetadataRequest::default()
                .with_topics(Some(vec![MetadataRequestTopic::default()
                    .with_name(Some(TopicName(topic.to_string().into())))]));
            let timeout = self.request_timeout;
            let result = self
                .send_to(&address, &request, METADATA_VERSION, timeout)
                .await
                .map_err(|e| e.to_string());
            match result {
                Ok(response) => {
                    for broker in &response.brokers {
                        self.brokers
                            .insert(broker.node_id.0, format!("{}:{}", broker.host, broker.port));
                    }
                    for t in &response.topics {
                        let Some(name) = &t.name else { continue };
                        for p in &t.partitions {
                            let key = (name.0.to_string(), p.partition_index);
                            if p.error_code == 0 && p.leader_id.0 >= 0 {
                                self.leaders.insert(key, (p.leader_id.0, p.leader_epoch));
                            } else {
                                self.leaders.remove(&key);
                            }
                        }
                    }
                    return Ok(());
                }
                Err(e) => {
                    self.drop_connection(&address);
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    /// The leader's address and epoch for a partition, refreshing metadata if unknown.
    async fn leader(&mut self, topic: &str, partition: i32) -> Result<(String, i32), String> {
        let key = (topic.to_string(), partition);
        if !self.leaders.contains_key(&key) {
            self.refresh_metadata(topic).await?;
        }
        let (leader, epoch) = *self.leaders.get(&key).ok_or("no leader known")?;
        let address = self
            .brokers
            .get(&leader)
            .cloned()
            .ok_or("leader address unknown")?;
        Ok((address, epoch))
    }

    /// The address of a partition's leader as last learned, without asking anyone.
    pub fn leader_address(&self, topic: &str, partition: i32) -> Option<String> {
        let (leader, _) = self.leaders.get(&(topic.to_string(), partition))?;
        self.brokers.get(leader).cloned()
    }

    /// The Fetch version this client speaks.
    pub const FETCH_VERSION: i16 = FETCH_VERSION;

    fn forget_leader(&mut self, topic: &str, partition: i32) {
        self.leaders.remove(&(topic.to_string(), partition));
    }

    /// One produce attempt of `values` to one partition.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        values: &[Bytes],
        acks: i16,
        timestamp: i64,
    ) -> ProduceOutcome {
        let records: Vec<BatchRecord> = values
            .iter()
            .map(|value| BatchRecord {
                key: None,
                value: Some(value.clone()),
                timestamp,
                headers: Vec::new(),
            })
            .collect();
        self.produce_as(topic, partition, &records, Compression::None, acks, None)
            .await
    }

    /// One produce attempt, as an idempotent producer when `producer` is given: its
    /// `(producer_id, producer_epoch, first sequence)` go in the batch header (KIP-98).
    /// The records go as one batch compressed with `compression`.
    #[allow(clippy::too_many_arguments)]
    pub async fn produce_as(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[BatchRecord],
        compression: Compression,
        acks: i16,
        producer: Option<(i64, i16, i32)>,
    ) -> ProduceOutcome {
        let (address, _) = match self.leader(topic, partition).await {
            Ok(found) => found,
            Err(e) => return ProduceOutcome::Fail(format!("no leader: {e}")),
        };
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(self.request_timeout.as_millis() as i32)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(encode_batch(records, producer, compression)))])]);
        // The broker's own timeout is the request's; allow it to answer first.
        let timeout = self.request_timeout * 2;
        if let Err(e) = self.connection(&address).await {
            self.forget_leader(topic, partition);
            return ProduceOutcome::Fail(format!("connect: {e}"));
        }
        match self
            .send_to(&address, &request, PRODUCE_VERSION, timeout)
            .await
        {
            Err(e) => {
                self.forget_leader(topic, partition);
                ProduceOutcome::Info(e.to_string())
            }
            Ok(response) => {
                let Some(answer) = response
                    .responses
                    .first()
                    .and_then(|t| t.partition_responses.first())
                else {
                    return ProduceOutcome::Info("empty produce response".into());
                };
                match ResponseError::try_from_code(answer.error_code) {
                    None => ProduceOutcome::Ok(answer.base_offset),
                    Some(error) => {
                        self.forget_leader(topic, partition);
                        if definitely_not_written(error) {
                            ProduceOutcome::Fail(error.to_string())
                        } else {
                            ProduceOutcome::Info(error.to_string())
                        }
                    }
                }
            }
        }
    }

    /// InitProducerId on the next bootstrap broker (any broker may answer for an
    /// idempotent producer). `current` asks for an epoch bump of that id (KIP-360).
    pub async fn init_producer_id(
        &mut self,
        current: Option<(i64, i16)>,
    ) -> Result<(i64, i16), String> {
        let (producer_id, producer_epoch) = current.unwrap_or((-1, -1));
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch);
        let address = self.bootstrap[self.next_bootstrap % self.bootstrap.len()].clone();
        self.next_bootstrap += 1;
        let timeout = self.request_timeout;
        let response = self
            .send_to(&address, &request, INIT_PRODUCER_ID_VERSION, timeout)
            .await
            .map_err(|e| e.to_string())?;
        match ResponseError::try_from_code(response.error_code) {
            None if response.producer_id.0 >= 0 => {
                Ok((response.producer_id.0, response.producer_epoch))
            }
            None => Err("InitProducerId returned no producer id".into()),
            Some(error) => Err(error.to_string()),
        }
    }

    /// One fetch of one partition from `offset`, as a consumer (below the high watermark).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
    ) -> Result<Fetched, String> {
        let (address, epoch) = self.leader(topic, partition).await?;
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_isolation_level(self.isolation_level)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(topic.to_string().into()))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(epoch)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let timeout =
            self.request_timeout + std::time::Duration::from_millis(max_wait_ms.max(0) as u64);
        let response = match self
            .send_to(&address, &request, FETCH_VERSION, timeout)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.forget_leader(topic, partition);
                return Err(e.to_string());
            }
        };
        let data = response
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or("empty fetch response")?;
        if let Some(error) = ResponseError::try_from_code(data.error_code) {
            self.forget_leader(topic, partition);
            return Err(error.to_string());
        }
        let records = match &data.records {
            Some(bytes) => decode_records(bytes).map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        // Markers are not data, and a read_committed consumer drops aborted transactions.
        let aborted: Vec<(i64, i64)> = match (&data.aborted_transactions, self.isolation_level) {
            (Some(list), 1) => list
                .iter()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect(),
            _ => Vec::new(),
        };
        // Whole batches come back (Kafka protocol guide, Fetch): skip the records before
        // the offset asked for.
        let records: Vec<_> = records.into_iter().filter(|r| r.offset >= offset).collect();
        let next_offset = records.last().map_or(offset, |r| r.offset + 1);
        let records = txn::visible_records(records, &aborted);
        Ok(Fetched {
            value_headers: records
                .iter()
                .map(|r| r.headers.get(VALUE_HEADER.as_bytes()).cloned().flatten())
                .collect(),
            records: records
                .into_iter()
                .map(|r| (r.offset, r.value.unwrap_or_default()))
                .collect(),
            high_watermark: data.high_watermark,
            next_offset,
            leader_epoch: known_epoch(epoch),
        })
    }

    /// ListOffsets latest (-1) or earliest (-2) for one partition.
    pub async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<i64, String> {
        let (address, epoch) = self.leader(topic, partition).await?;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(epoch)
                    .with_timestamp(timestamp)])]);
        let timeout = self.request_timeout;
        let response = match self
            .send_to(&address, &request, LIST_OFFSETS_VERSION, timeout)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.forget_leader(topic, partition);
                return Err(e.to_string());
            }
        };
        let answer = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or("empty list-offsets response")?;
        match ResponseError::try_from_code(answer.error_code) {
            None => Ok(answer.offset),
            Some(error) => {
                self.forget_leader(topic, partition);
                Err(error.to_string())
            }
        }
    }
}
