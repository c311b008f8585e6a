//! `faultline serve` on real TCP, the data path with raw kafka-protocol requests: a batch
//! is stored as the producer wrote it (every codec, headers intact) and fetched back byte
//! for byte; Fetch respects `max_bytes` and `partition_max_bytes` the way KIP-74 says;
//! ListOffsets finds offsets by timestamp (KIP-79) and the max timestamp (KIP-734);
//! DeleteRecords moves the log start (KIP-107).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, TopicName,
};
use kafka_protocol::records::Compression;
use tokio::net::TcpStream;

use faultline_wire::batch::{decode_batch, split_batches, HEADER_BYTES};
use faultline_wire::connection::{connect, Connection};
use faultline_wire::records::{encode_batch, BatchRecord};
use faultline_wire::transport::TokioTransport;

const TIMEOUT: Duration = Duration::from_secs(10);
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// A connection to the leader of `events` partition `partition`, found via Metadata.
async fn leader_of(port: u16, partition: i32) -> Connection<TcpStream> {
    let address = format!("127.0.0.1:{port}");
    for _ in 0..50 {
        let mut bootstrap = connect(&TokioTransport, &address, "data-test", TIMEOUT)
            .await
            .unwrap();
        let request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName("events".into()))),
        ]));
        let metadata = bootstrap.send(&request, 9, TIMEOUT).await.unwrap();
        let leader = metadata.topics[0]
            .partitions
            .iter()
            .find(|p| p.partition_index == partition)
            .map(|p| p.leader_id.0)
            .unwrap_or(-1);
        if let Some(broker) = metadata.brokers.iter().find(|b| b.node_id.0 == leader) {
            let address = format!("{}:{}", broker.host, broker.port);
            return connect(&TokioTransport, &address, "data-test", TIMEOUT)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no leader for events-{partition}");
}

/// Produces one batch (acks=all); returns the base offset.
async fn produce(connection: &mut Connection<TcpStream>, partition: i32, batch: Bytes) -> i64 {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName("events".into()))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    let response = connection.send(&request, 8, TIMEOUT).await.unwrap();
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, 0, "produce to events-{partition}");
    answer.base_offset
}

/// Fetch (v11) of one partition: `(error, records bytes)`.
async fn fetch(
    connection: &mut Connection<TcpStream>,
    partition: i32,
    offset: i64,
    max_bytes: i32,
    partition_max_bytes: i32,
) -> (i16, Bytes) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName("events".into()))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes)])]);
    let response = connection.send(&request, 11, TIMEOUT).await.unwrap();
    let data = &response.responses[0].partitions[0];
    (data.error_code, data.records.clone().unwrap_or_default())
}

/// ListOffsets (v7) of one partition: `(offset, timestamp)`.
async fn list_offset(
    connection: &mut Connection<TcpStream>,
    partition: i32,
    timestamp: i64,
) -> (i64, i64) {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName("events".into()))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp)])]);
    let response = connection.send(&request, 7, TIMEOUT).await.unwrap();
    let answer = &response.topics[0].partitions[0];
    assert_eq!(answer.error_code, 0);
    (answer.offset, answer.timestamp)
}

fn records(count: usize, value_bytes: usize, first_timestamp: i64) -> Vec<BatchRecord> {
    (0..count)
        .map(|i| BatchRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'x'; value_bytes])),
            timestamp: first_timestamp + i as i64,
            headers: vec![("trace-id".into(), Some(Bytes::from(format!("t{i}"))))],
        })
        .collect()
}

#[test]
fn batches_come_back_as_written_within_fetch_limits_with_timestamps_and_delete_records() {
    let server = crate::common::serve(3, &["--topic", "events:3"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Every codec, with headers: fetched back byte for byte after the header fields
        // the leader owns (Kafka protocol guide, "Record Batch").
        let mut leader = leader_of(server.port, 0).await;
        let codecs = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        let mut sent = Vec::new();
        for (i, &codec) in codecs.iter().enumerate() {
            let batch = encode_batch(&records(3, 200, 1_000 * (i as i64 + 1)), None, codec);
            let base = produce(&mut leader, 0, batch.clone()).await;
            assert_eq!(base, 3 * i as i64);
            sent.push(batch);
        }
        let (error, bytes) = fetch(&mut leader, 0, 0, 1 << 20, 1 << 20).await;
        assert_eq!(error, 0);
        let batches = split_batches(&bytes).unwrap();
        assert_eq!(batches.len(), codecs.len());
        for ((batch, sent), codec) in batches.iter().zip(&sent).zip(codecs) {
            assert_eq!(batch.header.compression().unwrap(), codec);
            assert_eq!(batch.bytes[HEADER_BYTES..], sent[HEADER_BYTES..]);
            let decoded = decode_batch(batch).unwrap();
            assert_eq!(decoded.len(), 3);
            assert_eq!(
                decoded[2].headers.get(&b"trace-id"[..]).cloned().flatten(),
                Some(Bytes::from("t2")),
                "{codec:?}: headers intact"
            );
        }
        // A fetch inside a batch returns the whole batch; the client skips to its offset.
        let (_, bytes) = fetch(&mut leader, 0, 4, 1 << 20, 1 << 20).await;
        assert_eq!(split_batches(&bytes).unwrap()[0].header.base_offset, 3);

        // KIP-79 / KIP-734: timestamps were 1000.., 2000.., … 5000..5002.
        assert_eq!(list_offset(&mut leader, 0, 2_001).await, (4, 2_001));
        assert_eq!(list_offset(&mut leader, 0, 2_500).await, (6, 3_000));
        assert_eq!(list_offset(&mut leader, 0, 9_999).await, (-1, -1));
        assert_eq!(list_offset(&mut leader, 0, -3).await, (14, 5_002));

        // KIP-107: DeleteRecords moves the log start.
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName("events".into()))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(7)])]);
        let response = leader.send(&request, 2, TIMEOUT).await.unwrap();
        let answer = &response.topics[0].partitions[0];
        assert_eq!((answer.error_code, answer.low_watermark), (0, 7));
        assert_eq!(list_offset(&mut leader, 0, -2).await.0, 7);
        assert_eq!(
            fetch(&mut leader, 0, 5, 1 << 20, 1 << 20).await.0,
            OFFSET_OUT_OF_RANGE
        );
        let (error, bytes) = fetch(&mut leader, 0, 7, 1 << 20, 1 << 20).await;
        assert_eq!(error, 0);
        assert_eq!(split_batches(&bytes).unwrap()[0].header.base_offset, 6);

        // KIP-74: three batches of ~30 KB; limits give whole batches, at least one.
        let mut leader = leader_of(server.port, 1).await;
        for _ in 0..3 {
            produce(
                &mut leader,
                1,
                encode_batch(&records(3, 10_000, 0), None, Compression::None),
            )
            .await;
        }
        let count = |bytes: &Bytes| split_batches(bytes).unwrap().len();
        let (_, bytes) = fetch(&mut leader, 1, 0, 1 << 20, 70_000).await;
        assert_eq!(count(&bytes), 2, "partition_max_bytes fits two batches");
        let (_, bytes) = fetch(&mut leader, 1, 0, 70_000, 1 << 20).await;
        assert_eq!(count(&bytes), 2, "max_bytes fits two batches");
        let (_, bytes) = fetch(&mut leader, 1, 0, 1_000, 1_000).await;
        assert_eq!(count(&bytes), 1, "one batch even over the limit");
        let (_, bytes) = fetch(&mut leader, 1, 0, i32::MAX, i32::MAX).await;
        assert_eq!(count(&bytes), 3);
    });
}

/// KIP-32: `--topic-config events:message.timestamp.type=LogAppendTime` makes the leader
/// stamp each batch with its append time; the records read back carry it, not the
/// producer's timestamps, and the compressed records are still the producer's bytes.
#[test]
fn log_append_time_topics_stamp_batches_with_the_leaders_clock() {
    let server = crate::common::serve(
        1,
        &[
            "--topic",
            "events:1",
            "--topic-config",
            "events:message.timestamp.type=LogAppendTime",
        ],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut leader = leader_of(server.port, 0).await;
        let sent = encode_batch(&records(3, 50, 1_000), None, Compression::Snappy);
        produce(&mut leader, 0, sent.clone()).await;
        let (error, bytes) = fetch(&mut leader, 0, 0, 1 << 20, 1 << 20).await;
        assert_eq!(error, 0);
        let batch = &split_batches(&bytes).unwrap()[0];
        assert!(batch.header.log_append_time());
        assert_eq!(batch.bytes[HEADER_BYTES..], sent[HEADER_BYTES..]);
        let stamped = batch.header.max_timestamp;
        assert!(
            stamped > 1_000_000,
            "the leader's clock, not the producer's"
        );
        let decoded = decode_batch(batch).unwrap();
        assert!(decoded.iter().all(|r| r.timestamp == stamped));
        assert_eq!(list_offset(&mut leader, 0, 1_001).await, (0, stamped));
    });
}
