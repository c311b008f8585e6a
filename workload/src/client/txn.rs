//! The transactional producer's calls of [`KafkaClient`] (KIP-98; Kafka protocol guide,
//! "Transactions"): FindCoordinator for a `transactional.id`, InitProducerId with it,
//! AddPartitionsToTxn, transactional Produce, AddOffsetsToTxn, TxnOffsetCommit and EndTxn.
//! Like every call here, each is one attempt; the request builders are plain functions so
//! their fields can be tested without a broker.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    FindCoordinatorRequest, GroupId, InitProducerIdRequest, ProduceRequest, ProducerId, TopicName,
    TransactionalId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use faultline_checker::history::ProducerIdentity;
use faultline_wire::records::BatchRecord;
use faultline_wire::{ResponseError, Transport};

use super::{KafkaClient, ProduceOutcome, INIT_PRODUCER_ID_VERSION, PRODUCE_VERSION};

/// FindCoordinator v2 (key types, KIP-98).
const FIND_COORDINATOR_VERSION: i16 = 2;
/// AddPartitionsToTxn v3, the last a client sends (v4+ batch for brokers, KIP-890).
pub const ADD_PARTITIONS_TO_TXN_VERSION: i16 = 3;
/// AddOffsetsToTxn v3.
pub const ADD_OFFSETS_TO_TXN_VERSION: i16 = 3;
/// TxnOffsetCommit v3 (generation and member id, KIP-447).
pub const TXN_OFFSET_COMMIT_VERSION: i16 = 3;
/// EndTxn v3.
pub const END_TXN_VERSION: i16 = 3;
/// FindCoordinator's key type for a transactional id (KIP-98).
const TRANSACTION_KEY_TYPE: i8 = 1;

/// Why a transactional call did not succeed, by what the producer must do next
/// (Kafka's `TransactionManager` error handling, KIP-360, KIP-588).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnError {
    /// A newer epoch owns the `transactional.id` (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH):
    /// this producer is a zombie and must not go on.
    Fenced(ResponseError),
    /// Worth repeating as is: the coordinator moved, is loading, or is finishing the
    /// previous transaction (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
    /// COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS).
    Retriable(ResponseError),
    /// Any other refusal: the transaction must be aborted.
    Abortable(ResponseError),
    /// No answer: a timeout or a broken connection.
    Transport(String),
}

impl std::fmt::Display for TxnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxnError::Fenced(e) | TxnError::Retriable(e) | TxnError::Abortable(e) => {
                write!(f, "{e:?}")
            }
            TxnError::Transport(text) => f.write_str(text),
        }
    }
}

/// Sorts a broker's error code into what the producer does next.
pub fn classify(error_code: i16) -> Result<(), TxnError> {
    let Some(error) = ResponseError::try_from_code(error_code) else {
        return Ok(());
    };
    Err(match error {
        ResponseError::ProducerFenced | ResponseError::InvalidProducerEpoch => {
            TxnError::Fenced(error)
        }
        ResponseError::NotCoordinator
        | ResponseError::CoordinatorNotAvailable
        | ResponseError::CoordinatorLoadInProgress
        | ResponseError::ConcurrentTransactions => TxnError::Retriable(error),
        _ => TxnError::Abortable(error),
    })
}

fn transactional_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// InitProducerId for a `transactional.id`: bumps its epoch, fencing older producers, and
/// aborts any transaction the previous epoch left open (KIP-98).
pub fn init_request(id: &str, transaction_timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(Some(transactional_id(id)))
        .with_transaction_timeout_ms(transaction_timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// AddPartitionsToTxn v3: the partitions must be added before the first produce to them.
pub fn add_partitions_request(
    id: &str,
    identity: ProducerIdentity,
    topic: &str,
    partitions: &[i32],
) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(transactional_id(id))
        .with_v3_and_below_producer_id(ProducerId(identity.producer_id))
        .with_v3_and_below_producer_epoch(identity.producer_epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(partitions.to_vec())])
}

/// The first error of an AddPartitionsToTxn v3 answer, per partition or overall.
pub fn add_partitions_result(response: &AddPartitionsToTxnResponse) -> Result<(), TxnError> {
    classify(response.error_code)?;
    for topic in &response.results_by_topic_v3_and_below {
        for partition in &topic.results_by_partition {
            classify(partition.partition_error_code)?;
        }
    }
    Ok(())
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction.
pub fn add_offsets_request(
    id: &str,
    identity: ProducerIdentity,
    group: &str,
) -> AddOffsetsToTxnRequest {
    AddOffsetsToTxnRequest::default()
        .with_transactional_id(transactional_id(id))
        .with_producer_id(ProducerId(identity.producer_id))
        .with_producer_epoch(identity.producer_epoch)
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
}

/// TxnOffsetCommit to the group coordinator: offsets pending until the transaction ends.
/// Without a group generation (`-1`, empty member id) the coordinator does not fence by
/// generation (KIP-447).
pub fn txn_offset_commit_request(
    id: &str,
    identity: ProducerIdentity,
    group: &str,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(transactional_id(id))
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_producer_id(ProducerId(identity.producer_id))
        .with_producer_epoch(identity.producer_epoch)
        .with_generation_id(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(&partition, &offset)| {
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(-1)
                    })
                    .collect(),
            )])
}

/// The first error of a TxnOffsetCommit answer.
pub fn txn_offset_commit_result(response: &TxnOffsetCommitResponse) -> Result<(), TxnError> {
    for topic in &response.topics {
        for partition in &topic.partitions {
            classify(partition.error_code)?;
        }
    }
    Ok(())
}

/// EndTxn: commit or abort; the coordinator then writes the markers (KIP-98).
pub fn end_txn_request(id: &str, identity: ProducerIdentity, commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(transactional_id(id))
        .with_producer_id(ProducerId(identity.producer_id))
        .with_producer_epoch(identity.producer_epoch)
        .with_committed(commit)
}

/// One v2 batch with the transactional attribute set (Kafka protocol guide, "Record
/// Batch": attributes bit 4), numbered from `first_sequence` under the producer's id and
/// epoch, as an idempotent batch is.
pub fn transactional_batch(
    records: &[BatchRecord],
    identity: ProducerIdentity,
    first_sequence: i32,
) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, record)| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: identity.producer_id,
            producer_epoch: identity.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: first_sequence.wrapping_add(i as i32),
            timestamp: record.timestamp,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|(name, value)| (name.clone().into(), value.clone()))
                .collect(),
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options)
        .expect("encoding uncompressed v2 batches of valid records cannot fail");
    out.freeze()
}

/// The records a consumer hands on from one fetched partition: never control records
/// (transaction markers), and at read_committed none of an aborted transaction, given the
/// response's `aborted_transactions` as `(producer_id, first_offset)` — Kafka's consumer
/// (`Fetcher`, KIP-98): an aborted transaction's records are skipped from its first offset
/// until that producer's next marker.
pub fn visible_records(records: Vec<Record>, aborted: &[(i64, i64)]) -> Vec<Record> {
    let mut pending: Vec<(i64, i64)> = aborted.to_vec();
    pending.sort_unstable_by_key(|&(_, first_offset)| first_offset);
    let mut pending = pending.into_iter().peekable();
    let mut aborting: BTreeSet<i64> = BTreeSet::new();
    let mut visible = Vec::with_capacity(records.len());
    for record in records {
        while let Some(&(producer_id, _)) =
            pending.peek().filter(|(_, first)| *first <= record.offset)
        {
            aborting.insert(producer_id);
            pending.next();
        }
        if record.control {
            aborting.remove(&record.producer_id);
            continue;
        }
        if record.transactional && aborting.contains(&record.producer_id) {
            continue;
        }
        visible.push(record);
    }
    visible
}

impl<T: Transport> KafkaClient<T> {
    async fn txn_call<R: kafka_protocol::protocol::Request>(
        &mut self,
        address: &str,
        request: &R,
        version: i16,
    ) -> Result<R::Response, TxnError> {
        let timeout = self.request_timeout;
        self.send_to(address, request, version, timeout)
            .await
            .map_err(|e| TxnError::Transport(e.to_string()))
    }

    /// FindCoordinator for a `transactional.id` on the next bootstrap broker.
    pub async fn find_transaction_coordinator(&mut self, id: &str) -> Result<String, TxnError> {
        let address = self.bootstrap[self.next_bootstrap % self.bootstrap.len()].clone();
        self.next_bootstrap += 1;
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(id.to_string()))
            .with_key_type(TRANSACTION_KEY_TYPE);
        let response = self
            .txn_call(&address, &request, FIND_COORDINATOR_VERSION)
            .await?;
        classify(response.error_code)?;
        Ok(format!("{}:{}", response.host, response.port))
    }

    /// InitProducerId with a `transactional.id` at its coordinator.
    pub async fn init_transactional(
        &mut self,
        coordinator: &str,
        id: &str,
        transaction_timeout_ms: i32,
    ) -> Result<ProducerIdentity, TxnError> {
        let request = init_request(id, transaction_timeout_ms);
        let response = self
            .txn_call(coordinator, &request, INIT_PRODUCER_ID_VERSION)
            .await?;
        classify(response.error_code)?;
        if response.producer_id.0 < 0 {
            return Err(TxnError::Transport(
                "InitProducerId returned no producer id".into(),
            ));
        }
        Ok(ProducerIdentity {
            producer_id: response.producer_id.0,
            producer_epoch: response.producer_epoch,
        })
    }

    /// AddPartitionsToTxn at the transaction coordinator.
    pub async fn add_partitions_to_txn(
        &mut self,
        coordinator: &str,
        id: &str,
        identity: ProducerIdentity,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), TxnError> {
        let request = add_partitions_request(id, identity, topic, partitions);
        let response = self
            .txn_call(coordinator, &request, ADD_PARTITIONS_TO_TXN_VERSION)
            .await?;
        add_partitions_result(&response)
    }

    /// AddOffsetsToTxn at the transaction coordinator.
    pub async fn add_offsets_to_txn(
        &mut self,
        coordinator: &str,
        id: &str,
        identity: ProducerIdentity,
        group: &str,
    ) -> Result<(), TxnError> {
        let request = add_offsets_request(id, identity, group);
        let response = self
            .txn_call(coordinator, &request, ADD_OFFSETS_TO_TXN_VERSION)
            .await?;
        classify(response.error_code)
    }

    /// TxnOffsetCommit at the group's coordinator.
    pub async fn txn_offset_commit(
        &mut self,
        group_coordinator: &str,
        id: &str,
        identity: ProducerIdentity,
        group: &str,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), TxnError> {
        let request = txn_offset_commit_request(id, identity, group, topic, offsets);
        let response = self
            .txn_call(group_coordinator, &request, TXN_OFFSET_COMMIT_VERSION)
            .await?;
        txn_offset_commit_result(&response)
    }

    /// EndTxn at the transaction coordinator.
    pub async fn end_txn(
        &mut self,
        coordinator: &str,
        id: &str,
        identity: ProducerIdentity,
        commit: bool,
    ) -> Result<(), TxnError> {
        let request = end_txn_request(id, identity, commit);
        let response = self
            .txn_call(coordinator, &request, END_TXN_VERSION)
            .await?;
        classify(response.error_code)
    }

    /// One produce attempt of a transactional batch to one partition, `acks=all` as a
    /// transactional producer must (KIP-98).
    pub async fn produce_transactional(
        &mut self,
        id: &str,
        topic: &str,
        partition: i32,
        records: &[BatchRecord],
        identity: ProducerIdentity,
        first_sequence: i32,
    ) -> ProduceOutcome {
        let (address, _) = match self.leader(topic, partition).await {
            Ok(found) => found,
            Err(e) => return ProduceOutcome::Fail(format!("no leader: {e}")),
        };
        let request = ProduceRequest::default()
            .with_transactional_id(Some(transactional_id(id)))
            .with_acks(-1)
            .with_timeout_ms(self.request_timeout.as_millis() as i32)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(transactional_batch(
                        records,
                        identity,
                        first_sequence,
                    )))])]);
        let timeout = self.request_timeout * 2;
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
                        if super::definitely_not_written(error) {
                            ProduceOutcome::Fail(error.to_string())
                        } else {
                            ProduceOutcome::Info(error.to_string())
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
    };
    use kafka_protocol::protocol::Encodable;

    const IDENTITY: ProducerIdentity = ProducerIdentity {
        producer_id: 7,
        producer_epoch: 3,
    };

    fn encodes<R: Encodable>(request: &R, version: i16) {
        let mut buf = BytesMut::new();
        request
            .encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("encodes at v{version}: {e}"));
    }

    #[test]
    fn init_asks_for_a_new_epoch_of_the_transactional_id() {
        let request = init_request("t0", 10_000);
        assert_eq!(
            request.transactional_id.as_ref().map(|t| t.0.as_str()),
            Some("t0")
        );
        assert_eq!(request.producer_id.0, -1);
        assert_eq!(request.producer_epoch, -1);
        assert_eq!(request.transaction_timeout_ms, 10_000);
        encodes(&request, INIT_PRODUCER_ID_VERSION);
    }

    #[test]
    fn requests_carry_the_identity_in_the_fields_of_their_version() {
        let add = add_partitions_request("t0", IDENTITY, "jepsen", &[0, 2]);
        assert_eq!(add.v3_and_below_transactional_id.0.as_str(), "t0");
        assert_eq!(add.v3_and_below_producer_id.0, 7);
        assert_eq!(add.v3_and_below_producer_epoch, 3);
        assert_eq!(add.v3_and_below_topics[0].partitions, vec![0, 2]);
        assert!(
            add.transactions.is_empty(),
            "v4+ batching is for brokers (KIP-890)"
        );
        encodes(&add, ADD_PARTITIONS_TO_TXN_VERSION);

        let offsets = add_offsets_request("t0", IDENTITY, "g");
        assert_eq!(offsets.group_id.0.as_str(), "g");
        encodes(&offsets, ADD_OFFSETS_TO_TXN_VERSION);

        let commit = txn_offset_commit_request(
            "t0",
            IDENTITY,
            "g",
            "jepsen",
            &BTreeMap::from([(0, 5), (1, 9)]),
        );
        let partitions = &commit.topics[0].partitions;
        assert_eq!(
            partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
                .collect::<Vec<_>>(),
            vec![(0, 5), (1, 9)]
        );
        assert_eq!(commit.generation_id, -1);
        encodes(&commit, TXN_OFFSET_COMMIT_VERSION);

        for committed in [true, false] {
            let end = end_txn_request("t0", IDENTITY, committed);
            assert_eq!(end.committed, committed);
            assert_eq!((end.producer_id.0, end.producer_epoch), (7, 3));
            encodes(&end, END_TXN_VERSION);
        }
    }

    #[test]
    fn errors_sort_into_what_the_producer_does_next() {
        let code = |e: ResponseError| e.code();
        assert_eq!(classify(0), Ok(()));
        assert!(matches!(
            classify(code(ResponseError::ProducerFenced)),
            Err(TxnError::Fenced(_))
        ));
        assert!(matches!(
            classify(code(ResponseError::InvalidProducerEpoch)),
            Err(TxnError::Fenced(_))
        ));
        assert!(matches!(
            classify(code(ResponseError::ConcurrentTransactions)),
            Err(TxnError::Retriable(_))
        ));
        assert!(matches!(
            classify(code(ResponseError::NotCoordinator)),
            Err(TxnError::Retriable(_))
        ));
        assert!(matches!(
            classify(code(ResponseError::InvalidTxnState)),
            Err(TxnError::Abortable(_))
        ));
    }

    #[test]
    fn a_partition_error_in_add_partitions_is_the_answer() {
        let response =
            AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(vec![
                AddPartitionsToTxnTopicResult::default().with_results_by_partition(vec![
                    AddPartitionsToTxnPartitionResult::default().with_partition_index(0),
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(1)
                        .with_partition_error_code(ResponseError::ProducerFenced.code()),
                ]),
            ]);
        assert!(matches!(
            add_partitions_result(&response),
            Err(TxnError::Fenced(_))
        ));
        assert_eq!(
            add_partitions_result(&AddPartitionsToTxnResponse::default()),
            Ok(())
        );
    }

    #[test]
    fn a_transactional_batch_decodes_with_its_flag_identity_and_sequences() {
        let records: Vec<BatchRecord> = ["1", "2"]
            .iter()
            .map(|v| BatchRecord {
                key: None,
                value: Some(Bytes::from_static(v.as_bytes())),
                timestamp: 5,
                headers: Vec::new(),
            })
            .collect();
        let bytes = transactional_batch(&records, IDENTITY, 4);
        let decoded = faultline_wire::records::decode_records(&bytes).unwrap();
        assert_eq!(decoded.len(), 2);
        for (i, record) in decoded.iter().enumerate() {
            assert!(record.transactional && !record.control);
            assert_eq!((record.producer_id, record.producer_epoch), (7, 3));
            assert_eq!(record.sequence, 4 + i as i32);
        }
    }

    fn record(offset: i64, producer_id: i64, transactional: bool, control: bool) -> Record {
        Record {
            transactional,
            control,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: 0,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from(offset.to_string())),
            headers: Default::default(),
        }
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_every_marker() {
        // Producer 1 aborts offsets 0-1 (marker at 2); producer 2 commits 3 (marker at 5);
        // a plain record at 4; producer 1 again at 6, committed this time (marker at 7).
        let log = vec![
            record(0, 1, true, false),
            record(1, 1, true, false),
            record(2, 1, true, true),
            record(3, 2, true, false),
            record(4, -1, false, false),
            record(5, 2, true, true),
            record(6, 1, true, false),
            record(7, 1, true, true),
        ];
        let offsets = |records: Vec<Record>| records.iter().map(|r| r.offset).collect::<Vec<_>>();
        assert_eq!(
            offsets(visible_records(log.clone(), &[(1, 0)])),
            vec![3, 4, 6]
        );
        // read_uncommitted (no aborted list): everything but the markers.
        assert_eq!(offsets(visible_records(log, &[])), vec![0, 1, 3, 4, 6]);
    }
}
