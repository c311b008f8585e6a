//! The transactional calls the transactions suite makes (KIP-98, KIP-447), each through a
//! [`Probe`] so it is evidence: FindCoordinator for a `transactional.id` or a group,
//! InitProducerId, AddPartitionsToTxn, transactional Produce, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn, OffsetFetch, and Fetch / ListOffsets at an isolation level.
//! The request bodies are the transactional workload's (`faultline_workload::client::txn`),
//! so the suite and the fault workload send the same requests.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FindCoordinatorRequest, GroupId, ListOffsetsRequest,
    OffsetFetchRequest, ProduceRequest, TransactionalId,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::Record;

use faultline_checker::history::ProducerIdentity;
use faultline_wire::records::BatchRecord;
use faultline_wire::{ResponseError, Transport};
use faultline_workload::client::txn as calls;

use super::partition_io::{
    partition_answer, topic_name, Produced, FETCH_VERSIONS, PRODUCE_VERSIONS,
};
use super::probe::{choose_version, no_version_reason, Probe};
use crate::certify::model::AdvertisedApi;

/// What each transactional API needs, `(api, lowest, highest)`, and why the bounds: the
/// rule that makes the `txn.*` suite properties NOT APPLICABLE when a broker lacks one.
pub const TXN_APIS: [(ApiKey, i16, i16); 6] = [
    // v1 adds `key_type` (1 = transaction, KIP-98); v4+ batches keys (KIP-699).
    (ApiKey::FindCoordinator, 1, 3),
    // Every version carries `transactional_id` (KIP-98); v5+ is KIP-890's.
    (ApiKey::InitProducerId, 0, 4),
    // v0–v3 are the client's versions; v4+ batch transactions for brokers (KIP-890).
    (ApiKey::AddPartitionsToTxn, 0, 3),
    // v4+ adds TRANSACTION_ABORTABLE and v5 KIP-890's epoch bump at every end.
    (ApiKey::EndTxn, 0, 3),
    // v3 is the first with `transactional_id` and record batches (KIP-98).
    (ApiKey::Produce, PRODUCE_VERSIONS.0, PRODUCE_VERSIONS.1),
    // v4 is the first with `isolation_level`, the last stable offset and the aborted
    // transactions (KIP-98).
    (ApiKey::Fetch, FETCH_VERSIONS.0, FETCH_VERSIONS.1),
];
/// ListOffsets v2 is the first with `isolation_level` (KIP-98).
pub const LIST_OFFSETS_ISOLATED: (ApiKey, i16, i16) = (ApiKey::ListOffsets, 2, 9);
/// The consume-transform-produce APIs (KIP-98, KIP-447): OffsetFetch v1+ reads a group's
/// offsets from its coordinator (v8+ batches groups).
pub const OFFSET_APIS: [(ApiKey, i16, i16); 3] = [
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::OffsetFetch, 1, 7),
];
/// Fetch's `isolation_level` READ_COMMITTED (KIP-98).
pub const READ_COMMITTED: i8 = 1;
/// Fetch's `isolation_level` READ_UNCOMMITTED.
pub const READ_UNCOMMITTED: i8 = 0;
/// The transaction timeout the suite's producers ask for: long enough that no transaction
/// of the suite times out while it is probed.
const TRANSACTION_TIMEOUT_MS: i32 = 60_000;
/// How long a coordinator call is retried while it answers a retriable error
/// (CONCURRENT_TRANSACTIONS while it completes the previous transaction, COORDINATOR_*).
const RETRY_FOR: Duration = Duration::from_secs(10);

/// The version of each API the suite sends; `None` where the broker has none usable.
#[derive(Debug, Clone, Default)]
pub struct TxnVersions(pub BTreeMap<i16, i16>);

impl TxnVersions {
    /// The highest common version of every API in `apis`, or why one is missing.
    pub fn of(advertised: &[AdvertisedApi], apis: &[(ApiKey, i16, i16)]) -> Result<Self, String> {
        let mut chosen = BTreeMap::new();
        for &(api, floor, ceiling) in apis {
            let version = choose_version(advertised, api, floor, ceiling)
                .ok_or_else(|| no_version_reason(advertised, api, floor, ceiling))?;
            chosen.insert(api as i16, version);
        }
        Ok(TxnVersions(chosen))
    }

    /// Adds the versions of `apis`, or says why one is missing.
    pub fn with(
        &self,
        advertised: &[AdvertisedApi],
        apis: &[(ApiKey, i16, i16)],
    ) -> Result<Self, String> {
        let mut more = TxnVersions::of(advertised, apis)?;
        more.0.extend(self.0.iter().map(|(k, v)| (*k, *v)));
        Ok(more)
    }

    /// The chosen version of `api` (the caller checked it with [`TxnVersions::of`]).
    pub fn of_api(&self, api: ApiKey) -> i16 {
        self.0[&(api as i16)]
    }
}

/// What one Fetch at an isolation level returned for a partition.
#[derive(Debug, Clone)]
pub struct IsolatedFetch {
    /// The partition's error code.
    pub error_code: i16,
    /// The high watermark.
    pub high_watermark: i64,
    /// The last stable offset (KIP-98).
    pub last_stable_offset: i64,
    /// `aborted_transactions` as `(producer_id, first_offset)`.
    pub aborted: Vec<(i64, i64)>,
    /// Every record returned, control records included.
    pub records: Vec<Record>,
    /// Index of the exchange in the probe.
    pub exchange: usize,
}

impl IsolatedFetch {
    /// The values a consumer at this isolation hands on (Kafka's consumer drops control
    /// records and, at read_committed, the listed aborted transactions: KIP-98), with
    /// their offsets.
    pub fn visible(&self) -> Vec<(i64, Bytes)> {
        calls::visible_records(self.records.clone(), &self.aborted)
            .into_iter()
            .filter_map(|r| r.value.map(|v| (r.offset, v)))
            .collect()
    }

    /// Every non-control value returned, aborted or not, with its offset.
    pub fn data(&self) -> Vec<(i64, Bytes)> {
        self.records
            .iter()
            .filter(|r| !r.control)
            .filter_map(|r| r.value.clone().map(|v| (r.offset, v)))
            .collect()
    }
}

/// A transactional producer as the suite drives it: one `transactional.id`, the identity
/// InitProducerId granted, the next sequence per partition.
#[derive(Debug, Clone)]
pub struct TxnProducer {
    /// The `transactional.id`.
    pub id: String,
    /// Its transaction coordinator.
    pub coordinator: String,
    /// The granted producer id and epoch.
    pub identity: ProducerIdentity,
    /// The next sequence per partition.
    pub sequences: BTreeMap<i32, i32>,
}

/// Sends `request` to each of `addresses` in turn until the error code `code_of` reads from
/// the answer is not retriable (CONCURRENT_TRANSACTIONS while the coordinator completes the
/// previous transaction, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR...), or for at most
/// [`RETRY_FOR`]: the last code and answer.
async fn send_retrying<T, R>(
    probe: &mut Probe<T>,
    addresses: &[String],
    request: &R,
    version: i16,
    code_of: impl Fn(&R::Response) -> i16,
) -> Result<(i16, R::Response), String>
where
    T: Transport,
    R: Request + Debug,
    R::Response: Debug,
{
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut attempt = 0;
    loop {
        let address = &addresses[attempt % addresses.len()];
        attempt += 1;
        let response = probe
            .send(address, request, version, Duration::ZERO)
            .await?;
        let code = code_of(&response);
        let retriable = ResponseError::try_from_code(code)
            .is_some_and(|e| e.is_retriable() || e == ResponseError::ConcurrentTransactions);
        if !retriable || tokio::time::Instant::now() >= deadline {
            return Ok((code, response));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// FindCoordinator of `key_type` (0 group, 1 transaction) for `key`: the address.
pub async fn find_coordinator<T: Transport>(
    probe: &mut Probe<T>,
    bootstrap: &[String],
    version: i16,
    key: &str,
    key_type: i8,
) -> Result<String, String> {
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(key.to_string()))
        .with_key_type(key_type);
    match send_retrying(probe, bootstrap, &request, version, |r| r.error_code).await? {
        (0, r) => Ok(format!("{}:{}", r.host, r.port)),
        (code, _) => Err(format!(
            "FindCoordinator (key type {key_type}) for {key} answered {}",
            error_text(code)
        )),
    }
}

/// `NAME (code)` of an error code.
pub fn error_text(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE (0)".into(),
        Some(e) => format!("{e:?} ({code})"),
    }
}

impl TxnProducer {
    /// InitProducerId for `id` at `coordinator` (retried while the coordinator answers
    /// CONCURRENT_TRANSACTIONS, finishing the previous epoch's transaction: KIP-98).
    pub async fn init<T: Transport>(
        probe: &mut Probe<T>,
        versions: &TxnVersions,
        coordinator: &str,
        id: &str,
    ) -> Result<TxnProducer, String> {
        let request = calls::init_request(id, TRANSACTION_TIMEOUT_MS);
        let version = versions.of_api(ApiKey::InitProducerId);
        let at = [coordinator.to_string()];
        match send_retrying(probe, &at, &request, version, |r| r.error_code).await? {
            (0, r) if r.producer_id.0 >= 0 => Ok(TxnProducer {
                id: id.to_string(),
                coordinator: coordinator.to_string(),
                identity: ProducerIdentity {
                    producer_id: r.producer_id.0,
                    producer_epoch: r.producer_epoch,
                },
                sequences: BTreeMap::new(),
            }),
            (code, _) => Err(format!(
                "InitProducerId for {id} answered {} with no producer id",
                error_text(code)
            )),
        }
    }

    /// Sends a coordinator request, retried while retriable: the error code.
    async fn to_coordinator<T, R>(
        &self,
        probe: &mut Probe<T>,
        request: &R,
        version: i16,
        code_of: impl Fn(&R::Response) -> i16,
    ) -> Result<i16, String>
    where
        T: Transport,
        R: Request + Debug,
        R::Response: Debug,
    {
        let at = [self.coordinator.clone()];
        Ok(send_retrying(probe, &at, request, version, code_of)
            .await?
            .0)
    }

    /// AddPartitionsToTxn of `partitions` of `topic`: the first error code found (0: none).
    pub async fn add_partitions<T: Transport>(
        &self,
        probe: &mut Probe<T>,
        versions: &TxnVersions,
        topic: &str,
        partitions: &[i32],
    ) -> Result<i16, String> {
        let request = calls::add_partitions_request(&self.id, self.identity, topic, partitions);
        let version = versions.of_api(ApiKey::AddPartitionsToTxn);
        self.to_coordinator(probe, &request, version, |r| {
            r.results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| t.results_by_partition.iter())
                .map(|p| p.partition_error_code)
                .find(|&c| c != 0)
                .unwrap_or(r.error_code)
        })
        .await
    }

    /// EndTxn: commit or abort. The error code (0: none).
    pub async fn end<T: Transport>(
        &self,
        probe: &mut Probe<T>,
        versions: &TxnVersions,
        commit: bool,
    ) -> Result<i16, String> {
        let request = calls::end_txn_request(&self.id, self.identity, commit);
        let version = versions.of_api(ApiKey::EndTxn);
        self.to_coordinator(probe, &request, version, |r| r.error_code)
            .await
    }

    /// AddOffsetsToTxn for `group`. The error code.
    pub async fn add_offsets<T: Transport>(
        &self,
        probe: &mut Probe<T>,
        versions: &TxnVersions,
        group: &str,
    ) -> Result<i16, String> {
        let request = calls::add_offsets_request(&self.id, self.identity, group);
        let version = versions.of_api(ApiKey::AddOffsetsToTxn);
        self.to_coordinator(probe, &request, version, |r| r.error_code)
            .await
    }

    /// TxnOffsetCommit of `offsets` at the group's coordinator, with no generation
    /// (KIP-447: `-1` and an empty member id skip the generation check). The error code.
    pub async fn txn_offset_commit<T: Transport>(
        &self,
        probe: &mut Probe<T>,
        versions: &TxnVersions,
        group_coordinator: &str,
        group: &str,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<i16, String> {
        let request =
            calls::txn_offset_commit_request(&self.id, self.identity, group, topic, offsets);
        let version = versions.of_api(ApiKey::TxnOffsetCommit);
        let at = [group_coordinator.to_string()];
        let code_of = |r: &kafka_protocol::messages::TxnOffsetCommitResponse| {
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| p.error_code)
                .find(|&c| c != 0)
                .unwrap_or(0)
        };
        Ok(send_retrying(probe, &at, &request, version, code_of)
            .await?
            .0)
    }

    /// One transactional Produce (acks=all) of `values` to `partition` at its leader,
    /// numbered from this producer's next sequence there; the sequence moves on only when
    /// the batch was acknowledged.
    pub async fn produce<T: Transport>(
        &mut self,
        probe: &mut Probe<T>,
        versions: &TxnVersions,
        leader: &str,
        topic: &str,
        partition: i32,
        values: &[Bytes],
    ) -> Result<Produced, String> {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let records: Vec<BatchRecord> = values
            .iter()
            .map(|v| BatchRecord {
                key: None,
                value: Some(v.clone()),
                timestamp,
                headers: Vec::new(),
            })
            .collect();
        let sequence = self.sequences.get(&partition).copied().unwrap_or(0);
        let request = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_string(
                self.id.clone(),
            ))))
            .with_acks(-1)
            .with_timeout_ms(probe.timeout.as_millis() as i32)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(calls::transactional_batch(
                        &records,
                        self.identity,
                        sequence,
                    )))])]);
        let version = versions.of_api(ApiKey::Produce);
        let wait = probe.timeout;
        let r = probe.send(leader, &request, version, wait).await?;
        let exchange = probe.exchanges.len() - 1;
        let answer = r
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .ok_or_else(|| {
                format!("the Produce response has no answer for partition {partition}")
            })?;
        if answer.error_code == 0 {
            self.sequences
                .insert(partition, sequence + values.len() as i32);
        }
        Ok(Produced {
            error_code: answer.error_code,
            base_offset: answer.base_offset,
            exchange,
        })
    }
}

/// One Fetch of `partition` from `offset` at `isolation_level`, as a consumer.
#[allow(clippy::too_many_arguments)]
pub async fn fetch_isolated<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
    version: i16,
    topic: &str,
    partition: i32,
    offset: i64,
    isolation_level: i8,
) -> Result<IsolatedFetch, String> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let response = probe
        .send(address, &request, version, Duration::ZERO)
        .await?;
    let exchange = probe.exchanges.len() - 1;
    let (data, records) = partition_answer(&response, partition)?;
    Ok(IsolatedFetch {
        error_code: data.error_code,
        high_watermark: data.high_watermark,
        last_stable_offset: data.last_stable_offset,
        aborted: data
            .aborted_transactions
            .iter()
            .flatten()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect(),
        records,
        exchange,
    })
}

/// ListOffsets latest of `partition` at `isolation_level`: `(error code, offset)`. At
/// READ_COMMITTED, the latest offset is the last stable offset (KIP-98).
pub async fn latest_isolated<T: Transport>(
    probe: &mut Probe<T>,
    address: &str,
    version: i16,
    topic: &str,
    partition: i32,
    isolation_level: i8,
) -> Result<(i16, i64), String> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let r = probe
        .send(address, &request, version, Duration::ZERO)
        .await?;
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .map(|p| (p.error_code, p.offset))
        .ok_or_else(|| format!("the ListOffsets response has no answer for partition {partition}"))
}

/// OffsetFetch of one partition of `group` at its coordinator: `(error code, offset)`
/// (`require_stable` false: the last committed offset, KIP-447).
pub async fn offset_fetch<T: Transport>(
    probe: &mut Probe<T>,
    coordinator: &str,
    version: i16,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<(i16, i64), String> {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![partition])]));
    let r = probe
        .send(coordinator, &request, version, Duration::ZERO)
        .await?;
    if r.error_code != 0 {
        return Ok((r.error_code, -1));
    }
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .map(|p| (p.error_code, p.committed_offset))
        .ok_or_else(|| format!("the OffsetFetch response has no answer for partition {partition}"))
}
