//! Unit tests of the data path through the broker's handlers: batches kept as the producer
//! wrote them (all four codecs, headers), Fetch size limits (KIP-74), timestamps (KIP-32,
//! KIP-79, KIP-734), DeleteRecords (KIP-107), and replicas holding identical batches.

use bytes::Bytes;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, FetchRequest, ListOffsetsRequest, ProduceRequest, TopicName,
};
use kafka_protocol::records::Compression;

use faultline_wire::batch::{decode_batch, split_batches, HEADER_BYTES};
use faultline_wire::records::{encode_batch, BatchRecord};
use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::config::ClusterConfig;
use crate::handlers::offsets::MAX_TIMESTAMP;
use crate::handlers::{delete_records, fetch, offsets, produce};
use crate::metadata::{MetadataRecord, PartitionRegistration};
use crate::storage::MemoryStorage;
use crate::test_support::log_append_time;

pub(crate) const TOPIC: &str = "events";

/// Broker `node_id` hosting `events` (two partitions, replicas 1-3, broker 1 leading)
/// with the given ISR.
pub(crate) fn broker(node_id: i32, isr: Vec<i32>, config: ClusterConfig) -> Broker {
    let mut broker = Broker::new(node_id, config, Box::new(MemoryStorage::default()));
    let mut records = vec![MetadataRecord::Topic {
        name: TOPIC.into(),
        partitions: 2,
        configs: Default::default(),
    }];
    for partition in 0..2 {
        records.push(MetadataRecord::Partition(PartitionRegistration {
            topic: TOPIC.into(),
            partition,
            replicas: vec![1, 2, 3],
            isr: isr.clone(),
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        }));
    }
    broker.apply_metadata(&records, 0);
    broker
}

/// A single-replica-ISR leader: appends are committed at once.
fn leader() -> Broker {
    broker(1, vec![1], ClusterConfig::default())
}

pub(crate) fn records(count: usize, value_bytes: usize, first_timestamp: i64) -> Vec<BatchRecord> {
    (0..count)
        .map(|i| BatchRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; value_bytes])),
            timestamp: first_timestamp + i as i64,
            headers: vec![
                ("trace-id".into(), Some(Bytes::from(format!("t{i}")))),
                ("empty".into(), None),
            ],
        })
        .collect()
}

/// Produces `batch` to `partition` with acks=1 and returns the base offset.
pub(crate) fn produce_to(broker: &mut Broker, partition: i32, batch: Bytes, now_ms: u64) -> i64 {
    let request =
        ProduceRequest::default()
            .with_acks(1)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(TOPIC.into()))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
    let results = produce::begin(broker, &request, now_ms);
    match &results[0].outcome {
        produce::Outcome::Done(Ok(appended)) => appended.base_offset,
        other => panic!("produce failed: {other:?}"),
    }
}

pub(crate) fn fetch_request(
    replica_id: i32,
    wanted: &[(i32, i64)],
    max_bytes: i32,
    partition_max_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(TOPIC.into()))
            .with_partitions(
                wanted
                    .iter()
                    .map(|&(partition, offset)| {
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_current_leader_epoch(-1)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            )])
}

/// A consumer fetch of one partition: the bytes, or the error.
fn consume(
    broker: &mut Broker,
    partition: i32,
    offset: i64,
    max_bytes: i32,
) -> Result<Bytes, ResponseError> {
    let (results, _) = fetch::read(
        broker,
        &fetch_request(-1, &[(partition, offset)], max_bytes, max_bytes),
        0,
    );
    results[0].result.clone().map(|read| read.bytes)
}

/// ListOffsets of partition 0 at `timestamp`: `(offset, timestamp, error)`.
fn list_offset(broker: &Broker, timestamp: i64) -> (i64, i64, i16) {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(TOPIC.into()))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp)])]);
    let response = offsets::list_offsets(broker, &request);
    let answer = &response.topics[0].partitions[0];
    (answer.offset, answer.timestamp, answer.error_code)
}

/// Kafka protocol guide, "Record Batch", and Kafka's `LogValidator`: the leader keeps the
/// producer's batch — compressed records, headers, producer fields — and rewrites only the
/// base offset and partition leader epoch in the header.
#[test]
fn a_compressed_batch_with_headers_is_fetched_as_written() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut broker = leader();
        produce_to(
            &mut broker,
            0,
            encode_batch(&records(2, 10, 0), None, compression),
            0,
        );
        let sent = encode_batch(&records(4, 300, 100), Some((9, 0, 0)), compression);
        assert_eq!(produce_to(&mut broker, 0, sent.clone(), 0), 2);
        let fetched = consume(&mut broker, 0, 3, 1 << 20).unwrap();
        let batches = split_batches(&fetched).unwrap();
        assert_eq!(
            batches.len(),
            1,
            "{compression:?}: the batch holding offset 3"
        );
        let batch = &batches[0];
        assert_eq!(batch.header.base_offset, 2);
        assert_eq!(batch.header.partition_leader_epoch, 0);
        assert_eq!(batch.header.producer_id, 9);
        assert_eq!(batch.header.compression().unwrap(), compression);
        assert_eq!(batch.bytes[HEADER_BYTES..], sent[HEADER_BYTES..]);
        let records = decode_batch(batch).unwrap();
        assert_eq!(records.len(), 4, "offset 2 comes too: the client skips it");
        assert_eq!(records[1].offset, 3);
        assert_eq!(records[1].headers.len(), 2);
        assert_eq!(
            records[1].headers.get(&b"trace-id"[..]).cloned().flatten(),
            Some(Bytes::from("t1"))
        );
    }
}

/// KIP-74: at least the first batch of the first non-empty partition even if it exceeds
/// the limits, then whole batches while they fit; a later partition gets nothing once the
/// response's `max_bytes` is spent.
#[test]
fn kip_74_fetch_returns_whole_batches_within_the_limits() {
    let mut broker = leader();
    for _ in 0..5 {
        produce_to(
            &mut broker,
            0,
            encode_batch(&records(3, 1_000, 0), None, Compression::None),
            0,
        );
    }
    produce_to(
        &mut broker,
        1,
        encode_batch(&records(3, 1_000, 0), None, Compression::None),
        0,
    );
    let batch_size = broker.partitions[&(TOPIC.to_string(), 0)].log.batches()[0]
        .bytes
        .len();
    assert!(batch_size > 3_000);
    let count = |bytes: &Bytes| split_batches(bytes).unwrap().len();
    assert_eq!(
        count(&consume(&mut broker, 0, 0, 100).unwrap()),
        1,
        "first always"
    );
    let two = (2 * batch_size + 10) as i32;
    assert_eq!(count(&consume(&mut broker, 0, 0, two).unwrap()), 2);
    assert_eq!(
        count(&consume(&mut broker, 0, 4, two).unwrap()),
        2,
        "from offset 3"
    );
    assert_eq!(count(&consume(&mut broker, 0, 0, i32::MAX).unwrap()), 5);

    let (results, _) = fetch::read(
        &mut broker,
        &fetch_request(-1, &[(0, 0), (1, 0)], 100, 100),
        0,
    );
    let read = |i: usize| results[i].result.as_ref().unwrap().batch_count;
    assert_eq!(
        (read(0), read(1)),
        (1, 0),
        "only the first partition may exceed"
    );
    let (results, _) = fetch::read(
        &mut broker,
        &fetch_request(-1, &[(0, 15), (1, 0)], 100, 100),
        0,
    );
    let read = |i: usize| results[i].result.as_ref().unwrap().batch_count;
    assert_eq!((read(0), read(1)), (0, 1), "the first partition with data");
}

/// A consumer never sees a batch reaching past the high watermark (Kafka protocol guide,
/// Fetch: consumers read committed records only).
#[test]
fn a_consumer_sees_no_batch_past_the_high_watermark() {
    let mut broker = broker(1, vec![1, 2, 3], ClusterConfig::default());
    produce_to(
        &mut broker,
        0,
        encode_batch(&records(3, 10, 0), None, Compression::Gzip),
        0,
    );
    assert_eq!(consume(&mut broker, 0, 0, 1 << 20).unwrap().len(), 0);
    assert_eq!(
        broker.partitions[&(TOPIC.to_string(), 0)].log.end_offset(),
        3
    );
}

/// KIP-79 and KIP-734: ListOffsets by timestamp is the first offset whose timestamp is at
/// least the target; -3 the record with the largest timestamp; none is offset -1.
#[test]
fn list_offsets_by_timestamp_and_max_timestamp() {
    let mut broker = leader();
    produce_to(
        &mut broker,
        0,
        encode_batch(&records(3, 10, 100), None, Compression::Lz4),
        0,
    );
    let mut late = records(2, 10, 500);
    late[0].timestamp = 900;
    produce_to(
        &mut broker,
        0,
        encode_batch(&late, None, Compression::None),
        0,
    );
    assert_eq!(list_offset(&broker, 0), (0, 100, 0));
    assert_eq!(list_offset(&broker, 101), (1, 101, 0));
    assert_eq!(list_offset(&broker, 103), (3, 900, 0));
    assert_eq!(list_offset(&broker, 901), (-1, -1, 0), "none: offset -1");
    assert_eq!(list_offset(&broker, MAX_TIMESTAMP), (3, 900, 0));
    assert_eq!(list_offset(&broker, -2), (0, -1, 0));
    assert_eq!(list_offset(&broker, -1), (5, -1, 0));
}

/// KIP-32: under `message.timestamp.type=LogAppendTime` every record carries the leader's
/// append time, in the fetched batch and for ListOffsets.
#[test]
fn log_append_time_replaces_the_producer_timestamps() {
    let config = log_append_time(TOPIC);
    let mut broker = broker(1, vec![1], config);
    produce_to(
        &mut broker,
        0,
        encode_batch(&records(3, 10, 100), None, Compression::Zstd),
        7_000,
    );
    let fetched = consume(&mut broker, 0, 0, 1 << 20).unwrap();
    let batches = split_batches(&fetched).unwrap();
    assert!(batches[0].header.log_append_time());
    let timestamps: Vec<i64> = decode_batch(&batches[0])
        .unwrap()
        .iter()
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(timestamps, [7_000; 3]);
    assert_eq!(list_offset(&broker, 6_999), (0, 7_000, 0));
    assert_eq!(list_offset(&broker, MAX_TIMESTAMP), (0, 7_000, 0));
}

fn delete_records_to(broker: &mut Broker, offset: i64) -> (i64, i16) {
    let request = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
        .with_name(TopicName(TOPIC.into()))
        .with_partitions(vec![DeleteRecordsPartition::default()
            .with_partition_index(0)
            .with_offset(offset)])]);
    let response = delete_records::handle(broker, &request);
    let answer = &response.topics[0].partitions[0];
    (answer.low_watermark, answer.error_code)
}

/// KIP-107: DeleteRecords moves the log start; a fetch below it is OFFSET_OUT_OF_RANGE,
/// ListOffsets earliest returns it, past the high watermark is refused, and a follower
/// takes the leader's log start from its fetch.
#[test]
fn kip_107_delete_records_moves_the_log_start() {
    let mut leader = broker(1, vec![1, 2], ClusterConfig::default());
    let mut follower = broker(2, vec![1, 2], ClusterConfig::default());
    for _ in 0..3 {
        produce_to(
            &mut leader,
            0,
            encode_batch(&records(2, 10, 0), None, Compression::None),
            0,
        );
    }
    let replicate = |leader: &mut Broker, follower: &mut Broker| {
        let key = (TOPIC.to_string(), 0);
        let offset = follower.partitions[&key].log.end_offset();
        let (results, _) = fetch::read(
            leader,
            &fetch_request(2, &[(0, offset)], i32::MAX, 1 << 20),
            0,
        );
        let item = &results[0];
        let read = item.result.as_ref().unwrap();
        follower.follower_append(
            &key,
            Some(&read.bytes),
            item.high_watermark,
            item.log_start_offset,
        );
    };
    replicate(&mut leader, &mut follower);
    replicate(&mut leader, &mut follower);
    assert_eq!(list_offset(&leader, -1).0, 6);
    assert_eq!(
        delete_records_to(&mut leader, 7),
        (-1, ResponseError::OffsetOutOfRange.code())
    );
    assert_eq!(delete_records_to(&mut leader, 3), (3, 0));
    assert_eq!(delete_records_to(&mut leader, 1), (3, 0), "never backwards");
    assert_eq!(list_offset(&leader, -2).0, 3);
    assert_eq!(
        consume(&mut leader, 0, 2, 1 << 20),
        Err(ResponseError::OffsetOutOfRange)
    );
    let from_three = split_batches(&consume(&mut leader, 0, 3, 1 << 20).unwrap()).unwrap();
    assert_eq!(
        from_three[0].header.base_offset, 2,
        "the batch holding the log start"
    );
    replicate(&mut leader, &mut follower);
    let key = (TOPIC.to_string(), 0);
    assert_eq!(follower.partitions[&key].log.log_start_offset(), 3);
    assert_eq!(
        delete_records_to(&mut leader, -1),
        (6, 0),
        "-1 is the high watermark"
    );
}

/// KIP-107 / Kafka's `DelayedDeleteRecords`: the answer waits until the low watermark (the
/// smallest log start over the leader and every replica on a live broker, each follower's
/// as its Fetch request says) reaches the new log start. A follower that fetched past the
/// deleted offset but still reports the old log start keeps it waiting; a fenced broker
/// does not.
#[test]
fn kip_107_delete_records_waits_for_every_live_replicas_log_start() {
    let mut leader = broker(1, vec![1, 2, 3], ClusterConfig::default());
    for _ in 0..3 {
        produce_to(
            &mut leader,
            0,
            encode_batch(&records(2, 10, 0), None, Compression::None),
            0,
        );
    }
    let fetch_with_log_start = |leader: &mut Broker, replica: i32, offset: i64, start: i64| {
        let mut request = fetch_request(replica, &[(0, offset)], i32::MAX, 1 << 20);
        request.topics[0].partitions[0].log_start_offset = start;
        let (results, _) = fetch::read(leader, &request, 0);
        assert!(results[0].result.is_ok());
    };
    fetch_with_log_start(&mut leader, 2, 6, 0);
    fetch_with_log_start(&mut leader, 3, 6, 0);
    let request = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
        .with_name(TopicName(TOPIC.into()))
        .with_partitions(vec![DeleteRecordsPartition::default()
            .with_partition_index(0)
            .with_offset(4)])]);
    let mut pending = delete_records::begin(&mut leader, &request);
    assert!(
        !delete_records::poll(&leader, &mut pending),
        "no follower moved yet"
    );
    fetch_with_log_start(&mut leader, 2, 6, 4);
    // Broker 3 fetched past offset 4 again, but its log still starts at 0 (it dropped the
    // answer that carried the new log start): not acknowledged.
    fetch_with_log_start(&mut leader, 3, 6, 0);
    fetch_with_log_start(&mut leader, 3, 6, 0);
    assert!(
        !delete_records::poll(&leader, &mut pending),
        "broker 3 is behind"
    );
    leader.image.fenced.insert(3);
    assert!(
        delete_records::poll(&leader, &mut pending),
        "a fenced broker is not waited for"
    );
    leader.image.fenced.remove(&3);
    let mut again = delete_records::begin(&mut leader, &request);
    assert!(!delete_records::poll(&leader, &mut again));
    fetch_with_log_start(&mut leader, 3, 6, 4);
    assert!(delete_records::poll(&leader, &mut again));
    let response = delete_records::response(&request, &again);
    assert_eq!(response.topics[0].partitions[0].low_watermark, 4);
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
}

/// A follower's fetch from an older connection than its newest is stale: it is answered,
/// but the leader's view of the follower does not go back (all-faults-buggify seed 949:
/// a fetch from before a pause, served late, set the view below the high watermark).
#[test]
fn a_stale_fetch_from_an_older_connection_does_not_move_the_leaders_view_back() {
    let mut leader = broker(1, vec![1, 2], ClusterConfig::default());
    for _ in 0..3 {
        produce_to(
            &mut leader,
            0,
            encode_batch(&records(2, 10, 0), None, Compression::None),
            0,
        );
    }
    let key = (TOPIC.to_string(), 0);
    let view = |leader: &Broker| match &leader.partitions[&key].role {
        crate::partition::Role::Leader(state) => state.followers[&2].log_end_offset,
        _ => panic!("leader"),
    };
    let request = |offset| fetch_request(2, &[(0, offset)], i32::MAX, 1 << 20);
    let (results, _) = fetch::read_on(&mut leader, &request(6), 0, 2);
    assert!(results[0].result.is_ok());
    assert_eq!(view(&leader), 6);
    let (results, _) = fetch::read_on(&mut leader, &request(3), 0, 1);
    assert!(results[0].result.is_ok(), "still answered");
    assert_eq!(view(&leader), 6, "an older connection's fetch is stale");
    assert_eq!(leader.partitions[&key].high_watermark, 6);
    // A newer connection (a restarted follower) is believed, even going back.
    let (_, _) = fetch::read_on(&mut leader, &request(4), 0, 3);
    assert_eq!(view(&leader), 4);
}

/// Replication copies the leader's batches byte for byte, so replicas hold identical logs.
#[test]
fn followers_hold_the_leaders_batches_byte_for_byte() {
    let mut leader = broker(1, vec![1, 2, 3], ClusterConfig::default());
    let mut follower = broker(2, vec![1, 2, 3], ClusterConfig::default());
    produce_to(
        &mut leader,
        0,
        encode_batch(&records(3, 50, 0), Some((4, 0, 0)), Compression::Snappy),
        0,
    );
    produce_to(
        &mut leader,
        0,
        encode_batch(&records(2, 50, 9), None, Compression::Gzip),
        0,
    );
    let key = (TOPIC.to_string(), 0);
    let (results, _) = fetch::read(
        &mut leader,
        &fetch_request(2, &[(0, 0)], i32::MAX, 1 << 20),
        0,
    );
    let read = results[0].result.as_ref().unwrap();
    follower.follower_append(&key, Some(&read.bytes), results[0].high_watermark, 0);
    assert_eq!(
        follower.partitions[&key].log.batches(),
        leader.partitions[&key].log.batches()
    );
    assert_eq!(
        follower.partitions[&key].log.entries(),
        leader.partitions[&key].log.entries()
    );
}

/// KIP-98: a new leader rebuilds producer state from its log's batches, so the retry of a
/// multi-record batch written under the old leader is a duplicate answered with the
/// original offsets.
#[test]
fn kip_98_a_new_leader_recognises_a_retried_multi_record_batch() {
    let mut broker = leader();
    let batch = |first_sequence| {
        encode_batch(
            &records(3, 10, 0),
            Some((11, 0, first_sequence)),
            Compression::Gzip,
        )
    };
    produce_to(&mut broker, 0, batch(0), 0);
    assert_eq!(produce_to(&mut broker, 0, batch(3), 0), 3);
    let key = (TOPIC.to_string(), 0);
    let mut registration = broker.partitions[&key].registration.clone();
    registration.leader_epoch = 1;
    registration.partition_epoch = 1;
    broker.apply_metadata(&[MetadataRecord::Partition(registration)], 10);
    assert_eq!(
        produce_to(&mut broker, 0, batch(3), 10),
        3,
        "the original offset"
    );
    assert_eq!(
        broker.partitions[&key].log.end_offset(),
        6,
        "nothing appended"
    );
    assert_eq!(produce_to(&mut broker, 0, batch(6), 10), 6);
}
