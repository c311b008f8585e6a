//! Fetch, for consumers and for followers.
//!
//! Consumers (replica id -1) read only below the high watermark (Kafka protocol guide,
//! Fetch; "read_uncommitted" still stops at the high watermark). Followers (replica id ≥ 0)
//! read up to the log end, and their fetch offset tells the leader how far they are
//! (Kafka's replication protocol). `current_leader_epoch` fences stale requests (KIP-320).
//!
//! Both get whole batches as the leader stored them, starting with the batch that holds
//! the fetch offset (a client skips the records before its offset). Sizes follow KIP-74:
//! partitions are filled in request order, each up to `partition_max_bytes` and all up to
//! `max_bytes`, except that the first batch of the first partition with data is returned
//! even when larger, so that a consumer always makes progress.

use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction as FetchAbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::bugs::PlantedBugs;
use crate::log::ReadBatches;
use crate::partition::Partition;
use crate::txn::index::AbortedTransaction;

/// Fetch `isolation_level` of read_committed consumers (KIP-98).
pub const READ_COMMITTED: i8 = 1;

/// Records per partition per fetch (after the first batch): keeps simulated messages small.
pub const MAX_RECORDS_PER_PARTITION: i64 = 500;

/// One partition's answer.
#[derive(Debug, Clone)]
pub struct PartitionFetch {
    /// Topic name (the request's, shared).
    pub topic: TopicName,
    /// Partition index.
    pub partition: i32,
    /// The batches, or the error.
    pub result: Result<ReadBatches, ResponseError>,
    /// The high watermark sent back.
    pub high_watermark: i64,
    /// The log start offset sent back (KIP-107; followers take it over).
    pub log_start_offset: i64,
    /// The last stable offset sent back (KIP-98).
    pub last_stable_offset: i64,
    /// For read_committed, the aborted transactions in the range read (KIP-98).
    pub aborted: Option<Vec<AbortedTransaction>>,
}

/// The last stable offset of a partition (KIP-98): the first offset of its oldest open
/// transaction, capped by the high watermark. The planted bug
/// `lso-past-open-transactions` answers the high watermark.
pub fn last_stable_offset(partition: &Partition, bugs: PlantedBugs) -> i64 {
    if bugs.lso_past_open_transactions {
        return partition.high_watermark;
    }
    partition
        .log
        .transactions()
        .last_stable_offset(partition.high_watermark)
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
    read_on(broker, request, now_ms, 0)
}

/// [`read`] for a request that came on the leader's `connection`-th accepted connection.
/// A follower's fetch from an older connection than the one its last recorded fetch came
/// on is stale (its broker gave that connection up after a timeout or a pause, and the
/// request was delivered or served late): it is answered but does not move the leader's
/// view of the follower, which must never go back below what a newer fetch reported.
/// Found by the invariant checker ("high watermark above an in-sync follower",
/// all-faults-buggify seed 949): a follower paused past its request timeout fetched at 116
/// on a new connection, then its fetch at 110 from before the pause was served after a
/// slow handler (buggify) and set the leader's view back to 110 under a high watermark of
/// 116. Kafka's follower sends one fetch at a time on one connection, so its leader sees
/// fetch offsets in order (Kafka's `ReplicaFetcherThread`).
pub fn read_on(
    broker: &mut Broker,
    request: &FetchRequest,
    now_ms: u64,
    connection: u64,
) -> (Vec<PartitionFetch>, bool) {
    let replica = replica_id(request);
    let mut advanced = false;
    let mut out = Vec::with_capacity(request.topics.iter().map(|t| t.partitions.len()).sum());
    // KIP-74: the response as a whole stays within max_bytes, but the first batch of the
    // first partition with data goes out whatever its size.
    let mut remaining = request.max_bytes.max(0) as usize;
    let mut first_always = true;
    let read_committed_isolation = request.isolation_level == READ_COMMITTED && replica < 0;
    let bugs = broker.config.bugs;
    // One key, refilled per partition: looking a partition up allocates nothing.
    let mut key: (String, i32) = (String::new(), 0);
    for topic in &request.topics {
        key.0.clear();
        key.0.push_str(&topic.topic.0);
        for wanted in &topic.partitions {
            key.1 = wanted.partition;
            let limit = (wanted.partition_max_bytes.max(0) as usize).min(remaining);
            // A consumer's read changes nothing: the replica is only borrowed to be read.
            let read = if replica < 0 {
                let isolation = read_committed_isolation;
                let partition = broker.partitions.get(&key);
                partition.map(|p| consumer_read(p, wanted, limit, first_always, bugs, isolation))
            } else {
                broker.partitions.get_mut(&key).map(|partition| {
                    let read =
                        follower_read(partition, wanted, replica, connection, now_ms, limit, bugs);
                    advanced |= read.1;
                    read.0
                })
            };
            let (result, high_watermark, log_start_offset, stable) = read.unwrap_or_else(|| {
                let error = unknown_or_not_leader(broker, &key);
                (Err(error), -1, -1, (-1, None))
            });
            if let Ok(read) = &result {
                remaining = remaining.saturating_sub(read.bytes.len());
                first_always &= read.batch_count == 0;
            }
            out.push(PartitionFetch {
                topic: topic.topic.clone(),
                partition: wanted.partition,
                result,
                high_watermark,
                log_start_offset,
                last_stable_offset: stable.0,
                aborted: stable.1,
            });
        }
    }
    (out, advanced)
}

/// What a read of one partition answers: the read, the high watermark, the log start
/// offset, and the last stable offset with the aborted transactions below it (those for
/// `read_committed` consumers only).
type PartitionRead = (
    Result<ReadBatches, ResponseError>,
    i64,
    i64,
    (i64, Option<Vec<AbortedTransaction>>),
);

/// A consumer's read of `partition`: below the high watermark, or for `read_committed`
/// below the last stable offset with the aborted transactions of that range (KIP-98).
fn consumer_read(
    partition: &Partition,
    wanted: &FetchPartition,
    limit: usize,
    first_always: bool,
    bugs: PlantedBugs,
    read_committed_isolation: bool,
) -> PartitionRead {
    let lso = last_stable_offset(partition, bugs);
    let mut stable = (lso, None);
    let upper = read_committed_isolation.then(|| {
        let aborted = partition
            .log
            .transactions()
            .aborted_between(wanted.fetch_offset, lso);
        // Planted bug `aborted-transactions-omitted`.
        stable.1 = Some(if bugs.aborted_transactions_omitted {
            Vec::new()
        } else {
            aborted
        });
        lso
    });
    let result = partition
        .check_epoch(wanted.current_leader_epoch)
        .and_then(|_| {
            read_committed(
                partition,
                wanted.fetch_offset,
                limit,
                first_always,
                bugs,
                upper,
            )
        });
    let (high_watermark, log_start) = (partition.high_watermark, partition.log.log_start_offset());
    (result, high_watermark, log_start, stable)
}

/// Follower `replica`'s read of `partition` on the leader's `connection`-th connection,
/// which moves the leader's view of the follower unless the connection is older than its
/// last fetch's (see [`read_on`]); and whether the high watermark moved.
fn follower_read(
    partition: &mut Partition,
    wanted: &FetchPartition,
    replica: i32,
    connection: u64,
    now_ms: u64,
    limit: usize,
    bugs: PlantedBugs,
) -> (PartitionRead, bool) {
    let lso = last_stable_offset(partition, bugs);
    let before = partition.high_watermark;
    let result = partition
        .check_epoch(wanted.current_leader_epoch)
        .and_then(|_| {
            if partition.follower_connection(replica) > connection {
                Ok(partition.log.read_batches(
                    wanted.fetch_offset,
                    partition.log.end_offset(),
                    limit,
                    true,
                    MAX_RECORDS_PER_PARTITION,
                ))
            } else {
                partition.note_follower_connection(replica, connection);
                partition.fetch_by_follower(
                    replica,
                    wanted.fetch_offset,
                    wanted.log_start_offset,
                    now_ms,
                    limit,
                    MAX_RECORDS_PER_PARTITION,
                )
            }
        });
    let (high_watermark, log_start) = (partition.high_watermark, partition.log.log_start_offset());
    let read = (result, high_watermark, log_start, (lso, None));
    (read, high_watermark > before)
}

fn unknown_or_not_leader(broker: &Broker, key: &(String, i32)) -> ResponseError {
    if broker.image.partitions.contains_key(key) {
        ResponseError::NotLeaderOrFollower
    } else {
        ResponseError::UnknownTopicOrPartition
    }
}

/// A consumer's read: whole batches wholly below the high watermark, from the batch
/// holding `fetch_offset`. Below the log start or past the log end is OFFSET_OUT_OF_RANGE
/// (Kafka protocol guide, Fetch; KIP-107 for the log start).
fn read_committed(
    partition: &crate::partition::Partition,
    fetch_offset: i64,
    max_bytes: usize,
    first_always: bool,
    bugs: PlantedBugs,
    upper: Option<i64>,
) -> Result<ReadBatches, ResponseError> {
    if !partition.is_leader() {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    if fetch_offset < partition.log.log_start_offset() || fetch_offset > partition.log.end_offset()
    {
        return Err(ResponseError::OffsetOutOfRange);
    }
    // Planted bug `reads_above_high_watermark`: serve the uncommitted tail too.
    let limit = if bugs.reads_above_high_watermark {
        partition.log.end_offset()
    } else {
        upper.unwrap_or(partition.high_watermark)
    };
    Ok(partition.log.read_batches(
        fetch_offset,
        limit,
        max_bytes,
        first_always,
        MAX_RECORDS_PER_PARTITION,
    ))
}

/// Whether any partition has records or an error worth answering at once.
pub fn has_news(results: &[PartitionFetch]) -> bool {
    results
        .iter()
        .any(|r| !matches!(&r.result, Ok(read) if read.batch_count == 0))
}

/// Builds the response.
pub fn response(results: &[PartitionFetch]) -> FetchResponse {
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for item in results {
        let data = match &item.result {
            Ok(read) => PartitionData::default()
                .with_partition_index(item.partition)
                .with_high_watermark(item.high_watermark)
                .with_last_stable_offset(item.last_stable_offset)
                .with_log_start_offset(item.log_start_offset)
                .with_aborted_transactions(item.aborted.as_ref().map(|list| {
                    list.iter()
                        .map(|t| {
                            FetchAbortedTransaction::default()
                                .with_producer_id(ProducerId(t.producer_id))
                                .with_first_offset(t.first_offset)
                        })
                        .collect()
                }))
                .with_records(Some(read.bytes.clone())),
            Err(error) => PartitionData::default()
                .with_partition_index(item.partition)
                .with_error_code(error.code())
                .with_high_watermark(-1)
                .with_records(Some(Default::default())),
        };
        match topics.iter_mut().find(|t| t.topic == item.topic) {
            Some(t) => t.partitions.push(data),
            None => topics.push(
                FetchableTopicResponse::default()
                    .with_topic(item.topic.clone())
                    .with_partitions(vec![data]),
            ),
        }
    }
    FetchResponse::default().with_responses(topics)
}
