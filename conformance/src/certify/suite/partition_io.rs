//! Produce, Fetch and ListOffsets against one partition's leader, through a [`Probe`] so
//! every call is evidence. Each returns the broker's answer as data (error code included)
//! and leaves judging it to the property; a hang or dropped connection is the `Err`.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::records::{decode_records, producer_batch};
use faultline_wire::Transport;
use kafka_protocol::records::Record;

use super::identify::metadata;
use super::probe::{choose_version, no_version_reason, Probe};
use super::SuiteTarget;
use crate::certify::model::AdvertisedApi;

/// Produce versions the suite sends: v3 is the first with record batches (KIP-98); v13
/// names topics by id (KIP-516), which this suite does not.
pub const PRODUCE_VERSIONS: (i16, i16) = (3, 12);
/// Fetch versions: v4 is the first with record batches and isolation levels; v13 names
/// topics by id.
pub const FETCH_VERSIONS: (i16, i16) = (4, 12);
/// ListOffsets versions: v1 answers one offset per partition (KIP-79).
pub const LIST_OFFSETS_VERSIONS: (i16, i16) = (1, 9);
/// ListOffsets timestamp meaning "the latest offset" (KIP-79).
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp meaning "the earliest offset" (KIP-79).
pub const EARLIEST_TIMESTAMP: i64 = -2;

/// The versions this broker and the suite share, per API (None: no common version).
#[derive(Debug, Clone, Copy)]
pub struct Versions {
    /// Produce.
    pub produce: Option<i16>,
    /// Fetch.
    pub fetch: Option<i16>,
    /// ListOffsets.
    pub list_offsets: Option<i16>,
}

impl Versions {
    /// The highest common versions.
    pub fn of(advertised: &[AdvertisedApi]) -> Self {
        let pick =
            |api, (floor, ceiling): (i16, i16)| choose_version(advertised, api, floor, ceiling);
        Versions {
            produce: pick(ApiKey::Produce, PRODUCE_VERSIONS),
            fetch: pick(ApiKey::Fetch, FETCH_VERSIONS),
            list_offsets: pick(ApiKey::ListOffsets, LIST_OFFSETS_VERSIONS),
        }
    }

    /// Why a test needing Produce, Fetch (and ListOffsets, if `with_list_offsets`) does
    /// not apply, or `None` when it does.
    pub fn missing(&self, advertised: &[AdvertisedApi], with_list_offsets: bool) -> Option<String> {
        let needed = [
            (self.produce, ApiKey::Produce, PRODUCE_VERSIONS, true),
            (self.fetch, ApiKey::Fetch, FETCH_VERSIONS, true),
            (
                self.list_offsets,
                ApiKey::ListOffsets,
                LIST_OFFSETS_VERSIONS,
                with_list_offsets,
            ),
        ];
        needed
            .iter()
            .find(|(version, _, _, wanted)| *wanted && version.is_none())
            .map(|&(_, api, (floor, ceiling), _)| {
                no_version_reason(advertised, api, floor, ceiling)
            })
    }
}

/// An idempotent producer's identity and the batch's first sequence number (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSequence {
    /// From InitProducerId.
    pub producer_id: i64,
    /// From InitProducerId.
    pub producer_epoch: i16,
    /// The first record's sequence number.
    pub first_sequence: i32,
}

/// A produce answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// The partition's error code (0: none).
    pub error_code: i16,
    /// The base offset the broker assigned (-1 on error).
    pub base_offset: i64,
    /// Index of the exchange in the probe.
    pub exchange: usize,
}

/// A fetch answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The partition's error code (0: none).
    pub error_code: i16,
    /// The high watermark the leader reported.
    pub high_watermark: i64,
    /// Every record returned, `(offset, value)`, including any below the fetch offset
    /// (Kafka returns whole batches).
    pub records: Vec<(i64, Option<Bytes>)>,
    /// Index of the exchange in the probe.
    pub exchange: usize,
}

fn produce_request(
    timeout: Duration,
    topic: &str,
    partition: i32,
    values: &[Bytes],
    acks: i16,
    producer: Option<ProducerSequence>,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout.as_millis() as i32)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(values, producer)))])])
}

fn produced(
    response: &ProduceResponse,
    partition: i32,
    exchange: usize,
) -> Result<Produced, String> {
    response
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition)
        .map(|p| Produced {
            error_code: p.error_code,
            base_offset: p.base_offset,
            exchange,
        })
        .ok_or_else(|| format!("the Produce response has no answer for partition {partition}"))
}

/// Sends one Produce of `values` (one batch) to `address` for one partition.
#[allow(clippy::too_many_arguments)]
pub async fn produce<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
    version: i16,
    topic: &str,
    partition: i32,
    values: &[Bytes],
    acks: i16,
    producer: Option<ProducerSequence>,
) -> Result<Produced, String> {
    let request = produce_request(probe.timeout, topic, partition, values, acks, producer);
    // The broker waits up to the request's own timeout for acks=all; let it answer first.
    let response = probe
        .send(address, &request, version, probe.timeout)
        .await?;
    produced(&response, partition, probe.exchanges.len() - 1)
}

/// A Produce of `values` and, pipelined right behind it on the same connection, a Fetch
/// from `fetch_offset`: the fetch sees the partition as it is the moment the produce is
/// answered. Versions are `(produce, fetch)`.
#[allow(clippy::too_many_arguments)]
pub async fn produce_then_fetch<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
    versions: (i16, i16),
    topic: &str,
    partition: i32,
    values: &[Bytes],
    acks: i16,
    fetch_offset: i64,
) -> Result<(Produced, Fetched), String> {
    let produce = produce_request(probe.timeout, topic, partition, values, acks, None);
    let fetch = fetch_request(topic, partition, fetch_offset, 0);
    let (p, f) = probe
        .send_pipelined(
            address,
            (&produce, versions.0),
            (&fetch, versions.1),
            probe.timeout,
        )
        .await;
    let exchange = probe.exchanges.len() - 2;
    let produced = produced(&p?, partition, exchange)?;
    let fetched = fetched(&f?, partition, exchange + 1)?;
    Ok((produced, fetched))
}

fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

/// A Fetch response's answer for `partition` and its records, decoded (none when the
/// partition answered an error).
pub(crate) fn partition_answer(
    response: &FetchResponse,
    partition: i32,
) -> Result<(&PartitionData, Vec<Record>), String> {
    let data = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| format!("the Fetch response has no answer for partition {partition}"))?;
    let records = match &data.records {
        Some(bytes) if data.error_code == 0 => decode_records(bytes)
            .map_err(|e| format!("the Fetch response's records do not decode: {e}"))?,
        _ => Vec::new(),
    };
    Ok((data, records))
}

fn fetched(response: &FetchResponse, partition: i32, exchange: usize) -> Result<Fetched, String> {
    let (data, records) = partition_answer(response, partition)?;
    Ok(Fetched {
        error_code: data.error_code,
        high_watermark: data.high_watermark,
        records: records.into_iter().map(|r| (r.offset, r.value)).collect(),
        exchange,
    })
}

/// Sends one Fetch of one partition from `offset`, as a consumer (replica id -1,
/// read_uncommitted).
pub async fn fetch<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
    version: i16,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> Result<Fetched, String> {
    let request = fetch_request(topic, partition, offset, max_wait_ms);
    let extra_wait = Duration::from_millis(max_wait_ms.max(0) as u64);
    let response = probe.send(address, &request, version, extra_wait).await?;
    fetched(&response, partition, probe.exchanges.len() - 1)
}

/// Sends one ListOffsets for one partition: `(error code, offset)`.
pub async fn list_offset<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
    version: i16,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<(i16, i64), String> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)])]);
    let response = probe
        .send(address, &request, version, Duration::ZERO)
        .await?;
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .map(|p| (p.error_code, p.offset))
        .ok_or_else(|| format!("the ListOffsets response has no answer for partition {partition}"))
}

/// The leader's address of `partition` of the target's topic, from Metadata asked of each
/// bootstrap address in turn.
pub async fn leader<T: Transport>(
    probe: &mut Probe<T>,
    target: &SuiteTarget,
    partition: i32,
) -> Result<String, String> {
    for address in &target.bootstrap {
        let view = metadata(
            probe,
            address,
            &target.advertised,
            Some(&target.topic),
            false,
        )
        .await;
        if let Some(leader) = view.and_then(|v| v.leader_address(&target.topic, partition)) {
            return Ok(leader);
        }
    }
    Err(format!(
        "no bootstrap address reported a leader for {}-{partition} in Metadata",
        target.topic
    ))
}

/// The name as kafka-protocol wants it.
pub fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// One uncompressed v2 batch of `values` (protocol guide, "Record Batch"), stamped with
/// the wall clock as a real producer would (a zero timestamp can fall to time retention).
fn batch(values: &[Bytes], producer: Option<ProducerSequence>) -> Bytes {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let producer = producer.map(|p| (p.producer_id, p.producer_epoch, p.first_sequence));
    producer_batch(values, producer, timestamp)
}

/// The highest Fetch version, from `chosen` down, whose answers kafka-protocol 0.18 can
/// read. A broker may put a tagged field into a version that does not define it (Tansu
/// 0.6.0 sends Fetch's NodeEndpoints, tag 0 of v16+, at v12); KIP-482 has receivers skip
/// tags they do not know, but kafka-protocol rejects them. The API sweep reports such
/// versions; the semantic checks (the produce/fetch suite, the model-based suite) use one
/// both sides read, so a tag the protocol lets a receiver skip is never judged a FAIL there.
pub async fn readable_fetch_version<T: Transport>(
    probe: &mut Probe<T>,
    target: &SuiteTarget,
    leader: &str,
    partition: i32,
    chosen: Option<i16>,
) -> Option<i16> {
    let mut version = chosen?;
    while version > FETCH_VERSION_FLOOR {
        match fetch(probe, leader, version, &target.topic, partition, 0, 0).await {
            Err(e) if e.contains("is not valid for version") => version -= 1,
            _ => break,
        }
    }
    Some(version)
}

/// The lowest Fetch version the suites read (record batches, v4+).
pub const FETCH_VERSION_FLOOR: i16 = 4;
