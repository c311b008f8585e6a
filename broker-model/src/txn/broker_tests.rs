//! A transaction through one broker's handlers (KIP-98): InitProducerId, AddPartitionsToTxn,
//! transactional produce, the last stable offset and read_committed Fetch/ListOffsets,
//! EndTxn, the markers, fencing of a late produce, and the planted transaction bugs.

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, BrokerId, EndTxnRequest, FetchRequest, InitProducerIdRequest,
    ListOffsetsRequest, ProduceRequest, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::records::{Record, TimestampType};

use faultline_wire::records::encode_records;
use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::bugs::PlantedBugs;
use crate::config::ClusterConfig;
use crate::handlers::transactions::{self as txn, AwaitedTransition};
use crate::handlers::{fetch, offsets, produce, write_txn_markers};
use crate::test_support::sole_leader_of;
use crate::txn::metadata::{TransactionMetadata, TransactionState};
use crate::txn::TRANSACTION_STATE_TOPIC;

const ID: &str = "orders";

/// One broker leading `events` (2 partitions) and `__transaction_state` (3), alone in
/// every ISR, so that appends are committed at once.
fn broker(bugs: PlantedBugs) -> Broker {
    let config = ClusterConfig {
        bugs,
        min_insync_replicas: 1,
        ..ClusterConfig::default()
    };
    sole_leader_of(&[("events", 2), (TRANSACTION_STATE_TOPIC, 3)], config)
}

fn settle(
    broker: &mut Broker,
    begun: Result<AwaitedTransition, ResponseError>,
) -> TransactionMetadata {
    txn::poll_transition(broker, &begun.unwrap())
        .unwrap()
        .unwrap()
}

fn init(broker: &mut Broker) -> TransactionMetadata {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(ID.into())))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let (awaited, _) = txn::init_begin(broker, &request, 4, 0).unwrap();
    settle(broker, Ok(awaited))
}

fn add(broker: &mut Broker, producer: &TransactionMetadata, partitions: &[i32]) {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(ID.into()))
        .with_v3_and_below_producer_id(ProducerId(producer.producer_id))
        .with_v3_and_below_producer_epoch(producer.producer_epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName("events".into()))
            .with_partitions(partitions.to_vec())]);
    let begun = txn::add_partitions_begin(broker, &request, 3, 0).unwrap();
    settle(broker, Ok(begun.unwrap()));
}

/// A transactional batch of one record (KIP-98: the transactional attribute bit).
fn send(broker: &mut Broker, producer: &TransactionMetadata, partition: i32, sequence: i32) -> i16 {
    let record = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: producer.producer_id,
        producer_epoch: producer.producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from_static(b"v")),
        headers: Default::default(),
    };
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName("events".into()))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(encode_records(&[record])))])]);
    let mut pending = produce::begin(broker, &request, 0);
    produce::poll_waiting(broker, &mut pending);
    produce::response(&pending).responses[0].partition_responses[0].error_code
}

/// End the transaction and write its markers, as the coordinator's task does.
fn end(broker: &mut Broker, producer: &TransactionMetadata, commit: bool) {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(ID.into()))
        .with_producer_id(ProducerId(producer.producer_id))
        .with_producer_epoch(producer.producer_epoch)
        .with_committed(commit);
    let begun = txn::end_begin(broker, &request, 3).unwrap().unwrap();
    settle(broker, Ok(begun));
    write_markers(broker);
}

fn write_markers(broker: &mut Broker) {
    for job in broker.transactions.marker_jobs() {
        let markers = job
            .partitions
            .iter()
            .map(|p| (p.clone(), job.marker))
            .collect();
        let mut pending = write_txn_markers::begin(broker, markers, 0);
        assert!(write_txn_markers::poll(broker, &mut pending));
        let written: Vec<_> = pending.iter().map(|p| p.partition.clone()).collect();
        if let Some(done) = broker
            .transactions
            .markers_written(&job.transactional_id, &written)
        {
            let begun = txn::begin_transition(broker, done);
            settle(broker, begun);
        }
    }
}

/// `(records readable, aborted transactions listed, last stable offset)` for a consumer.
fn fetch(broker: &mut Broker, partition: i32, isolation_level: i8) -> (i64, usize, i64) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName("events".into()))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let (results, _) = fetch::read(broker, &request, 0);
    let item = &results[0];
    let read = item.result.as_ref().unwrap();
    let aborted = item.aborted.as_ref().map_or(0, Vec::len);
    (read.record_count, aborted, item.last_stable_offset)
}

fn latest(broker: &Broker, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName("events".into()))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(offsets::LATEST_TIMESTAMP)])]);
    offsets::list_offsets(broker, &request).topics[0].partitions[0].offset
}

/// KIP-98: an open transaction holds the last stable offset at its first record; a
/// read_committed Fetch and ListOffsets(latest) stop there; the COMMIT marker on every
/// partition releases it.
#[test]
fn kip_98_read_committed_waits_for_the_commit_marker() {
    let mut b = broker(PlantedBugs::default());
    let producer = init(&mut b);
    add(&mut b, &producer, &[0, 1]);
    assert_eq!(send(&mut b, &producer, 0, 0), 0);
    assert_eq!(send(&mut b, &producer, 1, 0), 0);
    assert_eq!(fetch(&mut b, 0, 1), (0, 0, 0));
    assert_eq!(
        fetch(&mut b, 0, 0).0,
        1,
        "read_uncommitted reads the open record"
    );
    assert_eq!((latest(&b, 1), latest(&b, 0)), (0, 1));
    end(&mut b, &producer, true);
    assert_eq!(
        fetch(&mut b, 0, 1),
        (2, 0, 2),
        "record and marker below the LSO"
    );
    assert_eq!(fetch(&mut b, 1, 1), (2, 0, 2));
    let state = b.transactions.get(ID).unwrap().unwrap();
    assert_eq!(state.state, TransactionState::CompleteCommit);
}

/// KIP-98: an aborted transaction is listed in read_committed Fetch responses (the
/// client drops its records); the planted bug `aborted-transactions-omitted` drops the list.
#[test]
fn kip_98_aborts_are_listed_unless_the_bug_omits_them() {
    for (bugs, listed) in [
        (PlantedBugs::default(), 1),
        (
            PlantedBugs {
                aborted_transactions_omitted: true,
                ..PlantedBugs::default()
            },
            0,
        ),
    ] {
        let mut b = broker(bugs);
        let producer = init(&mut b);
        add(&mut b, &producer, &[0]);
        send(&mut b, &producer, 0, 0);
        end(&mut b, &producer, false);
        assert_eq!(fetch(&mut b, 0, 1), (2, listed, 2));
    }
}

/// The planted bug `lso-past-open-transactions`: read_committed reads an open transaction.
#[test]
fn the_lso_bug_serves_open_transactions() {
    let bugs = PlantedBugs {
        lso_past_open_transactions: true,
        ..PlantedBugs::default()
    };
    let mut b = broker(bugs);
    let producer = init(&mut b);
    add(&mut b, &producer, &[0]);
    send(&mut b, &producer, 0, 0);
    assert_eq!(fetch(&mut b, 0, 1), (1, 0, 1));
}

/// KIP-98 zombie fencing: InitProducerId by a new instance aborts the open transaction
/// with a bumped epoch; the ABORT marker fences the old epoch at the partition, so a late
/// produce of the zombie is INVALID_PRODUCER_EPOCH — unless the planted bug
/// `fenced-produce-accepted` (KIP-890's hanging transaction) lets it in.
#[test]
fn kip_98_a_fenced_producers_late_write_is_refused() {
    for (bugs, expected) in [
        (
            PlantedBugs::default(),
            ResponseError::InvalidProducerEpoch.code(),
        ),
        (
            PlantedBugs {
                fenced_produce_accepted: true,
                ..PlantedBugs::default()
            },
            0,
        ),
    ] {
        let mut b = broker(bugs);
        let zombie = init(&mut b);
        add(&mut b, &zombie, &[0]);
        send(&mut b, &zombie, 0, 0);
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(ID.into())))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let (awaited, abort_first) = txn::init_begin(&mut b, &request, 4, 0).unwrap();
        assert!(abort_first, "the open transaction is aborted first");
        settle(&mut b, Ok(awaited));
        write_markers(&mut b);
        assert_eq!(send(&mut b, &zombie, 0, 1), expected);
        let open = b.partitions[&("events".to_string(), 0)]
            .log
            .transactions()
            .first_unstable_offset();
        assert_eq!(
            open.is_some(),
            expected == 0,
            "an accepted zombie write hangs the LSO"
        );
    }
}

/// The planted bug `transaction-state-not-replicated` acts on a transition before the
/// high watermark passes it.
#[test]
fn the_unreplicated_state_bug_applies_at_once() {
    let bugs = PlantedBugs {
        transaction_state_not_replicated: true,
        ..PlantedBugs::default()
    };
    let mut b = broker(bugs);
    let producer = init(&mut b);
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(ID.into()))
        .with_v3_and_below_producer_id(ProducerId(producer.producer_id))
        .with_v3_and_below_producer_epoch(producer.producer_epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName("events".into()))
            .with_partitions(vec![0])]);
    txn::add_partitions_begin(&mut b, &request, 3, 0).unwrap();
    assert!(b.transactions.pending(ID).is_none());
    assert_eq!(
        b.transactions.get(ID).unwrap().unwrap().state,
        TransactionState::Ongoing
    );
}
