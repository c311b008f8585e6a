//! Fetch, for consumers and for followers.
//!
//! Consumers (replica id -1) read only below the high watermark (Kafka protocol guide,
//! Fetch; "read_uncommitted" still stops at the high watermark). Followers (replica id ≥ 0)
//! read up to the log end, and their fetch offset tells the leader how far they are
//! (Kafka's replication protocol). `current_leader_epoch` fences stale requests (KIP-320).

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};

use faultline_wire::ResponseError;

use crate::broker::{encode_entries, Broker};
use crate::log::LogEntry;

/// Records per partition per fetch: small batches keep simulated messages small.
pub const MAX_RECORDS_PER_PARTITION: usize = 500;

/// One partition's answer.
#[derive(Debug, Clone)]
pub struct PartitionFetch {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The entries, or the error.
    pub result: Result<Vec<LogEntry>, ResponseError>,
    /// The high watermark sent back.
    pub high_watermark: i64,
}

/// The replica id of a fetch request (v15+ moved it into `replica_state`).
pub fn replica_id(request: &FetchRequest) -> i32 {
    if request.replica_state.replica_id.0 >= 0 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    }
}

/// Reads every requested partition. The flag says whether a follower's progress moved
/// any high watermark (so waiting producers should look again).
pub fn read(
    broker: &mut Broker,
    request: &FetchRequest,
    now_ms: u64,
) -> (Vec<PartitionFetch>, bool) {
    let replica = replica_id(request);
    let mut advanced = false;
    let mut out = Vec::new();
    for topic in &request.topics {
        let name = topic.topic.0.to_string();
        for wanted in &topic.partitions {
            let key = (name.clone(), wanted.partition);
            let (result, high_watermark) = match broker.partitions.get_mut(&key) {
                None => (Err(unknown_or_not_leader(broker, &key)), -1),
                Some(partition) => {
                    let before = partition.high_watermark;
                    let result =
                        partition
                            .check_epoch(wanted.current_leader_epoch)
                            .and_then(|_| {
                                if replica >= 0 {
                                    partition.fetch_by_follower(
                                        replica,
                                        wanted.fetch_offset,
                                        now_ms,
                                        MAX_RECORDS_PER_PARTITION,
                                    )
                                } else {
                                    read_committed(
                                        partition,
                                        wanted.fetch_offset,
                                        broker.config.bugs,
                                    )
                                }
                            });
                    advanced |= partition.high_watermark > before;
                    (result, partition.high_watermark)
                }
            };
            out.push(PartitionFetch {
                topic: name.clone(),
                partition: wanted.partition,
                result,
                high_watermark,
            });
        }
    }
    (out, advanced)
}

fn unknown_or_not_leader(broker: &Broker, key: &(String, i32)) -> ResponseError {
    if broker.image.partitions.contains_key(key) {
        ResponseError::NotLeaderOrFollower
    } else {
        ResponseError::UnknownTopicOrPartition
    }
}

fn read_committed(
    partition: &crate::partition::Partition,
    fetch_offset: i64,
    bugs: crate::bugs::PlantedBugs,
) -> Result<Vec<LogEntry>, ResponseError> {
    if !partition.is_leader() {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    if fetch_offset < 0 || fetch_offset > partition.log.end_offset() {
        return Err(ResponseError::OffsetOutOfRange);
    }
    // Planted bug `reads_above_high_watermark`: serve the uncommitted tail too.
    let limit = if bugs.reads_above_high_watermark {
        partition.log.end_offset()
    } else {
        partition.high_watermark
    };
    let visible = (limit - fetch_offset).max(0) as usize;
    Ok(partition
        .log
        .read_from(fetch_offset, visible.min(MAX_RECORDS_PER_PARTITION))
        .to_vec())
}

/// Whether any partition has records or an error worth answering at once.
pub fn has_news(results: &[PartitionFetch]) -> bool {
    results
        .iter()
        .any(|r| !matches!(&r.result, Ok(entries) if entries.is_empty()))
}

/// Builds the response.
pub fn response(results: &[PartitionFetch]) -> FetchResponse {
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for item in results {
        let data = match &item.result {
            Ok(entries) => PartitionData::default()
                .with_partition_index(item.partition)
                .with_high_watermark(item.high_watermark)
                .with_last_stable_offset(item.high_watermark)
                .with_log_start_offset(0)
                .with_records(Some(encode_entries(entries))),
            Err(error) => PartitionData::default()
                .with_partition_index(item.partition)
                .with_error_code(error.code())
                .with_high_watermark(-1)
                .with_records(Some(Default::default())),
        };
        match topics.iter_mut().find(|t| t.topic.0.as_str() == item.topic) {
            Some(t) => t.partitions.push(data),
            None => topics.push(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(item.topic.clone().into()))
                    .with_partitions(vec![data]),
            ),
        }
    }
    FetchResponse::default().with_responses(topics)
}
